"""Pairs of connected streams, the event loops they run on, and small waits.

What this module is for: giving every test in this package the same tools.

* :class:`Harness` runs one test coroutine on a fresh event loop (asyncio's
  default loop or uvloop) with a Tornado ``IOLoop`` on it, and closes every
  stream and socket the test made, then the loop, whatever the outcome.
* :class:`StreamKind` describes one kind of stream and makes a connected
  :class:`Pair` of it: bytes written to ``pair.left`` arrive at
  ``pair.right`` (and back, when the kind is duplex).
* The waits (:func:`within`, :func:`next_turn`, :func:`wait_closed`,
  :func:`wait_drained`) wait on a future or on a condition that the loop
  makes true; none of them sleeps for a time.

What it must never do: hide a failure.  The only timeout here is a safety
net so that a hung read fails the test instead of the run; tests assert on
outcomes, never on the timeout.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import functools
import gc
import hashlib
import os
import random
import shutil
import socket
import ssl
import struct
import tempfile
import termios
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trustme
from tornado.ioloop import IOLoop

from tornado_compat.iostream import (
    BaseIOStream,
    IOStream,
    PipeIOStream,
    SSLIOStream,
)
from tornado_compat.netutil import ssl_wrap_socket

T = TypeVar("T")

#: The safety net on a whole test body.  A test that hits it has hung.
TEST_TIMEOUT = 30.0
#: The safety net on a single wait inside a test.
WAIT_TIMEOUT = 10.0

LOOP_KINDS = ("asyncio", "uvloop")

# Capabilities a test may require of a stream kind (see StreamKind).
DUPLEX = "duplex"
RESET = "reset"
HALF_CLOSE = "half_close"
# Bytes written at one end are in the other end's kernel buffer when the
# write returns (no TLS record or pipe in between).
PLAIN = "plain"


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if kind == "asyncio":
        return asyncio.SelectorEventLoop()
    raise ValueError(kind)


class Harness:
    """Runs test coroutines on one kind of event loop and cleans up after them.

    Everything a test opens goes through :meth:`track`, so that it is closed
    even when the test fails half way; an unclosed socket would otherwise
    surface as a ResourceWarning (an error under ``filterwarnings = error``)
    in some later, innocent test.
    """

    def __init__(self, loop_kind: str) -> None:
        self.loop_kind = loop_kind
        self._cleanups: list[Callable[[], None]] = []

    def track(self, thing: T) -> T:
        """Close ``thing`` (a stream, socket or fd) when the test ends."""
        if isinstance(thing, BaseIOStream):
            self._cleanups.append(thing.close)
        elif isinstance(thing, socket.socket):
            self._cleanups.append(thing.close)
        elif isinstance(thing, int):
            self._cleanups.append(functools.partial(_close_fd, thing))
        else:
            raise TypeError(f"cannot track {thing!r}")
        return thing

    def add_cleanup(self, cleanup: Callable[[], None]) -> None:
        self._cleanups.append(cleanup)

    def run(self, make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = new_event_loop(self.loop_kind)
        asyncio.set_event_loop(loop)
        io_loop: list[IOLoop] = []

        async def main() -> T:
            # Bind the IOLoop to this asyncio loop before any stream asks.
            io_loop.append(IOLoop.current())
            return await asyncio.wait_for(make_coro(), TEST_TIMEOUT)

        try:
            return loop.run_until_complete(main())
        finally:
            try:
                self._cleanup(loop)
            finally:
                if io_loop:
                    io_loop[0].close()  # closes the asyncio loop as well
                else:
                    loop.close()
                asyncio.set_event_loop(None)

    def _cleanup(self, loop: asyncio.AbstractEventLoop) -> None:
        cleanups, self._cleanups = self._cleanups, []
        errors: list[BaseException] = []
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as e:  # keep closing the rest
                errors.append(e)

        async def settle() -> None:
            # Transports finish closing on a later loop iteration (uvloop
            # closes its handles in a callback); give them a few.
            for _ in range(5):
                await asyncio.sleep(0)

        loop.run_until_complete(settle())
        # Futures that nobody looked at report it when collected; make that
        # happen now, inside this test, rather than in some later one.
        gc.collect()
        loop.run_until_complete(loop.shutdown_asyncgens())
        if errors:
            raise errors[0]


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


# -- waiting --------------------------------------------------------------------


async def within(awaitable: Awaitable[T], timeout: float = WAIT_TIMEOUT) -> T:
    """Await ``awaitable``; a safety net turns a hang into a test failure."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"no outcome within {timeout} s: it hangs") from None


async def next_turn() -> None:
    """Return once every IOLoop callback queued before this call has run.

    The IOLoop runs its callbacks in order, so a callback queued now runs
    after, for example, a close callback that a close just scheduled.
    """
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    IOLoop.current().add_callback(lambda: done.done() or done.set_result(None))
    await done


class CloseWatch:
    """Counts the runs of a stream's close callback (set by the constructor,
    replacing any other); ``first`` resolves on the first run."""

    def __init__(self, stream: BaseIOStream) -> None:
        self.calls = 0
        self.first: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stream.set_close_callback(self._on_close)

    def _on_close(self) -> None:
        self.calls += 1
        if not self.first.done():
            self.first.set_result(None)

    async def wait(self) -> None:
        await within(asyncio.shield(self.first))


async def wait_closed(stream: BaseIOStream) -> None:
    """Return once ``stream`` is closed and its close callback has run."""
    await CloseWatch(stream).wait()
    assert stream.closed()


def fd_of(stream: BaseIOStream) -> int:
    fileno = stream.fileno()
    return fileno if isinstance(fileno, int) else fileno.fileno()


@contextlib.contextmanager
def raw_socket(stream: BaseIOStream) -> Iterator[socket.socket]:
    """The stream's connection as a plain socket, bypassing the stream (and
    its TLS): for a test that plays a peer misbehaving below the stream."""
    sock = socket.socket(fileno=os.dup(fd_of(stream)))
    try:
        yield sock
    finally:
        sock.close()


def kernel_pending(fd: int) -> int:
    """How many bytes the kernel holds for ``fd`` that nobody has read yet."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


async def wait_drained(stream: BaseIOStream, turns: int = 2000) -> None:
    """Return once the kernel holds no unread bytes for ``stream``: whatever
    was sent to it has reached the stream.  Each check is one loop turn."""
    fd = fd_of(stream)
    for _ in range(turns):
        if kernel_pending(fd) == 0:
            return
        await next_turn()
    raise AssertionError(f"{kernel_pending(fd)} bytes never left the kernel")


# -- data -------------------------------------------------------------------------


#: More than the kernel holds for a connection whose reader does not read:
#: the writer's socket buffer (net.core.wmem_max, a few MiB) plus the
#: reader's, which stays near its initial size (autotuning grows it only as
#: the application reads).  A pipe holds 64 KiB.  So a write this large can
#: neither finish at once nor while the peer is not reading.
BEYOND_KERNEL = 16 * 1024 * 1024

_SEED_STRIDE = 4099


@functools.lru_cache(maxsize=1)
def _random_block() -> bytes:
    return random.Random(0).randbytes(BEYOND_KERNEL + 256 * _SEED_STRIDE)


def payload(size: int, seed: int = 0) -> bytes:
    """Reproducible bytes that are not a repeating pattern (up to
    BEYOND_KERNEL of them); different seeds give different bytes."""
    start = (seed % 256) * _SEED_STRIDE
    data = _random_block()[start : start + size]
    assert len(data) == size, "payload too large"
    return data


def digest(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()


async def read_all_partial(stream: BaseIOStream, size: int, chunk: int) -> bytes:
    """Read exactly ``size`` bytes with partial reads of at most ``chunk``."""
    got = bytearray()
    while len(got) < size:
        piece = await within(stream.read_bytes(min(chunk, size - len(got)), True))
        assert 0 < len(piece) <= chunk
        got += piece
    return bytes(got)


# -- TLS material --------------------------------------------------------------


@dataclass(frozen=True)
class TLSMaterial:
    ca: trustme.CA
    server_cert: trustme.LeafCert
    client_cert: trustme.LeafCert

    def server_context(self, require_client_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(ctx)
        if require_client_cert:
            ctx.verify_mode = ssl.CERT_REQUIRED
            self.ca.configure_trust(ctx)
        return ctx

    def client_context(self, with_cert: bool = False) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self.ca.configure_trust(ctx)
        if with_cert:
            self.client_cert.configure_cert(ctx)
        return ctx


@functools.lru_cache(maxsize=1)
def tls_material() -> TLSMaterial:
    ca = trustme.CA()
    return TLSMaterial(
        ca=ca,
        server_cert=ca.issue_cert("localhost", "127.0.0.1"),
        client_cert=ca.issue_cert("client@example.org", common_name="a client"),
    )


def tls_server_stream(
    raw: socket.socket,
    ssl_options: ssl.SSLContext | dict[str, Any] | None = None,
    **kwargs: Any,
) -> SSLIOStream:
    """The server end of a TLS connection, made as a server makes it: the
    accepted socket is wrapped without a handshake, which the stream then
    runs itself.  ``ssl_options`` defaults to the trustme server context."""
    if ssl_options is None:
        ssl_options = tls_material().server_context()
    wrapped = ssl_wrap_socket(
        raw, ssl_options, server_side=True, do_handshake_on_connect=False
    )
    return SSLIOStream(wrapped, **kwargs)


# -- pairs ------------------------------------------------------------------------


@dataclass
class Pair:
    """Two connected streams: what ``left`` writes, ``right`` reads."""

    kind: StreamKind
    left: BaseIOStream
    right: BaseIOStream

    def reset_left(self) -> None:
        """Close ``left`` abortively, so that ``right`` sees a reset."""
        self.kind.reset(self)

    def half_close_left(self) -> None:
        """Stop ``left`` from sending (a FIN); it can still receive."""
        assert HALF_CLOSE in self.kind.capabilities
        with raw_socket(self.left) as sock:
            sock.shutdown(socket.SHUT_WR)


Options = dict[str, Any]
Maker = Callable[[Harness, Options, Options], Awaitable[tuple[Any, Any]]]


@dataclass(frozen=True)
class StreamKind:
    """One kind of stream and how to make a connected pair of it.

    ``capabilities`` says what the kind can do beyond the common contract:
    ``duplex`` (both ends write), ``reset`` (a peer can reset the
    connection), ``half_close`` (a peer can stop sending and still receive).
    """

    name: str
    maker: Maker
    capabilities: frozenset[str] = field(default_factory=frozenset)
    tls: bool = False

    async def pair(
        self,
        harness: Harness,
        left: Options | None = None,
        right: Options | None = None,
    ) -> Pair:
        """A connected pair; ``left`` / ``right`` are keyword arguments for
        that end's stream constructor (limits, chunk size)."""
        a, b = await self.maker(harness, left or {}, right or {})
        return Pair(self, a, b)

    def reset(self, pair: Pair) -> None:
        assert RESET in self.capabilities
        left = pair.left
        if self.name == "unix":
            # A unix socket has no SO_LINGER reset; closing it with unread
            # data is what makes the peer's next read fail with ECONNRESET.
            # Nothing runs between the send and the close, so the data is
            # still unread when the socket goes.  If the send finds the
            # socket full, the left end already holds unread data.
            try:
                with raw_socket(pair.right) as sock:
                    sock.send(b"unread")
            except BlockingIOError:
                pass
        else:
            with raw_socket(left) as sock:
                linger = struct.pack("ii", 1, 0)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        left.close()

    def __repr__(self) -> str:
        return self.name


async def _accept(harness: Harness, listener: socket.socket) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock, _ = await within(loop.sock_accept(listener))
    return harness.track(sock)


async def raw_tcp_pair(harness: Harness) -> tuple[socket.socket, socket.socket]:
    """A connected client socket and the server's accepted one, both plain
    non-blocking sockets with no stream yet."""
    loop = asyncio.get_running_loop()
    listener = harness.track(socket.socket())
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    client = harness.track(socket.socket())
    client.setblocking(False)
    await within(loop.sock_connect(client, listener.getsockname()))
    accepted = await _accept(harness, listener)
    listener.close()
    return client, accepted


async def _tcp_pair(harness: Harness, left: Options, right: Options) -> Any:
    listener = harness.track(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    client = harness.track(IOStream(socket.socket(), **left))
    connected = client.connect(listener.getsockname())
    server = harness.track(IOStream(await _accept(harness, listener), **right))
    await within(connected)
    listener.close()
    client.set_nodelay(True)
    server.set_nodelay(True)
    return client, server


async def _unix_pair(harness: Harness, left: Options, right: Options) -> Any:
    directory = tempfile.mkdtemp(prefix="tcs-")
    harness.add_cleanup(functools.partial(shutil.rmtree, directory, True))
    path = os.path.join(directory, "s")
    listener = harness.track(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
    listener.bind(path)
    listener.listen(1)
    listener.setblocking(False)
    client = harness.track(IOStream(socket.socket(socket.AF_UNIX), **left))
    connected = client.connect(path)
    server = harness.track(IOStream(await _accept(harness, listener), **right))
    await within(connected)
    listener.close()
    return client, server


async def _tls_pair(harness: Harness, left: Options, right: Options) -> Any:
    material = tls_material()
    listener = harness.track(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    client = harness.track(
        SSLIOStream(socket.socket(), ssl_options=material.client_context(), **left)
    )
    connected = client.connect(listener.getsockname(), server_hostname="localhost")
    raw = await _accept(harness, listener)
    server = harness.track(tls_server_stream(raw, **right))
    await within(asyncio.gather(connected, server.wait_for_handshake()))
    listener.close()
    client.set_nodelay(True)
    server.set_nodelay(True)
    return client, server


async def _pipe_pair(harness: Harness, left: Options, right: Options) -> Any:
    r, w = os.pipe()
    try:
        writer = harness.track(PipeIOStream(w, **left))
    except BaseException:
        os.close(w)
        os.close(r)
        raise
    reader = harness.track(PipeIOStream(r, **right))
    return writer, reader


_SOCKET = frozenset({DUPLEX, RESET, HALF_CLOSE})

TCP = StreamKind("tcp", _tcp_pair, _SOCKET | {PLAIN})
UNIX = StreamKind("unix", _unix_pair, _SOCKET | {PLAIN})
TLS = StreamKind("tls", _tls_pair, _SOCKET, tls=True)
PIPE = StreamKind("pipe", _pipe_pair, frozenset())

STREAM_KINDS = (TCP, UNIX, TLS, PIPE)
SOCKET_KINDS = ("tcp", "unix", "tls")


async def until(condition: Callable[[], object], turns: int = 200) -> None:
    """Return once ``condition()`` is true, checking once per loop turn.

    For outcomes that the loop produces within a few turns of an event that
    has already happened (a peer's close on the same machine); a condition
    still false after ``turns`` turns is a failure, not a reason to wait on.
    """
    for _ in range(turns):
        if condition():
            return
        await next_turn()
    raise AssertionError(f"still not true after {turns} loop turns")


async def until_stable(
    probe: Callable[[], T], turns: int = 20, limit: int = 10_000
) -> T:
    """Return ``probe()`` once it has kept the same value for ``turns``
    consecutive loop turns (within ``limit`` turns in all)."""
    last, same = probe(), 0
    for _ in range(limit):
        await next_turn()
        now = probe()
        same = same + 1 if now == last else 0
        last = now
        if same >= turns:
            return now
    raise AssertionError(f"still changing after {limit} loop turns")


async def warm_up(pair: Pair) -> None:
    """Send one byte across and read it.

    Afterwards every kind of stream is watching its source, so it notices a
    close while idle.
    """
    await within(pair.left.write(b"^"))
    assert await within(pair.right.read_bytes(1)) == b"^"


# -- known bugs in tornado_compat.iostream ------------------------------------------
#
# Tests that show one of these are marked ``known_bug`` (a strict xfail where
# the bug shows).  Whoever fixes the bug removes the marks.


async def read_responses(client: socket.socket, count: int) -> list[bytes]:
    """The bodies of the next ``count`` responses on ``client`` (a
    non-blocking socket), each a 200 with a Content-Length; nothing may
    follow the last of them."""
    loop = asyncio.get_running_loop()
    data = b""
    bodies: list[bytes] = []
    while len(bodies) < count:
        while b"\r\n\r\n" not in data:
            chunk = await within(loop.sock_recv(client, 65536))
            assert chunk, f"closed after {bodies!r}"
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK"), head
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        while len(data) < length:
            chunk = await within(loop.sock_recv(client, 65536))
            assert chunk
            data += chunk
        bodies.append(data[:length])
        data = data[length:]
    assert data == b"", data
    return bodies


@contextlib.asynccontextmanager
async def listening(server: Any) -> AsyncIterator[int]:
    """``server`` (an HTTPServer) on a port of 127.0.0.1, which it yields;
    stopped, its connections closed, afterwards."""
    from tornado_compat.netutil import bind_sockets

    [listener] = bind_sockets(0, "127.0.0.1")
    server.add_sockets([listener])
    try:
        yield listener.getsockname()[1]
    finally:
        server.stop()
        await server.close_all_connections()


async def connect_to(harness: Harness, port: int) -> socket.socket:
    """A non-blocking client socket connected to ``port`` of 127.0.0.1."""
    client = harness.track(socket.socket())
    client.setblocking(False)
    await within(asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", port)))
    return client
