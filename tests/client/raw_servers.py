"""Scripted servers for the client tests (not a test module).

What this module is for: the other side of a client test, written so that the
test controls every byte the client receives.  Nothing here uses
tornado_compat, so a bug in our server cannot pass for (or hide) a bug in a
client.

- :class:`LoopThread`: an asyncio loop on a thread of its own, with the
  servers of one test on it.
- :class:`ScriptedServer`: a TCP (optionally TLS) listener whose every
  connection runs a script, ``async def script(reader, writer)``; the script
  decides what to send, including malformed responses, and may reset the
  connection (:func:`reset`).
- :class:`AppServer`: a small keep-alive HTTP/1.1 server built on it, with
  routes (``async def handler(exchange)``) and a record of every request it
  read (:class:`Request`).
- :class:`Signal`: a one-shot flag that a coroutine on any loop can await and
  any thread can set, for handing control between the test and a server.
- :class:`StalledPort`: a listening port whose accept queue is full, so that
  a connection attempt never completes (for connect timeouts).
- :func:`closed_but_watched`: a check on the client's side, that its event
  loop is not left watching file descriptors that were closed.

What it must never do: sleep to wait for something, or log at ERROR (the
project's conftest fails such a test).  Errors that a script raises on
purpose-made faults (resets, closed connections) are expected and dropped;
any other exception is kept in :attr:`ScriptedServer.errors` for the test to
check.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import gzip
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import brotli

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

T = TypeVar("T")

#: Safety net for one call into a server's loop from the test's thread.
CALL_TIMEOUT = 10.0

#: The errors a connection may end with when a client or a script breaks it.
CONNECTION_ERRORS = (
    ConnectionError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    ssl.SSLError,
    OSError,
)


class LoopThread:
    """An asyncio loop running on its own thread until :meth:`close`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        #: What the loop's exception handler was given (handshake failures
        #: and the like); kept, never logged.
        self.loop_errors: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, ctx: self.loop_errors.append(ctx))
        self._servers: list[asyncio.AbstractServer] = []
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="client-test-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(CALL_TIMEOUT):
            raise RuntimeError("the server loop did not start")

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``make()`` on the loop and return its result."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            make(), self.loop
        )
        return future.result(CALL_TIMEOUT)

    def add_server(self, server: asyncio.AbstractServer) -> None:
        self._servers.append(server)

    def close(self) -> None:
        async def stop_all() -> None:
            for server in self._servers:
                server.close()
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for server in self._servers:
                await server.wait_closed()

        try:
            self.call(stop_all)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(CALL_TIMEOUT)
            self.loop.close()


class Signal:
    """A flag that is set once, from any thread, and awaited on any loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            if self._set:
                return
            self._set = True
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._set:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        await future


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ScriptedServer:
    """A listener on 127.0.0.1 whose every connection runs ``script``.

    The connection is closed when the script returns (unless it already
    was).  ``ssl_context`` makes it a TLS server.  ``connections`` counts the
    connections accepted; ``errors`` keeps unexpected exceptions of scripts.
    """

    def __init__(
        self,
        thread: LoopThread,
        script: Script,
        ssl_context: ssl.SSLContext | None = None,
        limit: int = 2**20,
    ) -> None:
        self.thread = thread
        self.script = script
        self.scheme = "https" if ssl_context is not None else "http"
        self.connections = 0
        self.errors: list[BaseException] = []

        async def start() -> asyncio.AbstractServer:
            return await asyncio.start_server(
                self._connected, "127.0.0.1", 0, ssl=ssl_context, limit=limit
            )

        self.server = thread.call(start)
        thread.add_server(self.server)
        self.port: int = self.server.sockets[0].getsockname()[1]

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.origin + path

    async def _connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer)
            if not writer.is_closing():
                await writer.drain()
        except CONNECTION_ERRORS:
            pass
        except asyncio.CancelledError:
            # The loop is shutting down; the connection goes with it.
            writer.transport.abort()
            raise
        except Exception as e:
            self.errors.append(e)
        finally:
            writer.close()


def reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a TCP reset (SO_LINGER with a zero timeout)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# -- HTTP --------------------------------------------------------------------


@dataclass
class Request:
    """A request as the server read it; ``body`` is filled in once read."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def values(self, name: str) -> list[str]:
        """Every value of the header ``name`` (case-insensitive), in order."""
        lower = name.lower()
        return [v for n, v in self.headers if n.lower() == lower]

    def header(self, name: str) -> str | None:
        """The first value of ``name``, or None."""
        values = self.values(name)
        return values[0] if values else None

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.target).query))

    @property
    def chunked(self) -> bool:
        return "chunked" in (self.header("Transfer-Encoding") or "").lower()


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Read one request head; None when the client closed before a byte."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    return Request(method, target, version, headers)


async def read_body(reader: asyncio.StreamReader, request: Request) -> bytes:
    """Read the body that ``request`` announces (Content-Length or chunked)."""
    if request.chunked:
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                # Trailers, if any, end with an empty line.
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return b"".join(parts)
    length = request.header("Content-Length")
    if length:
        return await reader.readexactly(int(length))
    return b""


def response_head(
    status: int,
    headers: Iterable[tuple[str, str]] = (),
    reason: str | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason or REASONS.get(status, 'Whatever')}"]
    lines += [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


REASONS = {
    100: "Continue",
    200: "OK",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    303: "See Other",
    304: "Not Modified",
    307: "Temporary Redirect",
    308: "Permanent Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    417: "Expectation Failed",
}


def chunked(*parts: bytes) -> bytes:
    """``parts`` in chunked framing, with the final empty chunk."""
    out = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p)
    return out + b"0\r\n\r\n"


@dataclass
class Exchange:
    """One request being answered by an :class:`AppServer` route."""

    server: AppServer
    request: Request
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    body_read: bool = False
    continue_sent: bool = False
    #: Set by a route to close the connection after its answer.
    close: bool = False
    #: What a route wants the test to know (anything JSON-able).
    notes: dict[str, Any] = field(default_factory=dict)

    async def body(self) -> bytes:
        """Read the request body, answering ``Expect: 100-continue`` first."""
        if not self.body_read:
            expect = (self.request.header("Expect") or "").lower()
            if expect == "100-continue" and not self.continue_sent:
                self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                self.continue_sent = True
            self.request.body = await read_body(self.reader, self.request)
            self.body_read = True
        return self.request.body

    def respond(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
        reason: str | None = None,
    ) -> None:
        """Send a whole response with a Content-Length (no body for HEAD)."""
        all_headers = [*headers, ("Content-Length", str(len(body)))]
        self.writer.write(response_head(status, all_headers, reason))
        if self.request.method != "HEAD":
            self.writer.write(body)

    def respond_json(self, data: Any, status: int = 200) -> None:
        self.respond(
            status, json.dumps(data).encode(), [("Content-Type", "application/json")]
        )


Route = Callable[[Exchange], Awaitable[None]]


class AppServer(ScriptedServer):
    """A keep-alive HTTP/1.1 server with routes by path.

    Unknown paths get a 404.  ``requests`` lists every request read, in
    order; ``exchanges`` the matching :class:`Exchange` objects.  A route that
    leaves the request body unread closes the connection after answering.
    """

    def __init__(
        self,
        thread: LoopThread,
        routes: dict[str, Route] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.routes: dict[str, Route] = dict(default_routes())
        self.routes.update(routes or {})
        self.requests: list[Request] = []
        self.exchanges: list[Exchange] = []
        super().__init__(thread, self._serve, ssl_context=ssl_context)

    def route(self, path: str) -> Callable[[Route], Route]:
        """Decorator adding (or replacing) the route for ``path``."""

        def add(handler: Route) -> Route:
            self.routes[path] = handler
            return handler

        return add

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            request = await read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            exchange = Exchange(self, request, reader, writer)
            self.exchanges.append(exchange)
            handler = self.routes.get(request.path, not_found)
            await handler(exchange)
            await writer.drain()
            has_body = (
                request.chunked or (request.header("Content-Length") or "0") != "0"
            )
            wants_close = (request.header("Connection") or "").lower() == "close"
            if exchange.close or wants_close or (has_body and not exchange.body_read):
                return


# -- routes --------------------------------------------------------------------


async def not_found(ex: Exchange) -> None:
    await ex.body()
    ex.respond(404, b"no such page")


async def echo(ex: Exchange) -> None:
    """Answers with a JSON description of the request."""
    body = await ex.body()
    ex.respond_json(
        {
            "method": ex.request.method,
            "target": ex.request.target,
            "headers": ex.request.headers,
            "body": body.decode("latin-1"),
        }
    )


async def status(ex: Exchange) -> None:
    """``?code=N&reason=...``: answers with that status."""
    await ex.body()
    code = int(ex.request.query.get("code", "200"))
    ex.respond(code, b"status %d" % code, reason=ex.request.query.get("reason"))


async def redirect(ex: Exchange) -> None:
    """``?to=URL&code=N``: a redirect (302 by default) to ``to``."""
    await ex.body()
    query = ex.request.query
    ex.respond(
        int(query.get("code", "302")), b"moved", [("Location", query.get("to", "/"))]
    )


async def chain(ex: Exchange) -> None:
    """``?n=N``: N redirects in a row before a 200."""
    await ex.body()
    n = int(ex.request.query.get("n", "0"))
    if n == 0:
        ex.respond(200, b"end of chain")
    else:
        ex.respond(302, b"", [("Location", f"/chain?n={n - 1}")])


async def loop(ex: Exchange) -> None:
    """A redirect to itself."""
    await ex.body()
    ex.respond(302, b"", [("Location", "/loop")])


async def basic_auth(ex: Exchange) -> None:
    """200 for user "user" with password "pass" in Basic auth, else 401."""
    await ex.body()
    expected = "Basic " + base64.b64encode(b"user:pass").decode()
    if ex.request.header("Authorization") == expected:
        ex.respond(200, b"welcome")
    else:
        ex.respond(401, b"who are you", [("WWW-Authenticate", 'Basic realm="test"')])


DIGEST_REALM = "digest-test"
DIGEST_NONCE = "0123456789abcdef"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _digest_fields(header: str) -> dict[str, str]:
    fields = {}
    for part in header.removeprefix("Digest ").split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value.strip('"')
    return fields


async def digest_auth(ex: Exchange) -> None:
    """Digest auth (qop=auth, MD5) for user "user" with password "pass"."""
    await ex.body()
    header = ex.request.header("Authorization") or ""
    if header.startswith("Digest "):
        f = _digest_fields(header)
        ha1 = _md5(f"user:{DIGEST_REALM}:pass")
        ha2 = _md5(f"{ex.request.method}:{f.get('uri')}")
        expected = _md5(
            f"{ha1}:{DIGEST_NONCE}:{f.get('nc')}:{f.get('cnonce')}:{f.get('qop')}:{ha2}"
        )
        if f.get("username") == "user" and f.get("response") == expected:
            ex.respond(200, b"digest welcome")
            return
    challenge = f'Digest realm="{DIGEST_REALM}", nonce="{DIGEST_NONCE}", qop="auth"'
    ex.respond(401, b"who are you", [("WWW-Authenticate", challenge)])


#: The body that :func:`encoded` compresses.
PAYLOAD = b"The quick brown fox jumps over the lazy dog. " * 200


def encode(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.compress(data, mtime=0)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "br":
        return bytes(brotli.compress(data, quality=5))
    if coding == "zstd":
        return zstd.compress(data)
    raise ValueError(f"no encoder for {coding!r}")


def decodes(backend_name: str, coding: str) -> bool:
    """Whether the backend ``backend_name`` is expected to decode ``coding``.

    The simple backend decodes gzip, deflate, br and zstd.  The curl backend
    decodes what the libcurl it runs on was built with.
    """
    if backend_name == "simple":
        return coding in ("gzip", "deflate", "br", "zstd")
    import pycurl

    features = pycurl.version_info()[4]
    return {
        "gzip": bool(features & pycurl.VERSION_LIBZ),
        "deflate": bool(features & pycurl.VERSION_LIBZ),
        "br": bool(features & pycurl.VERSION_BROTLI),
        "zstd": bool(features & getattr(pycurl, "VERSION_ZSTD", 0)),
    }.get(coding, False)


def accepted_codings(request: Request) -> list[str]:
    """The codings named in Accept-Encoding (all its lines), q=0 excluded."""
    codings = []
    for value in request.values("Accept-Encoding"):
        for item in value.split(","):
            name, _, params = item.strip().partition(";")
            if not name:
                continue
            if params.replace(" ", "").lower() in ("q=0", "q=0.0", "q=0.00"):
                continue
            codings.append(name.strip().lower())
    return codings


async def encoded(ex: Exchange) -> None:
    """``?coding=C``: :data:`PAYLOAD` encoded with C if the client accepts C
    (or ``force=1``), else as it is.  ``notes["sent"]`` says which."""
    await ex.body()
    coding = ex.request.query["coding"]
    if coding in accepted_codings(ex.request) or ex.request.query.get("force"):
        ex.notes["sent"] = coding
        ex.respond(200, encode(coding, PAYLOAD), [("Content-Encoding", coding)])
    else:
        ex.notes["sent"] = "identity"
        ex.respond(200, PAYLOAD)


def default_routes() -> dict[str, Route]:
    return {
        "/echo": echo,
        "/status": status,
        "/redirect": redirect,
        "/chain": chain,
        "/loop": loop,
        "/basic": basic_auth,
        "/digest": digest_auth,
        "/encoded": encoded,
    }


# -- client-side checks ----------------------------------------------------------


def closed_but_watched(loop: asyncio.AbstractEventLoop) -> list[int]:
    """The file descriptors that ``loop`` still watches although they are
    closed.  Such a registration breaks whichever socket gets the number
    next (its registration fails, or it gets the old one's events), so it
    must go before the descriptor is closed.  Only a selector loop can tell.
    """
    selector = getattr(loop, "_selector", None)
    if selector is None:
        return []
    stale = []
    for fd in selector.get_map():
        try:
            os.fstat(fd)
        except OSError:
            stale.append(fd)
    return stale


# -- a port that never completes a connection ----------------------------------


class StalledPort:
    """A listening socket that never accepts, with its accept queue full.

    Linux drops a SYN for a listener whose queue is full, so a further
    connection attempt neither succeeds nor fails: it waits until the client
    gives up.  That makes connect timeouts testable without a network.
    """

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port: int = self.listener.getsockname()[1]
        self._fillers = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            # Non-blocking: the attempts past the queue's size stay pending.
            filler.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(filler)
        # A blocking attempt that times out proves the queue is full.
        probe = socket.socket()
        probe.settimeout(0.2)
        try:
            probe.connect(("127.0.0.1", self.port))
        except TimeoutError:
            pass
        else:
            raise RuntimeError("StalledPort: a connection went through")
        finally:
            probe.close()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        for filler in self._fillers:
            filler.close()
        self.listener.close()


def closed_port() -> int:
    """A port of 127.0.0.1 with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
