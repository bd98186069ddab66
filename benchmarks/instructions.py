"""Instructions per request, counted by callgrind: the noise-free companion
of the wall-clock comparisons.

    python -m benchmarks.instructions [--requests N] [SERVER ...]
    python -m benchmarks.instructions --client [--requests N] [CLIENT ...]

For a SERVER (``floor``, ``compat``, ``tornado``, ``uvicorn``; all four by
default), one process runs the server and a bare asyncio client on the same
asyncio loop: 10 keep-alive connections, each sending the next hello-world
GET when the last answer is complete.  ``floor`` is an asyncio protocol that
answers a canned response: the client, the event loop and the system calls,
with no HTTP server code; subtract it from the others to get the server's
own share.  ``compat`` and ``tornado`` run the raw-callback HTTPServer of
comparison 1, ``uvicorn`` the bare ASGI application on httptools.
``compat-web`` and ``tornado-web`` (counted only when named) serve the same
body from the ``tornado.web`` hello handler of :mod:`benchmarks.servers`.

For a CLIENT (``compat-simple``, ``tornado-simple``, ``aiohttp``, ...; see
:mod:`benchmarks.clients`), the client fetches a 12-byte file from an nginx
of its own, 10 at a time.

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

from benchmarks import tools
from benchmarks.servers import HELLO, responder

SERVERS = ("floor", "compat", "tornado", "uvicorn")
WEB_SERVERS = ("compat-web", "tornado-web")
CLIENTS = ("compat-simple", "tornado-simple", "aiohttp")
CONNECTIONS = 10
WARMUP = 200
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
CANNED = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\n" + HELLO
)


class _Client(asyncio.Protocol):
    """Sends a GET, waits for the whole answer (it ends with the body), and
    sends the next, ``count`` times."""

    def __init__(self, count: int, done: asyncio.Future[None]) -> None:
        self.count = count
        self.done = done
        self.received = b""
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(REQUEST)

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
            self.transport.write(REQUEST)
        else:
            self.transport.close()
            self.done.set_result(None)


class _Canned(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if data.endswith(b"\r\n\r\n"):
            self.transport.write(CANNED)


async def _start_server(name: str, sock: socket.socket) -> Any:
    loop = asyncio.get_running_loop()
    if name == "floor":
        return await loop.create_server(_Canned, sock=sock)
    if name == "uvicorn":
        import uvicorn

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
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
                app,
                http="httptools",
                loop="none",
                lifespan="off",
                log_level="warning",
                access_log=False,
            )
        )
        task = loop.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        return task
    if name.startswith("compat"):
        import tornado_compat

        tornado_compat.install()
    import tornado.httpserver

    app: Any
    if name.endswith("-web"):
        import tornado.web

        class Hello(tornado.web.RequestHandler):
            def get(self) -> None:
                self.write(HELLO)

        app = tornado.web.Application([(r"/", Hello)])
    else:
        respond = responder()

        def app(request: Any) -> None:
            respond(request, HELLO)

    http_server = tornado.httpserver.HTTPServer(app)
    http_server.add_sockets([sock])
    return http_server


async def _loop(name: str, requests: int) -> float:
    """Serve ``requests`` GETs (after a warm-up) in this process; the rate."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    server = await _start_server(name, sock)
    port = sock.getsockname()[1]
    loop = asyncio.get_running_loop()

    async def run(total: int) -> None:
        done = []
        for _ in range(CONNECTIONS):
            future: asyncio.Future[None] = loop.create_future()
            await loop.create_connection(
                functools.partial(_Client, total // CONNECTIONS, future),
                "127.0.0.1",
                port,
            )
            done.append(future)
        await asyncio.gather(*done)

    await run(WARMUP)
    start = time.perf_counter()
    await run(requests)
    rate = requests / (time.perf_counter() - start)
    if isinstance(server, asyncio.Task):
        server.cancel()
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
    args = parser.parse_args()
    if args.loop:
        name, count = args.loop
        rate = asyncio.run(_loop(name, int(count)))
        print(f"{name}: {rate:,.0f} requests/s")
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
