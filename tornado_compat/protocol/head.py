"""Message heads: the start line and the header lines of an HTTP/1.x message.

What this module is for: turning the bytes of a complete message head into a
request line ``(method, target, version)`` or a status line ``(version, code,
reason)`` and a list of ``(name, value)`` header fields, strictly, in time
linear in the size of the head.  The grammar (RFC 9110 section 5, RFC 9112
sections 3 to 5) is written down once here, as regex sources that
:mod:`tornado_compat.httputil` also compiles for its ``_ABNF`` names, so the
server, the clients and ``HTTPHeaders.parse`` share one header parser.

The rules, and why they are strict:

* Header names are tokens.  An empty name, or whitespace between the name
  and the colon, is rejected (RFC 9112 section 5.1): a proxy that trims it
  and a server that does not would see different headers.
* Values lose the spaces and tabs around them and nothing else (no-break
  space and NEL are data).  Control characters other than HTAB, and NUL, CR
  or LF inside a value, are rejected.
* obs-fold (a line that starts with a space or tab, continuing the previous
  one) is rejected, as Tornado 6.6 does and as its tests pin.
* Lines end with CRLF.  A head whose every line ends with a bare LF is
  accepted, as Tornado 6.6 does (its tests pin it), unless the caller is
  strict; a head that mixes the two is refused: a front end that splits
  lines at CRLF only and a back end that also splits at LF would see
  different headers.  A bare CR is never a line end.  (Header blocks alone,
  :func:`parse_header_block`, take either line end, as Tornado's
  ``HTTPHeaders.parse`` does.)
* Only HTTP/1.0 and HTTP/1.1 are understood.  Another well-formed
  ``HTTP/x.y`` gets status 505, anything else 400.  Status codes are exactly
  three ASCII digits: no sign, underscore, whitespace or non-ASCII digit,
  which ``int()`` would all accept.

Bytes are decoded as latin-1 (every byte maps to one character, so nothing
is lost and nothing can fail); every ``str`` this module returns holds one
character per byte.

What it must never do: import asyncio, touch a socket or a stream, log, or
use a regex that can backtrack more than linearly.  Every failure is a
:class:`~tornado_compat.protocol.errors.RemoteProtocolError` naming its cause.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tornado_compat.protocol.errors import VERSION_NOT_SUPPORTED, RemoteProtocolError

__all__ = [
    "TCHAR",
    "TOKEN",
    "VCHAR",
    "OBS_TEXT",
    "FIELD_VCHAR",
    "FIELD_CONTENT_CHAR",
    "REQUEST_TARGET",
    "HTTP_VERSION",
    "STATUS_CODE",
    "REASON_PHRASE",
    "SUPPORTED_VERSIONS",
    "iter_header_block",
    "parse_header_block",
    "parse_request_line",
    "parse_status_line",
    "match_request_head",
    "match_response_head",
    "parse_request_head",
    "parse_response_head",
    "request_head_steps",
    "response_head_steps",
    "split_head",
    "skip_line_ends",
    "check_line_ends",
    "find_head_end",
]

# -- the grammar, as regex sources over latin-1 text ---------------------------
# Each is a character class or a small expression with no nested quantifier,
# so matching is linear.  ``httputil._ABNF`` compiles the same sources.

#: tchar (RFC 9110 section 5.6.2): the characters of a token.
TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
#: token: methods and header names.
TOKEN: str = TCHAR + "+"  # annotated: httputil reads it during an import cycle
#: VCHAR: visible US-ASCII.
VCHAR = r"[\x21-\x7e]"
#: obs-text: the bytes above US-ASCII, allowed in values and reason phrases.
OBS_TEXT = r"[\x80-\xff]"
#: field-vchar: what a header value may start and end with.
FIELD_VCHAR = r"[\x21-\x7e\x80-\xff]"
#: What a header value may contain: field-vchar, space and tab.
FIELD_CONTENT_CHAR = r"[\t\x20-\x7e\x80-\xff]"
#: The request target as RFC 9112 section 3.2 delimits it: no whitespace,
#: no control characters.  (Its inner syntax is the application's business.)
REQUEST_TARGET = r"[\x21-\x7e\x80-\xff]+"
#: HTTP-version: exactly one digit on each side of the dot.
HTTP_VERSION = r"HTTP/[0-9]\.[0-9]"
#: status-code: exactly three ASCII digits.
STATUS_CODE = r"[0-9]{3}"
#: reason-phrase: printable characters, space and tab.
REASON_PHRASE = r"[\t\x20-\x7e\x80-\xff]+"

#: The versions this core speaks; another well-formed version gets a 505.
SUPPORTED_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})

_REQUEST_LINE = re.compile(f"({TOKEN}) ({REQUEST_TARGET}) ({HTTP_VERSION})")
# Strict callers accept visible ASCII only in the target (RFC 9112 section
# 3.2 grammar: a URI); by default obs-text is accepted, as Tornado does.
_ASCII_TARGET_SOURCE = r"[\x21-\x7e]+"
_ASCII_TARGET = re.compile(_ASCII_TARGET_SOURCE)
# The reason phrase may be empty, but the space before it may not be missing
# (RFC 9112 section 4; Tornado's tests pin the rejection of "HTTP/1.1 200").
_STATUS_LINE = re.compile(f"({HTTP_VERSION}) ({STATUS_CODE}) ((?:{REASON_PHRASE})?)")
# One header line.  The value group takes the surrounding whitespace too and
# is stripped afterwards: a regex that excluded it would need two adjacent
# quantifiers over spaces, which backtrack quadratically on a bad line.  The
# value class excludes CR and LF, so the line end is found without
# backtracking; the last line of a block may lack its line end.
_HEADER_LINE = re.compile(f"({TOKEN}):({FIELD_CONTENT_CHAR}*)(?:\r?\n|\\Z)")
# A whole well-formed head, start line to empty line: what the one-pass
# parsers accept.  Built from the same sources as the line patterns, so the
# one-pass and the step-by-step paths cannot disagree; each part ends where
# the next begins (names stop at the colon, values exclude CR and LF), so
# matching is linear.
# Every line of a head ends the same way: one pattern per line end, CRLF
# first (the usual head is matched by the first pattern alone).
_REQUEST_LINE_SOURCE = f"({TOKEN}) ({REQUEST_TARGET}) ({HTTP_VERSION})"
_STATUS_LINE_SOURCE = f"({HTTP_VERSION}) ({STATUS_CODE}) ((?:{REASON_PHRASE})?)"


def _head_pattern(start_line: str, eol: str) -> re.Pattern[str]:
    lines = f"((?:{TOKEN}:{FIELD_CONTENT_CHAR}*{eol})*){eol}"
    return re.compile(start_line + eol + lines)


# The CRLF pattern, which checks every request the server reads, takes
# visible ASCII only in the target: a strict caller need not look again,
# and a target with bytes above it (rare: clients percent-encode them) is
# left to the steps, which know whether the caller is strict.
_REQUEST_HEAD = _head_pattern(
    f"({TOKEN}) ({_ASCII_TARGET_SOURCE}) ({HTTP_VERSION})", "\r\n"
)
_RESPONSE_HEAD = _head_pattern(_STATUS_LINE_SOURCE, "\r\n")
# What else the steps accept in one pass when the caller is not strict.
_LENIENT_REQUEST_HEADS = (
    _head_pattern(_REQUEST_LINE_SOURCE, "\r\n"),
    _head_pattern(_REQUEST_LINE_SOURCE, "\n"),
)
_RESPONSE_HEAD_LF = _head_pattern(_STATUS_LINE_SOURCE, "\n")
# What may follow the last header line: empty lines only.
_TRAILING_EMPTY_LINES = re.compile(r"(?:\r?\n)+\Z")
_TOKEN = re.compile(TOKEN)
# A character no header value may contain (CTLs except HTAB; DEL).
_FORBIDDEN_VALUE_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# Errors quote the offending text, but never more than this many characters
# of it: a 64 KiB header line does not belong in a log line.
_QUOTE_LIMIT = 60


def _quote(text: str) -> str:
    if len(text) > _QUOTE_LIMIT:
        return repr(text[:_QUOTE_LIMIT]) + "..."
    return repr(text)


# -- header blocks ---------------------------------------------------------------


def iter_header_block(data: bytes) -> Iterator[tuple[str, str]]:
    """Yield the ``(name, value)`` fields of a header block, in order.

    ``data`` is the header lines of a head, without the start line.  The
    empty line that ends a head may be included or not (more than one is
    tolerated); anything after an empty line is an error.  Names are
    returned as sent (not case-normalized), values without the spaces and
    tabs around them.  Raises :class:`RemoteProtocolError` (400) at the first
    bad line, after yielding the fields before it.

    This is the one header parser; :func:`parse_header_block` is its list
    form, and ``HTTPHeaders.parse`` consumes it directly.
    """
    text = data.decode("latin-1")
    end = len(text)
    pos = 0
    match = _HEADER_LINE.match
    while pos < end:
        m = match(text, pos)
        if m is None:
            if _TRAILING_EMPTY_LINES.match(text, pos):
                return
            raise _header_line_error(text, pos)
        yield m.group(1), m.group(2).strip(" \t")
        pos = m.end()


def parse_header_block(data: bytes) -> list[tuple[str, str]]:
    """The ``(name, value)`` fields of a header block, in order.

    See :func:`iter_header_block` for the rules.

    >>> parse_header_block(b"Host: example.com\\r\\nAccept:  */* \\r\\n\\r\\n")
    [('Host', 'example.com'), ('Accept', '*/*')]
    """
    return list(iter_header_block(data))


def _header_line_error(text: str, pos: int) -> RemoteProtocolError:
    """Say why the line at ``pos`` is not a header line.

    Only called on the error path; it looks at one line, so it is linear too.
    """
    eol = text.find("\n", pos)
    line = text[pos:] if eol == -1 else text[pos:eol]
    if line.endswith("\r"):
        if eol == -1:
            # The block ends in CR: a line end cut in half, or a bare CR.
            return RemoteProtocolError(
                "bare CR at the end of the header block " + _quote(line)
            )
        line = line[:-1]
    if line == "":
        return RemoteProtocolError(
            "header block continues after the empty line that ends it"
        )
    if line[0] in " \t":
        return RemoteProtocolError(
            "header line cannot start with whitespace "
            "(obs-fold line folding is not supported): " + _quote(line)
        )
    name, colon, value = line.partition(":")
    if not colon:
        return RemoteProtocolError("no colon in header line " + _quote(line))
    if not _TOKEN.fullmatch(name):
        if name == "":
            cause = "empty name"
        elif name.rstrip(" \t") != name:
            cause = "whitespace between name and colon"
        else:
            cause = "not a token"
        return RemoteProtocolError(f"Invalid header name {_quote(name)}: {cause}")
    bad = _FORBIDDEN_VALUE_CHAR.search(value)
    if bad is not None:
        char = bad.group()
        if char == "\r":
            cause = "bare CR"
        elif char == "\x00":
            cause = "NUL"
        else:
            cause = "control character %#04x" % ord(char)
        shown = _quote(value.strip(" \t"))
        return RemoteProtocolError(
            f"Invalid header value {shown} for {_quote(name)}: {cause}"
        )
    # Every character of the line is allowed, so nothing is left to blame.
    return RemoteProtocolError("Invalid header line " + _quote(line))


# -- start lines -------------------------------------------------------------------


def parse_request_line(line: bytes, strict: bool = False) -> tuple[str, str, str]:
    """``(method, target, version)`` of a request line (without its CRLF).

    Raises :class:`RemoteProtocolError`: status 505 for a well-formed version
    other than HTTP/1.0 and HTTP/1.1, 400 for anything else that is wrong.
    ``strict`` also refuses bytes above US-ASCII in the target.

    >>> parse_request_line(b"GET /index.html?q=1 HTTP/1.1")
    ('GET', '/index.html?q=1', 'HTTP/1.1')
    """
    text = line.decode("latin-1")
    m = _REQUEST_LINE.fullmatch(text)
    if m is None:
        raise RemoteProtocolError("Malformed HTTP request line " + _quote(text))
    method, target, version = m.groups()
    _check_version(version)
    if strict and _ASCII_TARGET.fullmatch(target) is None:
        raise RemoteProtocolError(
            "Malformed HTTP request line (a byte above US-ASCII in the target): "
            + _quote(text)
        )
    return method, target, version


def parse_status_line(line: bytes) -> tuple[str, int, str]:
    """``(version, code, reason)`` of a status line (without its CRLF).

    The reason is ``""`` when the line has none (it still needs the space
    after the code).  Raises :class:`RemoteProtocolError` as
    :func:`parse_request_line` does.

    >>> parse_status_line(b"HTTP/1.1 404 Not Found")
    ('HTTP/1.1', 404, 'Not Found')
    """
    text = line.decode("latin-1")
    m = _STATUS_LINE.fullmatch(text)
    if m is None:
        raise RemoteProtocolError("Malformed HTTP status line " + _quote(text))
    version, code, reason = m.groups()
    _check_version(version)
    return version, int(code), reason


def _check_version(version: str) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise RemoteProtocolError(
            f"Unsupported HTTP version {version!r}", VERSION_NOT_SUPPORTED
        )


# -- whole heads ---------------------------------------------------------------------


def skip_line_ends(
    data: bytes | bytearray, start: int = 0, strict: bool = False
) -> int:
    """The index of the first byte at or after ``start`` that does not begin
    a line end (CRLF, or unless ``strict`` a bare LF)."""
    while True:
        if data.startswith(b"\r\n", start):
            start += 2
        elif not strict and data.startswith(b"\n", start):
            start += 1
        else:
            return start


def split_head(data: bytes, strict: bool = False) -> tuple[bytes, bytes]:
    """Split a complete head into its start line and its header block.

    The start line comes back without its line end.  The header block keeps
    the line end of each header line but not the empty line that ends the
    head (which ``data`` may include or not).  Empty lines before the start
    line are skipped, as RFC 9112 section 2.2 allows a server to do (with
    ``strict``, CRLF lines only).  Nothing is validated here: pass the parts
    to :func:`parse_request_line` or :func:`parse_status_line` and
    :func:`parse_header_block`, or use :func:`request_head_steps`, which also
    checks the line ends.

    >>> split_head(b"GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
    (b'GET / HTTP/1.1', b'Host: a\\r\\n')
    """
    start = skip_line_ends(data, 0, strict)
    eol = data.find(b"\n", start)
    if eol == -1:
        return data[start:], b""
    line_end = eol - 1 if eol > start and data[eol - 1] == 0x0D else eol
    block = data[eol + 1 :]
    if block in (b"\r\n", b"\n"):
        block = b""
    elif block.endswith(b"\n\r\n"):
        block = block[:-2]
    elif block.endswith(b"\n\n"):
        block = block[:-1]
    return data[start:line_end], block


def check_line_ends(data: bytes | bytearray, strict: bool = False) -> None:
    """Refuse a head whose lines do not all end the same way.

    Every line end of ``data`` (after the empty lines that may come before a
    start line) must be CRLF, or every one a bare LF; with ``strict``, CRLF
    only.  A bare CR is not a line end: the parsers refuse it where it is.

    >>> check_line_ends(b"GET / HTTP/1.1\\nA: b\\n\\n")
    >>> check_line_ends(b"GET / HTTP/1.1\\nA: b\\r\\n\\r\\n")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    tornado_compat.protocol.errors.RemoteProtocolError: head mixes CRLF and ...
    """
    start = skip_line_ends(data, 0, strict)
    crlf = data.count(b"\r\n", start)
    if crlf == data.count(b"\n", start):
        return
    if strict:
        raise RemoteProtocolError("bare LF line end in the head (strict mode)")
    if crlf:
        raise RemoteProtocolError("head mixes CRLF and bare LF line ends")


def find_head_end(
    buf: bytes | bytearray, start: int = 0, end: int | None = None
) -> int:
    """Where the head in ``buf[:end]`` ends (just past its empty line), or -1.

    Lines may end with CRLF or a bare LF (which one is the parsers' to
    judge).  ``start`` is where to begin looking: resume two bytes before
    where an unsuccessful search stopped, so that an end split between two
    reads is found and no byte is scanned more than a few times (the search
    stays linear).

    >>> find_head_end(b"HTTP/1.1 200 OK\\r\\nA: b\\r\\n\\r\\nbody")
    25
    """
    if end is None:
        end = len(buf)
    crlf = buf.find(b"\n\r\n", start, end)
    # An LF LF that ends before the LF CR LF does, overlapping its LF
    # included ("\n\n\r\n"), ends the head first: the bound is one past
    # the CRLF's start, else the answer would depend on how the bytes
    # arrived.
    lf = buf.find(b"\n\n", start, crlf + 1 if crlf >= 0 else end)
    if lf >= 0:
        return lf + 2
    if crlf >= 0:
        return crlf + 3
    return -1


def _fields(block: str) -> list[tuple[str, str]]:
    """The fields of header lines that the one-pass pattern matched."""
    fields = []
    # Each line ends with LF; a CR can only be the one before it.
    for line in block.split("\n")[:-1]:
        name, _, value = line.partition(":")
        fields.append((name, value.strip(" \t\r")))
    return fields


def match_request_head(data: bytes | bytearray) -> tuple[str, str, str, str] | None:
    """``(method, target, version, block)`` of a request head whose lines all
    end with CRLF and that the one-pass check accepts; else None, and
    :func:`request_head_steps` takes the steps (for the precise error, or
    for what only they accept: bare LF line ends, empty lines first, bytes
    above US-ASCII in the target).

    ``block`` is the text of the header lines, each ending with CRLF; a
    line's name is everything before its first colon, and its value the
    rest, without the whitespace around it.  For callers that store the
    fields their own way, in one pass.

    >>> match_request_head(b"GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
    ('GET', '/', 'HTTP/1.1', 'Host: a\\r\\n')
    """
    # Anything the check does not accept (bad input, or a version other
    # than 1.0 and 1.1) gets the steps and their precise error.
    m = _REQUEST_HEAD.fullmatch(data.decode("latin-1"))
    if m is not None:
        method, target, version, block = m.groups()
        if version in SUPPORTED_VERSIONS:
            return method, target, version, block
    return None


def match_response_head(data: bytes | bytearray) -> tuple[str, int, str, str] | None:
    """``(version, code, reason, block)`` of a response head that the
    one-pass check accepts, or None; see :func:`match_request_head`."""
    m = _RESPONSE_HEAD.fullmatch(data.decode("latin-1"))
    if m is not None:
        version, code, reason, block = m.groups()
        if version in SUPPORTED_VERSIONS:
            return version, int(code), reason, block
    return None


def parse_request_head(
    data: bytes | bytearray, strict: bool = False
) -> tuple[str, str, str, list[tuple[str, str]]]:
    """``(method, target, version, fields)`` of a complete request head.

    ``data`` is the head up to and including the empty line that ends it.
    The rules of :func:`check_line_ends`, :func:`split_head`,
    :func:`parse_request_line` and :func:`parse_header_block` applied in
    turn, which is what happens (for the precise error) when the one-pass
    check finds something wrong.  ``strict`` refuses bare LF line ends and
    bytes above US-ASCII in the target.

    >>> parse_request_head(b"GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
    ('GET', '/', 'HTTP/1.1', [('Host', 'a')])
    """
    matched = match_request_head(data)
    if matched is not None:
        method, target, version, lines = matched
        return method, target, version, _fields(lines) if lines else []
    return request_head_steps(data, strict)


def request_head_steps(
    data: bytes | bytearray, strict: bool = False
) -> tuple[str, str, str, list[tuple[str, str]]]:
    """:func:`parse_request_head` without the CRLF one-pass check: for a
    caller whose :func:`match_request_head` found the head not to its
    liking, so that the check does not run twice.  Unless ``strict``, a
    head whose lines all end with a bare LF, or whose target has bytes above
    US-ASCII, is checked in one pass here."""
    if not strict:
        text = data.decode("latin-1")
        for pattern in _LENIENT_REQUEST_HEADS:
            m = pattern.fullmatch(text)
            if m is not None:
                method, target, version, block = m.groups()
                if version in SUPPORTED_VERSIONS:
                    return method, target, version, _fields(block) if block else []
    check_line_ends(data, strict)
    start, block = split_head(bytes(data), strict)
    return (*parse_request_line(start, strict), parse_header_block(block))


def parse_response_head(
    data: bytes | bytearray, strict: bool = False
) -> tuple[str, int, str, list[tuple[str, str]]]:
    """``(version, code, reason, fields)`` of a complete response head; see
    :func:`parse_request_head`.

    >>> parse_response_head(b"HTTP/1.1 204 No Content\\r\\nA: b\\r\\n\\r\\n")
    ('HTTP/1.1', 204, 'No Content', [('A', 'b')])
    """
    matched = match_response_head(data)
    if matched is not None:
        version, code, reason, lines = matched
        return version, code, reason, _fields(lines) if lines else []
    return response_head_steps(data, strict)


def response_head_steps(
    data: bytes | bytearray, strict: bool = False
) -> tuple[str, int, str, list[tuple[str, str]]]:
    """:func:`parse_response_head` without the CRLF one-pass check; see
    :func:`request_head_steps`."""
    if not strict:
        m = _RESPONSE_HEAD_LF.fullmatch(data.decode("latin-1"))
        if m is not None:
            version, code, reason, block = m.groups()
            if version in SUPPORTED_VERSIONS:
                return version, int(code), reason, _fields(block) if block else []
    check_line_ends(data, strict)
    start, block = split_head(bytes(data), strict)
    return (*parse_status_line(start), parse_header_block(block))
