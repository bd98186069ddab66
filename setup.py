"""Builds the per-request modules with mypyc, when it can.

The metadata is in pyproject.toml; this file only adds the compiled
modules.  The modules below are compiled from their own Python source (the
same source every other install runs as Python), so there is still one
parser: compiling changes how fast it runs, not what it accepts.

- ``TORNADO_COMPAT_COMPILE=0`` in the build's environment installs pure
  Python.
- Without mypyc, or when the C compiler fails (no compiler, no Python
  headers), the build says so and installs pure Python: tornado_compat works
  the same, only slower (docs/architecture.md, "Compiled modules").
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# What runs for every request and every response: the connection, and the
# protocol core's framing, head and writer functions.  tests/test_compiled.py
# reads this list, and checks that a build compiled them.
COMPILED = [
    "tornado_compat/http1connection.py",
    "tornado_compat/protocol/framing.py",
    "tornado_compat/protocol/head.py",
    "tornado_compat/protocol/writers.py",
]


class OptionalBuildExt(build_ext):
    """Builds the compiled modules; if that fails, installs none of them."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # compiler failures share no narrower base
            print(
                f"tornado_compat: could not compile ({e}); installing pure Python",
                file=sys.stderr,
            )
            # The compiled modules only work together: leave none behind.
            for ext in self.extensions:
                path = self.get_ext_fullpath(ext.name)
                if os.path.exists(path):
                    os.remove(path)
            self.extensions = []


def _ext_modules() -> list[Extension]:
    if os.environ.get("TORNADO_COMPAT_COMPILE", "1") == "0":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("tornado_compat: no mypyc; installing pure Python", file=sys.stderr)
        return []
    try:
        return mypycify(COMPILED, group_name="tornado_compat._native", opt_level="3")
    except SystemExit:  # mypyc has printed the type errors that stop it
        print("tornado_compat: mypyc refused; installing pure Python", file=sys.stderr)
        return []


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
