"""The socket-free HTTP/2 client core, byte for byte: its frames are read by
a server-side ``h2`` connection (an independent peer) and the peer's frames
are fed back to it, so each test shows what goes on the wire and what the
core makes of what comes back."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("h2")

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.errors  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402

from tornado_compat.http2 import clientcore  # noqa: E402
from tornado_compat.http2.clientcore import (  # noqa: E402
    Body,
    H2ClientCore,
    ResponseHead,
    SettingsChanged,
    StreamEnd,
    StreamReset,
    Terminated,
    WindowOpened,
)


class Pair:
    """A client core and an ``h2`` server, wired by hand."""

    def __init__(self, **server_settings: int) -> None:
        self.client = H2ClientCore()
        self.server = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.server.initiate_connection()
        if server_settings:
            self.server.update_settings(
                {
                    getattr(h2.settings.SettingCodes, name): value
                    for name, value in server_settings.items()
                }
            )
        self.to_server()
        self.events = self.to_client()

    def to_server(self) -> list[Any]:
        return self.server.receive_data(self.client.data_to_send())

    def to_client(self) -> list[Any]:
        return self.client.receive(self.server.data_to_send())


def test_request_head_drops_connection_headers_and_host() -> None:
    pair = Pair()
    stream_id = pair.client.send_request(
        b"GET",
        b"https",
        b"example.test:8443",
        b"/a?b=c",
        [
            (b"Host", b"example.test:8443"),
            (b"Connection", b"keep-alive"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Transfer-Encoding", b"chunked"),
            (b"TE", b"gzip"),
            (b"User-Agent", b"test"),
            (b"X-Two", b"1"),
            (b"X-Two", b"2"),
        ],
        end_stream=True,
    )
    assert stream_id == 1
    (received, ended) = [
        e
        for e in pair.to_server()
        if isinstance(e, (h2.events.RequestReceived, h2.events.StreamEnded))
    ]
    assert isinstance(ended, h2.events.StreamEnded)
    assert received.headers == [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"example.test:8443"),
        (b":path", b"/a?b=c"),
        (b"user-agent", b"test"),
        (b"x-two", b"1"),
        (b"x-two", b"2"),
    ]
    assert pair.client.send_request(b"GET", b"http", b"h", b"/", []) == 3


def test_push_is_off_and_header_list_size_advertised() -> None:
    pair = Pair()
    assert pair.server.remote_settings.enable_push == 0
    assert pair.server.remote_settings.max_header_list_size == 65536


def test_response_events_in_order() -> None:
    pair = Pair()
    sid = pair.client.send_request(b"GET", b"http", b"h", b"/", [], end_stream=True)
    pair.to_server()
    pair.server.send_headers(sid, [(b":status", b"103"), (b"link", b"</a>")])
    pair.server.send_headers(sid, [(b":status", b"200"), (b"x-a", b"1")])
    pair.server.send_data(sid, b"hello ")
    pair.server.send_data(sid, b"world", end_stream=True)
    events = pair.to_client()
    assert events == [
        ResponseHead(sid, 103, [(b"link", b"</a>")]),
        ResponseHead(sid, 200, [(b"x-a", b"1")]),
        Body(sid, b"hello ", 6),
        Body(sid, b"world", 5),
        StreamEnd(sid),
    ]
    assert pair.client.open_streams == 0


def test_body_waits_for_the_window_and_resumes() -> None:
    pair = Pair(INITIAL_WINDOW_SIZE=10)
    sid = pair.client.send_request(b"POST", b"http", b"h", b"/", [])
    assert pair.client.window(sid) == 10
    assert pair.client.send_data(sid, b"x" * 25, end_stream=True) == 10
    got = [e for e in pair.to_server() if isinstance(e, h2.events.DataReceived)]
    assert [e.data for e in got] == [b"x" * 10]
    pair.server.acknowledge_received_data(10, sid)
    assert WindowOpened(sid) in pair.to_client()
    assert pair.client.send_data(sid, b"x" * 15, end_stream=True) == 10
    pair.to_server()
    pair.server.acknowledge_received_data(10, sid)
    pair.to_client()
    assert pair.client.send_data(sid, b"x" * 5, end_stream=True) == 5
    kinds = [type(e) for e in pair.to_server()]
    assert kinds == [h2.events.DataReceived, h2.events.StreamEnded]


def test_settings_give_the_stream_limit() -> None:
    fresh = H2ClientCore()
    # Before the server's SETTINGS: the smallest limit RFC 9113 recommends.
    assert fresh.max_streams == 100
    pair = Pair(MAX_CONCURRENT_STREAMS=3)
    assert SettingsChanged(3) in pair.events
    assert pair.client.max_streams == 3


def test_acknowledge_opens_the_servers_window() -> None:
    pair = Pair()
    sid = pair.client.send_request(b"GET", b"http", b"h", b"/", [], end_stream=True)
    pair.to_server()
    pair.server.send_headers(sid, [(b":status", b"200")])
    # h2 sends WINDOW_UPDATE once a good part of the window is used.
    pair.server.send_data(sid, b"y" * 16000)
    pair.server.send_data(sid, b"y" * 16000)
    pair.server.send_data(sid, b"y" * 16000)
    bodies = [e for e in pair.to_client() if isinstance(e, Body)]
    before = pair.server.local_flow_control_window(sid)
    assert before == 65535 - 48000
    for body in bodies:
        pair.client.acknowledge(sid, body.flow_length)
    updates = [e for e in pair.to_server() if isinstance(e, h2.events.WindowUpdated)]
    assert updates, "no WINDOW_UPDATE after the body was acknowledged"
    assert pair.server.local_flow_control_window(sid) > before


def test_reset_sends_cancel_and_tolerates_closed_streams() -> None:
    pair = Pair()
    sid = pair.client.send_request(b"GET", b"http", b"h", b"/", [], end_stream=True)
    pair.client.reset(sid)
    (reset,) = [e for e in pair.to_server() if isinstance(e, h2.events.StreamReset)]
    assert reset.error_code == h2.errors.ErrorCodes.CANCEL
    pair.client.reset(sid)
    pair.client.reset(99)
    assert pair.client.data_to_send() == b""


def test_server_reset_is_an_event() -> None:
    pair = Pair()
    sid = pair.client.send_request(b"GET", b"http", b"h", b"/", [], end_stream=True)
    pair.to_server()
    pair.server.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
    assert pair.to_client() == [StreamReset(sid, clientcore.REFUSED_STREAM)]


def test_goaway_names_the_last_stream_and_lets_it_complete() -> None:
    pair = Pair()
    first = pair.client.send_request(b"GET", b"http", b"h", b"/", [], end_stream=True)
    pair.client.send_request(b"GET", b"http", b"h", b"/", [], end_stream=True)
    pair.to_server()
    pair.server.close_connection(last_stream_id=first)
    # The h2 peer closes its own state machine on sending GOAWAY
    # (python-hyper/h2#1181): it is reopened to play a server that goes on
    # with the stream it kept.  The answer comes in the same read as the
    # GOAWAY.
    pair.server.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN
    pair.server.send_headers(first, [(b":status", b"200")])
    pair.server.send_data(first, b"done", end_stream=True)
    assert pair.to_client() == [
        Terminated(0, first, "the server sent GOAWAY"),
        ResponseHead(first, 200, []),
        Body(first, b"done", 4),
        StreamEnd(first),
    ]
    assert pair.client.goaway_received
    with pytest.raises(RuntimeError):
        pair.client.send_request(b"GET", b"http", b"h", b"/", [])


def test_garbage_is_a_terminated_event_and_a_goaway() -> None:
    pair = Pair()
    # A DATA frame on stream 0 is a connection error (RFC 9113 6.1).
    events = pair.client.receive(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
    (event,) = events
    assert isinstance(event, Terminated)
    assert event.last_stream_id is None
    assert event.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    goaway = [
        e for e in pair.to_server() if isinstance(e, h2.events.ConnectionTerminated)
    ]
    assert goaway and goaway[0].error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    assert pair.client.receive(b"more") == []


def test_goaway_from_the_client() -> None:
    pair = Pair()
    pair.client.goaway()
    pair.client.goaway()
    events = pair.to_server()
    goaways = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert len(goaways) == 1
    assert goaways[0].error_code == h2.errors.ErrorCodes.NO_ERROR


@pytest.mark.parametrize(
    "field",
    [
        (b":custom", b"x"),
        (b"x-a", b" lead"),
        (b"x-a", b"trail\t"),
        (b"x-a", b"a\x00b"),
        (b"x-a", b"a\r\nb"),
        (b"", b"x"),
    ],
)
def test_malformed_fields_are_refused_before_sending(
    field: tuple[bytes, bytes],
) -> None:
    pair = Pair()
    pair.to_server()
    with pytest.raises(ValueError, match="not allowed in HTTP/2"):
        pair.client.send_request(b"GET", b"http", b"h", b"/", [field])
    assert pair.client.data_to_send() == b""
    # The stream id was not used up.
    assert pair.client.send_request(b"GET", b"http", b"h", b"/", []) == 1
