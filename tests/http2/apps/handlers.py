"""Handlers that more than one test application serves
(tests/http2/apps/h2_app.py and semantics_app.py).

What it must never do: be imported before ``tornado_compat.install()``
(it imports ``tornado.web``, which must run on tornado_compat's modules).
"""

from __future__ import annotations

import tornado.web


class FlushHandler(tornado.web.RequestHandler):
    """A response written in ``n`` flushed parts of ``size`` bytes."""

    async def get(self) -> None:
        n = int(self.get_argument("n", "3"))
        size = int(self.get_argument("size", "10"))
        for i in range(n):
            self.write(str(i % 10).encode() * size)
            await self.flush()
