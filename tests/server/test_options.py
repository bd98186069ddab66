"""HTTPServer's options, each checked over a real socket.

no_keep_alive, xheaders with trusted_downstream, protocol,
decompress_request, chunk_size, max_header_size, max_body_size,
max_buffer_size and the precise_status extension.  TLS (ssl_options) and the
timeouts have their own modules.
"""

from __future__ import annotations

import gzip

import pytest

from tests.server.client import chunked, request
from tests.server.support import StreamingApp

MALFORMED = "Malformed HTTP message"


def info_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "INFO"]


def assert_logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    messages = info_messages(caplog)
    assert any(text in m for m in messages), messages


# -- no_keep_alive -----------------------------------------------------------


def test_no_keep_alive_closes_after_one_response(serve, connect) -> None:
    served = serve(no_keep_alive=True)
    conn = connect(served.port)
    conn.send(request("GET", "/first") + request("GET", "/second"))
    response = conn.read_response()
    assert response.status == 200
    assert response.header("Connection") == "close"
    assert conn.is_closed()
    assert served.app.uris == ["/first"]


def test_no_keep_alive_overrides_http10_keep_alive(serve, connect) -> None:
    served = serve(no_keep_alive=True)
    conn = connect(served.port)
    conn.send(request("GET", "/", {"Connection": "keep-alive"}, version="HTTP/1.0"))
    assert conn.read_response().status == 200
    assert conn.is_closed()


def test_keep_alive_is_the_default(serve, connect) -> None:
    served = serve(no_keep_alive=False)
    conn = connect(served.port)
    conn.send(request("GET", "/first") + request("GET", "/second"))
    assert [conn.read_response().json()["uri"] for _ in range(2)] == [
        "/first",
        "/second",
    ]


# -- xheaders, trusted_downstream and protocol -------------------------------


def ask(served, connect, headers: dict[str, str]) -> dict:
    conn = connect(served.port)
    conn.send(request("GET", "/", headers))
    info = conn.read_response().json()
    assert isinstance(info, dict)
    return info


@pytest.mark.parametrize(
    ("headers", "remote_ip"),
    [
        ({"X-Real-Ip": "4.4.4.4"}, "4.4.4.4"),
        ({"X-Real-Ip": "2001:db8::1"}, "2001:db8::1"),
        ({"X-Forwarded-For": "4.4.4.4"}, "4.4.4.4"),
        # The nearest proxy appends last: the last address is the client.
        ({"X-Forwarded-For": "1.1.1.1, 2.2.2.2"}, "2.2.2.2"),
        # X-Real-Ip wins over X-Forwarded-For.
        ({"X-Real-Ip": "5.5.5.5", "X-Forwarded-For": "6.6.6.6"}, "5.5.5.5"),
        # Anything that is not an IP address is ignored.
        ({"X-Real-Ip": "not-an-ip"}, "127.0.0.1"),
        ({"X-Forwarded-For": "1.1.1.1, <script>"}, "127.0.0.1"),
        ({}, "127.0.0.1"),
    ],
)
def test_xheaders_set_remote_ip(serve, connect, headers, remote_ip) -> None:
    served = serve(xheaders=True)
    assert ask(served, connect, headers)["remote_ip"] == remote_ip


@pytest.mark.parametrize(
    ("headers", "protocol"),
    [
        ({"X-Scheme": "https"}, "https"),
        ({"X-Forwarded-Proto": "https"}, "https"),
        # X-Scheme wins over X-Forwarded-Proto.
        ({"X-Scheme": "http", "X-Forwarded-Proto": "https"}, "http"),
        # With several proxies the nearest one speaks last.
        ({"X-Forwarded-Proto": "https, http"}, "http"),
        ({"X-Forwarded-Proto": "http, https"}, "https"),
        # Only http and https are believed.
        ({"X-Scheme": "gopher"}, "http"),
        ({}, "http"),
    ],
)
def test_xheaders_set_protocol(serve, connect, headers, protocol) -> None:
    served = serve(xheaders=True)
    assert ask(served, connect, headers)["protocol"] == protocol


def test_without_xheaders_proxy_headers_are_ignored(serve, connect) -> None:
    served = serve()
    info = ask(
        served,
        connect,
        {"X-Real-Ip": "4.4.4.4", "X-Forwarded-For": "3.3.3.3", "X-Scheme": "https"},
    )
    assert (info["remote_ip"], info["protocol"]) == ("127.0.0.1", "http")


def test_trusted_downstream_addresses_are_skipped(serve, connect) -> None:
    served = serve(xheaders=True, trusted_downstream=["2.2.2.2", "3.3.3.3"])
    info = ask(served, connect, {"X-Forwarded-For": "1.1.1.1, 2.2.2.2, 3.3.3.3"})
    assert info["remote_ip"] == "1.1.1.1"
    # An untrusted address nearer than the trusted ones is the client.
    info = ask(served, connect, {"X-Forwarded-For": "1.1.1.1, 2.2.2.2, 9.9.9.9"})
    assert info["remote_ip"] == "9.9.9.9"


def test_xheaders_apply_to_one_request_only(serve, connect) -> None:
    served = serve(xheaders=True)
    conn = connect(served.port)
    conn.send(
        request("GET", "/1", {"X-Real-Ip": "4.4.4.4", "X-Scheme": "https"})
        + request("GET", "/2")
    )
    first, second = conn.read_response().json(), conn.read_response().json()
    assert (first["remote_ip"], first["protocol"]) == ("4.4.4.4", "https")
    assert (second["remote_ip"], second["protocol"]) == ("127.0.0.1", "http")


def test_protocol_option_sets_the_scheme(serve, connect) -> None:
    served = serve(protocol="https")
    info = ask(served, connect, {})
    assert info["protocol"] == "https"


def test_xheaders_override_the_protocol_option_for_one_request(serve, connect) -> None:
    served = serve(protocol="https", xheaders=True)
    conn = connect(served.port)
    conn.send(request("GET", "/1", {"X-Scheme": "http"}) + request("GET", "/2"))
    assert conn.read_response().json()["protocol"] == "http"
    assert conn.read_response().json()["protocol"] == "https"


# -- decompress_request ------------------------------------------------------


FORM = {"Content-Type": "application/x-www-form-urlencoded"}

FRAMINGS = ["length", "chunked"]


def framed_post(framing: str, headers: dict[str, str], body: bytes) -> bytes:
    """A POST of ``body`` with Content-Length or, cut in three, chunked."""
    if framing == "length":
        return request("POST", "/", headers, body)
    third = max(1, len(body) // 3)
    return request(
        "POST",
        "/",
        {**headers, "Transfer-Encoding": "chunked"},
        chunked(body[:third], body[third : 2 * third], body[2 * third :]),
    )


@pytest.mark.parametrize("framing", FRAMINGS)
def test_decompress_request_decodes_a_gzip_body(serve, connect, framing) -> None:
    served = serve(decompress_request=True)
    conn = connect(served.port)
    body = gzip.compress(b"foo=bar&baz=" + b"q" * 5000)
    conn.send(framed_post(framing, {**FORM, "Content-Encoding": "gzip"}, body))
    info = conn.read_response().json()
    assert info["body"] == "foo=bar&baz=" + "q" * 5000
    assert info["arguments"] == {"foo": ["bar"], "baz": ["q" * 5000]}
    names = {n.lower() for n, _ in info["headers"]}
    assert "content-encoding" not in names
    assert ["X-Consumed-Content-Encoding", "gzip"] in info["headers"]


def test_decompress_request_with_a_gzip_body_sent_byte_by_byte(serve, connect) -> None:
    served = serve(decompress_request=True)
    conn = connect(served.port)
    body = gzip.compress(b"hello " * 200)
    conn.send_bytewise(framed_post("chunked", {"Content-Encoding": "gzip"}, body))
    assert conn.read_response().json()["body"] == "hello " * 200


def test_decompress_request_leaves_other_bodies_alone(serve, connect) -> None:
    served = serve(decompress_request=True)
    conn = connect(served.port)
    conn.send(request("POST", "/", FORM, b"plain=1"))
    assert conn.read_response().json()["arguments"] == {"plain": ["1"]}


def test_without_decompress_request_the_body_stays_compressed(serve, connect) -> None:
    served = serve()
    conn = connect(served.port)
    body = gzip.compress(b"hello")
    conn.send(request("POST", "/", {"Content-Encoding": "gzip"}, body))
    info = conn.read_response().json()
    assert info["body"].encode("latin-1") == body
    assert ["Content-Encoding", "gzip"] in info["headers"]


@pytest.mark.parametrize("framing", FRAMINGS)
def test_decompress_request_refuses_a_body_that_is_not_gzip(
    serve, connect, caplog, framing
) -> None:
    served = serve(decompress_request=True)
    conn = connect(served.port)
    conn.send(framed_post(framing, {"Content-Encoding": "gzip"}, b"not gzip at all"))
    assert conn.read_response().status == 400
    assert conn.is_closed()
    assert served.app.calls == 0
    assert_logged(caplog, MALFORMED)


@pytest.mark.parametrize("framing", FRAMINGS)
def test_decompressed_size_is_bounded_by_max_body_size(serve, connect, framing) -> None:
    served = serve(decompress_request=True, max_body_size=10_000)
    conn = connect(served.port)
    # 1 MB of zeros compresses to about 1 KB: small on the wire, too big
    # once decoded.
    body = gzip.compress(b"\0" * 1_000_000)
    assert len(body) < 10_000
    conn.send(framed_post(framing, {"Content-Encoding": "gzip"}, body))
    assert conn.read_response().status == 400
    assert conn.is_closed()
    assert served.app.calls == 0


# -- chunk_size --------------------------------------------------------------


def body_chunks(served, connect, data: bytes) -> list[int]:
    conn = connect(served.port)
    conn.send(data)
    sizes = conn.read_response().json()
    assert isinstance(sizes, list)
    return sizes


def test_chunk_size_bounds_the_pieces_of_a_fixed_length_body(serve, connect) -> None:
    served = serve(StreamingApp(), chunk_size=16)
    sizes = body_chunks(served, connect, request("POST", "/", body=b"x" * 1000))
    assert sum(sizes) == 1000
    assert max(sizes) <= 16


def test_chunk_size_bounds_the_pieces_of_a_chunked_body(serve, connect) -> None:
    served = serve(StreamingApp(), chunk_size=16)
    body = chunked(*[b"y" * 10] * 50, b"z" * 100)
    sizes = body_chunks(
        served, connect, request("POST", "/", {"Transfer-Encoding": "chunked"}, body)
    )
    assert sum(sizes) == 600
    assert max(sizes) <= 16, sizes


@pytest.mark.parametrize("framing", FRAMINGS)
def test_chunk_size_bounds_the_pieces_of_a_decompressed_body(
    serve, connect, framing
) -> None:
    served = serve(StreamingApp(), chunk_size=16, decompress_request=True)
    body = gzip.compress(b"w" * 1000)
    sizes = body_chunks(
        served, connect, framed_post(framing, {"Content-Encoding": "gzip"}, body)
    )
    assert sum(sizes) == 1000
    assert max(sizes) <= 16


def test_a_large_body_arrives_in_several_pieces_by_default(serve, connect) -> None:
    app = StreamingApp()
    served = serve(app)
    data = bytes(range(256)) * 1024  # 256 KiB, four times the default size
    sizes = body_chunks(served, connect, request("POST", "/", body=data))
    assert sum(sizes) == len(data)
    assert len(sizes) >= 4
    assert max(sizes) <= 65536
    assert b"".join(app.finished[0].chunks) == data


# -- max_header_size ---------------------------------------------------------


def head_of_size(size: int) -> bytes:
    head = request("GET", "/", {"X-Filler": ""})
    filler = b"f" * (size - len(head))
    return head.replace(b"X-Filler: ", b"X-Filler: " + filler)


def test_headers_within_max_header_size_are_accepted(serve, connect) -> None:
    served = serve(max_header_size=1024)
    conn = connect(served.port)
    data = head_of_size(1000)
    assert len(data) == 1000
    conn.send(data)
    assert conn.read_response().status == 200


def test_headers_over_max_header_size_close_the_connection(serve, connect) -> None:
    # Tornado closes without an answer here; so do we by default.
    served = serve(max_header_size=1024)
    conn = connect(served.port)
    conn.send(head_of_size(2000))
    assert conn.read_until_close() == b""
    assert served.app.calls == 0


def test_precise_status_answers_431_for_headers_over_max_header_size(
    serve, connect
) -> None:
    served = serve(max_header_size=1024, precise_status=True)
    conn = connect(served.port)
    conn.send(head_of_size(2000))
    assert conn.read_response().status == 431
    assert conn.is_closed()
    assert served.app.calls == 0


def test_a_head_another_server_read_is_held_to_this_servers_max_header_size(
    serve, connect
) -> None:
    # Heads read once are remembered for the whole process (http1connection's
    # _REQUEST_HEADS); a server with a smaller limit must still refuse one.
    data = head_of_size(600)
    roomy = serve()
    conn = connect(roomy.port)
    for _ in range(2):
        conn.send(data)
        assert conn.read_response().status == 200
    tight = serve(max_header_size=512, precise_status=True)
    conn = connect(tight.port)
    conn.send(data)
    assert conn.read_response().status == 431
    assert conn.is_closed()
    assert tight.app.calls == 0


def test_precise_status_answers_414_for_a_request_line_over_max_header_size(
    serve, connect
) -> None:
    served = serve(max_header_size=1024, precise_status=True)
    conn = connect(served.port)
    conn.send(request("GET", "/" + "u" * 2000))
    assert conn.read_response().status == 414
    assert conn.is_closed()
    assert served.app.calls == 0


# -- max_body_size and max_buffer_size ---------------------------------------


def test_a_body_of_max_body_size_is_accepted(serve, connect) -> None:
    served = serve(max_body_size=1000)
    conn = connect(served.port)
    conn.send(request("POST", "/", body=b"b" * 1000))
    assert len(conn.read_response().json()["body"]) == 1000


def test_content_length_over_max_body_size_gets_400_before_the_body(
    serve, connect, caplog
) -> None:
    served = serve(max_body_size=1000)
    conn = connect(served.port)
    # Only the head is sent: the answer must not wait for the body.
    conn.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1001\r\n\r\n")
    assert conn.read_response().status == 400
    assert conn.is_closed()
    assert served.app.calls == 0
    assert_logged(caplog, MALFORMED)


def test_precise_status_answers_413_before_the_body_is_read(
    serve, connect, caplog
) -> None:
    served = serve(max_body_size=1000, precise_status=True)
    conn = connect(served.port)
    conn.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1001\r\n\r\n")
    assert conn.read_response().status == 413
    assert conn.is_closed()
    assert served.app.calls == 0
    assert_logged(caplog, MALFORMED)


def test_precise_status_answers_413_instead_of_100_continue(serve, connect) -> None:
    served = serve(max_body_size=1000, precise_status=True)
    conn = connect(served.port)
    conn.send(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )
    # The first thing the client hears is the refusal, never a 100.
    assert conn.read_response(skip_continue=False).status == 413
    assert conn.is_closed()
    assert served.app.calls == 0


def test_expect_100_continue_over_max_body_size_gets_400_by_default(
    serve, connect
) -> None:
    served = serve(max_body_size=1000)
    conn = connect(served.port)
    conn.send(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )
    assert conn.read_response().status == 400
    assert conn.is_closed()
    assert served.app.calls == 0


def test_a_chunked_body_over_max_body_size_is_refused(serve, connect) -> None:
    served = serve(max_body_size=1000)
    conn = connect(served.port)
    conn.send(
        request(
            "POST",
            "/",
            {"Transfer-Encoding": "chunked"},
            chunked(*[b"c" * 100] * 11),
        )
    )
    assert conn.read_response().status == 400
    assert conn.is_closed()
    assert served.app.calls == 0


def test_a_chunk_announced_over_max_body_size_is_refused_before_its_data(
    serve, connect
) -> None:
    served = serve(max_body_size=1000)
    conn = connect(served.port, timeout=2.0)
    # 0x1000 bytes announced, none sent: the answer must not wait for them.
    conn.send(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1000\r\n"
    )
    assert conn.read_response().status == 400
    assert conn.is_closed()
    assert served.app.calls == 0


def test_max_buffer_size_bounds_the_body_when_max_body_size_is_unset(
    serve, connect
) -> None:
    served = serve(max_buffer_size=1000)
    conn = connect(served.port)
    conn.send(request("POST", "/", body=b"s" * 900))
    assert len(conn.read_response().json()["body"]) == 900
    conn.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1001\r\n\r\n")
    assert conn.read_response().status == 400
    assert conn.is_closed()
    assert served.app.calls == 1


def test_max_body_size_above_max_buffer_size_streams_the_body(serve, connect) -> None:
    app = StreamingApp()
    served = serve(app, max_buffer_size=1000, max_body_size=100_000, chunk_size=500)
    data = b"0123456789" * 5000
    sizes = body_chunks(served, connect, request("POST", "/", body=data))
    assert sum(sizes) == len(data)
    assert max(sizes) <= 500
    assert b"".join(app.finished[0].chunks) == data


# -- precise_status: versions ------------------------------------------------


@pytest.mark.parametrize(
    ("precise", "status"), [(False, 400), (True, 505)], ids=["default", "precise"]
)
def test_http2_request_line(serve, connect, caplog, precise, status) -> None:
    served = serve(precise_status=precise)
    conn = connect(served.port)
    conn.send(b"GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert conn.read_response().status == status
    assert conn.is_closed()
    assert served.app.calls == 0
    assert_logged(caplog, MALFORMED)


def test_precise_status_still_answers_400_for_plain_garbage(serve, connect) -> None:
    served = serve(precise_status=True)
    conn = connect(served.port)
    conn.send(b"this is not http\r\n\r\n")
    assert conn.read_response().status == 400
    assert conn.is_closed()
    assert served.app.calls == 0
