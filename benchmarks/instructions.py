"""Instructions per request, counted by callgrind: the noise-free companion
of the wall-clock comparisons.

    python -m benchmarks.instructions [--requests N] [SERVER ...]
    python -m benchmarks.instructions --client [--requests N] [CLIENT ...]

For a SERVER (``floor``, ``compat``, ``tornado``, ``uvicorn``; all four by
default), one process runs the server and a bare asyncio client on the same
asyncio loop: 10 keep-alive connections, each sending the next hello-world
GET when the last answer is complete.  ``floor`` is an asyncio protocol that
answers a canned response (:mod:`benchmarks.floors`): the client, the event
loop and the system calls, with no HTTP server code; subtract it from the
others to get the server's own share.  ``compat`` and ``tornado`` run the
raw-callback HTTPServer of comparison 1, ``uvicorn`` the bare ASGI
application on httptools.
``compat-web`` and ``tornado-web`` (counted only when named) serve the same
body from the ``tornado.web`` hello handler of :mod:`benchmarks.servers`.
``floor-api`` (counted only when named) is the floor plus the objects of
Tornado's raw-callback API, made as tornado_compat makes them
(:mod:`benchmarks.floors`): subtract it from ``compat`` to get what
tornado_compat spends on HTTP itself, beyond the objects any
implementation of that API must make.  ``floor-api-web`` (also only when
named) hands each request to the tornado.web hello world instead: the
floor of ``compat-web``.

``compat-h2`` and ``compat-h2-web`` are tornado_compat's
``HTTPServer(http2=True)`` with the raw callback and with the tornado.web
hello world, and ``hypercorn-h2`` hypercorn with the bare ASGI app: the
client then speaks HTTP/2 with prior knowledge, 10 streams in flight on each
of its 10 connections, from frames made once (the request head is HPACK
without the dynamic table, so every request's block is the same bytes), so
that the client's own share stays small.  They are not in the default set.

A suffix ``-tls`` (``floor-tls``, ``compat-tls``, ``tornado-tls``,
``uvicorn-tls``) serves the same over TLS (a self-signed ECDSA certificate,
``ssl_options`` for the two Tornado servers), the client's 10 keep-alive
connections speaking TLS through asyncio's; ``-close`` (``floor-close``,
``compat-close``, ...) sends each GET with ``Connection: close`` on a new
connection, 10 at a time, and counts a request done when the server has
answered and closed.  Subtract the floor of the same suffix, which answers
(and closes) with the same client.  ``-varied`` (``floor-varied``,
``compat-varied``, ...) sends the keep-alive GETs of the default loop with a
path of their own (``/?1``, ``/?2``, ...), so that no request head repeats:
tornado_compat keeps the heads it has parsed by their bytes, and a client
that sends the same head every time (as wrk does) measures that cache; this
one measures the parser.  None of these is in the default set.

A last suffix ``-uvloop`` (``floor-uvloop``, ``compat-uvloop``,
``uvicorn-uvloop``, ``compat-close-uvloop``, ...) runs the same process on
uvloop's event loop instead of asyncio's own: the servers and the client are
unchanged, and the floor of the same suffixes is what to subtract.

``python -m benchmarks.instructions --profile SERVER [--requests N]`` runs
the same loop under cProfile and prints where the time went, by package
(h2, hpack, hyperframe, tornado_compat.http2, ...): the shares, not the
instruction counts.

For a CLIENT (``compat-simple``, ``tornado-simple``, ``aiohttp``,
``pyreqwest``, ...; see :mod:`benchmarks.clients`), the client fetches a
12-byte file from an nginx of its own, 10 at a time.  Every thread of the
process counts: pyreqwest's Tokio thread, where its HTTP work is done, too.

Each is run twice under ``valgrind --tool=callgrind`` (with
``PYTHONHASHSEED=0``), with N and 3N requests; the difference of the two
totals over 2N is the cost of one request, without start-up and import.
Only user-space instructions are counted: the kernel's side of the system
calls is not.  Needs valgrind (``apt-get install valgrind``).

``python -m benchmarks.instructions --loop SERVER N`` is the measured
process itself, which prints its request rate (without valgrind).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import floors, tools
from benchmarks.servers import HELLO, responder, web_app

SERVERS = ("floor", "compat", "tornado", "uvicorn")
H2_SERVERS = ("compat-h2", "compat-h2-web", "hypercorn-h2")
H2_STREAMS = 10
CLIENTS = ("compat-simple", "tornado-simple", "aiohttp", "pyreqwest")
WEB_SERVERS = ("compat-web", "tornado-web")
CONNECTIONS = 10
WARMUP = 200
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
CLOSE_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
MODES = ("tls", "close", "varied")
UVLOOP = "-uvloop"
# For "-varied": no two requests of a run share a head, so that no cache of
# request heads by their bytes can answer for the parser.
VARIED_REQUEST = b"GET /?%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class _Client(asyncio.Protocol):
    """Sends a GET, waits for the whole answer (it ends with the body), and
    sends the next, ``count`` times."""

    def __init__(self, count: int, done: asyncio.Future[None]) -> None:
        self.count = count
        self.done = done
        self.received = b""
        self.transport: Any = None

    def request(self) -> bytes:
        return REQUEST

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request())

    def data_received(self, data: bytes) -> None:
        self.received += data
        if not self.received.endswith(HELLO):
            return
        if not self.received.startswith(b"HTTP/1.1 200 "):
            self.done.set_exception(AssertionError(self.received[:200]))
            return
        self.received = b""
        self.count -= 1
        if self.count:
            self.transport.write(self.request())
        else:
            self.transport.close()
            self.done.set_result(None)


class _VariedClient(_Client):
    """A _Client whose every request has a path of its own (``/?N``, N
    counted across all the connections)."""

    sent = itertools.count()

    def request(self) -> bytes:
        return VARIED_REQUEST % next(self.sent)


class _OneShot(asyncio.Protocol):
    """One GET with ``Connection: close``: done when the whole answer has
    come and the server has closed the connection."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.received = b""

    def connection_made(self, transport: Any) -> None:
        transport.write(CLOSE_REQUEST)

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if exc is None and self.received.startswith(b"HTTP/1.1 200 "):
            if self.received.endswith(HELLO):
                self.done.set_result(None)
                return
        self.done.set_exception(AssertionError(exc or self.received[:200]))


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
# SETTINGS (empty), then WINDOW_UPDATE of the connection window to its
# largest, so that the server never waits for the client to open it.
_H2_START = (
    _H2_PREFACE
    + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    + b"\x00\x00\x04\x08\x00\x00\x00\x00\x00"
    + (2**31 - 1 - 65535).to_bytes(4, "big")
)
# GET / http 127.0.0.1: three static-table indexes and :authority as a literal
# without indexing (RFC 7541), so that no block depends on the ones before.
_H2_BLOCK = b"\x82\x86\x84\x01\x09127.0.0.1"
_H2_HEADERS_PREFIX = len(_H2_BLOCK).to_bytes(3, "big") + b"\x01\x05"


class _H2Client(asyncio.Protocol):
    """HTTP/2 with prior knowledge: keeps H2_STREAMS GETs in flight, and
    counts a response done at its END_STREAM flag, ``count`` times.  Frames
    are only walked, not checked: a wrong answer shows as a GOAWAY or
    RST_STREAM, which fail the run."""

    def __init__(self, count: int, done: asyncio.Future[None]) -> None:
        self.count = count
        self.sent = 0
        self.next_id = 1
        self.buffer = b""
        self.done = done
        self.transport: Any = None

    def _requests(self, n: int) -> bytes:
        n = min(n, self.count - self.sent)
        frames = []
        for _ in range(n):
            frames.append(
                _H2_HEADERS_PREFIX + self.next_id.to_bytes(4, "big") + _H2_BLOCK
            )
            self.next_id += 2
        self.sent += n
        return b"".join(frames)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(_H2_START + self._requests(H2_STREAMS))

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        offset, ended, size = 0, 0, len(buffer)
        while size - offset >= 9:
            length = int.from_bytes(buffer[offset : offset + 3], "big")
            end = offset + 9 + length
            if end > size:
                break
            kind, flags = buffer[offset + 3], buffer[offset + 4]
            if kind in (0, 1) and flags & 1:
                ended += 1
            elif kind in (3, 7):  # RST_STREAM, GOAWAY
                self.done.set_exception(AssertionError(buffer[offset:end]))
                self.transport.close()
                return
            elif kind == 4 and not flags & 1:  # SETTINGS: acknowledge
                self.transport.write(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00")
            offset = end
        self.buffer = buffer[offset:]
        if not ended:
            return
        self.count -= ended
        self.sent -= ended
        if self.count <= 0:
            self.transport.close()
            self.done.set_result(None)
        elif self.sent < self.count:
            more = self._requests(ended)
            if more:
                self.transport.write(more)


def _split_mode(name: str) -> tuple[str, str | None]:
    """("compat", "tls") for "compat-tls"; (name, None) without a mode."""
    base, _, mode = name.rpartition("-")
    return (base, mode) if base and mode in MODES else (name, None)


def _run_loop(name: str, coroutine: Callable[[str], Any]) -> Any:
    """Run ``coroutine(base)`` on the event loop that ``name`` asks for:
    uvloop's for a name ending in ``-uvloop`` (given without it), else
    asyncio's own."""
    if not name.endswith(UVLOOP):
        return asyncio.run(coroutine(name))
    import uvloop

    return uvloop.run(coroutine(name[: -len(UVLOOP)]))


def _tls_contexts() -> tuple[tuple[str, str], Any, Any]:
    """A certificate and key in a scratch folder, the server's context and
    the client's (which does not check the certificate)."""
    import ssl

    files = tools.tls_files(Path(tempfile.mkdtemp(prefix="tornado-compat-instr-")))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(*files)
    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    return files, server, client


async def _start_server(
    name: str, sock: socket.socket, tls: tuple[tuple[str, str], Any] | None = None
) -> Any:
    loop = asyncio.get_running_loop()
    files, context = tls if tls is not None else (None, None)
    if name in ("floor", "floor-close", "floor-api", "floor-api-web"):
        protocol: Any = {
            "floor": floors.Canned,
            "floor-close": floors.CannedClose,
        }.get(name)
        if protocol is None:
            import tornado_compat

            tornado_compat.install()
            application = web_app() if name.endswith("-web") else None
            protocol = floors.api_floor(application=application)
        return await loop.create_server(protocol, sock=sock, ssl=context)
    if name == "uvicorn":
        import uvicorn

        async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/plain"),
                        (b"content-length", b"12"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": HELLO})

        server = uvicorn.Server(
            uvicorn.Config(
                asgi_app,
                http="httptools",
                loop="none",
                lifespan="off",
                log_level="warning",
                access_log=False,
                ssl_certfile=files[0] if files else None,
                ssl_keyfile=files[1] if files else None,
            )
        )
        task = loop.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        return task
    if name == "hypercorn-h2":
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        from benchmarks.apps.hello_asgi import app as asgi_app

        # hypercorn binds the port itself (and closes what it binds).
        port = sock.getsockname()[1]
        sock.close()
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        config.loglevel = "WARNING"
        config.keep_alive_max_requests = 1 << 40
        shutdown = asyncio.Event()
        task = loop.create_task(
            serve(asgi_app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
        )
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.01)
        return (task, shutdown)
    if name.startswith("compat"):
        import tornado_compat

        tornado_compat.install()
    import tornado.httpserver

    app: Any
    if name.endswith("-web"):
        app = web_app()
    else:
        respond = responder()

        def app(request: Any) -> None:
            respond(request, HELLO)

    kwargs: dict[str, Any] = {"ssl_options": context}
    if name.startswith("compat-h2"):
        kwargs["http2"] = True
    http_server = tornado.httpserver.HTTPServer(app, **kwargs)
    http_server.add_sockets([sock])
    return http_server


def _client_for(name: str) -> type[_Client] | type[_H2Client]:
    """The keep-alive client protocol that the loop of ``name`` runs."""
    if name in H2_SERVERS:
        return _H2Client
    if _split_mode(name)[1] == "varied":
        return _VariedClient
    return _Client


async def _loop(name: str, requests: int) -> float:
    """Serve ``requests`` GETs (after a warm-up) in this process; the rate."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    base, mode = _split_mode(name)
    server_tls = client_context = None
    if mode == "tls":
        files, server_context, client_context = _tls_contexts()
        server_tls = (files, server_context)
    server = await _start_server(
        "floor-close" if name == "floor-close" else base, sock, server_tls
    )
    loop = asyncio.get_running_loop()

    client = _client_for(name)

    async def one_at_a_time(count: int) -> None:
        for _ in range(count):
            future: asyncio.Future[None] = loop.create_future()
            await loop.create_connection(
                functools.partial(_OneShot, future), "127.0.0.1", port
            )
            await future

    async def run(total: int) -> None:
        if mode == "close":
            await asyncio.gather(
                *(one_at_a_time(total // CONNECTIONS) for _ in range(CONNECTIONS))
            )
            return
        done = []
        for _ in range(CONNECTIONS):
            future: asyncio.Future[None] = loop.create_future()
            await loop.create_connection(
                functools.partial(client, total // CONNECTIONS, future),
                "127.0.0.1",
                port,
                ssl=client_context,
            )
            done.append(future)
        await asyncio.gather(*done)

    await run(WARMUP)
    start = time.perf_counter()
    await run(requests)
    rate = requests / (time.perf_counter() - start)
    if isinstance(server, asyncio.Task):
        server.cancel()
    elif isinstance(server, tuple):
        task, shutdown = server
        shutdown.set()
        await task
    return rate


def _callgrind_total(argv: list[str], env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/callgrind.out",
                sys.executable,
                *argv,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    found = re.search(r"Collected : (\d+)", result.stderr)
    if result.returncode != 0 or found is None:
        raise tools.BenchmarkError(
            f"{' '.join(argv)} under callgrind failed ({result.returncode}):\n"
            + (result.stdout + result.stderr)[-2000:]
        )
    return int(found.group(1))


def _client_argv(name: str, url: str) -> Callable[[int], list[str]]:
    def argv(count: int) -> list[str]:
        return [
            *("-m", "benchmarks.clients", name, "gets", url),
            *("--count", str(count), "--concurrency", "10", "--warmup", "100"),
            *("--length", str(len(HELLO))),
        ]

    return argv


def _loop_argv(name: str) -> Callable[[int], list[str]]:
    def argv(count: int) -> list[str]:
        return ["-m", "benchmarks.instructions", "--loop", name, str(count)]

    return argv


def per_request(argv_for: Callable[[int], list[str]], requests: int) -> int:
    """Instructions of one request: the difference of two runs (N and 3N
    requests) over 2N."""
    env = dict(tools.child_env(), PYTHONHASHSEED="0")
    few = _callgrind_total(argv_for(requests), env)
    many = _callgrind_total(argv_for(3 * requests), env)
    return round((many - few) / (2 * requests))


# Where a profiled function's time is counted: the first of these found in
# its file's path, else "other".
_PACKAGES = (
    ("site-packages/h2/", "h2 (state machine, validation)"),
    ("asyncio/selector_events", "asyncio transports (socket calls)"),
    ("asyncio/sslproto", "asyncio's TLS (the client's; the floor's)"),
    ("/ssl.py", "ssl (the TLS records)"),
    ("tornado_compat/tcpserver", "tornado_compat.tcpserver (accept)"),
    ("tornado_compat/netutil", "tornado_compat.netutil (accept)"),
    ("tornado_compat/http1connection", "tornado_compat.http1connection"),
    ("tornado_compat/protocol/", "tornado_compat.protocol"),
    ("site-packages/hpack/", "hpack (HPACK)"),
    ("site-packages/hyperframe/", "hyperframe (frames)"),
    ("tornado_compat/http2/", "tornado_compat.http2 (the driver)"),
    ("tornado_compat/httpserver", "tornado_compat.httpserver"),
    ("tornado_compat/httputil", "tornado_compat.httputil"),
    ("tornado_compat/iostream", "tornado_compat.iostream"),
    ("site-packages/tornado/", "tornado (web, the handler)"),
    ("site-packages/hypercorn/", "hypercorn"),
    ("asyncio/", "asyncio"),
    ("logging/", "logging (debug calls)"),
    ("benchmarks/", "the client and the app"),
    ("/enum.py", "enum (h2's states, codes and flags)"),
    ("/copy.py", "copy (each stream's request context)"),
)


def profile(name: str, requests: int) -> None:
    """The loop of ``name`` under cProfile: own time grouped by package."""
    import cProfile
    import pstats

    # A first run imports and warms up, outside the profile.
    _run_loop(name, functools.partial(_loop, requests=WARMUP))
    profiler = cProfile.Profile()
    profiler.enable()
    _run_loop(name, functools.partial(_loop, requests=requests))
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    # A built-in (isinstance, bytes.join, socket.send, ...) counts for the
    # package that called it.
    tools.print_profile_shares(
        stats, _PACKAGES, f"{name}, {requests:,} requests under cProfile"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.instructions", description=__doc__.split("\n")[0]
    )
    parser.add_argument("names", nargs="*", metavar="NAME")
    parser.add_argument("--client", action="store_true", help="count clients")
    parser.add_argument("--requests", type=int, default=1000, metavar="N")
    parser.add_argument(
        "--loop", nargs=2, metavar=("SERVER", "N"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--profile",
        metavar="SERVER",
        help="run SERVER's loop under cProfile; print the time by package",
    )
    args = parser.parse_args()
    if args.loop:
        name, count = args.loop
        rate = _run_loop(name, functools.partial(_loop, requests=int(count)))
        print(f"{name}: {rate:,.0f} requests/s")
        return
    if args.profile:
        profile(args.profile, args.requests)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    names = args.names or list(CLIENTS if args.client else SERVERS)
    if args.client:
        workdir = Path(tempfile.mkdtemp(prefix="tornado-compat-instr-"))
        with tools.nginx(workdir, {"hello.txt": HELLO}) as nginx:
            url = nginx.url("hello.txt")
            rows = [
                (name, per_request(_client_argv(name, url), args.requests))
                for name in names
            ]
    else:
        rows = [(name, per_request(_loop_argv(name), args.requests)) for name in names]
    unit = "fetch" if args.client else "request"
    print(f"| {'client' if args.client else 'server'} | instructions per {unit} |")
    print("|---|--:|")
    for name, count in rows:
        print(f"| {name} | {count:,} |")


if __name__ == "__main__":
    main()
