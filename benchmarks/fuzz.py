"""Fuzz the protocol core with up to a million inputs.

    python -m benchmarks.fuzz                  # 20,000 inputs, a minute or less
    python -m benchmarks.fuzz --long           # 1,000,000 inputs
    python -m benchmarks.fuzz --inputs N --seconds S --seed K
    python -m benchmarks.fuzz --server 2000    # and 2,000 over sockets

Each input is one side of a connection: request streams (read as the
server reads them, each request also made into an ``HTTPServerRequest``)
or response streams (read as a client reads them).  They come from the
grammar of ``tests/protocol/fuzzing.py``: valid streams, which must read as
built; near-valid ones that took a few wrong turns (numbers past 4300
digits among them); byte-level mutations of valid streams and of the llhttp
test corpus; HTTP fragments strung together; and random bytes.  Every input
goes through ``tests/protocol/driver.py`` (the core, called as the
connection calls it) twice, whole and split at random points, and is
counted as:

* messages read, and how reading ended (between messages, inside one,
  closed after one, or refused with a documented error, by type and status);
* a crash: any other exception, by where it was raised;
* a hang: a reader that took a step without progress (the driver's step
  bound), or an input that ran past the per-input watchdog (``--watchdog``,
  default 2 s); inputs slower than ``--slow`` are listed too;
* a mismatch: a valid input that did not read as built; an inconsistency:
  an input read differently whole and split;
* a record at ERROR or above, from any logger.

With ``--server N``, N request inputs also go, one connection each, to a
real ``HTTPServer`` on 127.0.0.1 (in a thread of this process), which must
do what the driver says (``tests/server/fuzzing.py``): answer each request
read, 400 and close for refused input, close for a message that ends the
connection or for input cut short, stay open otherwise; never time out.

For each kind of finding the smallest input is reduced (by deleting bytes while the
finding stays the same) and printed.  Exit status 0 when nothing was found,
1 otherwise.

What it must never do: pass or fail on speed (the rate is printed, not
judged), use anything but 127.0.0.1, or run unbounded: ``--inputs`` and
``--seconds`` both stop it.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import socket
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from benchmarks.tools import ROOT
from tests.protocol.driver import (
    ERROR,
    Outcome,
    Spin,
    read_requests,
    read_responses,
    split_at,
)
from tests.protocol.fuzzing import (
    Case,
    Grammar,
    cut_points,
    load_llhttp_cases,
    mutate,
    pick_methods,
    seed_cases,
    token_soup,
)

SHORT_INPUTS = 20_000
LONG_INPUTS = 1_000_000
#: Where the llhttp corpus may be (the first that exists is used).
CORPUS_PLACES = (
    ROOT / "tests" / "data" / "llhttp_cases.json",
    ROOT.parent / "shared" / "corpora" / "llhttp_cases.json",
    ROOT.parent.parent / "shared" / "corpora" / "llhttp_cases.json",
)
#: The share of inputs that are long heads or trailers fed a byte at a time
#: (each costs up to the watchdog's time when reading them is not linear).
SLOW_ARRIVAL_RATE = 1 / 20_000
#: Seconds spent reducing the smallest input of each finding.
REDUCE_SECONDS = 5.0


class Hang(Exception):
    """An input ran past the watchdog."""


@dataclass
class Finding:
    """One kind of crash, hang, mismatch or inconsistency."""

    description: str
    count: int = 0
    smallest: Case | None = None
    last_line: str = ""

    def add(self, case: Case, last_line: str) -> None:
        self.count += 1
        if self.smallest is None or len(case.data) < len(self.smallest.data):
            self.smallest = case
            self.last_line = last_line


@dataclass
class Tally:
    inputs: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    ends: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)
    slowest: float = 0.0
    slow: int = 0
    server_connections: int = 0
    server_ends: Counter[str] = field(default_factory=Counter)

    def find(self, kind: str, description: str, case: Case, last_line: str) -> None:
        key = (kind, description)
        if key not in self.findings:
            self.findings[key] = Finding(description)
        self.findings[key].add(case, last_line)

    def count(self, kind: str) -> int:
        return sum(f.count for (k, _), f in self.findings.items() if k == kind)


class ErrorRecords(logging.Handler):
    """Counts records at ERROR or above, keeping the first few."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 5:
            text = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                text += f" [{type(error).__name__}: {error}]"
            self.first.append(f"{record.name}: {text}"[:300])


@contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this thread if the block runs past ``seconds``
    (checked between bytecodes: a regex that never returns is not cut, but
    its input still shows up as the slowest)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- inputs ---------------------------------------------------------------------


class Inputs:
    """The mix of inputs, from one seeded generator."""

    def __init__(self, seed: int, corpus: list[Case]) -> None:
        self.rng = random.Random(seed)
        self.valid = Grammar(self.rng)
        self.flawed = Grammar(self.rng, flaw_rate=0.05, huge_numbers=True)
        self.seeds = seed_cases(self.rng, 500) + corpus

    def next(self) -> tuple[Case, list[int]]:
        """The next input, and where to split it."""
        rng = self.rng
        if rng.random() < SLOW_ARRIVAL_RATE:
            case = self.slow_arrival()
            return case, list(range(1, len(case.data)))
        case = self.one()
        return case, cut_points(rng, len(case.data))

    def slow_arrival(self) -> Case:
        """A request with a long head or a long trailer (many short lines),
        to be fed one byte at a time: what a client sending slowly makes
        the connection do.  Reading it must cost time linear in its size."""
        rng = self.rng
        count = rng.randint(50, 2000)
        lines = b"a:b\r\n" * count
        if rng.random() < 0.5:
            data = b"GET / HTTP/1.1\r\nHost: a\r\n" + lines + b"\r\n"
            what = f"a head of {count} lines a:b, a byte at a time"
        else:
            data = (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"1\r\nx\r\n0\r\n" + lines + b"\r\n"
            )
            what = f"a trailer of {count} lines a:b, a byte at a time"
        return Case("request", data, flaws=(what,), source="slow arrival")

    def one(self) -> Case:
        rng = self.rng
        kind = rng.random()
        if kind < 0.25:
            return self.valid.case()
        if kind < 0.5:
            case = self.flawed.case()
            return Case(case.side, case.data, case.methods, None, case.flaws, "flawed")
        if kind < 0.8:
            seed = rng.choice(self.seeds)
            methods = seed.methods or tuple(pick_methods(rng))
            return Case(seed.side, mutate(rng, seed.data), methods, source="mutation")
        side = rng.choice(("request", "response"))
        methods = tuple(pick_methods(rng))
        if kind < 0.9:
            return Case(side, token_soup(rng), methods, source="fragments")
        data = rng.randbytes(rng.randint(0, 300))
        return Case(side, data, methods, source="random bytes")


def kind_of(case: Case) -> str:
    """What a slow-arrival input is, for grouping findings."""
    if case.source != "slow arrival":
        return ""
    return ", trailer" if "trailer" in case.flaws[0] else ", head"


def read(case: Case, pieces: list[bytes]) -> Outcome:
    if case.side == "request":
        return read_requests(pieces, build_request=True)
    return read_responses(pieces, methods=case.methods)


def where(error: BaseException) -> str:
    """The innermost frame of the package under test, else the innermost."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "tornado_compat" in f.filename] or frames
    frame = ours[-1]
    path = Path(frame.filename)
    try:
        path = path.relative_to(ROOT)
    except ValueError:
        pass
    return f"{path}:{frame.lineno} in {frame.name}"


def describe(error: BaseException) -> tuple[str, str]:
    """(what kind of failure, its last traceback line)."""
    message = str(error).splitlines()[0][:160] if str(error) else ""
    last_line = f"{type(error).__name__}: {message}"
    return f"{type(error).__name__} at {where(error)}", last_line


def check(
    case: Case,
    cuts: list[int],
    tally: Tally,
    watchdog_seconds: float,
    slow: float = float("inf"),
) -> None:
    """Read ``case`` whole and split, and count what happens."""
    start = time.perf_counter()
    try:
        with watchdog(watchdog_seconds):
            whole = read(case, [case.data])
            split = read(case, split_at(case.data, cuts))
    except Spin as e:
        tally.find("hang", f"no progress: {e}", case, f"Spin: {e}")
        return
    except Hang as e:
        tally.find("hang", f"watchdog: {e}{kind_of(case)}", case, f"Hang: {e}")
        return
    except Exception as e:
        description, last_line = describe(e)
        tally.find("crash", description, case, last_line)
        return
    finally:
        elapsed = time.perf_counter() - start
        tally.slowest = max(tally.slowest, elapsed)
        if elapsed > slow:
            tally.slow += 1
            tally.find(
                "slow", f"over {slow} s{kind_of(case)}", case, f"{elapsed:.2f} s"
            )
    tally.messages += len(whole.messages)
    tally.ends[whole.end] += 1
    if whole.end == ERROR:
        error = whole.error
        tally.errors[f"{type(error).__name__} {getattr(error, 'status', '')}"] += 1
    if case.expected is not None:
        if (tuple(whole.messages), whole.end) != case.expected:
            tally.find("mismatch", "valid input not read as built", case, "")
    if whole.verdict() != split.verdict():
        tally.find(
            "inconsistent",
            "read differently whole and split",
            case,
            f"cut at {sorted(set(cuts))}",
        )


def still_fails(kind: str, finding: Finding, case: Case) -> bool:
    """Whether ``case`` still gives the finding, for reduction."""
    probe = Tally()
    cuts = list(range(1, len(case.data)))
    if kind == "inconsistent":
        whole = read_or_none(case, [case.data])
        if whole is None:
            return False
        for cut in cuts:
            split = read_or_none(case, split_at(case.data, [cut]))
            if split is not None and split.verdict() != whole.verdict():
                return True
        return False
    check(case, cuts[:1], probe, 2.0)
    return any(f.description == finding.description for f in probe.findings.values())


def read_or_none(case: Case, pieces: list[bytes]) -> Outcome | None:
    try:
        return read(case, pieces)
    except Exception:
        return None


def reduce(case: Case, fails: Callable[[Case], bool], seconds: float) -> Case:
    """Delete runs of bytes, halving their size, while ``fails`` holds."""
    deadline = time.monotonic() + seconds
    data = case.data
    size = max(1, len(data) // 2)
    while size >= 1 and time.monotonic() < deadline:
        i = 0
        removed = False
        while i < len(data) and time.monotonic() < deadline:
            candidate = data[:i] + data[i + size :]
            trial = Case(case.side, candidate, case.methods)
            if candidate != data and fails(trial):
                data = candidate
                removed = True
            else:
                i += size
        if not removed:
            size //= 2
    return Case(case.side, data, case.methods, source=case.source)


def compact(data: bytes, limit: int = 400) -> str:
    """``repr`` of ``data`` with runs of 8 or more equal bytes written as
    ``b"x" * n``."""
    parts: list[str] = []
    i = 0
    literal = bytearray()
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i]:
            j += 1
        if j - i >= 8:
            if literal:
                parts.append(repr(bytes(literal)))
                literal.clear()
            parts.append(f"{bytes([data[i]])!r} * {j - i}")
        else:
            literal += data[i:j]
        i = j
    if literal:
        parts.append(repr(bytes(literal)))
    text = " + ".join(parts) or "b''"
    return text if len(text) <= limit else text[:limit] + " ..."


# -- the server ---------------------------------------------------------------------


def send_and_wait_for_close(port: int, case: Case, tally: Tally) -> None:
    """Send ``case``, stop sending, and read until the server closes."""
    from tests.server.client import RawConnection

    try:
        with RawConnection(port, timeout=5) as conn:
            conn.send(case.data)
            conn.sock.shutdown(socket.SHUT_WR)
            conn.read_until_close()
    except TimeoutError:
        tally.find("server hang", "socket timeout", case, "")


def run_server(count: int, seed: int, tally: Tally, loop_kind: str) -> None:
    """``count`` request inputs, one connection each, to a real server."""
    from tests.server.client import ClientError, RawConnection, request
    from tests.server.fuzzing import check_connection, empty_answer, request_case
    from tests.server.support import RecordingApp, ServerThread

    app = RecordingApp(empty_answer)
    thread = ServerThread(loop_kind)
    try:
        _, port = thread.start_server(app)
        rng = random.Random(seed + 1)
        for _ in range(count):
            case = request_case(rng, huge_numbers=True)
            tally.server_connections += 1
            app.requests.clear()
            try:
                with RawConnection(port, timeout=5) as conn:
                    try:
                        tally.server_ends[check_connection(case, conn, app)] += 1
                    except TimeoutError:
                        tally.find("server hang", "socket timeout", case, "")
                    except (AssertionError, ClientError, OSError) as e:
                        kind, last = describe(e)
                        tally.find("server mismatch", kind, case, last)
            except Exception as e:
                # The driver itself raised (a crash of the core): the server
                # gets the bytes all the same, and must not hang on them.
                description, last_line = describe(e)
                tally.find("server crash", description, case, last_line)
                send_and_wait_for_close(port, case, tally)
        with RawConnection(port, timeout=5) as conn:
            conn.send(request("GET", "/still-there"))
            if conn.read_response().status != 200:
                tally.find(
                    "server hang", "no answer after the fuzzing", Case("", b""), ""
                )
    finally:
        thread.shutdown()


# -- the report -----------------------------------------------------------------------


def print_report(
    tally: Tally, errors: ErrorRecords, elapsed: float, args: argparse.Namespace
) -> int:
    crashes = tally.count("crash") + tally.count("server crash")
    hangs = tally.count("hang") + tally.count("server hang")
    rate = tally.inputs / elapsed if elapsed else 0.0
    rows = [
        ("inputs (each read whole and split)", f"{tally.inputs:,}"),
        ("  by source", ", ".join(f"{k} {v:,}" for k, v in tally.sources.items())),
        ("messages read (whole)", f"{tally.messages:,}"),
        ("how reading ended", ", ".join(f"{k} {v:,}" for k, v in tally.ends.items())),
        (
            "documented errors",
            ", ".join(f"{k} {v:,}" for k, v in tally.errors.most_common()),
        ),
        ("crashes (other exceptions)", f"{crashes:,}"),
        ("hangs (no progress, or watchdog)", f"{hangs:,}"),
        ("valid inputs not read as built", f"{tally.count('mismatch'):,}"),
        ("read differently whole and split", f"{tally.count('inconsistent'):,}"),
        ("ERROR log records", f"{errors.count:,}"),
        ("slowest input (whole and split)", f"{tally.slowest * 1000:.1f} ms"),
        (f"inputs slower than {args.slow:g} s", f"{tally.slow:,}"),
        ("core time, rate", f"{elapsed:.0f} s, {rate:,.0f} inputs/s"),
    ]
    if args.server:
        rows.insert(
            -2,
            (
                "server: connections",
                f"{tally.server_connections:,} ("
                + ", ".join(f"{k} {v:,}" for k, v in tally.server_ends.items())
                + ")",
            ),
        )
        rows.insert(-2, ("server: mismatches", f"{tally.count('server mismatch'):,}"))
    print()
    print(f"Fuzzing the protocol core (seed {args.seed})")
    print()
    print("| check | count |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    if errors.first:
        print()
        print("First ERROR records:")
        for text in errors.first:
            print("  " + text)
    if tally.findings:
        print()
        print("Findings (smallest input of each, reduced):")
    for (kind, _), finding in sorted(tally.findings.items()):
        print()
        print(f"- {kind}: {finding.description} x{finding.count}")
        if finding.last_line:
            print(f"  {finding.last_line}")
        case = finding.smallest
        if case is None:
            continue
        if case.source == "slow arrival":
            print(f"  {case.flaws[0]} ({len(case.data)} bytes)")
            continue
        if kind not in ("server hang", "server mismatch"):
            case = reduce(case, lambda c: still_fails(kind, finding, c), REDUCE_SECONDS)
        print(f"  {case.side} ({case.source}), {len(case.data)} bytes:")
        print(f"  {compact(case.data)}")
    # Slow inputs are listed, not counted: a busy machine makes them too.
    found = [k for k, _ in tally.findings if k != "slow"]
    return 1 if found or errors.count else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fuzz",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--long", action="store_true", help=f"{LONG_INPUTS:,} inputs")
    parser.add_argument(
        "--inputs", type=int, help=f"number of inputs (default {SHORT_INPUTS:,})"
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="stop after this many seconds"
    )
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument(
        "--corpus", type=Path, help="llhttp_cases.json (default: found nearby)"
    )
    parser.add_argument(
        "--watchdog", type=float, default=2.0, help="seconds allowed per input"
    )
    parser.add_argument(
        "--slow", type=float, default=0.25, help="list inputs slower than this (s)"
    )
    parser.add_argument(
        "--server",
        type=int,
        default=0,
        metavar="N",
        help="also send N request inputs to a real HTTPServer over sockets",
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args(argv)
    count = args.inputs or (LONG_INPUTS if args.long else SHORT_INPUTS)

    corpus_path = args.corpus or next((p for p in CORPUS_PLACES if p.exists()), None)
    corpus = load_llhttp_cases(corpus_path) if corpus_path else []
    print(
        f"{count:,} inputs, seed {args.seed}, "
        f"{len(corpus)} llhttp seeds ({corpus_path or 'corpus not found'})",
        flush=True,
    )
    errors = ErrorRecords()
    logging.getLogger().addHandler(errors)
    # Python's int() limit is what item 3 is about: keep the default.
    tally = Tally()
    inputs = Inputs(args.seed, corpus)
    start = time.perf_counter()
    deadline = start + args.seconds if args.seconds else None
    report_every = max(1000, count // 20)
    for i in range(count):
        case, cuts = inputs.next()
        tally.inputs += 1
        tally.sources[case.source] += 1
        check(case, cuts, tally, args.watchdog, args.slow)
        if (i + 1) % report_every == 0:
            elapsed = time.perf_counter() - start
            print(
                f"  {i + 1:,} inputs, {elapsed:.0f} s, "
                f"{tally.count('crash')} crashes, {tally.count('hang')} hangs, "
                f"{errors.count} ERROR records",
                flush=True,
            )
        if deadline is not None and time.perf_counter() > deadline:
            print(f"  stopped at {args.seconds:g} s", flush=True)
            break
    elapsed = time.perf_counter() - start
    if args.server:
        run_server(args.server, args.seed, tally, args.loop)
    return print_report(tally, errors, elapsed, args)


if __name__ == "__main__":
    sys.exit(main())
