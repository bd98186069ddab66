"""The socket-free HTTP/2 core, driven byte by byte by a client-side
``h2`` connection as the peer (no sockets)."""

from __future__ import annotations

import pytest

pytest.importorskip("h2")

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402

from tornado_compat.http2 import core  # noqa: E402

REQUEST = [
    (b":method", b"GET"),
    (b":path", b"/a?b=c"),
    (b":authority", b"example.com"),
    (b":scheme", b"https"),
    (b"user-agent", b"test"),
]


def client() -> h2.connection.H2Connection:
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    conn.initiate_connection()
    return conn


def feed(server: core.H2ServerCore, data: bytes, bytewise: bool) -> list[core.Event]:
    if not bytewise:
        return server.receive(data)
    events: list[core.Event] = []
    for i in range(len(data)):
        events.extend(server.receive(data[i : i + 1]))
    return events


def requests(events: list[core.Event]) -> list[core.Event]:
    return [e for e in events if not isinstance(e, core.WindowOpened)]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_get_request_head_and_end(bytewise: bool) -> None:
    server = core.H2ServerCore()
    peer = client()
    peer.send_headers(1, REQUEST, end_stream=True)
    events = requests(feed(server, peer.data_to_send(), bytewise))
    assert events == [
        core.RequestHead(
            1, b"GET", b"/a?b=c", b"example.com", b"https", [(b"user-agent", b"test")]
        ),
        core.StreamEnd(1),
    ]


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_body_then_end_and_flow_control_acknowledged(bytewise: bool) -> None:
    server = core.H2ServerCore()
    peer = client()
    peer.receive_data(server.data_to_send())
    post = [(b":method", b"POST")] + REQUEST[1:]
    peer.send_headers(1, post)
    for _ in range(3):
        peer.send_data(1, b"x" * 10000)
    peer.send_data(1, b"x" * 10000, end_stream=True)
    events = requests(feed(server, peer.data_to_send(), bytewise))
    body = b"".join(e.data for e in events if isinstance(e, core.Body))
    assert body == b"x" * 40000
    assert isinstance(events[-1], core.StreamEnd)
    before = peer.outbound_flow_control_window
    assert before == 65535 - 40000
    # Nothing is given back until the application has taken the body.
    peer.receive_data(server.data_to_send())
    assert peer.outbound_flow_control_window == before
    flow = sum(e.flow_length for e in events if isinstance(e, core.Body))
    server.acknowledge(1, flow)
    peer.receive_data(server.data_to_send())
    assert peer.outbound_flow_control_window == 65535


def test_cookie_crumbs_joined() -> None:
    server = core.H2ServerCore()
    peer = client()
    peer.send_headers(
        1, REQUEST + [(b"cookie", b"a=1"), (b"cookie", b"b=2")], end_stream=True
    )
    (head, _end) = requests(server.receive(peer.data_to_send()))
    assert isinstance(head, core.RequestHead)
    assert (b"cookie", b"a=1; b=2") in head.headers


def test_response_headers_drop_connection_specific() -> None:
    server = core.H2ServerCore()
    peer = client()
    peer.send_headers(1, REQUEST, end_stream=True)
    server.receive(peer.data_to_send())
    server.send_headers(
        1,
        200,
        [
            (b"Content-Type", b"text/plain"),
            (b"Connection", b"close"),
            (b"Keep-Alive", b"timeout=5"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Upgrade", b"websocket"),
            (b"Proxy-Connection", b"close"),
        ],
    )
    assert server.send_data(1, b"hello", end_stream=True) == 5
    events = peer.receive_data(server.data_to_send())
    (response,) = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert response.headers == [(b":status", b"200"), (b"content-type", b"text/plain")]
    (data,) = [e for e in events if isinstance(e, h2.events.DataReceived)]
    assert data.data == b"hello"
    assert any(isinstance(e, h2.events.StreamEnded) for e in events)


def test_send_data_stops_at_the_window_and_resumes_when_it_opens() -> None:
    server = core.H2ServerCore()
    peer = client()
    peer.send_headers(1, REQUEST, end_stream=True)
    server.receive(peer.data_to_send())
    peer.receive_data(server.data_to_send())
    server.send_headers(1, 200, [])
    body = b"y" * 100_000
    sent = server.send_data(1, body)
    assert sent == 65535
    assert server.window(1) == 0
    received = 0
    for e in peer.receive_data(server.data_to_send()):
        if isinstance(e, h2.events.DataReceived):
            received += len(e.data)
            peer.acknowledge_received_data(e.flow_controlled_length, 1)
    assert received == 65535
    events = server.receive(peer.data_to_send())
    assert core.WindowOpened(1) in events
    assert server.send_data(1, body[sent:], end_stream=True) == len(body) - sent


def test_peer_reset_is_reported() -> None:
    server = core.H2ServerCore()
    peer = client()
    peer.send_headers(1, REQUEST)
    peer.reset_stream(1, 8)
    events = requests(server.receive(peer.data_to_send()))
    assert events[-1] == core.StreamReset(1, 8)


def test_protocol_error_terminates_with_goaway() -> None:
    server = core.H2ServerCore()
    events = server.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    (terminated,) = events
    assert isinstance(terminated, core.Terminated)
    assert terminated.error_code == core.PROTOCOL_ERROR
    assert terminated.reason
    assert server.terminated
    # A GOAWAY frame (type 7) follows the server's SETTINGS.
    out = server.data_to_send()
    assert out[3] == 4
    goaway_at = 9 + int.from_bytes(out[:3], "big")
    assert out[goaway_at + 3] == 7
    assert server.receive(b"more") == []


def test_peer_goaway_terminates() -> None:
    server = core.H2ServerCore()
    peer = client()
    peer.close_connection()
    (terminated,) = requests(server.receive(peer.data_to_send()))
    assert terminated == core.Terminated(0, 0, "the peer sent GOAWAY")


def test_reset_and_goaway_are_sent() -> None:
    server = core.H2ServerCore()
    peer = client()
    peer.send_headers(1, REQUEST)
    server.receive(peer.data_to_send())
    server.reset(1, core.CANCEL)
    server.reset(1, core.CANCEL)  # already closed: nothing more
    server.goaway()
    events = peer.receive_data(server.data_to_send())
    kinds = [type(e) for e in events]
    assert h2.events.StreamReset in kinds
    assert h2.events.ConnectionTerminated in kinds


def test_settings_advertised() -> None:
    server = core.H2ServerCore(max_concurrent_streams=7, max_header_list_size=1000)
    peer = client()
    peer.receive_data(server.data_to_send())
    assert peer.remote_settings.max_concurrent_streams == 7
    assert peer.remote_settings.max_header_list_size == 1000
