"""The pure-Python HTTP client, with the API of ``tornado.simple_httpclient``.

What this module is for: :class:`SimpleAsyncHTTPClient`, the default
:class:`~tornado_compat.httpclient.AsyncHTTPClient`.  It speaks HTTP/1.1 over
:class:`~tornado_compat.http1connection.HTTP1Connection`, the same
connection code (and so the same parser) as the server, and it adds what
Tornado's simple client never had:

- keep-alive connection pooling, with a pool key that covers every option
  that changes what a connection is, and one safe retry;
- HTTP proxies (absolute-form requests) and HTTPS through a ``CONNECT``
  tunnel, with basic proxy authentication;
- unix-domain-socket targets (``HTTPRequest(unix_socket=...)``);
- HTTP/2 when asked for (``http2=``): fetches to one origin multiplexed over
  one connection, driven by :mod:`tornado_compat.http2.client`.

The pieces:

- :class:`SimpleAsyncHTTPClient` queues fetches beyond ``max_clients`` and
  hands each one to an :class:`_HTTPConnection`.
- :class:`_HTTPConnection` runs one fetch (and its redirects, as new
  fetches): it finds or opens a connection, writes the request and reads the
  response as the connection's message delegate.  ``tornado.websocket``
  subclasses it for the websocket handshake, so its constructor, its
  delegate methods and the attributes ``io_loop``, ``connection``,
  ``headers``, ``final_callback`` and ``_timeout`` keep Tornado's meaning.
- :class:`_ConnectionPool` keeps idle connections by key, and
  :class:`_H2Origins` the HTTP/2 connections (one per key).

What it must never do: put a connection back in the pool unless the
exchange on it ended cleanly (the whole request sent, the whole response
read, keep-alive agreed, no error of any kind).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import functools
import importlib.metadata
import os
import socket
import ssl
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Hashable
from io import BytesIO
from types import TracebackType
from typing import Any

from tornado.escape import native_str
from tornado.ioloop import IOLoop
from tornado.log import gen_log

from tornado_compat import httputil, iostream
from tornado_compat.http1connection import (
    HTTP1Connection,
    HTTP1ConnectionParameters,
    _Head,
    _new_tuple,
)
from tornado_compat.httpclient import (
    AsyncHTTPClient,
    HTTPClientError,
    HTTPRequest,
    HTTPResponse,
    _ProxyBase,
    _shared,
    main,
)
from tornado_compat.netutil import (
    OverrideResolver,
    Resolver,
    _client_ssl_defaults,
    is_valid_ip,
    ssl_options_to_context,
)
from tornado_compat.protocol import codings as _codings
from tornado_compat.protocol import framing as _framing
from tornado_compat.protocol import head as _head
from tornado_compat.tcpclient import TCPClient, _before

__all__ = [
    "HTTPStreamClosedError",
    "HTTPTimeoutError",
    "SimpleAsyncHTTPClient",
    "main",
]

# TLS contexts a client keeps built, by the options they were built from.
_MAX_CACHED_CONTEXTS = 32
# Response heads a client keeps parsed, by their bytes (see _ResponseHead),
# and the longest head kept: a server sends the same head again and again
# (within the second of its Date), and parsing one is a good part of the
# cost of a small response.
_MAX_CACHED_HEADS = 64
_MAX_CACHED_HEAD_SIZE = 2048
# Targets of plain http:// origins a client keeps made (see _prepare).
_MAX_CACHED_TARGETS = 64


class HTTPTimeoutError(HTTPClientError):
    """A fetch ran out of time: in the queue, while connecting, or during
    the request.  Its code is 599 and its message says which."""

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Timeout"


class HTTPStreamClosedError(HTTPClientError):
    """The connection closed before the response was complete.  Its code is
    599 and its message names the cause when one is known (a malformed
    response, a body over ``max_body_size``, an error in a callback)."""

    def __init__(self, message: str) -> None:
        super().__init__(599, message=message)

    def __str__(self) -> str:
        return self.message or "Stream closed"


@functools.lru_cache(maxsize=1)
def _default_user_agent() -> str:
    # The same User-Agent as Tornado's client, for servers that look at it.
    try:
        return "Tornado/" + importlib.metadata.version("tornado")
    except importlib.metadata.PackageNotFoundError:
        return "tornado_compat"


def _basic_credentials(username: str, password: str | None) -> str:
    raw = httputil.encode_username_password(username, password or "")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Target:
    """Where one request's connection goes, and the pool key that says which
    idle connections could carry it."""

    __slots__ = (
        "scheme",
        "host",
        "port",
        "unix_socket",
        "ssl_context",
        "proxy",
        "proxy_credentials",
        "source_ip",
        "af",
        "key",
    )

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        unix_socket: str | None,
        tls: tuple[Hashable, ssl.SSLContext] | None,
        proxy: tuple[str, int] | None,
        proxy_credentials: str | None,
        source_ip: str | None,
        af: socket.AddressFamily,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.unix_socket = unix_socket
        self.ssl_context = tls[1] if tls is not None else None
        self.proxy = proxy
        self.proxy_credentials = proxy_credentials
        self.source_ip = source_ip
        self.af = af
        tls_key = tls[0] if tls is not None else None
        if proxy is not None and scheme == "http" and unix_socket is None:
            # Absolute-form requests: one proxy connection serves any origin.
            self.key: Hashable = ("proxy", proxy, proxy_credentials, source_ip, af)
        else:
            self.key = (
                scheme,
                host,
                port,
                unix_socket,
                tls_key,
                proxy,
                proxy_credentials,
                source_ip,
                af,
            )

    @property
    def absolute_form(self) -> bool:
        """Whether the request line carries the whole URL (plain HTTP through
        a proxy)."""
        return self.proxy is not None and self.scheme == "http" and not self.unix_socket


class _Deadline:
    """One fetch's place in :class:`_Deadlines`; ``cancel()`` takes it out
    (it stands in for a timer handle, as ``_HTTPConnection._timeout``)."""

    __slots__ = ("_owner", "when", "_callback", "_args")

    def __init__(
        self,
        owner: _Deadlines,
        when: float,
        callback: Callable[..., None],
        args: tuple[Any, ...],
    ) -> None:
        self._owner = owner
        self.when = when
        self._callback = callback
        self._args = args

    def cancel(self) -> None:
        self._owner._due.pop(self, None)


class _Deadlines:
    """The request timeouts of a client's fetches, on one asyncio timer.

    A timer per fetch would cost more than the rest of a keep-alive
    fetch's bookkeeping put together (a heap push, a cancel, and the
    loop's clean-up of cancelled timers); here a fetch costs a dict entry.
    The one timer is set for the earliest deadline.  When it fires, the
    callbacks of the deadlines that have passed are scheduled (each on its
    own, as a timer's would run), and it is set again for the earliest
    left.  It may fire with nothing due (that fetch ended in time), which
    costs one look at the fetches still running.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._due: dict[_Deadline, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def add(self, when: float, callback: Callable[..., None], *args: Any) -> _Deadline:
        """Call ``callback(*args)`` at ``when`` (the loop's clock) unless
        the returned deadline is cancelled first."""
        deadline = _Deadline(self, when, callback, args)
        self._due[deadline] = None
        if when < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._set_timer(when)
        return deadline

    def close(self) -> None:
        """The client is closed: with no fetch waiting on the timer, it is
        cancelled now rather than left to run out (holding this object in
        the loop until the last deadline set)."""
        if not self._due and self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = float("inf")

    def _set_timer(self, when: float) -> None:
        self._timer_at = when
        self._timer = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        now = self._loop.time()
        passed = [d for d in self._due if d.when <= now]
        passed.sort(key=lambda d: d.when)
        for deadline in passed:
            del self._due[deadline]
            self._loop.call_soon(deadline._callback, *deadline._args)
        if self._due:
            self._set_timer(min(d.when for d in self._due))


class _ResponseHead:
    """A response head as the connection parsed it and framed its body, kept
    by its bytes for the next response that comes with the same head.

    What the connection's reader makes of a head depends on nothing but its
    bytes and the client's ``strict`` (one cache per client), and on the
    request's method only for HEAD (whose responses are never kept): the
    same bytes get the same answer as if they were parsed again.  The
    header values are copied out for each response, which may change its
    own.
    """

    __slots__ = ("start_line", "fields", "framing", "disconnect")

    def __init__(
        self,
        start_line: httputil.ResponseStartLine,
        fields: dict[str, list[str]],
        framing: _framing.Framing,
        disconnect: bool,
    ) -> None:
        self.start_line = start_line
        self.fields = {name: values.copy() for name, values in fields.items()}
        self.framing = framing
        self.disconnect = disconnect


class _IdleConnection:
    __slots__ = ("pool", "key", "stream", "since")

    def __init__(
        self,
        pool: _ConnectionPool,
        key: Hashable,
        stream: iostream.IOStream,
        since: float,
    ) -> None:
        self.pool = pool
        self.key = key
        self.stream = stream
        self.since = since

    def lost(self) -> None:
        """The peer closed the idle connection."""
        self.pool._remove(self)


class _ConnectionPool:
    """Idle keep-alive connections, by target key.

    At most ``max_idle`` are kept per key (the oldest is closed to make
    room); each is closed after ``idle_timeout`` seconds unused, and dropped
    as soon as its peer closes it.  The most recently used is taken first,
    being the least likely to have been closed by the server.
    """

    def __init__(
        self, io_loop: IOLoop, max_idle: int, idle_timeout: float | None
    ) -> None:
        self._io_loop = io_loop
        # Ages are on the asyncio loop's clock, which its timers use.
        self._loop: asyncio.AbstractEventLoop = io_loop.asyncio_loop  # type: ignore[attr-defined]
        self._max_idle = max_idle
        self._idle_timeout = idle_timeout
        self._idle: dict[Hashable, list[_IdleConnection]] = {}
        # Every idle connection, oldest first, for the one timer that closes
        # those idle too long (a timer per connection would cost two timer
        # operations per request).
        self._by_age: dict[_IdleConnection, None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def take(self, key: Hashable) -> iostream.IOStream | None:
        entries = self._idle.get(key)
        while entries:
            entry = entries.pop()
            if not entries:
                del self._idle[key]
            self._stop_watching(entry)
            stream = entry.stream
            if stream._closed or stream._read_buffer:
                # Closed, or the server sent something unasked for: either
                # way the connection is out of step.
                stream.close()
            else:
                return stream
            entries = self._idle.get(key)
        return None

    def put(self, key: Hashable, stream: iostream.IOStream) -> None:
        if self._closed or stream._closed or stream._read_buffer:
            stream.close()
            return
        entries = self._idle.setdefault(key, [])
        if len(entries) >= self._max_idle:
            oldest = entries.pop(0)
            self._stop_watching(oldest)
            oldest.stream.close()
        loop = self._loop
        now = loop.time()
        entry = _IdleConnection(self, key, stream, now)
        stream.set_close_callback(entry.lost)
        entries.append(entry)
        if self._idle_timeout is not None:
            self._by_age[entry] = None
            if self._timer is None:
                self._timer = loop.call_at(now + self._idle_timeout, self._expire)

    def _expire(self) -> None:
        """Close the connections idle for longer than idle_timeout."""
        self._timer = None
        timeout = self._idle_timeout
        assert timeout is not None
        loop = self._loop
        limit = loop.time() - timeout
        while self._by_age:
            entry = next(iter(self._by_age))
            if entry.since > limit:
                self._timer = loop.call_at(entry.since + timeout, self._expire)
                return
            self._remove(entry)
            entry.stream.close()

    def _remove(self, entry: _IdleConnection) -> None:
        entries = self._idle.get(entry.key)
        if entries is None or entry not in entries:
            return
        entries.remove(entry)
        if not entries:
            del self._idle[entry.key]
        self._stop_watching(entry)

    def _stop_watching(self, entry: _IdleConnection) -> None:
        self._by_age.pop(entry, None)
        stream = entry.stream
        if not stream._closed:
            # What set_close_callback(None) does.
            stream._close_callback = None

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        idle, self._idle = self._idle, {}
        for entries in idle.values():
            for entry in entries:
                self._stop_watching(entry)
                entry.stream.close()


class SimpleAsyncHTTPClient(AsyncHTTPClient):
    """The non-blocking HTTP client in pure Python, with keep-alive pooling.

    :arg max_clients: fetches run at once; the others wait in a queue, and
        the time they wait counts toward their ``request_timeout`` (a fetch
        that waits longer than ``min(connect_timeout, request_timeout)``
        fails with "Timeout in request queue").
    :arg hostname_mapping: a dict mapping host names (or ``(host, port)``
        pairs) to the addresses to use instead, as for
        :class:`~tornado_compat.netutil.OverrideResolver`.
    :arg max_buffer_size: the largest amount of data read into memory at
        once (default 100 MiB).
    :arg resolver: the :class:`~tornado_compat.netutil.Resolver` to use
        (default: a new one per client, closed with it).
    :arg defaults: defaults for the requests' options.
    :arg max_header_size: the largest response head accepted (default
        64 KiB).
    :arg max_body_size: the largest response body accepted, measured after
        decompression (default: ``max_buffer_size``).  Bodies given to a
        ``streaming_callback`` are bounded by it too.
    :arg max_idle_connections: idle keep-alive connections kept per target
        (default 10).  0 turns pooling off: every fetch then opens its own
        connection and asks the server to close it (``Connection: close``),
        as Tornado's client does.
    :arg idle_timeout: seconds an idle connection is kept (default 15);
        None keeps it until the server closes it.
    :arg strict: refuse responses that RFC 9112 lets a client accept but
        need not (bare LF line ends, a repeated Content-Length, chunked
        HTTP/1.0 responses, whitespace in chunk extensions), as the server's
        ``strict`` does; see docs/server.md, "Strict framing".

    :arg http2: ``False`` (default): HTTP/1.1 only, and ``h2`` is never
        imported.  ``True``: offer ``h2`` then ``http/1.1`` by ALPN on
        ``https`` URLs (``http`` URLs stay on HTTP/1.1).
        ``"prior-knowledge"``: also speak HTTP/2 with prior knowledge on
        ``http`` URLs.  Anything else raises ValueError; without the ``h2``
        package, an ImportError names the ``http2`` extra.

    Over HTTP/2 the fetches to one origin share one connection, one stream
    each, up to the server's ``SETTINGS_MAX_CONCURRENT_STREAMS`` (the others
    wait for a free stream); ``max_clients`` still counts fetches, so each
    stream in progress takes one slot.  Bodies, ``body_producer``,
    ``streaming_callback``, ``header_callback`` (given an ``HTTP/2.0``
    status line and the header lines, as over HTTP/1.1), decompression,
    redirects, the size limits and the timeouts behave as over HTTP/1.1,
    per stream: a stream that times out or passes a limit is reset and the
    connection goes on.  Streams the server did not process (above a
    GOAWAY's last stream id, or refused) are sent again on a new
    connection; after a lost connection only idempotent ones are.  Proxies
    and unix sockets stay on HTTP/1.1.  Every response's ``version`` says
    which version answered.  See docs/http2.md, "The simple backend".

    ``max_idle_connections``, ``idle_timeout``, ``strict`` and ``http2`` are
    tornado_compat extensions.
    """

    # True while _start builds a fetch, which then leaves its start to _start.
    _starting = False

    def initialize(  # type: ignore[override]
        self,
        max_clients: int = 10,
        hostname_mapping: dict[Any, Any] | None = None,
        max_buffer_size: int = 104857600,
        resolver: Resolver | None = None,
        defaults: dict[str, Any] | None = None,
        max_header_size: int | None = None,
        max_body_size: int | None = None,
        max_idle_connections: int = 10,
        idle_timeout: float | None = 15.0,
        strict: bool = False,
        http2: bool | str = False,
    ) -> None:
        if not (http2 is False or http2 is True or http2 == "prior-knowledge"):
            raise ValueError(
                f"http2 must be False, True or 'prior-knowledge', not {http2!r}"
            )
        super().initialize(defaults=defaults)
        self.http2 = http2
        # Imported only when asked for: without http2 the h2 package is
        # never loaded (the import names the extra when it is missing).
        self._h2: _H2Origins | None = _H2Origins(idle_timeout) if http2 else None
        self.max_clients = max_clients
        self.queue: collections.deque[
            tuple[object, HTTPRequest, Callable[[HTTPResponse], None]]
        ] = collections.deque()
        self.active: dict[object, tuple[HTTPRequest, Callable[..., None]]] = {}
        self.waiting: dict[
            object, tuple[HTTPRequest, Callable[..., None], object | None, float]
        ] = {}
        self.max_buffer_size = max_buffer_size
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.strict = strict
        if resolver is not None:
            self.resolver = resolver
            self.own_resolver = False
        else:
            self.resolver = Resolver()
            self.own_resolver = True
        if hostname_mapping is not None:
            self.resolver = OverrideResolver(
                resolver=self.resolver, mapping=hostname_mapping
            )
        self.tcp_client = TCPClient(resolver=self.resolver)
        self._pool: _ConnectionPool | None = (
            _ConnectionPool(self.io_loop, max_idle_connections, idle_timeout)
            if max_idle_connections > 0
            else None
        )
        self._tls_contexts: dict[Hashable, ssl.SSLContext] = {}
        self._response_heads: dict[bytes, _ResponseHead] = {}
        self._targets: dict[tuple[str, int], _Target] = {}
        self._deadlines = _Deadlines(self.io_loop.asyncio_loop)  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close the client: idle connections, and the resolver if it is the
        client's own.  Fetches still running finish on their connections,
        which are then closed."""
        super().close()
        if self._pool is not None:
            self._pool.close()
        if self._h2 is not None:
            self._h2.close()
        self._deadlines.close()
        self._response_heads.clear()
        self._targets.clear()
        if self.own_resolver:
            self.resolver.close()
        self.tcp_client.close()

    def fetch_impl(
        self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]
    ) -> None:
        key = object()
        if not self.queue and len(self.active) < self.max_clients:
            # A free slot and nobody waiting: the fetch starts now.
            self._start(key, request, callback, None)
            return
        now = self.io_loop.time()
        self.queue.append((key, request, callback))
        timeout_handle = None
        if len(self.active) >= self.max_clients:
            timeout = _shared.queue_timeout(request)
            if timeout:
                timeout_handle = self.io_loop.add_timeout(
                    now + timeout,
                    functools.partial(self._on_timeout, key, "in request queue"),
                )
        self.waiting[key] = (request, callback, timeout_handle, now)
        self._process_queue()
        if self.queue:
            gen_log.debug(
                "max_clients limit reached, request queued. "
                "%d active, %d queued requests.",
                len(self.active),
                len(self.queue),
            )

    def _process_queue(self) -> None:
        while self.queue and len(self.active) < self.max_clients:
            key, request, callback = self.queue.popleft()
            if key not in self.waiting:
                continue
            _, _, timeout_handle, queued_at = self.waiting.pop(key)
            if timeout_handle is not None:
                self.io_loop.remove_timeout(timeout_handle)
            self._start(key, request, callback, queued_at)

    def _start(
        self,
        key: object,
        request: HTTPRequest,
        callback: Callable[[HTTPResponse], None],
        queued_at: float | None,
    ) -> None:
        self.active[key] = (request, callback)
        release_callback = functools.partial(self._release_fetch, key)
        # A fetch of the client's own class is started here, once it knows
        # when it was queued (see _HTTPConnection._begin); any other (a
        # subclass) starts its task from its constructor.
        self._starting = True
        try:
            connection = self._handle_request(request, release_callback, callback)
        finally:
            self._starting = False
        if isinstance(connection, _HTTPConnection):
            if queued_at is not None:
                connection._queued_at = queued_at
            if connection._deferred:
                connection._begin()

    def _connection_class(self) -> type[_HTTPConnection]:
        return _HTTPConnection

    def _handle_request(
        self,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
    ) -> object:
        return self._connection_class()(
            self,
            request,
            release_callback,
            final_callback,
            self.max_buffer_size,
            self.tcp_client,
            self.max_header_size,
            self.max_body_size,
        )

    def _release_fetch(self, key: object) -> None:
        del self.active[key]
        self._process_queue()

    def _on_timeout(self, key: object, info: str | None = None) -> None:
        """A fetch waited in the queue for too long."""
        request, callback, _, queued_at = self.waiting.pop(key)
        self.queue.remove((key, request, callback))
        error = HTTPTimeoutError("Timeout" if info is None else f"Timeout {info}")
        response = HTTPResponse(
            request,
            599,
            error=error,
            request_time=self.io_loop.time() - queued_at,
            time_info={"queue": self.io_loop.time() - queued_at},
        )
        self.io_loop.add_callback(callback, response)

    def _tls_context(
        self, request: HTTPRequest, alpn: bool = False
    ) -> tuple[Hashable, ssl.SSLContext]:
        """The TLS context for ``request`` and its pool key; with ``alpn``,
        one that offers ``h2`` (unless the request brings its own)."""
        key, build = _tls_settings(request)
        if isinstance(key, tuple) and key and key[0] == "context":
            # The caller's own context is used as it is, ALPN included.
            return key, build()
        if alpn:
            key = (key, "h2")
            build = functools.partial(_with_alpn, build)
        context = self._tls_contexts.get(key)
        if context is None:
            context = build()
            if len(self._tls_contexts) >= _MAX_CACHED_CONTEXTS:
                self._tls_contexts.clear()
            self._tls_contexts[key] = context
        return key, context


def _tls_settings(
    request: HTTPRequest,
) -> tuple[Hashable, Callable[[], ssl.SSLContext]]:
    """The pool key of a request's TLS settings, and how to build them."""
    options = request.ssl_options
    if isinstance(options, ssl.SSLContext):
        # The context itself is the key (compared by identity).
        return ("context", options), lambda: options
    if isinstance(options, dict):
        frozen = tuple(sorted((k, repr(v)) for k, v in options.items()))
        return ("options", frozen), lambda: ssl_options_to_context(
            options, server_side=False
        )
    validate = request.validate_cert is not False
    ca_certs = request.ca_certs
    client_cert = request.client_cert
    client_key = request.client_key
    key = ("settings", validate, ca_certs, client_cert, client_key)

    def build() -> ssl.SSLContext:
        if validate and ca_certs is None and client_cert is None:
            return _client_ssl_defaults()
        if validate or ca_certs is not None:
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=ca_certs
            )
        else:
            # Nothing will be verified, so the system's CA certificates are
            # not loaded: that takes about 100 ms, which a first fetch with
            # a short request_timeout cannot spare.  Otherwise as
            # create_default_context makes it, SSLKEYLOGFILE included.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            keylog = os.environ.get("SSLKEYLOGFILE")
            if keylog and not sys.flags.ignore_environment:
                context.keylog_filename = keylog
        if not validate:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if client_cert is not None:
            context.load_cert_chain(client_cert, client_key)
        if hasattr(ssl, "OP_NO_COMPRESSION"):
            context.options |= ssl.OP_NO_COMPRESSION
        return context

    return key, build


def _with_alpn(build: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """A context from ``build`` that offers ``h2`` then ``http/1.1``; the
    shared default context is never changed (a copy of it is made)."""
    context = build()
    if context is _client_ssl_defaults():
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if hasattr(ssl, "OP_NO_COMPRESSION"):
            context.options |= ssl.OP_NO_COMPRESSION
    context.set_alpn_protocols(["h2", "http/1.1"])
    return context


class _H2Origins:
    """The client's HTTP/2 connections: at most one usable per target key,
    shared by every fetch to that origin.

    While the first connection to a key is being opened, other fetches to
    it wait for that one instead of opening their own.  A TLS server that
    answers ALPN with ``http/1.1`` (or nothing) is remembered, and later
    fetches to it go straight to HTTP/1.1.
    """

    _MAX_HTTP1_ONLY = 256

    def __init__(self, idle_timeout: float | None) -> None:
        from tornado_compat.http2 import client as h2client

        self.h2client = h2client
        self._idle_timeout = idle_timeout
        self._connections: dict[Hashable, Any] = {}
        self._opening: dict[Hashable, asyncio.Future[None]] = {}
        self._http1_only: dict[Hashable, None] = {}
        self._closed = False

    async def get(
        self, fetch: _HTTPConnection, target: _Target, timeout: float | None
    ) -> Any:
        """An HTTP/2 connection for ``target``; or, when the server chose
        HTTP/1.1, the new connection (an IOStream) this fetch opened, or
        None for the fetch to find one itself."""
        key = target.key
        while True:
            conn = self._connections.get(key)
            if conn is not None and conn.usable:
                return conn
            if key in self._http1_only:
                return None
            opening = self._opening.get(key)
            if opening is None:
                break
            try:
                await asyncio.wait_for(asyncio.shield(opening), timeout)
            except TimeoutError:
                raise HTTPTimeoutError(
                    "Timeout while connecting to "
                    + _authority(target.host, target.port)
                ) from None
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._opening[key] = opened
        try:
            try:
                stream = await fetch._connect(target, timeout)
            except TimeoutError as e:
                raise HTTPTimeoutError(str(e) or "Timeout while connecting") from None
        except Exception as e:
            # The fetches waiting for this connection fail as this one does.
            opened.set_exception(e)
            opened.exception()
            raise
        except BaseException:
            opened.set_result(None)
            raise
        finally:
            del self._opening[key]
        if target.ssl_context is not None and (
            stream.socket.selected_alpn_protocol() != "h2"  # type: ignore[attr-defined]
        ):
            if len(self._http1_only) >= self._MAX_HTTP1_ONLY:
                self._http1_only.clear()
            self._http1_only[key] = None
            opened.set_result(None)
            return stream
        conn = self.h2client.H2ClientConnection(
            stream,
            max_header_size=fetch.max_header_size or 65536,
            idle_timeout=self._idle_timeout,
            on_close=functools.partial(self._forget, key),
        )
        if self._closed:
            conn.close()
        else:
            self._connections[key] = conn
        opened.set_result(None)
        return conn

    def _forget(self, key: Hashable, conn: Any) -> None:
        if self._connections.get(key) is conn:
            del self._connections[key]

    def close(self) -> None:
        """Each connection closes once its streams are done."""
        self._closed = True
        for conn in list(self._connections.values()):
            conn.close()
        self._connections.clear()


class _HTTPConnection(httputil.HTTPMessageDelegate):
    """One fetch: a connection from the pool (or a new one), the request
    written on it, the response read from it as its message delegate."""

    _SUPPORTED_METHODS = _shared.STANDARD_METHODS
    # When the fetch entered the client's queue (loop time); set by the
    # client before the fetch starts.  None: it starts now.
    _queued_at: float | None = None
    # The state of the exchange in progress; these are its initial values.
    reason: str | None = None
    stream: iostream.IOStream | None = None
    _timeout: _Deadline | None = None
    _redirecting = False
    _body_sent = False
    _completion: Callable[[], None] | None = None
    # The HTTP version of the response being read, and the HTTP/2 stream
    # it comes on (None over HTTP/1.x).
    _version: str | None = None
    _h2_stream: Any = None
    _h2_body_error: BaseException | None = None
    # Whether the client starts this fetch (it calls _begin), and the
    # target and request target of a fetch that _begin started.
    _deferred = False
    _target: _Target | None = None
    _path = ""
    # The client's parsed response heads (None: not kept), and the framing
    # of the body whose head _take_buffered_head took, when it knows it.
    _response_heads: dict[bytes, _ResponseHead] | None = None
    _head_framing: _framing.Framing | None = None
    # The client's targets of plain http:// origins, by host and port, and
    # whether it speaks only HTTP/1.1.
    _targets: dict[tuple[str, int], _Target] | None = None
    _http1_only = False

    def __init__(
        self,
        client: SimpleAsyncHTTPClient | None,
        request: HTTPRequest,
        release_callback: Callable[[], None],
        final_callback: Callable[[HTTPResponse], None],
        max_buffer_size: int,
        tcp_client: TCPClient,
        max_header_size: int | None,
        max_body_size: int | None,
    ) -> None:
        # A client's fetches run on its loop (IOLoop.current() would find
        # the same one, at the cost of three calls).
        self.io_loop = (
            client.io_loop
            if isinstance(client, SimpleAsyncHTTPClient)
            else IOLoop.current()
        )
        self.start_time = self.io_loop.time()
        self.start_wall_time = time.time()
        self.client = client
        self.request = request
        self.release_callback: Callable[[], None] | None = release_callback
        self.final_callback: Callable[[HTTPResponse], None] | None = final_callback
        self.max_buffer_size = max_buffer_size
        self.tcp_client = tcp_client
        self.max_header_size = max_header_size
        self.max_body_size = max_body_size
        self.code: int | None = None
        self.headers: httputil.HTTPHeaders | None = None
        self.chunks: list[bytes] = []
        self.connection: HTTP1Connection = None  # type: ignore[assignment]
        if isinstance(client, SimpleAsyncHTTPClient):
            self._idle_pool = client._pool
            self._deadlines = client._deadlines
            self._response_heads = client._response_heads
            self._targets = client._targets
            self._http1_only = client._h2 is None
            if client._starting and self.__class__ is _HTTPConnection:
                self._deferred = True
                return
        else:
            self._idle_pool = None
            self._deadlines = _Deadlines(self.io_loop.asyncio_loop)  # type: ignore[attr-defined]
        self.io_loop.asyncio_loop.create_task(self.run())  # type: ignore[attr-defined]

    # -- the fetch ---------------------------------------------------------------

    def _begin(self) -> None:
        """Start the fetch, without a task where it can.

        A fetch that finds an idle connection for its target, and needs
        nothing that has to be waited for before the response (a body
        producer, ``Expect: 100-continue``) nor callbacks of the caller's
        during it (``streaming_callback``, ``header_callback``: what they
        raise is the connection reader's to report), writes its request
        here and waits for the response as a readable callback on the
        stream; a
        response that arrives whole is read by :meth:`_on_readable`, still
        without a task.  Everything else (a new connection, HTTP/2, a
        response in pieces, any error on the way) is handed to a task that
        takes over where this left off, so it ends exactly as it would have.
        A task and its coroutines cost more than the rest of a small
        keep-alive fetch.
        """
        try:
            target, path = self._prepare()
            request = self.request
            pool = self._idle_pool
            stream = None
            if (
                pool is not None
                and request.body_producer is None
                and not request.expect_100_continue
                and request.streaming_callback is None
                and request.header_callback is None
                and (self._http1_only or not self._h2_wanted(target))
            ):
                stream = pool.take(target.key)
            if stream is None:
                self.io_loop.asyncio_loop.create_task(  # type: ignore[attr-defined]
                    self._fetch_task(target, path, False)
                )
                return
            self._arm_timeout(self._deadline())
            self.stream = stream
            self._target = target
            self._path = path
            self._write_request(stream, path)
            self.connection.finish()
            self._body_sent = True
            # The pool took only a stream with nothing buffered.
            stream._notify_when_readable(self._on_readable)
        except Exception as e:
            self._fail(e)

    def _on_readable(self) -> None:
        """Data arrived for the request _begin wrote, or its stream closed:
        the whole response, if it is all here, is read at once; anything
        else goes on in a task."""
        if self.final_callback is None:
            return  # over already (timed out), and the stream closed
        stream = self.stream
        assert stream is not None
        head: _Head | None = None
        try:
            head = self._take_buffered_head(stream)
            if head is not None and self._read_buffered_response(stream, *head):
                return
        except Exception as e:
            self._fail(e)
            return
        self.io_loop.asyncio_loop.create_task(self._read_task(stream, head))  # type: ignore[attr-defined]

    def _take_buffered_head(self, stream: iostream.IOStream) -> _Head | None:
        """The response head, parsed and taken from the buffer, when it is
        all there and well-formed; else None, with the buffer as it was (the
        task reads it again, and reports whatever is wrong with it as the
        connection's reader does).  When the body's framing is known too
        (always for a head the client has seen before), it is left in
        ``_head_framing``."""
        self._head_framing = None
        buf = stream._read_buffer
        if stream._closed or not buf or buf[0] in b"\r\n":
            return None
        connection = self.connection
        end = _head.find_head_end(buf, 0)
        if end < 0 or end > connection.params.max_header_size:
            return None
        data = stream._consume(end)
        heads = self._response_heads
        if heads is not None and self.request.method != "HEAD":
            known = heads.get(data)
            if known is not None:
                connection._response_start_line = known.start_line
                connection._disconnect_on_finish = known.disconnect
                self._head_framing = known.framing
                headers = httputil.HTTPHeaders.__new__(httputil.HTTPHeaders)
                headers._as_list = {
                    name: values.copy() for name, values in known.fields.items()
                }
                return known.start_line, headers
        try:
            start_line, headers = connection._parse_head(data)
        except Exception:
            buf[0:0] = data
            return None
        assert isinstance(start_line, httputil.ResponseStartLine)
        if heads is not None and not 100 <= start_line.code < 200:
            try:
                framing = connection._body_framing(start_line, headers)
            except Exception:
                # Framing the reader refuses: it decides again, and reports it.
                return start_line, headers
            self._head_framing = framing
            if self.request.method != "HEAD" and len(data) <= _MAX_CACHED_HEAD_SIZE:
                if len(heads) >= _MAX_CACHED_HEADS:
                    heads.clear()
                heads[data] = _ResponseHead(
                    start_line,
                    headers._as_list,
                    framing,
                    connection._disconnect_on_finish,
                )
        return start_line, headers

    def _read_buffered_response(
        self,
        stream: iostream.IOStream,
        start_line: httputil.ResponseStartLine | httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
    ) -> bool:
        """Read the response whose head is taken, as the connection's reader
        would, if its body is all buffered and it needs no decoding; whether
        it did (the fetch is then over).  The framing is decided by the
        connection, as for any response."""
        assert isinstance(start_line, httputil.ResponseStartLine)
        connection = self.connection
        code = start_line.code
        if 100 <= code < 200 or (
            connection.params.decompress and "Content-Encoding" in headers._as_list
        ):
            return False
        framing = self._head_framing
        if framing is None:
            try:
                framing = connection._body_framing(start_line, headers)
            except Exception:
                # Framing the reader refuses: it decides again, and reports it.
                return False
        kind = framing.kind
        length = framing.length if kind == _framing.LENGTH else 0
        if (kind != _framing.LENGTH and kind != _framing.NO_BODY) or (
            length > connection._max_body_size or length > len(stream._read_buffer)
        ):
            return False
        # What _response_head and data_received do, for a fetch that has
        # neither a header_callback nor a streaming_callback.
        self.code = code
        self.reason = start_line.reason
        self.headers = headers
        self._version = start_line.version
        self._redirecting = (
            code in _shared.REDIRECT_CODES and self._should_follow_redirect()
        )
        if length:
            body = stream._consume(length)
            if not self._redirecting:
                self.chunks.append(body)
        connection._read_finished = True
        # What finish() does, without a partial for the response.
        if self._redirecting:
            self._completion = self._follow_redirect
            response = None
        else:
            response = self._final_response()
        if stream.writing():
            # Some of the request is still unsent: it would be taken for
            # the next request's beginning.
            connection._disconnect_on_finish = True
        if connection._disconnect_on_finish:
            connection.close()
        connection._clear_callbacks()
        assert self._target is not None
        self._end_exchange(stream, self._target, not stream._closed)
        if response is not None:
            self._run_callback(response)
        return True

    async def _read_task(self, stream: iostream.IOStream, head: _Head | None) -> None:
        """The rest of a fetch started by _begin: the response read by the
        connection (its head already taken, if given), as in run()."""
        target = self._target
        assert target is not None
        try:
            try:
                keep_alive = await self.connection._read_message(self, True, head)
            except iostream.StreamClosedError:
                if self._may_retry(stream):
                    await self._fetch(target, self._path, True)
                    return
                raise
            self._end_exchange(stream, target, bool(keep_alive))
        except Exception as e:
            self._fail(e)

    async def run(self) -> None:
        try:
            target, path = self._prepare()
        except Exception as e:
            self._fail(e)
            return
        await self._fetch_task(target, path, False)

    async def _fetch_task(self, target: _Target, path: str, fresh_only: bool) -> None:
        try:
            await self._fetch(target, path, fresh_only)
        except Exception as e:
            self._fail(e)

    def _fail(self, e: Exception) -> None:
        if not self._handle_exception(type(e), e, e.__traceback__):
            # It escaped the fetch's own handling (the fetch was answered
            # already): the loop logs it, as for a callback.
            self.io_loop.asyncio_loop.call_exception_handler(  # type: ignore[attr-defined]
                {"message": "Exception in a fetch", "exception": e}
            )

    def _deadline(self) -> float | None:
        """When the fetch must be over (IOLoop time), or None."""
        queued_at = self.start_time if self._queued_at is None else self._queued_at
        request_timeout = self.request.request_timeout
        return queued_at + request_timeout if request_timeout else None

    async def _fetch(self, target: _Target, path: str, fresh_only: bool) -> None:
        """Send the request (on a pooled connection unless ``fresh_only``)
        and read the response, over HTTP/2 where it is wanted."""
        deadline = self._deadline()
        h2_tries = 0
        while True:
            opened: iostream.IOStream | None = None
            if self._h2_wanted(target):
                assert isinstance(self.client, SimpleAsyncHTTPClient)
                assert self.client._h2 is not None
                got = await self.client._h2.get(
                    self, target, self._connect_timeout(deadline)
                )
                if isinstance(got, iostream.IOStream):
                    opened = got
                elif got is not None:
                    if self.final_callback is None:
                        return
                    self._arm_timeout(deadline)
                    try:
                        await self._h2_exchange(got, target, path)
                    except self.client._h2.h2client.H2StreamError as e:
                        if self.final_callback is None:
                            return
                        if h2_tries == 0 and self._h2_may_retry(e):
                            h2_tries += 1
                            continue
                        if self._h2_body_error is not None:
                            raise self._h2_body_error from None
                        raise HTTPStreamClosedError(str(e)) from None
                    return
            if opened is not None:
                stream, reused = opened, False
            else:
                stream, reused = await self._get_stream(target, deadline, fresh_only)
            if self.final_callback is None:
                # Timed out (or taken over) while the connection was made.
                stream.close()
                return
            self._arm_timeout(deadline)
            self.stream = stream
            try:
                keep_alive = await self._exchange(stream, target, path)
            except iostream.StreamClosedError:
                if reused and self._may_retry(stream):
                    fresh_only = True
                    continue
                raise
            break
        self._end_exchange(stream, target, keep_alive)

    def _arm_timeout(self, deadline: float | None) -> None:
        if self._timeout is None and deadline is not None:
            # On the asyncio loop's clock, which is not the IOLoop's.
            loop = self.io_loop.asyncio_loop  # type: ignore[attr-defined]
            self._timeout = self._deadlines.add(
                loop.time() + max(0.0, deadline - self.io_loop.time()),
                self._on_timeout,
                "during request",
            )

    def _prepare(self) -> tuple[_Target, str]:
        """Check the request and complete its headers; where it goes and the
        request target to send."""
        request = self.request
        url = request.url
        if url.__class__ is not str:
            url = native_str(url)
        scheme, netloc, host, port, path, url_username, url_password = _url_parts(url)
        if not host and not request.unix_socket:
            raise ValueError(f"No host in URL: {request.url}")
        method = request.method
        _shared.check_method_and_body(request, self._SUPPORTED_METHODS)

        headers = request.headers
        if not isinstance(headers, httputil.HTTPHeaders):
            # Only a caller of fetch_impl itself can give a dict (fetch()
            # makes HTTPHeaders); its names are matched in any case too.
            headers = request.headers = httputil.HTTPHeaders(headers)
        # The names below are in canonical case: setting them in the store
        # is what headers[name] = value does, without a method call each.
        fields = headers._as_list
        if self._idle_pool is None and "Connection" not in fields:
            fields["Connection"] = ["close"]
        if "Host" not in fields:
            fields["Host"] = [netloc]
        username, password = request.auth_username, request.auth_password
        if username is None and url_username is not None:
            username = urllib.parse.unquote(url_username)
            password = urllib.parse.unquote(url_password or "")
        if username is not None:
            if request.auth_mode not in (None, "basic"):
                raise ValueError(f"unsupported auth_mode {request.auth_mode}")
            fields["Authorization"] = [_basic_credentials(username, password)]
        if request.user_agent:
            fields["User-Agent"] = [request.user_agent]
        elif fields.get("User-Agent") is None:
            fields["User-Agent"] = [_default_user_agent()]
        if request.expect_100_continue:
            fields["Expect"] = ["100-continue"]
        if request.body is not None:
            fields["Content-Length"] = [str(len(request.body))]
        if method == "POST" and "Content-Type" not in fields:
            fields["Content-Type"] = ["application/x-www-form-urlencoded"]
        if request.decompress_response and "Accept-Encoding" not in fields:
            fields["Accept-Encoding"] = [_codings.accept_encoding()]

        proxy: tuple[str, int] | None = None
        proxy_credentials: str | None = None
        if request.proxy_host:
            if not request.proxy_port:
                raise ValueError("proxy_host needs a proxy_port")
            if request.proxy_auth_mode not in (None, "basic"):
                raise ValueError(
                    f"unsupported proxy_auth_mode {request.proxy_auth_mode}"
                )
            proxy = (request.proxy_host, int(request.proxy_port))
            if request.proxy_username:
                proxy_credentials = _basic_credentials(
                    request.proxy_username, request.proxy_password
                )
        tls = None
        if scheme == "https":
            if isinstance(self.client, SimpleAsyncHTTPClient):
                # HTTP/2 is offered only on a direct connection: a tunnel
                # through a proxy carries HTTP/1.1.
                tls = self.client._tls_context(
                    request,
                    alpn=bool(self.client.http2)
                    and not request.proxy_host
                    and not request.unix_socket,
                )
            else:
                key, build = _tls_settings(request)
                tls = (key, build())
        source_ip = request.network_interface or None
        if source_ip is not None and not is_valid_ip(source_ip):
            raise ValueError(
                "network_interface must be an IPv4 or IPv6 address for this "
                f"client, got {source_ip!r}"
            )
        af = socket.AF_INET if request.allow_ipv6 is False else socket.AF_UNSPEC
        targets = self._targets
        if (
            targets is not None
            and tls is None
            and proxy is None
            and source_ip is None
            and af == socket.AF_UNSPEC
            and request.unix_socket is None
        ):
            # A plain http:// origin: where it goes is decided by the
            # host and port alone.
            target = targets.get((host, port))
            if target is None:
                if len(targets) >= _MAX_CACHED_TARGETS:
                    targets.clear()
                target = targets[host, port] = _Target(
                    scheme, host, port, None, None, None, None, None, af
                )
            return target, path
        target = _Target(
            scheme,
            host,
            port,
            request.unix_socket,
            tls,
            proxy,
            proxy_credentials,
            source_ip,
            af,
        )
        if target.absolute_form:
            path = f"{scheme}://{netloc}{path}"
            if proxy_credentials is not None:
                headers["Proxy-Authorization"] = proxy_credentials
        return target, path

    # -- connections ---------------------------------------------------------------

    def _connect_timeout(self, deadline: float | None) -> float | None:
        timeout = self.request.connect_timeout or None
        if deadline is not None:
            remaining = max(deadline - self.io_loop.time(), 0.0)
            timeout = remaining if timeout is None else min(timeout, remaining)
        return timeout

    async def _get_stream(
        self, target: _Target, deadline: float | None, fresh_only: bool
    ) -> tuple[iostream.IOStream, bool]:
        pool = self._idle_pool
        if pool is not None and not fresh_only:
            stream = pool.take(target.key)
            if stream is not None:
                return stream, True
        timeout = self._connect_timeout(deadline)
        try:
            return await self._connect(target, timeout), False
        except TimeoutError as e:
            raise HTTPTimeoutError(str(e) or "Timeout while connecting") from None

    async def _connect(
        self, target: _Target, timeout: float | None
    ) -> iostream.IOStream:
        end = None if timeout is None else self.io_loop.time() + timeout
        if target.unix_socket is not None:
            stream = await self._connect_unix(target.unix_socket, end)
        elif target.proxy is not None:
            stream = await self.tcp_client.connect(
                target.proxy[0],
                target.proxy[1],
                af=target.af,
                max_buffer_size=self.max_buffer_size,
                source_ip=target.source_ip,
                timeout=timeout,
            )
            if target.scheme == "https":
                await self._open_tunnel(stream, target, end)
        else:
            return await self.tcp_client.connect(
                target.host,
                target.port,
                af=target.af,
                ssl_options=target.ssl_context,
                max_buffer_size=self.max_buffer_size,
                source_ip=target.source_ip,
                timeout=timeout,
            )
        if target.ssl_context is None:
            return stream
        tls = stream.start_tls(
            False, ssl_options=target.ssl_context, server_hostname=target.host
        )
        return await _within(
            end,
            tls,
            f"Timeout during TLS handshake with {_authority(target.host, target.port)}",
            stream,
        )

    async def _connect_unix(self, path: str, end: float | None) -> iostream.IOStream:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stream = iostream.IOStream(sock, max_buffer_size=self.max_buffer_size)
        await _within(
            end, stream.connect(path), f"Timeout while connecting to {path}", stream
        )
        return stream

    async def _open_tunnel(
        self, stream: iostream.IOStream, target: _Target, end: float | None
    ) -> None:
        """Ask the proxy for a tunnel to the target (CONNECT, RFC 9110 9.3.6)."""
        authority = _authority(target.host, target.port)
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if target.proxy_credentials is not None:
            lines.append(f"Proxy-Authorization: {target.proxy_credentials}")
        stream.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin1"))
        limit = self.max_header_size or 65536
        try:
            head = await _within(
                end,
                stream.read_until_regex(rb"\r?\n\r?\n", max_bytes=limit),
                f"Timeout while the proxy opened a tunnel to {authority}",
                stream,
            )
            _version, code, reason, _fields = _head.parse_response_head(head)
        except iostream.StreamClosedError as e:
            stream.close()
            raise HTTPStreamClosedError(
                f"The proxy closed the connection before opening a tunnel to "
                f"{authority}" + (f": {e.real_error}" if e.real_error else "")
            ) from None
        except Exception:
            stream.close()
            raise
        if not 200 <= code < 300:
            stream.close()
            raise HTTPClientError(
                599, f"The proxy refused a tunnel to {authority}: {code} {reason}"
            )

    # -- HTTP/2 ----------------------------------------------------------------------

    def _h2_wanted(self, target: _Target) -> bool:
        """Whether this fetch may go over HTTP/2: the client asks for it,
        and the connection is direct (a proxy or a unix socket carries
        HTTP/1.1)."""
        client = self.client
        if not isinstance(client, SimpleAsyncHTTPClient) or client._h2 is None:
            return False
        if target.proxy is not None or target.unix_socket is not None:
            return False
        return target.scheme == "https" or client.http2 == "prior-knowledge"

    async def _h2_exchange(self, conn: Any, target: _Target, path: str) -> None:
        """The request on a stream of ``conn``, its response into this
        delegate; then the fetch ends (or follows its redirect)."""
        request = self.request
        self.code = self.reason = self.headers = None
        self.chunks = []
        self._redirecting = False
        self._completion = None
        self._h2_body_error = None
        await conn.acquire()
        if self.final_callback is None:
            conn.release()
            return
        headers = httputil.HTTPHeaders(request.headers)
        # The body goes at once: there is no Expect: 100-continue here.
        headers.pop("Expect", None)
        authority = headers.get("Host") or _authority(target.host, target.port)
        body = request.body
        producer = request.body_producer
        no_body = body is None and producer is None
        max_body_size = self.max_body_size or self.max_buffer_size
        h2_stream = conn.request(
            request.method,
            target.scheme,
            authority,
            path,
            headers,
            no_body,
            max_body_size,
        )
        self._h2_stream = h2_stream
        sender = None
        if not no_body:
            sender = asyncio.ensure_future(self._h2_send_body(h2_stream))
        try:
            assert isinstance(self.client, SimpleAsyncHTTPClient)
            assert self.client._h2 is not None
            await self.client._h2.h2client.exchange(
                h2_stream, self, bool(request.decompress_response)
            )
        finally:
            self._h2_stream = None
            if sender is not None and not sender.done():
                sender.cancel()
        completion, self._completion = self._completion, None
        if completion is not None:
            completion()

    async def _h2_send_body(self, h2_stream: Any) -> None:
        request = self.request
        try:
            if request.body is not None:
                await h2_stream.write(request.body)
            elif request.body_producer is not None:
                produced = request.body_producer(h2_stream.write)
                if produced is not None:
                    await produced
            h2_stream.finish()
        except iostream.StreamClosedError:
            pass  # the stream ended first; the response says how
        except Exception as e:
            # The body cannot be completed: the fetch fails with the
            # producer's error, and the stream is reset.
            self._h2_body_error = e
            h2_stream.cancel()

    def _h2_may_retry(self, error: Any) -> bool:
        """Whether a stream that failed may be sent again on a new
        connection: the server certainly did not act on it, or the
        connection was lost and sending it again cannot change its
        outcome.  A body_producer cannot be replayed."""
        request = self.request
        if self.code is not None or request.body_producer is not None:
            return False
        if error.unprocessed:
            return True
        return bool(error.lost) and request.method in _shared.IDEMPOTENT_METHODS

    # -- the exchange ----------------------------------------------------------------

    async def _exchange(
        self, stream: iostream.IOStream, target: _Target, path: str
    ) -> bool:
        """Write the request and read the response; whether the connection
        may carry another request."""
        self._write_request(stream, path)
        if not self.request.expect_100_continue:
            await self._write_body()
        return await self.connection._read_message(self)

    def _write_request(self, stream: iostream.IOStream, path: str) -> None:
        """A new exchange on ``stream``: its connection, and the request
        head written, with the body in the same write when it is given as
        bytes and not held back for ``100 Continue``."""
        request = self.request
        self.code = self.reason = self.headers = None
        self.chunks = []
        self._redirecting = False
        self._body_sent = False
        self._completion = None
        self.connection = connection = HTTP1Connection(
            stream,
            True,
            _parameters(
                self.max_header_size,
                self.max_body_size,
                bool(request.decompress_response),
                isinstance(self.client, SimpleAsyncHTTPClient) and self.client.strict,
            ),
            None,
        )
        start_line = _new_tuple(httputil.RequestStartLine, (request.method, path, ""))
        body = request.body
        if body is not None and not request.expect_100_continue:
            connection.write_headers(start_line, request.headers, body)
            self._body_sent = True
        else:
            connection.write_headers(start_line, request.headers)

    async def _write_body(self) -> None:
        request = self.request
        connection = self.connection
        if not self._body_sent:
            self._body_sent = True
            if request.body is not None:
                connection.write(request.body)
            elif request.body_producer is not None:
                produced = request.body_producer(connection.write)
                if produced is not None:
                    await produced
        connection.finish()

    def _may_retry(self, stream: iostream.IOStream) -> bool:
        """Whether a failed exchange on a reused connection may be repeated
        on a new one: nothing of a response arrived, and sending the request
        again cannot change its outcome."""
        request = self.request
        return (
            self.final_callback is not None
            and self.code is None
            and not stream._read_buffer
            and request.method in _shared.IDEMPOTENT_METHODS
            and request.body_producer is None
        )

    def _end_exchange(
        self, stream: iostream.IOStream, target: _Target, keep_alive: bool
    ) -> None:
        connection = self.connection
        if connection._detached:
            return  # taken over (a websocket)
        pool = self._idle_pool
        if (
            pool is not None
            and keep_alive
            and connection.error is None
            and connection._write_finished
            and self.final_callback is not None
        ):
            pool.put(target.key, stream)
        else:
            stream.close()
        completion, self._completion = self._completion, None
        if completion is not None:
            completion()

    # -- the response, as the connection's delegate ----------------------------------

    async def headers_received(
        self,
        first_line: httputil.ResponseStartLine | httputil.RequestStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(first_line, httputil.ResponseStartLine)
        if 100 <= first_line.code < 200:
            # Informational; the answer follows.  100 is the signal to send
            # a body held back for it.
            if (
                first_line.code == 100
                and self.request.expect_100_continue
                and not self._body_sent
            ):
                await self._write_body()
            return
        self._response_head(first_line, headers)

    def _response_head(
        self, first_line: httputil.ResponseStartLine, headers: httputil.HTTPHeaders
    ) -> None:
        """The head of the final response (not a 1xx) has arrived."""
        self.code = first_line.code
        self.reason = first_line.reason
        self.headers = headers
        self._version = first_line.version
        self._redirecting = self._should_follow_redirect()
        if self._redirecting:
            return
        header_callback = self.request.header_callback
        if header_callback is not None:
            header_callback("%s %s %s\r\n" % first_line)
            for name, value in headers.get_all():
                header_callback(f"{name}: {value}\r\n")
            header_callback("\r\n")

    def _should_follow_redirect(self) -> bool:
        request = self.request
        return bool(
            request.follow_redirects
            and self.code in _shared.REDIRECT_CODES
            and (request.max_redirects or 0) > 0
            and self.headers is not None
            and self.headers.get("Location") is not None
        )

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._redirecting:
            return None  # the body of a redirect is not wanted
        streaming_callback = self.request.streaming_callback
        if streaming_callback is not None:
            return streaming_callback(chunk)
        self.chunks.append(chunk)
        return None

    def finish(self) -> None:
        # Acted on once the connection is back in the pool (or closed), so
        # that whatever the caller does next can reuse it.
        if self._redirecting:
            self._completion = self._follow_redirect
            return
        self._completion = functools.partial(self._run_callback, self._final_response())

    def _final_response(self) -> HTTPResponse:
        """The response the fetch ends with, from what was read."""
        assert self.code is not None
        # (Looked up in the instance's own attributes: through a proxy, a
        # missing attribute would cost two exceptions.)
        request = self.request
        original_request = vars(request).get("original_request", request)
        if isinstance(original_request, _ProxyBase):
            original_request = original_request.request
        start_time = self.start_time
        queued_at = start_time if self._queued_at is None else self._queued_at
        chunks = self.chunks
        assert self.headers is not None
        response = HTTPResponse._received(
            original_request,
            self.code,
            self.reason,
            self.headers,
            BytesIO(chunks[0] if len(chunks) == 1 else b"".join(chunks)),
            request.url,
            self.io_loop.time() - start_time,
            self.start_wall_time,
            {"queue": start_time - queued_at},
            self._version,
        )
        self.chunks = []
        return response

    def on_connection_close(self) -> None:
        if self.final_callback is None:
            return
        stream = self.stream
        cause: BaseException | None = None
        if self.connection is not None:
            cause = self.connection.error
        if cause is None and stream is not None:
            cause = stream.error
        if isinstance(cause, (ssl.SSLError, ConnectionError)):
            error: BaseException = cause
        elif cause is None or isinstance(cause, iostream.StreamClosedError):
            error = HTTPStreamClosedError(
                "Connection closed before the response was complete"
            )
        else:
            error = HTTPStreamClosedError(f"Connection closed: {_describe(cause)}")
        self._handle_exception(type(error), error, None)

    # -- redirects ---------------------------------------------------------------------

    def _follow_redirect(self) -> None:
        assert self.headers is not None and self.code is not None
        request = self.request
        underlying = request.request if isinstance(request, _ProxyBase) else request
        new_request = copy.copy(underlying)
        new_request.headers = httputil.HTTPHeaders(underlying.headers)
        new_request.url = urllib.parse.urljoin(request.url, self.headers["Location"])
        new_request.max_redirects = (request.max_redirects or 0) - 1
        for name in ("Host", "Expect"):
            new_request.headers.pop(name, None)
        if _shared.becomes_get(self.code, request.method):
            new_request.expect_100_continue = False
        _shared.rewrite_for_redirect(new_request, self.code, request.url)
        original = getattr(request, "original_request", request)
        new_request.original_request = original  # type: ignore[attr-defined]
        final_callback = self.final_callback
        assert final_callback is not None
        self.final_callback = None
        self._release()
        self._remove_timeout()
        client = self.client
        assert client is not None

        def deliver(future: asyncio.Future[HTTPResponse]) -> None:
            try:
                response = future.result()
            except Exception as e:
                response = HTTPResponse(original, 599, error=e)
            final_callback(response)

        try:
            future = client.fetch(new_request, raise_error=False)
        except Exception as e:
            final_callback(HTTPResponse(original, 599, error=e))
            return
        future.add_done_callback(deliver)

    # -- ending ------------------------------------------------------------------------

    def _on_timeout(self, info: str | None = None) -> None:
        self._timeout = None
        if self.final_callback is not None:
            error = HTTPTimeoutError("Timeout" if info is None else f"Timeout {info}")
            self._handle_exception(HTTPTimeoutError, error, None)

    def _remove_timeout(self) -> None:
        timeout = self._timeout
        if timeout is not None:
            timeout.cancel()
            self._timeout = None

    def _release(self) -> None:
        release_callback, self.release_callback = self.release_callback, None
        if release_callback is not None:
            release_callback()

    def _run_callback(self, response: HTTPResponse) -> None:
        # Every way a fetch ends comes here: its timer must not outlive it
        # (it would keep the request and the response alive until it fires).
        # (What _remove_timeout and _release do.)
        timeout = self._timeout
        if timeout is not None:
            timeout.cancel()
            self._timeout = None
        release_callback, self.release_callback = self.release_callback, None
        if release_callback is not None:
            release_callback()
        final_callback, self.final_callback = self.final_callback, None
        if final_callback is not None:
            final_callback(response)

    def _handle_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self.final_callback is None:
            # Already answered: a closed stream is how a finished or
            # abandoned fetch ends, anything else is a real error.
            return isinstance(value, iostream.StreamClosedError)
        self._remove_timeout()
        h2_stream, self._h2_stream = self._h2_stream, None
        if h2_stream is not None:
            # Only this stream ends; the connection goes on for the others.
            h2_stream.cancel()
        if isinstance(value, iostream.StreamClosedError):
            if value.real_error is not None:
                value = value.real_error
            else:
                value = HTTPStreamClosedError("Connection closed")
        self._completion = None
        self._run_callback(
            HTTPResponse(
                self.request,
                599,
                error=value,
                request_time=self.io_loop.time() - self.start_time,
                start_time=self.start_wall_time,
            )
        )
        if self.stream is not None:
            # Never back to the pool: its state is unknown.
            self.stream.close()
        return True


def _describe(error: BaseException) -> str:
    text = str(error)
    return text if text else type(error).__name__


@functools.lru_cache(maxsize=512)
def _url_parts(
    url: str,
) -> tuple[str, str, str, int, str, str | None, str | None]:
    """``(scheme, netloc, host, port, path, username, password)`` of a URL
    to fetch, ``netloc`` without credentials and ``path`` with the query.

    Cached: a client fetches the same URLs again and again, and splitting
    one is a good part of the cost of a small request.
    """
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"Unsupported url scheme: {url}")
    netloc = parsed.netloc
    if "@" in netloc:
        netloc = netloc.rpartition("@")[2]
    host, port = httputil.split_host_and_port(netloc)
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if port is None:
        port = 443 if scheme == "https" else 80
    path = parsed.path or "/"
    if parsed.query:
        path += "?" + parsed.query
    return scheme, netloc, host, port, path, parsed.username, parsed.password


@functools.lru_cache(maxsize=64)
def _parameters(
    max_header_size: int | None,
    max_body_size: int | None,
    decompress: bool,
    strict: bool,
) -> HTTP1ConnectionParameters:
    """The parameters of a response read with these limits, shared (they
    are never modified)."""
    return HTTP1ConnectionParameters(
        max_header_size=max_header_size,
        max_body_size=max_body_size,
        decompress=decompress,
        strict=strict,
    )


async def _within(
    end: float | None,
    awaitable: Awaitable[Any],
    message: str,
    stream: iostream.IOStream,
) -> Any:
    """Await ``awaitable`` until loop time ``end``; past it, close ``stream``
    and raise ``TimeoutError(message)``."""
    try:
        return await _before(end, awaitable, message)
    except TimeoutError:
        stream.close()
        raise


if __name__ == "__main__":
    AsyncHTTPClient.configure(SimpleAsyncHTTPClient)
    main()
