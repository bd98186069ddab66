"""Servers and drivers for ``tests/client/test_connection.py`` (not a test module).

What this module is for: the other side of the tests of the dugong-compatible
:class:`~tornado_compat.httpclient.connection.HTTPConnection`, built on the
scripted servers of :mod:`tests.client.raw_servers` so that every byte the
connection receives is the test's choice.

- :func:`app_server`: an :class:`~tests.client.raw_servers.AppServer` whose
  ``/r`` route answers in the framing its query asks for (Content-Length,
  chunked, 204, 304), with a body that names the request
  (:func:`expected_body`), and whose ``/upload`` and ``/refuse`` routes serve
  the ``Expect: 100-continue`` tests.
- :class:`CannedServer`: a scripted server that answers the paths a test
  gives it (:data:`Answer`) with raw bytes, faults included, and every other
  path like ``/r``; it records the requests it read.  :func:`fault`,
  :func:`stalled` and :func:`trickled` build the answers.
- :func:`drive`: runs a ``co_`` coroutine to its end with
  :meth:`PollNeeded.poll`, the way a caller without an event loop would.

What it must never do: sleep to wait for something.  A stalled answer waits
on a :class:`~tests.client.raw_servers.Signal`; the tests set it, or the
server's loop cancels the wait when it closes.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from tests.client.raw_servers import (
    AppServer,
    Exchange,
    LoopThread,
    Request,
    ScriptedServer,
    Signal,
    chunked,
    read_body,
    read_request,
    reset,
    response_head,
)
from tornado_compat.httpclient.connection import HTTPConnection, PollNeeded

#: Safety net for every wait of a test; a test that reaches it has hung.
SAFETY = 10.0


# -- bodies --------------------------------------------------------------------


def payload(size: int) -> bytes:
    """``size`` bytes with a period (251) that no buffer size here divides, so
    that a piece delivered twice or skipped changes the result."""
    pattern = bytes(range(251))
    return (pattern * (size // 251 + 1))[:size]


def expected_body(target: str) -> bytes:
    """The body ``/r`` sends for ``target``: :func:`payload` of ``size`` bytes
    if the query has ``size``, else text naming the target."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))
    if "size" in query:
        return payload(int(query["size"]))
    return f"body of {target}".encode()


def pieces(data: bytes) -> list[bytes]:
    """``data`` cut into pieces of 1, 2, 3 ... 97, 1, 2 ... bytes."""
    out = []
    pos, size = 0, 1
    while pos < len(data):
        out.append(data[pos : pos + size])
        pos += size
        size = size % 97 + 1
    return out


def answer_bytes(request: Request, kind: str = "") -> bytes:
    """The whole answer ``/r`` gives ``request``: ``kind`` (or the query's
    ``kind``) is ``length`` (the default), ``chunked``, ``204`` or ``304``."""
    target = request.target
    if not kind:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query))
        kind = query.get("kind", "length")
    body = expected_body(target)
    if kind == "204":
        return response_head(204)
    if kind == "304":
        # A 304 may announce the length of the body it does not send.
        return response_head(304, [("Content-Length", str(len(body)))])
    if kind == "chunked":
        head = response_head(200, [("Transfer-Encoding", "chunked")])
        body_bytes = chunked(*pieces(body))
    else:
        head = response_head(200, [("Content-Length", str(len(body)))])
        body_bytes = body
    # The answer to HEAD has the head that GET would get, and no body.
    return head if request.method == "HEAD" else head + body_bytes


# -- an AppServer for the well-behaved cases -------------------------------------


async def framed(ex: Exchange) -> None:
    """``/r``: see :func:`answer_bytes`."""
    await ex.body()
    ex.writer.write(answer_bytes(ex.request))


async def upload(ex: Exchange) -> None:
    """``/upload``: reads the body (after ``100 Continue`` if asked) and
    answers ``got <body>``."""
    body = await ex.body()
    ex.respond(200, b"got " + body)


async def refuse(ex: Exchange) -> None:
    """``/refuse?code=N``: refuses an ``Expect: 100-continue`` request with
    status N (a Content-Length body) without reading its body, which the
    client must then not send: the connection stays open for the next one."""
    code = int(ex.request.query.get("code", "417"))
    ex.respond(code, b"refused %d" % code)
    ex.body_read = True


def app_server(thread: LoopThread, **kwargs: Any) -> AppServer:
    return AppServer(
        thread, {"/r": framed, "/upload": upload, "/refuse": refuse}, **kwargs
    )


# -- raw answers -----------------------------------------------------------------

#: How a :class:`CannedServer` answers one request (whose head was read, not
#: its body); False ends the connection.
Answer = Callable[
    ["CannedServer", asyncio.StreamReader, asyncio.StreamWriter, Request],
    Awaitable[bool],
]


class CannedServer(ScriptedServer):
    """Answers the paths of ``answers`` with them, every other path as ``/r``
    does (see :func:`answer_bytes`); ``received`` lists the requests read,
    bodies included when the answer read them."""

    def __init__(
        self,
        thread: LoopThread,
        answers: dict[str, Answer] | None = None,
        **kwargs: Any,
    ) -> None:
        self.answers: dict[str, Answer] = dict(answers or {})
        self.received: list[Request] = []
        super().__init__(thread, self._serve, **kwargs)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while (request := await self.read_request(reader)) is not None:
            answer = self.answers.get(request.path)
            if answer is not None:
                if not await answer(self, reader, writer, request):
                    return
                continue
            request.body = await read_body(reader, request)
            writer.write(answer_bytes(request))
            await writer.drain()

    async def read_request(self, reader: asyncio.StreamReader) -> Request | None:
        """The next request head (None at the end), noted in ``received``."""
        request = await read_request(reader)
        if request is not None:
            self.received.append(request)
        return request


def fault(data: bytes, then: str = "keep", follower: bool = True) -> Answer:
    """Reads the request's body and, with ``follower``, the request pipelined
    behind it (so that a close is a clean FIN, never a reset for unread
    data); then sends ``data``, and then answers the follower normally
    (``"keep"``), closes (``"close"``) or resets the connection
    (``"reset"``)."""

    async def answer(
        server: CannedServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
    ) -> bool:
        request.body = await read_body(reader, request)
        behind = await server.read_request(reader) if follower else None
        writer.write(data)
        await writer.drain()
        if then == "reset":
            reset(writer)
            return False
        if then == "close":
            return False
        if behind is not None:
            writer.write(answer_bytes(behind))
            await writer.drain()
        return True

    return answer


def stalled(before: bytes, go: Signal, after: bytes = b"", body: bool = True) -> Answer:
    """Sends ``before``, waits for ``go``, then sends ``after`` and goes on
    serving.  Without ``body`` the request body is left unread (the server
    stops reading the connection until ``go``)."""

    async def answer(
        server: CannedServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
    ) -> bool:
        if body:
            request.body = await read_body(reader, request)
        writer.write(before)
        await writer.drain()
        await go.wait()
        writer.write(after)
        await writer.drain()
        return body

    return answer


def trickled(data: bytes) -> Answer:
    """Sends ``data`` one byte per send (the transport has TCP_NODELAY, so one
    byte per segment)."""

    async def answer(
        server: CannedServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
    ) -> bool:
        request.body = await read_body(reader, request)
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
        return True

    return answer


# -- the client side ---------------------------------------------------------------


def connection(server: ScriptedServer, **kwargs: Any) -> HTTPConnection:
    """A connection to ``server`` (use it in a ``with``), with :data:`SAFETY`
    as its timeout."""
    conn = HTTPConnection("127.0.0.1", server.port, **kwargs)
    conn.timeout = SAFETY
    return conn


def drive(crt: Generator[PollNeeded, Any, Any]) -> Any:
    """Run a ``co_`` coroutine to its end, waiting with :meth:`PollNeeded.poll`."""
    try:
        request = next(crt)
        while True:
            assert isinstance(request, PollNeeded), request
            if not request.poll(SAFETY):
                crt.close()
                raise AssertionError(f"{request!r} not ready within {SAFETY}s")
            request = crt.send(None)
    except StopIteration as stop:
        return stop.value


def fetch(
    conn: HTTPConnection, path: str, method: str = "GET", **kwargs: Any
) -> tuple[int, bytes]:
    """Send one request and read its whole response: (status, body)."""
    conn.send_request(method, path, **kwargs)
    response = conn.read_response()
    assert response.path == path, (response, path)
    return response.status, conn.readall()
