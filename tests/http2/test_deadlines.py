"""Deadlines of ``HTTPServer(http2=True)`` on 127.0.0.1, with their HTTP/1
meaning: ``idle_connection_timeout`` for a connection with no stream (and
for the wait for a cleartext connection's first bytes),
``head_timeout`` for a header block (``idle_connection_timeout`` without
it), ``body_timeout`` per stream.  Each shows what the client gets, that
another client is served, and that the connection leaves the server.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import pytest

pytest.importorskip("h2")

import hyperframe.frame as F  # noqa: E402

from tests.http2.support import (  # noqa: E402
    CANCEL,
    ENHANCE_YOUR_CALM,
    NO_ERROR,
    App,
    Peer,
    Served,
    closed_by_server,
    data,
    ended_by_goaway,
    get_ok,
    peer_served,
    run,
    run_logged,
    served_then_closed,
    serving,
)


def test_idle_connection_gets_goaway_no_error_and_is_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)

    async def test() -> None:
        app = App()
        async with peer_served(app, idle_connection_timeout=0.3) as (served, peer):
            peer.send(peer.headers(1))
            assert await peer.response(1) == (200, b"ok", None)
            goaway = await peer.goaway()
            assert goaway is not None
            assert (goaway.error_code, goaway.last_stream_id) == (NO_ERROR, 1)
            await peer.to_the_end()
            peer.close()
            await served.all_closed()
            await get_ok(served.port)

    run(test)
    # An idle connection ending is not news.
    assert not [r for r in caplog.records if "127.0.0.1" in r.getMessage()]


async def held_past_the_idle_deadline(app: App, served: Served) -> Peer:
    """A stream held open on one connection while the idle deadline (0.3
    s) passes, then answered; the connection it came on."""
    held = await Peer.connect(served.port)
    held.send(held.headers(1, "/hold"))
    await asyncio.wait_for(app.started_event.wait(), 30)
    # A connection opened later, idle: its GOAWAY shows that the idle
    # deadline has passed for the first one too.
    idle = await Peer.connect(served.port)
    assert await idle.goaway() is not None
    idle.close()
    app.release.set()
    assert await held.response(1) == (200, b"held", None)
    return held


def test_idle_deadline_does_not_cut_a_stream_in_progress() -> None:
    async def test() -> None:
        app = App()
        async with serving(app, idle_connection_timeout=0.3) as served:
            held = await held_past_the_idle_deadline(app, served)
            held.close()
            await served.all_closed()

    run(test)


@pytest.mark.parametrize("keyword", ["head_timeout", "idle_connection_timeout"])
def test_header_block_not_ended_in_time(
    keyword: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        app = App()
        options = {keyword: 0.3}
        if keyword == "head_timeout":
            # The idle deadline is long: the head deadline alone cuts.
            options["idle_connection_timeout"] = 3600
        async with peer_served(app, handshake=True, **options) as (served, peer):
            # HEADERS without END_HEADERS, and no CONTINUATION.
            peer.send(peer.headers(1, end_headers=False))
            await ended_by_goaway(peer, served, ENHANCE_YOUR_CALM)
            assert app.started == 1

    run_logged(caplog, test, "Timeout reading HTTP/2 request head")


def test_body_not_received_in_time_gets_408(caplog: pytest.LogCaptureFixture) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app, body_timeout=0.3) as (served, peer):
            peer.send(
                peer.headers(1, "/echo", method="POST", end_stream=False),
                data(1, b"part of it"),
            )
            status, body, _reset = await peer.response(1)
            assert (status, body) == (408, b"")
            await asyncio.wait_for(app.closed_event.wait(), 30)
            # The connection goes on.
            peer.send(peer.headers(3))
            assert await peer.response(3) == (200, b"ok", None)
            await served_then_closed(peer, served)

    run_logged(caplog, test, "Timeout reading body")


def test_body_timeout_after_the_response_began_resets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with peer_served(app, body_timeout=0.3) as (served, peer):
            peer.send(peer.headers(1, "/early", method="POST", end_stream=False))
            status, body, reset = await peer.response(1)
            assert (status, body, reset) == (200, b"", CANCEL)
            await asyncio.wait_for(app.closed_event.wait(), 30)
            await served_then_closed(peer, served)

    run_logged(caplog, test, "Timeout reading body")


# -- a cleartext connection before its first bytes ----------------------------


async def silent(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def until_counted(served: object, count: int) -> None:
    """Wait until the server counts ``count`` connections (its accept runs
    on the loop after the client's connect returns)."""
    server = served.server  # type: ignore[attr-defined]
    for _ in range(1000):
        if len(server._connections) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError("the connection was never counted")


@pytest.mark.parametrize("how", ["close_all_connections", "drain"])
def test_connection_waiting_for_its_preface_is_closed_by(how: str) -> None:
    async def test() -> None:
        app = App()
        async with serving(app) as served:
            reader, writer = await silent(served.port)
            partial_reader, partial_writer = await silent(served.port)
            partial_writer.write(b"PRI * HTTP/2")
            await until_counted(served, 2)
            server = served.server
            if how == "drain":
                assert await asyncio.wait_for(server.drain(timeout=30), 30) == 0
            else:
                server.stop()
                await server.close_all_connections()
            assert await closed_by_server(reader)
            assert await closed_by_server(partial_reader)
            assert not server._connections
            writer.close()
            partial_writer.close()

    run(test)


def test_preface_wait_is_bounded_by_head_timeout_once_bytes_came(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        app = App()
        async with serving(
            app, idle_connection_timeout=3600, head_timeout=0.3
        ) as served:
            reader, writer = await silent(served.port)
            writer.write(b"PRI * HT")
            assert await closed_by_server(reader)
            writer.close()
            await served.all_closed()
            await get_ok(served.port)

    run_logged(caplog, test, "Timeout reading request head")


def test_preface_wait_is_bounded_by_the_idle_timeout() -> None:
    async def test() -> None:
        app = App()
        async with serving(app, idle_connection_timeout=0.3) as served:
            reader, writer = await silent(served.port)
            assert await closed_by_server(reader)
            writer.close()
            await served.all_closed()

    run(test)


def test_preface_then_http2_keeps_no_http1_deadline() -> None:
    """Once the preface is in, the HTTP/1 wait deadline is dropped: an
    HTTP/2 stream may outlast it."""

    async def test() -> None:
        app = App()
        async with serving(app, idle_connection_timeout=0.3) as served:
            held = await held_past_the_idle_deadline(app, served)
            assert not [f for f in held.frames if isinstance(f, F.GoAwayFrame)]
            held.close()

    run(test)


@pytest.mark.parametrize("how", ["drain", "idle_connection_timeout"])
def test_tls_connection_before_its_handshake_is_reached_by(how: str) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    async def test() -> None:
        app = App()
        options: dict[str, object] = {"ssl_options": context}
        if how == "idle_connection_timeout":
            options[how] = 0.3
        async with serving(app, **options) as served:
            # TCP only: no ClientHello, so no ALPN yet.
            reader, writer = await silent(served.port)
            await until_counted(served, 1)
            if how == "drain":
                assert await asyncio.wait_for(served.server.drain(timeout=30), 30) == 0
            assert await closed_by_server(reader)
            await served.all_closed()
            writer.close()

    run(test)
