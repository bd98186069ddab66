"""A non-blocking HTTP/1.x (and, opt-in, HTTP/2) server with the API of
``tornado.httpserver``.

What this package is for: :class:`HTTPServer`, a
:class:`~tornado_compat.tcpserver.TCPServer` that serves each connection with
an :class:`~tornado_compat.http1connection.HTTP1ServerConnection` and hands
requests to an application: an
:class:`~tornado_compat.httputil.HTTPServerConnectionDelegate` such as
``tornado.web.Application``, or a plain callable taking an
:class:`~tornado_compat.httputil.HTTPServerRequest`.

What it must never do: parse HTTP (the protocol core does), or trust
``X-Forwarded-For`` and friends unless ``xheaders`` is set.
"""

from __future__ import annotations

import _socket
import asyncio
import importlib
import inspect
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from tornado.escape import native_str
from tornado.log import app_log, gen_log

from tornado_compat import httputil, iostream, netutil
from tornado_compat._bare import BareConnection
from tornado_compat.http1connection import (
    HTTP1ConnectionParameters,
    HTTP1ServerConnection,
    _CallableAdapter,
    _HeadTimeout,
)
from tornado_compat.tcpserver import TCPServer
from tornado_compat.util import Configurable

__all__ = ["HTTPServer"]

# Without an explicit idle timeout a connection may sit idle for an hour,
# as in Tornado.
_DEFAULT_IDLE_TIMEOUT = 3600

#: How long :meth:`HTTPServer.drain` waits by default, in seconds.
DEFAULT_DRAIN_TIMEOUT = 30.0
# Requests named in the log line of a drain that cut some.
_CUT_SHOWN = 5


class HTTPServer(TCPServer, Configurable, httputil.HTTPServerConnectionDelegate):
    """An HTTP/1.x server on the event loop, in one thread.

    ``request_callback`` is an ``HTTPServerConnectionDelegate`` (for
    instance a ``tornado.web.Application``) or a callable that takes an
    ``HTTPServerRequest`` and answers it through ``request.connection``.

    Options (all as in Tornado):

    - ``no_keep_alive``: one request per connection.
    - ``xheaders``: take the client's address and the scheme from
      ``X-Real-Ip`` / ``X-Forwarded-For`` and ``X-Scheme`` /
      ``X-Forwarded-Proto`` (for a server behind a proxy); addresses in
      ``trusted_downstream`` are skipped when walking ``X-Forwarded-For``.
    - ``ssl_options``: an ``ssl.SSLContext`` or a dict of
      ``ssl.wrap_socket``-style arguments, to serve HTTPS.
    - ``protocol``: the scheme to report when it cannot be derived (for
      instance ``"https"`` behind a TLS-terminating proxy without xheaders).
    - ``decompress_request``: decode content-coded request bodies (gzip,
      deflate, and br and zstd when their packages are installed).
    - ``chunk_size``: how much body to pass the application at once.
    - ``max_header_size``, ``max_body_size``, ``max_buffer_size``: limits.
    - ``idle_connection_timeout``: seconds a connection may wait for a
      request (default 3600).  As in Tornado, this also bounds the request
      head, counted from the start of the wait, unless ``head_timeout`` is
      set; with it, only the wait for the head's first byte.
    - ``body_timeout``: seconds allowed to read a body.
    - ``precise_status`` (a tornado_compat extension): answer 413, 414, 431
      or 505 instead of 400 where that status says more; see
      :class:`~tornado_compat.http1connection.HTTP1ConnectionParameters`.
    - ``max_connections`` (a tornado_compat extension): the most connections
      open at once; past it new connections wait in the kernel's listen
      backlog instead of being accepted (see
      :class:`~tornado_compat.tcpserver.TCPServer`).  Default: no cap.
    - ``head_timeout`` (a tornado_compat extension): seconds from the first
      byte of a request head to its end (default None: only
      ``idle_connection_timeout`` bounds it).  A head still incomplete then
      is cut: the connection is closed with no answer and an INFO line
      logged.  The defence against slowloris that keeps a long keep-alive
      possible; see "Deadlines" in docs/server.md.
    - ``strict`` (a tornado_compat extension): refuse what RFC 9112 lets a
      server accept but need not, bare LF line ends first; see
      :class:`~tornado_compat.http1connection.HTTP1ConnectionParameters`.
    - ``http2`` (a tornado_compat extension): also serve HTTP/2, chosen
      by ALPN over TLS and by the client preface in cleartext (prior
      knowledge); needs the ``h2`` package (the ``http2`` extra).  Off by
      default.  See docs/http2.md.  Over HTTP/2 the keywords above keep
      their meaning per stream (``max_header_size`` bounds the decoded
      header list, ``body_timeout`` and ``max_body_size`` each stream's
      body, ``head_timeout`` each header block) and per connection
      (``idle_connection_timeout``: no stream open, or a response the
      client takes nothing of).  Three more limits (tornado_compat
      extensions) apply to HTTP/2 only: ``http2_max_concurrent_streams``
      (default 100; streams past it are refused with ``REFUSED_STREAM``),
      ``http2_max_resets`` (default 200 streams reset by the client or
      refused, per 10 s) and ``http2_max_control_frames`` (default 1000
      PING, SETTINGS, PRIORITY, small WINDOW_UPDATE and empty DATA frames
      per 10 s); past either of the last two the connection ends with
      GOAWAY ``ENHANCE_YOUR_CALM``.  See "Limits and deadlines" in
      docs/http2.md.

    It can be started as a ``TCPServer`` can: ``listen``; ``bind`` and then
    ``start(n)``, which forks; or ``netutil.bind_sockets``,
    ``process.fork_processes`` and then ``add_sockets``.

    It can be stopped in two ways.  As in Tornado, :meth:`stop` stops
    accepting and :meth:`close_all_connections` then closes every
    connection, cutting the requests in progress.  Or ``await``
    :meth:`drain` (a tornado_compat extension, for deploys): it stops
    accepting, closes idle connections, lets the requests in progress
    finish (with ``Connection: close``) and cuts only what is left after
    its timeout, returning how many; :meth:`add_drain_callback` (or an
    ``on_drain`` method of the application) tells the application, which
    owns its websockets.  See "Graceful drain" in the server docs.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Configurable.__new__ calls initialize(); nothing is left to do, and
        # TCPServer.__init__ must not run a second time.
        pass

    def initialize(
        self,
        request_callback: httputil.HTTPServerConnectionDelegate
        | Callable[[httputil.HTTPServerRequest], None],
        no_keep_alive: bool = False,
        xheaders: bool = False,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        protocol: str | None = None,
        decompress_request: bool = False,
        chunk_size: int | None = None,
        max_header_size: int | None = None,
        idle_connection_timeout: float | None = None,
        body_timeout: float | None = None,
        max_body_size: int | None = None,
        max_buffer_size: int | None = None,
        trusted_downstream: list[str] | None = None,
        precise_status: bool = False,
        max_connections: int | None = None,
        head_timeout: float | None = None,
        strict: bool = False,
        http2: bool = False,
        http2_max_concurrent_streams: int = 100,
        http2_max_resets: int = 200,
        http2_max_control_frames: int = 1000,
    ) -> None:
        self.request_callback = request_callback
        self.xheaders = xheaders
        self.protocol = protocol
        self.conn_params = HTTP1ConnectionParameters(
            decompress=bool(decompress_request),
            chunk_size=chunk_size,
            max_header_size=max_header_size,
            header_timeout=idle_connection_timeout or _DEFAULT_IDLE_TIMEOUT,
            max_body_size=max_body_size,
            body_timeout=body_timeout,
            no_keep_alive=bool(no_keep_alive),
            precise_status=bool(precise_status),
            head_timeout=head_timeout,
            strict=bool(strict),
        )
        TCPServer.__init__(
            self,
            ssl_options=ssl_options,
            max_buffer_size=max_buffer_size,
            read_chunk_size=chunk_size,
            max_connections=max_connections,
        )
        self.http2 = bool(http2)
        for name, value in (
            ("http2_max_concurrent_streams", http2_max_concurrent_streams),
            ("http2_max_resets", http2_max_resets),
            ("http2_max_control_frames", http2_max_control_frames),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        self.http2_limits = {
            "max_concurrent_streams": http2_max_concurrent_streams,
            "max_resets": http2_max_resets,
            "max_control_frames": http2_max_control_frames,
        }
        if self.http2:
            # Fails here, naming the extra, rather than on the first client.
            importlib.import_module("tornado_compat.http2.connection")
            if self._ssl_context is not None:
                self._ssl_context.set_alpn_protocols(["h2", "http/1.1"])
        self._connections: set[Any] = set()
        self.trusted_downstream = trusted_downstream
        # One set for the contexts of every connection, remade if the
        # attribute is replaced.
        self._trusted_from: list[str] | None = trusted_downstream
        self._trusted_set = frozenset(trusted_downstream or ())

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return HTTPServer

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        return HTTPServer

    async def close_all_connections(self) -> None:
        """Close every open connection and wait until each has stopped.

        Call it after :meth:`stop`, which only stops accepting, to shut the
        server down completely.  Requests in progress are cut; during a
        :meth:`drain` they are counted and logged as cut by it.
        """
        drain = self._drain
        cut: list[str] = []
        while self._connections:
            connection = next(iter(self._connections))
            if drain is not None:
                # An HTTP/2 connection has one request per stream.
                per_stream = getattr(connection, "streams_in_flight", None)
                whats = (
                    per_stream() if per_stream is not None else [connection.in_flight()]
                )
                for what in whats:
                    if what is not None:
                        what = f"{what or 'a request head'} ({connection.context})"
                        # Counted before the close, which may end the drain.
                        drain.cut.append(what)
                        cut.append(what)
            # (A connection not yet served by HTTP1ServerConnection closes
            # at once: see tornado_compat._bare.)
            closing = connection.close()
            if closing is not None:
                await closing
            # on_close normally removed it; make sure the loop ends.
            self._connections.discard(connection)
        if cut and drain is not None:
            shown = ", ".join(cut[:_CUT_SHOWN])
            gen_log.warning(
                "Drain cut %d request(s) still in progress after %.1f s: %s%s",
                len(cut),
                time.monotonic() - drain.started,
                shown,
                ", ..." if len(cut) > _CUT_SHOWN else "",
            )

    # -- graceful drain (a tornado_compat extension) ----------------------------

    # The drain in progress or done, from the first call to drain().
    _drain: _Drain | None = None
    _drain_callbacks: list[Callable[[], object]] | None = None

    def add_drain_callback(self, callback: Callable[[], object]) -> None:
        """Call ``callback()`` when a :meth:`drain` starts.

        For what the server leaves to the application: websockets and any
        other stream taken over with ``detach()``, which a drain neither
        waits for nor closes.  A typical callback closes each websocket
        with code 1001 (going away).  If it returns an awaitable, the drain
        also waits for that (within its timeout).  An application object
        with an ``on_drain`` method gets the same call, first, without
        registering (that is how an application served by ``python -m
        tornado_compat serve`` hears of it).  An exception in a callback is
        logged and the drain goes on.
        """
        if self._drain_callbacks is None:
            self._drain_callbacks = []
        self._drain_callbacks.append(callback)

    @property
    def draining(self) -> bool:
        """True once :meth:`drain` has been called."""
        return self._drain is not None

    async def drain(self, timeout: float | None = DEFAULT_DRAIN_TIMEOUT) -> int:
        """Stop accepting, let the requests in progress finish, then return
        the number of requests that had to be cut.

        As :meth:`stop`, the listening sockets are closed at once.  Idle
        keep-alive connections (waiting for a request, with nothing
        buffered) are closed at once.  A request in progress runs to its
        end: a response not yet started gets ``Connection: close`` (and no
        ``Keep-Alive`` for HTTP/1.0), and the connection closes once the
        response is finished, whether it started before the drain or
        after.  A request whose head is still arriving is read and
        answered the same way, within the head deadline.  Requests
        pipelined behind the one in progress are not read: the client
        sends them again (RFC 9112 section 9.6).  Detached streams
        (websockets) are not waited for; see :meth:`add_drain_callback`.

        Once no connection is left (and the awaitables the drain callbacks
        returned are done) it returns 0.  After ``timeout`` seconds (None:
        no limit) it closes what is left, logs one WARNING with the number
        of requests cut, and returns that number.  Calling it again, while
        it runs or after, waits in the same way with its own timeout; each
        call returns the number cut since the first started, including
        those cut by :meth:`close_all_connections`.
        """
        self.stop()
        drain = self._drain
        if drain is None:
            drain = self._drain = _Drain()
            self._start_drain(drain)
        try:
            await asyncio.wait_for(drain.done(), timeout)
        except asyncio.TimeoutError:
            await self.close_all_connections()
        return len(drain.cut)

    def _start_drain(self, drain: _Drain) -> None:
        for connection in list(self._connections):
            connection.start_drain()
        if not self._connections:
            drain.closed.set()
        callbacks: list[Callable[[], object]] = []
        on_drain = getattr(self.request_callback, "on_drain", None)
        if callable(on_drain):
            callbacks.append(on_drain)
        callbacks.extend(self._drain_callbacks or ())
        for callback in callbacks:
            try:
                result = callback()
            except Exception:
                app_log.error("Exception in drain callback %r", callback, exc_info=True)
                continue
            if inspect.isawaitable(result):
                drain.pending.append(asyncio.ensure_future(_drain_hook(result)))

    def handle_stream(self, stream: iostream.IOStream, address: Any) -> None:
        context = self._context_of(stream, address)
        if self.http2:
            _choose_version(self, stream, context)
            return
        self._serve_with(HTTP1ServerConnection(stream, self.conn_params, context))

    # HTTP/1.x and HTTP/2 both wait for the client's first bytes (see
    # TCPServer._bare_first).
    _client_speaks_first = True

    def _context_of(self, stream: Any, address: Any) -> _HTTPRequestContext:
        if self.trusted_downstream is not self._trusted_from:
            self._trusted_from = self.trusted_downstream
            self._trusted_set = frozenset(self.trusted_downstream or ())
        return _HTTPRequestContext(stream, address, self.protocol, self._trusted_set)

    def _bare_started(self, bare: BareConnection) -> None:
        if not self.http2 and type(self).handle_stream is HTTPServer.handle_stream:
            # HTTP/1.x, served as handle_stream would, on the bare
            # connection until a request needs a stream.
            conn = HTTP1ServerConnection(
                bare, self.conn_params, self._context_of(bare, bare.address)
            )
            conn._bare = bare
            bare.server_conn = conn
            self._serve_with(conn)
            return
        # Handed over at its first bytes.  Meanwhile one of the connections:
        # a drain or close_all_connections closes it (it is idle); its wait
        # deadline counts from the accept.
        self._connections.add(bare)
        bare.on_end = self._bare_ended
        timeout = self.conn_params.header_timeout
        if timeout is not None:
            bare.arm(timeout)

    def _serve_with(self, connection: Any) -> None:
        self._connections.add(connection)
        connection.start_serving(self)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        callback = self.request_callback
        if isinstance(callback, httputil.HTTPServerConnectionDelegate):
            delegate = callback.start_request(server_conn, request_conn)
        else:
            delegate = _CallableAdapter(callback, request_conn)
        if self.xheaders:
            delegate = _ProxyAdapter(delegate, request_conn)
        return delegate

    def _plain_callback(self) -> Callable[[httputil.HTTPServerRequest], None] | None:
        """The raw callback, when :meth:`start_request` would only wrap it
        in the adapter that collects a request for it (no xheaders, a plain
        callable, and no subclass's own ``start_request``); else None.  An
        HTTP/1 connection then makes that adapter itself, without the call
        into this method for every request."""
        callback = self.request_callback
        if (
            type(self).start_request is not HTTPServer.start_request
            or self.xheaders
            or isinstance(callback, httputil.HTTPServerConnectionDelegate)
        ):
            return None
        return callback

    def _bare_ended(self, bare: BareConnection) -> None:
        if bare.handed is None:
            # It closed before it carried a byte: the connection is over, and
            # reported as one served by HTTP1ServerConnection would be.
            self.on_close(bare)
        else:
            # Its stream's connection is tracked now, and reports the end.
            self._forget(bare)

    def on_close(self, server_conn: object) -> None:
        self._forget(server_conn)

    def _forget(self, server_conn: object) -> None:
        self._connections.discard(server_conn)
        drain = self._drain
        if drain is not None and not self._connections:
            drain.closed.set()


_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _choose_version(
    server: HTTPServer, stream: iostream.IOStream, context: _HTTPRequestContext
) -> None:
    """Serve the connection with HTTP/2 or HTTP/1.1: over TLS as ALPN
    chose, in cleartext by whether its first bytes are the HTTP/2 client
    preface (prior knowledge)."""
    from tornado_compat.http2.connection import H2ServerConnection

    def serve(h2: bool) -> None:
        if h2:
            server._serve_with(
                H2ServerConnection(
                    stream, server.conn_params, context, **server.http2_limits
                )
            )
        else:
            server._serve_with(
                HTTP1ServerConnection(stream, server.conn_params, context)
            )

    _VersionWait(server, stream, context, serve).start()


class _VersionWait:
    """A connection that has not yet said which version it speaks: over
    TLS, until the handshake's ALPN; in cleartext, until its first bytes
    show the HTTP/2 preface or not.  It is one of the server's connections
    meanwhile, so that :meth:`HTTPServer.drain` and
    :meth:`~HTTPServer.close_all_connections` close it, and its wait has
    the deadlines of an HTTP/1 connection's wait for its first request
    (``idle_connection_timeout`` until the first byte, then
    ``head_timeout`` if set), on the same timer, which an HTTP/1
    connection then keeps."""

    def __init__(
        self,
        server: HTTPServer,
        stream: iostream.IOStream,
        context: _HTTPRequestContext,
        serve: Callable[[bool], None],
    ) -> None:
        self.server = server
        self.stream = stream
        self.context = context
        self._serve = serve
        self._done = False

    def start(self) -> None:
        params = self.server.conn_params
        self.server._connections.add(self)
        if params.header_timeout is not None:
            _HeadTimeout.arm(self.stream, params.header_timeout)
        stream = self.stream
        if isinstance(stream, iostream.SSLIOStream):
            stream.wait_for_handshake().add_done_callback(self._handshaken)
        else:
            self._readable()

    def _handshaken(self, future: asyncio.Future[Any]) -> None:
        if self._done:
            return
        stream = self.stream
        assert isinstance(stream, iostream.SSLIOStream)
        if future.cancelled() or future.exception() is not None:
            # The handshake failed; the stream has closed and logged why.
            stream.close()
            self._closed()
            return
        self._choose(stream.socket.selected_alpn_protocol() == "h2")

    def _readable(self) -> None:
        if self._done:
            return
        stream = self.stream
        buf = stream._read_buffer
        size = min(len(buf), len(_PREFACE))
        matches = buf[:size] == _PREFACE[:size]
        if size and (not matches or size == len(_PREFACE)):
            self._choose(matches)
            return
        if stream.closed():
            self._closed()
            return
        head_timeout = self.server.conn_params.head_timeout
        if size and head_timeout is not None:
            _HeadTimeout.head_started(stream, head_timeout, "request", self.context)
        # Nothing yet, or a strict prefix of the preface: wait for more.
        stream._notify_when_readable(self._readable)

    def _choose(self, h2: bool) -> None:
        self._done = True
        self.server._connections.discard(self)
        if h2:
            # The HTTP/2 connection keeps its own deadlines.
            _HeadTimeout.drop(self.stream)
        self._serve(h2)

    def _closed(self) -> None:
        if self._done:
            return
        self._done = True
        _HeadTimeout.drop(self.stream)
        self.server.on_close(self)

    async def close(self) -> None:
        self.stream.close()
        self._closed()

    def start_drain(self) -> None:
        # No request has begun: closed at once, as an idle connection is.
        self.stream.close()
        self._closed()

    def in_flight(self) -> str | None:
        return None


class _Drain:
    """The state of a server's drain: since when, what it cut, and what it
    waits for."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.cut: list[str] = []
        # Set once the server has no connection left.
        self.closed = asyncio.Event()
        # What the drain callbacks returned, while it runs.
        self.pending: list[asyncio.Future[None]] = []

    async def done(self) -> None:
        await self.closed.wait()
        if self.pending:
            # Not cancelled if the wait times out: they are the
            # application's.
            await asyncio.wait(self.pending)


async def _drain_hook(result: Awaitable[object]) -> None:
    try:
        await result
    except Exception:
        app_log.error("Exception in drain callback", exc_info=True)


_FAMILIES = {int(family): family for family in socket.AddressFamily}


class _HTTPRequestContext:
    """What a request knows about its connection: the client's address, the
    scheme, and (with xheaders) what a trusted proxy said about both."""

    # Every connection has one: slots keep an idle one small; __dict__ is
    # kept for applications that add attributes.
    __slots__ = (
        "address",
        "address_family",
        "remote_ip",
        "protocol",
        "_orig_remote_ip",
        "_orig_protocol",
        "trusted_downstream",
        "__dict__",
    )

    def __init__(
        self,
        stream: iostream.IOStream,
        address: Any,
        protocol: str | None,
        trusted_downstream: Iterable[str] | None = None,
    ) -> None:
        self.address = address
        sock = getattr(stream, "socket", None)
        family: Any = None
        if isinstance(sock, _socket.socket):
            # socket.family makes an enum for every call; the same enum,
            # from a table, costs a tenth as much.
            family = _FAMILIES.get(netutil._RAW_FAMILY(sock))
        if family is None and sock is not None:
            family = sock.family
        self.address_family = family
        if (
            self.address_family in (socket.AF_INET, socket.AF_INET6)
            and address is not None
        ):
            self.remote_ip = address[0]
        else:
            # Unix sockets and the like have no IP address to report.
            self.remote_ip = "0.0.0.0"
        if protocol:
            self.protocol = protocol
        elif isinstance(stream, iostream.SSLIOStream):
            self.protocol = "https"
        else:
            self.protocol = "http"
        self._orig_remote_ip = self.remote_ip
        self._orig_protocol = self.protocol
        self.trusted_downstream = (
            trusted_downstream
            if isinstance(trusted_downstream, frozenset)
            else frozenset(trusted_downstream or ())
        )

    def __str__(self) -> str:
        if self.address_family in (socket.AF_INET, socket.AF_INET6):
            return self.remote_ip
        if isinstance(self.address, bytes):
            # Unix socket addresses may come as bytes.
            return native_str(self.address)
        return str(self.address)

    def _apply_xheaders(self, headers: httputil.HTTPHeaders) -> None:
        """Take the client's address and scheme from a proxy's headers."""
        forwarded = headers.get("X-Forwarded-For", self.remote_ip)
        # The last address not added by a proxy we trust is the client.
        ip = self.remote_ip
        for candidate in reversed(forwarded.split(",")):
            ip = candidate.strip()
            if ip not in self.trusted_downstream:
                break
        ip = headers.get("X-Real-Ip", ip)
        if netutil.is_valid_ip(ip):
            self.remote_ip = ip
        scheme = headers.get(
            "X-Scheme", headers.get("X-Forwarded-Proto", self.protocol)
        )
        if scheme:
            # With several proxies, the nearest one speaks last.
            scheme = scheme.split(",")[-1].strip()
        if scheme in ("http", "https"):
            self.protocol = scheme

    def _unapply_xheaders(self) -> None:
        """Forget what the proxy said, for the next request on this
        connection."""
        self.remote_ip = self._orig_remote_ip
        self.protocol = self._orig_protocol


class _ProxyAdapter(httputil.HTTPMessageDelegate):
    """Applies xheaders for the duration of one request."""

    def __init__(
        self,
        delegate: httputil.HTTPMessageDelegate,
        request_conn: httputil.HTTPConnection,
    ) -> None:
        self.connection = request_conn
        self.delegate = delegate

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self.connection.context._apply_xheaders(headers)  # type: ignore[attr-defined]
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        return self.delegate.data_received(chunk)

    def finish(self) -> None:
        self.delegate.finish()
        self._cleanup()

    def on_connection_close(self) -> None:
        self.delegate.on_connection_close()
        self._cleanup()

    def _cleanup(self) -> None:
        self.connection.context._unapply_xheaders()  # type: ignore[attr-defined]


HTTPRequest = httputil.HTTPServerRequest
