"""Pre-forking a server into worker processes: fork_processes, task_id, cpu_count.

The public API of the multi-process part of ``tornado.process`` in Tornado
6.6.  The usual shape is: bind the listening sockets, call
:func:`fork_processes`, then create the IOLoop and start serving in each
child.  The parent never returns from :func:`fork_processes`; it stays
behind to restart children that die abnormally.

This module must never fork while an event loop is running in the calling
thread (the children would share the loop's selector and its callbacks), and
it must never import Tornado's networking modules.  ``Subprocess`` is not
provided here; Tornado's own stays in ``tornado.process``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from tornado.log import gen_log

__all__ = ["cpu_count", "fork_processes", "task_id"]

_DEFAULT_MAX_RESTARTS = 100

# Set in each child by fork_processes; None in the parent and in processes
# that never forked.
_task_id: int | None = None


def cpu_count() -> int:
    """Return the number of processors on this machine (at least 1)."""
    count = os.cpu_count()
    if count is None or count < 1:
        gen_log.error("Could not detect number of processors; assuming 1")
        return 1
    return count


def task_id() -> int | None:
    """Return this process's task id, or None if fork_processes did not create it."""
    return _task_id


def fork_processes(num_processes: int | None, max_restarts: int | None = None) -> int:
    """Fork worker processes and return the task id in each child.

    ``num_processes`` children are started, or one per CPU (:func:`cpu_count`)
    when it is None or not positive.  Each child gets a task id from 0 to
    ``num_processes - 1``, which this function returns in the child and
    :func:`task_id` reports afterwards.

    The parent does not return.  It waits for its children; one that exits
    with a non-zero status or is killed by a signal is forked again with the
    same task id, up to ``max_restarts`` restarts in total (default 100),
    after which :class:`RuntimeError` is raised in the parent.  When every
    child has exited with status 0 the parent calls ``sys.exit(0)``.

    No IOLoop may be started before this call; a child would inherit the
    parent's loop and its registered file descriptors.  Calling it while an
    asyncio event loop is running in this thread, or from a process it
    already forked, raises :class:`RuntimeError`.  Unix only.  For a pool
    that also stops on SIGTERM and restarts with a back-off, see
    :func:`tornado_compat.supervisor.run_workers`.
    """
    _check_can_fork("fork_processes")
    if num_processes is None or num_processes <= 0:
        num_processes = cpu_count()
    budget = _RestartBudget(
        _DEFAULT_MAX_RESTARTS if max_restarts is None else max_restarts
    )

    gen_log.info("Starting %d processes", num_processes)
    running: dict[int, int] = {}
    for tid in range(num_processes):
        if _fork_child(tid, running):
            return tid

    while running:
        # os.wait() also collects children started by other code; their
        # status is theirs to lose, as it is under Tornado.
        pid, status = os.wait()
        if pid not in running:
            continue
        end = _ChildEnd(running.pop(pid), pid, status)
        if end.succeeded:
            gen_log.info("child %d (pid %d) exited normally", end.task_id, pid)
            continue
        gen_log.warning("%s; forking it again", end)
        budget.spend()
        if _fork_child(end.task_id, running):
            return end.task_id
    # The parent must not fall through into the caller's start-up code, which
    # would then serve as a worker of its own.
    sys.exit(0)


def _check_can_fork(api: str) -> None:
    """Raise RuntimeError, naming ``api``, where forking a pool is unsafe."""
    if sys.platform == "win32":
        raise RuntimeError(f"{api} needs os.fork, which Windows lacks")
    if _task_id is not None:
        raise RuntimeError(f"{api} was already called: this is child task {_task_id}")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{api} cannot run while an event loop is running; "
        "call it before starting the IOLoop"
    )


class _ChildEnd:
    """How one forked child ended: its task id, pid and raw wait status.

    Shared by :func:`fork_processes` and :mod:`tornado_compat.supervisor`, so
    that both judge and describe an exit the same way.
    """

    __slots__ = ("pid", "status", "task_id")

    def __init__(self, task_id: int, pid: int, status: int) -> None:
        self.task_id = task_id
        self.pid = pid
        self.status = status

    @property
    def succeeded(self) -> bool:
        """True when the child called exit with status 0."""
        return os.WIFEXITED(self.status) and os.WEXITSTATUS(self.status) == 0

    def __str__(self) -> str:
        who = f"child {self.task_id} (pid {self.pid})"
        if os.WIFSIGNALED(self.status):
            number = os.WTERMSIG(self.status)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = "unknown"
            return f"{who} was killed by signal {number} ({name})"
        return f"{who} exited with status {os.WEXITSTATUS(self.status)}"


class _RestartBudget:
    """Counts restarts after failures and refuses the one past ``limit``."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.used = 0

    @property
    def exhausted(self) -> bool:
        """True when another restart would exceed the limit."""
        return self.limit is not None and self.used >= self.limit

    def spend(self) -> None:
        """Count one restart; raise RuntimeError when none is left."""
        if self.exhausted:
            raise RuntimeError(
                f"Too many child restarts ({self.limit} allowed), giving up"
            )
        self.used += 1


def _tell_tornado_process(child_id: int) -> None:
    """Give ``tornado.process.task_id()`` the same answer as ours.

    tornado.process is outside the drop-in map (it also holds Subprocess,
    which we do not replace), so an app that forks through our TCPServer but
    asks Tornado's module for its task id would otherwise get None.  The
    module is only touched if the app has already imported it; we never
    import it ourselves (DESIGN.md, rule 2).  This writes Tornado's private
    ``_task_id``; docs/conformance.md lists it.
    """
    module = sys.modules.get("tornado.process")
    if module is not None and hasattr(module, "_task_id"):
        vars(module)["_task_id"] = child_id


def _fork_child(child_id: int, running: dict[int, int]) -> bool:
    """Fork once; True in the new child (task id set), False in the parent.

    The parent records the new pid in ``running``.
    """
    global _task_id
    pid = os.fork()
    if pid == 0:
        # The module-level ``random`` generator is reseeded by CPython's own
        # at-fork hook, so children already draw different sequences.
        _task_id = child_id
        _tell_tornado_process(child_id)
        return True
    running[pid] = child_id
    return False
