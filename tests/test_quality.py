"""ruff, mypy and the Sphinx build, as tests, so the one test command covers them.

Each runs the tool the way a developer would, from the repository root, with
the configuration in pyproject.toml (docs/conf.py for Sphinx).  This file must
never relax a tool's settings: fix the code or the configuration instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.quality


def _run(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"`python -m {' '.join(args)}` exited with {proc.returncode}:\n"
            + proc.stdout,
            pytrace=False,
        )


def test_ruff() -> None:
    _run("ruff", "check", ".")


@pytest.mark.timeout(300)
def test_mypy() -> None:
    _run("mypy")


@pytest.mark.timeout(300)
def test_docs_build_without_warnings(tmp_path: Path) -> None:
    # A fresh build (-E) in a temporary folder, so that a stale docs/_build
    # cannot hide a warning.
    _run(
        "sphinx",
        "-W",
        "--keep-going",
        "-E",
        "-q",
        "-d",
        str(tmp_path / "doctrees"),
        "-b",
        "html",
        "docs",
        str(tmp_path / "html"),
    )
