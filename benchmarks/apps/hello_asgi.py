"""The bare ASGI hello world, for hypercorn and Granian.

    granian --interface asgi --http 2 benchmarks.apps.hello_asgi:app

Every request is answered 200 with the 12-byte body ``Hello world!`` and the
same two headers as the other servers' hello worlds; the request body, if
any, is not read.  It uses nothing but the standard library, so that what a
comparison measures is the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

HELLO = b"Hello world!"

_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(HELLO)).encode()),
    ],
}
_BODY = {"type": "http.response.body", "body": HELLO}


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        # Answered, so that neither server logs a lifespan it could not run.
        while True:
            message = await receive()
            kind = message["type"].rpartition(".")[2]
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return
    if scope["type"] != "http":
        return
    await send(dict(_START))
    await send(dict(_BODY))
