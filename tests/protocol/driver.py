"""A socket-free driver of the protocol core: bytes in, messages out.

What this module is for: feeding bytes, whole or in any pieces, through the
protocol core exactly as :mod:`tornado_compat.http1connection` does over a
stream, so that a fuzz test (``tests/protocol/test_fuzz.py``) and the long
fuzz run (``benchmarks/fuzz.py``) can check every input in microseconds and
without an event loop.  :class:`RequestReader` is the server side
(``HTTP1ServerConnection._serve``, ``HTTP1Connection._read_request`` and
``_read_message``); :class:`ResponseReader` is the client side of
``HTTP1Connection._read_message``.  Each step names the method of the
connection it stands for; the calls into the core, their arguments and their
order are the connection's.  Where the connection waits on the stream
(``_wait_for_bytes``, ``read_bytes``), the reader's generator yields and
:meth:`_Reader.feed` resumes it.

The result of a run is an :class:`Outcome`: the messages read (start line,
headers as the application sees them, body), and how reading ended (the
input ran out between messages, in the middle of one, the connection was to
be closed after a message, or the peer's bytes were refused with one of the
documented errors, :data:`DOCUMENTED_ERRORS`).  Any other exception escapes,
and so does :class:`Spin` when the reader makes no progress: both are bugs.

What it must never do: parse HTTP itself (every decision is the core's, or
it would test itself), touch a socket or an event loop, or hide an exception
that is not one of the documented errors.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass, field

from tornado_compat import httputil, iostream
from tornado_compat.http1connection import _skip_empty_lines
from tornado_compat.protocol import framing as _framing
from tornado_compat.protocol import head as _head
from tornado_compat.protocol.errors import ProtocolError, RemoteProtocolError

#: What the core and the connection raise for a peer's bad bytes: a protocol
#: error (answered with its status), an ``HTTPInputError`` (from the request
#: object: a bad Host, query or form body; answered with 400), or, for a head
#: over ``max_header_size``, the stream's ``UnsatisfiableReadError`` (the
#: connection is closed, as in Tornado).
DOCUMENTED_ERRORS: tuple[type[Exception], ...] = (
    ProtocolError,
    httputil.HTTPInputError,
    iostream.UnsatisfiableReadError,
)

# How reading ended.
#: The input ran out between two messages (or before any).
EOF = "eof"
#: The input ran out inside a message (head or body).
INCOMPLETE = "incomplete"
#: A message said the connection ends after it; the rest is not read.
CLOSED = "closed"
#: The bytes were refused with one of :data:`DOCUMENTED_ERRORS`.
ERROR = "error"

# The connection's defaults (HTTP1ConnectionParameters, IOStream).
DEFAULT_MAX_HEADER_SIZE = 65536
DEFAULT_CHUNK_SIZE = 65536
DEFAULT_MAX_BODY_SIZE = 104857600
# As http1connection._CHUNKS_PER_TURN.
CHUNKS_PER_TURN = 64
_LINE_END_BYTES = (0x0D, 0x0A)


class Spin(AssertionError):
    """The reader took more steps than its input can justify: a loop that
    makes no progress (each step must consume input or wait for more)."""


@dataclass(frozen=True)
class Message:
    """One message as the application sees it.

    ``start_line`` is ``(method, target, version)`` for a request and
    ``(version, code, reason)`` for a response; ``headers`` are
    ``HTTPHeaders.get_all()``; an informational (1xx) response is a message
    of its own, with no body.
    """

    start_line: tuple[str, str, str] | tuple[str, int, str]
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""


@dataclass
class Outcome:
    """What reading a connection's bytes gave."""

    messages: list[Message] = field(default_factory=list)
    #: One of EOF, INCOMPLETE, CLOSED, ERROR.
    end: str = EOF
    #: The documented error, when ``end`` is ERROR.
    error: Exception | None = None
    #: Bytes left unread (after CLOSED or ERROR, or an incomplete message).
    unread: int = 0
    #: Steps the reader took (see :class:`Spin`).
    steps: int = 0

    def verdict(self) -> tuple[object, ...]:
        """What must not depend on how the input was split: the messages,
        how reading ended, and the error's class and status.  Not its text,
        which may quote only what had arrived when the error was found (a
        bad byte found as it arrives, or in the whole line)."""
        error = self.error
        return (
            tuple(self.messages),
            self.end,
            None if error is None else type(error).__name__,
            getattr(error, "status", None),
        )


class _StreamClosed(Exception):
    """The input ended while the reader needed more of it."""


# The reader's program: a generator that yields when it waits for bytes.
_Program = Generator[None, None, None]


class _Reader:
    """What both sides share: the buffer, the waiting, the step bound, and
    taking a head from the buffer (``HTTP1Connection._take_head``)."""

    #: Steps allowed per byte fed and per feed, and in all (see :meth:`_tick`).
    STEPS_PER_BYTE = 2
    STEPS_PER_FEED = 4
    STEPS_BASE = 32

    def __init__(
        self,
        *,
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        precise_status: bool = False,
    ) -> None:
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.chunk_size = chunk_size
        self.precise_status = precise_status
        self.buf = bytearray()
        self.outcome = Outcome()
        self._eof = False
        self._fed = 0
        self._feeds = 0
        self._done = False
        self._program = self._run()
        self._resume()

    # -- feeding ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """More bytes from the peer."""
        if self._done or not data:
            return
        self.buf += data
        self._fed += len(data)
        self._feeds += 1
        self._resume()

    def feed_eof(self) -> Outcome:
        """The peer closed; returns the outcome."""
        if not self._done:
            self._eof = True
            self._feeds += 1
            self._resume()
        if not self._done:
            raise Spin("the reader still waits for bytes after the end of input")
        return self.outcome

    def _resume(self) -> None:
        try:
            next(self._program)
        except StopIteration:
            self._finish()
        except _StreamClosed:
            self.outcome.end = INCOMPLETE
            self._finish()
        except DOCUMENTED_ERRORS as e:
            self.outcome.end = ERROR
            self.outcome.error = e
            self._finish()

    def _finish(self) -> None:
        self._done = True
        self.outcome.unread = len(self.buf)

    def _tick(self) -> None:
        """Count a step; each must consume input or wait for more, so their
        number is bounded by the input fed and the number of feeds."""
        self.outcome.steps += 1
        bound = (
            self.STEPS_BASE
            + self.STEPS_PER_BYTE * self._fed
            + self.STEPS_PER_FEED * self._feeds
        )
        if self.outcome.steps > bound:
            raise Spin(
                f"{self.outcome.steps} steps for {self._fed} bytes in "
                f"{self._feeds} feeds; {len(self.buf)} bytes buffered"
            )

    def _wait_for_bytes(self, n: int) -> Generator[None, None, None]:
        """``IOStream._wait_for_bytes(n)``: until ``n`` bytes are buffered."""
        while len(self.buf) < n:
            if self._eof:
                raise _StreamClosed()
            yield

    # -- heads -----------------------------------------------------------------

    def _next_message_begins(self) -> Generator[None, None, bool]:
        """Wait, skipping empty lines, until a message's first byte is in
        (True) or the input has ended cleanly between messages (False).

        As the connection does: a CR alone may be half of one more empty
        line, so it begins nothing until the byte after it is in; if the
        input ends there, it ended inside an unfinished line."""
        while True:
            self._tick()
            buf = self.buf
            if buf and buf[0] in _LINE_END_BYTES:
                self._skip_empty_lines()
            if buf and buf != b"\r":
                return True
            if self._eof:
                if buf:
                    raise _StreamClosed()
                self.outcome.end = EOF
                return False
            yield

    def _skip_empty_lines(self) -> None:
        # The connection's own function, not a copy: what counts as an empty
        # line before a message (a lone CR does not) must not drift.
        _skip_empty_lines(self.buf, False)

    def _take_head(self, scan: int) -> tuple[object, httputil.HTTPHeaders] | None:
        """``HTTP1Connection._take_head``."""
        buf = self.buf
        if scan == 0 and buf and buf[0] in _LINE_END_BYTES:
            self._skip_empty_lines()
        limit = self.max_header_size
        end = _head.find_head_end(buf, scan)
        if end >= 0:
            if end > limit:
                raise self._head_too_large()
            data = bytes(buf[:end])
            del buf[:end]
            return self._parse_head(data)
        if len(buf) > limit:
            raise self._head_too_large()
        return None

    def _head_too_large(self) -> Exception:
        """``HTTP1Connection._head_too_large``."""
        limit = self.max_header_size
        if not self.precise_status or isinstance(self, ResponseReader):
            return iostream.UnsatisfiableReadError(f"head over {limit} bytes")
        if self.buf.find(b"\n", 0, limit) < 0:
            return RemoteProtocolError("request line too long", status=414)
        return RemoteProtocolError("headers too large", status=431)

    def _read_head(
        self, tried: bool = False
    ) -> Generator[None, None, tuple[object, httputil.HTTPHeaders]]:
        """``HTTP1Connection._read_head``: the search resumes two bytes
        before where it stopped."""
        scan = 0
        while True:
            self._tick()
            if tried:
                tried = False
            else:
                head = self._take_head(scan)
                if head is not None:
                    return head
            scan = max(0, len(self.buf) - 2)
            yield from self._wait_for_bytes(len(self.buf) + 1)

    def _parse_head(self, data: bytes) -> tuple[object, httputil.HTTPHeaders]:
        raise NotImplementedError

    def _run(self) -> _Program:
        raise NotImplementedError

    # -- bodies ----------------------------------------------------------------

    def _read_fixed_body(self, length: int) -> Generator[None, None, bytes]:
        """``HTTP1Connection._read_fixed_body``."""
        pieces: list[bytes] = []
        while length > 0:
            self._tick()
            buffered = len(self.buf)
            if buffered:
                n = min(self.chunk_size, length, buffered)
                pieces.append(bytes(self.buf[:n]))
                del self.buf[:n]
                length -= n
            else:
                yield from self._wait_for_bytes(1)
        return b"".join(pieces)

    def _read_chunked_body(self) -> Generator[None, None, bytes]:
        """``HTTP1Connection._read_chunked_body``: decoded from the buffer,
        at most CHUNKS_PER_TURN chunk lines per call."""
        limit = self.max_body_size
        decoder = _framing.ChunkedDecoder(max_body_size=limit)
        pieces: list[bytes] = []
        while True:
            self._tick()
            buf = self.buf
            pieces_now, used = decoder.decode(buf, 0, max_chunks=CHUNKS_PER_TURN)
            if not 0 <= used <= len(buf):
                raise AssertionError(f"decode() consumed {used} of {len(buf)} bytes")
            del buf[:used]
            pieces.extend(pieces_now)
            if decoder.body_size > limit:
                raise RemoteProtocolError("chunked body too large")
            if decoder.done:
                return b"".join(pieces)
            waiting = decoder.wants_data and not decoder.done
            if waiting:
                yield from self._wait_for_bytes(len(self.buf) + 1)
            elif not used:
                raise Spin("the chunked decoder neither consumed nor waited")

    def _read_body_until_close(self) -> Generator[None, None, bytes]:
        """``HTTP1Connection._read_body_until_close``."""
        pieces: list[bytes] = []
        received = 0
        while True:
            self._tick()
            if not self.buf:
                try:
                    yield from self._wait_for_bytes(1)
                except _StreamClosed:
                    return b"".join(pieces)
            n = min(self.chunk_size, len(self.buf))
            pieces.append(bytes(self.buf[:n]))
            del self.buf[:n]
            received += n
            if received > self.max_body_size:
                raise RemoteProtocolError("Body too long")

    def _read_body(self, framing: _framing.Framing) -> Generator[None, None, bytes]:
        """``HTTP1Connection._check_announced_length`` and ``_read_body``."""
        if framing.kind == _framing.NO_BODY:
            return b""
        if framing.kind == _framing.LENGTH and framing.length > self.max_body_size:
            raise RemoteProtocolError("Content-Length too long", status=413)
        if framing.kind == _framing.LENGTH:
            return (yield from self._read_fixed_body(framing.length))
        if framing.kind == _framing.CHUNKED:
            return (yield from self._read_chunked_body())
        return (yield from self._read_body_until_close())


class RequestReader(_Reader):
    """The server side: the requests of one connection, one after another.

    With ``build_request`` each request also goes through what
    ``HTTPServer``'s delegate does with it (an ``HTTPServerRequest`` from the
    head, its form body parsed at the end), whose ``HTTPInputError`` the
    connection answers with 400 as well.
    """

    def __init__(
        self, *, build_request: bool = False, no_keep_alive: bool = False, **kw: int
    ) -> None:
        self.build_request = build_request
        self.no_keep_alive = no_keep_alive
        self._disconnect_on_finish = False
        super().__init__(**kw)  # type: ignore[arg-type]

    def _parse_head(self, data: bytes) -> tuple[object, httputil.HTTPHeaders]:
        """``HTTP1Connection._parse_head``, server side."""
        method, target, version, lines = _head.match_request_head(
            data
        ) or _head.request_head_steps(data)
        headers = httputil.HTTPHeaders._from_lines(lines)
        self._disconnect_on_finish = self.no_keep_alive or not _framing.keep_alive(
            version, headers._as_list, _framing.KEEP_ALIVE_CANDIDATE
        )
        return (method, target, version), headers

    def _run(self) -> _Program:
        """``HTTP1ServerConnection._serve``, with ``_read_request`` and
        ``_read_message`` for each request."""
        while True:
            if not (yield from self._next_message_begins()):
                return
            head = self._take_head(0)
            if head is None:
                head = yield from self._read_head(tried=True)
            start_line, headers = head
            assert isinstance(start_line, tuple)
            method, target, version = start_line
            framing = _framing.request_framing(version, headers._as_list)
            request = None
            if self.build_request:
                request = httputil.HTTPServerRequest(
                    start_line=httputil.RequestStartLine(method, target, version),
                    headers=headers,
                )
            body = yield from self._read_body(framing)
            if request is not None and body:
                request.body = body
                request._parse_body()
            self.outcome.messages.append(
                Message(start_line, tuple(headers.get_all()), body)
            )
            if self._disconnect_on_finish:
                self.outcome.end = CLOSED
                return


class ResponseReader(_Reader):
    """The client side: the responses to ``methods``, one after another, as
    a client reading a keep-alive connection does (a method past the end of
    ``methods`` is GET)."""

    def __init__(self, *, methods: Sequence[str] = (), **kw: int) -> None:
        self.methods = methods
        super().__init__(**kw)  # type: ignore[arg-type]

    def _parse_head(self, data: bytes) -> tuple[object, httputil.HTTPHeaders]:
        """``HTTP1Connection._parse_head``, client side."""
        version, code, reason, lines = _head.match_response_head(
            data
        ) or _head.response_head_steps(data)
        return (version, code, reason), httputil.HTTPHeaders._from_lines(lines)

    def _run(self) -> _Program:
        """``HTTP1Connection._read_message`` on a client, once per response."""
        index = 0
        while True:
            if not (yield from self._next_message_begins()):
                return
            method = self.methods[index] if index < len(self.methods) else "GET"
            index += 1
            head = self._take_head(0)
            if head is None:
                head = yield from self._read_head(tried=True)
            interim = 0
            while True:
                start_line, headers = head
                assert isinstance(start_line, tuple)
                version, code, _reason = start_line
                framing = _framing.response_framing(method, code, headers._as_list)
                disconnect = framing.kind == _framing.UNTIL_CLOSE or not (
                    _framing.keep_alive(version, headers._as_list, framing)
                )
                if not 100 <= code < 200:
                    break
                self.outcome.messages.append(
                    Message(start_line, tuple(headers.get_all()))
                )
                interim += 1
                if interim > _framing.MAX_INTERIM_RESPONSES:
                    raise RemoteProtocolError("Too many 1xx responses")
                head = yield from self._read_head()
            body = yield from self._read_body(framing)
            self.outcome.messages.append(
                Message(start_line, tuple(headers.get_all()), body)
            )
            if disconnect:
                self.outcome.end = CLOSED
                return


def read_requests(pieces: Iterable[bytes], **options: object) -> Outcome:
    """Feed ``pieces`` to a :class:`RequestReader`, then the end of input."""
    reader = RequestReader(**options)  # type: ignore[arg-type]
    for piece in pieces:
        reader.feed(piece)
    return reader.feed_eof()


def read_responses(pieces: Iterable[bytes], **options: object) -> Outcome:
    """Feed ``pieces`` to a :class:`ResponseReader`, then the end of input."""
    reader = ResponseReader(**options)  # type: ignore[arg-type]
    for piece in pieces:
        reader.feed(piece)
    return reader.feed_eof()


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length, sorted,
    duplicates dropped)."""
    if not data:
        return []
    points = sorted({c % len(data) for c in cuts} - {0})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
