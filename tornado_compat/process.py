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
    already forked, raises :class:`RuntimeError`.  Unix only.
    """
    if sys.platform == "win32":
        raise RuntimeError("fork_processes needs os.fork, which Windows lacks")
    if _task_id is not None:
        raise RuntimeError(
            f"fork_processes was already called: this is child task {_task_id}"
        )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "fork_processes cannot run while an event loop is running; "
            "call it before starting the IOLoop"
        )
    if max_restarts is None:
        max_restarts = _DEFAULT_MAX_RESTARTS
    if num_processes is None or num_processes <= 0:
        num_processes = cpu_count()

    gen_log.info("Starting %d processes", num_processes)
    children: dict[int, int] = {}
    for i in range(num_processes):
        if _fork_child(i, children):
            return i

    restarts = 0
    while children:
        pid, status = os.wait()
        child_id = children.pop(pid, None)
        if child_id is None:
            # A child the caller started some other way; not ours to restart.
            continue
        if os.WIFSIGNALED(status):
            gen_log.warning(
                "child %d (pid %d) killed by signal %d, restarting",
                child_id,
                pid,
                os.WTERMSIG(status),
            )
        elif os.WEXITSTATUS(status) != 0:
            gen_log.warning(
                "child %d (pid %d) exited with status %d, restarting",
                child_id,
                pid,
                os.WEXITSTATUS(status),
            )
        else:
            gen_log.info("child %d (pid %d) exited normally", child_id, pid)
            continue
        restarts += 1
        if restarts > max_restarts:
            raise RuntimeError(
                f"Too many child restarts ({restarts - 1} allowed), giving up"
            )
        if _fork_child(child_id, children):
            return child_id

    # Returning would drop the parent back into the caller's start-up code,
    # which would go on to serve as if it were a worker.
    sys.exit(0)


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


def _fork_child(child_id: int, children: dict[int, int]) -> bool:
    """Fork once; True in the new child, False in the parent."""
    global _task_id
    pid = os.fork()
    if pid == 0:
        # The module-level ``random`` generator is reseeded by CPython's own
        # at-fork hook, so children already draw different sequences.
        _task_id = child_id
        _tell_tornado_process(child_id)
        return True
    children[pid] = child_id
    return False
