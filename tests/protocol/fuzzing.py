"""Fuzz inputs for the protocol core, from any source of random choices.

What this module is for: making the byte strings that the fuzz property
(``tests/protocol/test_fuzz.py``), the server fuzz
(``tests/server/test_fuzz_server.py``) and the long run
(``python -m benchmarks.fuzz``) feed through :mod:`tests.protocol.driver`:

* :class:`Grammar` builds request or response streams (one to a few
  pipelined messages) from the HTTP/1.1 grammar: methods, targets, versions,
  header names and values with odd bytes and optional whitespace,
  Content-Length and Transfer-Encoding variants, chunked bodies with
  extensions and trailers, keep-alive or not.  Without flaws every choice is
  valid and the :class:`Case` carries the messages a correct reader must
  produce, worked out here from the choices (not by any parser).  With a
  ``flaw_rate``, each decision may take a near-valid wrong turn instead (a
  bare CR, a mixed line end, a sign in a length, a bad chunk extension...),
  named in :attr:`Case.flaws`; such a case has no expected messages.
* :func:`mutate` changes a few bytes of a seed (a grammar case or a corpus
  case such as llhttp's), :func:`token_soup` strings HTTP fragments and
  random bytes together, and :func:`cut_points` says where to split an input.

Every function takes a ``random.Random``: a seeded one for the long run, or
Hypothesis's ``st.randoms(use_true_random=False)`` in the tests, so that one
grammar serves both and Hypothesis can shrink what it finds.

What it must never do: parse what it generated (the expected messages come
from the choices), or use any randomness but the ``rng`` it is given (runs
must be reproducible from a seed).
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.protocol.driver import CLOSED, EOF, Message
from tornado_compat.httputil import HTTPHeaders

CRLF = b"\r\n"
LF = b"\n"

TCHARS = (
    b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
_ALNUM = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# What a header value may hold inside (RFC 9110 section 5.5): visible
# characters, obs-text, and space and tab between them.  Letters are
# weighted so that values look like values.
_VALUE_CHARS = (
    _ALNUM * 3 + bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100)) + b"  \t"
)
_VALUE_EDGE_CHARS = bytes(c for c in _VALUE_CHARS if c not in b" \t")
# What a request target may hold (no whitespace, no controls).
_TARGET_CHARS = (
    b"abcxyz0123/-._~!$&'()*+,;=:@%" + bytes(range(0x21, 0x7F)) + b"\x80\xe9\xff"
)
_QDTEXT = (
    bytes([0x09, 0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F)]) + b"\x80\xff"
)
_REASON_CHARS = _ALNUM * 2 + b" \t" + bytes(range(0x21, 0x7F)) + b"\x80\xff"

METHODS = (
    "GET",
    "GET",
    "POST",
    "PUT",
    "HEAD",
    "DELETE",
    "OPTIONS",
    "PATCH",
    "TRACE",
    "CONNECT",
    "M-SEARCH",
    "PROPFIND",
    "get",
)
COMMON_NAMES = (
    "Accept",
    "User-Agent",
    "Cookie",
    "X-Forwarded-For",
    "Cache-Control",
    "If-None-Match",
    "Range",
    "Authorization",
    "Accept-Encoding",
    "Upgrade",
    "TE",
    "Trailer",
    "Via",
)
# Names the grammar sets on purpose only: they decide framing, keep-alive,
# the request's host, its form parsing, or a 100 Continue.
RESERVED_NAMES = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "content-type",
        "expect",
        "content-encoding",
    }
)
HOSTS = (
    "example.com",
    "127.0.0.1",
    "127.0.0.1:8888",
    "[::1]",
    "[::1]:80",
    "a-b.c_d~e",
    "xn--bcher-kva.example:0",
    "%41.example",
    "",
)
# Interim status codes a server may send before the final response.
INTERIM_CODES = (100, 102, 103, 199)
FINAL_CODES = (200, 200, 200, 201, 204, 206, 301, 302, 304, 400, 404, 500, 503, 599)

# Fragments that make random bytes look enough like HTTP to get past the
# first checks; also what mutate() inserts.
FRAGMENTS = (
    b"\r",
    b"\n",
    b"\r\n",
    b"\r\n\r\n",
    b"\n\n",
    b"\x00",
    b" ",
    b"\t",
    b":",
    b";",
    b"=",
    b'"',
    b"\\",
    b",",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"\x0b",
    b"0",
    b"9",
    b"f",
    b"-",
    b"+",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"GET / HTTP/1.1\r\n",
    b"POST / HTTP/1.1\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"Host: a\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: 0\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"1;a=b\r\nx\r\n",
    b"ffffffff\r\n",
)


@dataclass(frozen=True)
class Case:
    """One fuzz input: the bytes of one side of a connection."""

    #: "request" (read by the server) or "response" (read by a client).
    side: str
    data: bytes
    #: For responses: the method of each request they answer.
    methods: tuple[str, ...] = ()
    #: The messages a correct reader produces and how reading ends (see
    #: :class:`tests.protocol.driver.Outcome`), when the case is valid.
    expected: tuple[tuple[Message, ...], str] | None = None
    #: The wrong turns the grammar took (empty for a valid case).
    flaws: tuple[str, ...] = ()
    #: Where the case comes from (grammar, mutation, soup, a corpus name).
    source: str = "grammar"


def _pick(rng: random.Random, alphabet: bytes, n: int) -> bytes:
    """``n`` bytes of ``alphabet``, from one call of the generator (one draw
    for Hypothesis; the modulo's bias does not matter here)."""
    size = len(alphabet)
    return bytes(alphabet[b % size] for b in rng.randbytes(n))


def _headers_seen(fields: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The headers an application sees for ``fields`` (names normalized,
    grouped by name in order of first appearance, as ``HTTPHeaders`` keeps
    them)."""
    headers = HTTPHeaders()
    for name, value in fields:
        headers.add(name, value)
    return tuple(headers.get_all())


class Grammar:
    """Builds request and response streams; see the module docstring.

    ``flaw_rate`` is the chance that a decision takes a wrong turn.
    ``huge_numbers`` allows numbers of more than 4300 digits among the
    wrong turns (past Python's int() limit; issue 21 item 3), which the
    tests keep apart from the rest.
    """

    def __init__(
        self,
        rng: random.Random,
        flaw_rate: float = 0.0,
        huge_numbers: bool = False,
        max_messages: int = 4,
        max_body: int = 120,
    ) -> None:
        self.rng = rng
        self.flaw_rate = flaw_rate
        self.huge_numbers = huge_numbers
        self.max_messages = max_messages
        self.max_body = max_body
        self.flaws: list[str] = []

    def flaw(self, name: str) -> bool:
        """Whether to take the wrong turn ``name`` here (it is recorded)."""
        if self.flaw_rate and self.rng.random() < self.flaw_rate:
            self.flaws.append(name)
            return True
        return False

    # -- small pieces -----------------------------------------------------------

    def token(self, low: int = 1, high: int = 10) -> str:
        rng = self.rng
        return _pick(rng, TCHARS, rng.randint(low, high)).decode("latin-1")

    def field_value(self) -> str:
        """A value as the application sees it: no whitespace at either end."""
        rng = self.rng
        kind = rng.random()
        if kind < 0.15:
            return ""
        if kind < 0.5:
            return _pick(rng, _ALNUM, rng.randint(1, 12)).decode("latin-1")
        inner = _pick(rng, _VALUE_CHARS, rng.randint(0, 16))
        edge = _pick(rng, _VALUE_EDGE_CHARS, 2)
        return (edge[:1] + inner + edge[1:]).decode("latin-1")

    def ows(self) -> bytes:
        rng = self.rng
        return rng.choice((b"", b"", b"", b" ", b"  ", b"\t", b" \t "))

    def bad_line(self) -> bytes:
        """A header line that is not one."""
        rng = self.rng
        name = self.token().encode("latin-1")
        value = _pick(rng, _ALNUM, 3)
        return rng.choice(
            (
                name + b" : " + value,  # whitespace before the colon
                name + b"\t:" + value,
                b" " + name + b": " + value,  # obs-fold
                b"\t" + value,
                name + b" " + value,  # no colon
                b": " + value,  # empty name
                name + b"(x): " + value,  # not a token
                name + b": a\x00b",
                name + b": a\rb",
                name + b": a\x0bb",
                name + b": a\x7fb",
                name + b"\x80: " + value,
                b"\x00",
            )
        )

    # -- heads ------------------------------------------------------------------

    def head(
        self, start: bytes, fields: list[tuple[bytes, bytes]], eol: bytes
    ) -> bytes:
        """A head: the start line, ``fields`` as ``name: value`` lines with
        optional whitespace around the value, and the empty line; each line
        ends with ``eol`` unless a flaw says otherwise."""
        rng = self.rng
        lines = [start]
        for name, value in fields:
            lines.append(name + b":" + self.ows() + value + self.ows())
        if self.flaw("bad header line"):
            lines.insert(rng.randint(1, len(lines)), self.bad_line())
        ends = [eol] * (len(lines) + 1)
        if self.flaw("mixed line ends"):
            other = LF if eol == CRLF else CRLF
            ends[rng.randrange(len(ends))] = other
        if self.flaw("bare CR line end"):
            ends[rng.randrange(len(ends))] = b"\r"
        if self.flaw("CR CR LF line end"):
            ends[rng.randrange(len(ends))] = b"\r\r\n"
        return b"".join(
            line + end for line, end in zip(lines + [b""], ends, strict=True)
        )

    def extra_fields(self) -> list[tuple[str, str]]:
        rng = self.rng
        fields = []
        for _ in range(rng.choice((0, 0, 1, 2, 3, 5))):
            if rng.random() < 0.4:
                name = rng.choice(COMMON_NAMES)
            else:
                name = self.token(1, 14)
                if name.lower() in RESERVED_NAMES:
                    name = "X-" + name
            fields.append((name, self.field_value()))
        return fields

    def connection(self) -> tuple[str | None, set[str]]:
        """A Connection header value (or none) and its tokens."""
        rng = self.rng
        value = rng.choice(
            (
                None,
                None,
                None,
                "close",
                "keep-alive",
                "Keep-Alive",
                "Upgrade",
                "close, Upgrade",
                "TE,  keep-alive",
                "CLOSE",
            )
        )
        if value is None:
            return None, set()
        return value, {t.strip(" \t").lower() for t in value.split(",")}

    # -- bodies ------------------------------------------------------------------

    def body_bytes(self, n: int) -> bytes:
        rng = self.rng
        if rng.random() < 0.5:
            return _pick(rng, _ALNUM, n)
        return rng.randbytes(n)

    def content_length(self, length: int) -> list[bytes]:
        """The Content-Length field values for ``length``."""
        rng = self.rng
        if self.flaw("bad Content-Length"):
            bad = [
                b"-1",
                b"+%d" % length,
                b"%d %d" % (length, length),
                b"0x%x" % length,
                b"%d_0" % length,
                b"\xb2",
                b"%d, %d" % (length, length + 1),
                b"",
                b"1e3",
                b"18446744073709551616",
            ]
            if self.huge_numbers:
                bad += [b"1" * 4301, b"0" * 4301 + b"5"]
            return [rng.choice(bad)]
        if self.flaw("unequal Content-Lengths"):
            return [b"%d" % length, b"%d" % (length + 1)]
        text = b"0" * rng.choice((0, 0, 0, 1, 3)) + b"%d" % length
        kind = rng.random()
        if kind < 0.1:
            return [text, text]
        if kind < 0.2:
            return [text + rng.choice((b", ", b",", b",\t")) + text]
        return [text]

    def transfer_encoding(self) -> list[bytes]:
        rng = self.rng
        if self.flaw("bad Transfer-Encoding"):
            return rng.choice(
                (
                    [b"gzip, chunked"],
                    [b"chunked, gzip"],
                    [b"chunked, chunked"],
                    [b"chunked", b"chunked"],
                    [b"identity"],
                    [b"xchunked"],
                    [b"chunked;q=1"],
                    [b"chunked\xff"],
                    [b""],
                )
            )
        return [rng.choice((b"chunked", b"chunked", b"Chunked", b"CHUNKED"))]

    def chunk_ext(self) -> bytes:
        """Chunk extensions (RFC 9112 section 7.1.1): ``;name``,
        ``;name=token`` or ``;name="quoted"``, without optional whitespace."""
        rng = self.rng
        if self.flaw("bad chunk extension"):
            bad = [
                b";",
                b"; ",
                b";a=",
                b';a="x',
                b";a\x00",
                b";a b",
                b";a=b c",
                b";=b",
                b';a="\x01"',
                b";a=\x80",
                b";a\x0bb",
                b" ",
                b"\t",
                b" x",
                b";a=" + b"b" * 5000,
            ]
            return rng.choice(bad)
        out = b""
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            out += b";" + self.token(1, 6).encode("latin-1")
            kind = rng.random()
            if kind < 0.3:
                out += b"=" + self.token(1, 6).encode("latin-1")
            elif kind < 0.5:
                text = b""
                for _ in range(rng.randint(0, 6)):
                    if rng.random() < 0.2:
                        text += b"\\" + rng.choice((b'"', b"\\", b"a", b" "))
                    else:
                        text += _pick(rng, _QDTEXT, 1)
                out += b'="' + text + b'"'
        return out

    def chunk_size(self, n: int) -> bytes:
        rng = self.rng
        if self.flaw("bad chunk size"):
            bad = [
                b" %x" % n,
                b"%x " % n,
                b"+%x" % n,
                b"-%x" % n,
                b"0x%x" % n,
                b"%x_0" % n,
                b"0" * 17 + b"%x" % n,
                b"g",
                b"",
            ]
            if self.huge_numbers:
                bad.append(b"0" * 4301 + b"%x" % n)
            return rng.choice(bad)
        digits = rng.choice((b"%x", b"%X")) % n
        return b"0" * rng.choice((0, 0, 0, 1, 2)) + digits

    def chunked_body(self) -> tuple[bytes, bytes]:
        """``(wire bytes, decoded body)`` of a chunked body with its trailer."""
        rng = self.rng
        wire = b""
        body = b""
        for _ in range(rng.choice((0, 1, 1, 2, 3, 5))):
            data = self.body_bytes(rng.randint(1, max(1, self.max_body // 3)))
            size = len(data)
            if self.flaw("chunk data length off"):
                size = max(0, size + rng.choice((-1, 1)))
            line_end = CRLF
            if self.flaw("chunk line end"):
                line_end = rng.choice((LF, b"\r", b"\r\r\n", b"\n\r"))
            after = CRLF
            if self.flaw("chunk data end"):
                after = rng.choice((b"", LF, b"XX", b"\r", b" \r\n"))
            wire += self.chunk_size(size) + self.chunk_ext() + line_end + data + after
            body += data
        wire += self.chunk_size(0) + self.chunk_ext() + CRLF
        for _ in range(rng.choice((0, 0, 1, 2))):
            name = self.token(1, 8).encode("latin-1")
            value = self.field_value().encode("latin-1")
            wire += name + b":" + self.ows() + value + CRLF
        if self.flaw("bad trailer"):
            wire += rng.choice(
                (
                    b"no colon\r\n",
                    b" folded: x\r\n",
                    b"A: b\x00\r\n",
                    b"A: b\n",
                    b"A: b\rc\r\n",
                    b"A: " + b"b" * 20000 + b"\r\n",
                )
            )
        wire += CRLF
        return wire, body

    # -- requests ----------------------------------------------------------------

    def target(self) -> bytes:
        rng = self.rng
        kind = rng.random()
        if self.flaw("bad target"):
            return rng.choice((b"", b"/a b", b"/a\x00", b"/a\x7f", b"/\t", b"/a\r"))
        if kind < 0.3:
            return b"/"
        if kind < 0.4:
            return rng.choice((b"*", b"http://example.com/x?y", b"example.com:443"))
        path = b"/" + _pick(rng, _TARGET_CHARS, rng.randint(0, 16))
        if rng.random() < 0.4:
            pairs = [
                _pick(rng, _ALNUM, rng.randint(0, 3))
                + rng.choice((b"", b"=", b"=" + _pick(rng, b"ab%20+", 2)))
                for _ in range(rng.randint(1, 3))
            ]
            path += b"?" + b"&".join(pairs)
        return path

    def request_line(self) -> tuple[bytes, tuple[str, str, str]]:
        rng = self.rng
        method = rng.choice(METHODS) if rng.random() < 0.8 else self.token(1, 8)
        target = self.target()
        version = rng.choice(("HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0"))
        wire_version = version.encode()
        if self.flaw("bad version"):
            wire_version = rng.choice(
                (
                    b"HTTP/1.2",
                    b"HTTP/2.0",
                    b"HTTP/0.9",
                    b"http/1.1",
                    b"HTTP/1.01",
                    b"HTTP/11",
                    b"HTTP/1.1 ",
                    b"HTTP/1",
                    b"HTTP/\xb9.1",
                )
            )
        sep = b" "
        if self.flaw("bad request-line separator"):
            sep = rng.choice((b"  ", b"\t", b"\x0b", b""))
        wire_method = method.encode("latin-1")
        if self.flaw("bad method"):
            wire_method = rng.choice((b"G(T", b"GE T", b"", b"\x00GET", b"G\xc9T"))
        line = wire_method + sep + target + sep + wire_version
        return line, (method, target.decode("latin-1"), version)

    def form_body(
        self, wire_fields: list[tuple[bytes, bytes]], fields: list[tuple[str, str]]
    ) -> bytes:
        """A form body, and its Content-Type added to the fields."""
        rng = self.rng
        content_type = b"application/x-www-form-urlencoded"
        body = rng.choice((b"a=1&b=%20x&c", b"", b"x=%C3%A9&x=2", b"&&=&"))
        if self.flaw("bad form body"):
            content_type = b"multipart/form-data; boundary=xyz"
            body = rng.choice((b"--xyz\r\nbroken", b"nothing", b"--xyz--\r\n"))
        elif rng.random() < 0.3:
            content_type = b"multipart/form-data; boundary=xyz"
            body = (
                b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n'
                b"1\r\n--xyz--\r\n"
            )
        wire_fields.append((b"Content-Type", content_type))
        fields.append(("Content-Type", content_type.decode()))
        return body

    def request(self) -> tuple[bytes, Message, bool]:
        """One request: its bytes, the message, and whether the connection
        stays open after it."""
        rng = self.rng
        eol = CRLF if rng.random() < 0.75 else LF
        line, start = self.request_line()
        version = start[2]
        fields: list[tuple[str, str]] = []
        if version == "HTTP/1.1" or rng.random() < 0.5:
            host = rng.choice(HOSTS)
            if self.flaw("bad Host"):
                host = rng.choice(("a b", "a/b", "[::1", "a@b", "\xe9", "a:b:c"))
                if self.huge_numbers and rng.random() < 0.5:
                    host = "a:" + "1" * 4301
            fields.append(("Host", host))
            if self.flaw("two Hosts"):
                fields.append(("Host", host))
        elif self.flaw("missing Host"):
            start = (start[0], start[1], "HTTP/1.1")
            line = line[: -len(b"HTTP/1.0")] + b"HTTP/1.1"
        fields += self.extra_fields()
        connection, tokens = self.connection()
        if connection is not None:
            fields.append(("Connection", connection))
        wire_fields = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in fields]
        body = b""
        body_wire = b""
        kind = rng.random()
        chunked = kind < 0.3
        with_length = 0.3 <= kind < 0.6
        if self.flaw("both Content-Length and chunked"):
            chunked = with_length = True
        if chunked:
            body_wire, body = self.chunked_body()
            for value in self.transfer_encoding():
                wire_fields.append((b"Transfer-Encoding", value))
                fields.append(("Transfer-Encoding", value.decode("latin-1")))
        elif with_length:
            body = body_wire = self.body_bytes(rng.randint(0, self.max_body))
            if rng.random() < 0.2:
                body = body_wire = self.form_body(wire_fields, fields)
        if with_length:
            for value in self.content_length(len(body)):
                wire_fields.append((b"Content-Length", value))
                fields.append(("Content-Length", value.decode("latin-1")))
        order = list(range(len(wire_fields)))
        rng.shuffle(order)
        wire_fields = [wire_fields[i] for i in order]
        fields = [fields[i] for i in order]
        prefix = rng.choice((b"", b"", b"", b"", b"\r\n", b"\n", b"\r\n\r\n"))
        wire = prefix + self.head(line, wire_fields, eol) + body_wire
        if version == "HTTP/1.1":
            keep = "close" not in tokens
        else:
            keep = "keep-alive" in tokens
        return wire, Message(start, _headers_seen(fields), body), keep

    def requests(self) -> Case:
        """One to ``max_messages`` pipelined requests."""
        self.flaws = []
        rng = self.rng
        wire = b""
        messages: list[Message] = []
        end = EOF
        for _ in range(rng.randint(1, self.max_messages)):
            data, message, keep = self.request()
            wire += data
            if end == EOF:
                messages.append(message)
                if not keep:
                    end = CLOSED
        if self.flaw("truncated"):
            wire = wire[: rng.randrange(len(wire))]
        expected = None if self.flaws else (tuple(messages), end)
        return Case("request", wire, (), expected, tuple(self.flaws))

    # -- responses ---------------------------------------------------------------

    def status_line(self, code: int) -> tuple[bytes, tuple[str, int, str]]:
        rng = self.rng
        version = rng.choice(("HTTP/1.1", "HTTP/1.1", "HTTP/1.0"))
        reason = rng.choice((b"OK", b"", b"Not Found", b"x y\tz", b"\xe9t\xe9"))
        if rng.random() < 0.3:
            reason = _pick(rng, _REASON_CHARS, rng.randint(0, 12))
        wire_code = b"%03d" % code
        if self.flaw("bad status code"):
            wire_code = rng.choice(
                (b"20", b"2000", b"abc", b" 200", b"+20", b"\xb2\xb2\xb2", b"-20")
            )
        wire_version = version.encode()
        if self.flaw("bad version"):
            wire_version = rng.choice((b"HTTP/1.2", b"HTTP/2", b"HTTP/1.1 ", b"ICY"))
        line = wire_version + b" " + wire_code + b" " + reason
        if self.flaw("no space after the code"):
            line = wire_version + b" " + wire_code
        return line, (version, code, reason.decode("latin-1"))

    def response(self, method: str, last: bool) -> tuple[bytes, list[Message], bool]:
        """One response, perhaps after interim ones: its bytes, its
        messages, and whether the connection stays open after it."""
        rng = self.rng
        wire = b""
        messages = []
        interim = rng.choice((0, 0, 0, 0, 1, 2))
        if self.flaw("too many 1xx"):
            interim = 11
        for _ in range(interim):
            code = rng.choice(INTERIM_CODES)
            line, start = self.status_line(code)
            fields = self.extra_fields()
            wire_fields = [
                (n.encode("latin-1"), v.encode("latin-1")) for n, v in fields
            ]
            if self.flaw("1xx with a body"):
                wire_fields.append((b"Content-Length", b"5"))
            wire += self.head(line, wire_fields, CRLF if rng.random() < 0.8 else LF)
            messages.append(Message(start, _headers_seen(fields)))
        code = rng.choice(FINAL_CODES)
        if rng.random() < 0.1:
            code = rng.randint(200, 599)
        line, start = self.status_line(code)
        version = start[0]
        fields = self.extra_fields()
        connection, tokens = self.connection()
        if connection is not None:
            fields.append(("Connection", connection))
        wire_fields = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in fields]
        body = b""
        body_wire = b""
        until_close = False
        if method == "HEAD" or code == 304:
            if rng.random() < 0.5:
                # Not read, so any text goes.
                value = rng.choice((b"5", b"123456", b"0", b"abc"))
                wire_fields.append((b"Content-Length", value))
                fields.append(("Content-Length", value.decode()))
        elif code == 204:
            if rng.random() < 0.3 or self.flaw("204 with a body"):
                value = rng.choice((b"0", b"00")) if not self.flaws else b"3"
                wire_fields.append((b"Content-Length", value))
                fields.append(("Content-Length", value.decode()))
        else:
            kind = rng.random()
            if kind < 0.3:
                body_wire, body = self.chunked_body()
                for value in self.transfer_encoding():
                    wire_fields.append((b"Transfer-Encoding", value))
                    fields.append(("Transfer-Encoding", value.decode("latin-1")))
                if self.flaw("both Content-Length and chunked"):
                    wire_fields.append((b"Content-Length", b"%d" % len(body)))
                    fields.append(("Content-Length", "%d" % len(body)))
            elif kind < 0.85 or not last:
                body = body_wire = self.body_bytes(rng.randint(0, self.max_body))
                for value in self.content_length(len(body)):
                    wire_fields.append((b"Content-Length", value))
                    fields.append(("Content-Length", value.decode("latin-1")))
            else:
                body = body_wire = self.body_bytes(rng.randint(0, self.max_body))
                until_close = True
        order = list(range(len(wire_fields)))
        rng.shuffle(order)
        wire_fields = [wire_fields[i] for i in order]
        fields = [fields[i] for i in order]
        eol = CRLF if rng.random() < 0.8 else LF
        wire += self.head(line, wire_fields, eol) + body_wire
        messages.append(Message(start, _headers_seen(fields), body))
        if until_close:
            keep = False
        elif version == "HTTP/1.1":
            keep = "close" not in tokens
        else:
            keep = "keep-alive" in tokens
        return wire, messages, keep

    def responses(self) -> Case:
        """One to ``max_messages`` responses on one connection."""
        self.flaws = []
        rng = self.rng
        count = rng.randint(1, self.max_messages)
        methods = tuple(
            rng.choice(("GET", "GET", "GET", "POST", "HEAD")) for _ in range(count)
        )
        wire = b""
        messages: list[Message] = []
        end = EOF
        for i, method in enumerate(methods):
            data, got, keep = self.response(method, last=i == count - 1)
            wire += data
            if end == EOF:
                messages += got
                if not keep:
                    end = CLOSED
        if self.flaw("truncated"):
            wire = wire[: rng.randrange(len(wire))]
        expected = None if self.flaws else (tuple(messages), end)
        return Case("response", wire, methods, expected, tuple(self.flaws))

    def case(self) -> Case:
        """A request stream or a response stream."""
        if self.rng.random() < 0.6:
            return self.requests()
        return self.responses()


# -- byte-level changes ---------------------------------------------------------


def mutate(rng: random.Random, data: bytes, rounds: int = 0) -> bytes:
    """``data`` with one to four small changes: a fragment inserted, bytes
    deleted, replaced or repeated, a line end changed, or the end cut off."""
    out = bytearray(data)
    for _ in range(rounds or rng.randint(1, 4)):
        n = len(out)
        at = rng.randint(0, n)
        op = rng.randrange(7)
        if op == 0 or n == 0:
            out[at:at] = rng.choice(FRAGMENTS)
        elif op == 1:
            del out[at : at + rng.randint(1, 8)]
        elif op == 2:
            out[min(at, n - 1)] = rng.randrange(256)
        elif op == 3:
            length = rng.randint(1, 16)
            out[at:at] = out[at : at + length]
        elif op == 4:
            pos = out.find(b"\r\n", at)
            if pos >= 0:
                del out[pos]
        elif op == 5:
            pos = out.find(b"\n", at)
            if pos >= 0 and (pos == 0 or out[pos - 1] != 0x0D):
                out[pos:pos] = b"\r"
        else:
            del out[at:]
    return bytes(out)


def token_soup(rng: random.Random, max_parts: int = 12) -> bytes:
    """HTTP fragments and random bytes, strung together."""
    parts = []
    for _ in range(rng.randint(1, max_parts)):
        if rng.random() < 0.7:
            parts.append(rng.choice(FRAGMENTS))
        else:
            parts.append(rng.randbytes(rng.randint(1, 8)))
    return b"".join(parts)


def cut_points(rng: random.Random, length: int) -> list[int]:
    """Where to split an input of ``length`` bytes: nowhere, a few random
    places, or (for a short input) after every byte."""
    if length < 2:
        return []
    kind = rng.random()
    if kind < 0.15 and length <= 512:
        return list(range(1, length))
    return [rng.randrange(1, length) for _ in range(rng.randint(1, 6))]


# -- corpora --------------------------------------------------------------------


def load_llhttp_cases(path: str | Path) -> list[Case]:
    """The cases of llhttp's test suite (``llhttp_cases.json``; see its
    README for the format and the MIT license), as request or response
    cases without expectations: seeds for :func:`mutate`."""
    cases = []
    for entry in json.loads(Path(path).read_text()):
        side = "response" if entry["type"].startswith("response") else "request"
        data = base64.b64decode(entry["raw_b64"])
        cases.append(Case(side, data, source="llhttp:" + entry["name"]))
    return cases


def seed_cases(rng: random.Random, count: int) -> list[Case]:
    """``count`` valid grammar cases: seeds for :func:`mutate`."""
    grammar = Grammar(rng)
    return [grammar.case() for _ in range(count)]


def pick_methods(rng: random.Random, count: int = 4) -> Sequence[str]:
    return tuple(rng.choice(("GET", "HEAD", "POST")) for _ in range(count))
