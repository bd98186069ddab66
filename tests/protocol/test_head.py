"""Message heads on byte strings: start lines, header blocks, split_head.

Every rule of :mod:`tornado_compat.protocol.head` is checked byte by byte
where it is about characters, a Hypothesis property checks that any input
either parses or raises RemoteProtocolError, and the cost of repeated and
long headers is checked to grow linearly.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol import assert_linear_time
from tornado_compat.httputil import HTTPHeaders
from tornado_compat.protocol.errors import RemoteProtocolError
from tornado_compat.protocol.head import (
    FIELD_CONTENT_CHAR,
    TOKEN,
    check_line_ends,
    iter_header_block,
    match_request_head,
    match_response_head,
    parse_header_block,
    parse_request_head,
    parse_request_line,
    parse_response_head,
    parse_status_line,
    request_head_steps,
    response_head_steps,
    split_head,
)

# Hypothesis runs the same examples on every run, so a failure is repeatable.
deterministic = settings(derandomize=True, database=None, deadline=None)

TCHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
# What a header value may contain between its first and last characters.
VALUE_BYTES = frozenset([0x09, *range(0x20, 0x7F), *range(0x80, 0x100)])
TARGET_BYTES = frozenset([*range(0x21, 0x7F), *range(0x80, 0x100)])


def raises_400(func: object, *args: object) -> RemoteProtocolError:
    assert callable(func)
    with pytest.raises(RemoteProtocolError) as info:
        func(*args)
    assert info.value.status == 400, info.value
    return info.value


# -- request lines -------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"GET / HTTP/1.1", ("GET", "/", "HTTP/1.1")),
        (b"GET / HTTP/1.0", ("GET", "/", "HTTP/1.0")),
        (b"POST /a?b=c&d HTTP/1.1", ("POST", "/a?b=c&d", "HTTP/1.1")),
        (b"OPTIONS * HTTP/1.1", ("OPTIONS", "*", "HTTP/1.1")),
        (b"CONNECT h:443 HTTP/1.1", ("CONNECT", "h:443", "HTTP/1.1")),
        (b"GET http://h/p HTTP/1.1", ("GET", "http://h/p", "HTTP/1.1")),
        # Methods are case-sensitive tokens; unknown ones are the app's call.
        (b"get / HTTP/1.1", ("get", "/", "HTTP/1.1")),
        (b"M-SEARCH * HTTP/1.1", ("M-SEARCH", "*", "HTTP/1.1")),
        # obs-text in the target comes back one character per byte.
        (b"GET /\xc3\xa9 HTTP/1.1", ("GET", "/\xc3\xa9", "HTTP/1.1")),
    ],
)
def test_request_line_accepted(line: bytes, expected: tuple[str, str, str]) -> None:
    assert parse_request_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"GET",
        b"GET /",
        b"GET / ",
        b"GET  / HTTP/1.1",
        b"GET /  HTTP/1.1",
        b" GET / HTTP/1.1",
        b"GET / HTTP/1.1 ",
        b"GET\t/\tHTTP/1.1",
        b"GET / HTTP/1.1\r",
        b"GET / HTTP/1.1\n",
        b"GET / http/1.1",
        b"GET / HTTP/1.10",
        b"GET / HTTP/11",
        b"GET / HTTP/1",
        b"GET / HTTP/2",
        b"GET / HTTP/+1.1",
        b"GET / HTTP/1.1x",
        b"GET / / HTTP/1.1",
        b"FOO,BAR / HTTP/1.1",
        b"GET /a b HTTP/1.1",
        b"asdf",
    ],
)
def test_request_line_rejected(line: bytes) -> None:
    error = raises_400(parse_request_line, line)
    assert "Malformed HTTP request line" in str(error)


@pytest.mark.parametrize(
    "version", [b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2", b"HTTP/3.0"]
)
def test_request_line_other_version_is_505(version: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_request_line(b"GET / " + version)
    assert info.value.status == 505
    assert version.decode() in str(info.value)


@pytest.mark.parametrize("byte", range(256))
def test_request_method_bytes(byte: int) -> None:
    line = b"G" + bytes([byte]) + b"T / HTTP/1.1"
    if byte in TCHARS:
        assert parse_request_line(line)[0] == line[:3].decode("latin-1")
    else:
        raises_400(parse_request_line, line)


@pytest.mark.parametrize("byte", range(256))
def test_request_target_bytes(byte: int) -> None:
    line = b"GET /" + bytes([byte]) + b"x HTTP/1.1"
    if byte in TARGET_BYTES:
        assert parse_request_line(line)[1] == "/" + chr(byte) + "x"
    else:
        raises_400(parse_request_line, line)


# -- status lines --------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"HTTP/1.1 200 OK", ("HTTP/1.1", 200, "OK")),
        (b"HTTP/1.0 404 Not Found", ("HTTP/1.0", 404, "Not Found")),
        (b"HTTP/1.1 200 ", ("HTTP/1.1", 200, "")),
        (b"HTTP/1.1 000 x", ("HTTP/1.1", 0, "x")),
        (b"HTTP/1.1 999 x", ("HTTP/1.1", 999, "x")),
        (b"HTTP/1.1 200  two spaces ", ("HTTP/1.1", 200, " two spaces ")),
        (b"HTTP/1.1 200 \tOK", ("HTTP/1.1", 200, "\tOK")),
        (b"HTTP/1.1 200 \xe9t\xe9", ("HTTP/1.1", 200, "\xe9t\xe9")),
    ],
)
def test_status_line_accepted(line: bytes, expected: tuple[str, int, str]) -> None:
    assert parse_status_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"HTTP/1.1",
        b"HTTP/1.1 200",  # the space before the reason is required
        b"HTTP/1.1  200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 2000 OK",
        b"HTTP/1.1 +20 OK",
        b"HTTP/1.1 -20 OK",
        b"HTTP/1.1 2_0 OK",
        b"HTTP/1.1  20 OK",
        b"HTTP/1.1 20  OK",
        b"HTTP/1.1 0x1 OK",
        "HTTP/1.1 ２00 OK".encode(),  # a fullwidth digit, which int() takes
        "HTTP/1.1 ٢00 OK".encode(),  # an Arabic-Indic digit
        b"HTTP/1.1 200 OK\r",
        b"HTTP/1.1 200 O\x00K",
        b"HTTP/1.1 200 O\x7fK",
        b"http/1.1 200 OK",
        b"HTTP/1.1\t200\tOK",
    ],
)
def test_status_line_rejected(line: bytes) -> None:
    raises_400(parse_status_line, line)


def test_status_line_other_version_is_505() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_status_line(b"HTTP/2.0 200 OK")
    assert info.value.status == 505


@pytest.mark.parametrize("byte", range(256))
def test_reason_phrase_bytes(byte: int) -> None:
    line = b"HTTP/1.1 200 a" + bytes([byte]) + b"b"
    if byte in VALUE_BYTES:
        assert parse_status_line(line)[2] == "a" + chr(byte) + "b"
    else:
        raises_400(parse_status_line, line)


# -- header blocks -------------------------------------------------------------


def test_header_block_fields_in_order() -> None:
    block = b"Host: a\r\nX-Two: 1\r\nx-two: 2\r\nEmpty:\r\n"
    assert parse_header_block(block) == [
        ("Host", "a"),
        ("X-Two", "1"),
        ("x-two", "2"),
        ("Empty", ""),
    ]


@pytest.mark.parametrize(
    "block",
    [
        b"",
        b"\r\n",
        b"\n",
        b"\r\n\r\n",
    ],
)
def test_empty_blocks(block: bytes) -> None:
    assert parse_header_block(block) == []


@pytest.mark.parametrize(
    "block",
    [
        b"A: 1\r\nB: 2\r\n",
        b"A: 1\r\nB: 2\r\n\r\n",  # with the empty line that ends the head
        b"A: 1\nB: 2\n",  # bare LF, as Tornado accepts
        b"A: 1\r\nB: 2\n\r\n",
        b"A: 1\r\nB: 2",  # the last line may lack its line end
        b"A: 1\r\nB: 2\r\n\r\n\r\n",
        b"A:1\r\nB:2\r\n",
        b"A:   1   \r\nB:\t2\t\r\n",
    ],
)
def test_line_ends_and_whitespace(block: bytes) -> None:
    assert parse_header_block(block) == [("A", "1"), ("B", "2")]


def test_value_whitespace_inside_is_kept() -> None:
    assert parse_header_block(b"A: x  \t y\r\n") == [("A", "x  \t y")]


@pytest.mark.parametrize("sep", [b"\xa0", b"\x85"])
def test_only_space_and_tab_are_stripped(sep: bytes) -> None:
    # No-break space and NEL are whitespace to Python but data to HTTP.
    value = sep + b"chunked" + sep
    assert parse_header_block(b"Transfer-Encoding: " + value + b"\r\n") == [
        ("Transfer-Encoding", value.decode("latin-1"))
    ]


@pytest.mark.parametrize("byte", range(256))
def test_value_bytes(byte: int) -> None:
    block = b"Foo: bar" + bytes([byte]) + b"baz\r\n"
    if byte in VALUE_BYTES:
        assert parse_header_block(block) == [("Foo", "bar" + chr(byte) + "baz")]
    else:
        raises_400(parse_header_block, block)


@pytest.mark.parametrize("byte", range(256))
def test_name_bytes(byte: int) -> None:
    block = b"X" + bytes([byte]) + b"Y: v\r\n"
    if byte in TCHARS:
        assert parse_header_block(block) == [(block[:3].decode(), "v")]
    elif byte == ord(":"):
        # The colon ends the name; the rest is the value.
        assert parse_header_block(block) == [("X", "Y: v")]
    else:
        raises_400(parse_header_block, block)


@pytest.mark.parametrize("byte", [0x00, 0x01, 0x08, 0x0B, 0x0C, 0x0D, 0x1F, 0x7F])
def test_control_characters_in_values_name_the_cause(byte: int) -> None:
    error = raises_400(parse_header_block, b"A: x" + bytes([byte]) + b"y\r\n")
    assert "Invalid header value" in str(error)


@pytest.mark.parametrize(
    "block, cause",
    [
        (b"A: 1\r\n folded\r\n", "folding"),
        (b"A: 1\r\n\tfolded\r\n", "folding"),
        (b" A: 1\r\n", "folding"),
        (b"A : 1\r\n", "whitespace between name and colon"),
        (b"A\t: 1\r\n", "whitespace between name and colon"),
        (b": 1\r\n", "empty name"),
        (b"asdf\r\n", "no colon in header line"),
        (b"A: 1\rB: 2\r\n", "bare CR"),
        (b"A: 1\r\r\n", "bare CR"),
        (b"A: 1\r", "bare CR"),
        (b"A: \x00\r\n", "NUL"),
        (b"A: 1\r\n\r\nB: 2\r\n", "after the empty line"),
        (b"\r\nA: 1\r\n", "after the empty line"),
        (b"A: 1\n\nB: 2\n", "after the empty line"),
        (b"\xe9: 1\r\n", "not a token"),
    ],
)
def test_header_block_rejected(block: bytes, cause: str) -> None:
    error = raises_400(parse_header_block, block)
    assert cause in str(error)


def test_iter_header_block_yields_fields_before_the_error() -> None:
    fields = iter_header_block(b"A: 1\r\nbad\r\n")
    assert next(fields) == ("A", "1")
    with pytest.raises(RemoteProtocolError):
        next(fields)


def test_errors_quote_a_bounded_excerpt() -> None:
    error = raises_400(parse_header_block, b"A: " + b"x" * 100_000 + b"\x00\r\n")
    assert len(str(error)) < 200


# -- split_head ----------------------------------------------------------------


@pytest.mark.parametrize(
    "head, expected",
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", (b"GET / HTTP/1.1", b"Host: a\r\n")),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", (b"GET / HTTP/1.1", b"Host: a\r\n")),
        (b"GET / HTTP/1.1\nHost: a\n\n", (b"GET / HTTP/1.1", b"Host: a\n")),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", (b"GET / HTTP/1.1", b"Host: a\r\n")),
        (b"GET / HTTP/1.1\r\n\r\n", (b"GET / HTTP/1.1", b"")),
        (b"GET / HTTP/1.1\n\n", (b"GET / HTTP/1.1", b"")),
        (b"GET / HTTP/1.1\r\n", (b"GET / HTTP/1.1", b"")),
        (b"GET / HTTP/1.1", (b"GET / HTTP/1.1", b"")),
        # Empty lines before the start line are skipped (RFC 9112 2.2).
        (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", (b"GET / HTTP/1.1", b"")),
        (b"\nGET / HTTP/1.1\r\n\r\n", (b"GET / HTTP/1.1", b"")),
        # A CR that is not part of a line end stays for the parsers to refuse.
        (b"GET / HTTP/1.1\r\r\n\r\n", (b"GET / HTTP/1.1\r", b"")),
        (
            b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n",
            (b"HTTP/1.1 200 OK", b"A: 1\r\nB: 2\r\n"),
        ),
    ],
)
def test_split_head(head: bytes, expected: tuple[bytes, bytes]) -> None:
    assert split_head(head) == expected


def test_whitespace_after_the_start_line_is_refused() -> None:
    # RFC 9112 section 2.2: a line starting with whitespace right after the
    # start line must not be taken as a header (or folded into one).
    start, block = split_head(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n")
    assert parse_request_line(start) == ("GET", "/", "HTTP/1.1")
    raises_400(parse_header_block, block)


def parse_head(data: bytes) -> tuple[tuple[str, str, str], list[tuple[str, str]]]:
    start, block = split_head(data)
    return parse_request_line(start), parse_header_block(block)


def test_whole_request_head() -> None:
    head = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"
    assert parse_head(head) == (
        ("POST", "/x", "HTTP/1.1"),
        [("Host", "a"), ("Content-Length", "3")],
    )


# -- properties ----------------------------------------------------------------

header_names = st.from_regex(TOKEN, fullmatch=True)
# Values as the parser returns them: no space or tab at either end.
header_values = st.from_regex(f"{FIELD_CONTENT_CHAR}*", fullmatch=True).map(
    lambda v: v.strip(" \t")
)


@deterministic
@given(st.binary())
def test_any_header_block_parses_or_raises_remote_protocol_error(data: bytes) -> None:
    try:
        fields = parse_header_block(data)
    except RemoteProtocolError as e:
        assert e.status == 400
        return
    for name, value in fields:
        assert name and all(ord(c) in TCHARS for c in name)
        assert value == value.strip(" \t")
        assert all(ord(c) in VALUE_BYTES for c in value)


@deterministic
@given(st.binary())
def test_any_head_parses_or_raises_remote_protocol_error(data: bytes) -> None:
    start, block = split_head(data)
    for parse in (parse_request_line, parse_status_line):
        try:
            parse(start)
        except RemoteProtocolError as e:
            assert e.status in (400, 505)
    try:
        parse_header_block(block)
    except RemoteProtocolError as e:
        assert e.status == 400


@deterministic
@given(
    st.lists(st.tuples(header_names, header_values), max_size=20),
    st.sampled_from([b"\r\n", b"\n"]),
    st.sampled_from([b"", b" ", b"\t", b" \t "]),
)
def test_header_block_round_trip(
    fields: list[tuple[str, str]], eol: bytes, padding: bytes
) -> None:
    block = b"".join(
        name.encode() + b":" + padding + value.encode("latin-1") + padding + eol
        for name, value in fields
    )
    assert parse_header_block(block) == fields
    assert parse_header_block(block + eol) == fields


@deterministic
@given(
    st.from_regex(TOKEN, fullmatch=True),
    st.from_regex(r"[\x21-\x7e\x80-\xff]+", fullmatch=True),
    st.sampled_from(["HTTP/1.0", "HTTP/1.1"]),
)
def test_request_line_round_trip(method: str, target: str, version: str) -> None:
    line = f"{method} {target} {version}".encode("latin-1")
    assert parse_request_line(line) == (method, target, version)


@deterministic
@given(st.binary(max_size=40))
def test_request_line_rejoins_to_its_input(line: bytes) -> None:
    try:
        parsed = parse_request_line(line)
    except RemoteProtocolError:
        return
    assert " ".join(parsed).encode("latin-1") == line


# -- linear time ---------------------------------------------------------------


def test_repeated_headers_cost_linear_time() -> None:
    # CVE-2025-67725: Tornado joined repeated values quadratically.
    blocks = {n: b"X-Rep: a\r\n" * n for n in (5_000, 50_000)}
    assert_linear_time(lambda n: parse_header_block(blocks[n]), 5_000, 50_000)


def test_distinct_headers_cost_linear_time() -> None:
    blocks = {n: b"".join(b"X%d: v\r\n" % i for i in range(n)) for n in (5_000, 50_000)}
    assert_linear_time(lambda n: parse_header_block(blocks[n]), 5_000, 50_000)


def test_long_value_costs_linear_time() -> None:
    blocks = {n: b"A: " + b"x " * n + b"x\r\n" for n in (50_000, 500_000)}
    assert_linear_time(lambda n: parse_header_block(blocks[n]), 50_000, 500_000)


@pytest.mark.parametrize(
    "build",
    [
        # Whitespace then a forbidden character: a regex with two adjacent
        # quantifiers over spaces would backtrack quadratically here.
        lambda n: b"A:" + b" " * n + b"\x01\r\n",
        lambda n: b"A: x" + b" " * n + b"\rB: 1\r\n",
        lambda n: b"A" * n + b" : 1\r\n",
        lambda n: b"A: 1\r\n" * n + b"bad\r\n",
        lambda n: b"A: 1\r\n" + b"\r\n" * n + b"B: 2\r\n",
    ],
)
def test_rejection_costs_linear_time(build: object) -> None:
    assert callable(build)
    blocks = {n: build(n) for n in (20_000, 200_000)}

    def reject(n: int) -> None:
        with pytest.raises(RemoteProtocolError):
            parse_header_block(blocks[n])

    assert_linear_time(reject, 20_000, 200_000)


def test_long_request_target_costs_linear_time() -> None:
    lines = {n: b"GET /" + b"a" * n + b" HTTP/1.1 " for n in (50_000, 500_000)}

    def reject(n: int) -> None:
        with pytest.raises(RemoteProtocolError):
            parse_request_line(lines[n])

    assert_linear_time(reject, 50_000, 500_000)


# -- whole heads in one pass ----------------------------------------------------------
#
# parse_request_head and parse_response_head check a head in one pass and fall
# back to the step-by-step functions only to say what is wrong.  They must give
# exactly what the steps give, and fail exactly when the steps fail.


def mixes_line_ends(data: bytes) -> bool:
    """The line-end rule of a head, said again independently: after the
    empty lines that may come first, CRLF and bare LF both end lines."""
    rest = re.sub(rb"\A(?:\r?\n)*", b"", data)
    return b"\r\n" in rest and re.search(rb"(?<!\r)\n", rest) is not None


def stepwise_request(data: bytes) -> object:
    try:
        if mixes_line_ends(data):
            raise RemoteProtocolError("head mixes CRLF and bare LF line ends")
        start, block = split_head(data)
        return (*parse_request_line(start), parse_header_block(block))
    except RemoteProtocolError as e:
        return ("error", e.status, str(e))


def stepwise_response(data: bytes) -> object:
    try:
        if mixes_line_ends(data):
            raise RemoteProtocolError("head mixes CRLF and bare LF line ends")
        start, block = split_head(data)
        return (*parse_status_line(start), parse_header_block(block))
    except RemoteProtocolError as e:
        return ("error", e.status, str(e))


def one_pass(parse: object, data: bytes) -> object:
    assert callable(parse)
    try:
        return parse(data)
    except RemoteProtocolError as e:
        return ("error", e.status, str(e))


@pytest.mark.parametrize(
    "head, expected",
    [
        (b"GET / HTTP/1.1\r\n\r\n", ("GET", "/", "HTTP/1.1", [])),
        (
            b"GET /a?b HTTP/1.0\r\nHost: h\r\nX:  v w \t\r\n\r\n",
            ("GET", "/a?b", "HTTP/1.0", [("Host", "h"), ("X", "v w")]),
        ),
        # Bare LF line ends, as Tornado accepts; empty value.
        (
            b"PUT / HTTP/1.1\nA:\nB: 2\n\n",
            ("PUT", "/", "HTTP/1.1", [("A", ""), ("B", "2")]),
        ),
        # Empty lines before the request line are skipped (the slow path).
        (b"\r\nGET / HTTP/1.1\r\nA: 1\r\n\r\n", ("GET", "/", "HTTP/1.1", [("A", "1")])),
        # obs-text is kept, one character per byte.
        (
            b"GET / HTTP/1.1\r\nA: \xe9\r\n\r\n",
            ("GET", "/", "HTTP/1.1", [("A", "\xe9")]),
        ),
    ],
)
def test_request_head_in_one_pass(head: bytes, expected: tuple[object, ...]) -> None:
    assert parse_request_head(head) == expected
    assert parse_request_head(bytearray(head)) == expected
    assert stepwise_request(head) == expected


@pytest.mark.parametrize(
    "head, status, message",
    [
        (b"GET / HTTP/1.1\r\nA : 1\r\n\r\n", 400, "whitespace between name and colon"),
        (b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", 400, "obs-fold"),
        (b"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", 400, "bare CR"),
        (b"GET / HTTP/1.1\r\nA: x\x00y\r\n\r\n", 400, "NUL"),
        (b"GET / HTTP/2.0\r\nA: 1\r\n\r\n", 505, "Unsupported HTTP version"),
        (b"GET  / HTTP/1.1\r\n\r\n", 400, "Malformed HTTP request line"),
    ],
)
def test_request_head_errors_name_their_cause(
    head: bytes, status: int, message: str
) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_request_head(head)
    assert info.value.status == status
    assert message in str(info.value)


def test_response_head_in_one_pass() -> None:
    assert parse_response_head(b"HTTP/1.1 200 OK\r\nA: 1\r\nA: 2\r\n\r\n") == (
        "HTTP/1.1",
        200,
        "OK",
        [("A", "1"), ("A", "2")],
    )
    # An empty reason keeps its space; no space at all is refused.
    assert parse_response_head(b"HTTP/1.0 204 \r\n\r\n") == ("HTTP/1.0", 204, "", [])
    with pytest.raises(RemoteProtocolError):
        parse_response_head(b"HTTP/1.1 200\r\n\r\n")


# Heads built from pieces that are mostly valid, so that the one-pass check
# succeeds often and fails in every way the pieces allow.
_PIECES = st.sampled_from(
    [
        b"GET / HTTP/1.1",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.0 404 ",
        b"GET /x HTTP/1.0",
        b"HTTP/2.0 200 OK",
        b"Host: h",
        b"A:b",
        b"A: b ",
        b"X-Y:\t1\t",
        b"A : b",
        b" folded",
        b"a\x00b: c",
        b"V: \x80\xff",
        b"V: a\rb",
        b"",
        b"\r",
    ]
)
_ENDS = st.sampled_from([b"\r\n", b"\n"])


@deterministic
@given(st.lists(st.tuples(_PIECES, _ENDS), max_size=6), _ENDS)
def test_one_pass_heads_agree_with_the_steps(
    lines: list[tuple[bytes, bytes]], last: bytes
) -> None:
    data = b"".join(piece + end for piece, end in lines) + last
    assert one_pass(parse_request_head, data) == stepwise_request(data)
    assert one_pass(parse_response_head, data) == stepwise_response(data)
    # The steps alone, as the HTTP/1 connection calls them when the check
    # fails (also on what the check would accept).
    assert one_pass(request_head_steps, data) == stepwise_request(data)
    assert one_pass(response_head_steps, data) == stepwise_response(data)


@deterministic
@given(st.binary(max_size=60))
def test_one_pass_agrees_with_the_steps_on_any_bytes(data: bytes) -> None:
    head = b"GET / HTTP/1.1\r\n" + data + b"\r\n\r\n"
    assert one_pass(parse_request_head, head) == stepwise_request(head)
    head = b"HTTP/1.1 200 OK\r\n" + data + b"\r\n\r\n"
    assert one_pass(parse_response_head, head) == stepwise_response(head)


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/2.0\r\nA: 1\r\n\r\n",  # a version the steps refuse with 505
        b"GET / HTTP/1.1\r\nA : 1\r\n\r\n",  # what the steps refuse with 400
        b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\n\r\n",  # what only the steps accept
        b"GET / HTTP/1.1\nA: 1\n\n",
        b"GET / HTTP/1.1\r\nA: 1\n\r\n",  # what nothing accepts
        b"HTTP/1.1 200 OK\r\n\r\n",  # a response is not a request
    ],
)
def test_match_request_head_leaves_the_rest_to_the_steps(head: bytes) -> None:
    assert match_request_head(head) is None


def test_match_gives_the_header_lines_text() -> None:
    head = b"GET /a HTTP/1.0\r\nHost: h\r\nX:  v \t\r\n\r\n"
    assert match_request_head(head) == (
        "GET",
        "/a",
        "HTTP/1.0",
        "Host: h\r\nX:  v \t\r\n",
    )
    assert match_response_head(b"HTTP/1.1 204 \r\n\r\n") == ("HTTP/1.1", 204, "", "")
    assert match_response_head(b"GET / HTTP/1.1\r\n\r\n") is None


@deterministic
@given(
    st.sampled_from([b"GET / HTTP/1.1", b"GET /x HTTP/1.0", b"HTTP/1.1 200 OK"]),
    st.lists(st.tuples(_PIECES, _ENDS), max_size=6),
    _ENDS,
    _ENDS,
)
def test_headers_from_the_matched_text_are_those_of_the_steps(
    start_line: bytes, lines: list[tuple[bytes, bytes]], end: bytes, last: bytes
) -> None:
    """What the HTTP/1 connection builds from a head (HTTPHeaders from the
    text that the one-pass check matched) is what the steps parse."""
    data = start_line + end + b"".join(p + e for p, e in lines) + last
    for match, stepwise in (
        (match_request_head, stepwise_request),
        (match_response_head, stepwise_response),
    ):
        matched = match(data)
        expected = stepwise(data)
        if matched is None:
            continue  # refused, or left to the steps: checked above
        assert isinstance(expected, tuple) and expected[0] != "error"
        *start, text = matched
        *expected_start, fields = expected
        assert start == expected_start
        headers = HTTPHeaders._from_lines(text)
        assert headers._as_list == HTTPHeaders._from_fields(fields)._as_list


@pytest.mark.parametrize(
    "build",
    [
        lambda n: b"X-Rep: a\r\n" * n + b"\r\n",
        lambda n: b"A: " + b"x " * n + b"x\r\n\r\n",
        # Rejected late: the one-pass check fails, and the steps then look.
        lambda n: b"A: 1\r\n" * n + b"bad\r\n\r\n",
        lambda n: b"A:" + b" " * n + b"\x01\r\n\r\n",
        lambda n: b"A" * n + b" : 1\r\n\r\n",
    ],
)
def test_one_pass_heads_cost_linear_time(build: object) -> None:
    assert callable(build)
    heads = {n: b"GET / HTTP/1.1\r\n" + build(n) for n in (20_000, 200_000)}

    def parse(n: int) -> None:
        try:
            parse_request_head(heads[n])
        except RemoteProtocolError:
            pass

    assert_linear_time(parse, 20_000, 200_000)


# -- line ends: all CRLF, or all bare LF; never mixed ------------------------------

MIXED_HEADS = [
    # A header after a bare LF, where a front end splitting at CRLF alone
    # sees one header ("X: y\nContent-Length: 30") and we would see two.
    b"GET / HTTP/1.1\r\nX: y\nContent-Length: 30\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n\n",
    b"GET / HTTP/1.1\nHost: a\n\r\n",
    b"GET / HTTP/1.1\n\r\n",
    b"\nGET / HTTP/1.1\r\nA: b\nB: c\r\n\r\n",
]


@pytest.mark.parametrize("head", MIXED_HEADS)
def test_a_head_that_mixes_line_ends_is_refused(head: bytes) -> None:
    for parse in (parse_request_head, request_head_steps):
        error = raises_400(parse, head)
        assert "mixes CRLF and bare LF" in str(error)
    response = head.replace(b"GET / HTTP/1.1", b"HTTP/1.1 200 OK")
    for parse in (parse_response_head, response_head_steps):
        error = raises_400(parse, response)
        assert "mixes CRLF and bare LF" in str(error)


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nA: b\r\n\r\n",
        b"GET / HTTP/1.1\nA: b\n\n",
        # Empty lines before the start line are not part of the head.
        b"\n\r\nGET / HTTP/1.1\r\nA: b\r\n\r\n",
        b"\r\n\nGET / HTTP/1.1\nA: b\n\n",
    ],
)
def test_a_head_with_one_kind_of_line_end_is_accepted(head: bytes) -> None:
    assert parse_request_head(head) == ("GET", "/", "HTTP/1.1", [("A", "b")])
    response = head.replace(b"GET / HTTP/1.1", b"HTTP/1.1 200 OK")
    assert parse_response_head(response) == ("HTTP/1.1", 200, "OK", [("A", "b")])


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\nA: b\n\n",
        b"GET / HTTP/1.1\r\nA: b\n\r\n",
        b"\nGET / HTTP/1.1\r\nA: b\r\n\r\n",
    ],
)
def test_strict_refuses_every_bare_lf(head: bytes) -> None:
    error = raises_400(parse_request_head, head, True)
    assert "bare LF" in str(error)
    response = head.replace(b"GET / HTTP/1.1", b"HTTP/1.1 200 OK")
    error = raises_400(parse_response_head, response, True)
    assert "bare LF" in str(error)


def test_strict_accepts_crlf_heads_and_empty_crlf_lines_first() -> None:
    head = b"\r\n\r\nGET / HTTP/1.1\r\nA: b\r\n\r\n"
    assert parse_request_head(head, True) == ("GET", "/", "HTTP/1.1", [("A", "b")])
    assert request_head_steps(head, True) == ("GET", "/", "HTTP/1.1", [("A", "b")])


def test_strict_refuses_bytes_above_ascii_in_the_target() -> None:
    head = b"GET /caf\xe9 HTTP/1.1\r\n\r\n"
    assert parse_request_head(head)[1] == "/caf\xe9"
    error = raises_400(parse_request_head, head, True)
    assert "above US-ASCII" in str(error)
    raises_400(parse_request_line, b"GET /\x80 HTTP/1.1", True)


@pytest.mark.parametrize("data", [b"", b"\r\n", b"A\r\nB\r\n\r\n", b"A\nB\n\n"])
def test_check_line_ends_accepts_one_kind(data: bytes) -> None:
    check_line_ends(data)


def test_a_bare_cr_is_not_a_line_end() -> None:
    # Left for the parsers to refuse where it is, never a line end.
    check_line_ends(b"A\rB\r\n\r\n")
    error = raises_400(parse_request_head, b"GET / HTTP/1.1\rA: b\r\n\r\n")
    assert "Malformed HTTP request line" in str(error)
    raises_400(parse_request_head, b"\rGET / HTTP/1.1\r\n\r\n")


@deterministic
@given(st.lists(st.tuples(_PIECES, _ENDS), max_size=6), _ENDS)
def test_strict_heads_are_the_crlf_heads(
    lines: list[tuple[bytes, bytes]], last: bytes
) -> None:
    """Strict parsing accepts exactly what default parsing accepts of heads
    with no bare LF (ASCII targets aside), and nothing with one."""
    data = b"".join(piece + end for piece, end in lines) + last
    has_bare_lf = re.search(rb"(?<!\r)\n", data) is not None
    for parse in (parse_request_head, parse_response_head):
        strict = one_pass(lambda d, parse=parse: parse(d, True), data)
        if has_bare_lf:
            assert strict[0] == "error"  # type: ignore[index]
        elif not (parse is parse_request_head and not data.isascii()):
            assert strict == one_pass(parse, data)
