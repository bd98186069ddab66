"""Slow peers: idle_connection_timeout and body_timeout.

The timeouts are short (a fraction of a second) and the tests wait for the
server's close on the socket; the socket's own timeout is ten times longer
and only a safety net.
"""

from __future__ import annotations

import pytest

from tests.server.client import request

SHORT = 0.2


def test_a_silent_client_is_disconnected(serve, connect) -> None:
    served = serve(idle_connection_timeout=SHORT)
    conn = connect(served.port)
    assert conn.is_closed()
    assert served.app.calls == 0


def test_an_idle_keep_alive_connection_is_disconnected(serve, connect) -> None:
    served = serve(idle_connection_timeout=SHORT)
    conn = connect(served.port)
    conn.send(request("GET", "/"))
    assert conn.read_response().status == 200
    assert conn.is_closed()
    assert served.app.calls == 1


def test_a_half_sent_head_is_cut_off(serve, connect) -> None:
    served = serve(idle_connection_timeout=SHORT)
    conn = connect(served.port)
    conn.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    assert conn.is_closed()
    assert served.app.calls == 0


def test_a_slow_body_is_cut_off(serve, connect, caplog) -> None:
    served = serve(body_timeout=SHORT)
    conn = connect(served.port)
    conn.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n12")
    assert conn.read_until_close() == b""
    assert served.app.calls == 0
    assert any(
        "Timeout reading body" in r.getMessage()
        for r in caplog.records
        if r.levelname == "INFO"
    )


def test_a_slow_chunked_body_is_cut_off(serve, connect) -> None:
    served = serve(body_timeout=SHORT)
    conn = connect(served.port)
    conn.send(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nab"
    )
    assert conn.read_until_close() == b""
    assert served.app.calls == 0


def test_body_timeout_does_not_limit_the_wait_for_a_head(serve, connect) -> None:
    served = serve(body_timeout=SHORT)
    waiting = connect(served.port)
    waiting.send(b"GET /waited HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    slow = connect(served.port)
    slow.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n")
    # Once the slow body has been cut off, the half-sent head (older) has
    # waited longer than body_timeout too, and must still be open.
    assert slow.read_until_close() == b""
    waiting.send(b"\r\n")
    assert waiting.read_response().json()["uri"] == "/waited"


def test_idle_connection_timeout_does_not_limit_the_wait_for_a_body(
    serve, connect
) -> None:
    served = serve(idle_connection_timeout=SHORT)
    waiting = connect(served.port)
    waiting.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nab")
    silent = connect(served.port)
    # Once the silent connection is closed, the body (older) has waited
    # longer than idle_connection_timeout, and must still be read.
    assert silent.is_closed()
    waiting.send(b"cd")
    assert waiting.read_response().json()["body"] == "abcd"


@pytest.mark.parametrize(
    ("option", "slow_bytes"),
    [
        ("idle_connection_timeout", b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
        (
            "body_timeout",
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n",
        ),
    ],
)
def test_timeouts_leave_other_connections_alone(
    serve, connect, option, slow_bytes
) -> None:
    served = serve(**{option: SHORT})
    slow = connect(served.port)
    slow.send(slow_bytes)
    fast = connect(served.port)
    fast.send(request("GET", "/fast"))
    assert fast.read_response().json()["uri"] == "/fast"
    assert slow.read_until_close() == b""
    assert served.app.uris == ["/fast"]
