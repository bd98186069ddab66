"""Project-wide pytest hooks: a test that logs an unexpected ERROR fails.

Tornado's own runner fails a run that logs anything unexpected; we keep the
part that matters most.  A record at ERROR or above emitted while a test runs
(setup, call or teardown, from any thread) turns that phase's report into a
failure that lists the records.  A test that expects such records opts out with
``@pytest.mark.allow_error_logs``.

This file must never hide a record: it only adds a handler to the root logger,
so pytest's own log capture and ``caplog`` see everything as usual.

It also refuses to start a run against compiled modules older than their
sources (an editable install whose sources changed since the build): those
would test the old code.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

# pytester lets tests/test_error_logs.py check these hooks in a separate run.
pytest_plugins = ["pytester"]

ALLOW_MARKER = "allow_error_logs"


class _ErrorRecords(logging.Handler):
    """Collects records at ERROR or above until the current phase is checked."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self._records: list[logging.LogRecord] = []
        # Records arrive from the loop's thread, executor threads and the test.
        self._records_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._records_lock:
            self._records.append(record)

    def take(self) -> list[logging.LogRecord]:
        with self._records_lock:
            records, self._records = self._records, []
        return records


_handler = _ErrorRecords()


def pytest_configure(config: pytest.Config) -> None:
    # Registered here as well as in pyproject.toml, so that a run of this
    # conftest without the project's configuration (pytester) knows it too.
    config.addinivalue_line(
        "markers",
        f"{ALLOW_MARKER}: the test expects records at ERROR or above",
    )
    logging.getLogger().addHandler(_handler)


def pytest_sessionstart(session: pytest.Session) -> None:
    package = Path(__file__).resolve().parent.parent / "tornado_compat"
    built = [
        path for suffix in EXTENSION_SUFFIXES for path in package.rglob("*" + suffix)
    ]
    if not built:
        return
    oldest = min(path.stat().st_mtime for path in built)
    # Each compiled module's source sits next to it, under the same name.
    sources = {path.parent / (path.name.split(".")[0] + ".py") for path in built}
    newer = [
        str(source.relative_to(package))
        for source in sources
        if source.exists() and source.stat().st_mtime > oldest
    ]
    if newer:
        pytest.exit(
            "the compiled modules are older than these sources: "
            + ", ".join(sorted(newer))
            + "; rebuild them with `python -m pip install -e .`",
            returncode=4,
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    logging.getLogger().removeHandler(_handler)


def _describe(record: logging.LogRecord) -> str:
    text = f"{record.levelname} {record.name}: {record.getMessage()}"
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        text += f" [{type(exc).__name__}: {exc}]"
    return text


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    # Whatever was logged between tests belongs to no test; drop it so that
    # it is not blamed on the next one.
    _handler.take()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    records = _handler.take()
    if not records or item.get_closest_marker(ALLOW_MARKER) is not None:
        return
    if report.failed or report.skipped:
        # The test already fails (or never ran); keep its own report, which is
        # more useful, and show the records next to it.
        report.sections.append(
            ("unexpected ERROR log records", "\n".join(map(_describe, records)))
        )
        return
    report.outcome = "failed"
    report.longrepr = (
        f"{len(records)} unexpected log record(s) at ERROR or above during "
        f"{report.when} (mark the test with @pytest.mark.{ALLOW_MARKER} if they "
        "are expected):\n" + "\n".join("  " + _describe(r) for r in records)
    )
