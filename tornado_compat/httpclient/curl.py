"""The libcurl HTTP client, with the API of ``tornado.curl_httpclient``.

What this module is for: :class:`CurlAsyncHTTPClient`, an
:class:`~tornado_compat.httpclient.AsyncHTTPClient` that hands each fetch to
libcurl (through pycurl) and drives libcurl's multi interface from the
IOLoop, and :class:`CurlError`, how libcurl's failures are reported.

How a fetch goes:

1. :meth:`CurlAsyncHTTPClient.fetch_impl` checks the request and turns it
   into a :class:`_Plan`, the list of libcurl options it stands for.  A bad
   request (CR or LF in a header, an unknown method, a body where none is
   allowed, an ``ssl_options`` libcurl cannot express) fails here, before
   anything is sent or queued.
2. The fetch waits in the queue until one of ``max_clients`` easy handles is
   free.  Its wait counts toward its ``request_timeout``; a fetch that waits
   longer than ``min(connect_timeout, request_timeout)`` fails with "Timeout
   in request queue".
3. A :class:`_Transfer` applies the plan to a freshly reset handle and adds
   it to the multi handle.  libcurl tells the client which sockets to watch
   and when to wake it (``M_SOCKETFUNCTION`` and ``M_TIMERFUNCTION``); the
   client answers through ``IOLoop.add_handler`` and timeouts.
4. libcurl hands over the response head line by line, and the decoded body
   in chunks.  Body chunks for a ``streaming_callback`` and lines for a
   ``header_callback`` wait in a :class:`_CurlStreamingBuffer` and reach the
   application from the IOLoop, never from inside libcurl; past
   ``_CurlStreamingBuffer.max_buffer_size`` queued bytes the transfer is
   paused.
5. When the transfer ends the handle is reset (``curl.reset()`` and the
   client's baseline options), so nothing of one request (credentials,
   client certificates, proxies, callbacks) is left for the next one, and the
   response goes to the caller.  The connection stays in the multi handle's
   connection cache, for the next request to the same place; over HTTP/2
   (the ``http2`` keyword) the fetches in flight to one origin share it, one
   stream each.

What it must never do: run application code from inside a libcurl callback,
let an exception escape into libcurl (pycurl would print it and abort the
transfer with a misleading error), or import the Tornado modules that
tornado_compat replaces.
"""

from __future__ import annotations

import collections
import copy
import functools
import inspect
import logging
import os
import re
import ssl
import time
import unicodedata
import urllib.parse
import weakref
from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any

import pycurl
from tornado import gen
from tornado.concurrent import (
    Future,
    future_set_exception_unless_cancelled,
    future_set_result_unless_cancelled,
)
from tornado.ioloop import IOLoop
from tornado.log import app_log

from tornado_compat import httputil
from tornado_compat.httpclient import (
    AsyncHTTPClient,
    HTTPClientError,
    HTTPRequest,
    HTTPResponse,
    _ProxyBase,
    _shared,
    main,
)
from tornado_compat.iostream import StreamClosedError
from tornado_compat.protocol import framing as _framing
from tornado_compat.protocol import head as _head
from tornado_compat.protocol.errors import ProtocolError

__all__ = ["CurlAsyncHTTPClient", "CurlError", "main"]

#: Tornado's logger name for this client, kept so that logging set up for
#: Tornado's curl client applies here.  At DEBUG level libcurl's verbose
#: trace goes to it (with credentials blanked out).
curl_log = logging.getLogger("tornado.curl_httpclient")

# The User-Agent Tornado's curl client sends when the request names none.
_DEFAULT_USER_AGENT = b"Mozilla/5.0 (compatible; pycurl)"
# The largest response body accepted by default: 100 MiB, the simple
# client's max_buffer_size.
_DEFAULT_MAX_BODY_SIZE = 100 * 1024 * 1024
# libcurl reads 0 as "its default" (300 s) for the connect timeout; "no
# limit" is this many milliseconds instead (about 24 days).
_NO_LIMIT_MS = 2**31 - 1
# Characters that can never appear in anything that goes into the request
# head: they would end a line (CR, LF) or cut a C string short (NUL).
_LINE_BREAKERS = frozenset("\r\n\0")
# CURLE_TOO_LARGE, which pycurl does not name: a header, or data held while
# a transfer is paused, outgrew libcurl's limit.  libcurl leaves its error
# text empty for it.
_E_TOO_LARGE = 100
# What the ``http2`` keyword asks of libcurl (CURLOPT_HTTP_VERSION); None
# leaves libcurl's own default, as Tornado's curl client does.
_HTTP_VERSION_OPTIONS: dict[bool | str | None, int | None] = {
    None: None,
    False: pycurl.CURL_HTTP_VERSION_1_1,
    True: pycurl.CURL_HTTP_VERSION_2TLS,
    "prior-knowledge": pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
}
# CURLINFO_HTTP_VERSION's answers, as HTTPResponse.version names them.  0
# (no response) is missing on purpose: such a response has no version.
_VERSION_NAMES = {
    pycurl.CURL_HTTP_VERSION_1_0: "HTTP/1.0",
    pycurl.CURL_HTTP_VERSION_1_1: "HTTP/1.1",
    pycurl.CURL_HTTP_VERSION_2_0: "HTTP/2.0",
    pycurl.CURL_HTTP_VERSION_3: "HTTP/3",
}
# The status line libcurl writes for an HTTP/2 or HTTP/3 response.
_MAJOR_ONLY_STATUS = re.compile(rb"HTTP/[23] ([0-9]{3}) ?")
# The keys of a dict ``ssl_options`` (those of ``ssl.wrap_socket``).
_SSL_DICT_KEYS = frozenset(
    ("ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers")
)


class CurlError(HTTPClientError):
    """A fetch that libcurl could not complete.

    Its ``code`` is 599 (no response, or none that could be accepted),
    ``errno`` is libcurl's error number (``pycurl.E_*``: 6 for a host that
    could not be resolved, 28 for a timeout, 60 for a certificate that
    failed verification, ...) and ``message`` says what happened, in
    libcurl's words or, for the client's own refusals (a body over
    ``max_body_size``, a malformed header line), in ours.
    """

    def __init__(self, errno: int, message: str) -> None:
        super().__init__(599, message)
        self.errno = errno


def _log_callback_error(callback: Any) -> None:
    app_log.error("Exception in callback %r", callback, exc_info=True)


class _CurlStreamingBuffer:
    """What libcurl hands over for the application, until the IOLoop can
    deliver it.

    libcurl calls its write and header functions from inside
    ``socket_action``, where application code must not run (it could call
    back into the client, or raise into libcurl).  So body chunks (for
    ``callback``, the ``streaming_callback``) and head lines (for
    ``header_callback``) are queued here, in the order they came, and
    :meth:`flush` delivers them from the IOLoop.  A line always reaches its
    callback before any body chunk that came after it.

    The queue is bounded: once :attr:`max_buffer_size` bytes of body wait,
    :meth:`write` pauses the transfer (libcurl keeps the chunk and offers it
    again after the pause), and :meth:`flush` resumes it when the queue is
    empty.  So a response that decompresses to gigabytes never piles up in
    memory, however fast it arrives.  A callback that returns an awaitable
    holds delivery back until it is done, and so, once the queue is full,
    the transfer too.

    The client's ``max_body_size`` bounds the body as a whole: a chunk that
    would take it past the limit is refused (it never reaches the callback),
    which fails the transfer; :attr:`body_too_large` records why.

    An exception from a callback (or from the awaitable it returned) is
    logged (``Exception in callback``) and the rest is still delivered, as
    Tornado's curl client does.
    """

    #: Pause the transfer while this many bytes of body wait for delivery.
    max_buffer_size = 1024 * 1024

    def __init__(
        self,
        client: CurlAsyncHTTPClient,
        curl: Any,
        callback: Callable[[bytes], Any] | None,
        header_callback: Callable[[str], Any] | None = None,
    ) -> None:
        self.client = client
        self.io_loop = client.io_loop
        #: The easy handle, until :meth:`finish`; it is reset and reused
        #: after that, so it must not be touched any more.
        self.curl: Any = curl
        self.callback = callback
        self.header_callback = header_callback
        #: The upload of the same transfer, whose pause state must survive
        #: our resume (``curl.pause`` sets both directions at once).
        self.upload: _BodyProducerFeed | None = None
        # (is_body, item) in arrival order.
        self._items: collections.deque[tuple[bool, Any]] = collections.deque()
        #: Bytes of body waiting for delivery.
        self.size = 0
        #: Bytes of body accepted so far.
        self.total = 0
        self.body_too_large = False
        #: Whether the transfer's receiving side is paused by us.
        self.paused = False
        self._flush_scheduled = False
        # What a callback returned and delivery waits for.
        self._waiting: Future[Any] | None = None
        # Called once everything is delivered after finish().
        self._on_drained: Callable[[], None] | None = None

    def write(self, chunk: bytes) -> int:
        """libcurl's WRITEFUNCTION: take ``chunk``, or pause, or refuse."""
        if self.total + len(chunk) > self.client.max_body_size:
            self.body_too_large = True
            # A short write makes libcurl fail the transfer.
            return 0
        if self.size >= self.max_buffer_size:
            self.paused = True
            # libcurl keeps the chunk and offers it again when resumed.
            return pycurl.WRITEFUNC_PAUSE
        self._items.append((True, chunk))
        self.size += len(chunk)
        self.total += len(chunk)
        self._schedule_flush()
        return len(chunk)

    def header_line(self, line: str) -> None:
        """Queue one head line (with its line end) for ``header_callback``."""
        self._items.append((False, line))
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.io_loop.add_callback(self.flush)

    def flush(self) -> None:
        """Deliver what is queued, then resume the transfer if paused."""
        self._flush_scheduled = False
        if self._waiting is not None:
            return
        items = self._items
        while items:
            is_body, item = items.popleft()
            callback: Callable[[Any], Any] | None
            if is_body:
                self.size -= len(item)
                callback = self.callback
            else:
                callback = self.header_callback
            if callback is None:
                continue
            try:
                result = callback(item)
                waiting = (
                    gen.convert_yielded(result)
                    if result is not None and inspect.isawaitable(result)
                    else None
                )
            except Exception:
                _log_callback_error(callback)
                continue
            if waiting is not None:
                self._waiting = waiting
                waiting.add_done_callback(functools.partial(self._awaited, callback))
                return
        if self.paused:
            self._resume()
        if self._on_drained is not None:
            on_drained, self._on_drained = self._on_drained, None
            on_drained()

    def _awaited(self, callback: Any, future: Future[Any]) -> None:
        self._waiting = None
        if not future.cancelled():
            error = future.exception()
            if error is not None:
                app_log.error(
                    "Exception in callback %r",
                    callback,
                    exc_info=(type(error), error, error.__traceback__),
                )
        self.flush()

    def _resume(self) -> None:
        self.paused = False
        curl = self.curl
        if curl is None:
            return
        upload = self.upload
        keep = pycurl.PAUSE_SEND if upload is not None and upload.paused else 0
        try:
            # May call write() again, synchronously, with what libcurl held
            # back; the queue is empty by now, so it is accepted.
            curl.pause(keep or pycurl.PAUSE_CONT)
        except pycurl.error:
            # The transfer failed while paused; libcurl reports it through
            # the multi handle, and the client's _finish passes it on.
            return
        # Have libcurl look at the resumed transfer now rather than at its
        # next timeout.
        self.client._set_timeout(0)

    def finish(self, on_drained: Callable[[], None] | None = None) -> None:
        """The transfer ended: deliver what is left, then call
        ``on_drained`` (at once, unless a callback's awaitable is pending)."""
        self.curl = None
        self.paused = False
        self._on_drained = on_drained
        self.flush()


class _BodyProducerFeed:
    """The bridge between a ``body_producer`` and libcurl's READFUNCTION.

    The producer is started the first time libcurl asks for body data: after
    the request head is sent, and with ``expect_100_continue`` only once the
    server has answered 100 Continue (or libcurl gave up waiting for it), so
    a producer whose body the server refuses never runs.

    It receives :meth:`write`; each call queues a chunk and returns a Future
    that resolves once libcurl has taken the whole chunk, so a producer that
    waits for it never runs ahead of the network.  When libcurl asks for data
    and none is queued, :meth:`read` pauses the upload, and the next
    :meth:`write` (or the producer's end) resumes it.
    """

    def __init__(
        self,
        client: CurlAsyncHTTPClient,
        curl: Any,
        producer: Callable[[Callable[[bytes], Future[None]]], Any],
    ) -> None:
        self.client = client
        self.curl: Any = curl
        self.producer = producer
        self.started = False
        # [data, offset, future] per chunk written and not yet fully read.
        self._chunks: collections.deque[list[Any]] = collections.deque()
        self.paused = False
        self.eof = False
        #: The producer's exception, which fails the fetch.
        self.error: BaseException | None = None
        self.closed = False
        self.stream: _CurlStreamingBuffer | None = None

    def write(self, chunk: bytes | str) -> Future[None]:
        """The ``write`` function given to the body producer."""
        future: Future[None] = Future()
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        if self.closed or self.eof:
            _fail_quietly(future, StreamClosedError())
            return future
        if not chunk:
            future.set_result(None)
            return future
        self._chunks.append([bytes(chunk), 0, future])
        self._resume()
        return future

    def read(self, size: int) -> bytes | int:
        """libcurl's READFUNCTION: up to ``size`` bytes, EOF, pause or abort."""
        if self.error is not None:
            return pycurl.READFUNC_ABORT
        chunks = self._chunks
        if not chunks:
            if self.eof:
                return b""
            if not self.started:
                # Application code runs from the IOLoop, not from here.
                self.started = True
                self.client.io_loop.add_callback(self._start_producer)
            self.paused = True
            return pycurl.READFUNC_PAUSE
        entry = chunks[0]
        data, offset, future = entry
        piece = data[offset : offset + size]
        offset += len(piece)
        if offset >= len(data):
            chunks.popleft()
            # Resolving a Future only schedules its callbacks: no
            # application code runs inside libcurl.
            future_set_result_unless_cancelled(future, None)
        else:
            entry[1] = offset
        return piece

    def _start_producer(self) -> None:
        if self.closed:
            return
        try:
            result = self.producer(self.write)
            if result is None:
                # A plain function that returned nothing: what it wrote is
                # the whole body, as with Tornado's simple client.
                self.eof = True
                self._resume()
                return
            produced = gen.convert_yielded(result)
        except Exception as e:
            self.error = e
            self._resume()
            return
        produced.add_done_callback(self.producer_done)

    def producer_done(self, future: Future[None]) -> None:
        """The producer's Future resolved: the body is complete, or failed."""
        if future.cancelled():
            error: BaseException | None = StreamClosedError()
        else:
            # Also marks the exception as seen, so asyncio does not log it.
            error = future.exception()
        if error is not None:
            self.error = error
        else:
            self.eof = True
        self._resume()

    def _resume(self) -> None:
        if not self.paused or self.curl is None:
            return
        self.paused = False
        stream = self.stream
        keep = pycurl.PAUSE_RECV if stream is not None and stream.paused else 0
        try:
            # May call read() at once, synchronously.
            self.curl.pause(keep or pycurl.PAUSE_CONT)
        except pycurl.error:
            return
        self.client._set_timeout(0)

    def close(self) -> None:
        """The transfer ended: writes still queued, and later ones, fail."""
        self.closed = True
        self.curl = None
        while self._chunks:
            _, _, future = self._chunks.popleft()
            _fail_quietly(future, StreamClosedError())


def _fail_quietly(future: Future[Any], error: BaseException) -> None:
    """Fail ``future`` without asyncio logging it if nobody looks at it."""
    future_set_exception_unless_cancelled(future, error)
    if future.done() and not future.cancelled():
        future.exception()


class _ResponseHead:
    """The head of the response, rebuilt from libcurl's header lines.

    Each status line starts a new head, so the heads of 1xx responses, of
    a proxy's CONNECT answer and of redirects that were followed are
    forgotten; trailers, which come after the body, join the last one.

    The rules are the project's own, so that this client and the simple one
    accept the same responses: header lines go through the one header parser
    (:mod:`tornado_compat.protocol.head`), and each complete head through the
    protocol core's framing rule
    (:func:`tornado_compat.protocol.framing.response_framing`), which refuses
    what libcurl would let through: Content-Length together with
    Transfer-Encoding, unequal Content-Lengths, Transfer-Encodings other than
    ``chunked``, a body on a 1xx or 204.  Folded lines (obs-fold, which older
    libcurl versions pass on as they came) are joined to the line before with
    one space, as RFC 9112 section 5.2 asks of a user agent.
    """

    __slots__ = ("method", "fields", "code", "reason", "complete", "error")

    def __init__(self, method: str | None = None) -> None:
        #: The request's method, which decides whether a body may follow.
        self.method = method
        self.fields: list[tuple[str, str]] = []
        self.code: int | None = None
        self.reason: str | None = None
        #: Whether the empty line that ends the head has come.
        self.complete = False
        #: Why the head was refused, if it was.
        self.error: str | None = None

    def get(self, name: str, /) -> list[str] | None:
        """The values of header ``name``, or None (for the framing rule)."""
        lowered = name.lower()
        return [value for key, value in self.fields if key.lower() == lowered] or None

    def feed(self, raw: bytes) -> bool:
        """Take one line from libcurl; False if it is malformed."""
        line = raw.rstrip(b"\r\n")
        if line.startswith(b"HTTP/"):
            self.fields = []
            self.complete = False
            code: int | None
            try:
                _, code, reason = _head.parse_status_line(line)
            except ProtocolError:
                # libcurl accepted it.  HTTP/2 and 3 have no reason phrase,
                # and libcurl writes their status as "HTTP/2 200".
                match = _MAJOR_ONLY_STATUS.fullmatch(line)
                code = int(match.group(1)) if match else None
                reason = ""
            self.code = code
            self.reason = reason or None
            return True
        if not line:
            if self.complete or self.code is None:
                return True  # the end of the trailers
            self.complete = True
            try:
                _framing.response_framing(self.method, self.code, self)
            except ProtocolError as e:
                self.error = f"Malformed HTTP message: {e}"
                return False
            return True
        if line[:1] in (b" ", b"\t"):
            if not self.fields:
                self.error = "Malformed HTTP header: continuation of no header"
                return False
            name, value = self.fields.pop()
            joined = value + " " + line.strip(b" \t").decode("latin-1")
            line = (name + ": " + joined.strip(" ")).encode("latin-1")
        try:
            self.fields.extend(_head.parse_header_block(line))
        except ProtocolError as e:
            self.error = f"Malformed HTTP header: {e}"
            return False
        return True

    def headers(self) -> httputil.HTTPHeaders:
        headers = httputil.HTTPHeaders()
        for name, value in self.fields:
            headers.add(name, value)
        return headers


def _failure_message(errno: int, message: str, head: _ResponseHead) -> str:
    """libcurl's message for a failed transfer, or ours when its is empty."""
    if message:
        return message
    if errno == _E_TOO_LARGE:
        if not head.complete:
            return "Response header too large for libcurl (CURLE_TOO_LARGE)"
        return "Response data too large for libcurl's buffers (CURLE_TOO_LARGE)"
    if errno == pycurl.E_HTTP2:
        return "HTTP/2 error in libcurl's framing layer (CURLE_HTTP2)"
    return f"libcurl error {errno}"


# -- turning a request into libcurl options -------------------------------------


class _Plan:
    """A checked request: the libcurl options it needs, and what must be
    attached when it starts (callbacks, the body)."""

    __slots__ = (
        "options",
        "body",
        "body_producer",
        "streaming_callback",
        "header_callback",
        "prepare_curl_callback",
        "follow_redirects",
        "own_redirects",
        "max_redirects",
        "request_timeout",
    )

    def __init__(self) -> None:
        self.options: list[tuple[int, Any]] = []
        #: The body to upload, when it is known in advance.
        self.body: bytes | None = None
        self.body_producer: Any = None
        self.streaming_callback: Any = None
        self.header_callback: Any = None
        self.prepare_curl_callback: Any = None
        self.follow_redirects = False
        #: Whether this client follows redirects itself instead of libcurl
        #: (needed for unix_socket, whose socket must not serve the other
        #: origins a redirect may lead to).
        self.own_redirects = False
        self.max_redirects = 0
        self.request_timeout = 0.0


def _check_line_safe(what: str, text: str) -> None:
    for char in text:
        if char in _LINE_BREAKERS:
            raise ValueError(
                f"Illegal character {char!r} in {what}: CR, LF and NUL are "
                "not allowed in a request head"
            )


def _text_option(what: str, value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    _check_line_safe(what, value)
    return value


def _credential(what: str, value: str | bytes | None) -> bytes:
    """A user name or password as libcurl sends it: NFC, then UTF-8."""
    if value is None:
        return b""
    if isinstance(value, str):
        _check_line_safe(what, value)
        return unicodedata.normalize("NFC", value).encode("utf-8")
    _check_line_safe(what, value.decode("latin-1"))
    return bytes(value)


def _header_lines(headers: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(headers, httputil.HTTPHeaders):
        return headers.get_all()
    return list(headers.items())


_TOKEN_RE = re.compile(_head.TOKEN)


def _encode_header(name: Any, value: Any) -> tuple[str, bytes]:
    """``(name, b"Name: value")``, or ValueError naming the header."""
    if not isinstance(name, str):
        raise TypeError(f"header names must be str, not {type(name).__name__}")
    _check_line_safe(f"the name of header {name!r}", name)
    if not _TOKEN_RE.fullmatch(name):
        raise ValueError(f"Invalid header name {name!r}: not an HTTP token")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        text = raw.decode("latin-1")
    elif isinstance(value, str):
        text = value
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(
                f"Header {name!r} has a value that is not latin-1: {value!r}"
            ) from None
    else:
        text = str(value)
        raw = text.encode("latin-1")
    _check_line_safe(f"the value of header {name!r}", text)
    # An empty value makes libcurl drop its own header of that name instead
    # of sending an empty one (how "Expect:" turns off 100-continue).
    return name, name.encode("ascii") + b": " + raw


@functools.lru_cache(maxsize=1)
def _accept_encoding() -> str:
    """The content codings this libcurl can decode, best first."""
    features = pycurl.version_info()[4]
    names = []
    if features & getattr(pycurl, "VERSION_LIBZ", 0):
        names += ["gzip", "deflate"]
    if features & getattr(pycurl, "VERSION_BROTLI", 0):
        names.append("br")
    if features & getattr(pycurl, "VERSION_ZSTD", 0):
        names.append("zstd")
    return ", ".join(names)


@functools.lru_cache(maxsize=1)
def _system_ca_options() -> tuple[tuple[int, Any], ...]:
    """Where Python's ``ssl`` finds the system's CA certificates, as libcurl
    options; empty if neither place exists.

    The libcurl in pycurl's wheels looks where the machine that built it
    kept them (``/etc/pki/tls/certs/ca-bundle.crt``), which other
    distributions lack.  Verifying against what Python trusts makes the two
    clients agree.  ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` apply.
    """
    paths = ssl.get_default_verify_paths()
    options: list[tuple[int, Any]] = []
    if paths.cafile and os.path.isfile(paths.cafile):
        options.append((pycurl.CAINFO, paths.cafile))
    if paths.capath and os.path.isdir(paths.capath):
        options.append((pycurl.CAPATH, paths.capath))
    return tuple(options)


_MIN_VERSIONS: dict[ssl.TLSVersion, int] = {
    ssl.TLSVersion.MINIMUM_SUPPORTED: pycurl.SSLVERSION_DEFAULT,
    ssl.TLSVersion.TLSv1: pycurl.SSLVERSION_TLSv1_0,
    ssl.TLSVersion.TLSv1_1: pycurl.SSLVERSION_TLSv1_1,
    ssl.TLSVersion.TLSv1_2: pycurl.SSLVERSION_TLSv1_2,
    ssl.TLSVersion.TLSv1_3: pycurl.SSLVERSION_TLSv1_3,
}
_MAX_VERSIONS: dict[ssl.TLSVersion, int] = {
    ssl.TLSVersion.MAXIMUM_SUPPORTED: pycurl.SSLVERSION_MAX_DEFAULT,
    ssl.TLSVersion.TLSv1: pycurl.SSLVERSION_MAX_TLSv1_0,
    ssl.TLSVersion.TLSv1_1: pycurl.SSLVERSION_MAX_TLSv1_1,
    ssl.TLSVersion.TLSv1_2: pycurl.SSLVERSION_MAX_TLSv1_2,
    ssl.TLSVersion.TLSv1_3: pycurl.SSLVERSION_MAX_TLSv1_3,
}


class _TLSSettings:
    """What a request asks of TLS, in libcurl's terms."""

    __slots__ = ("verify", "check_host", "cafile", "ca_blob", "cert", "key", "extra")

    def __init__(self) -> None:
        self.verify = True
        self.check_host = True
        self.cafile: str | None = None
        #: CA certificates in PEM, for ``CAINFO_BLOB``.
        self.ca_blob: bytes | None = None
        self.cert: str | None = None
        self.key: str | None = None
        self.extra: list[tuple[int, Any]] = []

    def options(self) -> list[tuple[int, Any]]:
        options: list[tuple[int, Any]] = [
            (pycurl.SSL_VERIFYPEER, 1 if self.verify else 0),
            (pycurl.SSL_VERIFYHOST, 2 if self.verify and self.check_host else 0),
        ]
        if self.ca_blob is not None:
            options.append((pycurl.CAINFO_BLOB, self.ca_blob))
            options.append((pycurl.CAPATH, None))
        elif self.cafile is not None:
            # Only these, as with ssl: no built-in CA directory on top.
            options.append((pycurl.CAINFO, self.cafile))
            options.append((pycurl.CAPATH, None))
        elif self.verify:
            options.extend(_system_ca_options())
        if self.cert is not None:
            options.append((pycurl.SSLCERT, self.cert))
        if self.key is not None:
            options.append((pycurl.SSLKEY, self.key))
        options.extend(self.extra)
        return options


def _tls_from_request(request: Any) -> _TLSSettings:
    settings = _TLSSettings()
    ssl_options = request.ssl_options
    if ssl_options is None:
        settings.verify = request.validate_cert is not False
        settings.cafile = _path_option("ca_certs", request.ca_certs)
        settings.cert = _path_option("client_cert", request.client_cert)
        settings.key = _path_option("client_key", request.client_key)
    elif isinstance(ssl_options, ssl.SSLContext):
        _tls_from_context(ssl_options, settings)
    elif isinstance(ssl_options, dict):
        _tls_from_dict(ssl_options, settings)
    else:
        raise TypeError(
            "ssl_options must be a dict or an ssl.SSLContext, not "
            + type(ssl_options).__name__
        )
    return settings


def _path_option(what: str, value: Any) -> str | None:
    if value is None:
        return None
    return _text_option(what, os.fspath(value))


def _tls_from_dict(options: dict[str, Any], settings: _TLSSettings) -> None:
    unknown = sorted(set(options) - _SSL_DICT_KEYS)
    if unknown:
        raise ValueError(
            "ssl_options keys the curl client cannot express: "
            + ", ".join(unknown)
            + " (it understands "
            + ", ".join(sorted(_SSL_DICT_KEYS))
            + ")"
        )
    cert_reqs = options.get("cert_reqs", ssl.CERT_REQUIRED)
    if cert_reqs not in (ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED):
        raise ValueError(f"ssl_options['cert_reqs'] is not valid: {cert_reqs!r}")
    # A client checks what the server presents either way (a server always
    # presents a certificate), so CERT_OPTIONAL verifies as CERT_REQUIRED.
    settings.verify = cert_reqs != ssl.CERT_NONE
    settings.check_host = settings.verify
    settings.cafile = _path_option("ssl_options['ca_certs']", options.get("ca_certs"))
    settings.cert = _path_option("ssl_options['certfile']", options.get("certfile"))
    settings.key = _path_option("ssl_options['keyfile']", options.get("keyfile"))
    if "ciphers" in options:
        ciphers = _text_option("ssl_options['ciphers']", options["ciphers"])
        settings.extra.append((pycurl.SSL_CIPHER_LIST, ciphers))
    if "ssl_version" in options:
        version = options["ssl_version"]
        if version in (ssl.PROTOCOL_TLS_CLIENT, ssl.PROTOCOL_TLS):
            pass
        elif version == getattr(ssl, "PROTOCOL_TLSv1_2", None):
            settings.extra.append(
                (
                    pycurl.SSLVERSION,
                    pycurl.SSLVERSION_TLSv1_2 | pycurl.SSLVERSION_MAX_TLSv1_2,
                )
            )
        else:
            raise ValueError(
                f"ssl_options['ssl_version'] {version!r} cannot be expressed "
                "with libcurl; use PROTOCOL_TLS_CLIENT, or an SSLContext with "
                "minimum_version and maximum_version"
            )


# CA certificates of a context in PEM, by context, with the store statistics
# they were read under (a context can have more loaded later).
_CONTEXT_CAS: weakref.WeakKeyDictionary[ssl.SSLContext, tuple[Any, bytes | None]] = (
    weakref.WeakKeyDictionary()
)


@functools.lru_cache(maxsize=1)
def _default_cipher_names() -> frozenset[str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return frozenset(c["name"] for c in context.get_ciphers())


def _tls_from_context(context: ssl.SSLContext, settings: _TLSSettings) -> None:
    """Map what libcurl can express of an SSLContext; refuse the rest.

    Mapped: ``verify_mode``, ``check_hostname``, ``minimum_version``,
    ``maximum_version`` and the CA certificates loaded into it.  Refused
    (ValueError): a server-side context, a changed cipher list and
    ``keylog_filename``.  What cannot be read back from a context at all (a
    client certificate loaded with ``load_cert_chain``, CA directories given
    as ``capath``) cannot reach libcurl; the docs say so.
    """
    if context.protocol == ssl.PROTOCOL_TLS_SERVER:
        raise ValueError(
            "ssl_options is a server-side SSLContext (PROTOCOL_TLS_SERVER)"
        )
    if getattr(context, "keylog_filename", None):
        raise ValueError(
            "ssl_options.keylog_filename cannot be expressed with libcurl "
            "(set the SSLKEYLOGFILE environment variable instead)"
        )
    names = frozenset(c["name"] for c in context.get_ciphers())
    if names != _default_cipher_names():
        raise ValueError(
            "ssl_options has a changed cipher list (set_ciphers), which the curl "
            "client cannot read back; pass ssl_options as a dict with 'ciphers'"
        )
    settings.verify = context.verify_mode != ssl.CERT_NONE
    settings.check_host = context.check_hostname
    low = _MIN_VERSIONS.get(context.minimum_version)
    high = _MAX_VERSIONS.get(context.maximum_version)
    if low is None or high is None:
        raise ValueError(
            "ssl_options minimum_version/maximum_version cannot be expressed "
            f"with libcurl: {context.minimum_version!r}/{context.maximum_version!r}"
        )
    if low != pycurl.SSLVERSION_DEFAULT or high != pycurl.SSLVERSION_MAX_DEFAULT:
        settings.extra.append((pycurl.SSLVERSION, low | high))
    stats = tuple(sorted(context.cert_store_stats().items()))
    cached = _CONTEXT_CAS.get(context)
    if cached is not None and cached[0] == stats:
        blob = cached[1]
    else:
        certs = context.get_ca_certs(binary_form=True)
        blob = (
            "".join(ssl.DER_cert_to_PEM_cert(der) for der in certs).encode("ascii")
            if certs
            else None
        )
        _CONTEXT_CAS[context] = (stats, blob)
    settings.ca_blob = blob


def _make_plan(request: Any) -> _Plan:
    """Check ``request`` (a request seen through the client's defaults) and
    list the libcurl options it needs.  Raises ValueError, TypeError or
    KeyError for a request that cannot be sent."""
    plan = _Plan()
    options = plan.options
    url = _text_option("the URL", request.url)
    options.append((pycurl.URL, url.encode("utf-8")))
    method, uploads = _check_method_and_body(request)
    lines, declared_length = _header_lines_for(request, uploads)
    options.append((pycurl.HTTPHEADER, lines))
    _plan_method_and_body(plan, request, method, uploads, declared_length)

    if request.auth_username is not None:
        options.append((pycurl.HTTPAUTH, _auth_scheme("auth_mode", request.auth_mode)))
        options.append(
            (pycurl.USERNAME, _credential("auth_username", request.auth_username))
        )
        options.append(
            (pycurl.PASSWORD, _credential("auth_password", request.auth_password))
        )

    # Time limits; request_timeout is set when the fetch leaves the queue.
    connect_ms = int((request.connect_timeout or 0) * 1000)
    options.append(
        (pycurl.CONNECTTIMEOUT_MS, max(1, connect_ms) if connect_ms else _NO_LIMIT_MS)
    )
    plan.request_timeout = float(request.request_timeout or 0)

    plan.follow_redirects = bool(request.follow_redirects)
    plan.max_redirects = int(request.max_redirects or 0)
    unix_socket = request.unix_socket
    plan.own_redirects = plan.follow_redirects and unix_socket is not None
    if plan.follow_redirects and not plan.own_redirects:
        options.append((pycurl.FOLLOWLOCATION, 1))
        options.append((pycurl.MAXREDIRS, plan.max_redirects))

    user_agent = request.user_agent
    options.append(
        (
            pycurl.USERAGENT,
            _text_option("user_agent", user_agent).encode("latin-1")
            if user_agent
            else _DEFAULT_USER_AGENT,
        )
    )
    if request.network_interface:
        interface = _text_option("network_interface", request.network_interface)
        options.append((pycurl.INTERFACE, interface))
    if request.decompress_response:
        options.append((pycurl.ACCEPT_ENCODING, _accept_encoding()))
    else:
        options.append((pycurl.HTTP_CONTENT_DECODING, 0))
    if request.proxy_host:
        if unix_socket is not None:
            raise ValueError("unix_socket and proxy_host cannot both be given")
        options.extend(_proxy_options(request))
    options.extend(_tls_from_request(request).options())
    if request.allow_ipv6 is False:
        options.append((pycurl.IPRESOLVE, pycurl.IPRESOLVE_V4))
    if unix_socket is not None:
        options.append(_unix_socket_option(unix_socket))

    streaming_callback = request.streaming_callback
    if streaming_callback is not None and (
        inspect.iscoroutinefunction(streaming_callback)
        or gen.is_coroutine_function(streaming_callback)
    ):
        # Tornado's curl client refuses them, and its tests pin that; a
        # plain callback may still return an awaitable.
        raise TypeError(
            "'CurlAsyncHTTPClient' does not support async streaming_callbacks"
        )
    plan.streaming_callback = streaming_callback
    plan.header_callback = request.header_callback
    plan.prepare_curl_callback = request.prepare_curl_callback
    return plan


def _check_method_and_body(request: Any) -> tuple[str, bool]:
    """The method, and whether the request uploads a body (possibly empty)."""
    method = _text_option("the method", request.method)
    if not _TOKEN_RE.fullmatch(method):
        raise ValueError(f"Invalid method {method!r}: not an HTTP token")
    _shared.check_method_and_body(request)
    if request.body is not None and request.body_producer is not None:
        raise ValueError("body and body_producer cannot both be given")
    has_body = request.body is not None or request.body_producer is not None
    body_expected = method in _shared.BODY_METHODS
    if method == "HEAD" and has_body:
        raise ValueError("Body must be None for method HEAD")
    return method, has_body or body_expected


def _header_lines_for(request: Any, uploads: bool) -> tuple[list[bytes], int | None]:
    """The ``HTTPHEADER`` list, and the body size a Content-Length header
    declares (libcurl writes that header itself from the size it is given)."""
    declared_length: int | None = None
    has_expect = has_pragma = False
    lines: list[bytes] = []
    for name, value in _header_lines(request.headers):
        name, line = _encode_header(name, value)
        lowered = name.lower()
        if lowered == "content-length" and uploads:
            declared_length = _content_length(line.partition(b":")[2])
            continue
        if lowered == "expect":
            has_expect = True
        elif lowered == "pragma":
            has_pragma = True
        lines.append(line)
    if not has_expect:
        # libcurl sends "Expect: 100-continue" on its own for some uploads,
        # which stalls on servers that never answer it; only on request here.
        if request.expect_100_continue and uploads:
            lines.append(b"Expect: 100-continue")
        else:
            lines.append(b"Expect:")
    if not has_pragma:
        lines.append(b"Pragma:")
    return lines, declared_length


def _plan_method_and_body(
    plan: _Plan,
    request: Any,
    method: str,
    uploads: bool,
    declared_length: int | None,
) -> None:
    """libcurl's names for the method, and how the body is uploaded."""
    options = plan.options
    if method not in _shared.IDEMPOTENT_METHODS:
        # libcurl sends a request again, unasked, when the reused connection
        # it went out on dies before any response.  Only an idempotent
        # request may be repeated (RFC 9112 9.3.1), so any other gets a
        # connection of its own.
        options.append((pycurl.FRESH_CONNECT, 1))
    if not uploads:
        if method == "HEAD":
            options.append((pycurl.NOBODY, 1))
        elif method != "GET":
            options.append((pycurl.CUSTOMREQUEST, method))
        return
    size: int | None
    if request.body_producer is None:
        plan.body = request.body if request.body is not None else b""
        size = len(plan.body)
        if declared_length is not None and declared_length != size:
            raise ValueError(
                f"Content-Length header ({declared_length}) does not match the "
                f"body ({size} bytes)"
            )
    else:
        plan.body_producer = request.body_producer
        size = declared_length  # None: chunked
    if method == "POST":
        # POST keeps libcurl's rule for redirects: 301-303 turn it into GET.
        options.append((pycurl.POST, 1))
        options.append((pycurl.POSTFIELDSIZE_LARGE, -1 if size is None else size))
    else:
        options.append((pycurl.UPLOAD, 1))
        if size is not None:
            options.append((pycurl.INFILESIZE_LARGE, size))
        if method != "PUT":
            options.append((pycurl.CUSTOMREQUEST, method))


def _auth_scheme(what: str, mode: str | None) -> int:
    if mode is None or mode == "basic":
        return pycurl.HTTPAUTH_BASIC
    if mode == "digest":
        return pycurl.HTTPAUTH_DIGEST
    raise ValueError(f"Unsupported {what} {mode}")


def _proxy_options(request: Any) -> list[tuple[int, Any]]:
    if not request.proxy_port:
        raise ValueError("proxy_host needs proxy_port")
    options = [
        (pycurl.PROXY, _text_option("proxy_host", request.proxy_host)),
        (pycurl.PROXYPORT, int(request.proxy_port)),
        (pycurl.PROXYAUTH, _auth_scheme("proxy_auth_mode", request.proxy_auth_mode)),
    ]
    if request.proxy_username:
        username = _credential("proxy_username", request.proxy_username)
        password = _credential("proxy_password", request.proxy_password)
        options.append((pycurl.PROXYUSERNAME, username))
        options.append((pycurl.PROXYPASSWORD, password))
    return options


def _content_length(raw: bytes) -> int:
    text = raw.strip(b" \t")
    if not text.isdigit():
        raise ValueError(f"Invalid Content-Length header {text!r}")
    return int(text)


def _unix_socket_option(path: str) -> tuple[int, Any]:
    if path.startswith("\0"):
        option = getattr(pycurl, "ABSTRACT_UNIX_SOCKET", None)
        if option is None:
            raise ValueError(
                "unix_socket names an abstract socket, which this pycurl cannot "
                "pass to libcurl (it lacks ABSTRACT_UNIX_SOCKET)"
            )
        name = path[1:]
    else:
        option, name = pycurl.UNIX_SOCKET_PATH, path
    if "\0" in name:
        raise ValueError("unix_socket contains NUL")
    return option, os.fsencode(name)


def _resolved_copy(request: Any) -> HTTPRequest:
    """A plain HTTPRequest with every option the proxy ``request`` reads,
    defaults included, so that a redirect can change any of them (even to
    None) without the defaults coming back."""
    original = request.request if isinstance(request, _ProxyBase) else request
    resolved = copy.copy(original)
    for name in vars(original):
        if not name.startswith("_"):
            setattr(resolved, name, getattr(request, name))
    resolved.headers = httputil.HTTPHeaders(request.headers)
    return resolved


# -- the client ----------------------------------------------------------------------


class _Transfer:
    """One fetch, from the moment it leaves the queue to its response.

    It owns what libcurl calls back into for the response: the head
    (:meth:`header_line`) and, without a streaming_callback, the body
    (:meth:`write_body`).  Lines for a ``header_callback`` are held back
    until it is known that their head is the final one: a head followed by
    another status line was a 1xx, a proxy's CONNECT answer or a redirect
    that libcurl followed, and is dropped; a head followed by body data, or
    by the end of the transfer, is released.
    """

    __slots__ = (
        "client",
        "origin_request",
        "request",
        "plan",
        "callback",
        "queued_at",
        "started_at",
        "start_wall",
        "deadline",
        "redirects",
        "buffer",
        "head",
        "stream",
        "feed",
        "body_too_large",
        "held_lines",
    )

    def __init__(
        self,
        client: CurlAsyncHTTPClient,
        origin_request: Any,
        request: Any,
        plan: _Plan,
        callback: Callable[[HTTPResponse], None],
        queued_at: float,
    ) -> None:
        self.client = client
        #: What the caller fetched: the response's ``request``.
        self.origin_request = origin_request
        #: What this transfer fetches (another URL after a redirect).
        self.request = request
        self.plan = plan
        self.callback = callback
        self.queued_at = queued_at
        self.started_at = client.io_loop.time()
        self.start_wall = time.time()
        #: When request_timeout runs out (0: never), on the IOLoop's clock.
        self.deadline = 0.0
        self.redirects = 0
        self.buffer = BytesIO()
        self.head = _ResponseHead(request.method)
        self.stream: _CurlStreamingBuffer | None = None
        self.feed: _BodyProducerFeed | None = None
        self.body_too_large = False
        #: Lines of the current head for header_callback, until released
        #: (None once released, or without a header_callback).
        self.held_lines: list[str] | None = None

    def release_head_lines(self) -> None:
        """The current head is the final one: its lines may be delivered."""
        held, self.held_lines = self.held_lines, None
        stream = self.stream
        if held and stream is not None:
            for line in held:
                stream.header_line(line)

    def _redirect_body(self) -> bool:
        """Whether the body coming is that of a redirect this client will
        follow itself (dropped, as libcurl drops those it follows)."""
        head = self.head
        return head.code in _shared.REDIRECT_CODES and any(
            name.lower() == "location" for name, _ in head.fields
        )

    def write_body(self, chunk: bytes) -> int | None:
        """WRITEFUNCTION without a streaming_callback."""
        if self.plan.own_redirects and self._redirect_body():
            return None
        if self.held_lines is not None:
            self.release_head_lines()
        buffer = self.buffer
        if buffer.tell() + len(chunk) > self.client.max_body_size:
            self.body_too_large = True
            return 0
        buffer.write(chunk)
        return None

    def write_stream(self, chunk: bytes) -> int | None:
        """WRITEFUNCTION with a streaming_callback, when the head lines are
        held or this client follows redirects itself."""
        if self.plan.own_redirects and self._redirect_body():
            return None
        if self.held_lines is not None:
            self.release_head_lines()
        assert self.stream is not None
        return self.stream.write(chunk)

    def header_line(self, raw: bytes) -> int | None:
        """HEADERFUNCTION: one line of a response head, line end included."""
        try:
            ok = self.head.feed(raw)
            stream = self.stream
            if stream is not None and stream.header_callback is not None:
                line = raw.decode("latin-1")
                if line.startswith("HTTP/"):
                    # A new head: the one before was not the final one.
                    self.held_lines = [line]
                elif self.held_lines is not None:
                    self.held_lines.append(line)
                else:
                    # Trailers, after the body.
                    stream.header_line(line)
            if ok:
                return None
        except Exception as e:  # never into libcurl
            self.head.error = f"Error handling a header line: {e!r}"
        return 0


def _read_from(buffer: BytesIO) -> Callable[[int], bytes]:
    return buffer.read


def _seek_in(buffer: BytesIO) -> Callable[[int, int], int]:
    def seek(offset: int, origin: int) -> int:
        try:
            buffer.seek(offset, origin)
        except (ValueError, OSError):
            return pycurl.SEEKFUNC_FAIL
        return pycurl.SEEKFUNC_OK

    return seek


_QueueEntry = tuple[Any, Callable[[HTTPResponse], None], _Plan, float, Any]


class CurlAsyncHTTPClient(AsyncHTTPClient):
    """An :class:`~tornado_compat.httpclient.AsyncHTTPClient` on libcurl.

    :arg max_clients: fetches run at once (each on its own libcurl easy
        handle); the others wait in a queue, and the time they wait counts
        toward their ``request_timeout`` (a fetch that waits longer than
        ``min(connect_timeout, request_timeout)`` fails with "Timeout in
        request queue").
    :arg defaults: defaults for the requests' options.
    :arg max_body_size: the largest response body accepted, in bytes after
        decompression, with or without a ``streaming_callback`` (default
        100 MiB).  A body past it fails the fetch with a :class:`CurlError`
        (code 599) saying so; none of it past the limit reaches the
        ``streaming_callback``.
    :arg http2: which HTTP versions libcurl may speak.  None (the
        default): libcurl's own choice, as with Tornado's curl client (the
        libcurl of pycurl's wheels offers ``h2`` by ALPN on ``https`` URLs
        and speaks HTTP/1.1 on ``http``).  ``False``: HTTP/1.1 only, even
        where the server offers h2.  ``True``:
        on ``https`` URLs offer ``h2`` then ``http/1.1`` by ALPN; ``http``
        URLs stay HTTP/1.1.  ``"prior-knowledge"``: HTTP/2 only, on ``http``
        URLs too, without asking first (the server must speak it; on
        ``https`` ALPN offers ``h2`` alone).  Any other value is a ValueError.  With
        HTTP/2 the fetches to one origin are multiplexed over one connection:
        a fetch that starts while another one is connecting waits for that
        connection (``CURLOPT_PIPEWAIT``) instead of opening its own.
        ``max_clients`` still bounds the fetches in flight, which is then
        the number of streams on that connection (nginx allows 128 by
        default, tornado_compat's server 100; libcurl opens another
        connection past the server's limit).

    Every response that came from a server says which version carried it, in
    ``HTTPResponse.version`` (``"HTTP/1.1"``, ``"HTTP/2.0"``...).

    It accepts every option of :class:`~tornado_compat.httpclient.HTTPRequest`,
    including those Tornado's curl client lacks: ``body_producer``,
    ``expect_100_continue``, ``ssl_options`` (what libcurl can express of
    it) and ``unix_socket``.  Connections are kept in libcurl's connection
    cache and reused.  See the "curl client" page of the docs for the
    details and the differences from Tornado's client.
    """

    def initialize(  # type: ignore[override]
        self,
        max_clients: int = 10,
        defaults: dict[str, Any] | None = None,
        max_body_size: int | None = None,
        http2: bool | str | None = None,
    ) -> None:
        super().initialize(defaults=defaults)
        if max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        # bool is checked by type so that 0, 1 or "true" are refused, not
        # taken for False or True.
        if not (http2 is None or isinstance(http2, bool) or http2 == "prior-knowledge"):
            raise ValueError(
                f"http2 must be None, False, True or 'prior-knowledge', not {http2!r}"
            )
        if http2 and not pycurl.version_info()[4] & pycurl.VERSION_HTTP2:
            raise ValueError(f"http2={http2!r}: this libcurl has no HTTP/2 support")
        self.max_clients = max_clients
        self.http2 = http2
        self._http_version = _HTTP_VERSION_OPTIONS[http2]
        self.max_body_size = (
            _DEFAULT_MAX_BODY_SIZE if max_body_size is None else max_body_size
        )
        self._multi: Any = pycurl.CurlMulti()
        self._multi.setopt(pycurl.M_TIMERFUNCTION, self._set_timeout)
        self._multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        # libcurl's default since 7.62, set so that an older one multiplexes
        # too.
        self._multi.setopt(pycurl.M_PIPELINING, pycurl.PIPE_MULTIPLEX)
        # Easy handles: all those made, and those not in use.
        self._handles: list[Any] = []
        self._free: list[Any] = []
        self._active: dict[Any, _Transfer] = {}
        self._queue: collections.deque[_QueueEntry] = collections.deque()
        # Descriptors registered with the IOLoop, with their event masks.
        self._fds: dict[int, int] = {}
        self._timer: object | None = None

    # -- the public interface

    def close(self) -> None:
        """Close the client: its handles, its connections and the multi handle.

        Fetches still queued or running fail with code 599.
        """
        if self._closed:
            return
        multi = self._multi
        self._multi = None
        if self._timer is not None:
            self.io_loop.remove_timeout(self._timer)
            self._timer = None
        queued, self._queue = self._queue, collections.deque()
        active, self._active = self._active, {}
        for curl, transfer in active.items():
            multi.remove_handle(curl)
            if transfer.stream is not None:
                transfer.stream.curl = None
            if transfer.feed is not None:
                transfer.feed.close()
        for fd in list(self._fds):
            self.io_loop.remove_handler(fd)
        self._fds.clear()
        for curl in self._handles:
            curl.close()
        self._handles = []
        self._free = []
        multi.close()
        super().close()
        for request, callback, _, _, timeout in queued:
            if timeout is not None:
                self.io_loop.remove_timeout(timeout)
            self._deliver(
                callback,
                HTTPResponse(request, 599, error=_closed_error(), time_info={}),
            )
        for transfer in active.values():
            self._deliver(
                transfer.callback,
                HTTPResponse(transfer.origin_request, 599, error=_closed_error()),
            )

    def fetch_impl(
        self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]
    ) -> None:
        now = self.io_loop.time()
        try:
            plan = _make_plan(request)
        except Exception as e:
            self._deliver(callback, HTTPResponse(request, 599, error=e))
            return
        timeout = None
        if not self._free and len(self._handles) >= self.max_clients:
            limit = _shared.queue_timeout(request)
            if limit:
                timeout = self.io_loop.call_later(limit, self._queue_timed_out, request)
        self._queue.append((request, callback, plan, now, timeout))
        self._process_queue()

    def handle_callback_exception(self, callback: Any) -> None:
        """Log an exception raised by ``callback`` (as Tornado's client does)."""
        _log_callback_error(callback)

    # -- the queue

    def _process_queue(self) -> None:
        queue = self._queue
        while queue and self._multi is not None:
            if self._free:
                curl = self._free.pop()
            elif len(self._handles) < self.max_clients:
                curl = self._new_handle()
            else:
                return
            request, callback, plan, queued_at, timeout = queue.popleft()
            if timeout is not None:
                self.io_loop.remove_timeout(timeout)
            transfer = _Transfer(self, request, request, plan, callback, queued_at)
            if plan.request_timeout:
                transfer.deadline = queued_at + plan.request_timeout
            self._start(curl, transfer)

    def _queue_timed_out(self, request: Any) -> None:
        for entry in self._queue:
            if entry[0] is request:
                self._queue.remove(entry)
                break
        else:
            return
        waited = self.io_loop.time() - entry[3]
        error = CurlError(pycurl.E_OPERATION_TIMEDOUT, "Timeout in request queue")
        error.response = HTTPResponse(
            request,
            599,
            error=error,
            request_time=waited,
            time_info={"queue": waited},
        )
        self._deliver(entry[1], error.response)

    # -- easy handles

    def _new_handle(self) -> Any:
        curl = pycurl.Curl()
        self._handles.append(curl)
        self._baseline(curl)
        return curl

    def _baseline(self, curl: Any) -> None:
        """The options every transfer starts from (after ``curl.reset()``)."""
        # The client runs in an event loop, maybe with other threads; libcurl
        # must not use signals (for DNS timeouts) there.
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.REDIR_PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        if self._http_version is not None:
            curl.setopt(pycurl.HTTP_VERSION, self._http_version)
        if self.http2:
            curl.setopt(pycurl.PIPEWAIT, 1)
        if curl_log.isEnabledFor(logging.DEBUG):
            curl.setopt(pycurl.VERBOSE, 1)
            curl.setopt(pycurl.DEBUGFUNCTION, _curl_debug)

    def _release(self, curl: Any) -> None:
        """Forget everything the last transfer set on ``curl`` and free it."""
        self._clean(curl)
        self._free.append(curl)

    def _clean(self, curl: Any) -> None:
        # Cookies survive curl.reset(); a prepare_curl_callback may have
        # turned the cookie engine on.
        curl.setopt(pycurl.COOKIELIST, "ALL")
        curl.reset()
        self._baseline(curl)

    def _start(self, curl: Any, transfer: _Transfer) -> None:
        """Set ``curl`` up for ``transfer`` and add it to the multi handle;
        a failure is the fetch's response."""
        plan = transfer.plan
        try:
            for option, value in plan.options:
                curl.setopt(option, value)
            if transfer.deadline:
                remaining = transfer.deadline - self.io_loop.time()
                curl.setopt(pycurl.TIMEOUT_MS, max(1, int(remaining * 1000)))
            curl.setopt(pycurl.HEADERFUNCTION, transfer.header_line)
            stream = None
            if plan.streaming_callback is not None or plan.header_callback is not None:
                stream = _CurlStreamingBuffer(
                    self, curl, plan.streaming_callback, plan.header_callback
                )
                transfer.stream = stream
            if plan.streaming_callback is not None:
                assert stream is not None
                direct = plan.header_callback is None and not plan.own_redirects
                curl.setopt(
                    pycurl.WRITEFUNCTION,
                    stream.write if direct else transfer.write_stream,
                )
            else:
                curl.setopt(pycurl.WRITEFUNCTION, transfer.write_body)
            if plan.body is not None:
                source = BytesIO(plan.body)
                curl.setopt(pycurl.READFUNCTION, _read_from(source))
                curl.setopt(pycurl.SEEKFUNCTION, _seek_in(source))
            elif plan.body_producer is not None:
                feed = _BodyProducerFeed(self, curl, plan.body_producer)
                feed.stream = stream
                if stream is not None:
                    stream.upload = feed
                transfer.feed = feed
                curl.setopt(pycurl.READFUNCTION, feed.read)
            if plan.prepare_curl_callback is not None:
                plan.prepare_curl_callback(curl)
        except Exception as e:
            self._abandon(transfer)
            self._release(curl)
            self._deliver(
                transfer.callback,
                HTTPResponse(
                    transfer.origin_request,
                    599,
                    error=e,
                    time_info={"queue": transfer.started_at - transfer.queued_at},
                ),
            )
            return
        self._active[curl] = transfer
        self._multi.add_handle(curl)

    def _abandon(self, transfer: _Transfer) -> None:
        if transfer.stream is not None:
            transfer.stream.curl = None
        if transfer.feed is not None:
            transfer.feed.close()

    # -- libcurl's multi interface on the IOLoop

    def _on_socket(self, event: int, fd: int, multi: Any, data: Any) -> None:
        """M_SOCKETFUNCTION: libcurl wants ``fd`` watched for ``event``."""
        try:
            io_loop = self.io_loop
            # Always drop and re-add: libcurl may have closed the descriptor
            # and opened another with the same number, which an epoll set
            # silently forgot.
            if self._fds.pop(fd, None) is not None:
                io_loop.remove_handler(fd)
            if event == pycurl.POLL_REMOVE or self._multi is None:
                return
            mask = _EVENT_MASKS.get(event, 0)
            if mask:
                io_loop.add_handler(fd, self._on_fd_ready, mask)
                self._fds[fd] = mask
        except Exception:
            curl_log.warning("Could not watch descriptor %d", fd, exc_info=True)

    def _set_timeout(self, msecs: int) -> None:
        """M_TIMERFUNCTION: wake libcurl in ``msecs`` ms (-1: never)."""
        if self._timer is not None:
            self.io_loop.remove_timeout(self._timer)
            self._timer = None
        if msecs >= 0 and self._multi is not None:
            self._timer = self.io_loop.call_later(msecs / 1000.0, self._on_timer)

    def _on_fd_ready(self, fd: int, events: int) -> None:
        action = 0
        if events & IOLoop.READ:
            action |= pycurl.CSELECT_IN
        if events & IOLoop.WRITE:
            action |= pycurl.CSELECT_OUT
        if events & IOLoop.ERROR:
            action |= pycurl.CSELECT_ERR
        self._drive(fd, action)

    def _on_timer(self) -> None:
        self._timer = None
        self._drive(pycurl.SOCKET_TIMEOUT, 0)
        multi = self._multi
        if multi is not None and self._timer is None:
            # Our clock and libcurl's may disagree on whether the timeout is
            # due yet; if libcurl set no new timer, ask what it wants.
            wanted = multi.timeout()
            if wanted >= 0:
                self._set_timeout(wanted)

    def _drive(self, fd: int, action: int) -> None:
        multi = self._multi
        if multi is None:
            return
        try:
            multi.socket_action(fd, action)
        except pycurl.error as e:
            curl_log.debug("socket_action(%d, %d): %s", fd, action, e)
        while self._multi is not None:
            remaining, succeeded, failed = self._multi.info_read()
            for curl in succeeded:
                self._finish(curl, 0, "")
            for curl, errno, message in failed:
                self._finish(curl, errno, message)
            if not remaining:
                break
        self._process_queue()

    # -- the end of a transfer

    def _finish(self, curl: Any, errno: int, message: str) -> None:
        transfer = self._active.pop(curl, None)
        if transfer is None or self._multi is None:
            return
        self._multi.remove_handle(curl)
        now = self.io_loop.time()
        code = 0 if errno else curl.getinfo(pycurl.RESPONSE_CODE)
        version = _VERSION_NAMES.get(curl.getinfo(pycurl.INFO_HTTP_VERSION))
        effective_url = curl.getinfo(pycurl.EFFECTIVE_URL) or transfer.request.url
        time_info = {
            "queue": transfer.started_at - transfer.queued_at,
            "namelookup": curl.getinfo(pycurl.NAMELOOKUP_TIME),
            "connect": curl.getinfo(pycurl.CONNECT_TIME),
            "appconnect": curl.getinfo(pycurl.APPCONNECT_TIME),
            "pretransfer": curl.getinfo(pycurl.PRETRANSFER_TIME),
            "starttransfer": curl.getinfo(pycurl.STARTTRANSFER_TIME),
            "total": curl.getinfo(pycurl.TOTAL_TIME),
            "redirect": curl.getinfo(pycurl.REDIRECT_TIME),
        }
        stream = transfer.stream
        if stream is not None:
            # libcurl is done with the handle's callbacks; so are we.
            stream.curl = None
        feed = transfer.feed
        if feed is not None:
            feed.close()
        head = transfer.head
        error: BaseException | None = None
        if errno:
            code = 599
            if transfer.body_too_large or (
                stream is not None and stream.body_too_large
            ):
                message = (
                    "Response body too large: it exceeds max_body_size "
                    f"({self.max_body_size} bytes)"
                )
            elif head.error is not None:
                message = head.error
            else:
                message = _failure_message(errno, message, head)
            if errno == pycurl.E_INTERFACE_FAILED:
                message += (
                    f" (network_interface={transfer.request.network_interface!r})"
                )
            if feed is not None and feed.error is not None:
                error = feed.error
            else:
                error = CurlError(errno, message)
        headers = head.headers()
        if (
            error is None
            and transfer.plan.own_redirects
            and code in _shared.REDIRECT_CODES
        ):
            try:
                follow = self._next_hop(transfer, code, headers, effective_url)
            except Exception as e:
                follow = None
                error, code = e, 599
            if follow is not None:
                # The redirect's head and body are not the response's.
                transfer.held_lines = None
                if stream is not None:
                    stream.finish()
                self._clean(curl)
                self._start(curl, follow)
                return
        self._release(curl)
        transfer.release_head_lines()
        buffer = None
        if error is None:
            buffer = transfer.buffer
            buffer.seek(0)
        response = HTTPResponse(
            transfer.origin_request,
            code,
            headers=headers,
            buffer=buffer,
            effective_url=effective_url,
            error=error,
            reason=head.reason,
            request_time=now - transfer.started_at,
            start_time=transfer.start_wall,
            time_info=time_info,
            version=version,
        )
        if isinstance(error, CurlError) and error.response is None:
            error.response = response
        if stream is None:
            self._deliver(transfer.callback, response)
        else:
            # Everything received reaches the callbacks before the response.
            stream.finish(functools.partial(self._deliver, transfer.callback, response))

    def _deliver(
        self, callback: Callable[[HTTPResponse], None], response: HTTPResponse
    ) -> None:
        try:
            callback(response)
        except Exception:
            self.handle_callback_exception(callback)

    def _next_hop(
        self,
        transfer: _Transfer,
        code: int,
        headers: httputil.HTTPHeaders,
        current_url: str,
    ) -> _Transfer | None:
        """The transfer that follows a redirect this client follows itself
        (libcurl would send every hop to the unix socket), or None to return
        the redirect as the response."""
        location = headers.get("Location")
        if not location:
            return None
        plan = transfer.plan
        if transfer.redirects >= plan.max_redirects:
            raise CurlError(
                pycurl.E_TOO_MANY_REDIRECTS,
                f"Maximum ({plan.max_redirects}) redirects followed",
            )
        target = urllib.parse.urljoin(current_url, location)
        scheme = urllib.parse.urlsplit(target).scheme.lower()
        if scheme not in ("http", "https"):
            raise CurlError(
                pycurl.E_UNSUPPORTED_PROTOCOL,
                f"Protocol {scheme!r} not supported for a redirect",
            )
        request = _resolved_copy(transfer.request)
        request.url = target
        if (
            not _shared.becomes_get(code, request.method)
            and request.body_producer is not None
        ):
            raise CurlError(
                pycurl.E_SEND_FAIL_REWIND,
                f"Cannot follow a {code} redirect: the body_producer's body "
                "cannot be sent again",
            )
        _shared.rewrite_for_redirect(request, code, transfer.request.url)
        request.allow_nonstandard_methods = True
        next_plan = _make_plan(request)
        if transfer.plan.request_timeout:
            # The hops share one time limit, as libcurl's redirects do.
            next_plan.request_timeout = transfer.plan.request_timeout
        follow = _Transfer(
            self,
            transfer.origin_request,
            request,
            next_plan,
            transfer.callback,
            transfer.queued_at,
        )
        follow.started_at = transfer.started_at
        follow.deadline = transfer.deadline
        follow.redirects = transfer.redirects + 1
        # A hop to another origin has no unix socket, so libcurl follows
        # whatever comes after it, within what is left of the limit.
        if not next_plan.own_redirects and next_plan.follow_redirects:
            next_plan.options.append(
                (pycurl.MAXREDIRS, plan.max_redirects - follow.redirects)
            )
        return follow


def _closed_error() -> HTTPClientError:
    return HTTPClientError(599, "The HTTP client was closed")


_EVENT_MASKS = {
    pycurl.POLL_IN: IOLoop.READ,
    pycurl.POLL_OUT: IOLoop.WRITE,
    pycurl.POLL_INOUT: IOLoop.READ | IOLoop.WRITE,
}

# libcurl's debug record types: informational text, header in, header out.
_DEBUG_TEXT, _DEBUG_HEADER_IN, _DEBUG_HEADER_OUT = 0, 1, 2
_SECRET_HEADERS = (b"authorization:", b"proxy-authorization:", b"cookie:")


def _curl_debug(kind: int, data: bytes) -> None:
    """DEBUGFUNCTION: libcurl's trace to ``curl_log``, without secrets."""
    try:
        if kind == _DEBUG_TEXT:
            curl_log.debug("* %s", data.decode("latin-1").rstrip())
        elif kind in (_DEBUG_HEADER_IN, _DEBUG_HEADER_OUT):
            arrow = "<" if kind == _DEBUG_HEADER_IN else ">"
            for line in data.splitlines():
                if line.lower().startswith(_SECRET_HEADERS):
                    line = line.partition(b":")[0] + b": <hidden>"
                curl_log.debug("%s %s", arrow, line.decode("latin-1"))
    except Exception:
        pass


if __name__ == "__main__":
    AsyncHTTPClient.configure(CurlAsyncHTTPClient)
    main()
