"""HTTP/2 server connections over an IOStream.

What this module is for: :class:`H2ServerConnection` reads an HTTP/2
connection from an IOStream, feeds :class:`~.core.H2ServerCore` and gives
each stream to the server's ``HTTPServerConnectionDelegate`` as an
:class:`H2Stream`, an :class:`~tornado_compat.httputil.HTTPConnection`, so
that ``tornado.web`` sees a request as it would over HTTP/1.1 (with
``version`` ``"HTTP/2.0"``).

What it must never do: frame or parse HTTP/2 itself (the core and ``h2``
do); let one stream's application error or slowness stop the others; or
keep a stream, buffer or callback once the connection has ended.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.concurrent import Future, future_set_result_unless_cancelled
from tornado.log import app_log, gen_log

from tornado_compat import httputil, iostream
from tornado_compat.http2 import core as _core

__all__ = ["H2ServerConnection", "H2Stream"]

# How much to read from the socket at once.
_READ_SIZE = 65536


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
        self._waiting = False
        self._pending: deque[list[Any]] = deque()
        self._close_callback: Callable[[], None] | None = None
        # Queued with the connection, whose next write hands this stream's
        # chunks to h2 (so that a finish() right after the last write() ends
        # the stream on that chunk's DATA frame).
        self._send_queued = False
        self._head_sent = False
        self._finish_requested = False
        self._finished = False
        self._request_ended = False
        self._message_done = False
        self._closed = False
        self._no_body = False
        self._method = ""
        self._received = 0
        self._max_body_size = conn.max_body_size

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
        pairs = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.get_all()
        ]
        self.conn.core.send_headers(self.stream_id, code, pairs)
        self._head_sent = True
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
        self._pending.append([bytes(chunk), 0, future])
        self.conn._want_send(self)
        return future

    def finish(self) -> None:
        if self._closed or self._finish_requested:
            return
        self._finish_requested = True
        self.conn._want_send(self)

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        self._close_callback = callback

    def set_body_timeout(self, timeout: float) -> None:
        """Accepted for ``@stream_request_body`` handlers; not enforced on
        HTTP/2 streams yet."""

    def set_max_body_size(self, max_body_size: int) -> None:
        """The most request-body bytes this stream accepts."""
        self._max_body_size = max_body_size

    # -- out -----------------------------------------------------------------

    def _send_pending(self) -> None:
        """Hand the queued chunks to h2 as far as the windows allow (the
        connection writes the frames)."""
        if self._closed:
            return
        core = self.conn.core
        pending = self._pending
        ended = False
        while pending:
            item = pending[0]
            data, offset, future = item
            last = self._finish_requested and len(pending) == 1
            sent = core.send_data(
                self.stream_id, data[offset:] if offset else data, end_stream=last
            )
            item[1] = offset = offset + sent
            if offset < len(data):
                break
            pending.popleft()
            ended = last
            future_set_result_unless_cancelled(future, None)
        if not pending and self._finish_requested and not self._finished:
            self._finished = True
            if not ended:
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
            except Exception:
                app_log.error("Uncaught exception", exc_info=True)
                self._abort(_core.INTERNAL_ERROR)
                return
            if result is not None:
                self._waiting = True
                fut = asyncio.ensure_future(result)
                fut.add_done_callback(functools.partial(self._resume, item=item))
                return

    def _resume(self, fut: asyncio.Future[Any], *, item: Any) -> None:
        self._waiting = False
        if fut.cancelled() or fut.exception() is not None:
            if not fut.cancelled():
                app_log.error("Uncaught exception", exc_info=fut.exception())
            self._abort(_core.INTERNAL_ERROR)
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
            result = delegate.data_received(item.data)
            if result is None:
                self._delivered(item)
            return result
        assert isinstance(item, _core.StreamEnd)
        self._message_done = True
        delegate.finish()
        return None

    def _delivered(self, item: Any) -> None:
        if isinstance(item, _core.Body):
            # The window opens only as the application takes the body: a
            # slow @stream_request_body handler holds the client back.
            self.conn.core.acknowledge(self.stream_id, item.flow_length)
            self.conn._flush_soon()

    def _on_body(self, event: _core.Body) -> None:
        self._received += len(event.data)
        if self._max_body_size is not None and self._received > self._max_body_size:
            gen_log.info(
                "HTTP/2 request body over %d bytes from %s; stream %d reset",
                self._max_body_size,
                self.context,
                self.stream_id,
            )
            self._abort(_core.CANCEL)
            return
        self._post(event)

    # -- ending --------------------------------------------------------------

    def _abort(self, error_code: int) -> None:
        """Reset the stream from this side and tell the application."""
        if self._closed:
            return
        self.conn.core.reset(self.stream_id, error_code)
        self._close(notify=True)
        self.conn._flush_soon()

    def _close(self, notify: bool) -> None:
        """The stream is over; if the response was not finished, the
        application hears of it as a closed connection."""
        if self._closed:
            return
        self._closed = True
        self._inbox.clear()
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


class H2ServerConnection:
    """Serves one HTTP/2 connection (prior knowledge or ALPN ``h2``).

    ``params`` is the server's ``HTTP1ConnectionParameters`` (only
    ``max_body_size`` applies to streams so far); ``context`` is the
    request context that each stream copies.
    """

    def __init__(
        self,
        stream: iostream.IOStream,
        params: Any = None,
        context: object | None = None,
    ) -> None:
        self.stream = stream
        self.params = params
        self.context = context
        self.max_body_size: int | None = getattr(params, "max_body_size", None)
        self.core = _core.H2ServerCore()
        self.streams: dict[int, H2Stream] = {}
        self._delegate: httputil.HTTPServerConnectionDelegate | None = None
        self._task: asyncio.Task[None] | None = None
        self._ended = False
        self._draining = False
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

    async def close(self) -> None:
        """Close the connection and wait until it has stopped serving."""
        self.stream.close()
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])

    def start_drain(self) -> None:
        """Send GOAWAY; close once the open streams are done."""
        if self._draining or self._ended:
            return
        self._draining = True
        self.core.goaway(_core.NO_ERROR)
        self._flush()
        if not self.streams:
            self.stream.close()

    def in_flight(self) -> str | None:
        """How many streams are in progress, or None when there are none."""
        if self._ended or not self.streams:
            return None
        return "%d HTTP/2 stream(s)" % len(self.streams)

    async def _serve(self) -> None:
        stream = self.stream
        try:
            self._flush()
            while not self._ended:
                try:
                    data = await stream.read_bytes(_READ_SIZE, partial=True)
                except iostream.StreamClosedError:
                    break
                self._receive(data)
        finally:
            self._end()

    def _receive(self, data: bytes) -> None:
        self._receiving = True
        try:
            self._handle_events(data)
        finally:
            self._receiving = False
        self._flush()

    def _handle_events(self, data: bytes) -> None:
        for event in self.core.receive(data):
            if isinstance(event, _core.RequestHead):
                self._on_request(event)
                continue
            if isinstance(event, _core.Terminated):
                if event.last_stream_id is None:
                    gen_log.info(
                        "HTTP/2 protocol error from %s: %s", self.context, event.reason
                    )
                self._flush()
                self.stream.close()
                self._ended = True
                return
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
            if h2_stream is None:
                # A stream already ended on this side: give back the window.
                if isinstance(event, _core.Body):
                    self.core.acknowledge(event.stream_id, event.flow_length)
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
        try:
            h2_stream.delegate = delegate.start_request(self, h2_stream)
        except Exception:
            app_log.error("Uncaught exception", exc_info=True)
            h2_stream._abort(_core.INTERNAL_ERROR)
            return
        h2_stream._post(event)

    def _flush_soon(self) -> None:
        """Write the frames produced so far, with those that follow soon:
        at the end of the bytes being handled, or in the next loop turn."""
        if self._receiving or self._flush_handle is not None:
            return
        self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)

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
            # Nothing waits on it: a write cut by a close is reported by
            # the read loop, not as an unretrieved exception.
            future.add_done_callback(_ignore_result)

    def _forget(self, h2_stream: H2Stream) -> None:
        self.streams.pop(h2_stream.stream_id, None)
        if self._draining and not self.streams:
            # The last stream's frames go out before the close.
            self._flush()
            self.stream.close()

    def _end(self) -> None:
        self._ended = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self.stream.close()
        for h2_stream in list(self.streams.values()):
            h2_stream._close(notify=True)
        self.streams.clear()
        delegate, self._delegate = self._delegate, None
        if delegate is not None:
            delegate.on_close(self)


def _ignore_result(future: Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
