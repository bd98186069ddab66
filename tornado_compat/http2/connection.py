"""HTTP/2 server connections over an IOStream.

What this module is for: :class:`H2ServerConnection` reads an HTTP/2
connection from an IOStream, feeds :class:`~.core.H2ServerCore` and gives
each stream to the server's ``HTTPServerConnectionDelegate`` as an
:class:`H2Stream`, an :class:`~tornado_compat.httputil.HTTPConnection`, so
that ``tornado.web`` sees a request as it would over HTTP/1.1 (with
``version`` ``"HTTP/2.0"``).

It also keeps the connection's deadlines, on one loop timer per
connection re-armed to the earliest: the idle deadline (no stream open),
the head deadline (a header block begun and not ended), and each stream's
body deadline and send deadline (a response that the peer's windows or
socket take nothing of).  And it stops reading while its socket's output
is backed up, so a peer that does not read cannot make the server queue
answers (PING and SETTINGS ACKs included) without bound.

What it must never do: frame or parse HTTP/2 itself (the core and ``h2``
do); let one stream's application error or slowness stop the others; or
keep a stream, buffer, timer or callback once the connection has ended.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import math
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.concurrent import Future, future_set_result_unless_cancelled
from tornado.log import app_log, gen_log

from tornado_compat import httputil, iostream
from tornado_compat.http1connection import _MALFORMED, _DecompressingDelegate
from tornado_compat.http2 import core as _core
from tornado_compat.protocol import framing as _framing
from tornado_compat.protocol.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["H2ServerConnection", "H2Stream", "RawStreamUnavailableError"]

# How much to read from the socket at once.
_READ_SIZE = 65536
# Output queued on the socket past which streams stop handing it data and
# the connection stops reading, until the peer has taken it.
_HIGH_WATER = 262144
# After the server ends a connection (GOAWAY sent, write side shut), how
# long it reads and discards what the peer still sends, so that the peer
# gets the GOAWAY rather than a reset that may destroy it.
LINGER = 1.0


# RFC 9113 section 7: the stream's request must be made again over HTTP/1.1.
_HTTP_1_1_REQUIRED = 0xD


class RawStreamUnavailableError(RuntimeError):
    """The application asked for the raw connection of a request served over
    HTTP/2: ``detach()`` (which ``tornado.websocket`` and other protocols
    tunnelled over HTTP use), or reading from or writing to
    ``request.connection.stream``.

    An HTTP/2 connection carries many requests at once, framed by the
    protocol, so it cannot be handed to one of them.  ``detach()`` also
    resets the stream with ``HTTP_1_1_REQUIRED``, which tells the client to
    make the request again over HTTP/1.1 (browsers and curl do).
    """


def _closed_future() -> Future[None]:
    future: Future[None] = Future()
    future.set_exception(iostream.StreamClosedError())
    # Marked as retrieved: an application that does not await a write after
    # the stream was reset must not get an "exception never retrieved" log.
    future.exception()
    return future


def _copy_context(context: Any) -> Any:
    """A shallow copy of a request context, as ``copy.copy`` makes it; a
    plain object (the server's own context) is copied through its
    ``__dict__``, without ``copy``'s generic protocol, once per stream."""
    if context is None:
        return None
    cls: Any = type(context)
    if (
        cls.__new__ is object.__new__
        and cls.__reduce_ex__ is object.__reduce_ex__
        and cls.__reduce__ is object.__reduce__
        and getattr(cls, "__copy__", None) is None
        and "__slots__" not in cls.__dict__
        and hasattr(context, "__dict__")
    ):
        duplicate = object.__new__(cls)
        duplicate.__dict__.update(context.__dict__)
        return duplicate
    return copy.copy(context)


def _done_future() -> Future[None]:
    future: Future[None] = Future()
    future.set_result(None)
    return future


class H2Stream(httputil.HTTPConnection):
    """One HTTP/2 stream: a request read from it, a response written to it.

    ``write`` resolves its future once the peer's flow-control windows have
    taken all of the chunk.  ``context`` is a copy of the connection's, per
    stream, since ``xheaders`` rewrites it for the duration of a request
    and streams run at the same time.
    """

    def __init__(self, conn: H2ServerConnection, stream_id: int, context: Any) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.context = _copy_context(context)
        self.delegate: httputil.HTTPMessageDelegate | None = None
        self._inbox: deque[Any] = deque()
        # The piece of body handed to the delegate and not yet taken: its
        # window is given back once it is, or when the stream ends.
        self._delivering: _core.Body | None = None
        self._waiting = False
        self._pending: deque[list[Any]] = deque()
        self._close_callback: Callable[[], None] | None = None
        # Queued with the connection, whose next write hands this stream's
        # chunks to h2 (so that a finish() right after the last write() ends
        # the stream on that chunk's DATA frame).
        self._send_queued = False
        self._head_sent = False
        # A response that can have no body (HEAD, 204, 304): its head, kept
        # until finish() so that it ends the stream with no empty DATA frame.
        self._held_head: tuple[int, list[tuple[bytes, bytes]]] | None = None
        self._finish_requested = False
        self._finished = False
        self._request_ended = False
        self._message_done = False
        self._closed = False
        self._no_body = False
        self._method = ""
        self._received = 0
        self._max_body_size = conn.max_body_size
        # Body bytes the response's Content-Length still promises, if it
        # has one.
        self._content_remaining: int | None = None
        # When the head arrived, and when the body must have ended (the
        # connection's timer checks both).
        self._head_at = 0.0
        self._body_deadline: float | None = None
        # Since when response data waits on a window or a backed-up socket
        # without any of it taken; None when nothing waits.
        self._stalled_since: float | None = None

    # -- HTTPConnection ------------------------------------------------------

    def write_headers(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Future[None]:
        assert isinstance(start_line, httputil.ResponseStartLine)
        if self._closed:
            return _closed_future()
        code = start_line.code
        self._no_body = self._method == "HEAD" or code in (204, 304) or code < 200
        if not self._no_body:
            try:
                self._content_remaining = _framing.parse_content_length(
                    headers.get_list("Content-Length")
                )
            except RemoteProtocolError as e:
                # Ours to send, so the mistake is the application's.
                raise LocalProtocolError(str(e)) from None
        pairs = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.get_all()
        ]
        self._head_sent = True
        # An informational head held so far is dropped (a client may go
        # without one); the final head replaces it.
        self._held_head = None
        if self._no_body:
            self._held_head = (code, pairs)
            return _done_future()
        self.conn.core.send_headers(self.stream_id, code, pairs)
        if chunk:
            return self.write(chunk)
        self.conn._flush_soon()
        return _done_future()

    def write(self, chunk: bytes) -> Future[None]:
        if self._closed:
            return _closed_future()
        future: Future[None] = Future()
        if self._no_body or not chunk:
            future.set_result(None)
            return future
        if self._content_remaining is not None:
            self._content_remaining -= len(chunk)
            if self._content_remaining < 0:
                # The peer would see a malformed response (RFC 9113 section
                # 8.1.1): end the stream rather than mislead it further.
                self._abort(_core.INTERNAL_ERROR)
                raise httputil.HTTPOutputError(
                    "Tried to write more data than Content-Length"
                )
        self._pending.append([bytes(chunk), 0, future])
        self.conn._want_send(self)
        return future

    def finish(self) -> None:
        if self._closed or self._finish_requested:
            return
        remaining = self._content_remaining
        if remaining:
            self._abort(_core.INTERNAL_ERROR)
            raise httputil.HTTPOutputError(
                "Tried to write %d bytes less than Content-Length" % remaining
            )
        self._finish_requested = True
        self.conn._want_send(self)

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        self._close_callback = callback

    def detach(self) -> iostream.IOStream:
        """Not possible over HTTP/2: raises :class:`RawStreamUnavailableError`.

        The stream is reset first, with ``HTTP_1_1_REQUIRED``, so the client
        retries over HTTP/1.1 rather than waiting for an answer.
        """
        if not self._closed:
            self.conn.core.reset(self.stream_id, _HTTP_1_1_REQUIRED)
            self._close(notify=False)
            self.conn._flush()
        raise RawStreamUnavailableError(
            "detach() is not possible over HTTP/2: the connection carries "
            "other streams and cannot be handed over; the stream was reset "
            "with HTTP_1_1_REQUIRED so that the client retries over HTTP/1.1"
        )

    @property
    def stream(self) -> _StreamView:
        """What ``request.connection.stream`` offers over HTTP/2: see
        :class:`_StreamView`."""
        return _StreamView(self)

    def set_body_timeout(self, timeout: float) -> None:
        """Seconds from the head's arrival for the body to end, for this
        stream; past them it gets 408 (or a reset once the answer began)."""
        self._body_deadline = self._head_at + timeout
        self.conn._arm(self._body_deadline)

    def set_max_body_size(self, max_body_size: int) -> None:
        """The most request-body bytes this stream accepts."""
        self._max_body_size = max_body_size

    # -- out -----------------------------------------------------------------

    def _send_pending(self) -> None:
        """Hand the queued chunks to h2 as far as the windows allow (the
        connection writes the frames)."""
        if self._closed:
            return
        conn = self.conn
        core = conn.core
        pending = self._pending
        progress = False
        ended = False
        # What the socket may still queue (with the frames not yet written
        # to it): past it, the rest waits until the peer reads (a peer that
        # never reads gets no more than this).
        room = _HIGH_WATER - conn.stream._unsent_bytes() - core.pending_output()
        while pending:
            if room <= 0:
                conn._wait_writable()
                break
            item = pending[0]
            data, offset, future = item
            end = offset + room
            # The last chunk's last frame ends the stream, when the whole
            # of it fits.
            last = self._finish_requested and len(pending) == 1 and end >= len(data)
            sent = core.send_data(
                self.stream_id,
                data[offset:end] if offset or end < len(data) else data,
                end_stream=last,
            )
            room -= sent
            progress = progress or sent > 0
            item[1] = offset = offset + sent
            if offset < len(data):
                if room <= 0:
                    # The socket's share ran out, not the window: no
                    # WINDOW_UPDATE may come to resume this stream.
                    conn._wait_writable()
                break
            pending.popleft()
            ended = last
            future_set_result_unless_cancelled(future, None)
        if pending:
            if progress or self._stalled_since is None:
                self._stalled_since = conn._now()
                conn._arm_send(self._stalled_since)
        else:
            self._stalled_since = None
        if not pending and self._finish_requested and not self._finished:
            self._finished = True
            if self._held_head is not None:
                code, pairs = self._held_head
                self._held_head = None
                core.send_headers(self.stream_id, code, pairs, end_stream=True)
            elif not ended:
                core.end_stream(self.stream_id)
            if not self._request_ended:
                # The answer is complete; the rest of the request body is
                # not wanted (RFC 9113 section 8.1).
                core.reset(self.stream_id, _core.NO_ERROR)
            self._close(notify=False)

    # -- in ------------------------------------------------------------------

    def _post(self, item: Any) -> None:
        self._inbox.append(item)
        if not self._waiting:
            self._run_inbox()

    def _run_inbox(self) -> None:
        """Pass events to the delegate one at a time, waiting for any
        awaitable it returns before the next (as HTTP/1 does)."""
        inbox = self._inbox
        while inbox and not self._waiting and self.delegate is not None:
            item = inbox.popleft()
            try:
                result = self._deliver(item)
            except Exception as e:
                self._failed(e)
                return
            if result is not None:
                self._waiting = True
                fut = asyncio.ensure_future(result)
                fut.add_done_callback(functools.partial(self._resume, item=item))
                return
            self._delivered(item)

    def _resume(self, fut: asyncio.Future[Any], *, item: Any) -> None:
        self._waiting = False
        if fut.cancelled():
            self._abort(_core.INTERNAL_ERROR)
            return
        error = fut.exception()
        if error is not None:
            self._failed(error)
            return
        self._delivered(item)
        self._run_inbox()

    def _deliver(self, item: Any) -> Awaitable[None] | None:
        delegate = self.delegate
        assert delegate is not None
        if isinstance(item, _core.RequestHead):
            self._method = item.method.decode("latin-1")
            headers = httputil.HTTPHeaders()
            for name, value in item.headers:
                headers.add(name.decode("latin-1"), value.decode("latin-1"))
            if item.authority is not None and "Host" not in headers:
                headers["Host"] = item.authority.decode("latin-1")
            start_line = httputil.RequestStartLine(
                self._method, item.path.decode("latin-1"), "HTTP/2.0"
            )
            return delegate.headers_received(start_line, headers)
        if isinstance(item, _core.Body):
            self._delivering = item
            # Counted as the application takes the body, not as it arrives,
            # so that a limit raised in prepare() (set_max_body_size)
            # applies to all of it, as over HTTP/1; what arrives first is
            # bounded by the stream's window.
            self._received += len(item.data)
            limit = self._max_body_size
            if limit is not None and self._received > limit:
                raise RemoteProtocolError(
                    f"Body too long: over max_body_size {limit}", status=413
                )
            return delegate.data_received(item.data)
        assert isinstance(item, _core.StreamEnd)
        self._message_done = True
        delegate.finish()
        return None

    def _delivered(self, item: Any) -> None:
        if isinstance(item, _core.RequestHead):
            # After headers_received, as over HTTP/1: the application may
            # have changed the limit there.
            limit = self._max_body_size
            if limit is not None and not self._closed:
                declared = _content_length(item.headers)
                if declared is not None and declared > limit:
                    self._refuse(
                        RemoteProtocolError(
                            f"Content-Length too long: {declared} bytes, over "
                            f"max_body_size {limit}",
                            status=413,
                        )
                    )
        elif isinstance(item, _core.Body) and self._delivering is item:
            # The window opens only as the application takes the body: a
            # slow @stream_request_body handler holds the client back.  (A
            # piece taken after its stream ended was given back by _close.)
            self._delivering = None
            self.conn.core.acknowledge(self.stream_id, item.flow_length)
            self.conn._flush_soon()

    def _status_for(self, precise: int) -> int:
        """The status of a refusal: 400, as Tornado answers over HTTP/1.1,
        or the ``precise`` one with ``precise_status``."""
        if getattr(self.conn.params, "precise_status", False):
            return precise
        return 400

    def _end_early(self, status: int, error_code: int) -> None:
        """End the stream from this side before its request is read: with a
        bodyless ``status`` answer if none has begun, else a reset with
        ``error_code``."""
        if self._closed:
            return
        core = self.conn.core
        if self._head_sent:
            core.reset(self.stream_id, error_code)
        else:
            self._head_sent = True
            core.send_headers(
                self.stream_id, status, [(b"content-length", b"0")], end_stream=True
            )
            if not self._request_ended:
                # The answer is complete; the rest of the body is not wanted.
                core.reset(self.stream_id, _core.NO_ERROR)
        self._close(notify=True)
        self.conn._flush()

    def _check_deadlines(self, now: float) -> float:
        """End the stream if one of its deadlines has passed; else return
        the next one (``inf`` when none is set)."""
        conn = self.conn
        deadline = math.inf
        body = self._body_deadline
        if body is not None and not self._request_ended:
            if now >= body:
                gen_log.info(
                    "Timeout reading body from %s (HTTP/2 stream %d)",
                    self.context,
                    self.stream_id,
                )
                self._end_early(408, _core.CANCEL)
                return math.inf
            deadline = body
        stalled = self._stalled_since
        if stalled is not None and conn._idle_timeout is not None:
            send = stalled + conn._idle_timeout
            if now >= send:
                gen_log.info(
                    "HTTP/2 stream %d to %s: the peer took no response data "
                    "for %g s; stream reset",
                    self.stream_id,
                    self.context,
                    conn._idle_timeout,
                )
                self._abort(_core.CANCEL)
                return math.inf
            deadline = min(deadline, send)
        return deadline

    def _on_body(self, event: _core.Body) -> None:
        data = event.data
        if not data:
            # An empty DATA frame (often the one that ends the stream) is
            # no body for the application, as an empty chunk is not over
            # HTTP/1.1; its padding, if any, is still given back.
            self.conn.core.acknowledge(self.stream_id, event.flow_length)
            self.conn._flush()
            return
        # At most chunk_size bytes per data_received, as over HTTP/1.1; the
        # window opens once the frame's last piece is taken.
        size = self.conn.chunk_size
        for start in range(0, len(data) - size, size):
            self._post(_core.Body(self.stream_id, data[start : start + size], 0))
        if len(data) > size:
            tail = data[(len(data) - 1) // size * size :]
            event = _core.Body(self.stream_id, tail, event.flow_length)
        self._post(event)

    # -- ending --------------------------------------------------------------

    def _failed(self, error: BaseException) -> None:
        """A delegate raised: a malformed request (what HTTP/1 answers with
        400: a broken gzip body, an invalid form) is the peer's mistake,
        anything else the application's, a response it framed wrongly
        (LocalProtocolError) included."""
        if isinstance(error, _MALFORMED) and not isinstance(error, LocalProtocolError):
            self._refuse(error)
            return
        app_log.error("Uncaught exception", exc_info=error)
        self._abort(_core.INTERNAL_ERROR)

    def _refuse(self, error: Exception) -> None:
        """Answer a malformed request with 400 (the precise status with
        ``precise_status``) and end the stream; the others go on."""
        gen_log.info(
            "Malformed HTTP/2 request from %s on stream %d: %s",
            self.context,
            self.stream_id,
            error,
        )
        if self._closed:
            return
        # The delegate's message ended in error, even if the error came
        # from its finish(): it hears of it as a closed connection.
        self._message_done = False
        self._end_early(
            self._status_for(getattr(error, "status", 400)), _core.PROTOCOL_ERROR
        )

    def _abort(self, error_code: int) -> None:
        """Reset the stream from this side and tell the application."""
        if self._closed:
            return
        self.conn.core.reset(self.stream_id, error_code)
        self._close(notify=True)
        self.conn._flush_soon()

    def _give_back_unread(self) -> None:
        """Give the connection's window back for the body the application
        will now never take: the piece it holds and those queued behind
        it.  Else a client could shrink the window the connection's other
        streams share, stream by stream, through a slow handler.  The
        stream's own window needs nothing: it is gone with the stream."""
        flow = 0
        delivering, self._delivering = self._delivering, None
        if delivering is not None:
            flow = delivering.flow_length
        inbox = self._inbox
        for item in inbox:
            if isinstance(item, _core.Body):
                flow += item.flow_length
        inbox.clear()
        if flow and not self.conn._ended:
            self.conn.core.acknowledge(self.stream_id, flow)
            self.conn._flush_soon()

    def _close(self, notify: bool) -> None:
        """The stream is over; if the response was not finished, the
        application hears of it as a closed connection."""
        if self._closed:
            return
        self._closed = True
        if self._inbox or self._delivering is not None:
            self._give_back_unread()
        for _data, _offset, future in self._pending:
            if not future.done():
                future.set_exception(iostream.StreamClosedError())
                future.exception()
        self._pending.clear()
        self.conn._forget(self)
        if notify and not self._finished:
            callback, self._close_callback = self._close_callback, None
            delegate, self.delegate = self.delegate, None
            if delegate is not None and not self._message_done:
                try:
                    delegate.on_connection_close()
                except Exception:
                    app_log.error("Uncaught exception", exc_info=True)
            if callback is not None:
                try:
                    callback()
                except Exception:
                    app_log.error("Uncaught exception", exc_info=True)
        self.delegate = None
        self._close_callback = None


def _decoding(
    delegate: httputil.HTTPMessageDelegate,
    h2_stream: H2Stream,
    head: _core.RequestHead,
) -> httputil.HTTPMessageDelegate:
    """With ``decompress_request``, ``delegate`` wrapped to receive a
    content-coded body decoded, by the same delegate (same codings, limits
    and errors) as over HTTP/1."""
    params = h2_stream.conn.params
    if not getattr(params, "decompress", False):
        return delegate
    if not any(name == b"content-encoding" for name, _ in head.headers):
        return delegate
    max_body_size = h2_stream._max_body_size
    if max_body_size is None:
        max_body_size = h2_stream.conn.stream.max_buffer_size
    return _DecompressingDelegate(delegate, params.chunk_size, max_body_size)


class _StreamView:
    """``request.connection.stream`` for a request served over HTTP/2.

    What applications read from an HTTP/1 connection's IOStream works:
    ``socket`` (for ``getpeercert()``, as ``get_ssl_certificate()`` does,
    or ``getsockname()``), ``closed()``, ``set_nodelay()``.  ``close()``
    ends this request only: its stream is reset, the connection's other
    streams go on.  Reading and writing raw bytes, which would corrupt the
    HTTP/2 framing, raise :class:`RawStreamUnavailableError`.
    """

    def __init__(self, h2_stream: H2Stream) -> None:
        self._h2_stream = h2_stream

    @property
    def socket(self) -> Any:
        return self._h2_stream.conn.stream.socket

    def closed(self) -> bool:
        return self._h2_stream._closed

    def close(self, exc_info: Any = False) -> None:
        self._h2_stream._abort(_core.CANCEL)

    def set_nodelay(self, value: bool) -> None:
        self._h2_stream.conn.stream.set_nodelay(value)

    def _unavailable(self, *args: Any, **kwargs: Any) -> Any:
        raise RawStreamUnavailableError(
            "request.connection.stream cannot be read or written over HTTP/2: "
            "the connection carries other streams, framed by the protocol; "
            "write the response with the request's connection instead"
        )

    write = read_bytes = read_until = read_until_regex = _unavailable
    read_until_close = read_into = start_tls = set_close_callback = _unavailable


class H2ServerConnection:
    """Serves one HTTP/2 connection (prior knowledge or ALPN ``h2``).

    ``params`` is the server's ``HTTP1ConnectionParameters``, read with
    their HTTP/1 meaning: ``header_timeout`` (``idle_connection_timeout``)
    bounds a connection with no stream open and a response the peer takes
    nothing of; ``head_timeout`` a header block (without it,
    ``header_timeout`` does); ``body_timeout`` each stream's body;
    ``max_header_size`` the header list; ``max_body_size`` each body;
    ``chunk_size`` the pieces of a body passed to a delegate.
    ``context`` is the request context that each stream copies.  The
    other keywords are the HTTP/2 limits of :class:`~.core.H2ServerCore`.
    """

    def __init__(
        self,
        stream: iostream.IOStream,
        params: Any = None,
        context: object | None = None,
        *,
        max_concurrent_streams: int = 100,
        max_resets: int = 200,
        max_control_frames: int = 1000,
    ) -> None:
        self.stream = stream
        self.params = params
        self.context = context
        # As over HTTP/1: without max_body_size, the stream's buffer limit.
        max_body_size: int | None = getattr(params, "max_body_size", None)
        self.max_body_size = (
            max_body_size if max_body_size is not None else stream.max_buffer_size
        )
        #: The most body bytes passed to a delegate at once.
        self.chunk_size: int = getattr(params, "chunk_size", None) or 65536  # as HTTP/1
        self._idle_timeout: float | None = getattr(params, "header_timeout", None)
        self._head_timeout: float | None = (
            getattr(params, "head_timeout", None) or self._idle_timeout
        )
        self._body_timeout: float | None = getattr(params, "body_timeout", None)
        self.core = _core.H2ServerCore(
            max_concurrent_streams=max_concurrent_streams,
            max_header_list_size=getattr(params, "max_header_size", None) or 65536,
            max_resets=max_resets,
            max_control_frames=max_control_frames,
        )
        self.streams: dict[int, H2Stream] = {}
        self._delegate: httputil.HTTPServerConnectionDelegate | None = None
        self._task: asyncio.Task[None] | None = None
        # Set once no more frames are processed (the connection is ending).
        self._ended = False
        self._draining = False
        self._loop = asyncio.get_event_loop()
        # The one deadline timer, and when it fires.
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._idle_since = self._now()
        # The socket's last write, while its output is backed up.
        self._last_write: Future[None] | None = None
        self._write_waiting = False
        # While received bytes are being handled, frames wait for the one
        # write at its end; at other times, for one write in the next loop
        # turn, which takes what every stream answered meanwhile.
        self._receiving = False
        self._flush_handle: asyncio.Handle | None = None
        self._to_send: list[H2Stream] = []

    def start_serving(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        """Read streams and hand each to ``delegate.start_request(...)``."""
        self._delegate = delegate
        self._task = asyncio.ensure_future(self._serve())
        if self._idle_timeout is not None:
            self._arm(self._idle_since + self._idle_timeout)

    async def close(self) -> None:
        """Close the connection and wait until it has stopped serving."""
        self.stream.close()
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    def start_drain(self) -> None:
        """Send GOAWAY (in two steps, see
        :meth:`~.core.H2ServerCore.start_drain`); close once the final
        GOAWAY is sent and the streams it lets in are done."""
        if self._draining or self._ended:
            return
        self._draining = True
        self.core.start_drain()
        self._flush()

    def in_flight(self) -> str | None:
        """How many streams are in progress, or None when there are none."""
        if self._ended or not self.streams:
            return None
        return "%d HTTP/2 stream(s)" % len(self.streams)

    def streams_in_flight(self) -> list[str]:
        """One description per stream in progress (a drain that cuts them
        counts each as a request)."""
        if self._ended:
            return []
        return ["HTTP/2 stream %d" % sid for sid in self.streams]

    async def _serve(self) -> None:
        stream = self.stream
        try:
            self._flush()
            while True:
                if self._write_blocked() and not self._ended:
                    # Read no more until the peer takes what is queued.
                    try:
                        await self._writable()
                    except iostream.StreamClosedError:
                        break
                try:
                    data = await stream.read_bytes(_READ_SIZE, partial=True)
                except iostream.StreamClosedError:
                    break
                if not self._ended:
                    self._receive(data)
        finally:
            self._end()

    def _receive(self, data: bytes) -> None:
        self._receiving = True
        try:
            self._handle_events(data)
        finally:
            self._receiving = False
        since = self.core.header_block_since
        if since is not None and self._head_timeout is not None:
            self._arm(since + self._head_timeout)
        self._flush()
        self._check_drained()

    def _handle_events(self, data: bytes) -> None:
        core = self.core
        for event in core.receive(data, self._now()):
            if isinstance(event, _core.RequestHead):
                self._on_request(event)
                continue
            if isinstance(event, _core.Terminated):
                if event.head_too_large:
                    # Worded as HTTP/1 logs a head over max_header_size.
                    gen_log.info(
                        "Unsatisfiable read, closing connection: HTTP/2 %s from %s",
                        event.reason,
                        self.context,
                    )
                elif event.last_stream_id is None:
                    gen_log.info(
                        "HTTP/2 protocol error from %s: %s", self.context, event.reason
                    )
                self._shut()
                return
            if isinstance(event, _core.PeerDone):
                # The client opens no more streams: the connection ends once
                # those it opened are answered, as after a drain.
                self._draining = True
                continue
            if isinstance(event, _core.WindowOpened):
                targets = (
                    list(self.streams.values())
                    if event.stream_id == 0
                    else [s for s in (self.streams.get(event.stream_id),) if s]
                )
                for target in targets:
                    target._send_pending()
                continue
            h2_stream = self.streams.get(event.stream_id)
            if isinstance(event, _core.Malformed):
                # The core has reset the stream; the connection goes on.
                gen_log.info(
                    "Malformed HTTP/2 request from %s on stream %d: %s",
                    self.context,
                    event.stream_id,
                    event.cause,
                )
                if h2_stream is not None:
                    h2_stream._close(notify=True)
                continue
            if h2_stream is None:
                # A stream already ended on this side: give back the window.
                if isinstance(event, _core.Body):
                    core.acknowledge(event.stream_id, event.flow_length)
                continue
            if isinstance(event, _core.Body):
                h2_stream._on_body(event)
            elif isinstance(event, _core.StreamEnd):
                h2_stream._request_ended = True
                h2_stream._post(event)
            elif isinstance(event, _core.StreamReset):
                h2_stream._close(notify=True)

    def _on_request(self, event: _core.RequestHead) -> None:
        delegate = self._delegate
        assert delegate is not None
        h2_stream = H2Stream(self, event.stream_id, self.context)
        self.streams[event.stream_id] = h2_stream
        h2_stream._head_at = now = self._now()
        if self._body_timeout is not None:
            h2_stream._body_deadline = now + self._body_timeout
            self._arm(h2_stream._body_deadline)
        try:
            h2_stream.delegate = _decoding(
                delegate.start_request(self, h2_stream), h2_stream, event
            )
        except Exception:
            app_log.error("Uncaught exception", exc_info=True)
            h2_stream._abort(_core.INTERNAL_ERROR)
            return
        h2_stream._post(event)

    def _flush_soon(self) -> None:
        """Write the frames produced so far, with those that follow soon:
        at the end of the bytes being handled, or in the next loop turn."""
        if self._receiving or self._flush_handle is not None or self._ended:
            return
        self._flush_handle = self._loop.call_soon(self._flush)

    def _want_send(self, h2_stream: H2Stream) -> None:
        if not h2_stream._send_queued:
            h2_stream._send_queued = True
            self._to_send.append(h2_stream)
            self._flush_soon()

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._to_send:
            queued, self._to_send = self._to_send, []
            for h2_stream in queued:
                h2_stream._send_queued = False
                h2_stream._send_pending()
        out = self.core.data_to_send()
        if out and not self.stream.closed():
            future = self.stream.write(out)
            self._last_write = future
            # Nothing waits on it: a write cut by a close is reported by
            # the read loop, not as an unretrieved exception.
            future.add_done_callback(_ignore_result)

    def _forget(self, h2_stream: H2Stream) -> None:
        self.streams.pop(h2_stream.stream_id, None)
        if not self.streams and not self._ended:
            self._idle_since = self._now()
            if self._idle_timeout is not None:
                self._arm(self._idle_since + self._idle_timeout)
            self._check_drained()

    def _check_drained(self) -> None:
        if self._draining and self.core.drain_step == "final" and not self.streams:
            self._shut()

    # -- the socket's output -------------------------------------------------

    def _write_blocked(self) -> bool:
        return self.stream._unsent_bytes() > _HIGH_WATER

    def _writable(self) -> Future[None]:
        """Resolves once what is queued on the socket now has been sent."""
        future = self._last_write
        if future is None or future.done():
            return _done_future()
        return future

    def _wait_writable(self) -> None:
        """Hand the streams' data on again once the socket has taken what
        is queued."""
        if self._write_waiting:
            return
        self._write_waiting = True
        self._writable().add_done_callback(self._on_writable)

    def _on_writable(self, future: Future[None]) -> None:
        self._write_waiting = False
        if future.cancelled() or future.exception() is not None or self._ended:
            return
        for h2_stream in list(self.streams.values()):
            if h2_stream._pending:
                h2_stream._send_pending()
        self._flush()

    # -- deadlines -----------------------------------------------------------

    def _now(self) -> float:
        return self._loop.time()

    def _arm(self, deadline: float) -> None:
        """Make the timer fire by ``deadline``.  Only an earlier deadline
        moves it; one that fires early finds nothing due and re-arms."""
        if deadline >= self._timer_at or self._ended:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _arm_send(self, stalled_since: float) -> None:
        if self._idle_timeout is not None:
            self._arm(stalled_since + self._idle_timeout)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        if self._ended:
            return
        now = self._now()
        deadline = math.inf
        since = self.core.header_block_since
        if since is not None and self._head_timeout is not None:
            at = since + self._head_timeout
            if now >= at:
                gen_log.info(
                    "Timeout reading HTTP/2 request head from %s (head_timeout %g s)",
                    self.context,
                    self._head_timeout,
                )
                self.core.expire_header_block()
                self._shut()
                return
            deadline = at
        if not self.streams and since is None and self._idle_timeout is not None:
            at = self._idle_since + self._idle_timeout
            if now >= at:
                # An idle connection ends as over HTTP/1: no log line.
                self.core.goaway(_core.NO_ERROR)
                self._shut()
                return
            deadline = min(deadline, at)
        for h2_stream in list(self.streams.values()):
            deadline = min(deadline, h2_stream._check_deadlines(now))
        if deadline < math.inf:
            self._arm(deadline)

    # -- ending --------------------------------------------------------------

    def _shut(self) -> None:
        """End the connection from this side, its GOAWAY already queued:
        the streams are closed, the GOAWAY sent, the write side shut (over
        TLS, by close_notify), and
        what the peer still sends is read and dropped for at most
        :data:`LINGER` seconds (until it closes too)."""
        if self._ended:
            return
        self._ended = True
        self._stop_timer()
        self._close_streams()
        self._flush()
        stream = self.stream
        if stream.closed():
            return
        sock = stream.socket
        # Closed by LINGER at the latest, even if the peer never reads.
        self._loop.call_later(LINGER, stream.close)
        if sock is None:
            self._writable().add_done_callback(lambda _f: stream.close())
            return
        if isinstance(stream, iostream.SSLIOStream):
            # TLS ends its own way, with close_notify after the GOAWAY;
            # the socket stays open for reading as below.
            self._writable().add_done_callback(lambda _f: stream._send_close_notify())
            return

        def shut_write(future: Future[None]) -> None:
            if stream.closed():
                return
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                stream.close()

        self._writable().add_done_callback(shut_write)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = math.inf
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def _close_streams(self) -> None:
        for h2_stream in list(self.streams.values()):
            h2_stream._close(notify=True)
        self.streams.clear()

    def _end(self) -> None:
        self._ended = True
        self._stop_timer()
        self.stream.close()
        self._close_streams()
        self._last_write = None
        delegate, self._delegate = self._delegate, None
        if delegate is not None:
            delegate.on_close(self)


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The request's Content-Length, if it has one of plain digits (``h2``
    has checked that the body matches it)."""
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) < 19 else None
    return None


def _ignore_result(future: Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
