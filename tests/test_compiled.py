"""The compiled build: setup.py's modules run compiled, and the same sources
still pass as pure Python.

A build with a C compiler compiles the modules setup.py lists with mypyc;
``TORNADO_COMPAT_COMPILE=0`` at build time or ``TORNADO_COMPAT_PURE`` at
run time gives pure Python (docs/architecture.md, "Compiled modules").
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import tornado_compat

ROOT = Path(__file__).resolve().parent.parent


def _listed_in_setup_py() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [
            t.id for t in node.targets if isinstance(t, ast.Name)
        ] == ["COMPILED"]:
            paths = ast.literal_eval(node.value)
            return [p.removesuffix(".py").replace("/", ".") for p in paths]
    raise AssertionError("setup.py has no COMPILED list")


def _pure_wanted() -> bool:
    return (
        os.environ.get("TORNADO_COMPAT_COMPILE") == "0"
        or os.environ.get("TORNADO_COMPAT_PURE", "0") != "0"
    )


def _run(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_modules_setup_py_lists_run_compiled() -> None:
    names = _listed_in_setup_py()
    assert "tornado_compat.http1connection" in names
    for name in names:
        importlib.import_module(name)
    if _pure_wanted():
        assert tornado_compat.compiled_modules() == []
    else:
        # A build that fell back to pure Python says why in pip's output;
        # TORNADO_COMPAT_COMPILE=0 is how to test a pure build on purpose.
        assert set(names) <= set(tornado_compat.compiled_modules()), (
            "the build did not compile these modules (no C compiler?)"
        )


def test_the_pure_switch_loads_every_module_from_source() -> None:
    out = _run(
        "import tornado_compat, tornado_compat.httpserver,"
        " tornado_compat.httpclient.simple, tornado_compat.http1connection as c;"
        " print(tornado_compat.compiled_modules(), c.__file__)",
        TORNADO_COMPAT_PURE="1",
    )
    assert out.split() == ["[]", str(ROOT / "tornado_compat" / "http1connection.py")]


# The pure-Python run of tests/protocol, tests/server and tests/client
# (5,000 tests, about 2 min here), in seconds; pytest-timeout's default of
# 120 s is for a single test, not for a whole suite run in a subprocess.
PURE_RUN_LIMIT = 1200


@pytest.mark.timeout(PURE_RUN_LIMIT + 60)
def test_the_pure_modules_pass_the_protocol_server_and_client_tests() -> None:
    if not tornado_compat.compiled_modules():
        importlib.import_module("tornado_compat.http1connection")
    if not tornado_compat.compiled_modules():
        pytest.skip("this whole run is pure Python already")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "tests/protocol",
            "tests/server",
            "tests/client",
        ],
        cwd=ROOT,
        env={**os.environ, "TORNADO_COMPAT_PURE": "1"},
        capture_output=True,
        text=True,
        timeout=PURE_RUN_LIMIT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_python_subclasses_of_the_compiled_classes_override_their_methods() -> None:
    # As users extend Tornado's classes: the compiled code must call the
    # subclass's methods, not its own.
    from tornado_compat import httputil, iostream
    from tornado_compat.http1connection import (
        HTTP1Connection,
        HTTP1ConnectionParameters,
    )

    class Params(HTTP1ConnectionParameters):
        def __init__(self) -> None:
            super().__init__(chunk_size=7)
            self.note = "extra attribute"

    formatted: list[bytes] = []

    class Connection(HTTP1Connection):
        def _format_chunk(self, chunk):  # type: ignore[no-untyped-def]
            formatted.append(bytes(chunk))
            return super()._format_chunk(chunk)

    async def main() -> bytes:
        ours, theirs = socket.socketpair()
        with theirs:
            stream = iostream.IOStream(ours)
            connection = Connection(stream, True, Params())
            assert connection.params.note == "extra attribute"
            assert connection.params.chunk_size == 7
            await connection.write_headers(
                httputil.RequestStartLine("POST", "/", "HTTP/1.1"),
                httputil.HTTPHeaders({"Host": "h"}),
                b"abc",
            )
            connection.write(b"defg")
            connection.finish()
            stream.close()
            theirs.settimeout(10)
            received = b""
            while chunk := theirs.recv(4096):
                received += chunk
            return received

    received = asyncio.run(main())
    assert formatted == [b"abc", b"defg"]
    assert received == (
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
