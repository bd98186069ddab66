"""The server side of the server tests: an event loop on its own thread, and
small applications that record what they were given.

What this module is for: running :class:`tornado_compat.httpserver.HTTPServer`
on a real event loop (asyncio's or uvloop) in a background thread, so that a
test on the main thread can talk to it with blocking sockets and control
every byte; and giving tests applications that count their calls, so that
"the application never saw this request" is an assertion, not a hope.

What it must never do: sleep to wait for something.  Calls into the loop wait
on a concurrent future whose timeout is a safety net only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from tornado.ioloop import IOLoop

from tornado_compat import httputil
from tornado_compat.httpserver import HTTPServer
from tornado_compat.netutil import bind_sockets

T = TypeVar("T")

#: Safety net for one call into the server's loop.
CALL_TIMEOUT = 10.0


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.SelectorEventLoop()


class ServerThread:
    """An event loop running on a thread of its own, with the servers of one
    test on it.  :meth:`shutdown` stops the servers, closes their connections
    and the loop, whatever the test did."""

    def __init__(self, loop_kind: str) -> None:
        self.loop_kind = loop_kind
        self.loop = new_event_loop(loop_kind)
        self.servers: list[HTTPServer] = []
        self._io_loop: IOLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"server-loop-{loop_kind}", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(CALL_TIMEOUT):
            raise RuntimeError("the server loop did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``make()`` on the loop and return its result."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            make(), self.loop
        )
        return future.result(CALL_TIMEOUT)

    def call_soon(self, fn: Callable[[], T]) -> T:
        """Run a plain function on the loop's thread and return its result."""

        async def wrapper() -> T:
            return fn()

        return self.call(wrapper)

    def start_server(self, app: Any, **kwargs: Any) -> tuple[HTTPServer, int]:
        """An HTTPServer for ``app`` on a fresh port of 127.0.0.1."""

        async def start() -> tuple[HTTPServer, int]:
            if self._io_loop is None:
                self._io_loop = IOLoop.current()
            server = HTTPServer(app, **kwargs)
            sockets = bind_sockets(0, address="127.0.0.1")
            server.add_sockets(sockets)
            self.servers.append(server)
            return server, sockets[0].getsockname()[1]

        return self.call(start)

    def close_connections(self, server: HTTPServer) -> None:
        """``server.close_all_connections()``, awaited on the loop."""

        async def close() -> None:
            await server.close_all_connections()

        self.call(close)

    def shutdown(self) -> None:
        async def stop_all() -> None:
            for server in self.servers:
                server.stop()
            for server in self.servers:
                await server.close_all_connections()
            # Connections close their transports on a later turn.
            for _ in range(5):
                await asyncio.sleep(0)
            current = asyncio.current_task()
            leftovers = [t for t in asyncio.all_tasks() if t is not current]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        try:
            if self.loop.is_running():
                self.call(stop_all)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(CALL_TIMEOUT)
            if self._io_loop is not None:
                # Closes the asyncio loop too, and forgets the pairing.
                self._io_loop.close()
            else:
                self.loop.close()


# -- applications ------------------------------------------------------------


def describe(request: httputil.HTTPServerRequest) -> dict[str, Any]:
    """What a test may want to know about a request, as JSON-able data."""
    return {
        "method": request.method,
        "uri": request.uri,
        "path": request.path,
        "query": request.query,
        "version": request.version,
        "body": request.body.decode("latin-1"),
        "headers": [[n, v] for n, v in request.headers.get_all()],
        "remote_ip": request.remote_ip,
        "protocol": request.protocol,
        "host": request.host,
        "arguments": {
            k: [v.decode("latin-1") for v in vs]
            for k, vs in request.body_arguments.items()
        },
    }


def respond(
    request: httputil.HTTPServerRequest,
    body: bytes = b"",
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_length: bool = True,
) -> None:
    """Answer ``request`` in one go through its connection."""
    response_headers = httputil.HTTPHeaders(headers or {})
    if content_length:
        response_headers["Content-Length"] = str(len(body))
    reason = httputil.responses.get(status, "Unknown")
    connection = request.connection
    assert connection is not None
    connection.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", status, reason),
        response_headers,
        body or None,
    )
    connection.finish()


class RecordingApp:
    """A plain callable application that answers each request with a JSON
    description of it (see :func:`describe`) and keeps the requests.

    ``handler`` (a function of the request) replaces the default answer for
    tests that need another one.
    """

    def __init__(
        self, handler: Callable[[httputil.HTTPServerRequest], None] | None = None
    ) -> None:
        self.requests: list[httputil.HTTPServerRequest] = []
        self._handler = handler

    @property
    def calls(self) -> int:
        return len(self.requests)

    @property
    def uris(self) -> list[str]:
        return [r.uri or "" for r in self.requests]

    def __call__(self, request: httputil.HTTPServerRequest) -> None:
        self.requests.append(request)
        if self._handler is not None:
            self._handler(request)
            return
        respond(
            request,
            json.dumps(describe(request)).encode(),
            headers={"Content-Type": "application/json"},
        )


class StreamingDelegate(httputil.HTTPMessageDelegate):
    """Records a request body chunk by chunk, then answers with the sizes."""

    def __init__(self, app: StreamingApp, connection: httputil.HTTPConnection) -> None:
        self.app = app
        self.connection = connection
        self.chunks: list[bytes] = []
        self.headers: httputil.HTTPHeaders | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        self.headers = headers
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self.chunks.append(chunk)
        return None

    def finish(self) -> None:
        self.app.finished.append(self)
        body = json.dumps([len(c) for c in self.chunks]).encode()
        self.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        self.connection.finish()

    def on_connection_close(self) -> None:
        self.app.closed.append(self)
        self.app.closed_event.set()


class StreamingApp(httputil.HTTPServerConnectionDelegate):
    """An HTTPServerConnectionDelegate whose requests are streamed to a
    :class:`StreamingDelegate` each."""

    def __init__(self) -> None:
        self.finished: list[StreamingDelegate] = []
        self.closed: list[StreamingDelegate] = []
        #: Set (from the loop's thread) when a delegate hears of a close.
        self.closed_event = threading.Event()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return StreamingDelegate(self, request_conn)

    def on_close(self, server_conn: object) -> None:
        pass
