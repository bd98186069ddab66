"""Fetching over a unix-domain socket (``HTTPRequest(unix_socket=PATH)``),
with both client backends.

The URL still says what is asked for: its host (and port, if any) is the
``Host`` header and TLS server name, its path and query the request target;
only the connection goes to ``PATH``.  The server is our own HTTPServer on a
socket from :func:`tornado_compat.netutil.bind_unix_socket`.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import ssl
from pathlib import Path

import pytest

from tests.client.conftest import Backend
from tests.client.servers import (
    TLS,
    closing_client,
    described,
    header_values,
    serve_http,
)
from tests.support import run
from tornado_compat.httpclient import HTTPClientError


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return str(tmp_path / "http.sock")


def test_get_over_a_unix_socket(backend: Backend, socket_path: str) -> None:
    async def main() -> None:
        async with serve_http(tcp=False, unix_socket=socket_path) as origin:
            async with closing_client(backend) as client:
                response = await client.fetch(
                    "http://unix.test/hello/world?x=1&y=2", unix_socket=socket_path
                )
                seen = described(response)
                assert response.code == 200
                assert seen["method"] == "GET"
                assert seen["uri"] == "/hello/world?x=1&y=2"
                assert header_values(seen, "Host") == ["unix.test"]
                assert origin.log.accepted == 1

    run(main)


def test_host_header_keeps_the_url_port(backend: Backend, socket_path: str) -> None:
    async def main() -> None:
        async with serve_http(tcp=False, unix_socket=socket_path):
            async with closing_client(backend) as client:
                response = await client.fetch(
                    "http://api.unix.test:8080/v1", unix_socket=socket_path
                )
                seen = described(response)
                assert header_values(seen, "Host") == ["api.unix.test:8080"]
                assert seen["uri"] == "/v1"

    run(main)


def test_post_body_over_a_unix_socket(backend: Backend, socket_path: str) -> None:
    body = bytes(range(256)) * 1000

    async def main() -> None:
        async with serve_http(tcp=False, unix_socket=socket_path):
            async with closing_client(backend) as client:
                response = await client.fetch(
                    "http://unix.test/upload",
                    method="POST",
                    body=body,
                    headers={"Content-Type": "application/octet-stream"},
                    unix_socket=socket_path,
                )
                seen = described(response)
                assert seen["method"] == "POST"
                assert seen["body"].encode("latin-1") == body
                assert header_values(seen, "Content-Length") == [str(len(body))]

    run(main)


def test_the_unix_socket_wins_over_the_url_host(
    backend: Backend, socket_path: str
) -> None:
    # The URL names a TCP server that exists: the request must still go to
    # the unix socket, and the TCP server must see nothing.
    async def main() -> None:
        async with (
            serve_http(tcp=False, unix_socket=socket_path) as on_unix,
            serve_http() as on_tcp,
        ):
            async with closing_client(backend) as client:
                response = await client.fetch(
                    on_tcp.url("/where"), unix_socket=socket_path
                )
                assert described(response)["uri"] == "/where"
                assert on_unix.log.accepted == 1
                assert on_tcp.log.accepted == 0

    run(main)


def test_missing_socket_is_a_clear_error(backend: Backend, tmp_path: Path) -> None:
    missing = str(tmp_path / "nobody-listens-here.sock")

    async def main() -> None:
        async with closing_client(backend) as client:
            with pytest.raises((HTTPClientError, OSError)) as caught:
                await client.fetch("http://unix.test/", unix_socket=missing)
            error = caught.value
            if isinstance(error, HTTPClientError):
                assert error.code == 599
            else:
                assert error.errno == errno.ENOENT
            text = str(error)
            assert missing in text or re.search(
                r"ENOENT|No such file", text, re.IGNORECASE
            ), text

    run(main)


def test_socket_file_that_is_not_listening(backend: Backend, tmp_path: Path) -> None:
    # A socket file left behind by a server that is gone: connection refused.
    stale = str(tmp_path / "stale.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(stale)
    sock.close()
    assert os.path.exists(stale)

    async def main() -> None:
        async with closing_client(backend) as client:
            with pytest.raises((HTTPClientError, OSError)) as caught:
                await client.fetch("http://unix.test/", unix_socket=stale)
            if isinstance(caught.value, HTTPClientError):
                assert caught.value.code == 599
            else:
                assert caught.value.errno == errno.ECONNREFUSED

    run(main)


def test_https_over_a_unix_socket(
    backend: Backend, socket_path: str, tmp_path: Path
) -> None:
    tls = TLS(tmp_path)

    async def main() -> None:
        async with serve_http(
            tcp=False, unix_socket=socket_path, ssl_options=tls.server_context()
        ):
            async with closing_client(backend) as client:
                # The certificate is checked against the URL's host.
                response = await client.fetch(
                    "https://secure.test/tls",
                    unix_socket=socket_path,
                    ca_certs=tls.ca_file,
                    validate_cert=True,
                )
                seen = described(response)
                assert seen["protocol"] == "https"
                assert header_values(seen, "Host") == ["secure.test"]

                # A name the certificate does not cover fails the check.
                with pytest.raises((HTTPClientError, ssl.SSLError)) as caught:
                    await client.fetch(
                        "https://other.example/tls",
                        unix_socket=socket_path,
                        ca_certs=tls.ca_file,
                        validate_cert=True,
                    )
                if isinstance(caught.value, HTTPClientError):
                    assert caught.value.code == 599
                text = str(caught.value)
                assert re.search(r"certificate|SSL|hostname", text, re.I), text

    run(main)
