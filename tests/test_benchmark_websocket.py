"""The plumbing of the WebSocket echo comparison of ``python -m benchmarks``:
each server of ``benchmarks.websocket`` upgrades and echoes, the load client
counts echoes and the server's CPU per echo, a wrong echo is an error and
not a figure, and the in-process loop (for callgrind) runs."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import tools, websocket
from tests import client_tools


def installed(impl: str) -> bool:
    """Whether the packages the server of ``impl`` runs on are installed (the
    bench extra's, for uvicorn and picows)."""
    modules = {"uvicorn": ["uvicorn", "websockets"], "picows": ["picows"]}
    return all(
        importlib.util.find_spec(module) is not None for module in modules.get(impl, [])
    )


@pytest.mark.parametrize("impl", websocket.IMPLS)
def test_each_server_echoes_under_the_client(impl: str, tmp_path: Path) -> None:
    if not installed(impl):
        if client_tools.under_ci():
            pytest.fail(f"{impl} is not installed: the test extra brings it")
        pytest.skip(f"{impl} is not installed")
    with websocket.server(impl, tmp_path) as server:
        result = websocket.run_load(server.port, 3, seconds=0.3, warmup=0.1)
        server.check_alive()
        server.check_log()
    assert result["messages"] > 0
    assert result["messages_per_second"] > 0
    # Warm-up and the last echoes are counted in the total too.
    assert result["total_messages"] > result["messages"]
    assert result["connections"] == 3 and result["size"] == 1024


def test_measure_reports_rate_and_cpu(tmp_path: Path) -> None:
    metrics = websocket.measure("compat", tmp_path, seconds=0.3, connections=2)
    assert metrics[websocket.MESSAGE_METRIC] > 0
    assert metrics[websocket.CPU_METRIC] > 0


def test_a_server_that_is_not_the_one_meant_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tornado's own HTTPServer where tornado_compat's was expected, as when
    # install() did not take.
    monkeypatch.setitem(tools.SERVED_BY, "tornado", "tornado_compat.")
    with pytest.raises(tools.BenchmarkError, match="not tornado_compat"):
        with websocket.server("tornado", tmp_path):
            pass


class _WrongEcho(asyncio.Protocol):
    """Upgrades, then answers every frame with a 1024-byte frame of zeros."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.head: bytes | None = b""

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            self.head += data
            if b"\r\n\r\n" not in self.head:
                return
            key = next(
                line.split(b":", 1)[1].strip()
                for line in self.head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + websocket.GUID).digest())
            self.transport.write(  # type: ignore[attr-defined]
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.head = None
            return
        self.transport.write(  # type: ignore[attr-defined]
            bytes([0x82, 126]) + (1024).to_bytes(2, "big") + bytes(1024)
        )


def test_a_wrong_echo_is_an_error() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_WrongEcho, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await websocket.run_client(port, 2, 0.2, 0.0, 1024, 1)
        finally:
            server.close()

    with pytest.raises(websocket.EchoError, match="differs"):
        asyncio.run(main())


def test_the_in_process_loop_runs() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.websocket", "loop", "compat", "200"],
        capture_output=True,
        text=True,
        cwd=tools.ROOT,
        env=tools.child_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("compat: ") and "messages/s" in proc.stdout


def test_syscalls_counts_the_servers_receives_and_sends() -> None:
    client_tools.tool("strace")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.websocket",
            "syscalls",
            "compat",
            "--seconds",
            "0.3",
        ],
        capture_output=True,
        text=True,
        cwd=tools.ROOT,
        env=tools.child_env(),
        timeout=120,
    )
    if proc.returncode and "ptrace" in proc.stderr + proc.stdout:
        if client_tools.under_ci():
            pytest.fail(f"strace could not attach under CI:\n{proc.stderr}")
        pytest.skip("strace may not attach here")
    assert proc.returncode == 0, proc.stderr
    rows = dict(
        line.strip("|").split("|")[:2]
        for line in proc.stdout.splitlines()
        if line.startswith("| ") and "---" not in line
    )
    rows = {name.strip(): value.strip() for name, value in rows.items()}
    # Each echo is one frame in and one frame out.
    for name in ("recvfrom", "sendto"):
        assert 0.9 <= float(rows[name]) <= 1.5, proc.stdout
    assert float(rows["all"]) >= 2.0
