"""A real nginx for the deployment tests (not a test module): the
``http``-context configuration of docs/deploy.md, in a main configuration
of the test's own (paths in a temporary folder, no daemon).

What it is for: running the page's nginx blocks as they are, with only the
placeholders (ports, socket path, certificate files) filled in.

What it must never do: need a system-wide nginx configuration or service,
or leave nginx running.  The master runs in the foreground and is stopped
(then killed, if it lingers) when the test ends.
"""

from __future__ import annotations

import grp
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.deploy.tools import tool
from tests.serve_process import WAIT

MAIN = """\
{user}worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{
    worker_connections 256;
}}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{http}
}}
"""


def fill(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each placeholder replaced; a placeholder that is not in
    ``text`` fails, since the page no longer says what the test expects."""
    for placeholder, value in replacements.items():
        assert placeholder in text, f"{placeholder!r} is not in the block any more"
        text = text.replace(placeholder, value)
    return text


class Nginx:
    def __init__(self, directory: Path, proc: subprocess.Popen[str]) -> None:
        self.directory = directory
        self.proc = proc

    def errors(self) -> str:
        """nginx's error log so far (for failure messages)."""
        try:
            return (self.directory / "error.log").read_text()
        except FileNotFoundError:
            return ""


@contextmanager
def nginx(directory: Path, http: str, ports: list[int]) -> Iterator[Nginx]:
    """Run nginx with ``http`` as the contents of its ``http`` block, until
    it accepts on every port of ``ports`` (on 127.0.0.1)."""
    binary = tool("nginx")
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "nginx.conf"
    user = ""
    if os.geteuid() == 0:
        # nginx's workers run as nobody, in the group of the user that runs
        # serve (here, this one): the page's advice for --unix-socket, whose
        # socket only its user and group may use.
        user = f"user nobody {grp.getgrgid(os.getegid()).gr_name};\n"
    conf.write_text(MAIN.format(user=user, dir=directory, http=http))
    check = subprocess.run(
        [binary, "-t", "-p", str(directory), "-c", str(conf), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert check.returncode == 0, f"nginx -t refused the configuration:\n{check.stderr}"
    proc = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(conf), "-e", "stderr"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Nginx(directory, proc)
    try:
        deadline = time.monotonic() + WAIT
        for port in ports:
            # Ready when it accepts: nginx has no readiness message.
            while True:
                if proc.poll() is not None:
                    assert proc.stderr is not None
                    pytest.fail(
                        f"nginx exited with {proc.returncode}: {proc.stderr.read()}"
                    )
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline, "nginx did not start listening"
                    time.sleep(0.01)
        yield running
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(WAIT)
        assert proc.stderr is not None
        proc.stderr.close()
