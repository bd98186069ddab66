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

import tornado.httpserver  # noqa: E402
import tornado.web  # noqa: E402

from tests.app_main import run, serve_until_sigterm, tls_context  # noqa: E402

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


def main() -> None:
    app = tornado.web.Application([(r"/big", BigHandler), (r"/echo", EchoHandler)])
    server = tornado.httpserver.HTTPServer(
        app, http2=True, ssl_options=tls_context(sys.argv[1:])
    )
    run(serve_until_sigterm({"port": server}))


if __name__ == "__main__":
    main()
