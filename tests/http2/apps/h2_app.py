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
import json  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import ssl  # noqa: E402

import tornado.httpserver  # noqa: E402
import tornado.web  # noqa: E402
from tornado.netutil import bind_sockets  # noqa: E402


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


class FlushHandler(tornado.web.RequestHandler):
    """A response written in ``n`` flushed parts of ``size`` bytes."""

    async def get(self) -> None:
        n = int(self.get_argument("n", "3"))
        size = int(self.get_argument("size", "10"))
        for i in range(n):
            self.write(str(i % 10).encode() * size)
            await self.flush()


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


async def serve(argv: list[str]) -> None:
    ssl_options = None
    if len(argv) == 2:
        ssl_options = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_options.load_cert_chain(argv[0], argv[1])
    server = tornado.httpserver.HTTPServer(
        make_app(), http2=True, ssl_options=ssl_options
    )
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
