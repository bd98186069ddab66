"""Writing HTTP/1.x message heads and chunks as bytes.

What this module is for: turning a start line and headers into the bytes of a
message head, and body data into chunks, refusing anything that would let a
value escape its line (header injection).

What it must never do: import asyncio, touch a socket, or log.
"""

from __future__ import annotations

from collections.abc import Iterable

from tornado_compat.protocol.errors import LocalProtocolError

__all__ = ["format_head", "join_head", "format_chunk", "LAST_CHUNK"]

#: The last chunk of a chunked body, with an empty trailer.
LAST_CHUNK = b"0\r\n\r\n"


def format_head(start_line: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """The bytes of a message head: start line, header lines, empty line.

    Raises :class:`LocalProtocolError` (a ``ValueError``) if the start line,
    a name or a value contains CR or LF, which would let the text become
    another header or another message.
    """
    lines = [start_line]
    for name, value in headers:
        lines.append(f"{name}: {value}")
    return join_head(lines)


def join_head(lines: list[str]) -> bytes:
    """The bytes of a message head from its lines (the start line, then one
    ``"Name: value"`` per header), checked as :func:`format_head` says."""
    # Two membership tests per line cost less than a count over the whole
    # text for the heads most messages have (under ten lines).
    for line in lines:
        if "\r" in line or "\n" in line:
            raise LocalProtocolError(
                "Illegal characters (CR or LF) in header: %r" % line
            )
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError as e:
        raise LocalProtocolError(f"header text is not latin-1: {e}") from None


def format_chunk(data: bytes | bytearray | memoryview) -> bytes:
    """One chunk of a chunked body; empty data gives ``b""`` (an empty chunk
    would end the body)."""
    size = len(data)
    if not size:
        return b""
    return b"%x\r\n%s\r\n" % (size, bytes(data))
