"""The HTTP/2 denial-of-service classes, each played at the frame level
against ``HTTPServer(http2=True)`` on 127.0.0.1: what the attacker gets
(GOAWAY or RST_STREAM, with which code, or which status), that another
client is served meanwhile and after, and that the attacked connection
is closed and leaves the server, with INFO lines only.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("h2")

import hyperframe.frame as F  # noqa: E402

from tests.http2.support import (  # noqa: E402
    CANCEL,
    ENHANCE_YOUR_CALM,
    INITIAL_WINDOW_SIZE,
    NO_ERROR,
    PROTOCOL_ERROR,
    REFUSED_STREAM,
    App,
    Peer,
    data,
    ended_by_goaway,
    get_ok,
    peer_served,
    rst,
    run,
    run_logged,
    served_then_closed,
    window_update,
)


async def send(peer: Peer, frames: list[F.Frame]) -> bool:
    """Send frames; False once the server has cut the connection."""
    try:
        peer.send(*frames)
        await peer.writer.drain()
    except ConnectionError:
        return False
    return True


def test_streams_past_max_concurrent_streams_are_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app, http2_max_concurrent_streams=3) as (served, peer):
            settings = await peer.until(lambda f: isinstance(f, F.SettingsFrame))
            assert isinstance(settings, F.SettingsFrame)
            assert settings.settings[F.SettingsFrame.MAX_CONCURRENT_STREAMS] == 3
            # Five at once: the peer sends past the limit it was told.
            peer.send(*(peer.headers(sid, "/hold") for sid in (1, 3, 5, 7, 9)))
            refused = []
            while len(refused) < 2:
                frame = await peer.until(lambda f: isinstance(f, F.RstStreamFrame))
                assert isinstance(frame, F.RstStreamFrame)
                assert frame.error_code == REFUSED_STREAM
                refused.append(frame.stream_id)
            assert refused == [7, 9]
            await get_ok(served.port)
            # The three let in run to their end; the connection goes on.
            app.release.set()
            for sid in (1, 3, 5):
                assert await peer.response(sid) == (200, b"held", None)
            peer.send(peer.headers(11))
            assert await peer.response(11) == (200, b"ok", None)
            # Three held, one after, one from the other client.
            assert app.started == 5
            peer.close()
            await served.all_closed()

    run_logged(caplog, test)


def test_hpack_bomb_ends_the_connection_with_enhance_your_calm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app, max_header_size=4096) as (served, peer):
            value = "a" * 1000
            # The header enters both dynamic tables with a first request...
            peer.send(peer.headers(1, extra=[("x-big", value)]))
            assert await peer.response(1) == (200, b"ok", None)
            # ...then a block of about 60 bytes repeats its index: over
            # 30 KB decoded, against a 4 KB header list (and under the
            # 64 KB that h2 would refuse by itself).
            bomb = peer.headers(3, extra=[("x-big", value)] * 30)
            assert len(bomb.data) < 100
            peer.send(bomb)
            await ended_by_goaway(peer, served, ENHANCE_YOUR_CALM)
            # The first request, and the other client's.
            assert app.started == 2

    run_logged(
        caplog, test, "Unsatisfiable read, closing connection: HTTP/2 header list over"
    )


def test_rapid_reset_ends_the_connection_and_costs_no_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app, http2_max_resets=100) as (served, peer):
            sid = 1
            # Ten streams opened and cancelled at once, as CVE-2023-44487
            # does, 300 in all against a bound of 100.
            while sid < 600:
                batch = []
                for _ in range(10):
                    batch += [peer.headers(sid, "/hold"), rst(sid)]
                    sid += 2
                if not await send(peer, batch):
                    break
            await ended_by_goaway(peer, served, ENHANCE_YOUR_CALM)
            # Every handler that started heard of its stream's end.
            assert app.closed == app.started - 1
            assert app.started < 110

    run_logged(caplog, test, "streams reset or refused")


def test_continuation_flood_is_bounded_in_bytes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(
            app,
            handshake=True,
            max_header_size=8192,
        ) as (served, peer):
            peer.send(peer.headers(1, end_headers=False))
            # 80 KB of CONTINUATION against an 8 KB header list.
            for _ in range(20):
                frame = F.ContinuationFrame(1)
                frame.data = b"\x00" * 4000
                if not await send(peer, [frame]):
                    break
            await ended_by_goaway(peer, served, ENHANCE_YOUR_CALM)
            # Only the other client's.
            assert app.started == 1

    run_logged(caplog, test, "HTTP/2 header block over")


def test_many_tiny_continuations_are_ended_by_h2(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app, handshake=True) as (served, peer):
            peer.send(peer.headers(1, end_headers=False))
            # h2 allows 64 frames in a header block; 100 empty ones.
            peer.send(*(F.ContinuationFrame(1) for _ in range(100)))
            await ended_by_goaway(peer, served, PROTOCOL_ERROR)

    run_logged(caplog, test, "Too many continuation frames")


def ping(i: int) -> F.PingFrame:
    frame = F.PingFrame(0)
    frame.opaque_data = i.to_bytes(8, "big")
    return frame


def settings_frame(_i: int) -> F.SettingsFrame:
    frame = F.SettingsFrame(0)
    frame.settings = {F.SettingsFrame.ENABLE_PUSH: 0}
    return frame


def priority(i: int) -> F.PriorityFrame:
    frame = F.PriorityFrame(1001 + 2 * i)
    frame.depends_on = 0
    frame.stream_weight = 15
    return frame


FLOODS = {
    "ping": ping,
    "settings": settings_frame,
    "priority": priority,
    "empty-data": lambda _i: data(1, b""),
    "tiny-window-update": lambda _i: window_update(1, 1),
}


@pytest.mark.parametrize("kind", sorted(FLOODS))
def test_control_frame_floods_get_enhance_your_calm(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        app = App()
        # Default windows, so that a WINDOW_UPDATE is no overflow.
        async with peer_served(
            app,
            settings={INITIAL_WINDOW_SIZE: 65535},
            window=0,
            http2_max_control_frames=100,
        ) as (served, peer):
            # A stream for the frames that need one; its body never ends.
            peer.send(peer.headers(1, "/echo", method="POST", end_stream=False))
            await asyncio.wait_for(app.started_event.wait(), 30)
            # The flood is sent without reading anything: the ACKs the
            # server owes pile up on its side, not without bound.
            peer.auto_ping = False
            make = FLOODS[kind]
            # 1000 frames against a bound of 100.
            for sent in range(0, 1000, 50):
                if not await send(peer, [make(sent + i) for i in range(50)]):
                    break
            await ended_by_goaway(peer, served, ENHANCE_YOUR_CALM)
            assert app.closed == 1

    run_logged(caplog, test, "control frames")


def test_zero_window_update_is_a_protocol_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app) as (served, peer):
            # hyperframe refuses to build it: by hand (RFC 9113 6.9).
            peer.send(b"\x00\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00")
            await ended_by_goaway(peer, served, PROTOCOL_ERROR)

    run_logged(caplog, test, "HTTP/2 protocol error")


def test_a_window_that_never_opens_ends_the_stream_then_the_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(
            app,
            settings={INITIAL_WINDOW_SIZE: 0},
            window=0,
            idle_connection_timeout=0.5,
        ) as (served, peer):
            peer.send(peer.headers(1, "/big?size=10000000&chunk=65536"))
            status, body, reset = await peer.response(1)
            # The head came, no byte of the body, then the deadline.
            assert (status, body, reset) == (200, b"", CANCEL)
            assert app.written == 0
            await asyncio.wait_for(app.cut.wait(), 30)
            await ended_by_goaway(peer, served, NO_ERROR)

    run_logged(caplog, test, "took no response data")


def test_a_client_that_stops_reading_gets_a_bounded_queue(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app, idle_connection_timeout=0.5) as (served, peer):
            size = 256 * 1024 * 1024
            peer.send(peer.headers(1, f"/big?size={size}&chunk=65536"))
            # It never reads: the socket's buffers fill, then the server's
            # queue, which stops at its high-water mark.
            await asyncio.wait_for(app.cut.wait(), 30)
            assert 0 < app.written < size
            # Measured after each write and when the stream was cut.
            assert 0 < app.max_unsent <= 262144 + 65536
            await served_then_closed(peer, served)

    run_logged(caplog, test, "took no response data")


def test_one_write_larger_than_the_socket_queue_arrives_whole() -> None:
    # The counterpart of the bound above: a client that reads everything,
    # with windows that never need a WINDOW_UPDATE, gets a body written in
    # one piece four times the high-water mark; what resumes the stream is
    # the socket draining, since no window will open.
    async def test() -> None:
        app = App()
        async with peer_served(app, handshake=True) as (served, peer):
            size = 4 * 262144
            peer.send(peer.headers(1, f"/big?size={size}&chunk={size}"))
            status, body, reset = await asyncio.wait_for(peer.response(1), 30)
            assert (status, len(body), reset) == (200, size, None)
            peer.close()
            await served.all_closed()

    run(test)


@pytest.mark.parametrize("precise", [False, True])
def test_body_over_max_body_size_is_refused_as_over_http1(
    precise: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # The status HTTP/1.1 gives: Tornado's 400, or 413 with precise_status.
    status = 413 if precise else 400

    async def test() -> None:
        app = App()
        async with peer_served(
            app,
            max_body_size=1000,
            precise_status=precise,
        ) as (served, peer):
            peer.send(
                peer.headers(
                    1,
                    "/echo",
                    method="POST",
                    end_stream=False,
                    extra=[("content-length", "5000")],
                )
            )
            assert (await peer.response(1))[:2] == (status, b"")
            # The same connection goes on.
            peer.send(
                peer.headers(
                    3,
                    "/echo",
                    method="POST",
                    end_stream=False,
                    extra=[("content-length", "3")],
                ),
                data(3, b"abc", end_stream=True),
            )
            assert await peer.response(3) == (200, b"abc", None)
            # Without Content-Length, a body that goes past gets the same
            # answer once it does.
            peer.send(
                peer.headers(5, "/echo", method="POST", end_stream=False),
                data(5, b"x" * 1500, end_stream=True),
            )
            assert (await peer.response(5))[:2] == (status, b"")
            await served_then_closed(peer, served)
            assert app.closed == 2

    run_logged(
        caplog,
        test,
        "Content-Length too long: 5000 bytes, over max_body_size 1000",
        "Body too long: over max_body_size 1000",
    )


def test_without_max_body_size_the_buffer_size_bounds_a_body() -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app, max_buffer_size=1000) as (served, peer):
            peer.send(
                peer.headers(
                    1,
                    "/echo",
                    method="POST",
                    end_stream=False,
                    extra=[("content-length", "5000")],
                )
            )
            assert (await peer.response(1))[0] == 400
            peer.close()
            await served.all_closed()

    run(test)


def goaway_frame(error_code: int) -> F.GoAwayFrame:
    frame = F.GoAwayFrame(0)
    frame.last_stream_id = 0
    frame.error_code = error_code
    return frame


def test_requests_sent_with_the_clients_goaway_are_answered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A client that sends its last requests and GOAWAY (NO_ERROR) in one
    # packet, as h2load ends a timed run: RFC 9113 section 6.8 lets the
    # streams it opened run to their end.  They are answered (h2 alone
    # would have closed its state, and the handlers' write_headers met a
    # ProtocolError logged as "Uncaught exception"), the server's own
    # GOAWAY names the last of them, and then the server closes.
    async def test() -> None:
        app = App()
        async with peer_served(app, handshake=True) as (served, peer):
            peer.send(peer.headers(1), peer.headers(3), goaway_frame(NO_ERROR))
            goaway = await peer.goaway()
            assert goaway is not None
            assert (goaway.last_stream_id, goaway.error_code) == (3, NO_ERROR)
            await peer.to_the_end()
            assert peer.responses[1][:2] == [200, b"ok"]
            assert peer.responses[3][:2] == [200, b"ok"]
            peer.close()
            await served.all_closed()
            assert app.answered == 2
            await get_ok(served.port)

    run_logged(caplog, test)


def test_requests_sent_with_a_goaway_that_reports_an_error_are_not_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A GOAWAY with an error code ends the connection at once: h2 sends
    # nothing after it, so the requests that came in the same read reach
    # no handler, and nothing is logged above INFO.
    async def test() -> None:
        app = App()
        async with peer_served(app, handshake=True) as (served, peer):
            peer.send(peer.headers(1), goaway_frame(PROTOCOL_ERROR))
            await peer.to_the_end()
            peer.close()
            await served.all_closed()
            assert app.started == 0
            await get_ok(served.port)

    run_logged(caplog, test)
