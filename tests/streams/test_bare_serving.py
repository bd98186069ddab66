"""Requests served on a :class:`tornado_compat._bare.BareConnection`, and
the handover to a stream in the middle of a connection.

Real sockets on 127.0.0.1, on asyncio and uvloop, through ``HTTPServer``'s
accept path.  A bodyless request is answered with no stream made; the
first request that needs one (a body, a head in pieces, the application
asking for ``request.connection.stream`` or detaching) gets the connection
handed over, and every byte, write and callback goes with it: the answers
stay in order and complete, and a write's future still waits for the
kernel to take its bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from tests.streams.support import (
    Harness,
    connect_to,
    listening,
    read_responses,
    within,
)
from tornado_compat import httputil
from tornado_compat.http1connection import HTTP1ServerConnection
from tornado_compat.httpserver import HTTPServer
from tornado_compat.iostream import IOStream

OK = httputil.ResponseStartLine("HTTP/1.1", 200, "OK")


def answer(request: httputil.HTTPServerRequest, body: bytes) -> Any:
    connection: Any = request.connection
    future = connection.write_headers(
        OK, httputil.HTTPHeaders({"Content-Length": str(len(body))}), body
    )
    connection.finish()
    return future


def echo(request: httputil.HTTPServerRequest) -> None:
    answer(
        request,
        request.method.encode() + b" " + request.uri.encode() + b" " + request.body,
    )


@contextlib.asynccontextmanager
async def serving(
    app: Callable[[httputil.HTTPServerRequest], None], **options: Any
) -> AsyncIterator[tuple[HTTPServer, int]]:
    server = HTTPServer(app, **options)
    async with listening(server) as port:
        yield server, port


connect = connect_to


def the_connection(server: HTTPServer) -> HTTP1ServerConnection:
    (conn,) = server._connections
    assert isinstance(conn, HTTP1ServerConnection)
    return conn


async def test_bodyless_requests_are_served_without_a_stream(harness: Harness) -> None:
    loop = asyncio.get_running_loop()
    async with serving(echo) as (server, port):
        client = await connect(harness, port)
        pipelined = b"".join(
            b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in range(3)
        )
        await loop.sock_sendall(client, pipelined)
        assert await read_responses(client, 3) == [b"GET /0 ", b"GET /1 ", b"GET /2 "]
        conn = the_connection(server)
        assert conn._bare is not None and conn.stream is conn._bare
        assert conn._bare.handed is None


async def test_an_upgrade_is_read_by_a_stream_and_a_coding_without_body_is_not(
    harness: Harness,
) -> None:
    # Content-Encoding without a body needs no stream (and, with decompress
    # off, nothing decodes it); an Upgrade does, whatever is answered.
    loop = asyncio.get_running_loop()
    async with serving(echo) as (server, port):
        client = await connect(harness, port)
        await loop.sock_sendall(
            client, b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n\r\n"
        )
        assert await read_responses(client, 1) == [b"GET /a "]
        conn = the_connection(server)
        assert conn._bare is not None
        await loop.sock_sendall(
            client, b"GET /b HTTP/1.1\r\nHost: x\r\nUpgrade: something\r\n\r\n"
        )
        assert await read_responses(client, 1) == [b"GET /b "]
        assert conn._bare is None and isinstance(conn.stream, IOStream)


async def test_a_request_with_a_body_hands_the_connection_over_in_order(
    harness: Harness,
) -> None:
    # A bodyless request, then one with a body in the same packet, then
    # one more: the first is answered bare, the rest by the stream, in
    # order, and the stream serves on.
    loop = asyncio.get_running_loop()
    async with serving(echo) as (server, port):
        client = await connect(harness, port)
        await loop.sock_sendall(
            client,
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhel",
        )
        assert await read_responses(client, 1) == [b"GET /a "]
        await loop.sock_sendall(client, b"lo" + b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await read_responses(client, 2) == [b"POST /b hello", b"GET /c "]
        conn = the_connection(server)
        assert conn._bare is None and isinstance(conn.stream, IOStream)


async def test_a_head_in_pieces_is_read_by_a_stream(harness: Harness) -> None:
    loop = asyncio.get_running_loop()
    async with serving(echo) as (server, port):
        client = await connect(harness, port)
        await loop.sock_sendall(client, b"GET /a HTTP/1.1\r\nHo")
        await within(
            _until(
                lambda: (
                    bool(server._connections)
                    and isinstance(the_connection(server).stream, IOStream)
                )
            )
        )
        await loop.sock_sendall(client, b"st: x\r\n\r\n")
        assert await read_responses(client, 1) == [b"GET /a "]


async def test_asking_for_the_stream_hands_the_connection_over(
    harness: Harness,
) -> None:
    # The application asks for request.connection.stream: it gets a real
    # stream, open, and the connection goes on with it, including the
    # request already buffered behind.
    loop = asyncio.get_running_loop()
    seen: list[Any] = []

    def app(request: httputil.HTTPServerRequest) -> None:
        stream = request.connection.stream  # type: ignore[union-attr]
        seen.append(stream)
        assert isinstance(stream, IOStream) and not stream.closed()
        echo(request)

    async with serving(app) as (server, port):
        client = await connect(harness, port)
        await loop.sock_sendall(
            client,
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        assert await read_responses(client, 2) == [b"GET /a ", b"GET /b "]
        conn = the_connection(server)
        assert conn.stream is seen[0] is seen[1] and conn._bare is None


async def test_detach_gives_the_application_the_bytes_after_the_request(
    harness: Harness,
) -> None:
    loop = asyncio.get_running_loop()
    detached: asyncio.Future[IOStream] = loop.create_future()

    def app(request: httputil.HTTPServerRequest) -> None:
        stream = request.connection.detach()  # type: ignore[union-attr]
        detached.set_result(stream)

    async with serving(app) as (server, port):
        client = await connect(harness, port)
        await loop.sock_sendall(client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\nafter")
        stream = await within(detached)
        assert await within(stream.read_bytes(5)) == b"after"
        await within(stream.write(b"raw bytes"))
        assert await within(loop.sock_recv(client, 100)) == b"raw bytes"
        stream.close()
        assert await within(loop.sock_recv(client, 100)) == b""
        await within(_until(lambda: not server._connections))


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0)


async def test_a_write_the_kernel_has_not_taken_waits_across_the_handover(
    harness: Harness,
) -> None:
    # A response too large for the socket buffers while the client reads
    # nothing: its future stays pending, also after the application hands
    # the connection over, and resolves once the client has read it all.
    loop = asyncio.get_running_loop()
    body = b"x" * (8 * 1024 * 1024)
    written: asyncio.Future[Any] = loop.create_future()

    def app(request: httputil.HTTPServerRequest) -> None:
        written.set_result(answer(request, body))
        request.connection.stream  # type: ignore[union-attr]  # noqa: B018

    async with serving(app) as (server, port):
        client = await connect(harness, port)
        await loop.sock_sendall(client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        future = await within(written)
        assert not future.done()
        assert isinstance(the_connection(server).stream, IOStream)
        reading = asyncio.ensure_future(read_responses(client, 1))
        await within(future)
        assert await within(reading) == [body]


async def test_a_client_gone_while_the_response_waits_is_reported(
    harness: Harness,
) -> None:
    # An application that answers later learns of the close through the
    # request's close callback, and the server counts the connection over.
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()

    def app(request: httputil.HTTPServerRequest) -> None:
        request.connection.set_close_callback(closed.set)  # type: ignore[union-attr]

    async with serving(app) as (server, port):
        client = await connect(harness, port)
        await loop.sock_sendall(client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await within(_until(lambda: bool(server._connections)))
        conn = the_connection(server)
        await within(_until(lambda: conn._waiting is not None))
        assert conn._bare is not None
        client.close()
        await within(closed.wait())
        await within(_until(lambda: not server._connections))
        await within(_until(lambda: server._open_connections == 0))


async def test_a_client_that_pipelines_without_reading_is_paused(
    harness: Harness,
) -> None:
    # While a response waits, requests pile up: reading stops at a chunk,
    # as a stream's does, instead of buffering all the client sends.
    loop = asyncio.get_running_loop()
    pending: list[httputil.HTTPServerRequest] = []

    def app(request: httputil.HTTPServerRequest) -> None:
        pending.append(request)

    async with serving(app) as (server, port):
        client = await connect(harness, port)
        request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        await loop.sock_sendall(client, request)
        await within(_until(lambda: bool(pending)))
        conn = the_connection(server)
        bare = conn._bare
        assert bare is not None
        # Bounded: what the socket buffers take before sendall would block.
        client.setblocking(False)
        sent = 0
        with contextlib.suppress(BlockingIOError):
            for _ in range(20000):
                sent += client.send(request * 100)
        await within(_until(lambda: bare._paused))
        assert len(bare._read_buffer) < 2 * bare.read_chunk_size
        assert sent > 4 * bare.read_chunk_size
        echo(pending.pop())
