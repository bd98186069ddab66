"""The floors: servers that do less than any HTTP server can, to show how
fast the event loop alone lets a hello world go.

- ``Canned`` (``floor``): an asyncio protocol that answers every packet
  ending a request head with the same canned 200 response.  No parsing, no
  objects: the event loop, the socket calls and one ``transport.write``.
- ``ApiFloor`` (``floor-api``): ``Canned``, plus the objects that Tornado's
  raw-callback API hands to the application and takes back from it, made
  as tornado_compat makes them for a head it has seen before: a copy of the
  request's parsed ``HTTPHeaders``, the ``HTTPServerRequest``, and the call
  of the same ``hello`` callback as the raw HTTPServer's (which makes a
  ``ResponseStartLine`` and the response's ``HTTPHeaders``, and calls
  ``write_headers`` and ``finish``).  The request is not parsed (the first
  head's parse serves for all) and the response is not formatted (it is
  the canned one).  Any server that gives a Tornado raw callback its
  request on the same loop does at least this much: it is the floor of the
  raw hello-world comparisons.

They serve the hello app only, keep-alive, and one response per packet
that ends a head (neither wrk nor benchmarks.instructions pipelines).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from benchmarks.servers import HELLO, responder

CANNED = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\n" + HELLO
)
HEAD_END = b"\r\n\r\n"


class Canned(asyncio.Protocol):
    """The floor: a canned answer to each head; ``close`` also closes."""

    close = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if data.endswith(HEAD_END):
            self.transport.write(CANNED)
            if self.close:
                self.transport.close()


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


def api_floor(callback: Callable[[Any], None] | None = None) -> type[asyncio.Protocol]:
    """The ApiFloor protocol class.  It makes the request objects with
    tornado_compat's own functions (those its connection calls).  Its
    callback is ``callback``, or else the raw HTTPServer's hello, which uses
    the ``tornado`` names: then call it after ``tornado_compat.install()``."""
    from tornado_compat import httputil
    from tornado_compat.http1connection import _copy_headers, _server_request

    answer = _hello() if callback is None else callback
    headers_class = httputil.HTTPHeaders

    class ApiFloor(Canned):
        """Canned, plus Tornado's raw-callback objects (see the module)."""

        start_line: Any = None
        headers: Any = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            peer = transport.get_extra_info("peername")
            self.context = _Context(peer[0] if peer else "127.0.0.1")

        def data_received(self, data: bytes) -> None:
            if not data.endswith(HEAD_END):
                return
            if self.start_line is None:
                # The one parse: every request of a run is the same GET.
                line, _, rest = data.decode("latin-1").partition("\r\n")
                self.start_line = httputil.parse_request_start_line(line)
                self.headers = headers_class.parse(rest)
            request = _server_request(
                self,  # type: ignore[arg-type]  # its write_headers and finish
                self.start_line,
                _copy_headers(self.headers),
            )
            answer(request)

        # The HTTPConnection the callback answers through.
        def write_headers(
            self, start_line: Any, headers: Any, chunk: Any = None
        ) -> None:
            self.transport.write(CANNED)

        def finish(self) -> None:
            pass

    return ApiFloor
