"""The real-app runner: a third-party project's own tests, on Tornado and on ours.

Usage (from the repository root)::

    python -m tests.apps jupyter_server
    python -m tests.apps jupyter_server -k kernels --rounds 3
    python -m tests.apps jupyter_server -- tests/services/kernels -x

For the chosen application the runner downloads its sdist at a pinned
version, unpacks it into a cache folder, and makes a virtual environment
there (kept between runs, one per application and version) with the
application, the dependencies of its tests, the installed Tornado's version
but not this repository: the tornado_compat side finds this checkout's
source on PYTHONPATH (pure Python, so a stale compiled module of the
checkout cannot stand in for its source, and nothing is built or deleted in
the checkout).  It then runs the application's
own pytest suite twice, from the unpacked sdist and with the application's
own pytest configuration: once on unmodified Tornado, and once with
``install_hook/sitecustomize.py`` on PYTHONPATH, which calls
:func:`tornado_compat.install` in every Python process of the run (the test
session and every kernel or server it starts).  Before it runs anything it
checks, in a Python process started by a Python process, that the hook is
active on one side and absent on the other.

It prints passed/failed/error/skipped/xfail per side and round, and each test
whose outcome differs.  The exit status is 0 when the counts of both sides
match in every round, 1 otherwise, 2 on bad usage.

This module must never add a warning filter that only tornado_compat needs,
nor special-case a test: the verdict comes from the two runs' own results.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tornado_compat._compiled import PURE_ENV

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
INSTALL_HOOK_DIR = HERE / "install_hook"
DEFAULT_CACHE = Path(
    os.environ.get(
        "TORNADO_COMPAT_APPS_CACHE",
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "tornado_compat"
        / "apps",
    )
)
DEFAULT_TIME_LIMIT = 3600.0
TORNADO = "tornado"
COMPAT = "tornado_compat"
SIDES = (TORNADO, COMPAT)
OUTCOMES = ("passed", "failed", "error", "skipped", "xfail")

#: Tornado 6.6 warns twice when an HTTPServerRequest is made from method and
#: uri rather than a start line.  Projects whose tests do that filter these two
#: messages; they are Tornado's texts, so they apply to both sides alike.
TORNADO_REQUEST_WARNINGS = (
    "ignore:The method, uri, and version arguments to HTTPServerRequest"
    ":DeprecationWarning",
    "ignore:The start_line argument to HTTPServerRequest:DeprecationWarning",
)


@dataclass(frozen=True)
class App:
    """A third-party project whose own test suite the runner can run."""

    name: str
    version: str
    extras: str = "test"
    #: pytest ``-W`` filters the suite needs on unmodified Tornado itself.
    warning_filters: tuple[str, ...] = ()


APPS = {
    "jupyter_server": App(
        "jupyter_server", "2.21.1", warning_filters=TORNADO_REQUEST_WARNINGS
    ),
}


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    error: int = 0
    skipped: int = 0
    xfail: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.error + self.skipped + self.xfail

    def as_tuple(self) -> tuple[int, ...]:
        return tuple(getattr(self, o) for o in OUTCOMES)


@dataclass
class TestResult:
    outcome: str
    message: str = ""


@dataclass
class SideRun:
    """One run of the application's suite on one stack."""

    side: str
    round: int
    results: dict[str, TestResult] = field(default_factory=dict)
    duration: float = 0.0
    returncode: int | None = None
    log_path: Path | None = None
    #: Lines the install hook wrote (tornado_compat side only).
    hook_lines: list[str] = field(default_factory=list)
    #: Why the run cannot be trusted (time limit, no results).
    problem: str | None = None

    @property
    def counts(self) -> Counts:
        return count(self.results)


# Parsing and comparing results: pure functions, unit-tested in
# tests/test_apps_runner.py.


def parse_junit(text: str) -> dict[str, TestResult]:
    """Each test's outcome from pytest's JUnit XML, keyed ``classname::name``.

    A test with an error (in setup or teardown) counts as an error even if its
    call failed too, so each test id has exactly one outcome.
    """
    root = ET.fromstring(text)
    results: dict[str, TestResult] = {}
    for case in root.iter("testcase"):
        classname = case.get("classname", "")
        name = case.get("name", "")
        test_id = f"{classname}::{name}" if classname else name
        error = case.find("error")
        failure = case.find("failure")
        skipped = case.find("skipped")
        if error is not None:
            outcome, element = "error", error
        elif failure is not None:
            outcome, element = "failed", failure
        elif skipped is not None:
            xfail = skipped.get("type") == "pytest.xfail"
            outcome, element = ("xfail" if xfail else "skipped"), skipped
        else:
            outcome, element = "passed", None
        message = element.get("message", "") if element is not None else ""
        key, n = test_id, 1
        while key in results:
            n += 1
            key = f"{test_id} #{n}"
        results[key] = TestResult(outcome, message)
    return results


def count(results: dict[str, TestResult]) -> Counts:
    counts = Counts()
    for result in results.values():
        setattr(counts, result.outcome, getattr(counts, result.outcome) + 1)
    return counts


def differences(
    tornado: dict[str, TestResult], compat: dict[str, TestResult]
) -> list[tuple[str, str, str]]:
    """(test id, outcome on Tornado, outcome on ours) for each test that differs.

    A test that ran on one side only shows as ``absent`` on the other.
    """
    out = []
    for test in sorted(tornado.keys() | compat.keys()):
        a = tornado[test].outcome if test in tornado else "absent"
        b = compat[test].outcome if test in compat else "absent"
        if a != b:
            out.append((test, a, b))
    return out


def unstable(runs: Sequence[SideRun]) -> dict[str, list[str]]:
    """Tests whose outcome changed between rounds on one side: id -> outcomes."""
    seen: dict[str, list[str]] = {}
    for run in runs:
        for test, result in run.results.items():
            seen.setdefault(test, []).append(result.outcome)
    return {
        t: outcomes
        for t, outcomes in sorted(seen.items())
        if len(set(outcomes)) > 1 or len(outcomes) < len(runs)
    }


def format_table(app: App, runs: Sequence[SideRun]) -> str:
    lines = [
        f"| {app.name} {app.version} | round | "
        + " | ".join(OUTCOMES)
        + " | total | time |",
        "|---|---|" + "---|" * (len(OUTCOMES) + 2),
    ]
    for run in runs:
        c = run.counts
        time_text = f"{run.duration:.0f} s" + (" (!)" if run.problem else "")
        lines.append(
            f"| {run.side} | {run.round} | "
            + " | ".join(str(v) for v in c.as_tuple())
            + f" | {c.total} | {time_text} |"
        )
    return "\n".join(lines)


def format_differences(
    tornado: SideRun, compat: SideRun, limit: int | None = 200
) -> list[str]:
    diffs = differences(tornado.results, compat.results)
    if not diffs:
        return []
    out = [
        f"round {compat.round}: {len(diffs)} test(s) whose outcome differs "
        f"({TORNADO} -> {COMPAT}):"
    ]
    for test, a, b in diffs[:limit]:
        result = compat.results.get(test) or tornado.results.get(test)
        message = result.message.strip().split("\n", 1)[0][:160] if result else ""
        out.append(f"  - {test}: {a} -> {b}" + (f"  [{message}]" if message else ""))
    if limit is not None and len(diffs) > limit:
        out.append(f"  - ... {len(diffs) - limit} more")
    return out


# Preparing the application and its environment.


@dataclass
class Prepared:
    app: App
    src: Path
    python: Path
    workdir: Path


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run_checked(cmd: Sequence[str], **kwargs: object) -> None:
    print("+ " + " ".join(str(c) for c in cmd), file=sys.stderr)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)  # type: ignore[call-overload]


def _tornado_version() -> str:
    import tornado

    return tornado.version


def _venv_key(marker: dict[str, str]) -> dict[str, str]:
    # What the venv's packages depend on; the checkout and its extras are
    # only reinstalled when they change.
    return {k: v for k, v in marker.items() if not k.startswith("repo")}


def prepare(app: App, cache: Path) -> Prepared:
    """Downloads, unpacks and installs ``app`` under ``cache``, once per version."""
    workdir = cache / f"{app.name}-{app.version}"
    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / "src"
    if not src.is_dir():
        download = workdir / "download"
        download.mkdir(exist_ok=True)
        _run_checked(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-d",
                download,
                f"{app.name}=={app.version}",
            ]
        )
        (sdist,) = download.glob("*.tar.gz")
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            with tarfile.open(sdist) as tar:
                tar.extractall(tmp, filter="data")
            (top,) = Path(tmp).iterdir()
            top.rename(src)

    venv = workdir / "venv"
    python = _venv_python(venv)
    marker = venv / "tornado_compat_apps.json"
    wanted = {
        "app": app.name,
        "version": app.version,
        "extras": app.extras,
        "tornado": _tornado_version(),
    }
    have = json.loads(marker.read_text()) if marker.exists() else None
    if have is not None and _venv_key(have) != _venv_key(wanted):
        shutil.rmtree(venv)
        have = None
    if have is None:
        _run_checked([sys.executable, "-m", "venv", venv])
        _run_checked(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                f"tornado=={wanted['tornado']}",
                "-e",
                f"{src}[{app.extras}]",
            ]
        )
    if have != wanted:
        # A venv made when the runner installed the checkout into it: the
        # Tornado side must not be able to import tornado_compat.
        subprocess.run(
            [python, "-m", "pip", "uninstall", "-q", "-y", "tornado_compat"],
            capture_output=True,
        )
        marker.write_text(json.dumps(wanted, indent=2))
    return Prepared(app, src, python, workdir)


def environment(
    prepared: Prepared, compat: bool, hook_log: Path | None
) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "TORNADO_COMPAT_APPS_LOG"):
        env.pop(name, None)
    bin_dir = str(prepared.python.parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(prepared.python.parent.parent)
    if compat:
        env["PYTHONPATH"] = os.pathsep.join([str(INSTALL_HOOK_DIR), str(REPO_ROOT)])
        env[PURE_ENV] = "1"
        if hook_log is not None:
            env["TORNADO_COMPAT_APPS_LOG"] = str(hook_log)
    return env


_CHECK_CHILD = (
    "import json, importlib.util, tornado.httputil; "
    "spec = importlib.util.find_spec('tornado_compat'); "
    "print(json.dumps([tornado.httputil.__name__, spec and spec.origin]))"
)
_CHECK_PARENT = (
    "import subprocess, sys; sys.stdout.write(subprocess.run("
    f"[sys.executable, '-c', {_CHECK_CHILD!r}], capture_output=True, text=True, "
    "check=True).stdout)"
)


def check_install(prepared: Prepared, compat: bool) -> tuple[bool, str]:
    """Checks, in a subprocess's subprocess, which stack ``tornado.httputil`` is."""
    proc = subprocess.run(
        [str(prepared.python), "-c", _CHECK_PARENT],
        env=environment(prepared, compat, None),
        cwd=prepared.src,
        capture_output=True,
        text=True,
        timeout=120,
    )
    side = COMPAT if compat else TORNADO
    if proc.returncode != 0:
        return False, f"install check on {side}: failed: {proc.stderr.strip()}"
    name, compat_file = json.loads(proc.stdout)
    expected = "tornado_compat.httputil" if compat else "tornado.httputil"
    if compat:
        found = compat_file is not None and Path(compat_file).resolve().is_relative_to(
            REPO_ROOT
        )
        where = f"tornado_compat from {Path(compat_file or '?').parent}" + (
            "" if found else f" (WRONG, not this checkout {REPO_ROOT})"
        )
    else:
        # The Tornado side cannot import tornado_compat at all.
        found = compat_file is None
        where = "tornado_compat not importable" + ("" if found else " (WRONG)")
    ok = name == expected and found
    return ok, (
        f"install check on {side} (a Python subprocess started by a Python "
        f"subprocess): tornado.httputil.__name__ == {name!r} "
        f"({'ok' if name == expected else 'WRONG, expected ' + repr(expected)}); "
        + where
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # The suite starts kernels and servers of its own; end them all.  Only
    # called while the session leader is unreaped, so its group id is its own.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_side(
    prepared: Prepared,
    compat: bool,
    round_no: int,
    pytest_args: Sequence[str],
    out_dir: Path,
    time_limit: float,
) -> SideRun:
    side = COMPAT if compat else TORNADO
    run = SideRun(side, round_no)
    stem = f"round{round_no}-{side}"
    junit = out_dir / f"{stem}.xml"
    run.log_path = out_dir / f"{stem}.log"
    hook_log = out_dir / f"{stem}.hook" if compat else None
    cmd = [str(prepared.python), "-m", "pytest", "-p", "no:cacheprovider"]
    cmd += ["--color=no", f"--junitxml={junit}"]
    for spec in prepared.app.warning_filters:
        cmd += ["-W", spec]
    cmd += list(pytest_args)
    started = time.monotonic()
    with run.log_path.open("wb") as log:
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=prepared.src,
            env=environment(prepared, compat, hook_log),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=time_limit)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            run.problem = f"time limit of {time_limit:.0f} s reached"
        else:
            # Kernels or servers that outlived the session must not linger
            # into the next run.
            _kill_group(proc)
    run.duration = time.monotonic() - started
    run.returncode = proc.returncode
    if junit.exists():
        run.results = parse_junit(junit.read_text(encoding="utf-8"))
    elif run.problem is None:
        run.problem = f"pytest exited with status {proc.returncode} and no results"
    if hook_log is not None and hook_log.exists():
        run.hook_lines = hook_log.read_text(encoding="utf-8").splitlines()
    return run


def hook_summary(run: SideRun) -> str:
    starts = [line for line in run.hook_lines if line.startswith("start ")]
    exits = [line.split() for line in run.hook_lines if line.startswith("exit ")]
    served = {parts[2] for parts in exits if len(parts) > 2 and parts[2] != "-"}
    return (
        f"round {run.round}: install() ran in {len(starts)} Python process(es) of "
        f"the {COMPAT} run; tornado.httputil at exit: "
        + (", ".join(sorted(served)) or "not imported")
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.apps",
        description="Run a real application's own test suite on Tornado and on "
        "tornado_compat, and compare.",
        epilog="Arguments after -- go to pytest.",
    )
    parser.add_argument("app", choices=sorted(APPS), help="the application")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each side (default 1)"
    )
    parser.add_argument(
        "--side",
        choices=("both", TORNADO, COMPAT),
        default="both",
        help="run one side only (no comparison; exit 1 on any failure)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help="where sdists, venvs and run logs are kept (default %(default)s)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIME_LIMIT,
        help="time limit in seconds for each run of the suite (default %(default)s)",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after "--" goes to pytest as it is (argparse would take a
    # pytest option for one of ours).
    pytest_args: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, pytest_args = argv[:at], argv[at + 1 :]
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    app = APPS[args.app]
    prepared = prepare(app, args.cache_dir)
    sides = [s == COMPAT for s in SIDES if args.side in ("both", s)]
    checks_ok = True
    for compat in sides:
        ok, line = check_install(prepared, compat)
        checks_ok &= ok
        print(line, flush=True)
    if not checks_ok:
        return 1

    if args.keyword:
        pytest_args = ["-k", args.keyword, *pytest_args]
    out_dir = prepared.workdir / "runs" / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True)
    runs: list[SideRun] = []
    for round_no in range(1, args.rounds + 1):
        for compat in sides:
            side = COMPAT if compat else TORNADO
            print(f"round {round_no}: running on {side} ...", end="", file=sys.stderr)
            sys.stderr.flush()
            run = run_side(
                prepared, compat, round_no, pytest_args, out_dir, args.timeout
            )
            print(
                f" {run.counts.total} tests in {run.duration:.0f} s"
                + (f" ({run.problem})" if run.problem else ""),
                file=sys.stderr,
            )
            runs.append(run)

    print(format_table(app, runs))
    print(f"logs and JUnit XML: {out_dir}")
    ok = not any(run.problem for run in runs)
    for run in runs:
        if run.problem:
            print(f"round {run.round} on {run.side}: {run.problem}")
        if run.side == COMPAT:
            print(hook_summary(run))
            if any(
                len(p) > 2 and p[2] not in ("-", "tornado_compat.httputil")
                for p in (line.split() for line in run.hook_lines)
                if p and p[0] == "exit"
            ):
                ok = False
                print(f"round {run.round}: a process ran on Tornado's own httputil")
    if args.side == "both":
        pairs = list(zip(runs[0::2], runs[1::2], strict=True))
        differ = 0
        for tornado_run, compat_run in pairs:
            if tornado_run.counts != compat_run.counts:
                differ += 1
            for line in format_differences(tornado_run, compat_run):
                print(line)
        ok = ok and not differ
        print(
            f"counts match in {len(pairs) - differ} of {len(pairs)} round(s)"
            + (f"; they differ in {differ}" if differ else "")
        )
    else:
        ok &= all(r.counts.failed == r.counts.error == 0 for r in runs)
    for side in SIDES:
        side_runs = [r for r in runs if r.side == side]
        if len(side_runs) > 1:
            for test, outcomes in unstable(side_runs).items():
                print(f"unstable on {side}: {test}: {' '.join(outcomes)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
