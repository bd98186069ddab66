"""The ASGI application of the drain comparison (``benchmarks.drain``), for uvicorn.

    python -m uvicorn drain_asgi:app --app-dir benchmarks/apps --port P \\
        --timeout-graceful-shutdown 10

The same routes and answers as ``drain_app.py`` (see there): ``/slow``,
``/stream`` (each part sent with ``more_body``, so uvicorn writes it at once,
chunked) and ``/started``.  It uses nothing but the standard library, so that
uvicorn's own behaviour is what the comparison sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_started = 0
_started_changed = asyncio.Condition()


async def _mark_started() -> None:
    global _started
    _started += 1
    async with _started_changed:
        _started_changed.notify_all()


def _start(status: int = 200) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain")],
    }


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    query = {k: v[-1] for k, v in parse_qs(scope["query_string"].decode()).items()}
    path = scope["path"]
    if path == "/slow":
        seconds = float(query.get("seconds", "3"))
        await _mark_started()
        await asyncio.sleep(seconds)
        await send(_start())
        await send({"type": "http.response.body", "body": b"slow done\n"})
    elif path == "/stream":
        parts = int(query.get("parts", "6"))
        interval = float(query.get("interval", "0.5"))
        await _mark_started()
        await send(_start())
        for number in range(1, parts + 1):
            if number > 1:
                await asyncio.sleep(interval)
            await send(
                {
                    "type": "http.response.body",
                    "body": f"part {number} of {parts}\n".encode(),
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b""})
    elif path == "/started":
        count = int(query.get("count", "0"))
        async with _started_changed:
            await _started_changed.wait_for(lambda: _started >= count)
        await send(_start())
        await send({"type": "http.response.body", "body": f"{_started}\n".encode()})
    else:
        await send(_start(404))
        await send({"type": "http.response.body", "body": b"not found\n"})
