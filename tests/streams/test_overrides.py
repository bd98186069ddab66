"""Python code that replaces a stream's methods is what runs.

The usual reads and writes of every stream are compiled
(``tornado_compat._transport.StreamCore``); they may skip the stream's
general methods only while those are the library's own.  A subclass, or a
method set on one instance, must still be called, as it would be on
Tornado's streams.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.streams.support import (
    PLAIN,
    Harness,
    StreamKind,
    raw_tcp_pair,
    warm_up,
    within,
)
from tornado_compat.iostream import IOStream, StreamClosedError


@pytest.mark.needs(PLAIN)
async def test_a_read_from_fd_set_on_the_instance_reads_for_a_waiting_read(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    await warm_up(pair)
    right: Any = pair.right
    own = right.read_from_fd
    calls = []

    def shouting_read_from_fd(buf: bytearray | memoryview) -> int | None:
        n = own(buf)
        calls.append(n)
        if n:
            buf[:n] = bytes(buf[:n]).upper()
        return n

    right.read_from_fd = shouting_read_from_fd
    # The read waits (nothing has been sent), then the bytes arrive.
    waiting = right.read_bytes(3)
    assert not waiting.done()
    await within(pair.left.write(b"abc"))
    assert await within(waiting) == b"ABC"
    # A read the buffer cannot answer while the kernel holds the bytes.
    await within(pair.left.write(b"def"))
    assert await within(right.read_bytes(3)) == b"DEF"
    assert any(calls)


async def test_a_subclass_write_runs_and_its_super_call_sends(
    harness: Harness,
) -> None:
    class Shouting(IOStream):
        written: list[bytes] = []

        def write(self, data: Any) -> Any:
            self.written.append(bytes(data))
            return super().write(bytes(data).upper())

    client, accepted = await raw_tcp_pair(harness)
    sender = harness.track(Shouting(accepted))
    receiver = harness.track(IOStream(client))
    for piece in (b"one", b"two"):
        await within(sender.write(piece))
    assert Shouting.written == [b"one", b"two"]
    assert await within(receiver.read_bytes(6)) == b"ONETWO"


async def test_a_subclass_read_bytes_runs_and_its_super_call_reads(
    harness: Harness,
) -> None:
    class Counting(IOStream):
        asked: list[int] = []

        def read_bytes(self, num_bytes: int, partial: bool = False) -> Any:
            self.asked.append(num_bytes)
            return super().read_bytes(num_bytes, partial)

    client, accepted = await raw_tcp_pair(harness)
    sender = harness.track(IOStream(client))
    receiver = harness.track(Counting(accepted))
    waiting = receiver.read_bytes(2)
    await within(sender.write(b"abcdef"))
    assert await within(waiting) == b"ab"
    assert await within(receiver.read_bytes(4)) == b"cdef"
    assert Counting.asked == [2, 4]


async def test_read_bytes_takes_any_true_value_as_partial(harness: Harness) -> None:
    # Tornado's read_bytes treats ``partial`` as a truth value.
    client, accepted = await raw_tcp_pair(harness)
    sender = harness.track(IOStream(client))
    receiver = harness.track(IOStream(accepted))
    waiting = receiver.read_bytes(10, partial=1)  # type: ignore[arg-type]
    await within(sender.write(b"abc"))
    assert await within(waiting) == b"abc"


@pytest.mark.needs(PLAIN)
async def test_a_read_after_the_socket_was_closed_under_the_stream_fails(
    harness: Harness, kind: StreamKind
) -> None:
    # The wait for a read asks the socket by its number.  Once the socket is
    # closed under the stream, that number may be another file's (the
    # lowest free descriptor is reused): the read must meet the closed
    # socket, not wait on an empty stranger.
    pair = await kind.pair(harness)
    await warm_up(pair)
    right: Any = pair.right
    waiting = right.read_bytes(2)  # waits: the stream asks its socket
    await within(pair.left.write(b"ab"))
    assert await within(waiting) == b"ab"
    number = right.socket.fileno()
    right.socket.close()
    stranger, other = socket.socketpair()
    harness.track(stranger)
    harness.track(other)
    if stranger.fileno() != number and other.fileno() != number:
        pytest.skip("the descriptor number was not reused")
    try:
        read = right.read_bytes(2)
    except (StreamClosedError, OSError):
        return
    with pytest.raises(StreamClosedError):
        await within(read)
