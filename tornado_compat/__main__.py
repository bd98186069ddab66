"""Command line for tornado_compat: ``python -m tornado_compat SUBCOMMAND``.

Subcommands:

``serve TARGET``
    Serves a Tornado application on tornado_compat: installs the drop-in
    (:func:`tornado_compat.install`), then imports ``TARGET``
    (``package.module:attribute`` or ``path/to/file.py:attribute``; the
    attribute defaults to ``app`` and may be an application or a function
    that returns one) and serves it with
    :class:`tornado_compat.httpserver.HTTPServer`.

``echo``
    A line echo server on :class:`tornado_compat.tcpserver.TCPServer` and the
    streams of :mod:`tornado_compat.iostream`: a small demo that the new layers
    work, reachable with ``nc`` or ``curl``.

``serve`` drains on Ctrl-C (SIGINT) or SIGTERM: it stops accepting and lets
the requests in progress finish, for at most ``--graceful-timeout`` seconds
(:meth:`tornado_compat.httpserver.HTTPServer.drain`); a second signal cuts what
is left at once.  It exits with status 0 when no request was cut, 1 when some
were (without resuming their handlers, so that none of them logs an error for
a response its client never gets).  ``echo`` closes its connections at once.

This module must never import the Tornado modules that tornado_compat replaces:
``serve`` imports the application only after installing ours, and by name.
The servers listen on 127.0.0.1 unless told
otherwise, so that a demo is never exposed to the network by accident.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from tornado_compat.iostream import (
    IOStream,
    StreamClosedError,
    UnsatisfiableReadError,
)
from tornado_compat.netutil import bind_sockets
from tornado_compat.tcpserver import TCPServer

#: The longest line the echo server buffers; a longer one closes the connection
#: rather than letting one client fill the server's memory.
MAX_LINE = 64 * 1024

#: Seconds ``serve`` lets requests in progress finish after the first signal.
DEFAULT_GRACEFUL_TIMEOUT = 30.0
#: ``serve``'s deadlines: the production values of "Deadlines" in the server
#: docs, where a bare HTTPServer keeps Tornado's (an hour for both).  The idle
#: wait outlasts a proxy's usual 60 s, so the proxy closes idle connections;
#: a head has 10 s from its first byte.
SERVE_IDLE_TIMEOUT = 75.0
SERVE_HEAD_TIMEOUT = 10.0

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class EchoServer(TCPServer):
    """Sends every line it receives back to its sender, until the sender closes."""

    def __init__(self) -> None:
        super().__init__()
        self.streams: set[IOStream] = set()

    async def handle_stream(self, stream: IOStream, address: tuple) -> None:
        self.streams.add(stream)
        try:
            while True:
                line = await stream.read_until(b"\n", max_bytes=MAX_LINE)
                await stream.write(line)
        except (StreamClosedError, UnsatisfiableReadError):
            # The client went away or sent an over-long line: both end the
            # conversation, neither is the server's error.
            pass
        finally:
            stream.close()
            self.streams.discard(stream)

    def close_all(self) -> None:
        """Stops accepting and closes every open connection."""
        self.stop()
        for stream in list(self.streams):
            stream.close()


def _show(sock_name: tuple[Any, ...]) -> str:
    host, port = sock_name[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _run_until_signal(stop_serving: Callable[[], Awaitable[None]]) -> None:
    """Wait for Ctrl-C or SIGTERM, then stop the server cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await stop_serving()


class _Signals:
    """Counts Ctrl-C and SIGTERM: the first asks for a drain, the second
    for a stop at once."""

    def __init__(self) -> None:
        self.first = asyncio.Event()
        self.second = asyncio.Event()

    def received(self) -> None:
        if self.first.is_set():
            self.second.set()
        else:
            self.first.set()


class TargetError(Exception):
    """The application named on the command line cannot be loaded."""


def load_target(target: str) -> Any:
    """Import ``module:attribute`` or ``file.py:attribute`` (``app`` by
    default); call it if it is a function that builds the application."""
    where, _, attribute = target.partition(":")
    attribute = attribute or "app"
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.is_file():
            raise TargetError(f"no such file: {where}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise TargetError(f"cannot import {where}: {exc}") from exc
    try:
        app = getattr(module, attribute)
    except AttributeError:
        raise TargetError(f"{where} has no attribute {attribute!r}") from None
    from tornado_compat.httputil import HTTPServerConnectionDelegate

    if not isinstance(app, HTTPServerConnectionDelegate) and callable(app):
        try:
            built = app()
        except TypeError:
            built = None
        if isinstance(built, HTTPServerConnectionDelegate):
            app = built
    return app


async def _serve_app(
    target: str,
    address: str,
    port: int,
    xheaders: bool,
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT,
) -> int:
    """Serve until a signal, then drain; return the number of requests cut."""
    from tornado_compat.httpserver import HTTPServer

    app = load_target(target)
    sockets = bind_sockets(port, address=address or None)
    server = HTTPServer(
        app,
        xheaders=xheaders,
        idle_connection_timeout=SERVE_IDLE_TIMEOUT,
        head_timeout=SERVE_HEAD_TIMEOUT,
    )
    server.add_sockets(sockets)
    for sock in sockets:
        print(f"serving {target} on http://{_show(sock.getsockname())}/", flush=True)
    print(
        f"try:  curl http://{_show(sockets[0].getsockname())}/"
        "   (Ctrl-C stops the server)",
        flush=True,
    )

    signals = _Signals()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, signals.received)
    try:
        await signals.first.wait()
        print(
            f"draining: waiting up to {graceful_timeout:g} s for the requests"
            " in progress (a second Ctrl-C stops at once)",
            flush=True,
        )
        drain = asyncio.ensure_future(server.drain(graceful_timeout))
        second = asyncio.ensure_future(signals.second.wait())
        await asyncio.wait((drain, second), return_when=asyncio.FIRST_COMPLETED)
        if not drain.done():
            # Counted and logged as cut by the drain.
            await server.close_all_connections()
        second.cancel()
        cut = await drain
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    if cut:
        print(f"server stopped: {cut} request(s) cut", flush=True)
        # The handlers of the cut requests are still suspended.  Leaving
        # them to asyncio.run would cancel them, and tornado.web answers a
        # cancelled handler with a 500 that it logs as an error, for a
        # client that has already been cut off.  They are not resumed.
        _exit_at_once(1)
    print("server stopped", flush=True)
    return cut


def _exit_at_once(status: int) -> None:
    """End the process now, with what was logged and printed written out."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


async def _serve_echo(address: str, port: int) -> None:
    # Binding here, rather than in listen(), tells us the port the system
    # picked when asked for port 0.
    sockets = bind_sockets(port, address=address or None)
    server = EchoServer()
    server.add_sockets(sockets)
    for sock in sockets:
        host, bound_port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"echo server listening on {shown}:{bound_port}", flush=True)
    host, bound_port = sockets[0].getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(
        f"try:  nc {host} {bound_port}"
        f"   or:  curl --no-buffer telnet://{shown}:{bound_port}",
        flush=True,
    )
    print("type a line to get it back; Ctrl-C stops the server", flush=True)

    async def stop_serving() -> None:
        server.close_all()
        # Let the handlers see their streams close before the loop goes away.
        await asyncio.sleep(0)

    await _run_until_signal(stop_serving)
    print("echo server stopped", flush=True)


def _seconds(text: str) -> float:
    """A command-line duration: a number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"not a finite duration >= 0: {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tornado_compat",
        description="tornado_compat: Tornado's HTTP/1.x stack on asyncio.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve a Tornado application on tornado_compat"
    )
    serve.add_argument(
        "target", help="module:attribute or path/to/file.py:attribute (default: app)"
    )
    serve.add_argument("--port", type=int, default=8888, help="default %(default)s")
    serve.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default %(default)s; '' for all interfaces)",
    )
    serve.add_argument(
        "--xheaders",
        action="store_true",
        help="trust X-Real-Ip / X-Forwarded-For / X-Scheme (behind a proxy)",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=_seconds,
        default=DEFAULT_GRACEFUL_TIMEOUT,
        metavar="SECONDS",
        help="on Ctrl-C or SIGTERM, how long the requests in progress may take"
        " to finish before they are cut (default %(default)g)",
    )
    echo = commands.add_parser(
        "echo", help="run a line echo server on tornado_compat's streams"
    )
    echo.add_argument("--port", type=int, default=8888, help="default %(default)s")
    echo.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default %(default)s; '' for all interfaces)",
    )
    args = parser.parse_args(argv)

    if args.command == "serve":
        # Ours must replace Tornado's modules before the application imports
        # tornado.web.
        from tornado.log import enable_pretty_logging

        from tornado_compat import install

        install()
        # Access lines for every request, as a Tornado app's own main would.
        logging.getLogger().setLevel(logging.INFO)
        enable_pretty_logging()
        try:
            asyncio.run(
                _serve_app(
                    args.target,
                    args.address,
                    args.port,
                    args.xheaders,
                    args.graceful_timeout,
                )
            )
        except TargetError as exc:
            print(f"cannot load {args.target}: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(
                f"cannot listen on {args.address}:{args.port}: {exc}", file=sys.stderr
            )
            return 1
    elif args.command == "echo":
        try:
            asyncio.run(_serve_echo(args.address, args.port))
        except OSError as exc:
            print(
                f"cannot listen on {args.address}:{args.port}: {exc}", file=sys.stderr
            )
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
