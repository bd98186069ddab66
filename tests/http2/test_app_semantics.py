"""What an unchanged ``tornado.web`` application sees over HTTP/2, compared
with HTTP/1.1 where the two must agree.

``apps/semantics_app.py`` runs in a subprocess (warnings as errors, after
``tornado_compat.install()``) with three ``HTTPServer(app, http2=True)``
on 127.0.0.1: ``plain`` (``decompress_request``), ``proxied``
(``xheaders``) and ``tls`` (asking for a client certificate).  The
clients are an ``h2`` connection over a raw socket, which sees every
frame, and curl (prior knowledge, ALPN over TLS, and HTTP/1.1).  When
stopped, the server must exit with status 0 and have logged nothing at
ERROR beyond what a test expects.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import shutil
import socket
import ssl
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("h2")
trustme = pytest.importorskip("trustme")

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402

from tests.client_tools import run_curl  # noqa: E402
from tests.serve_process import AppProcess  # noqa: E402
from tornado_compat.protocol import codings  # noqa: E402

APP = Path(__file__).with_name("apps") / "semantics_app.py"
CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")

SMALL = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
# Past every default window (64 KiB per stream and per connection).
BIG = bytes(range(256)) * 12_000
# Errors the application is expected to log, by the tests that cause them,
# and what the log must then say.
EXPECTED_ERRORS: list[str] = []
EXPECTED_IN_LOG: list[str] = []


@dataclass
class Servers:
    plain: int
    proxied: int
    tls: int
    cafile: Path
    client_cert: Path
    static: Path


@dataclass
class Response:
    status: int | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    trailers: list[tuple[bytes, bytes]] | None = None
    reset: int | None = None
    ended: bool = False
    data_frames: int = 0

    def header(self, name: bytes) -> bytes | None:
        values = [v for n, v in self.headers if n == name]
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    tmp = tmp_path_factory.mktemp("semantics")
    static = tmp / "static"
    static.mkdir()
    (static / "small.txt").write_bytes(SMALL)
    (static / "big.bin").write_bytes(BIG)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    certfile, keyfile, cafile = tmp / "cert.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    client = ca.issue_cert("client@example.org", common_name="h2 client")
    client_cert = tmp / "client.pem"
    client.private_key_and_cert_chain_pem.write_to_path(str(client_cert))
    config = {
        "static": str(static),
        "tls": {
            "certfile": str(certfile),
            "keyfile": str(keyfile),
            "client_ca": str(cafile),
        },
    }
    app = AppProcess(APP, json.dumps(config))
    ports = app.started
    try:
        yield Servers(
            ports["plain"],
            ports["proxied"],
            ports["tls"],
            cafile,
            client_cert,
            static,
        )
        # Some requests are meant to log an ERROR: they are counted instead.
        stderr = app.stop(clean=False)
        errors = [line for line in stderr.splitlines() if line.startswith("ERROR")]
        assert len(errors) == len(EXPECTED_ERRORS), stderr
        for expected in EXPECTED_ERRORS:
            assert any(expected in line for line in errors), stderr
        assert stderr.count("Traceback") == len(EXPECTED_ERRORS), stderr
        for expected in EXPECTED_IN_LOG:
            assert expected in stderr, stderr
    finally:
        app.kill()


# -- an h2 client over a raw socket ----------------------------------------------


class H2Client:
    """One HTTP/2 connection to a server, driven frame by frame.

    Response headers are not validated, so that a header HTTP/2 forbids
    would be seen here rather than refused.  ``window`` sets the stream
    window the client advertises; body data is acknowledged as it arrives.
    """

    def __init__(
        self,
        port: int,
        tls: ssl.SSLContext | None = None,
        window: int | None = None,
    ) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="localhost")
            assert sock.selected_alpn_protocol() == "h2"
        self.sock = sock
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(
                client_side=True,
                header_encoding=None,
                validate_inbound_headers=False,
                normalize_inbound_headers=False,
            )
        )
        self.h2.initiate_connection()
        if window is not None:
            self.h2.update_settings(
                {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}
            )
        self.responses: dict[int, Response] = {}
        self.largest_frame = 0
        self.flush()

    def close(self) -> None:
        self.sock.close()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def send(
        self,
        path: str,
        method: str = "GET",
        headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
        body: bytes | None = None,
        trailers: list[tuple[str, str]] | None = None,
        authority: str = "127.0.0.1",
        scheme: str = "http",
        end_stream: bool = True,
    ) -> int:
        sid = self.h2.get_next_available_stream_id()
        block = [
            (b":method", method.encode()),
            (b":path", path.encode()),
            (b":authority", authority.encode()),
            (b":scheme", scheme.encode()),
        ] + [(n.lower().encode(), v.encode()) for n, v in headers]
        last = end_stream and trailers is None
        self.h2.send_headers(sid, block, end_stream=body is None and last)
        self.responses[sid] = Response()
        if body is not None:
            self.send_body(sid, body, end_stream=last)
        if trailers is not None:
            self.h2.send_headers(
                sid,
                [(n.encode(), v.encode()) for n, v in trailers],
                end_stream=True,
            )
        self.flush()
        return sid

    def send_body(self, sid: int, body: bytes, end_stream: bool) -> None:
        """Send as the server's windows allow, reading while they are shut."""
        while True:
            size = min(
                len(body),
                self.h2.local_flow_control_window(sid),
                self.h2.max_outbound_frame_size,
            )
            if size or not body:
                last = end_stream and size == len(body)
                self.h2.send_data(sid, body[:size], end_stream=last)
                body = body[size:]
                if not body:
                    return
            else:
                self.flush()
                self.receive()

    def end(self, sid: int) -> None:
        self.h2.end_stream(sid)
        self.flush()

    def receive(self) -> None:
        data = self.sock.recv(65536)
        assert data, "the server closed the connection"
        for event in self.h2.receive_data(data):
            self._on(event)
        self.flush()

    def wait(self, *sids: int) -> list[Response]:
        """Read until each stream has ended or been reset."""
        while not all(
            self.responses[s].ended or self.responses[s].reset is not None for s in sids
        ):
            self.receive()
        return [self.responses[s] for s in sids]

    def _on(self, event: Any) -> None:
        if isinstance(event, h2.events.ConnectionTerminated):
            raise AssertionError(f"GOAWAY from the server: {event}")
        sid = getattr(event, "stream_id", None)
        response = self.responses.get(sid) if sid else None
        if response is None:
            return
        if isinstance(event, h2.events.ResponseReceived):
            response.headers = [(bytes(n), bytes(v)) for n, v in event.headers]
            response.status = int(dict(response.headers)[b":status"])
        elif isinstance(event, h2.events.DataReceived):
            response.body += event.data
            response.data_frames += 1
            self.largest_frame = max(self.largest_frame, len(event.data))
            self.h2.acknowledge_received_data(
                event.flow_controlled_length, event.stream_id
            )
        elif isinstance(event, h2.events.TrailersReceived):
            response.trailers = [(bytes(n), bytes(v)) for n, v in event.headers]
        elif isinstance(event, h2.events.StreamEnded):
            response.ended = True
        elif isinstance(event, h2.events.StreamReset):
            response.reset = int(event.error_code)

    def fetch(self, path: str, **kwargs: Any) -> Response:
        return self.wait(self.send(path, **kwargs))[0]


def fetch(port: int, path: str, **kwargs: Any) -> Response:
    client = H2Client(port)
    try:
        return client.fetch(path, **kwargs)
    finally:
        client.close()


def tls_context(servers: Servers, client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(servers.cafile))
    context.set_alpn_protocols(["h2"])
    if client_cert:
        context.load_cert_chain(str(servers.client_cert))
    return context


def curl(*args: str) -> tuple[str, str]:
    """Run curl; return (output, what ``-w`` wrote after the marker)."""
    assert CURL is not None
    return run_curl(CURL, *args)


def encode(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "br":
        brotli = pytest.importorskip("brotli")
        return bytes(brotli.compress(data))
    zstd = pytest.importorskip("backports.zstd")
    return bytes(zstd.compress(data))


FORM = [("Content-Type", "application/x-www-form-urlencoded")]


# -- decompress_request ----------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_coded_request_bodies_are_decoded_per_stream(
    servers: Servers, coding: str
) -> None:
    if coding not in codings.supported_codings():
        pytest.skip(f"{coding} cannot be decoded on this machine")
    client = H2Client(servers.plain)
    try:
        coded = client.send(
            "/info",
            "POST",
            FORM + [("Content-Encoding", coding)],
            encode(coding, b"a=1&b=two"),
        )
        plain = client.send("/info", "POST", FORM, b"c=3")
        coded_r, plain_r = client.wait(coded, plain)
    finally:
        client.close()
    assert coded_r.status == 200
    info = coded_r.json()
    assert info["body"] == "a=1&b=two"
    assert info["arguments"] == {"a": ["1"], "b": ["two"]}
    assert info["headers"]["X-Consumed-Content-Encoding"] == coding
    assert "Content-Encoding" not in info["headers"]
    # The next stream on the connection is not decoded.
    assert plain_r.json()["arguments"] == {"c": ["3"]}


def test_large_gzip_body_decoded_across_frames(servers: Servers) -> None:
    data = os.urandom(200_000).hex().encode()[:300_000]
    response = fetch(
        servers.plain,
        "/info",
        method="PUT",
        headers=[("Content-Encoding", "gzip")],
        body=gzip.compress(data),
    )
    assert response.status == 200
    assert response.json()["body"].encode() == data


def test_gzip_body_to_a_stream_request_body_handler(servers: Servers) -> None:
    """A @stream_request_body handler that awaits each piece gets the body
    decoded, whole, as the stream's window lets the client send it."""
    data = bytes(range(256)) * 2000
    response = fetch(
        servers.plain,
        "/upload",
        method="PUT",
        headers=[("Content-Encoding", "gzip")],
        body=gzip.compress(data),
    )
    assert response.status == 200
    assert response.json() == {
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


@needs_curl
@pytest.mark.parametrize("version", ["--http1.1", "--http2-prior-knowledge"])
def test_curl_gzip_body_same_over_both_versions(
    servers: Servers, version: str, tmp_path: Path
) -> None:
    body = tmp_path / "body.gz"
    body.write_bytes(gzip.compress(b"a=1&b=two"))
    out, written = curl(
        version,
        "-H",
        "Content-Encoding: gzip",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "--data-binary",
        f"@{body}",
        f"http://127.0.0.1:{servers.plain}/info",
    )
    assert written.split()[0] == "200"
    assert json.loads(out)["arguments"] == {"a": ["1"], "b": ["two"]}


@needs_curl
@pytest.mark.parametrize("version", ["--http1.1", "--http2-prior-knowledge"])
@pytest.mark.parametrize("what", ["invalid", "truncated", "bomb"])
def test_bad_gzip_body_gets_400_as_over_http1(
    servers: Servers, version: str, what: str, tmp_path: Path
) -> None:
    """Invalid, truncated, or decoding past ``max_body_size`` (1 MB here,
    from 10 KB of gzip): 400 over either version, as Tornado answers."""
    if what == "invalid":
        data = b"not gzip at all"
    elif what == "truncated":
        data = gzip.compress(b"x" * 1000)[:-8]
    else:
        data = gzip.compress(b"\0" * 10_000_000)
    body = tmp_path / "body.gz"
    body.write_bytes(data)
    _, written = curl(
        version,
        "-H",
        "Content-Encoding: gzip",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        f"@{body}",
        f"http://127.0.0.1:{servers.plain}/info",
    )
    assert written == "400 " + ("1.1" if version == "--http1.1" else "2")


def test_bad_gzip_stream_refused_others_go_on(servers: Servers) -> None:
    EXPECTED_IN_LOG.append(
        "INFO tornado.general Malformed HTTP/2 request from 127.0.0.1 on stream 1:"
        " invalid gzip data"
    )
    client = H2Client(servers.plain)
    try:
        bad = client.send(
            "/info", "POST", [("Content-Encoding", "gzip")], b"not gzip at all"
        )
        good = client.send("/info", "POST", FORM, b"a=1")
        bad_r, good_r = client.wait(bad, good)
        again = client.fetch("/info")
    finally:
        client.close()
    assert bad_r.status == 400
    assert bad_r.ended
    assert good_r.json()["arguments"] == {"a": ["1"]}
    assert again.status == 200


# -- xheaders --------------------------------------------------------------------


def test_xheaders_apply_per_stream(servers: Servers) -> None:
    """Three streams in flight at once on one connection, two with
    different proxy headers and one without: each sees its own address and
    scheme.  The first one's body is still arriving when the others' heads
    are read, so a context shared by the connection would leak into the
    next one."""
    client = H2Client(servers.proxied)
    try:
        first = client.send(
            "/together?key=xh&n=3",
            "POST",
            [("X-Forwarded-For", "1.2.3.4"), ("X-Scheme", "https")] + FORM,
            b"a=1",
            end_stream=False,
        )
        direct = client.send("/together?key=xh&n=3")
        second = client.send(
            "/together?key=xh&n=3",
            headers=[("X-Real-Ip", "5.6.7.8"), ("X-Forwarded-Proto", "http")],
        )
        client.end(first)
        responses = client.wait(first, second, direct)
    finally:
        client.close()
    expected = [
        ("1.2.3.4", "https"),
        ("5.6.7.8", "http"),
        ("127.0.0.1", "http"),
    ]
    for response, (ip, scheme) in zip(responses, expected, strict=True):
        for moment in ("before", "after"):
            seen = response.json()[moment]
            assert (seen["remote_ip"], seen["protocol"]) == (ip, scheme)
            assert seen["full_url"] == f"{scheme}://127.0.0.1/together?key=xh&n=3"
    direct_seen = responses[2].json()["after"]["context"]
    assert (direct_seen["remote_ip"], direct_seen["protocol"]) == ("127.0.0.1", "http")


@pytest.mark.parametrize(
    "headers,expected",
    [
        ([("X-Forwarded-For", "5.6.7.8, 10.9.9.9")], ("5.6.7.8", "http")),
        ([("X-Forwarded-For", "5.6.7.8, 10.1.1.1")], ("10.1.1.1", "http")),
        (
            [("X-Real-Ip", "4.4.4.4"), ("X-Forwarded-Proto", "https")],
            ("4.4.4.4", "https"),
        ),
        (
            [("X-Real-Ip", "not an address"), ("X-Scheme", "gopher")],
            ("127.0.0.1", "http"),
        ),
    ],
)
def test_xheaders_as_over_http1(
    servers: Servers, headers: list[tuple[str, str]], expected: tuple[str, str]
) -> None:
    info = fetch(servers.proxied, "/info", headers=headers).json()
    assert (info["remote_ip"], info["protocol"]) == expected
    if CURL is not None:
        args = [arg for name, value in headers for arg in ("-H", f"{name}: {value}")]
        out, _ = curl("--http1.1", *args, f"http://127.0.0.1:{servers.proxied}/info")
        info1 = json.loads(out)
        assert (info1["remote_ip"], info1["protocol"]) == expected


def test_xheaders_ignored_without_the_option(servers: Servers) -> None:
    info = fetch(
        servers.plain,
        "/info",
        headers=[("X-Forwarded-For", "1.2.3.4"), ("X-Scheme", "https")],
    ).json()
    assert (info["remote_ip"], info["protocol"]) == ("127.0.0.1", "http")


# -- StaticFileHandler -----------------------------------------------------------


def test_static_range_206(servers: Servers) -> None:
    response = fetch(
        servers.plain, "/static/small.txt", headers=[("Range", "bytes=4-9")]
    )
    assert response.status == 206
    assert response.header(b"content-range") == b"bytes 4-9/%d" % len(SMALL)
    assert response.header(b"content-length") == b"6"
    assert response.body == SMALL[4:10]


def test_static_suffix_range_of_big_file(servers: Servers) -> None:
    response = fetch(
        servers.plain, "/static/big.bin", headers=[("Range", "bytes=-100000")]
    )
    assert response.status == 206
    assert response.body == BIG[-100000:]


def test_static_unsatisfiable_range_416(servers: Servers) -> None:
    response = fetch(
        servers.plain, "/static/small.txt", headers=[("Range", "bytes=1000-2000")]
    )
    assert response.status == 416
    assert response.header(b"content-range") == b"bytes */%d" % len(SMALL)


def test_static_head_has_length_and_no_data(servers: Servers) -> None:
    response = fetch(servers.plain, "/static/big.bin", method="HEAD")
    assert response.status == 200
    assert response.header(b"content-length") == b"%d" % len(BIG)
    assert response.body == b""
    assert response.data_frames == 0
    assert response.ended


def test_static_if_none_match_304(servers: Servers) -> None:
    client = H2Client(servers.plain)
    try:
        first = client.fetch("/static/small.txt")
        etag = first.header(b"etag")
        assert etag
        again = client.fetch(
            "/static/small.txt", headers=[("If-None-Match", etag.decode())]
        )
    finally:
        client.close()
    assert first.body == SMALL
    assert again.status == 304
    assert again.data_frames == 0
    assert again.ended


def test_static_big_file_through_a_small_window(servers: Servers) -> None:
    """The client advertises a 4 KiB stream window (opened again frame by
    frame, as it is read): the 3 MB file still arrives whole, in pieces no
    larger than the window allows."""
    client = H2Client(servers.plain, window=4096)
    try:
        response = client.fetch("/static/big.bin")
    finally:
        client.close()
    assert response.status == 200
    assert response.body == BIG
    assert client.largest_frame <= 4096


# -- responses -------------------------------------------------------------------


def test_flushed_response_through_a_small_window(servers: Servers) -> None:
    client = H2Client(servers.plain, window=4096)
    try:
        response = client.fetch("/flush?n=6&size=25000")
    finally:
        client.close()
    assert response.body == b"".join(str(i).encode() * 25000 for i in range(6))
    assert response.trailers is None


def test_forbidden_headers_never_sent(servers: Servers) -> None:
    response = fetch(servers.plain, "/forbidden")
    names = {name for name, _ in response.headers}
    assert not names & {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-connection",
    }
    assert response.header(b"x-kept") == b"yes"
    assert response.body == b"body"
    assert response.ended and response.reset is None


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses(servers: Servers, code: int) -> None:
    response = fetch(servers.plain, f"/status/{code}")
    assert response.status == code
    assert response.data_frames == 0
    assert response.ended and response.reset is None
    assert response.header(b"content-length") in (None, b"0")


def test_head_has_content_length(servers: Servers) -> None:
    get = fetch(servers.plain, "/status/200")
    head = fetch(servers.plain, "/status/200", method="HEAD")
    assert get.body == b"status 200"
    assert head.status == 200
    assert head.header(b"content-length") == b"10"
    assert head.data_frames == 0
    assert head.ended


# -- what the request says about its connection -------------------------------------


def test_request_over_tls_with_client_certificate(servers: Servers) -> None:
    client = H2Client(servers.tls, tls=tls_context(servers, client_cert=True))
    try:
        info = client.fetch(
            "/info", authority=f"localhost:{servers.tls}", scheme="https"
        ).json()
    finally:
        client.close()
    assert info["version"] == "HTTP/2.0"
    assert info["protocol"] == "https"
    assert info["remote_ip"] == "127.0.0.1"
    assert info["host"] == f"localhost:{servers.tls}"
    assert info["full_url"] == f"https://localhost:{servers.tls}/info"
    assert info["cert_subject"]["commonName"] == "h2 client"
    assert info["cert_der_len"] > 0
    assert info["context"]["protocol"] == "https"
    assert info["context"]["address"][0] == "127.0.0.1"
    assert info["context"]["str"] == "127.0.0.1"


def test_request_over_tls_without_client_certificate(servers: Servers) -> None:
    client = H2Client(servers.tls, tls=tls_context(servers))
    try:
        info = client.fetch("/info", authority=f"localhost:{servers.tls}").json()
    finally:
        client.close()
    assert info["protocol"] == "https"
    assert info["cert_subject"] is None
    assert info["cert_der_len"] is None


@needs_curl
def test_curl_alpn_with_client_certificate(servers: Servers) -> None:
    out, written = curl(
        "--http2",
        "--cacert",
        str(servers.cafile),
        "--cert",
        str(servers.client_cert),
        f"https://localhost:{servers.tls}/info",
    )
    assert written == "200 2"
    info = json.loads(out)
    assert info["cert_subject"]["commonName"] == "h2 client"
    assert info["protocol"] == "https"


def test_cleartext_request_host_from_authority(servers: Servers) -> None:
    info = fetch(servers.plain, "/info", authority="example.com:8080").json()
    assert info["host"] == "example.com:8080"
    assert info["protocol"] == "http"
    assert info["remote_ip"] == "127.0.0.1"
    assert info["version"] == "HTTP/2.0"
    assert info["cert_subject"] is None


# -- the raw stream ----------------------------------------------------------------


def test_detach_over_http2_resets_with_http_1_1_required(servers: Servers) -> None:
    """detach() cannot hand over a connection that carries other streams:
    the stream is reset with HTTP_1_1_REQUIRED and the application gets an
    exception that says so; the connection's other streams go on."""
    EXPECTED_ERRORS.append("Uncaught exception GET /detach")
    EXPECTED_IN_LOG.append(
        "RawStreamUnavailableError: detach() is not possible over HTTP/2"
    )
    client = H2Client(servers.plain)
    try:
        detached = client.send("/detach")
        other = client.send("/info")
        detached_r, other_r = client.wait(detached, other)
    finally:
        client.close()
    assert detached_r.reset == 0xD  # HTTP_1_1_REQUIRED
    assert detached_r.status is None
    assert other_r.status == 200


@needs_curl
def test_detach_over_http1_on_the_same_server(servers: Servers) -> None:
    out, written = curl("--http1.1", f"http://127.0.0.1:{servers.plain}/detach")
    assert (out, written) == ("detached", "200 1.1")


@needs_curl
def test_curl_retries_a_detaching_request_over_http1(servers: Servers) -> None:
    """curl, as browsers, makes a request reset with HTTP_1_1_REQUIRED again
    over HTTP/1.1 (ALPN ``http/1.1`` on a new TLS connection)."""
    EXPECTED_ERRORS.append("Uncaught exception GET /detach")
    out, written = curl(
        "--http2",
        "--cacert",
        str(servers.cafile),
        f"https://localhost:{servers.tls}/detach",
    )
    assert (out, written) == ("detached", "200 1.1")


def test_raw_stream_write_over_http2_names_the_cause(servers: Servers) -> None:
    info = fetch(servers.plain, "/raw").json()
    assert info["error"] == "RawStreamUnavailableError"
    assert "HTTP/2" in info["message"]


def test_stream_close_resets_only_that_stream(servers: Servers) -> None:
    client = H2Client(servers.plain)
    try:
        closed = client.send("/close")
        other = client.send("/info")
        closed_r, other_r = client.wait(closed, other)
        again = client.fetch("/info")
    finally:
        client.close()
    assert closed_r.reset == 0x8  # CANCEL
    assert closed_r.body == b""
    assert other_r.status == 200
    assert again.status == 200


# -- websockets --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ],
    ],
)
def test_websocket_route_over_http2_gets_400(
    servers: Servers, headers: list[tuple[str, str]]
) -> None:
    response = fetch(servers.plain, "/ws", headers=headers)
    assert response.status == 400
    assert response.body == b'Can "Upgrade" only to "WebSocket".'


def test_websocket_over_http1_on_an_http2_server(servers: Servers) -> None:
    from tornado.websocket import websocket_connect

    async def talk(url: str, **kwargs: Any) -> Any:
        ws = await websocket_connect(url, **kwargs)
        try:
            await ws.write_message("hello")
            return await ws.read_message()
        finally:
            ws.close()
            # Until the server's close ends the connection: a loop closed
            # sooner leaves the client's socket to the garbage collector,
            # which warns about it in whatever test runs then.
            while await ws.read_message() is not None:
                pass

    assert asyncio.run(talk(f"ws://127.0.0.1:{servers.plain}/ws")) == "hello"


# -- request oddities ---------------------------------------------------------------


def test_cookie_headers_joined(servers: Servers) -> None:
    info = fetch(
        servers.plain,
        "/info",
        headers=[("Cookie", "a=1"), ("Cookie", "b=2; c=3"), ("Cookie", "d=4")],
    ).json()
    assert info["cookies"] == {"a": "1", "b": "2", "c": "3", "d": "4"}
    assert info["headers"]["Cookie"] == "a=1; b=2; c=3; d=4"


def test_body_without_content_length(servers: Servers) -> None:
    info = fetch(
        servers.plain, "/info", method="POST", headers=FORM, body=b"x=1&y=2"
    ).json()
    assert "Content-Length" not in info["headers"]
    assert info["arguments"] == {"x": ["1"], "y": ["2"]}


def test_empty_post(servers: Servers) -> None:
    response = fetch(servers.plain, "/info", method="POST", headers=FORM)
    assert response.status == 200
    info = response.json()
    assert (info["method"], info["body"], info["arguments"]) == ("POST", "", {})


def test_request_trailers_ignored(servers: Servers) -> None:
    client = H2Client(servers.plain)
    try:
        sid = client.send(
            "/info",
            "POST",
            FORM,
            b"k=v",
            trailers=[("x-checksum", "abc")],
        )
        (response,) = client.wait(sid)
        after = client.fetch("/info")
    finally:
        client.close()
    assert response.status == 200
    info = response.json()
    assert info["arguments"] == {"k": ["v"]}
    assert "X-Checksum" not in info["headers"]
    assert after.status == 200


def test_malformed_multipart_gets_400(servers: Servers) -> None:
    response = fetch(
        servers.plain,
        "/info",
        method="POST",
        headers=[("Content-Type", "multipart/form-data; boundary=zz")],
        body=b"no boundary here",
    )
    assert response.status == 400
