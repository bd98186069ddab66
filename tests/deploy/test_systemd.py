"""docs/deploy.md's systemd units: checked by ``systemd-analyze verify``,
and their ``ExecStart`` run on an activated socket (``LISTEN_FDS``), by
systemd's own activator and by a launcher of the test's own."""

from __future__ import annotations

import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from tests.deploy import docpage
from tests.deploy.client import Response, request, unix_request
from tests.deploy.tools import tool
from tests.ports import free_port
from tests.serve_process import WAIT, ServeProcess

SOCKET_UNIT = "/etc/systemd/system/myapp.socket"
SERVICE_UNIT = "/etc/systemd/system/myapp.service"
SOCKET = "/run/myapp/myapp.sock"
VENV_PYTHON = "/srv/myapp/venv/bin/python"
#: Sets LISTEN_FDS and LISTEN_PID as systemd does, with the socket (passed as
#: argv[1]) at descriptor 3, then becomes the command: LISTEN_PID is the pid
#: of the process that reads it, since exec keeps the pid.
LAUNCHER = (
    "import os, sys\n"
    "fd = int(sys.argv[1])\n"
    "if fd != 3:\n"
    "    os.dup2(fd, 3)\n"
    "    os.close(fd)\n"
    "os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getpid()))\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def exec_start() -> list[str]:
    """The service's ExecStart, made to run here."""
    line = docpage.unit_value(docpage.block(SERVICE_UNIT), "ExecStart")
    argv = shlex.split(line)
    assert argv[0] == VENV_PYTHON
    return docpage.runnable(argv, {})


def test_units_are_valid_and_outwait_the_drain(workdir: Path) -> None:
    socket_unit = docpage.block(SOCKET_UNIT)
    service = docpage.block(SERVICE_UNIT)
    assert docpage.unit_value(socket_unit, "ListenStream") == SOCKET
    assert docpage.unit_value(service, "KillSignal") == "SIGTERM"
    assert docpage.unit_value(service, "KillMode") == "mixed"
    assert docpage.unit_value(service, "Restart") == "on-failure"
    argv = shlex.split(docpage.unit_value(service, "ExecStart"))
    graceful = float(argv[argv.index("--graceful-timeout") + 1])
    stop = float(docpage.unit_value(service, "TimeoutStopSec"))
    assert stop > graceful, "systemd would kill requests the drain lets finish"

    # systemd checks the units as it would load them (an unknown key or a
    # misspelt section is reported); the service's Python is this one.
    units = workdir / "units"
    units.mkdir()
    (units / "myapp.socket").write_text(socket_unit)
    (units / "myapp.service").write_text(service.replace(VENV_PYTHON, sys.executable))
    result = subprocess.run(
        [
            tool("systemd-analyze"),
            "verify",
            "--man=no",
            str(units / "myapp.socket"),
            str(units / "myapp.service"),
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_systemd_socket_activate_starts_serve_on_the_units_socket(
    workdir: Path,
) -> None:
    """The units' socket and ExecStart, under systemd's activator: serve
    starts on the first connection and answers it."""
    sock = workdir / "myapp.sock"
    listen = docpage.unit_value(docpage.block(SOCKET_UNIT), "ListenStream")
    assert listen == SOCKET
    with ServeProcess(
        [tool("systemd-socket-activate"), "-l", str(sock), *exec_start()]
    ) as activator:
        activator.wait_for(f"Listening on {sock}", stream="err")
        # Nothing runs serve yet; this connection starts it.
        seen = unix_request(str(sock))
        assert seen.status == 200, activator.output()
        # The activator became serve (exec): same process, LISTEN_PID matched.
        assert seen.json()["pid"] == activator.pid
        activator.wait_for("serving")
        activator.send_signal(signal.SIGTERM)
        assert activator.finish()[0] == 0, activator.output()
        assert "server stopped" in activator.output()
        # The socket was not serve's to remove.
        assert sock.exists()


def test_systemd_socket_activate_command_of_the_page() -> None:
    port = free_port()
    argv = docpage.runnable(
        docpage.command("systemd-socket-activate"), {"8000": str(port)}
    )
    argv[0] = tool("systemd-socket-activate")
    with ServeProcess(argv) as activator:
        activator.wait_for("Listening on", stream="err")
        seen = request(port, source="127.0.0.1")
        assert seen.status == 200, activator.output()
        assert seen.json()["pid"] == activator.pid
        activator.send_signal(signal.SIGTERM)
        assert activator.finish()[0] == 0, activator.output()


def launch(listener: socket.socket, argv: list[str]) -> ServeProcess:
    fd = listener.fileno()
    return ServeProcess([sys.executable, "-c", LAUNCHER, str(fd), *argv], pass_fds=[fd])


def test_activated_socket_outlives_a_restart(workdir: Path) -> None:
    """What systemd's socket gives: serve stops and starts again on one
    socket, and a client that connects in between is answered by the next
    serve instead of being refused."""
    path = workdir / "myapp.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(16)
    with listener:
        with launch(listener, exec_start()) as first:
            seen = unix_request(str(path))
            assert seen.status == 200, first.output()
            assert seen.json()["pid"] == first.pid
            first.send_signal(signal.SIGTERM)
            assert first.finish()[0] == 0, first.output()
        assert path.exists()

        # No serve runs now: the connection waits in the socket's queue.
        with socket.socket(socket.AF_UNIX) as waiting:
            waiting.settimeout(WAIT)
            waiting.connect(str(path))
            with launch(listener, exec_start()) as second:
                answer = unix_request(str(path), sock=waiting)
                assert answer.status == 200, second.output()
                assert answer.json()["pid"] == second.pid
                second.send_signal(signal.SIGTERM)
                assert second.finish()[0] == 0, second.output()


def test_workers_share_the_activated_socket_and_drain(workdir: Path) -> None:
    """--workers N on an activated socket: the workers answer on it, and
    SIGTERM to serve alone (KillMode=mixed) drains every one of them."""
    path = workdir / "myapp.sock"
    flag = workdir / "release"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(16)
    with listener, launch(listener, [*exec_start(), "--workers", "2"]) as app:
        for _ in range(2):
            app.wait_for("ready")
        seen = unix_request(str(path))
        assert seen.status == 200, app.output()
        # A worker answered, not the first process.
        assert seen.json()["pid"] != app.pid

        slow: list[Response] = []
        client = threading.Thread(
            target=lambda: slow.append(unix_request(str(path), f"/slow?flag={flag}"))
        )
        client.start()
        try:
            app.wait_for(f"arrived {flag}")
            app.send_signal(signal.SIGTERM)
            app.wait_for("draining")
        finally:
            flag.touch()
            client.join(WAIT)
        assert slow and slow[0].status == 200, app.output()
        assert app.finish()[0] == 0, app.output()
        assert path.exists()
