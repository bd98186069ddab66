"""The caller's buffers: what ``read_into`` and ``write`` accept, and that no
reference to them is kept once the operation has finished or failed.

A bytearray or an array with a live export cannot be resized (BufferError),
so resizing one is a direct check that the stream let go of it.
"""

from __future__ import annotations

import array

import pytest

from tests.streams.support import (
    BEYOND_KERNEL,
    Harness,
    StreamKind,
    payload,
    wait_drained,
    warm_up,
    within,
)
from tornado_compat.iostream import StreamClosedError


def assert_resizable(buf: bytearray | array.array) -> None:
    """Grow and shrink ``buf``; this raises BufferError while anyone still
    holds a view of it."""
    size = len(buf)
    if isinstance(buf, bytearray):
        buf.extend(b"more")
        del buf[size:]
    else:
        buf.append(0)
        buf.pop()


# -- read_into ------------------------------------------------------------------------


async def test_read_into_buffer_resizable_after_a_full_read(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    buf = bytearray(6)
    read = pair.right.read_into(buf)
    await within(pair.left.write(b"abc"))
    await within(pair.left.write(b"def"))
    assert await within(read) == 6
    assert_resizable(buf)
    assert buf == b"abcdef"


async def test_read_into_buffer_resizable_after_a_partial_read(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    buf = bytearray(100)
    read = pair.right.read_into(buf, partial=True)
    await within(pair.left.write(b"abc"))
    n = await within(read)
    assert_resizable(buf)
    assert 0 < n <= 3 and buf[:n] == b"abc"[:n]


async def test_read_into_buffer_resizable_when_served_from_the_buffer(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    await within(pair.left.write(b"0123456789"))
    assert await within(pair.right.read_bytes(2)) == b"01"
    await wait_drained(pair.right)
    buf = bytearray(3)
    assert await within(pair.right.read_into(buf)) == 3
    assert_resizable(buf)
    assert buf == b"234"


async def test_read_into_buffer_resizable_after_local_close(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    buf = bytearray(10)
    read = pair.right.read_into(buf)
    await within(pair.left.write(b"abc"))
    await wait_drained(pair.right)
    pair.right.close()
    with pytest.raises(StreamClosedError):
        await within(read)
    assert_resizable(buf)


async def test_read_into_buffer_resizable_after_peer_close(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    buf = bytearray(10)
    read = pair.right.read_into(buf)
    await within(pair.left.write(b"abc"))
    pair.left.close()
    with pytest.raises(StreamClosedError):
        await within(read)
    assert_resizable(buf)


async def test_read_into_buffer_resizable_when_the_read_is_refused(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    pending = pair.right.read_bytes(1)
    buf = bytearray(4)
    with pytest.raises(AssertionError):
        pair.right.read_into(buf)
    assert_resizable(buf)
    await within(pair.left.write(b"x"))
    assert await within(pending) == b"x"


async def test_read_into_a_slice_of_a_larger_buffer(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    backing = bytearray(b"." * 12)
    with memoryview(backing) as view:
        read = pair.right.read_into(view[4:8])
        await within(pair.left.write(b"WXYZtail"))
        assert await within(read) == 4
    assert backing == b"....WXYZ...."
    assert_resizable(backing)
    assert await within(pair.right.read_bytes(4)) == b"tail"


# -- write ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typecode, count",
    [("h", 10), ("i", 1000), ("d", 5000), ("Q", 100_000)],
    ids=["short-small", "int", "double-large", "uint64-larger"],
)
async def test_write_memoryview_with_wide_items(
    harness: Harness, kind: StreamKind, typecode: str, count: int
) -> None:
    pair = await kind.pair(harness)
    source = array.array(typecode, range(count))
    expected = source.tobytes()
    view = memoryview(source)
    assert view.itemsize > 1
    written = pair.left.write(view)
    got = await within(pair.right.read_bytes(len(expected)))
    await within(written)
    view.release()
    assert got == expected
    assert_resizable(source)


async def test_write_multidimensional_memoryview(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    source = array.array("i", range(12))
    with memoryview(source) as flat, flat.cast("B").cast("i", (3, 4)) as grid:
        written = pair.left.write(grid)
    assert await within(pair.right.read_bytes(48)) == source.tobytes()
    await within(written)
    assert_resizable(source)


async def test_written_buffer_may_change_once_its_future_resolved(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    data = bytearray(payload(256 * 1024, seed=30))
    original = bytes(data)
    written = pair.left.write(data)
    got = await within(pair.right.read_bytes(len(original)))
    await within(written)
    assert_resizable(data)
    data[:] = b"changed"
    await within(pair.left.write(b"!"))
    assert await within(pair.right.read_bytes(1)) == b"!"
    assert got == original


async def test_unsent_buffer_is_released_on_close(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    await warm_up(pair)
    big = array.array("b", bytes(BEYOND_KERNEL))
    written = pair.left.write(memoryview(big))
    assert not written.done()
    pair.left.close()
    with pytest.raises(StreamClosedError):
        await within(written)
    assert_resizable(big)


async def test_buffers_of_pending_writes_released_when_the_peer_goes(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness)
    big = array.array("b", bytes(BEYOND_KERNEL))
    written = pair.left.write(memoryview(big))
    assert not written.done()
    pair.right.close()
    with pytest.raises(StreamClosedError):
        await within(written)
    assert_resizable(big)
