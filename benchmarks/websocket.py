"""WebSocket echo: the servers under test and the load client that measures them.

    python -m benchmarks.websocket serve IMPL [--loop asyncio|uvloop]
    python -m benchmarks.websocket client PORT [--connections N] [--seconds S]
        [--warmup S] [--size BYTES] [--window K]
    python -m benchmarks.websocket loop|instructions|profile ...
    python -m benchmarks.websocket syscalls IMPL [--seconds S]

``serve`` runs one echo server on 127.0.0.1 (a port the kernel picks), prints
``ready PORT SERVER`` once it listens, and runs until it is killed.  IMPL is:

- ``tornado``: a ``tornado.web.Application`` whose ``WebSocketHandler`` sends
  every message back (``write_message(message, binary=...)``), on Tornado's
  HTTPServer;
- ``compat``: the same application after ``tornado_compat.install()``, so that
  ``tornado.websocket`` runs on tornado_compat's server and IOStream;
- ``uvicorn``: a bare ASGI application that echoes, on uvicorn with its
  ``websockets`` protocol;
- ``picows``: picows's server (Cython) with a listener that echoes each frame.

``client`` is the load: ``N`` connections (default 50), each keeping ``K``
messages of ``BYTES`` bytes (default one of 1024) in flight: it sends the next
one when an echo arrives.  Each echo is checked byte for byte against what
was sent, in order; a wrong byte, frame or close is an error, not a figure.
Echoes are counted over ``S`` seconds after a warm-up; the client then
closes every connection with a close handshake and prints one JSON line::

    {"messages_per_second": ..., "messages": ..., "total_messages": ...}

(``messages``: echoes in the measured interval; ``total_messages``: all of
them, warm-up and closing included, which is what the server's CPU time is
divided by.)  It is a plain asyncio protocol doing its own framing, on
uvloop when it is installed, with every frame masked once before the run, so
that it costs little per message; ``python -m benchmarks.websocket client``
against the ``picows`` server shows its ceiling.

:func:`measure` runs one server (pinned to the server CPU) under the client
(pinned to the other), for ``python -m benchmarks``.
``syscalls`` runs the same pair with ``strace -c`` attached to the server
and prints its system calls per echo (see :func:`syscalls`).

What this module must never do: send to anything but 127.0.0.1, or run
without a bound (every phase has a deadline).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from benchmarks import tools

IMPLS = ("tornado", "compat", "uvicorn", "picows")
LOOP_IMPLS = ("picows", "compat", "tornado")
MESSAGE_SIZE = 1024
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Distinct messages each connection cycles through (so that an echo of the
# wrong message, or of a stale buffer, does not compare equal).
MESSAGES_PER_CONNECTION = 8
PHASE_TIMEOUT = 30.0
# The in-process loop (for callgrind and cProfile): connections, and the
# messages echoed before the counted ones.
LOOP_CONNECTIONS = 50
LOOP_WARMUP = 1000
# Callgrind runs a process some fifty times slower.
LOOP_PHASE_TIMEOUT = 1200.0
MESSAGE_METRIC = "msg/s"
CPU_METRIC = "server CPU (µs/msg)"


# -- the servers -------------------------------------------------------------------


async def start_server(impl: str, sock: socket.socket) -> Any:
    """Serve ``impl``'s echo on ``sock`` in the running loop (tornado,
    compat or picows); return the server object."""
    if impl == "picows":
        return await start_picows(sock)
    if impl == "compat":
        import tornado_compat

        tornado_compat.install()

    import tornado.httpserver
    import tornado.web
    import tornado.websocket

    class Echo(tornado.websocket.WebSocketHandler):
        def on_message(self, message: str | bytes) -> None:
            self.write_message(message, binary=isinstance(message, bytes))

    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/", Echo)]))
    server.add_sockets([sock])
    return server


async def start_picows(sock: socket.socket) -> Any:
    import picows

    class Echo(picows.WSListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if frame.msg_type in (picows.WSMsgType.BINARY, picows.WSMsgType.TEXT):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview())

    return await picows.ws_create_server(lambda request: Echo(), sock=sock)


def serve_in_loop(impl: str, loop: str) -> None:
    from benchmarks import servers

    sock = servers.listening_socket()

    async def main() -> None:
        server = await start_server(impl, sock)
        servers.announce(
            sock, "picows" if impl == "picows" else type(server).__module__
        )
        await asyncio.Event().wait()

    servers.run(main, loop)


def serve_uvicorn(loop: str) -> None:
    import uvicorn

    from benchmarks import servers

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            if message.get("bytes") is not None:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
            else:
                await send({"type": "websocket.send", "text": message["text"]})

    sock = servers.listening_socket()
    config = uvicorn.Config(
        app,
        http="httptools",
        ws="websockets",
        ws_ping_interval=None,
        loop=loop,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    servers.announce(sock, "uvicorn")
    uvicorn.Server(config).run(sockets=[sock])


def serve(impl: str, loop: str) -> None:
    from benchmarks import servers

    servers.raise_fd_limit()
    if impl == "uvicorn":
        serve_uvicorn(loop)
    else:
        serve_in_loop(impl, loop)


# The profile's group for the socket calls and polls (their system calls),
# whoever makes them.
SYSCALLS = "socket calls and polls, anyone's"
# Where a profiled function's own time is counted: the first of these found
# in its file's path.
PROFILE_GROUPS = (
    ("tornado_compat/iostream", "tornado_compat.iostream"),
    ("tornado_compat/", "tornado_compat (other)"),
    ("site-packages/tornado/websocket", "tornado.websocket"),
    ("site-packages/tornado/iostream", "tornado.iostream"),
    ("site-packages/tornado/", "tornado (other)"),
    ("asyncio/selector_events", "asyncio transports (socket calls)"),
    ("asyncio/", "asyncio (loop, tasks)"),
    ("selectors", "asyncio (loop, tasks)"),
    ("benchmarks/", "the client"),
)


# -- the client ------------------------------------------------------------------------


class EchoError(Exception):
    """The server answered something other than the echo it owed."""


def mask_payload(mask: bytes, payload: bytes) -> bytes:
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(
        size, "big"
    )


def client_frame(payload: bytes, mask: bytes) -> bytes:
    """A final binary frame from a client (masked)."""
    size = len(payload)
    if size < 126:
        head = bytes([0x82, 0x80 | size])
    elif size < 1 << 16:
        head = bytes([0x82, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x82, 0x80 | 127]) + size.to_bytes(8, "big")
    return head + mask + mask_payload(mask, payload)


class Counter:
    def __init__(self) -> None:
        self.echoes = 0
        self.sending = True


class EchoClient(asyncio.Protocol):
    """One connection: the upgrade, then echoes checked in order."""

    def __init__(
        self,
        port: int,
        size: int,
        window: int,
        counter: Counter,
        quota: int | None = None,
    ) -> None:
        self.port = port
        # Messages left to send, when the run is a count and not a time.
        self.quota = quota
        self.window = window
        self.counter = counter
        self.payloads = [os.urandom(size) for _ in range(MESSAGES_PER_CONNECTION)]
        self.frames = [client_frame(p, os.urandom(4)) for p in self.payloads]
        self.next = 0
        self.expected: collections.deque[bytes] = collections.deque()
        self.buffer = bytearray()
        self.upgraded = False
        self.key = base64.b64encode(os.urandom(16))
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports do not subclass asyncio.Transport.)
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(
            b"GET / HTTP/1.1\r\n"
            b"Host: 127.0.0.1:%d\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n" % (self.port, self.key)
        )

    def fail(self, error: BaseException) -> None:
        for future in (self.opened, self.drained, self.closed):
            if not future.done():
                future.set_exception(error)
                # Only one of them is awaited at a time.
                future.exception()
        if self.transport is not None:
            self.transport.abort()

    def start(self) -> None:
        for _ in range(self.window):
            if self.quota is not None and not self.quota:
                break
            self.send_next()
        self.stop_sending()

    def send_next(self) -> None:
        if self.quota is not None:
            self.quota -= 1
        index = self.next
        self.next = (index + 1) % MESSAGES_PER_CONNECTION
        self.expected.append(self.payloads[index])
        assert self.transport is not None
        self.transport.write(self.frames[index])

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    self.fail(EchoError("no end to the upgrade response's head"))
                return
            self.check_upgrade(bytes(buf[: end + 4]))
            del buf[: end + 4]
            if self.opened.done():
                return
            self.upgraded = True
            self.opened.set_result(None)
        try:
            self.read_frames()
        except EchoError as error:
            self.fail(error)

    def check_upgrade(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101"):
            self.fail(EchoError(f"the upgrade was answered {lines[0]!r}"))
            return
        accept = base64.b64encode(hashlib.sha1(self.key + GUID).digest()).decode()
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-accept":
                if value.strip() != accept:
                    self.fail(EchoError(f"wrong Sec-WebSocket-Accept {value!r}"))
                return
        self.fail(EchoError("no Sec-WebSocket-Accept in the upgrade response"))

    def read_frames(self) -> None:
        buf = self.buffer
        counter = self.counter
        while len(buf) >= 2:
            first, second = buf[0], buf[1]
            if second & 0x80:
                raise EchoError("the server masked a frame")
            length = second & 0x7F
            start = 2
            if length == 126:
                if len(buf) < 4:
                    return
                length = int.from_bytes(buf[2:4], "big")
                start = 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length = int.from_bytes(buf[2:10], "big")
                start = 10
            end = start + length
            if len(buf) < end:
                return
            if first == 0x88:
                self.on_close(bytes(buf[start:end]))
                del buf[:end]
                return
            if first != 0x82:
                raise EchoError(f"unexpected frame, first byte {first:#04x}")
            if not self.expected:
                raise EchoError("an echo of a message not sent")
            if buf[start:end] != self.expected.popleft():
                raise EchoError("an echo differs from the message sent")
            del buf[:end]
            counter.echoes += 1
            if counter.sending and self.quota != 0:
                self.send_next()
            elif not self.expected and not self.drained.done():
                self.drained.set_result(None)

    def stop_sending(self) -> None:
        """Resolve ``drained`` now if nothing is in flight (else the last
        echo does)."""
        if not self.expected and not self.drained.done():
            self.drained.set_result(None)

    def send_close(self) -> None:
        assert self.transport is not None
        mask = os.urandom(4)
        payload = (1000).to_bytes(2, "big")
        self.transport.write(bytes([0x88, 0x82]) + mask + mask_payload(mask, payload))

    def on_close(self, payload: bytes) -> None:
        if self.expected:
            raise EchoError(f"closed by the server with {len(self.expected)} unsent")
        if payload[:2] not in (b"", (1000).to_bytes(2, "big")):
            raise EchoError(f"closed by the server with {payload!r}")
        if not self.closed.done():
            self.closed.set_result(None)
        assert self.transport is not None
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.fail(EchoError(f"the connection was lost: {exc}"))


async def wait_all(
    futures: list[asyncio.Future[None]], what: str, timeout: float = PHASE_TIMEOUT
) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*futures), timeout)
    except asyncio.TimeoutError:
        raise EchoError(f"{what} took more than {timeout:g} s") from None


async def run_client(
    port: int,
    connections: int,
    seconds: float,
    warmup: float,
    size: int,
    window: int,
) -> dict[str, Any]:
    counter, clients = await open_clients(port, connections, size, window)
    for client in clients:
        client.start()
    failed = [c.closed for c in clients]

    async def sleep(duration: float) -> None:
        # Wake early if a connection failed, and raise its error.
        done, _ = await asyncio.wait(failed, timeout=duration)
        for future in done:
            future.result()

    await sleep(warmup)
    first, started, cpu = counter.echoes, time.perf_counter(), time.process_time()
    await sleep(seconds)
    last, ended = counter.echoes, time.perf_counter()
    cpu = time.process_time() - cpu
    counter.sending = False
    for client in clients:
        client.stop_sending()
    await close_clients(clients)
    return {
        "messages_per_second": (last - first) / (ended - started),
        "messages": last - first,
        "seconds": ended - started,
        "total_messages": counter.echoes,
        "client_cpu_us_per_message": cpu / max(last - first, 1) * 1e6,
        "client_cpu_share": cpu / (ended - started),
        "connections": connections,
        "size": size,
        "window": window,
    }


async def open_clients(
    port: int,
    connections: int,
    size: int,
    window: int,
    quota: int | None = None,
    timeout: float = PHASE_TIMEOUT,
) -> tuple[Counter, list[EchoClient]]:
    loop = asyncio.get_running_loop()
    counter = Counter()
    clients = []
    for _ in range(connections):
        _, client = await loop.create_connection(
            lambda: EchoClient(port, size, window, counter, quota), "127.0.0.1", port
        )
        clients.append(client)
    await wait_all([c.opened for c in clients], "the upgrades", timeout)
    return counter, clients


async def close_clients(
    clients: list[EchoClient], timeout: float = PHASE_TIMEOUT
) -> None:
    await wait_all([c.drained for c in clients], "the last echoes", timeout)
    for client in clients:
        client.send_close()
    await wait_all([c.closed for c in clients], "the close handshakes", timeout)


async def echo_loop(impl: str, messages: int) -> float:
    """Serve ``impl`` in this process and echo ``messages`` messages (after a
    warm-up) over 50 connections of this process's own client; the rate."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    server = await start_server(impl, sock)

    async def run(total: int) -> None:
        _, clients = await open_clients(
            port,
            LOOP_CONNECTIONS,
            MESSAGE_SIZE,
            1,
            total // LOOP_CONNECTIONS,
            LOOP_PHASE_TIMEOUT,
        )
        for client in clients:
            client.start()
        await close_clients(clients, LOOP_PHASE_TIMEOUT)

    await run(LOOP_WARMUP)
    start = time.perf_counter()
    await run(messages)
    rate = messages / (time.perf_counter() - start)
    if impl == "picows":
        server.close()
    else:
        server.stop()
    return rate


def loop_argv(impl: str) -> Callable[[int], list[str]]:
    def argv(count: int) -> list[str]:
        return ["-m", "benchmarks.websocket", "loop", impl, str(count)]

    return argv


def profile(impl: str, messages: int) -> None:
    """The echo loop of ``impl`` under cProfile: the top functions by own time."""
    import cProfile
    import pstats

    async def both() -> None:
        await echo_loop(impl, LOOP_WARMUP)
        profiler.enable()
        await echo_loop(impl, messages)
        profiler.disable()

    profiler = cProfile.Profile()
    asyncio.run(both())
    stats = pstats.Stats(profiler)

    def syscalls(func: str) -> str | None:
        # Another built-in (len, bytes, ...) counts for its caller's group.
        return SYSCALLS if "_socket.socket" in func or "poll" in func else None

    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    tools.print_profile_shares(
        raw,
        PROFILE_GROUPS,
        f"{impl}, {messages:,} echoes under cProfile",
        syscalls,
    )
    print()
    stats.sort_stats("tottime").print_stats(25)


def client_main(args: argparse.Namespace) -> None:
    coroutine = run_client(
        args.port, args.connections, args.seconds, args.warmup, args.size, args.window
    )
    try:
        import uvloop

        result = uvloop.run(coroutine)
    except ImportError:
        result = asyncio.run(coroutine)
    print(json.dumps(result), flush=True)


# -- one measurement, for python -m benchmarks -----------------------------------


@contextmanager
def server(impl: str, workdir: Path, loop: str = "asyncio") -> Iterator[tools.Server]:
    """Start ``python -m benchmarks.websocket serve IMPL`` on the server CPU and
    wait for it to listen."""
    log = Path(tempfile.mkstemp(prefix="ws-server-", suffix=".log", dir=workdir)[1])
    argv = [sys.executable, "-m", "benchmarks.websocket", "serve", impl, "--loop", loop]
    with open(log, "w") as err:
        proc = subprocess.Popen(
            tools.pinned(tools.SERVER_CPU, argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=tools.ROOT,
            env=tools.child_env(),
        )
    try:
        line = tools.read_line(proc, tools.START_TIMEOUT)
        match = re.fullmatch(r"ready (\d+) (\S+)\n", line)
        if not match:
            raise tools.BenchmarkError(
                f"websocket server {impl} did not start (said {line!r}):\n"
                f"{tools.tail(log)}"
            )
        expected = tools.SERVED_BY.get(impl, impl)
        if not match.group(2).startswith(expected):
            raise tools.BenchmarkError(
                f"websocket server {impl} runs on {match.group(2)}, not {expected}"
            )
        yield tools.Server(proc, int(match.group(1)), log)
    finally:
        tools.stop(proc)


def run_load(
    port: int,
    connections: int,
    seconds: float,
    warmup: float = 0.5,
    size: int = MESSAGE_SIZE,
    window: int = 1,
) -> dict[str, Any]:
    """Run the client on the load CPU; return its JSON result."""
    argv = [
        "client",
        str(port),
        "--connections",
        str(connections),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
        "--size",
        str(size),
        "--window",
        str(window),
    ]
    timeout = warmup + seconds + 4 * PHASE_TIMEOUT
    return tools.run_json_child(
        "benchmarks.websocket", argv, timeout, cpu=tools.LOAD_CPU
    )


def measure(
    impl: str,
    workdir: Path,
    seconds: float,
    connections: int = 50,
    loop: str = "asyncio",
) -> dict[str, float]:
    """Echoes per second of one server, and its CPU time per echo."""
    with server(impl, workdir, loop) as running:
        before = tools.cpu_seconds(running.pid)
        result = run_load(running.port, connections, seconds)
        cpu = tools.cpu_seconds(running.pid) - before
        running.check_alive()
        running.check_log()
    return {
        MESSAGE_METRIC: result["messages_per_second"],
        CPU_METRIC: cpu / result["total_messages"] * 1e6,
    }


def syscalls(impl: str, seconds: float) -> None:
    """The system calls of ``impl``'s server per echo: ``strace -c -f``
    attached to the server (after it listens, so imports are left out) while
    the client runs for ``seconds``; every call is divided by all the echoes
    of the run, warm-up and closing included.

    strace slows every system call, so the loop's polls (``epoll_wait``)
    each find many connections ready and look rarer than at full speed; the
    calls made once per message (receives, sends, ``getpid``) are counted
    as they are.
    """
    if shutil.which("strace") is None:
        raise SystemExit("syscalls needs strace")
    with (
        tempfile.TemporaryDirectory(prefix="ws-strace-") as tmp,
        server(impl, Path(tmp)) as running,
    ):
        output = Path(tmp) / "strace.txt"
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-o", str(output), "-p", str(running.pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # strace says so on stderr once it is attached.
            assert tracer.stderr is not None
            tracer.stderr.readline()
            result = run_load(running.port, LOOP_CONNECTIONS, seconds)
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(PHASE_TIMEOUT)
        running.check_alive()
        running.check_log()
        echoes = result["total_messages"]
        counts: dict[str, int] = {}
        for line in output.read_text().splitlines():
            fields = line.split()
            # Rows: % time, seconds, usecs/call, calls, [errors,] syscall.
            if len(fields) >= 5 and fields[3].isdigit() and fields[-1] != "total":
                counts[fields[-1]] = int(fields[3])
    print(f"{impl}: {echoes:,} echoes, server system calls per echo\n")
    print("| system call | per echo |")
    print("|---|--:|")
    for name, calls in sorted(counts.items(), key=lambda item: -item[1]):
        if calls / echoes >= 0.005:
            print(f"| {name} | {calls / echoes:.2f} |")
    print(f"| all | {sum(counts.values()) / echoes:.2f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.websocket",
        description=__doc__.split("\n\n")[0],
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run an echo server")
    serve_parser.add_argument("impl", choices=IMPLS)
    serve_parser.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="asyncio"
    )
    client_parser = commands.add_parser("client", help="run the load client")
    client_parser.add_argument("port", type=int)
    client_parser.add_argument("--connections", type=int, default=50)
    client_parser.add_argument("--seconds", type=float, default=3.0)
    client_parser.add_argument("--warmup", type=float, default=0.5)
    client_parser.add_argument("--size", type=int, default=MESSAGE_SIZE)
    client_parser.add_argument("--window", type=int, default=1)
    loop_parser = commands.add_parser(
        "loop", help="server and client in this process: print the rate"
    )
    loop_parser.add_argument("impl", choices=LOOP_IMPLS)
    loop_parser.add_argument("messages", type=int)
    count_parser = commands.add_parser(
        "instructions", help="instructions per echo, counted by callgrind"
    )
    count_parser.add_argument(
        "impls", nargs="*", metavar="IMPL", help=f"of {', '.join(LOOP_IMPLS)}"
    )
    count_parser.add_argument("--messages", type=int, default=1000)
    profile_parser = commands.add_parser(
        "profile", help="the in-process loop under cProfile"
    )
    profile_parser.add_argument("impl", choices=LOOP_IMPLS)
    profile_parser.add_argument("--messages", type=int, default=20000)
    syscalls_parser = commands.add_parser(
        "syscalls", help="the server's system calls per echo, counted by strace"
    )
    syscalls_parser.add_argument("impl", choices=IMPLS)
    syscalls_parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.impl, args.loop)
    elif args.command == "loop":
        rate = asyncio.run(echo_loop(args.impl, args.messages))
        print(f"{args.impl}: {rate:,.0f} messages/s")
    elif args.command == "instructions":
        unknown = set(args.impls) - set(LOOP_IMPLS)
        if unknown:
            parser.error(f"unknown server {', '.join(sorted(unknown))}")
        from benchmarks import instructions

        print("| server | instructions per echo |")
        print("|---|--:|")
        for impl in args.impls or LOOP_IMPLS:
            count = instructions.per_request(loop_argv(impl), args.messages)
            print(f"| {impl} | {count:,} |", flush=True)
    elif args.command == "profile":
        profile(args.impl, args.messages)
    elif args.command == "syscalls":
        syscalls(args.impl, args.seconds)
    else:
        for name in ("connections", "size", "window"):
            if getattr(args, name) < 1:
                parser.error(f"--{name} must be at least 1")
        client_main(args)


if __name__ == "__main__":
    main()
