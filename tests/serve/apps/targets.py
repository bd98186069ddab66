"""Targets for ``python -m tornado_compat serve tests/serve/apps/targets.py:NAME``.

What it is for: one of each kind of target that ``serve`` accepts or
refuses, and handlers that show a test what the server did:

- ``app``: a ``tornado.web.Application``.  ``/`` answers ``hello``;
  ``/whoami`` the request's ``remote_ip`` and ``protocol`` as seen by the
  application (after ``--xheaders``), with the pid; ``/loop`` the class of the
  running event loop; ``/echo`` (POST) the body it got, after any
  ``--decompress-request``; ``/slow`` prints ``arrived /slow PID`` on stdout
  and answers ``slow done PID`` once the server drains; ``/never`` prints
  ``arrived /never PID`` and never answers.
- ``make_app``: a factory taking no argument that returns such an
  application; ``make_callback``: one that returns a request callable.
- ``handle``: a request callable (one argument) that answers
  ``raw callback``.
- refused: ``number`` (42), ``make_number`` (a factory returning 42),
  ``two_arguments``, ``main`` (a coroutine function), ``handle_async`` (a
  coroutine function taking the request).

What it must never do: sleep, or finish ``/slow`` before the drain.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import tornado.web
from tornado.httputil import HTTPServerRequest, ResponseStartLine

#: Set by on_drain: what /slow waits for.
DRAINING = asyncio.Event()


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("hello\n")


class WhoAmIHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(f"{self.request.remote_ip} {self.request.protocol} {os.getpid()}\n")


class LoopHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        loop = asyncio.get_running_loop()
        self.write(f"{type(loop).__module__}.{type(loop).__name__}\n")


class EchoHandler(tornado.web.RequestHandler):
    def post(self) -> None:
        self.write(self.request.body)


class SlowHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        print(f"arrived /slow {os.getpid()}", flush=True)
        await DRAINING.wait()
        self.write(f"slow done {os.getpid()}\n")


class NeverHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        print(f"arrived /never {os.getpid()}", flush=True)
        await asyncio.Event().wait()


class Application(tornado.web.Application):
    def on_drain(self) -> None:
        DRAINING.set()


def make_app() -> Application:
    return Application(
        [
            (r"/", HelloHandler),
            (r"/whoami", WhoAmIHandler),
            (r"/loop", LoopHandler),
            (r"/echo", EchoHandler),
            (r"/slow", SlowHandler),
            (r"/never", NeverHandler),
        ]
    )


app = make_app()


def handle(request: HTTPServerRequest) -> None:
    body = b"raw callback\n"
    assert request.connection is not None
    request.connection.write_headers(
        ResponseStartLine("HTTP/1.1", 200, "OK"),
        tornado.httputil.HTTPHeaders({"Content-Length": str(len(body))}),
        body,
    )
    request.connection.finish()


def make_callback() -> Any:
    return handle


number = 42


def make_number() -> int:
    return 42


def two_arguments(a: object, b: object) -> None:
    pass


async def main() -> None:
    await asyncio.Event().wait()


async def handle_async(request: HTTPServerRequest) -> None:
    pass
