"""Installs tornado_compat when an interpreter starts, for the conformance runner.

The runner puts this folder first on PYTHONPATH and sets
TORNADO_COMPAT_INSTALL ("1" for every row of the drop-in map, or a
comma-separated list of Tornado module names).  Every Python process started
under that environment, including the ones Tornado's tests spawn themselves,
then runs on tornado_compat from its first import.

This hook must never let a process fall back to Tornado's own modules: if the
install fails it stops the process instead, because a silent fallback would
make Tornado's results look like ours.
"""

import os
import sys


def _install_from_environment() -> None:
    wanted = os.environ.get("TORNADO_COMPAT_INSTALL", "")
    if not wanted:
        return
    try:
        import tornado_compat

        if wanted == "1":
            tornado_compat.install()
        else:
            tornado_compat.install([n for n in wanted.split(",") if n])
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.write(
            f"sitecustomize: tornado_compat.install() failed "
            f"(TORNADO_COMPAT_INSTALL={wanted!r}); stopping this process rather "
            "than running it on Tornado's own modules\n"
        )
        sys.stderr.flush()
        # site.py swallows exceptions from sitecustomize, so only an exit here
        # really stops the process.
        os._exit(70)


_install_from_environment()
