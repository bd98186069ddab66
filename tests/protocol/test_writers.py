"""Writing message heads and chunks."""

from __future__ import annotations

import pytest

from tornado_compat.protocol.errors import LocalProtocolError
from tornado_compat.protocol.framing import ChunkedDecoder
from tornado_compat.protocol.writers import LAST_CHUNK, format_chunk, format_head


def test_head() -> None:
    head = format_head("HTTP/1.1 200 OK", [("Content-Length", "2"), ("X-A", "b")])
    assert head == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n"


def test_head_without_headers() -> None:
    assert format_head("GET / HTTP/1.1", []) == b"GET / HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize(
    "start, headers",
    [
        ("HTTP/1.1 200 OK", [("X-A", "b\r\nSet-Cookie: evil=1")]),
        ("HTTP/1.1 200 OK", [("X-A", "b\nc")]),
        ("HTTP/1.1 200 OK", [("X-A", "b\rc")]),
        ("HTTP/1.1 200 OK", [("X-A\r\nEvil", "1")]),
        ("HTTP/1.1 200 OK\r\nEvil: 1", []),
    ],
)
def test_header_injection_refused(start: str, headers: list[tuple[str, str]]) -> None:
    with pytest.raises(LocalProtocolError, match="CR or LF"):
        format_head(start, headers)
    with pytest.raises(ValueError):  # what Tornado raises
        format_head(start, headers)


def test_non_latin1_refused() -> None:
    with pytest.raises(LocalProtocolError):
        format_head("HTTP/1.1 200 OK", [("X-A", "\u2603")])


def test_chunks_decode_back() -> None:
    data = format_chunk(b"hello") + format_chunk(b"") + format_chunk(b"!" * 300)
    pieces, used = ChunkedDecoder().decode(data + LAST_CHUNK)
    assert b"".join(pieces) == b"hello" + b"!" * 300
    assert used == len(data + LAST_CHUNK)
