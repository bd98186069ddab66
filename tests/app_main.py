"""The shared ``main()`` of the test applications run as scripts
(tests/http2/apps/*_app.py, tests/server/apps/web_app.py): what each
would otherwise write again around its own ``tornado.web`` application.

What it is for: a TLS context from ``CERTFILE KEYFILE`` on the command
line; binding each server to a port of its own on 127.0.0.1 and printing
one JSON line that names the ports (the line
:class:`tests.serve_process.AppProcess` reads); serving until SIGTERM,
then stopping every server and closing its connections so that the script
exits with status 0; logging at INFO to stderr, where the tests look for
ERROR lines.

What it must never do: be imported by a script before
``tornado_compat.install()`` (it imports ``tornado`` modules), or bind
anything but 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import ssl
import sys
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from tornado.netutil import bind_sockets


def tls_context(argv: Sequence[str]) -> ssl.SSLContext | None:
    """A server TLS context from ``CERTFILE KEYFILE``, or None (cleartext)
    when the command line does not give both."""
    if len(argv) != 2:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(argv[0], argv[1])
    return context


async def serve_until_sigterm(
    servers: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> None:
    """Bind each server (an ``HTTPServer``) to a port of its own; print
    one JSON line, each server's name with its port (and ``extra``);
    serve until SIGTERM, then stop the servers and close every
    connection."""
    ports = {}
    for name, server in servers.items():
        sockets = bind_sockets(0, address="127.0.0.1")
        server.add_sockets(sockets)
        ports[name] = sockets[0].getsockname()[1]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(json.dumps({**ports, **(extra or {})}), flush=True)
    await stop.wait()
    for server in servers.values():
        server.stop()
        await server.close_all_connections()


def run(serve: Coroutine[Any, Any, None]) -> None:
    """Log at INFO to stderr, then run ``serve`` to its end."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s %(message)s",
    )
    asyncio.run(serve)
