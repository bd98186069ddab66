"""Socket helpers under the servers and clients: binding, accepting, resolving, TLS.

The public API of ``tornado.netutil`` in Tornado 6.6:

* :func:`bind_sockets` and :func:`bind_unix_socket` create listening sockets;
* :func:`add_accept_handler` accepts connections on one from the IOLoop;
* :func:`is_valid_ip` tells an IP literal from a host name;
* :class:`Resolver` and its implementations turn a host name into addresses;
* :func:`ssl_options_to_context` and :func:`ssl_wrap_socket` turn Tornado's
  ``ssl_options`` (a dict or an :class:`ssl.SSLContext`) into TLS.

Tornado's own modules also read the private names ``_DEFAULT_BACKLOG``,
``_client_ssl_defaults`` and ``_server_ssl_defaults`` from here, so they are
part of the contract too.

This module must never block the event loop itself (name lookups go to the
loop's or an executor's threads, except in :class:`BlockingResolver`, whose
point is to block), must never create TLS contexts at import time (loading
the system certificate store can start threads, which makes a later
``fork_processes`` unsafe), and must never import Tornado's networking
modules, nor retry a failing ``accept`` at once (a listening socket stays
readable while descriptors are exhausted, so that would spin).
"""

from __future__ import annotations

import _socket
import asyncio
import concurrent.futures
import errno
import functools
import logging
import os
import socket
import ssl
import stat
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tornado.concurrent import dummy_executor, run_on_executor
from tornado.ioloop import IOLoop
from tornado.log import gen_log
from tornado.util import errno_from_exception

from tornado_compat.util import Configurable

__all__ = [
    "BlockingResolver",
    "DefaultExecutorResolver",
    "DefaultLoopResolver",
    "ExecutorResolver",
    "OverrideResolver",
    "Resolver",
    "ThreadedResolver",
    "add_accept_handler",
    "bind_sockets",
    "bind_unix_socket",
    "is_valid_ip",
    "ssl_options_to_context",
    "ssl_wrap_socket",
]

#: The ``listen()`` backlog used when none is given.  It also bounds how many
#: connections :func:`add_accept_handler` accepts per readiness event.
_DEFAULT_BACKLOG = 128

#: A resolved address: ``(family, sockaddr)`` with a sockaddr ready for
#: ``socket.connect``.
_ResolvedAddress = tuple[int, Any]

# A worker thread that encodes a host name for the first time imports the
# codec; if the main thread holds the import lock at that moment (a module
# that resolves a name while being imported), the two deadlock.  Encoding once
# here, on the importing thread, loads the codecs before any worker needs them.
"tornado-compat".encode("idna")
"tornado-compat".encode("latin1")


@functools.lru_cache(maxsize=1)
def _client_ssl_defaults() -> ssl.SSLContext:
    """The TLS context clients use when given no ``ssl_options``.

    Verifies the server's certificate and host name against the system store.
    Created on first use and shared afterwards.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    _refuse_compression(context)
    return context


@functools.lru_cache(maxsize=1)
def _server_ssl_defaults() -> ssl.SSLContext:
    """The base TLS context for servers: no client certificates requested.

    Created on first use and shared afterwards.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _refuse_compression(context)
    return context


def _refuse_compression(context: ssl.SSLContext) -> None:
    # TLS compression leaks secrets through ciphertext lengths (CRIME).  Recent
    # Pythons already disable it; saying so here keeps that true on any build.
    if hasattr(ssl, "OP_NO_COMPRESSION"):
        context.options |= ssl.OP_NO_COMPRESSION


# ---------------------------------------------------------------------------
# Listening sockets


def bind_sockets(
    port: int,
    address: str | None = None,
    family: socket.AddressFamily = socket.AF_UNSPEC,
    backlog: int = _DEFAULT_BACKLOG,
    flags: int | None = None,
    reuse_port: bool = False,
) -> list[socket.socket]:
    """Create non-blocking listening TCP sockets for ``address`` and ``port``.

    ``address`` may be an IP literal or a host name, in which case a socket
    is bound for every address it resolves to; ``None`` or ``""`` means all
    interfaces.  ``family`` (``AF_INET`` or ``AF_INET6``) restricts the
    addresses used; by default both families are.  ``backlog`` is passed to
    ``listen()``.  ``flags`` are the ``AI_*`` flags for ``getaddrinfo``
    (default ``AI_PASSIVE``).  ``reuse_port`` sets ``SO_REUSEPORT`` on every
    socket, and raises :class:`ValueError` where the platform lacks it.

    With ``port`` 0 the first socket gets a free port from the system and
    every other socket is bound to that same port, so an IPv4 and an IPv6
    socket answer on one number.  IPv6 sockets are IPv6-only, so that binding
    ``0.0.0.0`` and ``::`` side by side works on every platform.  If one bind
    fails, the sockets already bound are closed before the error propagates.
    """
    if reuse_port and not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("the platform doesn't support SO_REUSEPORT")
    host = address or None
    if family == socket.AF_UNSPEC and not socket.has_ipv6:
        # getaddrinfo still reports IPv6 addresses on a Python built without
        # IPv6 support, and every use of them would fail.
        family = socket.AF_INET
    if flags is None:
        flags = socket.AI_PASSIVE

    infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, flags)
    # IPv4 first, so that the port the system picks for port 0 is the IPv4
    # one, as in Tornado; the sort is stable within a family.
    unique = sorted(dict.fromkeys(infos), key=lambda info: info[0])

    sockets: list[socket.socket] = []
    chosen_port: int | None = None
    try:
        for af, socktype, proto, _canonname, sockaddr in unique:
            if _is_macos_localhost_link_local(host, af, sockaddr):
                continue
            sock = _listening_socket(af, socktype, proto, reuse_port)
            if sock is None:
                continue
            if sockaddr[1] == 0 and chosen_port is not None:
                sockaddr = (sockaddr[0], chosen_port, *sockaddr[2:])
            try:
                sock.bind(sockaddr)
            except OSError as e:
                sock.close()
                if _is_unusable_ipv6_loopback(e, host, sockaddr):
                    continue
                raise
            try:
                sock.listen(backlog)
            except BaseException:
                sock.close()
                raise
            chosen_port = sock.getsockname()[1]
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _listening_socket(
    af: int, socktype: int, proto: int, reuse_port: bool
) -> socket.socket | None:
    """A fresh non-blocking socket ready to bind, or None if ``af`` is unsupported."""
    try:
        sock = socket.socket(af, socktype, proto)
    except OSError as e:
        if errno_from_exception(e) == errno.EAFNOSUPPORT:
            return None
        raise
    try:
        if os.name != "nt":
            # On Windows SO_REUSEADDR lets another process steal the port;
            # elsewhere it only allows rebinding past TIME_WAIT connections.
            _set_reuse_addr(sock)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
            # Dual-stack behaviour differs between platforms; IPv6-only
            # sockets plus separate IPv4 ones behave the same everywhere.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _set_reuse_addr(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError as e:
        # Some kernels (GNU Hurd) lack the option; binding works without it.
        if errno_from_exception(e) != errno.ENOPROTOOPT:
            raise


def _is_macos_localhost_link_local(host: str | None, af: int, sockaddr: Any) -> bool:
    # macOS resolves "localhost" to fe80::1%lo0 as well; its firewall treats
    # that link-local address as external and prompts the user about it.
    return (
        sys.platform == "darwin"
        and host == "localhost"
        and af == socket.AF_INET6
        and sockaddr[3] != 0
    )


def _is_unusable_ipv6_loopback(e: OSError, host: str | None, sockaddr: Any) -> bool:
    # Containers often resolve "localhost" to ::1 while IPv6 is switched off;
    # only that exact case is skipped, so a mistyped address still fails.
    return (
        errno_from_exception(e) == errno.EADDRNOTAVAIL
        and host == "localhost"
        and sockaddr[0] == "::1"
    )


if hasattr(socket, "AF_UNIX"):

    def bind_unix_socket(
        file: str, mode: int = 0o600, backlog: int = _DEFAULT_BACKLOG
    ) -> socket.socket:
        """Create a non-blocking listening Unix socket at path ``file``.

        A socket file already at that path (left by a previous run) is
        replaced; any other kind of file there raises :class:`ValueError`.
        The new file gets permissions ``mode``.  A name starting with a NUL
        byte is a Linux abstract socket, which has no file.  Returns one
        socket, not a list.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            _set_reuse_addr(sock)
            sock.setblocking(False)
            if file.startswith("\0"):
                sock.bind(file)
            else:
                _remove_stale_socket_file(file)
                sock.bind(file)
                os.chmod(file, mode)
            sock.listen(backlog)
        except BaseException:
            sock.close()
            raise
        return sock

    def _remove_stale_socket_file(path: str) -> None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ValueError(f"File {path} exists and is not a socket")
        os.remove(path)


# What accept() failing with each errno means (Linux names; the others that
# exist on the platform mean the same there).
#
# The system or the process is out of something (descriptors, socket buffers,
# memory).  The listening socket stays readable, so retrying at once would
# spin; accepting pauses instead, and the connections wait in the kernel's
# backlog until descriptors free up.
_ACCEPT_EXHAUSTED_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM")
    if hasattr(errno, name)
)
# One queued connection failed (the peer reset it while it waited, a firewall
# rule refused it, or Linux passed on a network error pending on it; accept(2)
# says to treat these like EAGAIN).  The next one may be fine, so accepting
# goes on, and nothing is logged: it is the peer's or the network's doing.
_ACCEPT_SKIP_ERRNOS = frozenset(
    getattr(errno, name)
    for name in (
        "ECONNABORTED",
        "ECONNRESET",
        "EPROTO",
        "EPERM",
        "ETIMEDOUT",
        "ENETDOWN",
        "ENETUNREACH",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "ENONET",
        "ENOPROTOOPT",
        "EOPNOTSUPP",
    )
    if hasattr(errno, name)
)

# The family and the type of a socket as the plain ints that the socket
# module keeps (socket.socket's own properties make enums of them).
_RAW_FAMILY = _socket.socket.family.__get__
_RAW_TYPE = _socket.socket.type.__get__

#: The first pause after a failed accept, in seconds.  Each failure after a
#: pause doubles it, up to :data:`_ACCEPT_PAUSE_MAX`; an accept that works
#: starts the sequence again.
_ACCEPT_PAUSE_FIRST = 0.1
#: The longest pause, in seconds: also the longest a connection waits in the
#: backlog after descriptors free up.
_ACCEPT_PAUSE_MAX = 1.0
#: At most one log line per listening socket in this many seconds; the lines
#: in between are counted and the count goes into the next line.
_ACCEPT_LOG_INTERVAL = 1.0


class _Acceptor:
    """Accepts connections on one listening socket; see :func:`add_accept_handler`.

    Calling it stops accepting for good.  :meth:`hold` and :meth:`release`
    stop and restart accepting for a while (the TCP server's connection
    cap), independently of the pause that follows a failed accept: the
    socket is polled only while neither applies.
    """

    __slots__ = (
        "_sock",
        "_callback",
        "_io_loop",
        "_stopped",
        "_held",
        "_polling",
        "_pause_timer",
        "_next_pause",
        "_last_log",
        "_unlogged",
        "_kind",
    )

    def __init__(
        self, sock: socket.socket, callback: Callable[[socket.socket, Any], None]
    ) -> None:
        self._sock = sock
        self._callback = callback
        self._io_loop = IOLoop.current()
        self._stopped = False
        self._held = False
        self._polling = True
        self._pause_timer: object | None = None
        self._next_pause = _ACCEPT_PAUSE_FIRST
        self._last_log: float | None = None
        self._unlogged = 0
        # The listening socket's family, type and protocol, as plain ints,
        # for accepting on a plain socket without socket.accept(): that
        # turns the family and the type into enums for every connection,
        # which costs more than the accept itself.  None for a subclass (a
        # TLS socket shakes hands in its own accept).
        self._kind: tuple[int, int, int] | None = None
        if type(sock) is socket.socket:
            self._kind = (
                _RAW_FAMILY(sock),
                _RAW_TYPE(sock),
                sock.proto,
            )
        # Registered once for good: pausing only changes the events, so the
        # socket stays in the IOLoop's table (close(all_fds=True) closes it).
        self._io_loop.add_handler(sock, self._on_readable, IOLoop.READ)

    def __call__(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._polling = False
        self._cancel_pause()
        self._io_loop.remove_handler(self._sock)

    def hold(self) -> None:
        """Stop accepting until :meth:`release`; new connections wait in the
        kernel's backlog."""
        self._held = True
        self._poll(False)

    def release(self) -> None:
        """Undo :meth:`hold` (accepting resumes unless a pause is running)."""
        self._held = False
        if self._pause_timer is None:
            self._poll(True)

    def retry(self) -> None:
        """End a pause after a failed accept now: a descriptor has just been
        freed (a connection closed), so the next accept may work.  If it
        fails again, the next pause is the longer one, as usual."""
        if self._pause_timer is not None:
            self._cancel_pause()
            if not self._held:
                self._poll(True)

    def _poll(self, on: bool) -> None:
        if self._stopped or on == self._polling:
            return
        self._polling = on
        self._io_loop.update_handler(self._sock, IOLoop.READ if on else 0)

    def _on_readable(self, fd: Any, events: int) -> None:
        sock = self._sock
        callback = self._callback
        kind = self._kind
        # A bounded batch, so that a flood of connections cannot starve the
        # connections already open.
        for _ in range(_DEFAULT_BACKLOG):
            # The callback may have stopped, held or paused us.
            if not self._polling:
                return
            try:
                if kind is None:
                    connection, peer = sock.accept()
                else:
                    fd, peer = sock._accept()  # type: ignore[attr-defined]
                    connection = socket.socket(*kind, fileno=fd)
                    # As socket.accept() does: without a default timeout, a
                    # listening socket with a timeout hands out connections
                    # in blocking mode, whatever flags the system copied.
                    if socket.getdefaulttimeout() is None and sock.gettimeout():
                        connection.setblocking(True)
            except BlockingIOError:
                return
            except ssl.SSLError:
                # A listening socket wrapped in TLS shakes hands in accept;
                # a failed handshake is that one peer's problem.
                continue
            except OSError as e:
                if e.errno in _ACCEPT_SKIP_ERRNOS:
                    continue
                self._pause(e)
                return
            if self._next_pause != _ACCEPT_PAUSE_FIRST:
                self._next_pause = _ACCEPT_PAUSE_FIRST
            callback(connection, peer)

    def _pause(self, error: OSError) -> None:
        delay = self._next_pause
        self._next_pause = min(delay * 2, _ACCEPT_PAUSE_MAX)
        self._poll(False)
        self._pause_timer = self._io_loop.call_later(delay, self._end_pause)
        now = self._io_loop.time()
        if self._last_log is not None and now - self._last_log < _ACCEPT_LOG_INTERVAL:
            self._unlogged += 1
            return
        self._last_log = now
        unlogged, self._unlogged = self._unlogged, 0
        # Running out of descriptors or memory is the load's doing and passes;
        # any other error means the listening socket itself is broken, which
        # is a bug in the program and will not pass by itself.
        exhausted = error.errno in _ACCEPT_EXHAUSTED_ERRNOS
        gen_log.log(
            logging.WARNING if exhausted else logging.ERROR,
            "accept failed on %s: %s; pausing accepts for %.1f s%s",
            self._address(),
            # The text, not the exception: a record kept by a log handler
            # would keep the exception's traceback, and so this acceptor.
            str(error),
            delay,
            f" ({unlogged} more failures since the last message)" if unlogged else "",
        )

    def _end_pause(self) -> None:
        self._pause_timer = None
        if not self._held:
            self._poll(True)

    def _cancel_pause(self) -> None:
        timer = self._pause_timer
        if timer is not None:
            self._pause_timer = None
            self._io_loop.remove_timeout(timer)

    def _address(self) -> str:
        try:
            address = self._sock.getsockname()
        except OSError:
            return "a closed socket"
        if isinstance(address, tuple):
            host = address[0]
            return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"
        return str(address) or "an unnamed socket"


def add_accept_handler(
    sock: socket.socket, callback: Callable[[socket.socket, Any], None]
) -> Callable[[], None]:
    """Accept connections on the listening ``sock`` from the current IOLoop.

    ``callback(connection, address)`` runs for each accepted connection.
    Each time the socket becomes readable at most ``_DEFAULT_BACKLOG``
    connections are accepted before other callbacks get a turn, so a flood of
    connections cannot starve connections already open.

    When ``accept`` fails:

    * for one queued connection only (``ECONNABORTED``, ``ECONNRESET``,
      ``EPROTO``, ``EPERM`` from a firewall rule, the network errors Linux
      passes on from the connection, a failed TLS handshake on a TLS
      listening socket): that connection is skipped without a log line and
      accepting goes on;
    * because descriptors, buffers or memory ran out (``EMFILE``,
      ``ENFILE``, ``ENOBUFS``, ``ENOMEM``): accepting pauses, for 0.1 s and
      then twice as long after each failure in a row, up to 1 s; the
      connections wait in the kernel's backlog meanwhile, and those already
      accepted are served as usual.  A WARNING on ``tornado.general`` says so,
      at most once a second, with the number of failures not logged since;
    * with any other error, the listening socket itself is broken (a bug in
      the program): the same pauses, logged at ERROR.

    Returns a function that stops accepting.  It takes effect at once, even
    from inside ``callback`` in the middle of a batch, cancels a pause in
    progress, and calling it again is harmless.  It does not close ``sock``.
    """
    return _Acceptor(sock, callback)


def is_valid_ip(ip: str) -> bool:
    """Return True if ``ip`` is a well-formed IPv4 or IPv6 address literal.

    Host names, including ``localhost``, are not addresses; nor are strings
    with surrounding whitespace or NUL bytes.
    """
    # getaddrinfo would resolve "" to the local host and stop reading at a
    # NUL byte, so both need rejecting before it sees them.
    if not ip or "\0" in ip:
        return False
    try:
        return bool(
            socket.getaddrinfo(
                ip, 0, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
            )
        )
    except socket.gaierror as e:
        if e.args[0] == socket.EAI_NONAME:
            return False
        raise
    except UnicodeError:
        # The IDNA codec refuses over-long labels before getaddrinfo runs,
        # even with AI_NUMERICHOST.
        return False


# ---------------------------------------------------------------------------
# Name resolution


def _lookup(host: str, port: int, family: int) -> list[_ResolvedAddress]:
    # SOCK_STREAM because some platforms (Solaris) fail to resolve a port
    # without a socket type; the addresses suit datagram sockets as well.
    return [
        (af, sockaddr)
        for af, _type, _proto, _name, sockaddr in socket.getaddrinfo(
            host, port, family, socket.SOCK_STREAM
        )
    ]


class Resolver(Configurable):
    """Asynchronous name resolution; the constructor builds the configured kind.

    The default is :class:`DefaultLoopResolver`.  Choose another with
    ``Resolver.configure("tornado.netutil.ThreadedResolver")`` (or a class).
    Implementations here: :class:`DefaultLoopResolver`,
    :class:`DefaultExecutorResolver`, :class:`ExecutorResolver`,
    :class:`BlockingResolver`, :class:`ThreadedResolver` and
    :class:`OverrideResolver`.
    """

    @classmethod
    def configurable_base(cls) -> type[Resolver]:
        return Resolver

    @classmethod
    def configurable_default(cls) -> type[Resolver]:
        return DefaultLoopResolver

    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Awaitable[list[_ResolvedAddress]]:
        """Resolve ``host`` (a name or an IP literal) for connecting to ``port``.

        The awaitable gives ``(family, address)`` tuples, one per address
        found; each ``address`` is ready for ``socket.connect``.
        ``family`` restricts the result to IPv4 or IPv6.  Failure to
        resolve raises :class:`OSError` (``IOError``).
        """
        raise NotImplementedError()

    def close(self) -> None:
        """Release what the resolver holds; it must not be used afterwards."""


class DefaultLoopResolver(Resolver):
    """Resolves with the running asyncio loop's ``getaddrinfo``."""

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[_ResolvedAddress]:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM
        )
        return [(af, sockaddr) for af, _type, _proto, _name, sockaddr in infos]


class DefaultExecutorResolver(Resolver):
    """Resolves with ``socket.getaddrinfo`` in the IOLoop's default executor.

    Deprecated in Tornado 6.2 in favour of :class:`DefaultLoopResolver`.
    """

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[_ResolvedAddress]:
        return await IOLoop.current().run_in_executor(None, _lookup, host, port, family)


class ExecutorResolver(Resolver):
    """Resolves with ``socket.getaddrinfo`` on a :class:`concurrent.futures.Executor`.

    ``close()`` shuts the executor down unless ``close_executor=False``, for
    an executor shared with other code.  Without an executor the lookup runs
    on the calling thread, blocking the loop.  Deprecated in Tornado 5.0.
    """

    executor: concurrent.futures.Executor | None
    close_executor: bool

    def initialize(
        self,
        executor: concurrent.futures.Executor | None = None,
        close_executor: bool = True,
    ) -> None:
        if executor is None:
            self.executor = dummy_executor
            self.close_executor = False
        else:
            self.executor = executor
            self.close_executor = close_executor

    def close(self) -> None:
        if self.close_executor and self.executor is not None:
            self.executor.shutdown()
        self.executor = None

    @run_on_executor
    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[_ResolvedAddress]:
        return _lookup(host, port, family)


class BlockingResolver(ExecutorResolver):
    """Resolves with ``socket.getaddrinfo`` on the loop's own thread, blocking it.

    The result is still delivered through a future.  Deprecated in Tornado 5.0.
    """

    def initialize(self) -> None:  # type: ignore[override]
        super().initialize()


class ThreadedResolver(ExecutorResolver):
    """Resolves on a thread pool shared by every ThreadedResolver in the process.

    The first instance created sets the pool's size (``num_threads``, default
    10), for example through ``Resolver.configure(ThreadedResolver,
    num_threads=4)``.  ``close()`` leaves the shared pool running.  A child
    forked after the pool started gets a new pool, since threads do not
    survive a fork.  Deprecated in Tornado 5.0.
    """

    # Shared by all instances; Tornado's tests reset ``_threadpool`` by name.
    _threadpool: concurrent.futures.ThreadPoolExecutor | None = None
    _threadpool_pid: int | None = None

    def initialize(self, num_threads: int = 10) -> None:  # type: ignore[override]
        super().initialize(
            executor=ThreadedResolver._create_threadpool(num_threads),
            close_executor=False,
        )

    @classmethod
    def _create_threadpool(
        cls, num_threads: int
    ) -> concurrent.futures.ThreadPoolExecutor:
        pid = os.getpid()
        pool = ThreadedResolver._threadpool
        if pool is None or ThreadedResolver._threadpool_pid != pid:
            pool = concurrent.futures.ThreadPoolExecutor(num_threads)
            ThreadedResolver._threadpool = pool
            ThreadedResolver._threadpool_pid = pid
        return pool


class OverrideResolver(Resolver):
    """Wraps another resolver, rewriting chosen lookups first (handy in tests).

    ``mapping`` keys, tried from the most specific:

    * ``(host, port, family)`` maps to ``(host, port)``;
    * ``(host, port)`` maps to ``(host, port)``;
    * ``host`` maps to a host (the port is kept).

    ``close()`` closes the wrapped resolver.
    """

    resolver: Resolver
    mapping: Mapping[Any, Any]

    def initialize(self, resolver: Resolver, mapping: Mapping[Any, Any]) -> None:
        self.resolver = resolver
        self.mapping = mapping

    def close(self) -> None:
        self.resolver.close()

    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Awaitable[list[_ResolvedAddress]]:
        if (host, port, family) in self.mapping:
            host, port = self.mapping[(host, port, family)]
        elif (host, port) in self.mapping:
            host, port = self.mapping[(host, port)]
        elif host in self.mapping:
            host = self.mapping[host]
        return self.resolver.resolve(host, port, family)


# ---------------------------------------------------------------------------
# TLS

_SSLOptions = dict[str, Any] | ssl.SSLContext

# The ``ssl_options`` dict keys: the keyword arguments of the old
# ``ssl.wrap_socket`` that map onto SSLContext settings.
_SSL_OPTION_KEYS = frozenset(
    ["ssl_version", "certfile", "keyfile", "cert_reqs", "ca_certs", "ciphers"]
)


class _UnknownSSLOptionError(ValueError, AssertionError):
    # Tornado reports unknown keys with a bare ``assert``; being an
    # AssertionError too keeps callers that catch that working, while
    # ValueError is what the error really is (and survives ``python -O``).
    pass


def ssl_options_to_context(
    ssl_options: _SSLOptions, server_side: bool | None = None
) -> ssl.SSLContext:
    """Turn an ``ssl_options`` dict into an :class:`ssl.SSLContext`.

    An ``SSLContext`` is returned unchanged.  A dict may hold the keys
    ``ssl_version``, ``certfile``, ``keyfile``, ``cert_reqs``, ``ca_certs``
    and ``ciphers``, with the meaning they had for ``ssl.wrap_socket``; any
    other key raises :class:`ValueError`.  Without ``ssl_version`` the
    protocol is ``PROTOCOL_TLS_SERVER`` when ``server_side`` is true and
    ``PROTOCOL_TLS_CLIENT`` when it is false; when ``server_side`` is omitted
    the deprecated ``PROTOCOL_TLS`` is used and Python warns about it.  TLS
    compression is always disabled.
    """
    if isinstance(ssl_options, ssl.SSLContext):
        return ssl_options
    if not isinstance(ssl_options, dict):
        raise TypeError(
            "ssl_options must be a dict or an ssl.SSLContext, "
            f"not {type(ssl_options)!r}"
        )
    unknown = set(ssl_options) - _SSL_OPTION_KEYS
    if unknown:
        raise _UnknownSSLOptionError(
            f"unknown ssl_options keys {sorted(unknown)!r}; "
            f"allowed: {sorted(_SSL_OPTION_KEYS)!r}"
        )

    if "ssl_version" in ssl_options:
        protocol = ssl_options["ssl_version"]
    elif server_side:
        protocol = ssl.PROTOCOL_TLS_SERVER
    elif server_side is not None:
        protocol = ssl.PROTOCOL_TLS_CLIENT
    else:
        protocol = ssl.PROTOCOL_TLS
    context = ssl.SSLContext(protocol)
    if "certfile" in ssl_options:
        context.load_cert_chain(ssl_options["certfile"], ssl_options.get("keyfile"))
    if "cert_reqs" in ssl_options:
        if ssl_options["cert_reqs"] == ssl.CERT_NONE:
            # A client context checks host names, and CERT_NONE is refused
            # while that is on.
            context.check_hostname = False
        context.verify_mode = ssl_options["cert_reqs"]
    if "ca_certs" in ssl_options:
        context.load_verify_locations(ssl_options["ca_certs"])
    if "ciphers" in ssl_options:
        context.set_ciphers(ssl_options["ciphers"])
    _refuse_compression(context)
    return context


def ssl_wrap_socket(
    socket: socket.socket,
    ssl_options: _SSLOptions,
    server_hostname: str | None = None,
    server_side: bool | None = None,
    **kwargs: Any,
) -> ssl.SSLSocket:
    """Wrap ``socket`` in TLS as described by ``ssl_options``.

    ``ssl_options`` is an ``SSLContext`` or a dict for
    :func:`ssl_options_to_context`.  ``server_hostname`` is sent as SNI and
    checked against the certificate when the context checks host names.
    Other keyword arguments (such as ``do_handshake_on_connect``) go to
    :meth:`ssl.SSLContext.wrap_socket`.
    """
    # The first parameter is named ``socket`` because callers may pass it by
    # keyword, as Tornado's signature allows.
    context = ssl_options_to_context(ssl_options, server_side=server_side)
    return context.wrap_socket(
        socket,
        server_side=bool(server_side),
        server_hostname=server_hostname,
        **kwargs,
    )
