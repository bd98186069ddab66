"""The socket-free HTTP/2 core, driven byte by byte by a client-side
``h2`` connection as the peer (no sockets)."""

from __future__ import annotations

import pytest

pytest.importorskip("h2")

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402
import hyperframe.frame  # noqa: E402

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
    assert requests(server.receive(peer.data_to_send()))
    peer.reset_stream(1, 8)
    events = server.receive(peer.data_to_send())
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


def test_peer_goaway_with_an_error_terminates() -> None:
    # The request in the same read is dropped: h2 would send nothing for it.
    server = core.H2ServerCore()
    peer = client()
    peer.send_headers(1, REQUEST, end_stream=True)
    peer.close_connection(core.INTERNAL_ERROR)
    (terminated,) = server.receive(peer.data_to_send())
    assert terminated == core.Terminated(core.INTERNAL_ERROR, 0, "the peer sent GOAWAY")
    assert server.terminated


def out_frames(data: bytes) -> list[hyperframe.frame.Frame]:
    found = []
    while data:
        frame, length = hyperframe.frame.Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9 : 9 + length]))
        found.append(frame)
        data = data[9 + length :]
    return found


def test_peer_goaway_without_error_lets_its_streams_finish() -> None:
    # RFC 9113 section 6.8: a client's GOAWAY stops new streams, not the
    # ones it opened; h2 alone would close its state and refuse the answer.
    server = core.H2ServerCore()
    peer = client()
    server.receive(peer.data_to_send())
    server.data_to_send()
    peer.send_headers(1, REQUEST, end_stream=True)
    peer.close_connection()
    events = requests(server.receive(peer.data_to_send()))
    assert [type(e) for e in events] == [
        core.RequestHead,
        core.StreamEnd,
        core.PeerDone,
    ]
    assert events[-1] == core.PeerDone(1)
    assert not server.terminated
    # The answer can be sent, after a GOAWAY that names stream 1.
    server.send_headers(1, 200, [(b"content-length", b"0")], end_stream=True)
    goaway, headers = out_frames(server.data_to_send())
    assert isinstance(goaway, hyperframe.frame.GoAwayFrame)
    assert (goaway.last_stream_id, goaway.error_code) == (1, 0)
    assert isinstance(headers, hyperframe.frame.HeadersFrame)
    assert headers.stream_id == 1 and "END_STREAM" in headers.flags
    # A stream the client opens after its GOAWAY is refused.
    late = hyperframe.frame.HeadersFrame(3)
    late.data = peer.encoder.encode(REQUEST)
    late.flags.add("END_HEADERS")
    late.flags.add("END_STREAM")
    assert requests(server.receive(late.serialize())) == []
    (refused,) = out_frames(server.data_to_send())
    assert isinstance(refused, hyperframe.frame.RstStreamFrame)
    assert (refused.stream_id, refused.error_code) == (3, core.REFUSED_STREAM)


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


# -- limits and flood counters ------------------------------------------------


def connected(**kwargs: int) -> tuple[core.H2ServerCore, h2.connection.H2Connection]:
    """A server core and a peer that have exchanged prefaces and SETTINGS."""
    server = core.H2ServerCore(**kwargs)
    peer = client()
    server.receive(peer.data_to_send())
    peer.receive_data(server.data_to_send())
    server.receive(peer.data_to_send())
    server.data_to_send()
    return server, peer


def frames_of(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, stream id, payload) of each frame in ``data``."""
    out = []
    while data:
        size = int.from_bytes(data[:3], "big")
        kind = data[3]
        stream_id = int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
        out.append((kind, stream_id, data[9 : 9 + size]))
        data = data[9 + size :]
    return out


def goaway_code(data: bytes) -> int | None:
    for kind, _sid, payload in frames_of(data):
        if kind == 7:
            return int.from_bytes(payload[4:8], "big")
    return None


def test_streams_past_the_limit_are_refused_not_the_connection() -> None:
    server = core.H2ServerCore(max_concurrent_streams=2)
    # A peer that has not read the server's SETTINGS yet, as RFC 9113
    # allows: it does not know the limit.
    peer = client()
    for stream_id in (1, 3, 5):
        peer.send_headers(stream_id, REQUEST)
    events = server.receive(peer.data_to_send())
    assert [e.stream_id for e in events if isinstance(e, core.RequestHead)] == [1, 3]
    assert server.refused == 1
    resets = [(k, s, p) for k, s, p in frames_of(server.data_to_send()) if k == 3]
    assert resets == [(3, 5, int(core.REFUSED_STREAM).to_bytes(4, "big"))]
    assert not server.terminated


def test_stream_opened_and_reset_in_one_read_never_reaches_the_application() -> None:
    server, peer = connected()
    peer.send_headers(1, REQUEST)
    peer.reset_stream(1, 8)
    peer.send_headers(3, REQUEST, end_stream=True)
    events = requests(server.receive(peer.data_to_send()))
    assert [e.stream_id for e in events] == [3, 3]
    assert server.resets == 1


def test_rapid_reset_past_the_bound_gets_enhance_your_calm() -> None:
    server, peer = connected(max_resets=10)
    terminated = None
    for i in range(20):
        stream_id = 1 + 2 * i
        peer.send_headers(stream_id, REQUEST)
        peer.reset_stream(stream_id, 8)
        events = server.receive(peer.data_to_send(), now=0.0)
        if events and isinstance(events[-1], core.Terminated):
            terminated = events[-1]
            break
    assert terminated is not None and i == 10
    assert terminated.error_code == core.ENHANCE_YOUR_CALM
    assert goaway_code(server.data_to_send()) == core.ENHANCE_YOUR_CALM


def test_resets_are_counted_per_window() -> None:
    server, peer = connected(max_resets=10)
    for i in range(30):
        stream_id = 1 + 2 * i
        peer.send_headers(stream_id, REQUEST)
        peer.reset_stream(stream_id, 8)
        # Ten resets per window, never more.
        now = (i // 10) * core.FLOOD_WINDOW
        events = server.receive(peer.data_to_send(), now=now)
        assert not any(isinstance(e, core.Terminated) for e in events)
    assert server.resets == 10


@pytest.mark.parametrize("kind", ["ping", "settings", "empty-data", "window", "prio"])
def test_control_frame_flood_gets_enhance_your_calm(kind: str) -> None:
    server, peer = connected(max_control_frames=50)
    peer.send_headers(1, REQUEST)
    server.receive(peer.data_to_send())
    # The peer's SETTINGS and its ACK of the server's count too.
    base = server.control_frames
    for i in range(100):
        if kind == "ping":
            peer.ping(b"%08d" % i)
        elif kind == "settings":
            peer.update_settings({h2.settings.SettingCodes.ENABLE_PUSH: 0})
        elif kind == "empty-data":
            peer.send_data(1, b"")
        elif kind == "window":
            peer.increment_flow_control_window(1)
        else:
            peer.prioritize(1, weight=16)
        events = server.receive(peer.data_to_send())
        if events and isinstance(events[-1], core.Terminated):
            break
    assert i == 50 - base
    assert events[-1].error_code == core.ENHANCE_YOUR_CALM


def test_a_request_with_priority_is_not_a_control_frame() -> None:
    server, peer = connected(max_control_frames=5)
    for i in range(20):
        peer.send_headers(1 + 2 * i, REQUEST, end_stream=True, priority_weight=16)
        assert not any(
            isinstance(e, core.Terminated) for e in server.receive(peer.data_to_send())
        )
    assert server.control_frames == 2


def test_hpack_bomb_stops_at_the_header_list_limit() -> None:
    server, peer = connected(max_header_list_size=4096)
    # One 1000-byte header enters the dynamic table, then is repeated by
    # its one-byte index: 64 bytes on the wire, 64 KB decoded.
    big = [(b"x-big", b"a" * 1000)]
    peer.send_headers(1, REQUEST + big, end_stream=True)
    server.receive(peer.data_to_send())
    block = peer.encoder.encode(REQUEST + big * 64)
    assert len(block) < 200
    frame = hyperframe.frame.HeadersFrame(3)
    frame.data = block
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    events = server.receive(frame.serialize())
    assert isinstance(events[-1], core.Terminated)
    assert events[-1].error_code == core.ENHANCE_YOUR_CALM


def continuation(stream_id: int, payload: bytes, end: bool = False) -> bytes:
    frame = hyperframe.frame.ContinuationFrame(stream_id)
    frame.data = payload
    if end:
        frame.flags.add("END_HEADERS")
    return frame.serialize()


def test_header_block_is_bounded_in_bytes_while_it_arrives() -> None:
    server, peer = connected(max_header_list_size=8192)
    frame = hyperframe.frame.HeadersFrame(1)
    frame.data = peer.encoder.encode(REQUEST)
    events = server.receive(frame.serialize(), now=5.0)
    assert events == [] and server.header_block_since == 5.0
    for _ in range(3):
        events = server.receive(continuation(1, b"\x00" * 4000))
        if events:
            break
    assert server.header_block_size() <= 8192 + 4000
    assert events[-1].error_code == core.ENHANCE_YOUR_CALM


def test_h2_ends_a_block_of_many_tiny_continuations() -> None:
    server, peer = connected()
    frame = hyperframe.frame.HeadersFrame(1)
    frame.data = peer.encoder.encode(REQUEST)
    server.receive(frame.serialize())
    sent = 0
    while sent < 100:
        events = server.receive(continuation(1, b""))
        sent += 1
        if events:
            break
    # h2 allows a header block 64 frames in all.
    assert sent == 64
    assert events[-1].error_code == core.PROTOCOL_ERROR


def test_header_block_since_clears_when_the_block_completes() -> None:
    server, peer = connected()
    frame = hyperframe.frame.HeadersFrame(1)
    block = peer.encoder.encode(REQUEST)
    frame.data = block[:5]
    server.receive(frame.serialize(), now=1.0)
    assert server.header_block_since == 1.0
    events = server.receive(continuation(1, block[5:], end=True), now=2.0)
    assert isinstance(events[0], core.RequestHead)
    assert server.header_block_since is None


def test_drain_is_two_goaways_around_a_ping() -> None:
    server, peer = connected()
    peer.send_headers(1, REQUEST)
    server.receive(peer.data_to_send())
    server.start_drain()
    out = frames_of(server.data_to_send())
    assert [k for k, _s, _p in out] == [6, 7]
    assert int.from_bytes(out[1][2][:4], "big") == 2**31 - 1
    # A stream started before the peer saw the GOAWAY still runs.
    peer.send_headers(3, REQUEST, end_stream=True)
    ping_ack = hyperframe.frame.PingFrame(0)
    ping_ack.flags.add("ACK")
    ping_ack.opaque_data = out[0][2]
    events = server.receive(peer.data_to_send() + ping_ack.serialize())
    assert [e.stream_id for e in events if isinstance(e, core.RequestHead)] == [3]
    assert server.drain_step == "final"
    (final,) = [p for k, _s, p in frames_of(server.data_to_send()) if k == 7]
    assert int.from_bytes(final[:4], "big") == 3
    # The streams up to 3 still send and receive; a later one is refused.
    peer.send_data(1, b"body", end_stream=True)
    peer.send_headers(5, REQUEST, end_stream=True)
    events = requests(server.receive(peer.data_to_send()))
    assert events == [core.Body(1, b"body", 4), core.StreamEnd(1)]
    assert server.refused == 1
    server.send_headers(1, 200, [], end_stream=True)
    assert not server.terminated
