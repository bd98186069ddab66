"""A ``tornado.web`` application served by ``HTTPServer(app, http2=True)``,
run as a script by tests/http2/test_curl_client.py.

Usage: ``python peer_app.py [CERTFILE KEYFILE]``.  ``tornado_compat.install()``
runs before ``tornado.web`` is imported.  Each response names, in the
``X-Peer-Port`` header, the client port of the connection it came on, so
that the client tests can count the connections their fetches used, and
the version the server saw, in ``X-Version``.  It prints one JSON line,
``{"port": N}``, and serves until SIGTERM, then exits with status 0.

What it must never do: run on Tornado's own HTTP modules.
"""

from __future__ import annotations

import sys

import tornado_compat

tornado_compat.install()

import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import ssl  # noqa: E402

import tornado.httpserver  # noqa: E402
import tornado.web  # noqa: E402
from tornado.netutil import bind_sockets  # noqa: E402

#: What ``/big`` answers: 1 MiB, so that ten fetches overlap.
BIG = bytes(range(256)) * 4096


class PeerHandler(tornado.web.RequestHandler):
    def prepare(self) -> None:
        self.set_header("X-Peer-Port", str(self.request.connection.context.address[1]))
        self.set_header("X-Version", self.request.version)


class BigHandler(PeerHandler):
    def get(self) -> None:
        self.write(BIG)


class EchoHandler(PeerHandler):
    def post(self) -> None:
        self.write(self.request.body)


async def serve(argv: list[str]) -> None:
    ssl_options = None
    if len(argv) == 2:
        ssl_options = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_options.load_cert_chain(argv[0], argv[1])
    app = tornado.web.Application([(r"/big", BigHandler), (r"/echo", EchoHandler)])
    server = tornado.httpserver.HTTPServer(app, http2=True, ssl_options=ssl_options)
    sockets = bind_sockets(0, address="127.0.0.1")
    server.add_sockets(sockets)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(json.dumps({"port": sockets[0].getsockname()[1]}), flush=True)
    await stop.wait()
    server.stop()
    await server.close_all_connections()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s %(message)s",
    )
    asyncio.run(serve(sys.argv[1:]))


if __name__ == "__main__":
    main()
