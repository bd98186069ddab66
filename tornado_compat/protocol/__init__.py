"""The HTTP/1.1 protocol core: bytes in, parsed messages out, and back.

Everything that decides what the bytes of an HTTP/1.x message mean lives
here, as plain functions and small classes over bytes: request and status
lines, header blocks, the framing decision (Content-Length, chunked, until
close), chunked decoding, limits, keep-alive, and writing message heads and
chunks.  The server, the simple client and the pipelining connection all use
this one core, so they cannot disagree about where a message ends (a
disagreement between two parsers is how request smuggling happens).

This package must never import asyncio, touch a socket or a stream, or log:
it raises :class:`~tornado_compat.protocol.errors.ProtocolError` and lets the
caller decide what to do.  That keeps every case testable as byte strings,
fed whole or one byte at a time.
"""
