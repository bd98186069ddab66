"""Where an HTTP/1.x message body ends: framing decisions and body decoders.

What this module is for: deciding, from a message's start line and headers,
how its body is delimited (RFC 9112 section 6): no body, a Content-Length, the
chunked coding, or until the connection closes; decoding a chunked body
incrementally from a buffer; and the keep-alive decision.

The rules are strict where leniency lets two parsers disagree about where a
message ends (request smuggling): Content-Length together with
Transfer-Encoding, differing Content-Length values, any Transfer-Encoding
other than a single final ``chunked``, and chunk sizes or lengths that are not
plain digits are all rejected.

What it must never do: import asyncio, touch a socket, or log.  Everything is
a function of its arguments, so every case can be tested on byte strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from tornado_compat.protocol.errors import PAYLOAD_TOO_LARGE, RemoteProtocolError
from tornado_compat.protocol.head import FIELD_CONTENT_CHAR, TCHAR, TOKEN

__all__ = [
    "NO_BODY",
    "LENGTH",
    "CHUNKED",
    "UNTIL_CLOSE",
    "Framing",
    "HeaderLookup",
    "parse_content_length",
    "request_framing",
    "response_framing",
    "keep_alive",
    "ChunkedDecoder",
    "MAX_CHUNK_LINE",
    "MAX_CHUNK_EXTENSIONS",
    "MAX_LENGTH_DIGITS",
    "MAX_TRAILER_SIZE",
    "MAX_INTERIM_RESPONSES",
]

NO_BODY, LENGTH, CHUNKED, UNTIL_CLOSE = "no-body", "length", "chunked", "until-close"

#: Longest chunk line accepted: size, extensions and CRLF.
MAX_CHUNK_LINE = 4096
#: Bytes of chunk extensions a chunked body may carry beyond the size of its
#: data.  Extensions are meant to be small and rare; without this a peer
#: could send endless extensions around one-byte chunks, costing parsing
#: and bandwidth that no body limit counts.
MAX_CHUNK_EXTENSIONS = 16384
#: Largest trailer section accepted after the last chunk.
MAX_TRAILER_SIZE = 16384
#: Most significant digits in a Content-Length: 10**18 bytes is beyond any
#: body, and ``int()`` of an unbounded digit string is slow (and raises
#: past 4300 digits).
MAX_LENGTH_DIGITS = 18
#: Informational (1xx) responses a client accepts before the final one; a
#: peer that answers with them forever gets an error instead.
MAX_INTERIM_RESPONSES = 10

_DIGITS_STR = re.compile(r"[0-9]+").fullmatch
# Sixteen hex digits (leading zeros aside) already exceed any length we could
# buffer; the digits are counted before int() sees them.
_MAX_HEX_DIGITS = 16

# -- the chunk line (RFC 9112 section 7.1.1) ------------------------------------
#
#   chunk-line = chunk-size [ chunk-ext ] CRLF
#   chunk-size = 1*HEXDIG
#   chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
#   chunk-ext-name = token ; chunk-ext-val = token / quoted-string
#
# BWS (spaces and tabs) is accepted where the grammar puts it, as RFC 9110
# section 5.6.3 tells a recipient to; strict decoders refuse it.  Nothing
# else is: whitespace after a size with no extension, an empty name or
# value, an unclosed quote, a control character anywhere.  A complete line
# is matched by a regex; a line still arriving is checked as it comes by an
# automaton of the same grammar (below), so that a line already wrong is
# refused at once, not after its end arrives.

_TCHAR_BYTES = TCHAR.encode("ascii")
_TOKEN_BYTES = TOKEN.encode("ascii")
# qdtext and quoted-pair (RFC 9110 section 5.6.4).
_QUOTED = rb'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"'
_VALUE = b"(?:" + _TOKEN_BYTES + b"|" + _QUOTED + b")"


def _chunk_line_regex(bws: bytes) -> re.Pattern[bytes]:
    extension = _TOKEN_BYTES + b"(?:" + bws + b"=" + bws + _VALUE + b")?"
    extensions = b"(?:" + bws + b";" + bws + extension + b")*"
    return re.compile(b"([0-9A-Fa-f]+)" + extensions)


# Names, values and quoted strings are each delimited by a byte the one
# before cannot contain, so matching is linear (tests/protocol checks it).
_CHUNK_LINE = _chunk_line_regex(b"[ \t]*").fullmatch
_STRICT_CHUNK_LINE = _chunk_line_regex(b"").fullmatch

# A trailer line is a header field line (RFC 9112 section 7.1.2).
_TRAILER_LINE = re.compile(
    (TOKEN + ":" + FIELD_CONTENT_CHAR + "*").encode("latin-1")
).fullmatch

# The automaton's states.  Which ones a line may end in: after the size, a
# name, a token value or a closing quote.
_START = 0  # nothing yet
_SIZE = 1  # in the size
_SIZE_BWS = 2  # whitespace after the size: only ';' may follow
_SEMI = 3  # after ';': a name must follow
_NAME = 4
_NAME_BWS = 5  # whitespace after a name: '=' or ';' may follow
_EQUALS = 6  # after '=': a value must follow
_VALUE_TOKEN = 7
_VALUE_BWS = 8  # whitespace after a value: only ';' may follow
_QUOTE = 9  # inside a quoted value
_ESCAPE = 10  # after a backslash inside a quoted value
_CLOSED = 11  # after the closing quote
_BAD = 255
_ENDS = frozenset({_SIZE, _NAME, _VALUE_TOKEN, _CLOSED})


def _chunk_line_table(bws: bool) -> tuple[bytes, ...]:
    """The automaton's transitions: ``table[state][byte]`` is the next state."""
    hexdigits = set(b"0123456789ABCDEFabcdef")
    tchars = {b for b in range(256) if re.fullmatch(_TCHAR_BYTES, bytes([b]))}
    qdtext = {9, 32, 33, *range(0x23, 0x5C), *range(0x5D, 0x7F), *range(0x80, 0x100)}
    escaped = {9, *range(0x20, 0x7F), *range(0x80, 0x100)}
    spaces = {9, 32} if bws else set()
    semi, equals, quote, backslash = 59, 61, 34, 92
    moves: dict[int, dict[int, int]] = {state: {} for state in range(12)}

    def add(state: int, chars: set[int] | int, to: int) -> None:
        for char in [chars] if isinstance(chars, int) else chars:
            moves[state][char] = to

    add(_START, hexdigits, _SIZE)
    add(_SIZE, hexdigits, _SIZE)
    for state in (_SIZE, _SIZE_BWS, _NAME, _NAME_BWS, _VALUE_TOKEN, _VALUE_BWS):
        add(state, semi, _SEMI)
    add(_CLOSED, semi, _SEMI)
    add(_SIZE, spaces, _SIZE_BWS)
    add(_SIZE_BWS, spaces, _SIZE_BWS)
    add(_SEMI, spaces, _SEMI)
    add(_SEMI, tchars, _NAME)
    add(_NAME, tchars, _NAME)
    add(_NAME, spaces, _NAME_BWS)
    add(_NAME_BWS, spaces, _NAME_BWS)
    add(_NAME, equals, _EQUALS)
    add(_NAME_BWS, equals, _EQUALS)
    add(_EQUALS, spaces, _EQUALS)
    add(_EQUALS, tchars, _VALUE_TOKEN)
    add(_EQUALS, quote, _QUOTE)
    add(_VALUE_TOKEN, tchars, _VALUE_TOKEN)
    add(_VALUE_TOKEN, spaces, _VALUE_BWS)
    add(_VALUE_BWS, spaces, _VALUE_BWS)
    add(_CLOSED, spaces, _VALUE_BWS)
    add(_QUOTE, qdtext, _QUOTE)
    add(_QUOTE, backslash, _ESCAPE)
    add(_QUOTE, quote, _CLOSED)
    add(_ESCAPE, escaped, _QUOTE)
    return tuple(
        bytes(moves[state].get(char, _BAD) for char in range(256))
        for state in range(12)
    )


_CHUNK_LINE_TABLE = _chunk_line_table(bws=True)
_STRICT_CHUNK_LINE_TABLE = _chunk_line_table(bws=False)


class HeaderLookup(Protocol):
    """What the framing rules need of a message's headers: the values of a
    field, looked up by its name in ``Http-Header-Case`` (``Content-Length``,
    ``Transfer-Encoding``, ``Connection``), or None when it has none.

    The dict ``HTTPHeaders`` keeps its values in is one: a plain lookup,
    with no call into Python for each of the few fields every message needs.
    """

    def get(self, name: str, /) -> list[str] | None: ...


@dataclass(frozen=True)
class Framing:
    """How a body is delimited: ``kind`` is one of the module constants and
    ``length`` is the Content-Length when ``kind`` is ``LENGTH``."""

    kind: str
    length: int = 0


_NO_BODY = Framing(NO_BODY)
#: A framing that does not rule keep-alive out, for asking :func:`keep_alive`
#: about the headers alone.
KEEP_ALIVE_CANDIDATE = Framing(LENGTH)
_CHUNKED = Framing(CHUNKED)
_UNTIL_CLOSE = Framing(UNTIL_CLOSE)


_LIST_SEPARATOR = re.compile(r",[ \t]*")


def parse_content_length(values: list[str] | None, strict: bool = False) -> int | None:
    """The Content-Length of a message, or None when it has none.

    Repeated or comma-separated values are accepted only when they are all
    the same text (RFC 9110 section 8.6, compared as Tornado does), and with
    ``strict`` not at all; the value must be plain decimal digits (no sign,
    underscore or other whitespace).
    More than :data:`MAX_LENGTH_DIGITS` digits (leading zeros aside) is
    refused with status 413: no body that long can be read, and the digits
    are counted before ``int()`` sees them.
    """
    if not values:
        return None
    if len(values) == 1:
        value = values[0]
        if len(value) <= MAX_LENGTH_DIGITS and value.isdigit() and value.isascii():
            return int(value)
    joined = ",".join(values)
    pieces = _LIST_SEPARATOR.split(joined)
    first = pieces[0]
    if any(piece != first for piece in pieces):
        raise RemoteProtocolError(f"Multiple unequal Content-Lengths: {_cut(joined)!r}")
    if not _DIGITS_STR(first):
        raise RemoteProtocolError(
            f"Only integer Content-Length is allowed: {_cut(joined)}"
        )
    if strict and len(pieces) > 1:
        raise RemoteProtocolError(
            f"Repeated Content-Length (strict mode): {_cut(joined)!r}"
        )
    digits = first.lstrip("0") or "0"
    if len(digits) > MAX_LENGTH_DIGITS:
        raise RemoteProtocolError(
            f"Content-Length of {len(digits)} digits is too large",
            status=PAYLOAD_TOO_LARGE,
        )
    return int(digits)


def _cut(text: str) -> str:
    """``text``, cut short: a peer's text quoted in an error stays short."""
    return text if len(text) <= 60 else text[:60] + "..."


def _is_chunked(headers: HeaderLookup) -> bool:
    """Whether the message uses Transfer-Encoding; only ``chunked`` alone is
    supported, anything else is refused."""
    values = headers.get("Transfer-Encoding")
    if not values:
        return False
    if len(values) != 1 or values[0].lower() != "chunked":
        # Other codings (gzip, chunked twice, chunked not last) are how
        # front ends and back ends come to disagree about a body's end.
        raise RemoteProtocolError("Unsupported Transfer-Encoding " + ",".join(values))
    return True


def request_framing(
    version: str,
    headers: HeaderLookup,
    max_body_size: int | None = None,
    strict: bool = False,
) -> Framing:
    """How the body of a request is delimited (RFC 9112 section 6.3).

    A request without Content-Length or Transfer-Encoding has no body.
    ``max_body_size`` refuses an announced length over it, with status 413
    (before any of the body is read).  ``strict`` refuses a repeated
    Content-Length and Transfer-Encoding in an HTTP/1.0 request.
    """
    lengths = headers.get("Content-Length")
    if not lengths and not headers.get("Transfer-Encoding"):
        return _NO_BODY
    _check_not_both(headers)
    if strict:
        _check_not_http10_coded(version, headers)
    if _is_chunked(headers):
        # HTTP/1.0 requests may be chunked too: Tornado accepts them (and its
        # tests pin keep-alive for them), so we do as well unless strict.
        return _CHUNKED
    length = parse_content_length(lengths, strict)
    if length is None:
        return _NO_BODY
    if max_body_size is not None and length > max_body_size:
        raise RemoteProtocolError(
            f"Content-Length {length} exceeds the limit of {max_body_size}",
            status=PAYLOAD_TOO_LARGE,
        )
    return Framing(LENGTH, length)


def response_framing(
    request_method: str | None,
    status: int,
    headers: HeaderLookup,
    strict: bool = False,
    version: str = "HTTP/1.1",
) -> Framing:
    """How the body of a response is delimited (RFC 9112 section 6.3).

    A response to HEAD, and a 1xx, 204 or 304 response, carries no body,
    whatever its headers say.  Without Content-Length or
    Transfer-Encoding the body runs until the connection closes.
    ``strict`` refuses a repeated Content-Length, and Transfer-Encoding in
    an HTTP/1.0 response (``version``).
    """
    if request_method == "HEAD" or status == 304:
        return _NO_BODY
    if 100 <= status < 200 or status == 204:
        if headers.get("Transfer-Encoding") or (
            parse_content_length(headers.get("Content-Length")) or 0
        ):
            raise RemoteProtocolError(
                "Response with code %d should not have body" % status
            )
        return _NO_BODY
    _check_not_both(headers)
    if strict:
        _check_not_http10_coded(version, headers)
    if _is_chunked(headers):
        return _CHUNKED
    length = parse_content_length(headers.get("Content-Length"), strict)
    if length is not None:
        return Framing(LENGTH, length)
    return _UNTIL_CLOSE


def _check_not_both(headers: HeaderLookup) -> None:
    if headers.get("Transfer-Encoding") and headers.get("Content-Length"):
        raise RemoteProtocolError(
            "Message with both Transfer-Encoding and Content-Length"
        )


def _check_not_http10_coded(version: str, headers: HeaderLookup) -> None:
    # RFC 9112 section 6.1: an HTTP/1.0 recipient may not know the coding,
    # so a message that uses one must be treated as faulty.
    if version != "HTTP/1.1" and headers.get("Transfer-Encoding"):
        raise RemoteProtocolError(
            f"Transfer-Encoding in an {version} message (strict mode)"
        )


def keep_alive(version: str, headers: HeaderLookup, framing: Framing) -> bool:
    """Whether the connection may carry another message after this one.

    HTTP/1.1 keeps the connection unless ``Connection: close``; HTTP/1.0 only
    with ``Connection: keep-alive``, and never when the body runs until close.
    """
    if framing.kind == UNTIL_CLOSE:
        return False
    values = headers.get("Connection")
    if not values:
        return version == "HTTP/1.1"
    tokens = {t.strip(" \t").lower() for value in values for t in value.split(",")}
    if version == "HTTP/1.1":
        return "close" not in tokens
    return "keep-alive" in tokens


class ChunkedDecoder:
    """Decodes a chunked body incrementally from a buffer.

    Call :meth:`decode` with the bytes available; it returns the body pieces
    decoded from them and how many bytes it consumed.  Bytes after the end of
    the body (the next pipelined message) are never consumed.  When a chunk
    line or the trailer is incomplete it consumes nothing of it and waits for
    more, up to :data:`MAX_CHUNK_LINE` / :data:`MAX_TRAILER_SIZE` bytes; the
    next call must pass the same bytes again, with whatever followed them.
    :attr:`done` becomes true after the last chunk and its trailer.

    Chunk lines follow RFC 9112 section 7.1.1 exactly (see the grammar
    above); ``strict`` also refuses the optional whitespace (BWS) around
    ``;`` and ``=``.  A line that cannot become valid is refused as soon as
    its bad byte arrives.  Trailer lines are header field lines.  Every line
    ends with CRLF: a bare LF or CR is refused wherever it is.

    Errors (a malformed chunk line, a chunk not followed by CRLF, an
    over-long line or trailer, extensions over :data:`MAX_CHUNK_EXTENSIONS`
    beyond the data, a chunk that would take the body past
    ``max_body_size``) raise :class:`RemoteProtocolError`; after one, the
    decoder must not be used again.
    """

    # States: reading a size line, reading chunk data, expecting the CRLF
    # after chunk data, reading the trailer section.  (One per line: mypyc
    # compiles no unpacking in a class body.)
    _SIZE = 0
    _DATA = 1
    _DATA_END = 2
    _TRAILER = 3

    def __init__(
        self,
        max_chunk_line: int = MAX_CHUNK_LINE,
        max_trailer_size: int = MAX_TRAILER_SIZE,
        max_body_size: int | None = None,
        strict: bool = False,
    ) -> None:
        self._state = self._SIZE
        # A chunk announced past this is refused when announced, before any
        # of its data is waited for.
        self._max_body_size = max_body_size
        self._remaining = 0
        self._max_chunk_line = max_chunk_line
        self._max_trailer_size = max_trailer_size
        self._strict = strict
        # Bytes of extensions so far, and how much of a chunk line still
        # arriving has been checked (and in which state it left the check).
        self._extensions = 0
        self._line_checked = 0
        self._line_state = _START
        # How much of the trailer section has been checked, in whole lines,
        # by calls that then waited for its end.
        self._trailer_checked = 0
        self.done = False
        #: Decoded body bytes so far.
        self.body_size = 0
        #: Whether the last :meth:`decode` stopped for want of input (as
        #: opposed to finishing or reaching ``max_chunks``).
        self.wants_data = True

    def decode(
        self,
        data: bytes | bytearray,
        start: int = 0,
        max_chunks: int | None = None,
        end: int | None = None,
    ) -> tuple[list[bytes], int]:
        """Decode from ``data[start:end]``; return (body pieces, bytes consumed).

        ``max_chunks`` stops after that many chunk-size lines, so that a
        caller can let other work run between batches of tiny chunks.  ``end``
        (default: the length of ``data``) lets a caller with a fixed-size
        buffer say where its valid bytes stop.
        """
        view = memoryview(data)
        pos = start
        if end is None:
            end = len(view)
        pieces: list[bytes] = []
        lines = 0
        self.wants_data = True
        try:
            while pos < end and not self.done:
                if max_chunks is not None and lines >= max_chunks:
                    self.wants_data = False
                    break
                state = self._state
                if state == self._DATA:
                    n = min(self._remaining, end - pos)
                    pieces.append(view[pos : pos + n].tobytes())
                    pos += n
                    self._remaining -= n
                    self.body_size += n
                    if not self._remaining:
                        self._state = self._DATA_END
                elif state == self._DATA_END:
                    if end - pos < 2:
                        if data[pos] != 0x0D:
                            raise RemoteProtocolError("improperly terminated chunk")
                        break
                    if data[pos : pos + 2] != b"\r\n":
                        raise RemoteProtocolError("improperly terminated chunk")
                    pos += 2
                    self._state = self._SIZE
                elif state == self._SIZE:
                    eol = _find_crlf(data, pos, end, self._max_chunk_line, "chunk line")
                    if eol < 0:
                        self._check_partial_line(data, pos, end)
                        break
                    size = self._parse_chunk_line(bytes(view[pos:eol]))
                    limit = self._max_body_size
                    if limit is not None and self.body_size + size > limit:
                        raise RemoteProtocolError(
                            "chunked body too large", status=PAYLOAD_TOO_LARGE
                        )
                    pos = eol + 2
                    lines += 1
                    if size:
                        self._remaining = size
                        self._state = self._DATA
                    else:
                        self._state = self._TRAILER
                else:
                    consumed = self._skip_trailer(data, pos, end)
                    if consumed < 0:
                        break
                    pos = consumed
                    self.done = True
                    self.wants_data = False
        finally:
            view.release()
        return pieces, pos - start

    def _parse_chunk_line(self, line: bytes) -> int:
        """The size a complete chunk line (without its CRLF) announces."""
        self._line_checked = 0
        self._line_state = _START
        match = (_STRICT_CHUNK_LINE if self._strict else _CHUNK_LINE)(line)
        if match is None:
            raise _chunk_line_error(line, self._strict)
        digits = match.group(1)
        size_end = match.end(1)
        if size_end < len(line):
            self._extensions += len(line) - size_end
            if self._extensions > self.body_size + MAX_CHUNK_EXTENSIONS:
                raise RemoteProtocolError(
                    "chunk extensions exceed the data by more than "
                    f"{MAX_CHUNK_EXTENSIONS} bytes"
                )
        if len(digits) > _MAX_HEX_DIGITS:
            digits = digits.lstrip(b"0")
            if len(digits) > _MAX_HEX_DIGITS:
                raise RemoteProtocolError("invalid chunk size: too many digits")
        return int(digits, 16) if digits else 0

    def _check_partial_line(self, data: bytes | bytearray, pos: int, end: int) -> None:
        """Refuse the chunk line at ``pos``, whose end has not arrived, if
        what has arrived cannot begin a valid one.  Each byte is checked
        once, however the line arrives."""
        if data[end - 1] == 0x0D:
            end -= 1  # perhaps the first half of the CRLF
        checked = pos + self._line_checked
        if checked >= end:
            return
        table = _STRICT_CHUNK_LINE_TABLE if self._strict else _CHUNK_LINE_TABLE
        state = self._line_state
        for i in range(checked, end):
            state = table[state][data[i]]
            if state == _BAD:
                raise _chunk_line_error(bytes(data[pos : i + 1]), self._strict)
        self._line_state = state
        self._line_checked = end - pos

    def _skip_trailer(self, data: bytes | bytearray, pos: int, end: int) -> int:
        """Consume trailer lines up to the empty line; -1 if incomplete.

        The lines an earlier call checked are not checked again (that call
        consumed nothing, so they start at ``pos`` again): a trailer that
        arrives a byte at a time costs linear time, not quadratic."""
        scan = pos + self._trailer_checked
        while True:
            budget = self._max_trailer_size - (scan - pos)
            eol = _find_crlf(data, scan, end, budget, "chunked trailer")
            if eol < 0:
                self._trailer_checked = scan - pos
                return -1
            if eol == scan:
                return eol + 2
            line = bytes(data[scan:eol])
            if _TRAILER_LINE(line) is None:
                raise RemoteProtocolError(f"invalid trailer line: {line[:64]!r}")
            scan = eol + 2


def _chunk_line_error(line: bytes, strict: bool) -> RemoteProtocolError:
    """Say what is wrong with a chunk line (complete, or the part of it that
    has arrived, ending with the byte found wrong).  Only on the error path.

    The line is quoted up to its wrong byte, so the message is the same
    whether the line was refused whole or as it arrived."""
    table = _STRICT_CHUNK_LINE_TABLE if strict else _CHUNK_LINE_TABLE
    state = _START
    for i, char in enumerate(line):
        next_state = table[state][char]
        if next_state == _BAD:
            if strict and _CHUNK_LINE_TABLE[state][char] != _BAD:
                cause = "whitespace at %d, refused in strict mode" % i
            else:
                cause = "unexpected %r at %d" % (bytes([char]), i)
            return _line_error(line[: i + 1], state, cause)
        state = next_state
    if state in _ENDS:
        # Valid as far as the grammar goes; not what the regex matched.
        return RemoteProtocolError(f"invalid chunk line: {line[:64]!r}")
    if state == _SIZE_BWS:
        cause = "whitespace after the size"
    elif state == _SEMI:
        cause = "empty extension name"
    elif state == _EQUALS:
        cause = "empty extension value"
    elif state == _QUOTE or state == _ESCAPE:
        cause = "unclosed quoted string"
    elif state == _START:
        cause = "no size"
    else:
        cause = "whitespace at the end"
    return _line_error(line, state, cause)


def _line_error(line: bytes, state: int, cause: str) -> RemoteProtocolError:
    what = "chunk size" if state <= _SIZE_BWS else "chunk extension"
    return RemoteProtocolError(f"invalid {what} ({cause}): {line[:64]!r}")


def _find_crlf(
    data: bytes | bytearray, pos: int, end: int, limit: int, what: str
) -> int:
    """Index of the CRLF ending the line at ``pos``, -1 if not there yet.

    A line longer than ``limit`` is an error rather than something to wait
    for, and so is a bare LF or CR inside it.
    """
    stop = min(end, pos + max(limit, 0) + 2)
    eol = data.find(b"\n", pos, stop)
    if eol < 0:
        if stop - pos >= limit + 2 or end - pos > limit + 1:
            raise RemoteProtocolError(f"{what} too long")
        return -1
    if eol == pos or data[eol - 1] != 0x0D:
        raise RemoteProtocolError(f"{what} not terminated by CRLF")
    if data.find(b"\r", pos, eol - 1) >= 0:
        raise RemoteProtocolError(f"bare CR in {what}")
    return eol - 1
