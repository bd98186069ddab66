"""Run a server out of file descriptors and watch what it does.

    python -m benchmarks.fd_exhaustion [--tornado] [--long] [--loop asyncio|uvloop]
                                       [--max-connections N]

The server is a ``tornado.web`` application answering ``Hello world!`` on
``/``, run through ``tornado_compat.install()`` (or on Tornado itself with
``--tornado``) in a process of its own whose limit on open files is 1024 (as
``ulimit -n 1024``; the listen backlog is Tornado's 128).  Its log (INFO and
above; the access log, one line per request, is left out) goes to a file.

Then, all on 127.0.0.1:

1. a *keep-alive client* connects and makes one request;
2. 1100 *slow clients* connect and hold their connections: half send
   nothing, half send part of a request head.  About 1010 of them take the
   server's remaining descriptors; the rest wait in the listen backlog;
3. for HOLD seconds (5, or 30 with ``--long``) the keep-alive client makes a
   request every 0.1 s on its connection, and a *new-connection client* tries,
   one after the other, a request on a new connection, giving each 2 s;
4. the slow clients close, and the new-connection client tries until it is
   served (at most 10 s): how long the server takes to recover.

It prints what each client got (served / attempted, p50 / p99 / max latency),
the CPU seconds the server used during the hold, and what it logged: bytes,
records, WARNING and ERROR records, tracebacks, and the most records in any
one second.  The goal: every keep-alive request served with p99
under 100 ms, and at most one log line a second.

What to expect from the new-connection client: while every descriptor is
taken, a new connection can only wait in the kernel's backlog, so it is not
served until the slow clients leave.  The server does not shed them for it.

What it must never do: connect anywhere but 127.0.0.1, leave the server
running, or run unbounded: every wait has a deadline, every loop a count.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

LIMIT = 1024
SLOW_CLIENTS = 1100
BACKLOG = 128
#: Slow clients opened at a time, well within the listen backlog.
BATCH = 32
HOLD_SHORT = 5.0
HOLD_LONG = 30.0
#: Seconds between two requests of the keep-alive client.
KEEPALIVE_INTERVAL = 0.1
#: Seconds the new-connection client gives each attempt.
ATTEMPT_TIMEOUT = 2.0
RECOVERY_TIMEOUT = 10.0
READY_TIMEOUT = 30.0
HELLO = b"Hello world!"
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
PARTIAL_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


# -- the server process --------------------------------------------------------


def serve(impl: str, loop_kind: str, max_connections: int | None) -> None:
    """The server: lower the limit first, as ``ulimit -n`` would, then serve."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, hard))
    if impl == "compat":
        import tornado_compat

        tornado_compat.install()
    import tornado.httpserver
    import tornado.netutil
    import tornado.web

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(created).3f %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("tornado.access").setLevel(logging.WARNING)

    class Hello(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(HELLO)

    async def main() -> None:
        options: dict[str, Any] = {}
        if max_connections is not None:
            options["max_connections"] = max_connections
        server = tornado.httpserver.HTTPServer(
            tornado.web.Application([(r"/", Hello)]), **options
        )
        [sock] = tornado.netutil.bind_sockets(
            0, address="127.0.0.1", family=socket.AF_INET, backlog=BACKLOG
        )
        server.add_sockets([sock])
        print("ready", sock.getsockname()[1], type(server).__module__, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # Standard input closing is the signal to stop.
        loop.add_reader(sys.stdin.fileno(), stop.set)
        await stop.wait()
        loop.remove_reader(sys.stdin.fileno())
        server.stop()

    if loop_kind == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


# -- the clients ---------------------------------------------------------------


def read_response(sock: socket.socket, deadline: float) -> bytes:
    """Read one response with a Content-Length body before ``deadline``;
    return its body (empty when the status is not 200)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += receive(sock, deadline)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip()[:9] or b"0")
    while len(body) < length:
        body += receive(sock, deadline)
    return body if head.split(b" ", 2)[1] == b"200" else b""


def receive(sock: socket.socket, deadline: float) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    sock.settimeout(remaining)
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("closed by the server")
    return chunk


@dataclass
class Tally:
    """What one client got."""

    attempted: int = 0
    served: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)

    def add(self, started: float, ok: bool, failure: str = "") -> None:
        self.attempted += 1
        if ok:
            self.served += 1
            self.latencies.append(time.perf_counter() - started)
        else:
            self.failures[failure] = self.failures.get(failure, 0) + 1

    def describe(self) -> str:
        text = f"{self.served} of {self.attempted} served"
        if self.latencies:
            ms = sorted(x * 1000 for x in self.latencies)
            p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
            text += (
                f"; latency p50 {statistics.median(ms):.1f} ms, "
                f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"
            )
        if self.failures:
            text += "; failed: " + ", ".join(
                f"{n} {why}" for why, n in sorted(self.failures.items())
            )
        return text

    def p99(self) -> float:
        if not self.latencies:
            return float("inf")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def keep_alive_client(sock: socket.socket, until: float, tally: Tally) -> None:
    """Requests on one connection, one every KEEPALIVE_INTERVAL until ``until``."""
    next_at = time.monotonic()
    while next_at < until and tally.attempted < 10_000:
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        started = time.perf_counter()
        try:
            sock.sendall(REQUEST)
            ok = read_response(sock, time.monotonic() + ATTEMPT_TIMEOUT) == HELLO
            tally.add(started, ok, "wrong answer")
        except (OSError, TimeoutError) as e:
            tally.add(started, False, type(e).__name__)
            return  # the connection is unusable after a timeout or a reset
        next_at += KEEPALIVE_INTERVAL


def new_connection_request(port: int, timeout: float) -> tuple[bool, str]:
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(REQUEST)
            return read_response(sock, deadline) == HELLO, "wrong answer"
    except (OSError, TimeoutError) as e:
        return False, "timed out" if isinstance(e, TimeoutError) else type(e).__name__


def new_connection_client(port: int, until: float, tally: Tally) -> None:
    while time.monotonic() < until and tally.attempted < 1_000:
        started = time.perf_counter()
        timeout = min(ATTEMPT_TIMEOUT, max(0.1, until - time.monotonic()))
        ok, why = new_connection_request(port, timeout)
        tally.add(started, ok, why)


def open_slow_clients(
    port: int, count: int, server_pid: int, deadline: float
) -> list[socket.socket]:
    """``count`` connections, opened BATCH at a time; half send part of a head.

    Each batch waits (until ``deadline`` at most) for the server to have
    accepted it, judged by the descriptors the server holds, or to have run
    out of them.  Opening all at once would overflow the listen backlog, and
    the kernel would then drop connections that the client believes open.
    """
    held: list[socket.socket] = []
    base = open_descriptors(server_pid)
    while len(held) < count and time.monotonic() < deadline:
        batch = [
            connect_without_blocking(port) for _ in range(min(BATCH, count - len(held)))
        ]
        for sock in batch:
            if len(held) % 2:
                try:
                    sock.send(PARTIAL_HEAD)
                except OSError:
                    pass
            held.append(sock)
        wanted = min(base + len(held), LIMIT)
        batch_deadline = min(deadline, time.monotonic() + 1.0)
        while open_descriptors(server_pid) < wanted:
            if time.monotonic() > batch_deadline:
                break
            time.sleep(0.005)
    return held


def connect_without_blocking(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.connect_ex(("127.0.0.1", port))
    return sock


def open_descriptors(pid: int) -> int:
    """How many descriptors ``pid`` has open (Linux)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


# -- measuring the server --------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds ``pid`` has used so far (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class LogSummary:
    size: int = 0
    records: int = 0
    warnings: int = 0
    errors: int = 0
    tracebacks: int = 0
    busiest_second: int = 0

    @classmethod
    def read(cls, path: str) -> LogSummary:
        summary = cls(size=os.path.getsize(path))
        per_second: dict[int, int] = {}
        with open(path, "rb") as f:
            for line in f:
                words = line.split(b" ", 2)
                if line.startswith(b"Traceback"):
                    summary.tracebacks += 1
                if len(words) < 3:
                    continue
                try:
                    second = int(float(words[0]))
                except ValueError:
                    continue  # a traceback's lines
                summary.records += 1
                per_second[second] = per_second.get(second, 0) + 1
                if words[1] == b"WARNING":
                    summary.warnings += 1
                elif words[1] in (b"ERROR", b"CRITICAL"):
                    summary.errors += 1
        summary.busiest_second = max(per_second.values(), default=0)
        return summary

    def describe(self) -> str:
        return (
            f"{self.size / 1e6:.3f} MB, {self.records} records "
            f"({self.warnings} WARNING, {self.errors} ERROR), "
            f"{self.tracebacks} tracebacks; at most {self.busiest_second} "
            "records in any one second"
        )


def raise_own_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        top = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))


def measure(
    impl: str, loop_kind: str, hold: float, max_connections: int | None
) -> bool:
    raise_own_fd_limit(SLOW_CLIENTS + 256)
    command = [sys.executable, "-m", "benchmarks.fd_exhaustion", "--serve", impl]
    command += ["--loop", loop_kind]
    if max_connections is not None:
        command += ["--max-connections", str(max_connections)]
    log = tempfile.NamedTemporaryFile(prefix="fd-exhaustion-", suffix=".log")
    server = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
    )
    held: list[socket.socket] = []
    try:
        stdout = server.stdout
        assert stdout is not None
        ready: list[bytes] = []
        reader = threading.Thread(
            target=lambda: ready.append(stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(READY_TIMEOUT)
        words = ready[0].split() if ready else []
        if len(words) != 3 or words[0] != b"ready":
            print("the server did not start; its log:", file=sys.stderr)
            log.seek(0)
            sys.stderr.write(log.read()[-4000:].decode("utf-8", "replace"))
            return False
        port, module = int(words[1]), words[2].decode()

        keep_alive = socket.create_connection(("127.0.0.1", port), timeout=5)
        keep_alive.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        keep_alive.sendall(REQUEST)
        assert read_response(keep_alive, time.monotonic() + 5) == HELLO

        cpu_before = cpu_seconds(server.pid)
        started = time.monotonic()
        held = open_slow_clients(port, SLOW_CLIENTS, server.pid, started + 30)
        until = time.monotonic() + hold
        kept, fresh = Tally(), Tally()
        threads = [
            threading.Thread(target=keep_alive_client, args=(keep_alive, until, kept)),
            threading.Thread(target=new_connection_client, args=(port, until, fresh)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(hold + 2 * ATTEMPT_TIMEOUT + 5)
        window = time.monotonic() - started
        cpu_used = cpu_seconds(server.pid) - cpu_before
        descriptors = open_descriptors(server.pid)

        for sock in held:
            sock.close()
        closed_at = time.monotonic()
        recovered: float | None = None
        while time.monotonic() - closed_at < RECOVERY_TIMEOUT:
            ok, _ = new_connection_request(port, ATTEMPT_TIMEOUT)
            if ok:
                recovered = time.monotonic() - closed_at
                break
        keep_alive.close()
    finally:
        for sock in held:
            sock.close()
        try:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        if server.stdout is not None:
            server.stdout.close()
    summary = LogSummary.read(log.name)
    log.close()

    name = "Tornado 6.6" if impl == "tornado" else "tornado_compat"
    cap = f", max_connections={max_connections}" if max_connections else ""
    print(
        f"fd exhaustion: {name} ({module}, {loop_kind} loop{cap}), "
        f"RLIMIT_NOFILE {LIMIT}, listen backlog {BACKLOG}"
    )
    print(f"  slow clients opened:              {len(held)}")
    print(f"  server descriptors at the end:    {descriptors} (limit {LIMIT})")
    print(f"  hold:                             {hold:.0f} s")
    print(f"  keep-alive client (opened before): {kept.describe()}")
    print(f"  new connection per request:       {fresh.describe()}")
    print(
        "  after the slow clients closed:    "
        + (
            f"a new connection served after {recovered:.2f} s"
            if recovered is not None
            else f"no new connection served within {RECOVERY_TIMEOUT:.0f} s"
        )
    )
    print(f"  server CPU, flood and hold:       {cpu_used:.2f} s in {window:.1f} s")
    print(f"  server log:                       {summary.describe()}")
    met = (
        kept.attempted > 0
        and kept.served == kept.attempted
        and kept.p99() < 0.1
        and summary.busiest_second <= 1
    )
    print(
        "  goal (every keep-alive request served, p99 < 100 ms, "
        f"at most one log line a second): {'met' if met else 'NOT met'}"
    )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tornado", action="store_true", help="run Tornado itself")
    parser.add_argument("--long", action="store_true", help=f"hold {HOLD_LONG:.0f} s")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--max-connections", type=int, default=None)
    parser.add_argument(
        "--serve", choices=("compat", "tornado"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.loop, args.max_connections)
        return
    if args.tornado and args.max_connections is not None:
        parser.error("Tornado has no max_connections")
    impl = "tornado" if args.tornado else "compat"
    measure(
        impl, args.loop, HOLD_LONG if args.long else HOLD_SHORT, args.max_connections
    )


if __name__ == "__main__":
    main()
