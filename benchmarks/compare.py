"""Run contenders side by side under wrk and report medians and ratios.

    python benchmarks/compare.py [--rounds N] [--seconds S] [--only NAME]

Each round runs every contender once, in turn, on the same machine (the
server pinned to CPU 0, wrk to CPU 1), so noise hits them alike; the report
gives each contender's median requests/s and its ratio to the first
contender of its comparison.  This is a benchmark, not a test: it never
passes or fails on speed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# comparison name -> [(label, argv after "hello_server.py")]
COMPARISONS: dict[str, list[tuple[str, list[str]]]] = {
    "raw callback, asyncio": [
        ("tornado HTTPServer", ["tornado", "raw"]),
        ("tornado_compat HTTPServer", ["compat", "raw"]),
    ],
    "tornado.web hello, asyncio": [
        ("tornado.web on tornado", ["tornado", "web"]),
        ("tornado.web on tornado_compat", ["compat", "web"]),
    ],
    "raw callback, uvloop": [
        ("tornado HTTPServer", ["tornado", "raw", "uvloop"]),
        ("tornado_compat HTTPServer", ["compat", "raw", "uvloop"]),
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cpu: int, argv: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def measure(server_args: list[str], seconds: float) -> float:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    server = subprocess.Popen(
        pinned(
            0,
            [
                sys.executable,
                str(HERE / "hello_server.py"),
                *server_args[:2],
                str(port),
                *server_args[2:],
            ],
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"server did not start: {line!r} {server.stderr.read()}")
        out = subprocess.run(
            pinned(
                1,
                [
                    "wrk",
                    "-t1",
                    "-c50",
                    f"-d{int(seconds)}s",
                    f"http://127.0.0.1:{port}/",
                ],
            ),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if not match or "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"wrk reported a problem:\n{out}")
        return float(match.group(1))
    finally:
        server.kill()
        server.communicate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--only", help="run only comparisons containing this text")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    for name, contenders in COMPARISONS.items():
        if args.only and args.only not in name:
            continue
        results: dict[str, list[float]] = {label: [] for label, _ in contenders}
        for _ in range(args.rounds):
            for label, server_args in contenders:
                results[label].append(measure(server_args, args.seconds))
                time.sleep(0.2)
        base = statistics.median(results[contenders[0][0]])
        print(f"\n## {name} ({args.rounds} rounds of {args.seconds}s, wrk -t1 -c50)")
        print("| contender | median req/s | ratio |")
        print("|---|---|---|")
        for label, _ in contenders:
            median = statistics.median(results[label])
            print(f"| {label} | {median:,.0f} | {median / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
