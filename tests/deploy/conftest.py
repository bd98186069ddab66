"""Fixtures of the deployment tests: a folder that nginx's unprivileged
worker can enter, and a TLS certificate for nginx."""

from __future__ import annotations

import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A temporary folder under /tmp open to every user: run as root, nginx's
    worker runs as nobody and must reach the unix socket in it (pytest's own
    temporary folders are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="deploy-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Certificates:
    chain: Path
    key: Path
    client: ssl.SSLContext


@pytest.fixture
def certs(workdir: Path) -> Certificates:
    """A certificate for example.com and 127.0.0.1, and a client context that
    trusts it."""
    ca = trustme.CA()
    cert = ca.issue_cert("example.com", "127.0.0.1")
    chain = workdir / "example.com.pem"
    key = workdir / "example.com.key"
    cert.private_key_pem.write_to_path(str(key))
    with open(chain, "wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Certificates(chain, key, client)
