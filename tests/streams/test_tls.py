"""TLS on SSLIOStream: the handshake, certificate checks, the ``socket``
queries, ``start_tls`` and ``wait_for_handshake``, with certificates from
``trustme``.  Every test runs on both event loops.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import pytest
import trustme

from tests.streams.support import (
    TLS,
    Harness,
    next_turn,
    raw_socket,
    tls_material,
    tls_server_stream,
    wait_drained,
    within,
)
from tornado_compat.iostream import IOStream, SSLIOStream, StreamClosedError

# IOStream.start_tls sets self._close_callback = None and never gives the
# callback to the new SSLIOStream, so it never runs.  Tornado moves it over.


@dataclass
class Handshake:
    """A TLS client and server mid-handshake, and the futures that end it."""

    client: SSLIOStream
    server: SSLIOStream
    connected: asyncio.Future[Any]
    accepted: asyncio.Future[Any]

    async def outcomes(self) -> tuple[Any, Any]:
        """Both ends' outcome: the stream, or the exception that ended it."""
        results = await within(
            asyncio.gather(self.connected, self.accepted, return_exceptions=True)
        )
        return results[0], results[1]


async def start_handshake(
    harness: Harness,
    client_ctx: ssl.SSLContext | None,
    server_options: ssl.SSLContext | dict[str, Any],
    server_hostname: str | None = "localhost",
) -> Handshake:
    listener = harness.track(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    client = harness.track(SSLIOStream(socket.socket(), ssl_options=client_ctx))
    connected = client.connect(listener.getsockname(), server_hostname=server_hostname)
    raw, _ = await within(asyncio.get_running_loop().sock_accept(listener))
    harness.track(raw)
    listener.close()
    server = harness.track(tls_server_stream(raw, server_options))
    return Handshake(client, server, connected, server.wait_for_handshake())


async def plain_pair(harness: Harness) -> tuple[IOStream, IOStream]:
    listener = harness.track(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    client = harness.track(IOStream(socket.socket()))
    connected = client.connect(listener.getsockname())
    raw, _ = await within(asyncio.get_running_loop().sock_accept(listener))
    server = harness.track(IOStream(harness.track(raw)))
    await within(connected)
    listener.close()
    return client, server


def ssl_errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith("SSL Error")
    ]


def assert_nothing_at_error(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not loud, [r.getMessage() for r in loud]


# -- the handshake and what the socket tells ----------------------------------------


async def test_cipher_is_none_before_and_a_tuple_after_the_handshake(
    harness: Harness,
) -> None:
    material = tls_material()
    hs = await start_handshake(
        harness, material.client_context(), material.server_context()
    )
    # Neither end can have finished: the client has not even heard back.
    assert hs.client.socket.cipher() is None
    assert hs.server.socket.cipher() is None
    assert hs.client.socket.version() is None
    client, server = await hs.outcomes()
    assert client is hs.client and server is hs.server
    for stream in (client, server):
        cipher = stream.socket.cipher()
        assert isinstance(cipher, tuple) and len(cipher) == 3
        name, protocol, bits = cipher
        assert isinstance(name, str) and protocol.startswith("TLS") and bits >= 128
        assert stream.socket.version() == protocol
    assert client.socket.cipher() == server.socket.cipher()


async def test_getpeercert_on_the_client(harness: Harness) -> None:
    material = tls_material()
    hs = await start_handshake(
        harness, material.client_context(), material.server_context()
    )
    with pytest.raises(ValueError):
        hs.client.socket.getpeercert()
    client, server = await hs.outcomes()
    cert = client.socket.getpeercert()
    assert ("DNS", "localhost") in cert["subjectAltName"]
    pem = material.server_cert.cert_chain_pems[0].bytes().decode()
    assert client.socket.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(pem)
    # The server asked for no client certificate, so it has none to show.
    assert server.socket.getpeercert() is None


async def test_client_certificate_reaches_the_server(harness: Harness) -> None:
    material = tls_material()
    hs = await start_handshake(
        harness,
        material.client_context(with_cert=True),
        material.server_context(require_client_cert=True),
    )
    client, server = await hs.outcomes()
    subject = dict(item[0] for item in server.socket.getpeercert()["subject"])
    assert subject["commonName"] == "a client"


async def test_server_options_as_a_dict_of_files(harness: Harness) -> None:
    material = tls_material()
    with material.server_cert.private_key_and_cert_chain_pem.tempfile() as path:
        hs = await start_handshake(
            harness,
            material.client_context(),
            {"certfile": path, "keyfile": path},
        )
        client, server = await hs.outcomes()
    assert client is hs.client and server is hs.server
    await within(client.write(b"ping"))
    assert await within(server.read_bytes(4)) == b"ping"


async def test_data_written_before_the_handshake_waits_for_it(
    harness: Harness,
) -> None:
    material = tls_material()
    hs = await start_handshake(
        harness, material.client_context(), material.server_context()
    )
    early = hs.client.write(b"early bird")
    read = hs.server.read_bytes(10)
    assert await within(read) == b"early bird"
    await within(early)
    client, server = await hs.outcomes()
    assert client is hs.client


# -- verification ---------------------------------------------------------------------


async def test_wrong_hostname_fails_verification(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    material = tls_material()
    hs = await start_handshake(
        harness,
        material.client_context(),
        material.server_context(),
        server_hostname="wrong.example.org",
    )
    client, server = await hs.outcomes()
    assert isinstance(client, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in client.verify_message
    assert isinstance(hs.client.error, ssl.SSLCertVerificationError)
    # The server hears why (an alert) and gives up too.
    assert isinstance(server, (ssl.SSLError, StreamClosedError))
    assert hs.client.closed() and hs.server.closed()
    assert ssl_errors_logged(caplog)
    assert_nothing_at_error(caplog)


async def test_certificate_from_an_unknown_ca_fails_verification(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    material = tls_material()
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)
    hs = await start_handshake(harness, stranger, material.server_context())
    client, server = await hs.outcomes()
    assert isinstance(client, ssl.SSLCertVerificationError)
    assert isinstance(server, (ssl.SSLError, StreamClosedError))
    assert ssl_errors_logged(caplog)
    assert_nothing_at_error(caplog)


async def test_client_verifies_by_default(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    material = tls_material()
    # No ssl_options: the system's trust store, which knows nothing of trustme.
    hs = await start_handshake(harness, None, material.server_context())
    client, _ = await hs.outcomes()
    assert isinstance(client, ssl.SSLCertVerificationError)
    assert_nothing_at_error(caplog)


async def test_pending_read_fails_with_the_handshake_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    material = tls_material()
    hs = await start_handshake(
        harness,
        material.client_context(),
        material.server_context(),
        server_hostname="wrong.example.org",
    )
    read = hs.client.read_bytes(1)
    with pytest.raises(StreamClosedError) as info:
        await within(read)
    assert isinstance(info.value.real_error, ssl.SSLCertVerificationError)
    await hs.outcomes()
    with pytest.raises(StreamClosedError):
        hs.client.write(b"too late")
    assert_nothing_at_error(caplog)


async def test_handshake_failure_is_one_warning_not_an_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    material = tls_material()
    hs = await start_handshake(
        harness,
        material.client_context(),
        material.server_context(),
        server_hostname="wrong.example.org",
    )
    await hs.outcomes()
    logged = ssl_errors_logged(caplog)
    # One line per end at most, and no traceback attached to it.
    assert 1 <= len(logged) <= 2
    assert all(r.exc_info is None for r in logged)
    assert_nothing_at_error(caplog)


# -- wait_for_handshake ----------------------------------------------------------------


async def test_wait_for_handshake(harness: Harness) -> None:
    material = tls_material()
    hs = await start_handshake(
        harness, material.client_context(), material.server_context()
    )
    with pytest.raises(RuntimeError):
        hs.server.wait_for_handshake()  # one waiter at a time
    assert await within(hs.accepted) is hs.server
    assert hs.server.socket.cipher() is not None
    # Once done, a new wait resolves at once.
    again = hs.server.wait_for_handshake()
    assert again.done() and again.result() is hs.server
    await within(hs.connected)


async def test_wait_for_handshake_fails_with_the_ssl_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    material = tls_material()
    hs = await start_handshake(
        harness, material.client_context(), material.server_context(), "nope.test"
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        await within(hs.connected)
    # After the failure, a new wait fails the same way.
    with pytest.raises(ssl.SSLCertVerificationError):
        await within(hs.client.wait_for_handshake())
    await hs.outcomes()
    assert_nothing_at_error(caplog)


# -- start_tls ----------------------------------------------------------------------


async def upgrade(
    harness: Harness,
    client: IOStream,
    server: IOStream,
    client_options: ssl.SSLContext | None,
    server_hostname: str = "localhost",
) -> tuple[Any, Any]:
    material = tls_material()
    upgrades = [
        client.start_tls(False, client_options, server_hostname=server_hostname),
        server.start_tls(True, material.server_context()),
    ]
    return tuple(await within(asyncio.gather(*upgrades, return_exceptions=True)))  # type: ignore[return-value]


async def test_start_tls_on_an_established_connection(harness: Harness) -> None:
    client, server = await plain_pair(harness)
    await within(client.write(b"STARTTLS\r\n"))
    assert await within(server.read_until(b"\r\n")) == b"STARTTLS\r\n"
    tls_client, tls_server = await upgrade(
        harness, client, server, tls_material().client_context()
    )
    assert isinstance(tls_client, SSLIOStream) and isinstance(tls_server, SSLIOStream)
    harness.track(tls_client)
    harness.track(tls_server)
    assert tls_client.socket.cipher() is not None
    assert ("DNS", "localhost") in tls_client.socket.getpeercert()["subjectAltName"]
    await within(tls_client.write(b"secret one\n"))
    assert await within(tls_server.read_until(b"\n")) == b"secret one\n"
    await within(tls_server.write(b"secret two\n"))
    assert await within(tls_client.read_until(b"\n")) == b"secret two\n"
    tls_client.close()
    assert await within(tls_server.read_until_close()) == b""


async def test_start_tls_client_verifies(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    client, server = await plain_pair(harness)
    tls_client, _ = await upgrade(harness, client, server, None)
    assert isinstance(tls_client, ssl.SSLCertVerificationError)
    client, server = await plain_pair(harness)
    tls_client, _ = await upgrade(
        harness, client, server, tls_material().client_context(), "wrong.example"
    )
    assert isinstance(tls_client, ssl.SSLCertVerificationError)
    assert "Hostname mismatch" in tls_client.verify_message
    assert_nothing_at_error(caplog)


async def test_start_tls_needs_an_idle_stream(harness: Harness) -> None:
    client, server = await plain_pair(harness)
    pending = server.read_bytes(1)
    with pytest.raises(ValueError):
        server.start_tls(True, tls_material().server_context())
    await within(client.write(b"x"))
    assert await within(pending) == b"x"
    # Unread bytes are not idle either: they were meant for the plain stream.
    await within(client.write(b"yz"))
    assert await within(server.read_bytes(1)) == b"y"
    with pytest.raises(ValueError):
        server.start_tls(True, tls_material().server_context())


async def test_start_tls_keeps_the_close_callback(harness: Harness) -> None:
    client, server = await plain_pair(harness)
    closed = asyncio.get_running_loop().create_future()
    server.set_close_callback(lambda: closed.done() or closed.set_result(None))
    tls_client, tls_server = await upgrade(
        harness, client, server, tls_material().client_context()
    )
    harness.track(tls_client)
    harness.track(tls_server)
    tls_client.close()
    assert await within(tls_server.read_until_close()) == b""
    # The TLS stream is closed; its close callback was queued by then.
    await next_turn()
    assert closed.done()


async def test_corrupt_record_fails_reads_with_the_ssl_error(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    pair = await TLS.pair(harness)
    read = pair.right.read_until_close()
    await within(pair.left.write(b"genuine"))
    await wait_drained(pair.right)
    with raw_socket(pair.left) as sock:
        # An application-data record that was never encrypted.
        sock.send(b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
    # Not a clean end, so read_until_close must not pass the data off as all.
    with pytest.raises(StreamClosedError) as info:
        await within(read)
    assert isinstance(info.value.real_error, ssl.SSLError)
    assert pair.right.closed()
    assert_nothing_at_error(caplog)


async def test_a_whole_record_is_read_without_a_failed_read_after_it(
    harness: Harness,
) -> None:
    # Each message arrives as a record of its own.  Asking OpenSSL for more
    # once the received bytes are all decrypted fails with SSLWantReadError,
    # a raised exception per read event; the stream knows there is nothing
    # left and does not ask.  Records that arrive together, and the peer's
    # close_notify right behind its last record, are still all read.
    pair = await TLS.pair(harness)
    right = pair.right
    assert isinstance(right, SSLIOStream)
    obj = right._sslobj
    assert obj is not None
    reads = []
    failed = []
    real_read = obj.read

    def counting_read(*args: Any) -> Any:
        reads.append(args)
        try:
            return real_read(*args)
        except ssl.SSLWantReadError:
            failed.append(args)
            raise

    obj.read = counting_read  # type: ignore[method-assign]
    for n in range(5):
        await within(pair.left.write(b"message %d;" % n))
        assert await within(right.read_until(b";")) == b"message %d;" % n
    assert failed == []
    assert len(reads) == 5
    for n in range(5):
        pair.left.write(b"part %d;" % n)
    pair.left.close()
    data = await within(right.read_until_close())
    assert data == b"".join(b"part %d;" % n for n in range(5))
