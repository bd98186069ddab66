"""What importing costs a process: tornado_compat's install() and tornado.web.

    python -m benchmarks.import_time [--runs 20] [--python PATH]

Runs each command below RUNS times in a fresh interpreter (from the
repository root, so the checkout's sources are the ones imported) and prints
the median and smallest wall time, and the median sum of the top-level
imports that ``-X importtime`` reports (``site`` left out: what it does
depends on the environment's ``.pth`` files, not on us).  Bytecode caches
are written by one warm-up run first, as an installed package has them.

- ``python -c pass``: the interpreter alone;
- ``import tornado.web``: Tornado on its own;
- ``install()``: ``import tornado_compat; tornado_compat.install()``, what a
  ``sitecustomize`` drop-in makes every Python process pay;
- ``install(); import tornado.web``: an application's start on tornado_compat.

Use ``--python`` with a venv that has only tornado (and tornado_compat's
sources on the path) for figures that no other package's start-up blurs.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = (
    ("python -c pass", "pass"),
    ("import tornado.web (Tornado)", "import tornado.web"),
    ("install()", "import tornado_compat; tornado_compat.install()"),
    (
        "install(); import tornado.web",
        "import tornado_compat; tornado_compat.install(); import tornado.web",
    ),
)
_IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \| (\S+)$")


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("TORNADO_COMPAT_INSTALL", None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _top_level_ms(stderr: str) -> float:
    total = 0
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match and match.group(2) != "site":
            total += int(match.group(1))
    return total / 1000


def measure(python: str, code: str, runs: int) -> tuple[float, float, float]:
    """Median wall ms, smallest wall ms, median -X importtime ms."""
    env = _environment()
    subprocess.run([python, "-c", code], cwd=ROOT, env=env, check=True)
    walls = []
    imports = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([python, "-c", code], cwd=ROOT, env=env, check=True)
        walls.append((time.perf_counter() - started) * 1000)
        traced = subprocess.run(
            [python, "-X", "importtime", "-c", code],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        imports.append(_top_level_ms(traced.stderr))
    return statistics.median(walls), min(walls), statistics.median(imports)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    print(f"{'command':32} {'median ms':>10} {'min ms':>8} {'imports ms':>11}")
    for name, code in CASES:
        median, smallest, imports = measure(args.python, code, args.runs)
        print(f"{name:32} {median:10.1f} {smallest:8.1f} {imports:11.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
