"""The process that ``python -m benchmarks.instructions`` counts under
callgrind: it must serve every request correctly, whatever the server (the
counting itself needs valgrind and is not run here)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import floors

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "server",
    [
        "floor",
        "compat",
        "tornado",
        "compat-web",
        "tornado-web",
        "compat-h2",
        "compat-h2-web",
        "floor-tls",
        "compat-tls",
        "tornado-tls",
        "floor-close",
        "compat-close",
        "tornado-close",
        "floor-varied",
        "compat-varied",
        "compat-web-varied",
        "floor-uvloop",
        "compat-uvloop",
        "compat-close-uvloop",
    ],
)
def test_the_measured_loop_serves_every_request(server: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.instructions", "--loop", server, "300"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"{server}: [\d,]+ requests/s\n", result.stdout)
    assert "Traceback" not in result.stderr


def test_the_varied_client_never_sends_the_same_head_twice() -> None:
    from benchmarks import instructions

    class Transport:
        def __init__(self) -> None:
            self.written: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.written.append(data)

        def close(self) -> None:
            pass

    loop = asyncio.new_event_loop()
    try:
        transports = [Transport(), Transport()]
        for transport in transports:
            client = instructions._client_for("compat-varied")(5, loop.create_future())
            client.connection_made(transport)
            for _ in range(5):
                client.data_received(floors.CANNED)
        heads = [head for transport in transports for head in transport.written]
    finally:
        loop.close()
    assert len(heads) == 10
    assert len(set(heads)) == 10
    assert all(
        re.fullmatch(rb"GET /\?\d+ HTTP/1\.1\r\nHost: [^\r]+\r\n\r\n", h) for h in heads
    )


@pytest.mark.parametrize(
    ("name", "base", "loop_module"),
    [("compat-uvloop", "compat", "uvloop"), ("compat", "compat", "asyncio")],
)
def test_a_uvloop_suffix_runs_the_loop_on_uvloop(
    name: str, base: str, loop_module: str
) -> None:
    from benchmarks import instructions

    async def where(given: str) -> tuple[str, str]:
        loop = asyncio.get_running_loop()
        return given, type(loop).__module__.partition(".")[0]

    assert instructions._run_loop(name, where) == (base, loop_module)
