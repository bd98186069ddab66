"""Slow peers: idle_connection_timeout, head_timeout and body_timeout.

The timeouts are short (a fraction of a second) and the tests wait for the
server's close on the socket; the socket's own timeout is ten times longer
and only a safety net.
"""

from __future__ import annotations

import select
import socket
import time

import pytest

from tests.server.client import SOCKET_TIMEOUT, request

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


# -- head_timeout: from the first byte of a head to its end ---------------------

#: An idle timeout that no test here reaches.
LONG = 60.0
PARTIAL_HEAD = b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _head_timeout_logged(caplog) -> bool:
    return any(
        r.levelname == "INFO" and "Timeout reading request head" in r.getMessage()
        for r in caplog.records
    )


def test_a_slow_head_is_cut_at_head_timeout_while_idle_connections_stay(
    serve, connect, caplog
) -> None:
    served = serve(head_timeout=SHORT, idle_connection_timeout=LONG)
    idle = connect(served.port)
    idle.send(request("GET", "/first"))
    assert idle.read_response().status == 200
    slow = connect(served.port)
    slow.send(PARTIAL_HEAD)
    assert slow.is_closed()
    assert _head_timeout_logged(caplog)
    # The keep-alive connection has been idle longer than head_timeout.
    idle.send(request("GET", "/second"))
    assert idle.read_response().json()["uri"] == "/second"
    assert served.app.uris == ["/first", "/second"]


def test_a_head_begun_late_in_the_idle_window_gets_its_own_deadline(
    serve, connect
) -> None:
    """The issue's case, scaled down: a head that begins halfway through a
    1 s idle window is not cut when the window ends."""
    served = serve(idle_connection_timeout=1.0, head_timeout=LONG)
    late = connect(served.port)
    # Opened after ``late``: once the server has closed it, the idle window
    # of ``late`` is over too.
    witness = connect(served.port)
    # The client's pace, not a wait for the server: the head begins halfway.
    time.sleep(0.5)
    late.send(PARTIAL_HEAD)
    assert witness.is_closed()
    late.send(b"\r\n")
    assert late.read_response().json()["uri"] == "/slow"


def test_without_head_timeout_the_idle_deadline_bounds_the_head(
    serve, connect, caplog
) -> None:
    """Tornado's behaviour, kept by default: idle_connection_timeout runs
    from the start of the wait to the end of the head."""
    served = serve(idle_connection_timeout=1.0)
    late = connect(served.port)
    time.sleep(0.5)
    late.send(PARTIAL_HEAD)
    assert late.is_closed()
    assert served.app.calls == 0
    assert not _head_timeout_logged(caplog)


def test_a_head_completed_in_time_is_served(serve, connect) -> None:
    served = serve(head_timeout=LONG, idle_connection_timeout=SHORT)
    conn = connect(served.port)
    conn.send_bytewise(request("GET", "/bytewise"))
    assert conn.read_response().json()["uri"] == "/bytewise"
    # Then the idle deadline applies again, between requests.
    assert conn.is_closed()


def test_a_pipelined_half_head_gets_the_head_deadline(serve, connect, caplog) -> None:
    served = serve(head_timeout=SHORT, idle_connection_timeout=LONG)
    conn = connect(served.port)
    conn.send(request("GET", "/first") + PARTIAL_HEAD)
    assert conn.read_response().json()["uri"] == "/first"
    assert conn.is_closed()
    assert _head_timeout_logged(caplog)


@pytest.mark.parametrize(
    ("options", "drip"),
    [
        ({"head_timeout": SHORT, "idle_connection_timeout": LONG}, b"x"),
        ({"head_timeout": SHORT, "idle_connection_timeout": LONG}, b"\r\n"),
        # Without head_timeout, empty lines do not extend the idle deadline.
        ({"idle_connection_timeout": SHORT}, b"\r\n"),
    ],
    ids=["head bytes", "empty lines", "empty lines, idle deadline"],
)
def test_slowloris_connections_are_cut_and_idle_ones_stay(
    serve, options: dict[str, float], drip: bytes
) -> None:
    """A small slowloris: connections that send a byte every DRIP seconds
    and never finish a head are each closed once their deadline passes,
    while keep-alive connections that finished a request stay open (when
    their idle deadline is long)."""
    served = serve(**options)
    deadline = options.get("head_timeout", options["idle_connection_timeout"])
    idle = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(3)]
    slow: dict[socket.socket, float] = {}
    lived: list[float] = []
    try:
        for sock in idle:
            sock.sendall(request("GET", "/before"))
        for sock in idle:
            assert _read_response_bytes(sock).startswith(b"HTTP/1.1 200 ")
        for _ in range(SLOWLORIS):
            sock = socket.create_connection(("127.0.0.1", served.port))
            first = b"" if drip == b"\r\n" else PARTIAL_HEAD
            sock.sendall(first + drip)
            slow[sock] = time.monotonic()
        give_up = time.monotonic() + deadline + SLOWLORIS_GRACE
        while slow and time.monotonic() < give_up:
            # Pacing the drip; closes are seen as readable sockets.
            readable, _, _ = select.select(list(slow), [], [], DRIP)
            now = time.monotonic()
            for sock in readable:
                if _peer_closed(sock):
                    lived.append(now - slow.pop(sock))
                    sock.close()
            for sock in slow:
                try:
                    sock.send(drip)
                except OSError:
                    pass  # closed by the server: select reports it next
        assert not slow, f"{len(slow)} slow connections still open"
        assert len(lived) == SLOWLORIS
        assert min(lived) >= deadline * 0.9
        if "head_timeout" in options:
            for sock in idle:
                sock.sendall(request("GET", "/after"))
                assert _read_response_bytes(sock).startswith(b"HTTP/1.1 200 ")
    finally:
        for sock in [*idle, *slow]:
            sock.close()


#: Slow connections in the slowloris test, the pace of their bytes, and how
#: long past their deadline they may live (a safety net for a loaded machine).
SLOWLORIS = 20
DRIP = 0.05
SLOWLORIS_GRACE = 5.0


def _peer_closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True


def _read_response_bytes(sock: socket.socket) -> bytes:
    """The answer to a request whose response has a Content-Length."""
    sock.settimeout(SOCKET_TIMEOUT)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "closed before the head"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed in the body"
        body += chunk
    return head
