"""``serve --certfile ...``: HTTPS with trustme certificates, checked by real
clients (Python's ssl and curl): the chain, an encrypted key, client
certificates, the cipher list, ALPN."""

from __future__ import annotations

import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from tests.client_tools import tool
from tests.serve.support import TARGETS, refused, serve, stop

PASSWORD = "correct horse"


@dataclass
class Files:
    ca: trustme.CA
    ca_pem: Path
    cert: Path  # chain and key together
    chain: Path
    key: Path
    encrypted_key: Path
    client: Path  # a client certificate issued by the same CA


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("client@example.com")
    found = Files(
        ca,
        where / "ca.pem",
        where / "server.pem",
        where / "chain.pem",
        where / "key.pem",
        where / "encrypted-key.pem",
        where / "client.pem",
    )
    ca.cert_pem.write_to_path(found.ca_pem)
    server.private_key_and_cert_chain_pem.write_to_path(found.cert)
    for blob in server.cert_chain_pems:
        blob.write_to_path(found.chain, append=True)
    server.private_key_pem.write_to_path(found.key)
    key = serialization.load_pem_private_key(server.private_key_pem.bytes(), None)
    found.encrypted_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    client.private_key_and_cert_chain_pem.write_to_path(found.client)
    return found


@dataclass
class Negotiated:
    version: str | None
    alpn: str | None
    cipher: str


def client_context(files: Files, client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(files.ca_pem))
    if client_cert:
        context.load_cert_chain(str(files.client))
    return context


def https_get(
    port: int, context: ssl.SSLContext, path: str = "/whoami"
) -> tuple[bytes, Negotiated]:
    """One request over TLS to 127.0.0.1: the response, and what the
    handshake chose."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        cipher = tls.cipher()
        assert cipher is not None
        negotiated = Negotiated(tls.version(), tls.selected_alpn_protocol(), cipher[0])
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks), negotiated


def test_https_with_the_certificate_chain_and_key_in_one_file(files: Files) -> None:
    context = client_context(files)
    context.set_alpn_protocols(["h2", "http/1.1"])
    with serve("--certfile", str(files.cert)) as server:
        assert server.wait_for_line("try:").startswith(
            f"try:  curl -k https://127.0.0.1:{server.port}/"
        )
        response, tls = https_get(server.port, context)
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        # The application sees the scheme.
        assert b"\r\n\r\n127.0.0.1 https " in response
        # ALPN picks HTTP/1.1 (the only protocol offered, for now).
        assert tls.alpn == "http/1.1"
        assert tls.version in ("TLSv1.2", "TLSv1.3")
        status, _, err = stop(server)
    assert status == 0, err


def test_an_encrypted_key_in_its_own_file(files: Files) -> None:
    with serve(
        "--certfile",
        str(files.chain),
        "--keyfile",
        str(files.encrypted_key),
        "--keyfile-password",
        PASSWORD,
    ) as server:
        response, _ = https_get(server.port, client_context(files), "/")
        assert response.endswith(b"\r\n\r\nhello\n")
        stop(server)


def test_a_wrong_key_password_is_refused_at_start(files: Files) -> None:
    result = refused(
        "serve",
        TARGETS,
        "--certfile",
        str(files.chain),
        "--keyfile",
        str(files.encrypted_key),
        "--keyfile-password",
        "wrong",
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cannot set up TLS: "), lines


def test_a_missing_certificate_file_is_refused_at_start(tmp_path: Path) -> None:
    result = refused("serve", TARGETS, "--certfile", str(tmp_path / "none.pem"))
    assert result.returncode == 2
    assert result.stderr.startswith("cannot set up TLS: [Errno 2] No such file")


def test_client_certificates_required(files: Files) -> None:
    with serve(
        "--certfile",
        str(files.cert),
        "--ca-certs",
        str(files.ca_pem),
        "--cert-reqs",
        "required",
    ) as server:
        response, tls = https_get(server.port, client_context(files, True))
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        # Without a client certificate the handshake fails.  With TLS 1.3 the
        # client learns it on its first read, not in the handshake.
        with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            https_get(server.port, client_context(files))
        status, _, err = stop(server)
    assert status == 0, err


def test_curl_with_a_client_certificate(files: Files) -> None:
    curl = tool("curl")
    with serve(
        "--certfile",
        str(files.cert),
        "--ca-certs",
        str(files.ca_pem),
        "--cert-reqs",
        "required",
    ) as server:
        url = f"https://127.0.0.1:{server.port}/"
        ok = subprocess.run(
            [curl, "-sS", "--cacert", files.ca_pem, "--cert", files.client, url],
            capture_output=True,
            timeout=30,
        )
        assert ok.stdout == b"hello\n", ok.stderr
        without = subprocess.run(
            [curl, "-sS", "--cacert", files.ca_pem, url],
            capture_output=True,
            timeout=30,
        )
        assert without.returncode != 0 and without.stdout == b""
        stop(server)


def test_ciphers_restrict_tls_1_2(files: Files) -> None:
    chosen = "ECDHE-ECDSA-AES128-GCM-SHA256"
    context = client_context(files)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with serve("--certfile", str(files.cert), "--ciphers", chosen) as server:
        _, tls = https_get(server.port, context)
        assert tls.cipher == chosen
        stop(server)


def test_tls_options_without_a_certificate_are_refused(files: Files) -> None:
    result = refused("serve", TARGETS, "--keyfile", str(files.key))
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["--keyfile needs --certfile"]
    result = refused(
        "serve", TARGETS, "--certfile", str(files.cert), "--cert-reqs", "required"
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["--cert-reqs required needs --ca-certs"]
