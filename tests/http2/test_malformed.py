"""Malformed HTTP/2 requests (RFC 9113 section 8.1.1), played at the frame
level against ``HTTPServer(http2=True)`` on 127.0.0.1: each is a stream
error, ``RST_STREAM PROTOCOL_ERROR`` on its own stream and one INFO line,
while the same connection serves the next stream; a flood of them is
bounded as resets are; and what RFC 9113 makes a connection error (a
header block HPACK cannot decode, a stream id that goes backwards, a frame
too large) still ends the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

pytest.importorskip("h2")

import hpack  # noqa: E402
import hyperframe.frame as F  # noqa: E402

from tests.http2.support import (  # noqa: E402
    ENHANCE_YOUR_CALM,
    PROTOCOL_ERROR,
    App,
    Peer,
    data,
    ended_by_goaway,
    peer_served,
    run_logged,
    served_then_closed,
)
from tornado_compat.http2 import core  # noqa: E402

# RFC 9113 section 7.
STREAM_CLOSED = 5
FRAME_SIZE_ERROR = 6
COMPRESSION_ERROR = 9

GET = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "a")]
POST = [
    (":method", "POST"),
    (":path", "/echo"),
    (":scheme", "http"),
    (":authority", "a"),
]
# Sent in every malformed block and again in the request after it, where
# HPACK encodes it as an index into the dynamic table: that request
# decodes only if the server decoded the refused block too.
TRACE = ("x-trace", "malformed-then-indexed")

LOG = "Malformed HTTP/2 request from 127.0.0.1 on stream 1: "

# A request head that is malformed as it stands, and the cause logged.
HEADS = {
    "uppercase-name": (GET + [("X-Foo", "1")], "uppercase header name"),
    "connection": (GET + [("connection", "close")], "b'connection'"),
    "keep-alive": (GET + [("keep-alive", "5")], "b'keep-alive'"),
    "proxy-connection": (
        GET + [("proxy-connection", "close")],
        "b'proxy-connection'",
    ),
    "transfer-encoding": (
        GET + [("transfer-encoding", "chunked")],
        "b'transfer-encoding'",
    ),
    "upgrade": (GET + [("upgrade", "h2c")], "b'upgrade'"),
    "te-not-trailers": (GET + [("te", "gzip")], "Invalid value for TE header"),
    "no-method": (GET[1:], "missing mandatory b':method'"),
    "no-path": (GET[:1] + GET[2:], "missing mandatory b':path'"),
    "no-scheme": (GET[:2] + GET[3:], "missing mandatory b':scheme'"),
    "empty-path": (
        [GET[0], (":path", ""), GET[2], GET[3]],
        "empty :path header is forbidden",
    ),
    "custom-pseudo-header": (GET + [(":foo", "x")], "custom pseudo-header"),
    "duplicate-pseudo-header": (GET + [(":path", "/x")], "duplicate pseudo-header"),
    "pseudo-header-after-field": (
        GET[:3] + [("x-a", "1"), GET[3]],
        "pseudo-header field out of sequence",
    ),
    "status-in-request": (GET + [(":status", "200")], "response-only headers"),
    "connect-with-path": (
        [(":method", "CONNECT"), (":authority", "a:443"), (":path", "/")],
        "CONNECT MUST NOT include :scheme or :path",
    ),
    "no-authority-or-host": (GET[:3], "does not have an :authority or Host"),
    "empty-name": (GET + [("", "1")], "header name with zero length"),
    "colon-in-name": (GET + [("x:y", "1")], "Illegal character ':' in header name"),
    "whitespace-around-value": (GET + [("x-a", " 1")], "surrounded by whitespace"),
    "nul-in-value": (GET + [("x-a", "a\x00b")], "Illegal character"),
    "host-not-authority": (GET + [("host", "b")], "mismatched :authority and Host"),
    "content-length-not-digits": (
        GET + [("content-length", "1x")],
        "Invalid content-length header",
    ),
    "content-lengths-conflict": (
        GET + [("content-length", "1"), ("content-length", "2")],
        "Conflicting content-length headers",
    ),
}


def undecodable(stream_id: int) -> F.HeadersFrame:
    """A whole header block (END_STREAM) that HPACK cannot decode: an index
    past both tables, after which the connection's HPACK state is lost."""
    frame = F.HeadersFrame(stream_id)
    frame.data = b"\xff\xff\x7f"
    frame.flags.add("END_HEADERS")
    frame.flags.add("END_STREAM")
    return frame


def block(
    encoder: hpack.Encoder,
    stream_id: int,
    fields: Iterable[tuple[str, str]],
    end_stream: bool = True,
) -> F.HeadersFrame:
    """A HEADERS frame carrying ``fields`` exactly as given."""
    frame = F.HeadersFrame(stream_id)
    frame.data = encoder.encode(list(fields))
    frame.flags.add("END_HEADERS")
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame


async def refused_then_served(peer: Peer, app: App, next_id: int = 3) -> None:
    """Stream 1 was reset with PROTOCOL_ERROR; the next stream of the same
    connection, which repeats :data:`TRACE` through the dynamic table, is
    served."""
    assert await peer.response(1) == (None, b"", PROTOCOL_ERROR)
    peer.send(block(peer.encoder, next_id, GET + [TRACE]))
    assert await peer.response(next_id) == (200, b"ok", None)
    assert not [f for f in peer.frames if isinstance(f, F.GoAwayFrame)]


@pytest.mark.parametrize("case", sorted(HEADS))
def test_a_malformed_request_head_resets_its_stream_only(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    fields, cause = HEADS[case]

    async def test() -> None:
        app = App()
        # One stream at a time: the refused one must not hold the slot.
        async with peer_served(app, http2_max_concurrent_streams=1) as (
            served,
            peer,
        ):
            peer.send(block(peer.encoder, 1, [*fields, TRACE]))
            await refused_then_served(peer, app)
            # The refused stream never reached the application.
            assert (app.started, app.closed) == (1, 0)
            await served_then_closed(peer, served)

    run_logged(caplog, test, LOG, cause)


@pytest.mark.xfail(
    strict=True,
    reason="h2 takes a request head with :status 1xx among its pseudo-headers "
    "for an informational response and refuses it before validating it: with "
    "END_STREAM while the stream is still idle (no reset can be sent on it), "
    "without END_STREAM in its stream state machine (which closes the stream); "
    "both are connection errors",
)
@pytest.mark.parametrize("end_stream", [True, False])
def test_a_request_head_with_an_informational_status_resets_its_stream_only(
    end_stream: bool, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app) as (served, peer):
            fields = [*GET[:3], (":status", "100"), GET[3]]
            peer.send(block(peer.encoder, 1, fields, end_stream=end_stream))
            await refused_then_served(peer, app)
            await served_then_closed(peer, served)

    run_logged(caplog, test, LOG)


# A request whose body, or whose trailers, make it malformed; the head
# reaches the application first, which hears of the reset as a close.
BODIES = {
    "body-over-content-length": (
        [("content-length", "2")],
        [data(1, b"abc", end_stream=True)],
        "Expected 2 bytes, received 3",
    ),
    "body-under-content-length": (
        [("content-length", "5")],
        [data(1, b"abc", end_stream=True)],
        "Expected 5 bytes, received 3",
    ),
    "trailers-without-end-stream": (
        [],
        ["trailers", ("x-t", "1")],
        "Trailers must have END_STREAM set",
    ),
    "pseudo-header-in-trailers": (
        [],
        ["trailers-end", (":path", "/")],
        "pseudo-header in trailer",
    ),
    "connection-header-in-trailers": (
        [],
        ["trailers-end", ("connection", "close")],
        "b'connection'",
    ),
}


@pytest.mark.parametrize("case", sorted(BODIES))
def test_a_malformed_body_or_trailer_resets_its_stream_only(
    case: str, caplog: pytest.LogCaptureFixture
) -> None:
    extra, rest, cause = BODIES[case]

    async def test() -> None:
        app = App()
        async with peer_served(app) as (served, peer):
            peer.send(block(peer.encoder, 1, [*POST, TRACE, *extra], end_stream=False))
            # The head is the application's before the rest comes.
            await asyncio.wait_for(app.started_event.wait(), 30)
            if rest[0] in ("trailers", "trailers-end"):
                end = rest[0] == "trailers-end"
                peer.send(block(peer.encoder, 1, [rest[1]], end_stream=end))
            else:
                peer.send(*rest)
            await refused_then_served(peer, app)
            # Stream 1 heard of its reset; stream 3 was answered.
            assert (app.started, app.closed, app.answered) == (2, 1, 1)
            await served_then_closed(peer, served)

    run_logged(caplog, test, LOG, cause)


def test_malformed_requests_count_as_resets(caplog: pytest.LogCaptureFixture) -> None:
    # A flood of malformed heads costs no handler, and is bounded as a
    # rapid reset is: past http2_max_resets, GOAWAY ENHANCE_YOUR_CALM.
    async def test() -> None:
        app = App()
        async with peer_served(app, http2_max_resets=20) as (served, peer):
            for sid in range(1, 100, 2):
                peer.send(block(peer.encoder, sid, GET + [("connection", "close")]))
            await ended_by_goaway(peer, served, ENHANCE_YOUR_CALM)
            # Only the other client's.
            assert app.started == 1

    run_logged(caplog, test, "streams reset or refused")


def test_a_stream_opened_and_found_malformed_in_one_read_is_not_delivered() -> None:
    server = core.H2ServerCore()
    encoder = hpack.Encoder()
    head = block(encoder, 1, [*POST, ("content-length", "1")], end_stream=False)
    events = server.receive(
        core.PREFACE
        + F.SettingsFrame(0).serialize()
        + head.serialize()
        + data(1, b"too long", end_stream=True).serialize()
        + block(encoder, 3, GET).serialize()
    )
    malformed, head, end = [e for e in events if not isinstance(e, core.WindowOpened)]
    assert isinstance(malformed, core.Malformed) and malformed.stream_id == 1
    assert "Expected 1 bytes, received 8" in malformed.cause
    # Stream 1's head is left out; stream 3 comes whole.
    assert isinstance(head, core.RequestHead) and head.stream_id == 3
    assert end == core.StreamEnd(3)
    assert server.resets == 1
    assert not server.terminated


def test_the_body_of_a_malformed_request_gives_its_window_back() -> None:
    server = core.H2ServerCore()
    encoder = hpack.Encoder()
    server.receive(core.PREFACE + F.SettingsFrame(0).serialize())
    server.data_to_send()
    # Three bodies past their Content-Length: 48,000 bytes of the
    # connection's 65,535, which only the server can give back.
    for sid in (1, 3, 5):
        head = block(encoder, sid, [*POST, ("content-length", "1")], False)
        events = server.receive(
            head.serialize() + data(sid, b"x" * 16000, end_stream=True).serialize()
        )
        assert [e.stream_id for e in events if isinstance(e, core.Malformed)] == [sid]
    increments = [
        int.from_bytes(payload[:4], "big")
        for kind, stream_id, payload in frames(server.data_to_send())
        if kind == 8 and stream_id == 0
    ]
    assert sum(increments) >= 32768
    assert not server.terminated


def frames(out: bytes) -> list[tuple[int, int, bytes]]:
    """(type, stream id, payload) of each frame in ``out``."""
    found = []
    while out:
        length = int.from_bytes(out[:3], "big")
        stream_id = int.from_bytes(out[5:9], "big") & 0x7FFFFFFF
        found.append((out[3], stream_id, out[9 : 9 + length]))
        out = out[9 + length :]
    return found


# What RFC 9113 makes a connection error stays one.


def test_a_header_block_hpack_cannot_decode_ends_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app) as (served, peer):
            peer.send(undecodable(1))
            goaway = await ended_by_goaway(peer, served, COMPRESSION_ERROR)
            assert goaway.last_stream_id == 0

    run_logged(caplog, test, "HTTP/2 protocol error from")


def test_trailers_hpack_cannot_decode_end_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The stream is open and its head was well formed: the broken block is
    # still the connection's fault, not the stream's.
    async def test() -> None:
        app = App()
        async with peer_served(app) as (served, peer):
            peer.send(block(peer.encoder, 1, POST, end_stream=False))
            await asyncio.wait_for(app.started_event.wait(), 30)
            peer.send(undecodable(1))
            await ended_by_goaway(peer, served, COMPRESSION_ERROR)
            assert app.closed == 1

    run_logged(caplog, test, "HTTP/2 protocol error from")


def test_a_stream_id_that_goes_backwards_ends_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app) as (served, peer):
            peer.send(block(peer.encoder, 5, GET))
            assert await peer.response(5) == (200, b"ok", None)
            # Malformed as well, but the stream id decides first.
            peer.send(block(peer.encoder, 3, GET + [("connection", "close")]))
            await ended_by_goaway(peer, served, PROTOCOL_ERROR)

    run_logged(caplog, test, "HTTP/2 protocol error from")


def test_headers_after_end_stream_on_a_closed_stream_end_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app) as (served, peer):
            peer.send(block(peer.encoder, 1, GET))
            assert await peer.response(1) == (200, b"ok", None)
            peer.send(block(peer.encoder, 1, [("connection", "close")]))
            await ended_by_goaway(peer, served, STREAM_CLOSED)

    run_logged(caplog, test, "HTTP/2 protocol error from")


def test_a_frame_over_the_frame_size_ends_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app) as (served, peer):
            peer.send(block(peer.encoder, 1, POST, end_stream=False))
            await asyncio.wait_for(app.started_event.wait(), 30)
            peer.send(data(1, b"x" * 16385))
            await ended_by_goaway(peer, served, FRAME_SIZE_ERROR)

    run_logged(caplog, test, "HTTP/2 protocol error from")
