"""The plumbing of the HTTP/2 comparisons of ``python -m benchmarks``: each
server of ``benchmarks.servers`` answers the hello world over HTTP/2 in
cleartext and over TLS, the checking client tells HTTP/2 from HTTP/1.1, and
an h2load run is read right (its failures are errors, not figures)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from benchmarks import tools

HELLO = b"Hello world!"

needs_h2load = pytest.mark.skipif(
    shutil.which("h2load") is None, reason="h2load (nghttp2-client) is not installed"
)


def server_argv(impl: str, app: str, tls: bool, workdir: Path) -> list[str]:
    argv = [impl, app]
    if impl in ("compat", "granian"):
        argv.append("--http2")
    if tls:
        certfile, keyfile = tools.tls_files(workdir)
        argv += ["--certfile", certfile, "--keyfile", keyfile]
    return argv


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
@pytest.mark.parametrize(
    ("impl", "app"),
    [
        ("compat", "hello"),
        ("compat", "web"),
        ("hypercorn", "hello"),
        ("granian", "hello"),
    ],
)
def test_the_servers_answer_over_http2(
    impl: str, app: str, tls: bool, tmp_path: Path
) -> None:
    if impl != "compat" and importlib.util.find_spec(impl) is None:
        pytest.skip(f"{impl} is not installed")
    with tools.server(server_argv(impl, app, tls, tmp_path), tmp_path) as server:
        tools.verify_h2(server.port, HELLO, tls, times=3)
        server.check_log()


def test_the_checking_client_refuses_http1(tmp_path: Path) -> None:
    # Without --http2, tornado_compat's server answers the preface as a bad
    # HTTP/1.1 request: the check must fail, not pass on any answer.
    with tools.server(["compat", "hello"], tmp_path) as server:
        with pytest.raises(tools.FAILURES):
            tools.verify_h2(server.port, HELLO, tls=False)


@needs_h2load
@pytest.mark.parametrize("h1", [False, True], ids=["h2c", "h1"])
def test_h2load_run_is_read(h1: bool, tmp_path: Path) -> None:
    with tools.server(["compat", "hello", "--http2"], tmp_path) as server:
        before = tools.cpu_seconds(server.pid)
        url = f"http://127.0.0.1:{server.port}/"
        rate, done = tools.run_h2load(url, 2, 4, h1=h1, requests=200)
        assert rate > 0 and done == 200
        rate, done = tools.run_h2load(url, 2, 4, h1=h1, seconds=1)
        assert rate > 0 and done > 0
        assert tools.cpu_seconds(server.pid) >= before


@needs_h2load
def test_h2load_failures_are_errors(tmp_path: Path) -> None:
    # An HTTP/1.1-only server: h2load's prior-knowledge requests all fail.
    with tools.server(["compat", "hello"], tmp_path) as server:
        with pytest.raises(tools.BenchmarkError, match="h2load reported"):
            tools.run_h2load(f"http://127.0.0.1:{server.port}/", 1, 1, seconds=1)
