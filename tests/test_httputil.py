"""tornado_compat.httputil: headers, requests, form bodies, cookies and helpers.

Tornado's own ``httputil_test`` runs against this module in the conformance
suite; these tests pin our own decisions (where we are stricter than Tornado,
and why), the private names Tornado's upper layers use, and that every parser
costs linear time.
"""

from __future__ import annotations

import copy
import datetime
import http.cookies
import pickle
import ssl
import time
import unittest
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol import assert_linear_time
from tornado_compat import httputil
from tornado_compat.httputil import (
    _ABNF,
    _FORBIDDEN_HEADER_CHARS_RE,
    HTTPFile,
    HTTPHeaders,
    HTTPInputError,
    HTTPServerRequest,
    ParseBodyConfig,
    ParseMultipartConfig,
    ParseUrlEncodedConfig,
    RequestStartLine,
    ResponseStartLine,
    _encode_header,
    _get_content_range,
    _normalize_header,
    _parse_header,
    _parse_request_range,
    encode_username_password,
    format_timestamp,
    parse_body_arguments,
    parse_cookie,
    parse_multipart_form_data,
    parse_request_start_line,
    parse_response_start_line,
    qs_to_qsl,
    set_parse_body_config,
    split_host_and_port,
    url_concat,
)

deterministic = settings(derandomize=True, database=None, deadline=None)


# -- HTTPHeaders ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name, normalized",
    [
        ("content-type", "Content-Type"),
        ("CONTENT-TYPE", "Content-Type"),
        ("x-FOO", "X-Foo"),
        ("etag", "Etag"),
        ("www-authenticate", "Www-Authenticate"),
        ("x_y-z", "X_y-Z"),  # only dashes separate words, as in Tornado
        ("1a-b2", "1a-B2"),
        ("a--b", "A--B"),
    ],
)
def test_normalize_header(name: str, normalized: str) -> None:
    assert _normalize_header(name) == normalized


def test_headers_multi_values() -> None:
    h = HTTPHeaders()
    h.add("Set-Cookie", "a=1")
    h.add("set-cookie", "b=2")
    h["Content-Type"] = "text/plain"
    assert h["SET-COOKIE"] == "a=1,b=2"
    assert h.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert list(h.get_all()) == [
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("Content-Type", "text/plain"),
    ]
    assert list(h) == ["Set-Cookie", "Content-Type"]
    assert len(h) == 2
    assert h.get_list("missing") == []
    assert h.get("missing") is None
    assert h.get("missing", "d") == "d"
    with pytest.raises(KeyError):
        h["missing"]


def test_set_replaces_values_and_keeps_position() -> None:
    h = HTTPHeaders()
    h.add("A", "1")
    h.add("B", "2")
    h.add("a", "3")
    h["a"] = "4"
    assert list(h.get_all()) == [("A", "4"), ("B", "2")]


def test_delete_and_contains() -> None:
    h = HTTPHeaders({"Foo": "bar"})
    assert "foo" in h
    assert 1 not in h  # type: ignore[comparison-overlap]
    del h["FOO"]
    assert "Foo" not in h
    with pytest.raises(KeyError):
        del h["foo"]


def test_lookups_of_names_never_seen_before() -> None:
    # The lookups read the cache of normalized names directly; a name not
    # in it (the cache is emptied when full) is normalized on the spot.
    h = HTTPHeaders({"x-fresh-name-one": "1"})
    h.add("X-Fresh-Name-One", "2")
    assert h["x-FRESH-name-one"] == "1,2"
    assert h.get("X-FRESH-NAME-ONE") == "1,2"
    assert h.get("x-fresh-name-two", "none") == "none"
    assert "x-fresh-name-one" in h
    assert "x-fresh-name-three" not in h
    assert [] not in h  # type: ignore[comparison-overlap]
    h["x-fresh-name-four"] = "4"
    assert h.get_list("X-Fresh-Name-Four") == ["4"]
    del h["x-fresh-name-four"]
    assert list(h) == ["X-Fresh-Name-One"]
    with pytest.raises(KeyError):
        h["x-fresh-name-five"]
    with pytest.raises(AttributeError):
        h.get(1)  # type: ignore[arg-type]


def test_an_empty_headers_passed_to_a_request_is_replaced() -> None:
    # As in Tornado (``headers or HTTPHeaders()``): the request gets a new
    # mapping, not the empty one it was given; a mapping with headers is
    # kept as it is.
    empty = HTTPHeaders()
    start = RequestStartLine("GET", "/", "HTTP/1.0")
    request = HTTPServerRequest(start_line=start, headers=empty)
    assert request.headers is not empty and isinstance(request.headers, HTTPHeaders)
    full = HTTPHeaders({"Host": "example.com"})
    assert HTTPServerRequest(start_line=start, headers=full).headers is full
    replaced = HTTPServerRequest(start_line=start, headers={}).headers  # type: ignore[arg-type]
    assert isinstance(replaced, HTTPHeaders) and not replaced


def test_constructor_forms() -> None:
    assert HTTPHeaders({"a": "1"}) == HTTPHeaders(A="1")
    assert HTTPHeaders([("a", "1"), ("b", "2")]) == HTTPHeaders(a="1", b="2")
    original = HTTPHeaders()
    original.add("X", "1")
    original.add("X", "2")
    assert list(HTTPHeaders(original).get_all()) == [("X", "1"), ("X", "2")]


def test_values_set_through_the_mapping_are_not_validated() -> None:
    # Tornado's clients set bytes values this way and read them back; the
    # connection validates what it writes.
    h = HTTPHeaders()
    h["User-Agent"] = b"agent"  # type: ignore[assignment]
    stored: object = h["User-Agent"]
    assert stored == b"agent"
    assert h.get("user-agent") == b"agent"


@pytest.mark.parametrize("copier", [HTTPHeaders.copy, copy.copy, copy.deepcopy])
def test_copies_are_independent(copier: Any) -> None:
    h = HTTPHeaders()
    h.add("A", "1")
    h.add("A", "2")
    c = copier(h)
    assert c is not h
    assert list(c.get_all()) == list(h.get_all())
    assert c.get_list("A") is not h.get_list("A")
    c.add("A", "3")
    assert h.get_list("A") == ["1", "2"]


def test_pickle_round_trip() -> None:
    h = HTTPHeaders()
    h.add("Set-Cookie", "a=b")
    h.add("Set-Cookie", "c=d")
    restored = pickle.loads(pickle.dumps(h))
    assert list(restored.get_all()) == list(h.get_all())


def test_str_parse_round_trip() -> None:
    h = HTTPHeaders()
    h.add("Foo", "1")
    h.add("Foo", "2")
    h.add("Bar", "x y")
    assert str(h) == "Foo: 1\nFoo: 2\nBar: x y\n"
    assert HTTPHeaders.parse(str(h)) == h
    assert list(HTTPHeaders.parse(str(h)).get_all()) == list(h.get_all())


@pytest.mark.parametrize(
    "name", ["", "foo bar", "foo\tbar", "foo\nbar", "foo\x00bar", "foo ", " foo", "é"]
)
def test_add_rejects_invalid_names(name: str) -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders().add(name, "v")


@pytest.mark.parametrize(
    "value", [" lead", "trail ", "\ttab", "a\r\nb", "a\nb", "a\x00b", "a\x7fb", "Ā"]
)
def test_add_rejects_invalid_values(value: str) -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders().add("X", value)


def test_add_text_values() -> None:
    h = HTTPHeaders()
    h.add("X", "Ā€", _chars_are_bytes=False)
    assert h["X"] == "Ā€"
    with pytest.raises(HTTPInputError):
        h.add("X", "a\x01", _chars_are_bytes=False)


def test_parse() -> None:
    h = HTTPHeaders.parse("Content-Type: text/html\r\nContent-Length: 42\r\n\r\n")
    assert sorted(h.items()) == [
        ("Content-Length", "42"),
        ("Content-Type", "text/html"),
    ]


def test_parse_accepts_the_tail_of_the_start_line() -> None:
    # Tornado's HTTP1Connection passes ``data[eol:]``, which starts with the
    # start line's LF.
    assert list(HTTPHeaders.parse("\nA: 1\r\n\r\n").get_all()) == [("A", "1")]
    assert list(HTTPHeaders.parse("\r\nA: 1\r\n\r\n").get_all()) == [("A", "1")]


@pytest.mark.parametrize(
    "text",
    [
        "Foo: bar\r\n\tasdf",  # obs-fold
        "Foo: bar\r\n asdf",
        "A: 1\rB: 2\r\n",  # bare CR
        "A: 1\r\n\r\nB: 2\r\n",  # a header after the end of the block
        "A : 1",
        ": 1",
        "no colon",
        "A: \x00",
        "A: Ā",  # not a byte
        "Ā: x",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(HTTPInputError):
        HTTPHeaders.parse(text)


def test_parse_folding_error_mentions_folding() -> None:
    # Tornado's client tests look for "folding" in the log line.
    with pytest.raises(HTTPInputError, match="folding"):
        HTTPHeaders.parse("X: 1;\r\n\tmode=block\r\n")


def test_parse_utf8_text() -> None:
    h = HTTPHeaders.parse(
        'Content-Disposition: form-data; filename="测试.txt"\r\n',
        _chars_are_bytes=False,
    )
    assert h["Content-Disposition"] == 'form-data; filename="测试.txt"'


def test_parse_line() -> None:
    h = HTTPHeaders()
    h.parse_line("Content-Type: text/html")
    h.parse_line("Content-Length: 42\r\n")
    h.parse_line("X: y\n")
    h.parse_line("\r\n")
    h.parse_line("")
    assert list(h.get_all()) == [
        ("Content-Type", "text/html"),
        ("Content-Length", "42"),
        ("X", "y"),
    ]
    for bad in (" folded", "A: 1\r\nB: 2", "A: 1\r\n\r\n", "A:1\r"):
        with pytest.raises(HTTPInputError):
            h.parse_line(bad)


@deterministic
@given(st.text())
def test_parse_any_text_raises_only_http_input_error(text: str) -> None:
    try:
        h = HTTPHeaders.parse(text)
    except HTTPInputError:
        return
    for name, value in h.get_all():
        assert _ABNF.field_name.fullmatch(name)
        assert _ABNF.field_value.fullmatch(value)


def test_headers_add_costs_linear_time() -> None:
    def add(n: int) -> None:
        h = HTTPHeaders()
        for _ in range(n):
            h.add("X-Foo", "bar")
        h["X-Foo"]

    assert_linear_time(add, 5_000, 50_000)


def test_headers_parse_of_repeated_header_costs_linear_time() -> None:
    texts = {n: "X: a\r\n" * n for n in (5_000, 50_000)}
    assert_linear_time(lambda n: HTTPHeaders.parse(texts[n])["X"], 5_000, 50_000)


# -- start lines ---------------------------------------------------------------


def test_parse_request_start_line() -> None:
    line = parse_request_start_line("GET /foo HTTP/1.1")
    assert line == RequestStartLine("GET", "/foo", "HTTP/1.1")
    assert (line.method, line.path, line.version) == ("GET", "/foo", "HTTP/1.1")


@pytest.mark.parametrize(
    "line",
    ["asdf", "GET  / HTTP/1.1", "GET / HTTP/2.0", "GET / HTTP/1.2", "GET /Ā HTTP/1.1"],
)
def test_parse_request_start_line_rejects(line: str) -> None:
    with pytest.raises(HTTPInputError):
        parse_request_start_line(line)


def test_malformed_request_line_message() -> None:
    # Tornado's server tests look for this phrase in the log.
    with pytest.raises(HTTPInputError, match="Malformed HTTP request line"):
        parse_request_start_line("FOO,BAR /echo HTTP/1.1")


def test_parse_response_start_line() -> None:
    assert parse_response_start_line("HTTP/1.1 200 OK") == ResponseStartLine(
        "HTTP/1.1", 200, "OK"
    )
    # An empty reason comes back as None, as in Tornado.
    assert parse_response_start_line("HTTP/1.0 204 ").reason is None


@pytest.mark.parametrize(
    "line",
    ["HTTP/1.1 200", "HTTP/1.1 +20 OK", "HTTP/1.1 2_0 OK", "HTTP/2.0 200 OK", "x"],
)
def test_parse_response_start_line_rejects(line: str) -> None:
    with pytest.raises(HTTPInputError):
        parse_response_start_line(line)


# -- HTTPServerRequest ---------------------------------------------------------


def request(
    uri: str = "/",
    version: str = "HTTP/1.1",
    headers: dict[str, str] | HTTPHeaders | None = None,
    **kwargs: Any,
) -> HTTPServerRequest:
    if headers is None:
        headers = {"Host": "example.com"}
    if not isinstance(headers, HTTPHeaders):
        headers = HTTPHeaders(headers)
    return HTTPServerRequest(
        start_line=RequestStartLine("GET", uri, version), headers=headers, **kwargs
    )


def test_request_basics() -> None:
    r = request("/a/b?x=1&y=&x=2", headers={"Host": "Example.COM:8080"})
    assert (r.method, r.uri, r.version) == ("GET", "/a/b?x=1&y=&x=2", "HTTP/1.1")
    assert (r.path, r.query) == ("/a/b", "x=1&y=&x=2")
    assert r.host == "Example.COM:8080"
    assert r.host_name == "example.com"
    assert r.protocol == "http"
    assert r.remote_ip is None
    assert r.body == b""
    assert r.files == {}
    assert r.full_url() == "http://Example.COM:8080/a/b?x=1&y=&x=2"
    assert r.arguments == {"x": [b"1", b"2"], "y": [b""]}
    assert r.query_arguments == r.arguments
    assert r.query_arguments["x"] is not r.arguments["x"]
    assert r.body_arguments == {}


def test_request_repr_leaves_headers_out() -> None:
    r = request(headers={"Host": "h", "Authorization": "Basic secret"})
    assert "secret" not in repr(r)
    assert repr(r) == (
        "HTTPServerRequest(protocol='http', host='h', method='GET', uri='/', "
        "version='HTTP/1.1', remote_ip=None)"
    )


def test_request_host_rules() -> None:
    assert request(version="HTTP/1.0", headers={}).host == "127.0.0.1"
    with pytest.raises(HTTPInputError, match="Missing Host header"):
        request(headers={})
    with pytest.raises(HTTPInputError, match="Invalid Host header"):
        request(headers={"Host": "foo bar"})
    assert request(headers={"Host": "[::1]:80"}).host_name == "[::1]"
    with pytest.raises(HTTPInputError, match="Invalid Host header"):
        request(headers={"Host": "a:" + "9" * 5000})
    assert request(headers={"Host": "a:65536"}).host_name == "a"
    two = HTTPHeaders()
    two.add("Host", "a")
    two.add("Host", "b")
    with pytest.raises(HTTPInputError, match="Multiple host headers not allowed"):
        request(headers=two)


def test_a_host_seen_before_is_still_checked_as_a_whole_header() -> None:
    # Valid hosts are remembered; a remembered one must not let a second
    # Host header, or a differently spelled value, through.
    assert request(headers={"Host": "seen.example"}).host_name == "seen.example"
    assert request(headers={"Host": "seen.example"}).host_name == "seen.example"
    twice = HTTPHeaders()
    twice.add("Host", "seen.example")
    twice.add("Host", "seen.example")
    with pytest.raises(HTTPInputError, match="Multiple host headers not allowed"):
        request(headers=twice)
    with pytest.raises(HTTPInputError, match="Multiple host headers not allowed"):
        request(headers={"Host": "seen.example,seen.example"})
    assert request(headers={"Host": "SEEN.example:81"}).host_name == "seen.example"


def test_request_context_from_connection() -> None:
    class Context:
        remote_ip = "10.0.0.1"
        protocol = "https"

    class Connection(httputil.HTTPConnection):
        context = Context()

    r = request(connection=Connection())
    assert (r.remote_ip, r.protocol) == ("10.0.0.1", "https")
    assert r.full_url() == "https://example.com/"


def test_request_deprecated_constructor() -> None:
    with pytest.warns(DeprecationWarning):
        r = HTTPServerRequest(method="GET", uri="/x", host="h:1")
    assert r.headers["Host"] == "h:1"
    assert (r.host, r.host_name) == ("h:1", "h")


def test_request_query_argument_limit() -> None:
    n = httputil._DEFAULT_PARSE_BODY_CONFIG.urlencoded.max_arguments
    assert len(request("/?" + "&".join(["a=1"] * n)).arguments["a"]) == n
    with pytest.raises(HTTPInputError, match="Max number of fields exceeded"):
        request("/?" + "&".join(["a=1"] * (n + 1)))


def test_request_parse_body() -> None:
    r = request(
        "/?a=1",
        headers={
            "Host": "h",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=b"a=2&b=3",
    )
    r._parse_body()
    assert r.arguments == {"a": [b"1", b"2"], "b": [b"3"]}
    assert r.query_arguments == {"a": [b"1"]}
    assert r.body_arguments == {"a": [b"2"], "b": [b"3"]}


def test_request_cookies() -> None:
    r = request(headers={"Host": "h", "Cookie": "a=b; c=d; expires=1; a b=2"})
    cookies = r.cookies
    # Names SimpleCookie refuses (reserved or with spaces) are left out.
    assert sorted(cookies) == ["a", "c"]
    assert isinstance(cookies["a"], http.cookies.Morsel)
    assert cookies["a"].value == "b"
    assert r.cookies is cookies
    assert request().cookies == {}


def test_request_time() -> None:
    r = request()
    assert r.request_time() >= 0
    r._finish_time = r._start_time + 2.5
    assert r.request_time() == 2.5


def test_get_ssl_certificate() -> None:
    class Socket:
        def __init__(self, error: bool) -> None:
            self.error = error

        def getpeercert(self, binary_form: bool = False) -> Any:
            if self.error:
                raise ssl.SSLError("no handshake")
            return b"DER" if binary_form else {"subject": ()}

    class Stream:
        def __init__(self, error: bool) -> None:
            self.socket = Socket(error)

    class Connection(httputil.HTTPConnection):
        def __init__(self, error: bool = False) -> None:
            self.stream = Stream(error)

    assert request(connection=Connection()).get_ssl_certificate() == {"subject": ()}
    assert request(connection=Connection()).get_ssl_certificate(True) == b"DER"
    assert request(connection=Connection(True)).get_ssl_certificate() is None
    assert request().get_ssl_certificate() is None


# -- URLs and small helpers ----------------------------------------------------


@pytest.mark.parametrize(
    "url, args, expected",
    [
        ("http://a/p", [("y", "/y"), ("z", "z")], "http://a/p?y=%2Fy&z=z"),
        ("http://a/p?", [("y", "y")], "http://a/p?y=y"),
        ("http://a/p?x", [("y", "y")], "http://a/p?x=&y=y"),
        ("http://a/p?x=1#f", {"y": "é"}, "http://a/p?x=1&y=%C3%A9#f"),
        ("http://a/p?r=1&r=2", (("y", "1"), ("y", "2")), "http://a/p?r=1&r=2&y=1&y=2"),
        ("http://a/p?r=1", None, "http://a/p?r=1"),
        ("http://a/p?r=1", [], "http://a/p?r=1"),
    ],
)
def test_url_concat(url: str, args: Any, expected: str) -> None:
    assert url_concat(url, args) == expected


def test_url_concat_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        url_concat("http://a", "x=1")  # type: ignore[arg-type]


def test_qs_to_qsl() -> None:
    assert list(qs_to_qsl({"a": ["1", "3"], "b": ["2"]})) == [
        ("a", "1"),
        ("a", "3"),
        ("b", "2"),
    ]


@pytest.mark.parametrize(
    "netloc, expected",
    [
        ("a", ("a", None)),
        ("a:1", ("a", 1)),
        ("a:0080", ("a", 80)),
        ("[::1]:80", ("[::1]", 80)),
        ("[::1]", ("[::1]", None)),
        ("a:", ("a:", None)),
        ("a:+1", ("a:+1", None)),
        ("a:１", ("a:１", None)),  # no non-ASCII digits, unlike int()
    ],
)
def test_split_host_and_port(netloc: str, expected: tuple[str, int | None]) -> None:
    assert split_host_and_port(netloc) == expected


@pytest.mark.parametrize(
    "netloc",
    ["a:123456", "a:" + "9" * 5000, "[::1]:" + "1" * 99],
    ids=["6-digits", "5000-digits", "ipv6-99-digits"],
)
def test_split_host_and_port_refuses_a_port_of_more_than_five_digits(
    netloc: str,
) -> None:
    # Counted before int(), which raises its own ValueError past 4300 digits.
    with pytest.raises(ValueError, match="port") as info:
        split_host_and_port(netloc)
    assert len(str(info.value)) < 200
    assert split_host_and_port("a:" + "0" * 5000 + "99999") == ("a", 99999)


def test_encode_username_password() -> None:
    assert encode_username_password("u", "p") == b"u:p"
    assert encode_username_password(b"\xff", "é") == b"\xff:\xc3\xa9"
    # RFC 7617: Unicode text is normalized to NFC first.
    assert encode_username_password("jose\u0301", "x") == "josé:x".encode()


TIMESTAMP = 1359312200.503611
EXPECTED_DATE = "Sun, 27 Jan 2013 18:43:20 GMT"


@pytest.mark.parametrize(
    "ts",
    [
        TIMESTAMP,
        int(TIMESTAMP),
        time.gmtime(TIMESTAMP),
        tuple(time.gmtime(TIMESTAMP)),
        datetime.datetime.fromtimestamp(TIMESTAMP, datetime.timezone.utc),
        datetime.datetime.fromtimestamp(TIMESTAMP, datetime.timezone.utc).replace(
            tzinfo=None
        ),
        datetime.datetime.fromtimestamp(
            TIMESTAMP, datetime.timezone(datetime.timedelta(hours=-4))
        ),
    ],
)
def test_format_timestamp(ts: Any) -> None:
    assert format_timestamp(ts) == EXPECTED_DATE


def test_format_timestamp_of_each_second_after_the_last() -> None:
    # The text of the last second formatted is reused; every other second,
    # in any of the accepted forms, gets its own.
    assert format_timestamp(TIMESTAMP) == EXPECTED_DATE
    assert format_timestamp(TIMESTAMP + 1) == "Sun, 27 Jan 2013 18:43:21 GMT"
    assert format_timestamp(TIMESTAMP + 0.4) == EXPECTED_DATE
    assert format_timestamp(time.gmtime(TIMESTAMP + 60)) == (
        "Sun, 27 Jan 2013 18:44:20 GMT"
    )
    assert format_timestamp(int(TIMESTAMP) - 86400) == "Sat, 26 Jan 2013 18:43:20 GMT"
    assert format_timestamp(TIMESTAMP) == EXPECTED_DATE


def test_format_timestamp_of_floats_in_and_around_the_last_second() -> None:
    # A float in the second formatted last takes the quick path; its ends,
    # and the seconds before 1970 (where int() rounds toward zero, so that
    # -1.5 is second -1 and -0.5 is second 0), must not.
    assert format_timestamp(TIMESTAMP) == EXPECTED_DATE
    assert format_timestamp(int(TIMESTAMP) + 0.999) == EXPECTED_DATE
    assert format_timestamp(int(TIMESTAMP) + 1.0) == "Sun, 27 Jan 2013 18:43:21 GMT"
    assert format_timestamp(int(TIMESTAMP) - 0.001) == "Sun, 27 Jan 2013 18:43:19 GMT"
    assert format_timestamp(-1.5) == "Wed, 31 Dec 1969 23:59:59 GMT"
    assert format_timestamp(-0.5) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert format_timestamp(-1.5) == "Wed, 31 Dec 1969 23:59:59 GMT"
    assert format_timestamp(-1.25) == "Wed, 31 Dec 1969 23:59:59 GMT"
    with pytest.raises(ValueError):
        format_timestamp(float("nan"))


def test_format_timestamp_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        format_timestamp("2013-01-27")  # type: ignore[arg-type]


def test_responses() -> None:
    assert httputil.responses[404] == "Not Found"
    assert httputil.responses[200] == "OK"


# -- private names used by tornado.web and tornado.websocket -----------------------


@pytest.mark.parametrize(
    "header, expected",
    [
        ("bytes=1-2", (1, 3)),
        ("bytes=0-0", (0, 1)),
        ("bytes=5-", (5, None)),
        ("bytes=-5", (-5, None)),
        ("bytes=-0", (None, 0)),
        ("bytes=26", (26, None)),  # web_test pins "bytes=N" as "bytes=N-"
        ("bytes=10-3", (10, 10)),  # end before start: the caller answers 416
        ("bytes= 1 - 2 ", (1, 3)),
        (" bytes=1-2 ", (1, 3)),
        ("bytes=-", (None, None)),
        ("bytes=1-2,3-4", None),
        ("foo=1-2", None),
        ("BYTES=1-2", None),
        ("asdf", None),
        ("bytes=a-b", None),
        ("bytes=+1-2", None),
        ("bytes=1_0-20", None),
        ("bytes=0x1-2", None),
        ("bytes=１-2", None),
        ("bytes=1-2-3", None),
    ],
)
def test_parse_request_range(
    header: str, expected: tuple[int | None, int | None] | None
) -> None:
    assert _parse_request_range(header) == expected


@pytest.mark.parametrize(
    "header, expected",
    [
        ("bytes=" + "9" * 5000 + "-", (10**18, None)),
        ("bytes=0-" + "9" * 5000, (0, 10**18 + 1)),
        ("bytes=-" + "9" * 5000, (-(10**18), None)),
        ("bytes=" + "0" * 5000 + "5-6", (5, 7)),
        ("bytes=" + "9" * 19 + "-", (10**18, None)),
        ("bytes=" + "9" * 18 + "-", (10**18 - 1, None)),
    ],
    ids=["start", "end", "suffix", "leading-zeros", "19-digits", "18-digits"],
)
def test_parse_request_range_with_thousands_of_digits(
    header: str, expected: tuple[int | None, int | None]
) -> None:
    # Positions past 10**18 (beyond any file) are read as 10**18, with no
    # int() of their digits (which raises past 4300 of them): a huge start is
    # unsatisfiable, a huge end or suffix takes the rest of the file.
    assert _parse_request_range(header) == expected


@pytest.mark.parametrize(
    "start, end, total, expected",
    [
        (None, 5, 10, "bytes 0-4/10"),
        (1, None, 10, "bytes 1-9/10"),
        (1, 5, 10, "bytes 1-4/10"),
        (None, None, 10, "bytes 0-9/10"),
    ],
)
def test_get_content_range(
    start: int | None, end: int | None, total: int, expected: str
) -> None:
    assert _get_content_range(start, end, total) == expected


@pytest.mark.parametrize(
    "line, expected",
    [
        (
            'form-data; name="a"; filename="b"',
            ("form-data", {"name": "a", "filename": "b"}),
        ),
        ("text/html; charset=UTF-8", ("text/html", {"charset": "UTF-8"})),
        ("permessage-deflate; client_max_window_bits", ("permessage-deflate", {})),
        ('a; b="x\\"y"', ("a", {"b": 'x"y'})),
        ('a; b="x\\\\y"', ("a", {"b": "x\\y"})),
        ('a; b="x\\y"', ("a", {"b": "x\\y"})),  # only \\ and \" are escapes
        ('a;b="c;d";e=f', ("a", {"b": "c;d", "e": "f"})),
        ("x; A=B", ("x", {"a": "B"})),
        ('x; a="b" ; c = d ', ("x", {"a": "b", "c": "d"})),
        ("x;;;", ("x", {})),
        ("", ("", {})),
        (" X ; b=1", ("X", {"b": "1"})),
        ('x; a=""', ("x", {"a": ""})),
        ("x; a=b=c", ("x", {"a": "b=c"})),
        ("x; filename*=UTF-8''%C3%A1b.txt", ("x", {"filename": "áb.txt"})),
        ("x; filename*=utf-8'en'%E2%82%AC", ("x", {"filename": "€"})),
        ("x; filename*=iso-8859-1''%E9", ("x", {"filename": "é"})),
        ("x; filename*=bogus''%E9", ("x", {"filename": "é"})),
        ("x; filename*=bad", ("x", {"filename": "bad"})),
        ("x; filename*=UTF-8''b; filename=\"a\"", ("x", {"filename": "b"})),
        ("x; filename=\"a\"; filename*=UTF-8''b", ("x", {"filename": "b"})),
    ],
)
def test_parse_header(line: str, expected: tuple[str, dict[str, str]]) -> None:
    assert _parse_header(line) == expected


def test_encode_header() -> None:
    assert _encode_header("x", {}) == "x"
    assert (
        _encode_header("permessage-deflate", {"a": None, "b": "1"})
        == "permessage-deflate; a; b=1"
    )


def test_parse_header_costs_linear_time() -> None:
    # CVE-2025-67726: semicolons inside a quoted parameter were quadratic.
    lines = {n: 'form-data; x="' + ";" * n + '"; name="a"' for n in (10_000, 100_000)}
    assert_linear_time(lambda n: _parse_header(lines[n]), 10_000, 100_000)
    many = {n: "form-data" + "; a=b" * n for n in (2_000, 20_000)}
    assert_linear_time(lambda n: _parse_header(many[n]), 2_000, 20_000)
    escapes = {n: 'x; a="' + '\\"' * n + '"' for n in (10_000, 100_000)}
    assert_linear_time(lambda n: _parse_header(escapes[n]), 10_000, 100_000)


def test_abnf_patterns() -> None:
    assert _ABNF.reason_phrase.fullmatch("Not Found")
    assert not _ABNF.reason_phrase.fullmatch("")
    assert not _ABNF.reason_phrase.fullmatch("a\r\nb")
    assert not _ABNF.reason_phrase.fullmatch("Ā")
    assert _ABNF.field_value.fullmatch("")
    assert _ABNF.field_value.fullmatch("a b\tc")
    assert not _ABNF.field_value.fullmatch(" a")
    assert not _ABNF.field_value.fullmatch("a ")
    assert _ABNF.token.fullmatch("X-Foo")
    assert not _ABNF.token.fullmatch("X Foo")
    assert _ABNF.host.fullmatch("[::1]:8080")
    assert not _ABNF.host.fullmatch("foo bar")
    assert _ABNF.request_target.fullmatch("/a?b")
    assert _ABNF.status_line.fullmatch("HTTP/1.1 200 OK")


@pytest.mark.parametrize("char", [chr(c) for c in range(0x80)])
def test_forbidden_header_chars(char: str) -> None:
    forbidden = (ord(char) < 0x20 and char != "\t") or char == "\x7f"
    assert bool(_FORBIDDEN_HEADER_CHARS_RE.search("a" + char)) == forbidden


# -- form bodies ---------------------------------------------------------------


def parse_form(
    content_type: str,
    body: bytes,
    headers: HTTPHeaders | None = None,
    config: ParseBodyConfig | None = None,
) -> tuple[dict[str, list[bytes]], dict[str, list[HTTPFile]]]:
    arguments: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    parse_body_arguments(content_type, body, arguments, files, headers, config=config)
    return arguments, files


def test_urlencoded_body() -> None:
    args, files = parse_form("application/x-www-form-urlencoded", b"a=1&b=&c&a=3")
    assert args == {"a": [b"1", b"3"], "b": [b""], "c": [b""]}
    assert files == {}
    # The media type ignores case and parameters.
    assert parse_form("Application/X-WWW-Form-Urlencoded; charset=UTF-8", b"a=1")[
        0
    ] == {"a": [b"1"]}
    assert parse_form("application/x-www-form-urlencodedX", b"a=1")[0] == {}
    assert parse_form("text/plain", b"a=1") == ({}, {})


def test_urlencoded_limit() -> None:
    with pytest.raises(HTTPInputError, match="Max number of fields exceeded"):
        parse_form("application/x-www-form-urlencoded", b"a=1&" * 1001)
    config = ParseBodyConfig(urlencoded=ParseUrlEncodedConfig(max_arguments=2))
    with pytest.raises(HTTPInputError):
        parse_form("application/x-www-form-urlencoded", b"a=1&a=2&a=3", config=config)


def test_encoded_bodies_are_refused() -> None:
    headers = HTTPHeaders({"Content-Encoding": "gzip"})
    for content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=1234",
    ):
        with pytest.raises(HTTPInputError, match="Unsupported Content-Encoding: gzip"):
            parse_form(content_type, b"--1234--", headers)


PART = b'Content-Disposition: form-data; name="a"\r\n\r\nv\r\n'


def multipart(*parts: bytes, boundary: bytes = b"1234") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + p for p in parts) + (
        b"--" + boundary + b"--\r\n"
    )


def parse_multipart(
    data: bytes, boundary: bytes = b"1234", config: ParseMultipartConfig | None = None
) -> tuple[dict[str, list[bytes]], dict[str, list[HTTPFile]]]:
    arguments: dict[str, list[bytes]] = {}
    files: dict[str, list[HTTPFile]] = {}
    parse_multipart_form_data(boundary, data, arguments, files, config=config)
    return arguments, files


def test_multipart_arguments_and_files() -> None:
    body = multipart(
        PART,
        b'Content-Disposition: form-data; name="f"; filename="a b.txt"\r\n'
        b"Content-Type: text/x\r\n\r\nfile\r\nbody\r\n",
        b'Content-Disposition: form-data; name="g"; filename="n"\r\n\r\n\r\n',
        b'Content-Disposition: form-data; name="e"; filename=""\r\n\r\nnot a file\r\n',
    )
    args, files = parse_multipart(body)
    assert args == {"a": [b"v"], "e": [b"not a file"]}
    assert [(f.filename, f.body, f.content_type) for f in files["f"]] == [
        ("a b.txt", b"file\r\nbody", "text/x")
    ]
    assert files["g"][0]["content_type"] == "application/unknown"
    assert files["g"][0]["body"] == b""


def test_multipart_through_parse_body_arguments() -> None:
    for content_type in (
        "multipart/form-data; boundary=1234",
        "multipart/form-data;boundary=1234",
        'multipart/form-data; boundary="1234"',
        "multipart/form-data; BOUNDARY=1234",
        "Multipart/Form-Data; charset=x; boundary=1234; foo=bar",
    ):
        assert parse_form(content_type, multipart(PART))[0] == {"a": [b"v"]}
    for content_type in ("multipart/form-data", "multipart/form-data; boundary="):
        with pytest.raises(HTTPInputError, match="boundary not found"):
            parse_form(content_type, multipart(PART))


def test_multipart_boundary_may_be_quoted() -> None:
    assert parse_multipart(multipart(PART), b'"1234"')[0] == {"a": [b"v"]}


def test_multipart_utf8_names() -> None:
    part = 'Content-Disposition: form-data; name="é"; filename="测试.txt"\r\n\r\nx\r\n'
    args, files = parse_multipart(multipart(part.encode()))
    assert files["é"][0].filename == "测试.txt"
    with pytest.raises(HTTPInputError, match="not UTF-8"):
        parse_multipart(
            multipart(b'Content-Disposition: form-data; name="\xff"\r\n\r\nx\r\n')
        )


def test_multipart_epilogue_is_ignored() -> None:
    assert parse_multipart(multipart(PART) + b"epilogue\r\n")[0] == {"a": [b"v"]}


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "no final boundary"),
        (b"--1234\r\n" + PART, "no final boundary"),
        (b"pre\r\n" + multipart(PART), "missing headers"),
        (multipart(b"\r\nv\r\n"), "missing headers"),
        (multipart(b"X: y\r\n\r\nv\r\n"), "Invalid multipart/form-data"),
        (
            multipart(b"Content-Disposition: invalid; name=a\r\n\r\nv\r\n"),
            "Invalid multipart/form-data",
        ),
        (
            b"--1234\r\nContent-Disposition: form-data; name=a\r\n\r\nv--1234--",
            "Invalid multipart/form-data",
        ),
        (
            multipart(b'Content-Disposition: form-data; filename="f"\r\n\r\nv\r\n'),
            "missing name",
        ),
        (
            multipart(b'Content-Disposition: form-data; name=""\r\n\r\nv\r\n'),
            "missing name",
        ),
        (
            multipart(
                b'Content-Disposition: form-data; name="f"; filename="a\rb"\r\n'
                b"\r\nv\r\n"
            ),
            "Invalid header value",
        ),
        (
            multipart(
                b"Content-Disposition: form-data; name=a\r\n folded\r\n\r\nv\r\n"
            ),
            "folding",
        ),
        (
            multipart(
                b"Content-Disposition: form-data; name=a\r\n"
                b"Content-Disposition: form-data; name=b\r\n\r\nv\r\n"
            ),
            "repeated Content-Disposition",
        ),
    ],
)
def test_multipart_rejected(body: bytes, message: str) -> None:
    with pytest.raises(HTTPInputError, match=message):
        parse_multipart(body)


def test_multipart_limits() -> None:
    # max_parts counts parts (Tornado also counts the empty preamble).
    assert parse_multipart(multipart(PART), config=ParseMultipartConfig(max_parts=1))
    with pytest.raises(HTTPInputError, match="too many parts"):
        parse_multipart(multipart(PART, PART), config=ParseMultipartConfig(max_parts=1))
    with pytest.raises(HTTPInputError, match="too many parts"):
        parse_multipart(multipart(PART), config=ParseMultipartConfig(max_parts=0))
    header_size = len(PART.split(b"\r\n\r\n")[0])
    small = ParseMultipartConfig(max_part_header_size=header_size)
    assert parse_multipart(multipart(PART), config=small)[0] == {"a": [b"v"]}
    smaller = ParseMultipartConfig(max_part_header_size=header_size - 1)
    with pytest.raises(HTTPInputError, match="header too large"):
        parse_multipart(multipart(PART), config=smaller)
    with pytest.raises(HTTPInputError, match="parsing is disabled"):
        parse_multipart(multipart(PART), config=ParseMultipartConfig(enabled=False))


def test_multipart_part_without_headers_costs_at_most_the_header_limit() -> None:
    body = multipart(b"x" * 1_000_000 + b"\r\n")
    with pytest.raises(HTTPInputError, match="header too large"):
        parse_multipart(body)


def test_set_parse_body_config() -> None:
    try:
        set_parse_body_config(
            ParseBodyConfig(multipart=ParseMultipartConfig(enabled=False))
        )
        with pytest.raises(HTTPInputError, match="disabled"):
            parse_form("multipart/form-data; boundary=1234", multipart(PART))
        set_parse_body_config(
            ParseBodyConfig(urlencoded=ParseUrlEncodedConfig(max_arguments=1))
        )
        with pytest.raises(HTTPInputError):
            request("/?a=1&b=2")
    finally:
        set_parse_body_config(ParseBodyConfig())
    assert parse_form("multipart/form-data; boundary=1234", multipart(PART))[0]


@deterministic
@given(
    st.from_regex(r"[0-9A-Za-z'()+_,\-./:=?]{1,20}", fullmatch=True),
    st.binary(max_size=300),
)
def test_multipart_any_body_raises_only_http_input_error(
    boundary: str, body: bytes
) -> None:
    try:
        parse_form(f"multipart/form-data; boundary={boundary}", body)
    except HTTPInputError:
        pass


@deterministic
@given(
    st.lists(
        st.tuples(
            st.text(
                st.characters(
                    blacklist_categories=("Cc", "Cs"), blacklist_characters='"\\;'
                ),
                min_size=1,
                max_size=10,
            ).filter(lambda s: s == s.strip()),
            st.binary(max_size=50),
        ),
        max_size=5,
    )
)
def test_multipart_round_trip(parts: list[tuple[str, bytes]]) -> None:
    delimiter = b"--1234"
    if any(delimiter in value or value.endswith(b"--123") for _, value in parts):
        return
    body = multipart(
        *(
            f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value
            + b"\r\n"
            for name, value in parts
        )
    )
    expected: dict[str, list[bytes]] = {}
    for name, value in parts:
        expected.setdefault(name, []).append(value)
    assert parse_multipart(body)[0] == expected


def test_multipart_costs_linear_time() -> None:
    # Many near-misses of the delimiter, and many parts.
    near = {n: multipart(PART.replace(b"v", b"--123\r\n" * n)) for n in (5_000, 50_000)}
    assert_linear_time(lambda n: parse_multipart(near[n]), 5_000, 50_000)
    config = ParseMultipartConfig(max_parts=100_000)
    many = {n: multipart(*[PART] * n) for n in (1_000, 10_000)}
    assert_linear_time(lambda n: parse_multipart(many[n], config=config), 1_000, 10_000)


def test_urlencoded_costs_linear_time() -> None:
    config = ParseBodyConfig(urlencoded=ParseUrlEncodedConfig(max_arguments=10**6))
    bodies = {n: b"a=%41&" * n for n in (5_000, 50_000)}
    assert_linear_time(
        lambda n: parse_form(
            "application/x-www-form-urlencoded", bodies[n], config=config
        ),
        5_000,
        50_000,
    )


# -- cookies -------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, expected",
    [
        ("chips=ahoy; vienna=finger", {"chips": "ahoy", "vienna": "finger"}),
        (
            'keebler="E=mc2; L=\\"Loves\\"; fudge=\\012;"',
            {"keebler": '"E=mc2', "L": '\\"Loves\\"', "fudge": "\\012", "": '"'},
        ),
        ("keebler=E=mc2", {"keebler": "E=mc2"}),
        ("a=b; h=i; a=c", {"a": "c", "h": "i"}),
        ("abc=def; unnamed; x=y", {"abc": "def", "": "unnamed", "x": "y"}),
        ("a b c=d e = f; gh=i", {"a b c": "d e = f", "gh": "i"}),
        ("  =  b  ;  ;  =  ;   c  =  ;  ", {"": "b", "c": ""}),
        ("saint=André Bessette", {"saint": "André Bessette"}),
        ("a=b]_xsrf=x", {"a": "b]_xsrf=x"}),
        ("", {}),
    ],
)
def test_parse_cookie(header: str, expected: dict[str, str]) -> None:
    assert parse_cookie(header) == expected


@pytest.mark.parametrize(
    "encoded, decoded",
    [
        (r'"b=\""', 'b="'),
        (r'"b=\\"', "b=\\"),
        (r'"b=\="', "b=="),
        (r'"b=\n"', "b=n"),
        (r'"b=\042"', 'b="'),
        (r'"b=\377"', "b=\xff"),
        (r'"b=\400"', "b=400"),
        (r'"b=\42"', "b=42"),
        (r'"b=\\042"', "b=\\042"),
        (r'"b=\134\042"', 'b=\\"'),
        ('"', '"'),
        ('"unterminated', '"unterminated'),
    ],
)
def test_cookie_unquoting(encoded: str, decoded: str) -> None:
    assert parse_cookie("a=" + encoded)["a"] == decoded


@pytest.mark.parametrize("escape", [r"\\", r"\134"])
def test_cookie_unquoting_costs_linear_time(escape: str) -> None:
    # CVE-2024-7592: unquoting backslash escapes was quadratic.
    values = {n: 'a="b=' + escape * n + '"' for n in (10_000, 100_000)}
    assert_linear_time(lambda n: parse_cookie(values[n]), 10_000, 100_000)


def test_many_cookies_cost_linear_time() -> None:
    many = {n: "; ".join(f"c{i}=v" for i in range(n)) for n in (2_000, 20_000)}
    assert_linear_time(lambda n: parse_cookie(many[n]), 2_000, 20_000)


# -- interfaces and doctests ---------------------------------------------------


def test_interfaces() -> None:
    with pytest.raises(NotImplementedError):
        httputil.HTTPServerConnectionDelegate().start_request(
            None, httputil.HTTPConnection()
        )
    httputil.HTTPServerConnectionDelegate().on_close(None)
    delegate = httputil.HTTPMessageDelegate()
    assert (
        delegate.headers_received(
            RequestStartLine("GET", "/", "HTTP/1.1"), HTTPHeaders()
        )
        is None
    )
    assert delegate.data_received(b"x") is None
    delegate.finish()
    delegate.on_connection_close()
    connection = httputil.HTTPConnection()
    with pytest.raises(NotImplementedError):
        connection.write(b"x")
    with pytest.raises(NotImplementedError):
        connection.finish()
    with pytest.raises(NotImplementedError):
        connection.write_headers(
            ResponseStartLine("HTTP/1.1", 200, "OK"), HTTPHeaders()
        )


def test_http_file_is_a_dict_with_attributes() -> None:
    f = HTTPFile(filename="a", body=b"b", content_type="c")
    assert (f.filename, f["body"], f.content_type) == ("a", b"b", "c")


def test_doctests() -> None:
    result = unittest.TestResult()
    suite = httputil.doctests()
    suite.run(result)
    assert suite.countTestCases() > 0
    assert result.wasSuccessful(), result.failures + result.errors
