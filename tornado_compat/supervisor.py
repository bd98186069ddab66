"""Keeping a pool of forked worker processes running until told to stop.

:func:`run_workers` is the process supervision of ``python -m tornado_compat
serve --workers N``, and usable on its own.  The parent forks ``count``
children, each running ``worker(task_id)``; it restarts a child that dies,
after a back-off that grows while the child keeps dying young; on SIGTERM or
SIGINT it passes SIGTERM on to every child (SIGINT on a second signal) and
waits for them all.
:func:`tornado_compat.process.fork_processes` is the Tornado-shaped sibling:
it returns in the child and has no signal handling or back-off; the two
share the code that forks a child and judges how it ended.

This module must never fork while an event loop runs in the calling thread
(the children would share its selector), never busy-wait (the parent sleeps
in ``poll()`` on the signal wakeup pipe, with a timeout only while a restart
is due), never restart a child once a stop was asked for, and never return
while a child it forked is unreaped.  Unix only.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import math
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType

from tornado.log import gen_log

from tornado_compat import process

__all__ = ["run_workers"]

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# SIGCHLD only wakes the parent; every wake-up looks at every child anyway.
_WATCHED = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)

# From <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1

_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def run_workers(
    count: int,
    worker: Callable[[int], int | None],
    *,
    max_restarts: int | None = None,
    restart_delay: float = 0.1,
    max_restart_delay: float = 10.0,
) -> int:
    """Run ``worker(task_id)`` in ``count`` forked children until a stop signal.

    Call it in the main thread, with no event loop running (bind listening
    sockets first, so that every child inherits them).  Each child gets a task
    id from 0 to ``count - 1``, which :func:`tornado_compat.process.task_id`
    (and ``tornado.process.task_id``) reports in it.  Before ``worker`` runs,
    the child gets the signal handlers the caller had before this call,
    moves into a process group of its own (so that a terminal's Ctrl-C
    reaches only the parent, which passes it on once, as SIGTERM), and on
    Linux asks the kernel for SIGTERM should the parent die.  The child then
    ends with ``os._exit``: with the worker's return value as its status
    (None counts as 0; anything but an int from 0 to 255 as 1), with the code of a
    ``SystemExit``, or with 1 after any other exception, which is logged.

    **Restarts.**  A child that ends while no stop was asked for is forked
    again with the same task id, after a delay: ``restart_delay`` seconds,
    doubled each time that task's child dies young, up to
    ``max_restart_delay``, and back to ``restart_delay`` once a child has
    lived ``max_restart_delay`` seconds.  A crash loop thus restarts about
    once every ``max_restart_delay`` seconds, with one log line each.  A
    failure (a non-zero status, or killed by a signal) is logged as a WARNING
    naming the task id, pid and status, and counts against ``max_restarts``
    (restarts in total over the run; None, the default, means no limit).  The
    failure past the limit is logged at ERROR and stops the pool as a signal
    would; the result is then 1.  A child that exits with status 0 unasked is
    restarted the same way and logged at INFO, without counting against the
    limit: a worker may end itself to be replaced with a fresh process.

    **Stopping.**  The first SIGTERM or SIGINT the parent receives cancels
    pending restarts and sends SIGTERM to every child; each further one sends
    SIGINT (``serve``'s workers drain on SIGTERM, however often it comes, and
    take SIGINT during a drain as "stop at once").  So a process manager that
    signals every process of the group, as well as the parent, does not turn
    a drain into a stop.  The parent waits for every child, restores its own signal
    handlers and returns 0 when the last run of every task id exited with
    status 0, 1 otherwise.

    Raises :class:`ValueError` for a ``count`` below 1 or a bad delay, and
    :class:`RuntimeError` when called outside the main thread, under a
    running event loop, in a child of ``fork_processes`` or ``run_workers``,
    or on Windows.
    """
    if count < 1:
        raise ValueError(f"run_workers needs at least one worker, not {count}")
    if not 0 < restart_delay <= max_restart_delay:
        raise ValueError(
            "run_workers needs 0 < restart_delay <= max_restart_delay, "
            f"not {restart_delay} and {max_restart_delay}"
        )
    process._check_can_fork("run_workers")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError(
            "run_workers must be called in the main thread, which receives signals"
        )
    supervisor = _Supervisor(
        count,
        worker,
        process._RestartBudget(max_restarts),
        restart_delay,
        max_restart_delay,
    )
    return supervisor.run()


class _Supervisor:
    """The parent's state while :func:`run_workers` runs."""

    def __init__(
        self,
        count: int,
        worker: Callable[[int], int | None],
        budget: process._RestartBudget,
        first_delay: float,
        max_delay: float,
    ) -> None:
        self.count = count
        self.worker = worker
        self.budget = budget
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.parent_pid = os.getpid()
        self.running: dict[int, int] = {}  # pid -> task id
        self.started_at: dict[int, float] = {}  # task id -> monotonic time
        self.next_delay = dict.fromkeys(range(count), first_delay)
        self.due: dict[int, float] = {}  # task id -> when to fork it again
        self.last_ok: dict[int, bool] = {}  # task id -> its last run exited 0
        self.stopping = False
        self.gave_up = False
        # Appended to by the signal handler, between any two bytecodes of
        # the loop; a deque's append and popleft are safe against that.
        self.received: collections.deque[int] = collections.deque()
        self.previous: dict[int, _Handler] = {}
        self.wake_fds: tuple[int, int] | None = None

    def run(self) -> int:
        wake_read, wake_write = os.pipe()
        self.wake_fds = (wake_read, wake_write)
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        old_wakeup_fd = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        try:
            for signum in _WATCHED:
                self.previous[signum] = signal.signal(signum, self._on_signal)
            gen_log.info("Starting %d worker processes", self.count)
            for tid in range(self.count):
                self._start(tid)
            poller = select.poll()
            poller.register(wake_read, select.POLLIN)
            while self.running or (self.due and not self.stopping):
                # The C-level handler writes to the wakeup pipe before poll()
                # is retried after EINTR, so a signal always ends this wait.
                poller.poll(self._poll_timeout_ms())
                _drain(wake_read)
                self._handle_signals()
                self._reap()
                self._start_due()
        finally:
            if self.running:
                # Only an error in this loop leaves children here; none may
                # be left unreaped behind the exception.
                self._signal_all(signal.SIGKILL)
                for pid in list(self.running):
                    os.waitpid(pid, 0)
                self.running.clear()
            for number, handler in self.previous.items():
                signal.signal(number, _usable(handler))
            signal.set_wakeup_fd(old_wakeup_fd)
            os.close(wake_read)
            os.close(wake_write)
        if self.gave_up or not all(self.last_ok.values()):
            return 1
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)

    def _poll_timeout_ms(self) -> int | None:
        if self.stopping or not self.due:
            return None
        wait = min(self.due.values()) - time.monotonic()
        return max(0, math.ceil(wait * 1000))

    def _handle_signals(self) -> None:
        while self.received:
            number = self.received.popleft()
            if number not in _STOP_SIGNALS:
                continue
            name = signal.Signals(number).name
            if self.stopping:
                gen_log.info(
                    "Received %s again: sending SIGINT to %d worker(s)",
                    name,
                    len(self.running),
                )
                self._signal_all(signal.SIGINT)
            else:
                gen_log.info(
                    "Received %s: stopping; sending SIGTERM to %d worker(s)",
                    name,
                    len(self.running),
                )
                self._stop()
                self._signal_all(signal.SIGTERM)

    def _stop(self) -> None:
        self.stopping = True
        self.due.clear()

    def _signal_all(self, signum: int) -> None:
        for pid in self.running:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def _reap(self) -> None:
        for pid in list(self.running):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                # Reaped by other code (a SIGCHLD set to SIG_IGN, or an
                # os.wait() elsewhere): its status is lost, so count it as a
                # failure rather than guess.
                done, status = pid, 1 << 8
            if done == 0:
                continue
            tid = self.running.pop(pid)
            self._ended(process._ChildEnd(tid, pid, status))

    def _ended(self, end: process._ChildEnd) -> None:
        tid = end.task_id
        self.last_ok[tid] = end.succeeded
        if self.stopping:
            if end.succeeded:
                gen_log.info("%s", end)
            else:
                gen_log.warning("%s while stopping", end)
            return
        now = time.monotonic()
        if now - self.started_at[tid] >= self.max_delay:
            self.next_delay[tid] = self.first_delay
        delay = self.next_delay[tid]
        self.next_delay[tid] = min(delay * 2, self.max_delay)
        if end.succeeded:
            gen_log.info("%s unasked; restarting it in %.3g s", end, delay)
        elif self.budget.exhausted:
            gen_log.error(
                "%s; all %d restarts are used up: stopping every worker",
                end,
                self.budget.used,
            )
            self.gave_up = True
            self._stop()
            self._signal_all(signal.SIGTERM)
            return
        else:
            self.budget.spend()
            gen_log.warning("%s; restarting it in %.3g s", end, delay)
        self.due[tid] = now + delay

    def _start_due(self) -> None:
        if self.stopping:
            return
        now = time.monotonic()
        for tid, when in sorted(self.due.items(), key=lambda item: item[1]):
            if when <= now:
                del self.due[tid]
                self._start(tid)

    def _start(self, tid: int) -> None:
        # Blocked across fork() so that the child cannot take a signal under
        # the parent's handlers before it has its own.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        try:
            in_child = process._fork_child(tid, self.running)
        except OSError as e:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            delay = self.next_delay[tid]
            self.next_delay[tid] = min(delay * 2, self.max_delay)
            gen_log.warning(
                "Could not fork worker %d (%s); trying again in %.3g s", tid, e, delay
            )
            self.last_ok[tid] = False
            self.started_at[tid] = time.monotonic()
            self.due[tid] = time.monotonic() + delay
            return
        if in_child:
            self._become_worker(tid, mask)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self.started_at[tid] = time.monotonic()

    def _become_worker(self, tid: int, mask: Iterable[int]) -> None:
        """Run the worker in this (child) process; never returns."""
        status = 1
        try:
            signal.set_wakeup_fd(-1)
            if self.wake_fds is not None:
                for fd in self.wake_fds:
                    os.close(fd)
            for signum, handler in self.previous.items():
                signal.signal(signum, _usable(handler))
            os.setpgid(0, 0)
            if signal.SIGINT in signal.sigpending():
                # Sent to the parent's process group before this child left
                # it: the parent passes it on as SIGTERM, so drop this copy.
                restored = signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGINT, _usable(restored))
            if _die_with_parent(self.parent_pid):
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                status = _run(self.worker, tid)
        finally:
            _flush_output()
            os._exit(status)


def _usable(handler: _Handler) -> _Handler:
    # signal.signal() returns None for a handler not set from Python.
    return signal.SIG_DFL if handler is None else handler


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _die_with_parent(parent_pid: int) -> bool:
    """Ask for SIGTERM when the parent dies; False if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
            gen_log.warning(
                "prctl(PR_SET_PDEATHSIG) failed: %s",
                os.strerror(ctypes.get_errno()),
            )
    # A parent that died before the request above was made cannot be
    # reported by it; the child was then handed to another process.
    return os.getppid() == parent_pid


def _run(worker: Callable[[int], int | None], tid: int) -> int:
    """Call the worker and turn how it ended into an exit status."""
    try:
        result = worker(tid)
    except SystemExit as e:
        if e.code is None:
            return 0
        if isinstance(e.code, int):
            return e.code if 0 <= e.code <= 255 else 1
        print(e.code, file=sys.stderr)
        return 1
    except BaseException:
        gen_log.exception(
            "Worker %d (pid %d) raised; its process exits with status 1",
            tid,
            os.getpid(),
        )
        return 1
    if result is None:
        return 0
    if isinstance(result, int) and 0 <= result <= 255:
        return result
    return 1


def _flush_output() -> None:
    # os._exit skips the interpreter's shutdown, which would flush these.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
