"""A real ``tornado.web`` application served by tornado_compat, run as a script
by tests/server/test_web_app.py.

Usage: ``python web_app.py STATIC_DIR``.  Before anything imports
``tornado.web``, ``tornado_compat.install()`` makes ``tornado.httputil``,
``tornado.http1connection``, ``tornado.httpserver`` and the rest of the
drop-in map tornado_compat's modules, so that Tornado's own web framework
runs unchanged on top of ours.  The script then prints one JSON line,
``{"port": N, "modules": {...}}``, naming the module that really serves
each Tornado name, and serves until SIGTERM, after which it closes every
connection and exits with status 0.

What it must never do: run on Tornado's own HTTP modules.  If the drop-in
cannot be installed the script stops with an error instead.
"""

from __future__ import annotations

import importlib
import sys

import tornado_compat

CHECKED = ("tornado.httputil", "tornado.http1connection", "tornado.httpserver")

# Raises (and so stops the script) if a mapped Tornado module was imported
# first; nothing above imports one.
tornado_compat.install()

# Only now: these import tornado.httputil and friends.
import asyncio  # noqa: E402

import tornado.httpserver  # noqa: E402
import tornado.web  # noqa: E402
import tornado.websocket  # noqa: E402

from tests.app_main import run, serve_until_sigterm  # noqa: E402

# Per test id: released by /release, set by on_connection_close.
RELEASES: dict[str, asyncio.Event] = {}
CLOSED: dict[str, asyncio.Event] = {}


def event(table: dict[str, asyncio.Event], key: str) -> asyncio.Event:
    if key not in table:
        table[key] = asyncio.Event()
    return table[key]


class EchoHandler(tornado.web.RequestHandler):
    """Answers with what the request carried, as JSON."""

    def get(self) -> None:
        self.answer()

    def post(self) -> None:
        self.answer()

    def answer(self) -> None:
        request = self.request
        self.write(
            {
                "method": request.method,
                "uri": request.uri,
                "body": request.body.decode("latin-1"),
                "arguments": {
                    k: [v.decode("latin-1") for v in vs]
                    for k, vs in request.arguments.items()
                },
                "files": {
                    name: [
                        [f.filename, f.body.decode("latin-1"), f.content_type]
                        for f in files
                    ]
                    for name, files in request.files.items()
                },
                "cookies": {k: v.value for k, v in request.cookies.items()},
                "remote_ip": request.remote_ip,
                "protocol": request.protocol,
                "full_url": request.full_url(),
                "connection_module": type(request.connection).__module__,
            }
        )


@tornado.web.stream_request_body
class StreamHandler(tornado.web.RequestHandler):
    """Receives the body piece by piece; answers with the pieces' sizes."""

    def prepare(self) -> None:
        self.sizes: list[int] = []
        self.received = bytearray()

    def data_received(self, chunk: bytes) -> None:
        self.sizes.append(len(chunk))
        self.received += chunk

    def put(self) -> None:
        self.write(
            {"sizes": self.sizes, "body": bytes(self.received).decode("latin-1")}
        )


class EchoWebSocket(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


class BigHandler(tornado.web.RequestHandler):
    """A long, compressible text (gzip output when the client accepts it)."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/plain")
        for i in range(2000):
            self.write(f"line {i} of a long and compressible response\n")


class FlushHandler(tornado.web.RequestHandler):
    """Sends a first part at once, the second only after /release?id=."""

    async def get(self) -> None:
        key = self.get_argument("id")
        self.write("first part\n")
        await self.flush()
        await event(RELEASES, key).wait()
        self.write("second part\n")


class ReleaseHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        event(RELEASES, self.get_argument("id")).set()
        self.write("released")


class HoldHandler(tornado.web.RequestHandler):
    """Starts a response and waits for the client to go away."""

    async def get(self) -> None:
        self.key = self.get_argument("id")
        self.write("holding\n")
        await self.flush()
        await event(CLOSED, self.key).wait()

    def on_connection_close(self) -> None:
        event(CLOSED, self.key).set()


class WasClosedHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        await asyncio.wait_for(event(CLOSED, self.get_argument("id")).wait(), 30)
        self.write("closed")


def make_app(static_path: str) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/echo", EchoHandler),
            (r"/stream", StreamHandler),
            (r"/ws", EchoWebSocket),
            (r"/big", BigHandler),
            (r"/flush", FlushHandler),
            (r"/release", ReleaseHandler),
            (r"/hold", HoldHandler),
            (r"/was-closed", WasClosedHandler),
        ],
        static_path=static_path,
        compress_response=True,
    )


def main() -> None:
    server = tornado.httpserver.HTTPServer(make_app(sys.argv[1]))
    # Imported by name: install() maps each one when it is first imported.
    modules = {name: importlib.import_module(name).__name__ for name in CHECKED}
    modules["HTTPServer"] = type(server).__module__
    run(serve_until_sigterm({"port": server}, {"modules": modules}))


if __name__ == "__main__":
    main()
