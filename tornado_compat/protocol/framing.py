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
    "MAX_LENGTH_DIGITS",
    "MAX_TRAILER_SIZE",
    "MAX_INTERIM_RESPONSES",
]

NO_BODY, LENGTH, CHUNKED, UNTIL_CLOSE = "no-body", "length", "chunked", "until-close"

#: Longest chunk-size line accepted (size, extensions and CRLF).
MAX_CHUNK_LINE = 4096
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
# chunk-size [ chunk-ext ] CRLF; the size is 1*HEXDIG and nothing else (no
# sign, no underscore, no leading or trailing whitespace before the ';').
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?").fullmatch
# Sixteen hex digits already exceed any length we could buffer.
_MAX_HEX_DIGITS = 16


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


def parse_content_length(values: list[str] | None) -> int | None:
    """The Content-Length of a message, or None when it has none.

    Repeated or comma-separated values are accepted only when they are all
    the same text (RFC 9110 section 8.6, compared as Tornado does); the value
    must be plain decimal digits (no sign, underscore or other whitespace).
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
    version: str, headers: HeaderLookup, max_body_size: int | None = None
) -> Framing:
    """How the body of a request is delimited (RFC 9112 section 6.3).

    A request without Content-Length or Transfer-Encoding has no body.
    ``max_body_size`` refuses an announced length over it, with status 413
    (before any of the body is read).
    """
    lengths = headers.get("Content-Length")
    if not lengths and not headers.get("Transfer-Encoding"):
        return _NO_BODY
    _check_not_both(headers)
    if _is_chunked(headers):
        # HTTP/1.0 requests may be chunked too: Tornado accepts them (and its
        # tests pin keep-alive for them), so we do as well.
        return _CHUNKED
    length = parse_content_length(lengths)
    if length is None:
        return _NO_BODY
    if max_body_size is not None and length > max_body_size:
        raise RemoteProtocolError(
            f"Content-Length {length} exceeds the limit of {max_body_size}",
            status=PAYLOAD_TOO_LARGE,
        )
    return Framing(LENGTH, length)


def response_framing(
    request_method: str | None, status: int, headers: HeaderLookup
) -> Framing:
    """How the body of a response is delimited (RFC 9112 section 6.3).

    Responses to HEAD, informational (1xx), 204 and 304 responses have no
    body whatever their headers say.  Without Content-Length or
    Transfer-Encoding the body runs until the connection closes.
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
    if _is_chunked(headers):
        return _CHUNKED
    length = parse_content_length(headers.get("Content-Length"))
    if length is not None:
        return Framing(LENGTH, length)
    return _UNTIL_CLOSE


def _check_not_both(headers: HeaderLookup) -> None:
    if headers.get("Transfer-Encoding") and headers.get("Content-Length"):
        raise RemoteProtocolError(
            "Message with both Transfer-Encoding and Content-Length"
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
    more, up to :data:`MAX_CHUNK_LINE` / :data:`MAX_TRAILER_SIZE` bytes.
    :attr:`done` becomes true after the last chunk and its trailer.

    Errors (a size that is not plain hex, a chunk not followed by CRLF, an
    over-long line or trailer, a chunk that would take the body past
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
    ) -> None:
        self._state = self._SIZE
        # A chunk announced past this is refused when announced, before any
        # of its data is waited for.
        self._max_body_size = max_body_size
        self._remaining = 0
        self._max_chunk_line = max_chunk_line
        self._max_trailer_size = max_trailer_size
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
                        break
                    size = _parse_chunk_size(bytes(view[pos:eol]))
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

    def _skip_trailer(self, data: bytes | bytearray, pos: int, end: int) -> int:
        """Consume trailer lines up to the empty line; -1 if incomplete."""
        scan = pos
        while True:
            budget = self._max_trailer_size - (scan - pos)
            eol = _find_crlf(data, scan, end, budget, "chunked trailer")
            if eol < 0:
                return -1
            if eol == scan:
                return eol + 2
            line = bytes(data[scan:eol])
            if b":" not in line or line[:1] in (b" ", b"\t") or b"\0" in line:
                raise RemoteProtocolError(f"invalid trailer line: {line[:64]!r}")
            scan = eol + 2


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


def _parse_chunk_size(line: bytes) -> int:
    match = _CHUNK_LINE(line)
    if match is None:
        raise RemoteProtocolError(f"invalid chunk size: {line[:64]!r}")
    digits = match.group(1)
    if len(digits) > _MAX_HEX_DIGITS:
        raise RemoteProtocolError("invalid chunk size: too many digits")
    return int(digits, 16)
