"""The framing rules and the chunked decoder, on byte strings."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.protocol import assert_linear_time
from tornado_compat.protocol import framing
from tornado_compat.protocol.errors import RemoteProtocolError
from tornado_compat.protocol.framing import (
    CHUNKED,
    LENGTH,
    MAX_CHUNK_EXTENSIONS,
    NO_BODY,
    UNTIL_CLOSE,
    ChunkedDecoder,
    Framing,
    keep_alive,
    parse_content_length,
    request_framing,
    response_framing,
)


class Headers:
    """The lookup the framing rules use, case-insensitively."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = pairs

    def get(self, name: str) -> list[str] | None:
        return [v for n, v in self.pairs if n.lower() == name.lower()] or None


# -- Content-Length ---------------------------------------------------------


@pytest.mark.parametrize(
    "values, expected",
    [([], None), (["0"], 0), (["42"], 42), (["42", "42"], 42), (["7, 7"], 7)],
)
def test_content_length_accepted(values: list[str], expected: int | None) -> None:
    assert parse_content_length(values) == expected


@pytest.mark.parametrize(
    "values",
    [
        ["+1"],
        ["-1"],
        ["1_0"],
        [" "],
        [""],
        ["0x10"],
        ["1 2"],
        ["١"],
        ["1", "2"],
        ["3, 4"],
    ],
)
def test_content_length_rejected(values: list[str]) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_content_length(values)


@pytest.mark.parametrize(
    "values",
    [["9" * 19], ["1" + "0" * 18], ["9" * 5000], ["9" * 5000, "9" * 5000]],
    ids=["19-digits", "10**18", "5000-digits", "5000-digits-twice"],
)
def test_content_length_with_too_many_digits_is_refused_before_int(
    values: list[str],
) -> None:
    # int() of more than 4300 digits raises ValueError (and costs time
    # quadratic in the digits below that): the digits are counted first.
    with pytest.raises(RemoteProtocolError, match="Content-Length") as info:
        parse_content_length(values)
    assert info.value.status == 413
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    "values, expected",
    [
        (["9" * 18], 10**18 - 1),
        (["0" * 5000 + "7"], 7),
        (["0" * 30 + "12, " + "0" * 30 + "12"], 12),
    ],
)
def test_content_length_leading_zeros_do_not_count(
    values: list[str], expected: int
) -> None:
    assert parse_content_length(values) == expected


def test_response_with_a_huge_content_length_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="Content-Length"):
        response_framing("GET", 200, Headers(("Content-Length", "9" * 5000)))
    with pytest.raises(RemoteProtocolError, match="Content-Length"):
        response_framing("GET", 204, Headers(("Content-Length", "9" * 5000)))


# -- request framing ------------------------------------------------------------


def test_request_without_length_has_no_body() -> None:
    assert request_framing("HTTP/1.1", Headers()) == Framing(NO_BODY)


def test_request_with_length() -> None:
    assert request_framing("HTTP/1.1", Headers(("Content-Length", "5"))) == Framing(
        LENGTH, 5
    )


def test_request_chunked() -> None:
    framing = request_framing("HTTP/1.1", Headers(("Transfer-Encoding", "Chunked")))
    assert framing.kind == CHUNKED


@pytest.mark.parametrize(
    "headers",
    [
        Headers(("Transfer-Encoding", "chunked"), ("Content-Length", "3")),
        Headers(("Transfer-Encoding", "gzip, chunked")),
        Headers(("Transfer-Encoding", "chunked, gzip")),
        Headers(("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")),
        Headers(("Transfer-Encoding", "identity")),
        Headers(("Content-Length", "3"), ("Content-Length", "4")),
    ],
)
def test_smuggling_shapes_rejected(headers: Headers) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        request_framing("HTTP/1.1", headers)
    assert info.value.status == 400


def test_chunked_http10_request_accepted_as_tornado_does() -> None:
    framing = request_framing("HTTP/1.0", Headers(("Transfer-Encoding", "chunked")))
    assert framing.kind == CHUNKED


@pytest.mark.parametrize(
    "headers, message",
    [
        (Headers(("Content-Length", "5,\xa05")), "Multiple unequal Content-Lengths"),
        (Headers(("Content-Length", "+10")), "Only integer Content-Length"),
        (
            Headers(("Transfer-Encoding", "chunked"), ("Transfer-encoding", "chunked")),
            "Unsupported Transfer-Encoding chunked,chunked",
        ),
        (
            Headers(("Transfer-Encoding", "chunked"), ("Content-Length", "1")),
            "Message with both Transfer-Encoding and Content-Length",
        ),
    ],
)
def test_error_messages_name_the_cause(headers: Headers, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        request_framing("HTTP/1.1", headers)


def test_announced_length_over_limit_is_413() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        request_framing("HTTP/1.1", Headers(("Content-Length", "11")), max_body_size=10)
    assert info.value.status == 413
    assert request_framing(
        "HTTP/1.1", Headers(("Content-Length", "10")), max_body_size=10
    ) == Framing(LENGTH, 10)


# -- response framing -------------------------------------------------------------


@pytest.mark.parametrize(
    "method, status, headers, kind",
    [
        ("HEAD", 200, Headers(("Content-Length", "10")), NO_BODY),
        ("GET", 304, Headers(("Content-Length", "10")), NO_BODY),
        ("GET", 204, Headers(), NO_BODY),
        ("GET", 100, Headers(), NO_BODY),
        ("GET", 200, Headers(), UNTIL_CLOSE),
        ("GET", 200, Headers(("Content-Length", "3")), LENGTH),
        ("GET", 200, Headers(("Transfer-Encoding", "chunked")), CHUNKED),
    ],
)
def test_response_framing(
    method: str, status: int, headers: Headers, kind: str
) -> None:
    assert response_framing(method, status, headers).kind == kind


@pytest.mark.parametrize("status", [101, 204])
def test_bodyless_status_with_body_headers_rejected(status: int) -> None:
    with pytest.raises(RemoteProtocolError):
        response_framing("GET", status, Headers(("Content-Length", "4")))


# -- keep-alive ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "version, connection, expected",
    [
        ("HTTP/1.1", None, True),
        ("HTTP/1.1", "close", False),
        ("HTTP/1.1", "Keep-Alive, Close", False),
        ("HTTP/1.0", None, False),
        ("HTTP/1.0", "keep-alive", True),
    ],
)
def test_keep_alive(version: str, connection: str | None, expected: bool) -> None:
    headers = Headers(("Connection", connection)) if connection else Headers()
    assert keep_alive(version, headers, Framing(LENGTH, 0)) is expected


def test_no_keep_alive_when_body_runs_until_close() -> None:
    assert not keep_alive("HTTP/1.1", Headers(), Framing(UNTIL_CLOSE))


# -- the chunked decoder --------------------------------------------------------------


def decode_whole(data: bytes, strict: bool = False) -> tuple[bytes, int, bool]:
    decoder = ChunkedDecoder(strict=strict)
    pieces, used = decoder.decode(data)
    return b"".join(pieces), used, decoder.done


def decode_bytewise(data: bytes, strict: bool = False) -> tuple[bytes, int, bool]:
    """Feed one byte more each time, keeping what was not consumed, as a
    stream buffer would."""
    decoder = ChunkedDecoder(strict=strict)
    buffer = bytearray()
    body = []
    used = 0
    for byte in data:
        buffer.append(byte)
        pieces, n = decoder.decode(buffer)
        body.extend(pieces)
        del buffer[:n]
        used += n
        if decoder.done:
            break
    return b"".join(body), used, decoder.done


BODIES = [
    (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    (b"A;ext=1\r\n0123456789\r\n0\r\n\r\n", b"0123456789"),
    (b"3\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n", b"abc"),
    (b"0\r\n\r\n", b""),
]


@pytest.mark.parametrize("data, body", BODIES)
@pytest.mark.parametrize("feed", [decode_whole, decode_bytewise])
def test_chunked_bodies(data: bytes, body: bytes, feed: object) -> None:
    got, used, done = feed(data + b"NEXT REQUEST")  # type: ignore[operator]
    assert (got, used, done) == (body, len(data), True)


@pytest.mark.parametrize(
    "data",
    [
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"+5\r\nhello\r\n0\r\n\r\n",
        b"0x5\r\nhello\r\n0\r\n\r\n",
        b"5_0\r\n",
        b" 5\r\nhello\r\n",
        b"\r\n",
        b"5\nhello\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"3\r\nfooXX0\r\n\r\n",
        b"1" * 17 + b"\r\n",
        b"5;a\rb\r\nhello\r\n",
        b"0\r\nbad trailer line\r\n\r\n",
    ],
)
@pytest.mark.parametrize("feed", [decode_whole, decode_bytewise])
def test_chunked_errors(data: bytes, feed: object) -> None:
    with pytest.raises(RemoteProtocolError):
        feed(data + b"\r\n" * 3)  # type: ignore[operator]


def test_bad_terminator_message_names_the_cause() -> None:
    with pytest.raises(RemoteProtocolError, match="improperly terminated chunk"):
        ChunkedDecoder().decode(b"3\r\nfooXX0\r\n\r\n")


def test_over_long_chunk_line_fails_without_waiting_for_more() -> None:
    with pytest.raises(RemoteProtocolError, match="too long"):
        ChunkedDecoder(max_chunk_line=16).decode(b"1;" + b"x" * 100)


def test_incomplete_input_consumes_only_whole_lines() -> None:
    decoder = ChunkedDecoder()
    assert decoder.decode(b"5\r") == ([], 0)
    assert decoder.decode(b"5\r\nhe") == ([b"he"], 5)
    assert not decoder.done


@given(st.binary(max_size=200))
def test_any_input_decodes_or_raises_the_documented_error(data: bytes) -> None:
    outcomes = []
    for feed in (decode_whole, decode_bytewise):
        try:
            outcomes.append(feed(data))
        except RemoteProtocolError:
            outcomes.append("error")
    # Fed whole or byte by byte, the decoder reaches the same verdict; an
    # incomplete body is not an error and decodes the same prefix.
    if "error" not in outcomes:
        assert outcomes[0][0] == outcomes[1][0]  # type: ignore[index]
        assert outcomes[0][2] == outcomes[1][2]  # type: ignore[index]


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=8))
def test_any_chunk_sequence_round_trips(chunks: list[bytes]) -> None:
    data = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    for feed in (decode_whole, decode_bytewise):
        assert feed(data) == (b"".join(chunks), len(data), True)


def test_max_chunks_stops_between_batches_without_losing_bytes() -> None:
    data = b"1\r\nx\r\n" * 10 + b"0\r\n\r\n" + b"NEXT"
    decoder = ChunkedDecoder()
    body = b""
    pos = 0
    batches = 0
    while not decoder.done:
        pieces, used = decoder.decode(data, pos, max_chunks=3)
        body += b"".join(pieces)
        pos += used
        batches += 1
        assert decoder.wants_data is False  # everything is already here
    assert (body, data[pos:], batches) == (b"x" * 10, b"NEXT", 4)


def test_wants_data_when_input_runs_out() -> None:
    decoder = ChunkedDecoder()
    decoder.decode(b"5\r\nab")
    assert decoder.wants_data and not decoder.done


def test_chunk_announced_over_the_limit_is_refused_when_announced() -> None:
    decoder = ChunkedDecoder(max_body_size=1000)
    with pytest.raises(RemoteProtocolError, match="chunked body too large") as info:
        decoder.decode(b"3e9\r\n")  # 1001 bytes announced, none sent
    assert info.value.status == 413
    ok = ChunkedDecoder(max_body_size=1000)
    assert ok.decode(b"3e8\r\n") == ([], 5)


# -- chunk lines: RFC 9112 section 7.1.1 ------------------------------------------

HELLO = b"hello\r\n0\r\n\r\n"

GOOD_CHUNK_LINES = [
    b"5",
    b"05",
    b"0" * 40 + b"5",  # leading zeros do not count toward the digit limit
    b"5;a",
    b"5;a=b",
    b"5;a;b=c;d",
    b'5;a=""',
    b'5;a="x y; z=\\"w\\""',
    b'5;a="\t\x80\xff"',
    b"5;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~",
    b"5;" + b"x" * 4000,
]
# Optional whitespace (BWS) where the grammar puts it; strict refuses it.
BWS_CHUNK_LINES = [
    b"5 ;a",
    b"5\t;a",
    b"5; a",
    b"5;a =b",
    b"5;a= b",
    b"5;a=b ;c",
    b'5;a="b"\t; c = d',
]


@pytest.mark.parametrize("line", GOOD_CHUNK_LINES + BWS_CHUNK_LINES)
@pytest.mark.parametrize("feed", [decode_whole, decode_bytewise])
def test_valid_chunk_lines(line: bytes, feed: object) -> None:
    data = line + b"\r\n" + HELLO
    assert feed(data + b"NEXT") == (b"hello", len(data), True)  # type: ignore[operator]


@pytest.mark.parametrize("line", GOOD_CHUNK_LINES)
@pytest.mark.parametrize("feed", [decode_whole, decode_bytewise])
def test_valid_chunk_lines_strict(line: bytes, feed: object) -> None:
    data = line + b"\r\n" + HELLO
    assert feed(data, strict=True) == (b"hello", len(data), True)  # type: ignore[operator]


@pytest.mark.parametrize("line", BWS_CHUNK_LINES)
@pytest.mark.parametrize("feed", [decode_whole, decode_bytewise])
def test_strict_refuses_whitespace_in_chunk_lines(line: bytes, feed: object) -> None:
    with pytest.raises(RemoteProtocolError, match="refused in strict mode"):
        feed(line + b"\r\n" + HELLO, strict=True)  # type: ignore[operator]


# Chunk lines that no byte after them can make valid, each with the reason
# the error gives.  Only the CRLF shows the first few wrong.
BAD_CHUNK_LINES = [
    (b"5;\r\n", "empty extension name"),
    (b"2;\r\n", "empty extension name"),
    (b"5;a=\r\n", "empty extension value"),
    (b"5 \r\n", "whitespace after the size"),
    (b'5;a="b\r\n', "unclosed quoted string"),
    (b"5;a \r\n", "whitespace at the end"),
    (b"5;\x00", r"unexpected b'\\x00'"),
    (b"5;a\x00", "unexpected"),
    (b"5;a=b\x00", "unexpected"),
    (b'5;a="\x00', "unexpected"),
    (b'5;a="\\\x00', "unexpected"),
    (b"5;a\x7f", "unexpected"),
    (b"5;a=\xe9", "unexpected"),
    (b"5 x", "unexpected"),
    (b"5x", "unexpected"),
    (b";a", "unexpected"),
    (b"5;=b", "unexpected"),
    (b"5;a==b", "unexpected"),
    (b"5;a b", "unexpected"),
    (b"5;a=b c", "unexpected"),
    (b'5;a=b"', "unexpected"),
    (b'5;a="b"c', "unexpected"),
    (b"5;a,b", "unexpected"),
    (b"5;a\rb", r"bare CR|unexpected b'\\r'"),
    (b"5\t\x0b", "unexpected"),
]


@pytest.mark.parametrize("line, cause", BAD_CHUNK_LINES)
@pytest.mark.parametrize("feed", [decode_whole, decode_bytewise])
def test_malformed_chunk_lines(line: bytes, cause: str, feed: object) -> None:
    with pytest.raises(RemoteProtocolError, match="chunk") as info:
        feed(line + b"\r\n" + HELLO)  # type: ignore[operator]
    assert re.search(cause, str(info.value)), info.value
    assert info.value.status == 400


@pytest.mark.parametrize(
    "line", [line for line, _ in BAD_CHUNK_LINES if not line.endswith(b"\r\n")]
)
def test_a_malformed_chunk_line_is_refused_before_its_end_arrives(line: bytes) -> None:
    # Nothing that could follow makes these valid: no waiting for more.
    with pytest.raises(RemoteProtocolError, match="chunk"):
        ChunkedDecoder().decode(line)
    decoder = ChunkedDecoder()
    with pytest.raises(RemoteProtocolError, match="chunk"):
        for n in range(1, len(line) + 1):
            decoder.decode(line[:n])


@pytest.mark.parametrize("line", GOOD_CHUNK_LINES + BWS_CHUNK_LINES)
def test_every_prefix_of_a_valid_chunk_line_waits(line: bytes) -> None:
    for n in range(1, len(line) + 1):
        decoder = ChunkedDecoder()
        assert decoder.decode(line[:n]) == ([], 0)
        assert decoder.wants_data


def test_chunk_line_of_over_sixteen_significant_digits_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="too many digits"):
        ChunkedDecoder().decode(b"1" + b"0" * 16 + b"\r\n")
    assert ChunkedDecoder().decode(b"0" * 50 + b"1" + b"0" * 15 + b"\r\n")[1] == 68


def test_extensions_beyond_the_data_are_bounded() -> None:
    # One byte of data per 4000 bytes of extension: refused once extensions
    # exceed the data by MAX_CHUNK_EXTENSIONS, well before the body limit.
    line = b"1;" + b"x" * 3998 + b"\r\nx\r\n"
    decoder = ChunkedDecoder()
    with pytest.raises(RemoteProtocolError, match="chunk extensions exceed"):
        decoder.decode(line * 100)
    assert decoder.body_size < 10
    assert decoder.body_size * 4000 <= MAX_CHUNK_EXTENSIONS + 4000 * 2


def test_extensions_that_ride_along_with_data_are_not_bounded() -> None:
    # Signed streaming uploads put a signature on every chunk.
    signature = b";chunk-signature=" + b"a" * 64
    data = (b"400" + signature + b"\r\n" + b"x" * 1024 + b"\r\n") * 200
    body, used, done = decode_whole(data + b"0" + signature + b"\r\n\r\n")
    assert (len(body), done) == (200 * 1024, True)


@pytest.mark.parametrize(
    "trailer",
    [b"X\x01: y", b"X: a\x7fb", b": y", b"X : y", b"X\t: y", b"X(Y): z", b"\xe9: y"],
)
def test_trailer_lines_follow_the_header_grammar(trailer: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="invalid trailer line"):
        ChunkedDecoder().decode(b"0\r\n" + trailer + b"\r\n\r\n")


def test_trailer_values_may_hold_obs_text_and_tabs() -> None:
    data = b"0\r\nX: caf\xe9\tau lait\r\nY:\r\n\r\n"
    assert decode_whole(data) == (b"", len(data), True)


# The alphabet of the grammar, and of its near misses.
_CHUNK_LINE_BYTES = st.sampled_from(
    [b"0", b"5", b"a", b"F", b"x", b";", b"=", b'"', b"\\", b" ", b"\t", b",",
     b"\x00", b"\x7f", b"\xe9", b"!", b"\r"]
)  # fmt: skip


@given(st.lists(_CHUNK_LINE_BYTES, min_size=1, max_size=12).map(b"".join))
def test_the_chunk_line_automaton_is_the_regex(line: bytes) -> None:
    """A line still arriving is checked by an automaton, a complete one by a
    regex: they must accept the same lines, and the automaton must refuse a
    prefix only when no line that starts with it is valid."""
    for strict in (False, True):
        regex = framing._STRICT_CHUNK_LINE if strict else framing._CHUNK_LINE
        table = (
            framing._STRICT_CHUNK_LINE_TABLE if strict else framing._CHUNK_LINE_TABLE
        )
        state = framing._START
        for char in line:
            state = table[state][char]
            if state == framing._BAD:
                break
        accepted = state in framing._ENDS
        assert accepted == (regex(line) is not None), (line, strict)
        if state == framing._BAD:
            for tail in (b"", b"a", b'"', b";a", b'a"'):
                assert regex(line + tail) is None


@pytest.mark.parametrize(
    "build",
    [
        lambda n: b"5" + b";a=b" * n,
        lambda n: b"5" + b";a" * n + b";",
        lambda n: b'5;a="' + b"\\a" * n,
        lambda n: b"5" + b" " * n + b"x",
        lambda n: b"5;a" + b" " * n + b"x",
        lambda n: b"5" + b";" * n,
    ],
)
def test_chunk_lines_cost_linear_time(build: object) -> None:
    assert callable(build)
    lines = {n: build(n) + b"\r\n" for n in (200, 2000)}

    def parse(n: int) -> None:
        decoder = ChunkedDecoder(max_chunk_line=100_000)
        try:
            decoder.decode(lines[n])
        except RemoteProtocolError:
            pass

    assert_linear_time(parse, 200, 2000)


# -- strict framing -----------------------------------------------------------------


@pytest.mark.parametrize("values", [["5", "5"], ["5, 5"], ["5,5"]])
def test_strict_refuses_a_repeated_content_length(values: list[str]) -> None:
    assert parse_content_length(values) == 5
    with pytest.raises(RemoteProtocolError, match="Repeated Content-Length"):
        parse_content_length(values, strict=True)
    assert parse_content_length(["5"], strict=True) == 5


def test_strict_refuses_transfer_encoding_in_http10() -> None:
    te = Headers(("Transfer-Encoding", "chunked"))
    assert request_framing("HTTP/1.0", te).kind == CHUNKED
    assert request_framing("HTTP/1.1", te, strict=True).kind == CHUNKED
    with pytest.raises(RemoteProtocolError, match="HTTP/1.0"):
        request_framing("HTTP/1.0", te, strict=True)
    assert response_framing("GET", 200, te, strict=True).kind == CHUNKED
    with pytest.raises(RemoteProtocolError, match="HTTP/1.0"):
        response_framing("GET", 200, te, strict=True, version="HTTP/1.0")
    # A response without a body is framed before its headers are looked at.
    assert response_framing("HEAD", 200, te, strict=True, version="HTTP/1.0").kind == (
        NO_BODY
    )
