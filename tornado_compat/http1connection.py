"""HTTP/1.x connections over a stream, with the API of ``tornado.http1connection``.

What this module is for: :class:`HTTP1Connection` reads one message (a
request on the server side, a response on the client side) from an
:class:`~tornado_compat.iostream.IOStream` into an
:class:`~tornado_compat.httputil.HTTPMessageDelegate`, and writes the message
going the other way; :class:`HTTP1ServerConnection` serves the requests of a
connection one after another (keep-alive and pipelining, in order).

Every decision about what the bytes mean (start lines, headers, where a body
ends, chunked decoding, keep-alive, head writing) is made by the protocol
core in :mod:`tornado_compat.protocol`; this module only moves bytes between
the stream and the core and calls the delegate.

What it must never do: parse HTTP itself (that is the core's job, so the
server and the clients cannot disagree); log a traceback at ERROR for a
peer's mistake (those are INFO lines, as in Tornado); or let a delegate's
exception escape into the event loop (it is logged once, the delegate is
told the connection closed, and the connection is closed).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import re
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Any, Final, Literal, overload

# The public classes stay open to subclasses written in Python when this
# module is compiled (setup.py), as Tornado's are.  Only mypyc reads the
# decorator, so it need not be installed to run.
try:
    from mypy_extensions import mypyc_attr
except ImportError:

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Any:  # type: ignore[misc]
        return lambda cls: cls


from tornado.concurrent import Future, future_set_result_unless_cancelled
from tornado.escape import native_str
from tornado.log import app_log, gen_log

from tornado_compat import httputil, iostream
from tornado_compat._logsite import SiteLogger
from tornado_compat.protocol import codings as _codings
from tornado_compat.protocol import errors as _errors
from tornado_compat.protocol import framing as _framing
from tornado_compat.protocol import head as _head
from tornado_compat.protocol.errors import (
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from tornado_compat.protocol.writers import LAST_CHUNK, format_chunk, join_head

# Tornado's loggers, located here: compiled, this module has no frames for
# logging to find its calls by (see tornado_compat._logsite).
_gen_log = SiteLogger(gen_log, __name__)
_app_log = SiteLogger(app_log, __name__)

# Builds a start line (a named tuple) from its parts without the Python-level
# __new__ that the named tuple's class call goes through.
_new_tuple = tuple.__new__
# Makes an HTTPHeaders without running its constructor (see _copy_headers).
_new_headers = object.__new__

__all__ = ["HTTP1ConnectionParameters", "HTTP1Connection", "HTTP1ServerConnection"]

_DEFAULT_CHUNK_SIZE = 65536
_DEFAULT_MAX_HEADER_SIZE = 65536
# Tornado's simple_httpclient_test imports this private name.
_MAX_1XX_RESPONSES = _framing.MAX_INTERIM_RESPONSES
# Response status lines already formatted, by their code, with the reason
# they were made with: an int key hashes and compares for less than the
# start line (a new tuple on every response).  These
# tables and _GATHER_MIN are Final: compiled, a Final name is a C static, not
# a lookup in the module's dict on every response.
_STATUS_LINES: Final[dict[int, tuple[str, str]]] = {}
# Content-Length values of written messages already checked, with their
# number: most responses repeat a few lengths, and a lookup costs a fifth
# of the check.  Bounded like _STATUS_LINES.
_OUTPUT_LENGTHS: Final[dict[str, int]] = {}
# Request heads the one-pass check accepted, by their bytes: the start line,
# the headers and whether they allow keep-alive.  Clients send the same head
# again and again (a keep-alive connection's polls, a load balancer's
# checks), and the check costs more than the rest of reading a small
# request.  Only what the check accepted is kept, as it made it from the
# bytes alone: the headers as their text the first time (most heads are
# never seen again), then as a copy taken before anyone saw them; each
# request gets headers of its own (which it may change), so a known head
# reads exactly as a new one.  Bounded in number and size; when full it
# starts afresh.
_KnownHead = tuple[httputil.RequestStartLine, str | httputil.HTTPHeaders, bool]
_REQUEST_HEADS: dict[bytes, _KnownHead] = {}
_KNOWN_HEADS = 256
_KNOWN_HEAD_MAX = 1024
# The last of them that a server read (in a list: a module global that
# compiled code may rebind), which _take_head looks for first.
_last_head: list[bytes] = [b""]
# Chunk headers decoded before the reader lets other work run: a body of
# tiny chunks that is already buffered must not monopolise the loop.
_CHUNKS_PER_TURN = 64

# A first body chunk at least this large is sent after its head without
# joining the two (a gathering send), instead of copying it.
_GATHER_MIN: Final = 16384


# The bytes an empty line starts with.
_LINE_END_BYTES = (0x0D, 0x0A)

# Body data the application may write: bytes or any bytes-like object (the
# annotation says so because a compiled build checks it; see setup.py).
_BytesLike = bytes | bytearray | memoryview

# A message head: its start line and headers.
_Head = tuple[
    "httputil.RequestStartLine | httputil.ResponseStartLine", "httputil.HTTPHeaders"
]


# Empty lines, which may come before a message and are ignored (RFC 9112
# section 2.2): CRLF, or bare LF unless strict.  A CR that is not part of a
# CRLF is not one: it stays, for the head's parser to refuse (or, at the end
# of the buffer, for its LF).
_EMPTY_LINES = re.compile(rb"(?:\r?\n)*").match
_STRICT_EMPTY_LINES = re.compile(rb"(?:\r\n)*").match


def _skip_empty_lines(buf: bytearray, strict: bool) -> None:
    """Drop the empty lines at the start of ``buf``.  Callers check
    ``buf[0] in _LINE_END_BYTES`` first: this runs for every message."""
    m = (_STRICT_EMPTY_LINES if strict else _EMPTY_LINES)(buf)
    if m is not None and m.end():
        del buf[: m.end()]


@mypyc_attr(allow_interpreted_subclasses=True)
class HTTP1ConnectionParameters:
    """Parameters of :class:`HTTP1Connection` and :class:`HTTP1ServerConnection`.

    :arg no_keep_alive: one request per connection, which then closes.
    :arg chunk_size: how much body data to pass to a delegate at once
        (default 64 KiB).
    :arg max_header_size: the largest message head accepted (default 64 KiB).
    :arg header_timeout: seconds from the start of the wait for a message
        until its head is complete, as in Tornado (``HTTPServer`` sets it from
        ``idle_connection_timeout``); with ``head_timeout`` set, only until
        the head's first byte arrives.  Bytes that do not complete a head
        (empty lines) do not extend it.  The stream is closed when it runs
        out.
    :arg max_body_size: the largest body accepted (default: the stream's
        ``max_buffer_size``).
    :arg body_timeout: seconds to wait for a complete body.
    :arg decompress: decode content-coded bodies (gzip, deflate, and br and
        zstd when their packages are installed) for the delegate.
    :arg precise_status: answer malformed requests with the precise status
        (413 for a body announced over ``max_body_size``, refused before it
        is read and before ``100 Continue``; 431 for headers over
        ``max_header_size``; 414 for a request line that alone exceeds it;
        505 for an unsupported HTTP version).  By default every malformed
        request gets 400, as in Tornado.  A tornado_compat extension.
    :arg head_timeout: seconds from the first byte of a message head (empty
        lines before a request included) to its end, the blank line; for a
        pipelined request, from when the connection turns to it.  When it
        runs out, the stream is closed with no answer and one INFO line is
        logged ("Timeout reading request head from ...").  None (the
        default) leaves the head to ``header_timeout``.  A tornado_compat
        extension.
    :arg strict: refuse what RFC 9112 lets a recipient accept but need not:
        bare LF line ends (also as empty lines before a message), whitespace
        around ``;`` and ``=`` in chunk extensions, a repeated
        Content-Length, Transfer-Encoding in an HTTP/1.0 message, and bytes
        above US-ASCII in a request target.  See docs/server.md, "Strict
        framing".  A tornado_compat extension.
    """

    def __init__(
        self,
        no_keep_alive: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        header_timeout: float | None = None,
        max_body_size: int | None = None,
        body_timeout: float | None = None,
        decompress: bool = False,
        precise_status: bool = False,
        head_timeout: float | None = None,
        strict: bool = False,
    ) -> None:
        self.no_keep_alive = no_keep_alive
        self.chunk_size = chunk_size or _DEFAULT_CHUNK_SIZE
        self.max_header_size = max_header_size or _DEFAULT_MAX_HEADER_SIZE
        self.header_timeout = header_timeout
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        self.decompress = decompress
        self.precise_status = precise_status
        self.head_timeout = head_timeout
        self.strict = strict


# The context the head timers run in (see _HeadTimeout._schedule).
_TIMER_CONTEXT = contextvars.Context()
# What a loop without a recorded thread (not asyncio's own) gives for it:
# see HTTP1ServerConnection._response_finished.
_NO_THREAD: Final = object()


class _HeadTimeout:
    """The deadlines of one stream before a head is complete, on a single
    loop timer for the stream's whole life, re-armed by setting a deadline.

    Two deadlines take turns.  The wait deadline (``header_timeout``) runs
    from the start of the wait for a message; with ``head_timeout`` set, it
    stops at the first byte of the head (empty lines before a request
    included), and the head deadline runs from there to the head's end.

    Keep-alive connections wait for a head before every request; creating
    and cancelling a loop timer each time would cost more than the rest of
    reading a small request.  The timer runs only while a deadline is set,
    and when it fires early it sleeps again until the deadline.  Only a
    deadline earlier than the timer (a head deadline after a longer wait
    deadline) makes a new timer, once per head that arrives in pieces.

    The owner is a stream, or, before a plain server connection has one, its
    :class:`~tornado_compat._bare.BareConnection` (anything with ``_closed``,
    ``io_loop``, ``close()`` and ``_http_head_timeout``); :meth:`move` hands
    the deadlines to the stream that takes the connection over, still
    counting from where they started.
    """

    __slots__ = (
        "stream",
        "deadline",
        "fired",
        "in_head",
        "_timer",
        "_timer_at",
        "_log_args",
    )

    def __init__(self, stream: Any) -> None:
        # Any: an IOStream or a BareConnection (see the class's docstring).
        self.stream: Any = stream
        self.deadline: float | None = None
        self.fired = False
        # Whether the deadline set is the head deadline.
        self.in_head = False
        self._timer: Any = None
        # When the timer fires, on the monotonic clock.
        self._timer_at = 0.0
        # What the line logged when the head deadline closes the stream says.
        self._log_args: tuple[str, object, float] | None = None

    @classmethod
    def arm(cls, stream: Any, timeout: float) -> _HeadTimeout:
        """Start the wait deadline, unless a deadline is running: bytes that
        come without completing a head (empty lines) do not extend it."""
        watch: _HeadTimeout | None = stream._http_head_timeout
        if watch is None:
            watch = stream._http_head_timeout = cls(stream)
        elif watch.deadline is not None:
            return watch
        # Deadlines are on the monotonic clock, read without a call through
        # the IOLoop: this runs before every request of a connection.
        deadline = _monotonic() + timeout
        watch.deadline = deadline
        watch.in_head = False
        if watch._timer is None or deadline < watch._timer_at:
            watch._schedule(deadline, timeout)
        return watch

    @classmethod
    def head_started(
        cls,
        stream: Any,
        timeout: float,
        what: str,
        context: object,
    ) -> _HeadTimeout:
        """The first byte of a head is in: start the head deadline, unless
        it is running already.  ``what`` and ``context`` name the head and
        the peer in the line logged if the deadline closes the stream."""
        watch: _HeadTimeout | None = stream._http_head_timeout
        if watch is None:
            watch = stream._http_head_timeout = cls(stream)
        elif watch.in_head and watch.deadline is not None:
            return watch
        deadline = _monotonic() + timeout
        watch.deadline = deadline
        watch.in_head = True
        watch._log_args = (what, context, timeout)
        if watch._timer is None or deadline < watch._timer_at:
            watch._schedule(deadline, timeout)
        return watch

    def _schedule(self, deadline: float, delay: float) -> None:
        timer = self._timer
        if timer is not None:
            timer.cancel()
        self._timer_at = deadline
        # Straight on the asyncio loop, with this object as the callback:
        # the IOLoop's call_later would wrap a bound method in a partial,
        # and every idle connection holds its timer.
        io_loop: Any = self.stream.io_loop
        loop = getattr(io_loop, "asyncio_loop", None)
        if loop is None:
            self._timer = io_loop.call_later(delay, self)
        else:
            # In a context of its own, shared by every such timer: the
            # check needs no context variable, and a copy of the current
            # context would be one more object each idle connection holds.
            self._timer = loop.call_later(delay, self, context=_TIMER_CONTEXT)

    @staticmethod
    def move(owner: Any, stream: iostream.IOStream) -> None:
        """Give the deadlines of ``owner`` (a connection's first owner) to
        ``stream``, which now owns the connection, on the same timer."""
        watch = _HeadTimeout._taken_from(owner)
        if watch is not None:
            watch.stream = stream
            stream._http_head_timeout = watch

    @staticmethod
    def _taken_from(owner: Any) -> _HeadTimeout | None:
        """The timer of ``owner``, which no longer holds it."""
        watch: _HeadTimeout | None = owner._http_head_timeout
        if watch is not None:
            owner._http_head_timeout = None
        return watch

    @staticmethod
    def drop(stream: Any) -> None:
        """Cancel the timer of ``stream`` and forget it: its connection is
        over.  The loop's timer would otherwise keep the stream, its socket
        and its buffers alive until the deadline."""
        watch = _HeadTimeout._taken_from(stream)
        if watch is None:
            return
        watch.deadline = None
        watch._log_args = None
        timer = watch._timer
        if timer is not None:
            watch._timer = None
            timer.cancel()

    def __call__(self) -> None:
        """The timer fired (see _schedule)."""
        self._check()

    def _check(self) -> None:
        self._timer = None
        deadline = self.deadline
        if deadline is None or self.stream._closed:
            return
        now = _monotonic()
        if now >= deadline:
            self.fired = True
            if self.in_head and self._log_args is not None:
                what, context, timeout = self._log_args
                # A slow peer, not a fault of ours: INFO, as for a slow body.
                _gen_log.info(
                    "Timeout reading %s head%s (head_timeout %g s)",
                    what,
                    "" if context is None else f" from {context}",
                    timeout,
                )
            self.stream.close()
        else:
            self._schedule(deadline, deadline - now)


# tornado_compat._bare.BareConnection, once imported (that module imports
# this one).
_BARE: list[Any] = [None]


def _bare_class() -> Any:
    cls = _BARE[0]
    if cls is None:
        from tornado_compat._bare import BareConnection

        cls = _BARE[0] = BareConnection
    return cls


def _copy_headers(headers: httputil.HTTPHeaders) -> httputil.HTTPHeaders:
    """``HTTPHeaders(headers)``, a copy whose lists are its own, made as
    ``HTTPHeaders._from_lines`` makes headers: straight into the dict that
    holds them, without the constructor's checks of what it was given (less
    than half the cost, for every request whose head is known)."""
    copy = _new_headers(httputil.HTTPHeaders)
    copy._as_list = {name: values[:] for name, values in headers._as_list.items()}
    return copy


def _server_request(
    connection: httputil.HTTPConnection,
    start_line: httputil.RequestStartLine,
    headers: httputil.HTTPHeaders,
) -> httputil.HTTPServerRequest:
    """``HTTPServerRequest(connection=connection, start_line=start_line,
    headers=headers)``, called with all nine arguments by position: a class
    called with keywords gets them in a dict made for the call, which costs
    more than passing the six defaults (about 1,400 instructions a
    request)."""
    return httputil.HTTPServerRequest(
        None, None, "HTTP/1.0", headers, None, None, None, connection, start_line
    )


def _describe(error: BaseException) -> str:
    """An exception's message, or its type's name when it has none."""
    return str(error) or type(error).__name__


class _DelegateError(Exception):
    """A delegate raised; it has been logged already.  ``cause`` is what it
    raised (None for a cancelled future), kept as an attribute because the
    compiled build does not always set ``__cause__``; the message is the
    cause's, for whatever reports the failure."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__(
            "the application's future was cancelled"
            if cause is None
            else _describe(cause)
        )
        self.cause = cause


# What ends a message exchange early (HTTP1Connection._failed): a malformed
# message, a head over the limit, a timeout, a delegate's exception, or the
# stream closing.
_MALFORMED = (ProtocolError, httputil.HTTPInputError)
_FAILURES = (
    *_MALFORMED,
    iostream.UnsatisfiableReadError,
    asyncio.TimeoutError,
    _DelegateError,
    iostream.StreamClosedError,
)


@mypyc_attr(allow_interpreted_subclasses=True)
class HTTP1Connection(httputil.HTTPConnection):
    """One HTTP/1.x message exchange over a stream, client or server side.

    On the server side :class:`HTTP1ServerConnection` creates one per request;
    on the client side the caller writes a request with :meth:`write_headers`,
    :meth:`write` and :meth:`finish`, then calls :meth:`read_response`.
    """

    def __init__(
        self,
        stream: iostream.IOStream,
        is_client: bool,
        params: HTTP1ConnectionParameters | None = None,
        context: object | None = None,
    ) -> None:
        self.is_client = is_client
        # The stream, or the BareConnection a server connection serves a
        # request on before any stream exists (see the stream property).
        self._stream: Any = stream
        if params is None:
            params = HTTP1ConnectionParameters()
        self.params = params
        self.context = context
        self.no_keep_alive = params.no_keep_alive
        max_body_size = params.max_body_size
        self._max_body_size = (
            max_body_size if max_body_size is not None else stream.max_buffer_size
        )
        self._body_timeout = params.body_timeout

    # The state of one exchange; these class attributes are its initial
    # values (a connection is made per request, so only what differs is set).
    # Whether the message being written is finished, whether the one being
    # read is, and whether the connection must close once both are.
    _write_finished = False
    _read_finished = False
    _disconnect_on_finish = False
    _request_start_line: httputil.RequestStartLine | None = None
    _response_start_line: httputil.ResponseStartLine | None = None
    _request_headers: httputil.HTTPHeaders | None = None
    _chunking_output = False
    _expected_content_remaining: int | None = None
    # Whether the exchange is over (response written, or the connection
    # closed or detached); a future to wait on is made only when the server
    # must wait for the application to finish.
    _finished = False
    _finish_future: Future[None] | None = None
    _close_callback: Callable[[], None] | None = None
    # Whether the stream's close callback is ours.
    _watching_close = False
    _pending_write: Future[None] | None = None
    _detached = False
    # Called once the exchange is over, for a server that did not wait.
    _on_finished: Callable[[], None] | None = None
    # Whether the stream is a BareConnection serving the request (set by
    # HTTP1ServerConnection): what needs a stream hands the connection over
    # to one first (_to_stream).
    _on_bare = False
    #: Why the last message exchange failed, or None: the protocol error, the
    #: exception of a delegate, the timeout or the stream's error.  A client
    #: reports it to its caller.
    error: BaseException | None = None

    # -- reading ----------------------------------------------------------------

    def read_response(self, delegate: httputil.HTTPMessageDelegate) -> Awaitable[bool]:
        """Read one message into ``delegate``.

        Returns a future that resolves once the whole message has been read
        (and, on the server side, the response has been written): True if
        the connection may be used again, False if it was closed.
        """
        return asyncio.ensure_future(self._read_message(delegate))

    @overload
    async def _read_message(
        self,
        delegate: httputil.HTTPMessageDelegate,
        wait_for_finish: Literal[True] = ...,
    ) -> bool: ...

    @overload
    async def _read_message(
        self,
        delegate: httputil.HTTPMessageDelegate,
        wait_for_finish: bool,
        head: _Head | None = ...,
        pending: Awaitable[None] | None = ...,
    ) -> bool | None: ...

    async def _read_message(
        self,
        delegate: httputil.HTTPMessageDelegate,
        wait_for_finish: bool = True,
        head: _Head | None = None,
        pending: Awaitable[None] | None = None,
    ) -> bool | None:
        """Read one message into ``delegate``.

        Returns whether the connection may carry another message.  A stream
        that closes under it raises StreamClosedError (after the delegate is
        told), which the server loop takes as the end of the connection and
        a client as a failed request.

        On the server side this includes waiting until the response is
        finished; with ``wait_for_finish`` false it returns None instead
        when the request is read but its response is not finished, and
        :attr:`_on_finished` (which the caller sets) is called once it is.

        ``head`` and ``pending`` are for :meth:`_read_request`, which hands
        a request over when it has to wait: the head it took from the
        buffer, and what ``headers_received`` returned when it called it.
        """
        decompress = self.params.decompress
        told_delegate = False
        finish_pending = False
        try:
            if head is None:
                head = self._take_head(0)
                if head is None:
                    head = await self._read_head(tried=True)
            start_line, headers = head
            num_1xx = 0
            while True:
                # Framing is decided before the application sees anything,
                # so a message with ambiguous framing never reaches it.
                framing = self._body_framing(start_line, headers)
                if decompress and "Content-Encoding" in headers._as_list:
                    # Wrapped only for a coded body (and then for good: a
                    # final response after a 1xx goes through it too).
                    decompress = False
                    delegate = _DecompressingDelegate(
                        delegate, self.params.chunk_size, self._max_body_size
                    )
                told_delegate = True
                if pending is None:
                    self._call_delegate(delegate.headers_received, start_line, headers)
                    result = self._delegate_result
                else:
                    result, pending = pending, None
                if result is not None:
                    await self._await_delegate(result)
                if self._detached:
                    # The delegate took the connection over (a websocket
                    # client does so on 101 Switching Protocols).
                    told_delegate = False
                    return False
                if not (self.is_client and 100 <= start_line.code < 200):  # type: ignore[union-attr]
                    break
                # An informational response; the real one follows.
                num_1xx += 1
                if num_1xx > _framing.MAX_INTERIM_RESPONSES:
                    raise RemoteProtocolError("Too many 1xx responses")
                start_line, headers = await self._read_head()
            if framing.kind != _framing.NO_BODY:
                # The delegate may have changed the limit (set_max_body_size).
                self._check_announced_length(framing)
                if (
                    not self.is_client
                    and headers.get("Expect", "").lower() == "100-continue"
                    and not self._write_finished
                ):
                    self._stream.write(b"HTTP/1.1 100 (Continue)\r\n\r\n")
                await self._read_body_with_timeout(framing, delegate)
            self._read_finished = True
            if not self._write_finished or self.is_client:
                self._call_delegate(delegate.finish)
            told_delegate = False
            if self.is_client:
                if not self._write_finished or self._stream.writing():
                    # The response came before the request was all sent (an
                    # early 4xx, or no 100 Continue), or while some of it was
                    # still buffered: the unsent rest would be taken for the
                    # next request, so the connection ends here.
                    self._disconnect_on_finish = True
            elif not self._finished and not self._stream._closed and not self._detached:
                self._watching_close = True
                self._stream.set_close_callback(self._on_connection_close)
                if not wait_for_finish:
                    # Callbacks stay until the exchange finishes, which
                    # clears them.
                    finish_pending = True
                    return None
                self._finish_future = Future()
                await self._finish_future
            if self.is_client and self._disconnect_on_finish:
                self.close()
            return not self._detached and not self._stream._closed
        except _FAILURES as e:
            if self.is_client and isinstance(e, _MALFORMED):
                # The caller learns of it through the delegate.
                told_delegate = True
            refusal = self._failed(e)
            if refusal is not None:
                return await refusal
            return False
        finally:
            if told_delegate:
                self._call_delegate_quietly(delegate.on_connection_close)
            if not finish_pending:
                self._clear_callbacks()

    def _failed(self, e: Exception) -> Coroutine[Any, Any, bool] | None:
        """End an exchange that failed with ``e`` (one of _FAILURES): record
        it as :attr:`error` and close the connection.

        For a malformed message on a server, returns instead the coroutine
        that answers it and then closes (its result is False, what reading
        the message returns).  Raises ``e`` again where the caller must see
        it: a closed stream, or (on a client) a head over the limit.
        """
        if isinstance(e, _MALFORMED):
            self.error = e
            _gen_log.info("Malformed HTTP message from %s: %s", self.context, e)
            if not self.is_client:
                return self._refuse(
                    e if isinstance(e, ProtocolError) else RemoteProtocolError(str(e))
                )
        elif isinstance(e, _DelegateError):
            self.error = e.cause or e
        elif isinstance(e, iostream.StreamClosedError):
            self.error = e.real_error or e
            self.close()
            raise e
        else:
            self.error = e
        self.close()
        if self.is_client and isinstance(e, iostream.UnsatisfiableReadError):
            raise e
        return None

    async def _refuse(self, error: ProtocolError) -> bool:
        await self._answer_error(error)
        self.close()
        return False

    def _read_request(
        self,
        delegate: httputil.HTTPMessageDelegate | None,
        callback: Callable[[httputil.HTTPServerRequest], None] | None = None,
    ) -> bool | None | Coroutine[Any, Any, bool | None]:
        """``_read_message(delegate, wait_for_finish=False)`` for a server,
        run without a coroutine while nothing has to be waited for.

        The usual request, whose head is buffered and which has no body, is
        read here from start to end, and the result is _read_message's.  A
        request that has to wait (for the rest of its head, for its body, or
        for what ``headers_received`` returned) is handed over instead: the
        result is then the _read_message coroutine that reads the rest.
        Costing no coroutine matters: this runs for every request.

        Without a delegate, ``callback`` is the server's raw callback: a
        request with no body goes to it straight, with no _CallableAdapter
        in between (one is made for a request that has to wait).
        """
        told_delegate = False
        try:
            head = self._take_head(0)
            if head is None:
                if self._on_bare:
                    self._to_stream()
                return self._read_message(self._delegate_of(delegate, callback), False)
            start_line, headers = head
            fields = headers._as_list
            if (
                "Content-Length" in fields
                or "Transfer-Encoding" in fields
                or (self.params.decompress and "Content-Encoding" in fields)
            ):
                if self._on_bare:
                    self._to_stream()
                return self._read_message(
                    self._delegate_of(delegate, callback), False, head
                )
            if self._on_bare and ("Upgrade" in fields or "Expect" in fields):
                # Whatever comes of these (a websocket takes the connection
                # over, an expectation is answered), a stream has it.
                self._to_stream()
            if delegate is None:
                if TYPE_CHECKING:  # checked for mypy only: this runs per request
                    assert isinstance(start_line, httputil.RequestStartLine)
                    assert callback is not None
                # What the adapter's headers_received and finish would do.
                request = _server_request(self, start_line, headers)
                self._read_finished = True
                self._call_delegate(callback, request)
                return self._request_read()
            told_delegate = True
            self._call_delegate(delegate.headers_received, start_line, headers)
            pending = self._delegate_result
            if pending is not None:
                told_delegate = False
                return self._read_message(delegate, False, head, pending)
            if self._detached:
                told_delegate = False
                return False
            self._read_finished = True
            if not self._write_finished:
                self._call_delegate(delegate.finish)
            told_delegate = False
            return self._request_read()
        except _FAILURES as e:
            refusal = self._failed(e)
            return False if refusal is None else refusal
        finally:
            if told_delegate and delegate is not None:
                self._call_delegate_quietly(delegate.on_connection_close)

    def _to_stream(self) -> None:
        """Have the connection handed over from the BareConnection this
        request is read on to a stream (see tornado_compat._bare), before
        anything that needs one: the rest of a head, a body, an upgrade."""
        self._on_bare = False
        self._stream = self._stream.take_over()

    def _delegate_of(
        self,
        delegate: httputil.HTTPMessageDelegate | None,
        callback: Callable[[httputil.HTTPServerRequest], None] | None,
    ) -> httputil.HTTPMessageDelegate:
        """``delegate``, or the adapter that collects a request (its body
        included) for the raw ``callback``."""
        if delegate is not None:
            return delegate
        assert callback is not None
        return _CallableAdapter(callback, self)

    def _request_read(self) -> bool | None:
        """_read_request's result once the request is all read and handed
        to the application: None to wait for its response, else whether
        the connection may carry another request."""
        if not self._finished and not self._stream._closed and not self._detached:
            # As in _read_message: callbacks stay until the exchange
            # finishes, which clears them.
            self._watching_close = True
            self._stream.set_close_callback(self._on_connection_close)
            return None
        # No callbacks to clear: finishing (or detaching) cleared them, and
        # nothing watches a stream that closed.
        return not self._detached and not self._stream._closed

    async def _read_head(self, tried: bool = False) -> _Head:
        """Find and parse the next message head, straight from the stream's
        buffer.

        When the head is already there this needs no future at all; the
        search resumes where it stopped, so it is linear however the head
        arrives.  ``header_timeout`` is one timer for the wait and the whole
        head, which closes the stream when it fires; on a server it runs
        from the start of the wait between requests (which arms it).  With
        ``head_timeout`` set, that one stops at the head's first byte and
        the head deadline runs from there.  ``tried``: the caller has just
        found no complete head in the buffer (``_take_head(0)``), so the
        first step is to wait.
        """
        stream = self._stream
        scan = 0
        params = self.params
        timeout = params.header_timeout
        head_timeout = params.head_timeout
        watch: _HeadTimeout | None = stream._http_head_timeout
        # Whether a byte has come since the wait began.
        started = False
        try:
            while True:
                if tried:
                    tried = False
                else:
                    head = self._take_head(scan)
                    if head is not None:
                        return head
                buf = stream._read_buffer
                scan = max(0, len(buf) - 2)
                if head_timeout is not None and (started or buf):
                    watch = _HeadTimeout.head_started(
                        stream,
                        head_timeout,
                        "response" if self.is_client else "request",
                        self.context,
                    )
                elif timeout is not None and (watch is None or watch.deadline is None):
                    watch = _HeadTimeout.arm(stream, timeout)
                await stream._wait_for_bytes(len(buf) + 1)
                started = True
        except iostream.StreamClosedError:
            if watch is not None and watch.fired:
                raise asyncio.TimeoutError() from None
            raise
        finally:
            if watch is not None:
                watch.deadline = None
                if self.is_client or stream._closed:
                    # No server loop will end this stream's use (and a
                    # client reads one head per request): the timer must
                    # not keep a closed or pooled stream alive.
                    _HeadTimeout.drop(stream)

    def _take_head(self, scan: int) -> _Head | None:
        """The next head, parsed and taken from the buffer, if it is all
        there; else None.  ``scan`` is where the last search stopped."""
        buf = self._stream._read_buffer
        if scan == 0 and buf and buf[0] in _LINE_END_BYTES:
            _skip_empty_lines(buf, self.params.strict)
        limit = self.params.max_header_size
        if scan == 0 and not self.is_client:
            # The head this process read last, again (a keep-alive client's
            # next request, or another client of the same kind): it ends
            # where that one did, since a complete head holds no earlier
            # end, and it is known.  No search, and no copy to look it up.
            last = _last_head[0]
            if buf.startswith(last) and len(last) <= limit:
                known = _REQUEST_HEADS.get(last)
                if known is not None:
                    timer: _HeadTimeout | None = self._stream._http_head_timeout
                    if timer is not None:
                        timer.deadline = None
                    if len(last) == len(buf):
                        buf.clear()
                    else:
                        del buf[: len(last)]
                    return self._known_request(last, known)
        end = _head.find_head_end(buf, scan)
        if end >= 0:
            if end > limit:
                raise self._head_too_large(buf)
            watch: _HeadTimeout | None = self._stream._http_head_timeout
            if watch is not None:
                # The head is here: its timeout (and the idle one) is over.
                watch.deadline = None
            return self._parse_head(self._stream._consume(end))
        if len(buf) > limit:
            raise self._head_too_large(buf)
        return None

    def _head_too_large(self, buf: bytearray) -> Exception:
        """The error for a head over ``max_header_size``: 414 when the first
        line alone is too long, else 431 (precise_status); by default the
        connection is just closed, as in Tornado."""
        limit = self.params.max_header_size
        _gen_log.info(
            "Unsatisfiable read, closing connection: head over %d bytes", limit
        )
        if not self.params.precise_status or self.is_client:
            return iostream.UnsatisfiableReadError(f"head over {limit} bytes")
        if buf.find(b"\n", 0, limit) < 0:
            return RemoteProtocolError(
                "request line too long", status=_errors.URI_TOO_LONG
            )
        return RemoteProtocolError(
            "headers too large", status=_errors.HEADERS_TOO_LARGE
        )

    def _parse_head(self, data: bytes) -> _Head:
        # The one-pass check gives the header lines' text, which goes straight
        # into HTTPHeaders; else the steps (the check is not run again) give
        # the fields, or the precise error.  Only they need to know whether
        # to be strict: the check accepts nothing that strict refuses.
        if self.is_client:
            version, code, reason, lines = _head.match_response_head(
                data
            ) or _head.response_head_steps(data, self.params.strict)
            response = _new_tuple(httputil.ResponseStartLine, (version, code, reason))
            self._response_start_line = response
            self._disconnect_on_finish = False
            return response, httputil.HTTPHeaders._from_lines(lines)
        known = _REQUEST_HEADS.get(data)
        if known is not None:
            _last_head[0] = data
            return self._known_request(data, known)
        matched = _head.match_request_head(data)
        if matched is None:
            method, target, version, lines = _head.request_head_steps(
                data, self.params.strict
            )
        else:
            method, target, version, lines = matched
        headers = httputil.HTTPHeaders._from_lines(lines)
        request = _new_tuple(httputil.RequestStartLine, (method, target, version))
        keep_alive = _framing.keep_alive(
            version, headers._as_list, _framing.KEEP_ALIVE_CANDIDATE
        )
        if matched is not None and len(data) <= _KNOWN_HEAD_MAX:
            if len(_REQUEST_HEADS) >= _KNOWN_HEADS:
                _REQUEST_HEADS.clear()
            _REQUEST_HEADS[data] = (request, matched[3], keep_alive)
            _last_head[0] = data
        self._request_start_line = request
        self._request_headers = headers
        # The instance's flag, not the parameters': a drain sets it on a
        # request whose head is still arriving.
        self._disconnect_on_finish = self.no_keep_alive or not keep_alive
        return request, headers

    def _known_request(self, data: bytes, known: _KnownHead) -> _Head:
        """_parse_head's result for ``data``, a head in _REQUEST_HEADS."""
        request, parsed, keep_alive = known
        if isinstance(parsed, str):
            # Seen for the second time: from now on its headers are copied,
            # which costs less than making them from the text again.  The
            # copy is taken before the request's own headers are handed out.
            headers = httputil.HTTPHeaders._from_lines(parsed)
            _REQUEST_HEADS[data] = (request, _copy_headers(headers), keep_alive)
        else:
            headers = _copy_headers(parsed)
        self._request_start_line = request
        self._request_headers = headers
        self._disconnect_on_finish = self.no_keep_alive or not keep_alive
        return request, headers

    def _body_framing(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> _framing.Framing:
        if self.is_client:
            assert isinstance(start_line, httputil.ResponseStartLine)
            method = (
                self._request_start_line.method if self._request_start_line else None
            )
            framing = _framing.response_framing(
                method,
                start_line.code,
                headers._as_list,
                self.params.strict,
                start_line.version,
            )
            if framing.kind == _framing.UNTIL_CLOSE:
                self._disconnect_on_finish = True
            elif not _framing.keep_alive(start_line.version, headers._as_list, framing):
                self._disconnect_on_finish = True
            return framing
        assert isinstance(start_line, httputil.RequestStartLine)
        return _framing.request_framing(
            start_line.version, headers._as_list, None, self.params.strict
        )

    def _check_announced_length(self, framing: _framing.Framing) -> None:
        """Refuse a body announced over the limit before reading any of it
        (and so before any ``100 Continue``)."""
        if framing.kind == _framing.LENGTH and framing.length > self._max_body_size:
            raise RemoteProtocolError(
                "Content-Length too long", status=_errors.PAYLOAD_TOO_LARGE
            )

    async def _read_body_with_timeout(
        self, framing: _framing.Framing, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        if self._body_timeout is None:
            await self._read_body(framing, delegate)
            return
        try:
            await asyncio.wait_for(
                self._read_body(framing, delegate), self._body_timeout
            )
        except asyncio.TimeoutError:
            _gen_log.info("Timeout reading body from %s", self.context)
            raise

    async def _read_body(
        self, framing: _framing.Framing, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        if framing.kind == _framing.LENGTH:
            await self._read_fixed_body(framing.length, delegate)
        elif framing.kind == _framing.CHUNKED:
            await self._read_chunked_body(delegate)
        else:
            await self._read_body_until_close(delegate)

    async def _deliver(
        self, delegate: httputil.HTTPMessageDelegate, data: bytes
    ) -> None:
        # Once the response is finished, the rest of the request body is
        # read (to keep the connection in sync) but nobody wants it.
        if self._write_finished and not self.is_client:
            return
        self._call_delegate(delegate.data_received, data)
        result = self._delegate_result
        if result is not None:
            await self._await_delegate(result)

    async def _read_fixed_body(
        self, length: int, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        chunk_size = self.params.chunk_size
        stream = self._stream
        while length > 0:
            buffered = len(stream._read_buffer)
            if buffered:
                # Already here (the usual case for a small body): no read.
                data = stream._consume(min(chunk_size, length, buffered))
            else:
                data = await stream.read_bytes(min(chunk_size, length), partial=True)
            length -= len(data)
            await self._deliver(delegate, data)

    async def _read_chunked_body(self, delegate: httputil.HTTPMessageDelegate) -> None:
        # Decoded straight from the stream's buffer: what follows the body
        # (the next pipelined message) is never taken out of it.
        stream = self._stream
        limit = self._max_body_size
        decoder = _framing.ChunkedDecoder(
            max_body_size=limit, strict=self.params.strict
        )
        chunk_size = self.params.chunk_size
        pending: list[bytes] = []
        pending_size = 0
        while True:
            buf = stream._read_buffer
            pieces, used = decoder.decode(buf, 0, max_chunks=_CHUNKS_PER_TURN)
            del buf[:used]
            for piece in pieces:
                pending.append(piece)
                pending_size += len(piece)
            if decoder.body_size > limit:
                raise RemoteProtocolError("chunked body too large")
            waiting = decoder.wants_data and not decoder.done
            if pending and (decoder.done or pending_size >= chunk_size or waiting):
                # Small chunks are coalesced, but the delegate never gets more
                # than chunk_size at once.
                data = b"".join(pending)
                pending.clear()
                pending_size = 0
                for start in range(0, len(data), chunk_size):
                    piece = data[start : start + chunk_size]
                    if len(piece) < chunk_size and not (decoder.done or waiting):
                        pending.append(piece)
                        pending_size = len(piece)
                        break
                    await self._deliver(delegate, piece)
            if decoder.done:
                return
            if waiting:
                await stream._wait_for_bytes(len(stream._read_buffer) + 1)
            else:
                # All of it is here; let others run between batches.
                await asyncio.sleep(0)

    async def _read_body_until_close(
        self, delegate: httputil.HTTPMessageDelegate
    ) -> None:
        chunk_size = self.params.chunk_size
        received = 0
        while True:
            try:
                data = await self._stream.read_bytes(chunk_size, partial=True)
            except iostream.StreamClosedError as e:
                if e.real_error is not None and not self._stream._is_connreset(
                    e.real_error
                ):
                    raise
                return
            received += len(data)
            if received > self._max_body_size:
                raise RemoteProtocolError("Body too long")
            await self._deliver(delegate, data)

    # -- delegate calls ----------------------------------------------------------

    _delegate_result: Awaitable[None] | None = None

    def _call_delegate(self, method: Callable[..., Any], *args: Any) -> None:
        """Call a delegate method; an exception in it is the application's:
        logged once (with its traceback), then the connection is closed.
        HTTPInputError and RemoteProtocolError are the exceptions: the
        delegate found the message malformed (an invalid Host, a broken gzip
        body), which is answered with 400."""
        try:
            self._delegate_result = method(*args)
        except (httputil.HTTPInputError, RemoteProtocolError):
            self._delegate_result = None
            raise
        except Exception as e:
            self._delegate_result = None
            _app_log.error("Uncaught exception", exc_info=True)
            raise _DelegateError(e) from e

    async def _await_delegate(self, result: Awaitable[Any]) -> None:
        """Await what a delegate method returned; its failure is the
        application's, exactly as if the method had raised."""
        try:
            await result
        except (httputil.HTTPInputError, RemoteProtocolError):
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            cancelling = getattr(task, "cancelling", None)
            if cancelling is not None and cancelling():
                raise  # we are being cancelled, not the application's future
            _app_log.error("Uncaught exception", exc_info=True)
            raise _DelegateError(None) from None
        except Exception as e:
            _app_log.error("Uncaught exception", exc_info=True)
            raise _DelegateError(e) from e

    def _call_delegate_quietly(self, method: Callable[[], Any]) -> None:
        try:
            method()
        except Exception:
            _app_log.error("Uncaught exception", exc_info=True)

    async def _answer_error(self, error: ProtocolError) -> None:
        """Tell a client why its request was refused, if the stream is open.

        By default the answer is exactly Tornado's (a bare 400, which its
        tests pin); with ``precise_status`` it carries the precise status and
        says that the connection closes.
        """
        if self._stream._closed or self._write_finished:
            return
        self._write_finished = True
        if self.params.precise_status:
            status = error.status
            reason = httputil.responses.get(status, "Bad Request")
            answer = (
                b"HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                % (
                    status,
                    reason.encode("latin-1"),
                )
            )
        else:
            answer = b"HTTP/1.1 400 Bad Request\r\n\r\n"
        try:
            await self._stream.write(answer)
        except iostream.StreamClosedError:
            pass

    # -- connection state -------------------------------------------------------

    def _clear_callbacks(self) -> None:
        self._close_callback = None
        if self._watching_close:
            self._watching_close = False
            if not self._detached and not self._stream._closed:
                self._stream.set_close_callback(None)

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        """Run ``callback`` if the connection closes before the exchange ends.

        For applications that hold a request open (long polling, streaming);
        it is dropped once the message is finished.
        """
        self._close_callback = callback

    def _on_connection_close(self) -> None:
        callback = self._close_callback
        self._close_callback = None
        if callback is not None:
            callback()
        self._mark_finished()
        self._clear_callbacks()

    def close(self) -> None:
        """Close the connection's stream."""
        if not self._detached:
            self._stream.close()
        self._clear_callbacks()
        self._mark_finished()

    def _mark_finished(self) -> None:
        self._finished = True
        future = self._finish_future
        if future is not None and not future.done():
            future_set_result_unless_cancelled(future, None)
        callback = self._on_finished
        if callback is not None:
            self._on_finished = None
            callback()

    def detach(self) -> iostream.IOStream:
        """Hand the stream over (for protocols that take over the connection,
        such as websockets); this connection no longer uses it."""
        stream = self.stream
        self._clear_callbacks()
        self._detached = True
        self._mark_finished()
        return stream

    @property
    def stream(self) -> iostream.IOStream:
        """The connection's stream.  A request served before its connection
        has a stream (see :mod:`tornado_compat._bare`) has the connection
        handed over to one first, so the stream is always a real one."""
        stream = self._stream
        if stream.__class__ is _bare_class():
            stream = self._stream = stream.take_over()
        return stream

    @stream.setter
    def stream(self, stream: iostream.IOStream) -> None:
        self._stream = stream

    def set_body_timeout(self, timeout: float) -> None:
        """Seconds allowed for reading this message's body."""
        self._body_timeout = timeout

    def set_max_body_size(self, max_body_size: int) -> None:
        """The largest body accepted for this message."""
        self._max_body_size = max_body_size

    # -- writing ------------------------------------------------------------------

    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: _BytesLike | None = None,
    ) -> Future[None]:
        """Write the message head, and optionally the first body chunk.

        Decides the output framing: a client request with a body and no
        Content-Length, or a server response to an HTTP/1.1 request that may
        have a body and has no Content-Length, is sent chunked.
        """
        # Values may also be bytes, as in Tornado: typed Any, so that a
        # compiled build does not insist on str.
        fields: dict[str, list[Any]] = headers._as_list
        lengths = fields.get("Content-Length")
        if self.is_client:
            assert isinstance(start_line, httputil.RequestStartLine)
            self._request_start_line = start_line
            first = f"{start_line.method} {start_line.path} HTTP/1.1"
            self._chunking_output = chunking = (
                start_line.method in ("POST", "PUT", "PATCH") and not lengths
            )
            no_body = False
        else:
            if TYPE_CHECKING:  # checked for mypy only: this runs per response
                assert isinstance(start_line, httputil.ResponseStartLine)
                assert self._request_headers is not None
            request = self._request_start_line
            assert request is not None
            self._response_start_line = start_line
            # Unpacked: compiled, a tuple's items cost less than its names.
            _, code, reason = start_line
            method, _, version = request
            cached = _STATUS_LINES.get(code)
            if cached is not None and cached[0] == reason:
                first = cached[1]
            else:
                first = "HTTP/1.1 %d %s" % (code, reason)
                if cached is None and len(_STATUS_LINES) < 256:
                    _STATUS_LINES[code] = (reason, first)
            no_body = method == "HEAD" or code == 304
            if version == "HTTP/1.1":
                self._chunking_output = chunking = (
                    not lengths
                    and not no_body
                    and code != 204
                    and not 100 <= code < 200
                )
                if self._disconnect_on_finish:
                    if code == 101:
                        # The stream is about to be handed over (a websocket
                        # upgrade): it is the application's, not ours to close.
                        self._disconnect_on_finish = False
                    else:
                        headers["Connection"] = "close"
            else:
                self._chunking_output = chunking = False
                if (
                    version == "HTTP/1.0"
                    and not self._disconnect_on_finish
                    and self._request_headers.get("Connection", "").lower()
                    == "keep-alive"
                ):
                    headers["Connection"] = "Keep-Alive"
        if chunking:
            headers["Transfer-Encoding"] = "chunked"
        if no_body:
            self._expected_content_remaining = 0
        elif lengths:
            length = lengths[0] if len(lengths) == 1 else None
            known: int | None = (
                _OUTPUT_LENGTHS.get(length) if isinstance(length, str) else None
            )
            if known is None:
                try:
                    known = _framing.parse_content_length(lengths)
                except RemoteProtocolError as e:
                    # Ours to send, so the mistake is the application's.
                    raise LocalProtocolError(str(e)) from None
                if (
                    known is not None
                    and isinstance(length, str)
                    and len(_OUTPUT_LENGTHS) < 256
                ):
                    _OUTPUT_LENGTHS[length] = known
            self._expected_content_remaining = known
        else:
            self._expected_content_remaining = None
        lines = [first]
        for name, values in fields.items():
            for value in values:
                # isinstance, not __class__: compiled, that is a type check
                # and no attribute lookup.
                if not isinstance(value, str):
                    value = native_str(value)
                lines.append(f"{name}: {value}")
        data = join_head(lines)
        if chunk:
            chunk = self._format_chunk(chunk)
            if len(chunk) >= _GATHER_MIN:
                return self._write_to_stream(data, chunk)
            data += chunk
        return self._write_to_stream(data)

    def _format_chunk(self, chunk: _BytesLike) -> _BytesLike:
        if self._expected_content_remaining is not None:
            self._expected_content_remaining -= len(chunk)
            if self._expected_content_remaining < 0:
                # The framing is already broken; stop before the peer is
                # misled any further.
                self._stream.close()
                raise httputil.HTTPOutputError(
                    "Tried to write more data than Content-Length"
                )
        if self._chunking_output:
            return format_chunk(chunk)
        return chunk

    def _write_to_stream(
        self, data: _BytesLike, more: _BytesLike | None = None
    ) -> Future[None]:
        if self._stream._closed:
            future: Future[None] = Future()
            future.set_exception(iostream.StreamClosedError())
            future.exception()
            return future
        if more is None:
            future = self._stream.write(data)
        else:
            assert isinstance(data, bytes)  # a head, with the body after it
            future = self._stream._write_pair(data, more)
        self._pending_write = future
        return future

    def write(self, chunk: _BytesLike) -> Future[None]:
        """Write a chunk of the body; the future resolves once it is sent."""
        return self._write_to_stream(self._format_chunk(chunk))

    def finish(self) -> None:
        """The message being written is complete."""
        remaining = self._expected_content_remaining
        if remaining is not None and remaining != 0 and not self._stream._closed:
            self._stream.close()
            raise httputil.HTTPOutputError(
                "Tried to write %d bytes less than Content-Length" % remaining
            )
        if self._chunking_output and not self._stream._closed:
            self._pending_write = self._stream.write(LAST_CHUNK)
        self._write_finished = True
        if not self._read_finished:
            # The application answered before the request body was read; the
            # only way not to read that body is to close afterwards.
            self._disconnect_on_finish = True
        pending = self._pending_write
        if pending is None or pending.done():
            self._finish_request(pending)
        else:
            pending.add_done_callback(self._finish_request)

    def _finish_request(self, future: Future[None] | None) -> None:
        if future is not None and not future.cancelled():
            future.exception()  # a failed write shows up as a closed stream
        self._clear_callbacks()
        if not self.is_client and self._disconnect_on_finish:
            self.close()
            return
        self._mark_finished()


class _DecompressingDelegate(httputil.HTTPMessageDelegate):
    """Decodes a compressed body for the delegate it wraps.

    The codings are those of :mod:`tornado_compat.protocol.codings` (gzip,
    deflate, and br and zstd when their packages are installed); a body in
    any other coding is passed on as it came, with its Content-Encoding.
    The decoded size is bounded by ``max_body_size`` too, so a small
    compressed body cannot expand without limit: the decoder never produces
    more than one ``chunk_size`` piece at a time.
    """

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        chunk_size: int,
        max_body_size: int,
    ) -> None:
        self._delegate = delegate
        self._chunk_size = chunk_size
        self._max_body_size = max_body_size
        self._decoder: _codings.Decoder | None = None
        self._decoded = 0
        self._received = False

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        # Called again for the final response after a 1xx: decide afresh.
        self._decoder = None
        if "Content-Encoding" in headers:
            self._decoder = _codings.decoder_for(
                ",".join(headers.get_list("Content-Encoding"))
            )
            if self._decoder is not None:
                # The delegate sees the decoded body; say what was undone.
                headers.add("X-Consumed-Content-Encoding", headers["Content-Encoding"])
                del headers["Content-Encoding"]
        return self._delegate.headers_received(start_line, headers)

    async def data_received(self, chunk: bytes) -> None:
        decoder = self._decoder
        if decoder is None:
            result = self._delegate.data_received(chunk)
            if result is not None:
                await result
            return
        if chunk:
            self._received = True
        data = chunk
        while True:
            # One byte past the limit is enough to tell it was passed.
            room = self._max_body_size - self._decoded + 1
            out = decoder.decode(data, max(1, min(self._chunk_size, room)))
            if not out:
                return
            data = b""
            self._decoded += len(out)
            if self._decoded > self._max_body_size:
                raise RemoteProtocolError("decompressed body too large")
            result = self._delegate.data_received(out)
            if result is not None:
                await result

    def finish(self) -> None:
        # A body that stops inside its coded stream is truncated; no body at
        # all (a HEAD response, a 304) is not.
        if self._decoder is not None and self._received:
            self._decoder.finish()
        return self._delegate.finish()

    def on_connection_close(self) -> None:
        return self._delegate.on_connection_close()


@mypyc_attr(allow_interpreted_subclasses=True)
class _CallableAdapter(httputil.HTTPMessageDelegate):
    """Collects a request for an application that is a plain callable
    (HTTPServer's raw-callback mode).  It lives here, compiled with the
    connection that calls it: its methods run for every request."""

    def __init__(
        self,
        request_callback: Callable[[httputil.HTTPServerRequest], None],
        request_conn: httputil.HTTPConnection,
    ) -> None:
        self.connection = request_conn
        self.request_callback = request_callback
        self.request: httputil.HTTPServerRequest | None = None
        # The body's pieces; made by the first one (most requests have none).
        self._chunks: list[bytes] | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        if TYPE_CHECKING:  # checked for mypy only: this runs per request
            assert isinstance(start_line, httputil.RequestStartLine)
        self.request = _server_request(self.connection, start_line, headers)
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        chunks = self._chunks
        if chunks is None:
            self._chunks = [chunk]
        else:
            chunks.append(chunk)
        return None

    def finish(self) -> None:
        request = self.request
        assert request is not None
        if self._chunks is not None:
            request.body = b"".join(self._chunks)
            request._parse_body()
        self.request_callback(request)

    def on_connection_close(self) -> None:
        self._chunks = None


class _Resumed:
    """The rest of a coroutine that was started by hand and then had to wait.

    Awaiting it drives the coroutine on from where it stopped, exactly as a
    task would have: what it waits on is passed through, and so are values
    and exceptions (cancellation included) coming back.
    """

    __slots__ = ("_coro", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting

    def __await__(self) -> Generator[Any, Any, Any]:
        coro = self._coro
        waiting = self._waiting
        self._waiting = None
        while True:
            try:
                value = yield waiting
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    waiting = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting = coro.send(value)
                except StopIteration as stop:
                    return stop.value


async def _await_resumed(resumed: _Resumed) -> Any:
    return await resumed


@mypyc_attr(allow_interpreted_subclasses=True)
class HTTP1ServerConnection:
    """Serves the requests of one connection, one after another.

    Requests are handled straight from the stream's read event: while the
    next head is buffered, the request is read and handed to the
    application with no task or future in between, and a connection
    waiting between requests holds no more than a callback.  A request
    that has to wait (for more of its head or body, for an asynchronous
    application, or for its response to drain) goes on in a task, and the
    connection carries on once it is done.
    """

    def __init__(
        self,
        stream: Any,
        params: HTTP1ConnectionParameters | None = None,
        context: object | None = None,
    ) -> None:
        # An IOStream; or the BareConnection it serves on until that hands
        # the connection over to one (see tornado_compat._bare).
        self.stream: Any = stream
        self.params = params or HTTP1ConnectionParameters()
        self.context = context
        self._delegate: httputil.HTTPServerConnectionDelegate | None = None
        # The request that went on in a task, while it runs (held here: the
        # loop keeps only weak references to tasks).
        self._task: asyncio.Future[bool | None] | None = None
        self._ended = False
        self._ended_future: asyncio.Future[None] | None = None

    # The request in progress while it waits (in a task, or for the
    # application to finish its response); a request handled from start to
    # end within one read event is never recorded.  Used by a drain only.
    _waiting: HTTP1Connection | None = None
    # Set by start_drain(): no request after the current one.
    _draining = False
    # The BareConnection served on, until it hands the connection over to a
    # stream (see tornado_compat._bare); then None.
    _bare: Any = None
    # The server's raw callback, when its start_request would only wrap it
    # in a _CallableAdapter (HTTPServer._plain_callback): the adapter is then
    # made here, without a call into the server for every request.
    _callback: Callable[[httputil.HTTPServerRequest], None] | None = None

    async def close(self) -> None:
        """Close the connection and wait until it has stopped serving."""
        self.stream.close()
        if self._delegate is None or self._ended:
            return
        if self._ended_future is None:
            self._ended_future = asyncio.get_running_loop().create_future()
        await self._ended_future

    def start_drain(self) -> None:
        """Serve no further request: close now if the connection is idle,
        else after the request in progress (a tornado_compat extension, for
        :meth:`.HTTPServer.drain`).

        Idle means waiting for the next request with nothing buffered.  A
        request in progress, including one whose head is still arriving,
        is answered with ``Connection: close`` if its response has not
        started, and the connection closes once that response is finished;
        requests pipelined behind it are not read (RFC 9112 section 9.6:
        the client sends them again on a new connection).
        """
        if self._draining or self._ended:
            return
        self._draining = True
        stream = self.stream
        if stream._closed:
            return
        if stream._readable_callback is not None:
            # Waiting between requests with an empty buffer (see _serve).
            stream.close()
            return
        conn = self._waiting
        if conn is not None and not conn._finished:
            conn.no_keep_alive = True
            conn._disconnect_on_finish = True
        elif not stream._read_buffer:
            # The last response is all written and serving goes on at the
            # next loop turn (_go_on_after): there is nothing to wait for.
            stream.close()
        # Else bytes of a next request are buffered; _serve reads it as the
        # last one.

    def in_flight(self) -> str | None:
        """The request in progress, as ``"METHOD URI"`` (``""`` while its
        head is incomplete), or None when the connection is idle or ended
        (a tornado_compat extension, for :meth:`.HTTPServer.drain`)."""
        stream = self.stream
        if self._ended or stream._closed or stream._readable_callback is not None:
            return None
        conn = self._waiting
        if conn is None or conn._finished:
            return "" if stream._read_buffer else None
        start_line = conn._request_start_line
        if start_line is None:
            return ""
        return f"{start_line.method} {start_line.path}"

    def start_serving(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        """Read requests and hand each to ``delegate.start_request(...)``."""
        assert isinstance(delegate, httputil.HTTPServerConnectionDelegate)
        self._delegate = delegate
        plain = getattr(delegate, "_plain_callback", None)
        if plain is not None:
            self._callback = plain()
        self._serve()

    def __call__(self) -> None:
        """Internal: the stream's readable callback, which serves on (see
        _serve).  The connection is its own callback, so that waiting
        between requests allocates no bound method, and holds none."""
        self._serve()

    def _serve(self) -> None:
        """Handle every request whose bytes are buffered, then wait for more."""
        delegate = self._delegate
        assert delegate is not None
        while True:
            # (Read again for each request: the last one may have had the
            # connection handed over to a stream, see _stream_taken_over.)
            stream = self.stream
            buf = stream._read_buffer
            idle = not buf
            if not idle and buf[0] in _LINE_END_BYTES:
                _skip_empty_lines(buf, self.params.strict)
                # A CR alone may be the first half of one more empty line's
                # CRLF: no request has begun until the byte after it says
                # otherwise.
                idle = not buf or (len(buf) == 1 and buf[0] == 0x0D)
                head_timeout = self.params.head_timeout
                if idle and head_timeout is not None and not stream._closed:
                    # Empty lines may precede a request: they start its
                    # head, or a peer could send one a second forever.
                    _HeadTimeout.head_started(
                        stream, head_timeout, "request", self.context
                    )
            if idle:
                if stream._closed:
                    self._end()
                    return
                timeout = self.params.header_timeout
                if timeout is not None:
                    _HeadTimeout.arm(stream, timeout)
                # The connection itself is the callback (see __call__).
                if getattr(stream, "_paused", True):
                    stream._notify_when_readable(self)
                else:
                    # _notify_when_readable's work for an open stream that
                    # is reading, without its two calls.
                    stream._readable_callback = self
                return
            conn = HTTP1Connection(stream, False, self.params, self.context)
            if self._bare is not None:
                conn._on_bare = True
            if self._draining:
                conn.no_keep_alive = True
            callback = self._callback
            try:
                request_delegate: httputil.HTTPMessageDelegate | None = (
                    None if callback is not None else delegate.start_request(self, conn)
                )
            except Exception:
                _app_log.error("Uncaught exception", exc_info=True)
                conn.close()
                self._end()
                return
            try:
                outcome = conn._read_request(request_delegate, callback)
                if not (outcome is True or outcome is False or outcome is None):
                    # It has to wait: it goes on in a task from where it
                    # stops, if it does.
                    waiting = outcome.send(None)
                    task = asyncio.ensure_future(
                        _await_resumed(_Resumed(outcome, waiting))
                    )
                    self._task = task
                    self._waiting = conn
                    task.add_done_callback(
                        functools.partial(self._message_done, conn=conn)
                    )
                    return
            except StopIteration as stop:
                outcome = stop.value
            except Exception as e:
                self._message_failed(e, conn)
                return
            # True: the request is all done and the connection is open.
            if outcome is not True and not self._may_go_on(conn, outcome):
                return

    def _stream_taken_over(self, stream: iostream.IOStream) -> None:
        """The BareConnection served on so far handed the connection over to
        ``stream``, which is served on from now on."""
        self.stream = stream
        self._bare = None

    def _message_done(
        self, task: asyncio.Future[bool | None], conn: HTTP1Connection
    ) -> None:
        self._task = None
        self._waiting = None
        if task.cancelled():
            conn.close()
            self._end()
            return
        error = task.exception()
        if error is not None:
            self._message_failed(error, conn)
            return
        if self._may_go_on(conn, task.result()):
            self._serve()

    def _may_go_on(self, conn: HTTP1Connection, result: bool | None) -> bool:
        """Whether the next request may be read now, after ``conn``'s
        message was read with this result (see _read_message).  If not,
        serving has ended, or goes on once the response is finished."""
        if result is None and not conn._finished:
            conn._on_finished = functools.partial(self._response_finished, conn)
            self._waiting = conn
            return False
        if result is False or conn._detached or self.stream._closed:
            self._end()
            return False
        return True

    def _response_finished(self, conn: HTTP1Connection) -> None:
        # Called from inside the application's finish(): the connection goes
        # on at the next loop turn, not under its feet (by then it may also
        # have been detached, as a websocket upgrade does after finish()).
        # On the stream's own loop, straight onto its queue: IOLoop's
        # add_callback would wrap the call twice more (about 4,000
        # instructions for every tornado.web response).
        # Whether this runs on that loop's thread: asyncio's own loop records
        # the thread it runs on, which costs less to compare than asking for
        # the running loop (asyncio's fork check makes that a getpid()
        # system call); other loops (uvloop) are asked.
        io_loop = self.stream.io_loop
        loop = getattr(io_loop, "asyncio_loop", None)
        thread = getattr(loop, "_thread_id", _NO_THREAD)
        if thread is _NO_THREAD:
            ours = loop is not None and asyncio._get_running_loop() is loop
        else:
            ours = thread == threading.get_ident()
        if ours and loop is not None:
            _go_on_soon(io_loop, loop, self, conn)
        else:
            io_loop.add_callback(self._go_on_after, conn)

    def _go_on_after(self, conn: HTTP1Connection) -> None:
        self._waiting = None
        if self._may_go_on(conn, True):
            self._serve()

    def _message_failed(self, error: BaseException, conn: HTTP1Connection) -> None:
        if not isinstance(error, iostream.StreamClosedError):
            _app_log.error("Uncaught exception", exc_info=error)
            conn.close()
        self._end()

    def _end(self) -> None:
        """Serving is over: tell the delegate, once."""
        if self._ended:
            return
        self._ended = True
        _HeadTimeout.drop(self.stream)
        future = self._ended_future
        try:
            assert self._delegate is not None
            self._delegate.on_close(self)
        finally:
            if future is not None and not future.done():
                future.set_result(None)


# The IOLoop attribute that holds its queue of connections to go on (see
# _go_on_soon).
_GO_ON_QUEUE: Final = "_tornado_compat_go_on"
_GoOnQueue = list[tuple[contextvars.Context, HTTP1ServerConnection, HTTP1Connection]]


def _go_on_soon(
    io_loop: Any, loop: Any, server: HTTP1ServerConnection, conn: HTTP1Connection
) -> None:
    """``server._go_on_after(conn)`` at the loop's next turn, in a copy of
    the current context, as ``loop.call_soon`` would run it.

    The connections whose responses finish in one turn (one per tornado.web
    response) share one call of the loop: each has its own context, without
    a handle of its own (about a microsecond a response).
    """
    queue: _GoOnQueue | None = getattr(io_loop, _GO_ON_QUEUE, None)
    if queue is None:
        queue = []
        try:
            setattr(io_loop, _GO_ON_QUEUE, queue)
        except AttributeError:  # an IOLoop class without a __dict__
            loop.call_soon(server._go_on_after, conn)
            return
    if not queue:
        loop.call_soon(_go_on_together, loop, queue)
    queue.append((contextvars.copy_context(), server, conn))


def _go_on_together(loop: Any, queue: _GoOnQueue) -> None:
    """Run the go-ons that _go_on_soon queued, each in its context; one
    that raises is reported as a callback of the loop's would be."""
    waiting = queue.copy()
    queue.clear()
    for context, server, conn in waiting:
        try:
            context.run(server._go_on_after, conn)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as e:
            loop.call_exception_handler(
                {
                    "message": "Exception in callback "
                    "HTTP1ServerConnection._go_on_after",
                    "exception": e,
                }
            )
