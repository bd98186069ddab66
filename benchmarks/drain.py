"""What SIGTERM does to requests in flight: ``python -m benchmarks.drain``.

    python -m benchmarks.drain [--requests 50] [--slow 3] [--parts 6]
        [--interval 0.5] [--grace 10] [--contenders compat tornado uvicorn]

For each contender, a server process (pinned like the others) serves the
application of ``benchmarks/apps``: a slow handler (answers after ``--slow``
seconds) and a streaming one (``--parts`` parts, flushed, ``--interval``
seconds apart).  The script starts ``--requests`` requests, half of each
kind, each on a keep-alive connection of its own; waits until the
application says it has started all of them (its ``/started`` route, which
answers once it has); sends SIGTERM; and then reads every response to its end
and waits for the process to exit.  A request is completed if its response is
whole: status 200 and the full body, by its framing (``Content-Length`` or
chunked); anything else is cut: an empty reply, a reset, a truncated head or
body, another status.  It reports the completed and cut requests, the exit
status (128 + N for a death by signal N, as a shell shows it), the time from
SIGTERM to exit, and the lines of the server's log that are at ERROR level or
report a 500.

The contenders:

- tornado_compat: ``python -m tornado_compat serve benchmarks/apps/drain_app.py:app``
  with ``--graceful-timeout GRACE`` when ``serve --help`` offers it (older
  versions do not; they get the command without it);
- Tornado 6.6: ``python benchmarks/apps/drain_app.py``, the same application
  under what a Tornado application's main usually is: on SIGTERM,
  ``server.stop()``, then the loop ends;
- uvicorn: ``python -m uvicorn`` with the same application in ASGI
  (``drain_asgi.py``) and ``--timeout-graceful-shutdown GRACE``.

A server that has not exited GRACE + 20 s after SIGTERM is killed, and its
exit status says so.  ``python -m benchmarks`` runs the same measurement as
one of its comparisons.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import tools
from benchmarks.tools import BenchmarkError

APPS = tools.ROOT / "benchmarks" / "apps"
#: The name on the command line -> the label in the tables.
CONTENDERS = {
    "tornado": "tornado",
    "compat": "tornado_compat",
    "uvicorn": "uvicorn (httptools)",
}
#: How long after the grace period a server may take to exit before it is
#: killed, and a request to end before it counts as cut.
LATE = 20.0
COMPLETE = "complete"


@dataclass
class Plan:
    """What one measurement asks of the server."""

    requests: int = 50
    slow_seconds: float = 3.0
    parts: int = 6
    interval: float = 0.5
    grace: float = 10.0

    def paths(self) -> list[tuple[str, bytes]]:
        """Each request's path and the body it must get: slow and streaming
        requests in turn."""
        slow = (f"/slow?seconds={self.slow_seconds:g}", b"slow done\n")
        stream = (
            f"/stream?parts={self.parts}&interval={self.interval:g}",
            b"".join(
                f"part {n} of {self.parts}\n".encode() for n in range(1, self.parts + 1)
            ),
        )
        return [slow if i % 2 == 0 else stream for i in range(self.requests)]


@dataclass
class Parsed:
    """A response as far as it arrived."""

    status: int | None  # None: the head is not complete
    body: bytes
    complete: bool


def parse_response(data: bytes) -> Parsed:
    """Parse the bytes of one response (``Content-Length`` or chunked)."""
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        return Parsed(None, b"", False)
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ValueError(f"not a status line: {lines[0][:60]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get(b"transfer-encoding") == b"chunked":
        body, complete = dechunk(rest)
        return Parsed(status, body, complete)
    length = int(headers.get(b"content-length", b"0"))
    return Parsed(status, rest[:length], len(rest) >= length)


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """The body of a chunked message as far as it arrived, and whether its
    last chunk (and the empty trailer) did."""
    body = bytearray()
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return bytes(body), False
        size = int(data[position:line_end].split(b";")[0], 16)
        start = line_end + 2
        if size == 0:
            return bytes(body), data[start : start + 2] == b"\r\n"
        if len(data) < start + size + 2:
            body += data[start : start + size]
            return bytes(body), False
        body += data[start : start + size]
        position = start + size + 2


def classify(data: bytes, expected: bytes, reset: bool) -> str:
    """What a client got: ``complete``, or how the request was cut."""
    try:
        parsed = parse_response(data)
    except ValueError:
        return "not HTTP"
    if parsed.complete:
        if parsed.status != 200:
            return f"status {parsed.status}"
        if parsed.body == expected:
            return COMPLETE
        if expected.startswith(parsed.body):
            # A whole response, by its framing, with less than the body: the
            # client cannot tell that it was cut.
            return "ended early"
        return "wrong body"
    if reset:
        return "reset" if data else "reset, nothing received"
    if not data:
        return "empty reply"
    if parsed.status is None:
        return "truncated head"
    return "truncated body"


async def fetch(port: int, path: str, expected: bytes, deadline: float) -> str:
    """One GET on a connection of its own, read until the response is whole
    or the connection ends; classified as in classify()."""
    data = bytearray()
    reset = False
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as error:
        return f"connect: {error.strerror or error}"
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: drain\r\n\r\n"
        writer.write(request.encode())
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "no end in time"
            try:
                chunk = await asyncio.wait_for(reader.read(65536), remaining)
            except asyncio.TimeoutError:
                return "no end in time"
            if not chunk:
                break
            data += chunk
            try:
                if parse_response(bytes(data)).complete:
                    break
            except ValueError:
                break
    except ConnectionError:
        reset = True
    finally:
        writer.close()
    return classify(bytes(data), expected, reset)


#: A line of the server's log at ERROR level (Tornado's pretty log ``[E ...]``,
#: uvicorn's ``ERROR:``, a traceback) or one that reports a 500 (Tornado logs
#: those at ERROR anyway; uvicorn's access line is at INFO).
ERROR_LINE = re.compile(
    r'^\[E |^ERROR[: ]|^Traceback|HTTP/1\.[01]" 500 |\] 500 [A-Z]+ ', re.MULTILINE
)


def error_lines(log: str) -> list[str]:
    """The lines of a server's log that are errors or report a 500."""
    return [line for line in log.splitlines() if ERROR_LINE.search(line)]


def exit_status(returncode: int) -> int:
    """A process's exit status as a shell shows it: 128 + N for signal N."""
    return 128 - returncode if returncode < 0 else returncode


@functools.cache
def serve_has_graceful_timeout() -> bool:
    """Whether this checkout's ``serve`` takes ``--graceful-timeout``."""
    proc = subprocess.run(
        [sys.executable, "-m", "tornado_compat", "serve", "--help"],
        capture_output=True,
        text=True,
        cwd=tools.ROOT,
        env=tools.child_env(),
        timeout=60,
    )
    return "--graceful-timeout" in proc.stdout


def server_argv(impl: str, port: int, grace: float) -> list[str]:
    python = sys.executable
    if impl == "compat":
        argv = [
            python,
            "-m",
            "tornado_compat",
            "serve",
            f"{APPS / 'drain_app.py'}:app",
            "--port",
            str(port),
        ]
        if serve_has_graceful_timeout():
            argv += ["--graceful-timeout", f"{grace:g}"]
        return argv
    if impl == "tornado":
        return [python, str(APPS / "drain_app.py"), "--port", str(port)]
    if impl == "uvicorn":
        return [
            python,
            "-m",
            "uvicorn",
            "drain_asgi:app",
            "--app-dir",
            str(APPS),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--http",
            "httptools",
            "--loop",
            "asyncio",
            "--lifespan",
            "off",
            "--timeout-graceful-shutdown",
            f"{grace:g}",
        ]
    raise ValueError(f"unknown contender {impl!r}")


@dataclass
class Result:
    outcomes: Counter[str] = field(default_factory=Counter)
    exit_status: int = 0
    exit_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return self.outcomes[COMPLETE]

    @property
    def cut(self) -> int:
        return sum(self.outcomes.values()) - self.completed

    def metrics(self) -> dict[str, float]:
        return {
            "cut": self.cut,
            "completed": self.completed,
            "exit status": self.exit_status,
            "exit time (s)": self.exit_seconds,
            "error lines": len(self.errors),
        }


def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + tools.START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise BenchmarkError(
                f"the server exited with {proc.returncode}:\n{tools.tail(log)}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"the server did not listen:\n{tools.tail(log)}"
                ) from None
            time.sleep(0.02)


def wait_exit(proc: subprocess.Popen[bytes], since: float, limit: float) -> float:
    """Wait for the process to exit, killing it after limit seconds; return
    the seconds from since to its exit."""
    try:
        proc.wait(timeout=max(0.0, since + limit - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return time.monotonic() - since


async def drive(proc: subprocess.Popen[bytes], port: int, plan: Plan) -> Result:
    """Start the requests, SIGTERM the server once it holds them all, and
    collect what every client got."""
    probe = await fetch(port, "/started?count=0", b"0\n", time.monotonic() + 30)
    if probe != COMPLETE:
        raise BenchmarkError(f"the server's /started answered: {probe}")
    paths = plan.paths()
    far = time.monotonic() + 600
    requests = [
        asyncio.create_task(fetch(port, path, body, far)) for path, body in paths
    ]
    count = len(paths)
    ready = await fetch(
        port, f"/started?count={count}", f"{count}\n".encode(), time.monotonic() + 60
    )
    if ready != COMPLETE:
        for task in requests:
            task.cancel()
        raise BenchmarkError(f"not every request started: /started gave {ready}")
    if any(task.done() for task in requests):
        raise BenchmarkError("a request ended before SIGTERM: the handlers are fast")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    limit = plan.grace + LATE
    exit_seconds = asyncio.get_running_loop().run_in_executor(
        None, wait_exit, proc, sent, limit
    )
    outcomes = await asyncio.gather(*requests)
    result = Result(Counter(outcomes))
    result.exit_seconds = await exit_seconds
    assert proc.returncode is not None
    result.exit_status = exit_status(proc.returncode)
    return result


def measure(impl: str, plan: Plan, workdir: Path) -> Result:
    """One SIGTERM during plan.requests requests in flight, on one contender."""
    port = tools.free_port()
    argv = server_argv(impl, port, plan.grace)
    log = Path(tempfile.mkstemp(prefix=f"drain-{impl}-", suffix=".log", dir=workdir)[1])
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            tools.pinned(tools.SERVER_CPU, argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tools.ROOT,
            env=tools.child_env(),
        )
    try:
        wait_listening(proc, port, log)
        result = asyncio.run(drive(proc, port, plan))
    finally:
        tools.stop(proc)
    result.errors = error_lines(log.read_text(errors="replace"))
    result.command = argv
    return result


def table(rows: dict[str, Result], plan: Plan) -> list[str]:
    lines = [
        "| contender | completed | cut | how cut | exit status | "
        "exit after (s) | error or 500 log lines |",
        "|---|--:|--:|---|--:|--:|--:|",
    ]
    for label, result in rows.items():
        how = ", ".join(
            f"{n} {outcome}"
            for outcome, n in sorted(result.outcomes.items())
            if outcome != COMPLETE
        )
        lines.append(
            f"| {label} | {result.completed} of {plan.requests} | {result.cut} | "
            f"{how or '–'} | {result.exit_status} | {result.exit_seconds:.2f} | "
            f"{len(result.errors)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    defaults = Plan()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.drain", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=defaults.requests,
        help="requests in flight at SIGTERM, half slow, half streaming "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--slow",
        type=float,
        default=defaults.slow_seconds,
        help="seconds before a slow request is answered (default %(default)s)",
    )
    parser.add_argument(
        "--parts",
        type=int,
        default=defaults.parts,
        help="parts of a streaming response (default %(default)s)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=defaults.interval,
        help="seconds between two parts (default %(default)s)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=defaults.grace,
        help="grace period given to the servers that take one, in seconds "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--contenders",
        nargs="+",
        choices=list(CONTENDERS),
        default=["compat", "tornado", "uvicorn"],
    )
    args = parser.parse_args(argv)
    if args.requests < 1 or args.parts < 1:
        parser.error("--requests and --parts must be at least 1")
    plan = Plan(args.requests, args.slow, args.parts, args.interval, args.grace)
    rows: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="tornado-compat-drain-") as scratch:
        for impl in args.contenders:
            label = CONTENDERS[impl]
            tools.log(f"running {label}")
            try:
                rows[label] = result = measure(impl, plan, Path(scratch))
            except tools.FAILURES as error:
                print(f"python -m benchmarks.drain: {label}: {error}", file=sys.stderr)
                return 1
            tools.log(f"  command: {' '.join(result.command)}")
            for line in result.errors[:5]:
                tools.log(f"  log: {line}")
            if len(result.errors) > 5:
                tools.log(f"  log: … and {len(result.errors) - 5} more such lines")
    print("\n".join(table(rows, plan)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
