"""Buffer limits: each one enforced, with the error type and message Tornado
documents, on every kind of stream.

* ``max_buffer_size``: a read that cannot complete within it fails with
  ``StreamClosedError`` whose ``real_error`` is ``StreamBufferFullError``, and
  the stream closes.
* ``max_write_buffer_size``: ``write`` raises ``StreamBufferFullError`` and
  the stream stays usable.
* ``max_bytes`` of ``read_until`` / ``read_until_regex``: the read fails with
  ``real_error`` ``UnsatisfiableReadError``, logged at INFO, stream closed.

(``read_chunk_size`` is in ``test_contract``: reading pauses.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.streams.support import (
    BEYOND_KERNEL,
    CloseWatch,
    Harness,
    Pair,
    StreamKind,
    payload,
    read_all_partial,
    wait_drained,
    within,
)
from tornado_compat.iostream import (
    BaseIOStream,
    StreamBufferFullError,
    StreamClosedError,
    UnsatisfiableReadError,
)

LIMIT = 64 * 1024

ReadStarter = Callable[[BaseIOStream], Awaitable[Any]]

# Reads that need far more than LIMIT bytes buffered to complete.  (Not just
# a little more: one arrival may carry the buffer from below the limit to
# nearly twice it, and a read it completes gets its data, as in Tornado.)
OVERSIZED_READS: dict[str, ReadStarter] = {
    "bytes": lambda s: s.read_bytes(3 * LIMIT),
    "until": lambda s: s.read_until(b"\n"),
    "regex": lambda s: s.read_until_regex(rb"\n"),
    "until_close": lambda s: s.read_until_close(),
}


def _flood(pair: Pair, size: int, then_complete: bool) -> None:
    """Write ``size`` newline-free bytes on the left without waiting; with
    ``then_complete``, follow them with what completes every read above (a
    newline, then the close).  The right may give up and close first, which
    fails these writes (quietly)."""
    pair.left.write(payload(size, seed=20).replace(b"\n", b" "))
    if then_complete:
        # Close only once everything was sent: a close discards unsent data.
        sent = pair.left.write(b"\n")
        sent.add_done_callback(lambda _: pair.left.close())


@pytest.mark.parametrize("read", list(OVERSIZED_READS))
@pytest.mark.parametrize(
    "then_complete", [False, True], ids=["never-complete", "completed-late"]
)
async def test_read_that_cannot_fit_fails_with_buffer_full(
    harness: Harness,
    kind: StreamKind,
    read: str,
    then_complete: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pair = await kind.pair(harness, right={"max_buffer_size": LIMIT})
    future = OVERSIZED_READS[read](pair.right)
    _flood(pair, 4 * LIMIT, then_complete)
    with pytest.raises(StreamClosedError) as info:
        await within(future)
    error = info.value.real_error
    assert isinstance(error, StreamBufferFullError)
    assert str(error) == "Reached maximum read buffer size"
    assert pair.right.closed() and pair.right.error is error
    assert any(
        r.levelno == logging.WARNING and "maximum read buffer size" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("read", ["bytes", "until", "regex"])
async def test_read_completed_just_past_the_limit_fails(
    harness: Harness, kind: StreamKind, read: str
) -> None:
    limit = 100_000
    pair = await kind.pair(harness, right={"max_buffer_size": limit})
    future = {
        "bytes": lambda: pair.right.read_bytes(limit + 1),
        "until": lambda: pair.right.read_until(b"\n"),
        "regex": lambda: pair.right.read_until_regex(rb"\n"),
    }[read]()
    # Just under the limit first, all of it taken in by the stream...
    await within(pair.left.write(b"x" * (limit - 10)))
    await wait_drained(pair.right)
    assert not future.done()
    # ...then one small arrival that completes the read 1 byte past it.
    pair.left.write(b"y" * 10 + b"\n")
    with pytest.raises(StreamClosedError) as info:
        await within(future)
    assert isinstance(info.value.real_error, StreamBufferFullError)


async def test_small_buffer_carries_much_more_in_reads_that_fit(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness, right={"max_buffer_size": LIMIT})
    data = payload(2 * 1024 * 1024, seed=21)
    written = pair.left.write(data)
    got = await read_all_partial(pair.right, len(data), chunk=LIMIT // 4)
    await within(written)
    assert got == data
    assert not pair.right.closed()


async def test_read_of_exactly_the_limit_succeeds(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness, right={"max_buffer_size": LIMIT})
    data = payload(LIMIT + 10, seed=22)
    written = pair.left.write(data)
    assert await within(pair.right.read_bytes(LIMIT)) == data[:LIMIT]
    assert await within(pair.right.read_bytes(10)) == data[LIMIT:]
    await within(written)


async def test_read_until_close_of_exactly_the_limit_succeeds(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness, right={"max_buffer_size": LIMIT})
    data = payload(LIMIT, seed=23)
    read = pair.right.read_until_close()
    await within(pair.left.write(data))
    pair.left.close()
    assert await within(read) == data


# -- max_write_buffer_size ----------------------------------------------------------


async def test_write_beyond_the_write_limit_raises(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness, left={"max_write_buffer_size": LIMIT})
    with pytest.raises(StreamBufferFullError) as info:
        pair.left.write(b"x" * (LIMIT + 1))
    assert str(info.value) == "Reached maximum write buffer size"
    # The refused write sent nothing, and the stream is still usable.
    assert not pair.left.closed()
    await within(pair.left.write(b"after"))
    assert await within(pair.right.read_bytes(5)) == b"after"


async def test_write_of_exactly_the_write_limit_is_accepted(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness, left={"max_write_buffer_size": LIMIT})
    data = payload(LIMIT, seed=25)
    written = pair.left.write(data)
    assert await within(pair.right.read_bytes(LIMIT)) == data
    await within(written)


async def test_write_limit_stops_a_writer_whose_peer_does_not_read(
    harness: Harness, kind: StreamKind
) -> None:
    pair = await kind.pair(harness, left={"max_write_buffer_size": LIMIT})
    piece = payload(LIMIT // 4, seed=26)
    accepted = []
    with pytest.raises(StreamBufferFullError):
        # Bounded: the kernel holds a few MiB at most, then the limit bites.
        for _ in range(BEYOND_KERNEL // len(piece)):
            accepted.append(pair.left.write(piece))
    assert accepted and not accepted[-1].done()
    # Everything accepted arrives once the peer reads, and then writes are
    # accepted again.
    total = len(piece) * len(accepted)
    got = await read_all_partial(pair.right, total, chunk=1024 * 1024)
    assert got == piece * len(accepted)
    for future in accepted:
        await within(future)
    await within(pair.left.write(piece))
    assert await within(pair.right.read_bytes(len(piece))) == piece


# -- max_bytes of delimited reads --------------------------------------------------


DELIMITED_READS: dict[str, Callable[[BaseIOStream, int], Awaitable[bytes]]] = {
    "until": lambda s, n: s.read_until(b"\r\n", max_bytes=n),
    "regex": lambda s, n: s.read_until_regex(rb"\r\n", max_bytes=n),
}


def _unsatisfiable_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return any(
        r.levelno == logging.INFO and "Unsatisfiable read" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("read", list(DELIMITED_READS))
@pytest.mark.parametrize("data_first", [False, True], ids=["waiting", "buffered"])
@pytest.mark.parametrize(
    "data",
    [b"x" * 100, b"x" * 20 + b"\r\n"],
    ids=["no-delimiter", "delimiter-too-late"],
)
async def test_delimiter_not_within_max_bytes(
    harness: Harness,
    kind: StreamKind,
    read: str,
    data_first: bool,
    data: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    pair = await kind.pair(harness)
    watch = CloseWatch(pair.right)
    if data_first:
        await within(pair.left.write(b"<"))
        assert await within(pair.right.read_bytes(1)) == b"<"
        await within(pair.left.write(data))
        # Let it arrive: a read of one byte returns once it has.
        assert await within(pair.right.read_bytes(1)) == b"x"
        future = DELIMITED_READS[read](pair.right, 16)
    else:
        future = DELIMITED_READS[read](pair.right, 16)
        await within(pair.left.write(data))
    with pytest.raises(StreamClosedError) as info:
        await within(future)
    assert isinstance(info.value.real_error, UnsatisfiableReadError)
    assert "16" in str(info.value.real_error)
    await watch.wait()
    assert pair.right.closed()
    assert _unsatisfiable_logged(caplog)


@pytest.mark.parametrize("read", list(DELIMITED_READS))
async def test_delimiter_ending_exactly_at_max_bytes(
    harness: Harness, kind: StreamKind, read: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pair = await kind.pair(harness)
    message = b"x" * 14 + b"\r\n"
    await within(pair.left.write(message + b"next"))
    assert await within(DELIMITED_READS[read](pair.right, len(message))) == message
    assert await within(pair.right.read_bytes(4)) == b"next"
    assert not pair.right.closed()
    assert not _unsatisfiable_logged(caplog)
