"""How an HTTP/2 request body reaches the delegate: in pieces of at most
the server's ``chunk_size``, as over HTTP/1.1, and never as an empty
piece (an empty DATA frame, such as the one that often ends a stream, is no
body).  Tornado's StreamingChunkSizeTest pins both for HTTP/1.1."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("h2")

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
