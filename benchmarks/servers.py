"""The servers under test, one per process (started by ``python -m benchmarks``).

    python -m benchmarks.servers IMPL APP [--loop asyncio|uvloop] [--http2]
        [--certfile PEM --keyfile PEM]

IMPL is ``tornado`` (Tornado's own HTTPServer), ``compat`` (the same code after
``tornado_compat.install()``), ``uvicorn`` (a bare ASGI app on httptools),
``aiohttp`` (aiohttp.web), ``hypercorn``, ``granian`` (the bare ASGI app of
``benchmarks/apps/hello_asgi.py``; hello only) or ``granian-rsgi`` (Granian's
own interface, ``benchmarks/apps/hello_rsgi.py``; hello only).  Granian runs
as a child process with one worker and one runtime thread.  ``floor`` and
``floor-api`` are the floors of :mod:`benchmarks.floors` (in cleartext;
``floor`` hello only, ``floor-api`` hello and web).  APP is what the server answers:

- ``hello``: the 12-byte body ``Hello world!`` (a raw request callback for
  tornado and compat);
- ``web``: the same body from a ``tornado.web.Application`` handler (tornado
  and compat only);
- ``big``: a 102400-byte body;
- ``upload``: reads the whole request body and answers with its length in
  decimal.

``--http2`` turns on HTTP/2 where a server needs telling: tornado_compat's
(``HTTPServer(app, http2=True)``: prior knowledge in cleartext, ALPN ``h2``
over TLS) and Granian's (``--http 2``; without it, ``--http 1``).
``--certfile`` and ``--keyfile`` serve over TLS (tornado, compat, uvicorn,
hypercorn and Granian).

The server listens on 127.0.0.1, on a port the kernel picks, prints
``ready PORT SERVER`` once it accepts connections (SERVER: the module of the
HTTPServer class for tornado and compat, so that the parent can check that
``install()`` took), and runs until it is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

HELLO = b"Hello world!"
BIG = b"x" * 102400
BACKLOG = 4096


def raise_fd_limit() -> None:
    """Lift the limit on open files to at least 65536 where that is allowed
    (root, mostly), else to the hard limit: the idle-connection comparison
    holds 10,000 connections."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 65536:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
            return
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def listening_socket() -> socket.socket:
    """The one listening socket every implementation is handed, so that all of
    them get the same address and backlog.

    Its protocol is IPPROTO_TCP, as in a socket made from getaddrinfo (the way
    each server binds its own): asyncio turns on TCP_NODELAY only for sockets
    whose ``proto`` says TCP, and without it a response written in two pieces
    waits for a delayed ACK (40 ms).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


def announce(sock: socket.socket, server: str) -> None:
    """Tell the parent the port, and what serves it (the class's module)."""
    print(f"ready {sock.getsockname()[1]} {server}", flush=True)


def run(main: Callable[[], Coroutine[Any, Any, None]], loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def responder() -> Callable[[Any, bytes], None]:
    """``respond(request, body)``: the raw callbacks' answer, 200 with
    ``body``, written through ``request.connection``.  It uses Tornado's
    names, so for tornado_compat call it after ``install()``."""
    import tornado.httputil

    headers = tornado.httputil.HTTPHeaders
    start_line = tornado.httputil.ResponseStartLine

    def respond(request: Any, body: bytes) -> None:
        connection = request.connection
        assert connection is not None
        connection.write_headers(
            start_line("HTTP/1.1", 200, "OK"),
            headers({"Content-Length": str(len(body)), "Content-Type": "text/plain"}),
            body,
        )
        connection.finish()

    return respond


def web_app() -> Any:
    """The tornado.web hello world of comparison 3: an Application whose
    one handler writes ``HELLO``.  It uses Tornado's names, so for
    tornado_compat call it after ``install()``."""
    import tornado.web

    class Hello(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(HELLO)

    return tornado.web.Application([(r"/", Hello)])


def server_tls(tls: tuple[str, str] | None) -> ssl.SSLContext | None:
    if tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls)
    return context


def serve_tornado(
    impl: str,
    app_name: str,
    loop: str,
    sock: socket.socket,
    http2: bool = False,
    tls: tuple[str, str] | None = None,
) -> None:
    if http2 and impl != "compat":
        sys.exit("only tornado_compat's HTTPServer speaks HTTP/2")
    if impl == "compat":
        import tornado_compat

        tornado_compat.install()

    import tornado.httpserver
    import tornado.httputil

    respond = responder()

    def hello(request: tornado.httputil.HTTPServerRequest) -> None:
        respond(request, HELLO)

    def big(request: tornado.httputil.HTTPServerRequest) -> None:
        respond(request, BIG)

    def upload(request: tornado.httputil.HTTPServerRequest) -> None:
        # HTTPServer has read the whole body into request.body already.
        respond(request, str(len(request.body)).encode())

    apps: dict[str, Any] = {
        "hello": hello,
        "big": big,
        "upload": upload,
        "web": web_app(),
    }
    app = apps[app_name]

    async def main() -> None:
        kwargs: dict[str, Any] = {"ssl_options": server_tls(tls)}
        if http2:
            kwargs["http2"] = True
        server = tornado.httpserver.HTTPServer(app, **kwargs)
        server.add_sockets([sock])
        announce(sock, type(server).__module__)
        await asyncio.Event().wait()

    run(main, loop)


def serve_uvicorn(
    app_name: str, loop: str, sock: socket.socket, tls: tuple[str, str] | None
) -> None:
    import uvicorn

    fixed = {"hello": HELLO, "big": BIG}.get(app_name)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if fixed is not None:
            body = fixed
        else:
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = str(len(b"".join(chunks))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    config = uvicorn.Config(
        app,
        http="httptools",
        loop=loop,
        lifespan="off",
        log_level="warning",
        access_log=False,
        # Tornado and aiohttp keep idle connections far longer than uvicorn's
        # default 5 s; the idle-connection comparison needs them kept.
        timeout_keep_alive=3600,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    announce(sock, "uvicorn")
    uvicorn.Server(config).run(sockets=[sock])


def serve_aiohttp(app_name: str, loop: str, sock: socket.socket) -> None:
    from aiohttp import web

    fixed = {"hello": HELLO, "big": BIG}.get(app_name)

    async def handler(request: web.Request) -> web.Response:
        if fixed is not None:
            return web.Response(body=fixed, content_type="text/plain")
        data = await request.read()
        return web.Response(body=str(len(data)).encode(), content_type="text/plain")

    async def main() -> None:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/", handler)
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=3600)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        announce(sock, "aiohttp")
        await asyncio.Event().wait()

    run(main, loop)


def serve_hypercorn(
    loop: str, sock: socket.socket, tls: tuple[str, str] | None
) -> None:
    """hypercorn in this process (one worker), on the given socket: HTTP/2 by
    ALPN over TLS, by prior knowledge in cleartext, and HTTP/1.1."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from benchmarks.apps.hello_asgi import app

    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    if tls is not None:
        config.certfile, config.keyfile = tls
    config.accesslog = None
    config.loglevel = "WARNING"
    config.keep_alive_timeout = 3600
    # Its default closes a connection after 1,000 requests; the others
    # serve a connection's requests without a limit.
    config.keep_alive_max_requests = 1 << 40
    config.backlog = BACKLOG

    async def main() -> None:
        announce(sock, "hypercorn")
        await serve(app, config)  # type: ignore[arg-type]

    run(main, loop)


def serve_floor(impl: str, app_name: str, loop: str, sock: socket.socket) -> None:
    """The floors of benchmarks.floors: ``floor`` (a canned answer) and
    ``floor-api`` (that, plus the objects of Tornado's raw-callback API as
    tornado_compat makes them, or, for the ``web`` app, plus tornado.web's
    handling of the request)."""
    from benchmarks import floors

    protocol: type[asyncio.Protocol] = floors.Canned
    if impl == "floor-api":
        import tornado_compat

        tornado_compat.install()
        application = web_app() if app_name == "web" else None
        protocol = floors.api_floor(application=application)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(protocol, sock=sock)
        announce(sock, impl)
        async with server:
            await asyncio.Event().wait()

    run(main, loop)


def serve_granian(
    interface: str,
    loop: str,
    sock: socket.socket,
    tls: tuple[str, str] | None,
    http2: bool,
) -> None:
    """Granian (one worker, one runtime thread, ``--http 1`` or ``--http 2``)
    as a child process, on the port of the given socket: Granian binds its
    own, so the socket is closed first.  Its worker is a process of its own
    too; both inherit this process's CPU affinity.  SIGTERM is passed on."""
    port = sock.getsockname()[1]
    sock.close()
    app = {"asgi": "hello_asgi", "rsgi": "hello_rsgi"}[interface]
    argv = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        interface,
        "--http",
        "2" if http2 else "1",
        "--workers",
        "1",
        "--runtime-mode",
        "st",
        "--runtime-threads",
        "1",
        "--loop",
        loop,
        "--no-ws",
        "--log-level",
        "warning",
        "--no-access-log",
        "--backlog",
        str(BACKLOG),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--working-dir",
        os.getcwd(),
    ]
    if tls is not None:
        argv += ["--ssl-certificate", tls[0], "--ssl-keyfile", tls[1]]
    child = subprocess.Popen([*argv, f"benchmarks.apps.{app}:app"])

    def forward(signum: int, frame: object) -> None:
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    deadline = time.monotonic() + 30
    while True:
        if child.poll() is not None:
            sys.exit(f"granian exited with {child.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                child.kill()
                sys.exit("granian did not start listening")
            time.sleep(0.05)
    print(f"ready {port} granian-{interface}", flush=True)
    sys.exit(child.wait())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "impl",
        choices=[
            "tornado",
            "compat",
            "uvicorn",
            "aiohttp",
            "hypercorn",
            "granian",
            "granian-rsgi",
            "floor",
            "floor-api",
        ],
    )
    parser.add_argument("app", choices=["hello", "web", "big", "upload"])
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--http2", action="store_true")
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args()
    tls = (args.certfile, args.keyfile) if args.certfile else None
    raise_fd_limit()
    sock = listening_socket()
    if args.impl in ("tornado", "compat"):
        serve_tornado(args.impl, args.app, args.loop, sock, args.http2, tls)
    elif args.impl in ("floor", "floor-api"):
        if tls is not None or args.app not in ("hello", "web"):
            sys.exit(f"{args.impl} serves only the hello and web apps, in cleartext")
        if args.app == "web" and args.impl == "floor":
            sys.exit("floor serves only the hello app")
        serve_floor(args.impl, args.app, args.loop, sock)
    elif args.impl in ("hypercorn", "granian", "granian-rsgi"):
        if args.app != "hello":
            sys.exit(f"{args.impl} serves only the hello app here")
        if args.impl == "hypercorn":
            serve_hypercorn(args.loop, sock, tls)
        else:
            interface = "rsgi" if args.impl == "granian-rsgi" else "asgi"
            serve_granian(interface, args.loop, sock, tls, args.http2)
    elif args.app == "web":
        sys.exit(f"{args.impl} has no tornado.web app")
    elif args.impl == "uvicorn":
        serve_uvicorn(args.app, args.loop, sock, tls)
    elif tls is not None:
        sys.exit("aiohttp is measured in cleartext only")
    else:
        serve_aiohttp(args.app, args.loop, sock)


if __name__ == "__main__":
    main()
