"""The socket-free HTTP/2 server core: a thin driver over ``h2``.

What this module is for: :class:`H2ServerCore` wraps one server-side
``h2.connection.H2Connection``.  Bytes received go in through
:meth:`~H2ServerCore.receive`, which returns this package's own events
(:class:`RequestHead`, :class:`Body`, :class:`StreamEnd`,
:class:`StreamReset`, :class:`WindowOpened`, :class:`Terminated`); the
response is produced by calls (:meth:`~H2ServerCore.send_headers`,
:meth:`~H2ServerCore.send_data`, :meth:`~H2ServerCore.reset`,
:meth:`~H2ServerCore.goaway`) whose frames are then taken with
:meth:`~H2ServerCore.data_to_send`.

What it must never do: touch a socket, an event loop or a clock; frame,
compress headers or track stream states itself (``h2`` does all three);
or let an ``h2`` exception escape :meth:`~H2ServerCore.receive` (a peer's
protocol error becomes a :class:`Terminated` event and a GOAWAY to send).

``h2`` is an optional dependency (the ``http2`` extra); importing this
module without it raises an ImportError that names the extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

try:
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.exceptions
    import h2.settings
    from hpack import NeverIndexedHeaderTuple

    from tornado_compat.http2.hpack_cache import CachingEncoder
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "HTTP/2 needs the h2 package: pip install 'tornado_compat[http2]'"
    ) from e

__all__ = [
    "Body",
    "H2ServerCore",
    "RequestHead",
    "StreamEnd",
    "StreamReset",
    "Terminated",
    "WindowOpened",
    "CONNECTION_SPECIFIC",
    "PREFACE",
]

#: The client connection preface (RFC 9113 section 3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

#: Response header names that HTTP/2 forbids (RFC 9113 section 8.2.2);
#: they are dropped, not sent.
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


@dataclass
class RequestHead:
    """A request's header block: pseudo-headers taken out, the rest in
    order as ``(name, value)`` byte pairs (Cookie crumbs joined)."""

    stream_id: int
    method: bytes
    path: bytes
    authority: bytes | None
    scheme: bytes | None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    end_stream: bool = False


@dataclass
class Body:
    """A piece of a request body.  ``flow_length`` bytes of window are
    given back only by :meth:`H2ServerCore.acknowledge`, so that a slow
    consumer holds the peer back."""

    stream_id: int
    data: bytes
    flow_length: int


@dataclass
class StreamEnd:
    """The peer ended its side of the stream (the request is complete).
    Request trailers, which a server application has no way to see, are
    discarded."""

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
    """The connection is over: the peer sent GOAWAY, or broke the
    protocol (``reason`` says how; a GOAWAY is then waiting in
    :meth:`H2ServerCore.data_to_send`)."""

    error_code: int
    last_stream_id: int | None
    reason: str = ""


Event = RequestHead | Body | StreamEnd | StreamReset | WindowOpened | Terminated


class H2ServerCore:
    """One server-side HTTP/2 connection, without I/O.

    ``max_concurrent_streams`` is advertised in SETTINGS and enforced by
    ``h2`` (streams past it are refused).  ``max_header_list_size`` is
    advertised too, and ``h2`` also bounds decoded header blocks by it.
    """

    def __init__(
        self,
        max_concurrent_streams: int = 100,
        max_header_list_size: int = 65536,
        initial_window_size: int = 65535,
    ) -> None:
        config = h2.config.H2Configuration(
            client_side=False,
            header_encoding=None,
            validate_inbound_headers=True,
            normalize_inbound_headers=True,
            # Outbound fields are normalized and checked by _outbound_fields,
            # in one pass, instead of by h2's generator chains.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
        )
        self._h2 = h2.connection.H2Connection(config=config)
        # The usual response heads are encoded once per dynamic table state.
        self._h2.encoder = CachingEncoder()
        self._h2.local_settings = h2.settings.Settings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: max_header_list_size,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window_size,
            },
        )
        self._h2.max_inbound_frame_size = self._h2.local_settings.max_frame_size
        self._h2.initiate_connection()
        self.terminated = False

    # -- bytes in ------------------------------------------------------------

    def receive(self, data: bytes) -> list[Event]:
        """Feed received bytes; return what they meant, in order."""
        if self.terminated:
            return []
        try:
            raw = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.terminated = True
            if self._h2.state_machine.state != h2.connection.ConnectionState.CLOSED:
                # h2 sends no GOAWAY for a bad preface; the peer still
                # deserves to hear why it is cut off.
                try:
                    self._h2.close_connection(e.error_code)
                except h2.exceptions.ProtocolError:
                    pass
            return [Terminated(int(e.error_code), None, str(e) or type(e).__name__)]
        events: list[Event] = []
        for ev in raw:
            if isinstance(ev, h2.events.RequestReceived):
                events.append(_request_head(ev))
                if ev.stream_ended is not None:
                    events.append(StreamEnd(ev.stream_id))
            elif isinstance(ev, h2.events.DataReceived):
                assert ev.stream_id is not None and ev.data is not None
                events.append(
                    Body(ev.stream_id, ev.data, ev.flow_controlled_length or 0)
                )
                if ev.stream_ended is not None:
                    events.append(StreamEnd(ev.stream_id))
            elif isinstance(ev, h2.events.TrailersReceived):
                if ev.stream_ended is not None and ev.stream_id is not None:
                    events.append(StreamEnd(ev.stream_id))
            elif isinstance(ev, h2.events.StreamReset):
                assert ev.stream_id is not None
                events.append(StreamReset(ev.stream_id, int(ev.error_code or 0)))
            elif isinstance(ev, h2.events.WindowUpdated):
                events.append(WindowOpened(ev.stream_id or 0))
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in ev.changed_settings:
                    events.append(WindowOpened(0))
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.terminated = True
                events.append(
                    Terminated(
                        int(ev.error_code or 0),
                        ev.last_stream_id,
                        "the peer sent GOAWAY",
                    )
                )
            # Pings and settings are answered by h2 itself; priority and
            # the rest carry nothing for a server application.
        return events

    def acknowledge(self, stream_id: int, flow_length: int) -> None:
        """Give ``flow_length`` bytes of a request body back to the peer's
        window (call once the application has taken them)."""
        if flow_length <= 0 or self.terminated:
            return
        try:
            self._h2.acknowledge_received_data(flow_length, stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            # The stream ended meanwhile: only the connection window matters,
            # and h2 has already credited it for closed streams.
            pass

    # -- bytes out -----------------------------------------------------------

    def data_to_send(self) -> bytes:
        """The frames produced so far, taken (empty when none)."""
        return self._h2.data_to_send()

    def send_headers(
        self,
        stream_id: int,
        status: int,
        headers: Iterable[tuple[bytes, bytes]],
        end_stream: bool = False,
    ) -> None:
        """Send a response head.  Header names are lowercased and those in
        :data:`CONNECTION_SPECIFIC` are dropped."""
        block: list[tuple[bytes, bytes]] = [(b":status", b"%d" % status)]
        _outbound_fields(headers, block)
        self._h2.send_headers(stream_id, block, end_stream=end_stream)

    def send_trailers(
        self, stream_id: int, headers: Iterable[tuple[bytes, bytes]]
    ) -> None:
        """End the stream with a trailer block."""
        block: list[tuple[bytes, bytes]] = []
        _outbound_fields(headers, block)
        self._h2.send_headers(stream_id, block, end_stream=True)

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
        window = self.window(stream_id)
        size = min(window, len(data))
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

    def end_stream(self, stream_id: int) -> None:
        """End the response with no more data."""
        self._h2.end_stream(stream_id)

    def reset(self, stream_id: int, error_code: int = CANCEL) -> None:
        """Reset the stream (nothing is sent if it is already closed)."""
        try:
            self._h2.reset_stream(stream_id, error_code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            pass

    def goaway(self, error_code: int = NO_ERROR) -> None:
        """Send GOAWAY naming the last stream this side has seen."""
        self._h2.close_connection(error_code)

    @property
    def open_streams(self) -> int:
        """Streams the peer opened that are not closed yet."""
        return self._h2.open_inbound_streams


# Sent as HPACK never-indexed fields, as h2's own normalization does: kept
# out of the compression context, where they could be guessed at.
_SECRET = frozenset({b"authorization", b"proxy-authorization"})


def _outbound_fields(
    headers: Iterable[tuple[bytes, bytes]], block: list[tuple[bytes, bytes]]
) -> None:
    """Append the application's fields to ``block`` as h2's outbound
    normalization and validation would have them, in one pass: names
    lowercased, names and values stripped, connection-specific fields and a
    TE other than ``trailers`` dropped, secrets never indexed; a
    pseudo-header field raises ``h2.exceptions.ProtocolError``."""
    for name, value in headers:
        name = name.strip().lower()
        value = value.strip()
        if name in CONNECTION_SPECIFIC:
            continue
        if name[:1] == b":":
            raise h2.exceptions.ProtocolError(
                f"pseudo-header field {name!r} among the application's headers"
            )
        if name == b"te" and value.lower() != b"trailers":
            continue
        if name in _SECRET or (name == b"cookie" and len(value) < 20):
            block.append(NeverIndexedHeaderTuple(name, value))
        else:
            block.append((name, value))


def _request_head(ev: h2.events.RequestReceived) -> RequestHead:
    assert ev.stream_id is not None and ev.headers is not None
    method = path = b""
    authority = scheme = None
    headers: list[tuple[bytes, bytes]] = []
    cookies: list[bytes] = []
    for name, value in ev.headers:
        name_b = bytes(name)
        value_b = bytes(value)
        if name_b[:1] == b":":
            if name_b == b":method":
                method = value_b
            elif name_b == b":path":
                path = value_b
            elif name_b == b":authority":
                authority = value_b
            elif name_b == b":scheme":
                scheme = value_b
        elif name_b == b"cookie":
            # HTTP/2 may split Cookie into crumbs; an HTTP/1 application
            # expects one header joined by "; " (RFC 9113 section 8.2.3).
            cookies.append(value_b)
        else:
            headers.append((name_b, value_b))
    if cookies:
        headers.append((b"cookie", b"; ".join(cookies)))
    return RequestHead(ev.stream_id, method, path, authority, scheme, headers)
