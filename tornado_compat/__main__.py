"""Command line for tornado_compat: ``python -m tornado_compat SUBCOMMAND``.

Subcommands:

``serve TARGET``
    Serves a Tornado application on tornado_compat (see
    :mod:`tornado_compat.serve`, which does the work and holds the table of
    its options; this module only parses the command line).

``echo``
    A line echo server on :class:`tornado_compat.tcpserver.TCPServer` and the
    streams of :mod:`tornado_compat.iostream`: a small demo that the new layers
    work, reachable with ``nc`` or ``curl``.  It closes its connections at
    once on Ctrl-C or SIGTERM.

This module must never import the Tornado modules that tornado_compat replaces:
``serve`` imports the application only after installing ours, and by name.
The servers listen on 127.0.0.1 unless told
otherwise, so that a demo is never exposed to the network by accident.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence

from tornado_compat.iostream import (
    IOStream,
    StreamClosedError,
    UnsatisfiableReadError,
)
from tornado_compat.netutil import bind_sockets
from tornado_compat.serve import add_arguments as add_serve_arguments
from tornado_compat.serve import run as run_serve
from tornado_compat.serve import wait_for_stop_signal
from tornado_compat.tcpserver import TCPServer

#: The longest line the echo server buffers; a longer one closes the connection
#: rather than letting one client fill the server's memory.
MAX_LINE = 64 * 1024


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


async def _run_until_signal(stop_serving: Callable[[], Awaitable[None]]) -> None:
    """Wait for Ctrl-C or SIGTERM, then stop the server cleanly."""
    try:
        await wait_for_stop_signal()
    finally:
        await stop_serving()


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tornado_compat",
        description="tornado_compat: Tornado's HTTP/1.x stack on asyncio.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve a Tornado application on tornado_compat"
    )
    add_serve_arguments(serve)
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
        return run_serve(args)
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
