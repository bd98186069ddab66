"""Tornado's own tests on tornado_compat, against the recorded targets.

One test per module of ``tests/conformance/targets.toml``, so the pytest
summary names the module that falls short.  Only the tornado_compat side runs
here (the targets stand in for the baseline); ``python -m tests.conformance``
gives the side-by-side table.  This file must never weaken the runner's
verdict: it asserts exactly what the runner decides.
"""

from __future__ import annotations

import pytest

from tests.conformance import run

TARGETS = run.load_targets()
TIME_LIMIT = 300.0


@pytest.mark.conformance
@pytest.mark.timeout(TIME_LIMIT + 60)
@pytest.mark.parametrize("module", list(TARGETS), ids=run.short_name)
def test_module_meets_target(module: str) -> None:
    compat = run.run_side(module, compat=True, time_limit=TIME_LIMIT)
    report = run.evaluate(module, TARGETS[module], None, compat)
    if not report.ok:
        pytest.fail(
            f"{run.short_name(module)}: {run.format_table([report])}\n"
            + run.format_details([report], verbose=True),
            pytrace=False,
        )
