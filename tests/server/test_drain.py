"""``HTTPServer.drain()``: stopping without losing a request.

Each test holds requests in the application until it has started a drain,
then lets them go on, and checks what every client sees: complete responses
with ``Connection: close`` for the requests in progress, an immediate close
for idle connections, a refused connection for newcomers, and a WARNING with
the number for what the timeout cut.  Detached streams (websockets) are the
application's: the drain neither waits for them nor closes them, and tells
the application through its callbacks; the last test runs a real
``tornado.websocket`` handler under ``python -m tornado_compat serve``.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import os
import signal
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable
from typing import Any

import pytest
import trustme

from tests.serve_process import TORNADO_COMPAT, ServeProcess
from tests.server.client import RawConnection, request
from tests.server.conftest import Served
from tests.server.support import RecordingApp, respond
from tornado_compat import httputil

WAIT = 10.0


class HeldApp(RecordingApp):
    """Holds every request until the test answers it (on the loop)."""

    def __init__(self) -> None:
        super().__init__(self._hold)
        self._arrived = threading.Condition()

    def _hold(self, request: httputil.HTTPServerRequest) -> None:
        with self._arrived:
            self._arrived.notify_all()

    def wait_for(self, count: int) -> None:
        with self._arrived:
            assert self._arrived.wait_for(lambda: self.calls >= count, WAIT)


def answer(served: Served, index: int, body: bytes | None = None) -> None:
    """Answer the application's request number ``index``, on the loop."""
    req = served.app.requests[index]
    served.thread.call_soon(lambda: respond(req, body or req.uri.encode()))


class Drain:
    """A drain running on the server's loop, started from the test."""

    def __init__(self, served: Served, timeout: float | None = WAIT) -> None:
        self.started = threading.Event()
        served.thread.call_soon(
            lambda: served.server.add_drain_callback(self.started.set)
        )
        self.future: concurrent.futures.Future[int] = asyncio.run_coroutine_threadsafe(
            served.server.drain(timeout), served.thread.loop
        )
        assert self.started.wait(WAIT)

    def result(self) -> int:
        return self.future.result(WAIT)


def get(conn: RawConnection, target: str, **kwargs: Any) -> None:
    conn.send(request("GET", target, **kwargs))


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


def test_requests_in_progress_finish_with_connection_close(serve, connect) -> None:
    served = serve(HeldApp())
    conns = [connect(served.port) for _ in range(3)]
    for i, conn in enumerate(conns):
        get(conn, f"/held/{i}")
    served.app.wait_for(3)
    drain = Drain(served)
    assert refused(served.port)
    for i in range(3):
        answer(served, i)
    for conn in conns:
        response = conn.read_response()
        assert response.status == 200
        assert response.body.startswith(b"/held/")
        assert response.header("Connection") == "close"
        assert conn.is_closed()
    assert drain.result() == 0


def test_idle_connections_close_at_once_and_busy_ones_go_on(serve, connect) -> None:
    served = serve(HeldApp())
    idle = connect(served.port)
    get(idle, "/first")
    served.app.wait_for(1)
    answer(served, 0)
    assert idle.read_response().header("Connection") is None  # kept alive
    busy = connect(served.port)
    get(busy, "/busy")
    served.app.wait_for(2)
    drain = Drain(served)
    # The idle connection is closed while the busy one is still held.
    assert idle.is_closed()
    assert not drain.future.done()
    answer(served, 1)
    response = busy.read_response()
    assert (response.body, response.header("Connection")) == (b"/busy", "close")
    assert busy.is_closed()
    assert drain.result() == 0


def test_a_request_that_never_ends_is_cut_at_the_timeout(
    serve, connect, caplog: pytest.LogCaptureFixture
) -> None:
    served = serve(HeldApp())
    conn = connect(served.port)
    get(conn, "/forever")
    served.app.wait_for(1)
    drain = Drain(served, timeout=0.2)
    assert drain.result() == 1
    assert conn.read_until_close() == b""
    cut = [r for r in caplog.records if "Drain cut" in r.getMessage()]
    assert len(cut) == 1
    assert cut[0].levelno == logging.WARNING
    assert cut[0].getMessage().startswith("Drain cut 1 request(s)")
    assert "GET /forever (127.0.0.1)" in cut[0].getMessage()


def test_a_streaming_response_started_before_the_drain_completes(
    serve, connect
) -> None:
    parts = [b"part %d\n" % i for i in range(6)]

    def start(request: httputil.HTTPServerRequest) -> None:
        assert request.connection is not None
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders(),
            parts[0],
        )

    served = serve(RecordingApp(start))
    conn = connect(served.port)
    get(conn, "/stream")
    head = conn.read_head()
    assert head.header("Transfer-Encoding") == "chunked"
    assert head.header("Connection") is None  # sent before the drain
    drain = Drain(served)
    connection = served.app.requests[0].connection

    def rest() -> None:
        for part in parts[1:]:
            connection.write(part)
        connection.finish()

    served.thread.call_soon(rest)
    body = b""
    while True:
        size = int(conn.read_line(), 16)
        if size == 0:
            assert conn.read_line() == b""
            break
        body += conn.read_exact(size)
        assert conn.read_exact(2) == b"\r\n"
    assert body == b"".join(parts)
    assert conn.is_closed()
    assert drain.result() == 0


def test_http10_keep_alive_gets_no_keep_alive_during_a_drain(serve, connect) -> None:
    served = serve(HeldApp())
    conn = connect(served.port)
    get(conn, "/old", headers={"Connection": "keep-alive"}, version="HTTP/1.0")
    served.app.wait_for(1)
    drain = Drain(served)
    answer(served, 0)
    response = conn.read_response()
    assert response.body == b"/old"
    assert response.header("Connection") is None
    assert conn.is_closed()
    assert drain.result() == 0


def test_requests_pipelined_behind_the_one_in_progress_are_not_read(
    serve, connect
) -> None:
    served = serve(HeldApp())
    conn = connect(served.port)
    conn.send(request("GET", "/first") + request("GET", "/second"))
    served.app.wait_for(1)
    drain = Drain(served)
    answer(served, 0)
    response = conn.read_response()
    assert (response.body, response.header("Connection")) == (b"/first", "close")
    assert conn.is_closed()
    assert drain.result() == 0
    assert served.app.uris == ["/first"]


class HeadWatchingApp(httputil.HTTPServerConnectionDelegate):
    """Like HeldApp, and also tells when a request starts arriving: the
    server asks for a delegate as soon as the first bytes of a head are
    buffered, before the head is complete."""

    def __init__(self) -> None:
        self.held = HeldApp()
        self.starts = threading.Semaphore(0)
        self.server_conns: list[Any] = []

    @property
    def requests(self) -> list[httputil.HTTPServerRequest]:
        return self.held.requests

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        self.server_conns.append(server_conn)
        self.starts.release()
        return _Collect(self.held, request_conn)


class _Collect(httputil.HTTPMessageDelegate):
    def __init__(self, app: HeldApp, connection: httputil.HTTPConnection) -> None:
        self.app = app
        self.connection = connection
        self.request: httputil.HTTPServerRequest | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.request = httputil.HTTPServerRequest(
            connection=self.connection, start_line=start_line, headers=headers
        )

    def finish(self) -> None:
        assert self.request is not None
        self.app(self.request)


def test_a_head_still_arriving_is_read_and_answered(serve, connect) -> None:
    app = HeadWatchingApp()
    served = serve(app)
    conn = connect(served.port)
    conn.send(b"GET /late HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    assert app.starts.acquire(timeout=WAIT)
    drain = Drain(served)
    conn.send(b"\r\n")
    app.held.wait_for(1)
    answer(served, 0)
    response = conn.read_response()
    assert (response.body, response.header("Connection")) == (b"/late", "close")
    assert conn.is_closed()
    assert drain.result() == 0


def test_a_request_buffered_when_the_last_response_ends_is_the_last(
    serve, connect
) -> None:
    # The drain starts in the loop turn in which the first response ended,
    # before the connection has read the pipelined second request.
    app = HeadWatchingApp()
    served = serve(app)
    conn = connect(served.port)
    conn.send(request("GET", "/first") + request("GET", "/second"))
    app.held.wait_for(1)

    def answer_then_drain() -> None:
        respond(app.requests[0], b"/first")
        app.server_conns[0].start_drain()

    served.thread.call_soon(answer_then_drain)
    first = conn.read_response()
    assert (first.body, first.header("Connection")) == (b"/first", None)
    app.held.wait_for(2)
    answer(served, 1)
    second = conn.read_response()
    assert (second.body, second.header("Connection")) == (b"/second", "close")
    assert conn.is_closed()


def test_a_second_drain_and_close_all_connections_share_the_count(
    serve, connect, caplog: pytest.LogCaptureFixture
) -> None:
    served = serve(HeldApp())
    conn = connect(served.port)
    get(conn, "/held")
    served.app.wait_for(1)
    first = Drain(served, timeout=None)
    second = asyncio.run_coroutine_threadsafe(
        served.server.drain(None), served.thread.loop
    )
    served.close_all_connections()
    assert first.result() == 1
    assert second.result(WAIT) == 1
    assert conn.read_until_close() == b""
    assert [r.getMessage()[:22] for r in caplog.records if "Drain" in r.msg] == [
        "Drain cut 1 request(s)"
    ]
    # Later calls return at once.
    assert served.thread.call(lambda: served.server.drain(0)) == 1


def test_close_all_connections_without_a_drain_is_unchanged(
    serve, connect, caplog: pytest.LogCaptureFixture
) -> None:
    served = serve(HeldApp())
    conn = connect(served.port)
    get(conn, "/held")
    served.app.wait_for(1)
    served.thread.call_soon(served.server.stop)
    served.close_all_connections()
    assert conn.read_until_close() == b""
    assert not served.server.draining
    assert not [r for r in caplog.records if "Drain" in r.getMessage()]


def test_tls_connections_drain_the_same_way(serve, connect) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    served = serve(HeldApp(), ssl_options=server_context)
    idle = connect(served.port, ssl_context=client_context)
    busy = connect(served.port, ssl_context=client_context)
    get(busy, "/secure")
    served.app.wait_for(1)
    drain = Drain(served)
    assert idle.is_closed()
    answer(served, 0)
    response = busy.read_response()
    assert (response.body, response.header("Connection")) == (b"/secure", "close")
    assert busy.is_closed()
    assert drain.result() == 0


def test_a_drain_with_no_connection_returns_at_once(serve) -> None:
    served = serve(HeldApp())
    assert Drain(served, timeout=None).result() == 0
    assert refused(served.port)


class Upgrading(RecordingApp):
    """Takes over the stream of ``/upgrade`` (as a websocket handshake
    does, after its 101 response) and echoes lines on it."""

    def __init__(self, hold: bool = False) -> None:
        super().__init__(self._upgrade)
        self.streams: list[Any] = []
        self.hold = hold
        self.arrived = threading.Event()

    def _upgrade(self, request: httputil.HTTPServerRequest) -> None:
        self.arrived.set()
        if not self.hold:
            self.switch(request)

    def switch(self, request: httputil.HTTPServerRequest) -> None:
        connection = request.connection
        assert connection is not None
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 101, "Switching Protocols"),
            httputil.HTTPHeaders({"Upgrade": "echo", "Connection": "Upgrade"}),
        )
        connection.finish()
        stream = connection.detach()  # type: ignore[attr-defined]
        self.streams.append(stream)
        asyncio.ensure_future(self.echo(stream))

    async def echo(self, stream: Any) -> None:
        from tornado_compat.iostream import StreamClosedError

        try:
            while True:
                await stream.write(await stream.read_until(b"\n"))
        except StreamClosedError:
            pass


def upgrade(conn: RawConnection) -> None:
    get(conn, "/upgrade", headers={"Upgrade": "echo", "Connection": "Upgrade"})


def test_detached_streams_are_left_to_the_application(serve, connect) -> None:
    app = Upgrading()
    served = serve(app)
    conn = connect(served.port)
    upgrade(conn)
    assert conn.read_head().status == 101
    conn.send(b"before\r\n")
    assert conn.read_line() == b"before"
    told: list[bool] = []

    def on_drain() -> None:
        # What a websocket application does: say goodbye, then close.
        told.append(True)
        stream = app.streams[0]
        stream.write(b"going away\r\n")
        stream.close()

    served.thread.call_soon(lambda: served.server.add_drain_callback(on_drain))
    # Not waited for: the drain ends although the stream is still open...
    assert Drain(served).result() == 0
    assert told == [True]
    # ...and not closed by the server: the application said goodbye.
    assert conn.read_line() == b"going away"
    assert conn.is_closed()


def test_a_stream_the_application_keeps_stays_open(serve, connect) -> None:
    app = Upgrading()
    served = serve(app)
    conn = connect(served.port)
    upgrade(conn)
    assert conn.read_head().status == 101
    assert Drain(served).result() == 0
    conn.send(b"after the drain\r\n")
    assert conn.read_line() == b"after the drain"
    served.thread.call_soon(app.streams[0].close)


def test_an_upgrade_answered_during_a_drain_still_switches(serve, connect) -> None:
    app = Upgrading(hold=True)
    served = serve(app)
    conn = connect(served.port)
    upgrade(conn)
    assert app.arrived.wait(WAIT)
    drain = Drain(served)
    served.thread.call_soon(lambda: app.switch(app.requests[0]))
    head = conn.read_head()
    assert (head.status, head.header("Connection")) == (101, "Upgrade")
    assert drain.result() == 0
    conn.send(b"switched\r\n")
    assert conn.read_line() == b"switched"
    served.thread.call_soon(app.streams[0].close)


def test_the_application_on_drain_and_awaitable_callbacks(serve, connect) -> None:
    calls: list[str] = []
    finish = asyncio.Event()

    class App(RecordingApp):
        def on_drain(self) -> None:
            calls.append("on_drain")

    async def goodbye_done() -> None:
        await finish.wait()
        calls.append("callback done")

    def slow_goodbye() -> Awaitable[None]:
        calls.append("callback")
        return goodbye_done()

    served = serve(App())
    served.thread.call_soon(lambda: served.server.add_drain_callback(slow_goodbye))
    drain = Drain(served)
    assert calls[:2] == ["on_drain", "callback"]
    assert not drain.future.done()
    served.thread.call_soon(finish.set)
    assert drain.result() == 0
    assert calls[-1] == "callback done"


@pytest.mark.allow_error_logs
def test_a_failing_callback_is_logged_and_the_drain_goes_on(
    serve, connect, caplog: pytest.LogCaptureFixture
) -> None:
    served = serve(HeldApp())
    conn = connect(served.port)
    get(conn, "/held")
    served.app.wait_for(1)

    def broken() -> None:
        raise RuntimeError("broken callback")

    served.thread.call_soon(lambda: served.server.add_drain_callback(broken))
    drain = Drain(served)
    answer(served, 0)
    assert conn.read_response().header("Connection") == "close"
    assert drain.result() == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "Exception in drain callback" in errors[0].getMessage()


# -- a real tornado.websocket handler, under serve ---------------------------


def test_a_tornado_websocket_is_told_and_closes_with_1001() -> None:
    with (
        ServeProcess(
            [*TORNADO_COMPAT, "serve", "tests/server/apps/drain_app.py", "--port", "0"],
            r"serving tests/server/apps/drain_app.py on http://127\.0\.0\.1:(\d+)/$",
        ) as server,
        RawConnection(server.port) as ws,
    ):
        key = base64.b64encode(os.urandom(16)).decode()
        get(
            ws,
            "/ws",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": key,
                "Sec-WebSocket-Version": "13",
            },
        )
        assert ws.read_head().status == 101
        server.wait_for_line("arrived /ws")
        server.send_signal(signal.SIGTERM)
        first, second = ws.read_exact(2)
        assert first == 0x88  # a final close frame, from the application
        payload = ws.read_exact(second & 0x7F)
        assert struct.unpack("!H", payload[:2]) == (1001,)
        assert payload[2:] == b"server going away"
        # Answer the close, as a client does.
        mask = os.urandom(4)
        code = struct.pack("!H", 1001)
        ws.send(
            bytes([0x88, 0x80 | 2])
            + mask
            + bytes(b ^ mask[i % 4] for i, b in enumerate(code))
        )
        assert ws.read_until_close() == b""
        status, out, err = server.finish()
    assert status == 0, err
    assert "server stopped" in out
    assert "[E " not in err and "Traceback" not in err, err
