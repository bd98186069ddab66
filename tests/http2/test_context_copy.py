"""Each HTTP/2 stream's request context is its own shallow copy of the
connection's (``xheaders`` rewrites it per request), made without
``copy.copy`` for a plain object and with it for anything else."""

from __future__ import annotations

import collections
import copy

import pytest

pytest.importorskip("h2")

from tornado_compat.http2.connection import _copy_context  # noqa: E402


class Plain:
    def __init__(self) -> None:
        self.remote_ip = "10.0.0.1"
        self.protocol = "http"


class Slotted:
    __slots__ = ("remote_ip",)

    def __init__(self) -> None:
        self.remote_ip = "10.0.0.1"


class OwnCopy(Plain):
    def __copy__(self) -> OwnCopy:
        duplicate = OwnCopy()
        duplicate.protocol = "copied"
        return duplicate


def test_a_plain_context_is_copied_shallowly() -> None:
    original = Plain()
    duplicate = _copy_context(original)
    assert type(duplicate) is Plain and duplicate is not original
    assert vars(duplicate) == vars(original)
    duplicate.remote_ip = "192.0.2.1"
    assert original.remote_ip == "10.0.0.1"


@pytest.mark.parametrize(
    "context",
    [Slotted(), OwnCopy(), collections.OrderedDict(a=1), "text"],
    ids=["slots", "__copy__", "OrderedDict", "str"],
)
def test_anything_else_is_copied_as_copy_copy_does(context: object) -> None:
    duplicate = _copy_context(context)
    expected = copy.copy(context)
    assert type(duplicate) is type(expected)
    if isinstance(context, Slotted):
        assert duplicate.remote_ip == "10.0.0.1"
    elif isinstance(context, OwnCopy):
        assert duplicate.protocol == "copied"
    else:
        assert duplicate == expected


def test_no_context_stays_none() -> None:
    assert _copy_context(None) is None
