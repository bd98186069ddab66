"""Runs one ``tornado.test`` module in this process and records every outcome.

The conformance runner (:mod:`tests.conformance.run`) starts this as a
subprocess, once on unmodified Tornado and once with tornado_compat installed
by ``install_hook/sitecustomize.py``.  It runs the module through Tornado's own
runner, ``tornado.test.runtests.main``, so the warning filters, the options it
defines, the log configuration and the access-log level are exactly Tornado's.
Only the unittest result class is ours: it writes one JSON line per event to
the results file, so a run that is killed at its time limit still leaves what
it had done, including the test it was stuck in.

Lines written (``event`` field):

- ``start``: ``{"test"}``, a test began;
- ``result``: ``{"test", "outcome", "detail"}`` with outcome one of
  ``passed``, ``failed``, ``error``, ``skipped``; ``abstract`` is true for the
  skips of Tornado's abstract base test classes; with ``--http2``,
  ``http2_responses`` counts the HTTP/2 responses the test's client got;
- ``log``: ``{"test", "level", "logger", "message"}`` for each record at INFO
  or above that reached the root handler (Tornado's runner counts these as
  a failure of the whole run);
- ``summary``: the modules actually in use, the log and stderr counts, the
  exit status of Tornado's runner.

This module must never change what a test sees: it patches nothing that the
tests use (except, with ``--http2``, the two hooks of
``AsyncHTTPTestCase`` that :mod:`tests.conformance.http2_mode` forces onto
HTTP/2), and it checks, instead of assuming, which implementation is loaded.
"""

from __future__ import annotations

import argparse
import faulthandler
import io
import json
import logging
import os
import sys
import traceback
import unittest
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType]

#: The Tornado modules whose origin is reported in the summary.
_WATCHED = (
    "tornado.iostream",
    "tornado.netutil",
    "tornado.tcpserver",
    "tornado.tcpclient",
    "tornado.httputil",
    "tornado.http1connection",
    "tornado.httpserver",
    "tornado.httpclient",
    "tornado.simple_httpclient",
    "tornado.curl_httpclient",
)

_OUTCOME_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}


class _Recorder:
    """Writes the JSON lines; one per call, flushed, so nothing is lost on kill."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self.current_test: str | None = None
        self.log_counts = {"info": 0, "warning": 0, "error": 0}
        # Set when the tests are over: Tornado's runner then logs its own
        # verdict, which is not the tests' output.
        self.finished = False

    def write(self, **fields: Any) -> None:
        self._out.write(json.dumps(fields) + "\n")
        self._out.flush()


class _LogTap(logging.Filter):
    """Sees every record that reaches the root handler, as Tornado's runner does."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__()
        self._recorder = recorder

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO and not self._recorder.finished:
            if record.levelno >= logging.ERROR:
                key = "error"
            elif record.levelno >= logging.WARNING:
                key = "warning"
            else:
                key = "info"
            self._recorder.log_counts[key] += 1
            message = record.getMessage()
            if record.exc_info and record.exc_info[0] is not None:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info))
            self._recorder.write(
                event="log",
                test=self._recorder.current_test,
                level=record.levelname,
                logger=record.name,
                message=message[:4000],
            )
        return True


class _CountingStream(io.TextIOBase):
    """Counts what the code under test writes to stderr, then passes it on."""

    def __init__(self, real: IO[str], recorder: _Recorder) -> None:
        self.real = real
        self.byte_count = 0
        self._recorder = recorder

    def write(self, data: str) -> int:
        if not self._recorder.finished:
            self.byte_count += len(data)
        return self.real.write(data)

    def flush(self) -> None:
        self.real.flush()


def _make_runner_factory(
    recorder: _Recorder,
    abstract_reason: str,
    http2_responses: Callable[[], int] | None = None,
) -> Any:
    """Builds the ``test_runner_factory`` that Tornado's runtests calls.

    With ``http2_responses`` (a count of the responses the forced HTTP/2
    clients got so far), each result says how many came during its test.
    """

    class RecordingResult(unittest.TextTestResult):
        # The outcome of the test between startTest and stopTest; subtests can
        # report several times, and the worst report wins.
        _pending: dict[str, tuple[str, str]]

        def startTest(self, test: unittest.TestCase) -> None:
            self._pending = {}
            if http2_responses is not None:
                self._responses_before = http2_responses()
            recorder.current_test = test.id()
            recorder.write(event="start", test=test.id())
            super().startTest(test)

        def stopTest(self, test: unittest.TestCase) -> None:
            super().stopTest(test)
            outcome, detail = self._pending.pop(test.id(), ("passed", ""))
            extra = {}
            if http2_responses is not None:
                extra["http2_responses"] = http2_responses() - self._responses_before
            recorder.write(
                event="result", test=test.id(), outcome=outcome, detail=detail, **extra
            )
            recorder.current_test = None

        def _note(
            self, test: unittest.TestCase, outcome: str, detail: str, **extra: Any
        ) -> None:
            if recorder.current_test == test.id():
                old = self._pending.get(test.id())
                if old is None or _OUTCOME_RANK[outcome] > _OUTCOME_RANK[old[0]]:
                    self._pending[test.id()] = (outcome, detail)
            else:
                # Class- and module-level fixtures fail or skip outside any test
                # (unittest hands us an _ErrorHolder); record them at once.
                recorder.write(
                    event="result",
                    test=test.id(),
                    outcome=outcome,
                    detail=detail,
                    **extra,
                )

        def _format(self, err: _ExcInfo, test: unittest.TestCase) -> str:
            return self._exc_info_to_string(err, test)  # type: ignore[attr-defined,no-any-return]

        def addSuccess(self, test: unittest.TestCase) -> None:
            super().addSuccess(test)
            self._note(test, "passed", "")

        def addFailure(self, test: unittest.TestCase, err: Any) -> None:
            super().addFailure(test, err)
            self._note(test, "failed", self._format(err, test))

        def addError(self, test: unittest.TestCase, err: Any) -> None:
            super().addError(test, err)
            self._note(test, "error", self._format(err, test))

        def addSkip(self, test: unittest.TestCase, reason: str) -> None:
            super().addSkip(test, reason)
            self._note(test, "skipped", reason, abstract=(reason == abstract_reason))

        def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:
            super().addExpectedFailure(test, err)
            self._note(test, "passed", "expected failure")

        def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
            super().addUnexpectedSuccess(test)
            self._note(test, "failed", "unexpected success")

        def addSubTest(
            self, test: unittest.TestCase, subtest: unittest.TestCase, err: Any
        ) -> None:
            super().addSubTest(test, subtest, err)
            if err is not None:
                failed = issubclass(err[0], test.failureException)
                self._note(
                    test,
                    "failed" if failed else "error",
                    f"{subtest.id()}\n{self._format(err, test)}",
                )

    class RecordingRunner(unittest.TextTestRunner):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # Progress dots are not wanted: the results file has everything.
            kwargs["stream"] = io.StringIO()
            kwargs["resultclass"] = RecordingResult
            super().__init__(*args, **kwargs)

        def run(self, test: Any) -> unittest.TestResult:
            try:
                return super().run(test)
            finally:
                recorder.finished = True

    def factory(stderr: object) -> type[unittest.TextTestRunner]:
        return RecordingRunner

    return factory


def _loaded_modules() -> dict[str, str]:
    return {
        name: getattr(sys.modules[name], "__name__", "?")
        for name in _WATCHED
        if name in sys.modules
    }


def _check_implementation(expect_compat: bool) -> str | None:
    """Says what is wrong with the loaded implementation, or None if it is right."""
    wanted = os.environ.get("TORNADO_COMPAT_INSTALL", "")
    if not expect_compat:
        if wanted or "tornado_compat" in sys.modules:
            return "the baseline run has tornado_compat loaded"
        return None
    if not wanted:
        return "TORNADO_COMPAT_INSTALL is not set; the install hook did not run"
    from tornado_compat.dropin import MODULE_MAP, installed

    if wanted == "1":
        rows = list(MODULE_MAP)
    else:
        names = set(wanted.split(","))
        rows = [r for r in MODULE_MAP if r.tornado_name in names]
    served = installed()
    for row in rows:
        # install() imports nothing: a row is right if the hook serves it and,
        # when something already imported it, the module is ours.
        module = sys.modules.get(row.tornado_name)
        if served.get(row.tornado_name) != row.compat_name or (
            module is not None and module.__name__ != row.compat_name
        ):
            return f"{row.tornado_name} is not served by {row.compat_name}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "module", help="a tornado.test module, e.g. tornado.test.iostream_test"
    )
    parser.add_argument("--results", required=True, help="JSON-lines file to write")
    parser.add_argument("--compat", action="store_true", help="expect tornado_compat")
    parser.add_argument(
        "--http2",
        action="store_true",
        help="serve and fetch over HTTP/2 (tornado_compat only)",
    )
    parser.add_argument(
        "--dump-after",
        type=float,
        default=0,
        help="dump every thread's stack to stderr after this many seconds",
    )
    args = parser.parse_args(argv)

    with open(args.results, "w", encoding="utf-8") as out:
        recorder = _Recorder(out)
        problem = _check_implementation(args.compat)
        if problem is not None:
            recorder.write(
                event="summary", setup_error=problem, modules=_loaded_modules()
            )
            return 3
        http2_mode = None
        if args.http2:
            if not args.compat:
                recorder.write(
                    event="summary",
                    setup_error="--http2 needs --compat",
                    modules=_loaded_modules(),
                )
                return 3
            from tests.conformance import http2_mode

            http2_mode.force_http2()
        if args.dump_after > 0:
            # Shows where a run that hit its time limit was stuck.
            faulthandler.dump_traceback_later(args.dump_after, exit=False)

        import tornado.options
        import tornado.test.runtests as runtests
        from tornado.test.util import ABT_SKIP_MESSAGE

        counter = None
        if http2_mode is not None:
            versions = http2_mode.versions
            counter = lambda: versions["HTTP/2.0"]  # noqa: E731
        runtests.test_runner_factory = _make_runner_factory(  # type: ignore[attr-defined]
            recorder, ABT_SKIP_MESSAGE, counter
        )
        tap = _LogTap(recorder)
        # Tornado's runner counts what reaches the root handler that
        # tornado.options sets up on parse; look at the same handler.
        tornado.options.add_parse_callback(
            lambda: logging.getLogger().handlers[0].addFilter(tap)
        )
        counting = _CountingStream(sys.stderr, recorder)
        sys.stderr = counting  # type: ignore[assignment]
        sys.argv = ["tornado.test.runtests", args.module]
        status: int | str | None = 0
        try:
            runtests.main()
        except SystemExit as exc:
            status = exc.code
        finally:
            sys.stderr = counting.real
            faulthandler.cancel_dump_traceback_later()
        recorder.write(
            event="summary",
            modules=_loaded_modules(),
            log_counts=recorder.log_counts,
            stderr_bytes=counting.byte_count,
            runner_status=status,
            **(
                {"http2_versions": dict(http2_mode.versions)}
                if http2_mode is not None
                else {}
            ),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
