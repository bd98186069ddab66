"""A ``tornado.web`` application served with ``HTTPServer(app, http2=True)``
for the simple client's HTTP/2 tests (tests/http2/test_simple_client.py).

Usage: ``python client_app.py [CERTFILE KEYFILE]``.  ``tornado_compat.install()``
runs before ``tornado.web`` is imported.  With a certificate it serves TLS
(ALPN chooses the version), else cleartext (the client preface chooses).
It prints one JSON line, ``{"port": N}``, and serves until SIGTERM, after
which it closes every connection and exits with status 0.

``/stats`` says how many connections the server accepted and how many
``/hold`` requests saw their stream close under them, so that a test can
count connections and see a stream cancelled by the client.

What it must never do: run on Tornado's own HTTP modules.
"""

from __future__ import annotations

import sys

import tornado_compat

tornado_compat.install()

import asyncio  # noqa: E402
from typing import Any  # noqa: E402

import tornado.httpserver  # noqa: E402
import tornado.iostream  # noqa: E402
import tornado.web  # noqa: E402

from tests.app_main import run, serve_until_sigterm, tls_context  # noqa: E402

STATS = {"connections": 0, "held_closed": 0}


class CountingServer(tornado.httpserver.HTTPServer):
    def handle_stream(self, stream: Any, address: Any) -> None:
        STATS["connections"] += 1
        super().handle_stream(stream, address)


class EchoHandler(tornado.web.RequestHandler):
    """The request as seen: version, method, body (as its length and its
    first bytes), and a few headers."""

    def get(self) -> None:
        self.answer()

    def post(self) -> None:
        self.answer()

    def put(self) -> None:
        self.answer()

    def answer(self) -> None:
        body = self.request.body
        self.write(
            {
                "version": self.request.version,
                "method": self.request.method,
                "host": self.request.host,
                "length": len(body),
                "sum": sum(body) % 65521,
                "head": body[:32].decode("latin-1"),
                "content_type": self.request.headers.get("Content-Type"),
            }
        )


class BigHandler(tornado.web.RequestHandler):
    """``size`` bytes, flushed in pieces of 16 KiB."""

    async def get(self) -> None:
        size = int(self.get_argument("size"))
        piece = bytes(range(256)) * 64
        sent = 0
        while sent < size:
            part = piece[: min(len(piece), size - sent)]
            self.write(part)
            sent += len(part)
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                # The client reset the stream (a limit of its own): stop, as
                # an application streaming to a client that left does.
                return


class HoldHandler(tornado.web.RequestHandler):
    """Answers only once its stream is closed under it (so never, to the
    client); counts those streams."""

    async def get(self) -> None:
        self.closed = asyncio.Event()
        await self.closed.wait()

    def on_connection_close(self) -> None:
        STATS["held_closed"] += 1
        self.closed.set()


class TextHandler(tornado.web.RequestHandler):
    """A compressible text, ``n`` lines."""

    def get(self) -> None:
        n = int(self.get_argument("n", "1000"))
        self.set_header("Content-Type", "text/plain")
        self.set_header("X-Many", "one")
        self.add_header("X-Many", "two")
        if self.get_argument("long", None):
            self.set_header("X-Long", "x" * 500)
        self.write("".join(f"line {i}\n" for i in range(n)))

    def head(self) -> None:
        self.get()


class RedirectHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.redirect(self.get_argument("to"), status=int(self.get_argument("code")))

    def post(self) -> None:
        self.get()


class StatsHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(STATS)


def make_app() -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/echo", EchoHandler),
            (r"/big", BigHandler),
            (r"/hold", HoldHandler),
            (r"/text", TextHandler),
            (r"/redirect", RedirectHandler),
            (r"/stats", StatsHandler),
        ],
        compress_response=True,
    )


def main() -> None:
    server = CountingServer(
        make_app(), http2=True, ssl_options=tls_context(sys.argv[1:])
    )
    run(serve_until_sigterm({"port": server}))


if __name__ == "__main__":
    main()
