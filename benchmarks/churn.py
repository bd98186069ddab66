"""Server memory after many short connections: ``python -m benchmarks.churn``.

    python -m benchmarks.churn [--cycles N] [--contenders compat tornado uvicorn]

For each contender, a server of ``benchmarks.servers`` (pinned like the
others): tornado_compat and Tornado serve the ``tornado.web`` hello-world
application (``web``), uvicorn a bare ASGI app (``hello``).  After a warm-up
the script reads the server's RSS (``VmRSS``) until it stops changing; then
``benchmarks.cycles`` (pinned to the load CPU) makes N connections that end
without a byte, and the RSS is read again; then N connections of one request
each (``Connection: close``), and the RSS is read a third time.  A server
that keeps nothing per finished connection ends where it started.

``python -m benchmarks`` runs the same measurement as one of its comparisons;
run alone, this prints one table.  Every connection must end as it should (a
closed connection, or a complete 200 response): a single failure makes the
measurement invalid, never a smaller figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks import tools
from benchmarks.tools import BenchmarkError

HELLO = b"Hello world!"
MB = 1e6
#: Connections of each kind made before the first reading, so that the
#: allocator's and the server's one-time costs are paid by then.
WARMUP = 1000
#: The name on the command line -> (the label in the tables, the server's
#: arguments for benchmarks.servers).
CONTENDERS = {
    "tornado": ("tornado", ["tornado", "web"]),
    "compat": ("tornado_compat", ["compat", "web"]),
    "uvicorn": ("uvicorn (httptools)", ["uvicorn", "hello"]),
}
MAIN_METRIC = "MB growth"
CONNECT_GROWTH = "growth after connects (MB)"
START = "RSS start (MB)"
END = "RSS end (MB)"


def cycles(port: int, mode: str, count: int) -> dict[str, float]:
    """Run benchmarks.cycles on the load CPU; fail unless every connection
    ended as it should."""
    # The slowest contender manages well over 1,000 connections a second even
    # on a busy machine; the deadline only stops a server that hangs.
    deadline = 60 + count / 200
    result = tools.run_json_child(
        "benchmarks.cycles",
        [str(port), mode, str(count), "--deadline", str(deadline)],
        timeout=deadline + 30,
        cpu=tools.LOAD_CPU,
    )
    if result["failed"] or result["completed"] != count:
        raise BenchmarkError(
            f"{result['failed']} of {count} {mode} cycles failed: {result['errors']}"
        )
    return result


def summarise(
    start_kib: int, after_connects_kib: int, end_kib: int
) -> dict[str, float]:
    """The metrics of one measurement, from the three RSS readings (KiB), in
    MB (10⁶ bytes)."""

    def mb(kib: int) -> float:
        return kib * 1024 / MB

    return {
        MAIN_METRIC: mb(end_kib - start_kib),
        CONNECT_GROWTH: mb(after_connects_kib - start_kib),
        START: mb(start_kib),
        END: mb(end_kib),
    }


def measure(impl: str, count: int, workdir: Path) -> dict[str, float]:
    """One server's RSS before and after count connect/close cycles and count
    one-request connections."""
    _, argv = CONTENDERS[impl]
    with tools.server(argv, workdir) as server:
        tools.verify(server.port, HELLO, times=200)
        warmup = min(WARMUP, count)
        cycles(server.port, "connect", warmup)
        cycles(server.port, "request", warmup)
        start = tools.settled_rss(server)
        connects = cycles(server.port, "connect", count)
        after_connects = tools.settled_rss(server)
        requests = cycles(server.port, "request", count)
        end = tools.settled_rss(server)
        server.check_alive()
        server.check_log()
    metrics = summarise(start, after_connects, end)
    metrics["connects/s"] = connects["per_second"]
    metrics["requests/s"] = requests["per_second"]
    return metrics


def table(rows: dict[str, dict[str, float]], count: int) -> list[str]:
    lines = [
        f"| contender | RSS start (MB) | after {count:,} connects | "
        f"after {count:,} requests | growth (MB) | connects/s | requests/s |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for label, m in rows.items():
        lines.append(
            f"| {label} | {m[START]:.1f} | {m[START] + m[CONNECT_GROWTH]:.1f} | "
            f"{m[END]:.1f} | {m[MAIN_METRIC]:+.1f} | {m['connects/s']:,.0f} | "
            f"{m['requests/s']:,.0f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.churn", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--cycles",
        type=int,
        default=200_000,
        help="connections of each kind (default %(default)s)",
    )
    parser.add_argument(
        "--contenders",
        nargs="+",
        choices=list(CONTENDERS),
        default=["compat", "tornado", "uvicorn"],
    )
    args = parser.parse_args(argv)
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")
    if not tools.can_pin():
        tools.log("warning: no taskset or one CPU: processes are not pinned")
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tornado-compat-churn-") as scratch:
        for impl in args.contenders:
            label, _ = CONTENDERS[impl]
            tools.log(f"running {label}")
            try:
                rows[label] = measure(impl, args.cycles, Path(scratch))
            except tools.FAILURES as error:
                print(f"python -m benchmarks.churn: {label}: {error}", file=sys.stderr)
                return 1
            tools.log(f"  {label}: {rows[label]}")
    print("\n".join(table(rows, args.cycles)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
