"""A misbehaving peer never makes us log at ERROR or print a traceback.

``tests/conftest.py`` already fails any test that logs at ERROR; this module
goes further for the cases where the peer is at fault.  Each scenario drives
one stream into a fault the peer causes, checks that the caller gets a
``StreamClosedError`` (no hang, no other exception), and then checks every
log record, at any level, for an attached traceback, and stderr for a
printed one.  What ``real_error`` says is checked by ``test_contract``,
``test_limits`` and ``test_tls``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import ssl
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.streams.support import (
    BEYOND_KERNEL,
    HALF_CLOSE,
    RESET,
    TLS,
    Harness,
    StreamKind,
    payload,
    raw_socket,
    raw_tcp_pair,
    tls_material,
    tls_server_stream,
    warm_up,
    within,
)
from tornado_compat.iostream import IOStream, SSLIOStream, StreamClosedError

Scenario = Callable[[Harness, StreamKind], Awaitable[Any]]


async def _outcome(future: Awaitable[Any] | Callable[[], Awaitable[Any]]) -> Any:
    """The exception that ``future`` (or starting it) ends with, else None."""
    try:
        await within(future() if callable(future) else future)
    except Exception as e:
        return e
    return None


# -- scenarios on every kind (a capability limits some) ---------------------------


async def closes_mid_read(harness: Harness, kind: StreamKind) -> Any:
    pair = await kind.pair(harness)
    read = pair.right.read_until(b"\r\n\r\n")
    await within(pair.left.write(b"GET / HTTP/1.1\r\nHost: half"))
    pair.left.close()
    return await _outcome(read)


async def floods_the_read_buffer(harness: Harness, kind: StreamKind) -> Any:
    pair = await kind.pair(harness, right={"max_buffer_size": 64 * 1024})
    read = pair.right.read_until(b"\n")
    pair.left.write(b"x" * 1024 * 1024)
    return await _outcome(read)


async def never_sends_the_delimiter(harness: Harness, kind: StreamKind) -> Any:
    pair = await kind.pair(harness)
    read = pair.right.read_until(b"\n", max_bytes=100)
    pair.left.write(b"y" * 1000)
    return await _outcome(read)


async def stops_reading_then_leaves(harness: Harness, kind: StreamKind) -> Any:
    pair = await kind.pair(harness)
    written = pair.left.write(payload(BEYOND_KERNEL, seed=40))
    pair.right.close()
    return await _outcome(written)


async def resets_during_a_read(harness: Harness, kind: StreamKind) -> Any:
    pair = await kind.pair(harness)
    read = pair.right.read_bytes(100)
    await within(pair.left.write(b"some"))
    pair.reset_left()
    return await _outcome(read)


async def resets_during_a_write(harness: Harness, kind: StreamKind) -> Any:
    pair = await kind.pair(harness)
    written = pair.right.write(payload(BEYOND_KERNEL, seed=41))
    pair.reset_left()
    return await _outcome(written)


async def resets_while_idle(harness: Harness, kind: StreamKind) -> Any:
    pair = await kind.pair(harness)
    await warm_up(pair)
    pair.reset_left()
    return await _outcome(lambda: pair.right.read_bytes(1))


async def half_closes_during_a_read(harness: Harness, kind: StreamKind) -> Any:
    pair = await kind.pair(harness)
    read = pair.right.read_bytes(100)
    await within(pair.left.write(b"short"))
    pair.half_close_left()
    return await _outcome(read)


ANY_KIND: list[Scenario] = [
    closes_mid_read,
    floods_the_read_buffer,
    never_sends_the_delimiter,
    stops_reading_then_leaves,
]
RESETS: list[Scenario] = [
    resets_during_a_read,
    resets_during_a_write,
    resets_while_idle,
]
HALF_CLOSES: list[Scenario] = [half_closes_during_a_read]


# -- TLS peers that do not speak TLS properly ----------------------------------------


async def _tls_server_with_raw_client(
    harness: Harness,
) -> tuple[SSLIOStream, socket.socket]:
    peer, raw = await raw_tcp_pair(harness)
    server = harness.track(tls_server_stream(raw))
    return server, peer


async def tls_client_sends_plain_http(harness: Harness) -> Any:
    server, peer = await _tls_server_with_raw_client(harness)
    read = server.read_bytes(1)
    peer.send(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n")
    return await _outcome(read)


async def tls_client_leaves_mid_handshake(harness: Harness) -> Any:
    server, peer = await _tls_server_with_raw_client(harness)
    read = server.read_bytes(1)
    peer.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a cut ClientHello
    peer.close()
    return await _outcome(read)


async def tls_client_resets_mid_handshake(harness: Harness) -> Any:
    server, peer = await _tls_server_with_raw_client(harness)
    read = server.read_bytes(1)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()
    return await _outcome(read)


async def tls_peer_sends_a_corrupt_record(harness: Harness) -> Any:
    pair = await TLS.pair(harness)
    read = pair.right.read_bytes(1)
    # Application data record whose contents are not encrypted at all.
    with raw_socket(pair.left) as sock:
        sock.send(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
    return await _outcome(read)


async def tls_server_answers_in_plain_text(harness: Harness) -> Any:
    listener = harness.track(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    client = harness.track(
        SSLIOStream(socket.socket(), ssl_options=tls_material().client_context())
    )
    connected = client.connect(listener.getsockname(), server_hostname="localhost")
    raw, _ = await within(asyncio.get_running_loop().sock_accept(listener))
    harness.track(raw)
    raw.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    read = client.read_bytes(1)
    outcome = await _outcome(connected)
    assert isinstance(outcome, ssl.SSLError), repr(outcome)
    return await _outcome(read)


async def plain_client_meets_tls_server(harness: Harness) -> Any:
    listener = harness.track(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    client = harness.track(IOStream(socket.socket()))
    connected = client.connect(listener.getsockname())
    raw, _ = await within(asyncio.get_running_loop().sock_accept(listener))
    server = harness.track(tls_server_stream(harness.track(raw)))
    await within(connected)
    handshake = server.wait_for_handshake()
    await within(client.write(b"\x16\x03\x01\x00\x05hello"))  # not a ClientHello
    outcome = await _outcome(handshake)
    assert isinstance(outcome, (ssl.SSLError, StreamClosedError)), repr(outcome)
    return await _outcome(lambda: server.read_bytes(1))


TLS_SCENARIOS = [
    tls_client_sends_plain_http,
    tls_client_leaves_mid_handshake,
    tls_client_resets_mid_handshake,
    tls_peer_sends_a_corrupt_record,
    tls_server_answers_in_plain_text,
    plain_client_meets_tls_server,
]


# -- the checks ---------------------------------------------------------------------


async def _settle() -> None:
    """Let closes finish and unreferenced futures report, inside the test."""
    for _ in range(5):
        await asyncio.sleep(0)
    gc.collect()
    await asyncio.sleep(0)


def assert_quiet(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not loud, [f"{r.levelname} {r.getMessage()}" for r in loud]
    with_traceback = [r for r in caplog.records if r.exc_info or r.stack_info]
    assert not with_traceback, [r.getMessage() for r in with_traceback]
    err = capfd.readouterr().err
    assert "Traceback" not in err, err


async def check_quiet(
    harness: Harness,
    kind: StreamKind,
    scenario: Scenario,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    outcome = await scenario(harness, kind)
    assert isinstance(outcome, StreamClosedError), repr(outcome)
    await _settle()
    assert_quiet(caplog, capfd)


@pytest.mark.parametrize("scenario", ANY_KIND, ids=lambda s: s.__name__)
async def test_peer_misbehaviour_is_quiet(
    harness: Harness,
    kind: StreamKind,
    scenario: Scenario,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    await check_quiet(harness, kind, scenario, caplog, capfd)


@pytest.mark.needs(RESET)
@pytest.mark.parametrize("scenario", RESETS, ids=lambda s: s.__name__)
async def test_peer_reset_is_quiet(
    harness: Harness,
    kind: StreamKind,
    scenario: Scenario,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    await check_quiet(harness, kind, scenario, caplog, capfd)


@pytest.mark.needs(HALF_CLOSE)
@pytest.mark.parametrize("scenario", HALF_CLOSES, ids=lambda s: s.__name__)
async def test_peer_half_close_is_quiet(
    harness: Harness,
    kind: StreamKind,
    scenario: Scenario,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    await check_quiet(harness, kind, scenario, caplog, capfd)


@pytest.mark.parametrize("scenario", TLS_SCENARIOS, ids=lambda s: s.__name__)
async def test_tls_peer_misbehaviour_is_quiet(
    harness: Harness,
    scenario: Callable[[Harness], Awaitable[Any]],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    outcome = await scenario(harness)
    assert isinstance(outcome, StreamClosedError), repr(outcome)
    await _settle()
    assert_quiet(caplog, capfd)
