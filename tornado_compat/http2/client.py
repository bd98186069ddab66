"""HTTP/2 client connections over an IOStream.

What this module is for: :class:`H2ClientConnection` drives one HTTP/2
connection to a server: it writes what :class:`~.clientcore.H2ClientCore`
produces, reads the socket and routes the core's events to the
:class:`H2ClientStream` of each request.  A fetch takes a stream slot
(:meth:`H2ClientConnection.acquire`, which waits while the server's
``SETTINGS_MAX_CONCURRENT_STREAMS`` are all in use), opens a stream
(:meth:`H2ClientConnection.request`), sends the body through
:meth:`H2ClientStream.write` (whose future resolves once the server's
windows took the chunk) and reads the response with :func:`exchange`,
which calls an :class:`~tornado_compat.httputil.HTTPMessageDelegate` as
:class:`~tornado_compat.http1connection.HTTP1Connection` does for HTTP/1.1.

A stream that cannot complete raises :class:`H2StreamError`, whose
``unprocessed`` flag says whether the server has certainly not acted on the
request (the stream was above a GOAWAY's last stream id, refused with
``REFUSED_STREAM``, or never opened), so that the caller may send it again.

What it must never do: frame or parse HTTP/2 itself (the core and ``h2``
do); let one stream's failure, slowness or timeout end the others; or keep
a stream, a waiter or a timer once the connection has ended.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.log import app_log

from tornado_compat import httputil, iostream
from tornado_compat.http1connection import _DecompressingDelegate
from tornado_compat.http2 import clientcore as _core
from tornado_compat.protocol.errors import RemoteProtocolError

__all__ = ["H2ClientConnection", "H2ClientStream", "H2StreamError", "exchange"]

# How much to read from the socket at once.
_READ_SIZE = 65536
# The window each response stream gets, and the size of the decoded pieces
# a compressed body is handed on in.
_STREAM_WINDOW = 1 << 20
_CHUNK_SIZE = 65536


class H2StreamError(Exception):
    """A stream ended without a complete response.

    ``unprocessed``: the server did not act on the request (it may be sent
    again, whatever its method).  ``lost``: the connection ended under the
    stream, so the server may or may not have acted on it.
    """

    def __init__(
        self, message: str, unprocessed: bool = False, lost: bool = False
    ) -> None:
        super().__init__(message)
        self.unprocessed = unprocessed
        self.lost = lost


class H2ClientStream:
    """One request on an :class:`H2ClientConnection`: its body out, its
    response events in."""

    def __init__(
        self,
        conn: H2ClientConnection,
        stream_id: int,
        max_header_size: int,
        max_body_size: int,
    ) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.error: H2StreamError | None = None
        self.response_started = False
        self._events: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._pending: deque[list[Any]] = deque()
        self._finish_requested = False
        self._request_ended = False
        self._closed = False
        self._received = 0

    # -- the request body ------------------------------------------------------

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        """Send a piece of the request body; the future resolves once the
        server's windows have taken all of it (it fails if the stream
        ends first)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._closed or self._finish_requested:
            future.set_exception(iostream.StreamClosedError())
            future.exception()
            return future
        if not chunk:
            future.set_result(None)
            return future
        self._pending.append([bytes(chunk), 0, future])
        self._send_pending()
        return future

    def finish(self) -> None:
        """The request body is complete (sent once the windows allow)."""
        if self._closed or self._finish_requested:
            return
        self._finish_requested = True
        self._send_pending()

    def _send_pending(self) -> None:
        if self._closed:
            return
        core = self.conn.core
        pending = self._pending
        while pending:
            item = pending[0]
            data, offset, future = item
            sent = core.send_data(self.stream_id, data[offset:] if offset else data)
            item[1] = offset = offset + sent
            if offset < len(data):
                break
            pending.popleft()
            if not future.done():
                future.set_result(None)
        if not pending and self._finish_requested and not self._request_ended:
            self._request_ended = True
            core.end_stream(self.stream_id)
        self.conn._flush()

    # -- the response ----------------------------------------------------------

    async def next_event(self) -> Any:
        """The next response event for this stream (a core event); raises
        :class:`H2StreamError` once the stream failed."""
        while not self._events:
            if self.error is not None:
                raise self.error
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._events.popleft()

    def acknowledge(self, flow_length: int) -> None:
        """The fetch took a piece of the body: open the windows for more
        (the connection's, even once the stream has ended)."""
        self.conn.core.acknowledge(self.stream_id, flow_length)
        self.conn._flush()

    def cancel(self, error_code: int = _core.CANCEL) -> None:
        """Give up on the stream: reset it (the connection stays)."""
        if self._closed:
            return
        self.conn.core.reset(self.stream_id, error_code)
        self._fail(H2StreamError("HTTP/2 stream cancelled"))
        self.conn._flush()

    def _post(self, event: Any) -> None:
        if self._closed:
            return
        if isinstance(event, _core.ResponseHead):
            size = sum(len(n) + len(v) + 32 for n, v in event.headers)
            if size > self.max_header_size:
                self.conn.core.reset(self.stream_id, _core.CANCEL)
                self._fail(H2StreamError("Response header too large"))
                return
            if event.status >= 200:
                self.response_started = True
        elif isinstance(event, _core.Body):
            self._received += len(event.data)
            if self._received > self.max_body_size:
                self.conn.core.reset(self.stream_id, _core.CANCEL)
                self._fail(H2StreamError("Body too long"))
                return
        elif isinstance(event, _core.StreamEnd):
            if not self._request_ended:
                # The answer is complete: the rest of the request body is
                # not wanted (RFC 9113 section 8.1).
                self._request_ended = True
                self.conn.core.reset(self.stream_id, _core.NO_ERROR)
            self._close()
        self._events.append(event)
        self._wake()

    def _fail(self, error: H2StreamError) -> None:
        if self._closed and self.error is not None:
            return
        if self.error is None:
            self.error = error
        # Events not yet taken are not wanted any more (a failed stream
        # raises at once), but their bytes still count in the connection
        # window.
        for event in self._events:
            if isinstance(event, _core.Body):
                self.conn.core.acknowledge(self.stream_id, event.flow_length)
        self._events.clear()
        self._close()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for _data, _offset, future in self._pending:
            if not future.done():
                future.set_exception(iostream.StreamClosedError())
                future.exception()
        self._pending.clear()
        self.conn._forget(self)


class H2ClientConnection:
    """One HTTP/2 connection to a server, shared by the fetches to its
    origin.

    ``on_close`` is called once when the connection can take no more
    streams (GOAWAY received or sent, or the connection ended), so that
    the owner stops handing it out.  An idle connection is closed after
    ``idle_timeout`` seconds (None: kept until the server closes it).
    """

    def __init__(
        self,
        stream: iostream.IOStream,
        max_header_size: int = 65536,
        idle_timeout: float | None = None,
        on_close: Callable[[H2ClientConnection], None] | None = None,
    ) -> None:
        self.stream = stream
        self.max_header_size = max_header_size
        self.core = _core.H2ClientCore(
            max_header_list_size=max_header_size,
            initial_window_size=_STREAM_WINDOW,
        )
        self.streams: dict[int, H2ClientStream] = {}
        self._reserved = 0
        self._slot_waiters: deque[asyncio.Future[None]] = deque()
        self._idle_timeout = idle_timeout
        self._idle_timer: asyncio.TimerHandle | None = None
        self._on_close = on_close
        self.closing = False
        self._ended = False
        self._loop = asyncio.get_running_loop()
        # The connection window is opened wide at once: each stream's own
        # window is what holds a slow consumer back.
        self.core.open_connection_window(_STREAM_WINDOW * 16)
        self._flush()
        self._task = self._loop.create_task(self._read())
        self._set_idle_timer()

    @property
    def usable(self) -> bool:
        """Whether new streams may be opened on this connection."""
        return not self.closing and not self._ended

    # -- streams ---------------------------------------------------------------

    async def acquire(self) -> None:
        """Wait for a free stream slot and take it; raises
        :class:`H2StreamError` (``unprocessed``) if the connection stops
        taking streams first."""
        while True:
            if not self.usable:
                raise H2StreamError(
                    "The HTTP/2 connection closed before the request was sent",
                    unprocessed=True,
                )
            if len(self.streams) + self._reserved < self.core.max_streams:
                self._reserved += 1
                self._cancel_idle_timer()
                return
            waiter = self._loop.create_future()
            self._slot_waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._slot_waiters:
                    self._slot_waiters.remove(waiter)

    def release(self) -> None:
        """Give back a slot taken by :meth:`acquire` and not used."""
        self._reserved -= 1
        self._slot_freed()

    def request(
        self,
        method: str,
        scheme: str,
        authority: str,
        path: str,
        headers: httputil.HTTPHeaders,
        end_stream: bool,
        max_body_size: int,
    ) -> H2ClientStream:
        """Open a stream on the slot taken by :meth:`acquire` and send the
        request head."""
        self._reserved -= 1
        if not self.usable:
            self._slot_freed()
            raise H2StreamError(
                "The HTTP/2 connection closed before the request was sent",
                unprocessed=True,
            )
        pairs = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in headers.get_all()
        ]
        try:
            stream_id = self.core.send_request(
                method.encode("latin-1"),
                scheme.encode("latin-1"),
                authority.encode("latin-1"),
                path.encode("latin-1"),
                pairs,
                end_stream=end_stream,
            )
        except Exception:
            # A head h2 refuses to send (a forbidden header value): the
            # fetch fails with the cause, and its slot goes to the next.
            self._slot_freed()
            raise
        h2_stream = H2ClientStream(self, stream_id, self.max_header_size, max_body_size)
        if end_stream:
            h2_stream._finish_requested = h2_stream._request_ended = True
        self.streams[stream_id] = h2_stream
        self._flush()
        return h2_stream

    def close(self) -> None:
        """Take no more streams; send GOAWAY and close once the open ones
        are done."""
        if self._ended:
            return
        self._stop_taking()
        if not self.streams:
            self.core.goaway()
            self._flush()
            self.stream.close()

    # -- internals -------------------------------------------------------------

    async def _read(self) -> None:
        stream = self.stream
        try:
            while not self._ended:
                try:
                    data = await stream.read_bytes(_READ_SIZE, partial=True)
                except iostream.StreamClosedError:
                    break
                self._receive(data)
        finally:
            self._end()

    def _receive(self, data: bytes) -> None:
        for event in self.core.receive(data):
            if isinstance(event, _core.Terminated):
                self._on_terminated(event)
                if self._ended:
                    return
                continue
            if isinstance(event, _core.SettingsChanged):
                self._slot_freed()
                continue
            if isinstance(event, _core.WindowOpened):
                if event.stream_id == 0:
                    for each in list(self.streams.values()):
                        each._send_pending()
                else:
                    target = self.streams.get(event.stream_id)
                    if target is not None:
                        target._send_pending()
                continue
            h2_stream = self.streams.get(event.stream_id)
            if h2_stream is None:
                # A stream given up on this side: give back the window.
                if isinstance(event, _core.Body):
                    self.core.acknowledge(event.stream_id, event.flow_length)
                continue
            if isinstance(event, _core.StreamReset):
                refused = event.error_code == _core.REFUSED_STREAM
                h2_stream._fail(
                    H2StreamError(
                        "The server reset the HTTP/2 stream (error code %d)"
                        % event.error_code,
                        unprocessed=refused,
                    )
                )
            else:
                h2_stream._post(event)
        self._flush()

    def _on_terminated(self, event: _core.Terminated) -> None:
        self._stop_taking()
        last = event.last_stream_id
        if last is None:
            # The server broke the protocol: the core queued a GOAWAY.
            self._flush()
            self._fail_all(
                H2StreamError(f"HTTP/2 protocol error from the server: {event.reason}")
            )
            self.stream.close()
            self._ended = True
            return
        for stream_id, h2_stream in list(self.streams.items()):
            if stream_id > last:
                h2_stream._fail(
                    H2StreamError(
                        "The server sent GOAWAY before processing the request",
                        unprocessed=True,
                    )
                )
        if not self.streams:
            self._flush()
            self.stream.close()

    def _stop_taking(self) -> None:
        if self.closing:
            return
        self.closing = True
        self._cancel_idle_timer()
        waiters, self._slot_waiters = self._slot_waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close(self)

    def _slot_freed(self) -> None:
        free = self.core.max_streams - len(self.streams) - self._reserved
        for waiter in list(self._slot_waiters)[: max(free, 0)]:
            if not waiter.done():
                waiter.set_result(None)
        if not self.streams and self._reserved == 0:
            self._set_idle_timer()

    def _forget(self, h2_stream: H2ClientStream) -> None:
        if self.streams.pop(h2_stream.stream_id, None) is None:
            return
        if self.closing and not self.streams:
            if not self._ended:
                if not self.core.terminated:
                    self.core.goaway()
                self._flush()
                self.stream.close()
            return
        self._slot_freed()

    def _fail_all(self, error: H2StreamError) -> None:
        for h2_stream in list(self.streams.values()):
            h2_stream._fail(error)

    def _end(self) -> None:
        self._stop_taking()
        self._ended = True
        self.stream.close()
        error = self.stream.error
        detail = f": {error}" if error is not None and str(error) else ""
        self._fail_all(
            H2StreamError(
                "Connection closed before the response was complete" + detail,
                lost=True,
            )
        )
        self.streams.clear()

    def _flush(self) -> None:
        out = self.core.data_to_send()
        if out and not self.stream.closed():
            self.stream.write(out).add_done_callback(_ignore_result)

    def _set_idle_timer(self) -> None:
        if self._idle_timeout is None or self._idle_timer is not None:
            return
        if self.closing or self.streams or self._reserved:
            return
        self._idle_timer = self._loop.call_later(self._idle_timeout, self.close)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None


def _ignore_result(future: asyncio.Future[Any]) -> None:
    # A write cut by a close is reported by the read loop.
    if not future.cancelled():
        future.exception()


async def exchange(
    h2_stream: H2ClientStream,
    delegate: httputil.HTTPMessageDelegate,
    decompress: bool,
) -> None:
    """Read the response of ``h2_stream`` into ``delegate``, as
    ``HTTP1Connection`` does over HTTP/1.1: ``headers_received`` with an
    ``HTTP/2.0`` start line (for each informational response too),
    ``data_received`` for each piece of the body (awaited when it returns
    an awaitable; the server's window reopens only then), and ``finish``.
    Bodies are decoded when ``decompress`` is true (bounded by the
    stream's ``max_body_size`` once decoded).  Raises
    :class:`H2StreamError` if the stream fails, after resetting it when
    the failure is this side's (the delegate raised)."""
    target: httputil.HTTPMessageDelegate = (
        _DecompressingDelegate(delegate, _CHUNK_SIZE, h2_stream.max_body_size)
        if decompress
        else delegate
    )
    try:
        while True:
            event = await h2_stream.next_event()
            if isinstance(event, _core.ResponseHead):
                headers = httputil.HTTPHeaders()
                for name, value in event.headers:
                    headers.add(name.decode("latin-1"), value.decode("latin-1"))
                start_line = httputil.ResponseStartLine(
                    "HTTP/2.0", event.status, httputil.responses.get(event.status, "")
                )
                await _maybe(target.headers_received(start_line, headers))
            elif isinstance(event, _core.Body):
                await _maybe(target.data_received(event.data))
                h2_stream.acknowledge(event.flow_length)
            elif isinstance(event, _core.StreamEnd):
                target.finish()
                return
    except H2StreamError:
        raise
    except Exception as e:
        h2_stream.cancel()
        if not isinstance(e, (RemoteProtocolError, httputil.HTTPInputError)):
            # An error in the fetch's own callbacks is the application's:
            # logged with its traceback, as over HTTP/1.1.  A bad body from
            # the server is not.
            app_log.error("Uncaught exception", exc_info=True)
        text = str(e) or type(e).__name__
        raise H2StreamError(text) from e


async def _maybe(result: Awaitable[None] | None) -> None:
    if result is not None:
        await result
