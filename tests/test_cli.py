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
