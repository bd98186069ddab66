"""``serve``'s limits, deadlines and proxy options, each seen from a client:
the answer it gets, the close, the log line."""

from __future__ import annotations

import gzip
import socket

import pytest

from tests.serve.support import TARGETS, get, refused, serve, stop
from tests.server.client import RawConnection
from tests.server.client import request as client_request


def test_max_body_size() -> None:
    with serve("--max-body-size", "1K") as server:
        assert get(server.port, "/echo", "POST", b"x" * 1024) == (200, b"x" * 1024)
        with RawConnection(server.port) as conn:
            conn.send(client_request("POST", "/echo", body=b"x" * 1025))
            assert conn.read_response().status == 400
            assert conn.is_closed()
        status, _, err = stop(server)
    assert status == 0, err
    assert "Content-Length too long" in err, err


def test_max_header_size() -> None:
    big = {"X-Big": "y" * 1500}
    with serve("--max-header-size", "1K") as server:
        assert get(server.port, "/", headers={"X-Small": "y" * 500})[0] == 200
        with RawConnection(server.port) as conn:
            conn.send(client_request("GET", "/", headers=big))
            # As Tornado: closed without an answer.
            assert conn.read_until_close() == b""
        status, _, err = stop(server)
    assert status == 0, err
    assert "Unsatisfiable read, closing connection: head over 1024 bytes" in err
    with serve() as server:  # 64 KiB by default
        assert get(server.port, "/", headers=big)[0] == 200
        stop(server)


def test_max_connections() -> None:
    with serve("--max-connections", "1") as server:
        first = RawConnection(server.port)
        first.send(client_request("GET", "/"))
        assert first.read_response().body == b"hello\n"
        # The second connection waits in the backlog while the first is open.
        second = RawConnection(server.port)
        second.send(client_request("GET", "/"))
        first.send(client_request("GET", "/"))
        assert first.read_response().body == b"hello\n"
        second.sock.setblocking(False)
        with pytest.raises(BlockingIOError):
            second.sock.recv(1)
        second.sock.setblocking(True)
        first.close()
        assert second.read_response().body == b"hello\n"
        second.close()
        stop(server)


def test_idle_timeout_closes_an_idle_keep_alive_connection() -> None:
    with serve("--idle-timeout", "0.3") as server:
        with RawConnection(server.port) as conn:
            conn.send(client_request("GET", "/"))
            assert conn.read_response().body == b"hello\n"
            # Closed by the server, well before the client's 10 s timeout.
            conn.sock.settimeout(10)
            assert conn.read_until_close() == b""
        status, _, err = stop(server)
    assert status == 0, err


def test_head_timeout_cuts_a_slow_head() -> None:
    with serve("--head-timeout", "0.3") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            assert s.recv(1024) == b""
        server.wait_for_log("(head_timeout 0.3 s)")
        stop(server)


def test_body_timeout_cuts_a_slow_body() -> None:
    with serve("--body-timeout", "0.3") as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"
            )
            assert s.recv(1024) == b""
        line = server.wait_for_log("Timeout reading body from")
        assert line.startswith("[I "), line
        stop(server)


def test_decompress_request() -> None:
    body = gzip.compress(b"unpacked\n")
    headers = {"Content-Encoding": "gzip"}
    with serve("--decompress-request") as server:
        assert get(server.port, "/echo", "POST", body, headers) == (200, b"unpacked\n")
        stop(server)
    with serve() as server:
        assert get(server.port, "/echo", "POST", body, headers) == (200, body)
        stop(server)


FORWARDED = {"X-Forwarded-For": "203.0.113.7, 10.0.0.2", "X-Scheme": "https"}


def whoami(port: int) -> list[str]:
    status, body = get(port, "/whoami", headers=FORWARDED)
    assert status == 200
    return body.decode().split()[:2]


def test_xheaders_and_trusted_downstream() -> None:
    with serve() as server:
        assert whoami(server.port) == ["127.0.0.1", "http"]
        stop(server)
    with serve("--xheaders") as server:
        assert whoami(server.port) == ["10.0.0.2", "https"]
        stop(server)
    with serve("--xheaders", "--trusted-downstream", "10.0.0.1,10.0.0.2") as server:
        assert whoami(server.port) == ["203.0.113.7", "https"]
        status, _, err = stop(server)
    assert status == 0, err
    assert "200 GET /whoami (203.0.113.7)" in err


def test_trusted_downstream_is_repeatable() -> None:
    with serve(
        "--xheaders",
        "--trusted-downstream",
        "10.0.0.1",
        "--trusted-downstream",
        "10.0.0.2",
    ) as server:
        assert whoami(server.port) == ["203.0.113.7", "https"]
        stop(server)


def test_trusted_downstream_without_xheaders_is_refused() -> None:
    result = refused("serve", TARGETS, "--trusted-downstream", "10.0.0.1")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "--trusted-downstream has no effect without --xheaders"
    ]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--max-body-size", "10X", "not a size in bytes"),
        ("--max-body-size", "0", "not a size in bytes"),
        ("--max-connections", "0", "not a whole number >= 1"),
        ("--workers", "-1", "not a whole number >= 1"),
        ("--idle-timeout", "0", "not a duration > 0"),
        ("--head-timeout", "soon", "not a number"),
        ("--body-timeout", "inf", "not a finite duration"),
        ("--port", "70000", "not a port number"),
        ("--unix-socket-mode", "999", "not an octal mode"),
        ("--loop", "trio", "invalid choice"),
        ("--cert-reqs", "maybe", "invalid choice"),
        ("--log-level", "loud", "invalid choice"),
    ],
)
def test_values_that_cannot_work_are_refused(
    option: str, value: str, message: str
) -> None:
    result = refused("serve", TARGETS, option, value)
    assert result.returncode == 2
    assert f"argument {option}: {message}" in result.stderr
