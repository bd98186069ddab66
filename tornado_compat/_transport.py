"""The socket transport and protocol of :mod:`tornado_compat.iostream`, the
streams' compiled core, and what a stream does with the bytes they
receive, compiled (setup.py).

What this module is for: :class:`_LoopTransport` (the socket transport on
asyncio's own selector loop), :class:`_StreamProtocol` (what hands a
transport's events to its stream), :class:`StreamCore` (the base class of
every stream: the state its reads and writes touch, and their usual
paths) and :func:`receive` (the stream's arrivals).  They run for every
receive of every connection and every small read and write of a stream,
and a server connection waiting between requests is woken from here:
compiled, the bytes reach the compiled HTTP connection with no Python
frame in between.  The stream classes
(:class:`~tornado_compat.iostream.BaseIOStream` and its subclasses) own
everything else: the general read and write paths, the close, the
callbacks.

What it must never do: keep a reference to received data after the call
that delivered it; decide anything a stream subclass may change (a subclass
with its own ``_on_data``, ``read_from_fd``, ``read_bytes`` or ``write``
gets its own methods called, and so does an instance given its own
``read_from_fd``); import :mod:`tornado_compat.iostream` (which imports
this module).
"""

from __future__ import annotations

import collections
import select
import socket
from asyncio import Future
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final

from tornado.ioloop import IOLoop

# The stream core stays open to the Python classes that extend it (every
# stream class) when this module is compiled.  Only mypyc reads the
# decorator, so it need not be installed to run.
try:
    from mypy_extensions import mypyc_attr
except ImportError:

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Any:  # type: ignore[misc]
        return lambda cls: cls


if TYPE_CHECKING:
    from tornado_compat.iostream import IOStream

_DEFAULT_READ_CHUNK_SIZE: Final = 64 * 1024
# Up to this size a read taken from the front of the buffer is copied out
# twice (slice, then bytes); beyond it, through a view (see take_front).
_SMALL_READ: Final = 4096

# Kinds of pending read.
_BYTES, _UNTIL, _REGEX, _CLOSE, _INTO, _PEEK = range(6)

# Not on every platform (Windows has no poll): the stream core then leaves
# the wait for a read to the general path.
_POLL: Final[Any] = getattr(select, "poll", None)
_POLLIN: Final[int] = getattr(select, "POLLIN", 1)


class _LoopTransport:
    """A socket transport for asyncio's own selector loop, registered with
    the IOLoop like any Tornado file descriptor.

    On that loop asyncio's stock transport is itself Python code over
    ``add_reader``; this one does the same work with the semantics Tornado
    users rely on: ``abort`` frees the socket at once (not one loop turn
    later), and ``IOLoop.close(all_fds=True)`` closes the sockets of streams
    that are still open.  It hands received bytes straight to the stream.
    On other loops (uvloop) the loop's own transports are used instead.
    It implements the part of ``asyncio.Transport`` that the streams use.
    """

    __slots__ = (
        "_io_loop",
        "_sock",
        "_fileno",
        "_protocol",
        "_buffer",
        "_buffer_size",
        "_high_water",
        "_closing",
        "_reading",
        "_events",
    )

    def __init__(
        self,
        io_loop: IOLoop,
        sock: socket.socket,
        protocol: _StreamProtocol,
        nodelay: bool = False,
    ) -> None:
        # nodelay: TCP_NODELAY is on already (inherited from a listening
        # socket that had it), so asking again would be a system call for
        # nothing.
        self._io_loop = io_loop
        self._sock = sock
        # The loop knows the socket by this number, which it keeps even when
        # the socket object is closed first (a failed direct read does that).
        self._fileno = sock.fileno()
        self._protocol = protocol
        # Unsent data, made when a send is partial.
        self._buffer: collections.deque[memoryview] | None = None
        self._buffer_size = 0
        self._high_water = 0
        self._closing = False
        self._reading = True
        self._events = IOLoop.READ
        if not nodelay and sock.family in (socket.AF_INET, socket.AF_INET6):
            # As asyncio's and uvloop's transports do: writes are already
            # coalesced above us, so Nagle's delay only adds latency.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        # The transport itself is the handler, for the IOLoop and for the
        # selector loop: a bound method for each would cost every connection
        # 128 bytes more while it is open.
        # The IOLoop keeps the socket in its table (for remove_handler and
        # close(all_fds=True)), but read events come straight here instead
        # of through its dispatcher and _handle_events: two calls less per
        # receive.  Once reading is paused and resumed, the IOLoop's own
        # reader takes over again, which is only slower.
        selector_loop = getattr(io_loop, "selector_loop", None)
        fd = self._fileno
        if selector_loop is not None and _tornado_handler_table(io_loop):
            # add_handler's work, without the reader it would register for
            # its dispatcher only to have it replaced by ours at once.
            handlers = io_loop.handlers  # type: ignore[attr-defined]
            if fd in handlers:
                raise ValueError(f"fd {fd} added twice")
            handlers[fd] = (sock, self)
            selector_loop.add_reader(fd, self)
            io_loop.readers.add(fd)  # type: ignore[attr-defined]
        else:
            io_loop.add_handler(sock, self, IOLoop.READ)
            if selector_loop is not None:
                selector_loop.add_reader(fd, self)
        protocol.connection_made(self)

    # -- asyncio.Transport's interface -----------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        try:
            if name == "socket":
                return self._sock
            if name == "peername":
                return self._sock.getpeername()
            if name == "sockname":
                return self._sock.getsockname()
        except OSError:
            pass
        return default

    def set_protocol(self, protocol: _StreamProtocol) -> None:
        self._protocol = protocol

    def get_protocol(self) -> _StreamProtocol:
        return self._protocol

    def is_closing(self) -> bool:
        return self._closing

    def get_write_buffer_size(self) -> int:
        return self._buffer_size

    def set_write_buffer_limits(
        self, high: int | None = None, low: int | None = None
    ) -> None:
        self._high_water = high or 0

    def pause_reading(self) -> None:
        if self._reading and not self._closing:
            self._reading = False
            self._set_events()

    def resume_reading(self) -> None:
        if not self._reading and not self._closing:
            self._reading = True
            self._set_events()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._send_all(data)

    def _send_all(self, data: bytes | bytearray | memoryview) -> bool:
        """``write(data)``, for the stream's direct path: whether all of it
        went to the socket at once (False also when the transport closed)."""
        if self._closing:
            return False
        if self._buffer:
            self._keep(memoryview(data))
            return False
        sent = self._send_now(data)
        if sent == len(data):
            return True
        if sent >= 0:
            self._keep(memoryview(data)[sent:])
        return False

    def _send_now(self, data: bytes | bytearray | memoryview) -> int:
        """What the socket takes of ``data`` now: 0 when it takes nothing,
        -1 when the send failed (which closed the transport)."""
        try:
            return self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as e:
            self._fail(e)
            return -1

    def writelines(self, pieces: tuple[bytes | bytearray | memoryview, ...]) -> None:
        """Send ``pieces`` one after the other, with one system call when
        nothing is queued (sendmsg gathers them)."""
        if self._closing:
            return
        sent = 0
        if not self._buffer:
            try:
                sent = self._sock.sendmsg(pieces)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                self._fail(e)
                return
        for piece in pieces:
            size = len(piece)
            if sent >= size:
                sent -= size
            else:
                self._keep(memoryview(piece)[sent:])
                sent = 0

    def _keep(self, view: memoryview) -> None:
        """Queue the unsent ``view`` until the socket is writable.  It is kept
        by reference; abort() drops it with the buffer."""
        buffer = self._buffer
        if buffer is None:
            buffer = self._buffer = collections.deque()
        buffer.append(view)
        self._buffer_size += len(view)
        self._set_events()
        if self._buffer_size > self._high_water:
            self._protocol.pause_writing()

    def abort(self) -> None:
        self._shut(None, notify=False)

    def close(self) -> None:
        self._shut(None, notify=True)

    # -- events -----------------------------------------------------------------

    def _set_events(self) -> None:
        events = (IOLoop.READ if self._reading else 0) | (
            IOLoop.WRITE if self._buffer else 0
        )
        if events != self._events:
            self._events = events
            self._io_loop.update_handler(self._fileno, events)

    def _handle_events(self, fd: Any, events: int) -> None:
        if events & IOLoop.READ and self._reading and not self._closing:
            self._read_ready()
        if events & IOLoop.WRITE and not self._closing:
            self._write_ready()

    def __call__(self, fd: Any = None, events: int = 0) -> None:
        """An event: from the IOLoop's dispatcher, ``(fd, events)``; from
        the selector loop, with no arguments, the socket is readable."""
        if fd is not None:
            self._handle_events(fd, events)
            return
        self._read_ready()

    def _read_ready(self) -> None:
        protocol = self._protocol
        size = protocol.read_size()
        try:
            data = self._sock.recv(
                size if size > _DEFAULT_READ_CHUNK_SIZE else _DEFAULT_READ_CHUNK_SIZE
            )
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(e)
            return
        if data:
            protocol.data_received(data)
        else:
            protocol.eof_received()
            self._shut(None, notify=True)

    def _write_ready(self) -> None:
        buffer = self._buffer
        while buffer:
            head = buffer[0]
            n = self._send_now(head)
            if n < 0:
                return
            if not n:
                break
            self._buffer_size -= n
            if n == len(head):
                buffer.popleft()
                head.release()
            else:
                buffer[0] = head[n:]
                head.release()
                break
        if not buffer:
            self._buffer = None
            self._set_events()
            self._protocol.resume_writing()

    def _fail(self, exc: Exception) -> None:
        self._shut(exc, notify=True)

    def _shut(self, exc: Exception | None, notify: bool) -> None:
        if self._closing:
            return
        self._closing = True
        if self._buffer is not None:
            for view in self._buffer:
                view.release()
            self._buffer = None
        self._buffer_size = 0
        try:
            self._io_loop.remove_handler(self._fileno)
        except (OSError, ValueError, KeyError):
            pass
        try:
            self._sock.close()
        except OSError:
            pass
        if notify:
            self._protocol.connection_lost(exc)


# By IOLoop class: whether its add_handler and remove_handler are Tornado's
# own asyncio ones, which keep the (socket, handler) table in ``handlers``
# and the descriptors polled for reading in ``readers``.
_TORNADO_TABLES: dict[type, bool] = {}


def _tornado_handler_table(io_loop: IOLoop) -> bool:
    kind = type(io_loop)
    known = _TORNADO_TABLES.get(kind)
    if known is None:
        from tornado.platform.asyncio import BaseAsyncIOLoop

        known = _TORNADO_TABLES[kind] = (
            kind.add_handler is BaseAsyncIOLoop.add_handler
            and kind.remove_handler is BaseAsyncIOLoop.remove_handler
            and kind.update_handler is BaseAsyncIOLoop.update_handler
            and isinstance(getattr(io_loop, "handlers", None), dict)
            and isinstance(getattr(io_loop, "readers", None), set)
        )
    return known


@mypyc_attr(allow_interpreted_subclasses=True)
class StreamCore:
    """The base of every stream (:class:`~tornado_compat.iostream.BaseIOStream`
    and its subclasses): the state that every small read and write touches,
    and their usual paths.

    A WebSocket message is four ``read_bytes`` calls and a ``write``, and
    the bytes that wake the first read arrive through :func:`receive`.
    Compiled, these paths read and set the attributes below straight from
    the object, where Python code would pay a frame per call and compiled
    code reading a Python object's attributes would pay the generic
    lookup.  Anything out of the usual (a read the buffer cannot satisfy
    while the socket has data, a write that has to wait, a stream class
    with its own ``write`` path) goes to the stream's general methods,
    which the subclasses define.

    The attributes are the stream's own; the subclasses' Python code reads
    and sets them as before (through the compiled class's descriptors).
    ``_direct`` and the ``_incoming``/``_paused`` fields belong to
    :class:`~tornado_compat.iostream.IOStream`, and stay at their initial
    values in the other streams.
    """

    __slots__ = (
        "read_chunk_size",
        "_aloop",
        "_read_buffer",
        "_read_future",
        "_read_kind",
        "_read_num",
        "_read_partial",
        "_read_scan",
        "_closed",
        "_readable_callback",
        "_write_futures",
        "_total_write_index",
        "_total_write_done_index",
        "_direct",
        "_paused",
        "_incoming_size",
        "_incoming_eof",
        "_poller",
    )

    read_chunk_size: int
    # The asyncio loop that the stream's futures belong to (named when a
    # future is made: looking up the running loop costs a getpid()).
    _aloop: Any
    _read_buffer: bytearray
    _read_future: Future[Any] | None
    _read_kind: int
    _read_num: int
    _read_partial: bool
    # Where the next delimiter search starts, so that a delimiter looked
    # for across many arrivals costs linear time in total.
    _read_scan: int
    _closed: bool
    # Called once when data is buffered or the stream closes, while no read
    # is pending (see BaseIOStream._notify_when_readable).
    _readable_callback: Any
    # The futures of writes not yet sent, with the index each waits for;
    # made when a write has to wait.
    _write_futures: collections.deque[tuple[int, Future[None]]] | None
    _total_write_index: int
    _total_write_done_index: int
    # IOStream's own transport, while writes may go straight to it and
    # reads may wait on it (a plain IOStream on asyncio's selector loop).
    _direct: _LoopTransport | None
    # IOStream: whether the transport's reading is paused.
    _paused: bool
    # IOStream: received bytes that read_from_fd has not taken yet, and
    # whether the end of the stream has been received.
    _incoming_size: int
    _incoming_eof: bool
    # A poll object with the socket registered, made at the first read
    # that waits on the socket (see read_bytes).
    _poller: Any

    def __init__(self, loop: Any, read_chunk_size: int) -> None:
        self._aloop = loop
        self.read_chunk_size = read_chunk_size
        self._read_buffer = bytearray()
        self._read_future = None
        self._read_kind = _BYTES
        self._read_num = 0
        self._read_partial = False
        self._read_scan = 0
        self._closed = False
        self._readable_callback = None
        self._write_futures = None
        self._total_write_index = 0
        self._total_write_done_index = 0
        self._direct = None
        self._paused = False
        self._incoming_size = 0
        self._incoming_eof = False
        self._poller = None

    def read_bytes(self, num_bytes: Any, partial: Any = False) -> Awaitable[bytes]:
        """Read ``num_bytes`` bytes.

        With ``partial``, resolve as soon as any bytes are available (never
        more than ``num_bytes``; ``read_bytes(0)`` resolves with ``b""``).
        """
        if self._read_future is None and type(num_bytes) is int:
            size: int = num_bytes
            buf = self._read_buffer
            held = len(buf)
            if 0 < size <= held:
                # Already buffered, as the pieces of a WebSocket frame after
                # its first two bytes are: the result goes straight into a
                # finished future.  (A read the buffer satisfies succeeds
                # after a close too.)
                ready: Future[bytes] = Future(loop=self._aloop)
                ready.set_result(take_front(buf, size))
                if held >= self.read_chunk_size:
                    # Only a buffer of a chunk or more (which stopped reading
                    # ahead) can change what the stream waits for by
                    # shrinking; a smaller one was accounted for as it grew.
                    self._reading_done()
                return ready
            if not held and size > 0 and not partial and self._socket_is_empty():
                # The wait between WebSocket frames (or any length-prefixed
                # messages): the transport is reading, and the socket has
                # nothing yet, so the read waits for what arrives.
                waiting: Future[bytes] = Future(loop=self._aloop)
                self._read_future = waiting
                self._read_scan = 0
                self._read_kind = _BYTES
                self._read_num = size
                self._read_partial = False
                return waiting
        return self._read_bytes_general(num_bytes, partial)

    def _socket_is_empty(self) -> bool:
        """Whether a read may wait for the transport: a plain IOStream on
        our own transport, reading, with nothing received but not taken,
        whose socket has nothing to receive now (no data, end or error).

        Tornado's read asks the socket once before it waits, so that bytes
        the kernel holds (or an error) answer it at once; a poll says that
        there are none without the exception of a receive that finds
        nothing.  Anything else is left to the general path, which reads.
        """
        direct = self._direct
        if (
            direct is None
            or self._paused
            or self._closed
            or self._incoming_size
            or self._incoming_eof
            or _POLL is None
            # (read_from_fd and max_buffer_size are the stream classes'
            # attributes, not the core's: looked up by name.)
            or getattr(getattr(self, "read_from_fd"), "__func__", None)  # noqa: B009
            is not _OWN_READ_FROM_FD[0]
        ):
            return False
        # A socket closed under the stream (-1) is left to a receive to
        # meet, before its number can be polled on another file's behalf.
        fd = direct._sock.fileno()
        if fd < 0:
            return False
        poller = self._poller
        if poller is None:
            poller = self._poller = _POLL()
            poller.register(fd, _POLLIN)
        return not poller.poll(0)

    def write(self, data: Any) -> Future[None]:
        """Queue ``data`` for writing; the future resolves once it is sent.

        ``data`` may be bytes, a bytearray or any memoryview.  A large object
        is sent without copying where possible, so do not modify it until the
        future resolves.
        """
        direct = self._direct
        if (
            direct is not None
            and type(data) is bytes
            and data
            and not self._write_futures
            and not self._closed
            and getattr(self, "max_write_buffer_size", None) is None
        ):
            # The usual write of a plain IOStream on our transport: bytes,
            # nothing waiting before them, no limit to check.  It is sent at
            # once, and is done when the kernel took all of it.
            raw: bytes = data
            self._total_write_index += len(raw)
            future: Future[None] = Future(loop=self._aloop)
            if direct._send_all(raw) and not self._closed:
                self._total_write_done_index = self._total_write_index
                future.set_result(None)
                return future
            return self._unfinished_write(future)
        return self._write_general(data)

    # -- what the stream classes define ----------------------------------------

    def _read_bytes_general(self, num_bytes: Any, partial: Any) -> Awaitable[bytes]:
        raise NotImplementedError()

    def _write_general(self, data: Any) -> Future[None]:
        raise NotImplementedError()

    def _unfinished_write(self, future: Future[None]) -> Future[None]:
        raise NotImplementedError()

    def _reading_done(self) -> None:
        raise NotImplementedError()

    def _fire_readable(self) -> None:
        raise NotImplementedError()

    def _read_arrived(self) -> None:
        raise NotImplementedError()

    def _queue_incoming(self, chunk: bytes) -> None:
        raise NotImplementedError()

    def _handle_read(self) -> None:
        raise NotImplementedError()


class _StreamProtocol:
    """Hands a transport's events to the stream that owns it.

    Received bytes go to the stream's ``_on_data``.  (It is not an
    ``asyncio.Protocol`` subclass, which a compiled class cannot be; the
    loops, uvloop's included, ask only for its methods.)  A connection's
    first owner before any stream (:mod:`tornado_compat._bare`) is a
    subclass (compiled: the transport takes only these).
    """

    __slots__ = ("stream",)

    def __init__(self, stream: IOStream) -> None:
        self.stream = stream

    def read_size(self) -> int:
        """How much the transport asks the socket for at once."""
        return self.stream.read_chunk_size

    def connection_made(self, transport: Any) -> None:
        # uvloop's transports implement the interface without subclassing.
        self.stream._attach_transport(transport)

    def data_received(self, data: bytes | memoryview) -> None:
        # The stream copies what it keeps before _on_data returns.
        self.stream._on_data(data)

    def eof_received(self) -> bool:
        self.stream._on_eof()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.stream._on_connection_lost(exc)

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        self.stream._on_write_drained()


class _PlainStreamProtocol(_StreamProtocol):
    """The protocol of a stream whose ``_on_data`` is IOStream's own:
    received bytes go to :func:`receive` without the call through the
    stream."""

    __slots__ = ()

    def data_received(self, data: bytes | memoryview) -> None:
        receive(self.stream, data)


# IOStream's own read_from_fd (set by tornado_compat.iostream, which cannot
# be imported from here).
_OWN_READ_FROM_FD: Final[list[object]] = [None]


def take_front(buf: bytearray, size: int) -> bytes:
    """The first ``size`` bytes of ``buf`` (which holds at least that
    many), removed from it."""
    if size == len(buf):
        data = bytes(buf)
        buf.clear()
        return data
    if size <= _SMALL_READ:
        # Two small copies cost less than a view and its release.
        data = bytes(buf[:size])
    else:
        with memoryview(buf) as view, view[:size] as head:
            data = head.tobytes()
    del buf[:size]
    return data


def receive(stream: StreamCore, data: bytes | memoryview) -> None:
    """IOStream's ``_on_data``: the transport received ``data``."""
    if stream._closed:
        return
    if (
        not stream._incoming_size
        and getattr(getattr(stream, "read_from_fd"), "__func__", None)  # noqa: B009
        is _OWN_READ_FROM_FD[0]
    ):
        # read_from_fd is IOStream's, so it would only copy the data over
        # (IOStream._reads_are_ours, inline: this runs for every arrival).
        if stream._read_future is None:
            keep_unread(stream, data)
            return
        if stream._read_kind != _INTO:
            deliver(stream, data)
            return
    stream._queue_incoming(bytes(data))
    stream._handle_read()


def keep_unread(stream: StreamCore, data: bytes | memoryview) -> None:
    """Bytes arrived while nobody reads (how a server connection waits
    between requests): they join the buffer, and the readable callback
    runs (_fire_readable's work, without its checks)."""
    buf = stream._read_buffer
    buf += data
    if len(buf) >= stream.read_chunk_size:
        stream._reading_done()
    callback = stream._readable_callback
    if callback is not None:
        stream._readable_callback = None
        callback()


def deliver(stream: StreamCore, data: bytes | memoryview) -> None:
    """Bytes arrived for the pending read (not a ``read_into``), and go
    straight into the buffer.

    The usual case, a ``read_bytes`` that they complete (the next WebSocket
    frame's first bytes), is finished here; any other read is left to the
    stream's ``_read_arrived``, which makes the general checks.
    """
    buf = stream._read_buffer
    buf += data
    size = stream._read_num
    held = len(buf)
    if (
        stream._read_kind != _BYTES
        or stream._read_partial
        or size > held
        or size > getattr(stream, "max_buffer_size")  # noqa: B009
    ):
        stream._read_arrived()
        return
    future = stream._read_future
    stream._read_future = None
    result = take_front(buf, size)
    if future is not None and not future.cancelled():
        future.set_result(result)
    if len(buf) >= stream.read_chunk_size:
        # Less than a chunk left: the transport keeps reading, as it did
        # for the read.
        stream._reading_done()
    if buf and stream._readable_callback is not None:
        stream._fire_readable()
