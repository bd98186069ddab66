"""``serve --workers N``: the parent binds and supervises, every worker
serves and drains on SIGTERM, a worker that dies is replaced."""

from __future__ import annotations

import os
import re
import signal
import socket

import pytest

from tests.serve.support import TARGETS, get, refused, serve, stop
from tests.serve_process import ServeProcess
from tests.server.client import RawConnection
from tests.server.client import request as client_request

#: Fresh connections tried before concluding that requests never reach a
#: worker; with --reuse-port the kernel spreads them by their source port,
#: so missing one worker this many times in a row does not happen.
TRIES = 40


def ready_workers(server: ServeProcess, count: int) -> dict[int, int]:
    """Wait for ``count`` "worker I: ready (pid P, ...)" lines: {I: P}."""
    ready: dict[int, int] = {}
    while len(ready) < count:
        line = server.wait_for_line("worker ")
        match = re.match(r"worker (\d+): ready \(pid (\d+), (asyncio|uvloop)\)$", line)
        if match:
            ready[int(match.group(1))] = int(match.group(2))
    return ready


def in_flight_on_every_worker(
    server: ServeProcess, pids: set[int]
) -> list[RawConnection]:
    """Open connections with a /slow request each until every worker has at
    least one in progress; the connections."""
    busy: set[int] = set()
    connections: list[RawConnection] = []
    for _ in range(TRIES):
        conn = RawConnection(server.port)
        conn.send(client_request("GET", "/slow"))
        connections.append(conn)
        line = server.wait_for_line("arrived /slow ")
        busy.add(int(line.rsplit(" ", 1)[1]))
        if busy == pids:
            return connections
    raise AssertionError(f"requests reached only {busy} of {pids}")


def test_sigterm_drains_every_worker() -> None:
    with serve("--workers", "2", "--reuse-port") as server:
        workers = ready_workers(server, 2)
        assert sorted(workers) == [0, 1]
        connections = in_flight_on_every_worker(server, set(workers.values()))
        server.send_signal(signal.SIGTERM)
        answered: set[int] = set()
        for conn in connections:
            response = conn.read_response()
            assert response.status == 200
            assert response.header("Connection") == "close"
            answered.add(int(response.body.split()[-1]))
            conn.close()
        assert answered == set(workers.values())
        status, out, err = server.finish()
    assert status == 0, err
    assert out.endswith("server stopped")
    for tid in workers:
        assert f"worker {tid}: draining: waiting up to 30 s" in out
        assert f"worker {tid}: stopped" in out.splitlines()
    assert "[E " not in err and "Traceback" not in err, err
    assert err.count("200 GET /slow") == len(connections)


def test_sigterm_to_every_process_still_drains() -> None:
    """A process manager that signals the whole service (systemd's default
    ``KillMode=control-group``) gives each worker two SIGTERMs, its own and
    the parent's: still one drain, nothing cut."""
    with serve("--workers", "2") as server:
        workers = ready_workers(server, 2)
        with RawConnection(server.port) as conn:
            # A request in progress until the test sends the rest of its body.
            conn.send(
                b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345"
            )
            for pid in workers.values():
                os.kill(pid, signal.SIGTERM)
            # Both drain; the idle one stops (and, unasked by the parent, is
            # started again), the other holds the request.
            draining: set[int] = set()
            idle = None
            while len(draining) < 2 or idle is None:
                tid_text, _, said = server.wait_for_line("worker ").partition(": ")
                tid = int(tid_text.split()[1])
                if said.startswith("draining"):
                    draining.add(tid)
                elif said == "stopped":
                    idle = tid
            (busy,) = set(workers) - {idle}
            server.send_signal(signal.SIGTERM)
            server.wait_for_line(f"worker {busy}: SIGTERM again: still draining")
            conn.send(b"67890")
            response = conn.read_response()
            assert response.status == 200
            assert response.body == b"1234567890"
        status, out, err = server.finish()
    assert status == 0, err
    assert "cut" not in out and "Drain cut" not in err
    assert out.endswith("server stopped")


def test_a_second_sigterm_cuts_what_is_left() -> None:
    with serve("--workers", "2") as server:
        workers = ready_workers(server, 2)
        with RawConnection(server.port) as conn:
            conn.send(client_request("GET", "/never"))
            pid = int(server.wait_for_line("arrived /never ").rsplit(" ", 1)[1])
            (busy,) = [tid for tid, worker_pid in workers.items() if worker_pid == pid]
            server.send_signal(signal.SIGTERM)
            # Two signals sent before the worker ran would count as one.
            server.wait_for_line(f"worker {busy}: draining")
            server.send_signal(signal.SIGTERM)
            assert conn.read_until_close() == b""
        status, out, err = server.finish()
    assert status == 1, err
    assert f"worker {busy}: stopped: 1 request(s) cut" in out.splitlines()
    assert out.endswith("server stopped: status 1")
    assert "Drain cut 1 request(s) still in progress" in err
    assert "[E " not in err and "Traceback" not in err, err


def test_a_killed_worker_is_restarted_and_serves() -> None:
    with serve("--workers", "2", "--reuse-port") as server:
        workers = ready_workers(server, 2)
        os.kill(workers[0], signal.SIGKILL)
        restarted = ready_workers(server, 1)
        assert list(restarted) == [0] and restarted[0] != workers[0]
        seen: set[int] = set()
        for _ in range(TRIES):
            status, body = get(server.port, "/whoami")
            assert status == 200
            seen.add(int(body.split()[-1]))
            if restarted[0] in seen:
                break
        assert seen <= {restarted[0], workers[1]}
        assert restarted[0] in seen
        status, out, err = stop(server)
    assert status == 0, err
    assert f"pid {workers[0]}" in err and "SIGKILL" in err, err


def test_a_bad_target_fails_once_in_the_parent() -> None:
    result = refused("serve", f"{TARGETS}:number", "--workers", "2", "--port", "0")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "number is int 42" in result.stderr
    assert "worker" not in result.stdout + result.stderr


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_port_that_cannot_be_bound_fails_once_in_the_parent(
    reuse_port: bool,
) -> None:
    with serve() as other:
        options = ["--reuse-port"] if reuse_port else []
        result = refused(
            "serve", TARGETS, "--workers", "2", "--port", str(other.port), *options
        )
        stop(other)
    assert result.returncode == 1
    assert result.stderr.startswith(f"cannot listen on 127.0.0.1:{other.port}: ")
    assert len(result.stderr.splitlines()) == 1


def test_a_sigterm_while_the_workers_start_stops_them_cleanly() -> None:
    # Sent as soon as the parent has bound, while the workers are forked and
    # start their loops: each worker keeps the signal for its loop, drains
    # (nothing) and exits 0, instead of being killed by it mid-start.
    with serve("--workers", "2") as server:
        server.send_signal(signal.SIGTERM)
        status, out, err = server.finish()
    assert status == 0, err
    assert out.endswith("server stopped"), out
    assert "[W " not in err and "[E " not in err, err


def test_workers_share_a_unix_socket_that_the_parent_removes() -> None:
    path = f"/tmp/tc-workers-{os.getpid()}.sock"
    try:
        with serve(
            "--workers",
            "2",
            "--unix-socket",
            path,
            first_line=r"serving \S+ on unix:\S+ with 2 workers$",
        ) as server:
            ready_workers(server, 2)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(30)
                sock.connect(path)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert sock.makefile("rb").read().endswith(b"\r\n\r\nhello\n")
            status, out, err = stop(server)
        assert status == 0, err
        assert not os.path.exists(path)
    finally:
        if os.path.exists(path):
            os.unlink(path)
