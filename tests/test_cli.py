"""The ``python -m tornado_compat`` commands (``serve``, ``echo``), run as a
user would run them."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve_process import TORNADO_COMPAT, ServeProcess
from tests.server.client import RawConnection
from tests.server.client import request as client_request
from tornado_compat.__main__ import MAX_LINE

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def running(
    args: list[str], first_line: str
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Run ``python -m tornado_compat ARGS`` from the repository root; yield
    the process and the port its first line (matching ``first_line``, whose
    group is the port) reports.  The process is killed if still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tornado_compat", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.match(first_line, line.strip())
        assert match, f"unexpected first line {line!r}"
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture
def echo_server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    with running(
        ["echo", "--port", "0"], r"echo server listening on 127\.0\.0\.1:(\d+)$"
    ) as server:
        yield server


def test_echoes_lines_and_stops_on_ctrl_c(
    echo_server: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = echo_server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        replies = sock.makefile("rb")
        sock.sendall(b"hello\n")
        assert replies.readline() == b"hello\n"
        sock.sendall(b"wor")
        sock.sendall(b"ld\nagain\n")
        assert replies.readline() == b"world\n"
        assert replies.readline() == b"again\n"
        # Ctrl-C with a client still connected: the server closes it and exits.
        proc.send_signal(signal.SIGINT)
        assert replies.read() == b""
        replies.close()
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "echo server stopped" in out
    assert err == ""


def test_over_long_line_closes_only_that_connection(
    echo_server: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = echo_server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"x" * (MAX_LINE + 1))
        with sock.makefile("rb") as replies:
            # The server may close with some of our bytes still unread, which
            # the kernel reports to us as a reset rather than an end of file.
            try:
                assert replies.read() == b""
            except ConnectionResetError:
                pass
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"still here\n")
        with sock.makefile("rb") as replies:
            assert replies.readline() == b"still here\n"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert err == ""


@pytest.fixture
def hello_server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """The README's first command, on a port the system picks."""
    with running(
        ["serve", "examples/hello.py", "--port", "0"],
        r"serving examples/hello.py on http://127\.0\.0\.1:(\d+)/$",
    ) as server:
        yield server


def test_serve_runs_a_tornado_web_app_on_tornado_compat(
    hello_server: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = hello_server
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(base + "/", timeout=10) as response:
        assert response.status == 200
        assert response.read() == b"Hello from tornado.web on tornado_compat\n"
    request = urllib.request.Request(base + "/echo", data=b"some text")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == b"some text"
    with urllib.request.urlopen(base + "/stream", timeout=10) as response:
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert response.read() == b"".join(b"line %d\n" % i for i in range(5))
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(base + "/nope", timeout=10)
    assert info.value.code == 404
    info.value.close()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "server stopped" in out
    # Access lines only: nothing at ERROR, no traceback.
    assert "Traceback" not in err and "[E " not in err, err
    assert "200 GET / (127.0.0.1)" in err


def test_serve_reports_a_target_it_cannot_load() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tornado_compat", "serve", "no/such/app.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "cannot load no/such/app.py: no such file" in result.stderr


# -- serve stops without losing a request -------------------------------------

DRAIN_APP = "tests/server/apps/drain_app.py"
DRAIN_APP_LINE = (
    r"serving tests/server/apps/drain_app\.py on http://127\.0\.0\.1:(\d+)/$"
)


def serve_drain_app(*options: str) -> ServeProcess:
    return ServeProcess(
        [*TORNADO_COMPAT, "serve", DRAIN_APP, "--port", "0", *options], DRAIN_APP_LINE
    )


def assert_no_error_lines(err: str) -> None:
    """Access lines and our own WARNING only: no 500, no ERROR, no traceback."""
    for line in err.splitlines():
        assert not line.startswith("[E "), err
        assert " 500 " not in line, err
    assert "Traceback" not in err, err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_drains_requests_in_progress_on_a_signal(signum: int) -> None:
    with serve_drain_app() as server:
        idle = RawConnection(server.port)
        idle.send(client_request("GET", "/"))
        assert idle.read_response().body == b"hello\n"
        slow = [RawConnection(server.port) for _ in range(3)]
        streams = [RawConnection(server.port) for _ in range(3)]
        for conn in slow:
            conn.send(client_request("GET", "/slow"))
        for conn in streams:
            conn.send(client_request("GET", "/stream"))
        for _ in range(len(slow) + len(streams)):
            server.wait_for_line("arrived /")
        server.send_signal(signum)
        server.wait_for_line("draining: waiting up to 30 s")
        # The idle connection is closed at once; the others finish.
        assert idle.is_closed()
        for conn in slow:
            response = conn.read_response()
            assert response.body == b"slow done\n"
            assert response.header("Connection") == "close"
            assert conn.is_closed()
        for conn in streams:
            response = conn.read_response()
            assert response.chunked
            assert response.body == b"".join(b"part %d\n" % i for i in range(6))
            assert conn.is_closed()
        status, out, err = server.finish()
        for conn in [idle, *slow, *streams]:
            conn.close()
    assert status == 0, err
    assert out.endswith("server stopped")
    assert_no_error_lines(err)
    assert err.count("200 GET /slow") == 3 and err.count("200 GET /stream") == 3


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_stops_at_once(second: int) -> None:
    with serve_drain_app() as server, RawConnection(server.port) as conn:
        conn.send(client_request("GET", "/never"))
        server.wait_for_line("arrived /never")
        server.send_signal(signal.SIGTERM)
        server.wait_for_line("draining:")
        server.send_signal(second)
        assert conn.read_until_close() == b""
        status, out, err = server.finish()
    assert status == 1, err
    assert out.endswith("server stopped: 1 request(s) cut")
    assert "Drain cut 1 request(s) still in progress" in err
    assert "GET /never (127.0.0.1)" in err
    assert_no_error_lines(err)


def test_the_grace_period_bounds_the_drain() -> None:
    with serve_drain_app("--graceful-timeout", "0.2") as server:
        never = RawConnection(server.port)
        slow = RawConnection(server.port)
        never.send(client_request("GET", "/never"))
        slow.send(client_request("GET", "/slow"))
        server.wait_for_line("arrived /")
        server.wait_for_line("arrived /")
        server.send_signal(signal.SIGTERM)
        assert slow.read_response().body == b"slow done\n"
        assert never.read_until_close() == b""
        status, out, err = server.finish()
        never.close()
        slow.close()
    assert status == 1, err
    assert "draining: waiting up to 0.2 s" in out
    assert out.endswith("server stopped: 1 request(s) cut")
    assert "Drain cut 1 request(s)" in err
    assert_no_error_lines(err)


@pytest.mark.parametrize("value", ["-1", "soon", "inf", "nan"])
def test_serve_refuses_a_graceful_timeout_that_is_no_duration(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tornado_compat", "serve", DRAIN_APP]
        + ["--graceful-timeout", value],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "argument --graceful-timeout: not a" in result.stderr


def test_serve_cuts_a_slow_head_at_its_production_deadline(
    hello_server: tuple[subprocess.Popen[str], int],
) -> None:
    # serve's head_timeout, not Tornado's hour: a head that stops short is
    # cut, with the INFO line that names the deadline, while a connection
    # opened at the same time and left idle stays open (75 s).
    proc, port = hello_server
    idle = socket.create_connection(("127.0.0.1", port), timeout=30)
    slow = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert slow.recv(1024) == b""  # closed by the server, no answer
        idle.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        idle.close()
        slow.close()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Timeout reading request head from" in err
    assert "(head_timeout 10 s)" in err
