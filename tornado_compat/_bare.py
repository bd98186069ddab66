"""The first owner of a plain HTTP/1.x server connection, before any
:class:`~tornado_compat.iostream.IOStream` exists, compiled (setup.py).

What this module is for: :class:`BareConnection` owns an accepted socket's
transport (ours on the selector loop, the loop's own on uvloop) and the
bytes it receives.  With a server connection (``server_conn``, an
``HTTP1ServerConnection`` that takes it as its stream) it serves: every
request whose head is complete and needs nothing of a stream (no body, no
expectation, no upgrade: see ``HTTP1Connection._read_request``) is read
from its buffer and answered through its :meth:`write`, by the same
``HTTP1Connection`` code a stream's requests go through.  Anything else,
and anyone who asks for the request connection's ``stream``, gets the
connection handed over (:meth:`take_over`): an ``IOStream`` built around
the same live transport (``IOStream(sock, _take_over=..., _received=...)``)
with every byte not consumed, the deadline timer still counting, the close
callback, the connection count's hook and the writes not yet sent; the
server connection serves on with it.  Without a server connection it serves nothing and
hands over at the first bytes to its server's ``_handle_stream_of`` (the
server's usual path).

What it must never do: lose, reorder or consume a byte it does not answer;
touch the transport once the stream has it; hand a connection over twice;
let a close go unreported to the server's connection count (``close_hook``),
to its server connection (readable and close callbacks, as a stream's
close runs them) or to its owner (``on_end``); resolve a write's future
before the kernel has every byte of it.
"""

from __future__ import annotations

import asyncio
import collections
import socket as _socket
from collections.abc import Callable
from typing import Any, Final

from tornado.ioloop import IOLoop

from tornado_compat._transport import _LoopTransport, _StreamProtocol
from tornado_compat.http1connection import _HeadTimeout
from tornado_compat.iostream import IOStream, StreamClosedError

# The IOLoop attribute that holds the loop's done future (see _sent).
_DONE_FUTURE: Final = "_tornado_compat_written"

# IOStream's default, for the requests' body limit (none is read here).
_DEFAULT_MAX_BUFFER_SIZE = 100 * 1024 * 1024


class BareConnection(_StreamProtocol):
    """A plain server connection's protocol until a stream takes it over.

    As the stream of a server connection it offers the part of a stream
    that serving a bodyless request uses: ``_read_buffer``, ``_closed``,
    :meth:`write`, :meth:`close`, the readable and close callbacks, the
    head deadline's slot.  Without a server connection,
    ``server._handle_stream_of(stream, address)`` receives the stream
    (already the transport's protocol, the received bytes buffered,
    ``close_hook`` and the deadlines moved to it) and serves on.
    ``on_end`` (set by the server that tracks it) is called once, with this
    object, when it is over: handed over or closed.
    """

    __slots__ = (
        "socket",
        "address",
        "transport",
        "_direct",
        "_read_buffer",
        "read_chunk_size",
        "max_buffer_size",
        "close_hook",
        "server",
        "handed",
        "on_end",
        "server_conn",
        "io_loop",
        "_loop",
        "_closed",
        "_lost",
        "_paused",
        "_readable_callback",
        "_close_callback",
        "_waiters",
        "_http_head_timeout",
    )

    def __init__(
        self,
        sock: _socket.socket,
        server: Any,
        read_chunk_size: int | None = None,
        max_buffer_size: int | None = None,
        close_hook: Callable[[], None] | None = None,
        address: Any = None,
    ) -> None:
        self.socket = sock
        self.address = address
        self.transport: Any = None
        # The transport, when it is ours (writes go straight to it).
        self._direct: _LoopTransport | None = None
        self._read_buffer = bytearray()
        self.read_chunk_size = read_chunk_size or 64 * 1024
        self.max_buffer_size = max_buffer_size or _DEFAULT_MAX_BUFFER_SIZE
        self.close_hook = close_hook
        # What takes a stream over when there is no server connection: a
        # TCPServer (its _handle_stream_of), not a closure per connection.
        self.server = server
        self.handed: IOStream | None = None
        self.on_end: Callable[[BareConnection], None] | None = None
        self.server_conn: Any = None
        io_loop: Any = IOLoop.current()
        self.io_loop = io_loop
        self._loop: asyncio.AbstractEventLoop = io_loop.asyncio_loop
        # Closed: by its owner (a deadline, a drain, the end of an
        # exchange), or by the peer.
        self._closed = False
        # Whether the transport has let the socket go (connection_lost).
        self._lost = False
        # Whether reading is paused (a full chunk is buffered).
        self._paused = False
        self._readable_callback: Callable[[], None] | None = None
        self._close_callback: Callable[[], None] | None = None
        # Futures of writes the kernel has not all taken yet, oldest first.
        self._waiters: collections.deque[asyncio.Future[None]] | None = None
        # Its _HeadTimeout while it runs a deadline.
        self._http_head_timeout: Any = None

    # -- the protocol interface the loops' transports call -----------------------

    def read_size(self) -> int:
        return self.read_chunk_size

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if isinstance(transport, _LoopTransport):
            self._direct = transport
        # Every drain is reported (resume_writing), which is when the
        # futures of writes not sent at once resolve.
        transport.set_write_buffer_limits(high=0)
        if self._closed:
            # Closed while the loop was still making the transport.
            transport.close()

    def data_received(self, data: bytes | memoryview) -> None:
        if self._closed:
            # Closed by its owner: what comes before the transport has let
            # go is for nobody.
            return
        buf = self._read_buffer
        buf += data
        if self.server_conn is None:
            self.take_over()
            return
        if len(buf) >= self.read_chunk_size and not self._paused:
            # A stream stops reading at a full chunk too: a client that
            # pipelines without reading cannot make the buffer grow.
            self._paused = True
            self.transport.pause_reading()
        callback = self._readable_callback
        if callback is not None:
            self._readable_callback = None
            callback()

    def eof_received(self) -> bool:
        if self._read_buffer and not self._closed:
            # What arrived before the end of file is read by a stream,
            # which then meets the end of file as it would have.
            return self.take_over()._protocol.eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handed is not None or self._lost:
            return
        self._lost = True
        self._closed = True
        _HeadTimeout.drop(self)
        self.transport = None
        self._direct = None
        try:
            self.socket.close()
        except OSError:
            pass
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for future in waiters:
                if not future.done():
                    future.set_exception(StreamClosedError(real_error=exc))
                    future.exception()  # marked as retrieved, as a stream does
        hook, self.close_hook = self.close_hook, None
        if hook is not None:
            hook()
        # As a stream's close: its callbacks run on the IOLoop.
        for callback in (self._readable_callback, self._close_callback):
            if callback is not None:
                self.io_loop.add_callback(callback)
        self._readable_callback = None
        self._close_callback = None
        self._ended()

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        # The transport has sent everything: every write is done.
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for future in waiters:
                if not future.done():
                    future.set_result(None)

    # -- the stream a server connection serves on ------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> asyncio.Future[None]:
        """Send ``data``; the future resolves once the kernel has all of it
        (StreamClosedError, raised or in the future, once closed)."""
        direct = self._direct
        if direct is not None and not self._closed:
            # Our transport (none once handed over): it says whether the
            # kernel took every byte; if it closed, so has this connection.
            if direct._send_all(data):
                return self._sent()
            return self._unsent(asyncio.Future(loop=self._loop))
        handed = self.handed
        if handed is not None:
            return handed.write(data)
        transport = self.transport
        if self._closed or transport is None or transport.is_closing():
            raise StreamClosedError()
        transport.write(data)
        if not transport.get_write_buffer_size() and not self._closed:
            return self._sent()
        return self._unsent(asyncio.Future(loop=self._loop))

    def _sent(self) -> asyncio.Future[None]:
        """The future of a write the kernel took at once: done, and the
        same one for every such write on the loop (nothing can change a
        done future's outcome).  It is kept on the IOLoop, one to each
        asyncio loop, not on the connection: every idle connection would
        hold one."""
        io_loop = self.io_loop
        done = getattr(io_loop, _DONE_FUTURE, None)
        if done is None:
            done = asyncio.Future(loop=self._loop)
            done.set_result(None)
            setattr(io_loop, _DONE_FUTURE, done)
        return done

    def _write_pair(
        self, first: bytes, second: bytes | bytearray | memoryview
    ) -> asyncio.Future[None]:
        """``write(first + second)`` without joining them (a large body
        after its head)."""
        handed = self.handed
        if handed is not None:
            return handed._write_pair(first, second)
        transport = self.transport
        if self._closed or transport is None or transport.is_closing():
            raise StreamClosedError()
        transport.writelines((first, second))
        if not transport.get_write_buffer_size() and not self._closed:
            return self._sent()
        return self._unsent(asyncio.Future(loop=self._loop))

    def _unsent(self, future: asyncio.Future[None]) -> asyncio.Future[None]:
        """``future``, for a write the kernel did not take all of at once:
        it resolves at the next drain, or fails if the send closed the
        connection."""
        if self._closed:
            future.set_exception(StreamClosedError())
            future.exception()
            return future
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = collections.deque()
        waiters.append(future)
        return future

    def _consume(self, size: int) -> bytes:
        buf = self._read_buffer
        data = bytes(buf[:size])
        del buf[:size]
        return data

    def closed(self) -> bool:
        return self._closed if self.handed is None else self.handed.closed()

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Run ``callback`` (on the IOLoop) once the connection is closed."""
        handed = self.handed
        if handed is not None:
            handed.set_close_callback(callback)
            return
        self._close_callback = callback
        if self._lost and callback is not None:
            self._close_callback = None
            self.io_loop.add_callback(callback)

    def _notify_when_readable(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, when bytes arrive or the connection
        closes (as a stream's, for a server connection waiting between
        requests with its buffer empty)."""
        self._readable_callback = callback
        if self._lost:
            self._readable_callback = None
            self.io_loop.add_callback(callback)
        elif self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    # -- what its owner asks --------------------------------------------------------

    def arm(self, header_timeout: float) -> None:
        """Start the wait deadline for the first request's head, now (the
        accept); when it runs out the connection closes, as a stream's."""
        _HeadTimeout.arm(self, header_timeout)

    def close(self) -> None:
        """Close the connection (the stream's, once a stream has it).  The
        close is reported (``close_hook``, the callbacks, ``on_end``) when
        the transport has let the socket go."""
        handed = self.handed
        if handed is not None:
            handed.close()
            return
        if self._closed:
            return
        self._closed = True
        _HeadTimeout.drop(self)
        transport = self.transport
        if transport is not None:
            transport.close()
        # Else the loop is still making the transport: connection_made
        # closes it.

    def start_drain(self) -> None:
        """Serve nothing more: before its first byte it is idle, so it
        closes."""
        self.close()

    def in_flight(self) -> str | None:
        """No request is in progress before the first byte (see
        HTTP1ServerConnection.in_flight)."""
        return None

    def _ended(self) -> None:
        on_end = self.on_end
        if on_end is not None:
            self.on_end = None
            on_end(self)

    # -- the handover ---------------------------------------------------------------

    def take_over(self) -> IOStream:
        """Give the connection to a new stream: to the server connection
        serving on this one, if there is one, else to the server."""
        stream = self.handed
        if stream is not None:
            return stream
        stream = self._new_stream()
        server_conn = self.server_conn
        if server_conn is not None:
            server_conn._stream_taken_over(stream)
            return stream
        try:
            self.server._handle_stream_of(stream, self.address)
        finally:
            self._ended()
        return stream

    def _new_stream(self) -> IOStream:
        """The stream that owns the connection from now on, with all this
        one held: unconsumed bytes, deadlines, close callback and hook, and
        writes still unsent."""
        received = bytes(self._read_buffer)
        self._read_buffer = bytearray()
        kwargs: dict[str, Any] = {
            "read_chunk_size": self.read_chunk_size,
            "max_buffer_size": self.max_buffer_size,
        }
        transport = self.transport
        unsent = 0 if transport is None else transport.get_write_buffer_size()
        stream = IOStream(
            self.socket, _take_over=transport, _received=received, **kwargs
        )
        self.handed = stream
        self.transport = None
        self._direct = None
        _HeadTimeout.move(self, stream)
        hook = self.close_hook
        self.close_hook = None
        waiters = self._waiters
        self._waiters = None
        if waiters and not stream.closed():
            # The stream counts them as its first ``unsent`` bytes written,
            # which its transport still holds.
            stream._take_unsent_writes(unsent, waiters)
        elif waiters:
            for future in waiters:
                if not future.done():
                    future.set_exception(StreamClosedError())
                    future.exception()
        close_callback = self._close_callback
        if close_callback is not None:
            self._close_callback = None
            stream.set_close_callback(close_callback)
        readable_callback = self._readable_callback
        if readable_callback is not None:
            self._readable_callback = None
            stream._notify_when_readable(readable_callback)
        if stream.closed():
            if hook is not None:
                hook()
        else:
            stream._close_hook = hook
        return stream
