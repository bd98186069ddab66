"""Non-blocking byte streams with Tornado's ``IOStream`` API, on asyncio transports.

What this module is for: :class:`IOStream` (TCP and unix sockets),
:class:`SSLIOStream` (TLS) and :class:`PipeIOStream` (pipes), with the read and
write methods of ``tornado.iostream`` 6.6, their futures, close semantics and
buffer limits.

How it is built.  All streams share one buffering core in
:class:`BaseIOStream`: a read buffer, the pending read, the write futures and
the close logic.  Bytes reach the core through one documented hook,
:meth:`BaseIOStream.read_from_fd`, and leave it through the stream's
*driver*:

* sockets use an asyncio transport and protocol.  The event loop (uvloop
  included) does the socket I/O and TLS; the protocol queues what it
  receives and the stream pulls it through ``read_from_fd``.  Writes go
  straight to ``transport.write``.
* pipes and user subclasses that implement ``fileno`` / ``read_from_fd`` /
  ``write_to_fd`` / ``close_fd`` (the subclass contract Tornado documents)
  use readiness callbacks on the IOLoop.

What it must never do: block; log a traceback at ERROR because a peer
misbehaved; keep a reference to a caller's buffer after the operation that
used it has finished or failed; read more than the limits allow without a
read that can use it.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import io
import numbers
import os
import re
import socket
import ssl
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from re import Pattern
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from tornado.concurrent import Future, future_set_result_unless_cancelled
from tornado.ioloop import IOLoop
from tornado.log import gen_log

from tornado_compat import _transport
from tornado_compat._transport import (
    _BYTES,
    _CLOSE,
    _DEFAULT_READ_CHUNK_SIZE,
    _INTO,
    _PEEK,
    _REGEX,
    _UNTIL,
    StreamCore,
    _LoopTransport,
    _PlainStreamProtocol,
    _StreamProtocol,
    deliver,
    keep_unread,
    receive,
    take_front,
)
from tornado_compat.netutil import ssl_options_to_context

if TYPE_CHECKING:
    from tornado.platform.asyncio import BaseAsyncIOLoop

__all__ = [
    "BaseIOStream",
    "IOStream",
    "SSLIOStream",
    "PipeIOStream",
    "StreamClosedError",
    "UnsatisfiableReadError",
    "StreamBufferFullError",
]

_DEFAULT_MAX_BUFFER_SIZE = 100 * 1024 * 1024

# Errors that mean "the peer went away", which Tornado treats as an ordinary
# close rather than something worth a log line.
_CONNRESET_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT")
    if hasattr(errno, name)
)

_ExcInfo = (
    bool
    | BaseException
    | tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
    | None
)


_scratch = threading.local()


def _scratch_buffer(size: int) -> bytearray:
    """A per-thread buffer that reads land in before they are copied out.

    Sharing one per thread keeps idle connections small (no per-stream read
    chunk) and avoids allocating a fresh chunk for every read.  Whoever fills
    it copies the bytes out before anything else can run on this thread.
    """
    buf: bytearray | None = getattr(_scratch, "buf", None)
    if buf is None or len(buf) < size:
        buf = _scratch.buf = bytearray(max(size, _DEFAULT_READ_CHUNK_SIZE))
    return buf


def _scratch_view(size: int) -> memoryview:
    """A view of the first ``size`` bytes of this thread's scratch buffer."""
    view: memoryview | None = getattr(_scratch, "view", None)
    if view is None or len(view) != size:
        view = _scratch.view = memoryview(_scratch_buffer(size))[:size]
    return view


class StreamClosedError(IOError):
    """Raised by a read or write on a stream that is closed.

    ``real_error`` holds the exception that closed the stream, when there was
    one (a reset, a TLS failure, a buffer overflow); it is ``None`` for an
    ordinary close.
    """

    def __init__(self, real_error: BaseException | None = None) -> None:
        super().__init__("Stream is closed")
        self.real_error = real_error


class UnsatisfiableReadError(Exception):
    """A read that can never complete within its limits.

    ``read_until`` and ``read_until_regex`` raise it (and close the stream)
    when the delimiter was not found within ``max_bytes``.
    """


class StreamBufferFullError(Exception):
    """Raised when a buffer limit (``max_buffer_size`` or
    ``max_write_buffer_size``) would be exceeded."""


class _StreamBuffer:
    """A FIFO of bytes that avoids copying large appends.

    Small appends are packed into shared ``bytearray`` blocks; an append
    larger than ``_large_buf_threshold`` is kept by reference as a
    memoryview, which is released as soon as it has been consumed so the
    caller may resize their object.  ``peek`` hands out a view that the
    caller must release before the buffer is modified.
    """

    # Every stream has one, idle or not: slots, and a __dict__ made only
    # if something sets another attribute (Tornado's tests set the
    # threshold).
    __slots__ = ("_buffers", "_size", "__dict__")

    def __init__(self) -> None:
        # Each entry is [block, offset]; block is a bytearray (small, ours)
        # or a memoryview of a caller's large object.  Made on first use: an
        # idle connection should not carry an empty deque's block.
        self._buffers: collections.deque[list[Any]] | None = None
        self._size = 0

    _large_buf_threshold = 2048

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes | bytearray | memoryview) -> None:
        size = len(data)
        if not size:
            return
        buffers = self._buffers
        if buffers is None:
            buffers = self._buffers = collections.deque()
        if size > self._large_buf_threshold:
            view = memoryview(data)
            if view.format != "B" or view.ndim != 1:
                view = view.cast("B")
            buffers.append([view, 0])
        else:
            last = buffers[-1] if buffers else None
            if (
                last is not None
                and isinstance(last[0], bytearray)
                and len(last[0]) < self._large_buf_threshold
            ):
                last[0] += data
            else:
                buffers.append([bytearray(data), 0])
        self._size += size

    def peek(self, size: int) -> memoryview:
        """A view of at most ``size`` leading bytes (empty when the buffer is)."""
        if not self._buffers:
            return memoryview(b"")
        block, offset = self._buffers[0]
        return memoryview(block)[offset : offset + size]

    def advance(self, size: int) -> None:
        """Drop ``size`` leading bytes."""
        if size > self._size:
            raise ValueError("cannot advance past the end of the buffer")
        self._size -= size
        buffers = self._buffers
        while size:
            assert buffers is not None
            entry = buffers[0]
            block, offset = entry
            left = len(block) - offset
            if size < left:
                entry[1] = offset + size
                return
            size -= left
            buffers.popleft()
            if isinstance(block, memoryview):
                block.release()

    def clear(self) -> None:
        if self._buffers is None:
            return
        for block, _ in self._buffers:
            if isinstance(block, memoryview):
                block.release()
        self._buffers.clear()
        self._size = 0


# The empty write buffer every stream starts with; never appended to (see
# BaseIOStream._staging), so that an idle stream owns no buffer object.
_NO_DATA = _StreamBuffer()

# Reads whose result is taken from the read buffer (so bounded by it).
_BUFFERED_KINDS = (_BYTES, _UNTIL, _REGEX)


class BaseIOStream(StreamCore):
    """The buffering core shared by every stream.

    Reads (``read_until``, ``read_until_regex``, ``read_bytes``,
    ``read_into``, ``read_until_close``) and ``write`` return futures.  At
    most one read may be pending at a time; writes queue in order and each
    write's future resolves once its bytes have been handed to the operating
    system.  When the stream closes, every outstanding future fails with
    :class:`StreamClosedError` and the close callback runs; a read that the
    buffered data can still satisfy succeeds even after the close.

    A subclass over a file descriptor provides the descriptor
    (``fileno``), its reads (``read_from_fd``), writes (``write_to_fd``) and
    close (``close_fd``), and may report a pending error (``get_fd_error``);
    the stream then drives them from the IOLoop's readiness callbacks.

    Limits: ``max_buffer_size`` (default 100 MiB) bounds the data a pending
    read may need buffered; a read that cannot complete within it fails with
    :class:`StreamBufferFullError` and closes the stream.  While no read is
    waiting for data, the stream stops reading once ``read_chunk_size``
    (default 64 KiB, at most half of ``max_buffer_size``) bytes are
    buffered.  ``max_write_buffer_size`` (default unlimited) bounds unsent
    data; ``write`` raises :class:`StreamBufferFullError` beyond it.
    """

    # Slots keep a stream small (a server may hold many thousands of idle
    # ones); __dict__ is kept for subclasses and callers that add attributes.
    # (The state of every read and write is in StreamCore's slots.)
    __slots__ = (
        "io_loop",
        "max_buffer_size",
        "max_write_buffer_size",
        "error",
        "_read_delimiter",
        "_read_regex",
        "_read_max_bytes",
        "_into_view",
        "_into_filled",
        "_write_buffer",
        "_close_callback",
        "_connect_future",
        "_ssl_connect_future",
        "_connecting",
        "_fd_state",
        "_http_head_timeout",
        "_close_hook",
        "__dict__",
        "__weakref__",
    )

    def __init__(
        self,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
        max_write_buffer_size: int | None = None,
    ) -> None:
        # Every IOLoop runs on an asyncio loop, which the stream's futures
        # are made for by name: a future that looks up the running loop
        # itself costs a getpid() system call each time (asyncio's fork
        # check).
        self.io_loop: BaseAsyncIOLoop = IOLoop.current()  # type: ignore[assignment]
        self.max_buffer_size = max_buffer_size or _DEFAULT_MAX_BUFFER_SIZE
        super().__init__(
            self.io_loop.asyncio_loop,
            min(read_chunk_size or _DEFAULT_READ_CHUNK_SIZE, self.max_buffer_size // 2),
        )
        self.max_write_buffer_size = max_write_buffer_size
        self.error: BaseException | None = None
        self._read_delimiter = b""
        self._read_regex: Pattern[bytes] | None = None
        self._read_max_bytes: int | None = None
        self._into_view: memoryview | None = None
        self._into_filled = 0
        # Unsent data that the driver has not taken yet (for sockets: written
        # before the transport exists).
        # Shared and empty until a write has to wait in it (socket streams
        # send through their transport, and hardly ever stage anything).
        self._write_buffer: _StreamBuffer = _NO_DATA
        self._close_callback: Callable[[], None] | None = None
        self._connect_future: Future | None = None
        self._ssl_connect_future: Future | None = None
        self._connecting = False
        self._fd_state = 0  # IOLoop interest for the fd driver
        # Kept here for the HTTP layer (its header timeout watch).
        self._http_head_timeout: Any = None
        # Set by the TCP server that accepted the connection, which counts
        # open connections: called once, at once, when the stream closes.
        # set_close_callback is the application's, so the server cannot use it.
        self._close_hook: Callable[[], None] | None = None

    # -- the subclass contract ------------------------------------------------

    def fileno(self) -> Any:
        """The file descriptor (or object with ``fileno()``) of this stream."""
        raise NotImplementedError()

    def close_fd(self) -> None:
        """Close the underlying file.  Called once, by :meth:`close`."""
        raise NotImplementedError()

    def write_to_fd(self, data: memoryview) -> int:
        """Write what the file accepts of ``data`` without blocking; return
        the number of bytes written."""
        raise NotImplementedError()

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        """Read up to ``len(buf)`` bytes into ``buf`` without blocking.

        Returns the number of bytes read, ``None`` when nothing is available
        yet, and 0 at end of file.
        """
        raise NotImplementedError()

    def get_fd_error(self) -> Exception | None:
        """The pending error on the file, if the platform can tell."""
        return None

    # -- reads ----------------------------------------------------------------

    def read_until_regex(
        self, regex: bytes, max_bytes: int | None = None
    ) -> Awaitable[bytes]:
        """Read until ``regex`` matches; the result ends with the match.

        With ``max_bytes``, the stream is closed if the match does not end
        within that many bytes.
        """
        future = self._start_read()
        self._read_kind = _REGEX
        self._read_regex = re.compile(regex)
        self._read_max_bytes = max_bytes
        self._start_delimited_read(future)
        return future

    def read_until(
        self, delimiter: bytes, max_bytes: int | None = None
    ) -> Awaitable[bytes]:
        """Read until ``delimiter``; the result includes it.

        With ``max_bytes``, the stream is closed if the delimiter does not end
        within that many bytes.
        """
        future = self._start_read()
        self._read_kind = _UNTIL
        self._read_delimiter = delimiter
        self._read_max_bytes = max_bytes
        self._start_delimited_read(future)
        return future

    def _read_bytes_general(self, num_bytes: Any, partial: Any) -> Awaitable[bytes]:
        """``read_bytes`` when the buffer cannot answer it at once and the
        read cannot simply wait for the transport (see StreamCore.read_bytes,
        which tries those first)."""
        if partial and num_bytes > 0 and not self._read_buffer:
            data = self._receive_now(int(num_bytes))
            if data:
                # Straight from the source into the result: no buffer copy.
                done: Future[bytes] = Future(loop=self.io_loop.asyncio_loop)
                done.set_result(data)
                return done
        future = self._start_read()
        assert isinstance(num_bytes, numbers.Integral)
        self._read_kind = _BYTES
        self._read_num = int(num_bytes)
        self._read_partial = bool(partial)
        self._start_plain_read(future)
        return future

    def _receive_now(self, size: int) -> bytes | None:
        """Up to ``size`` bytes that the source has at once, taken without
        the buffer; None where that cannot be done (the general path then
        reads, buffers and reports errors)."""
        return None

    def read_into(self, buf: bytearray, partial: bool = False) -> Awaitable[int]:
        """Read into the writable buffer ``buf``; resolve with the count.

        Buffered bytes are copied into ``buf`` at once.  Without ``partial``
        the future resolves when ``buf`` is full; with it, as soon as any
        bytes were read.  No view of ``buf`` is kept after the read ends.
        """
        future = self._start_read()
        view = memoryview(buf)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        self._read_kind = _INTO
        self._read_num = len(view)
        self._read_partial = partial
        self._into_view = view
        self._into_filled = 0
        self._fill_into()
        self._start_plain_read(future)
        return future

    def read_until_close(self) -> Awaitable[bytes]:
        """Read everything until the stream closes.

        Everything is buffered, up to ``max_buffer_size``; for large or
        unbounded data use ``read_bytes(n, partial=True)`` in a loop instead.
        A close caused by an error (other than a reset) fails the read rather
        than returning what was buffered, which would look complete.
        """
        future = self._start_read()
        self._read_kind = _CLOSE
        if self.closed():
            self._complete_read(len(self._read_buffer))
            return future
        self._start_plain_read(future)
        return future

    def _wait_for_bytes(self, num_bytes: int) -> Future:
        """Resolve (with None) once ``num_bytes`` are buffered, consuming
        nothing.

        Internal, for the HTTP layer, which parses straight from
        ``_read_buffer`` and takes what it parsed with ``_consume``; it fails
        like any read when the stream closes first.  Unlike the public reads
        it never reads the socket itself: it leaves that to the transport.
        """
        future = self._start_read()
        self._read_kind = _PEEK
        self._read_num = num_bytes
        if self._read_ready():
            return future
        if self._closed:
            self._abandon_read(future)
            raise StreamClosedError(real_error=self.error)
        # No speculative read of the socket here: the HTTP layer calls this
        # when the buffer is exhausted, and the transport delivers what
        # arrives; a read would almost always come back empty.
        self._want_data()
        return future

    def _notify_when_readable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, when data arrives in the buffer or the
        stream closes.

        Internal, for the HTTP server: a connection waiting between requests
        is then just this callback, with no pending read (and no future or
        task) to hold, and the next request is handled straight from the
        read event.  The caller checks the buffer first; on close the call
        is made on the IOLoop, not inside ``close()``.
        """
        self._readable_callback = callback
        if self._closed:
            self._readable_callback = None
            self.io_loop.add_callback(callback)
        else:
            self._want_data()

    def _start_read(self) -> Future:
        if self._read_future is not None:
            # A read left behind by a close is reported as the close.
            self._check_closed()
            raise AssertionError("Already reading")
        future: Future = Future(loop=self.io_loop.asyncio_loop)
        self._read_future = future
        self._read_scan = 0
        return future

    def _start_delimited_read(self, future: Future) -> None:
        try:
            self._try_inline_read()
        except UnsatisfiableReadError as e:
            gen_log.info("Unsatisfiable read, closing connection: %s", e)
            self.close(exc_info=e)
        except BaseException:
            self._abandon_read(future)
            raise

    def _start_plain_read(self, future: Future) -> None:
        try:
            self._try_inline_read()
        except BaseException:
            self._abandon_read(future)
            raise

    def _abandon_read(self, future: Future) -> None:
        # The caller gets the exception instead of the future; mark the
        # future's outcome as seen so it is not reported as never retrieved.
        future.add_done_callback(lambda f: f.exception())
        if self._read_future is future and not self.closed():
            self._clear_read()
            self._read_future = None

    def _try_inline_read(self) -> None:
        """Complete the pending read from buffered data if possible, else by
        asking the source once; otherwise leave it waiting for data.

        A partial read that the buffer satisfies only in part first takes
        what the source already has, so it returns as much as is there.
        """
        if not self._read_partial or self._closed:
            if self._read_ready():
                return
        elif self._fully_buffered():
            self._read_ready()
            return
        self._check_closed()
        self._read_to_buffer_loop()
        if self._read_ready() or self.closed():
            return
        self._want_data()

    def _fully_buffered(self) -> bool:
        """Whether the pending partial read could take all it asked for."""
        if self._read_kind == _INTO:
            return self._into_filled >= self._read_num
        return len(self._read_buffer) >= self._read_num

    def _read_ready(self) -> bool:
        """Finish the pending read if the buffer satisfies it."""
        pos = self._find_read_pos()
        if pos is None:
            return False
        self._complete_read(pos)
        return True

    def _find_read_pos(self) -> int | None:
        """How many buffered bytes complete the pending read, or None."""
        if self._read_future is None:
            return None
        kind = self._read_kind
        buffered = len(self._read_buffer)
        if kind == _BYTES:
            if buffered >= self._read_num or (self._read_partial and buffered):
                return min(self._read_num, buffered)
            return None
        if kind == _UNTIL:
            delimiter = self._read_delimiter
            loc = self._read_buffer.find(delimiter, self._read_scan)
            if loc != -1:
                end = loc + len(delimiter)
                self._check_max_bytes(delimiter, end)
                return end
            self._read_scan = max(0, buffered - len(delimiter) + 1)
            self._check_max_bytes(delimiter, buffered)
            return None
        if kind == _REGEX:
            assert self._read_regex is not None
            if buffered:
                match = self._read_regex.search(self._read_buffer)
                if match is not None:
                    self._check_max_bytes(self._read_regex.pattern, match.end())
                    return match.end()
                self._check_max_bytes(self._read_regex.pattern, buffered)
            return None
        if kind == _INTO:
            filled = self._into_filled
            if filled >= self._read_num or (self._read_partial and filled):
                return filled
            return None
        if kind == _PEEK:
            return 0 if buffered >= self._read_num else None
        return None  # _CLOSE completes only on close

    def _check_max_bytes(self, delimiter: Any, size: int) -> None:
        if self._read_max_bytes is not None and size > self._read_max_bytes:
            raise UnsatisfiableReadError(
                "delimiter %r not found within %d bytes"
                % (delimiter, self._read_max_bytes)
            )

    def _needs_more(self) -> bool:
        """Whether the pending read can only progress with more data."""
        return self._read_future is not None and self._find_read_pos() is None

    def _fill_into(self) -> None:
        """Move buffered bytes into the caller's buffer of a read_into."""
        view = self._into_view
        if view is None or not self._read_buffer:
            return
        n = min(len(self._read_buffer), self._read_num - self._into_filled)
        if n:
            view[self._into_filled : self._into_filled + n] = self._read_buffer[:n]
            del self._read_buffer[:n]
            self._into_filled += n

    def _complete_read(self, size: int) -> None:
        future = self._read_future
        kind = self._read_kind
        if kind == _INTO:
            result: Any = size
            if self._into_view is not None:
                self._into_view.release()
                self._into_view = None
        elif kind == _PEEK:
            result = None
        else:
            result = self._consume(size)
        self._clear_read()
        self._read_future = None
        if future is not None:
            future_set_result_unless_cancelled(future, result)
        self._reading_done()

    def _clear_read(self) -> None:
        self._read_regex = None
        self._read_max_bytes = None
        self._read_partial = False
        if self._into_view is not None:
            self._into_view.release()
            self._into_view = None

    def _consume(self, size: int) -> bytes:
        return take_front(self._read_buffer, size)

    def _read_to_buffer_loop(self) -> None:
        """Pull what the source has into the buffer, through read_from_fd.

        Stops when the source has nothing more, the pending read is
        satisfied, or the buffer holds enough.  Raises what read_from_fd
        raises, after closing the stream.
        """
        while not self.closed():
            if self._read_kind == _INTO and self._read_future is not None:
                if self._into_filled >= self._read_num:
                    return
                got = self._read_chunk(into=True)
            else:
                got = self._read_chunk(into=False)
            if not got:
                return
            if self._read_future is None:
                if len(self._read_buffer) >= self.read_chunk_size:
                    return
            else:
                pos = self._find_read_pos()
                if pos is None:
                    self._check_buffer_limit()
                else:
                    if (
                        pos > self.max_buffer_size
                        and self._read_kind in _BUFFERED_KINDS
                    ):
                        # The data that completes the read took it past the
                        # limit: it needed more than may be buffered.
                        self._buffer_full()
                    return
            if not self._source_has_more():
                return

    def _read_chunk(self, into: bool) -> int:
        """One read_from_fd call; returns the byte count (0: nothing/EOF)."""
        try:
            if into:
                assert self._into_view is not None
                with self._into_view[self._into_filled :] as target:
                    n = self.read_from_fd(target)
                if n:
                    self._into_filled += n
            else:
                n = self._read_into_buffer_tail()
        except OSError as e:
            if self._is_connreset(e):
                # A reset is the peer's way of closing; not worth a log line.
                self.close(exc_info=e)
                return 0
            self.close(exc_info=e)
            raise
        if n is None:
            return 0
        if n == 0:
            self._on_end_of_file()
            return 0
        return n

    def _read_into_buffer_tail(self) -> int | None:
        size = self._chunk_hint()
        with memoryview(_scratch_buffer(size)) as view, view[:size] as target:
            n = self.read_from_fd(target)
            if n:
                self._read_buffer += target[:n]
        return n

    def _chunk_hint(self) -> int:
        """How many bytes to offer read_from_fd at once."""
        return self.read_chunk_size

    def _source_has_more(self) -> bool:
        """Whether another read_from_fd call may find data now."""
        return True

    def _on_end_of_file(self) -> None:
        self.close()

    def _drain_source(self) -> None:
        """On close: keep whatever the source already delivered."""

    def _check_buffer_limit(self) -> None:
        if len(self._read_buffer) >= self.max_buffer_size and (
            self._read_kind != _CLOSE or len(self._read_buffer) > self.max_buffer_size
        ):
            self._buffer_full()

    def _buffer_full(self) -> None:
        gen_log.warning("Reached maximum read buffer size")
        error = StreamBufferFullError("Reached maximum read buffer size")
        # The pending read fails even if the buffer now holds what it asked
        # for (close() would otherwise complete it from the buffer).
        future = self._read_future
        self._read_future = None
        self._clear_read()
        self.close(exc_info=error)
        if future is not None and not future.done():
            future.set_exception(StreamClosedError(real_error=error))
            future.exception()
        raise error

    def _handle_read(self) -> None:
        """Run when the source has data (or an error) for us."""
        try:
            self._read_to_buffer_loop()
            self._read_ready()
        except Exception as e:
            self._read_failed(e)
            return
        self._read_event_done()

    def _read_arrived(self) -> None:
        """Run when data for the pending read went straight into the buffer
        (see _transport.deliver, which completes the usual read_bytes
        itself): the same checks as _read_to_buffer_loop makes."""
        try:
            pos = self._find_read_pos()
            if pos is None:
                self._check_buffer_limit()
            elif pos > self.max_buffer_size and self._read_kind in _BUFFERED_KINDS:
                self._buffer_full()
            self._read_ready()
        except Exception as e:
            self._read_failed(e)
            return
        self._read_event_done()

    def _read_failed(self, e: Exception) -> None:
        if isinstance(e, UnsatisfiableReadError):
            gen_log.info("Unsatisfiable read, closing connection: %s", e)
        else:
            gen_log.warning("error on read: %s", e)
        self.close(exc_info=e)

    def _read_event_done(self) -> None:
        if not self._closed:
            if self._needs_more():
                self._want_data()
            else:
                self._reading_done()
        if self._read_future is None and self._read_buffer:
            self._fire_readable()

    def _fire_readable(self) -> None:
        """Data is buffered and no read is pending: run the readable
        callback, if one is waiting."""
        callback = self._readable_callback
        if callback is not None:
            self._readable_callback = None
            callback()

    # -- writes ---------------------------------------------------------------

    def _write_general(self, data: Any) -> Future[None]:
        """``write``, past StreamCore's direct path."""
        if self._closed:
            raise StreamClosedError(real_error=self.error)
        if data:
            if isinstance(data, memoryview) and (data.format != "B" or data.ndim != 1):
                data = data.cast("B")
            size = len(data)
            if (
                self.max_write_buffer_size is not None
                and self._unsent_bytes() + size > self.max_write_buffer_size
            ):
                raise StreamBufferFullError("Reached maximum write buffer size")
            self._total_write_index += size
        future: Future[None] = Future(loop=self.io_loop.asyncio_loop)
        futures = self._write_futures
        if not futures and data and not self._closed:
            # Nothing earlier is waiting: the usual case, where the data goes
            # straight out and the future is done at once.
            if self._send_whole(data):
                self._total_write_done_index = self._total_write_index
                future.set_result(None)
                return future
            return self._unfinished_write(future)
        # A future that fails is marked as retrieved where it fails
        # (_signal_closed), so no callback is needed on every write.
        if futures is None:
            futures = self._write_futures = collections.deque()
        futures.append((self._total_write_index, future))
        if data:
            self._send(data)
        self._writes_done_up_to(self._sent_index())
        return future

    def _unfinished_write(self, future: Future[None]) -> Future[None]:
        """``future``, for a write that was handed straight on (nothing
        earlier was waiting) but not all sent at once, or that closed the
        stream."""
        if self._closed:
            future.set_exception(StreamClosedError(real_error=self.error))
            future.exception()  # marked as retrieved, as in _signal_closed
            return future
        sent = self._sent_index()
        if sent >= self._total_write_index:
            self._total_write_done_index = sent
            future.set_result(None)
            return future
        self._write_futures = collections.deque([(self._total_write_index, future)])
        self._writes_done_up_to(sent)
        return future

    def _write_pair(
        self, first: bytes, second: bytes | bytearray | memoryview
    ) -> Future[None]:
        """``write(first + second)``; streams that can hand the two to the
        OS in one call without joining them (a large body after its head)
        do so."""
        return self.write(first + second)

    def _sent_index(self) -> int:
        """How many of the bytes ever written have been handed to the OS."""
        return self._total_write_done_index

    def _send_whole(self, data: bytes | bytearray | memoryview) -> bool:
        """_send, when no earlier write is waiting; whether every byte
        written so far has now been handed to the OS."""
        self._send(data)
        return not self._closed and self._sent_index() >= self._total_write_index

    def _writes_done_up_to(self, index: int) -> None:
        if index > self._total_write_done_index:
            self._total_write_done_index = index
        futures = self._write_futures
        while futures and futures[0][0] <= self._total_write_done_index:
            _, future = futures.popleft()
            future_set_result_unless_cancelled(future, None)
        if futures is not None and not futures:
            self._write_futures = None

    # -- close ----------------------------------------------------------------

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Run ``callback`` (on the IOLoop) once the stream is closed."""
        self._close_callback = callback
        if self._closed and callback is not None:
            self._close_callback = None
            self.io_loop.add_callback(callback)
        elif callback is not None:
            self._watch_for_close()

    def _watch_for_close(self) -> None:
        """An idle stream with a close callback must notice its peer close."""
        self._update_fd_state()

    def close(self, exc_info: _ExcInfo = False) -> None:
        """Close the stream; unsent data is discarded.

        ``exc_info`` records why: an exception, an ``exc_info`` tuple, or
        True for the exception being handled.  It becomes :attr:`error` and
        the ``real_error`` of the futures that fail.
        """
        if not self._closed:
            if exc_info:
                if isinstance(exc_info, tuple):
                    self.error = exc_info[1]
                elif isinstance(exc_info, BaseException):
                    self.error = exc_info
                else:
                    current = sys.exc_info()[1]
                    if current is not None:
                        self.error = current
            self._closed = True
            self._drain_source()
            if self._read_future is not None:
                if self._read_kind == _CLOSE:
                    if self.error is None or self._is_connreset(self.error):
                        self._complete_read(len(self._read_buffer))
                else:
                    try:
                        self._read_ready()
                    except UnsatisfiableReadError:
                        pass
            self._close_source()
            hook = self._close_hook
            if hook is not None:
                self._close_hook = None
                hook()
        self._signal_closed()

    def _signal_closed(self) -> None:
        futures: list[Future] = []
        if self._read_future is not None:
            futures.append(self._read_future)
            self._read_future = None
            self._clear_read()
        if self._write_futures is not None:
            futures.extend(f for _, f in self._write_futures)
            self._write_futures = None
        if self._connect_future is not None:
            futures.append(self._connect_future)
            self._connect_future = None
        for future in futures:
            if not future.done():
                future.set_exception(StreamClosedError(real_error=self.error))
            if not future.cancelled():
                future.exception()  # mark as retrieved
        ssl_future = self._ssl_connect_future
        if ssl_future is not None:
            self._ssl_connect_future = None
            if not ssl_future.done():
                # Callers of the TLS handshake want the TLS error itself.
                ssl_future.set_exception(self.error or StreamClosedError())
            if not ssl_future.cancelled():
                ssl_future.exception()
        for name in ("_close_callback", "_readable_callback"):
            callback = getattr(self, name)
            if callback is not None:
                setattr(self, name, None)
                self.io_loop.add_callback(callback)
        self._write_buffer.clear()

    def reading(self) -> bool:
        """True while a read is pending."""
        return self._read_future is not None

    def writing(self) -> bool:
        """True while written data has not all been sent (never once closed:
        close() discards what was not sent)."""
        return not self._closed and self._unsent_bytes() > 0

    def closed(self) -> bool:
        """True once the stream is closed."""
        return self._closed

    def set_nodelay(self, value: bool) -> None:
        """Ask for small writes to be sent at once (TCP_NODELAY).

        Only TCP streams do anything with it.
        """

    def _check_closed(self) -> None:
        if self._closed:
            raise StreamClosedError(real_error=self.error)

    def _is_connreset(self, exc: BaseException) -> bool:
        return (
            isinstance(exc, (ConnectionResetError, ConnectionAbortedError))
            or (isinstance(exc, OSError) and exc.errno in _CONNRESET_ERRNOS)
        ) and not isinstance(exc, ssl.SSLError)

    # -- the fd driver (pipes and user subclasses) -----------------------------
    #
    # Socket streams override these six methods with the transport driver.

    def _want_data(self) -> None:
        """The pending read needs more data than is buffered."""
        self._update_fd_state()

    def _reading_done(self) -> None:
        """No read is waiting for data any more."""
        if not self._closed:
            self._update_fd_state()

    def _unsent_bytes(self) -> int:
        return len(self._write_buffer)

    def _staging(self) -> _StreamBuffer:
        """The buffer of unsent data, to append to: the first append
        replaces the shared empty one (see _NO_DATA) with the stream's own."""
        buffer = self._write_buffer
        if buffer is _NO_DATA:
            buffer = self._write_buffer = _StreamBuffer()
        return buffer

    def _send(self, data: bytes | bytearray | memoryview) -> None:
        self._staging().append(data)
        if not self._connecting:
            self._handle_write()
            if not self._closed:
                self._update_fd_state()

    def _close_source(self) -> None:
        if self._fd_state:
            try:
                self.io_loop.remove_handler(self.fileno())
            except (OSError, ValueError):
                pass
            self._fd_state = 0
        self.close_fd()

    def _handle_write(self) -> None:
        buffer = self._write_buffer
        while len(buffer):
            try:
                with buffer.peek(len(buffer)) as view:
                    n = self.write_to_fd(view)
            except BlockingIOError:
                break
            except OSError as e:
                if not self._is_connreset(e):
                    gen_log.warning("Write error on %s: %s", self.fileno(), e)
                self.close(exc_info=e)
                return
            if not n:
                break
            buffer.advance(n)
            self._total_write_done_index += n
        self._writes_done_up_to(self._total_write_done_index)

    def _update_fd_state(self) -> None:
        if self._closed:
            return
        want = 0
        # Room to read ahead: no read is waiting and less than a chunk is
        # buffered (more would only grow the buffer while nobody reads).
        idle_room = (
            self._read_future is None and len(self._read_buffer) < self.read_chunk_size
        )
        if self._fd_readable() and (self._needs_more() or idle_room):
            want |= IOLoop.READ
        elif idle_room and self._close_callback is not None:
            # Watching a write end for the peer's close: the loop reports it
            # as readable, and reading then fails with EBADF, which
            # read_from_fd takes as the close.
            want |= IOLoop.READ
        if len(self._write_buffer) and not self._connecting:
            want |= IOLoop.WRITE
        if want == self._fd_state:
            return
        if not self._fd_state:
            self.io_loop.add_handler(self.fileno(), self._handle_fd_events, want)
        elif not want:
            self.io_loop.remove_handler(self.fileno())
        else:
            self.io_loop.update_handler(self.fileno(), want)
        self._fd_state = want

    def _fd_readable(self) -> bool:
        return True

    def _handle_fd_events(self, fd: Any, events: int) -> None:
        if self._closed:
            return
        if events & IOLoop.READ:
            self._handle_read()
        if self._closed:
            return
        if events & IOLoop.WRITE:
            self._handle_write()
        if self._closed:
            return
        if events & IOLoop.ERROR:
            self.close(exc_info=self.get_fd_error())
            return
        self._update_fd_state()


_S = TypeVar("_S", bound="IOStream")


def _uses_loop_transport(io_loop: IOLoop) -> bool:
    """Whether ``io_loop`` runs on asyncio's own selector loop."""
    return isinstance(getattr(io_loop, "asyncio_loop", None), asyncio.SelectorEventLoop)


class IOStream(BaseIOStream):
    """A stream over a connected (or connecting) socket.

    The socket may be connected already (say, accepted by a server), or not
    yet, in which case call :meth:`connect`.  The I/O runs on an asyncio
    transport of the current event loop.

    A read that the buffered data cannot satisfy first asks the socket once,
    as Tornado does, so that a socket broken under us fails the call at once
    instead of leaving it waiting.
    """

    __slots__ = (
        "socket",
        "_protocol",
        "_transport",
        "_incoming",
        "_incoming_offset",
        "_attach_task",
        "_connect_watch_fd",
        "_attaching",
    )

    def __init__(
        self,
        socket: socket.socket,
        *args: Any,
        _accepted: bool = False,
        _nodelay: bool = False,
        _take_over: Any = None,
        _received: bytes | bytearray = b"",
        **kwargs: Any,
    ) -> None:
        # _accepted and _nodelay are the TCP server's: the socket has just
        # been accepted (so it is connected, without asking the kernel), and
        # its listening socket had TCP_NODELAY on, which it inherited.
        # _take_over and _received are a connection's handover (see
        # _adopt_transport): the live transport of ``socket`` and what it
        # delivered that nobody has consumed.
        self.socket = socket
        if _take_over is None:
            # (A transport's socket is non-blocking already, and may be
            # closed by now.)
            self.socket.setblocking(False)
        super().__init__(*args, **kwargs)
        # Bytes received go to _on_data; where that is IOStream's own, the
        # protocol runs it without the call through the stream.
        self._protocol: _StreamProtocol = (
            _PlainStreamProtocol(self)
            if self.__class__._on_data is IOStream._on_data
            else _StreamProtocol(self)
        )
        self._transport: asyncio.Transport | None = None
        # Data received that read_from_fd has not taken yet (made when
        # needed).
        self._incoming: collections.deque[bytes] | None = None
        self._incoming_offset = 0
        self._attach_task: asyncio.Future | None = None
        self._connect_watch_fd: int | None = None
        # True while a transport is being built for a socket that is already
        # connected: writes may then go to the socket directly.
        self._attaching = False
        if _take_over is not None:
            self._adopt_transport(_take_over, _received)
        elif _accepted or self._is_connected():
            self._start_transport(_nodelay)

    def _adopt_transport(self, transport: Any, received: bytes | bytearray) -> None:
        """Become the owner of ``transport``, already made for this stream's
        socket and registered with its loop, as if it had been this stream's
        from the start: ``received`` (bytes it delivered to its previous
        protocol, unconsumed) is read first, then what arrives after.

        The previous protocol must no longer touch the transport.  A
        transport that is already closing has delivered all it will: the
        stream keeps ``received`` for reads and closes as at an end of file.
        """
        if received:
            self._read_buffer += received
        if transport.is_closing():
            self._on_connection_lost(None)
            return
        transport.set_protocol(self._protocol)
        # Whoever had it may have paused it; the stream pauses it again if
        # ``received`` already fills a chunk (_attach_transport).
        transport.resume_reading()
        self._attach_transport(transport)

    def _take_unsent_writes(self, unsent: int, futures: Iterable[Future[None]]) -> None:
        """Writes its previous owner made (see _adopt_transport), of which
        the transport still holds ``unsent`` bytes: ``futures`` resolve as
        this stream's own writes do, once the kernel has those bytes."""
        self._total_write_index += unsent
        queue = self._write_futures
        if queue is None:
            queue = self._write_futures = collections.deque()
        for future in futures:
            queue.append((self._total_write_index, future))

    def _reads_are_ours(self) -> bool:
        """Whether read_from_fd is this class's own (not a subclass's or an
        instance's): received bytes may then skip it, and _incoming."""
        return getattr(self.read_from_fd, "__func__", None) is _OWN_READ_FROM_FD

    def _is_connected(self) -> bool:
        try:
            self.socket.getpeername()
        except OSError:
            return False
        return True

    def _start_transport(self, nodelay: bool = False) -> None:
        if _uses_loop_transport(self.io_loop):
            _LoopTransport(self.io_loop, self.socket, self._protocol, nodelay)
            return
        loop = asyncio.get_event_loop()
        self._connecting = True
        self._attaching = True
        # The loop's own create_task: ensure_future would first check, in
        # Python, what it was given, for every connection.
        self._attach_task = loop.create_task(
            loop.connect_accepted_socket(lambda: self._protocol, self.socket)
        )
        self._attach_task.add_done_callback(self._on_attach_done)

    def _on_attach_done(self, task: asyncio.Future) -> None:
        self._attach_task = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not self._closed:
            self.close(exc_info=exc)

    # -- the subclass contract ------------------------------------------------

    def fileno(self) -> Any:
        return self.socket

    def close_fd(self) -> None:
        self.socket.close()

    def get_fd_error(self) -> Exception | None:
        code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return OSError(code, os.strerror(code)) if code else None

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        """Take bytes that the transport received; when it has none, try the
        socket itself once (it is non-blocking)."""
        if self._incoming_size:
            return self._take_incoming(buf)
        if self._incoming_eof:
            return 0
        return self._read_socket_directly(buf)

    def _receive_now(self, size: int) -> bytes | None:
        if (
            self._read_future is not None
            or self._closed
            or self._incoming_size
            or self._incoming_eof
            or self._transport is None
            or not self._reads_are_ours()
        ):
            return None
        try:
            data = self.socket.recv(size)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as e:
            # As a read through the buffer fails: the stream closes with the
            # error, which a reset leaves to the read to report.
            self._close_socket_quietly()
            self.close(exc_info=e)
            if self._is_connreset(e):
                return None
            raise
        # b"" (end of file) is left to the general path, which closes.
        return data or None

    def _read_socket_directly(self, buf: bytearray | memoryview) -> int | None:
        try:
            return self.socket.recv_into(buf, len(buf))
        except BlockingIOError:
            return None
        except OSError as e:
            # The transport would close the same socket again; make sure that
            # second close is a no-op even when the descriptor is gone.
            self._close_socket_quietly()
            raise e

    def _close_socket_quietly(self) -> None:
        try:
            self.socket.close()
        except OSError:
            pass

    def write_to_fd(self, data: memoryview) -> int:
        return self.socket.send(data)

    def _take_incoming(self, buf: bytearray | memoryview) -> int:
        room = len(buf)
        filled = 0
        incoming = self._incoming
        assert incoming is not None
        while incoming and filled < room:
            chunk = incoming[0]
            start = self._incoming_offset
            n = min(len(chunk) - start, room - filled)
            buf[filled : filled + n] = chunk[start : start + n]
            filled += n
            if start + n == len(chunk):
                incoming.popleft()
                self._incoming_offset = 0
            else:
                self._incoming_offset = start + n
        self._incoming_size -= filled
        return filled

    def _drain_incoming(self) -> None:
        """Move everything received into the read buffer (on close, so that
        reads the buffer can satisfy still succeed)."""
        incoming = self._incoming
        if self._incoming_size and incoming is not None:
            start = self._incoming_offset
            first = incoming.popleft()
            self._read_buffer += first[start:]
            for chunk in incoming:
                self._read_buffer += chunk
            incoming.clear()
            self._incoming_offset = 0
            self._incoming_size = 0

    def _chunk_hint(self) -> int:
        if self._incoming_size:
            return min(self._incoming_size, self.max_buffer_size)
        return self.read_chunk_size

    def _source_has_more(self) -> bool:
        return self._incoming_size > 0 or self._incoming_eof

    def _drain_source(self) -> None:
        self._drain_incoming()

    # -- the transport driver -------------------------------------------------

    def _attach_transport(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        # A write buffer limit of zero makes the transport report every
        # drain, which is when write futures resolve.
        transport.set_write_buffer_limits(high=0)
        if self._closed:
            transport.abort()
            return
        self._transport_ready()
        if isinstance(transport, _LoopTransport) and self.__class__ is IOStream:
            # Plain bytes, a transport of ours, and no subclass that might
            # change how they are sent: write may take its direct path.
            self._direct = transport

    def _write_general(self, data: Any) -> Future[None]:
        # Past StreamCore's direct path (our own transport): the usual write
        # of a server's response on the loop's own transport (uvloop's), for
        # a plain IOStream: bytes, nothing waiting before them.  What the
        # general path would do, in one call (_send_whole inline).
        transport = self._transport
        if (
            data.__class__ is not bytes
            or not data
            or self._write_futures
            or self._closed
            or self.max_write_buffer_size is not None
            or transport is None
            or self._connecting
            or self.__class__ is not IOStream
        ):
            return super()._write_general(data)
        self._total_write_index += len(data)
        transport.write(data)
        return self._settle_write(transport)

    def _transport_ready(self) -> None:
        """The connection is usable: finish connect, then send queued data."""
        self._connecting = False
        self._attaching = False
        future = self._connect_future
        self._connect_future = None
        if future is not None:
            future_set_result_unless_cancelled(future, self)
        self._flush_staged_writes()
        self._reading_done()

    def _flush_staged_writes(self) -> None:
        staged = self._write_buffer
        while len(staged) and not self._closed:
            with staged.peek(len(staged)) as view:
                data = view.tobytes()
            staged.advance(len(data))
            self._emit(data)
        self._writes_done_up_to(self._sent_index())

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        """Hand data to the transport (TLS encrypts it first)."""
        assert self._transport is not None
        self._transport.write(data)

    def _can_emit(self) -> bool:
        return self._transport is not None and not self._connecting

    def _send_whole(self, data: bytes | bytearray | memoryview) -> bool:
        # _send and _sent_index for a plain transport, folded into one call:
        # this runs for nearly every response a server writes.
        transport = self._transport
        if transport is None or self._connecting:
            return super()._send_whole(data)
        # (Nothing is staged in _write_buffer once the transport is ready.)
        transport.write(data)
        return (
            not self._closed
            and not transport.get_write_buffer_size()
            and not transport.is_closing()
        )

    def _write_pair(
        self, first: bytes, second: bytes | bytearray | memoryview
    ) -> Future[None]:
        transport = self._transport
        if (
            self._write_futures
            or self._closed
            or transport is None
            or self._connecting
            or self.max_write_buffer_size is not None
        ):
            return super()._write_pair(first, second)
        self._total_write_index += len(first) + len(second)
        # One gathering send (sendmsg, writev), instead of copying a large
        # body only to put its head in front of it.
        transport.writelines((first, second))
        return self._settle_write(transport)

    def _settle_write(self, transport: asyncio.WriteTransport) -> Future[None]:
        """The future of the write just handed to ``transport``: done if the
        transport passed all of it to the kernel, else left to the general
        path's marks."""
        future: Future[None] = Future(loop=self.io_loop.asyncio_loop)
        if (
            not self._closed
            and not transport.get_write_buffer_size()
            and not transport.is_closing()
        ):
            self._total_write_done_index = self._total_write_index
            future.set_result(None)
            return future
        return self._unfinished_write(future)

    def _unsent_bytes(self) -> int:
        return self._total_write_index - self._sent_index()

    def _sent_index(self) -> int:
        transport = self._transport
        if transport is None:
            if self._connecting:
                return self._total_write_index - len(self._write_buffer)
            return self._total_write_done_index
        if transport.is_closing():
            # A transport that failed mid-write has dropped its buffer;
            # nothing more will be sent, so no write may resolve now.
            return self._total_write_done_index
        return (
            self._total_write_index
            - len(self._write_buffer)
            - transport.get_write_buffer_size()
        )

    def _send(self, data: bytes | bytearray | memoryview) -> None:
        if self._can_emit():
            self._emit(data)
            return
        sent = 0
        if self._attaching and not len(self._write_buffer):
            # Like Tornado, a write on a connected socket is sent at once, so
            # that write() followed by close() still delivers it.
            sent = self._send_before_transport(data)
        if sent < len(data) and not self._closed:
            self._staging().append(memoryview(data)[sent:] if sent else data)

    def _send_before_transport(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return self.socket.send(data)
        except BlockingIOError:
            return 0
        except OSError as e:
            if not self._is_connreset(e):
                gen_log.warning("Write error on %s: %s", self._fd_or_none(), e)
            self.close(exc_info=e)
            return 0

    def _on_write_drained(self) -> None:
        self._writes_done_up_to(self._sent_index())

    def _on_data(self, data: bytes | memoryview) -> None:
        """The transport received ``data``, a view valid during this call."""
        receive(self, data)

    def _queue_incoming(self, chunk: bytes) -> None:
        incoming = self._incoming
        if incoming is None:
            incoming = self._incoming = collections.deque()
        incoming.append(chunk)
        self._incoming_size += len(chunk)

    def _on_eof(self) -> None:
        self._incoming_eof = True
        if not self._closed:
            self._handle_read()
            if not self._closed:
                self.close()

    def _on_connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._direct = None
        self._poller = None
        if self._closed:
            return
        # Nothing more can arrive; the socket itself may be closed already,
        # so it must not be read directly any more.
        self._incoming_eof = True
        if exc is not None:
            # Closing keeps what was received (reads it can satisfy still
            # succeed) and records why: reading first would replace the
            # reset with an end of file.
            self.close(exc_info=exc)
            return
        self._handle_read()
        if not self._closed:
            self.close()

    def _watch_for_close(self) -> None:
        # The transport reads whenever it is not paused; a paused stream
        # holds a full chunk and notices the close when that is read.
        pass

    def _want_data(self) -> None:
        if self._paused and self._transport is not None:
            self._paused = False
            self._transport.resume_reading()

    def _reading_done(self) -> None:
        if (
            not self._paused
            and not self._closed
            and self._transport is not None
            and len(self._read_buffer) + self._incoming_size >= self.read_chunk_size
        ):
            self._pause()

    def _pause(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._paused = True
            self._transport.pause_reading()

    def _close_source(self) -> None:
        if self._attach_task is not None:
            self._attach_task.cancel()
            self._attach_task = None
        self._close_connect_watch()
        self._poller = None
        transport = self._transport
        if transport is not None:
            # Unsent data is discarded, as close() promises; abort also
            # drops the transport's references to the caller's buffers.
            transport.abort()
        else:
            self._close_socket_quietly()

    # -- connecting -----------------------------------------------------------

    def connect(
        self: _S, address: Any, server_hostname: str | None = None
    ) -> Future[_S]:
        """Connect the socket to ``address``; resolve with this stream.

        Data may be written before the connection is made; it is sent once
        it is, and the connect future resolves before any write future.  If
        the connection fails the future fails with :class:`StreamClosedError`
        and :attr:`error` says why.  ``server_hostname`` is for
        :class:`SSLIOStream` (SNI and certificate checks); here it is ignored.
        """
        self._connecting = True
        future: Future[_S] = Future(loop=self.io_loop.asyncio_loop)
        self._connect_future = future
        try:
            self.socket.connect(address)
        except BlockingIOError:
            pass
        except OSError as e:
            # Some errors (a name that does not resolve, a refusal on some
            # platforms) come at once; they fail the future like late ones.
            self.close(exc_info=e)
            return future
        else:
            self._tcp_connected(server_hostname)
            return future
        fd = self.socket.fileno()
        self._connect_watch_fd = fd
        asyncio.get_event_loop().add_writer(
            fd, self._on_connect_ready, fd, server_hostname
        )
        return future

    def _fd_or_none(self) -> int | None:
        try:
            return self.socket.fileno()
        except OSError:
            return None

    def _on_connect_ready(self, fd: int, server_hostname: str | None) -> None:
        self._close_connect_watch()
        if self._closed:
            return
        error = self.get_fd_error()
        if error is not None:
            self.close(exc_info=error)
            return
        self._tcp_connected(server_hostname)

    def _close_connect_watch(self) -> None:
        fd = self._connect_watch_fd
        if fd is not None:
            self._connect_watch_fd = None
            asyncio.get_event_loop().remove_writer(fd)

    def _tcp_connected(self, server_hostname: str | None) -> None:
        """The TCP connection is up; put a transport on it."""
        if _uses_loop_transport(self.io_loop):
            _LoopTransport(self.io_loop, self.socket, self._protocol)
            return
        loop = asyncio.get_event_loop()
        task = loop.create_task(
            # (A protocol by its methods, not an asyncio.Protocol subclass.)
            loop.create_connection(  # type: ignore[type-var]
                lambda: self._protocol, sock=self.socket
            )
        )
        self._attach_task = task
        task.add_done_callback(self._on_attach_done)

    def start_tls(
        self,
        server_side: bool,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> Awaitable[SSLIOStream]:
        """Upgrade this connection to TLS; resolve with a new SSLIOStream.

        The stream must be idle: no pending read or write and nothing
        buffered.  This stream is unusable afterwards.  On the client side
        certificates are verified by default (pass ``ssl_options`` to change
        that).  Cancelling the future closes the connection.
        """
        if (
            self._read_future is not None
            or self._write_futures
            or self._connect_future is not None
            or self._closed
            or self._read_buffer
            or self._incoming_size
            or self._unsent_bytes()
            or self._transport is None
        ):
            raise ValueError("IOStream is not idle; cannot convert to SSL")
        if ssl_options is None:
            ssl_options = _client_context() if not server_side else {}
        transport = self._transport
        close_callback = self._close_callback
        close_hook = self._close_hook
        # This stream hands its connection over; it must not close it.
        self._transport = None
        self._close_callback = None
        self._close_hook = None
        self._closed = True
        new_stream = SSLIOStream(
            self.socket,
            ssl_options=ssl_options,
            server_side=server_side,
            server_hostname=server_hostname,
            max_buffer_size=self.max_buffer_size,
            read_chunk_size=self.read_chunk_size,
            max_write_buffer_size=self.max_write_buffer_size,
            _adopt=True,
        )
        future = new_stream.wait_for_handshake()
        new_stream._close_hook = close_hook
        if close_callback is not None:
            new_stream.set_close_callback(close_callback)

        def on_done(f: Future) -> None:
            if f.cancelled():
                new_stream.close()

        future.add_done_callback(on_done)
        transport.set_protocol(new_stream._protocol)  # type: ignore[arg-type]
        if self._paused:
            transport.resume_reading()
        new_stream._attach_transport(transport)
        return future

    def set_nodelay(self, value: bool) -> None:
        if self.socket.family in (socket.AF_INET, socket.AF_INET6) and not self._closed:
            try:
                self.socket.setsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0
                )
            except OSError as e:
                # The peer may already be gone; that is not our error.
                if e.errno != errno.EINVAL and not self._is_connreset(e):
                    raise


# IOStream's own read_from_fd, which received bytes may skip.
_OWN_READ_FROM_FD = IOStream.read_from_fd
_transport._OWN_READ_FROM_FD[0] = _OWN_READ_FROM_FD


def _client_context() -> ssl.SSLContext:
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


class _TLSSocket:
    """What ``SSLIOStream.socket`` is: the TCP socket, plus the TLS queries of
    an ``ssl.SSLSocket`` (``cipher``, ``getpeercert``, ``version``, ...)
    answered by the stream's TLS session once its handshake is done."""

    def __init__(self, raw: socket.socket, stream: SSLIOStream) -> None:
        self._raw = raw
        self._stream = stream

    def _ssl_object(self) -> ssl.SSLObject | None:
        stream = self._stream
        return stream._sslobj if stream._handshake_done else None

    def cipher(self) -> tuple[str, str, int] | None:
        obj = self._ssl_object()
        return obj.cipher() if obj is not None else None

    def version(self) -> str | None:
        obj = self._ssl_object()
        return obj.version() if obj is not None else None

    def selected_alpn_protocol(self) -> str | None:
        obj = self._ssl_object()
        return obj.selected_alpn_protocol() if obj is not None else None

    def getpeercert(self, binary_form: bool = False) -> Any:
        obj = self._ssl_object()
        if obj is None:
            raise ValueError("handshake not done yet")
        return obj.getpeercert(binary_form)

    @property
    def context(self) -> ssl.SSLContext:
        return self._stream._ssl_context

    @property
    def server_side(self) -> bool:
        return self._stream._server_side

    @property
    def server_hostname(self) -> str | None:
        return self._stream._server_hostname

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class SSLIOStream(IOStream):
    """A stream over TLS.

    Give it a plain socket and ``ssl_options`` (a dict for
    :func:`~tornado_compat.netutil.ssl_options_to_context`, or an
    ``ssl.SSLContext``), then :meth:`connect`; or a socket wrapped by
    ``SSLContext.wrap_socket(..., do_handshake_on_connect=False)``, as a
    server does for accepted connections, whose handshake starts at once.
    Reads and writes wait for the handshake.  A handshake failure is logged
    once as a warning ("SSL Error on ...") and closes the stream.

    TLS runs in the stream (an ``ssl.SSLObject`` over memory buffers) on the
    same plain transport an :class:`IOStream` uses, so the write futures see
    exactly what has reached the kernel and ``start_tls`` is a switch on the
    same connection.  :attr:`socket` answers ``cipher()``, ``getpeercert()``
    and the other TLS queries of ``ssl.SSLSocket``.
    """

    socket: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        options = kwargs.pop("ssl_options", None)
        server_side = kwargs.pop("server_side", None)
        server_hostname = kwargs.pop("server_hostname", None)
        adopt = kwargs.pop("_adopt", False)
        sock = args[0] if args else kwargs.pop("socket")
        args = args[1:]
        if isinstance(sock, ssl.SSLSocket):
            # Take the TLS settings from the wrapper, then run TLS ourselves
            # on the plain socket underneath it.
            if options is None:
                options = sock.context
            if server_side is None:
                server_side = sock.server_side
            if server_hostname is None:
                server_hostname = sock.server_hostname
            family, type_, proto = sock.family, sock.type, sock.proto
            fd = sock.detach()
            sock = socket.socket(family, type_, proto, fileno=fd)
        self._server_side = bool(server_side)
        if options is None:
            options = {} if self._server_side else _client_context()
        self._ssl_context = ssl_options_to_context(
            options, server_side=self._server_side
        )
        self._server_hostname = server_hostname
        self._handshake_done = False
        self._sslobj: ssl.SSLObject | None = None
        self._tls_in = ssl.MemoryBIO()
        self._tls_out = ssl.MemoryBIO()
        # Ciphertext handed to the transport, and (ciphertext end, plaintext
        # end) marks that translate what the kernel took into write progress.
        self._cipher_total = 0
        self._tls_marks: collections.deque[tuple[int, int]] = collections.deque()
        self._plain_emitted = 0
        self._plain_sent = 0
        self._raw_socket = sock
        self._adopting = adopt
        IOStream.__init__(self, sock, *args, **kwargs)
        self.socket = _TLSSocket(sock, self)

    def _is_connected(self) -> bool:
        # start_tls hands over a live transport instead.
        return not self._adopting and super()._is_connected()

    # -- the handshake ----------------------------------------------------------

    def _transport_ready(self) -> None:
        hostname = None if self._server_side else self._server_hostname
        try:
            self._sslobj = self._ssl_context.wrap_bio(
                self._tls_in,
                self._tls_out,
                server_side=self._server_side,
                server_hostname=hostname,
            )
        except (ssl.SSLError, ValueError) as e:
            self._handshake_failed(e)
            return
        self._do_handshake()

    def _do_handshake(self) -> None:
        assert self._sslobj is not None
        try:
            self._sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush_tls_out()
            return
        except (ssl.SSLError, ssl.CertificateError, OSError) as e:
            # Send the alert that tells the peer why, then give up.
            self._flush_tls_out()
            self._handshake_failed(e)
            return
        self._flush_tls_out()
        self._handshake_done = True
        self._connecting = False
        self._attaching = False
        for name in ("_connect_future", "_ssl_connect_future"):
            future = getattr(self, name)
            setattr(self, name, None)
            if future is not None:
                future_set_result_unless_cancelled(future, self)
        self._flush_staged_writes()
        self._decrypt_and_handle()

    def _handshake_failed(self, exc: BaseException) -> None:
        if isinstance(exc, ssl.SSLError) and not isinstance(
            exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)
        ):
            try:
                peer: Any = self._raw_socket.getpeername()
            except OSError:
                peer = "(not connected)"
            gen_log.warning("SSL Error on %s %s: %s", self._fd_or_none(), peer, exc)
        if not self._closed:
            self.close(exc_info=exc)

    def wait_for_handshake(self) -> Future[SSLIOStream]:
        """Resolve (with this stream) once the TLS handshake has completed.

        Reads and writes already wait for the handshake; this is for code
        that wants to see the peer's certificate first.  Only one caller may
        wait at a time (RuntimeError otherwise).  A failed handshake fails
        the future with the ``ssl.SSLError``.
        """
        if self._ssl_connect_future is not None:
            raise RuntimeError("Already waiting")
        future: Future[SSLIOStream] = Future(loop=self.io_loop.asyncio_loop)
        if self._handshake_done:
            future.set_result(self)
        elif self._closed:
            future.set_exception(self.error or StreamClosedError())
        else:
            self._ssl_connect_future = future
        return future

    def connect(
        self, address: Any, server_hostname: str | None = None
    ) -> Future[SSLIOStream]:
        """Connect and complete the TLS handshake; resolve with this stream.

        A handshake failure fails the future with the ``ssl.SSLError``; a
        failed TCP connect with the error that closed the stream.
        """
        if server_hostname is not None:
            self._server_hostname = server_hostname
        handshake = self.wait_for_handshake()
        plain = IOStream.connect(self, address, server_hostname)
        # The handshake's future is the one reported; the plain connect's
        # outcome is part of it.
        plain.add_done_callback(lambda f: None if f.cancelled() else f.exception())
        return handshake

    # -- data -------------------------------------------------------------------

    def _on_data(self, data: bytes | memoryview) -> None:
        if self._closed:
            return
        self._tls_in.write(data)
        if not self._handshake_done:
            if self._sslobj is not None:
                self._do_handshake()
            return
        self._decrypt_and_handle()

    def _decrypt_and_handle(self) -> None:
        # When nothing is queued and read_from_fd is this class's own, the
        # plaintext of the usual arrival (one record, read whole) goes
        # straight into the read buffer, as a plain stream's bytes do
        # (IOStream._on_data): the queue and the general read path would
        # only copy it there, through a dozen calls more.
        whole = (
            not self._incoming_size
            and not self._incoming_eof
            and getattr(self.read_from_fd, "__func__", None) is _OWN_TLS_READ_FROM_FD
            and (self._read_future is None or self._read_kind != _INTO)
        )
        try:
            data = self._decrypt(whole)
        except ssl.SSLError as e:
            gen_log.warning("error on read: %s", e)
            self.close(exc_info=e)
            return
        if data is not None:
            if self._read_future is None:
                keep_unread(self, data)
                return
            deliver(self, data)
            return
        if self._incoming_size or self._incoming_eof:
            self._handle_read()

    def _decrypt(self, whole: bool = False) -> bytes | None:
        """Move the plaintext of the received records into the queue.

        With ``whole``, plaintext that one read produced, leaving nothing
        behind, is returned instead of queued.
        """
        obj = self._sslobj
        if obj is None or not self._tls_in.pending:
            return None
        try:
            while True:
                chunk = obj.read(_DEFAULT_READ_CHUNK_SIZE)
                if not chunk:
                    self._incoming_eof = True
                    break
                # Without read-ahead (Python never turns it on), OpenSSL
                # leaves the records it has not begun in the BIO: with the
                # BIO empty and no plaintext left over, another read can
                # only fail, and a raised SSLWantReadError per read event
                # costs more than these two checks.
                if not self._tls_in.pending and not obj.pending():
                    if whole and not self._incoming_size and not self._tls_out.pending:
                        # (With records to send, the flush below may close
                        # the stream: the queue keeps the plaintext for it.)
                        return chunk
                    self._queue_incoming(chunk)
                    break
                self._queue_incoming(chunk)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            self._incoming_eof = True
        finally:
            # Reading can produce records to send (key updates).
            if self._tls_out.pending:
                self._flush_tls_out()
        return None

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        """Take decrypted bytes; when there are none, read the socket once and
        decrypt what it had."""
        if not self._incoming_size and not self._incoming_eof:
            if not self._handshake_done:
                return None
            try:
                data = self._raw_socket.recv(self.read_chunk_size)
            except BlockingIOError:
                return None
            except OSError:
                self._close_socket_quietly()
                raise
            if not data:
                self._incoming_eof = True
            else:
                self._tls_in.write(data)
                self._decrypt()
        if self._incoming_size:
            return self._take_incoming(buf)
        return 0 if self._incoming_eof else None

    def _close_socket_quietly(self) -> None:
        try:
            self._raw_socket.close()
        except OSError:
            pass

    def _can_emit(self) -> bool:
        return self._handshake_done and self._transport is not None

    # TLS counts what is sent in its own way (see _sent_index).
    _send_whole = BaseIOStream._send_whole
    _write_pair = BaseIOStream._write_pair

    def _send_before_transport(self, data: bytes | bytearray | memoryview) -> int:
        return 0  # plaintext waits for the handshake

    def _encrypt(self, data: bytes | bytearray | memoryview) -> None:
        """Hand all of ``data`` to OpenSSL, whose records wait in the
        outgoing BIO.  Without partial writes (Python never turns them on),
        SSL_write over a memory BIO takes it whole in one call."""
        obj = self._sslobj
        assert obj is not None
        size = len(data)
        if size:
            n = obj.write(data)
            if n != size:
                with memoryview(data) as view:
                    while n < size:
                        n += obj.write(view[n:])
        self._plain_emitted += size

    def _emit(self, data: bytes | bytearray | memoryview) -> None:
        self._encrypt(data)
        self._tls_marks.append(
            (self._cipher_total + self._tls_out.pending, self._plain_emitted)
        )
        self._flush_tls_out()

    def write(self, data: bytes | bytearray | memoryview) -> Future[None]:
        # BaseIOStream.write, for the usual write of a server's response:
        # bytes, nothing waiting before them, the handshake done, our own
        # transport, and no subclass that might change how they are sent.
        # The records go to the socket at once; when the kernel takes them
        # all, the write is done.  The general path makes nine calls more.
        # (_LoopTransport is no asyncio.Transport to the type checker.)
        transport: Any = self._transport
        if (
            transport.__class__ is not _LoopTransport
            or self._sslobj is None
            or data.__class__ is not bytes
            or not data
            or self._write_futures
            or self._closed
            or not self._handshake_done
            or self.max_write_buffer_size is not None
            or self.__class__ is not SSLIOStream
        ):
            return self._write_general(data)
        self._encrypt(data)
        self._total_write_index += len(data)
        records = self._tls_out.read()
        self._cipher_total += len(records)
        future: Future[None] = Future(loop=self.io_loop.asyncio_loop)
        if transport._send_all(records) and not self._closed:
            # Everything written so far has reached the kernel.
            self._tls_marks.clear()
            self._plain_sent = self._plain_emitted
            self._total_write_done_index = self._total_write_index
            future.set_result(None)
            return future
        self._tls_marks.append((self._cipher_total, self._plain_emitted))
        return self._unfinished_write(future)

    def _flush_tls_out(self) -> None:
        out = self._tls_out
        transport = self._transport
        if out.pending and transport is not None and not transport.is_closing():
            data = out.read()
            self._cipher_total += len(data)
            transport.write(data)

    def _send_close_notify(self) -> None:
        """End this side of the TLS session: close_notify goes out after
        what is already written, and reading goes on (the peer's data, then
        its own close_notify, which ends the stream as a close does).

        For a server that ends a connection while the peer may still send:
        a socket closed with data unread is reset, and the reset can destroy
        what the peer had not yet read.
        """
        obj = self._sslobj
        if obj is None or not self._handshake_done or self._closed:
            return
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass  # sent; the peer's close_notify has not come yet
        except (ssl.SSLError, OSError):
            return
        self._flush_tls_out()

    def _sent_index(self) -> int:
        transport = self._transport
        if transport is None or transport.is_closing():
            return self._total_write_done_index
        cipher_sent = self._cipher_total - transport.get_write_buffer_size()
        marks = self._tls_marks
        while marks and marks[0][0] <= cipher_sent:
            self._plain_sent = marks.popleft()[1]
        return self._plain_sent

    def write_to_fd(self, data: memoryview) -> int:
        if not self._can_emit():
            return 0
        self._emit(data)
        return len(data)

    def _is_connreset(self, exc: BaseException) -> bool:
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return True
        return super()._is_connreset(exc)

    def _fd_or_none(self) -> int | None:
        try:
            return self._raw_socket.fileno()
        except OSError:
            return None

    def set_nodelay(self, value: bool) -> None:
        sock = self._raw_socket
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not self._closed:
            try:
                sock.setsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY, 1 if value else 0
                )
            except OSError as e:
                if e.errno != errno.EINVAL and not self._is_connreset(e):
                    raise


# SSLIOStream's own read_from_fd, which decrypted bytes may skip.
_OWN_TLS_READ_FROM_FD = SSLIOStream.read_from_fd


class PipeIOStream(BaseIOStream):
    """A stream over a pipe's file descriptor (either end).

    The descriptor is made non-blocking and closed with the stream.  This
    stream uses the fd driver: the IOLoop reports readiness and the stream
    calls ``read_from_fd`` / ``write_to_fd``.
    """

    def __init__(self, fd: int, *args: Any, **kwargs: Any) -> None:
        self.fd = fd
        self._fio = io.FileIO(self.fd, "r+", closefd=True)
        os.set_blocking(fd, False)
        super().__init__(*args, **kwargs)
        try:
            import fcntl

            mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        except (ImportError, OSError):  # pragma: no cover - non-POSIX
            mode = os.O_RDWR
        self._readable = mode in (os.O_RDONLY, os.O_RDWR)

    def fileno(self) -> int:
        return self.fd

    def close_fd(self) -> None:
        self._fio.close()

    def write_to_fd(self, data: memoryview) -> int:
        try:
            n = self._fio.write(data)
        except BlockingIOError:
            return 0
        return n or 0

    def read_from_fd(self, buf: bytearray | memoryview) -> int | None:
        try:
            return self._fio.readinto(buf)
        except OSError as e:
            if e.errno == errno.EBADF:
                # The other end is gone; treat it as the end of the data.
                self.close(exc_info=e)
                return None
            raise

    def _fd_readable(self) -> bool:
        return self._readable

    def _want_data(self) -> None:
        self._update_fd_state()


def doctests() -> Any:
    import doctest

    return doctest.DocTestSuite()
