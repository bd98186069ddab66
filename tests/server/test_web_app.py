"""A real ``tornado.web`` application, unchanged, served by tornado_compat.

``apps/web_app.py`` runs in a subprocess (with warnings as errors) that
installs tornado_compat before ``tornado.web`` is imported, so Tornado's web
framework runs on our httputil, http1connection and httpserver; the tests
check that first.  Then each feature the issue names is exercised over a raw
socket: form, multipart and cookie parsing, keep-alive and pipelining,
``@stream_request_body``, websockets (through ``detach()``),
``StaticFileHandler`` with ETags and ranges, gzip output,
``on_connection_close``, and a response flushed while it is being written.

The server process is shared by the module's tests.  When it is stopped it
must exit with status 0 and have logged nothing at ERROR.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve_process import AppProcess
from tests.server.client import RawConnection, chunked, request

WEB_APP = Path(__file__).with_name("apps") / "web_app.py"
STATIC_DATA = bytes(range(256)) * 8  # 2 KiB


@pytest.fixture(scope="module")
def web_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    static = tmp_path_factory.mktemp("static")
    (static / "data.bin").write_bytes(STATIC_DATA)
    app = AppProcess(WEB_APP, str(static))
    try:
        assert app.started["modules"] == {
            "tornado.httputil": "tornado_compat.httputil",
            "tornado.http1connection": "tornado_compat.http1connection",
            "tornado.httpserver": "tornado_compat.httpserver",
            "HTTPServer": "tornado_compat.httpserver",
        }
        yield app.port
        app.stop()
    finally:
        app.kill()


@pytest.fixture
def web(web_port: int) -> Iterator[RawConnection]:
    with RawConnection(web_port) as conn:
        yield conn


def test_requests_reach_handlers_through_our_connection(web) -> None:
    web.send(request("GET", "/echo?a=1&a=2&b=x"))
    response = web.read_response()
    assert response.status == 200
    info = response.json()
    assert info["arguments"] == {"a": ["1", "2"], "b": ["x"]}
    assert info["connection_module"] == "tornado_compat.http1connection"
    assert info["remote_ip"] == "127.0.0.1"
    assert info["full_url"] == "http://127.0.0.1/echo?a=1&a=2&b=x"


def test_form_body_and_cookies(web) -> None:
    web.send(
        request(
            "POST",
            "/echo",
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": "session=abc; theme=dark",
            },
            b"name=value&name=other",
        )
    )
    info = web.read_response().json()
    assert info["arguments"] == {"name": ["value", "other"]}
    assert info["cookies"] == {"session": "abc", "theme": "dark"}


def test_multipart_upload(web) -> None:
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="field"\r\n\r\n'
        b"plain value\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="upload"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"file contents\r\n"
        b"--XyZ--\r\n"
    )
    web.send(
        request(
            "POST", "/echo", {"Content-Type": "multipart/form-data; boundary=XyZ"}, body
        )
    )
    info = web.read_response().json()
    assert info["arguments"] == {"field": ["plain value"]}
    assert info["files"] == {"upload": [["a.txt", "file contents", "text/plain"]]}


def test_pipelined_requests_are_answered_in_order(web) -> None:
    web.send(b"".join(request("GET", f"/echo?n={i}") for i in range(3)))
    numbers = [web.read_response().json()["arguments"]["n"] for _ in range(3)]
    assert numbers == [["0"], ["1"], ["2"]]


def test_unknown_path_is_404_and_the_connection_lives_on(web) -> None:
    web.send(request("GET", "/missing") + request("GET", "/echo"))
    assert web.read_response().status == 404
    assert web.read_response().status == 200


def test_expect_100_continue(web) -> None:
    web.send(
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 3\r\n\r\n"
    )
    assert web.read_response(skip_continue=False).status == 100
    web.send(b"a=b")
    assert web.read_response().json()["arguments"] == {"a": ["b"]}


def test_malformed_request_gets_400(web) -> None:
    web.send(
        b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    )
    assert web.read_response().status == 400
    assert web.is_closed()


# -- @stream_request_body ----------------------------------------------------


def test_stream_request_body_gets_a_large_body_in_pieces(web) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB
    web.send(request("PUT", "/stream", body=data))
    info = web.read_response().json()
    assert sum(info["sizes"]) == len(data)
    assert len(info["sizes"]) > 1
    assert info["body"].encode("latin-1") == data


def test_stream_request_body_with_a_chunked_body_sent_byte_by_byte(web) -> None:
    web.send_bytewise(
        request(
            "PUT",
            "/stream",
            {"Transfer-Encoding": "chunked"},
            chunked(b"hello", b" ", b"world"),
        )
    )
    assert web.read_response().json()["body"] == "hello world"


# -- websockets --------------------------------------------------------------


def ws_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (payloads under 126 bytes)."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def ws_read_frame(conn: RawConnection) -> tuple[int, bytes]:
    first, second = conn.read_exact(2)
    assert second & 0x80 == 0, "server frames are not masked"
    length = second & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", conn.read_exact(2))
    return first & 0x0F, conn.read_exact(length)


def test_websocket_echo(web) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    web.send(
        request(
            "GET",
            "/ws",
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": key,
                "Sec-WebSocket-Version": "13",
            },
        )
    )
    handshake = web.read_head()
    assert handshake.status == 101
    expected = base64.b64encode(
        hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    ).decode()
    assert handshake.header("Sec-WebSocket-Accept") == expected
    web.send(ws_frame(0x1, "héllo".encode()))
    assert ws_read_frame(web) == (0x1, "héllo".encode())
    web.send(ws_frame(0x2, b"\x00\x01\x02"))
    assert ws_read_frame(web) == (0x2, b"\x00\x01\x02")
    web.send(ws_frame(0x8, struct.pack("!H", 1000)))
    opcode, _ = ws_read_frame(web)
    assert opcode == 0x8
    assert web.is_closed()


# -- StaticFileHandler -------------------------------------------------------


def test_static_file_with_etag_and_304(web) -> None:
    web.send(request("GET", "/static/data.bin"))
    response = web.read_response()
    assert response.status == 200
    assert response.body == STATIC_DATA
    etag = response.header("Etag")
    assert etag
    web.send(
        request("GET", "/static/data.bin", {"If-None-Match": etag})
        + request("GET", "/echo")
    )
    not_modified = web.read_response()
    assert not_modified.status == 304
    assert not_modified.body == b""
    # Had a body followed the 304, this would not parse.
    assert web.read_response().status == 200


def test_static_file_ranges(web) -> None:
    web.send(request("GET", "/static/data.bin", {"Range": "bytes=10-19"}))
    response = web.read_response()
    assert response.status == 206
    assert response.body == STATIC_DATA[10:20]
    assert response.header("Content-Range") == f"bytes 10-19/{len(STATIC_DATA)}"
    web.send(request("GET", "/static/data.bin", {"Range": "bytes=-5"}))
    assert web.read_response().body == STATIC_DATA[-5:]
    web.send(request("GET", "/static/data.bin", {"Range": "bytes=99999-"}))
    assert web.read_response().status == 416


def test_static_file_ranges_with_thousands_of_digits(web) -> None:
    # Positions past any file, counted before int() (which raises past 4300
    # digits): a start there is unsatisfiable, an end or suffix there means
    # the whole rest of the file.
    huge = "9" * 5000
    web.send(request("GET", "/static/data.bin", {"Range": f"bytes={huge}-"}))
    assert web.read_response().status == 416
    web.send(request("GET", "/static/data.bin", {"Range": f"bytes=10-{huge}"}))
    response = web.read_response()
    assert response.status == 206
    assert response.body == STATIC_DATA[10:]
    web.send(request("GET", "/static/data.bin", {"Range": f"bytes=-{huge}"}))
    response = web.read_response()
    assert response.status == 200
    assert response.body == STATIC_DATA


def test_host_with_a_port_of_thousands_of_digits_gets_400(web) -> None:
    web.send(request("GET", "/echo", {"Host": "a:" + "9" * 5000}))
    assert web.read_response().status == 400
    assert web.is_closed()


def test_static_file_head(web) -> None:
    web.send(request("HEAD", "/static/data.bin") + request("GET", "/echo"))
    head = web.read_response("HEAD")
    assert head.status == 200
    assert head.header("Content-Length") == str(len(STATIC_DATA))
    assert web.read_response().status == 200


# -- gzip output -------------------------------------------------------------


def expected_big() -> bytes:
    return "".join(
        f"line {i} of a long and compressible response\n" for i in range(2000)
    ).encode()


def test_gzip_output_when_accepted(web) -> None:
    web.send(request("GET", "/big", {"Accept-Encoding": "gzip"}))
    response = web.read_response()
    assert response.header("Content-Encoding") == "gzip"
    assert len(response.body) < len(expected_big())
    assert gzip.decompress(response.body) == expected_big()


def test_no_gzip_output_when_not_accepted(web) -> None:
    web.send(request("GET", "/big"))
    response = web.read_response()
    assert response.header("Content-Encoding") is None
    assert response.body == expected_big()


# -- flushing and on_connection_close ----------------------------------------


def test_a_flushed_part_arrives_before_the_response_is_finished(web_port) -> None:
    key = uuid.uuid4().hex
    with RawConnection(web_port) as streaming, RawConnection(web_port) as control:
        streaming.send(request("GET", f"/flush?id={key}"))
        head = streaming.read_head()
        assert head.status == 200
        assert head.header("Transfer-Encoding") == "chunked"
        # The first part is readable while the handler is still waiting.
        size = int(streaming.read_line(), 16)
        assert streaming.read_exact(size) == b"first part\n"
        assert streaming.read_exact(2) == b"\r\n"
        control.send(request("GET", f"/release?id={key}"))
        assert control.read_response().body == b"released"
        rest = []
        while size := int(streaming.read_line(), 16):
            rest.append(streaming.read_exact(size))
            assert streaming.read_exact(2) == b"\r\n"
        assert streaming.read_line() == b""
        assert b"".join(rest) == b"second part\n"


def test_on_connection_close_runs_when_the_client_goes_away(web_port) -> None:
    key = uuid.uuid4().hex
    with RawConnection(web_port) as holder:
        holder.send(request("GET", f"/hold?id={key}"))
        # Once the head has arrived, the handler is running.
        assert holder.read_head().status == 200
    with RawConnection(web_port) as control:
        control.send(request("GET", f"/was-closed?id={key}"))
        assert control.read_response().body == b"closed"
