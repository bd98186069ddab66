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
from collections.abc import Awaitable, Callable
from typing import Any

from tornado.concurrent import Future, future_set_result_unless_cancelled
from tornado.escape import native_str
from tornado.log import app_log, gen_log

from tornado_compat import httputil, iostream
from tornado_compat.protocol import codings as _codings
from tornado_compat.protocol import errors as _errors
from tornado_compat.protocol import framing as _framing
from tornado_compat.protocol import head as _head
from tornado_compat.protocol.errors import (
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from tornado_compat.protocol.writers import LAST_CHUNK, format_chunk, format_head

__all__ = ["HTTP1ConnectionParameters", "HTTP1Connection", "HTTP1ServerConnection"]

_DEFAULT_CHUNK_SIZE = 65536
_DEFAULT_MAX_HEADER_SIZE = 65536
# A peer that answers with informational responses forever gets an error.
_MAX_1XX_RESPONSES = 10
# Chunk headers decoded before the reader lets other work run: a body of
# tiny chunks that is already buffered must not monopolise the loop.
_CHUNKS_PER_TURN = 64


def _find_head_end(buf: bytearray, start: int) -> int:
    """Where the head in ``buf`` ends (just past its empty line), or -1.

    Lines may end with CRLF or, as Tornado accepts, a bare LF; ``start`` is
    where the last unsuccessful search left off.
    """
    crlf = buf.find(b"\n\r\n", start)
    lf = buf.find(b"\n\n", start, crlf if crlf >= 0 else len(buf))
    if lf >= 0:
        return lf + 2
    if crlf >= 0:
        return crlf + 3
    return -1


class HTTP1ConnectionParameters:
    """Parameters of :class:`HTTP1Connection` and :class:`HTTP1ServerConnection`.

    :arg no_keep_alive: close the connection after one request.
    :arg chunk_size: how much body data to pass to a delegate at once
        (default 64 KiB).
    :arg max_header_size: the largest message head accepted (default 64 KiB).
    :arg header_timeout: seconds to wait for a complete head.
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
    ) -> None:
        self.no_keep_alive = no_keep_alive
        self.chunk_size = chunk_size or _DEFAULT_CHUNK_SIZE
        self.max_header_size = max_header_size or _DEFAULT_MAX_HEADER_SIZE
        self.header_timeout = header_timeout
        self.max_body_size = max_body_size
        self.body_timeout = body_timeout
        self.decompress = decompress
        self.precise_status = precise_status


class _HeadTimeout:
    """The header timeout of one stream: a single timer for the stream's
    whole life, re-armed by setting a deadline.

    Keep-alive connections wait for a head before every request; creating
    and cancelling a loop timer each time would cost more than the rest of
    reading a small request.  The timer runs only while a deadline is set,
    and when it fires early it sleeps again until the deadline.
    """

    def __init__(self, stream: iostream.IOStream) -> None:
        self.stream = stream
        self.deadline: float | None = None
        self.fired = False
        self._timer: Any = None

    @classmethod
    def arm(cls, stream: iostream.IOStream, timeout: float) -> _HeadTimeout:
        watch: _HeadTimeout | None = getattr(stream, "_http_head_timeout", None)
        if watch is None:
            watch = cls(stream)
            stream._http_head_timeout = watch  # type: ignore[attr-defined]
        deadline = stream.io_loop.time() + timeout
        watch.deadline = deadline
        if watch._timer is None:
            watch._timer = stream.io_loop.call_at(deadline, watch._check)
        return watch

    def _check(self) -> None:
        self._timer = None
        deadline = self.deadline
        if deadline is None or self.stream.closed():
            return
        io_loop = self.stream.io_loop
        if io_loop.time() >= deadline:
            self.fired = True
            self.stream.close()
        else:
            self._timer = io_loop.call_at(deadline, self._check)


class _DelegateError(Exception):
    """A delegate raised; it has been logged already."""


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
        self.stream: iostream.IOStream = stream
        self.params = params or HTTP1ConnectionParameters()
        self.context = context
        self.no_keep_alive = self.params.no_keep_alive
        self._max_body_size = (
            self.params.max_body_size
            if self.params.max_body_size is not None
            else self.stream.max_buffer_size
        )
        self._body_timeout = self.params.body_timeout
        # Whether the message being written is finished, and whether the
        # connection must close once it is.
        self._write_finished = False
        self._read_finished = False
        self._disconnect_on_finish = False
        self._clear_state()
        self._finish_future: Future[None] = Future()
        self._close_callback: Callable[[], None] | None = None
        self._pending_write: Future[None] | None = None
        self._detached = False
        #: Why the last message exchange failed, or None: the protocol error,
        #: the exception of a delegate, the timeout or the stream's error.
        #: A client reports it to its caller.
        self.error: BaseException | None = None

    def _clear_state(self) -> None:
        self._request_start_line: httputil.RequestStartLine | None = None
        self._response_start_line: httputil.ResponseStartLine | None = None
        self._request_headers: httputil.HTTPHeaders | None = None
        self._chunking_output = False
        self._expected_content_remaining: int | None = None

    # -- reading ----------------------------------------------------------------

    def read_response(self, delegate: httputil.HTTPMessageDelegate) -> Awaitable[bool]:
        """Read one message into ``delegate``.

        Returns a future that resolves once the whole message has been read
        (and, on the server side, the response has been written): True if
        the connection may be used again, False if it was closed.
        """
        return asyncio.ensure_future(self._read_message(delegate))

    async def _read_message(self, delegate: httputil.HTTPMessageDelegate) -> bool:
        """Read one message into ``delegate``.

        Returns whether the connection may carry another message.  A stream
        that closes under it raises StreamClosedError (after the delegate is
        told), which the server loop takes as the end of the connection and
        a client as a failed request.
        """
        if self.params.decompress:
            delegate = _DecompressingDelegate(
                delegate, self.params.chunk_size, self._max_body_size
            )
        told_delegate = False
        try:
            start_line, headers = await self._read_head()
            num_1xx = 0
            while True:
                # Framing is decided before the application sees anything,
                # so a message with ambiguous framing never reaches it.
                framing = self._body_framing(start_line, headers)
                told_delegate = True
                self._call_delegate(delegate.headers_received, start_line, headers)
                result = self._delegate_result
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
                if num_1xx > _MAX_1XX_RESPONSES:
                    raise RemoteProtocolError("Too many 1xx responses")
                start_line, headers = await self._read_head()
            # The delegate may have changed the limit (set_max_body_size).
            self._check_announced_length(framing)
            if (
                not self.is_client
                and headers.get("Expect", "").lower() == "100-continue"
                and not self._write_finished
                and framing.kind != _framing.NO_BODY
            ):
                self.stream.write(b"HTTP/1.1 100 (Continue)\r\n\r\n")
            if framing.kind != _framing.NO_BODY:
                await self._read_body_with_timeout(framing, delegate)
            self._read_finished = True
            if not self._write_finished or self.is_client:
                self._call_delegate(delegate.finish)
            told_delegate = False
            if self.is_client:
                if not self._write_finished or self.stream.writing():
                    # The response came before the request was all sent (an
                    # early 4xx, or no 100 Continue), or while some of it was
                    # still buffered: the unsent rest would be taken for the
                    # next request, so the connection ends here.
                    self._disconnect_on_finish = True
            elif (
                not self._finish_future.done()
                and not self.stream.closed()
                and not self._detached
            ):
                self.stream.set_close_callback(self._on_connection_close)
                await self._finish_future
            if self.is_client and self._disconnect_on_finish:
                self.close()
            return not self._detached and not self.stream.closed()
        except (ProtocolError, httputil.HTTPInputError) as e:
            self.error = e
            gen_log.info("Malformed HTTP message from %s: %s", self.context, e)
            if self.is_client:
                # The caller learns of it through the delegate.
                told_delegate = True
            else:
                error = (
                    e if isinstance(e, ProtocolError) else RemoteProtocolError(str(e))
                )
                await self._answer_error(error)
            self.close()
            return False
        except iostream.UnsatisfiableReadError as e:
            self.error = e
            self.close()
            if self.is_client:
                raise
            return False
        except asyncio.TimeoutError as e:
            self.error = e
            self.close()
            return False
        except _DelegateError as e:
            self.error = e.__cause__ or e
            self.close()
            return False
        except iostream.StreamClosedError as e:
            self.error = e.real_error or e
            self.close()
            raise
        finally:
            if told_delegate:
                self._call_delegate_quietly(delegate.on_connection_close)
            self._clear_callbacks()

    async def _read_head(
        self,
    ) -> tuple[
        httputil.RequestStartLine | httputil.ResponseStartLine, httputil.HTTPHeaders
    ]:
        """Find and parse the next message head, straight from the stream's
        buffer.

        When the head is already there this needs no future at all; the
        search resumes where it stopped, so it is linear however the head
        arrives.  ``header_timeout`` is one timer for the whole head, which
        closes the stream when it fires.
        """
        stream = self.stream
        limit = self.params.max_header_size
        scan = 0
        timeout = self.params.header_timeout
        watch: _HeadTimeout | None = None
        try:
            while True:
                buf = stream._read_buffer
                if scan == 0 and buf and buf[0] in (0x0D, 0x0A):
                    # Empty lines before a message are ignored (RFC 9112 2.2).
                    del buf[: len(buf) - len(buf.lstrip(b"\r\n"))]
                end = _find_head_end(buf, scan)
                if end >= 0:
                    if end > limit:
                        raise self._head_too_large(buf)
                    return self._parse_head(stream._consume(end))
                if len(buf) > limit:
                    raise self._head_too_large(buf)
                scan = max(0, len(buf) - 2)
                if timeout is not None and watch is None:
                    watch = _HeadTimeout.arm(stream, timeout)
                await stream._wait_for_bytes(len(buf) + 1)
        except iostream.StreamClosedError:
            if watch is not None and watch.fired:
                raise asyncio.TimeoutError() from None
            raise
        finally:
            if watch is not None:
                watch.deadline = None

    def _head_too_large(self, buf: bytearray) -> Exception:
        """The error for a head over ``max_header_size``: 414 when the first
        line alone is too long, else 431 (precise_status); by default the
        connection is just closed, as in Tornado."""
        limit = self.params.max_header_size
        gen_log.info(
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

    def _parse_head(
        self, data: bytes
    ) -> tuple[
        httputil.RequestStartLine | httputil.ResponseStartLine, httputil.HTTPHeaders
    ]:
        start, block = _head.split_head(data)
        headers = httputil.HTTPHeaders._from_header_block(block)
        if self.is_client:
            version, code, reason = _head.parse_status_line(start)
            response = httputil.ResponseStartLine(version, code, reason)
            self._response_start_line = response
            self._disconnect_on_finish = False
            return response, headers
        method, target, version = _head.parse_request_line(start)
        request = httputil.RequestStartLine(method, target, version)
        self._request_start_line = request
        self._request_headers = headers
        self._disconnect_on_finish = (
            self.params.no_keep_alive
            or not _framing.keep_alive(
                version, headers, _framing.Framing(_framing.LENGTH)
            )
        )
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
            framing = _framing.response_framing(method, start_line.code, headers)
            if framing.kind == _framing.UNTIL_CLOSE:
                self._disconnect_on_finish = True
            elif not _framing.keep_alive(start_line.version, headers, framing):
                self._disconnect_on_finish = True
            return framing
        assert isinstance(start_line, httputil.RequestStartLine)
        return _framing.request_framing(start_line.version, headers)

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
            gen_log.info("Timeout reading body from %s", self.context)
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
        while length > 0:
            data = await self.stream.read_bytes(min(chunk_size, length), partial=True)
            length -= len(data)
            await self._deliver(delegate, data)

    async def _read_chunked_body(self, delegate: httputil.HTTPMessageDelegate) -> None:
        # Decoded straight from the stream's buffer: what follows the body
        # (the next pipelined message) is never taken out of it.
        stream = self.stream
        limit = self._max_body_size
        decoder = _framing.ChunkedDecoder(max_body_size=limit)
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
                data = await self.stream.read_bytes(chunk_size, partial=True)
            except iostream.StreamClosedError as e:
                if e.real_error is not None and not self.stream._is_connreset(
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
            app_log.error("Uncaught exception", exc_info=True)
            raise _DelegateError() from e

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
            app_log.error("Uncaught exception", exc_info=True)
            raise _DelegateError() from None
        except Exception as e:
            app_log.error("Uncaught exception", exc_info=True)
            raise _DelegateError() from e

    def _call_delegate_quietly(self, method: Callable[[], Any]) -> None:
        try:
            method()
        except Exception:
            app_log.error("Uncaught exception", exc_info=True)

    async def _answer_error(self, error: ProtocolError) -> None:
        """Tell a client why its request was refused, if the stream is open.

        By default the answer is exactly Tornado's (a bare 400, which its
        tests pin); with ``precise_status`` it carries the precise status and
        says that the connection closes.
        """
        if self.stream.closed() or self._write_finished:
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
            await self.stream.write(answer)
        except iostream.StreamClosedError:
            pass

    # -- connection state -------------------------------------------------------

    def _clear_callbacks(self) -> None:
        self._close_callback = None
        if not self._detached and not self.stream.closed():
            self.stream.set_close_callback(None)

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
        if not self._finish_future.done():
            future_set_result_unless_cancelled(self._finish_future, None)
        self._clear_callbacks()

    def close(self) -> None:
        """Close the connection's stream."""
        if not self._detached:
            self.stream.close()
        self._clear_callbacks()
        if not self._finish_future.done():
            future_set_result_unless_cancelled(self._finish_future, None)

    def detach(self) -> iostream.IOStream:
        """Hand the stream over (for protocols that take over the connection,
        such as websockets); this connection no longer uses it."""
        self._clear_callbacks()
        self._detached = True
        stream = self.stream
        if not self._finish_future.done():
            future_set_result_unless_cancelled(self._finish_future, None)
        return stream

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
        chunk: bytes | None = None,
    ) -> Future[None]:
        """Write the message head, and optionally the first body chunk.

        Decides the output framing: a client request with a body and no
        Content-Length, or a server response to an HTTP/1.1 request that may
        have a body and has no Content-Length, is sent chunked.
        """
        if self.is_client:
            assert isinstance(start_line, httputil.RequestStartLine)
            self._request_start_line = start_line
            first = f"{start_line.method} {start_line.path} HTTP/1.1"
            self._chunking_output = (
                start_line.method in ("POST", "PUT", "PATCH")
                and "Content-Length" not in headers
            )
        else:
            assert isinstance(start_line, httputil.ResponseStartLine)
            request = self._request_start_line
            assert request is not None and self._request_headers is not None
            self._response_start_line = start_line
            first = "HTTP/1.1 %d %s" % (start_line.code, start_line.reason)
            code = start_line.code
            self._chunking_output = (
                request.version == "HTTP/1.1"
                and request.method != "HEAD"
                and code not in (204, 304)
                and not 100 <= code < 200
                and "Content-Length" not in headers
            )
            if request.version == "HTTP/1.1" and self._disconnect_on_finish:
                headers["Connection"] = "close"
            if (
                request.version == "HTTP/1.0"
                and self._request_headers.get("Connection", "").lower() == "keep-alive"
            ):
                headers["Connection"] = "Keep-Alive"
        if self._chunking_output:
            headers["Transfer-Encoding"] = "chunked"
        if not self.is_client and (
            self._request_start_line.method == "HEAD"  # type: ignore[union-attr]
            or start_line.code == 304  # type: ignore[union-attr]
        ):
            self._expected_content_remaining = 0
        elif "Content-Length" in headers:
            try:
                self._expected_content_remaining = _framing.parse_content_length(
                    headers.get_list("Content-Length")
                )
            except RemoteProtocolError as e:
                # Ours to send, so the mistake is the application's.
                raise LocalProtocolError(str(e)) from None
        else:
            self._expected_content_remaining = None
        data = format_head(
            first, ((native_str(n), native_str(v)) for n, v in headers.get_all())
        )
        if chunk:
            data += self._format_chunk(chunk)
        return self._write_to_stream(data)

    def _format_chunk(self, chunk: bytes) -> bytes:
        if self._expected_content_remaining is not None:
            self._expected_content_remaining -= len(chunk)
            if self._expected_content_remaining < 0:
                # The framing is already broken; stop before the peer is
                # misled any further.
                self.stream.close()
                raise httputil.HTTPOutputError(
                    "Tried to write more data than Content-Length"
                )
        if self._chunking_output:
            return format_chunk(chunk)
        return chunk

    def _write_to_stream(self, data: bytes) -> Future[None]:
        if self.stream.closed():
            future: Future[None] = Future()
            future.set_exception(iostream.StreamClosedError())
            future.exception()
            return future
        future = self._pending_write = self.stream.write(data)
        return future

    def write(self, chunk: bytes) -> Future[None]:
        """Write a chunk of the body; the future resolves once it is sent."""
        return self._write_to_stream(self._format_chunk(chunk))

    def finish(self) -> None:
        """The message being written is complete."""
        remaining = self._expected_content_remaining
        if remaining is not None and remaining != 0 and not self.stream.closed():
            self.stream.close()
            raise httputil.HTTPOutputError(
                "Tried to write %d bytes less than Content-Length" % remaining
            )
        if self._chunking_output and not self.stream.closed():
            self._pending_write = self.stream.write(LAST_CHUNK)
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
        if not self._finish_future.done():
            future_set_result_unless_cancelled(self._finish_future, None)


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


class HTTP1ServerConnection:
    """Serves the requests of one connection, one after another."""

    def __init__(
        self,
        stream: iostream.IOStream,
        params: HTTP1ConnectionParameters | None = None,
        context: object | None = None,
    ) -> None:
        self.stream = stream
        self.params = params or HTTP1ConnectionParameters()
        self.context = context
        self._serving_future: asyncio.Future[None] | None = None

    async def close(self) -> None:
        """Close the connection and wait until it has stopped serving."""
        self.stream.close()
        future = self._serving_future
        if future is None:
            return
        try:
            await future
        except Exception:
            pass

    def start_serving(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        """Read requests and hand each to ``delegate.start_request(...)``."""
        assert isinstance(delegate, httputil.HTTPServerConnectionDelegate)
        future = asyncio.ensure_future(self._serve(delegate))
        self._serving_future = future
        # Failures are logged inside; this only marks the outcome as seen.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def _serve(self, delegate: httputil.HTTPServerConnectionDelegate) -> None:
        try:
            while True:
                conn = HTTP1Connection(self.stream, False, self.params, self.context)
                try:
                    request_delegate = delegate.start_request(self, conn)
                    # Awaited directly: a task per request would cost a loop
                    # turn each.
                    keep_going = await conn._read_message(request_delegate)
                except iostream.StreamClosedError:
                    return
                except Exception:
                    app_log.error("Uncaught exception", exc_info=True)
                    conn.close()
                    return
                if not keep_going:
                    return
        finally:
            delegate.on_close(self)
