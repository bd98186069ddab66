"""A server connection that starts on :class:`tornado_compat._bare.BareConnection`
and is handed over to the server's usual path.

Real sockets on 127.0.0.1, on asyncio and uvloop: requests sent before,
across and after the handover are all answered in order by
``HTTPServer.handle_stream``'s ``HTTP1ServerConnection``, bodies included;
a connection that ends before or right at its first request is closed and
counted once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tornado.ioloop import IOLoop

from tests.streams.support import (
    Harness,
    connect_to,
    listening,
    raw_tcp_pair,
    read_responses,
    within,
)
from tornado_compat import httputil, tcpserver
from tornado_compat._bare import BareConnection
from tornado_compat._transport import _LoopTransport
from tornado_compat.httpserver import HTTPServer
from tornado_compat.iostream import IOStream, _uses_loop_transport
from tornado_compat.netutil import bind_sockets


def _echo(request: httputil.HTTPServerRequest) -> None:
    body = request.method.encode() + b" " + request.uri.encode() + b" " + request.body
    request.connection.write_headers(  # type: ignore[union-attr]
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": str(len(body))}),
        body,
    )
    request.connection.finish()  # type: ignore[union-attr]


class Served:
    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.server = HTTPServer(_echo)
        self.streams: list[IOStream] = []
        self.closes = 0
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.bare: BareConnection | None = None
        self.accepted: socket.socket | None = None

    def on_close(self) -> None:
        self.closes += 1
        if not self.closed.done():
            self.closed.set_result(None)

    def _handle_stream_of(self, stream: IOStream, address: Any) -> None:
        # (What a BareConnection calls on its server at the handover.)
        self.streams.append(self.harness.track(stream))
        assert self.accepted is not None
        assert address == self.accepted.getpeername()
        self.server.handle_stream(stream, address)

    async def connect(self) -> socket.socket:
        loop = asyncio.get_running_loop()
        client, accepted = await raw_tcp_pair(self.harness)
        self.accepted = accepted
        bare = self.bare = BareConnection(
            accepted,
            self,
            close_hook=self.on_close,
            address=accepted.getpeername(),
        )
        if _uses_loop_transport(IOLoop.current()):
            _LoopTransport(IOLoop.current(), accepted, bare)  # type: ignore[arg-type]
        else:
            await within(loop.connect_accepted_socket(lambda: bare, accepted))  # type: ignore[arg-type,return-value]
        return client


async def test_requests_before_and_after_the_handover_are_answered_in_order(
    harness: Harness,
) -> None:
    loop = asyncio.get_running_loop()
    served = Served(harness)
    client = await served.connect()
    await loop.sock_sendall(client, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HT")
    assert await read_responses(client, 1) == [b"GET /a "]
    await loop.sock_sendall(client, b"TP/1.1\r\nHost: x\r\n\r\n")
    await loop.sock_sendall(
        client, b"POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    )
    assert await read_responses(client, 2) == [b"GET /b ", b"POST /c hello"]
    assert len(served.streams) == 1
    client.close()
    await within(asyncio.shield(served.closed))
    assert served.closes == 1


async def test_a_body_split_across_the_handover_is_read_whole(harness: Harness) -> None:
    loop = asyncio.get_running_loop()
    served = Served(harness)
    client = await served.connect()
    await loop.sock_sendall(
        client, b"PUT /d HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234"
    )
    await loop.sock_sendall(client, b"56789")
    assert await read_responses(client, 1) == [b"PUT /d 0123456789"]


async def test_a_connection_that_ends_before_a_request_is_closed_and_counted(
    harness: Harness,
) -> None:
    served = Served(harness)
    client = await served.connect()
    client.close()
    await within(asyncio.shield(served.closed))
    assert served.closes == 1
    assert served.streams == []
    assert served.accepted is not None and served.accepted.fileno() == -1


async def test_an_end_of_file_right_after_a_partial_head(harness: Harness) -> None:
    # The bytes go to the stream with the end of file; the server closes
    # the connection without an answer (the request is incomplete) and
    # without an error logged.
    loop = asyncio.get_running_loop()
    served = Served(harness)
    client = await served.connect()
    await loop.sock_sendall(client, b"GET /e HTTP/1.1\r\nHo")
    client.shutdown(socket.SHUT_WR)
    assert await within(loop.sock_recv(client, 100)) == b""
    await within(asyncio.shield(served.closed))
    assert served.closes == 1
    assert len(served.streams) == 1 and served.streams[0].closed()


async def test_a_server_that_starts_connections_bare_serves_them(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The accept path (TCPServer._bare_first): plain connections start on
    # a BareConnection, which serves bodyless requests itself and hands the
    # connection over for one with a body; the server counts them open
    # until they close.
    loop = asyncio.get_running_loop()
    server = HTTPServer(_echo)
    server._bare_first = True
    all_closed: asyncio.Future[None] = loop.create_future()

    def on_close() -> None:
        server._on_stream_closed()
        if server._open_connections == 0:
            all_closed.set_result(None)

    server._stream_closed_hook = on_close
    made: list[BareConnection] = []

    def make(*args: Any) -> BareConnection:
        made.append(BareConnection(*args))
        return made[-1]

    monkeypatch.setattr(tcpserver, "BareConnection", make)
    [listener] = bind_sockets(0, "127.0.0.1")
    port = listener.getsockname()[1]
    server.add_sockets([listener])
    try:
        clients = []
        for _ in range(2):
            client = harness.track(socket.socket())
            client.setblocking(False)
            await within(loop.sock_connect(client, ("127.0.0.1", port)))
            clients.append(client)
        for n, client in enumerate(clients):
            await loop.sock_sendall(client, b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
        assert await read_responses(clients[0], 1) == [b"GET /0 "]
        assert await read_responses(clients[1], 1) == [b"GET /1 "]
        assert server._open_connections == 2
        assert len(made) == 2 and all(bare.handed is None for bare in made)
        await loop.sock_sendall(
            clients[0], b"PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok"
        )
        assert await read_responses(clients[0], 1) == [b"PUT /p ok"]
        assert made[0].handed is not None and made[1].handed is None
        for client in clients:
            client.close()
        await within(all_closed)
    finally:
        server.stop()
        await server.close_all_connections()


class _BareServer(HTTPServer):
    """An HTTPServer whose plain connections start bare, telling the test
    what it made and which connections it reported over."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:
        super().initialize(*args, **kwargs)
        self._bare_first = True
        self.bares: list[BareConnection] = []
        self.handed: asyncio.Future[IOStream] = (
            asyncio.get_running_loop().create_future()
        )
        self.ended: list[object] = []
        self.ended_event = asyncio.Event()

    def _bare_started(self, bare: BareConnection) -> None:
        self.bares.append(bare)
        super()._bare_started(bare)

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        if not self.handed.done():
            self.handed.set_result(stream)
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        self.ended.append(server_conn)
        self.ended_event.set()
        super().on_close(server_conn)


@contextlib.asynccontextmanager
async def _serve_bare(**options: Any) -> AsyncIterator[tuple[_BareServer, int]]:
    server = _BareServer(_echo, **options)
    async with listening(server) as port:
        yield server, port


_connect = connect_to


async def _until(predicate: Any) -> None:
    # The server's loop is this loop: a few turns let the accept and its
    # transport run (bounded by within's safety net).
    async def turns() -> None:
        while not predicate():
            await asyncio.sleep(0)

    await within(turns())


async def test_a_silent_bare_connection_is_closed_by_the_idle_deadline(
    harness: Harness,
) -> None:
    # The wait deadline runs before any byte, with no stream: the server
    # closes the connection, reports it over once and tracks it no more.
    async with _serve_bare(idle_connection_timeout=0.2) as (server, port):
        client = await _connect(harness, port)
        closed = asyncio.get_running_loop().sock_recv(client, 100)
        assert await within(closed) == b""
        await within(server.ended_event.wait())
        [bare] = server.bares
        assert server.ended == [bare] and bare.handed is None
        assert server._connections == set()
        await _until(lambda: server._open_connections == 0)


async def test_the_wait_deadline_goes_on_from_the_accept_after_the_handover(
    harness: Harness,
) -> None:
    # The stream takes the bare connection's timer as it is: the deadline
    # still counts from the accept, not from the first byte.
    loop = asyncio.get_running_loop()
    async with _serve_bare(idle_connection_timeout=3600) as (server, port):
        client = await _connect(harness, port)
        await _until(lambda: len(server.bares) == 1)
        [bare] = server.bares
        watch = bare._http_head_timeout
        assert watch is not None and watch.deadline is not None
        deadline = watch.deadline
        await loop.sock_sendall(client, b"GET / HTTP/1.1\r\nHo")
        stream = await within(server.handed)
        assert stream._http_head_timeout is watch
        assert watch.stream is stream and watch.deadline == deadline
        assert bare._http_head_timeout is None
        assert server._connections and bare not in server._connections


@pytest.mark.parametrize("how", ["drain", "close_all_connections"])
async def test_a_bare_connection_is_one_of_the_servers_connections(
    harness: Harness, how: str
) -> None:
    # Idle before its first byte: a drain closes it at once (nothing cut),
    # and so does close_all_connections.
    loop = asyncio.get_running_loop()
    async with _serve_bare() as (server, port):
        client = await _connect(harness, port)
        await _until(lambda: len(server.bares) == 1)
        assert server._connections == {server.bares[0]}
        if how == "drain":
            server.stop()
            assert await within(server.drain(5)) == 0
        else:
            await within(server.close_all_connections())
        assert await within(loop.sock_recv(client, 100)) == b""
        await within(server.ended_event.wait())
        assert server.ended == server.bares
        await _until(lambda: server._open_connections == 0)


async def test_a_tcp_server_that_speaks_first_gets_its_stream_at_the_accept(
    harness: Harness,
) -> None:
    # Only a server whose protocol waits for the client (HTTPServer) may
    # start connections bare: a TCPServer that greets first would wait for
    # a byte its client never sends.
    class Greeter(tcpserver.TCPServer):
        _bare_first = True

        async def handle_stream(self, stream: IOStream, address: Any) -> None:
            await stream.write(b"hello\r\n")
            stream.close()

    server = Greeter()
    [listener] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([listener])
    try:
        client = await _connect(harness, listener.getsockname()[1])
        greeting = asyncio.get_running_loop().sock_recv(client, 100)
        assert await within(greeting) == b"hello\r\n"
    finally:
        server.stop()
