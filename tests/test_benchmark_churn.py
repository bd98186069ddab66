"""The connection-cycle client of ``python -m benchmarks.churn`` and the figures
made from its readings: every cycle it counts as done must be one that ended
as it should, and a server that answers wrongly must show up as failures."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from benchmarks import churn, cycles, report, run

HELLO_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nHello world!"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (HELLO_RESPONSE, None),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: x\r\n\r\nHello world!", None),
        (b"", "empty reply"),
        (b"HTTP/1.1 200 OK\r\nContent-Len", "incomplete head"),
        (b"HTTP/1.1 503 Busy\r\n\r\nHello world!", "status line b'HTTP/1.1 503 Busy'"),
        (b"HTTP/1.1 200 OK\r\n\r\nHello", "wrong body"),
    ],
)
def test_check_response(data: bytes, problem: str | None) -> None:
    assert cycles.check_response(data) == problem


def serve(listener: socket.socket, answer: bytes, stop: threading.Event) -> None:
    """Accept and serve one connection at a time: read until the request's
    end or the client's close, answer (when there was a request), close."""
    listener.settimeout(0.05)
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if data:
                conn.sendall(answer)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    answer = getattr(request, "param", HELLO_RESPONSE)
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(listener, answer, stop))
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


@pytest.mark.parametrize("mode", ["connect", "request"])
def test_every_cycle_ends_as_it_should(server: int, mode: str) -> None:
    result = cycles.run(server, mode, 300, in_flight=8, sources=3, deadline=60)
    assert result.as_json()["completed"] == 300
    assert result.as_json()["failed"] == 0


@pytest.mark.parametrize(
    "server", [b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"], indirect=True
)
def test_a_wrong_answer_is_a_failure(server: int) -> None:
    result = cycles.run(server, "request", 20, in_flight=4, sources=1, deadline=60)
    assert result.completed == 0
    assert result.errors == {"status line b'HTTP/1.1 500 Oops'": 20}


def test_a_refused_connection_is_a_failure() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    result = cycles.run(port, "connect", 5, in_flight=2, sources=1, deadline=60)
    assert result.completed == 0
    assert result.errors == {"connect: ECONNREFUSED": 5}


def test_churn_figures_are_growth_from_the_first_reading() -> None:
    metrics = churn.summarise(40_000, 41_000, 43_000)  # KiB
    assert metrics == {
        churn.MAIN_METRIC: 3000 * 1024 / 1e6,
        churn.CONNECT_GROWTH: 1000 * 1024 / 1e6,
        churn.START: 40_000 * 1024 / 1e6,
        churn.END: 43_000 * 1024 / 1e6,
    }


def test_a_comparison_without_ratios_reports_none() -> None:
    settings = run.Settings(rounds=1, churn_cycles=10)
    (comparison,) = [
        c for c in run.comparisons(settings) if "short connections" in c.name
    ]
    samples = {
        "tornado": {churn.MAIN_METRIC: [0.0], churn.CONNECT_GROWTH: [0.0]},
        "tornado_compat": {churn.MAIN_METRIC: [6.0], churn.CONNECT_GROWTH: [2.0]},
        "uvicorn (httptools)": {churn.MAIN_METRIC: [-0.1], churn.CONNECT_GROWTH: [0]},
    }
    for units in samples.values():
        units[churn.START] = [30.0]
        units[churn.END] = [30.0 + units[churn.MAIN_METRIC][0]]
    result = run.summarise(comparison, samples, 1)
    assert [c["ratio"] for c in result["contenders"]] == [None, None, None]
    assert [(t["text"], t["met"]) for t in result["targets"]] == [
        ("≤ 5 MB growth", False),
        ("growth after connects ≤ 5 MB", True),
    ]
    table = "\n".join(report.comparison_table(result))
    assert "| tornado_compat | 6 | MB growth | 6–6 | – |" in table
