"""Servers and helpers shared by the client tests (not a test module).

What this module is for: giving a client test something real to talk to,
running on the test's own event loop, and making what the server saw an
assertion rather than a guess.  Every server here counts the connections it
accepted and the ones that ended, and a test waits on those counts with a
deadline (:meth:`ConnectionLog.wait_for`); nothing here sleeps to
synchronise.

The pieces, all meant to be used from a coroutine run by
:func:`tests.support.run`:

- :func:`serve_http`: our own :class:`~tornado_compat.httpserver.HTTPServer`
  (:class:`CountingHTTPServer`) on 127.0.0.1, a unix socket, or both, with or
  without TLS.  The default application is
  :class:`tests.server.support.RecordingApp`, which answers every request
  with a JSON description of it (method, uri, headers, body...).
- :func:`serve_script`: a raw server whose every connection is handled by a
  coroutine of the test's (a *script*), for answers our HTTPServer would
  never give: ``Connection: close`` without closing, HTTP/1.0, bodies read
  until close, invalid responses, no answer at all.  :func:`keep_alive` is
  the well-behaved script; :func:`per_connection` gives the first
  connections scripts of their own.  Each answer of :meth:`ScriptedConnection.respond`
  carries ``X-Connection: <n>``, the server's number for the connection
  (1 for the first accepted), so a test can see which connection served it.
- :class:`TLS`: a trustme CA, its PEM file and a server context for
  127.0.0.1, localhost and secure.test.
- :class:`TinyproxyFactory`: real proxies (Debian's tinyproxy), one process
  per configuration, stopped when the factory is closed.  A missing
  tinyproxy is a failure, not a skip: it is a test dependency that
  ``.ci/run`` installs.
- :func:`closing_client`: a client of a backend, closed on the test's loop
  when the block ends.

What it must never do: sleep to wait for something, or swallow an error of
a test's script (those are raised again when the server stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import trustme

from tests.ports import free_port
from tests.server.support import RecordingApp
from tornado_compat.httpclient import AsyncHTTPClient, HTTPResponse
from tornado_compat.httpserver import HTTPServer
from tornado_compat.netutil import bind_sockets, bind_unix_socket

#: The address every test server listens on.
LOOPBACK = "127.0.0.1"

#: Safety net for waiting on a server-side event; a test that needs it has
#: already failed.
WAIT_TIMEOUT = 10.0

#: Errors that mean "the peer went away", which a script need not report.
PEER_GONE = (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, EOFError)


# -- what a server saw -------------------------------------------------------


class ConnectionLog:
    """Counts of a server's connections, and a way to wait for them to change.

    ``accepted`` counts connections accepted, ``closed`` those that ended
    (whichever side closed them); ``peers`` holds the peer address of each
    accepted connection (``""`` for a unix socket).  Use it on the loop that
    runs the server.
    """

    def __init__(self) -> None:
        self.accepted = 0
        self.closed = 0
        self.peers: list[Any] = []
        self._changed: asyncio.Event | None = None

    @property
    def open(self) -> int:
        return self.accepted - self.closed

    def opened(self, peer: Any) -> None:
        self.accepted += 1
        self.peers.append(peer)
        self.changed()

    def ended(self) -> None:
        self.closed += 1
        self.changed()

    def changed(self) -> None:
        """Wake every :meth:`wait_for`; servers call it on each event."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        what: str,
        timeout: float = WAIT_TIMEOUT,
    ) -> None:
        """Return once ``predicate()`` is true; fail naming ``what`` if it
        is still false after ``timeout`` seconds."""

        async def until() -> None:
            while not predicate():
                if self._changed is None:
                    self._changed = asyncio.Event()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what} "
                f"(accepted={self.accepted}, closed={self.closed})"
            ) from None

    async def wait_closed(self, count: int, timeout: float = WAIT_TIMEOUT) -> None:
        """Wait until ``count`` connections have ended."""
        await self.wait_for(
            lambda: self.closed >= count,
            f"{count} connection(s) to end",
            timeout,
        )

    def __repr__(self) -> str:
        return f"<ConnectionLog accepted={self.accepted} closed={self.closed}>"


# -- our HTTPServer, counting ------------------------------------------------


class CountingHTTPServer(HTTPServer):
    """An HTTPServer that keeps a :class:`ConnectionLog` (``connection_log``)."""

    def initialize(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(*args, **kwargs)
        self.connection_log = ConnectionLog()

    def handle_stream(self, stream: Any, address: Any) -> None:
        self.connection_log.opened(address)
        super().handle_stream(stream, address)

    def on_close(self, server_conn: object) -> None:
        super().on_close(server_conn)
        self.connection_log.ended()


@dataclasses.dataclass
class Origin:
    """A running :func:`serve_http` server."""

    server: CountingHTTPServer
    app: Any
    port: int | None
    unix_socket: str | None
    scheme: str

    @property
    def log(self) -> ConnectionLog:
        return self.server.connection_log

    def url(self, path: str = "/", host: str = LOOPBACK) -> str:
        """The URL of ``path`` on this server (its TCP port, if it has one;
        with ``unix_socket=`` the port part does not matter)."""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{path}"


@contextlib.asynccontextmanager
async def serve_http(
    app: Any = None,
    *,
    tcp: bool = True,
    unix_socket: str | os.PathLike[str] | None = None,
    addresses: Iterable[str] = (LOOPBACK,),
    ssl_options: ssl.SSLContext | dict[str, Any] | None = None,
    **server_kwargs: Any,
) -> AsyncIterator[Origin]:
    """Run a :class:`CountingHTTPServer` for ``app`` (a :class:`RecordingApp`
    by default) while the block runs.

    It listens on a fresh port of each address in ``addresses`` (one port,
    shared by all of them) unless ``tcp`` is false, and on the unix socket
    ``unix_socket`` if given.  On exit it stops and closes every connection.
    """
    if app is None:
        app = RecordingApp()
    server = CountingHTTPServer(app, ssl_options=ssl_options, **server_kwargs)
    port: int | None = None
    try:
        if tcp:
            for address in addresses:
                sockets = bind_sockets(port or 0, address=address)
                port = sockets[0].getsockname()[1]
                server.add_sockets(sockets)
        path = None
        if unix_socket is not None:
            path = os.fspath(unix_socket)
            server.add_socket(bind_unix_socket(path))
        scheme = "https" if ssl_options is not None else "http"
        yield Origin(server, app, port, path, scheme)
    finally:
        server.stop()
        await server.close_all_connections()


def described(response: HTTPResponse) -> dict[str, Any]:
    """The request as :class:`RecordingApp` described it in ``response``."""
    return json.loads(response.body)  # type: ignore[no-any-return]


def header_values(description: dict[str, Any], name: str) -> list[str]:
    """Every value of header ``name`` in a :func:`described` request."""
    return [v for n, v in description["headers"] if n.lower() == name.lower()]


# -- scripted servers ----------------------------------------------------------


@dataclasses.dataclass
class RawRequest:
    """One request as a :class:`ScriptedConnection` read it."""

    connection: int
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name``, or None."""
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    @classmethod
    def parse_head(cls, connection: int, head: bytes) -> RawRequest:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip(), value.strip()))
        return cls(connection, method, target, version, headers)


class ScriptedConnection:
    """One accepted connection of a :class:`ScriptedServer`, as its script
    sees it: read requests, write answers (good or bad), close."""

    def __init__(
        self,
        server: ScriptedServer,
        index: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        #: 1 for the first connection the server accepted, 2 for the next...
        self.index = index
        self.reader = reader
        self.writer = writer
        self.requests: list[RawRequest] = []

    async def read_request(self, body: bool = True) -> RawRequest | None:
        """The next request, its body included unless ``body`` is false.

        None when the client closed the connection (or reset it) before
        sending a byte of a new request.
        """
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise AssertionError(
                    f"connection {self.index}: closed inside a request head: "
                    f"{exc.partial!r}"
                ) from None
            return None
        except (ConnectionError, ssl.SSLError):
            return None
        request = RawRequest.parse_head(self.index, head)
        if body:
            request.body = await self.read_body(request)
        self.requests.append(request)
        self.server.requests.append(request)
        self.server.log.changed()
        return request

    async def read_body(self, request: RawRequest) -> bytes:
        """The body ``request``'s head announces (Content-Length or chunked)."""
        if (request.header("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    # Trailers, then the blank line.
                    while await self.reader.readuntil(b"\r\n") != b"\r\n":
                        pass
                    return b"".join(chunks)
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        length = int(request.header("Content-Length") or 0)
        return await self.reader.readexactly(length) if length else b""

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def respond(
        self,
        status: int = 200,
        body: bytes = b"ok",
        headers: Iterable[tuple[str, str]] = (),
        version: str = "HTTP/1.1",
        reason: str = "OK",
        content_length: bool = True,
        head: bool = False,
    ) -> None:
        """Write one answer (and wait until it is written).

        ``X-Connection`` is always added; ``Content-Length`` unless
        ``content_length`` is false (then the body runs until the script
        closes the connection).  ``head`` leaves the body out, as the answer
        to a HEAD request must.
        """
        lines = [f"{version} {status} {reason}", f"X-Connection: {self.index}"]
        if content_length:
            lines.append(f"Content-Length: {len(body)}")
        lines += [f"{n}: {v}" for n, v in headers]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head:
            data += body
        self.writer.write(data)
        await self.writer.drain()

    async def wait_peer_close(self) -> None:
        """Read (and drop) whatever comes until the client closes."""
        with contextlib.suppress(*PEER_GONE):
            while await self.reader.read(65536):
                pass

    async def close(self) -> None:
        """Close the connection from the server's side."""
        self.writer.close()
        with contextlib.suppress(*PEER_GONE):
            await self.writer.wait_closed()


#: What a :class:`ScriptedServer` runs for each connection.
Script = Callable[[ScriptedConnection], Awaitable[None]]


async def keep_alive(conn: ScriptedConnection) -> None:
    """The well-behaved script: answer every request on the connection, with
    ``connection=<n> request=<k>`` as the body, until the client closes."""
    while (request := await conn.read_request()) is not None:
        body = f"connection={conn.index} request={len(conn.requests)}".encode()
        await conn.respond(body=body, head=request.method == "HEAD")


def per_connection(*scripts: Script, then: Script = keep_alive) -> Script:
    """A script that runs ``scripts[0]`` for the first connection accepted,
    ``scripts[1]`` for the second, and so on; ``then`` for the others."""

    async def script(conn: ScriptedConnection) -> None:
        if conn.index <= len(scripts):
            await scripts[conn.index - 1](conn)
        else:
            await then(conn)

    return script


class ScriptedServer:
    """A TCP (or unix socket) server that runs a :data:`Script` per connection.

    ``log`` counts connections (one ends when its script returns: the
    connection is then closed); ``requests`` lists every request read, in
    order, from all connections; ``connections`` the connections accepted.
    An exception a script raises (other than the peer going away) is kept
    in ``errors`` and raised again by :func:`serve_script` at the end.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.log = ConnectionLog()
        self.requests: list[RawRequest] = []
        self.connections: list[ScriptedConnection] = []
        self.errors: list[BaseException] = []
        self.port: int | None = None
        self.unix_socket: str | None = None
        self.scheme = "http"
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def url(self, path: str = "/", host: str = LOOPBACK) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{path}"

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]

    async def start(
        self,
        unix_socket: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        receive_buffer: int | None = None,
    ) -> None:
        if ssl_context is not None:
            self.scheme = "https"
        if unix_socket is not None:
            self.unix_socket = unix_socket
            self._server = await asyncio.start_unix_server(
                self._accept, sock=bind_unix_socket(unix_socket), ssl=ssl_context
            )
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if receive_buffer is not None:
                # Set before listen() so that accepted sockets inherit it
                # (and the kernel does not grow it behind our back).
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.bind((LOOPBACK, 0))
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(
            self._accept, sock=sock, ssl=ssl_context
        )

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = ScriptedConnection(self, len(self.connections) + 1, reader, writer)
        self.connections.append(conn)
        self.log.opened(writer.get_extra_info("peername"))
        try:
            await self.script(conn)
        except (*PEER_GONE, asyncio.CancelledError):
            # A cancelled task would make asyncio's stream callback log an
            # error (Python < 3.12): stop() cancels scripts, so end quietly.
            pass
        except Exception as exc:
            self.errors.append(exc)
        finally:
            writer.close()
            self.log.ended()
            self._tasks.discard(task)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for conn in self.connections:
            try:
                await asyncio.wait_for(conn.writer.wait_closed(), WAIT_TIMEOUT)
            except asyncio.TimeoutError:
                # A TLS close waits for the peer's answer; don't wait forever.
                conn.writer.transport.abort()
            except PEER_GONE:
                pass
        if self._server is not None:
            await self._server.wait_closed()
        if self.unix_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unix_socket)


@contextlib.asynccontextmanager
async def serve_script(
    script: Script = keep_alive,
    *,
    unix_socket: str | os.PathLike[str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    receive_buffer: int | None = None,
) -> AsyncIterator[ScriptedServer]:
    """Run a :class:`ScriptedServer` while the block runs, on a fresh port
    of 127.0.0.1 (or on ``unix_socket``).

    ``receive_buffer`` sets SO_RCVBUF of accepted connections, for tests
    that need the client's upload to stall while the script reads nothing.
    """
    server = ScriptedServer(script)
    path = os.fspath(unix_socket) if unix_socket is not None else None
    await server.start(path, ssl_context, receive_buffer)
    try:
        yield server
    finally:
        await server.stop()
    if server.errors:
        raise AssertionError(
            f"a scripted connection failed: {server.errors[0]!r}"
        ) from server.errors[0]


# -- clients -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def closing_client(backend: Any, **kwargs: Any) -> AsyncIterator[Any]:
    """``backend.client(**kwargs)``, closed on this loop when the block ends
    (the ``backend`` fixture would close it too, but only after the loop of
    :func:`tests.support.run` is gone)."""
    client: AsyncHTTPClient = backend.client(**kwargs)
    try:
        yield client
    finally:
        client.close()


def connection_of(response: HTTPResponse) -> int:
    """The number of the scripted connection that answered ``response``."""
    return int(response.headers["X-Connection"])


# -- TLS -------------------------------------------------------------------------


class TLS:
    """A throwaway CA (trustme) and a server certificate it issued for
    127.0.0.1, localhost and secure.test.

    ``ca_file`` is the CA certificate as a PEM file, for ``ca_certs=``.
    """

    NAMES = ("127.0.0.1", "localhost", "secure.test")

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert(*self.NAMES)
        self.ca_file = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context

    def copy_ca_file(self, path: Path) -> str:
        """The same CA certificate under another file name."""
        shutil.copyfile(self.ca_file, path)
        return str(path)


# -- tinyproxy -------------------------------------------------------------------

#: How long tinyproxy may take to start listening.
PROXY_START_TIMEOUT = 10.0

#: The Via header names the proxy this way (ViaProxyName).
PROXY_VIA_NAME = "tinyproxy-test"

TINYPROXY_MISSING = (
    "tinyproxy is not installed: it is a test dependency of the client "
    "tests (a real HTTP proxy).  Install it with `apt-get install -y "
    "tinyproxy` (.ci/run does that), or put it on PATH / in $TINYPROXY."
)


#: Where Debian's package puts tinyproxy, in case PATH lacks the directory.
TINYPROXY_PATHS: tuple[str, ...] = ("/usr/bin/tinyproxy", "/usr/sbin/tinyproxy")


def find_tinyproxy() -> str:
    """The tinyproxy executable ($TINYPROXY, PATH, /usr/bin or /usr/sbin).

    When it is missing and this is a Debian machine where the tests run as
    root (CI's fresh machines), Debian's package is installed first, so that
    the README's test command works on a fresh machine; otherwise an
    AssertionError says how to install it."""
    found = _tinyproxy_on_disk()
    if found is None and install_debian_package("tinyproxy"):
        found = _tinyproxy_on_disk()
    if found is None:
        raise AssertionError(TINYPROXY_MISSING)
    return found


def _tinyproxy_on_disk() -> str | None:
    candidates = [os.environ.get("TINYPROXY"), shutil.which("tinyproxy")]
    candidates += TINYPROXY_PATHS
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def install_debian_package(package: str) -> bool:
    """Install a Debian package with apt-get, if running as root where
    apt-get exists; whether the install succeeded.  The package lists are
    refreshed only when the first attempt fails."""
    apt_get = shutil.which("apt-get")
    if apt_get is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [apt_get, "install", "-y", "--no-install-recommends", package]

    def quietly(command: list[str]) -> bool:
        done = subprocess.run(
            command,
            env=env,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return done.returncode == 0

    if quietly(install):
        return True
    quietly([apt_get, "update"])
    return quietly(install)


@dataclasses.dataclass
class Tinyproxy:
    """One running tinyproxy process."""

    host: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]
    credentials: tuple[str, str] | None

    @property
    def log_file(self) -> Path:
        return self.directory / "tinyproxy.log"

    def log(self) -> str:
        """Everything tinyproxy logged so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def options(self, with_credentials: bool = True) -> dict[str, Any]:
        """``proxy_*`` arguments of a fetch through this proxy."""
        options: dict[str, Any] = {"proxy_host": self.host, "proxy_port": self.port}
        if with_credentials and self.credentials is not None:
            options["proxy_username"], options["proxy_password"] = self.credentials
        return options

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(PROXY_START_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class TinyproxyFactory:
    """Starts tinyproxy processes under ``directory``; :meth:`close` stops
    them all.  Use it as a context manager (or through a fixture)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.executable = find_tinyproxy()
        self.proxies: list[Tinyproxy] = []

    def __enter__(self) -> TinyproxyFactory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for proxy in self.proxies:
            proxy.stop()
        self.proxies.clear()

    def start(
        self,
        connect_ports: Iterable[int] = (),
        credentials: tuple[str, str] | None = None,
    ) -> Tinyproxy:
        """A new tinyproxy on 127.0.0.1 that accepts clients from 127.0.0.1.

        CONNECT is allowed to ``connect_ports`` only (and refused with 403
        to any other port, also when the list is empty); ``credentials``
        (user, password) turns on Basic proxy authentication.  Fails if the
        proxy does not accept connections within PROXY_START_TIMEOUT.
        """
        ports = list(connect_ports)
        # A port picked here may be taken before tinyproxy binds it; try again.
        for attempt in range(3):
            proxy = self._launch(len(self.proxies), attempt, ports, credentials)
            if proxy is not None:
                self.proxies.append(proxy)
                return proxy
        raise AssertionError("tinyproxy did not start (see the messages above)")

    def _launch(
        self,
        number: int,
        attempt: int,
        connect_ports: list[int],
        credentials: tuple[str, str] | None,
    ) -> Tinyproxy | None:
        directory = self.directory / f"tinyproxy-{number}-{attempt}"
        directory.mkdir(parents=True)
        port = free_port()
        lines = [
            f"Port {port}",
            f"Listen {LOOPBACK}",
            "Timeout 30",
            f'LogFile "{directory / "tinyproxy.log"}"',
            "LogLevel Info",
            "MaxClients 100",
            f"Allow {LOOPBACK}",
            f'ViaProxyName "{PROXY_VIA_NAME}"',
        ]
        # Without any ConnectPort line tinyproxy would allow CONNECT to every
        # port; port 0 never matches a real one, so an empty list allows none.
        lines += [f"ConnectPort {p}" for p in connect_ports or [0]]
        if credentials is not None:
            lines.append("BasicAuth %s %s" % credentials)
        config = directory / "tinyproxy.conf"
        config.write_text("\n".join(lines) + "\n")
        with open(directory / "stderr.txt", "wb") as stderr:
            process = subprocess.Popen(
                [self.executable, "-d", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        proxy = Tinyproxy(LOOPBACK, port, directory, process, credentials)
        deadline = time.monotonic() + PROXY_START_TIMEOUT
        while True:
            if process.poll() is not None:
                output = (directory / "stderr.txt").read_text(errors="replace")
                print(
                    f"tinyproxy exited with {process.returncode} on port {port}:\n"
                    f"{output}\n{proxy.log()}"
                )
                return None
            try:
                with socket.create_connection((LOOPBACK, port), timeout=1):
                    return proxy
            except OSError:
                pass
            if time.monotonic() > deadline:
                proxy.stop()
                raise AssertionError(
                    f"tinyproxy did not listen on {LOOPBACK}:{port} within "
                    f"{PROXY_START_TIMEOUT}s; its log:\n{proxy.log()}"
                )
            # Polling a port that is not open yet: wait a little between tries.
            time.sleep(0.005)


@contextlib.contextmanager
def tinyproxies(directory: Path) -> Iterator[TinyproxyFactory]:
    """A :class:`TinyproxyFactory` whose proxies stop when the block ends."""
    with TinyproxyFactory(directory) as factory:
        yield factory
