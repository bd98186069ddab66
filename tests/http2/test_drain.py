"""``HTTPServer.drain()`` on HTTP/2 connections, on 127.0.0.1: GOAWAY in two
steps around a PING, the streams in progress finished with their whole
bodies (request and response), new streams refused, then the close; and
what ``drain()`` returns and logs when a stream outlasts its timeout.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("h2")

import hyperframe.frame as F  # noqa: E402

from tests.http2.support import (  # noqa: E402
    NO_ERROR,
    PREFACE,
    REFUSED_STREAM,
    App,
    Peer,
    data,
    run,
    serving,
)

LARGEST_STREAM_ID = 2**31 - 1


def test_drain_finishes_streams_in_progress_and_refuses_new_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    async def test() -> None:
        app = App()
        async with serving(app) as served:
            server = served.server
            peer = await Peer.connect(served.port)
            await peer.handshake()
            # Two uploads half sent, and an answer not given yet.
            for sid in (1, 3):
                peer.send(
                    peer.headers(sid, "/echo", method="POST", end_stream=False),
                    data(sid, b"a" * 10000),
                )
            peer.send(peer.headers(5, "/hold"))
            while app.started < 3:
                app.started_event.clear()
                await asyncio.wait_for(app.started_event.wait(), 30)
            peer.auto_ping = False
            drain = asyncio.ensure_future(server.drain(timeout=30))
            first = await peer.goaway()
            assert first is not None
            assert (first.error_code, first.last_stream_id) == (
                NO_ERROR,
                LARGEST_STREAM_ID,
            )
            (conn,) = server._connections
            assert conn.in_flight() == "3 HTTP/2 stream(s)"
            # A request sent before this peer saw the GOAWAY is served.
            peer.send(peer.headers(7, "/big?size=1000000&chunk=65536"))
            (ping,) = [
                f
                for f in peer.frames
                if isinstance(f, F.PingFrame) and "ACK" not in f.flags
            ]
            ack = F.PingFrame(0)
            ack.flags.add("ACK")
            ack.opaque_data = ping.opaque_data
            peer.send(ack)
            final = await peer.goaway()
            assert final is not None
            assert (final.error_code, final.last_stream_id) == (NO_ERROR, 7)
            # One sent after it is refused.
            peer.send(peer.headers(9))
            for sid in (1, 3):
                peer.send(data(sid, b"b" * 10000, end_stream=True))
            app.release.set()
            responses = {}
            for sid in (1, 3, 5, 7, 9):
                responses[sid] = await peer.response(sid)
            assert responses[1] == (200, b"a" * 10000 + b"b" * 10000, None)
            assert responses[3] == (200, b"a" * 10000 + b"b" * 10000, None)
            assert responses[5] == (200, b"held", None)
            assert responses[7] == (200, b"x" * 1000000, None)
            assert responses[9] == (None, b"", REFUSED_STREAM)
            # Then the server closes, and the drain cut nothing.
            await peer.to_the_end()
            assert await asyncio.wait_for(drain, 30) == 0
            assert not server._connections
            peer.close()

    run(test)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_drain_of_an_idle_connection_closes_after_one_round_trip() -> None:
    async def test() -> None:
        app = App()
        async with serving(app) as served:
            peer = await Peer.connect(served.port)
            await peer.handshake()
            drain = asyncio.ensure_future(served.server.drain(timeout=30))
            # The peer answers the PING; nothing else is asked of it.
            await peer.to_the_end()
            assert await asyncio.wait_for(drain, 30) == 0
            goaways = [f for f in peer.frames if isinstance(f, F.GoAwayFrame)]
            assert [g.last_stream_id for g in goaways] == [LARGEST_STREAM_ID, 0]
            peer.close()

    run(test)


def test_drain_timeout_cuts_and_counts_http2_streams(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    async def test() -> None:
        app = App()
        async with serving(app) as served:
            peer = await Peer.connect(served.port)
            peer.send(peer.headers(1, "/hold"), peer.headers(3, "/hold"))
            while app.started < 2:
                app.started_event.clear()
                await asyncio.wait_for(app.started_event.wait(), 30)
            cut = await asyncio.wait_for(served.server.drain(timeout=0.3), 30)
            # Two requests (streams) cut, on one connection.
            assert cut == 2
            await peer.to_the_end()
            assert not served.server._connections
            peer.close()

    run(test)
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "Drain cut 2 request(s)" in warning.getMessage()
    assert "HTTP/2 stream 1 (127.0.0.1), HTTP/2 stream 3" in warning.getMessage()


def tls_peer_through_a_drain(port: int, ca: Any, started: Callable[[], None]) -> bytes:
    """A blocking TLS client that answers the drain's SETTINGS and PING,
    then, with the final GOAWAY read, sends frames the server has not asked
    for and reads to the end; returns what came after the final GOAWAY (it
    raises if the connection ended without close_notify, or by a reset).
    ``started`` is called once the server's SETTINGS came."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    with context.wrap_socket(
        raw, server_hostname="127.0.0.1", suppress_ragged_eofs=False
    ) as sock:
        assert sock.selected_alpn_protocol() == "h2"
        sock.sendall(PREFACE + F.SettingsFrame(0).serialize())
        buf = b""
        goaways = 0
        while goaways < 2:
            while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
                chunk = sock.recv(65536)
                assert chunk, "closed before the final GOAWAY"
                buf += chunk
            frame, length = F.Frame.parse_frame_header(memoryview(buf[:9]))
            frame.parse_body(memoryview(buf[9 : 9 + length]))
            buf = buf[9 + length :]
            if isinstance(frame, (F.SettingsFrame, F.PingFrame)) and (
                "ACK" not in frame.flags
            ):
                if isinstance(frame, F.SettingsFrame):
                    started()
                ack = type(frame)(0)
                ack.flags.add("ACK")
                if isinstance(frame, F.PingFrame):
                    ack.opaque_data = frame.opaque_data
                sock.sendall(ack.serialize())
            elif isinstance(frame, F.GoAwayFrame):
                goaways += 1
        # Sent as the server ends the connection: it must read them rather
        # than close with them unread (a reset).
        sock.sendall(F.PingFrame(0).serialize() * 2000)
        after = buf
        while chunk := sock.recv(65536):
            after += chunk
        return after


def test_drain_over_tls_ends_with_close_notify_and_reads_what_follows() -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])

    async def test() -> None:
        async with serving(App(), ssl_options=context) as served:
            loop = asyncio.get_running_loop()
            started = asyncio.Event()
            client = asyncio.ensure_future(
                asyncio.to_thread(
                    tls_peer_through_a_drain,
                    served.port,
                    ca,
                    lambda: loop.call_soon_threadsafe(started.set),
                )
            )
            await asyncio.wait_for(started.wait(), 30)
            assert await asyncio.wait_for(served.server.drain(timeout=30), 30) == 0
            # The client's last read met close_notify (no SSLEOFError, no
            # reset), with nothing after the final GOAWAY.
            assert await asyncio.wait_for(client, 30) == b""
            await served.all_closed()

    run(test)
