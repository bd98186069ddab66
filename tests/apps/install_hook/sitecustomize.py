"""Installs tornado_compat when an interpreter starts, for the real-app runner.

The runner (tests/apps/run.py) puts this folder on PYTHONPATH for its
tornado_compat run only, so every Python process of that run, the test
session and each kernel, server or helper it starts, calls
:func:`tornado_compat.install` before anything imports Tornado.

If TORNADO_COMPAT_APPS_LOG names a file, each process appends one line when
it installs and one when it exits, so the runner can say how many processes
ran on tornado_compat.

This hook must never let a process fall back to Tornado's own modules: if the
install fails it stops the process, because a silent fallback would make
Tornado's results look like ours.
"""

import atexit
import os
import sys


def _log(line: str) -> None:
    path = os.environ.get("TORNADO_COMPAT_APPS_LOG")
    if not path:
        return
    # One short append per line: O_APPEND keeps lines from processes that
    # write at once apart.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line.replace("\n", " ") + "\n").encode("utf-8", "replace"))
    finally:
        os.close(fd)


def _served_at_exit() -> None:
    module = sys.modules.get("tornado.httputil")
    served = module.__name__ if module is not None else "-"
    _log(f"exit {os.getpid()} {served}")


def _install() -> None:
    try:
        import tornado_compat

        tornado_compat.install()
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.write(
            "sitecustomize: tornado_compat.install() failed; stopping this "
            "process rather than running it on Tornado's own modules\n"
        )
        sys.stderr.flush()
        # site.py swallows exceptions from sitecustomize: only an exit stops.
        os._exit(70)
    _log(f"start {os.getpid()} {' '.join(sys.orig_argv[:4])}")
    atexit.register(_served_at_exit)


_install()
