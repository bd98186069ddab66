"""The independent client programs the HTTP/2 tests run against the server
(not a test module): curl, nghttp and h2load (Debian's nghttp2-client), and
headless Chromium; and wrk and strace, for the benchmark's plumbing tests.

What it is for: finding one of them for a test.  On a Debian machine where
the tests run as root (CI's fresh machines) a missing one is installed with
apt-get first, as the client and deployment tests do for tinyproxy and
nginx, and ``.ci/run`` installs them all.  A tool that is still missing
skips the test that needs it, saying how to install it; under CI (the
environment variable ``CI`` is ``true``) it fails the test instead, so that
CI can never go green without these clients having run.

What it must never do: skip silently under CI, or pick a program other than
the one named (a snap wrapper that is not Chromium, say).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.client.servers import install_debian_package

#: tool -> (the names it may have on PATH, the Debian package that has it).
TOOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "curl": (("curl",), "curl"),
    "nghttp": (("nghttp",), "nghttp2-client"),
    "h2load": (("h2load",), "nghttp2-client"),
    "chromium": (("chromium", "chromium-browser"), "chromium"),
    # The load generator of the benchmark, for its plumbing tests.
    "wrk": (("wrk",), "wrk"),
    # The WebSocket benchmark's system-call count.
    "strace": (("strace",), "strace"),
}

_found: dict[str, str] = {}


def under_ci() -> bool:
    """Whether the tests run under CI, where no client may be missing."""
    return os.environ.get("CI", "").lower() == "true"


def _on_disk(names: tuple[str, ...]) -> str | None:
    for name in names:
        for candidate in (shutil.which(name), f"/usr/bin/{name}"):
            if candidate and os.access(candidate, os.X_OK):
                return candidate
    return None


def tool(name: str) -> str:
    """The path of the client program ``name`` (a key of :data:`TOOLS`),
    installed first if need be and possible; skips the test (fails it under
    CI) when it cannot be had."""
    if name in _found:
        return _found[name]
    names, package = TOOLS[name]
    found = _on_disk(names)
    if found is None and install_debian_package(package):
        found = _on_disk(names)
    if found is None:
        message = (
            f"{name} is not installed: install Debian's {package} package"
            f" (`apt-get install -y {package}`; .ci/run does that)"
        )
        if under_ci():
            pytest.fail(f"{message}; under CI a missing client is a failure")
        pytest.skip(message)
    _found[name] = found
    return found


def run_curl(curl: str, *args: str) -> tuple[str, str]:
    """Run curl (``curl`` is its path) with ``args``; return its output
    and what ``-w`` wrote after it: the status and the HTTP version, as
    ``"200 2"``."""
    out = subprocess.run(
        [curl, "-sS", "--max-time", "30", "-w", "\n@@%{http_code} %{http_version}"]
        + list(args),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    body, _, written = out.rpartition("\n@@")
    return body, written
