"""Fixtures of the stream suite: the event loop and the kind of stream.

Every test in this package runs once per event loop (``harness``, asyncio's
default loop and uvloop).  A test that takes ``kind`` also runs once per
stream kind; ``@pytest.mark.needs("duplex", ...)`` limits it to the kinds
that have those capabilities (see ``support.StreamKind``), so that a pipe is
not asked to carry data both ways.

``async def`` tests are run by :func:`pytest_pyfunc_call` below on the
harness's loop; they must take the ``harness`` fixture.

Records at ERROR are already turned into failures by ``tests/conftest.py``;
nothing here repeats that.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Iterator

import pytest

from tests.streams.support import LOOP_KINDS, STREAM_KINDS, Harness


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs(*capabilities): run only on stream kinds with these capabilities",
    )
    config.addinivalue_line(
        "markers",
        "known_bug(reason, kinds=None, loops=None): a bug in tornado_compat that "
        "the test shows; it is expected to fail (strictly) on those kinds/loops",
    )


@pytest.fixture(scope="session", autouse=True)
def _small_heap_for_gc() -> Iterator[None]:
    # Each test ends with a full garbage collection (see Harness), so that a
    # future nobody looked at reports it inside that test.  Freezing what
    # exists by now (pytest, the collected tests, imported modules; none of
    # it garbage) keeps those collections from scanning it again every time.
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(params=LOOP_KINDS)
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return Harness(request.param)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kind" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("needs")
    needs = set(marker.args) if marker is not None else set()
    kinds = [k for k in STREAM_KINDS if needs <= k.capabilities]
    metafunc.parametrize("kind", kinds, ids=[k.name for k in kinds])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A known bug turns into a strict xfail only where it shows, so that the
    # other kinds and loops keep testing the same promise.
    for item in items:
        marker = item.get_closest_marker("known_bug")
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None:
            continue
        kinds = marker.kwargs.get("kinds")
        loops = marker.kwargs.get("loops")
        kind = callspec.params.get("kind")
        loop = callspec.params.get("harness")
        if kinds is not None and getattr(kind, "name", None) not in kinds:
            continue
        if loops is not None and loop not in loops:
            continue
        item.add_marker(pytest.mark.xfail(strict=True, reason=marker.args[0]))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    test = pyfuncitem.obj
    if not inspect.iscoroutinefunction(test):
        return None
    harness = pyfuncitem.funcargs.get("harness")
    if not isinstance(harness, Harness):
        pytest.fail("an async test in tests/streams must take the harness fixture")
    names = inspect.signature(test).parameters
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    harness.run(lambda: test(**kwargs))
    return True
