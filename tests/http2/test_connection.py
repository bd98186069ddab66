"""HTTP/2 connections of ``HTTPServer(http2=True)`` on real sockets of
127.0.0.1, driven frame by frame by an ``h2`` client: what a stream reset,
a body over ``max_body_size`` and a protocol error do to one stream and to
the connection; and that without ``h2`` the server still imports and runs.
Each server test runs on asyncio's default loop and on uvloop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("h2")

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402

from tornado_compat import httputil  # noqa: E402
from tornado_compat.httpserver import HTTPServer  # noqa: E402
from tornado_compat.netutil import bind_sockets  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0


class App(httputil.HTTPServerConnectionDelegate):
    """``/hold`` answers only when released and records a closed stream;
    anything else answers ``ok`` with the body length."""

    def __init__(self) -> None:
        self.closed = asyncio.Event()
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return Handler(self, request_conn)


class Handler(httputil.HTTPMessageDelegate):
    def __init__(self, app: App, conn: httputil.HTTPConnection) -> None:
        self.app = app
        self.conn = conn
        self.size = 0
        self.path = ""

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        assert start_line.version == "HTTP/2.0"
        self.path = start_line.path
        # As tornado.web does: after the request is read, a closed stream is
        # reported through the close callback.
        self.conn.set_close_callback(self.app.closed.set)
        self.app.started.set()

    def data_received(self, chunk: bytes) -> None:
        self.size += len(chunk)

    def finish(self) -> None:
        if self.path == "/hold":
            asyncio.ensure_future(self.answer_later())
        else:
            self.answer(b"ok %d" % self.size)

    async def answer_later(self) -> None:
        await self.app.release.wait()
        self.answer(b"late")

    def answer(self, body: bytes) -> None:
        headers = httputil.HTTPHeaders(
            {"Content-Length": str(len(body)), "Connection": "keep-alive"}
        )
        self.conn.write_headers(
            httputil.ResponseStartLine("HTTP/2.0", 200, "OK"), headers, body
        )
        self.conn.finish()

    def on_connection_close(self) -> None:
        self.app.closed.set()


class Client:
    """An h2 client over an asyncio connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.h2.initiate_connection()
        self.events: list[Any] = []
        self.flush()

    def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())

    def request(self, path: bytes, body: bytes | None = None) -> int:
        sid = self.h2.get_next_available_stream_id()
        self.h2.send_headers(
            sid,
            [
                (b":method", b"POST" if body is not None else b"GET"),
                (b":path", path),
                (b":authority", b"127.0.0.1"),
                (b":scheme", b"http"),
            ],
            end_stream=body is None,
        )
        if body is not None:
            self.h2.send_data(sid, body, end_stream=True)
        self.flush()
        return sid

    async def until(self, done: Callable[[list[Any]], bool]) -> list[Any]:
        while not done(self.events):
            data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            if not data:
                break
            self.events.extend(self.h2.receive_data(data))
            self.flush()
        return self.events


def body_of(events: list[Any], sid: int) -> bytes:
    return b"".join(
        e.data
        for e in events
        if isinstance(e, h2.events.DataReceived) and e.stream_id == sid
    )


def ended(sid: int) -> Callable[[list[Any]], bool]:
    return lambda events: any(
        isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset))
        and e.stream_id == sid
        for e in events
    )


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run(
    loop_kind: str, test: Callable[[App, Client], Awaitable[None]], **options: Any
) -> None:
    async def main() -> None:
        app = App()
        server = HTTPServer(app, http2=True, **options)
        sockets = bind_sockets(0, address="127.0.0.1")
        server.add_sockets(sockets)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", sockets[0].getsockname()[1]
        )
        try:
            await test(app, Client(reader, writer))
        finally:
            writer.close()
            server.stop()
            await server.close_all_connections()

    if loop_kind == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def test_connection_specific_response_headers_dropped(loop_kind: str) -> None:
    async def test(app: App, client: Client) -> None:
        sid = client.request(b"/")
        events = await client.until(ended(sid))
        (head,) = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
        names = [name for name, _ in head.headers]
        assert b"connection" not in names
        assert (b"content-length", b"4") in head.headers
        assert body_of(events, sid) == b"ok 0"

    run(loop_kind, test)


def test_body_over_max_body_size_refuses_only_that_stream(
    loop_kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test(app: App, client: Client) -> None:
        caplog.set_level(logging.INFO)
        big = client.request(b"/", b"x" * 2000)
        events = await client.until(ended(big))
        (head,) = [
            e
            for e in events
            if isinstance(e, h2.events.ResponseReceived) and e.stream_id == big
        ]
        assert dict(head.headers)[b":status"] == b"400"
        assert body_of(events, big) == b""
        small = client.request(b"/", b"y" * 100)
        events = await client.until(ended(small))
        assert body_of(events, small) == b"ok 100"

    run(loop_kind, test, max_body_size=1000)
    assert any(
        "too long" in r.getMessage() and "max_body_size 1000" in r.getMessage()
        for r in caplog.records
    )


def test_client_reset_reaches_the_application_and_others_go_on(loop_kind: str) -> None:
    async def test(app: App, client: Client) -> None:
        held = client.request(b"/hold")
        # (A stream reset in the same read as its head never reaches the
        # application at all.)
        await asyncio.wait_for(app.started.wait(), TIMEOUT)
        client.h2.reset_stream(held, 8)
        client.flush()
        await asyncio.wait_for(app.closed.wait(), TIMEOUT)
        other = client.request(b"/")
        events = await client.until(ended(other))
        assert body_of(events, other) == b"ok 0"
        # A late answer on the reset stream is dropped quietly.
        app.release.set()
        again = client.request(b"/")
        events = await client.until(ended(again))
        assert body_of(events, again) == b"ok 0"

    run(loop_kind, test)


def test_protocol_error_gets_goaway_and_an_info_line(
    loop_kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test(app: App, client: Client) -> None:
        caplog.set_level(logging.INFO)
        # A DATA frame on stream 0 is a connection error (RFC 9113 6.1).
        client.writer.write(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
        events = await client.until(lambda ev: False)
        (goaway,) = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
        assert goaway.error_code == 1
        assert await client.reader.read() == b""

    run(loop_kind, test)
    assert any("HTTP/2 protocol error" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_without_h2_the_server_runs_and_http2_names_the_extra() -> None:
    script = """
import sys
sys.modules["h2"] = None
import tornado_compat.httpserver as hs
server = hs.HTTPServer(lambda request: None)
assert "h2" not in [m for m in sys.modules if sys.modules[m] is not None]
try:
    hs.HTTPServer(lambda request: None, http2=True)
except ImportError as e:
    print(e)
"""
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH")] if p)
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=path),
        check=True,
    ).stdout
    assert "tornado_compat[http2]" in out
