"""A ``tornado.web`` application served over HTTP/2 by tornado_compat, run
as a script by tests/http2/test_h2_web.py.

Usage: ``python h2_app.py [CERTFILE KEYFILE]``.  ``tornado_compat.install()``
runs before ``tornado.web`` is imported, so the unchanged web framework runs
on our stack.  The server is ``HTTPServer(app, http2=True)``: with a
certificate it serves TLS (ALPN chooses the version), else cleartext (the
client preface chooses).  It prints one JSON line, ``{"port": N}``, and
serves until SIGTERM, after which it closes every connection and exits
with status 0.

What it must never do: run on Tornado's own HTTP modules.
"""

from __future__ import annotations

import sys

import tornado_compat

tornado_compat.install()

import asyncio  # noqa: E402

import tornado.httpserver  # noqa: E402
import tornado.web  # noqa: E402

from tests.app_main import run, serve_until_sigterm, tls_context  # noqa: E402
from tests.http2.apps.handlers import FlushHandler  # noqa: E402


class InfoHandler(tornado.web.RequestHandler):
    """Answers with what the handler saw of the request, as JSON."""

    def get(self) -> None:
        self.answer()

    def post(self) -> None:
        self.answer()

    def head(self) -> None:
        self.answer()

    def answer(self) -> None:
        self.write(
            {
                "version": self.request.version,
                "method": self.request.method,
                "uri": self.request.uri,
                "host": self.request.host,
                "protocol": self.request.protocol,
                "body": self.request.body.decode("latin-1"),
                "arguments": {
                    k: [v.decode() for v in vs]
                    for k, vs in self.request.body_arguments.items()
                },
                "cookie": self.request.headers.get("Cookie"),
            }
        )


@tornado.web.stream_request_body
class UploadHandler(tornado.web.RequestHandler):
    """Takes the body piece by piece, yielding to the loop for each one
    (so the server must wait for each before passing the next); answers
    with its size and the number of pieces."""

    def prepare(self) -> None:
        self.size = 0
        self.pieces = 0

    async def data_received(self, chunk: bytes) -> None:
        await asyncio.sleep(0)
        self.size += len(chunk)
        self.pieces += 1

    def put(self) -> None:
        self.write({"size": self.size, "version": self.request.version})


def make_app() -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/info", InfoHandler),
            (r"/flush", FlushHandler),
            (r"/upload", UploadHandler),
        ]
    )


def main() -> None:
    server = tornado.httpserver.HTTPServer(
        make_app(), http2=True, ssl_options=tls_context(sys.argv[1:])
    )
    run(serve_until_sigterm({"port": server}))


if __name__ == "__main__":
    main()
