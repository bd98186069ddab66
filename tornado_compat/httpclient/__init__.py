"""HTTP clients with the API of ``tornado.httpclient``: the common interface.

What this package is for: the types every HTTP client implementation shares
and the two ways to call one.

- :class:`HTTPRequest` says what to fetch and how; :class:`HTTPResponse` is
  what came back; :class:`HTTPClientError` (alias :class:`HTTPError`) is how
  a failed fetch is reported.
- :class:`AsyncHTTPClient` is the non-blocking client.  It is
  :class:`~tornado_compat.util.Configurable`: calling it builds the
  configured implementation (``SimpleAsyncHTTPClient`` from
  ``tornado_compat.httpclient.simple`` unless :meth:`AsyncHTTPClient.configure`
  chose another), and it keeps one instance per event loop.
- :class:`HTTPClient` is the blocking client, which runs an
  :class:`AsyncHTTPClient` on an event loop of its own.
- :func:`main` is the command line, ``python -m tornado_compat.httpclient URL``.

What it must never do: open a connection or parse a byte of HTTP.  That is the
job of the implementations (``simple`` and ``curl``), which receive each
request from :meth:`AsyncHTTPClient.fetch` through
:meth:`AsyncHTTPClient.fetch_impl` with the client's defaults filled in.  Nor
may it import the Tornado modules that tornado_compat replaces.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import importlib
import os
import ssl
import sys
import time
import weakref
from collections.abc import Awaitable, Callable
from io import BytesIO
from typing import Any, cast

from tornado.concurrent import (
    Future,
    future_set_exception_unless_cancelled,
)
from tornado.ioloop import IOLoop

from tornado_compat import httputil
from tornado_compat.util import Configurable

__all__ = [
    "AsyncHTTPClient",
    "HTTPClient",
    "HTTPClientError",
    "HTTPError",
    "HTTPRequest",
    "HTTPResponse",
    "main",
]

# The values an AsyncHTTPClient uses for request options left as None, unless
# its ``defaults`` say otherwise.  Every other option defaults to None.
_REQUEST_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 20.0,
    "request_timeout": 20.0,
    "follow_redirects": True,
    "max_redirects": 5,
    "decompress_response": True,
    "proxy_password": "",
    "allow_nonstandard_methods": False,
    "validate_cert": True,
}

_StreamingCallback = Callable[[bytes], Awaitable[None] | None]
_BodyProducer = Callable[[Callable[[bytes], Future[None]]], Future[None]]


class HTTPRequest:
    """One request for an HTTP client: what to fetch and how.

    Only ``url`` is required.  An option left as ``None`` takes the value of
    the client's ``defaults`` when the request is fetched (see
    :class:`AsyncHTTPClient`); the defaults given below are those a client
    starts with.  Options that only one implementation understands are marked
    so.

    :arg url: the URL to fetch.
    :arg method: the HTTP method, ``"GET"`` by default.  Methods the client
        does not know, and bodies where the method does not expect one (or
        none where it does), are refused unless
        ``allow_nonstandard_methods`` is true.
    :arg headers: extra request headers, as a dict or an
        :class:`~tornado_compat.httputil.HTTPHeaders`.
    :arg body: the request body; a ``str`` is encoded as UTF-8.
    :arg body_producer: for a body produced while it is being sent: a
        callable that receives a ``write(chunk)`` function and returns a
        Future that resolves when the body is complete.  ``write`` returns a
        Future for flow control.  Exclusive with ``body``.  Without a
        ``Content-Length`` header the body is sent chunked.
    :arg auth_username: user name for HTTP authentication.
    :arg auth_password: password for HTTP authentication.
    :arg auth_mode: ``"basic"`` (the default) or, with curl only,
        ``"digest"``.
    :arg connect_timeout: seconds allowed to connect (default 20; 0 means
        no limit).
    :arg request_timeout: seconds allowed for the whole request (default
        20; 0 means no limit).
    :arg if_modified_since: sets ``If-Modified-Since``; a
        :class:`~datetime.datetime` or seconds since the epoch.
    :arg follow_redirects: follow 3xx responses (default true) instead of
        returning them.
    :arg max_redirects: how many redirects to follow at most (default 5).
    :arg user_agent: the ``User-Agent`` header to send.
    :arg decompress_response: ask for a compressed response and decompress
        it (default true).
    :arg use_gzip: the older name of ``decompress_response``, used when
        ``decompress_response`` is not given.
    :arg network_interface: the source address (or, with curl, interface)
        to connect from.
    :arg streaming_callback: called with each chunk of the body as it
        arrives, instead of collecting the body in the response (whose
        ``body`` is then empty).  With the simple client it may return an
        awaitable, which holds back the reading of further chunks until
        it completes.
    :arg header_callback: called with each line of the response head as it
        arrives, the status line and the final empty line included, each
        with its line ending; the response's ``headers`` are then empty.
    :arg prepare_curl_callback: curl only: called with the ``pycurl.Curl``
        handle, for further ``setopt`` calls.
    :arg proxy_host: the HTTP proxy to go through; needs ``proxy_port``.
    :arg proxy_port: the proxy's port.
    :arg proxy_username: user name for the proxy.
    :arg proxy_password: password for the proxy.
    :arg proxy_auth_mode: ``"basic"`` (the default) or ``"digest"``.
    :arg allow_nonstandard_methods: relax the method and body checks
        (default false).
    :arg validate_cert: verify the server's TLS certificate (default true).
    :arg ca_certs: a PEM file of CA certificates to verify against, instead
        of the system's.
    :arg allow_ipv6: allow IPv6 addresses (default: allowed).
    :arg client_key: a file with the client's TLS private key.
    :arg client_cert: a file with the client's TLS certificate.
    :arg expect_100_continue: send ``Expect: 100-continue`` and hold the body
        back until the server answers 100.
    :arg ssl_options: an :class:`ssl.SSLContext` (or a dict of
        ``ssl.wrap_socket``-style arguments) for HTTPS; it takes precedence
        over ``validate_cert``, ``ca_certs``, ``client_key`` and
        ``client_cert``.
    :arg unix_socket: a tornado_compat extension, not in Tornado: the path
        of a Unix-domain socket to connect to instead of the host and port of
        the URL (on Linux, a path starting with ``"\\0"`` names an abstract
        socket).  The URL still decides everything else: its host goes into
        the ``Host`` header and, for ``https``, is the name the server's
        certificate must match; a redirect to another origin does not use
        the socket.  An implementation that cannot honour this option must
        fail the request rather than connect to the URL's host.

    ``headers`` and ``body`` are properties: assigning ``None`` to
    ``headers`` gives empty headers, and assigning a ``str`` to ``body``
    encodes it as UTF-8.  ``start_time`` is when the request was created, in
    :func:`time.time` seconds.
    """

    #: The starting defaults of every AsyncHTTPClient.  Code outside this
    #: module (``tornado.websocket``) reads it under this name.
    _DEFAULTS: dict[str, Any] = _REQUEST_DEFAULTS

    # Behind the properties ``headers`` and ``body``.
    _headers: dict[str, str] | httputil.HTTPHeaders
    _body: bytes | None

    def __init__(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | httputil.HTTPHeaders | None = None,
        body: bytes | str | None = None,
        auth_username: str | None = None,
        auth_password: str | None = None,
        auth_mode: str | None = None,
        connect_timeout: float | None = None,
        request_timeout: float | None = None,
        if_modified_since: float | datetime.datetime | None = None,
        follow_redirects: bool | None = None,
        max_redirects: int | None = None,
        user_agent: str | None = None,
        use_gzip: bool | None = None,
        network_interface: str | None = None,
        streaming_callback: _StreamingCallback | None = None,
        header_callback: Callable[[str], None] | None = None,
        prepare_curl_callback: Callable[[Any], None] | None = None,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        proxy_username: str | None = None,
        proxy_password: str | None = None,
        proxy_auth_mode: str | None = None,
        allow_nonstandard_methods: bool | None = None,
        validate_cert: bool | None = None,
        ca_certs: str | None = None,
        allow_ipv6: bool | None = None,
        client_key: str | None = None,
        client_cert: str | None = None,
        body_producer: _BodyProducer | None = None,
        expect_100_continue: bool = False,
        decompress_response: bool | None = None,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        unix_socket: str | os.PathLike[str] | None = None,
    ) -> None:
        # Stored directly where the value needs nothing done to it (the
        # properties' setters say what they do otherwise).
        if headers is None:
            self._headers = httputil.HTTPHeaders()
        else:
            self.headers = headers
        if if_modified_since is not None:
            # A copy, so that the caller's dict is left as it was given.
            self.headers = httputil.HTTPHeaders(self.headers)
            self.headers["If-Modified-Since"] = httputil.format_timestamp(
                if_modified_since
            )
        self.url = url
        self.method = method
        if body is None or body.__class__ is bytes:
            self._body = body
        else:
            self.body = body
        self.body_producer = body_producer
        self.auth_username = auth_username
        self.auth_password = auth_password
        self.auth_mode = auth_mode
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.follow_redirects = follow_redirects
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self.decompress_response = (
            use_gzip if decompress_response is None else decompress_response
        )
        self.network_interface = network_interface
        self.streaming_callback = streaming_callback
        self.header_callback = header_callback
        self.prepare_curl_callback = prepare_curl_callback
        self.proxy_host = proxy_host
        self.proxy_port = proxy_port
        self.proxy_username = proxy_username
        self.proxy_password = proxy_password
        self.proxy_auth_mode = proxy_auth_mode
        self.allow_nonstandard_methods = allow_nonstandard_methods
        self.validate_cert = validate_cert
        self.ca_certs = ca_certs
        self.allow_ipv6 = allow_ipv6
        self.client_key = client_key
        self.client_cert = client_cert
        self.expect_100_continue = expect_100_continue
        self.ssl_options = ssl_options
        self.unix_socket = None if unix_socket is None else _socket_path(unix_socket)
        self.start_time = time.time()

    @property
    def headers(self) -> httputil.HTTPHeaders:
        """The request headers (a dict or ``HTTPHeaders``, as given)."""
        # Annotated as HTTPHeaders, as in Tornado: fetch() converts whatever
        # was given before an implementation sees it.
        return self._headers  # type: ignore[return-value]

    @headers.setter
    def headers(self, value: dict[str, str] | httputil.HTTPHeaders | None) -> None:
        self._headers = httputil.HTTPHeaders() if value is None else value

    @property
    def body(self) -> bytes:
        """The request body as bytes, or None when there is none."""
        return self._body  # type: ignore[return-value]

    @body.setter
    def body(self, value: bytes | str | None) -> None:
        if value is None or isinstance(value, bytes):
            self._body = value
        elif isinstance(value, str):
            self._body = value.encode("utf-8")
        elif isinstance(value, (bytearray, memoryview)):
            self._body = bytes(value)
        else:
            raise TypeError(
                f"body must be bytes, str or None, not {type(value).__name__}"
            )


def _socket_path(path: str | os.PathLike[str] | None) -> str | None:
    if path is None:
        return None
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"unix_socket must be a str path, not {type(path).__name__}")
    if not path:
        raise ValueError("unix_socket must not be empty")
    return path


class HTTPResponse:
    """What a fetch returned.

    - ``request``: the :class:`HTTPRequest` that was fetched (never the
      internal proxy that carries the client's defaults).
    - ``code``: the status code, for example 200; 599 when no response
      arrived.
    - ``reason``: the reason phrase; by default the standard one for
      ``code`` (``"Unknown"`` for codes without one).
    - ``headers``: the response headers, an
      :class:`~tornado_compat.httputil.HTTPHeaders`.
    - ``effective_url``: the URL finally fetched, after redirects.
    - ``buffer``: a :class:`io.BytesIO` holding the body, or None.
    - ``body``: the body as bytes, read from ``buffer`` the first time it is
      asked for (``b""`` without a buffer).
    - ``error``: the exception for a failed request, or None.  A response
      whose code is outside 200-299 and that was given no other error gets
      an :class:`HTTPClientError` for its code.
    - ``request_time``: seconds from the start of the request (after any
      wait in the client's queue) to its end; for redirects, of the last
      request only.
    - ``start_time``: when the request started, in :func:`time.time`
      seconds; None if it never left the queue.
    - ``time_info``: timings the implementation collected, by name (curl's
      phases, and ``queue`` for the time spent waiting for a free slot).
    - ``version`` (a tornado_compat extension): the HTTP version that
      answered, ``"HTTP/1.0"``, ``"HTTP/1.1"`` or ``"HTTP/2.0"``; None when
      no response arrived, or when the response was made by hand without one.
    """

    error: BaseException | None
    request: HTTPRequest

    def __init__(
        self,
        request: HTTPRequest | _ProxyBase,
        code: int,
        headers: httputil.HTTPHeaders | None = None,
        buffer: BytesIO | None = None,
        effective_url: str | None = None,
        error: BaseException | None = None,
        request_time: float | None = None,
        time_info: dict[str, float] | None = None,
        reason: str | None = None,
        start_time: float | None = None,
        version: str | None = None,
    ) -> None:
        if isinstance(request, _ProxyBase):
            request = request.request
        self.request = request
        self.code = code
        self.reason = reason or httputil.responses.get(code, "Unknown")
        self.headers = httputil.HTTPHeaders() if headers is None else headers
        self.buffer = buffer
        self._body: bytes | None = None
        self.effective_url = request.url if effective_url is None else effective_url
        self.request_time = request_time
        self.start_time = start_time
        self.time_info = {} if time_info is None else time_info
        self.version = version
        # fetch(raise_error=False) keeps back only the error that stands for
        # the status code; any other error always reaches the caller.
        self._error_from_code = error is None and not 200 <= code < 300
        if self._error_from_code:
            error = HTTPClientError(code, message=self.reason, response=self)
        self.error = error

    @classmethod
    def _received(
        cls,
        request: HTTPRequest,
        code: int,
        reason: str | None,
        headers: httputil.HTTPHeaders,
        buffer: BytesIO,
        effective_url: str,
        request_time: float,
        start_time: float,
        time_info: dict[str, float],
        version: str | None,
    ) -> HTTPResponse:
        """The response an implementation read, as the constructor makes it;
        for a success (the answer to most fetches) without the call's
        argument handling."""
        if not 200 <= code < 300 or request.__class__ is not HTTPRequest:
            return cls(
                request,
                code,
                headers=headers,
                buffer=buffer,
                effective_url=effective_url,
                request_time=request_time,
                time_info=time_info,
                reason=reason,
                start_time=start_time,
                version=version,
            )
        response = cls.__new__(cls)
        response.__dict__ = {
            "request": request,
            "code": code,
            "reason": reason or httputil.responses.get(code, "Unknown"),
            "headers": headers,
            "buffer": buffer,
            "_body": None,
            "effective_url": effective_url,
            "request_time": request_time,
            "start_time": start_time,
            "time_info": time_info,
            "version": version,
            "_error_from_code": False,
            "error": None,
        }
        return response

    @property
    def body(self) -> bytes:
        """The response body (``b""`` when there is no buffer)."""
        if self.buffer is None:
            return b""
        if self._body is None:
            self._body = self.buffer.getvalue()
        return self._body

    def rethrow(self) -> None:
        """Raise ``error`` if there is one."""
        if self.error is not None:
            raise self.error

    def __repr__(self) -> str:
        fields = (
            ("code", self.code),
            ("reason", self.reason),
            ("effective_url", self.effective_url),
            ("error", self.error),
            ("request_time", self.request_time),
            ("start_time", self.start_time),
            ("time_info", self.time_info),
            ("method", self.request.method),
        )
        return "HTTPResponse(%s)" % ", ".join(f"{k}={v!r}" for k, v in fields)


class HTTPClientError(Exception):
    """A fetch that failed.

    - ``code``: the status code of the response, or 599 when there was no
      response (a timeout, a refused connection, a broken stream).
    - ``message``: what went wrong; by default the reason phrase for
      ``code``.
    - ``response``: the :class:`HTTPResponse`, if there was one.

    With ``follow_redirects=False`` a redirect is an error too, and
    ``error.response.headers["Location"]`` says where it points.  The same
    class is available as :data:`HTTPError`, its name before Tornado 5.1
    (which clashed with ``tornado.web.HTTPError``).
    """

    def __init__(
        self,
        code: int,
        message: str | None = None,
        response: HTTPResponse | None = None,
    ) -> None:
        # Exception.args hold the arguments as given: copy and pickle call
        # the class with them again.
        super().__init__(code, message, response)
        self.code = code
        self.response = response
        self.message = message or httputil.responses.get(code, "Unknown")

    def __str__(self) -> str:
        return "HTTP %d: %s" % (self.code, self.message)

    # Exception's own repr lists the args, the response among them, and a
    # response's repr lists its error, which is this exception: each would
    # print the other.  The one-line summary stands in; bound to this
    # __str__, so a subclass that changes __str__ keeps it, as in Tornado.
    __repr__ = __str__


HTTPError = HTTPClientError


class _ProxyBase:
    """What the two kinds of request proxy share (see :class:`_RequestProxy`).

    A proxy's __dict__ is a copy of the request's, which costs a fraction of
    building a new one: so that it keeps the request's shape, what is not a
    request attribute lives in slots, and ``headers`` and ``body``
    (properties of a request, over ``_headers`` and ``_body``) are
    properties here too.
    """

    __slots__ = ("request", "defaults", "__dict__")
    request: HTTPRequest
    defaults: dict[str, Any] | None
    _headers: Any
    _body: Any

    @property
    def headers(self) -> httputil.HTTPHeaders:
        return self._headers

    @headers.setter
    def headers(self, value: httputil.HTTPHeaders) -> None:
        self._headers = value

    @property
    def body(self) -> bytes | None:
        return self._body

    @body.setter
    def body(self, value: bytes | None) -> None:
        self._body = value


class _ResolvedRequestProxy(_ProxyBase):
    """The proxy :meth:`AsyncHTTPClient.fetch` makes for a request it made
    itself from a URL: every attribute such a request has is in its
    __dict__, so all are resolved when the proxy is made, and there is
    nothing for a ``__getattr__`` to look up later.  Having none matters: a
    class with ``__getattr__`` sends every attribute read through it, which
    costs several times a plain read, and a fetch makes about seventy."""

    __slots__ = ()


class _RequestProxy(_ProxyBase):
    """A request seen through a client's defaults.

    Reading an attribute gives the request's value, or the default when the
    request's value is None.  The request's own attributes are resolved
    when the proxy is made, in one pass (a fetch reads about twenty of them,
    and a failed attribute lookup is slow); anything else is looked up once,
    when first read.  Implementations receive requests in this form from
    :meth:`AsyncHTTPClient.fetch` (or as a :class:`_ResolvedRequestProxy`,
    which reads the same); ``request`` is the request itself.
    """

    __slots__ = ()

    def __init__(self, request: HTTPRequest, defaults: dict[str, Any] | None) -> None:
        if isinstance(request, HTTPRequest):
            resolved = vars(request).copy()
            if defaults:
                for name, value in defaults.items():
                    if name in resolved and resolved[name] is None:
                        resolved[name] = value
            self.__dict__ = resolved
        else:
            self._headers = request.headers
            self._body = request.body
        self.request = request
        self.defaults = defaults

    def __getattr__(self, name: str) -> Any:
        if name in ("request", "defaults"):
            # Only reached before __init__ ran (copy, pickle); looking them up
            # through self.request would recurse.
            raise AttributeError(name)
        value = getattr(self.request, name)
        if value is None and self.defaults is not None:
            value = self.defaults.get(name)
        # Remembered: a client reads the same settings many times during a
        # fetch, and a request does not change while it is being fetched.
        self.__dict__[name] = value
        return value


# The attributes of a request made from a URL alone, and the options that
# HTTPRequest stores as they are given (the others are converted: headers,
# body, if_modified_since, use_gzip, unix_socket).
_BLANK_REQUEST: dict[str, Any] = vars(HTTPRequest("")).copy()
_PLAIN_OPTIONS = frozenset(_BLANK_REQUEST) - {
    "url",
    "_headers",
    "_body",
    "unix_socket",
    "start_time",
}

# Where each AsyncHTTPClient class keeps its per-loop instances: in the class's
# own __dict__, so that a subclass never shares its parent's cache.
_CACHE_KEY = "_tornado_compat_client_cache"

# Weak on the loop, as in Tornado.  A client refers to its own loop, so an
# entry still lasts until the client is closed: close() is what frees it.
_ClientCache = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, "AsyncHTTPClient"]


class AsyncHTTPClient(Configurable):
    """A non-blocking HTTP client; :meth:`fetch` returns a Future.

    ::

        async def status_of(url):
            try:
                response = await AsyncHTTPClient().fetch(url, raise_error=False)
            except Exception as e:  # no response: refused, timed out, ...
                return f"no response: {e}"
            return f"{response.code} {response.reason}"

    Calling the class does two unusual things.  It builds the configured
    implementation (see :meth:`configure`), not this abstract class.  And it
    returns the same instance every time it is called on the same event loop,
    for each class called (``AsyncHTTPClient()`` and, say,
    ``SimpleAsyncHTTPClient()`` are cached apart).  Pass
    ``force_instance=True`` for a new, uncached instance; only then are other
    keyword arguments meaningful, since a cached instance was built with the
    arguments of the first call.

    Every implementation accepts ``defaults``, a dict of :class:`HTTPRequest`
    options applied to each request that leaves them as None::

        # every client made from now on:
        AsyncHTTPClient.configure(None, defaults={"connect_timeout": 5})
        # one client of its own:
        probe = AsyncHTTPClient(force_instance=True, defaults={"request_timeout": 2})

    Implementations define :meth:`fetch_impl` and set themselves up in
    ``initialize`` (calling this class's ``initialize`` with ``defaults``).
    """

    io_loop: IOLoop
    """The IOLoop the client was created on; all its work runs there."""

    defaults: dict[str, Any]
    """The option values used for requests that leave an option as None."""

    _instance_cache: _ClientCache | None = None
    _cache_loop: asyncio.AbstractEventLoop | None = None
    _closed = False
    # What _proxy_template made, and the defaults it was made from.
    _template: dict[str, Any]
    _template_defaults: dict[str, Any] | None = None

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        return AsyncHTTPClient

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        # Imported on demand: the implementation imports this module.
        module = importlib.import_module("tornado_compat.httpclient.simple")
        return cast("type[Configurable]", module.SimpleAsyncHTTPClient)

    @classmethod
    def _client_cache(cls) -> _ClientCache:
        cache = cls.__dict__.get(_CACHE_KEY)
        if cache is None:
            cache = weakref.WeakKeyDictionary()
            setattr(cls, _CACHE_KEY, cache)
        return cast(_ClientCache, cache)

    def __new__(cls, force_instance: bool = False, **kwargs: Any) -> AsyncHTTPClient:
        # One instance per event loop: the IOLoop of a running asyncio loop is
        # only a wrapper of it.
        loop = _asyncio_loop(IOLoop.current())
        cache = None if force_instance else cls._client_cache()
        if cache is not None:
            cached = cache.get(loop)
            if cached is not None:
                return cached
        instance = cast(AsyncHTTPClient, super().__new__(cls, **kwargs))
        if cache is not None:
            instance._instance_cache = cache
            instance._cache_loop = loop
            cache[loop] = instance
        return instance

    def initialize(self, defaults: dict[str, Any] | None = None) -> None:
        """Set up the client on the current IOLoop; ``defaults`` as above."""
        self.io_loop = IOLoop.current()
        self.defaults = dict(HTTPRequest._DEFAULTS)
        if defaults is not None:
            self.defaults.update(defaults)
        self._closed = False

    def close(self) -> None:
        """Release what the client holds (connections, sockets, resolvers).

        Rarely needed for a cached instance, which lives as long as its loop
        is used; needed when the loop is closed too, and for instances made
        with ``force_instance=True``.  Nothing may be called on the client
        afterwards; a second ``close`` does nothing.  A closed cached instance
        leaves the cache, so the next call of the class builds a new one.
        """
        if self._closed:
            return
        self._closed = True
        cache, loop = self._instance_cache, self._cache_loop
        if cache is not None and loop is not None:
            cached = cache.get(loop)
            if cached is self:
                del cache[loop]
            elif cached is not None:
                raise RuntimeError("inconsistent AsyncHTTPClient cache")

    def fetch(
        self,
        request: str | HTTPRequest,
        raise_error: bool = True,
        **kwargs: Any,
    ) -> Future[HTTPResponse]:
        """Fetch ``request`` and return a Future for its :class:`HTTPResponse`.

        ``request`` is an :class:`HTTPRequest`, or a URL, in which case the
        keyword arguments are the other :class:`HTTPRequest` options (they
        are refused with a request object).

        The Future fails with :class:`HTTPClientError` for a response whose
        code is outside 200-299, unless ``raise_error`` is false, in which
        case that response is the result.  Errors that are not about the
        status code (no response at all, a timeout, a refused request) fail
        the Future whatever ``raise_error`` says.

        The request's headers are replaced by an ``HTTPHeaders`` copy, which
        the implementation completes (``Host`` and the like) as it sends the
        request.
        """
        if self._closed:
            raise RuntimeError("fetch() called on closed AsyncHTTPClient")
        if isinstance(request, HTTPRequest):
            if kwargs:
                raise ValueError(
                    "keyword arguments cannot be used with an HTTPRequest object: "
                    + ", ".join(sorted(kwargs))
                )
            request.headers = httputil.HTTPHeaders(request.headers)
            proxy: _ProxyBase = _RequestProxy(request, self.defaults)
        elif request.__class__ is str and kwargs.keys() <= _PLAIN_OPTIONS:
            # The common case, a URL with options that need no conversion:
            # the request and its proxy are made from templates, which
            # costs a fraction of the constructors (a fetch's request is
            # made and seen through the defaults every time).
            attrs = _BLANK_REQUEST.copy()
            attrs.update(kwargs)
            attrs["url"] = request
            attrs["_headers"] = headers = httputil.HTTPHeaders()
            attrs["start_time"] = start_time = time.time()
            request = HTTPRequest.__new__(HTTPRequest)
            request.__dict__ = attrs
            resolved = self._proxy_template().copy()
            defaults = self.defaults
            for name, value in kwargs.items():
                resolved[name] = defaults.get(name) if value is None else value
            resolved["url"] = attrs["url"]
            resolved["_headers"] = headers
            resolved["start_time"] = start_time
            proxy = _ResolvedRequestProxy.__new__(_ResolvedRequestProxy)
            proxy.__dict__ = resolved
            proxy.request = request
            proxy.defaults = defaults
        else:
            request = HTTPRequest(url=request, **kwargs)
            if kwargs.get("headers") is not None:
                # Without them, the new request made its own HTTPHeaders.
                request.headers = httputil.HTTPHeaders(request.headers)
            proxy = _RequestProxy(request, self.defaults)
        future: Future[HTTPResponse] = self.io_loop.asyncio_loop.create_future()  # type: ignore[attr-defined]

        def deliver(response: HTTPResponse) -> None:
            error = response.error
            if error is not None and (raise_error or not response._error_from_code):
                future_set_exception_unless_cancelled(future, error)
            elif not future.cancelled():
                future.set_result(response)

        self.fetch_impl(proxy, deliver)  # type: ignore[arg-type]
        return future

    def _proxy_template(self) -> dict[str, Any]:
        """The attributes of a request made with no options, as seen through
        :attr:`defaults`; made again when the defaults have changed (they
        are a public dict)."""
        defaults = self.defaults
        if self._template_defaults != defaults:
            template = _BLANK_REQUEST.copy()
            for name, value in defaults.items():
                if name in template and template[name] is None:
                    template[name] = value
            self._template = template
            self._template_defaults = dict(defaults)
        return self._template

    def fetch_impl(
        self, request: HTTPRequest, callback: Callable[[HTTPResponse], None]
    ) -> None:
        """Start fetching ``request``; implementations must define this.

        ``request`` is a proxy of the caller's request through
        :attr:`defaults` (an option left as None reads as its default).
        ``callback`` must be called exactly once, on :attr:`io_loop`, with
        the :class:`HTTPResponse`; a failure is a response whose ``error`` is
        set (code 599 when no response arrived), never an exception raised
        from here after the fetch has started.
        """
        raise NotImplementedError()

    @classmethod
    def configure(cls, impl: None | str | type[Configurable], **kwargs: Any) -> None:
        """Choose the implementation that ``AsyncHTTPClient()`` builds.

        ``impl`` is a subclass, its dotted name (for example
        ``"tornado_compat.httpclient.curl.CurlAsyncHTTPClient"``), or None
        for the default, ``SimpleAsyncHTTPClient``.  ``kwargs`` are passed to
        every instance built afterwards, under the caller's own: for example
        ``max_clients``, how many fetches one client runs at once (the
        others wait in a queue), and ``defaults``.  Instances already cached
        are not affected.
        """
        super().configure(impl, **kwargs)


def _asyncio_loop(io_loop: IOLoop) -> asyncio.AbstractEventLoop:
    # Every IOLoop of Tornado 6 wraps an asyncio loop; the base class does not
    # declare the attribute.
    return io_loop.asyncio_loop  # type: ignore[attr-defined]


class HTTPClient:
    """A blocking HTTP client, for code that does not run an event loop.

    ::

        client = HTTPClient()
        try:
            response = client.fetch("http://www.example.com/")
            print(response.body)
        except HTTPClientError as e:
            # A status outside 200-299; e.response is the response.
            print("Error:", e)
        except Exception as e:
            # No response: the host is unknown, the connection failed, ...
            print("Error:", e)
        finally:
            client.close()

    It runs an :class:`AsyncHTTPClient` (of ``async_client_class`` if given,
    built with ``kwargs``) on a private event loop, so it cannot be used
    while an event loop runs in the same thread: use
    :class:`AsyncHTTPClient` there.
    """

    # Class-level, so that __del__ of an instance whose __init__ failed
    # finds nothing to close.
    _closed = True

    def __init__(
        self,
        async_client_class: type[AsyncHTTPClient] | None = None,
        **kwargs: Any,
    ) -> None:
        client_class = (
            AsyncHTTPClient if async_client_class is None else async_client_class
        )
        io_loop = IOLoop(make_current=False)

        async def build() -> AsyncHTTPClient:
            # Inside the running loop, so that the client belongs to it
            # without making it the thread's current loop.
            return client_class(**kwargs)

        try:
            self._async_client = io_loop.run_sync(build)
        except BaseException:
            io_loop.close()
            raise
        self._io_loop = io_loop
        self._closed = False

    def __del__(self) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and its event loop; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self._async_client.close()
        finally:
            self._io_loop.close()

    def fetch(self, request: str | HTTPRequest, **kwargs: Any) -> HTTPResponse:
        """Fetch ``request`` and return the :class:`HTTPResponse`.

        The arguments are those of :meth:`AsyncHTTPClient.fetch`, including
        ``raise_error``: by default a status outside 200-299 raises
        :class:`HTTPClientError`.  Other failures always raise.
        """
        if self._closed:
            raise RuntimeError("fetch() called on closed HTTPClient")
        return self._io_loop.run_sync(
            functools.partial(self._async_client.fetch, request, **kwargs)
        )


def main() -> None:
    """Fetch the URLs given on the command line and print the responses.

    ``python -m tornado_compat.httpclient [options] URL...`` with Tornado's
    flags: ``--print_headers`` (default false), ``--print_body`` (default
    true), ``--follow_redirects`` and ``--validate_cert`` (default true),
    ``--proxy_host`` and ``--proxy_port``, plus ``tornado.log``'s logging
    flags.  A response with an error status is printed like any other; a
    fetch that got no response raises.
    """
    # Imported here: only the command line needs them.  A parser of its own,
    # so that main() can run more than once in a process and leaves the
    # global tornado.options alone.
    from tornado.log import define_logging_options
    from tornado.options import OptionParser

    options = OptionParser()
    define_logging_options(options)
    options.define(
        "print_headers", type=bool, default=False, help="print the response headers"
    )
    options.define("print_body", type=bool, default=True, help="print the body")
    options.define(
        "follow_redirects", type=bool, default=True, help="follow 3xx responses"
    )
    options.define(
        "validate_cert", type=bool, default=True, help="verify TLS certificates"
    )
    options.define("proxy_host", type=str, help="HTTP proxy host")
    options.define("proxy_port", type=int, help="HTTP proxy port")
    urls = options.parse_command_line()
    if not urls:
        return

    client = HTTPClient()
    try:
        for url in urls:
            try:
                response = client.fetch(
                    url,
                    follow_redirects=options.follow_redirects,
                    validate_cert=options.validate_cert,
                    proxy_host=options.proxy_host,
                    proxy_port=options.proxy_port,
                )
            except HTTPClientError as e:
                if e.response is None:
                    raise
                response = e.response
            if options.print_headers:
                print(response.headers)
            if options.print_body:
                _print_body(response.body)
    finally:
        client.close()


def _print_body(body: bytes) -> None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # Binary content goes out as it came, not as mojibake.
        sys.stdout.flush()
        sys.stdout.buffer.write(body + b"\n")
        sys.stdout.buffer.flush()
    else:
        print(text)
