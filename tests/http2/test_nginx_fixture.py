"""The nginx of tests/http2/nginx_h2.py really speaks HTTP/2, as curl (an
independent client) sees it, and its access log counts connections: the
client tests rely on both."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.http2.nginx_h2 import FILES, NginxH2, nginx_server

__all__ = ["nginx_server"]

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    assert CURL is not None
    return subprocess.run([CURL, "-sS", *args], capture_output=True, timeout=30)


def test_tls_alpn_and_prior_knowledge(nginx_server: NginxH2) -> None:
    tls = curl(
        "--http2",
        "--cacert",
        nginx_server.ca_file,
        "-w",
        "%{http_version}",
        nginx_server.https("hello.txt"),
    )
    assert tls.returncode == 0, tls.stderr
    assert tls.stdout == FILES["hello.txt"] + b"2"
    h2c = curl(
        "--http2-prior-knowledge",
        "-w",
        "%{http_version}",
        nginx_server.h2c("hello.txt"),
    )
    assert h2c.stdout == FILES["hello.txt"] + b"2"
    h1 = curl("-w", "%{http_version}", nginx_server.http1("hello.txt"))
    assert h1.stdout == FILES["hello.txt"] + b"1.1"
    protocols = [proto for _, proto, _, _ in nginx_server.log()]
    assert protocols == ["HTTP/2.0", "HTTP/2.0", "HTTP/1.1"]


def test_log_counts_connections(nginx_server: NginxH2) -> None:
    # Two URLs on one curl command line share one connection; a second
    # command opens another.
    url = nginx_server.https("hello.txt")
    for _ in range(2):
        done = curl("--http2", "--cacert", nginx_server.ca_file, url, url)
        assert done.stdout == FILES["hello.txt"] * 2
    assert len(nginx_server.log()) == 4
    assert len(nginx_server.connections()) == 2
