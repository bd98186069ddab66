"""A non-blocking HTTP/1.x server with the API of ``tornado.httpserver``.

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

import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from tornado.escape import native_str

from tornado_compat import httputil, iostream, netutil
from tornado_compat.http1connection import (
    HTTP1ConnectionParameters,
    HTTP1ServerConnection,
)
from tornado_compat.tcpserver import TCPServer
from tornado_compat.util import Configurable

__all__ = ["HTTPServer"]

# Without an explicit idle timeout a connection may sit idle for an hour,
# as in Tornado.
_DEFAULT_IDLE_TIMEOUT = 3600


class HTTPServer(TCPServer, Configurable, httputil.HTTPServerConnectionDelegate):
    """A non-blocking, single-threaded HTTP/1.x server.

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
      request (default 3600).
    - ``body_timeout``: seconds allowed to read a body.
    - ``precise_status`` (a tornado_compat extension): answer 413, 414, 431
      or 505 instead of 400 where that status says more; see
      :class:`~tornado_compat.http1connection.HTTP1ConnectionParameters`.
    - ``strict`` (a tornado_compat extension): refuse what RFC 9112 lets a
      server accept but need not, bare LF line ends first; see
      :class:`~tornado_compat.http1connection.HTTP1ConnectionParameters`.

    It can be started as a ``TCPServer`` can: ``listen``; ``bind`` and then
    ``start(n)``, which forks; or ``netutil.bind_sockets``,
    ``process.fork_processes`` and then ``add_sockets``.
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
        strict: bool = False,
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
            strict=bool(strict),
        )
        TCPServer.__init__(
            self,
            ssl_options=ssl_options,
            max_buffer_size=max_buffer_size,
            read_chunk_size=chunk_size,
        )
        self._connections: set[HTTP1ServerConnection] = set()
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
        server down completely.
        """
        while self._connections:
            connection = next(iter(self._connections))
            await connection.close()
            # on_close normally removed it; make sure the loop ends.
            self._connections.discard(connection)

    def handle_stream(self, stream: iostream.IOStream, address: Any) -> None:
        if self.trusted_downstream is not self._trusted_from:
            self._trusted_from = self.trusted_downstream
            self._trusted_set = frozenset(self.trusted_downstream or ())
        context = _HTTPRequestContext(stream, address, self.protocol, self._trusted_set)
        connection = HTTP1ServerConnection(stream, self.conn_params, context)
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

    def on_close(self, server_conn: object) -> None:
        self._connections.discard(server_conn)


class _CallableAdapter(httputil.HTTPMessageDelegate):
    """Collects a request for an application that is a plain callable."""

    def __init__(
        self,
        request_callback: Callable[[httputil.HTTPServerRequest], None],
        request_conn: httputil.HTTPConnection,
    ) -> None:
        self.connection = request_conn
        self.request_callback = request_callback

    request: httputil.HTTPServerRequest | None = None
    # The body's pieces; made by the first one (most requests have none).
    _chunks: list[bytes] | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        if TYPE_CHECKING:  # checked for mypy only: this runs per request
            assert isinstance(start_line, httputil.RequestStartLine)
        self.request = httputil.HTTPServerRequest(
            connection=self.connection, start_line=start_line, headers=headers
        )
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self._chunks is None:
            self._chunks = [chunk]
        else:
            self._chunks.append(chunk)
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


class _HTTPRequestContext:
    """What a request knows about its connection: the client's address, the
    scheme, and (with xheaders) what a trusted proxy said about both."""

    def __init__(
        self,
        stream: iostream.IOStream,
        address: Any,
        protocol: str | None,
        trusted_downstream: Iterable[str] | None = None,
    ) -> None:
        self.address = address
        sock = getattr(stream, "socket", None)
        self.address_family = sock.family if sock is not None else None
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
