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
- A pure build deletes the compiled modules an earlier build left next to
  their sources (an editable install puts them there, and Python imports
  them before the sources) or in ``build/``, so pure means pure.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

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
    "tornado_compat/_transport.py",
    "tornado_compat/_bare.py",
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


def _remove_compiled() -> None:
    """Deletes the compiled modules of an earlier build, for a pure one."""
    here = Path(__file__).resolve().parent
    stems = [name.removesuffix(".py") for name in COMPILED]
    stems.append("tornado_compat/_native__mypyc")  # mypyc's shared library
    for root in [here, *sorted(here.glob("build/lib*"))]:
        for stem in stems:
            for suffix in EXTENSION_SUFFIXES:
                path = root / (stem + suffix)
                if path.is_file():
                    path.unlink()
                    print(
                        f"tornado_compat: removed {path.relative_to(here)}, "
                        "compiled by an earlier build",
                        file=sys.stderr,
                    )


def _ext_modules() -> list[Extension]:
    if os.environ.get("TORNADO_COMPAT_COMPILE", "1") == "0":
        _remove_compiled()
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("tornado_compat: no mypyc; installing pure Python", file=sys.stderr)
        _remove_compiled()
        return []
    try:
        return mypycify(COMPILED, group_name="tornado_compat._native", opt_level="3")
    except SystemExit:  # mypyc has printed the type errors that stop it
        print("tornado_compat: mypyc refused; installing pure Python", file=sys.stderr)
        _remove_compiled()
        return []


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
