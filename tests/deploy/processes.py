"""Child processes for the deployment tests (not a test module): ``serve``
started by a command of the page, systemd's socket activator, nginx.

What it is for: waiting for a line a child prints (its readiness line, an
application's marker) on either output, without sleeping, and collecting
its exit status and outputs at the end.

What it must never do: block without a bound, or outlive its test.  Both
outputs are read by threads into lists, a wait is a wait on a condition with
a timeout, and a child still running at the end is killed with its process
group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from tests.deploy.docpage import ROOT

#: Safety net for one wait; reaching it fails the test.
WAIT = 30.0


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: this checkout first on the path (so that
    ``serve`` runs the code under test), output unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Child:
    """A process whose stdout and stderr lines can be waited for."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path = ROOT,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=child_env() if env is None else env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            pass_fds=tuple(pass_fds),
            # Its own process group, so that workers go with it at the end.
            start_new_session=True,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self._ended = 0
        self._seen = {"out": 0, "err": 0}
        self._changed = threading.Condition()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out)),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self, pipe: IO[str], into: list[str]) -> None:
        for line in pipe:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        pipe.close()
        with self._changed:
            self._ended += 1
            self._changed.notify_all()

    def wait_for(self, text: str, stream: str = "out", timeout: float = WAIT) -> str:
        """The next line of ``stream`` ("out" or "err"), after those already
        waited for, that contains ``text``."""
        lines = self.out if stream == "out" else self.err
        found: list[str] = []

        def look() -> bool:
            while self._seen[stream] < len(lines):
                line = lines[self._seen[stream]]
                self._seen[stream] += 1
                if text in line:
                    found.append(line)
                    return True
            return self._ended == 2

        with self._changed:
            self._changed.wait_for(look, timeout)
            if not found:
                raise AssertionError(
                    f"{self.argv[:6]}...: no line with {text!r} on std{stream}"
                    f"\nstdout: {self.out}\nstderr: {self.err}"
                )
            return found[0]

    def send_signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = WAIT) -> int:
        """Wait for the process to exit; its status."""
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return self.proc.returncode

    def output(self) -> str:
        with self._changed:
            return "\n".join(self.out) + "\n" + "\n".join(self.err)

    def kill(self) -> None:
        """Kill the process and what is left of its group (workers)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(WAIT)
        for reader in self._readers:
            reader.join(WAIT)

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
