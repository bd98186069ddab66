"""Tests for tornado_compat.process: forking workers, task ids, restarts.

Every fork happens in a fresh interpreter started for the test, so the pytest
process (with its threads) never forks.  Children leave one file per run in a
directory the test then reads; the parent's exit and log lines come back on
its stdout and stderr.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tornado_compat import process

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="fork_processes is Unix only"
)

# The body replaces __BODY__ and runs in a child interpreter with ``runs`` (a
# directory) in scope and ``record(task_id)`` to leave a file per child run.
# It decides what each child does; the harness reports how the parent ended.
_HARNESS = """\
import logging, os, sys
from tornado_compat import process
from tornado_compat.process import fork_processes, task_id

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
runs = sys.argv[1]

def record(tid, note=""):
    name = f"run-{tid}-{os.getpid()}"
    with open(os.path.join(runs, name), "w") as f:
        f.write(note)

try:
__BODY__
except SystemExit as e:
    print(f"parent-exit {e.code} task_id={task_id()}", flush=True)
    raise
except RuntimeError as e:
    print(f"parent-error {e}", flush=True)
    sys.exit(0)
"""


def _child_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH")] if p)
    return dict(os.environ, PYTHONPATH=path)


def _tornado_multi_process_script() -> str | None:
    """The script Tornado's process_test runs, read without importing Tornado's."""
    spec = importlib.util.find_spec("tornado")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0], "test", "process_test.py")
    if not path.exists():
        return None
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_MULTI_PROCESS_TEST_SCRIPT"
            for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            return value if isinstance(value, str) else None
    return None


def run_forking(
    tmp_path: Path, body: str
) -> tuple[subprocess.CompletedProcess[str], dict[int, list[str]]]:
    """Run ``body`` under the harness; return the result and runs per task id."""
    runs = tmp_path / "runs"
    runs.mkdir()
    script = _HARNESS.replace(
        "__BODY__", textwrap.indent(textwrap.dedent(body), "    ")
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(runs)],
        capture_output=True,
        text=True,
        env=_child_env(),
        timeout=60,
    )
    per_task: dict[int, list[str]] = {}
    for entry in sorted(runs.iterdir()):
        _, tid, _pid = entry.name.split("-")
        per_task.setdefault(int(tid), []).append(entry.read_text())
    return result, per_task


def test_task_id_is_none_without_fork() -> None:
    assert process.task_id() is None


def test_cpu_count_is_positive() -> None:
    count = process.cpu_count()
    assert isinstance(count, int)
    assert count >= 1
    assert count == (os.cpu_count() or 1)


def test_children_get_ids_and_parent_exits_zero(tmp_path: Path) -> None:
    result, runs = run_forking(
        tmp_path,
        """
        tid = fork_processes(3)
        assert tid == task_id()
        record(tid)
        os._exit(0)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "parent-exit 0 task_id=None\n"
    assert sorted(runs) == [0, 1, 2]
    assert all(len(r) == 1 for r in runs.values())
    assert "Starting 3 processes" in result.stderr
    assert result.stderr.count("exited normally") == 3


def test_abnormal_exit_restarts_with_same_task_id(tmp_path: Path) -> None:
    result, runs = run_forking(
        tmp_path,
        """
        tid = fork_processes(2)
        marker = os.path.join(runs, "..", f"failed-{tid}")
        if tid == 1 and not os.path.exists(marker):
            open(marker, "w").close()
            record(tid, "failing")
            os._exit(3)
        record(tid, "ok")
        os._exit(0)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "parent-exit 0 task_id=None\n"
    assert runs[0] == ["ok"]
    assert sorted(runs[1]) == ["failing", "ok"]
    assert "child 1 (pid" in result.stderr
    assert "exited with status 3; forking it again" in result.stderr


def test_child_killed_by_signal_is_restarted(tmp_path: Path) -> None:
    result, runs = run_forking(
        tmp_path,
        """
        import signal
        tid = fork_processes(1)
        marker = os.path.join(runs, "..", "killed")
        if not os.path.exists(marker):
            open(marker, "w").close()
            record(tid, "killed")
            os.kill(os.getpid(), signal.SIGKILL)
        record(tid, "ok")
        os._exit(0)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(runs[0]) == ["killed", "ok"]
    assert f"killed by signal {int(signal.SIGKILL)} (SIGKILL)" in result.stderr


def test_too_many_restarts_raises_in_parent(tmp_path: Path) -> None:
    result, runs = run_forking(
        tmp_path,
        """
        tid = fork_processes(1, max_restarts=2)
        record(tid)
        os._exit(1)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("parent-error Too many child restarts")
    # The first run plus the two restarts allowed.
    assert len(runs[0]) == 3


def test_zero_processes_means_one_per_cpu(tmp_path: Path) -> None:
    result, runs = run_forking(
        tmp_path,
        """
        process.cpu_count = lambda: 2
        tid = fork_processes(0)
        record(tid)
        os._exit(0)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(runs) == [0, 1]


def test_child_cannot_fork_again(tmp_path: Path) -> None:
    result, runs = run_forking(
        tmp_path,
        """
        tid = fork_processes(1)
        try:
            fork_processes(1)
        except RuntimeError:
            record(tid, "refused")
        else:
            record(tid, "forked again")
        os._exit(0)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert runs == {0: ["refused"]}


def test_refuses_to_fork_under_a_running_event_loop(tmp_path: Path) -> None:
    result, runs = run_forking(
        tmp_path,
        """
        import asyncio

        async def main():
            fork_processes(2)

        pid = os.getpid()
        try:
            asyncio.run(main())
        finally:
            assert os.getpid() == pid
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("parent-error fork_processes cannot run")
    assert runs == {}
    assert "Starting" not in result.stderr


def test_tornado_multi_process_scenario(tmp_path: Path) -> None:
    """Tornado's own fork_processes test body, run on our fork_processes."""
    # Read rather than imported: importing it would load tornado.process and
    # with it Tornado's own networking modules into this test session.
    script = _tornado_multi_process_script()
    original = "from tornado.process import fork_processes, task_id"
    if script is None or original not in script:
        pytest.skip("this Tornado's process_test has no standalone script")
    script = script.replace(
        original, "from tornado_compat.process import fork_processes, task_id"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        env=_child_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
