"""The first owner of a plain HTTP/1.x server connection, before any
:class:`~tornado_compat.iostream.IOStream` exists, compiled (setup.py).

What this module is for: :class:`BareConnection` owns an accepted socket's
transport (ours on the selector loop, the loop's own on uvloop) and the
bytes it receives, and hands the connection over, with every byte it has not
consumed, to an ``IOStream`` built around the same live transport
(``IOStream(sock, _take_over=..., _received=...)``) and then to the server's
usual path (``HTTPServer.handle_stream``: HTTP/2 preface, then
``HTTP1ServerConnection``).  It is the place where a request that needs
nothing of the stream (a complete head, no body, no upgrade) will be served
without one; so far it serves none and hands every connection over at its
first bytes, at its end of file, or when its owner asks.  Before the first
byte it runs the server's wait deadline (``header_timeout``, from the
accept), on the same timer object as a stream's (``_HeadTimeout``), which
the stream takes over still counting; a server tracks it as one of its
connections (``on_end``, :meth:`start_drain`, :meth:`in_flight`,
:meth:`close`).

What it must never do: lose, reorder or consume a byte it does not answer;
touch the transport once the stream has it; hand a connection over twice;
let a close go unreported to the server's connection count (``close_hook``)
or to its owner (``on_end``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from tornado.ioloop import IOLoop

from tornado_compat._transport import _StreamProtocol
from tornado_compat.http1connection import _HeadTimeout
from tornado_compat.iostream import IOStream


class BareConnection(_StreamProtocol):
    """A plain server connection's protocol until a stream takes it over.

    ``hand_over`` receives the stream (already the transport's protocol, the
    received bytes buffered, ``close_hook`` and the deadlines moved to it)
    and serves on.  ``on_end`` (set by the server that tracks it) is called
    once, with this object, when it is over: handed over (after
    ``hand_over``) or closed.
    """

    __slots__ = (
        "sock",
        "transport",
        "received",
        "read_chunk_size",
        "max_buffer_size",
        "close_hook",
        "hand_over",
        "handed",
        "on_end",
        "io_loop",
        "_closed",
        "_http_head_timeout",
    )

    def __init__(
        self,
        sock: socket.socket,
        hand_over: Callable[[IOStream], Any],
        read_chunk_size: int | None = None,
        max_buffer_size: int | None = None,
        close_hook: Callable[[], None] | None = None,
    ) -> None:
        self.sock = sock
        self.transport: Any = None
        self.received = bytearray()
        self.read_chunk_size = read_chunk_size or 64 * 1024
        self.max_buffer_size = max_buffer_size
        self.close_hook = close_hook
        self.hand_over = hand_over
        self.handed: IOStream | None = None
        self.on_end: Callable[[BareConnection], None] | None = None
        self.io_loop: Any = IOLoop.current()
        # Closed by its owner (a deadline, a drain, close_all_connections).
        self._closed = False
        # Its _HeadTimeout while it runs a deadline.
        self._http_head_timeout: Any = None

    # -- the protocol interface the loops' transports call -----------------------

    def read_size(self) -> int:
        return self.read_chunk_size

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self._closed:
            # Closed while the loop was still making the transport.
            transport.close()

    def data_received(self, data: bytes | memoryview) -> None:
        if self._closed:
            # Closed by its owner: what comes before the transport has let
            # go is for nobody.
            return
        self.received += data
        self.take_over()

    def eof_received(self) -> bool:
        if self.received and not self._closed:
            # What arrived before the end of file is still a request: the
            # stream reads it, then meets the end of file as it would have.
            return self.take_over()._protocol.eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        # Nothing unconsumed (eof_received hands over when there is): the
        # connection ends before it carried a request.
        if self.handed is not None:
            return
        self._closed = True
        _HeadTimeout.drop(self)
        self.transport = None
        self.received = bytearray()
        try:
            self.sock.close()
        except OSError:
            pass
        hook, self.close_hook = self.close_hook, None
        if hook is not None:
            hook()
        self._ended()

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    # -- what its owner asks --------------------------------------------------------

    def arm(self, header_timeout: float) -> None:
        """Start the wait deadline for the first request's head, now (the
        accept); when it runs out the connection closes, as a stream's."""
        _HeadTimeout.arm(self, header_timeout)

    def close(self) -> None:
        """Close the connection, unless a stream has it.  The close is
        reported (``close_hook``, ``on_end``) when the transport has let
        the socket go."""
        if self._closed or self.handed is not None:
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
        """Give the connection to a new stream, and it to ``hand_over``."""
        stream = self.handed
        if stream is not None:
            return stream
        received = bytes(self.received)
        self.received = bytearray()
        kwargs: dict[str, Any] = {"read_chunk_size": self.read_chunk_size}
        if self.max_buffer_size is not None:
            kwargs["max_buffer_size"] = self.max_buffer_size
        stream = IOStream(
            self.sock, _take_over=self.transport, _received=received, **kwargs
        )
        self.handed = stream
        self.transport = None
        _HeadTimeout.move(self, stream)
        hook = self.close_hook
        self.close_hook = None
        if stream.closed():
            if hook is not None:
                hook()
        else:
            stream._close_hook = hook
        try:
            self.hand_over(stream)
        finally:
            self._ended()
        return stream
