"""``serve --loop`` and the logs: which event loop runs the application, and
what reaches stderr, in tornado.log's format."""

from __future__ import annotations

import re

import pytest

from tests.serve.support import TARGETS, get, serve, stop

pytest.importorskip("uvloop")

ACCESS_LINE = re.compile(
    r"^\[I \d{6} \d\d:\d\d:\d\d web:\d+\] 200 GET /\?q=1 \(127\.0\.0\.1\) \d+\.\d\dms$"
)


@pytest.mark.parametrize(
    ("choice", "loop"),
    [
        ("auto", "uvloop.Loop"),
        ("uvloop", "uvloop.Loop"),
        ("asyncio", "asyncio.unix_events._UnixSelectorEventLoop"),
    ],
)
def test_loop(choice: str, loop: str) -> None:
    with serve("--loop", choice) as server:
        assert get(server.port, "/loop") == (200, f"{loop}\n".encode())
        status, _, err = stop(server)
    assert status == 0, err


def test_the_access_log_is_tornados() -> None:
    with serve() as server:
        get(server.port, "/?q=1")
        get(server.port, "/nope")
        status, _, err = stop(server)
    assert status == 0, err
    lines = err.splitlines()
    assert any(ACCESS_LINE.match(line) for line in lines), err
    assert any(
        line.startswith("[W ") and "404 GET /nope (127.0.0.1)" in line for line in lines
    ), err


def test_no_access_log() -> None:
    with serve("--no-access-log") as server:
        assert get(server.port, "/")[0] == 200
        assert get(server.port, "/nope")[0] == 404
        status, _, err = stop(server)
    assert status == 0, err
    assert err == ""


def test_log_level_warning_keeps_only_warnings_and_errors() -> None:
    with serve("--log-level", "warning") as server:
        get(server.port, "/")
        get(server.port, "/nope")
        status, _, err = stop(server)
    assert status == 0, err
    assert "GET / " not in err
    assert "404 GET /nope" in err


def test_log_level_debug() -> None:
    with serve("--log-level", "debug", "--loop", "asyncio") as server:
        get(server.port, "/")
        status, _, err = stop(server)
    assert status == 0, err
    # asyncio says which selector it uses at DEBUG.
    assert re.search(
        r"^\[D \d{6} [\d:]{8} selector_events:\d+\] Using selector", err, re.M
    ), err


def test_a_raw_callback_has_no_access_line() -> None:
    with serve(target=f"{TARGETS}:handle") as server:
        assert get(server.port, "/") == (200, b"raw callback\n")
        status, _, err = stop(server)
    assert status == 0, err
    assert err == ""
