"""Requests and responses on a connection: keep-alive, pipelining, framing.

Each test talks to an HTTPServer over a raw socket, so that it decides how
the request bytes arrive (in one write, pipelined, or one byte per write)
and checks the response bytes exactly.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading

import pytest

from tests.server.client import chunked, request
from tests.server.support import (
    RecordingApp,
    StreamingApp,
    StreamingDelegate,
    respond,
)
from tornado_compat import httputil


def test_get_is_answered_with_what_the_request_carried(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(request("GET", "/a/b?x=1&y=2", {"X-Test": "yes"}))
    response = conn.read_response()
    assert response.status == 200
    assert response.version == "HTTP/1.1"
    info = response.json()
    assert info["method"] == "GET"
    assert info["uri"] == "/a/b?x=1&y=2"
    assert info["path"] == "/a/b"
    assert info["query"] == "x=1&y=2"
    assert info["version"] == "HTTP/1.1"
    assert ["X-Test", "yes"] in info["headers"]
    assert info["remote_ip"] == "127.0.0.1"
    assert info["protocol"] == "http"
    assert info["host"] == "127.0.0.1"
    assert served.app.calls == 1


def test_post_body_and_form_arguments_reach_the_app(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(
        request(
            "POST",
            "/form",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"a=1&b=two&a=3",
        )
    )
    info = conn.read_response().json()
    assert info["body"] == "a=1&b=two&a=3"
    assert info["arguments"] == {"a": ["1", "3"], "b": ["two"]}


def test_keep_alive_serves_requests_one_after_another(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    for i in range(3):
        conn.send(request("GET", f"/{i}"))
        response = conn.read_response()
        assert response.status == 200
        assert response.json()["uri"] == f"/{i}"
        assert response.header("Connection") is None
    assert served.app.uris == ["/0", "/1", "/2"]


def test_three_pipelined_requests_in_one_write_are_answered_in_order(
    serve, connect
) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(
        request("GET", "/one") + request("GET", "/two") + request("GET", "/three")
    )
    uris = [conn.read_response().json()["uri"] for _ in range(3)]
    assert uris == ["/one", "/two", "/three"]
    assert served.app.uris == ["/one", "/two", "/three"]


def test_many_pipelined_requests_are_answered_in_order(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    uris = [f"/{i}" for i in range(50)]
    conn.send(b"".join(request("GET", uri) for uri in uris))
    assert [conn.read_response().json()["uri"] for _ in uris] == uris
    assert served.app.uris == uris


def test_requests_beyond_the_read_chunk_are_answered_and_reading_resumes(
    serve, connect
) -> None:
    # The pipelined requests fill more than a read chunk, so the stream stops
    # reading while they are served; once they are, the connection waits for
    # the next request and must have the stream read again.
    served = serve(chunk_size=1024)
    conn = connect(served.port)
    uris = [f"/{i}" for i in range(100)]
    conn.send(b"".join(request("GET", uri) for uri in uris))
    assert [conn.read_response().json()["uri"] for _ in uris] == uris
    conn.send(request("GET", "/after"))
    assert conn.read_response().json()["uri"] == "/after"
    assert served.app.uris == [*uris, "/after"]


def test_pipelined_requests_with_bodies_keep_their_boundaries(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(
        request("POST", "/length", body=b"first body")
        + request(
            "POST",
            "/chunked",
            {"Transfer-Encoding": "chunked"},
            chunked(b"second", b" body"),
        )
        + request("GET", "/last")
    )
    first, second, third = (conn.read_response().json() for _ in range(3))
    assert (first["uri"], first["body"]) == ("/length", "first body")
    assert (second["uri"], second["body"]) == ("/chunked", "second body")
    assert (third["uri"], third["body"]) == ("/last", "")


def test_pipelined_answers_stay_in_order_when_the_first_is_deferred(
    serve, connect
) -> None:
    def handler(req: httputil.HTTPServerRequest) -> None:
        if req.uri == "/slow":
            # Answered a few loop turns later, after the app has returned.
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, respond, req, b"slow")
        else:
            respond(req, b"fast")

    served = serve(RecordingApp(handler))
    conn = connect(served.port)
    conn.send(request("GET", "/slow") + request("GET", "/fast"))
    assert conn.read_response().body == b"slow"
    assert conn.read_response().body == b"fast"


def test_a_response_without_length_is_chunked_for_http11(serve, connect) -> None:
    def handler(req: httputil.HTTPServerRequest) -> None:
        connection = req.connection
        assert connection is not None
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Type": "text/plain"}),
        )
        connection.write(b"abc")
        connection.write(b"defg")
        connection.finish()

    served = serve(RecordingApp(handler))
    conn = connect(served.port)
    conn.send(request("GET", "/1") + request("GET", "/2"))
    for _ in range(2):
        response = conn.read_response()
        assert response.chunked
        assert response.header("Transfer-Encoding") == "chunked"
        assert response.header("Content-Length") is None
        assert response.chunks == [b"abc", b"defg"]
    assert served.app.uris == ["/1", "/2"]


def test_an_empty_response_without_length_is_an_empty_chunked_body(
    serve, connect
) -> None:
    served = serve(RecordingApp(lambda req: respond(req, content_length=False)))
    conn = connect(served.port)
    conn.send(request("GET", "/1") + request("GET", "/2"))
    for _ in range(2):
        response = conn.read_response()
        assert response.chunked
        assert response.body == b""
    assert served.app.uris == ["/1", "/2"]


def test_a_response_without_length_to_http10_ends_with_the_connection(
    serve, connect
) -> None:
    def handler(req: httputil.HTTPServerRequest) -> None:
        connection = req.connection
        assert connection is not None
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), httputil.HTTPHeaders()
        )
        connection.write(b"until ")
        connection.write(b"close")
        connection.finish()

    served = serve(RecordingApp(handler))
    conn = connect(served.port)
    conn.send(request("GET", "/", version="HTTP/1.0"))
    response = conn.read_response()
    assert not response.chunked
    assert response.header("Transfer-Encoding") is None
    assert response.body == b"until close"


def test_a_large_response_written_in_pieces_arrives_whole(serve, connect) -> None:
    piece = bytes(range(256)) * 4096  # 1 MiB

    def handler(req: httputil.HTTPServerRequest) -> None:
        connection = req.connection
        assert connection is not None
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(5 * len(piece))}),
        )
        for _ in range(5):
            connection.write(piece)
        connection.finish()

    served = serve(RecordingApp(handler))
    conn = connect(served.port)
    conn.send(request("GET", "/big") + request("GET", "/big"))
    for _ in range(2):
        assert conn.read_response().body == piece * 5


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_bytes_header_values_and_any_bytes_like_body_are_written(
    serve, connect, kind: type, chunked: bool
) -> None:
    # Tornado lets header values be bytes, and body data be any bytes-like
    # object; the compiled build must take what pure Python takes.
    big = b"x" * 20000  # large enough to be sent after the head unjoined

    def handler(req: httputil.HTTPServerRequest) -> None:
        connection = req.connection
        assert connection is not None
        headers = httputil.HTTPHeaders({"X-Raw": b"raw"})  # type: ignore[dict-item]
        if not chunked:
            headers["Content-Length"] = str(2 * len(big) + 5)
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), headers, kind(big)
        )
        connection.write(kind(b"small"))
        connection.write(kind(big))
        connection.finish()

    served = serve(RecordingApp(handler))
    conn = connect(served.port)
    conn.send(request("GET", "/"))
    response = conn.read_response()
    assert response.header("X-Raw") == "raw"
    assert response.chunked is chunked
    assert response.body == big + b"small" + big


def test_empty_lines_before_a_request_are_ignored(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    # Some clients send a CRLF after a POST body; it must not break the
    # next request.
    conn.send(request("POST", "/1", body=b"x") + b"\r\n" + request("GET", "/2"))
    assert conn.read_response().json()["uri"] == "/1"
    assert conn.read_response().json()["uri"] == "/2"


# -- connection management ---------------------------------------------------


def test_connection_close_from_the_client_is_honoured(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(request("GET", "/", {"Connection": "close"}))
    response = conn.read_response()
    assert response.status == 200
    assert response.header("Connection") == "close"
    assert conn.is_closed()


def test_nothing_after_a_connection_close_request_is_served(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(request("GET", "/1", {"Connection": "close"}) + request("GET", "/2"))
    assert conn.read_response().json()["uri"] == "/1"
    assert conn.is_closed()
    assert served.app.uris == ["/1"]


def test_http10_closes_after_one_request(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(request("GET", "/", version="HTTP/1.0"))
    response = conn.read_response()
    assert response.status == 200
    assert response.json()["version"] == "HTTP/1.0"
    assert conn.is_closed()


def test_http10_keep_alive_is_kept(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    for uri in ("/1", "/2"):
        conn.send(request("GET", uri, {"Connection": "keep-alive"}, version="HTTP/1.0"))
        response = conn.read_response()
        assert response.header("Connection") == "Keep-Alive"
        assert response.json()["uri"] == uri


# -- request bodies ----------------------------------------------------------


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_chunked_request_body_is_decoded(serve, connect, bytewise: bool) -> None:
    served = serve()
    conn = connect(served.port)
    data = request(
        "POST",
        "/up",
        {"Transfer-Encoding": "chunked"},
        b"5\r\nhello\r\n" + b"6\r\n world\r\n" + b"A\r\n0123456789\r\n0\r\n\r\n",
    ) + request("GET", "/after")
    if bytewise:
        conn.send_bytewise(data)
    else:
        conn.send(data)
    first = conn.read_response().json()
    assert first["body"] == "hello world0123456789"
    assert conn.read_response().json()["uri"] == "/after"
    assert served.app.uris == ["/up", "/after"]


def test_chunked_body_of_an_http10_request_is_decoded(serve, connect) -> None:
    # Tornado accepts chunked HTTP/1.0 requests and keeps the connection
    # when asked to; so do we.
    served = serve()
    conn = connect(served.port)
    conn.send(
        request(
            "POST",
            "/1",
            {"Connection": "keep-alive", "Transfer-Encoding": "chunked"},
            chunked(b"ten bytes!"),
            version="HTTP/1.0",
        )
        + request("GET", "/2", {"Connection": "keep-alive"}, version="HTTP/1.0")
    )
    assert conn.read_response().json()["body"] == "ten bytes!"
    assert conn.read_response().json()["uri"] == "/2"


def test_fixed_length_body_sent_byte_by_byte(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send_bytewise(request("PUT", "/x", body=b"0123456789" * 3))
    assert conn.read_response().json()["body"] == "0123456789" * 3


def test_expect_100_continue_is_answered_before_the_body_is_sent(
    serve, connect
) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(
        b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    )
    interim = conn.read_response(skip_continue=False)
    assert interim.status == 100
    assert served.app.calls == 0
    conn.send(b"hello")
    final = conn.read_response()
    assert final.status == 200
    assert final.json()["body"] == "hello"


def test_a_streaming_delegate_gets_the_body_and_answers(serve, connect) -> None:
    app = StreamingApp()
    served = serve(app)
    conn = connect(served.port)
    conn.send(request("POST", "/", body=b"x" * 1000))
    assert sum(conn.read_response().json()) == 1000
    assert b"".join(app.finished[0].chunks) == b"x" * 1000


class _WaitingDelegate(httputil.HTTPMessageDelegate):
    """Returns from headers_received a future that the loop resolves on a
    later turn; the answer lists what happened, in order."""

    def __init__(self, connection: httputil.HTTPConnection) -> None:
        self.connection = connection
        self.events: list[str] = []

    def headers_received(self, start_line, headers):
        self.events.append("headers")
        future = asyncio.get_running_loop().create_future()

        def resolve() -> None:
            self.events.append("resolved")
            future.set_result(None)

        asyncio.get_running_loop().call_soon(resolve)
        return future

    def data_received(self, chunk: bytes) -> None:
        self.events.append(f"data {len(chunk)}")

    def on_connection_close(self) -> None:
        self.events.append("closed")  # never, here

    def finish(self) -> None:
        self.events.append("finish")
        body = json.dumps(self.events).encode()
        self.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        self.connection.finish()


class _WaitingApp(StreamingApp):
    def start_request(self, server_conn, request_conn):
        return _WaitingDelegate(request_conn)


@pytest.mark.parametrize("body", [None, b"abc"])
def test_what_headers_received_returns_is_awaited_before_the_body_and_finish(
    serve, connect, body: bytes | None
) -> None:
    served = serve(_WaitingApp())
    conn = connect(served.port)
    method = "GET" if body is None else "POST"
    expected = ["headers", "resolved"] + ([] if body is None else ["data 3"])
    for _ in range(2):  # and the connection goes on afterwards
        conn.send(request(method, "/", body=body or b""))
        assert conn.read_response().json() == expected + ["finish"]


class _TakingOverApp(StreamingApp):
    """Takes the connection over as soon as a request's head arrives (as a
    tunnel would), answers on the bare stream, and closes it."""

    def start_request(self, server_conn, request_conn):
        app = self

        class TakingOver(StreamingDelegate):
            def headers_received(self, start_line, headers):
                stream = request_conn.detach()
                stream.write(b"taken over").add_done_callback(lambda _: stream.close())

        return TakingOver(app, request_conn)


def test_a_delegate_that_takes_the_connection_over_gets_no_finish(
    serve, connect
) -> None:
    app = _TakingOverApp()
    served = serve(app)
    conn = connect(served.port)
    conn.send(request("GET", "/") + request("GET", "/second"))
    assert conn.read_until_close() == b"taken over"
    assert app.finished == []


# -- responses without a body ------------------------------------------------


def test_head_response_has_headers_but_no_body(serve, connect) -> None:
    def handler(req: httputil.HTTPServerRequest) -> None:
        if req.method == "HEAD":
            respond(req, headers={"Content-Length": "11"}, content_length=False)
        else:
            respond(req, b"hello world")

    served = serve(RecordingApp(handler))
    conn = connect(served.port)
    conn.send(request("HEAD", "/") + request("GET", "/"))
    head = conn.read_response("HEAD")
    assert head.status == 200
    assert head.header("Content-Length") == "11"
    # Had the server sent a body after the HEAD response, it would be read
    # here as the next status line.
    get = conn.read_response()
    assert get.body == b"hello world"


def test_head_response_without_length_is_not_chunked(serve, connect) -> None:
    served = serve(RecordingApp(lambda req: respond(req, content_length=False)))
    conn = connect(served.port)
    conn.send(request("HEAD", "/") + request("HEAD", "/2"))
    for _ in range(2):
        head = conn.read_response("HEAD")
        assert head.header("Transfer-Encoding") is None
    assert served.app.uris == ["/", "/2"]


@pytest.mark.parametrize("status", [304, 204])
def test_bodiless_status_sends_no_body(serve, connect, status: int) -> None:
    def handler(req: httputil.HTTPServerRequest) -> None:
        if req.uri == "/empty":
            respond(req, status=status, headers={"ETag": '"x"'}, content_length=False)
        else:
            respond(req, b"next")

    served = serve(RecordingApp(handler))
    conn = connect(served.port)
    conn.send(request("GET", "/empty") + request("GET", "/next"))
    response = conn.read_response()
    assert response.status == status
    assert response.header("Transfer-Encoding") is None
    assert conn.read_response().body == b"next"


# -- close_all_connections and stop ------------------------------------------


def test_close_all_connections_closes_idle_keep_alive_connections(
    serve, connect
) -> None:
    served = serve()
    first, second = connect(served.port), connect(served.port)
    for conn in (first, second):
        conn.send(request("GET", "/"))
        assert conn.read_response().status == 200
    served.close_all_connections()
    assert first.is_closed()
    assert second.is_closed()


def test_close_all_connections_closes_a_request_in_progress(serve, connect) -> None:
    arrived = threading.Event()
    served = serve(RecordingApp(lambda req: arrived.set()))
    conn = connect(served.port)
    conn.send(request("GET", "/never-answered"))
    assert arrived.wait(10)
    served.close_all_connections()
    assert conn.is_closed()


def test_stop_refuses_new_connections_but_keeps_open_ones(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(request("GET", "/before"))
    assert conn.read_response().status == 200
    served.thread.call_soon(served.server.stop)
    with pytest.raises(ConnectionRefusedError):
        connect(served.port)
    conn.send(request("GET", "/after"))
    assert conn.read_response().json()["uri"] == "/after"


# -- with http.client --------------------------------------------------------


def test_http_client_keeps_one_connection_for_several_requests(serve) -> None:
    served = serve()
    client = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        client.request("GET", "/one")
        first = client.getresponse()
        assert first.status == 200
        first.read()
        sock = client.sock
        client.request("POST", "/two", body=b"payload")
        second = client.getresponse()
        assert second.status == 200
        assert client.sock is sock
        info = http_json(second.read())
        assert (info["uri"], info["body"]) == ("/two", "payload")
    finally:
        client.close()


def test_http_client_chunked_upload(serve) -> None:
    served = serve()
    client = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        client.request("POST", "/", body=iter([b"abc", b"def", b"ghi"]))
        response = client.getresponse()
        info = http_json(response.read())
        assert info["body"] == "abcdefghi"
        assert ["Transfer-Encoding", "chunked"] in info["headers"]
    finally:
        client.close()


def http_json(data: bytes) -> dict:
    result = json.loads(data)
    assert isinstance(result, dict)
    return result


def test_a_repeated_head_gives_each_request_headers_of_its_own(serve, connect) -> None:
    # The connection remembers heads it has parsed (http1connection's
    # _REQUEST_HEADS); what one request's application does to its headers
    # must not reach the next request with the same head.
    seen: list[list[tuple[str, str]]] = []

    def app(req: httputil.HTTPServerRequest) -> None:
        seen.append(sorted(req.headers.get_all()))
        req.headers.add("Host", "another")
        req.headers["X-Added"] = "by the first"
        del req.headers["X-Test"]
        respond(req, b"ok")

    served = serve(app)
    head = request("GET", "/same", {"X-Test": "yes"})
    for _ in range(2):
        conn = connect(served.port)
        for _ in range(3):
            conn.send(head)
            assert conn.read_response().body == b"ok"
    assert seen == [[("Host", "127.0.0.1"), ("X-Test", "yes")]] * 6


def test_a_repeated_connection_close_head_closes_every_time(serve, connect) -> None:
    served = serve()
    head = request("GET", "/", {"Connection": "close"})
    for _ in range(3):
        conn = connect(served.port)
        conn.send(head)
        response = conn.read_response()
        assert response.status == 200
        assert response.header("Connection") == "close"
        assert conn.read_until_close() == b""


def test_each_response_has_its_own_reason_and_length(serve, connect) -> None:
    # The status line and the Content-Length of earlier responses are kept
    # for reuse: a later response with the same code but another reason, or
    # another length, must still get its own.
    answers = iter([("OK", b"abc"), ("Fine", b"abcdef"), ("OK", b"abc"), ("", b"")])

    def handler(req: httputil.HTTPServerRequest) -> None:
        reason, body = next(answers)
        connection = req.connection
        assert connection is not None
        headers = httputil.HTTPHeaders({"Content-Length": str(len(body))})
        connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, reason), headers, body
        )
        connection.finish()

    served = serve(RecordingApp(handler))
    conn = connect(served.port)
    seen = []
    for _ in range(4):
        conn.send(request("GET", "/"))
        response = conn.read_response()
        seen.append((response.reason, response.body))
    assert seen == [("OK", b"abc"), ("Fine", b"abcdef"), ("OK", b"abc"), ("", b"")]
