"""A real nginx speaking HTTP/2, for the client tests (not a test module).

What it is for: an HTTP/2 server that is not ours, so that the clients'
HTTP/2 is checked against an independent implementation.  nginx serves a
folder of files over TLS (ALPN ``h2`` then ``http/1.1``, with a trustme
certificate for ``localhost``) and over cleartext HTTP/2 with prior
knowledge, and logs one line per request naming the connection it came on,
so that a test can count the connections its fetches used.

What it must never do: need a system-wide nginx configuration or service, or
leave nginx running (it runs in the foreground, in the test's own folder,
through tests/deploy/nginx.py, which stops it when the test ends).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.nginx import nginx
from tests.ports import free_ports

#: The files served, by name: small ones, and one big enough (1 MiB) that
#: ten fetches of it are still in flight together.
FILES = {
    "hello.txt": b"Hello over HTTP/2\n",
    "big.bin": bytes(range(256)) * 4096,
}

# nginx 1.22 (Debian 12) turns HTTP/2 on per listen socket ("listen ...
# http2"); 1.25.1 and later also accept "http2 on;", but the listen form
# still works there.  A cleartext "http2" listener speaks HTTP/2 with prior
# knowledge only.  The access log names the connection serial number and the
# protocol of each request.
SERVER = """\
    log_format h2test '$connection $server_protocol $request_uri $status';
    server {{
        listen 127.0.0.1:{tls_port} ssl http2;
        listen 127.0.0.1:{h2c_port} http2;
        listen 127.0.0.1:{h1_port};
        server_name localhost;
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        access_log {dir}/access.log h2test;
        http2_max_concurrent_streams 128;
        keepalive_requests 10000;
        root {files};
        location = /nginx_status {{
            stub_status;
            access_log off;
        }}
    }}
"""


@dataclass
class NginxH2:
    """A running nginx: its addresses, the CA that signed its certificate,
    and its access log."""

    directory: Path
    tls_port: int
    h2c_port: int
    h1_port: int
    ca_file: str
    status_fetches: int = 0

    def https(self, name: str) -> str:
        return f"https://localhost:{self.tls_port}/{name}"

    def h2c(self, name: str) -> str:
        return f"http://127.0.0.1:{self.h2c_port}/{name}"

    def http1(self, name: str) -> str:
        return f"http://127.0.0.1:{self.h1_port}/{name}"

    def requests_started(self) -> int:
        """How many requests nginx has begun, the fetches of its status page
        left out (stub_status counts a request when it begins)."""
        self.status_fetches += 1
        with urllib.request.urlopen(self.http1("nginx_status"), timeout=10) as page:
            text = page.read().decode()
        match = re.search(r"^\s*\d+\s+\d+\s+(\d+)\s*$", text, re.M)
        assert match, f"unexpected stub_status page: {text!r}"
        return int(match.group(1)) - self.status_fetches

    def log(self) -> list[tuple[str, str, str, str]]:
        """(connection, protocol, uri, status) of each request nginx has
        begun so far.

        nginx writes a request's line when the request ends, which may be a
        moment after its client has the last byte: this waits until there
        is a line for every request nginx has begun."""
        path = self.directory / "access.log"
        deadline = time.monotonic() + 10
        started = self.requests_started()
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            if len(lines) >= started or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        assert len(lines) == started, (
            f"nginx began {started} requests but logged {len(lines)}"
        )
        return [tuple(line.split(" ", 3)) for line in lines]  # type: ignore[misc]

    def connections(self, uri_prefix: str = "/") -> set[str]:
        """The connections that requests for ``uri_prefix``... came on."""
        return {conn for conn, _, uri, _ in self.log() if uri.startswith(uri_prefix)}


@contextmanager
def nginx_h2(directory: Path) -> Iterator[NginxH2]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    directory.mkdir(parents=True, exist_ok=True)
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    with open(directory / "cert.pem", "ab") as chain:
        for pem in cert.cert_chain_pems[1:]:
            chain.write(pem.bytes())
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    # nginx's workers may run as nobody, who cannot enter pytest's private
    # temporary folders: the files live in a folder of their own that anyone
    # may read.
    with tempfile.TemporaryDirectory(prefix="nginx-h2-files-") as files_dir:
        files = Path(files_dir)
        os.chmod(files, 0o755)
        for name, body in FILES.items():
            (files / name).write_bytes(body)
            os.chmod(files / name, 0o644)
        with _run(directory, files, str(ca_file)) as server:
            yield server


@contextmanager
def _run(directory: Path, files: Path, ca_file: str) -> Iterator[NginxH2]:
    ports = dict(zip(("tls_port", "h2c_port", "h1_port"), free_ports(3), strict=True))
    http = SERVER.format(dir=directory, files=files, **ports)
    with nginx(directory, http, list(ports.values())):
        yield NginxH2(directory, ca_file=ca_file, **ports)


@pytest.fixture
def nginx_server(tmp_path: Path) -> Iterator[NginxH2]:
    """nginx serving :data:`FILES` over HTTP/2 (TLS and prior knowledge) and
    HTTP/1.1, for one test."""
    with nginx_h2(tmp_path / "nginx") as server:
        yield server
