"""Commands run in a subprocess, for the tests that start ``serve`` as a
user would and send it signals (not a test module): ``python -m
tornado_compat serve ...``, the command lines of docs/deploy.md, systemd's
socket activator, a launcher that hands ``serve`` a socket; and the test
applications run as scripts (:class:`AppProcess`).

What it is for: starting the command, learning its port from its first line,
waiting for a line it prints later (an application's "arrived" marker, the
"draining" notice, a log text on stderr) without sleeping, sending it
signals, and collecting its exit status and both outputs at the end.

What it must never do: block without a bound, or outlive its test.  Both
outputs are read by threads into lists, so a wait for a line is a wait on a
condition with a timeout, and a command still running when the test ends is
killed with its process group (``serve``'s workers go with it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
#: Safety net for one wait; reaching it fails the test.
WAIT = 30.0
#: ``python -m tornado_compat`` with this interpreter: the start of the
#: command line of a test that runs the command as a user would.
TORNADO_COMPAT = (sys.executable, "-m", "tornado_compat")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: this checkout first on the path (so that
    ``serve``, even the installed script, runs the code under test), output
    unbuffered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class ServeProcess:
    """A command, run from the repository root in a session of its own,
    whose stdout and stderr lines can be waited for."""

    def __init__(
        self,
        argv: Sequence[str],
        first_line: str | None = None,
        *,
        cwd: Path = ROOT,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
    ) -> None:
        """``first_line``, if given, is a pattern that the first line of
        stdout must match, waited for here; its first group, if any, is the
        port (else :attr:`port` is 0).  ``env`` defaults to
        :func:`child_env`; ``pass_fds`` goes to :class:`subprocess.Popen`."""
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
        self._ended = {"out": False, "err": False}
        self._seen = {"out": 0, "err": 0}
        self._changed = threading.Condition()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, "out")),
            threading.Thread(target=self._read, args=(self.proc.stderr, "err")),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()
        self.port = 0
        if first_line is None:
            return
        try:
            line = self.wait_for_line("")
            match = re.match(first_line, line)
            assert match, f"unexpected first line {line!r}"
            if match.groups():
                self.port = int(match.group(1))
        except BaseException:
            self.kill()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self, pipe: IO[str], stream: str) -> None:
        into = self.out if stream == "out" else self.err
        for line in pipe:
            with self._changed:
                into.append(line.rstrip("\n"))
                self._changed.notify_all()
        pipe.close()
        with self._changed:
            self._ended[stream] = True
            self._changed.notify_all()

    def wait_for(
        self,
        text: str,
        stream: str = "out",
        timeout: float = WAIT,
        *,
        start: bool = False,
    ) -> str:
        """The next line of ``stream`` ("out" or "err"), after those already
        waited for, that contains ``text`` (with ``start``, that starts with
        it); fails the test, showing both outputs so far, if the stream ends
        or ``timeout`` passes first."""
        lines = self.out if stream == "out" else self.err
        found: list[str] = []

        def look() -> bool:
            while self._seen[stream] < len(lines):
                line = lines[self._seen[stream]]
                self._seen[stream] += 1
                if line.startswith(text) if start else text in line:
                    found.append(line)
                    return True
            return self._ended[stream]

        with self._changed:
            self._changed.wait_for(look, timeout)
            if not found:
                command = " ".join(self.argv[:6])
                if len(self.argv) > 6:
                    command += " ..."
                how = "starting with" if start else "with"
                raise AssertionError(
                    f"{command}: no line {how} {text!r} on std{stream}"
                    f"\nstdout: {self.out}\nstderr: {self.err}"
                )
            return found[0]

    def wait_for_line(self, prefix: str, timeout: float = WAIT) -> str:
        """The next line of stdout (after those already waited for) that
        starts with ``prefix``."""
        return self.wait_for(prefix, "out", timeout, start=True)

    def wait_for_log(self, text: str, timeout: float = WAIT) -> str:
        """The next line of stderr (after those already waited for) that
        contains ``text``."""
        return self.wait_for(text, "err", timeout)

    def send_signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = WAIT) -> tuple[int, str, str]:
        """Wait for the process to exit; its status, stdout and stderr."""
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        with self._changed:
            return self.proc.returncode, "\n".join(self.out), "\n".join(self.err)

    def output(self) -> str:
        """Both outputs so far, stdout first: for a failure message."""
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

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


class AppProcess(ServeProcess):
    """A test application run as a script (``python -W error SCRIPT
    ARGS``) that prints one JSON line when it is serving (see
    tests/app_main.py) and serves until SIGTERM."""

    def __init__(self, script: Path, *args: str) -> None:
        super().__init__([sys.executable, "-W", "error", str(script), *args])
        try:
            #: The JSON object of the first line: the ports, by name.
            self.started: dict[str, Any] = json.loads(self.wait_for_line(""))
        except BaseException:
            self.kill()
            raise
        self.port = int(self.started.get("port", 0))

    def stop(self, clean: bool = True) -> str:
        """Send SIGTERM and wait for the exit; fail unless the status is 0
        and, with ``clean``, stderr holds no traceback and no ERROR line.
        Returns stderr."""
        try:
            self.send_signal(signal.SIGTERM)
            status, _, err = self.finish()
            assert status == 0, err
            if clean:
                assert "Traceback" not in err, err
                assert "ERROR" not in err, err
            return err
        finally:
            self.kill()
