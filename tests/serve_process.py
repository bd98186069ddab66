"""``python -m tornado_compat serve ...`` in a subprocess, for tests that
send it signals (not a test module).

What it is for: starting the command as a user would, learning its port from
its first line, waiting for a line it prints later (an application's
"arrived" marker, the "draining" notice) without sleeping, and collecting
its exit status and both outputs at the end.

What it must never do: block without a bound.  Both outputs are read by
threads into lists, so a wait for a line is a wait on a condition with a
timeout, and the process is killed if it is still running when the test
ends.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]
#: Safety net for one wait; reaching it fails the test.
WAIT = 30.0


class ServeProcess:
    """``python -m tornado_compat ARGS``, run from the repository root."""

    def __init__(
        self,
        args: list[str],
        first_line: str,
        *,
        env: dict[str, str] | None = None,
        pass_fds: tuple[int, ...] = (),
        prefix: tuple[str, ...] = (),
    ) -> None:
        """``first_line`` is a pattern for the first line of stdout; its first
        group, if any, is the port (else :attr:`port` is 0).  ``prefix``
        comes before the Python command (a shell that sets the environment,
        say); ``env`` and ``pass_fds`` go to :class:`subprocess.Popen`."""
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "tornado_compat", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            pass_fds=pass_fds,
        )
        # Lines as they come; None once the output has ended.
        self._lines: list[str | None] = []
        self._errors: list[str | None] = []
        self._seen = 0
        self._seen_errors = 0
        self._changed = threading.Condition()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self._lines)),
            threading.Thread(target=self._read, args=(self.proc.stderr, self._errors)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()
        try:
            line = self.wait_for_line("")
            match = re.match(first_line, line)
            assert match, f"unexpected first line {line!r}"
            self.port = int(match.group(1)) if match.groups() else 0
        except BaseException:
            self.kill()
            raise

    def _read(self, pipe: IO[str], into: list[str | None]) -> None:
        for line in pipe:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        pipe.close()
        with self._changed:
            into.append(None)
            self._changed.notify_all()

    def wait_for_line(self, prefix: str, timeout: float = WAIT) -> str:
        """The next line of stdout (after those already waited for) that
        starts with ``prefix``."""
        found: list[str] = []

        def look() -> bool:
            while self._seen < len(self._lines):
                line = self._lines[self._seen]
                if line is None:
                    return True  # the output has ended
                self._seen += 1
                if line.startswith(prefix):
                    found.append(line)
                    return True
            return False

        with self._changed:
            self._changed.wait_for(look, timeout)
            if not found:
                raise AssertionError(
                    f"no line starting with {prefix!r}; stdout: {self._lines}, "
                    f"stderr: {self._errors}"
                )
            return found[0]

    def wait_for_log(self, text: str, timeout: float = WAIT) -> str:
        """The next line of stderr (after those already waited for) that
        contains ``text``."""
        found: list[str] = []

        def look() -> bool:
            while self._seen_errors < len(self._errors):
                line = self._errors[self._seen_errors]
                if line is None:
                    return True
                self._seen_errors += 1
                if text in line:
                    found.append(line)
                    return True
            return False

        with self._changed:
            self._changed.wait_for(look, timeout)
            if not found:
                raise AssertionError(
                    f"no log line with {text!r}; stdout: {self._lines}, "
                    f"stderr: {self._errors}"
                )
            return found[0]

    def send_signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = WAIT) -> tuple[int, str, str]:
        """Wait for the process to exit; its status, stdout and stderr."""
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        with self._changed:
            out = "\n".join(line for line in self._lines if line is not None)
            err = "\n".join(line for line in self._errors if line is not None)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(WAIT)
        for reader in self._readers:
            reader.join(WAIT)

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
