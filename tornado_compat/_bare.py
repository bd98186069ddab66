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
first bytes, at its end of file, or when its owner asks.  It is not used by
:class:`~tornado_compat.httpserver.HTTPServer` yet: before the first byte it
runs none of the server's deadlines.

What it must never do: lose, reorder or consume a byte it does not answer;
touch the transport once the stream has it; hand a connection over twice;
let a close go unreported to the server's connection count (``close_hook``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

from tornado_compat._transport import _StreamProtocol
from tornado_compat.iostream import IOStream


class BareConnection(_StreamProtocol):
    """A plain server connection's protocol until a stream takes it over.

    ``hand_over`` receives the stream (already the transport's protocol, the
    received bytes buffered, ``close_hook`` moved to it) and serves on.
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

    # -- the protocol interface the loops' transports call -----------------------

    def read_size(self) -> int:
        return self.read_chunk_size

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes | memoryview) -> None:
        self.received += data
        self.take_over()

    def eof_received(self) -> bool:
        if self.received:
            # What arrived before the end of file is still a request: the
            # stream reads it, then meets the end of file as it would have.
            return self.take_over()._protocol.eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        # Nothing unconsumed (eof_received hands over when there is): the
        # connection ends before it carried a request.
        if self.handed is not None:
            return
        self.transport = None
        self.received = bytearray()
        try:
            self.sock.close()
        except OSError:
            pass
        hook = self.close_hook
        if hook is not None:
            self.close_hook = None
            hook()

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

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
        hook = self.close_hook
        self.close_hook = None
        if stream.closed():
            if hook is not None:
                hook()
        else:
            stream._close_hook = hook
        self.hand_over(stream)
        return stream
