"""Where ``serve`` listens: TCP, a Unix socket (never taking over one
another server owns), an inherited descriptor, systemd socket activation,
SO_REUSEPORT; and the exit status when it cannot listen."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from tests.serve.support import TARGETS, get, refused, serve, stop
from tests.server.client import RawConnection

UNIX_LINE = r"serving \S+ on unix:(?:\S+)$"


def unix_get(path: Path, url: str = "/") -> bytes:
    """A request over a Unix socket: the whole response."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        head = f"GET {url} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        sock.sendall(head.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    # AF_UNIX paths are limited to about 100 bytes; tmp_path may be longer.
    short = Path(f"/tmp/tc-serve-{os.getpid()}-{tmp_path.name[-20:]}.sock")
    yield short
    if short.exists() or short.is_symlink():
        short.unlink()


def test_unix_socket_serves_and_is_removed_at_the_end(sock_path: Path) -> None:
    with serve("--unix-socket", str(sock_path), first_line=UNIX_LINE) as server:
        assert server.wait_for_line("try:") == (
            f"try:  curl --unix-socket {sock_path} http://localhost/"
            "   (Ctrl-C stops the server)"
        )
        assert oct(sock_path.stat().st_mode & 0o777) == "0o660"
        response = unix_get(sock_path, "/whoami")
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        # No IP address on a Unix socket: tornado.web shows 0.0.0.0.
        assert b"\r\n\r\n0.0.0.0 http " in response
        status, out, err = stop(server)
    assert status == 0, err
    assert "200 GET /whoami (0.0.0.0)" in err
    assert not sock_path.exists()


def test_unix_socket_mode(sock_path: Path) -> None:
    with serve(
        "--unix-socket",
        str(sock_path),
        "--unix-socket-mode",
        "600",
        first_line=UNIX_LINE,
    ) as server:
        assert oct(sock_path.stat().st_mode & 0o777) == "0o600"
        stop(server)


def test_a_stale_socket_is_replaced(sock_path: Path) -> None:
    # A socket file nobody listens on, as a server killed with SIGKILL leaves.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()
    with serve("--unix-socket", str(sock_path), first_line=UNIX_LINE) as server:
        assert unix_get(sock_path).endswith(b"\r\n\r\nhello\n")
        status, _, err = stop(server)
    assert status == 0, err


def test_a_socket_another_server_listens_on_is_left_alone(sock_path: Path) -> None:
    with serve("--unix-socket", str(sock_path), first_line=UNIX_LINE) as first:
        inode = sock_path.stat().st_ino
        result = refused("serve", TARGETS, "--unix-socket", str(sock_path))
        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            f"cannot listen on unix:{sock_path}: another server is listening there"
        ]
        # The first server's socket is still there, and still serves.
        assert sock_path.stat().st_ino == inode
        assert unix_get(sock_path).endswith(b"hello\n")
        stop(first)


def test_a_regular_file_is_never_replaced(sock_path: Path) -> None:
    sock_path.write_text("precious\n")
    result = refused("serve", TARGETS, "--unix-socket", str(sock_path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"cannot listen on unix:{sock_path}: a file that is not a socket is there"
    ]
    assert sock_path.read_text() == "precious\n"


def test_a_socket_file_replaced_meanwhile_is_not_removed(sock_path: Path) -> None:
    # Someone else's server took the path while ours ran (after removing our
    # file): at the end ours must not delete theirs.
    with serve("--unix-socket", str(sock_path), first_line=UNIX_LINE) as server:
        sock_path.unlink()
        theirs = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        theirs.bind(str(sock_path))
        try:
            status, _, err = stop(server)
            assert status == 0, err
            assert sock_path.exists()
        finally:
            theirs.close()


def listening_socket() -> socket.socket:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.set_inheritable(True)
    return sock


def test_fd_serves_an_inherited_socket() -> None:
    with listening_socket() as sock:
        port = sock.getsockname()[1]
        fd = sock.fileno()
        with serve("--fd", str(fd), pass_fds=(fd,)) as server:
            assert server.port == port
            assert get(port) == (200, b"hello\n")
            status, _, err = stop(server)
    assert status == 0, err


def test_fd_that_is_not_a_listening_socket() -> None:
    read_end, write_end = os.pipe()
    try:
        result = subprocess_refused("--fd", str(read_end), pass_fds=(read_end,))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"cannot serve descriptor {read_end}: not a listening stream socket"
    ]


def subprocess_refused(*options: str, pass_fds: tuple[int, ...]):
    import subprocess
    import sys

    from tests.serve_process import ROOT

    return subprocess.run(
        [sys.executable, "-m", "tornado_compat", "serve", TARGETS, *options],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        pass_fds=pass_fds,
    )


# systemd starts the service with the sockets at descriptors 3, 4, ... and
# LISTEN_PID set to the service's pid; bash (dash cannot move descriptors
# above 9) sets it to its own pid and
# then becomes Python with exec, keeping that pid.
def activated(sockets: list[socket.socket], listen_pid: str = "$$") -> dict:
    moves = " ".join(f"{3 + i}<&{s.fileno()}" for i, s in enumerate(sockets))
    return {
        "prefix": (
            "bash",
            "-c",
            f"export LISTEN_PID={listen_pid} LISTEN_FDS={len(sockets)}"
            f' LISTEN_FDNAMES=web; exec "$@" {moves}',
            "sh",
        ),
        "pass_fds": tuple(s.fileno() for s in sockets),
    }


def test_systemd_socket_activation_serves_every_passed_socket() -> None:
    first, second = listening_socket(), listening_socket()
    with first, second:
        ports = [s.getsockname()[1] for s in (first, second)]
        with serve(**activated([first, second])) as server:
            assert server.port == ports[0]
            assert server.wait_for_line("serving").endswith(f":{ports[1]}/")
            for port in ports:
                assert get(port) == (200, b"hello\n")
            status, _, err = stop(server)
    assert status == 0, err


def test_socket_activation_meant_for_another_process_is_ignored() -> None:
    with listening_socket() as sock:
        with serve(**activated([sock], listen_pid="1")) as server:
            # It bound its own port, as without systemd.
            assert server.port != sock.getsockname()[1]
            assert get(server.port) == (200, b"hello\n")
            stop(server)


def test_reuse_port_lets_two_servers_share_a_port() -> None:
    with serve("--reuse-port") as first:
        with serve("--reuse-port", "--port", str(first.port)) as second:
            assert second.port == first.port
            assert get(first.port) == (200, b"hello\n")
            stop(second)
        stop(first)


def test_without_reuse_port_a_taken_port_is_exit_1() -> None:
    with serve() as server:
        result = refused("serve", TARGETS, "--port", str(server.port))
        assert result.returncode == 1
        lines = result.stderr.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith(f"cannot listen on 127.0.0.1:{server.port}: ")
        assert "Address already in use" in lines[0]
        # The running server is untouched.
        with RawConnection(server.port) as conn:
            conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.read_response().body == b"hello\n"
        stop(server)
