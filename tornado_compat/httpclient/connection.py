"""A persistent HTTP/1.1 client connection with pipelining: dugong's API.

What this module is for: code that wants explicit control over one
connection, sending any number of requests before reading their responses
(pipelining), streaming request and response bodies of any size, and
``Expect: 100-continue``.  It has the public API of dugong 3.8.2, so
``import tornado_compat.httpclient.connection as dugong`` is a drop-in.

Every I/O method comes twice: a blocking one (``read_response``) and a
``co_`` one (``co_read_response``), a generator that yields
:class:`PollNeeded` instead of blocking.  The blocking methods run the
``co_`` ones with :func:`eval_coroutine`; :class:`AioFuture` runs them on an
asyncio event loop.  One thread may send requests while another reads
responses; nothing else about a connection is thread-safe.

What it must never do: decide by itself what response bytes mean.  Heads are
split and parsed, bodies framed and chunked bodies decoded by the protocol
core (:mod:`tornado_compat.protocol`), the same code the server and the
simple client use, so the three cannot disagree about where a message ends.
Nor may it log, or leave a connection in a state where the next request would
read another request's response: after an error that loses track of the
stream, reading goes on failing until :meth:`HTTPConnection.disconnect`.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import re
import select
import socket
import ssl
import threading
from base64 import b64encode
from collections import deque
from collections.abc import Generator, Iterator, Mapping, MutableMapping
from typing import Any, BinaryIO, TypeVar

from tornado_compat.protocol import framing as _framing
from tornado_compat.protocol import head as _head
from tornado_compat.protocol.errors import VERSION_NOT_SUPPORTED, RemoteProtocolError
from tornado_compat.protocol.writers import LAST_CHUNK, join_head

__all__ = [
    "HTTPConnection",
    "HTTPResponse",
    "BodyFollowing",
    "CaseInsensitiveDict",
    "PollNeeded",
    "AioFuture",
    "eval_coroutine",
    "is_temp_network_error",
    "ConnectionClosed",
    "InvalidResponse",
    "UnsupportedResponse",
    "ExcessBodyData",
    "StateError",
    "ConnectionTimedOut",
    "HostnameNotResolvable",
    "DNSUnavailable",
    "MAX_LINE_SIZE",
    "MAX_HEADER_SIZE",
    "BUFFER_SIZE",
    "DNS_TEST_HOSTNAMES",
    "POLLIN",
    "POLLOUT",
]

#: The longest status line accepted; a longer one raises InvalidResponse.
MAX_LINE_SIZE = 65535
#: The most header bytes accepted after the status line, all lines together;
#: more raise InvalidResponse.
MAX_HEADER_SIZE = 65535
#: Capacity of a connection's read buffer, and a good size for ``read``.
BUFFER_SIZE = 64 * 1024
#: ``(hostname, port)`` pairs looked up when a name does not resolve, to tell
#: a name that does not exist (:exc:`HostnameNotResolvable`) from a resolver
#: that cannot be reached (:exc:`DNSUnavailable`).
DNS_TEST_HOSTNAMES = (
    ("www.google.com", 80),
    ("www.iana.org", 80),
    ("C.root-servers.org", 53),
)

#: The :class:`PollNeeded` mask bit for "readable" (``select.POLLIN``).
POLLIN: int = select.POLLIN
#: The :class:`PollNeeded` mask bit for "writable" (``select.POLLOUT``).
POLLOUT: int = select.POLLOUT

# Bodies up to this size go out in one send together with their head.
_COALESCE = 64 * 1024
_NAME_ERRORS = frozenset(
    code
    for code in (
        getattr(socket, "EAI_NONAME", None),
        getattr(socket, "EAI_NODATA", None),
    )
    if code is not None
)
_TEMPORARY_ERRNOS = frozenset(
    {
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ECONNREFUSED,
        errno.ENETDOWN,
        errno.ENETUNREACH,
        errno.ENETRESET,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
    }
)
_WOULD_BLOCK = (BlockingIOError, InterruptedError)
_GONE = (
    BrokenPipeError,
    ConnectionResetError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)
_METHOD = re.compile(_head.TOKEN).fullmatch
# A request target has no spaces and no control characters.
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]").search

T = TypeVar("T")
Coroutine = Generator["PollNeeded", Any, T]


# -- exceptions ------------------------------------------------------------------------


class _Error(Exception):
    """An error with a default message, like dugong's."""

    default = "error"

    def __init__(self, msg: str | None = None) -> None:
        super().__init__(msg if msg is not None else self.default)
        self.msg = msg if msg is not None else self.default

    def __str__(self) -> str:
        return self.msg


class ConnectionClosed(_Error):
    """The connection was closed unexpectedly, or the server said it would
    close it (``Connection: close``) and a later response was asked for."""

    default = "connection closed unexpectedly"


class InvalidResponse(_Error):
    """The server sent something that is not valid HTTP/1.0 or 1.1."""

    default = "Server sent invalid response"


class UnsupportedResponse(_Error):
    """The server sent a response this module cannot read, such as a body
    without a length on a connection it keeps open.  Where that response
    ends cannot be known, so the connection must be disconnected."""

    default = "Server sent unsupported response"


class ExcessBodyData(_Error):
    """More request body data than announced was written."""

    default = "Trying to send more data than announced"


class StateError(_Error):
    """The operation does not make sense in the connection's state."""

    default = "Operation not allowed in current state"


class ConnectionTimedOut(_Error):
    """A blocking method could not send or receive anything for
    :attr:`HTTPConnection.timeout` seconds."""

    default = "send/recv timeout exceeded"


class HostnameNotResolvable(_Error):
    """The host name does not resolve, but other names do."""

    def __init__(self, hostname: str) -> None:
        super().__init__("Host %s does not have any ip addresses" % hostname)
        self.hostname = hostname


class DNSUnavailable(_Error):
    """The host name could not be looked up: no name server answers."""

    def __init__(self, hostname: str) -> None:
        super().__init__("Unable to resolve %s, DNS server unavailable." % hostname)
        self.hostname = hostname


def is_temp_network_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a network problem that may go away on a retry.

    Name-resolution errors (``socket.gaierror``, ``socket.herror``) count as
    permanent: :class:`HTTPConnection` turns the temporary kind into
    :exc:`DNSUnavailable`, which counts as temporary.
    """
    if isinstance(exc, (ConnectionTimedOut, ConnectionClosed, DNSUnavailable)):
        return True
    if isinstance(exc, (HostnameNotResolvable, socket.gaierror, socket.herror)):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    if isinstance(exc, (ssl.SSLZeroReturnError, ssl.SSLEOFError, ssl.SSLSyscallError)):
        return True
    if isinstance(exc, ssl.SSLError):
        # A record garbled on the way (RFC 5246 bad_record_mac).
        return exc.reason in ("DECRYPTION_FAILED_OR_BAD_RECORD_MAC", "BAD_RECORD_MAC")
    return isinstance(exc, OSError) and exc.errno in _TEMPORARY_ERRNOS


# -- small public types ----------------------------------------------------------------


class PollNeeded:
    """What a ``co_`` coroutine waits for: ``fd`` ready for the I/O in
    ``mask`` (:data:`POLLIN`, :data:`POLLOUT` or both)."""

    __slots__ = ("fd", "mask")

    def __init__(self, fd: int, mask: int) -> None:
        #: The file descriptor to wait on.
        self.fd = fd
        #: A ``select.poll`` event mask: POLLIN, POLLOUT or both.
        self.mask = mask

    def poll(self, timeout: float | None = None) -> bool:
        """Wait until the file descriptor is ready; False if ``timeout``
        seconds passed first."""
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(self.fd, self.mask)
            ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
            return bool(poller.poll(ms))
        readers = [self.fd] if self.mask & POLLIN else []
        writers = [self.fd] if self.mask & POLLOUT else []
        ready = select.select(readers, writers, readers + writers, timeout)
        return any(ready)

    def __repr__(self) -> str:
        kinds = [
            n for n, m in (("POLLIN", POLLIN), ("POLLOUT", POLLOUT)) if self.mask & m
        ]
        return "<PollNeeded fd=%d %s>" % (self.fd, "|".join(kinds) or self.mask)


class BodyFollowing:
    """The ``body`` of a request whose data follows in :meth:`HTTPConnection.write`
    calls: ``length`` bytes of it, or chunked encoding when ``length`` is None."""

    __slots__ = ("length",)

    def __init__(self, length: int | None = None) -> None:
        if length is not None and length < 0:
            raise ValueError("length must not be negative")
        #: The number of body bytes that will be written, or None.
        self.length = length


class CaseInsensitiveDict(MutableMapping[str, Any]):
    """A mapping whose string keys compare without regard to case.

    It remembers the case of the key last set; iteration gives those keys.
    """

    def __init__(self, data: Any = None, **kwargs: Any) -> None:
        self._store: dict[str, tuple[str, Any]] = {}
        if data is None:
            data = {}
        self.update(data, **kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        self._store[key.lower()] = (key, value)

    def __getitem__(self, key: str) -> Any:
        return self._store[key.lower()][1]

    def __delitem__(self, key: str) -> None:
        del self._store[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._store.values())

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._store

    def lower_items(self) -> Iterator[tuple[str, Any]]:
        """Like ``items()``, with every key in lower case."""
        return ((lower, pair[1]) for lower, pair in self._store.items())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return dict(self.lower_items()) == dict(
            CaseInsensitiveDict(other).lower_items()
        )

    __hash__ = None  # type: ignore[assignment]

    def copy(self) -> CaseInsensitiveDict:
        return CaseInsensitiveDict(self._store.values())

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class HTTPResponse:
    """A response's status line and headers, from :meth:`HTTPConnection.read_response`.

    The body is read from the connection.  ``length`` is the number of body
    bytes that will follow: 0 for responses without a body (to HEAD, 1xx,
    204, 304), the Content-Length, or None when the server did not say
    (chunked, or until the connection closes).
    """

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        reason: str,
        headers: CaseInsensitiveDict,
        length: int | None = None,
    ) -> None:
        #: The method of the request this answers.
        self.method = method
        #: The path of the request this answers.
        self.path = path
        #: The status code.
        self.status = status
        #: The reason phrase.
        self.reason = reason
        #: The headers, a :class:`CaseInsensitiveDict`; repeated fields are
        #: joined with ", ".
        self.headers = headers
        #: How many body bytes follow, or None if not known in advance.
        self.length = length

    def __repr__(self) -> str:
        return "<HTTPResponse %d %s for %s %s>" % (
            self.status,
            self.reason,
            self.method,
            self.path,
        )


def _join(parts: list[bytes | bytearray]) -> bytes:
    """The concatenation of ``parts``."""
    return b"".join(parts)


# -- running coroutines ----------------------------------------------------------------


def eval_coroutine(crt: Coroutine[T], timeout: float | None = None) -> T:
    """Run a ``co_`` coroutine to its end, blocking on each :class:`PollNeeded`.

    Raises :exc:`ConnectionTimedOut` when one wait takes longer than
    ``timeout`` seconds; the coroutine is closed then.
    """
    try:
        request = next(crt)
        while True:
            if not request.poll(timeout):
                crt.close()
                raise ConnectionTimedOut()
            request = crt.send(None)
    except StopIteration as stop:
        return stop.value


class _Watchers:
    """The futures of one event loop waiting on each file descriptor.

    asyncio allows one reader and one writer callback per descriptor, so the
    futures waiting on the same one share them, and a connection that closes
    its socket can wake whoever waits on it (see :func:`_close_socket`).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.readers: dict[int, set[AioFuture]] = {}
        self.writers: dict[int, set[AioFuture]] = {}

    def add(self, fd: int, mask: int, future: AioFuture) -> None:
        if mask & POLLIN:
            self._add(self.readers, fd, future, self.loop.add_reader)
        if mask & POLLOUT:
            self._add(self.writers, fd, future, self.loop.add_writer)

    def _add(
        self,
        table: dict[int, set[AioFuture]],
        fd: int,
        future: AioFuture,
        register: Any,
    ) -> None:
        waiting = table.get(fd)
        if waiting is None:
            waiting = table[fd] = set()
            register(fd, self.fire, fd)
        waiting.add(future)

    def remove(self, fd: int, future: AioFuture) -> None:
        for table, unregister in (
            (self.readers, self.loop.remove_reader),
            (self.writers, self.loop.remove_writer),
        ):
            waiting = table.get(fd)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    del table[fd]
                    unregister(fd)
        if not self.readers and not self.writers:
            _WATCHERS.pop(self.loop, None)

    def fire(self, fd: int) -> None:
        """Resume every future waiting on ``fd``."""
        woken = self.readers.get(fd, set()) | self.writers.get(fd, set())
        for future in woken:
            future._step()

    def release(self, fd: int) -> None:
        """Stop watching ``fd``, which is about to be closed, and resume its
        futures on the next loop iteration."""
        woken = self.readers.get(fd, set()) | self.writers.get(fd, set())
        for future in woken:
            self.remove(fd, future)
            future._fd = -1
            self.loop.call_soon(future._step)


_WATCHERS: dict[asyncio.AbstractEventLoop, _Watchers] = {}
_WATCHERS_LOCK = threading.Lock()


def _close_socket(sock: socket.socket) -> None:
    """Close ``sock``, once no event loop watches it any more.

    The futures waiting on it are resumed, to find the connection closed
    instead of waiting for ever.  A loop must never watch a closed descriptor
    (uvloop aborts the process), so when a loop running in another thread
    watches this one, that loop lets go of it and closes it, in its thread.
    """
    fd = sock.fileno()
    with _WATCHERS_LOCK:
        affected = [w for w in _WATCHERS.values() if fd in w.readers or fd in w.writers]
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    elsewhere = []
    for watchers in affected:
        if watchers.loop is running or not watchers.loop.is_running():
            with _WATCHERS_LOCK:
                watchers.release(fd)
        else:
            elsewhere.append(watchers)
    if not elsewhere:
        _close_now(sock)
        return
    left = [len(elsewhere)]

    def release(watchers: _Watchers) -> None:
        with _WATCHERS_LOCK:
            watchers.release(fd)
            left[0] -= 1
            last = not left[0]
        if last:
            _close_now(sock)

    for watchers in elsewhere:
        watchers.loop.call_soon_threadsafe(release, watchers)


def _close_now(sock: socket.socket) -> None:
    if isinstance(sock, ssl.SSLSocket):
        _send_close_notify(sock)
    sock.close()


class AioFuture(asyncio.Future[Any]):
    """An asyncio future that runs a ``co_`` coroutine on the event loop.

    Each :class:`PollNeeded` the coroutine yields becomes a reader or writer
    callback on the loop, which resumes it; the coroutine's return value or
    exception becomes the future's.  Cancelling the future closes the
    coroutine.
    """

    def __init__(
        self, crt: Coroutine[Any], loop: asyncio.AbstractEventLoop | None = None
    ):
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = asyncio.get_event_loop_policy().get_event_loop()
        super().__init__(loop=loop)
        self._crt = crt
        self._fd = -1
        loop.call_soon(self._step)

    def _step(self) -> None:
        self._unwatch()
        if self.done():
            return
        try:
            request = self._crt.send(None)
        except StopIteration as stop:
            self.set_result(stop.value)
            return
        except (KeyboardInterrupt, SystemExit) as exc:
            self.set_exception(exc)
            raise
        except BaseException as exc:
            self.set_exception(exc)
            return
        if not isinstance(request, PollNeeded):
            self._crt.close()
            self.set_exception(
                TypeError("a co_ coroutine yielded %r, not a PollNeeded" % (request,))
            )
            return
        loop = self.get_loop()
        with _WATCHERS_LOCK:
            watchers = _WATCHERS.get(loop)
            if watchers is None:
                watchers = _WATCHERS[loop] = _Watchers(loop)
            watchers.add(request.fd, request.mask, self)
        self._fd = request.fd

    def _unwatch(self) -> None:
        if self._fd >= 0:
            with _WATCHERS_LOCK:
                watchers = _WATCHERS.get(self.get_loop())
                if watchers is not None:
                    watchers.remove(self._fd, self)
            self._fd = -1

    def cancel(self, msg: Any = None) -> bool:
        if self.done():
            return False
        self._unwatch()
        self._crt.close()
        return super().cancel(msg)


# -- the connection --------------------------------------------------------------------


class _Buffer:
    """The read buffer: bytes ``d[b:e]`` are received and not yet used.

    Its capacity never changes; assign ``HTTPConnection._rbuf = _Buffer(n)``
    for another size (at least the longest chunk-size line or trailer the
    server may send).
    """

    __slots__ = ("d", "b", "e")

    def __init__(self, size: int) -> None:
        self.d = bytearray(size)
        self.b = 0
        self.e = 0

    def __len__(self) -> int:
        return self.e - self.b

    def compact(self) -> None:
        """Move the unread bytes to the start, making room at the end."""
        if self.b:
            size = self.e - self.b
            self.d[:size] = self.d[self.b : self.e]
            self.b = 0
            self.e = size

    def clear(self) -> None:
        self.b = self.e = 0


class _Request:
    """A request sent (or being sent) whose response is not read yet."""

    __slots__ = ("method", "path", "body_left", "chunked", "awaiting_100")

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path
        # Body bytes the caller still owes through write(); -1 for a chunked
        # body not yet ended.
        self.body_left = 0
        self.chunked = False
        # Expect: 100-continue sent, and neither 100 nor a final status read.
        self.awaiting_100 = False


class _Body:
    """How the body of the response being read ends, and how far it got."""

    __slots__ = ("kind", "left", "decoder", "pieces")

    def __init__(self, kind: str, left: int = 0, strict: bool = False) -> None:
        self.kind = kind
        self.left = left
        self.decoder = (
            _framing.ChunkedDecoder(strict=strict) if kind == _framing.CHUNKED else None
        )
        # Decoded chunked data not yet returned.
        self.pieces: deque[bytes] = deque()


class _Joined:
    """The framing rules' view of a :class:`CaseInsensitiveDict` whose
    repeated fields were joined with ", " (they split them again)."""

    __slots__ = ("_headers",)

    def __init__(self, headers: CaseInsensitiveDict) -> None:
        self._headers = headers

    def get(self, name: str, /) -> list[str] | None:
        value = self._headers.get(name)
        return None if value is None else [value]


# Kinds of body besides the framing module's: a body without length on a
# connection the server keeps open, and one that failed half-way.
_UNDELIMITED = "undelimited"
_FAILED = _Body("failed")
# readall() reads a body of known length up to this size straight into its
# result; a larger announced length is not trusted with one allocation.
_PREALLOCATE = 16 * 1024 * 1024


class HTTPConnection:
    """A connection to one HTTP server, over which requests are pipelined.

    Requests go out with :meth:`send_request` (and :meth:`write` for a body
    that follows); responses come back, in order, with :meth:`read_response`
    and one of :meth:`read`, :meth:`readinto`, :meth:`readall` or
    :meth:`discard`.  The connection is opened by the first request, or by
    :meth:`connect`, and closed by :meth:`disconnect` or at the end of a
    ``with`` block.

    ``ssl_context`` makes it HTTPS; ``proxy=(host, port)`` goes through an
    HTTP proxy (a ``CONNECT`` tunnel for HTTPS).
    """

    #: The proxy, as ``(hostname, port)``, or None.
    proxy: tuple[str, int] | None = None
    #: Seconds a blocking method may wait for the socket before it raises
    #: :exc:`ConnectionTimedOut` (None: no limit).  ``co_`` methods do not wait.
    timeout: float | None = None
    #: A binary file that gets a copy of every byte sent and received.
    trace_fh: BinaryIO | None = None
    #: Refuse responses that RFC 9112 lets a client accept but need not:
    #: bare LF line ends, a repeated Content-Length, chunked HTTP/1.0
    #: responses, whitespace in chunk extensions (a tornado_compat
    #: extension; see docs/server.md, "Strict framing").
    strict: bool = False

    def __init__(
        self,
        hostname: str,
        port: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        proxy: tuple[str, int] | None = None,
    ) -> None:
        self.hostname = hostname
        self.ssl_context = ssl_context
        self.port = port if port is not None else (443 if ssl_context else 80)
        self._port_given = port is not None
        self.proxy = proxy
        self._sock: socket.socket | None = None
        self._tls = False
        # Held around each TLS read or write: OpenSSL must not run one
        # connection's read and write at the same time (the sender and reader
        # threads of the thread split).
        self._tls_lock = threading.Lock()
        self._rbuf = _Buffer(BUFFER_SIZE)
        # A response head read in part, kept here so that a read abandoned
        # half-way (a timeout) can be taken up again.
        self._head_acc = bytearray()
        self._pending: deque[_Request] = deque()
        # The request whose body write() still has to send.
        self._out: _Request | None = None
        # The response whose body is being read.
        self._in: _Body | None = None
        # Why no further response will come (the server said or did close, or
        # the stream is out of step); sending after that goes nowhere.
        self._no_more: tuple[type[_Error], str] | None = None
        # Why sending failed (the server is gone); sending after that raises.
        self._send_error: str | None = None

    # -- context manager and file-like bits -------------------------------------------

    def __enter__(self) -> HTTPConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    @property
    def closed(self) -> bool:
        """Whether the connection is closed (for ``io`` wrappers such as
        ``TextIOWrapper``, which read response bodies with :meth:`read1`)."""
        return self._sock is None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        """Same as :meth:`disconnect`: what an ``io`` wrapper calls when it is
        closed."""
        self.disconnect()

    def flush(self) -> None:
        """Nothing to do (for ``io`` wrappers): writes are never buffered."""

    # -- connecting --------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection; :meth:`send_request` does it when needed.

        This blocks: for the name lookup, and up to :attr:`timeout` for each
        of the TCP connection, the proxy tunnel and the TLS handshake.
        """
        self.disconnect()
        if self.proxy is not None:
            host, port = self.proxy
        else:
            host, port = self.hostname, self.port
        sock = self._open(host, port)
        try:
            if self.proxy is not None and self.ssl_context:
                sock.setblocking(False)
                self._sock = sock
                eval_coroutine(self._co_tunnel(), self.timeout)
                self._sock = None
            if self.ssl_context:
                sock.settimeout(self.timeout)
                try:
                    sock = self.ssl_context.wrap_socket(
                        sock, server_hostname=self.hostname
                    )
                except TimeoutError:
                    raise ConnectionTimedOut("TLS handshake timed out") from None
                self._tls = True
            sock.setblocking(False)
        except BaseException:
            self._sock = None
            sock.close()
            raise
        self._sock = sock

    def _open(self, host: str, port: int) -> socket.socket:
        """A TCP connection to ``host``, with name errors classified."""
        try:
            addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, socket.herror) as exc:
            raise _classify_name_error(host, exc) from exc
        error: Exception | None = None
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(address)
                return sock
            except TimeoutError:
                sock.close()
                error = ConnectionTimedOut(
                    "connecting to %s:%d timed out" % (host, port)
                )
            except OSError as exc:
                sock.close()
                error = exc
        assert error is not None
        raise error

    def _co_tunnel(self) -> Coroutine[None]:
        """Ask the proxy for a tunnel to the server (``CONNECT``)."""
        authority = _authority(self.hostname, self.port, True)
        yield from self._co_send(
            [join_head([f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"])]
        )
        version, status, reason, _ = self._parse(
            (yield from self._co_read_head()), "The proxy's"
        )
        if not 200 <= status < 300:
            raise OSError("Tunnel connection failed: %d %s" % (status, reason))
        if len(self._rbuf):
            raise InvalidResponse("The proxy sent data after its CONNECT response")

    def disconnect(self) -> None:
        """Close the connection.  Responses not read yet are lost; the next
        request opens a new connection."""
        sock = self._sock
        if sock is not None:
            self._sock = None
            _close_socket(sock)
        self._tls = False
        self._rbuf.clear()
        self._head_acc.clear()
        self._pending.clear()
        self._out = None
        self._in = None
        self._no_more = None
        self._send_error = None

    def reset(self) -> None:
        """Forget the connection and everything pending on it, after an
        error; the same as :meth:`disconnect`."""
        self.disconnect()

    def get_ssl_cipher(self) -> tuple[str, str, int] | None:
        """The TLS cipher in use (``SSLSocket.cipher()``); None for plain HTTP."""
        if not self._tls or self._sock is None:
            return None
        return self._sock.cipher()  # type: ignore[attr-defined]

    def get_ssl_peercert(self, binary_form: bool = False) -> Any:
        """The server's certificate (``SSLSocket.getpeercert()``); None for
        plain HTTP."""
        if not self._tls or self._sock is None:
            return None
        return self._sock.getpeercert(binary_form)  # type: ignore[attr-defined]

    def response_pending(self) -> bool:
        """Whether some response, or the rest of one, is still to be read."""
        return bool(self._pending)

    # -- sending -----------------------------------------------------------------------

    def send_request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, Any] | None = None,
        body: bytes | bytearray | memoryview | BodyFollowing | None = None,
        expect100: bool = False,
    ) -> None:
        """Send a request; see :meth:`co_send_request`.  This may block."""
        eval_coroutine(
            self.co_send_request(method, path, headers, body, expect100), self.timeout
        )

    def co_send_request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, Any] | None = None,
        body: bytes | bytearray | memoryview | BodyFollowing | None = None,
        expect100: bool = False,
    ) -> Coroutine[None]:
        """Send a request (a coroutine; :meth:`send_request` blocks instead).

        ``body`` is bytes-like (a Content-MD5 header is added unless
        ``headers`` has one), or a :class:`BodyFollowing` whose data then goes
        out with :meth:`write`: ``length`` bytes of it, or chunked encoding
        when the length is None (end it with ``write(b"")``).  With
        ``expect100``, ``body`` must be a :class:`BodyFollowing`: the request
        says ``Expect: 100-continue``, and :meth:`read_response` returns the
        100 response (or the final one, if the server refused) before any
        body is written.

        Once the server has said it will close the connection, a request goes
        nowhere, and :meth:`read_response` raises :exc:`ConnectionClosed` for
        it, as for every request pipelined behind the last response.
        """
        if self._out is not None:
            raise StateError("the body of the previous request is not complete")
        if self._send_error is not None:
            raise ConnectionClosed(self._send_error)
        fields = (
            CaseInsensitiveDict(headers)
            if headers is not None
            else CaseInsensitiveDict()
        )
        request = _Request(method, path)
        data: memoryview | None = None
        if isinstance(body, BodyFollowing):
            if body.length is None:
                fields["Transfer-Encoding"] = "chunked"
                request.chunked = True
                request.body_left = -1
            else:
                fields["Content-Length"] = str(body.length)
                request.body_left = body.length
            if expect100:
                fields["Expect"] = "100-continue"
                request.awaiting_100 = True
        elif expect100:
            raise ValueError("expect100 needs body=BodyFollowing(...)")
        elif body is None:
            fields["Content-Length"] = "0"
        else:
            data = memoryview(body).cast("B")
            fields["Content-Length"] = str(len(data))
            if "Content-MD5" not in fields:
                digest = hashlib.md5(data, usedforsecurity=False).digest()
                fields["Content-MD5"] = b64encode(digest).decode("ascii")
        parts: list[bytes | memoryview] = [
            join_head(self._request_lines(method, path, fields))
        ]
        if data:
            parts.append(data)
        if self._sock is None:
            self.connect()
        self._pending.append(request)
        if request.body_left:
            self._out = request
        yield from self._co_send(parts, request)

    def _request_lines(
        self, method: str, path: str, fields: CaseInsensitiveDict
    ) -> list[str]:
        """The start line and header lines of a request."""
        if not _METHOD(method):
            raise ValueError("invalid method %r" % method)
        if not path or _BAD_TARGET(path):
            raise ValueError("invalid path %r" % path)
        authority = _authority(self.hostname, self.port, self._port_given)
        if self.proxy is not None and not self.ssl_context:
            # A plain proxy is sent the absolute form (RFC 9112 section 3.2.2).
            path = "http://" + authority + path
        lines = [f"{method} {path} HTTP/1.1"]
        if "Host" not in fields:
            lines.append("Host: " + authority)
        if "Accept-Encoding" not in fields:
            # The body is handed over as it arrives, so only identity will do.
            lines.append("Accept-Encoding: identity")
        lines.extend(f"{name}: {value}" for name, value in fields.items())
        return lines

    def write(self, buf: bytes | bytearray | memoryview) -> None:
        """Send request body data; see :meth:`co_write`.  This may block."""
        eval_coroutine(self.co_write(buf), self.timeout)

    def co_write(self, buf: bytes | bytearray | memoryview) -> Coroutine[None]:
        """Send body data of the current request (a coroutine; :meth:`write`
        blocks instead).

        Raises :exc:`ExcessBodyData` (sending nothing) for data past the
        announced length, and :exc:`StateError` when no body is expected or
        the request still waits for ``100 Continue``.  For a chunked body,
        ``buf`` of length 0 ends it.
        """
        if self._sock is None:
            raise ConnectionClosed("connection has been closed locally")
        request = self._out
        if request is None:
            raise StateError("no request body is expected")
        if request.awaiting_100:
            raise StateError("the server has not answered 100 Continue yet")
        data = memoryview(buf).cast("B")
        size = len(data)
        if request.chunked:
            if size:
                yield from self._co_send([b"%x\r\n" % size, data, b"\r\n"])
                return
            yield from self._co_send([LAST_CHUNK])
        else:
            if size > request.body_left:
                raise ExcessBodyData(
                    "%d bytes written, but only %d more were announced"
                    % (size, request.body_left)
                )
            if not size:
                return
            yield from self._co_send([data])
            request.body_left -= size
            if request.body_left:
                return
        request.body_left = 0
        if self._out is request:
            self._out = None

    def _co_send(
        self, parts: list[bytes | memoryview], request: _Request | None = None
    ) -> Coroutine[None]:
        """Send ``parts`` in order.

        A send abandoned half-way (a timeout, or the coroutine closed) leaves
        part of a message on the wire, so the connection is closed then; a
        new ``request`` abandoned before a byte went out is taken back.
        """
        if self._send_error is not None:
            raise ConnectionClosed(self._send_error)
        if self._no_more is not None:
            # The server will not read this; read_response says so.
            return
        if len(parts) > 1 and sum(map(len, parts)) <= _COALESCE:
            parts = [b"".join(parts)]
        sent_any = done = False
        try:
            for part in parts:
                view = memoryview(part)
                pos = 0
                while pos < len(view):
                    try:
                        n = yield from self._co_socket("send", view[pos:], POLLOUT)
                    except _GONE as exc:
                        self._send_failed("connection closed by server: %s" % exc)
                        raise ConnectionClosed(self._send_error) from exc
                    if self.trace_fh is not None:
                        self.trace_fh.write(view[pos : pos + n])
                    pos += n
                    sent_any = True
            done = True
        finally:
            if not done and self._sock is not None and self._send_error is None:
                if sent_any:
                    self.disconnect()
                elif (
                    request is not None
                    and self._pending
                    and self._pending[-1] is request
                ):
                    self._pending.pop()
                    if self._out is request:
                        self._out = None

    def _send_failed(self, reason: str) -> None:
        """The server stopped reading: no more sending, and no body owed;
        what it answered before may still be read."""
        self._send_error = reason
        if self._out is not None:
            self._out.body_left = 0
            self._out.awaiting_100 = False
            self._out = None

    # -- receiving ---------------------------------------------------------------------

    def _co_socket(
        self, method: str, data: memoryview, direction: int
    ) -> Coroutine[int]:
        """``sock.send(data)`` or ``sock.recv_into(data)`` on the non-blocking
        socket, as soon as it can go through; until then, yield what it waits
        for (``direction``, or the other one when TLS needs it)."""
        while True:
            sock = self._sock
            if sock is None:
                raise ConnectionClosed("connection has been closed locally")
            try:
                if self._tls:
                    with self._tls_lock:
                        return getattr(sock, method)(data)
                return getattr(sock, method)(data)
            except _WOULD_BLOCK:
                mask = direction
            except ssl.SSLWantReadError:
                mask = POLLIN
            except ssl.SSLWantWriteError:
                mask = POLLOUT
            fd = sock.fileno()
            if fd < 0:
                raise ConnectionClosed("connection has been closed locally")
            yield PollNeeded(fd, mask)

    def _co_recv_into(self, target: memoryview) -> Coroutine[int]:
        """Receive once into ``target``: the number of bytes, 0 at the end of
        the stream."""
        try:
            n = yield from self._co_socket("recv_into", target, POLLIN)
        except ssl.SSLEOFError:
            # Closed without close_notify: OpenSSL 3 reports it as an error;
            # it is the end of the stream that suppress_ragged_eofs means.  A
            # body with a length or chunks must still be whole.
            return 0
        except _GONE as exc:
            raise self._fail(
                ConnectionClosed, "connection reset by server: %s" % exc
            ) from exc
        if self.trace_fh is not None:
            self.trace_fh.write(target[:n])
        return n

    def _co_recv(self) -> Coroutine[int]:
        """Receive once into the buffer; the number of bytes, 0 at the end of
        the stream."""
        rbuf = self._rbuf
        if rbuf.e == len(rbuf.d):
            rbuf.compact()
            if rbuf.e == len(rbuf.d):
                raise self._invalid(
                    "a chunk-size line or trailer does not fit the %d-byte read "
                    "buffer" % len(rbuf.d)
                )
        with memoryview(rbuf.d) as view:
            n = yield from self._co_recv_into(view[rbuf.e :])
        rbuf.e += n
        return n

    def _co_fill_buffer(self, len_: int) -> Coroutine[None]:
        """Receive until the buffer holds at least ``len_`` bytes.

        Not used here: dugong's own tests call it (with ``_rbuf``,
        ``_Buffer`` and ``_join``, the private names they touch)."""
        rbuf = self._rbuf
        if len_ > len(rbuf.d):
            raise ValueError(
                "cannot buffer %d bytes in a %d-byte buffer" % (len_, len(rbuf.d))
            )
        while len(rbuf) < len_:
            if len(rbuf.d) - rbuf.b < len_:
                rbuf.compact()
            if not (yield from self._co_recv()):
                raise self._fail(ConnectionClosed, "server closed the connection")

    def _stop(self, kind: type[_Error], reason: str) -> None:
        """No further response will be read: say why from now on."""
        if self._no_more is None:
            self._no_more = (kind, reason)

    def _fail(
        self,
        kind: type[_Error],
        reason: str,
        lasting: tuple[type[_Error], str] | None = None,
    ) -> _Error:
        """The error for a response that cannot be read to its end.  Nothing
        more is read after it: the body being read, and later responses,
        raise ``lasting`` (by default the same error)."""
        self._stop(*(lasting or (kind, reason)))
        if self._in is not None:
            self._in = _FAILED
        return kind(reason)

    def _invalid(self, reason: str, kind: type[_Error] = InvalidResponse) -> _Error:
        """The error for a response that is not valid HTTP: the stream is out
        of step from here on."""
        return self._fail(
            kind,
            reason,
            (
                StateError,
                "an earlier response could not be read (%s); call "
                "disconnect()" % reason,
            ),
        )

    def _co_read_head(self) -> Coroutine[bytes]:
        """The next message head, taken from the buffer."""
        rbuf = self._rbuf
        acc = self._head_acc
        limit = MAX_LINE_SIZE + MAX_HEADER_SIZE + 4
        while True:
            d, b, e = rbuf.d, rbuf.b, rbuf.e
            if b < e:
                if not acc:
                    # Empty lines before a head are skipped, as the server
                    # and the simple client do.
                    b = rbuf.b = min(_head.skip_line_ends(d, b, self.strict), e)
                    end = _head.find_head_end(d, b, e)
                    if end >= 0:
                        if end - b > limit:
                            raise self._invalid("response head too long")
                        head = bytes(d[b:end])
                        rbuf.b = end
                        return head
                    acc += d[b:e]
                else:
                    start = len(acc) - 2
                    acc += d[b:e]
                    end = _head.find_head_end(acc, start)
                    if end >= 0:
                        rbuf.b = e - (len(acc) - end)
                        head = bytes(acc[:end])
                        acc.clear()
                        if len(head) > limit:
                            raise self._invalid("response head too long")
                        return head
                rbuf.clear()
                if len(acc) > limit:
                    acc.clear()
                    raise self._invalid("response head too long")
            if not (yield from self._co_recv()):
                what = (
                    "in the middle of a response head"
                    if acc
                    else "instead of a response"
                )
                acc.clear()
                raise self._fail(
                    ConnectionClosed, "server closed the connection " + what
                )

    def _parse(
        self, head: bytes, whose: str = "Server's"
    ) -> tuple[str, int, str, CaseInsensitiveDict]:
        """The version, status, reason and headers of a response head."""
        try:
            version, status, reason, fields = _head.parse_response_head(
                head, self.strict
            )
        except RemoteProtocolError as exc:
            kind = (
                UnsupportedResponse
                if exc.status == VERSION_NOT_SUPPORTED
                else InvalidResponse
            )
            raise self._invalid("%s response head: %s" % (whose, exc), kind) from None
        line_end = head.find(b"\n")
        if line_end > MAX_LINE_SIZE + 1:
            raise self._invalid("status line longer than %d bytes" % MAX_LINE_SIZE)
        if len(head) - line_end > MAX_HEADER_SIZE + 3:
            raise self._invalid(
                "response headers longer than %d bytes" % MAX_HEADER_SIZE
            )
        headers = CaseInsensitiveDict()
        for name, value in fields:
            if name in headers:
                value = headers[name] + ", " + value
            headers[name] = value
        return version, status, reason, headers

    def read_response(self) -> HTTPResponse:
        """Read the next response's status and headers; see
        :meth:`co_read_response`.  This may block."""
        return eval_coroutine(self.co_read_response(), self.timeout)

    def co_read_response(self) -> Coroutine[HTTPResponse]:
        """Read the status line and headers of the next response (a coroutine;
        :meth:`read_response` blocks instead).

        The body is read with :meth:`read`, :meth:`readinto`, :meth:`readall`
        or :meth:`discard`.  Interim 1xx responses are skipped, except the
        ``100 Continue`` a request with ``expect100`` waits for.
        """
        if self._sock is None:
            raise ConnectionClosed("connection has been closed locally")
        if self._in is not None and self._in is not _FAILED:
            raise StateError("the body of the previous response has not been read")
        if not self._pending:
            raise StateError("no response pending")
        if self._no_more is not None:
            kind, reason = self._no_more
            raise kind(reason)
        request = self._pending[0]
        if request.body_left and not request.awaiting_100:
            raise StateError("the body of the request has not been sent completely")
        interim = 0
        while True:
            head = yield from self._co_read_head()
            version, status, reason, headers = self._parse(head)
            fields = _Joined(headers)
            try:
                framing = _framing.response_framing(
                    request.method, status, fields, self.strict, version
                )
                keep = _framing.keep_alive(
                    version, fields, _framing.KEEP_ALIVE_CANDIDATE
                )
            except RemoteProtocolError as exc:
                raise self._invalid(str(exc)) from None
            if status >= 200:
                break
            if status == 101:
                raise self._invalid(
                    "the server switched protocols", UnsupportedResponse
                )
            if status == 100 and request.awaiting_100:
                request.awaiting_100 = False
                return HTTPResponse(
                    request.method, request.path, 100, reason, headers, 0
                )
            interim += 1
            if interim > _framing.MAX_INTERIM_RESPONSES:
                raise self._invalid("too many informational responses")
        if request.awaiting_100:
            # Refused before the body: it is not sent, and not owed.
            request.awaiting_100 = False
            request.body_left = 0
            if self._out is request:
                self._out = None
        body_kind = framing.kind
        if body_kind == _framing.UNTIL_CLOSE and keep:
            # No length, yet the server keeps the connection open: where this
            # body ends cannot be known.
            body_kind = _UNDELIMITED
        elif not keep:
            self._stop(ConnectionClosed, "server closed the connection")
        length: int | None = None
        if body_kind == _framing.LENGTH:
            length = framing.length
        elif body_kind == _framing.NO_BODY:
            length = 0
        if length == 0:
            self._pending.popleft()
        else:
            self._in = _Body(body_kind, framing.length, self.strict)
        return HTTPResponse(
            request.method, request.path, status, reason, headers, length
        )

    def _current_body(self) -> _Body | None:
        """The body being read, or None when there is none to read (then
        reads return nothing)."""
        if self._sock is None:
            raise ConnectionClosed("connection has been closed locally")
        body = self._in
        if body is None:
            return None
        if body is _FAILED:
            assert self._no_more is not None
            kind, reason = self._no_more
            raise kind(reason)
        if body.kind == _UNDELIMITED:
            raise UnsupportedResponse(
                "the response has no Content-Length and is not chunked, and the "
                "server did not say it would close the connection"
            )
        return body

    def _co_chunks(self, body: _Body) -> Coroutine[bool]:
        """Decode chunked data until some is there; False at the end."""
        decoder = body.decoder
        assert decoder is not None
        rbuf = self._rbuf
        while not body.pieces:
            if decoder.done:
                self._body_done()
                return False
            if rbuf.b < rbuf.e:
                try:
                    pieces, used = decoder.decode(rbuf.d, rbuf.b, end=rbuf.e)
                except RemoteProtocolError as exc:
                    raise self._invalid("invalid chunked body: %s" % exc) from None
                rbuf.b += used
                if rbuf.b == rbuf.e:
                    rbuf.clear()
                body.pieces.extend(piece for piece in pieces if piece)
                if body.pieces or decoder.done:
                    continue
            if not (yield from self._co_recv()):
                raise self._fail(
                    ConnectionClosed,
                    "server closed the connection in the middle of a chunked body",
                )
        return True

    def _at_eof(self, body: _Body) -> None:
        """The stream ended while ``body`` was read: its end, or an error."""
        if body.kind != _framing.UNTIL_CLOSE:
            raise self._fail(
                ConnectionClosed,
                "server closed the connection %d bytes before the end of the body"
                % body.left,
            )
        self._body_done()

    def _body_done(self) -> None:
        self._in = None
        self._pending.popleft()

    def _consumed(self, body: _Body, n: int) -> None:
        if body.kind == _framing.LENGTH:
            body.left -= n
            if not body.left:
                self._body_done()

    def _want(self, body: _Body, size: int) -> int:
        return min(size, body.left) if body.kind == _framing.LENGTH else size

    def read(self, len_: int | None = None) -> bytes:
        """Up to ``len_`` bytes of the response body (all of it when None);
        ``b""`` only when the body is complete.  This may block."""
        if len_ is None:
            return self.readall()
        return eval_coroutine(self._co_read(len_, False), self.timeout)  # type: ignore[return-value]

    def read1(self, len_: int = -1) -> bytes:
        """:meth:`read` with ``-1`` for "all", for ``io`` wrappers."""
        return self.read(None if len_ < 0 else len_)

    def co_read(self, len_: int | None = None) -> Coroutine[bytes | bytearray]:
        """Up to ``len_`` bytes of the response body, or all of it when None (a
        coroutine; :meth:`read` blocks instead).  It returns less only when
        no more was available, and ``b""`` only when the body is complete.
        The object returned is the caller's own."""
        if len_ is None:
            return (yield from self.co_readall())
        return (yield from self._co_read(len_, True))

    def _co_read(self, len_: int, mutable: bool) -> Coroutine[bytes | bytearray]:
        if len_ < 0:
            raise ValueError("len_ must not be negative")
        body = self._current_body()
        if body is None or not len_:
            return b""
        if body.kind == _framing.CHUNKED:
            if not (yield from self._co_chunks(body)):
                return b""
            return self._take_pieces(body, len_)
        want = self._want(body, len_)
        rbuf = self._rbuf
        if rbuf.b == rbuf.e:
            rbuf.clear()
            if want >= len(rbuf.d):
                # A large read bypasses the buffer: one copy fewer.
                data = bytearray(want)
                with memoryview(data) as view:
                    n = yield from self._co_recv_into(view)
                if not n:
                    self._at_eof(body)
                    return b""
                del data[n:]
                self._consumed(body, n)
                return data if mutable else bytes(data)
            if not (yield from self._co_recv()):
                self._at_eof(body)
                return b""
        n = min(want, rbuf.e - rbuf.b)
        with memoryview(rbuf.d) as view:
            piece = view[rbuf.b : rbuf.b + n]
            taken = bytearray(piece) if mutable else bytes(piece)
        rbuf.b += n
        if rbuf.b == rbuf.e:
            rbuf.clear()
        self._consumed(body, n)
        return taken

    def readinto(self, buf: Any) -> int:
        """Read body data into ``buf``; see :meth:`co_readinto`.  This may block."""
        return eval_coroutine(self.co_readinto(buf), self.timeout)

    def co_readinto(self, buf: Any) -> Coroutine[int]:
        """Read response body data into ``buf``, which may be any writable
        buffer (a coroutine; :meth:`readinto` blocks instead).  Returns the
        number of bytes written, 0 only when the body is complete."""
        with memoryview(buf) as target:
            out = target.cast("B")
            body = self._current_body()
            if body is None or not len(out):
                return 0
            if body.kind == _framing.CHUNKED:
                if not (yield from self._co_chunks(body)):
                    return 0
                data = self._take_pieces(body, len(out))
                out[: len(data)] = data
                return len(data)
            want = self._want(body, len(out))
            rbuf = self._rbuf
            if rbuf.b == rbuf.e:
                rbuf.clear()
                if want >= len(rbuf.d):
                    n = yield from self._co_recv_into(out[:want])
                    if not n:
                        self._at_eof(body)
                        return 0
                    self._consumed(body, n)
                    return n
                if not (yield from self._co_recv()):
                    self._at_eof(body)
                    return 0
            n = min(want, rbuf.e - rbuf.b)
            out[:n] = rbuf.d[rbuf.b : rbuf.b + n]
            rbuf.b += n
            if rbuf.b == rbuf.e:
                rbuf.clear()
            self._consumed(body, n)
            return n

    def readall(self) -> bytes:
        """The rest of the response body.  This may block."""
        return eval_coroutine(self.co_readall(), self.timeout)

    def co_readall(self) -> Coroutine[bytes]:
        """The rest of the response body (a coroutine; :meth:`readall` blocks
        instead)."""
        body = self._current_body()
        if (
            body is not None
            and body.kind == _framing.LENGTH
            and body.left <= _PREALLOCATE
        ):
            # The size is known: read straight into the result.
            data = bytearray(body.left)
            with memoryview(data) as view:
                pos = 0
                while pos < len(data):
                    n = yield from self.co_readinto(view[pos:])
                    if not n:
                        break
                    pos += n
            del data[pos:]
            return bytes(data)
        parts: list[bytes | bytearray] = []
        while True:
            part = yield from self._co_read(BUFFER_SIZE, False)
            if not part:
                return _join(parts)
            parts.append(part)

    def discard(self) -> None:
        """Read and drop the rest of the response body.  This may block."""
        eval_coroutine(self.co_discard(), self.timeout)

    def co_discard(self) -> Coroutine[None]:
        """Read and drop the rest of the response body (a coroutine;
        :meth:`discard` blocks instead)."""
        while (yield from self._co_read(BUFFER_SIZE, False)):
            pass

    def _take_pieces(self, body: _Body, size: int) -> bytes:
        """Up to ``size`` bytes of decoded chunked data."""
        pieces = body.pieces
        first = pieces[0]
        if len(first) > size:
            pieces[0] = first[size:]
            return first[:size]
        out = [pieces.popleft()]
        size -= len(first)
        while pieces and len(pieces[0]) <= size:
            size -= len(pieces[0])
            out.append(pieces.popleft())
        return out[0] if len(out) == 1 else b"".join(out)

    def read_raw(self, size: int) -> bytes:
        """Up to ``size`` bytes as received, uninterpreted: for looking at
        what a server sent after :exc:`InvalidResponse` or
        :exc:`UnsupportedResponse`.  Blocks until data comes, and returns
        ``b""`` once the server has closed.  The connection cannot be used
        for requests afterwards; disconnect it."""
        sock = self._sock
        if sock is None:
            raise ConnectionClosed("connection has been closed locally")
        self._stop(StateError, "read_raw() was used; call disconnect()")
        self._in = _FAILED
        rbuf = self._rbuf
        if rbuf.b < rbuf.e:
            n = min(size, rbuf.e - rbuf.b)
            data = bytes(rbuf.d[rbuf.b : rbuf.b + n])
            rbuf.b += n
            return data
        sock.settimeout(self.timeout)
        try:
            return sock.recv(size)
        except TimeoutError:
            raise ConnectionTimedOut() from None


def _send_close_notify(sock: ssl.SSLSocket) -> None:
    """Tell the server, without waiting for its answer, that we close (RFC
    8446 section 6.1); a peer that sees the TCP close alone reports an
    unexpected EOF."""
    try:
        sock.setblocking(False)
        sock.unwrap()
    except (OSError, ValueError):
        # Would block (its close_notify is not there yet), or it is gone.
        pass


def _authority(host: str, port: int, with_port: bool) -> str:
    """``host[:port]`` as in a Host header or CONNECT target."""
    if ":" in host and not host.startswith("["):
        host = "[" + host + "]"
    return f"{host}:{port}" if with_port else host


def _resolves(host: str, port: int) -> bool:
    try:
        socket.getaddrinfo(host, port)
    except (socket.gaierror, socket.herror):
        return False
    return True


def _classify_name_error(host: str, exc: OSError) -> Exception:
    """:exc:`HostnameNotResolvable` or :exc:`DNSUnavailable` for a failed
    lookup of ``host``, by whether the names of :data:`DNS_TEST_HOSTNAMES`
    resolve; other errors are returned as they are."""
    if exc.errno == getattr(socket, "EAI_AGAIN", None):
        return DNSUnavailable(host)
    if exc.errno not in _NAME_ERRORS:
        return exc
    if any(_resolves(name, port) for name, port in DNS_TEST_HOSTNAMES):
        return HostnameNotResolvable(host)
    return DNSUnavailable(host)
