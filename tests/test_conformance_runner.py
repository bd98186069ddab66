"""The conformance runner itself: install hook, worker, counts and verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance import run
from tornado_compat.dropin import MODULE_MAP

SAMPLES = "tests.conformance.samples"


def _python(
    code: str, compat: bool, install: str = "1"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=run._environment(compat, install),
        cwd=run.REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_install_hook_reaches_every_child_process() -> None:
    # A grandchild started the way tcpserver_test starts its subprocesses.
    code = (
        "import subprocess, sys; print(subprocess.run([sys.executable, "
        "'-Werror::DeprecationWarning', '-c', 'import tornado.tcpserver as m; "
        "print(m.__name__)'], capture_output=True, text=True, check=True).stdout)"
    )
    assert _python(code, compat=True).stdout.strip() == "tornado_compat.tcpserver"
    assert _python(code, compat=False).stdout.strip() == "tornado.tcpserver"


def test_install_hook_installs_every_row() -> None:
    names = [r.tornado_name for r in MODULE_MAP]
    code = (
        "import importlib, json; print(json.dumps("
        f"{{n: importlib.import_module(n).__name__ for n in {names!r}}}))"
    )
    served = json.loads(_python(code, compat=True).stdout)
    assert served == {r.tornado_name: r.compat_name for r in MODULE_MAP}


def test_install_hook_stops_the_process_when_install_fails() -> None:
    proc = _python("print('ran')", compat=True, install="tornado.web")
    assert proc.returncode == 70
    assert "ran" not in proc.stdout
    assert "tornado_compat.install() failed" in proc.stderr


@pytest.mark.parametrize("compat", [False, True], ids=["tornado", "tornado_compat"])
def test_worker_counts_each_outcome(compat: bool) -> None:
    side = run.run_side(SAMPLES, compat=compat, time_limit=60)
    assert side.problem is None, side.output
    outcomes = {t.rpartition(".")[2]: o.outcome for t, o in side.outcomes.items()}
    assert outcomes["test_passes"] == "passed"
    assert outcomes["test_fails"] == "failed"
    assert outcomes["test_errors"] == "error"
    assert outcomes["test_skipped"] == "skipped"
    assert outcomes["test_subtest_fails"] == "failed"
    assert outcomes["test_inherited"] == "passed"
    # passed: test_passes, Concrete.test_inherited, the noisy test;
    # skipped: test_skipped and the abstract base class.
    assert vars(side.counts) == {"passed": 3, "failed": 2, "errors": 1, "skipped": 2}
    assert sum(o.abstract for o in side.outcomes.values()) == 1
    records, stderr_bytes = side.noise
    assert records == 1
    assert stderr_bytes >= len("stderr on purpose\n")
    assert [log["message"] for log in side.logs] == ["a warning on purpose"]
    assert side.logs[0]["test"].endswith("Noisy.test_logs_and_writes_to_stderr")
    assert side.summary is not None
    served = side.summary["modules"]
    for row in MODULE_MAP:
        expected = row.compat_name if compat else row.tornado_name
        assert served.get(row.tornado_name, expected) == expected


def test_time_limit_names_the_stuck_test() -> None:
    side = run.run_side("tests.conformance.sample_hang", compat=False, time_limit=8)
    assert side.problem is not None
    assert "time limit" in side.problem
    assert "Hangs.test_b_hangs" in side.problem
    outcomes = {t.rpartition(".")[2]: o.outcome for t, o in side.outcomes.items()}
    assert outcomes == {"test_a_passes": "passed", "test_b_hangs": "error"}
    # The worker dumps its threads' stacks before the limit.
    assert "test_b_hangs" in side.output


def _side(name: str, outcomes: dict[str, str], logs: int = 0) -> run.SideResult:
    side = run.SideResult(side=name, module="m")
    side.outcomes = {t: run.Outcome(t, o) for t, o in outcomes.items()}
    side.summary = {
        "log_counts": {"info": 0, "warning": logs, "error": 0},
        "stderr_bytes": 0,
    }
    return side


def test_evaluate_lists_tests_that_pass_only_on_tornado() -> None:
    tornado = _side(run.TORNADO, {"a": "passed", "b": "passed", "c": "failed"})
    compat = _side(run.COMPAT, {"a": "passed", "b": "error", "c": "passed"})
    target = run.Target("m", passed=1)
    report = run.evaluate("m", target, tornado, compat)
    assert not report.ok
    assert [(o.test, o.outcome) for o in report.regressions] == [("b", "error")]
    assert report.gains == ["c"]


def test_evaluate_target_and_noise() -> None:
    target = run.Target("m", passed=2)
    compat = _side(run.COMPAT, {"a": "passed", "b": "passed"})
    assert run.evaluate("m", target, None, compat).ok
    short = _side(run.COMPAT, {"a": "passed", "b": "skipped"})
    assert not run.evaluate("m", target, None, short).ok
    noisy = _side(run.COMPAT, {"a": "passed", "b": "passed"}, logs=1)
    assert not run.evaluate("m", target, None, noisy).ok
    # Noise that Tornado makes as well is only a note.
    tornado_noisy = _side(run.TORNADO, {"a": "passed", "b": "passed"}, logs=1)
    report = run.evaluate("m", target, tornado_noisy, noisy)
    assert report.ok and report.notes


def test_command_line_json_and_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = tmp_path / "targets.toml"
    targets.write_text(f'[targets."{SAMPLES}"]\npassed = 3\n')
    status = run.main([SAMPLES, "--targets", str(targets), "--json"])
    report = json.loads(capsys.readouterr().out)
    # Failures and noise that Tornado shares are not held against us.
    assert status == 0
    (module,) = report["modules"]
    assert module["tornado"]["counts"] == module["tornado_compat"]["counts"]
    assert module["regressions"] == []
    assert module["status"] == "ok"
    # Without the baseline, every failure counts.
    status = run.main([SAMPLES, "--targets", str(targets), "--json", "--compat-only"])
    report = json.loads(capsys.readouterr().out)
    assert status == 1
    (module,) = report["modules"]
    assert module["tornado"] is None
    assert module["status"] == "FAIL"
    assert len(module["regressions"]) == 3


def test_module_names() -> None:
    assert run.full_name("iostream") == "tornado.test.iostream_test"
    assert run.full_name("iostream_test") == "tornado.test.iostream_test"
    assert run.full_name("tornado.test.iostream_test") == "tornado.test.iostream_test"
    targets = run.load_targets()
    # The foundation's modules keep their targets as more modules are added.
    for name, passed in [
        ("iostream_test", 178),
        ("netutil_test", 10),
        ("tcpserver_test", 8),
        ("tcpclient_test", 41),
    ]:
        assert targets[f"tornado.test.{name}"].passed == passed
