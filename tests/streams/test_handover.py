"""A connection handed over to an IOStream while it is live.

A protocol that is not a stream may own an accepted connection's transport
first, then hand it, with the bytes it received and did not consume, to an
:class:`~tornado_compat.iostream.IOStream` (``IOStream(sock,
_take_over=transport, _received=bytes)``).  These tests check that no byte
is lost or reordered across the handover, that an end of file or a reset
met around it reaches the stream as it would have, and that the stream is
then an ordinary one: its writes, close and close callback.

The previous owner here is :class:`Owner`, a minimal protocol with the
interface the loops' transports call; the transport is the one the stream
itself would have used (ours on the selector loop, uvloop's on uvloop).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest
from tornado.ioloop import IOLoop

from tests.streams.support import (
    CloseWatch,
    Harness,
    new_event_loop,
    raw_tcp_pair,
    within,
)
from tornado_compat._transport import _LoopTransport, _StreamProtocol
from tornado_compat.iostream import IOStream, StreamClosedError, _uses_loop_transport


class Owner:
    """A transport's first owner, standing where a stream would: the
    streams' own protocol class hands it the transport's events.  It keeps
    what it receives, and can hand the transport over on its end of file
    (as a server protocol would)."""

    read_chunk_size = 64 * 1024

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.protocol = _StreamProtocol(self)  # type: ignore[arg-type]
        self.transport: Any = None
        self.received = bytearray()
        self.arrived: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[Exception | None] = loop.create_future()
        self.on_eof: Any = None

    def _attach_transport(self, transport: Any) -> None:
        self.transport = transport

    def _on_data(self, data: bytes) -> None:
        self.received += data
        if not self.arrived.done():
            self.arrived.set_result(None)

    def _on_eof(self) -> None:
        if self.on_eof is not None:
            self.on_eof()

    def _on_connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)

    def _on_write_drained(self) -> None:
        pass

    def hand_over(self, sock: socket.socket, consumed: int = 0) -> IOStream:
        rest = bytes(self.received[consumed:])
        self.received.clear()
        return IOStream(sock, _take_over=self.transport, _received=rest)


async def _connected(harness: Harness) -> tuple[socket.socket, socket.socket, Owner]:
    """A client socket, the accepted socket and the Owner of its transport."""
    loop = asyncio.get_running_loop()
    client, accepted = await raw_tcp_pair(harness)
    owner = Owner()
    if _uses_loop_transport(IOLoop.current()):
        _LoopTransport(IOLoop.current(), accepted, owner.protocol)
    else:
        await within(loop.connect_accepted_socket(lambda: owner.protocol, accepted))  # type: ignore[arg-type,return-value]
    assert owner.transport is not None
    return client, accepted, owner


async def _handed_over(
    harness: Harness, data: bytes
) -> tuple[socket.socket, IOStream, Owner]:
    """A connection whose Owner received ``data``, then handed it over."""
    client, accepted, owner = await _connected(harness)
    await asyncio.get_running_loop().sock_sendall(client, data)
    await within(owner.arrived)
    return client, harness.track(owner.hand_over(accepted)), owner


async def test_bytes_before_and_after_the_handover_are_read_in_order(
    harness: Harness,
) -> None:
    loop = asyncio.get_running_loop()
    client, accepted, owner = await _connected(harness)
    await loop.sock_sendall(client, b"GET / HTTP/1.1\r\n\r\nrest-of-it")
    await within(owner.arrived)
    # The owner consumed the head; the rest is the stream's, first.
    stream = harness.track(owner.hand_over(accepted, consumed=18))
    # These are in the kernel before the loop turns again: they arrive
    # through the stream's protocol, after the handed-over bytes.
    client.send(b"+more")
    assert await within(stream.read_bytes(15)) == b"rest-of-it+more"
    await loop.sock_sendall(client, b"later\n")
    assert await within(stream.read_until(b"\n")) == b"later\n"
    assert owner.received == b""


async def test_the_handed_over_bytes_alone_satisfy_a_read(harness: Harness) -> None:
    _, stream, _ = await _handed_over(harness, b"line one\nline two\n")
    assert await within(stream.read_until(b"\n")) == b"line one\n"
    assert await within(stream.read_until(b"\n")) == b"line two\n"


async def test_a_handover_that_fills_a_chunk_pauses_and_resumes(
    harness: Harness,
) -> None:
    loop = asyncio.get_running_loop()
    client, accepted, owner = await _connected(harness)
    await loop.sock_sendall(client, b"x" * 10)
    await within(owner.arrived)
    stream = IOStream(
        accepted,
        read_chunk_size=4,
        _take_over=owner.transport,
        _received=bytes(owner.received),
    )
    harness.track(stream)
    await loop.sock_sendall(client, b"y" * 10)
    assert await within(stream.read_bytes(20)) == b"x" * 10 + b"y" * 10


async def test_end_of_file_met_at_the_handover(harness: Harness) -> None:
    # The owner meets the peer's end of file while it holds unconsumed
    # bytes: it hands over there, and the stream reads them, then sees the
    # end of file.
    client, accepted, owner = await _connected(harness)
    handed: asyncio.Future[IOStream] = asyncio.get_running_loop().create_future()

    def on_eof() -> None:
        stream = harness.track(owner.hand_over(accepted))
        handed.set_result(stream)
        stream._protocol.eof_received()

    owner.on_eof = on_eof
    client.sendall(b"partial request")
    client.shutdown(socket.SHUT_WR)
    stream = await within(handed)
    assert await within(stream.read_until_close()) == b"partial request"
    assert stream.closed()


async def test_a_transport_closed_before_the_handover(harness: Harness) -> None:
    # The connection ended before the handover: the stream is closed, its
    # close callback runs, and the handed-over bytes can still be read.
    client, accepted, owner = await _connected(harness)
    client.sendall(b"last words")
    client.shutdown(socket.SHUT_WR)
    await within(owner.lost)
    assert owner.transport.is_closing()
    stream = harness.track(owner.hand_over(accepted))
    assert stream.closed()
    assert await within(stream.read_until_close()) == b"last words"
    with pytest.raises(StreamClosedError):
        await within(stream.write(b"answer"))


async def test_a_reset_after_the_handover_closes_the_stream_with_it(
    harness: Harness,
) -> None:
    client, stream, _ = await _handed_over(harness, b"abc")
    watch = CloseWatch(stream)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()
    # What was handed over is still read; then the reset shows.
    assert await within(stream.read_bytes(3)) == b"abc"
    with pytest.raises(StreamClosedError):
        await within(stream.read_bytes(1))
    await watch.wait()
    assert watch.calls == 1
    assert isinstance(stream.error, ConnectionResetError)


async def test_the_adopted_stream_writes_and_closes_as_any(harness: Harness) -> None:
    loop = asyncio.get_running_loop()
    client, stream, owner = await _handed_over(harness, b"ping")
    watch = CloseWatch(stream)
    assert await within(stream.read_bytes(4)) == b"ping"
    big = b"z" * (4 * 1024 * 1024)
    written = stream.write(b"pong" + big)
    received = bytearray()
    while len(received) < 4 + len(big):
        received += await within(loop.sock_recv(client, 1 << 20))
    await within(written)
    assert received[:4] == b"pong" and len(received) == 4 + len(big)
    stream.close()
    assert await within(loop.sock_recv(client, 10)) == b""
    await watch.wait()
    assert watch.calls == 1
    # The owner is told nothing: the connection is no longer its own.
    assert not owner.lost.done()


def test_ioloop_close_all_fds_closes_an_adopted_stream_socket() -> None:
    # On the selector loop, IOLoop.close(all_fds=True) closes the sockets
    # of streams still open; an adopted stream's among them.
    loop = new_event_loop("asyncio")
    asyncio.set_event_loop(loop)
    harness = Harness("asyncio")
    accepted: list[socket.socket] = []

    async def main() -> None:
        IOLoop.current()
        client, sock, owner = await _connected(harness)
        owner.hand_over(sock)
        accepted.append(sock)
        accepted.append(socket.socket(fileno=_dup_connected(harness, loop)))
        IOStream(accepted[1], _accepted=True)

    try:
        loop.run_until_complete(main())
        IOLoop.current().close(all_fds=True)
        assert [sock.fileno() for sock in accepted] == [-1, -1]
    finally:
        asyncio.set_event_loop(None)
        for sock in accepted:
            sock.close()
        for cleanup in harness._cleanups:
            cleanup()


def _dup_connected(harness: Harness, loop: asyncio.AbstractEventLoop) -> int:
    listener = harness.track(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client = harness.track(socket.socket())
    client.connect(listener.getsockname())
    accepted, _ = listener.accept()
    return accepted.detach()
