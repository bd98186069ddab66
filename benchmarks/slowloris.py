"""Slowloris against the head deadline: every slow head is cut, idle
keep-alive connections stay.

    python -m benchmarks.slowloris            # smoke: 50 slow heads, head_timeout 1 s
    python -m benchmarks.slowloris --long     # the published figure: 1000, 10 s

A tornado_compat ``HTTPServer`` (after ``install()``, serving a
``tornado.web`` hello application) runs in a child process with
``head_timeout`` and ``idle_connection_timeout=3600``.  This process first
opens some keep-alive connections and makes one request on each, then opens
the slow connections on 127.0.0.1: each sends part of a request head, then
one more byte of a header line every ``--drip`` seconds, and never finishes.

It reports how long each slow head lived (from its first byte to the
server's close: min, median, max), whether the idle keep-alive connections
are still open once every slow one was cut (each must then answer a second
request), and what the server logged (one INFO line per cut head, nothing
at WARNING or above).  The exit status is 0 when every slow head was cut no
earlier than ``head_timeout`` and every idle connection was served.

Everything is bounded: connections are made in batches, and a slow
connection still open ``--grace`` seconds after its deadline counts as a
failure instead of being waited for.  The limit on open files is raised to
the hard limit in both processes.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import select
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.idle import read_response

ROOT = Path(__file__).resolve().parents[1]
IDLE_TIMEOUT = 3600.0
PARTIAL_HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slowloris: "
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
HELLO = b"Hello world!"
BATCH = 100
START_TIMEOUT = 30.0
SOCKET_TIMEOUT = 30.0
CUT_MESSAGE = "Timeout reading request head"


def raise_fd_limit() -> int:
    """Raise the soft limit on open files to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the server (child process) ---------------------------------------------------


def serve(head_timeout: float, loop: str, app_name: str) -> None:
    """Run the server until standard input closes; log at INFO to stderr."""
    raise_fd_limit()
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    import tornado_compat

    tornado_compat.install()

    import asyncio

    import tornado.httpserver
    import tornado.httputil
    import tornado.netutil
    import tornado.web

    class Hello(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(HELLO)

    def raw(request: tornado.httputil.HTTPServerRequest) -> None:
        connection = request.connection
        assert connection is not None
        connection.write_headers(
            tornado.httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            tornado.httputil.HTTPHeaders({"Content-Length": str(len(HELLO))}),
            HELLO,
        )
        connection.finish()

    # Access lines for the requests would drown the lines that matter here.
    app = (
        tornado.web.Application([(r"/", Hello)], log_function=lambda handler: None)
        if app_name == "web"
        else raw
    )

    async def main() -> None:
        server = tornado.httpserver.HTTPServer(
            app, head_timeout=head_timeout, idle_connection_timeout=IDLE_TIMEOUT
        )
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1", backlog=4096)
        server.add_sockets(sockets)
        print(
            f"ready {sockets[0].getsockname()[1]} {type(server).__module__}",
            flush=True,
        )
        stdin_closed = asyncio.Event()
        asyncio.get_running_loop().add_reader(sys.stdin, stdin_closed.set)
        await stdin_closed.wait()
        server.stop()

    if loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


# -- the attack (this process) ----------------------------------------------------


@dataclass
class Results:
    lived: list[float] = field(default_factory=list)
    still_open: int = 0
    too_early: int = 0
    idle_served: int = 0
    idle_seconds: float = 0.0


def open_idle(port: int, count: int) -> list[socket.socket]:
    """Keep-alive connections that each completed one request."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
        sock.sendall(REQUEST)
        status, body = read_response(sock)
        if status != 200 or body != HELLO:
            raise SystemExit(f"wrong answer to an idle connection: {status} {body!r}")
        held.append(sock)
    return held


def attack(
    port: int, count: int, head_timeout: float, drip: float, grace: float
) -> Results:
    """Open ``count`` slow heads and drip into them until the server has cut
    them all (or ``grace`` seconds past the deadline of the last one)."""
    results = Results()
    selector = selectors.DefaultSelector()
    first_byte: dict[socket.socket, float] = {}
    pending = count
    while pending:
        batch = []
        for _ in range(min(BATCH, pending)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(SOCKET_TIMEOUT)
            sock.connect(("127.0.0.1", port))
            sock.setblocking(False)
            batch.append(sock)
        for sock in batch:
            sock.send(PARTIAL_HEAD)
            first_byte[sock] = time.monotonic()
            selector.register(sock, selectors.EVENT_READ)
        pending -= len(batch)
    give_up = max(first_byte.values()) + head_timeout + grace
    next_drip = time.monotonic() + drip
    while first_byte and time.monotonic() < give_up:
        wait = max(0.0, min(next_drip, give_up) - time.monotonic())
        for key, _ in selector.select(wait):
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            sock = ready
            try:
                closed = sock.recv(4096) == b""
            except ConnectionResetError:
                closed = True
            except BlockingIOError:
                continue
            if not closed:
                raise SystemExit("the server answered a head it never got whole")
            lived = time.monotonic() - first_byte.pop(sock)
            results.lived.append(lived)
            if lived < head_timeout:
                results.too_early += 1
            selector.unregister(sock)
            sock.close()
        if time.monotonic() >= next_drip:
            next_drip += drip
            for sock in first_byte:
                try:
                    sock.send(b"x")
                except (BlockingIOError, OSError):
                    pass  # closed by the server: the selector reports it
    results.still_open = len(first_byte)
    for sock in first_byte:
        sock.close()
    selector.close()
    return results


def check_idle(idle: list[socket.socket], opened_at: float, results: Results) -> None:
    results.idle_seconds = time.monotonic() - opened_at
    for sock in idle:
        try:
            sock.sendall(REQUEST)
            status, body = read_response(sock)
        except OSError:
            continue
        if status == 200 and body == HELLO:
            results.idle_served += 1


def log_counts(text: str) -> dict[str, int]:
    counts = {"cut": 0, "WARNING": 0, "ERROR": 0, "CRITICAL": 0}
    for line in text.splitlines():
        level = line.split(" ", 1)[0]
        if level == "INFO" and CUT_MESSAGE in line:
            counts["cut"] += 1
        elif level in counts:
            counts[level] += 1
    return counts


def run(args: argparse.Namespace) -> int:
    limit = raise_fd_limit()
    needed = args.connections + args.idle + 64
    if limit < needed:
        raise SystemExit(f"open-file limit {limit} is below the {needed} needed")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "benchmarks.slowloris",
                "--serve",
                str(args.head_timeout),
                "--loop",
                args.loop,
                "--app",
                args.app,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=ROOT,
            env=env,
        )
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT)
            line = proc.stdout.readline() if ready else ""
            if not line.startswith("ready "):
                log.seek(0)
                raise SystemExit(f"the server did not start: {line!r}\n{log.read()}")
            _, port_text, served_by = line.split()
            port = int(port_text)
            app = "tornado.web hello app" if args.app == "web" else "raw callback"
            print(
                f"slowloris: {served_by}.HTTPServer ({app}, {args.loop} loop), "
                f"head_timeout={args.head_timeout:g} s, "
                f"idle_connection_timeout={IDLE_TIMEOUT:g} s"
            )
            print(
                f"{args.connections} slow connections (a byte every {args.drip:g} s), "
                f"{args.idle} idle keep-alive connections"
            )
            opened_at = time.monotonic()
            idle = open_idle(port, args.idle)
            started = time.monotonic()
            results = attack(
                port, args.connections, args.head_timeout, args.drip, args.grace
            )
            elapsed = time.monotonic() - started
            check_idle(idle, opened_at, results)
            for sock in idle:
                sock.close()
        finally:
            if proc.poll() is None:
                assert proc.stdin is not None
                proc.stdin.close()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
        log.seek(0)
        counts = log_counts(log.read())
    cut = len(results.lived)
    print(
        f"slow heads cut by the server: {cut} of {args.connections}; "
        f"still open {args.grace:g} s past the deadline: {results.still_open}; "
        f"cut before head_timeout: {results.too_early}  ({elapsed:.1f} s)"
    )
    if results.lived:
        print(
            "lifetime of a slow head, first byte to close: "
            f"min {min(results.lived):.3f} s, "
            f"median {statistics.median(results.lived):.3f} s, "
            f"max {max(results.lived):.3f} s"
        )
    print(
        f"idle keep-alive connections still open and served after the slow heads "
        f"were cut: {results.idle_served} of {args.idle} "
        f"(idle for {results.idle_seconds:.1f} s)"
    )
    print(
        f'server log: {counts["cut"]} INFO "{CUT_MESSAGE}", '
        f"{counts['WARNING']} WARNING, {counts['ERROR'] + counts['CRITICAL']} ERROR"
    )
    ok = (
        cut == args.connections
        and results.too_early == 0
        and results.idle_served == args.idle
        and counts["cut"] == args.connections
        and counts["WARNING"] + counts["ERROR"] + counts["CRITICAL"] == 0
        and proc.returncode == 0
    )
    print("result: " + ("ok" if ok else "FAILED"))
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help="the published figure: 1000 slow connections, head_timeout 10 s",
    )
    parser.add_argument("--connections", type=int, help="slow connections")
    parser.add_argument("--head-timeout", type=float, help="seconds")
    parser.add_argument(
        "--idle", type=int, default=20, help="idle keep-alive connections"
    )
    parser.add_argument(
        "--drip", type=float, help="seconds between the bytes of a slow head"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds past the deadline before a slow head counts as not cut",
    )
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--app", choices=["web", "raw"], default="web")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.loop, args.app)
        return
    if args.connections is None:
        args.connections = 1000 if args.long else 50
    if args.head_timeout is None:
        args.head_timeout = 10.0 if args.long else 1.0
    if args.drip is None:
        args.drip = 1.0 if args.long else 0.2
    sys.exit(run(args))


if __name__ == "__main__":
    main()
