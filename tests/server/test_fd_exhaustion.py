"""Running out of file descriptors: the server pauses accepting, logs a
bounded number of WARNINGs, keeps serving the connections it has, and accepts
again once descriptors free up.

The server runs in a process of its own (tests/server/fd_limited.py) whose
limit on open files is lowered to :data:`LIMIT`, so that this process keeps
its own.  Everything waits on a response or a log line; the safety nets are
timeouts that fail the test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import pytest

from tests.server.client import RawConnection, request
from tests.server.conftest import LOOP_KINDS

#: The server's limit on open files.
LIMIT = 64
#: Connections opened to exhaust it: more than the limit, and fewer than the
#: limit plus the listen backlog (128), so that every connect completes.
FLOOD = 110
#: How long the descriptors stay exhausted while the held client makes
#: requests; the WARNINGs are counted over this time.
HOLD = 2.5
#: Safety net for every wait.
WAIT = 20.0
HELLO = b"Hello world!"
ROOT = Path(__file__).resolve().parent.parent.parent


class ServerLog:
    """Reads the server's standard error on a thread and counts its lines,
    keeping only the first few (without the fix it writes megabytes)."""

    def __init__(self, stream: object) -> None:
        self._stream = stream
        self.lines = 0
        self.warnings = 0
        self.errors = 0
        self.tracebacks = 0
        self.accept_warnings = 0
        self.first: list[str] = []
        #: Set by the first line at WARNING or above.
        self.spoke = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for raw in self._stream:  # type: ignore[attr-defined]
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines += 1
            if len(self.first) < 20:
                self.first.append(line)
            if line.startswith("WARNING"):
                self.warnings += 1
                if "accept failed" in line:
                    self.accept_warnings += 1
                self.spoke.set()
            elif line.startswith(("ERROR", "CRITICAL")):
                self.errors += 1
                self.spoke.set()
            elif line.startswith("Traceback"):
                self.tracebacks += 1

    def join(self) -> None:
        self._thread.join(WAIT)

    def describe(self) -> str:
        return (
            f"{self.lines} lines ({self.warnings} WARNING, {self.errors} ERROR, "
            f"{self.tracebacks} tracebacks); first: " + "\n".join(self.first)
        )


class FdLimitedServer:
    """tests/server/fd_limited.py, started and stopped around a ``with``."""

    def __init__(self, loop_kind: str, limit: int, pause: float | None = None) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT), env.get("PYTHONPATH")) if p
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.server.fd_limited",
                loop_kind,
                str(limit),
                *([] if pause is None else [str(pause)]),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.log = ServerLog(self.process.stderr)
        self.port = self._read_port()

    def _read_port(self) -> int:
        found: list[int] = []
        assert self.process.stdout is not None
        stdout = self.process.stdout

        def read() -> None:
            words = stdout.readline().split()
            if len(words) == 2 and words[0] == b"ready":
                found.append(int(words[1]))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(WAIT)
        if not found:
            self.stop()
            raise AssertionError(f"the server did not start: {self.log.describe()}")
        return found[0]

    def stop(self) -> int:
        process = self.process
        assert process.stdin is not None
        try:
            process.stdin.close()
            returncode = process.wait(WAIT)
        except (subprocess.TimeoutExpired, OSError):
            process.kill()
            returncode = process.wait(WAIT)
        self.log.join()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        return returncode

    def __enter__(self) -> FdLimitedServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process.returncode is None:
            self.stop()


def get(connection: RawConnection) -> float:
    """One request on ``connection``; the seconds its answer took."""
    start = time.perf_counter()
    connection.send(request("GET", "/"))
    response = connection.read_response()
    assert (response.status, response.body) == (200, HELLO)
    return time.perf_counter() - start


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_running_out_of_descriptors_pauses_accepting(loop_kind: str) -> None:
    server = FdLimitedServer(loop_kind, LIMIT)
    flood: list[socket.socket] = []
    with server, RawConnection(server.port, timeout=WAIT) as held:
        get(held)
        try:
            for _ in range(FLOOD):
                flood.append(
                    socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
                )
            # The first failed accept is logged at once.
            assert server.log.spoke.wait(WAIT), server.log.describe()

            # The connection opened before the flood is served throughout,
            # at once, while accepts keep failing.
            latencies = []
            deadline = time.monotonic() + HOLD
            while time.monotonic() < deadline and len(latencies) < 10_000:
                latencies.append(get(held))
            assert max(latencies) < 1.0, max(latencies)
            # One WARNING when accepting first failed, then at most one a
            # second; not one per failed accept.
            assert 1 <= server.log.accept_warnings <= HOLD + 2, server.log.describe()
        finally:
            for sock in flood:
                sock.close()

        # Once the flood is gone, new connections are accepted and served.
        with RawConnection(server.port, timeout=WAIT) as late:
            get(late)
        get(held)
        held.close()
        assert server.stop() == 0
    assert server.log.errors == 0, server.log.describe()
    assert server.log.tracebacks == 0, server.log.describe()
    assert server.log.warnings == server.log.accept_warnings, server.log.describe()


@pytest.mark.parametrize("loop_kind", LOOP_KINDS)
def test_a_connection_closing_ends_the_pause(loop_kind: str) -> None:
    # Every pause an hour long: a new connection is accepted only because
    # the connections that close free descriptors and end the pause.
    server = FdLimitedServer(loop_kind, LIMIT, pause=3600)
    flood: list[socket.socket] = []
    with server:
        try:
            for _ in range(FLOOD):
                flood.append(
                    socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
                )
            assert server.log.spoke.wait(WAIT), server.log.describe()
        finally:
            for sock in flood:
                sock.close()
        with RawConnection(server.port, timeout=WAIT) as late:
            get(late)
        assert server.stop() == 0
    assert server.log.errors == 0, server.log.describe()
    assert server.log.tracebacks == 0, server.log.describe()
