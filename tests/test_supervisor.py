"""Tests for tornado_compat.supervisor.run_workers: real forks, real signals.

Every supervising parent runs in a fresh interpreter started for the test, so
the pytest process (with its threads) never forks.  Parent and workers report
what happens as lines on a pipe the test reads ("start TID PID ...", "term
TID ..."); the test waits on those lines, each read bounded by a timeout as a
guard, and never sleeps to wait.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tornado_compat.supervisor import run_workers

ROOT = Path(__file__).resolve().parents[1]
GUARD = 20.0  # seconds any one expected line may take, as a guard

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="run_workers is Unix only"
)

# ``say(...)`` writes one line to the test's pipe; __BODY__ defines
# ``worker`` and ``kwargs``.  After run_workers returns, the parent reports
# its result and whether any child of its own is left (reaped or not).
_HARNESS = """\
import logging, os, signal, sys, time
from tornado_compat.supervisor import run_workers
from tornado_compat.process import task_id

logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(levelname)s %(message)s")
events = int(sys.argv[1])
scratch = sys.argv[2]

def say(*words):
    os.write(events, (" ".join(map(str, words)) + "\\n").encode())

def wait_for_term(tid, exit_status=0, stop_after=1):
    got = []
    def on_signal(signum, frame):
        got.append(signum)
        kind = "term" if signum == signal.SIGTERM else "int"
        say(kind, tid, os.getpid(), len(got))
        if len(got) >= stop_after:
            os._exit(exit_status)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    say("ready", tid)
    while True:
        signal.pause()

__BODY__

before = signal.getsignal(signal.SIGTERM)
result = run_workers(worker=worker, **kwargs)
try:
    os.waitpid(-1, os.WNOHANG)
    left = "yes"
except ChildProcessError:
    left = "no"
say("result", result, "children-left", left,
    "handler-restored", signal.getsignal(signal.SIGTERM) is before)
sys.exit(result)
"""


class Supervised:
    """A parent running run_workers in its own interpreter and session."""

    def __init__(self, tmp_path: Path, body: str) -> None:
        read_fd, write_fd = os.pipe()
        script = _HARNESS.replace("__BODY__", textwrap.dedent(body))
        path = os.pathsep.join(
            p for p in [str(ROOT), os.environ.get("PYTHONPATH")] if p
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-W", "error", "-c", script, str(write_fd), str(tmp_path)],
            pass_fds=[write_fd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=path),
            # Its own process group, so that a test can play a terminal's
            # Ctrl-C, which goes to the whole foreground group.
            start_new_session=True,
        )
        os.close(write_fd)
        self._read_fd = read_fd
        self._buffer = b""
        self.seen: list[list[str]] = []
        self._unclaimed: list[list[str]] = []

    def line(self, timeout: float = GUARD) -> list[str] | None:
        """The next line from the pipe, split; None at its end or on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._read_fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._read_fd, 4096)
            if not chunk:
                return None
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\n", 1)
        words = raw.decode().split()
        self.seen.append(words)
        return words

    def expect(self, kind: str, count: int = 1) -> list[list[str]]:
        """The next ``count`` lines starting with ``kind``, waiting as needed.

        Lines of other kinds read meanwhile stay for a later ``expect``.
        """
        found = [w for w in self._unclaimed if w[0] == kind][:count]
        for words in found:
            self._unclaimed.remove(words)
        while len(found) < count:
            words = self.line()
            assert words is not None, f"no {kind!r} line; saw {self.seen}"
            if words[0] == kind:
                found.append(words)
            else:
                self._unclaimed.append(words)
        return found

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self) -> tuple[int, str, list[str]]:
        """Wait for the parent; its exit code, stderr and its result line."""
        _, err = self.proc.communicate(timeout=GUARD)
        result = self.expect("result")[0]
        os.close(self._read_fd)
        return self.proc.returncode, err, result

    def close(self) -> None:
        """End whatever a failed test left running: the parent and its workers."""
        if self.proc.poll() is None:
            for pid in _children_of(self.proc.pid):
                os.kill(pid, signal.SIGKILL)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate()
        try:
            os.close(self._read_fd)
        except OSError:
            pass


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[type[Supervised]]:
    started: list[Supervised] = []

    class Tracked(Supervised):
        def __init__(self, body: str) -> None:
            super().__init__(tmp_path, body)
            started.append(self)

    yield Tracked  # type: ignore[misc]
    for run in started:
        run.close()


def _children_of(pid: int) -> list[int]:
    """The pids of ``pid``'s children (Linux's /proc; empty elsewhere)."""
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found.extend(int(word) for word in listing.read_text().split())
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_workers_get_task_ids_and_sigterm_reaches_each(supervise) -> None:
    run = supervise(
        """
        import tornado.process

        def worker(tid):
            say("start", tid, task_id(), tornado.process.task_id(), os.getpid(),
                os.getpgid(0), signal.getsignal(signal.SIGTERM) is signal.SIG_DFL,
                signal.getsignal(signal.SIGINT) is signal.default_int_handler)
            wait_for_term(tid)

        kwargs = {"count": 3}
        """
    )
    starts = run.expect("start", 3)
    assert sorted(int(w[1]) for w in starts) == [0, 1, 2]
    for _, tid, ours, tornados, pid, pgid, term_default, int_default in starts:
        assert ours == tornados == tid
        assert pgid == pid  # a process group of its own
        assert term_default == int_default == "True"
    pids = {int(w[4]) for w in starts}
    assert len(pids) == 3
    if sys.platform.startswith("linux"):
        assert set(_children_of(run.proc.pid)) == pids
    run.expect("ready", 3)
    run.signal(signal.SIGTERM)
    terms = run.expect("term", 3)
    assert {int(w[2]) for w in terms} == pids
    code, err, result = run.finish()
    assert code == 0, err
    assert result == ["result", "0", "children-left", "no", "handler-restored", "True"]
    assert "Starting 3 worker processes" in err
    assert "Received SIGTERM: stopping; sending SIGTERM to 3 worker(s)" in err
    assert "WARNING" not in err and "ERROR" not in err
    assert not any(_alive(pid) for pid in pids)


def test_sigterm_drains_an_http_request_in_progress(supervise) -> None:
    """Two HTTP workers on one socket: a held request is answered during the stop."""
    run = supervise(
        """
        import asyncio
        from tornado_compat.httpserver import HTTPServer
        from tornado_compat.httputil import HTTPHeaders, ResponseStartLine
        from tornado_compat.netutil import bind_sockets

        sockets = bind_sockets(0, "127.0.0.1")
        say("port", sockets[0].getsockname()[1])

        def worker(tid):
            async def main():
                held = []

                def handle(request):
                    held.append(request)
                    say("request", tid, request.path)

                def answer_held():
                    for request in held:
                        request.connection.write_headers(
                            ResponseStartLine("HTTP/1.1", 200, "OK"),
                            HTTPHeaders({"Content-Length": "7"}),
                            f"task {tid}".encode(),
                        )
                        request.connection.finish()

                server = HTTPServer(handle)
                server.add_sockets(sockets)
                server.add_drain_callback(answer_held)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                loop.add_signal_handler(signal.SIGTERM, stop.set)
                say("ready", tid)
                await stop.wait()
                return 1 if await server.drain(10) else 0

            return asyncio.run(main())

        kwargs = {"count": 2}
        """
    )
    port = int(run.expect("port")[0][1])
    run.expect("ready", 2)
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as client:
        client.sendall(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
        (request,) = run.expect("request")
        assert request[2] == "/held"
        run.signal(signal.SIGTERM)
        reply = b""
        while chunk := client.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close" in head
    assert body == f"task {request[1]}".encode()
    code, err, result = run.finish()
    assert code == 0, err
    assert result[:4] == ["result", "0", "children-left", "no"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=GUARD)


def test_a_worker_failing_on_stop_makes_the_result_1(supervise) -> None:
    run = supervise(
        """
        def worker(tid):
            say("start", tid)
            wait_for_term(tid, exit_status=3 if tid == 1 else 0)

        kwargs = {"count": 2}
        """
    )
    run.expect("ready", 2)
    run.signal(signal.SIGTERM)
    code, err, result = run.finish()
    assert code == 1
    assert result[:4] == ["result", "1", "children-left", "no"]
    assert "child 1 (pid" in err and "exited with status 3 while stopping" in err


def test_ctrl_c_to_the_group_reaches_each_worker_once(supervise) -> None:
    """A terminal's SIGINT goes to the foreground group; workers see one SIGTERM."""
    run = supervise(
        """
        def worker(tid):
            say("start", tid)
            wait_for_term(tid, stop_after=2)

        kwargs = {"count": 2}
        """
    )
    run.expect("ready", 2)
    os.killpg(run.proc.pid, signal.SIGINT)
    first = run.expect("term", 2)
    assert [w[3] for w in first] == ["1", "1"]
    assert not any(w[0] == "int" for w in run.seen)
    # A second signal is passed on as SIGINT: "stop at once" for serve's
    # workers, which take any number of SIGTERMs as one drain.
    run.signal(signal.SIGTERM)
    second = run.expect("int", 2)
    assert [w[3] for w in second] == ["2", "2"]
    code, err, result = run.finish()
    assert code == 0, err
    assert "Received SIGINT: stopping" in err
    assert "Received SIGTERM again: sending SIGINT to 2 worker(s)" in err


def test_a_killed_worker_is_restarted_with_its_task_id(supervise) -> None:
    run = supervise(
        """
        def worker(tid):
            say("start", tid, os.getpid())
            wait_for_term(tid)

        kwargs = {"count": 2}
        """
    )
    starts = {int(w[1]): int(w[2]) for w in run.expect("start", 2)}
    run.expect("ready", 2)
    os.kill(starts[0], signal.SIGKILL)
    (again,) = run.expect("start")
    assert int(again[1]) == 0
    assert int(again[2]) not in starts.values()
    run.expect("ready")
    run.signal(signal.SIGTERM)
    code, err, result = run.finish()
    assert code == 0, err
    assert result[:4] == ["result", "0", "children-left", "no"]
    assert (
        f"WARNING child 0 (pid {starts[0]}) was killed by signal 9 (SIGKILL); "
        "restarting it in 0.1 s"
    ) in err
    assert err.count("WARNING") == 1


def test_a_crash_loop_backs_off(supervise) -> None:
    """A worker that fails at once is restarted ever more slowly."""
    run = supervise(
        """
        def worker(tid):
            say("start", tid, time.monotonic())
            return 1

        kwargs = {"count": 1, "max_restarts": 5, "restart_delay": 0.05,
                  "max_restart_delay": 0.4}
        """
    )
    times = [float(w[2]) for w in run.expect("start", 6)]
    code, err, result = run.finish()
    assert code == 1
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    for gap, delay in zip(gaps, [0.05, 0.1, 0.2, 0.4, 0.4], strict=True):
        assert gap >= delay, gaps
    assert err.count("WARNING") == 5
    assert "restarting it in 0.1 s" in err and "restarting it in 0.4 s" in err
    assert err.count("ERROR") == 1
    assert "all 5 restarts are used up: stopping every worker" in err


def test_the_delay_starts_over_after_a_run_that_lived(supervise) -> None:
    run = supervise(
        """
        def worker(tid):
            runs = len(os.listdir(scratch))
            open(os.path.join(scratch, f"run-{runs}"), "w").close()
            say("start", tid, runs)
            if runs < 3:
                return 1
            if runs == 3:
                time.sleep(0.3)  # longer than max_restart_delay: a healthy run
                return 1
            wait_for_term(tid)

        kwargs = {"count": 1, "restart_delay": 0.05, "max_restart_delay": 0.2}
        """
    )
    run.expect("start", 5)
    run.expect("ready")
    run.signal(signal.SIGTERM)
    code, err, _ = run.finish()
    assert code == 0, err
    delays = [
        line.rsplit(" in ", 1)[1]
        for line in err.splitlines()
        if line.startswith("WARNING")
    ]
    assert delays == ["0.05 s", "0.1 s", "0.2 s", "0.05 s"]


def test_a_crash_loop_neither_spins_nor_floods_the_log(supervise) -> None:
    """With the default delays, a second and a half holds a handful of restarts."""
    run = supervise(
        """
        def worker(tid):
            say("start", tid, time.monotonic())
            return 1

        kwargs = {"count": 1}
        """
    )
    first = float(run.expect("start")[0][2])
    cpu_at_first = _cpu_seconds(run.proc.pid)
    window = 1.5
    starts = 1
    while (left := first + window - time.monotonic()) > 0:
        words = run.line(timeout=left)
        if words is not None and words[0] == "start":
            starts += 1
    cpu_used = _cpu_seconds(run.proc.pid) - cpu_at_first
    run.signal(signal.SIGTERM)
    code, err, _ = run.finish()
    # 0.1 + 0.2 + 0.4 + 0.8 = 1.5: four restarts fit at most, not thousands.
    assert 2 <= starts - 1 <= 4, starts
    # One WARNING per death: the last may be waiting for its restart.
    assert err.count("WARNING") in (starts - 1, starts)
    assert cpu_used < 0.5, cpu_used
    assert code == 1  # the last run failed and was not replaced


def _cpu_seconds(pid: int) -> float:
    """CPU time ``pid`` has used, from Linux's /proc (0 elsewhere)."""
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return 0.0
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_max_restarts_gives_up_and_stops_the_others(supervise) -> None:
    run = supervise(
        """
        def worker(tid):
            say("start", tid)
            if tid == 0:
                raise ValueError("broken worker")
            wait_for_term(tid)

        kwargs = {"count": 2, "max_restarts": 2, "restart_delay": 0.01}
        """
    )
    run.expect("term")
    code, err, result = run.finish()
    assert code == 1
    assert result[:4] == ["result", "1", "children-left", "no"]
    starts = [w for w in run.seen if w[0] == "start"]
    assert sum(1 for w in starts if w[1] == "0") == 3
    # The worker's exception is logged in the child, with its traceback.
    assert err.count("Worker 0 (pid") == 3 and "ValueError: broken worker" in err
    assert err.count("exited with status 1; restarting it in") == 2
    assert "all 2 restarts are used up: stopping every worker" in err


def test_an_unasked_zero_exit_is_restarted(supervise) -> None:
    run = supervise(
        """
        def worker(tid):
            marker = os.path.join(scratch, "ran-once")
            say("start", tid, os.getpid())
            if not os.path.exists(marker):
                open(marker, "w").close()
                sys.exit(0)
            wait_for_term(tid)

        kwargs = {"count": 1, "max_restarts": 0}
        """
    )
    first, second = run.expect("start", 2)
    assert first[2] != second[2]
    run.expect("ready")
    run.signal(signal.SIGTERM)
    code, err, _ = run.finish()
    assert code == 0, err
    assert "exited with status 0 unasked; restarting it in 0.1 s" in err
    assert "WARNING" not in err


def test_output_buffered_before_the_fork_is_written_once(
    supervise, tmp_path: Path
) -> None:
    run = supervise(
        """
        sys.stdout = open(os.path.join(scratch, "out.txt"), "w")
        print("from the parent, before forking")

        def worker(tid):
            print("from worker", tid, flush=True)
            wait_for_term(tid)

        kwargs = {"count": 2}
        """
    )
    run.expect("ready", 2)
    run.signal(signal.SIGTERM)
    code, err, _ = run.finish()
    assert code == 0, err
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert sorted(lines) == [
        "from the parent, before forking",
        "from worker 0",
        "from worker 1",
    ]


def test_workers_stop_when_the_parent_is_killed(supervise) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux only")
    run = supervise(
        """
        def worker(tid):
            say("start", tid, os.getpid())
            wait_for_term(tid)

        kwargs = {"count": 2}
        """
    )
    pids = {int(w[2]) for w in run.expect("start", 2)}
    run.expect("ready", 2)
    run.signal(signal.SIGKILL)
    terms = run.expect("term", 2)
    assert {int(w[2]) for w in terms} == pids
    run.proc.communicate(timeout=GUARD)
    # The workers, orphaned, are reaped by whoever adopted them; wait for that.
    deadline = time.monotonic() + GUARD
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(_alive(pid) for pid in pids)


def test_refuses_under_a_running_event_loop() -> None:
    async def main() -> None:
        run_workers(2, lambda tid: 0)

    with pytest.raises(RuntimeError, match="cannot run while an event loop"):
        asyncio.run(main())


def test_refuses_outside_the_main_thread() -> None:
    errors: list[BaseException] = []

    def call() -> None:
        try:
            run_workers(2, lambda tid: 0)
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert "main thread" in str(errors[0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": 0},
        {"count": 1, "restart_delay": 0},
        {"count": 1, "restart_delay": 2.0, "max_restart_delay": 1.0},
    ],
)
def test_refuses_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="run_workers needs"):
        run_workers(worker=lambda tid: 0, **kwargs)
