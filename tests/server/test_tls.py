"""HTTPS: ssl_options given as an SSLContext and as a dict of file names.

The certificates come from trustme: a throwaway CA issues the server's
certificate for 127.0.0.1, and the client trusts only that CA.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.server.client import RawConnection, request


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("127.0.0.1", "localhost")


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def context_options(cert: trustme.LeafCert, tmp_path: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def dict_options(cert: trustme.LeafCert, tmp_path: Path) -> dict[str, Any]:
    certfile = tmp_path / "server.pem"
    keyfile = tmp_path / "server.key"
    certfile.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(keyfile))
    return {"certfile": str(certfile), "keyfile": str(keyfile)}


SSL_OPTIONS = {"context": context_options, "dict": dict_options}


@pytest.fixture(params=sorted(SSL_OPTIONS))
def ssl_options(
    request: pytest.FixtureRequest, server_cert: trustme.LeafCert, tmp_path: Path
) -> Any:
    return SSL_OPTIONS[request.param](server_cert, tmp_path)


def test_https_request_is_served(serve, connect, ssl_options, client_context) -> None:
    served = serve(ssl_options=ssl_options)
    conn = connect(served.port, ssl_context=client_context)
    conn.send(request("POST", "/secure", body=b"over tls"))
    info = conn.read_response().json()
    assert info["protocol"] == "https"
    assert info["body"] == "over tls"
    assert info["remote_ip"] == "127.0.0.1"


def test_https_keep_alive_and_pipelining(
    serve, connect, ssl_options, client_context
) -> None:
    served = serve(ssl_options=ssl_options)
    conn = connect(served.port, ssl_context=client_context)
    conn.send(request("GET", "/1") + request("GET", "/2") + request("GET", "/3"))
    assert [conn.read_response().json()["uri"] for _ in range(3)] == [
        "/1",
        "/2",
        "/3",
    ]
    conn.send(request("GET", "/4"))
    assert conn.read_response().json()["uri"] == "/4"


def test_https_chunked_body_sent_byte_by_byte(
    serve, connect, ssl_options, client_context
) -> None:
    served = serve(ssl_options=ssl_options)
    conn = connect(served.port, ssl_context=client_context)
    conn.send_bytewise(
        request("POST", "/", {"Transfer-Encoding": "chunked"}, b"3\r\nabc\r\n0\r\n\r\n")
    )
    assert conn.read_response().json()["body"] == "abc"


def test_xheaders_can_downgrade_the_scheme_of_an_https_connection(
    serve, connect, ssl_options, client_context
) -> None:
    served = serve(ssl_options=ssl_options, xheaders=True)
    conn = connect(served.port, ssl_context=client_context)
    conn.send(
        request("GET", "/1", {"X-Forwarded-Proto": "http"}) + request("GET", "/2")
    )
    assert conn.read_response().json()["protocol"] == "http"
    assert conn.read_response().json()["protocol"] == "https"


def test_plain_http_to_an_https_port_is_dropped_quietly(
    serve, connect, ssl_options
) -> None:
    served = serve(ssl_options=ssl_options)
    conn = connect(served.port)
    conn.send(request("GET", "/"))
    # The handshake fails; whatever the server says, it is not HTTP, and the
    # application never runs.
    data = conn.read_until_close()
    assert not data.startswith(b"HTTP/")
    assert served.app.calls == 0


def test_a_client_that_distrusts_the_certificate_gets_no_answer(
    serve, ssl_options
) -> None:
    served = serve(ssl_options=ssl_options)
    untrusting = ssl.create_default_context()  # system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        RawConnection(served.port, ssl_context=untrusting)
    assert served.app.calls == 0
