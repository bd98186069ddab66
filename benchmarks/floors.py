"""The floors: servers that do less than any HTTP server can, to show how
fast the event loop alone lets a hello world go.

- ``Canned`` (``floor``): an asyncio protocol that answers every packet
  ending a request head with the same canned 200 response, and closes
  after it when the head says ``Connection: close``.  No parsing, no
  objects: the event loop, the socket calls and one ``transport.write``.
- ``floor-api``: ``Canned``, plus the objects that Tornado's raw-callback
  API hands to the application and takes back from it, made as
  tornado_compat makes them for a head it has seen before: a copy of the
  request's parsed ``HTTPHeaders``, the ``HTTPServerRequest``, and the call
  of the same ``hello`` callback as the raw HTTPServer's (which makes a
  ``ResponseStartLine`` and the response's ``HTTPHeaders``, and calls
  ``write_headers`` and ``finish``).  Any server that gives a Tornado raw
  callback its request on the same loop does at least this much: it is the
  floor of the raw hello-world comparisons.
- ``floor-api`` serving the ``web`` app: ``Canned``, plus a
  ``tornado.web.Application`` called as an HTTP server calls one
  (``start_request``, then ``headers_received`` and ``finish`` on what it
  returns), with the parsed head's copy: tornado.web makes the
  ``HTTPServerRequest``, routes, runs the handler, and answers through
  ``write_headers`` and ``finish``.  The floor of the tornado.web
  comparison: tornado.web's own work, on a server that costs nothing else.

In the last two the request is not parsed (the first head's parse serves
for all, as every request of a run is the same) and the response is not
formatted: ``write_headers`` writes the canned one.  They serve keep-alive
requests, one response per packet that ends a head (neither wrk nor
benchmarks.instructions pipelines).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from benchmarks.servers import HELLO, responder

CANNED = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\n" + HELLO
)
# The answer before a close says so, as a server's must (RFC 9112 9.6).
CANNED_CLOSE = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n"
    b"Connection: close\r\n\r\n" + HELLO
)
HEAD_END = b"\r\n\r\n"
CLOSE = b"\r\nConnection: close\r\n"


class Canned(asyncio.Protocol):
    """The floor: a canned answer to each head, and a close after it when
    the head asks (or always, with ``close``)."""

    close = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not data.endswith(HEAD_END):
            return
        if self.close or CLOSE in data:
            self.transport.write(CANNED_CLOSE)
            self.transport.close()
        else:
            self.transport.write(CANNED)


class CannedClose(Canned):
    close = True


class _Context:
    """What HTTPServerRequest reads from ``connection.context``."""

    def __init__(self, remote_ip: str) -> None:
        self.remote_ip = remote_ip
        self.protocol = "http"


def _hello() -> Callable[[Any], None]:
    """The raw HTTPServer's hello callback (on the ``tornado`` names)."""
    respond = responder()

    def hello(request: Any) -> None:
        respond(request, HELLO)

    return hello


def api_floor(
    callback: Callable[[Any], None] | None = None, application: Any = None
) -> type[asyncio.Protocol]:
    """The protocol class of ``floor-api``.  It makes the request objects
    with tornado_compat's own functions (those its connection calls).

    With ``application`` (an HTTPServerConnectionDelegate, such as a
    ``tornado.web.Application``) each request goes to it as an HTTP server
    hands one over; else to ``callback``, or to the raw HTTPServer's hello,
    which uses the ``tornado`` names: then call this after
    ``tornado_compat.install()``."""
    from tornado_compat import httputil
    from tornado_compat.http1connection import _copy_headers, _server_request

    answer = _hello() if callback is None else callback
    headers_class = httputil.HTTPHeaders

    class ApiFloor(Canned):
        """Canned, plus Tornado's request objects (see the module)."""

        start_line: Any = None
        headers: Any = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            peer = transport.get_extra_info("peername")
            self.context = _Context(peer[0] if peer else "127.0.0.1")
            self.written: asyncio.Future[None] = asyncio.Future()
            self.written.set_result(None)

        def data_received(self, data: bytes) -> None:
            if not data.endswith(HEAD_END):
                return
            if self.start_line is None:
                # The one parse: every request of a run is the same GET.
                line, _, rest = data.decode("latin-1").partition("\r\n")
                self.start_line = httputil.parse_request_start_line(line)
                self.headers = headers_class.parse(rest)
            headers = _copy_headers(self.headers)
            if application is not None:
                delegate = application.start_request(self, self)
                delegate.headers_received(self.start_line, headers)
                delegate.finish()
                return
            answer(_server_request(self, self.start_line, headers))  # type: ignore[arg-type]

        # The HTTPConnection the application answers through.
        def write_headers(
            self, start_line: Any, headers: Any, chunk: Any = None
        ) -> asyncio.Future[None]:
            self.transport.write(CANNED)
            return self.written

        def write(self, chunk: bytes) -> asyncio.Future[None]:
            return self.written

        def finish(self) -> None:
            pass

        def set_close_callback(self, callback: Any) -> None:
            pass

    return ApiFloor
