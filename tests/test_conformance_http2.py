"""Tornado's web_test and httpserver_test on tornado_compat over HTTP/2.

One test per module of ``tests/conformance/http2_expectations.toml``: the
module runs with each ``AsyncHTTPTestCase``'s server on ``http2=True`` and
its client forced onto HTTP/2 (``python -m tests.conformance --http2`` gives
the table), and must show exactly the listed outcomes.  The other tests
here check the verdict itself on made-up results.  This file must never
weaken the runner's verdict: it asserts exactly what the runner decides.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conformance import run

SPECS = run.load_http2_expectations()
TIME_LIMIT = 300.0

pytest.importorskip("pycurl")
pytest.importorskip("h2")


@pytest.mark.conformance
@pytest.mark.timeout(TIME_LIMIT + 60)
@pytest.mark.parametrize("module", list(SPECS), ids=run.short_name)
def test_module_over_http2_meets_expectations(module: str) -> None:
    compat = run.run_side(module, compat=True, time_limit=TIME_LIMIT, http2=True)
    report = run.evaluate_http2(module, SPECS[module], compat)
    if not report.ok:
        pytest.fail(
            f"{run.short_name(module)} over HTTP/2: "
            f"{run.format_http2_table([report], SPECS)}\n"
            + run.format_details([report], verbose=True),
            pytrace=False,
        )


def side(outcomes: dict[str, str], versions: dict[str, int]) -> run.SideResult:
    result = run.SideResult(side=run.COMPAT, module="m")
    result.outcomes = {t: run.Outcome(t, o) for t, o in outcomes.items()}
    result.summary = {
        "http2_versions": versions,
        "log_counts": {},
        "stderr_bytes": 0,
    }
    return result


SPEC = run.Http2Module(
    "m",
    passed=1,
    skipped=1,
    expected={
        "m.T.test_reason": run.Expectation(
            "m.T.test_reason", "failed", "not applicable", "no reason phrase"
        )
    },
)
AS_LISTED = {"m.T.test_a": "passed", "m.T.test_reason": "failed", "m.T.s": "skipped"}


def test_the_listed_outcomes_are_ok() -> None:
    assert run.evaluate_http2("m", SPEC, side(AS_LISTED, {"HTTP/2.0": 3})).ok


@pytest.mark.parametrize(
    "change",
    [
        {"m.T.test_reason": "passed"},  # fixed: the list must say so
        {"m.T.test_reason": "error"},
        {"m.T.test_a": "failed"},  # not listed
        {"m.T.s": "passed"},  # one skip fewer
    ],
)
def test_a_changed_outcome_fails(change: dict[str, str]) -> None:
    report = run.evaluate_http2("m", SPEC, side(AS_LISTED | change, {"HTTP/2.0": 3}))
    assert not report.ok


@pytest.mark.parametrize("versions", [{}, {"none": 2}, {"HTTP/2.0": 3, "HTTP/1.1": 1}])
def test_a_run_not_on_http2_fails(versions: dict[str, int]) -> None:
    report = run.evaluate_http2("m", SPEC, side(AS_LISTED, versions))
    assert any("HTTP/2" in reason for reason in report.reasons)


def test_command_line_http2_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The sample module's tests make no HTTP request, so with every failure
    # listed the run still fails: nothing came over HTTP/2.
    samples = "tests.conformance.samples"
    listed = {
        "Outcomes.test_fails": "failed",
        "Outcomes.test_errors": "error",
        "Outcomes.test_skipped": "skipped",
        "Outcomes.test_subtest_fails": "failed",
    }
    entries = "".join(
        f'[[modules."{samples}".expected]]\ntest = "{samples}.{test}"\n'
        f'outcome = "{outcome}"\nkind = "not applicable"\nreason = "sample"\n'
        for test, outcome in listed.items()
    )
    expectations = tmp_path / "http2.toml"
    expectations.write_text(
        f'[modules."{samples}"]\npassed = 3\nskipped = 2\n' + entries
    )
    status = run.main(
        [samples, "--http2", "--expectations", str(expectations), "--json"]
    )
    (module,) = json.loads(capsys.readouterr().out)["modules"]
    assert status == 1
    assert module["tornado"] is None
    assert module["regressions"] == []
    assert "no response came over HTTP/2" in module["reasons"]
    assert module["tornado_compat"]["counts"] == {
        "passed": 3,
        "failed": 2,
        "errors": 1,
        "skipped": 2,
    }
