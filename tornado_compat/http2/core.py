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

A malformed request (RFC 9113 section 8.1.1: a header field or
pseudo-header that is missing, invalid or out of place, a
connection-specific field, a body that does not match its
Content-Length, trailers without END_STREAM) is a stream error: ``h2``
refuses it while the header block is still decoded, so the connection's
HPACK state stays whole, and the stream alone is reset with
``PROTOCOL_ERROR`` (a :class:`Malformed` event); what RFC 9113 makes a
connection error (a block HPACK cannot decode, a stream id that goes
backwards, a frame too large...) still ends the connection.

It also holds the connection's denial-of-service defences that need
nothing but counting: streams past ``max_concurrent_streams`` refused,
resets and useless control frames counted per window (past a bound, GOAWAY
``ENHANCE_YOUR_CALM``), a header block bounded in bytes while it arrives,
and the two-step GOAWAY of a graceful drain.  Time comes in as the ``now``
argument of :meth:`~H2ServerCore.receive`.

What it must never do: touch a socket, an event loop or a clock; frame,
compress headers or track stream states itself (``h2`` does all three;
the one frame built here, the first GOAWAY of a drain, is serialized by
``hyperframe``); or let an ``h2`` exception escape
:meth:`~H2ServerCore.receive` (a peer's protocol error becomes a
:class:`Terminated` event and a GOAWAY to send).

``h2`` is an optional dependency (the ``http2`` extra); importing this
module without it raises an ImportError that names the extra.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import h2.stream
import hpack
import hyperframe.frame
from hpack import HeaderTuple, NeverIndexedHeaderTuple

# What comes from .common is re-exported: callers name it as this module's.
from tornado_compat.http2 import common
from tornado_compat.http2.common import CANCEL as CANCEL
from tornado_compat.http2.common import CONNECTION_SPECIFIC as CONNECTION_SPECIFIC
from tornado_compat.http2.common import (
    ENHANCE_YOUR_CALM,
    NO_ERROR,
    REFUSED_STREAM,
    Body,
    CoreBase,
    StreamEnd,
    StreamReset,
    WindowOpened,
)
from tornado_compat.http2.common import INTERNAL_ERROR as INTERNAL_ERROR
from tornado_compat.http2.common import PROTOCOL_ERROR as PROTOCOL_ERROR
from tornado_compat.http2.hpack_cache import CachingEncoder

__all__ = [
    "Body",
    "H2ServerCore",
    "Malformed",
    "RequestHead",
    "StreamEnd",
    "StreamReset",
    "Terminated",
    "WindowOpened",
    "CONNECTION_SPECIFIC",
    "FLOOD_WINDOW",
    "PREFACE",
]

#: The client connection preface (RFC 9113 section 3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

#: Seconds over which resets and control frames are counted against
#: ``max_resets`` and ``max_control_frames``.
FLOOD_WINDOW = 10.0

# The largest stream id: the last-stream-id of a drain's first GOAWAY,
# which refuses nothing yet (RFC 9113 section 6.8).
_MAX_STREAM_ID = 2**31 - 1
# The opaque data of the PING sent with a drain's first GOAWAY; its ACK
# means the peer has seen that GOAWAY.
_DRAIN_PING = b"h2drain\x00"
# A WINDOW_UPDATE that opens less than this is counted as a control frame:
# a real client opens windows in kilobytes; one byte at a time is a flood.
_SMALL_WINDOW_UPDATE = 1024


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
class Terminated(common.Terminated):
    """The connection is over: the peer sent GOAWAY, or broke the
    protocol (``reason`` says how; a GOAWAY is then waiting in
    :meth:`H2ServerCore.data_to_send`)."""

    #: The peer's header block or list went past ``max_header_list_size``
    #: (what HTTP/1 calls a head over ``max_header_size``).
    head_too_large: bool = False


@dataclass
class PeerDone:
    """The peer sent GOAWAY with ``NO_ERROR``: it opens no more streams
    (RFC 9113 section 6.8).  The streams it opened, up to
    ``last_stream_id``, run to their end; a GOAWAY naming that stream is
    queued, and a stream opened later is refused.  Once no stream is open
    the connection can end."""

    last_stream_id: int


@dataclass
class Malformed:
    """The peer's request on ``stream_id`` was malformed (``cause`` says
    how); the stream has been reset with ``PROTOCOL_ERROR``, and the
    connection goes on."""

    stream_id: int
    cause: str


Event = (
    RequestHead
    | Body
    | StreamEnd
    | StreamReset
    | WindowOpened
    | Terminated
    | Malformed
    | PeerDone
)


class _LocalSettings(h2.settings.Settings):
    """This side's settings, with ``h2``'s own concurrency check switched
    off: ``h2`` makes a stream past the limit a connection error, where
    RFC 9113 section 5.1.2 lets the server refuse just that stream, which
    :class:`H2ServerCore` does.  The value advertised is unchanged."""

    @property
    def max_concurrent_streams(self) -> int:
        return 2**32 + 1

    @max_concurrent_streams.setter
    def max_concurrent_streams(self, value: int) -> None:
        self[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] = value


# The methods overridden below, called as plain functions: a request's
# HEADERS frame is on the hot path, where super() would build an object.
_decode = hpack.Decoder.decode
_receive_headers_frame = h2.connection.H2Connection._receive_headers_frame
_receive_data_frame = h2.connection.H2Connection._receive_data_frame
_receive_goaway_frame = h2.connection.H2Connection._receive_goaway_frame


class _CountingDecoder(hpack.Decoder):
    """``h2``'s HPACK decoder, counting the blocks it has decoded, so that
    an error raised while a header block is received can be told to come
    from HPACK (the count did not move) or from what the block said."""

    blocks = 0

    def decode(self, data: bytes, raw: bool = False) -> Iterable[HeaderTuple]:
        headers = _decode(self, data, raw)
        self.blocks += 1
        return headers


class _MalformedReceived(h2.events.Event):
    """Handed from :class:`_ServerConnection` to the core among ``h2``'s
    events: a malformed request was refused."""

    def __init__(self, stream_id: int, cause: str) -> None:
        self.stream_id = stream_id
        self.cause = cause


# States from which the stream can be reset.
_RESETTABLE = frozenset(
    {h2.stream.StreamState.OPEN, h2.stream.StreamState.HALF_CLOSED_REMOTE}
)


class _ServerConnection(h2.connection.H2Connection):
    """``h2``'s connection, with a malformed request made the stream error
    that RFC 9113 section 8.1.1 says it is.

    ``h2`` validates a request's header block once HPACK has decoded it
    and the stream has taken it, and a body's length against its
    Content-Length as each DATA frame arrives, but makes either a
    connection error.  The two frame handlers below let ``h2`` do all of
    that and reset the stream instead, for an error raised at those points
    only: while a HEADERS frame is received, once HPACK has decoded its
    block, with the connection open and the stream still open (an error
    from HPACK, the stream id or a stream or connection state stays
    ``h2``'s connection error); while a DATA frame is received, a body
    longer or shorter than its Content-Length.

    A GOAWAY with ``NO_ERROR`` from the client leaves the connection open
    too: ``h2`` closes its state machine on any GOAWAY
    (python-hyper/h2#1181), where RFC 9113 section 6.8 lets the streams
    the client opened run to their end; the state is put back to open as
    the frame is handled (the core then refuses later streams)."""

    decoder: _CountingDecoder

    def _receive_goaway_frame(
        self, frame: hyperframe.frame.GoAwayFrame
    ) -> tuple[list[hyperframe.frame.Frame], list[h2.events.Event]]:
        result = _receive_goaway_frame(self, frame)
        if frame.error_code == NO_ERROR:
            self.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN
        return result

    def _receive_headers_frame(
        self, frame: hyperframe.frame.HeadersFrame
    ) -> tuple[list[hyperframe.frame.Frame], list[h2.events.Event]]:
        blocks = self.decoder.blocks
        try:
            return _receive_headers_frame(self, frame)
        except h2.exceptions.ProtocolError as e:
            if self.decoder.blocks == blocks:
                if type(e) is h2.exceptions.ProtocolError:
                    # The HPACK state is lost (RFC 9113 section 4.3).
                    e.error_code = h2.errors.ErrorCodes.COMPRESSION_ERROR
                raise
            stream = self.streams.get(frame.stream_id)
            if (
                isinstance(e, h2.exceptions.StreamClosedError)
                or self.state_machine.state is h2.connection.ConnectionState.CLOSED
                or stream is None
                or stream.state_machine.state not in _RESETTABLE
            ):
                # The connection's state, the stream id or the stream's
                # state was wrong, not the block: h2's answer stands.
                raise
            return self._refuse_malformed(frame.stream_id, str(e))

    def _receive_data_frame(
        self, frame: hyperframe.frame.DataFrame
    ) -> tuple[list[hyperframe.frame.Frame], list[h2.events.Event]]:
        try:
            return _receive_data_frame(self, frame)
        except h2.exceptions.InvalidBodyLengthError as e:
            out = self._refuse_malformed(frame.stream_id, str(e))
            # The frame took connection window that nothing will give back.
            self.acknowledge_received_data(
                frame.flow_controlled_length, frame.stream_id
            )
            return out

    def _refuse_malformed(
        self, stream_id: int, cause: str
    ) -> tuple[list[hyperframe.frame.Frame], list[h2.events.Event]]:
        self.reset_stream(stream_id, PROTOCOL_ERROR)
        return [], [_MalformedReceived(stream_id, cause)]


class H2ServerCore(CoreBase):
    """One server-side HTTP/2 connection, without I/O.

    ``max_concurrent_streams`` is advertised in SETTINGS; a stream opened
    past it is reset with ``REFUSED_STREAM``.  ``max_header_list_size`` is
    advertised too and bounds each header block twice: its encoded bytes
    while its frames arrive, and its decoded size while HPACK decodes it
    (an HPACK bomb stops there, with GOAWAY ``ENHANCE_YOUR_CALM``).

    Floods: streams reset by the peer or refused count against
    ``max_resets``, and frames that ask for work but carry no request
    (PING, SETTINGS, PRIORITY, WINDOW_UPDATE under 1 KiB, DATA with no
    data and no END_STREAM, unknown frames) against
    ``max_control_frames``, each over :data:`FLOOD_WINDOW` seconds of the
    ``now`` given to :meth:`receive`.  Past either bound the connection
    ends with GOAWAY ``ENHANCE_YOUR_CALM``.  ``h2`` itself ends a header
    block of more than 64 CONTINUATION frames with ``PROTOCOL_ERROR``.
    """

    def __init__(
        self,
        max_concurrent_streams: int = 100,
        max_header_list_size: int = 65536,
        initial_window_size: int = 65535,
        max_resets: int = 200,
        max_control_frames: int = 1000,
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
        self._h2 = _ServerConnection(config=config)
        # The usual response heads are encoded once per dynamic table state.
        self._h2.encoder = CachingEncoder()
        self._h2.decoder = _CountingDecoder()
        self._h2.local_settings = _LocalSettings(
            client=False,
            initial_values={
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: max_concurrent_streams,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: max_header_list_size,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window_size,
            },
        )
        self._h2.max_inbound_frame_size = self._h2.local_settings.max_frame_size
        # Enforced from the first header block, not only once the peer has
        # acknowledged the setting: a bomb may come before the ACK.
        self._h2.decoder.max_header_list_size = max_header_list_size
        self._h2.initiate_connection()
        self.terminated = False
        self.max_concurrent_streams = max_concurrent_streams
        self.max_header_list_size = max_header_list_size
        self.max_resets = max_resets
        self.max_control_frames = max_control_frames
        #: Counts in the current flood window, and when it began.
        self.resets = 0
        self.control_frames = 0
        self._window_start: float | None = None
        #: Streams refused since the connection began (over the limit, or
        #: opened after the final GOAWAY of a drain).
        self.refused = 0
        #: When the header block now arriving began (the ``now`` of the
        #: receive that brought its first frame), or None.
        self.header_block_since: float | None = None
        #: The drain: None, "first" (GOAWAY with the largest stream id and
        #: a PING sent), then "final" (GOAWAY with the real last stream id).
        self.drain_step: str | None = None
        self._last_stream_id = 0
        # Streams let in and not known to be closed yet.
        self._admitted: set[int] = set()
        # Frames this module builds itself, ahead of h2's.
        self._out = bytearray()

    # -- bytes in ------------------------------------------------------------

    def receive(self, data: bytes, now: float = 0.0) -> list[Event]:
        """Feed received bytes; return what they meant, in order, or only a
        :class:`Terminated` when they end the connection.  ``now``
        (seconds, any monotonic origin) dates the flood counts and the
        start of a header block."""
        if self.terminated:
            return []
        window_start = self._window_start
        if window_start is None or now - window_start >= FLOOD_WINDOW:
            self._window_start = now
            self.resets = self.control_frames = 0
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
            if isinstance(e, h2.exceptions.DenialOfServiceError):
                # h2 raises it for one thing: an HPACK block that decodes
                # past the header list limit (an HPACK bomb, or just a
                # large head).
                reason = f"header list over {self.max_header_list_size} bytes"
                return [Terminated(int(e.error_code), None, reason, True)]
            reason = str(e) or type(e).__name__
            return [Terminated(int(e.error_code), None, reason)]
        events: list[Event] = []
        # PRIORITY carried by a request's HEADERS is part of the request.
        with_request: set[int] = set()
        for ev in raw:
            if isinstance(ev, h2.events.RequestReceived):
                assert ev.stream_id is not None
                if ev.priority_updated is not None:
                    with_request.add(id(ev.priority_updated))
                if self._refuse(ev.stream_id):
                    continue
                events.append(_request_head(ev))
                if ev.stream_ended is not None:
                    events.append(StreamEnd(ev.stream_id))
            elif isinstance(ev, h2.events.DataReceived):
                assert ev.stream_id is not None and ev.data is not None
                if not ev.data and ev.stream_ended is None:
                    self.control_frames += 1
                    if ev.flow_controlled_length:
                        # Padding only: nothing for the application, but
                        # the window it took is given back.
                        self.acknowledge(ev.stream_id, ev.flow_controlled_length)
                    continue
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
                if ev.remote_reset:
                    self.resets += 1
                events.append(StreamReset(ev.stream_id, int(ev.error_code or 0)))
            elif isinstance(ev, h2.events.WindowUpdated):
                if (ev.delta or 0) < _SMALL_WINDOW_UPDATE:
                    self.control_frames += 1
                events.append(WindowOpened(ev.stream_id or 0))
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                self.control_frames += 1
                if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in ev.changed_settings:
                    events.append(WindowOpened(0))
            elif isinstance(ev, h2.events.PingAckReceived):
                self.control_frames += 1
                if ev.ping_data == _DRAIN_PING and self.drain_step == "first":
                    self._final_goaway()
            elif isinstance(ev, h2.events.PriorityUpdated):
                if id(ev) not in with_request:
                    self.control_frames += 1
            elif isinstance(
                ev,
                (
                    h2.events.PingReceived,
                    h2.events.SettingsAcknowledged,
                    h2.events.UnknownFrameReceived,
                ),
            ):
                # Each asks for work (an ACK to send) or carries nothing.
                self.control_frames += 1
            elif isinstance(ev, h2.events.ConnectionTerminated):
                if ev.error_code == NO_ERROR:
                    # A client done with the connection: its streams are
                    # answered (h2's state was kept open for them).
                    if self.drain_step != "final":
                        self._final_goaway()
                    events.append(PeerDone(self._last_stream_id))
                    continue
                # Ended with an error: h2 sends nothing more, so what came
                # before it in this read cannot be answered and is dropped,
                # as a protocol error or a flood ends a read.
                self.terminated = True
                return [
                    Terminated(
                        int(ev.error_code or 0),
                        ev.last_stream_id,
                        "the peer sent GOAWAY",
                    )
                ]
            elif isinstance(ev, _MalformedReceived):
                # Refused, so a flood of them is bounded as resets are.
                self.resets += 1
                events.append(Malformed(ev.stream_id, ev.cause))
        if self.resets > self.max_resets:
            return [self._calm("%d streams reset or refused" % self.resets)]
        if self.control_frames > self.max_control_frames:
            return [self._calm("%d control frames" % self.control_frames)]
        pending = self.header_block_size()
        if pending > self.max_header_list_size:
            return [self._calm("header block over %d bytes" % pending, True)]
        if not pending and not self._header_block_started():
            self.header_block_since = None
        elif self.header_block_since is None:
            self.header_block_since = now
        return _drop_reset_in_batch(events)

    def _header_block_started(self) -> bool:
        return bool(getattr(self._h2.incoming_buffer, "_headers_buffer", None))

    def header_block_size(self) -> int:
        """Bytes of a header block received without its END_HEADERS yet
        (``h2`` holds its frames until the block is complete)."""
        frames = getattr(self._h2.incoming_buffer, "_headers_buffer", None)
        if not frames:
            return 0
        return sum(len(f.data) for f in frames)

    def _refuse(self, stream_id: int) -> bool:
        """Reset a new stream with REFUSED_STREAM if it is one too many, or
        comes after the final GOAWAY; say whether it was refused."""
        if self.drain_step == "final" and stream_id > self._last_stream_id:
            refuse = True
        else:
            # Counted here, not by h2's open_inbound_streams: events come
            # after a whole read, when h2 already counts later streams.
            admitted = self._admitted
            if len(admitted) >= self.max_concurrent_streams:
                # Forget the closed ones only when it matters: the check
                # stays cheap while the connection is under its limit.
                streams = self._h2.streams
                admitted.difference_update(
                    [
                        sid
                        for sid in admitted
                        if sid not in streams or streams[sid].closed
                    ]
                )
            refuse = len(admitted) >= self.max_concurrent_streams
        if refuse:
            self.refused += 1
            self.resets += 1
            self.reset(stream_id, REFUSED_STREAM)
        else:
            self._admitted.add(stream_id)
            self._last_stream_id = max(self._last_stream_id, stream_id)
        return refuse

    def _calm(self, reason: str, head_too_large: bool = False) -> Terminated:
        """End the connection for a flood."""
        self.terminated = True
        self.goaway(ENHANCE_YOUR_CALM)
        return Terminated(int(ENHANCE_YOUR_CALM), None, reason, head_too_large)

    def expire_header_block(self) -> None:
        """A header block took too long: end the connection (its HPACK
        state cannot be left half-decoded) with GOAWAY ENHANCE_YOUR_CALM."""
        if not self.terminated:
            self._calm("header block timed out")

    # -- bytes out -----------------------------------------------------------

    def pending_output(self) -> int:
        """Bytes of frames produced and not yet taken by
        :meth:`data_to_send`."""
        return len(self._out) + len(self._h2._data_to_send)

    def data_to_send(self) -> bytes:
        """The frames produced so far, taken (empty when none)."""
        if self._out:
            out = bytes(self._out) + self._h2.data_to_send()
            self._out.clear()
            return out
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

    def end_stream(self, stream_id: int) -> None:
        """End the response with no more data."""
        self._h2.end_stream(stream_id)

    def goaway(self, error_code: int = NO_ERROR) -> None:
        """Send GOAWAY naming the last stream this side has seen; the
        connection takes no more frames."""
        if self._h2.state_machine.state == h2.connection.ConnectionState.CLOSED:
            return
        self._h2.close_connection(error_code, last_stream_id=self._last_stream_id)

    def start_drain(self) -> None:
        """Begin a graceful drain, in two steps as RFC 9113 section 6.8
        advises: GOAWAY with the largest stream id (no stream refused, so
        a request already on its way is not lost) and a PING; once the
        PING's ACK shows the peer saw it, GOAWAY with the real last
        stream id.  Streams up to that id run to their end; later ones
        are refused.  :attr:`drain_step` says how far it went."""
        if self.drain_step is not None or self.terminated:
            return
        self.drain_step = "first"
        self._h2.ping(_DRAIN_PING)
        frame = hyperframe.frame.GoAwayFrame(0)
        frame.last_stream_id = _MAX_STREAM_ID
        frame.error_code = NO_ERROR
        # Behind h2's frames so far (the PING among them): this frame
        # leaves h2's state open, unlike close_connection().
        self._out += self._h2.data_to_send()
        self._out += frame.serialize()

    def _final_goaway(self) -> None:
        self.drain_step = "final"
        frame = hyperframe.frame.GoAwayFrame(0)
        frame.last_stream_id = self._last_stream_id
        frame.error_code = NO_ERROR
        self._out += self._h2.data_to_send()
        self._out += frame.serialize()

    @property
    def open_streams(self) -> int:
        """Streams the peer opened that are not closed yet."""
        return self._h2.open_inbound_streams


# The events that end a stream by a reset (a tuple: isinstance with a
# ``|`` union would build the union once per event).
_ENDED_BY_RESET = (StreamReset, Malformed)


def _drop_reset_in_batch(events: list[Event]) -> list[Event]:
    """Leave out streams opened and reset (by the peer, or as malformed) in
    the same read: the application need never see them (a rapid reset
    costs no handler)."""
    reset = {e.stream_id for e in events if isinstance(e, _ENDED_BY_RESET)}
    if not reset:
        return events
    opened = {e.stream_id for e in events if isinstance(e, RequestHead)}
    dropped = reset & opened
    if not dropped:
        return events
    return [
        e
        for e in events
        if isinstance(e, Terminated | WindowOpened | Malformed | PeerDone)
        or e.stream_id not in dropped
    ]


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
