"""Clients that go away: in the middle of a body, or while the application
holds a request.  The server tells the application (``on_connection_close``,
the connection's close callback), never calls ``finish`` on a half-read
request, and logs nothing at ERROR, not even when the application answers a
client that has already left.
"""

from __future__ import annotations

import gc
import logging
import threading

import pytest

from tests.server.client import request
from tests.server.support import (
    RecordingApp,
    StreamingApp,
    StreamingDelegate,
    respond,
)
from tornado_compat import httputil

WAIT = 10.0


def test_a_client_leaving_mid_body_is_reported_to_the_delegate(serve, connect) -> None:
    app = StreamingApp()
    served = serve(app)
    conn = connect(served.port)
    conn.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n")
    conn.send(b"only part of it")
    conn.close()
    assert app.closed_event.wait(WAIT)
    assert app.finished == []
    assert len(app.closed) == 1


def test_a_client_leaving_mid_chunked_body_is_reported_to_the_delegate(
    serve, connect
) -> None:
    app = StreamingApp()
    served = serve(app)
    conn = connect(served.port)
    conn.send(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n"
    )
    conn.close()
    assert app.closed_event.wait(WAIT)
    assert app.finished == []


class HoldingApp(RecordingApp):
    """Keeps each request unanswered and registers a close callback on it."""

    def __init__(self) -> None:
        super().__init__(self._hold)
        self.arrived = threading.Event()
        self.closed = threading.Event()

    def _hold(self, req: httputil.HTTPServerRequest) -> None:
        assert req.connection is not None
        req.connection.set_close_callback(self.closed.set)
        self.arrived.set()


def test_close_callback_runs_when_the_client_leaves(serve, connect) -> None:
    app = HoldingApp()
    served = serve(app)
    conn = connect(served.port)
    conn.send(request("GET", "/held"))
    assert app.arrived.wait(WAIT)
    conn.close()
    assert app.closed.wait(WAIT)


def test_answering_a_client_that_left_raises_and_logs_nothing(serve, connect) -> None:
    app = HoldingApp()
    served = serve(app)
    conn = connect(served.port)
    conn.send(request("GET", "/held"))
    assert app.arrived.wait(WAIT)
    conn.close()
    assert app.closed.wait(WAIT)
    # The application answers late, as a long poll would.
    served.thread.call_soon(lambda: respond(app.requests[0], b"too late"))
    # Nothing to assert on the wire; ERROR records (an unretrieved future's
    # exception, say) fail the test through tests/conftest.py.  Collecting
    # now makes such a record appear inside this test.
    served.thread.call_soon(_collect)


def _collect() -> None:
    gc.collect()


def test_close_all_connections_reports_the_close_to_a_holding_app(
    serve, connect
) -> None:
    app = HoldingApp()
    served = serve(app)
    conn = connect(served.port)
    conn.send(request("GET", "/held"))
    assert app.arrived.wait(WAIT)
    served.close_all_connections()
    assert app.closed.wait(WAIT)
    assert conn.is_closed()


@pytest.mark.allow_error_logs
def test_start_request_error_is_logged_once_and_closes(serve, connect, caplog) -> None:
    """An application whose start_request raises: logged once as the
    application's error, the connection closed, nothing hangs."""

    class Broken(httputil.HTTPServerConnectionDelegate):
        def start_request(self, server_conn, request_conn):
            raise RuntimeError("broken application")

    served = serve(app=Broken())
    conn = connect(served.port)
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.read_until_close() == b""
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Uncaught exception"]


class _RaisingDelegate(StreamingDelegate):
    """A StreamingDelegate whose ``where`` method raises."""

    def __init__(self, app: StreamingApp, connection, where: str) -> None:
        super().__init__(app, connection)
        self.where = where

    def headers_received(self, start_line, headers):
        if self.where == "headers_received":
            raise RuntimeError("broken application")
        return super().headers_received(start_line, headers)

    def finish(self) -> None:
        if self.where == "finish":
            raise RuntimeError("broken application")
        super().finish()


@pytest.mark.allow_error_logs
@pytest.mark.parametrize("body", [None, b"abc"])
@pytest.mark.parametrize("where", ["headers_received", "finish"])
def test_a_delegate_that_raises_is_logged_once_and_hears_of_the_close(
    serve, connect, caplog, where: str, body: bytes | None
) -> None:
    class App(StreamingApp):
        def start_request(self, server_conn, request_conn):
            return _RaisingDelegate(self, request_conn, where)

    app = App()
    served = serve(app)
    conn = connect(served.port)
    conn.send(request("GET" if body is None else "POST", "/", body=body or b""))
    assert conn.read_until_close() == b""
    assert app.closed_event.wait(WAIT)
    assert len(app.closed) == 1
    assert app.finished == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["Uncaught exception"]


class CountingApp(StreamingApp):
    """A StreamingApp that counts the requests begun."""

    def __init__(self) -> None:
        super().__init__()
        self.begun = 0

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        self.begun += 1
        return super().start_request(server_conn, request_conn)


@pytest.mark.parametrize("sent", [b"\r", b"\r\n\r", b"\n\r"])
def test_a_cr_that_may_begin_an_empty_line_begins_no_request(
    serve, connect, sent: bytes
) -> None:
    # A CR at the end of what has arrived may be half of an empty line's
    # CRLF, which is ignored before a request: a client that leaves then has
    # sent no request, and the application is told of none.
    app = CountingApp()
    # One connection at a time: the second is served only once the server
    # has closed the first and finished with it.
    served = serve(app, max_connections=1)
    first = connect(served.port)
    first.send(sent)
    first.close()
    with connect(served.port) as second:
        second.send(request("GET", "/"))
        assert second.read_response().status == 200
    assert app.begun == 1
    assert app.closed == []
