"""TCPServer: accept TCP (optionally TLS) connections, hand each over as a stream.

This is the drop-in for ``tornado.tcpserver``.  A subclass overrides
:meth:`TCPServer.handle_stream`; the server binds or adopts listening sockets,
accepts connections on the event loop, wraps each one in an
:class:`~tornado_compat.iostream.IOStream` (or an
:class:`~tornado_compat.iostream.SSLIOStream` for a TLS server) and calls
``handle_stream`` with it.  HTTPServer is built on this class.

What this module must never do:

* read from or write to a connection: the stream and the subclass own it from
  the moment ``handle_stream`` is called (a TLS server does not even wait for
  the handshake; ``SSLIOStream.wait_for_handshake`` is the subclass's tool);
* block the accept loop on a handler: a coroutine returned by
  ``handle_stream`` runs on its own and only its failure is reported;
* log a peer's misbehaviour (a connection reset before we could wrap it in
  TLS) as an error;
* import the Tornado modules that tornado_compat replaces.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from tornado import gen
from tornado.concurrent import Future
from tornado.ioloop import IOLoop

from tornado_compat import process
from tornado_compat._bare import BareConnection
from tornado_compat._transport import _LoopTransport
from tornado_compat.iostream import IOStream, SSLIOStream, _uses_loop_transport
from tornado_compat.netutil import (
    _DEFAULT_BACKLOG,
    _Acceptor,
    bind_sockets,
    ssl_options_to_context,
)

__all__ = ["TCPServer"]


def _check_ssl_option_files(ssl_options: dict[str, Any]) -> None:
    """Fail at construction, not at the first connection, on a bad cert dict."""
    if "certfile" not in ssl_options:
        raise KeyError('missing key "certfile" in ssl_options')
    for key in ("certfile", "keyfile"):
        path = ssl_options.get(key)
        if path is not None and not os.path.exists(path):
            raise ValueError(f'{key} "{path}" does not exist')


def _report_handler_result(future: Future[Any]) -> None:
    # Called through IOLoop.add_future: re-raising the handler's exception
    # here lets the IOLoop log it as "Exception in callback" on app_log,
    # which is where Tornado users (and Tornado's tests) look for it.
    future.result()


def _bare_attached(task: Any, bare: BareConnection) -> None:
    # The loop could not take the socket (the peer reset it meanwhile):
    # the connection ends there, closed and counted.
    if not task.cancelled() and task.exception() is not None:
        bare.connection_lost(task.exception())


def _has_nodelay(connection: socket.socket) -> bool:
    try:
        return bool(connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    except OSError:
        return False


class TCPServer:
    """A TCP server on the event loop: one thread, no blocking calls.

    Subclass it and override :meth:`handle_stream`.  There are three ways to
    start one, as in Tornado:

    1. :meth:`listen` inside a running event loop (single process; with
       ``reuse_port=True`` several processes may each listen on the port);
    2. :func:`~tornado_compat.netutil.bind_sockets`, then
       :func:`~tornado_compat.process.fork_processes`, then, in each child,
       :meth:`add_sockets` inside the event loop;
    3. the deprecated :meth:`bind` followed by :meth:`start`, which forks.

    ``ssl_options`` makes it a TLS server: either an :class:`ssl.SSLContext`
    or a dict of ``ssl.wrap_socket``-style arguments, which must at least name
    an existing ``certfile``.  ``max_buffer_size`` and ``read_chunk_size`` are
    passed to every stream the server creates.

    ``max_connections`` (a tornado_compat extension; default: no cap) caps
    the connections open at once.  A connection counts from its accept until
    its stream is closed, by whoever closes it: the handler, the peer, an
    error, or the application that took it over (a websocket, say, from
    ``detach()``: its descriptor is still open).  At the cap the server stops
    accepting; new connections wait in the kernel's listen backlog (see the
    ``backlog`` of :meth:`listen`) and are accepted as connections close.
    Nobody gets an error for waiting, unlike a server that answers 503 past
    its cap; a client that waits too long times out on its side.

    Running out of file descriptors does not make the server spin: accepting
    pauses briefly and one WARNING a second says so; see
    :func:`~tornado_compat.netutil.add_accept_handler`.  One of the server's
    connections closing ends the pause at once: it freed a descriptor.
    """

    def __init__(
        self,
        ssl_options: dict[str, Any] | ssl.SSLContext | None = None,
        max_buffer_size: int | None = None,
        read_chunk_size: int | None = None,
        max_connections: int | None = None,
    ) -> None:
        if max_connections is not None and (
            isinstance(max_connections, bool)
            or not isinstance(max_connections, int)
            or max_connections < 1
        ):
            raise ValueError(
                f"max_connections must be a positive int or None, "
                f"not {max_connections!r}"
            )
        self.ssl_options = ssl_options
        self.max_buffer_size = max_buffer_size
        self.read_chunk_size = read_chunk_size
        self.max_connections = max_connections
        # Listening sockets we accept on, and the acceptors that detach each
        # one from the event loop when called, both keyed by file descriptor.
        self._sockets: dict[int, socket.socket] = {}
        self._handlers: dict[int, _Acceptor] = {}
        # Connections accepted whose streams are not closed yet, and whether
        # accepting is held because they reached max_connections.
        self._open_connections = 0
        self._at_cap = False
        # Sockets from bind() that wait for start().
        self._pending_sockets: list[socket.socket] = []
        self._started = False
        # Build the TLS context once: turning a dict into a context loads the
        # certificate chain from disk, which is too slow to do per connection.
        self._ssl_context: ssl.SSLContext | None = None
        if ssl_options is not None:
            if isinstance(ssl_options, dict):
                _check_ssl_option_files(ssl_options)
            self._ssl_context = ssl_options_to_context(ssl_options, server_side=True)

    def listen(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Start accepting connections on ``port`` right away.

        The arguments mean what they mean to
        :func:`~tornado_compat.netutil.bind_sockets`.  Call it once per port
        to serve several ports; connections are accepted once the event loop
        runs.
        """
        sockets = bind_sockets(
            port,
            address=address,
            family=family,
            backlog=backlog,
            flags=flags,
            reuse_port=reuse_port,
        )
        self.add_sockets(sockets)

    def add_sockets(self, sockets: Iterable[socket.socket]) -> None:
        """Start accepting connections on already-listening ``sockets``."""
        for sock in sockets:
            fd = sock.fileno()
            self._set_listener_nodelay(sock)
            self._sockets[fd] = sock
            acceptor = _Acceptor(sock, self._handle_connection)
            if self._at_cap:
                acceptor.hold()
            self._handlers[fd] = acceptor

    def _set_listener_nodelay(self, sock: socket.socket) -> None:
        # Streams turn TCP_NODELAY on for every connection.  Linux and the
        # BSDs copy it from a listening socket to the connections accepted
        # on it: on once here, it costs no system call per connection.  The
        # first connection shows whether this system copies it (see
        # _handle_connection); until then, and for a server with a listening
        # socket that does not take it, each stream asks for it as usual.
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return
            except OSError:
                pass
        self._nodelay = False

    def add_socket(self, socket: socket.socket) -> None:
        """Start accepting connections on one already-listening socket."""
        self.add_sockets([socket])

    def bind(
        self,
        port: int,
        address: str | None = None,
        family: socket.AddressFamily = socket.AF_UNSPEC,
        backlog: int = _DEFAULT_BACKLOG,
        flags: int | None = None,
        reuse_port: bool = False,
    ) -> None:
        """Bind to ``port`` now and start accepting on it in :meth:`start`.

        Deprecated in Tornado 6.2 in favour of :meth:`listen` and
        :meth:`add_sockets`; kept because existing programs use it.  After
        :meth:`start` has run it behaves like :meth:`listen`.
        """
        sockets = bind_sockets(
            port,
            address=address,
            family=family,
            backlog=backlog,
            flags=flags,
            reuse_port=reuse_port,
        )
        if self._started:
            self.add_sockets(sockets)
        else:
            self._pending_sockets.extend(sockets)

    def start(
        self, num_processes: int | None = 1, max_restarts: int | None = None
    ) -> None:
        """Start accepting on the sockets from :meth:`bind`, forking first if asked.

        ``num_processes`` of 1 serves from this process.  Any other value
        forks that many children (``None`` or <= 0: one per CPU) through
        :func:`~tornado_compat.process.fork_processes`, which also receives
        ``max_restarts``; each child then accepts on the shared sockets.  No
        event loop may exist before a forking ``start``.
        """
        if self._started:
            raise RuntimeError("TCPServer.start() called twice")
        self._started = True
        if num_processes != 1:
            process.fork_processes(num_processes, max_restarts)
        sockets, self._pending_sockets = self._pending_sockets, []
        self.add_sockets(sockets)

    def stop(self) -> None:
        """Stop accepting and close the listening sockets.

        Connections already accepted carry on.  Calling it again does nothing
        more, unless sockets were added in between, which it then closes too.
        """
        # Swap the tables out first so that a stop() re-entered from a
        # callback, or a second call, finds nothing left to close.
        sockets, self._sockets = self._sockets, {}
        handlers, self._handlers = self._handlers, {}
        pending, self._pending_sockets = self._pending_sockets, []
        for fd, sock in sockets.items():
            # Detach from the event loop before closing, so that the loop
            # never polls a closed (and possibly reused) descriptor.
            handlers[fd]()
            sock.close()
        # Sockets bound but never started are ours too; don't leak them.
        for sock in pending:
            sock.close()

    def handle_stream(self, stream: IOStream, address: tuple) -> Awaitable[None] | None:
        """Handle one incoming connection; subclasses must override it.

        It may be a coroutine (or return any awaitable); the server does not
        wait for it, and logs the exception if it fails.  For a TLS server it
        is called before the handshake is done: await
        ``stream.wait_for_handshake()`` before looking at the peer's
        certificate or the negotiated protocol.
        """
        raise NotImplementedError()

    def _handle_connection(self, connection: socket.socket, address: Any) -> None:
        stream: IOStream
        nodelay = self._nodelay
        if nodelay is None:
            nodelay = self._nodelay = _has_nodelay(connection)
        if self._bare_first and self._client_speaks_first and self._ssl_context is None:
            self._start_bare(connection, address, nodelay)
            return
        if self._ssl_context is not None:
            # The stream runs TLS itself over the plain socket.  Wrapping it
            # in an ssl.SSLSocket first would only be undone, and the ssl
            # module reads from a socket that getpeername calls unconnected
            # (one the peer reset while it waited in the backlog), failing
            # there with the socket left to the garbage collector.
            stream = SSLIOStream(
                connection,
                ssl_options=self._ssl_context,
                server_side=True,
                max_buffer_size=self.max_buffer_size,
                read_chunk_size=self.read_chunk_size,
                _accepted=True,
                _nodelay=nodelay,
            )
        else:
            stream = IOStream(
                connection,
                max_buffer_size=self.max_buffer_size,
                read_chunk_size=self.read_chunk_size,
                _accepted=True,
                _nodelay=nodelay,
            )
        if not stream.closed():
            stream._close_hook = self._count_open()
        self._handle_stream_of(stream, address)

    def _count_open(self) -> Callable[[], None]:
        """Count one more open connection; return what its close calls."""
        hook = self._stream_closed_hook
        if hook is None:
            # One bound method for every stream, not one each.
            hook = self._stream_closed_hook = self._on_stream_closed
        self._open_connections += 1
        cap = self.max_connections
        if cap is not None and self._open_connections >= cap and not self._at_cap:
            self._at_cap = True
            for acceptor in self._handlers.values():
                acceptor.hold()
        return hook

    def _handle_stream_of(self, stream: IOStream, address: Any) -> None:
        result = self.handle_stream(stream, address)
        if result is not None:
            IOLoop.current().add_future(
                gen.convert_yielded(result), _report_handler_result
            )

    # Whether plain connections start on a BareConnection (see
    # tornado_compat._bare): HTTPServer serves their bodyless requests on
    # it, and hands them over to a stream when a request needs one.
    _bare_first = True
    # Whether the protocol served waits for the client's first bytes (HTTP):
    # only then may handle_stream wait for them too.  A TCPServer subclass
    # may greet first, so it is always given its stream at the accept.
    _client_speaks_first = False

    def _start_bare(
        self, connection: socket.socket, address: Any, nodelay: bool
    ) -> None:
        bare = BareConnection(
            connection,
            self,
            self.read_chunk_size,
            self.max_buffer_size,
            self._count_open(),
            address,
        )
        # The stream that takes it over reads it directly at times, as a
        # stream made here would (accept() gives a blocking socket).
        connection.setblocking(False)
        self._bare_started(bare)
        io_loop = IOLoop.current()
        if _uses_loop_transport(io_loop):
            _LoopTransport(io_loop, connection, bare, nodelay)
            return
        loop = io_loop.asyncio_loop  # type: ignore[attr-defined]
        task = loop.create_task(loop.connect_accepted_socket(lambda: bare, connection))
        task.add_done_callback(lambda task: _bare_attached(task, bare))

    def _bare_started(self, bare: BareConnection) -> None:
        """A subclass's look at a new BareConnection, at the accept (before
        its transport exists): HTTPServer tracks it and starts its wait
        deadline."""

    _stream_closed_hook: Callable[[], None] | None = None
    # Whether accepted connections come with TCP_NODELAY on (see
    # _set_listener_nodelay); None until the first one shows it.
    _nodelay: bool | None = None

    def _on_stream_closed(self) -> None:
        # Called by each counted stream's close, once.
        self._open_connections -= 1
        cap = self.max_connections
        if self._at_cap and (cap is None or self._open_connections < cap):
            self._at_cap = False
            for acceptor in self._handlers.values():
                acceptor.release()
        # The descriptor it held is free: an acceptor that ran out of them
        # tries again now rather than at the end of its pause.
        for acceptor in self._handlers.values():
            acceptor.retry()
