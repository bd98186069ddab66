"""dugong's own test suite, on tornado_compat.httpclient.connection.

Usage (from the repository root)::

    python -m tests.dugong_suite               # ours, against the recorded dugong run
    python -m tests.dugong_suite --original    # run dugong 3.8.2 itself too (~9 min)
    python -m tests.dugong_suite --record      # ... and record it as the reference

The sdist of dugong 3.8.2 is fetched from PyPI at run time (and cached, its
SHA-256 checked); none of its files are committed here.  Its ``test/`` and
``examples/`` run as they ship, in a subprocess, with two changes to the
environment and none to the files:

- dugong's own package is deleted from the unpacked copy, and a one-line
  module on ``PYTHONPATH`` (``shim/dugong.py``) makes ``import dugong`` give
  ``tornado_compat.httpclient.connection``;
- ``test_aio.py`` is left out, as for dugong itself: it uses
  ``asyncio.coroutine``, gone since Python 3.11, and fails to import.
  ``tests/client/test_connection.py`` covers what it checked.

Each test runs with pytest-timeout's 20-second limit, as in the issue's
figures for dugong, and in a pytest process of its own (see
:func:`run_side` for why), with no plugin but pytest-timeout.  The verdict,
per test:

- a test that passes on dugong must pass on ours;
- every other test must pass on ours too (the SSL variants included), except
  a test that dugong skips for the same reason (www.google.com unreachable),
  and a *harness error*: a test failed by dugong's output checker only
  because the captured stderr holds tracebacks of dugong's mock server
  ending in ``ssl.SSLEOFError`` and nothing else (a last report that the
  capture cut after its first line counts with them).  Under OpenSSL 3, Python
  raises that error for any server write after the client has closed the
  connection, whatever the client does (close_notify, FIN or RST), and the
  mock's handler catches only BrokenPipeError and ConnectionResetError;
  :func:`harness_error` checks the evidence and the table names each one.

A test that failed by the output checker on nothing but the first lines of
one mock-server report (the capture ended before the report named its
exception, so there is no evidence either way) runs once more, and the
second run's outcome counts; the table names each test run twice.

This module must never special-case a test name: outcomes come from pytest's
JUnit XML, and the only classification is the evidence check above.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.conformance.run import Counts

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
SHIM_DIR = HERE / "shim"
REFERENCE_FILE = HERE / "reference.json"

VERSION = "3.8.2"
SDIST = f"dugong-{VERSION}.tar.gz"
SDIST_SHA256 = "f46ab34d74207445f268e3d9537a72e648c2c81a74e40d5d0e32306d24ff81bb"
PER_TEST_TIMEOUT = 20
#: Test processes run at once.
WORKERS = 2
#: Wall-clock limit for one side's whole run.
TIME_LIMIT = 1500.0

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"
HARNESS = "harness"
# How much of a test's stderr a verdict quotes, from its end, when dugong's
# output checker failed the test.
STDERR_SHOWN = 1200
# How much of a failure's message a verdict quotes.
_WHY_SHOWN = 300 + STDERR_SHOWN

_MOCK_TRACEBACK = re.compile(
    r"Exception occurred during processing of request from .*?\n"
    r"Traceback \(most recent call last\):\n"
    r"(?P<frames>.*?)\n(?P<last>\S[^\n]*)\n-{20,}",
    re.S,
)

#: How the mock server's write ends when the client has closed: without
#: ``close_notify`` (SSLEOFError), or after sending it (SSLZeroReturnError,
#: when the server had read it first).
_CLIENT_GONE = ("ssl.SSLEOFError:", "ssl.SSLZeroReturnError:")

#: The first lines of one more mock-server report, cut off by the capture.
_UNFINISHED_REPORT = re.compile(
    r"Exception occurred during processing of request from[^\n]*"
    r"(\nTraceback \(most recent call last\):)?\s*\Z"
)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(base) / "tornado_compat"


def fetch_sdist() -> Path:
    """dugong's sdist, from the cache or from PyPI, checked."""
    target = cache_dir() / SDIST
    if not target.exists() or _sha256(target) != SDIST_SHA256:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "--dest",
                    tmp,
                    f"dugong=={VERSION}",
                ],
                check=True,
            )
            shutil.move(os.path.join(tmp, SDIST), target)
    digest = _sha256(target)
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{SDIST}: SHA-256 {digest}, expected {SDIST_SHA256}")
    return target


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def unpack(sdist: Path, into: Path, keep_package: bool) -> Path:
    """The unpacked sdist; without dugong's own package unless ``keep_package``."""
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    root = into / f"dugong-{VERSION}"
    if not keep_package:
        shutil.rmtree(root / "dugong")
    return root


@dataclass
class SideResult:
    """One side's run: each test's outcome, and why it failed where it did."""

    side: str
    outcomes: dict[str, str] = field(default_factory=dict)
    #: The tests ``-k ssl`` selects: those whose name, parameters or markers
    #: (``no_ssl``) say ssl, as the issue's figures group them.
    ssl_group: set[str] = field(default_factory=set)
    messages: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    problem: str | None = None
    #: The tests run a second time after a cut report (see cut_report).
    reruns: list[str] = field(default_factory=list)


def run_side(original: bool, time_limit: float = TIME_LIMIT) -> SideResult:
    """Run dugong's suite on dugong itself (``original``) or on ours.

    Each test runs in a pytest process of its own (two at a time).  dugong's
    mock server is one thread that serves one connection at a time, and it
    dies for good when it prints a traceback just as pytest closes a test's
    output capture (its error handler then raises); in one process, every
    later test would then hang in its TLS handshake.
    """
    side = SideResult("dugong" if original else "tornado_compat")
    with tempfile.TemporaryDirectory(prefix="dugong-suite-") as tmp:
        root = unpack(fetch_sdist(), Path(tmp), keep_package=original)
        # Only the plugin the suite needs: loading every installed one costs
        # more than most of its tests take.
        env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        paths = [] if original else [str(SHIM_DIR), str(REPO_ROOT)]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        if paths:
            env["PYTHONPATH"] = os.pathsep.join(paths)
        pytest = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "pytest_timeout",
            "-p",
            "no:cacheprovider",
            f"--timeout={PER_TEST_TIMEOUT}",
        ]
        select = ["test", "--ignore=test/test_aio.py", "--collect-only", "-qq"]
        side.ssl_group = _collect(pytest + select + ["-k", "ssl"], root, env)
        tests = sorted(_collect(pytest + select, root, env))
        started = time.monotonic()
        deadline = started + time_limit

        def run_one(index_and_test: tuple[int, str]) -> None:
            index, test_id = index_and_test
            if run_once(index, test_id):
                side.reruns.append(test_id)
                run_once(index, test_id)

        def run_once(index: int, test_id: str) -> bool:
            """Run one test; whether it failed on a cut report."""
            report = Path(tmp) / f"junit-{index}.xml"
            report.unlink(missing_ok=True)
            left = deadline - time.monotonic()
            if left <= 0:
                side.problem = f"did not finish within {time_limit:.0f} s"
                return False
            try:
                subprocess.run(
                    pytest
                    + ["-o", "junit_logging=all", f"--junitxml={report}", "-q"]
                    + [f"test/{test_id}"],
                    cwd=root,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=min(left, PER_TEST_TIMEOUT * 3),
                )
            except subprocess.TimeoutExpired:
                side.outcomes[test_id] = ERROR
                side.messages[test_id] = "the test's process did not finish"
                return False
            if report.exists():
                return bool(_read_junit(report, side))
            side.outcomes[test_id] = ERROR
            side.messages[test_id] = "pytest wrote no report"
            return False

        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(run_one, enumerate(tests)))
        side.seconds = time.monotonic() - started
        if not tests:
            side.problem = "no tests were collected"
    return side


def _collect(command: list[str], root: Path, env: dict[str, str]) -> set[str]:
    """The test ids a ``--collect-only -qq`` run lists."""
    listed = subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    return {
        line.strip().removeprefix("test/")
        for line in listed.stdout.splitlines()
        if "::" in line
    }


def _read_junit(path: Path, side: SideResult) -> list[str]:
    """Record the outcomes of a JUnit XML report; return the tests that
    failed on a cut report."""
    cut = []
    tree = ElementTree.parse(path)
    for case in tree.iter("testcase"):
        module = (case.get("classname") or "").rpartition(".")[2]
        test_id = f"{module}.py::{case.get('name')}"
        outcome = PASSED
        message = ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = FAILED if child.tag == "failure" else ERROR
                message = (child.get("message") or "") + "\n" + (child.text or "")
                break
            if child.tag == "skipped":
                outcome = SKIPPED
                message = child.get("message") or ""
        if outcome in (FAILED, ERROR):
            stderr = "".join(
                child.text or "" for child in case if child.tag == "system-err"
            )
            if harness_error(message, stderr):
                outcome = HARNESS
                message = "mock server: ssl.SSLEOFError on a write after the close"
            elif cut_report(message, stderr):
                cut.append(test_id)
                message = "the capture ended inside a mock-server report"
            elif "Suspicious output to stderr" in message:
                # What dugong's checker objected to is in stderr: keep its
                # end instead of pytest's traceback, so the verdict shows it.
                first_line = message.strip().splitlines()[0]
                message = f"{first_line}\nstderr: ...{stderr[-STDERR_SHOWN:]}"
        side.outcomes[test_id] = outcome
        side.messages[test_id] = message.strip()
    return cut


def cut_report(message: str, stderr: str) -> bool:
    """Whether a test failed by dugong's output checker on nothing but the
    opening lines of one mock-server report: the capture ended before the
    report named its exception, so stderr holds no evidence either way."""
    if "Suspicious output to stderr" not in message:
        return False
    if _MOCK_TRACEBACK.search(stderr) or not _UNFINISHED_REPORT.search(stderr):
        return False
    # What may precede it is the report's own opening rule of dashes.
    return not _UNFINISHED_REPORT.sub("", stderr).strip("-\n ")


def harness_error(message: str, stderr: str) -> bool:
    """Whether a test failed only because dugong's output checker found the
    mock server's tracebacks in stderr, each ending in one of
    _CLIENT_GONE: its write met a client that had closed (without
    ``close_notify``, or after it)."""
    if "Suspicious output to stderr" not in message:
        return False
    blocks = list(_MOCK_TRACEBACK.finditer(stderr))
    if not blocks:
        return False
    if not all(b.group("last").startswith(_CLIENT_GONE) for b in blocks):
        return False
    # Nothing else may be in stderr: remove the tracebacks and look again.
    # The capture may end while the mock server is still writing one more
    # (its first line only): that unfinished one is the same kind of report.
    rest = _MOCK_TRACEBACK.sub("", stderr)
    rest = _UNFINISHED_REPORT.sub("", rest)
    return not re.search(r"traceback|exception|error", rest, re.I)


def counts(outcomes: dict[str, str], ssl_group: set[str], group: str) -> Counts:
    """passed/failed/errors/skipped in ``group`` (``"ssl"`` or ``"not ssl"``);
    harness errors count as errors."""
    total = Counts()
    for test_id, outcome in outcomes.items():
        if (test_id in ssl_group) != (group == "ssl"):
            continue
        if outcome == PASSED:
            total.passed += 1
        elif outcome == FAILED:
            total.failed += 1
        elif outcome == SKIPPED:
            total.skipped += 1
        else:
            total.errors += 1
    return total


@dataclass
class Verdict:
    ok: bool
    problems: list[str]
    harness: list[str]


def evaluate(reference: dict[str, str], ours: SideResult) -> Verdict:
    """The target: every test passes on ours, except skips dugong shares and
    harness errors; and none that passes on dugong is lost."""
    problems = []
    if ours.problem:
        problems.append(f"the run {ours.problem}")
    for test_id, outcome in sorted(reference.items()):
        if test_id not in ours.outcomes:
            problems.append(f"{test_id}: not run on ours")
        elif outcome == PASSED and ours.outcomes[test_id] != PASSED:
            problems.append(
                f"{test_id}: passes on dugong, {ours.outcomes[test_id]} on ours: "
                + ours.messages[test_id][:_WHY_SHOWN]
            )
    harness = []
    for test_id, outcome in sorted(ours.outcomes.items()):
        if outcome == HARNESS:
            harness.append(test_id)
        elif outcome == SKIPPED and reference.get(test_id) == SKIPPED:
            continue
        elif outcome != PASSED and reference.get(test_id) != PASSED:
            why = ours.messages[test_id][:_WHY_SHOWN]
            problems.append(f"{test_id}: {outcome} on ours: {why}")
    return Verdict(not problems, problems, harness)


def load_reference() -> dict[str, str]:
    data = json.loads(REFERENCE_FILE.read_text())
    outcomes: dict[str, str] = data["outcomes"]
    return outcomes


def format_table(reference: dict[str, str], ours: SideResult, verdict: Verdict) -> str:
    lines = [
        f"| group | dugong {VERSION} p/f/e/s | tornado_compat p/f/e/s | status |",
        "|---|---|---|---|",
    ]
    for group in ("not ssl", "ssl"):
        theirs = counts(reference, ours.ssl_group, group)
        mine = counts(ours.outcomes, ours.ssl_group, group)
        status = "ok" if verdict.ok else "FAIL"
        lines.append(f'| `-k "{group}"` | {theirs} | {mine} | {status} |')
    lines.append(
        "| test_aio.py | import error (asyncio.coroutine) | not run; "
        "covered by tests/client/test_connection.py | |"
    )
    text = "\n".join(lines)
    if verdict.harness:
        text += "\n\nHarness errors (counted as errors above; " + (
            "the mock server's SSLEOFError traceback in the test's stderr):\n"
        )
        text += "\n".join(f"- {test_id}" for test_id in verdict.harness)
    if ours.reruns:
        text += "\n\nRun twice (the first run's stderr ended inside a "
        text += "mock-server report):\n"
        text += "\n".join(f"- {test_id}" for test_id in sorted(ours.reruns))
    if verdict.problems:
        text += "\n\nShort of the target:\n" + "\n".join(
            f"- {p}" for p in verdict.problems
        )
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.dugong_suite")
    parser.add_argument(
        "--original", action="store_true", help="run dugong itself as well (slow)"
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="with --original: save dugong's outcomes as the reference",
    )
    args = parser.parse_args(argv)
    reference = load_reference()
    if args.original:
        original = run_side(original=True)
        print(f"dugong {VERSION}: {original.seconds:.0f} s")
        if args.record:
            REFERENCE_FILE.write_text(
                json.dumps(
                    {
                        "about": f"dugong {VERSION} on its own suite, Python "
                        f"{sys.version.split()[0]}, {PER_TEST_TIMEOUT} s per test",
                        "outcomes": original.outcomes,
                    },
                    indent=1,
                    sort_keys=True,
                )
                + "\n"
            )
        reference = original.outcomes
    ours = run_side(original=False)
    print(f"tornado_compat: {ours.seconds:.0f} s")
    verdict = evaluate(reference, ours)
    print(format_table(reference, ours, verdict))
    return 0 if verdict.ok else 1
