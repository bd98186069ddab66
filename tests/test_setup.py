"""setup.py: a pure build leaves no compiled module of an earlier build.

An editable install puts the compiled modules next to their sources, and
Python imports them before the sources; ``TORNADO_COMPAT_COMPILE=0 pip
install -e .`` must then really give pure Python.  This runs the build
backend's first step, as pip does, on a copy of the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from tests.test_compiled import _listed_in_setup_py

REPO_ROOT = Path(__file__).resolve().parent.parent
SUFFIX = EXTENSION_SUFFIXES[0]
# What a compiled build leaves: the modules setup.py lists, and mypyc's
# shared library.
COMPILED = [name.replace(".", "/") for name in _listed_in_setup_py()] + [
    "tornado_compat/_native__mypyc"
]


def test_a_pure_build_removes_compiled_modules_of_an_earlier_one(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "repo"
    shutil.copytree(
        REPO_ROOT / "tornado_compat",
        copy / "tornado_compat",
        ignore=shutil.ignore_patterns("__pycache__", "*" + SUFFIX),
    )
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, copy / name)
    left = [copy / (stem + SUFFIX) for stem in COMPILED]
    left += [copy / "build/lib.x" / (stem + SUFFIX) for stem in COMPILED]
    other = copy / ("tornado_compat/not_ours" + SUFFIX)
    for path in [*left, other]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"stale")

    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from setuptools import build_meta\n"
            "build_meta.get_requires_for_build_editable()\n",
        ],
        cwd=copy,
        env={**os.environ, "TORNADO_COMPAT_COMPILE": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert [p for p in left if p.exists()] == []
    assert other.exists()
    assert "removed tornado_compat/http1connection" in proc.stderr
