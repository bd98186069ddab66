"""A ``tornado.web`` application for the drain tests, served by
``python -m tornado_compat serve tests/server/apps/drain_app.py``.

What it is for: requests that are still in progress when the server is told
to stop, and that finish only once the drain has started, so that a test can
tell a drain that waits from one that cuts.  The application learns of the
drain through its ``on_drain`` method (which ``HTTPServer.drain`` calls) and
then releases its handlers and closes its websockets with code 1001.

- ``/slow``: answers ``slow done`` once the drain has started.
- ``/stream``: sends ``part 0`` at once, flushed, and ``part 1`` to
  ``part 5`` (each flushed) once the drain has started.
- ``/never``: never answers.
- ``/ws``: a websocket that echoes; closed with 1001 when the drain starts.
- anything else: ``hello``.

Each handler prints ``arrived PATH`` on stdout when its request arrives, so
that a test waits for that line instead of sleeping.

What it must never do: finish a slow or streaming request before the drain
has started, or sleep.
"""

from __future__ import annotations

import asyncio

import tornado.web
import tornado.websocket

#: Set by on_drain: what /slow and /stream wait for.
DRAINING = asyncio.Event()
#: Parts of /stream sent after the drain started.
LATE_PARTS = 5


def arrived(path: str) -> None:
    print(f"arrived {path}", flush=True)


class SlowHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        arrived("/slow")
        await DRAINING.wait()
        self.write("slow done\n")


class StreamHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        self.write("part 0\n")
        await self.flush()
        arrived("/stream")
        await DRAINING.wait()
        for i in range(1, LATE_PARTS + 1):
            self.write(f"part {i}\n")
            await self.flush()


class NeverHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        arrived("/never")
        await asyncio.Event().wait()


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("hello\n")


class EchoSocket(tornado.websocket.WebSocketHandler):
    open_sockets: set[EchoSocket] = set()

    def open(self) -> None:
        self.open_sockets.add(self)
        arrived("/ws")

    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self) -> None:
        self.open_sockets.discard(self)


class DrainingApplication(tornado.web.Application):
    def on_drain(self) -> None:
        DRAINING.set()
        for socket in list(EchoSocket.open_sockets):
            socket.close(1001, "server going away")


app = DrainingApplication(
    [
        (r"/slow", SlowHandler),
        (r"/stream", StreamHandler),
        (r"/never", NeverHandler),
        (r"/ws", EchoSocket),
        (r"/.*", HelloHandler),
    ]
)
