"""TCPClient: open TCP (optionally TLS) connections, racing address families.

This is the drop-in for ``tornado.tcpclient``.  :meth:`TCPClient.connect`
resolves a host name, connects with a simplified "happy eyeballs" (RFC 8305)
race between the first address family the resolver returned and the other
one, optionally upgrades the winner to TLS, and returns the stream.  One
``timeout`` covers all three phases, and the :class:`TimeoutError` says which
phase ran out of time.

:class:`_Connector` is the race itself.  It is private but kept separately
testable: it knows nothing about sockets, only a ``connect(af, addr)``
function returning ``(stream, future)``, so its decisions can be driven by
hand with fake streams.

What this module must never do:

* leak a socket: every stream it creates is either returned to the caller or
  closed, whether the attempt failed, lost the race, timed out or the caller
  cancelled ``connect``;
* let a cancelled connection attempt surface as ``CancelledError`` from an
  uncancelled ``connect`` (it is an ordinary connection failure);
* import the Tornado modules that tornado_compat replaces.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import numbers
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from tornado import gen
from tornado.concurrent import Future, future_add_done_callback
from tornado.ioloop import IOLoop

from tornado_compat.iostream import IOStream
from tornado_compat.netutil import Resolver

__all__ = ["TCPClient"]

_T = TypeVar("_T")

#: Seconds the primary address family has to itself before the secondary
#: family joins the race (RFC 8305 suggests 250ms; Tornado uses 300ms).
_INITIAL_CONNECT_TIMEOUT = 0.3

_ConnectFunc = Callable[
    [socket.AddressFamily, Any], "tuple[IOStream, Future[IOStream]]"
]
_Deadline = float | datetime.timedelta


def _format_addr(addr: Any) -> str:
    """``host:port`` for an address tuple (IPv6 hosts bracketed), else ``str(addr)``."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        if ":" in str(host):
            return f"[{host}]:{port}"
        return f"{host}:{port}"
    return str(addr)


class _Connector:
    """Race connection attempts over the addresses of one host.

    ``addrinfo`` is the resolver's list of ``(family, address)`` pairs.  It is
    split into the family of the first entry (primary) and the rest
    (secondary).  Each family is tried one address at a time, in order.  The
    secondary family starts when the primary has had ``timeout`` seconds to
    itself, or as soon as a primary attempt fails.  The first attempt to
    succeed wins and every other stream is closed; when all attempts have
    failed the future fails with the last error.  ``connect_timeout`` is a
    deadline for the whole race (anything ``IOLoop.add_timeout`` accepts).

    ``streams`` holds every stream this connector created and still owns,
    that is all but the winner; once the race is decided they are all closed.
    """

    def __init__(self, addrinfo: list[tuple], connect: _ConnectFunc) -> None:
        self.io_loop = IOLoop.current()
        self.connect = connect
        self.future: Future[tuple[socket.AddressFamily, Any, IOStream]] = Future()
        self.timeout: object | None = None
        self.connect_timeout: object | None = None
        self.last_error: BaseException | None = None
        # Attempts not yet finished, counting those not yet started; the
        # race is lost when it reaches zero without a winner.
        self.remaining = len(addrinfo)
        self.primary_addrs, self.secondary_addrs = self.split(addrinfo)
        self.streams: set[IOStream] = set()
        # The attempts in flight, for the timeout message.
        self._pending: dict[IOStream, Any] = {}
        self._primary: Iterator[tuple] = iter(self.primary_addrs)
        self._secondary_started = False

    @staticmethod
    def split(addrinfo: list[tuple]) -> tuple[list[tuple], list[tuple]]:
        """Split ``addrinfo`` into (the first entry's family, everything else).

        Order within each list is kept: it is the resolver's preference.
        """
        if not addrinfo:
            return [], []
        family = addrinfo[0][0]
        primary = [entry for entry in addrinfo if entry[0] == family]
        secondary = [entry for entry in addrinfo if entry[0] != family]
        return primary, secondary

    def start(
        self,
        timeout: float = _INITIAL_CONNECT_TIMEOUT,
        connect_timeout: _Deadline | None = None,
    ) -> Future[tuple[socket.AddressFamily, Any, IOStream]]:
        """Start racing; the future resolves to ``(af, addr, stream)``."""
        future_add_done_callback(self.future, self.on_future_done)
        self.try_connect(self._primary)
        # Everything may already have failed synchronously (no sockets of
        # either family, say); then there is nothing left to time.
        if not self.future.done():
            self.set_timeout(timeout)
            if connect_timeout is not None:
                self.set_connect_timeout(connect_timeout)
        return self.future

    def try_connect(self, addrs: Iterator[tuple]) -> None:
        """Start the next attempt from ``addrs``, skipping synchronous failures."""
        for af, addr in addrs:
            if self.future.done():
                return
            try:
                stream, future = self.connect(af, addr)
            except Exception as e:
                # E.g. this family is unsupported, or the source address
                # cannot be bound on it: an immediate failure of this address.
                self.remaining -= 1
                self.last_error = e
                self._after_failure(addrs)
                continue
            self.streams.add(stream)
            self._pending[stream] = addr
            future_add_done_callback(
                future, functools.partial(self.on_connect_done, addrs, af, addr, stream)
            )
            return
        self._fail_if_exhausted()

    def on_connect_done(
        self,
        addrs: Iterator[tuple],
        af: socket.AddressFamily,
        addr: Any,
        stream: IOStream,
        future: Future[IOStream],
    ) -> None:
        """One attempt finished: declare the winner or move on to the next address."""
        self.remaining -= 1
        self._pending.pop(stream, None)
        try:
            result = future.result()
        except asyncio.CancelledError:
            # Somebody cancelled this one attempt; the race goes on without it.
            error: BaseException = OSError(
                f"connection attempt to {_format_addr(addr)} was cancelled"
            )
        except Exception as e:
            error = e
        else:
            if self.future.done():
                # Lost the race (or the race was abandoned).
                result.close()
                return
            self.clear_timeouts()
            self.streams.discard(result)
            self.future.set_result((af, addr, result))
            self.close_streams()
            return
        stream.close()
        if self.future.done():
            return
        self.last_error = error
        self.try_connect(addrs)
        self._after_failure(addrs)

    def _after_failure(self, addrs: Iterator[tuple]) -> None:
        # A failed primary address is a strong hint that the primary family
        # does not work here: don't make the secondary wait for its timer.
        if addrs is self._primary and not self._secondary_started:
            self.clear_timeout()
            self.on_timeout()
        self._fail_if_exhausted()

    def _fail_if_exhausted(self) -> None:
        if self.remaining <= 0 and not self.future.done():
            self.clear_timeouts()
            error = self.last_error or OSError("no addresses to connect to")
            self.future.set_exception(error)
            self.close_streams()

    def set_timeout(self, timeout: float) -> None:
        """Let the secondary family start after ``timeout`` seconds."""
        self.timeout = self.io_loop.add_timeout(
            self.io_loop.time() + timeout, self.on_timeout
        )

    def on_timeout(self) -> None:
        """The primary family's head start is over: start the secondary family."""
        self.timeout = None
        if self.future.done() or self._secondary_started:
            return
        self._secondary_started = True
        self.try_connect(iter(self.secondary_addrs))

    def clear_timeout(self) -> None:
        if self.timeout is not None:
            self.io_loop.remove_timeout(self.timeout)
            self.timeout = None

    def set_connect_timeout(self, connect_timeout: _Deadline) -> None:
        """Give up the whole race at ``connect_timeout``."""
        self.connect_timeout = self.io_loop.add_timeout(
            connect_timeout, self.on_connect_timeout
        )

    def on_connect_timeout(self) -> None:
        """The deadline passed: fail with the addresses still being tried."""
        self.connect_timeout = None
        if not self.future.done():
            tried = ", ".join(
                sorted(_format_addr(addr) for addr in self._pending.values())
            )
            self.future.set_exception(
                TimeoutError(f"Timeout while connecting to {tried}")
            )
        self.clear_timeouts()
        self.close_streams()

    def clear_timeouts(self) -> None:
        self.clear_timeout()
        if self.connect_timeout is not None:
            self.io_loop.remove_timeout(self.connect_timeout)
            self.connect_timeout = None

    def on_future_done(self, future: Future[Any]) -> None:
        # The race itself was cancelled (connect() was): abandon every attempt.
        if future.cancelled():
            self.clear_timeouts()
            self.close_streams()

    def close_streams(self) -> None:
        for stream in self.streams:
            stream.close()


async def _before(
    deadline: _Deadline | None, awaitable: Awaitable[_T], message: str
) -> _T:
    """Await ``awaitable``; at ``deadline`` cancel it, raise ``TimeoutError(message)``.

    Cancelling is what releases the resources of the abandoned operation
    (a stream's ``start_tls`` future closes its socket when cancelled).
    """
    future = gen.convert_yielded(awaitable)
    if deadline is None:
        return await future
    io_loop = IOLoop.current()
    expired = False

    def expire() -> None:
        nonlocal expired
        if not future.done():
            expired = True
            future.cancel()

    handle = io_loop.add_timeout(deadline, expire)
    try:
        return await future
    except asyncio.CancelledError:
        if expired:
            raise TimeoutError(message) from None
        raise
    finally:
        io_loop.remove_timeout(handle)


class TCPClient:
    """A non-blocking TCP connection factory.

    ``resolver`` maps host names to addresses; by default the client makes
    its own :class:`~tornado_compat.netutil.Resolver` and closes it in
    :meth:`close`.
    """

    def __init__(self, resolver: Resolver | None = None) -> None:
        if resolver is not None:
            self.resolver = resolver
            self._own_resolver = False
        else:
            self.resolver = Resolver()
            self._own_resolver = True

    def close(self) -> None:
        """Release the resolver if this client created it."""
        if self._own_resolver:
            self.resolver.close()

    async def connect(
        self,
        host: str,
        port: int,
        af: socket.AddressFamily = socket.AF_UNSPEC,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        source_ip: str | None = None,
        source_port: int | None = None,
        timeout: float | datetime.timedelta | None = None,
    ) -> IOStream:
        """Connect to ``host``:``port`` and return the connected stream.

        ``af`` restricts the address family.  With ``ssl_options`` (a dict
        or an :class:`ssl.SSLContext`) the connection is upgraded to TLS,
        with ``host`` as the server name, and an ``SSLIOStream`` is returned.
        ``source_ip`` and ``source_port`` bind the local end first.

        ``timeout`` is a duration, in seconds or as a
        :class:`datetime.timedelta`, for the whole operation.  When it runs
        out a :class:`TimeoutError` is raised whose message names the phase:
        resolving the host, connecting (with the addresses being tried), or
        the TLS handshake.  Connection failures raise ``OSError``
        (``StreamClosedError`` carrying the socket's error, for a refused
        connection).
        """
        io_loop = IOLoop.current()
        deadline: float | None = None
        if isinstance(timeout, datetime.timedelta):
            deadline = io_loop.time() + timeout.total_seconds()
        elif isinstance(timeout, numbers.Real):
            deadline = io_loop.time() + float(timeout)
        elif timeout is not None:
            raise TypeError(f"unsupported timeout {timeout!r}")

        addrinfo = await _before(
            deadline,
            self.resolver.resolve(host, port, af),
            f"Timeout while resolving {host}",
        )
        connector = _Connector(
            addrinfo,
            functools.partial(
                self._create_stream,
                max_buffer_size,
                source_ip=source_ip,
                source_port=source_port,
            ),
        )
        race = connector.start(connect_timeout=deadline)
        try:
            af, addr, stream = await race
        except asyncio.CancelledError:
            # Cancelled in the instant between the race being won and this
            # coroutine resuming: the winner is ours to close.
            if race.done() and not race.cancelled() and race.exception() is None:
                race.result()[2].close()
            raise
        if ssl_options is None:
            return stream
        try:
            tls_stream = stream.start_tls(
                False, ssl_options=ssl_options, server_hostname=host
            )
        except BaseException:
            stream.close()
            raise
        return await _before(
            deadline,
            tls_stream,
            f"Timeout during TLS handshake with {_format_addr((host, port))}",
        )

    def _create_stream(
        self,
        max_buffer_size: int | None,
        af: socket.AddressFamily,
        addr: tuple,
        source_ip: str | None = None,
        source_port: int | None = None,
    ) -> tuple[IOStream, Future[IOStream]]:
        """Make a stream for ``af`` and start connecting it to ``addr``.

        Raises synchronously if the socket cannot be made or bound (an
        unsupported family, a source address of another family); the
        connector treats that as this address failing.
        """
        sock = socket.socket(af, socket.SOCK_STREAM)
        try:
            if source_ip is not None or source_port is not None:
                sock.bind((source_ip or "", source_port or 0))
            stream = IOStream(sock, max_buffer_size=max_buffer_size)
        except BaseException:
            sock.close()
            raise
        try:
            return stream, stream.connect(addr)
        except BaseException:
            stream.close()
            raise
