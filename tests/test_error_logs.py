"""The conftest hook that fails a test which logs an unexpected ERROR."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    return pytester


def test_error_log_fails_the_test(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import logging, threading

        def test_quiet():
            logging.getLogger("x").warning("only a warning")

        def test_logs_error():
            logging.getLogger("some.module").error("boom %d", 42)

        def test_logs_from_thread():
            t = threading.Thread(target=lambda: logging.getLogger("t").critical("c"))
            t.start()
            t.join()
        """
    )
    result = inner.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*ERROR some.module: boom 42*", "*CRITICAL t: c*"])


def test_marker_allows_error_logs(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import logging, pytest

        @pytest.mark.allow_error_logs
        def test_expected():
            logging.getLogger("x").error("expected")
        """
    )
    inner.runpytest_subprocess("--strict-markers").assert_outcomes(passed=1)


def test_error_in_fixture_teardown_fails(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import logging, pytest

        @pytest.fixture
        def noisy():
            yield
            logging.getLogger("x").error("in teardown")

        def test_uses_noisy(noisy):
            pass

        def test_next_is_not_blamed():
            pass
        """
    )
    result = inner.runpytest_subprocess()
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*during teardown*", "*ERROR x: in teardown*"])


def test_failing_test_keeps_its_own_report(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import logging

        def test_fails():
            logging.getLogger("x").error("and logs")
            assert 1 == 2
        """
    )
    result = inner.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 1 == 2*"])
