"""What the two socket-free HTTP/2 cores share.

What this module is for: the events both :mod:`.core` (the server side)
and :mod:`.clientcore` (the client side) return from ``receive()``
(:class:`Body`, :class:`StreamEnd`, :class:`StreamReset`,
:class:`WindowOpened`, :class:`Terminated`), the error codes they send,
the header names HTTP/2 forbids, and :class:`CoreBase`, the flow-control
and reset calls that are the same on either side.  Each core re-exports
the names it uses, so ``core.Body`` and ``clientcore.Body`` are one class.

What it must never do: touch a socket, an event loop or a clock, or hold
anything that is one side's alone (request or response heads, the
server's flood counts, the client's stream limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import h2.connection
import h2.errors
import h2.exceptions

__all__ = [
    "Body",
    "CoreBase",
    "StreamEnd",
    "StreamReset",
    "Terminated",
    "WindowOpened",
    "CONNECTION_SPECIFIC",
]

#: Header names that HTTP/2 forbids (RFC 9113 section 8.2.2); they are
#: dropped, not sent.
CONNECTION_SPECIFIC = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"upgrade",
    }
)

NO_ERROR = h2.errors.ErrorCodes.NO_ERROR
CANCEL = h2.errors.ErrorCodes.CANCEL
INTERNAL_ERROR = h2.errors.ErrorCodes.INTERNAL_ERROR
PROTOCOL_ERROR = h2.errors.ErrorCodes.PROTOCOL_ERROR
REFUSED_STREAM = h2.errors.ErrorCodes.REFUSED_STREAM
ENHANCE_YOUR_CALM = h2.errors.ErrorCodes.ENHANCE_YOUR_CALM


@dataclass
class Body:
    """A piece of a received body (a request's on the server, a
    response's on the client).  ``flow_length`` bytes of window are given
    back only by the core's ``acknowledge()``, so that a slow consumer
    holds the peer back."""

    stream_id: int
    data: bytes
    flow_length: int


@dataclass
class StreamEnd:
    """The peer ended its side of the stream (the message is complete).
    Trailers, which neither a server application nor a fetch has a way to
    see, are discarded."""

    stream_id: int


@dataclass
class StreamReset:
    """The stream was reset, by the peer or by ``h2`` (for instance after
    a stream-level protocol error)."""

    stream_id: int
    error_code: int


@dataclass
class WindowOpened:
    """Flow-control window opened: for one stream, or for all when
    ``stream_id`` is 0 (the connection window or the initial window size
    changed)."""

    stream_id: int


@dataclass
class Terminated:
    """The connection is ending: the peer sent GOAWAY (``last_stream_id``
    is the highest stream it may have processed; the streams up to it go
    on and may still complete), or broke the protocol
    (``reason`` says how, and a GOAWAY is waiting in the core's
    ``data_to_send()``)."""

    error_code: int
    last_stream_id: int | None
    reason: str = ""


class CoreBase:
    """The calls both cores make the same way on their ``h2`` connection:
    windows, DATA within them, resets and window given back."""

    _h2: h2.connection.H2Connection
    #: This side sent its last GOAWAY, or the peer broke the protocol.
    terminated: bool

    def window(self, stream_id: int) -> int:
        """How many body bytes may be sent on the stream now (stream and
        connection windows, and the peer's frame size, all respected by
        :meth:`send_data`)."""
        try:
            return self._h2.local_flow_control_window(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            return 0

    def send_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> int:
        """Send as much of ``data`` as the windows allow; return how many
        bytes were taken.  ``end_stream`` applies only when all were."""
        size = min(self.window(stream_id), len(data))
        frame_max = self._h2.max_outbound_frame_size
        if size == len(data) <= frame_max and data:
            # The usual case, one frame: no copy through a memoryview.
            self._h2.send_data(stream_id, data, end_stream=end_stream)
            return size
        sent = 0
        view = memoryview(data)
        while sent < size:
            n = min(frame_max, size - sent)
            last = end_stream and sent + n == len(data)
            self._h2.send_data(
                stream_id, view[sent : sent + n].tobytes(), end_stream=last
            )
            sent += n
        if end_stream and not data:
            self._h2.end_stream(stream_id)
        return sent

    def reset(self, stream_id: int, error_code: int = CANCEL) -> None:
        """Reset the stream (nothing is sent if it is already closed)."""
        try:
            self._h2.reset_stream(stream_id, error_code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            pass

    def acknowledge(self, stream_id: int, flow_length: int) -> None:
        """Give ``flow_length`` bytes of a received body back to the peer's
        window (call once they have been taken)."""
        if flow_length <= 0 or self.terminated:
            return
        try:
            self._h2.acknowledge_received_data(flow_length, stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            # h2 gives a closed stream's body back to the connection window
            # and sends nothing for the stream itself; what reaches here is
            # an id it never opened, which no received body carries.
            pass
