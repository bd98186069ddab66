"""The process that ``python -m benchmarks.instructions`` counts under
callgrind: it must serve every request correctly, whatever the server (the
counting itself needs valgrind and is not run here)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "server",
    [
        "floor",
        "compat",
        "tornado",
        "compat-web",
        "tornado-web",
        "compat-h2",
        "compat-h2-web",
        "floor-tls",
        "compat-tls",
        "tornado-tls",
        "floor-close",
        "compat-close",
        "tornado-close",
    ],
)
def test_the_measured_loop_serves_every_request(server: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", "--loop", server, "300"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"{server}: [\d,]+ requests/s\n", result.stdout)
    assert "Traceback" not in result.stderr
