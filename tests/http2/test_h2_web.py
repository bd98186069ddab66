"""A real ``tornado.web`` application, unchanged, served over HTTP/2 by
``HTTPServer(app, http2=True)``.

``apps/h2_app.py`` runs in a subprocess (warnings as errors, after
``tornado_compat.install()``).  Independent clients fetch from it: curl
with ``--http2-prior-knowledge`` over cleartext and ``--http2`` over TLS
(ALPN), and an ``h2`` client over a raw socket for concurrent streams.
The same port still serves HTTP/1.1.  When stopped, the server must exit
with status 0 and have logged nothing at ERROR.

A missing curl skips its tests, and fails them under CI; see
tests/client_tools.py.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("h2")

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402

from tests.client_tools import run_curl, tool  # noqa: E402
from tests.serve_process import AppProcess  # noqa: E402

APP = Path(__file__).with_name("apps") / "h2_app.py"


@pytest.fixture(scope="module")
def plain_port() -> Iterator[int]:
    app = AppProcess(APP)
    yield app.port
    app.stop()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    tmp = tmp_path_factory.mktemp("tls")
    certfile, keyfile, cafile = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    app = AppProcess(APP, str(certfile), str(keyfile))
    yield app.port, cafile
    app.stop()


def curl(*args: str) -> tuple[str, str]:
    """Run curl; return (body, what ``-w`` wrote after the marker)."""
    return run_curl(tool("curl"), *args)


def test_curl_prior_knowledge_get(plain_port: int) -> None:
    body, written = curl(
        "--http2-prior-knowledge", f"http://127.0.0.1:{plain_port}/info?x=1"
    )
    assert written == "200 2"
    info = json.loads(body)
    assert info["version"] == "HTTP/2.0"
    assert info["method"] == "GET"
    assert info["uri"] == "/info?x=1"
    assert info["host"] == f"127.0.0.1:{plain_port}"
    assert info["protocol"] == "http"


def test_same_port_still_serves_http1(plain_port: int) -> None:
    body, written = curl("--http1.1", f"http://127.0.0.1:{plain_port}/info")
    assert written == "200 1.1"
    assert json.loads(body)["version"] == "HTTP/1.1"


def test_curl_alpn_over_tls(tls: tuple[int, Path]) -> None:
    port, cafile = tls
    body, written = curl(
        "--http2", "--cacert", str(cafile), f"https://localhost:{port}/info"
    )
    assert written == "200 2"
    info = json.loads(body)
    assert info["version"] == "HTTP/2.0"
    assert info["protocol"] == "https"


def test_tls_client_without_h2_gets_http1(tls: tuple[int, Path]) -> None:
    port, cafile = tls
    body, written = curl(
        "--http1.1", "--cacert", str(cafile), f"https://localhost:{port}/info"
    )
    assert written == "200 1.1"
    assert json.loads(body)["version"] == "HTTP/1.1"


def test_curl_post_form_body(plain_port: int) -> None:
    body, written = curl(
        "--http2-prior-knowledge",
        "-d",
        "a=1&b=two",
        f"http://127.0.0.1:{plain_port}/info",
    )
    assert written == "200 2"
    info = json.loads(body)
    assert info["method"] == "POST"
    assert info["body"] == "a=1&b=two"
    assert info["arguments"] == {"a": ["1"], "b": ["two"]}


def test_curl_large_post_body_past_the_window(plain_port: int, tmp_path: Path) -> None:
    data = tmp_path / "body"
    data.write_bytes(b"z" * 300_000)
    body, written = curl(
        "--http2-prior-knowledge",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        f"@{data}",
        f"http://127.0.0.1:{plain_port}/info",
    )
    assert written == "200 2"
    assert json.loads(body)["body"] == "z" * 300_000


def test_curl_stream_request_body(plain_port: int, tmp_path: Path) -> None:
    data = tmp_path / "body"
    data.write_bytes(b"u" * 500_000)
    body, written = curl(
        "--http2-prior-knowledge",
        "-T",
        str(data),
        f"http://127.0.0.1:{plain_port}/upload",
    )
    assert written == "200 2"
    assert json.loads(body) == {"size": 500_000, "version": "HTTP/2.0"}


def test_curl_head_has_no_body(plain_port: int) -> None:
    body, written = curl(
        "--http2-prior-knowledge", "-I", f"http://127.0.0.1:{plain_port}/info"
    )
    assert written == "200 2"
    assert "content-length: " in body.lower()


def test_curl_flushed_response_past_the_window(plain_port: int) -> None:
    # 5 x 30000 bytes: more than the default 64 KiB windows, so the server
    # must wait for WINDOW_UPDATE between flushes.
    body, written = curl(
        "--http2-prior-knowledge", f"http://127.0.0.1:{plain_port}/flush?n=5&size=30000"
    )
    assert written == "200 2"
    assert body == "".join(str(i) * 30000 for i in range(5))


def test_curl_parallel_streams(tls: tuple[int, Path]) -> None:
    # Over TLS: curl 7.88 cannot reuse a prior-knowledge connection for a
    # second transfer (curl/curl#10634, fixed in 8.0).
    port, cafile = tls
    urls = [f"https://localhost:{port}/info?n={i}" for i in range(6)]
    out = subprocess.run(
        [tool("curl"), "-sS", "--http2", "--cacert", str(cafile), "--parallel"]
        + ["-w", "\n@@%{http_version} %{num_connects}\n"]
        + urls,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lines = out.splitlines()
    # Bodies have no final newline and parallel transfers may write theirs
    # back to back, so the JSON objects are taken one after another.
    decoder = json.JSONDecoder()
    bodies = []
    at = out.find("{")
    while at != -1:
        body, end = decoder.raw_decode(out, at)
        bodies.append(body)
        at = out.find("{", end)
    expected = sorted(u[u.index("/info") :] for u in urls)
    assert sorted(b["uri"] for b in bodies) == expected
    assert all(b["version"] == "HTTP/2.0" for b in bodies)
    written = [line[2:].split() for line in lines if line.startswith("@@")]
    assert [version for version, _ in written] == ["2"] * len(urls)
    # One connection, its streams multiplexed.
    assert sum(int(connects) for _, connects in written) == 1


def test_concurrent_streams_on_one_connection(plain_port: int) -> None:
    """Ten streams opened before any answer is read, all answered on one
    connection, with a slow flushed response interleaved."""
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding=None)
    )
    conn.initiate_connection()
    ids = []
    for i in range(10):
        sid = conn.get_next_available_stream_id()
        path = b"/flush?n=4&size=20000" if i == 0 else b"/info?s=%d" % i
        conn.send_headers(
            sid,
            [
                (b":method", b"GET"),
                (b":path", path),
                (b":authority", b"127.0.0.1"),
                (b":scheme", b"http"),
            ],
            end_stream=True,
        )
        ids.append(sid)
    bodies: dict[int, bytes] = {sid: b"" for sid in ids}
    statuses: dict[int, bytes] = {}
    ended: set[int] = set()
    with socket.create_connection(("127.0.0.1", plain_port), timeout=30) as sock:
        sock.sendall(conn.data_to_send())
        while ended != set(ids):
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    statuses[event.stream_id] = dict(event.headers)[b":status"]
                elif isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] += event.data
                    conn.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, h2.events.StreamEnded):
                    ended.add(event.stream_id)
            sock.sendall(conn.data_to_send())
    assert set(statuses.values()) == {b"200"}
    assert bodies[ids[0]] == b"".join(str(i).encode() * 20000 for i in range(4))
    for i, sid in enumerate(ids[1:], start=1):
        info = json.loads(bodies[sid])
        assert info["uri"] == f"/info?s={i}"
        assert info["version"] == "HTTP/2.0"
