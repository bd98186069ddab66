"""Helpers of the ``serve`` tests (not a test module): start the command on
a target of ``tests/serve/apps/targets.py``, make a request, run a command
that must be refused.

What it must never do: wait without a bound, or leave a process running
(:class:`~tests.serve_process.ServeProcess` kills it at the end).
"""

from __future__ import annotations

import http.client
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from tests.serve_process import ROOT, TORNADO_COMPAT, ServeProcess

TARGETS = "tests/serve/apps/targets.py"
#: The first line of a server on a port the system picked, with the port as
#: its group.
TCP_LINE = r"serving \S+ on https?://127\.0\.0\.1:(\d+)/"


def serve(
    *options: str,
    target: str = TARGETS,
    first_line: str = TCP_LINE,
    prefix: Sequence[str] = (),
    **kwargs: Any,
) -> ServeProcess:
    """``serve TARGET --port 0 OPTIONS`` (``--port`` first, so that an option
    may override it).  ``prefix`` comes before the Python command (a shell
    that sets the environment, say)."""
    return ServeProcess(
        [*prefix, *TORNADO_COMPAT, "serve", target, "--port", "0", *options],
        first_line,
        **kwargs,
    )


def get(
    port: int,
    path: str = "/",
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """One request on a new connection: the status and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def refused(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m tornado_compat ARGS``, expected to exit before serving."""
    return subprocess.run(
        [sys.executable, "-m", "tornado_compat", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def stop(server: ServeProcess) -> tuple[int, str, str]:
    """SIGTERM, then the exit status and both outputs."""
    server.send_signal()
    return server.finish()
