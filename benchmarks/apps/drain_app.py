"""The ``tornado.web`` application of the drain comparison (``benchmarks.drain``).

Served two ways:

    python -m tornado_compat serve benchmarks/apps/drain_app.py:app --port P
    python benchmarks/apps/drain_app.py --port P       # Tornado's own server

``serve`` installs tornado_compat before it imports this file, so the same
handlers run on either server.  Routes:

- ``GET /slow?seconds=S``: waits S seconds (``asyncio.sleep``), then answers
  ``slow done`` and a newline.
- ``GET /stream?parts=N&interval=S``: N parts ``part I of N`` and a newline,
  each flushed, S seconds apart.
- ``GET /started?count=N``: answers (the number of slow and streaming
  requests started so far) once N of them have started, so that the script
  knows the server holds them all without sleeping for it.

Run as a script, this file is what a Tornado application's main usually is:
``HTTPServer(app).listen()``, access log at INFO (``enable_pretty_logging``),
and on SIGTERM or SIGINT ``server.stop()`` followed by the end of the loop
(``main()`` returns, so ``asyncio.run`` cancels what is still running).  It
must not drain: it shows what Tornado does without help.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

import tornado.httpserver
import tornado.log
import tornado.web

_started = 0
_started_changed = asyncio.Condition()


async def _mark_started() -> None:
    global _started
    _started += 1
    async with _started_changed:
        _started_changed.notify_all()


class Slow(tornado.web.RequestHandler):
    async def get(self) -> None:
        seconds = float(self.get_argument("seconds", "3"))
        await _mark_started()
        await asyncio.sleep(seconds)
        self.write(b"slow done\n")


class Stream(tornado.web.RequestHandler):
    async def get(self) -> None:
        parts = int(self.get_argument("parts", "6"))
        interval = float(self.get_argument("interval", "0.5"))
        await _mark_started()
        for number in range(1, parts + 1):
            if number > 1:
                await asyncio.sleep(interval)
            self.write(f"part {number} of {parts}\n".encode())
            await self.flush()


class Started(tornado.web.RequestHandler):
    async def get(self) -> None:
        count = int(self.get_argument("count", "0"))
        async with _started_changed:
            await _started_changed.wait_for(lambda: _started >= count)
        self.write(f"{_started}\n".encode())


def make_app() -> tornado.web.Application:
    return tornado.web.Application(
        [(r"/slow", Slow), (r"/stream", Stream), (r"/started", Started)]
    )


app = make_app()


async def _serve(port: int) -> None:
    server = tornado.httpserver.HTTPServer(app)
    server.listen(port, address="127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"serving on http://127.0.0.1:{port}/", flush=True)
    await stop.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Tornado's own main for this app")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.INFO)
    tornado.log.enable_pretty_logging()
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
