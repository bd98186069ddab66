"""The real-app runner's pure parts: reading pytest's results and comparing them.

The runs themselves take minutes and need the application's dependencies, so
they are not part of the test suite (docs/conformance.md, "Real
applications").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.apps import run

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="2" failures="1" skipped="2" tests="7">
<testcase classname="tests.test_a" name="test_passes" time="0.1"/>
<testcase classname="tests.test_a" name="test_fails" time="0.1">
  <failure message="AssertionError: 1 != 2">trace</failure></testcase>
<testcase classname="tests.test_a" name="test_setup_error" time="0.1">
  <error message="failed on setup with &quot;ValueError: fd 12 added twice&quot;">
  trace</error></testcase>
<testcase classname="tests.test_a" name="test_fails_then_teardown" time="0.1">
  <failure message="boom">trace</failure>
  <error message="failed on teardown">trace</error></testcase>
<testcase classname="tests.test_b" name="test_skip[x]" time="0.0">
  <skipped type="pytest.skip" message="no network">why</skipped></testcase>
<testcase classname="tests.test_b" name="test_xfail" time="0.0">
  <skipped type="pytest.xfail" message="known">why</skipped></testcase>
<testcase classname="tests.test_b" name="test_xfail" time="0.0"/>
</testsuite></testsuites>
"""


def test_parse_junit_gives_each_test_one_outcome() -> None:
    results = run.parse_junit(JUNIT)
    assert {t: r.outcome for t, r in results.items()} == {
        "tests.test_a::test_passes": "passed",
        "tests.test_a::test_fails": "failed",
        "tests.test_a::test_setup_error": "error",
        "tests.test_a::test_fails_then_teardown": "error",
        "tests.test_b::test_skip[x]": "skipped",
        "tests.test_b::test_xfail": "xfail",
        "tests.test_b::test_xfail #2": "passed",
    }
    assert results["tests.test_a::test_setup_error"].message == (
        'failed on setup with "ValueError: fd 12 added twice"'
    )
    counts = run.count(results)
    assert counts.as_tuple() == (2, 1, 2, 1, 1)
    assert counts.total == 7


def _results(**outcomes: str) -> dict[str, run.TestResult]:
    return {t: run.TestResult(o) for t, o in outcomes.items()}


def test_differences_list_changed_and_missing_tests() -> None:
    tornado = _results(a="passed", b="passed", c="skipped", d="failed")
    compat = _results(a="passed", b="failed", d="failed", e="passed")
    assert run.differences(tornado, compat) == [
        ("b", "passed", "failed"),
        ("c", "skipped", "absent"),
        ("e", "absent", "passed"),
    ]
    assert run.differences(tornado, tornado) == []


def test_equal_counts_can_hide_swapped_outcomes_but_not_from_the_diff() -> None:
    first = run.SideRun(run.TORNADO, 1, _results(a="passed", b="failed"))
    second = run.SideRun(run.COMPAT, 1, _results(a="failed", b="passed"))
    assert first.counts == second.counts
    lines = run.format_differences(first, second)
    assert lines[0].startswith("round 1: 2 test(s) whose outcome differs")
    assert lines[1:] == ["  - a: passed -> failed", "  - b: failed -> passed"]


def test_table_has_a_row_per_side_and_round() -> None:
    runs = [
        run.SideRun(run.TORNADO, 1, _results(a="passed", b="skipped"), 12.4),
        run.SideRun(run.COMPAT, 1, _results(a="passed", b="error"), 13.6),
    ]
    runs[1].problem = "time limit of 60 s reached"
    assert run.format_table(run.APPS["jupyter_server"], runs).splitlines() == [
        "| jupyter_server 2.21.1 | round | passed | failed | error | skipped "
        "| xfail | total | time |",
        "|---|---|---|---|---|---|---|---|---|",
        "| tornado | 1 | 1 | 0 | 0 | 1 | 0 | 2 | 12 s |",
        "| tornado_compat | 1 | 1 | 0 | 1 | 0 | 0 | 2 | 14 s (!) |",
    ]


def test_unstable_names_tests_that_changed_between_rounds() -> None:
    rounds = [
        run.SideRun(run.COMPAT, 1, _results(a="passed", b="passed", c="passed")),
        run.SideRun(run.COMPAT, 2, _results(a="passed", b="error", c="passed")),
        run.SideRun(run.COMPAT, 3, _results(a="passed", b="passed")),
    ]
    assert run.unstable(rounds) == {
        "b": ["passed", "error", "passed"],
        "c": ["passed", "passed"],
    }


def test_install_hook_reaches_a_subprocess_of_a_subprocess(tmp_path: Path) -> None:
    # The hook alone, in this interpreter: what check_install does in the venv.
    prepared = run.Prepared(
        run.APPS["jupyter_server"], tmp_path, Path(sys.executable), tmp_path
    )
    log = tmp_path / "hook.log"
    env = run.environment(prepared, compat=True, hook_log=log)
    proc = subprocess.run(
        [sys.executable, "-c", run._CHECK_PARENT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('["tornado_compat.httputil", ')
    lines = log.read_text().splitlines()
    assert sum(line.startswith("start ") for line in lines) == 2
    # The child imported tornado.httputil; the parent may not have (an install
    # that imports lazily leaves it out).
    served = [line.split()[2] for line in lines if line.startswith("exit ")]
    assert len(served) == 2
    assert "tornado_compat.httputil" in served
    assert set(served) <= {"-", "tornado_compat.httputil"}
    env = run.environment(prepared, compat=False, hook_log=None)
    env["PYTHONPATH"] = str(run.REPO_ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", run._CHECK_PARENT],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.startswith('["tornado.httputil", ')
