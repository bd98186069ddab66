"""dugong's own tests on tornado_compat.httpclient.connection, against the target.

Runs the tornado_compat side of ``python -m tests.dugong_suite`` (fetching
dugong's sdist from PyPI, or from the cache) and asserts exactly the
runner's verdict; the recorded dugong run stands in for running dugong
itself, which takes about nine minutes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dugong_suite import run


@pytest.mark.conformance
@pytest.mark.timeout(run.TIME_LIMIT + 120)
def test_dugong_suite_meets_target() -> None:
    reference = run.load_reference()
    ours = run.run_side(original=False)
    verdict = run.evaluate(reference, ours)
    if not verdict.ok:
        pytest.fail(run.format_table(reference, ours, verdict), pytrace=False)


def test_harness_errors_need_the_evidence() -> None:
    traceback = (
        "----------------------------------------\n"
        "Exception occurred during processing of request from ('127.0.0.1', 1)\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in write\n'
        "ssl.SSLEOFError: EOF occurred in violation of protocol (_ssl.c:2427)\n"
        "----------------------------------------\n"
    )
    message = 'Failed: Suspicious output to stderr (matched "Exception")'
    assert run.harness_error(message, traceback)
    # Another failure of the same test is not the harness's.
    assert not run.harness_error("AssertionError: assert 0 > 0", traceback)
    # So is one whose write met a clean TLS close (close_notify read first).
    zero = traceback.replace(
        "ssl.SSLEOFError: EOF occurred in violation of protocol",
        "ssl.SSLZeroReturnError: TLS/SSL connection has been closed (EOF)",
    )
    assert run.harness_error(message, zero)
    # A traceback of the mock server that ends otherwise is not the harness's.
    other = traceback.replace("ssl.SSLEOFError", "ValueError")
    assert not run.harness_error(message, other)
    assert not run.harness_error(message, traceback.replace("EOFError", "Error"))
    # Nor is anything else in stderr besides the mock server's tracebacks.
    assert not run.harness_error(message, traceback + "Traceback: elsewhere\n")
    assert not run.harness_error(message, "")
    # The capture may cut the next report after its first line.
    unfinished = (
        "-------------------\nException occurred during processing of request from"
    )
    assert run.harness_error(message, traceback + unfinished)
    # But not in the middle of stderr, nor on its own.
    assert not run.harness_error(message, unfinished + "\n" + traceback)
    assert not run.harness_error(message, unfinished)


def checker_failure_report(tmp_path: Path, stderr: str) -> Path:
    """A JUnit report of dugong's test_abort_write[ssl] failed at teardown by
    its output checker, with ``stderr`` captured."""
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite><testcase classname="test.test_dugong" '
        'name="test_abort_write[ssl]"><error message="failed on teardown with '
        "&quot;Failed: Suspicious output to stderr (matched &quot;Exception&quot;)"
        '&quot;">Traceback (most recent call last): pytest internals</error>'
        f"<system-err>{stderr}</system-err>"
        "</testcase></testsuite></testsuites>"
    )
    return report


def test_a_checker_failure_that_is_not_the_harness_shows_the_stderr(
    tmp_path,
) -> None:
    report = checker_failure_report(
        tmp_path,
        "Exception occurred during processing of request\n"
        "BrokenPipeError: [Errno 32] Broken pipe\n",
    )
    side = run.SideResult("ours")
    run._read_junit(report, side)
    test_id = "test_dugong.py::test_abort_write[ssl]"
    assert side.outcomes[test_id] == run.ERROR
    assert side.messages[test_id].endswith("BrokenPipeError: [Errno 32] Broken pipe")
    assert "pytest internals" not in side.messages[test_id]
    # The verdict quotes it, whether dugong passes the test or not.
    for reference in (run.PASSED, run.ERROR):
        verdict = run.evaluate({test_id: reference}, side)
        assert "BrokenPipeError" in verdict.problems[0]


def test_a_report_cut_before_its_exception_is_run_again(tmp_path) -> None:
    message = 'Failed: Suspicious output to stderr (matched "Exception")'
    cut = (
        "----------------------------------------\n"
        "Exception occurred during processing of request from ('127.0.0.1', 1)\n"
    )
    assert run.cut_report(message, cut)
    assert run.cut_report(message, cut + "Traceback (most recent call last):\n")
    # Not for another failure, nor when stderr says more than the cut report.
    assert not run.cut_report("AssertionError: assert 0 > 0", cut)
    assert not run.cut_report(message, "ValueError: bad\n" + cut)
    assert not run.cut_report(message, "")
    # A whole report is evidence, for harness_error to weigh, not a cut one.
    whole = cut + (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in write\n'
        "ValueError: bad\n"
        "----------------------------------------\n"
    )
    assert not run.cut_report(message, whole)
    assert not run.cut_report(message, whole + cut)
    report = checker_failure_report(tmp_path, cut)
    side = run.SideResult("ours")
    test_id = "test_dugong.py::test_abort_write[ssl]"
    # The run is reported as cut (for run_side to run it once more), and
    # counts as failed until that second run records its own outcome.
    assert run._read_junit(report, side) == [test_id]
    assert side.outcomes[test_id] == run.ERROR
    assert "mock-server report" in side.messages[test_id]
