"""The plumbing of the HTTP/1.1 comparisons of ``python -m benchmarks`` that
Granian, TLS and one request per connection brought: each of those servers
answers the hello world as its comparison asks (over TLS; with
``Connection: close``, closing after the answer), the check tells a server
that keeps the connection open from one that closes, and a smoke-sized run
of each new contender under wrk reports a rate and the server's CPU time."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import run, tools
from tests import client_tools

HELLO = b"Hello world!"
HELLO_SERVERS = ["tornado", "compat", "uvicorn", "granian", "granian-rsgi"]


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("impl", ["granian", "granian-rsgi"])
def test_granian_answers_http1(impl: str, loop: str, tmp_path: Path) -> None:
    with tools.server([impl, "hello", "--loop", loop], tmp_path) as server:
        tools.verify(server.port, HELLO, times=3)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
            # HTTP/1.1 unless told --http2: its answer to a plain request.
            c.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert c.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
        server.check_log()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize(
    ("impl", "app"), [("floor", "hello"), ("floor-api", "hello"), ("floor-api", "web")]
)
def test_the_floors_answer_the_hello_world(
    impl: str, app: str, loop: str, tmp_path: Path
) -> None:
    with tools.server([impl, app, "--loop", loop], tmp_path) as server:
        # As wrk asks: one keep-alive connection, one request at a time.
        tools.verify(server.port, HELLO, times=20)
        server.check_log()


def test_the_floor_closes_when_asked(tmp_path: Path) -> None:
    with tools.server(["floor", "hello"], tmp_path) as server:
        tools.verify_close(server.port, HELLO, times=3)
        server.check_log()


def test_the_web_floor_runs_the_tornado_web_application() -> None:
    from benchmarks import floors
    from tornado_compat import httputil

    seen: list[tuple[str, str, str]] = []

    class Handler:
        """The delegate an HTTPServerConnectionDelegate returns."""

        def __init__(self, request_conn: object) -> None:
            self.request_conn = request_conn

        def headers_received(
            self, start_line: httputil.RequestStartLine, headers: httputil.HTTPHeaders
        ) -> None:
            seen.append((start_line.method, start_line.path, headers["Host"]))

        def finish(self) -> None:
            self.request_conn.write_headers(  # type: ignore[attr-defined]
                httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
                httputil.HTTPHeaders(),
            )
            self.request_conn.finish()  # type: ignore[attr-defined]

    class Application(httputil.HTTPServerConnectionDelegate):
        def start_request(
            self, server_conn: object, request_conn: httputil.HTTPConnection
        ) -> Handler:
            return Handler(request_conn)

    written: list[bytes] = []

    class Transport:
        def get_extra_info(self, name: str) -> object:
            return None

        def write(self, data: bytes) -> None:
            written.append(data)

    async def serve() -> None:
        protocol = floors.api_floor(application=Application())()
        protocol.connection_made(Transport())  # type: ignore[arg-type]
        protocol.data_received(b"GET /x HTTP/1.1\r\nHost: example.test\r\n\r\n")

    asyncio.run(serve())
    assert seen == [("GET", "/x", "example.test")]
    assert written == [floors.CANNED]


def test_the_api_floor_hands_the_callback_a_tornado_request() -> None:
    from benchmarks import floors
    from tornado_compat import httputil

    written: list[bytes] = []
    requests: list[httputil.HTTPServerRequest] = []

    class Transport:
        def get_extra_info(self, name: str) -> object:
            return ("192.0.2.7", 4711) if name == "peername" else None

        def write(self, data: bytes) -> None:
            written.append(data)

    def callback(request: httputil.HTTPServerRequest) -> None:
        requests.append(request)
        assert request.connection is not None
        request.connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"), httputil.HTTPHeaders()
        )
        request.connection.finish()

    async def serve() -> None:
        protocol = floors.api_floor(callback)()
        protocol.connection_made(Transport())  # type: ignore[arg-type]
        head = b"GET /a?b=c HTTP/1.1\r\nHost: example.test\r\nX-One: 1\r\n\r\n"
        protocol.data_received(head)
        requests[0].headers["X-One"] = "changed"
        protocol.data_received(head)

    asyncio.run(serve())
    assert written == [floors.CANNED, floors.CANNED]
    second = requests[1]
    assert isinstance(second, httputil.HTTPServerRequest)
    assert (second.method, second.path, second.host) == ("GET", "/a", "example.test")
    assert second.query_arguments == {"b": [b"c"]}
    assert second.remote_ip == "192.0.2.7"
    # Each request has headers of its own, as from a server.
    assert second.headers["X-One"] == "1"


@pytest.mark.parametrize("impl", HELLO_SERVERS)
def test_the_servers_answer_over_tls(impl: str, tmp_path: Path) -> None:
    certfile, keyfile = tools.tls_files(tmp_path)
    argv = [impl, "hello", "--certfile", certfile, "--keyfile", keyfile]
    with tools.server(argv, tmp_path) as server:
        tools.verify(server.port, HELLO, times=3, tls=True)
        # Over TLS only: a cleartext request gets no hello world.
        with pytest.raises(tools.FAILURES):
            tools.verify(server.port, HELLO)
        server.check_log()


@pytest.mark.parametrize("impl", HELLO_SERVERS)
def test_the_servers_close_after_connection_close(impl: str, tmp_path: Path) -> None:
    with tools.server([impl, "hello"], tmp_path) as server:
        tools.verify_close(server.port, HELLO, times=3)
        server.check_log()


@pytest.fixture
def keep_alive_server() -> Iterator[int]:
    """Answers the hello world on one connection and keeps it open whatever
    the request says, until the client closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    closed = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n" + HELLO)
            while conn.recv(4096):
                pass
        closed.set()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(timeout=10)
        listener.close()
    assert closed.is_set()


def test_a_server_that_keeps_the_connection_fails_the_check(
    keep_alive_server: int,
) -> None:
    with pytest.raises(tools.BenchmarkError, match="did not close"):
        tools.verify_close(keep_alive_server, HELLO, timeout=0.5)


def new_contenders() -> list[tuple[run.Comparison, run.Contender]]:
    """Granian in the hello worlds (comparisons 1 and 2), and every contender
    over TLS (14) and with a connection per request (15)."""
    return [
        (comparison, contender)
        for comparison in run.comparisons(run.Settings())
        for contender in comparison.contenders
        if (comparison.number in (1, 2) and contender.label.startswith("Granian"))
        or comparison.number in (14, 15)
    ]


@pytest.mark.parametrize(
    ("comparison", "contender"),
    new_contenders(),
    ids=[f"{c.number}-{n.label}" for c, n in new_contenders()],
)
def test_a_smoke_run_of_each_new_contender_reports(
    comparison: run.Comparison, contender: run.Contender, tmp_path: Path
) -> None:
    client_tools.tool("wrk")
    settings = run.Settings(rounds=1, seconds=1, connections=4, smoke=True)
    metrics = contender.measure(run.Env(settings, tmp_path))
    assert metrics["req/s"] > 0
    if comparison.number >= 14:
        assert metrics[run.CPU_METRIC] > 0
    else:
        assert run.CPU_METRIC not in metrics


def test_the_new_comparisons_and_their_targets() -> None:
    by_number = {c.number: c for c in run.comparisons(run.Settings())}
    servers = [
        "tornado",
        "tornado_compat",
        "uvicorn (httptools)",
        "Granian ASGI",
        "Granian RSGI",
    ]
    floors = {
        1: ["floor: canned answer", "floor: canned answer + Tornado API objects"],
        2: ["floor: canned answer", "floor: canned answer + Tornado API objects"],
        3: ["floor: canned answer + tornado.web"],
        14: [],
        15: ["floor: canned answer, then close"],
    }
    for number in (14, 15):
        comparison = by_number[number]
        assert [c.label for c in comparison.contenders] == servers + floors[number]
        assert [t.text(comparison.metric) for t in comparison.targets] == [
            "≥ 3× tornado",
            "≥ 1× uvicorn (httptools)",
        ]
    assert [t.reference for t in by_number[1].targets] == ["tornado", "Granian RSGI"]
    # The floors are references only: last, and no target's contender.
    for number, labels in floors.items():
        contenders = [c.label for c in by_number[number].contenders]
        assert contenders[len(contenders) - len(labels) :] == labels
        assert not {t.contender for t in by_number[number].targets} & set(labels)
    # A run's summary reads every target's reference among the contenders.
    for comparison in by_number.values():
        labels = {c.label for c in comparison.contenders}
        assert {t.contender for t in comparison.targets} <= labels
        assert {t.reference for t in comparison.targets} - {None} <= labels
