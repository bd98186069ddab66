"""A plain ``tornado.web`` application for the independent HTTP/2 clients of
tests/http2/test_peers.py, served by ``python -m tornado_compat serve
tests/http2/apps/peers.py --http2``.

What it is for: what a browser loads, written as any Tornado app is, with
nothing HTTP/2-specific in it:

- ``/``: an HTML page that references a stylesheet, a script and an image
  from ``peers_static/`` through ``StaticFileHandler`` (``static_url``, so
  with the ``?v=`` version argument);
- ``/items/N.json``: a JSON object with N items (3000 of them is about
  100 KB, past HTTP/2's initial flow-control window);
- ``/report`` (POST): what the page's script measured; it prints
  ``report JSON`` on stdout, one line, for the test to wait on;
- ``/hold/N``: writes and flushes the first half of its body, prints
  ``arrived /hold/N``, then waits until the process gets SIGUSR1 (sent by
  the drain test after SIGTERM) and writes the second half, about 100 KB.

What it must never do: sleep, or answer ``/hold/N`` in full before SIGUSR1.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import tornado.web

STATIC = Path(__file__).with_name("peers_static")
#: Set on SIGUSR1: what /hold/N waits for.
RELEASE = asyncio.Event()
_release_handler: list[asyncio.AbstractEventLoop] = []


def items(count: int) -> dict[str, list[dict[str, object]]]:
    return {"items": [{"id": i, "name": f"item {i}"} for i in range(count)]}


def hold_body(number: int, part: int) -> bytes:
    """Half ``part`` (1 or 2) of /hold/NUMBER's body."""
    line = f"hold {number} part {part} ".ljust(63, ".").encode() + b"\n"
    return line * (16 if part == 1 else 1600)


class PageHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write(
            "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>peers</title>\n"
            # No icon: a browser would otherwise ask for /favicon.ico.
            "<link rel='icon' href='data:,'>\n"
            f"<link rel='stylesheet' href='{self.static_url('style.css')}'>\n"
            f"<script src='{self.static_url('report.js')}' defer></script>\n"
            "</head><body><h1>HTTP/2 peers</h1>\n"
            f"<img src='{self.static_url('noise.png')}' alt='noise'>\n"
            "</body></html>\n"
        )


class ItemsHandler(tornado.web.RequestHandler):
    def get(self, count: str) -> None:
        self.write(items(int(count)))


class ReportHandler(tornado.web.RequestHandler):
    def post(self) -> None:
        report = json.loads(self.request.body)
        print("report " + json.dumps(report), flush=True)
        self.set_status(204)


class HoldHandler(tornado.web.RequestHandler):
    async def get(self, number: str) -> None:
        loop = asyncio.get_running_loop()
        if loop not in _release_handler:
            # In place before "arrived" is printed, so the test's SIGUSR1
            # cannot find the default action (which ends the process).
            loop.add_signal_handler(signal.SIGUSR1, RELEASE.set)
            _release_handler.append(loop)
        self.set_header("Content-Type", "text/plain")
        self.write(hold_body(int(number), 1))
        await self.flush()
        print(f"arrived /hold/{number}", flush=True)
        await RELEASE.wait()
        self.write(hold_body(int(number), 2))


app = tornado.web.Application(
    [
        (r"/", PageHandler),
        (r"/items/([0-9]+)\.json", ItemsHandler),
        (r"/report", ReportHandler),
        (r"/hold/([0-9]+)", HoldHandler),
    ],
    static_path=str(STATIC),
)
