"""The application the deployment tests serve (not a test module):
``python -m tornado_compat serve tests.deploy.app:app``.

What it is for: telling the test what the application saw of a request that
came through nginx or an activated socket: the client address and scheme
(after ``--xheaders``), which upstream connection carried it (to see
keep-alive between nginx and ``serve``), and which process answered.  It
also has a request that stays in progress until the test lets it finish (to
watch a drain), and a WebSocket echo.

What it must never do: wait on a clock.  The slow request finishes when the
test creates a file, so the test decides when, and the wait is bounded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
import weakref
from typing import Any

import tornado.web
import tornado.websocket

#: A request left in progress gives up after this long, so that a broken
#: test cannot leave it running.
SLOW_LIMIT = 30.0

_serials = itertools.count(1)
# Serial number of each upstream connection, by its stream: equal numbers
# mean the requests came over one connection.
_connections: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def _connection_serial(handler: tornado.web.RequestHandler) -> int:
    stream = handler.request.connection.stream  # type: ignore[union-attr]
    if stream not in _connections:
        _connections[stream] = next(_serials)
    return _connections[stream]


class SeenHandler(tornado.web.RequestHandler):
    """What the application sees of this request, as JSON."""

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(
            json.dumps(
                {
                    "remote_ip": self.request.remote_ip,
                    "protocol": self.request.protocol,
                    "host": self.request.host,
                    "connection": _connection_serial(self),
                    "pid": os.getpid(),
                }
            )
        )


class SlowHandler(tornado.web.RequestHandler):
    """Says ``arrived`` on stdout, then answers once the file named by the
    ``flag`` argument exists."""

    async def get(self) -> None:
        flag = self.get_argument("flag")
        print(f"arrived {flag}", flush=True)
        deadline = time.monotonic() + SLOW_LIMIT
        while not os.path.exists(flag):
            if time.monotonic() > deadline:
                raise tornado.web.HTTPError(504, "the test never released %s", flag)
            await asyncio.sleep(0.01)
        self.write("finished after the release\n")


class EchoWebSocket(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message, binary=isinstance(message, bytes))


app = tornado.web.Application(
    [(r"/", SeenHandler), (r"/slow", SlowHandler), (r"/ws", EchoWebSocket)]
)
