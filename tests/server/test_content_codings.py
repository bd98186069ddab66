"""decompress_request with every content coding, over a real socket.

gzip has its own tests in test_options.py; these add deflate, br, zstd and
lists of codings, the size bound for each coding, and bodies that must be
passed on undecoded.  The decoders themselves are tested on byte strings in
tests/protocol/test_codings.py.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import pytest

from tests.server.client import chunked, request
from tests.server.support import StreamingApp
from tornado_compat.protocol.codings import supported_codings

try:
    import brotli
except ImportError:  # pragma: no cover - the test extra installs it
    brotli = None

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    try:
        from backports import zstd
    except ImportError:  # pragma: no cover - the test extra installs it
        zstd = None

needs_br = pytest.mark.skipif("br" not in supported_codings(), reason="no brotli")
needs_zstd = pytest.mark.skipif("zstd" not in supported_codings(), reason="no zstd")

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TEXT = b"foo=bar&baz=" + b"q" * 5000


def br(data: bytes) -> bytes:
    assert brotli is not None
    return bytes(brotli.compress(data))


def zstd_encode(data: bytes) -> bytes:
    assert zstd is not None
    return bytes(zstd.compress(data))


CODINGS = [
    pytest.param("deflate", zlib.compress, id="deflate"),
    pytest.param("x-gzip", gzip.compress, id="x-gzip"),
    pytest.param("br", br, id="br", marks=needs_br),
    pytest.param("zstd", zstd_encode, id="zstd", marks=needs_zstd),
    pytest.param(
        "gzip, br", lambda d: br(gzip.compress(d)), id="gzip-br", marks=needs_br
    ),
]


def post(headers: dict[str, str], body: bytes, framing: str = "length") -> bytes:
    if framing == "length":
        return request("POST", "/", headers, body)
    half = max(1, len(body) // 2)
    return request(
        "POST",
        "/",
        {**headers, "Transfer-Encoding": "chunked"},
        chunked(body[:half], body[half:]),
    )


@pytest.mark.parametrize("coding, encode", CODINGS)
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_each_coding_is_decoded(
    serve, connect, coding: str, encode: Callable[[bytes], bytes], framing: str
) -> None:
    served = serve(decompress_request=True)
    conn = connect(served.port)
    conn.send(post({**FORM, "Content-Encoding": coding}, encode(TEXT), framing))
    info = conn.read_response().json()
    assert info["body"].encode("latin-1") == TEXT
    assert info["arguments"]["foo"] == ["bar"]
    assert "content-encoding" not in {n.lower() for n, _ in info["headers"]}
    assert ["X-Consumed-Content-Encoding", coding] in info["headers"]


@pytest.mark.parametrize("coding, encode", CODINGS)
def test_decoded_pieces_are_at_most_chunk_size(
    serve, connect, coding: str, encode: Callable[[bytes], bytes]
) -> None:
    app = StreamingApp()
    served = serve(app, chunk_size=100, decompress_request=True)
    conn = connect(served.port)
    conn.send(post({"Content-Encoding": coding}, encode(b"z" * 10_000)))
    sizes = conn.read_response().json()
    assert sum(sizes) == 10_000
    assert max(sizes) <= 100


@pytest.mark.parametrize("coding, encode", CODINGS)
def test_decoded_size_is_bounded_by_max_body_size(
    serve, connect, caplog, coding: str, encode: Callable[[bytes], bytes]
) -> None:
    served = serve(decompress_request=True, max_body_size=10_000)
    conn = connect(served.port)
    body = encode(b"\0" * 1_000_000)
    assert len(body) < 10_000
    conn.send(post({"Content-Encoding": coding}, body))
    assert conn.read_response().status == 400
    assert conn.is_closed()
    assert served.app.calls == 0
    messages = [r.getMessage() for r in caplog.records]
    assert any("decompressed body too large" in m for m in messages), messages


def test_exactly_max_body_size_decoded_is_accepted(serve, connect) -> None:
    served = serve(decompress_request=True, max_body_size=10_000)
    conn = connect(served.port)
    conn.send(post({"Content-Encoding": "gzip"}, gzip.compress(b"a" * 10_000)))
    info = conn.read_response().json()
    assert len(info["body"]) == 10_000


@pytest.mark.parametrize(
    "coding, body, text",
    [
        ("br", b"\xff" * 20, "invalid br data"),
        ("zstd", b"not zstd at all", "invalid zstd data"),
        ("deflate", zlib.compress(b"a=1")[:-2], "invalid deflate data"),
        ("gzip", gzip.compress(b"a=1") + b"\0", "invalid gzip data"),
    ],
)
def test_invalid_data_is_refused(
    serve, connect, caplog, coding: str, body: bytes, text: str
) -> None:
    if coding not in supported_codings():
        pytest.skip(f"{coding} is not supported here")
    served = serve(decompress_request=True)
    conn = connect(served.port)
    conn.send(post({"Content-Encoding": coding}, body))
    assert conn.read_response().status == 400
    assert served.app.calls == 0
    messages = [r.getMessage() for r in caplog.records]
    malformed = [m for m in messages if m.startswith("Malformed HTTP message")]
    assert any(text in m for m in malformed), messages


@pytest.mark.parametrize("coding", ["compress", "gzip, compress", "gzip, gzip, gzip"])
def test_a_body_that_cannot_be_decoded_whole_is_passed_on(
    serve, connect, coding: str
) -> None:
    served = serve(decompress_request=True)
    conn = connect(served.port)
    body = gzip.compress(b"abc")
    conn.send(post({"Content-Encoding": coding}, body))
    info = conn.read_response().json()
    assert info["body"].encode("latin-1") == body
    assert ["Content-Encoding", coding] in info["headers"]


def test_an_empty_body_is_not_truncated(serve, connect) -> None:
    served = serve(decompress_request=True)
    conn = connect(served.port)
    conn.send(post({"Content-Encoding": "gzip"}, b""))
    info = conn.read_response().json()
    assert info["body"] == ""
