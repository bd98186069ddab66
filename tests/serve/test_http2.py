"""``serve --http2``: the real command, checked with curl.  With the flag,
curl gets HTTP/2 over TLS (ALPN) and in cleartext (prior knowledge);
without it, HTTP/1.1 only, and ALPN does not offer ``h2``.  Without the
``h2`` package the flag is refused before anything is bound."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.client_tools import tool
from tests.serve.support import serve, stop
from tests.serve_process import ROOT, ServeProcess

pytest.importorskip("h2")


@dataclass
class Files:
    ca: Path
    cert: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    found = Files(where / "ca.pem", where / "server.pem")
    ca.cert_pem.write_to_path(found.ca)
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(found.cert)
    return found


def curl_version(*args: str) -> tuple[str, bytes]:
    """curl's ``%{http_version}`` ("2", "1.1") and the body, after one
    request; fails on any curl error."""
    done = subprocess.run(
        [tool("curl"), "-sS", "-o", "-", "-w", "\n%{http_version}", *args],
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    body, _, version = done.stdout.rpartition(b"\n")
    return version.decode(), body


def alpn(port: int, files: Files) -> str | None:
    """The protocol ALPN chose for a client offering h2 and http/1.1."""
    context = ssl.create_default_context(cafile=str(files.ca))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.selected_alpn_protocol()


def finished(server: ServeProcess) -> str:
    """Stop the server; its stderr, checked for a clean exit."""
    status, _, err = stop(server)
    assert status == 0, err
    assert "Traceback" not in err and "[E " not in err, err
    return err


def test_over_tls_http2_is_chosen_by_alpn_only_with_the_flag(files: Files) -> None:
    url_options = ("--cacert", str(files.ca))
    with serve("--http2", "--certfile", str(files.cert)) as server:
        url = f"https://127.0.0.1:{server.port}/"
        assert server.wait_for_line("try:").startswith(f"try:  curl -k --http2 {url}")
        assert curl_version("--http2", *url_options, url) == ("2", b"hello\n")
        # A client that offers only HTTP/1.1 still gets it.
        assert curl_version("--http1.1", *url_options, url) == ("1.1", b"hello\n")
        assert alpn(server.port, files) == "h2"
        err = finished(server)
    assert err.count(" 200 GET / ") == 2, err
    with serve("--certfile", str(files.cert)) as server:
        url = f"https://127.0.0.1:{server.port}/"
        assert curl_version("--http2", *url_options, url) == ("1.1", b"hello\n")
        assert alpn(server.port, files) == "http/1.1"
        finished(server)


def test_in_cleartext_prior_knowledge_only_with_the_flag() -> None:
    with serve("--http2") as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert server.wait_for_line("try:").startswith(
            f"try:  curl --http2-prior-knowledge {url}"
        )
        assert curl_version("--http2-prior-knowledge", url) == ("2", b"hello\n")
        # The same port serves HTTP/1.1, and the Upgrade: h2c dance is
        # answered as HTTP/1.1.
        assert curl_version(url) == ("1.1", b"hello\n")
        assert curl_version("--http2", url) == ("1.1", b"hello\n")
        finished(server)
    with serve() as server:
        url = f"http://127.0.0.1:{server.port}/"
        assert curl_version(url) == ("1.1", b"hello\n")
        assert curl_version("--http2", url) == ("1.1", b"hello\n")
        # Without the flag the HTTP/2 preface is not HTTP/1.1: curl fails,
        # and so does no request.
        done = subprocess.run(
            [tool("curl"), "-sS", "--http2-prior-knowledge", url],
            capture_output=True,
            timeout=30,
        )
        assert done.returncode != 0 and done.stdout == b""
        finished(server)


def test_without_h2_the_flag_is_refused_before_serving(tmp_path: Path) -> None:
    # A package named h2 that cannot be imported, first on the path.
    (tmp_path / "h2").mkdir()
    (tmp_path / "h2" / "__init__.py").write_text("raise ImportError('no h2 here')\n")
    path = os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "tornado_compat", "serve", "tests/serve/apps/targets.py"]
        + ["--port", "0", "--http2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=path),
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        "--http2: HTTP/2 needs the h2 package: pip install 'tornado_compat[http2]'\n"
    )


LAST_PING = b"lastping"


def send_pings(port: int, pings: int) -> socket.socket:
    """A connection that has sent the preface, SETTINGS and ``pings``
    PINGs, the last one marked with :data:`LAST_PING`."""
    from hyperframe.frame import PingFrame, SettingsFrame

    out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize()
    out += b"".join(
        PingFrame(0, opaque_data=bytes(8)).serialize() for _ in range(pings - 1)
    )
    out += PingFrame(0, opaque_data=LAST_PING).serialize()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(out)
    return sock


def read_until(sock: socket.socket, wanted: Callable[[Any], bool]) -> Any:
    """The server's first frame for which ``wanted`` is true; fails if the
    server closes first."""
    from hyperframe.frame import Frame

    data = b""
    while True:
        while len(data) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(data[:9]))
            if len(data) < 9 + length:
                break
            frame.parse_body(memoryview(data[9 : 9 + length]))
            data = data[9 + length :]
            if wanted(frame):
                return frame
        chunk = sock.recv(65536)
        assert chunk, "the server closed before the frame awaited"
        data += chunk


def flood_goaway(port: int, pings: int) -> int:
    """The error code of the GOAWAY that ``pings`` PINGs bring."""
    from hyperframe.frame import GoAwayFrame

    with send_pings(port, pings) as sock:
        return int(read_until(sock, lambda f: isinstance(f, GoAwayFrame)).error_code)


def pings_answered(port: int, pings: int) -> bool:
    """Whether the last of ``pings`` PINGs is acknowledged with no GOAWAY
    before it."""
    from hyperframe.frame import GoAwayFrame, PingFrame

    with send_pings(port, pings) as sock:
        frame = read_until(
            sock,
            lambda f: (
                isinstance(f, GoAwayFrame)
                or (isinstance(f, PingFrame) and f.opaque_data == LAST_PING)
            ),
        )
    return isinstance(frame, PingFrame)


def test_http2_limits_reach_the_server() -> None:
    limits = ("--http2-max-concurrent-streams", "7", "--http2-max-control-frames", "5")
    with serve("--http2", *limits) as server:
        url = f"http://127.0.0.1:{server.port}/"
        # nghttp prints the server's SETTINGS: the limit is advertised.
        shown = subprocess.run(
            [tool("nghttp"), "-nv", url], capture_output=True, text=True, timeout=30
        )
        assert shown.returncode == 0, shown.stderr
        assert "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):7" in shown.stdout
        # Past 5 control frames in 10 s: GOAWAY ENHANCE_YOUR_CALM (0xb).
        assert pings_answered(server.port, 3)
        assert flood_goaway(server.port, 20) == 0xB
        finished(server)
    with serve("--http2") as server:
        assert pings_answered(server.port, 20)
        finished(server)
