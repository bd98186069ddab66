"""Bodies on HTTP/2 streams, as Tornado's tests pin them for HTTP/1.1.

A request body reaches the delegate in pieces of at most the server's
``chunk_size``, and never as an empty piece (an empty DATA frame, such as
the one that often ends a stream, is no body): Tornado's
StreamingChunkSizeTest.  A response body that does not match its own
Content-Length is an ``HTTPOutputError`` for the application and a reset
stream for the client: IncorrectContentLengthTest and
InvalidOutputContentLengthTest."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

pytest.importorskip("h2")

import h2.events  # noqa: E402

from tests.http2.test_connection import TIMEOUT, Client, body_of, ended  # noqa: E402
from tornado_compat import httputil  # noqa: E402
from tornado_compat.httpserver import HTTPServer  # noqa: E402
from tornado_compat.netutil import bind_sockets  # noqa: E402


class ChunkRecorder(httputil.HTTPMessageDelegate):
    """Answers with the length of each piece of body it was given."""

    def __init__(self, conn: httputil.HTTPConnection) -> None:
        self.conn = conn
        self.chunks: list[int] = []

    def data_received(self, chunk: bytes) -> None:
        self.chunks.append(len(chunk))

    def finish(self) -> None:
        body = json.dumps(self.chunks).encode()
        self.conn.write_headers(
            httputil.ResponseStartLine("HTTP/2.0", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        self.conn.finish()


class App(httputil.HTTPServerConnectionDelegate):
    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return ChunkRecorder(request_conn)


def chunks_seen(frames: list[bytes], chunk_size: int) -> list[int]:
    """The pieces the delegate saw of a body sent as ``frames`` (one DATA
    frame each, the last one ending the stream)."""

    async def main() -> list[int]:
        server = HTTPServer(App(), http2=True, chunk_size=chunk_size)
        sockets = bind_sockets(0, address="127.0.0.1")
        server.add_sockets(sockets)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", sockets[0].getsockname()[1]
        )
        try:
            client = Client(reader, writer)
            sid = client.h2.get_next_available_stream_id()
            client.h2.send_headers(
                sid,
                [
                    (b":method", b"POST"),
                    (b":path", b"/"),
                    (b":authority", b"127.0.0.1"),
                    (b":scheme", b"http"),
                ],
            )
            for i, frame in enumerate(frames):
                client.h2.send_data(sid, frame, end_stream=i == len(frames) - 1)
            client.flush()
            events = await client.until(ended(sid))
            return list(json.loads(body_of(events, sid)))
        finally:
            writer.close()
            server.stop()
            await server.close_all_connections()

    return asyncio.run(asyncio.wait_for(main(), TIMEOUT))


def test_frames_are_cut_to_chunk_size() -> None:
    assert chunks_seen([b"x" * 50], 16) == [16, 16, 16, 2]
    assert chunks_seen([b"x" * 20, b"y" * 32], 16) == [16, 4, 16, 16]
    assert chunks_seen([b"x" * 16], 16) == [16]


def test_an_empty_data_frame_is_no_body() -> None:
    assert chunks_seen([b"x" * 20, b"y" * 30, b""], 64) == [20, 30]
    assert chunks_seen([b""], 64) == []


class LengthLiar(httputil.HTTPMessageDelegate):
    """Sends ``1234567890`` under the Content-Length the request names in
    its path (``/10``, ``/42``, ``/2``, ``/x1``), and records what the
    connection raised."""

    def __init__(self, conn: httputil.HTTPConnection, errors: list[str]) -> None:
        self.conn = conn
        self.errors = errors
        self.length = ""

    def headers_received(self, start_line: Any, headers: Any) -> None:
        self.length = start_line.path.lstrip("/")

    def finish(self) -> None:
        try:
            self.conn.write_headers(
                httputil.ResponseStartLine("HTTP/2.0", 200, "OK"),
                httputil.HTTPHeaders({"Content-Length": self.length}),
            )
            self.conn.write(b"12345")
            self.conn.write(b"67890")
            self.conn.finish()
        except Exception as e:
            self.errors.append(f"{type(e).__name__}: {e}")
            # As tornado.web lets it: the server logs it and ends the stream.
            raise


def content_length_outcome(length: str) -> tuple[list[str], bytes | None, int]:
    """(errors raised to the application, the body the client got or None
    if the stream was reset, the body of a later request on the same
    connection... as its length)."""
    errors: list[str] = []

    class Liars(httputil.HTTPServerConnectionDelegate):
        def start_request(
            self, server_conn: object, request_conn: httputil.HTTPConnection
        ) -> httputil.HTTPMessageDelegate:
            return LengthLiar(request_conn, errors)

    async def main() -> tuple[list[str], bytes | None, int]:
        server = HTTPServer(Liars(), http2=True)
        sockets = bind_sockets(0, address="127.0.0.1")
        server.add_sockets(sockets)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", sockets[0].getsockname()[1]
        )
        try:
            client = Client(reader, writer)
            sid = client.request(b"/" + length.encode())
            events = await client.until(ended(sid))
            reset = any(
                isinstance(e, h2.events.StreamReset) and e.stream_id == sid
                for e in events
            )
            body = None if reset else body_of(events, sid)
            after = client.request(b"/10")
            events = await client.until(ended(after))
            return errors, body, len(body_of(events, after))
        finally:
            writer.close()
            server.stop()
            await server.close_all_connections()

    return asyncio.run(asyncio.wait_for(main(), TIMEOUT))


def test_a_true_content_length_is_sent() -> None:
    assert content_length_outcome("10") == ([], b"1234567890", 10)


@pytest.mark.allow_error_logs
def test_a_content_length_too_high_resets_the_stream() -> None:
    errors, body, after = content_length_outcome("42")
    assert errors == [
        "HTTPOutputError: Tried to write 32 bytes less than Content-Length"
    ]
    assert (body, after) == (None, 10)


@pytest.mark.allow_error_logs
def test_a_content_length_too_low_resets_the_stream() -> None:
    errors, body, after = content_length_outcome("2")
    assert errors == ["HTTPOutputError: Tried to write more data than Content-Length"]
    assert (body, after) == (None, 10)


@pytest.mark.allow_error_logs
def test_a_malformed_content_length_is_refused_before_the_head() -> None:
    errors, body, after = content_length_outcome("x1")
    assert errors == ["LocalProtocolError: Only integer Content-Length is allowed: x1"]
    assert (body, after) == (None, 10)
