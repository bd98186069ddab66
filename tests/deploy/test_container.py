"""examples/deploy/Dockerfile, without Docker: its CMD run as PID 1 of a
new PID namespace (as a container runs it), stopped the way ``docker stop``
stops it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
from pathlib import Path

import pytest

from tests.deploy import docpage
from tests.deploy.client import Response, request
from tests.serve_process import WAIT, ServeProcess


def test_dockerfile_stops_with_sigterm_within_docker_s_timeout() -> None:
    instructions = docpage.dockerfile_instructions()
    assert ("STOPSIGNAL", "SIGTERM") in instructions
    argv = docpage.dockerfile_cmd()
    assert argv[:4] == ["python", "-m", "tornado_compat", "serve"]
    assert argv[argv.index("--address") + 1] == "0.0.0.0"
    graceful = float(argv[argv.index("--graceful-timeout") + 1])
    stop_timeout = re.search(r"--stop-timeout (\d+)", docpage.DOCKERFILE.read_text())
    assert stop_timeout, "the Dockerfile no longer says how to run it"
    assert graceful < float(stop_timeout.group(1))
    # The page gives the same advice.
    assert f"--stop-timeout {stop_timeout.group(1)}" in docpage.PAGE.read_text()


def namespace_init(launcher: ServeProcess) -> int:
    """The host pid of the process that unshare started (PID 1 inside)."""
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
    pids = children.read_text().split()
    assert len(pids) == 1, pids
    return int(pids[0])


def test_dockerfile_cmd_as_pid_1_drains_on_docker_stop(workdir: Path) -> None:
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("a PID namespace needs root and util-linux's unshare")
    # Loopback and a free port here, where the container has its own
    # network and listens on all of its interfaces.
    argv = docpage.runnable(
        docpage.dockerfile_cmd(), {"0.0.0.0": "127.0.0.1", "8000": "0"}
    )
    with ServeProcess([unshare, "--pid", "--fork", "--mount-proc", *argv]) as container:
        line = container.wait_for("serving")
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        port = int(match.group(1))
        seen = request(port, source="127.0.0.1")
        assert seen.status == 200
        assert seen.json()["pid"] == 1

        flag = workdir / "release"
        slow: list[Response] = []
        client = threading.Thread(
            target=lambda: slow.append(
                request(port, f"/slow?flag={flag}", source="127.0.0.1")
            )
        )
        client.start()
        try:
            container.wait_for(f"arrived {flag}")
            # What docker stop does: STOPSIGNAL to the container's PID 1.
            os.kill(namespace_init(container), signal.SIGTERM)
            container.wait_for("draining")
        finally:
            flag.touch()
            client.join(WAIT)
        assert slow and slow[0].status == 200, container.output()
        assert container.finish()[0] == 0, container.output()
        assert "server stopped" in container.output()
