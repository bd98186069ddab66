"""The conformance runner: Tornado's own tests, on Tornado and on tornado_compat.

Usage (from the repository root)::

    python -m tests.conformance                      # every module in targets.toml
    python -m tests.conformance iostream_test        # chosen modules
    python -m tests.conformance --compat-only --json # no baseline run, JSON out
    python -m tests.conformance --http2              # web_test etc. over HTTP/2

Each chosen ``tornado.test`` module runs twice, each time in a fresh
subprocess (:mod:`tests.conformance.worker`) with a time limit: once on
unmodified Tornado, and once with tornado_compat installed by
``install_hook/sitecustomize.py`` before anything imports Tornado, so that the
processes the tests spawn run on tornado_compat too.  The runner prints a
markdown table of passed/failed/errors/skipped per side and, for every module
that falls short, the tests that pass on Tornado but not on tornado_compat.

A module fails when tornado_compat

- passes fewer tests than its target in ``targets.toml``;
- fails, errors or skips a test that passes on Tornado (without the baseline
  run: fails or errors any test);
- logs or writes to stderr while Tornado's run of the module is silent
  (Tornado's own runner fails such a run);
- times out, crashes, or is not really running on tornado_compat.

With ``--http2`` the modules of ``http2_expectations.toml`` run on
tornado_compat only, with every ``AsyncHTTPTestCase``'s server on
``http2=True`` and its client forced onto HTTP/2
(:mod:`tests.conformance.http2_mode`).  Each test that does not pass is
listed there with its outcome and why; a module fails when a test's outcome
differs from the list (unlisted tests must pass or skip), when its skip
count changes, when the run is noisy or broken, or when its client got any
response that was not HTTP/2.

The exit status is 0 when every module is fine, 1 otherwise, 2 on bad usage.
This module must never special-case a test: the verdict comes from counts and
from the comparison with Tornado, nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
INSTALL_HOOK_DIR = HERE / "install_hook"
TARGETS_FILE = HERE / "targets.toml"
HTTP2_EXPECTATIONS_FILE = HERE / "http2_expectations.toml"
DEFAULT_TIME_LIMIT = 300.0
TORNADO = "tornado"
COMPAT = "tornado_compat"


@dataclass(frozen=True)
class Target:
    """What tornado_compat must reach on one module (see targets.toml)."""

    module: str
    passed: int
    #: What unmodified Tornado skips on the reference machine; informational.
    skipped: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Expectation:
    """A test that does not pass in ``--http2`` mode, and why."""

    test: str
    outcome: str
    #: "not applicable" (the test cannot apply to HTTP/2), "not yet" (a
    #: feature that HTTP/2 streams do not have yet) or "skips itself"
    #: (Tornado's test skips when it sees HTTP/2).
    kind: str
    reason: str


@dataclass(frozen=True)
class Http2Module:
    """What one module must show in ``--http2`` mode."""

    module: str
    passed: int
    skipped: int
    expected: dict[str, Expectation]


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    def __str__(self) -> str:
        return f"{self.passed}/{self.failed}/{self.errors}/{self.skipped}"


@dataclass
class Outcome:
    test: str
    outcome: str
    detail: str = ""
    abstract: bool = False
    #: HTTP/2 responses the test's client got (``--http2`` runs only).
    http2_responses: int | None = None


@dataclass
class SideResult:
    """One run of one module on one implementation."""

    side: str
    module: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    logs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    returncode: int | None = None
    duration: float = 0.0
    output: str = ""
    #: Why the run cannot be trusted (time limit, crash, wrong implementation).
    problem: str | None = None

    @property
    def counts(self) -> Counts:
        counts = Counts()
        for outcome in self.outcomes.values():
            if outcome.outcome == "passed":
                counts.passed += 1
            elif outcome.outcome == "failed":
                counts.failed += 1
            elif outcome.outcome == "error":
                counts.errors += 1
            elif outcome.outcome == "skipped":
                counts.skipped += 1
        return counts

    @property
    def passed_tests(self) -> set[str]:
        return {t for t, o in self.outcomes.items() if o.outcome == "passed"}

    @property
    def noise(self) -> tuple[int, int]:
        """(log records at INFO or above, bytes written to stderr) by the tests."""
        if self.summary is None:
            return (len(self.logs), 0)
        counts = self.summary.get("log_counts", {})
        return (sum(counts.values()), int(self.summary.get("stderr_bytes", 0)))


@dataclass
class ModuleReport:
    module: str
    target: Target | None
    tornado: SideResult | None
    compat: SideResult
    reasons: list[str] = field(default_factory=list)
    #: Tests that pass on Tornado (or, without a baseline, any test) but not on ours.
    regressions: list[Outcome] = field(default_factory=list)
    #: Tests that pass on ours but not on Tornado; informational.
    gains: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons


def short_name(module: str) -> str:
    return module.removeprefix("tornado.test.")


def full_name(name: str) -> str:
    """Accepts ``tornado.test.iostream_test``, ``iostream_test`` or ``iostream``.

    A dotted name is taken as it is, so any unittest module can be run.
    """
    if "." in name:
        return name
    if not name.endswith("_test"):
        name += "_test"
    return "tornado.test." + name


def load_targets(path: Path = TARGETS_FILE) -> dict[str, Target]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    targets = {}
    for module, entry in data.get("targets", {}).items():
        targets[module] = Target(
            module=module,
            passed=int(entry["passed"]),
            skipped=entry.get("skipped"),
            note=entry.get("note", ""),
        )
    return targets


_EXPECTATION_KINDS = ("not applicable", "not yet", "skips itself")
_OUTCOMES = ("failed", "error", "skipped")


def load_http2_expectations(
    path: Path = HTTP2_EXPECTATIONS_FILE,
) -> dict[str, Http2Module]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    modules = {}
    for module, entry in data.get("modules", {}).items():
        expected = {}
        for item in entry.get("expected", []):
            known = item["outcome"] in _OUTCOMES and item["kind"] in _EXPECTATION_KINDS
            if not known:
                raise ValueError(f"{path}: bad outcome or kind for {item['test']}")
            if not item["test"].startswith(module + "."):
                raise ValueError(f"{path}: {item['test']} is not in {module}")
            expected[item["test"]] = Expectation(
                item["test"], item["outcome"], item["kind"], item["reason"]
            )
        modules[module] = Http2Module(
            module, int(entry["passed"]), int(entry["skipped"]), expected
        )
    return modules


def _environment(compat: bool, install: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TORNADO_COMPAT_INSTALL", None)
    paths = [str(REPO_ROOT)]
    if compat:
        paths.insert(0, str(INSTALL_HOOK_DIR))
        env["TORNADO_COMPAT_INSTALL"] = install
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _kill_group(proc: subprocess.Popen[str]) -> None:
    # The tests start servers and child processes of their own; end them all.
    # Only called while the worker is alive and unreaped, so its pid, which is
    # also its group's id, cannot have been reused.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read_results(path: Path, result: SideResult) -> str | None:
    """Fills ``result`` from the worker's JSON lines; returns a test left running."""
    running: str | None = None
    if not path.exists():
        return None
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a killed worker may be cut short
        kind = event.get("event")
        if kind == "start":
            running = event["test"]
        elif kind == "result":
            test = event["test"]
            if running == test:
                running = None
            key, n = test, 1
            # Fixture-level ids (such as the abstract base class skips) repeat.
            while key in result.outcomes:
                n += 1
                key = f"{test} #{n}"
            result.outcomes[key] = Outcome(
                key,
                event["outcome"],
                event.get("detail", ""),
                event.get("abstract", False),
                event.get("http2_responses"),
            )
        elif kind == "log":
            result.logs.append(event)
        elif kind == "summary":
            result.summary = event
    return running


def run_side(
    module: str,
    compat: bool,
    time_limit: float = DEFAULT_TIME_LIMIT,
    install: str = "1",
    http2: bool = False,
) -> SideResult:
    """Runs ``module`` in a subprocess on Tornado or on tornado_compat
    (with ``http2``, forced onto HTTP/2)."""
    result = SideResult(side=COMPAT if compat else TORNADO, module=module)
    with tempfile.TemporaryDirectory(prefix="conformance-") as tmp:
        results_path = Path(tmp) / "results.jsonl"
        dump_after = max(time_limit - 10, time_limit * 0.8)
        cmd = [
            sys.executable,
            "-m",
            "tests.conformance.worker",
            module,
            "--results",
            str(results_path),
            "--dump-after",
            str(dump_after),
        ]
        if compat:
            cmd.append("--compat")
        if http2:
            cmd.append("--http2")
        started = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=_environment(compat, install),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        timed_out = False
        try:
            result.output, _ = proc.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            result.output, _ = proc.communicate()
        result.duration = time.monotonic() - started
        result.returncode = proc.returncode
        running = _read_results(results_path, result)

    if timed_out:
        result.problem = f"time limit of {time_limit:.0f}s reached"
        if running is not None:
            result.problem += f" in {running}"
            result.outcomes[running] = Outcome(running, "error", result.problem)
    elif result.summary is None:
        result.problem = f"worker exited with status {result.returncode} and no summary"
        if running is not None:
            result.problem += f"; it was running {running}"
            result.outcomes[running] = Outcome(running, "error", result.problem)
    elif result.summary.get("setup_error"):
        result.problem = str(result.summary["setup_error"])
    return result


def evaluate(
    module: str,
    target: Target | None,
    tornado: SideResult | None,
    compat: SideResult,
) -> ModuleReport:
    report = ModuleReport(module, target, tornado, compat)
    if compat.problem:
        report.reasons.append(f"{COMPAT} run: {compat.problem}")
    counts = compat.counts
    if target is not None and counts.passed < target.passed:
        report.reasons.append(
            f"{COMPAT} passes {counts.passed}, below the target {target.passed}"
        )
    if tornado is not None:
        if tornado.problem:
            report.notes.append(f"{TORNADO} run: {tornado.problem}")
        if target is not None and tornado.counts.passed < target.passed:
            report.notes.append(
                f"{TORNADO} itself passes {tornado.counts.passed} here, below the "
                f"target {target.passed}"
            )
        for test in tornado.outcomes:
            if test in tornado.passed_tests and test not in compat.passed_tests:
                report.regressions.append(
                    compat.outcomes.get(test, Outcome(test, "not run"))
                )
        report.gains = sorted(compat.passed_tests - tornado.passed_tests)
        if report.regressions:
            report.reasons.append(
                f"{len(report.regressions)} test(s) pass on {TORNADO} "
                f"but not on {COMPAT}"
            )
    else:
        report.regressions = [
            o for o in compat.outcomes.values() if o.outcome in ("failed", "error")
        ]
        if report.regressions:
            report.reasons.append(
                f"{len(report.regressions)} test(s) failed or errored"
            )
    records, stderr_bytes = compat.noise
    if records or stderr_bytes:
        baseline_quiet = tornado is None or tornado.noise == (0, 0)
        text = (
            f"{COMPAT} run logged {records} record(s) at INFO or above and wrote "
            f"{stderr_bytes} byte(s) to stderr"
        )
        if baseline_quiet:
            report.reasons.append(text + (f" ({TORNADO} is silent)" if tornado else ""))
        else:
            report.notes.append(text + f" ({TORNADO} is noisy too)")
    return report


def evaluate_http2(module: str, spec: Http2Module, compat: SideResult) -> ModuleReport:
    """The verdict on a ``--http2`` run of ``module`` against ``spec``."""
    report = ModuleReport(module, None, None, compat)
    if compat.problem:
        report.reasons.append(f"{COMPAT} run: {compat.problem}")
    for test, outcome in compat.outcomes.items():
        wanted = spec.expected.get(test)
        if wanted is not None:
            if outcome.outcome != wanted.outcome:
                report.regressions.append(outcome)
                report.reasons.append(
                    f"{test}: {outcome.outcome}, listed as {wanted.outcome} "
                    f"({wanted.kind}); update http2_expectations.toml"
                )
        elif outcome.outcome in ("failed", "error"):
            report.regressions.append(outcome)
            report.reasons.append(f"{test}: {outcome.outcome}, and not listed")
    for test in spec.expected:
        if test not in compat.outcomes and not compat.problem:
            report.reasons.append(f"{test} is listed but did not run")
    counts = compat.counts
    if counts.skipped != spec.skipped:
        report.reasons.append(f"{counts.skipped} skipped, {spec.skipped} expected")
    if counts.passed < spec.passed:
        report.reasons.append(f"passes {counts.passed}, below {spec.passed}")
    elif counts.passed > spec.passed:
        report.gains.append(f"passes {counts.passed}, above {spec.passed}")
    versions = _http2_versions(compat)
    if not versions.get("HTTP/2.0"):
        report.reasons.append("no response came over HTTP/2")
    other = {v: n for v, n in versions.items() if v not in ("HTTP/2.0", "none")}
    if other:
        report.reasons.append(f"responses not over HTTP/2: {other}")
    records, stderr_bytes = compat.noise
    if records or stderr_bytes:
        report.reasons.append(
            f"{COMPAT} run logged {records} record(s) at INFO or above and wrote "
            f"{stderr_bytes} byte(s) to stderr"
        )
    return report


def fetched_over_http2(side: SideResult) -> list[str]:
    """The passed tests whose client got at least one HTTP/2 response (the
    others passed on raw sockets, their own clients, or no HTTP at all)."""
    return [
        test
        for test, o in side.outcomes.items()
        if o.outcome == "passed" and o.http2_responses
    ]


def _http2_versions(side: SideResult) -> dict[str, int]:
    return dict((side.summary or {}).get("http2_versions") or {})


def run_http2_modules(
    modules: Sequence[str],
    specs: dict[str, Http2Module],
    time_limit: float = DEFAULT_TIME_LIMIT,
    install: str = "1",
    progress: bool = True,
) -> list[ModuleReport]:
    reports = []
    for module in modules:
        compat = _run_with_progress(module, True, time_limit, install, progress, True)
        spec = specs.get(module, Http2Module(module, 0, 0, {}))
        reports.append(evaluate_http2(module, spec, compat))
    return reports


def format_http2_table(
    reports: Sequence[ModuleReport], specs: dict[str, Http2Module]
) -> str:
    lines = [
        f"| module | {COMPAT} on HTTP/2 passed/failed/errors/skipped "
        "| expected passed | listed not passing | passed with HTTP/2 fetches "
        "| responses by version | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        spec = specs.get(r.module)
        versions = ", ".join(
            f"{v} {n}" for v, n in sorted(_http2_versions(r.compat).items())
        )
        lines.append(
            f"| {short_name(r.module)} | {r.compat.counts} "
            f"| {spec.passed if spec else 'none'} "
            f"| {len(spec.expected) if spec else 0} "
            f"| {len(fetched_over_http2(r.compat))} "
            f"| {versions or 'none'} | {'ok' if r.ok else 'FAIL'} |"
        )
    return "\n".join(lines)


def run_modules(
    modules: Sequence[str],
    targets: dict[str, Target],
    compat_only: bool = False,
    time_limit: float = DEFAULT_TIME_LIMIT,
    install: str = "1",
    progress: bool = True,
) -> list[ModuleReport]:
    reports = []
    for module in modules:
        tornado = None
        if not compat_only:
            tornado = _run_with_progress(module, False, time_limit, install, progress)
        compat = _run_with_progress(module, True, time_limit, install, progress)
        reports.append(evaluate(module, targets.get(module), tornado, compat))
    return reports


def _run_with_progress(
    module: str,
    compat: bool,
    time_limit: float,
    install: str,
    progress: bool,
    http2: bool = False,
) -> SideResult:
    side = COMPAT if compat else TORNADO
    if http2:
        side += " over HTTP/2"
    if progress:
        print(f"running {short_name(module)} on {side} ...", end="", file=sys.stderr)
        sys.stderr.flush()
    result = run_side(module, compat, time_limit, install, http2)
    if progress:
        print(
            f" {result.counts} in {result.duration:.1f}s"
            + (f" ({result.problem})" if result.problem else ""),
            file=sys.stderr,
        )
    return result


def format_table(reports: Sequence[ModuleReport]) -> str:
    header = (
        f"| module | {TORNADO} passed/failed/errors/skipped "
        f"| {COMPAT} passed/failed/errors/skipped | target | status |"
    )
    lines = [header, "|---|---|---|---|---|"]
    for r in reports:
        baseline = str(r.tornado.counts) if r.tornado is not None else "not run"
        if r.tornado is not None and r.tornado.problem:
            baseline += " (!)"
        target = str(r.target.passed) if r.target is not None else "none"
        status = "ok" if r.ok else "FAIL"
        lines.append(
            f"| {short_name(r.module)} | {baseline} | {r.compat.counts} "
            f"| {target} | {status} |"
        )
    return "\n".join(lines)


def _indent(text: str, prefix: str = "      ") -> str:
    return "\n".join(prefix + line for line in text.rstrip().splitlines())


def format_details(reports: Sequence[ModuleReport], verbose: bool = False) -> str:
    out: list[str] = []
    for r in reports:
        if r.ok and not r.notes and not (verbose and r.gains):
            continue
        out.append(f"\n## {short_name(r.module)}: {'ok' if r.ok else 'FAIL'}")
        out.extend(f"- {reason}" for reason in r.reasons)
        out.extend(f"- note: {note}" for note in r.notes)
        if r.regressions:
            if r.tornado is not None:
                out.append(f"- tests that pass on {TORNADO}, not on {COMPAT}:")
            else:
                out.append(f"- tests that fail or error on {COMPAT}:")
            for o in r.regressions:
                out.append(f"  - {o.test} ({o.outcome})")
                if verbose and o.detail:
                    out.append(_indent(o.detail))
        if r.gains:
            out.append(f"- tests that pass on {COMPAT}, not on {TORNADO}:")
            out.extend(f"  - {t}" for t in r.gains)
        if r.compat.logs:
            out.append(f"- logged on {COMPAT}:")
            shown = r.compat.logs if verbose else r.compat.logs[:10]
            for log in shown:
                first = log["message"] if verbose else log["message"].splitlines()[0]
                out.append(
                    f"  - [{log['level']} {log['logger']}] in {log['test']}: {first}"
                )
            if len(shown) < len(r.compat.logs):
                out.append(f"  - ... {len(r.compat.logs) - len(shown)} more")
        for side in (r.tornado, r.compat):
            if side is None or not side.output.strip():
                continue
            if side.problem or (side is r.compat and side.noise[1]):
                tail = side.output if verbose else side.output[-3000:]
                out.append(f"- output of the {side.side} run (tail):")
                out.append(_indent(tail))
    return "\n".join(out)


def _side_json(side: SideResult | None) -> dict[str, Any] | None:
    if side is None:
        return None
    records, stderr_bytes = side.noise
    return {
        "counts": vars(side.counts),
        "duration": round(side.duration, 3),
        "problem": side.problem,
        "log_records": records,
        "stderr_bytes": stderr_bytes,
        "modules": (side.summary or {}).get("modules"),
        "outcomes": {t: o.outcome for t, o in side.outcomes.items()},
    }


def to_json(reports: Sequence[ModuleReport], verbose: bool = False) -> dict[str, Any]:
    return {
        "ok": all(r.ok for r in reports),
        "modules": [
            {
                "module": r.module,
                "target": vars(r.target) if r.target is not None else None,
                "status": "ok" if r.ok else "FAIL",
                "reasons": r.reasons,
                "notes": r.notes,
                "regressions": [
                    {"test": o.test, "outcome": o.outcome}
                    | ({"detail": o.detail} if verbose else {})
                    for o in r.regressions
                ],
                "gains": r.gains,
                "logs": r.compat.logs,
                TORNADO: _side_json(r.tornado),
                COMPAT: _side_json(r.compat),
            }
            for r in reports
        ],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance",
        description="Run tornado.test modules on Tornado and on tornado_compat "
        "and compare the results with the targets.",
    )
    parser.add_argument(
        "modules",
        nargs="*",
        help="tornado.test modules (iostream_test or tornado.test.iostream_test); "
        "default: every module in targets.toml",
    )
    parser.add_argument(
        "--compat-only", action="store_true", help="skip the baseline run on Tornado"
    )
    parser.add_argument("--json", action="store_true", help="print JSON, not markdown")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks and full logs"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIME_LIMIT,
        help="time limit in seconds for each subprocess (default %(default)s)",
    )
    parser.add_argument(
        "--install",
        default="1",
        metavar="NAMES",
        help="comma-separated Tornado modules to replace, to narrow down a "
        "failure (default: every row of the drop-in map)",
    )
    parser.add_argument(
        "--targets", type=Path, default=TARGETS_FILE, help="targets file (TOML)"
    )
    parser.add_argument(
        "--http2",
        action="store_true",
        help="run on tornado_compat only, each test's server and client on "
        "HTTP/2, against http2_expectations.toml (default modules: those in it)",
    )
    parser.add_argument(
        "--expectations",
        type=Path,
        default=HTTP2_EXPECTATIONS_FILE,
        help="the --http2 expectations file (TOML)",
    )
    args = parser.parse_args(argv)

    if args.http2:
        specs = load_http2_expectations(args.expectations)
        modules = [full_name(m) for m in args.modules] or list(specs)
        if not modules:
            parser.error("no modules given and none in the expectations file")
        reports = run_http2_modules(
            modules, specs, args.timeout, args.install, progress=True
        )
        if args.json:
            print(json.dumps(to_json(reports, args.verbose), indent=2))
        else:
            print(format_http2_table(reports, specs))
            details = format_details(reports, args.verbose)
            if details:
                print(details)
        return 0 if all(r.ok for r in reports) else 1

    targets = load_targets(args.targets)
    modules = [full_name(m) for m in args.modules] or list(targets)
    if not modules:
        parser.error("no modules given and none in the targets file")
    reports = run_modules(
        modules, targets, args.compat_only, args.timeout, args.install, progress=True
    )
    if args.json:
        print(json.dumps(to_json(reports, args.verbose), indent=2))
    else:
        print(format_table(reports))
        details = format_details(reports, args.verbose)
        if details:
            print(details)
    return 0 if all(r.ok for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
