"""The socket-free HTTP/2 client core: a thin driver over ``h2``.

What this module is for: :class:`H2ClientCore` wraps one client-side
``h2.connection.H2Connection``.  A request is started by
:meth:`~H2ClientCore.send_request` (its header block) and
:meth:`~H2ClientCore.send_data` / :meth:`~H2ClientCore.end_stream` (its
body, within the peer's flow-control windows); received bytes go in
through :meth:`~H2ClientCore.receive`, which returns this package's own
events (:class:`ResponseHead`, :class:`Body`, :class:`StreamEnd`,
:class:`StreamReset`, :class:`WindowOpened`, :class:`SettingsChanged`,
:class:`Terminated`); the frames to write are taken with
:meth:`~H2ClientCore.data_to_send`.

What it must never do: touch a socket, an event loop or a clock; frame,
compress headers or track stream states itself (``h2`` does all three);
or let an ``h2`` exception escape :meth:`~H2ClientCore.receive` (a
server's protocol error becomes a :class:`Terminated` event and a GOAWAY
to send).

``h2`` is an optional dependency (the ``http2`` extra); importing this
module without it raises an ImportError that names the extra.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

# What comes from .common is re-exported: callers name it as this module's.
from tornado_compat.http2 import common
from tornado_compat.http2.common import CANCEL as CANCEL
from tornado_compat.http2.common import (
    NO_ERROR,
    Body,
    CoreBase,
    StreamEnd,
    StreamReset,
    Terminated,
    WindowOpened,
)
from tornado_compat.http2.common import REFUSED_STREAM as REFUSED_STREAM

__all__ = [
    "Body",
    "H2ClientCore",
    "ResponseHead",
    "SettingsChanged",
    "StreamEnd",
    "StreamReset",
    "Terminated",
    "WindowOpened",
    "CONNECTION_SPECIFIC",
]

#: Request header names that HTTP/2 forbids (RFC 9113 section 8.2.2), and
#: ``host``, which becomes ``:authority``; they are not sent.
CONNECTION_SPECIFIC = common.CONNECTION_SPECIFIC | {b"host"}

# A field value may hold no NUL, CR or LF, and may not begin or end with a
# space or a tab (RFC 9113 section 8.2.1).
_FORBIDDEN_IN_FIELDS = re.compile(rb"[\x00\r\n]|^[ \t]|[ \t]$")

# Until the server's SETTINGS say otherwise, a client may open as many
# streams as it likes (RFC 9113 section 6.5.2); one hundred is the
# smallest limit the RFC recommends a server to allow.
_DEFAULT_MAX_STREAMS = 100


@dataclass
class ResponseHead:
    """A response header block (``status`` below 200 for an informational
    one): ``:status`` taken out, the rest in order as byte pairs."""

    stream_id: int
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass
class SettingsChanged:
    """The server's SETTINGS changed how many streams may be open at once
    (:attr:`H2ClientCore.max_streams`)."""

    max_streams: int


Event = (
    ResponseHead
    | Body
    | StreamEnd
    | StreamReset
    | WindowOpened
    | SettingsChanged
    | Terminated
)


class _H2Connection(h2.connection.H2Connection):
    """``h2``'s connection, kept open after a GOAWAY from the server.

    RFC 9113 section 6.8: the streams up to the GOAWAY's last stream id may
    still complete.  ``h2`` closes its state machine on any GOAWAY
    (python-hyper/h2#1181) and would then refuse their remaining frames,
    even those that came in the same read as the GOAWAY; the state is put
    back to open as the frame is handled.  :class:`H2ClientCore` opens no
    stream after a GOAWAY, so nothing else changes.
    """

    def _receive_goaway_frame(self, frame: Any) -> Any:
        result = super()._receive_goaway_frame(frame)
        self.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
        return result


class H2ClientCore(CoreBase):
    """One client-side HTTP/2 connection, without I/O.

    Server push is turned off in the first SETTINGS.  ``max_header_list_size``
    is advertised to the server; ``initial_window_size`` is the window this
    side gives each response stream.
    """

    def __init__(
        self,
        max_header_list_size: int = 65536,
        initial_window_size: int = 65535,
    ) -> None:
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_inbound_headers=True,
            validate_outbound_headers=True,
            normalize_inbound_headers=True,
            normalize_outbound_headers=True,
        )
        self._h2 = _H2Connection(config=config)
        self._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: max_header_list_size,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: initial_window_size,
            },
        )
        self._h2.initiate_connection()
        #: This side sent GOAWAY, or the server broke the protocol.
        self.terminated = False
        #: The server sent GOAWAY: no new stream may be opened.
        self.goaway_received = False
        self._settings_seen = False

    # -- requests out ----------------------------------------------------------

    def send_request(
        self,
        method: bytes,
        scheme: bytes,
        authority: bytes,
        path: bytes,
        headers: Iterable[tuple[bytes, bytes]],
        end_stream: bool = False,
    ) -> int:
        """Open a stream with this request head; return its id.  Header
        names are lowercased; those in :data:`CONNECTION_SPECIFIC` are
        dropped, and so is ``te`` unless it is ``trailers``.  Raises
        RuntimeError once either side has sent GOAWAY."""
        if self.terminated or self.goaway_received:
            raise RuntimeError("no new stream after GOAWAY")
        stream_id = self._h2.get_next_available_stream_id()
        block = [
            (b":method", method),
            (b":scheme", scheme),
            (b":authority", authority),
            (b":path", path),
        ]
        for name, value in headers:
            lname = name.lower()
            if lname in CONNECTION_SPECIFIC:
                continue
            if lname == b"te" and value.strip().lower() != b"trailers":
                continue
            if not lname or lname[:1] == b":" or _FORBIDDEN_IN_FIELDS.search(value):
                # RFC 9113 section 8.2.1: a server must treat such a field
                # as malformed; h2 would send some of them.
                raise ValueError(
                    f"header field not allowed in HTTP/2: {name.decode('latin-1')!r}"
                )
            block.append((lname, value))
        self._h2.send_headers(stream_id, block, end_stream=end_stream)
        return stream_id

    def end_stream(self, stream_id: int) -> None:
        """End the request body (nothing is sent if the stream is closed)."""
        try:
            self._h2.end_stream(stream_id)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            pass

    def goaway(self, error_code: int = NO_ERROR) -> None:
        """Send GOAWAY (a client that is done with the connection)."""
        if not self.terminated:
            self._h2.close_connection(error_code)
            self.terminated = True

    def open_connection_window(self, increment: int) -> None:
        """Let the server send ``increment`` more bytes on the connection as
        a whole (per-stream windows still apply)."""
        self._h2.increment_flow_control_window(increment)

    def data_to_send(self) -> bytes:
        """The frames produced so far, taken (empty when none)."""
        return self._h2.data_to_send()

    # -- state -----------------------------------------------------------------

    @property
    def max_streams(self) -> int:
        """How many streams may be open at once, by the server's SETTINGS."""
        if not self._settings_seen:
            return _DEFAULT_MAX_STREAMS
        value = self._h2.remote_settings.max_concurrent_streams
        return _DEFAULT_MAX_STREAMS if value is None else int(value)

    @property
    def open_streams(self) -> int:
        """Streams this side opened that are not closed yet."""
        return self._h2.open_outbound_streams

    # -- bytes in --------------------------------------------------------------

    def receive(self, data: bytes) -> list[Event]:
        """Feed received bytes; return what they meant, in order."""
        if self._h2.state_machine.state == h2.connection.ConnectionState.CLOSED:
            return []
        try:
            raw = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.terminated = True
            try:
                self._h2.close_connection(e.error_code)
            except h2.exceptions.ProtocolError:
                pass
            return [Terminated(int(e.error_code), None, str(e) or type(e).__name__)]
        events: list[Event] = []
        for ev in raw:
            if isinstance(ev, h2.events.ResponseReceived):
                assert ev.stream_id is not None and ev.headers is not None
                events.append(_response_head(ev.stream_id, ev.headers))
            elif isinstance(ev, h2.events.InformationalResponseReceived):
                assert ev.stream_id is not None and ev.headers is not None
                events.append(_response_head(ev.stream_id, ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                assert ev.stream_id is not None and ev.data is not None
                events.append(
                    Body(ev.stream_id, ev.data, ev.flow_controlled_length or 0)
                )
            elif isinstance(ev, h2.events.StreamEnded):
                assert ev.stream_id is not None
                events.append(StreamEnd(ev.stream_id))
            elif isinstance(ev, h2.events.StreamReset):
                assert ev.stream_id is not None
                events.append(StreamReset(ev.stream_id, int(ev.error_code or 0)))
            elif isinstance(ev, h2.events.WindowUpdated):
                events.append(WindowOpened(ev.stream_id or 0))
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                self._settings_seen = True
                if h2.settings.SettingCodes.INITIAL_WINDOW_SIZE in ev.changed_settings:
                    events.append(WindowOpened(0))
                # Always: the first SETTINGS replaces the default limit
                # even when it does not name one.
                events.append(SettingsChanged(self.max_streams))
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway_received = True
                events.append(
                    Terminated(
                        int(ev.error_code or 0),
                        ev.last_stream_id,
                        "the server sent GOAWAY",
                    )
                )
            # Pings and settings acknowledgements are answered by h2; push
            # is off; trailers and priority carry nothing for a fetch.
        return events


def _response_head(
    stream_id: int, raw: Iterable[tuple[bytes | str, bytes | str]]
) -> ResponseHead:
    status = 0
    headers: list[tuple[bytes, bytes]] = []
    for name, value in raw:
        name_b = name if isinstance(name, bytes) else name.encode("latin-1")
        value_b = value if isinstance(value, bytes) else value.encode("latin-1")
        if name_b == b":status":
            status = int(value_b)
        elif name_b[:1] != b":":
            headers.append((name_b, value_b))
    return ResponseHead(stream_id, status, headers)
