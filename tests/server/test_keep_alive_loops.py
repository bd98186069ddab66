"""A keep-alive connection goes on to its next request after a response that
an application finished in a later loop turn (a ``tornado.web`` coroutine
handler), on asyncio's own loop and on uvloop.

The server connection learns that the response finished from inside the
application's ``finish()``, and reads on at the next loop turn: on
asyncio's loop it tells that it runs on the loop's thread from the thread
the loop records, on other loops by asking for the running loop.  Either
way, each request of every connection must be answered, in order, also
when several connections' responses finish in the same loop turn.

The server runs in a subprocess (after ``tornado_compat.install()``, which
this test process must not do), with its client on the same loop.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import asyncio, socket, sys
import tornado_compat
tornado_compat.install()
import tornado.httpserver, tornado.web

class Later(tornado.web.RequestHandler):
    async def get(self, name):
        await asyncio.sleep(0)
        module = type(self.request.connection).__module__
        self.write(f"hello {name} from {module}")

async def main():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    server = tornado.httpserver.HTTPServer(
        tornado.web.Application([(r"/(\w+)", Later)])
    )
    server.add_sockets([sock])

    async def client(number):
        reader, writer = await asyncio.open_connection(*sock.getsockname())
        bodies = []
        for name in ("one", "two", "three"):
            writer.write(f"GET /{name}{number} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200 "), head
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await asyncio.wait_for(reader.readexactly(length), 10)
            bodies.append(body.decode())
        writer.close()
        return bodies

    # Connections whose responses finish in the same loop turns.
    for bodies in await asyncio.gather(*(client(n) for n in range(5))):
        print(*bodies, sep="\n")
    server.stop()
    await server.close_all_connections()

if sys.argv[1] == "uvloop":
    import uvloop
    uvloop.run(main())
else:
    asyncio.run(main())
"""


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_requests_of_one_connection_are_answered_in_order(loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT, loop],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    ours = "from tornado_compat.http1connection"
    assert result.stdout.splitlines() == [
        f"hello {name}{number} {ours}"
        for number in range(5)
        for name in ("one", "two", "three")
    ]


def test_a_go_on_that_raises_is_reported_and_the_others_still_run() -> None:
    # The go-ons of one loop turn share one callback: one that fails must
    # not take the connections after it down with it, and is reported as
    # a failing callback of the loop's own would be.
    import contextvars

    from tornado_compat.http1connection import (
        HTTP1Connection,
        HTTP1ServerConnection,
        _go_on_together,
    )

    ran: list[str] = []
    reported: list[dict[str, object]] = []

    class Server(HTTP1ServerConnection):
        # Made without the connection's own __init__: only the go-on runs.
        def __init__(self, name: str, fail: bool) -> None:
            self.name, self.fail = name, fail

        def _go_on_after(self, conn: object) -> None:
            ran.append(self.name)
            if self.fail:
                raise RuntimeError("broken " + self.name)

    class Loop:
        def call_exception_handler(self, context: dict[str, object]) -> None:
            reported.append(context)

    queue: list = [
        (
            contextvars.copy_context(),
            Server(name, name == "b"),
            HTTP1Connection.__new__(HTTP1Connection),
        )
        for name in ("a", "b", "c")
    ]
    _go_on_together(Loop(), queue)
    assert ran == ["a", "b", "c"]
    assert queue == []
    assert [str(r["exception"]) for r in reported] == ["broken b"]
