"""Tests of the protocol core, on byte strings; and the linear-time check.

:func:`assert_linear_time` lives here because the core's tests and
``tests/test_httputil.py`` both use it.  It compares the CPU time of two input
sizes and never looks at the wall clock, so a busy machine slows both sizes
alike instead of failing the test.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

# Each measurement repeats the call until it has run at least this long, so
# that the clock's resolution and one-off costs do not dominate.
_MIN_MEASUREMENT = 0.02


def _cost(func: Callable[[int], object], n: int, repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        func(n)
    return (time.process_time() - start) / repeat


def assert_linear_time(
    func: Callable[[int], object],
    small: int,
    large: int,
    *,
    max_ratio: float | None = None,
    rounds: int = 5,
    attempts: int = 3,
) -> None:
    """Fail if ``func(large)`` costs far more than ``large / small`` times
    ``func(small)``.

    The default ``max_ratio`` is two and a half times the size ratio: a
    linear function stays well under it, a quadratic one lands at about the
    square of the size ratio.  The two sizes are measured alternately, the
    cheapest of ``rounds`` runs counts (interference only ever adds time),
    the garbage collector is paused while measuring, and a failure is
    retried ``attempts`` times before it is reported.
    """
    if max_ratio is None:
        max_ratio = 2.5 * large / small
    func(small)  # warm up caches and lazy imports
    start = time.process_time()
    func(small)
    once = max(time.process_time() - start, 1e-6)
    repeat_small = max(1, int(_MIN_MEASUREMENT / once))
    repeat_large = max(1, int(repeat_small * small / large))
    ratios = []
    for _ in range(attempts):
        best_small = best_large = float("inf")
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            for _ in range(rounds):
                best_small = min(best_small, _cost(func, small, repeat_small))
                best_large = min(best_large, _cost(func, large, repeat_large))
        finally:
            if gc_was_enabled:
                gc.enable()
        ratio = best_large / max(best_small, 1e-9)
        if ratio <= max_ratio:
            return
        ratios.append(ratio)
    raise AssertionError(
        f"not linear: n={large} costs {ratios} times n={small} "
        f"(limit {max_ratio:.1f}, size ratio {large / small:.1f})"
    )
