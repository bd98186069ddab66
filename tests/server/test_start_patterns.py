"""The three ways to start an HTTPServer: ``listen``; ``bind`` then
``start(n)``, which forks; and ``bind_sockets``, ``fork_processes`` and
``add_sockets``.

The forking patterns run ``apps/forking.py`` in a fresh interpreter, so that
the pytest process never forks.  Each of its two children answers one
request with its task id and pid and then stops accepting, so two requests
in a row reach both children, whichever the kernel picks first.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ports import free_port
from tests.server.client import RawConnection, request
from tests.server.support import RecordingApp, ServerThread
from tornado_compat.httpserver import HTTPServer

ROOT = Path(__file__).resolve().parents[2]
FORKING = Path(__file__).with_name("apps") / "forking.py"
PROCESS_TIMEOUT = 60.0


def test_listen(server_thread: ServerThread) -> None:
    app = RecordingApp()
    port = free_port()

    async def start() -> HTTPServer:
        server = HTTPServer(app)
        server.listen(port, address="127.0.0.1")
        server_thread.servers.append(server)
        return server

    server_thread.call(start)
    with RawConnection(port) as conn:
        conn.send(request("GET", "/listening"))
        assert conn.read_response().json()["uri"] == "/listening"
    assert app.uris == ["/listening"]


def child_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH")] if p)
    return dict(os.environ, PYTHONPATH=path)


def read_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], PROCESS_TIMEOUT)
    assert ready, "the script printed nothing"
    return proc.stdout.readline()


@pytest.mark.skipif(sys.platform == "win32", reason="forking is Unix only")
@pytest.mark.parametrize("mode", ["start", "add_sockets"])
def test_forked_children_each_answer(mode: str) -> None:
    args = [sys.executable, str(FORKING), mode]
    if mode == "start":
        args.append(str(free_port()))
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=ROOT,
    )
    try:
        line = read_line(proc)
        assert line.startswith("port "), line
        port = int(line.split()[1])
        answers = []
        for _ in range(2):
            with RawConnection(port) as conn:
                conn.send(request("GET", "/"))
                response = conn.read_response()
                assert response.status == 200
                answers.append(response.body.decode().split())
        stdout, stderr = proc.communicate(timeout=PROCESS_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert sorted(task for task, _ in answers) == ["0", "1"]
    pids = {pid for _, pid in answers}
    assert len(pids) == 2
    assert str(proc.pid) not in pids
    assert "Traceback" not in stderr
    assert "ERROR" not in stderr, stderr


class ConfiguredServer(HTTPServer):
    """A subclass that HTTPServer(...) returns once configured."""


def test_configure_picks_the_class_and_default_options(serve, connect) -> None:
    saved = HTTPServer._save_configuration()
    try:
        HTTPServer.configure(ConfiguredServer, xheaders=True)
        served = serve()
    finally:
        HTTPServer._restore_configuration(saved)
    assert type(served.server) is ConfiguredServer
    conn = connect(served.port)
    conn.send(request("GET", "/", {"X-Real-Ip": "4.4.4.4"}))
    # xheaders came from configure(), not from the call.
    assert conn.read_response().json()["remote_ip"] == "4.4.4.4"
