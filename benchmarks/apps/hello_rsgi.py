"""The bare RSGI hello world, for Granian's own interface.

    granian --interface rsgi benchmarks.apps.hello_rsgi:app

Every HTTP request is answered 200 with the 12-byte body ``Hello world!`` and
the same two headers as the other servers' hello worlds, in one
``response_bytes`` call; the request body, if any, is not read.  It uses
nothing but the standard library, so that what a comparison measures is the
server; it serves no WebSocket.
"""

from __future__ import annotations

from typing import Any

HELLO = b"Hello world!"

_HEADERS = [
    ("content-type", "text/plain"),
    ("content-length", str(len(HELLO))),
]


async def app(scope: Any, protocol: Any) -> None:
    if scope.proto != "http":
        return
    protocol.response_bytes(200, _HEADERS, HELLO)
