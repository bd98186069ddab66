"""The dugong-compatible pipelining connection: tornado_compat.httpclient.connection.

Every test talks to a real server over a real socket (the scripted servers of
:mod:`tests.client.raw_servers`, through :mod:`tests.client.connection_helpers`),
and a real tinyproxy for the proxy tests.  What is checked is what a user of
:class:`HTTPConnection` sees: statuses, body bytes, exception types and what
their messages name, and what the server received.

The rule behind the fault tests: after an error that loses track of the
stream the connection must never hand out another request's response.  So a
faulty response always has a good one pipelined behind it, and the test
checks that reading goes on failing (StateError or ConnectionClosed) until
``disconnect()``, after which the same object fetches normally again.
"""

from __future__ import annotations

import array
import asyncio
import errno
import hashlib
import io
import os
import socket
import ssl
import subprocess
import sys
import threading
from base64 import b64encode
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvloop

from tests.client.connection_helpers import (
    SAFETY,
    CannedServer,
    app_server,
    connection,
    drive,
    expected_body,
    fault,
    fetch,
    payload,
    pieces,
    stalled,
    trickled,
)
from tests.client.raw_servers import (
    AppServer,
    LoopThread,
    Signal,
    chunked,
    closed_but_watched,
    response_head,
)
from tests.client.servers import (
    PROXY_VIA_NAME,
    TLS,
    TinyproxyFactory,
    tinyproxies,
)
from tornado_compat.httpclient import connection as dugong
from tornado_compat.httpclient.connection import (
    POLLIN,
    POLLOUT,
    AioFuture,
    BodyFollowing,
    CaseInsensitiveDict,
    ConnectionClosed,
    ConnectionTimedOut,
    DNSUnavailable,
    ExcessBodyData,
    HostnameNotResolvable,
    HTTPConnection,
    InvalidResponse,
    PollNeeded,
    StateError,
    UnsupportedResponse,
    eval_coroutine,
    is_temp_network_error,
)

#: The ``conn.timeout`` of the timeout tests: the server stalls far longer.
SHORT_TIMEOUT = 0.2

#: More than the kernel buffers of a loopback connection hold (a few MB), so
#: that sending it blocks while the server reads nothing.
LARGE_UPLOAD = 24 * 1024 * 1024


_Server = TypeVar("_Server", AppServer, CannedServer)


def _checked(server: _Server) -> Iterator[_Server]:
    """A server fixture's body: the server, then no errors from it."""
    yield server
    assert not server.errors, server.errors


@pytest.fixture
def app(thread: LoopThread) -> Iterator[AppServer]:
    yield from _checked(app_server(thread))


@pytest.fixture
def conn(app: AppServer) -> Iterator[HTTPConnection]:
    with connection(app) as c:
        yield c


@pytest.fixture
def canned(thread: LoopThread) -> Iterator[CannedServer]:
    yield from _checked(CannedServer(thread))


@pytest.fixture
def tls(tmp_path: Path) -> TLS:
    return TLS(tmp_path)


def client_context(tls: TLS) -> ssl.SSLContext:
    """A client context that trusts the test CA (and checks host names)."""
    return ssl.create_default_context(cafile=tls.ca_file)


def assert_fresh_request_works(conn: HTTPConnection, path: str = "/r?fresh") -> None:
    """The connection (re)opens and fetches ``path`` with its own answer."""
    assert fetch(conn, path) == (200, expected_body(path))
    assert not conn.response_pending()


def fetch_rest(conn: HTTPConnection) -> tuple[int, bytes]:
    """(status, body) of the next response."""
    response = conn.read_response()
    return response.status, conn.readall()


def assert_stream_abandoned(conn: HTTPConnection) -> None:
    """Reading goes on failing, never returning the response pipelined
    behind; after disconnect() the same object works again."""
    for _ in range(2):
        with pytest.raises((StateError, ConnectionClosed)) as info:
            conn.read_response()
        assert str(info.value)
    conn.disconnect()
    assert not conn.response_pending()
    assert_fresh_request_works(conn)


# -- pipelining ----------------------------------------------------------------------

#: (method, kind) of the pipelined requests, in turn: every framing a
#: response can have, and HEAD for both kinds of head.
MIX = [
    ("GET", "length"),
    ("GET", "chunked"),
    ("HEAD", "length"),
    ("GET", "204"),
    ("GET", "304"),
    ("HEAD", "chunked"),
]


def pipelined(count: int) -> list[tuple[str, str]]:
    """``count`` (method, path) pairs over :data:`MIX`, some with large bodies;
    the last one is a HEAD."""
    requests = []
    for i in range(count - 1):
        method, kind = MIX[i % len(MIX)]
        size = "&size=%d" % (3000 + i) if i % 7 == 0 else ""
        requests.append((method, f"/r?kind={kind}&i={i}{size}"))
    requests.append(("HEAD", f"/r?kind=length&i={count - 1}"))
    return requests


def expected_answer(method: str, path: str) -> tuple[int, bytes]:
    """(status, body) that ``/r`` gives the request."""
    if "kind=204" in path:
        return 204, b""
    if "kind=304" in path:
        return 304, b""
    return 200, b"" if method == "HEAD" else expected_body(path)


@pytest.mark.parametrize("driver", ["co_send_request", "send_request"])
def test_pipelined_responses_come_back_in_order(
    conn: HTTPConnection, app: AppServer, driver: str
) -> None:
    requests = pipelined(50)
    for method, path in requests:
        if driver == "co_send_request":
            drive(conn.co_send_request(method, path))
        else:
            conn.send_request(method, path)
    assert conn.response_pending()
    for i, (method, path) in enumerate(requests):
        response = conn.read_response()
        assert (response.method, response.path) == (method, path)
        status, body = expected_answer(method, path)
        assert response.status == status
        if not body:
            # No body to wait for: the response is complete at once.
            assert response.length == 0
            assert conn.response_pending() == (i < len(requests) - 1)
        assert conn.readall() == body
    assert not conn.response_pending()
    assert [(r.method, r.target) for r in app.requests] == requests
    assert app.connections == 1


@pytest.mark.parametrize(
    "method, path",
    [
        ("HEAD", "/r?kind=length"),
        ("HEAD", "/r?kind=chunked"),
        ("GET", "/r?kind=204"),
        ("GET", "/r?kind=304"),
    ],
)
def test_bodiless_response_is_complete_at_once(
    conn: HTTPConnection, method: str, path: str
) -> None:
    conn.send_request(method, path)
    response = conn.read_response()
    assert response.length == 0
    assert not conn.response_pending()
    assert conn.read(100) == b""
    with pytest.raises(StateError, match="no response pending"):
        conn.read_response()
    assert_fresh_request_works(conn)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_one_thread_sends_while_another_reads(
    thread: LoopThread, tls: TLS, scheme: str
) -> None:
    tls_server = tls.server_context() if scheme == "https" else None
    server = app_server(thread, ssl_context=tls_server)
    tls_client = client_context(tls) if scheme == "https" else None
    paths = [
        f"/r?kind={'chunked' if i % 3 == 0 else 'length'}&i={i}" for i in range(300)
    ]
    sent = threading.Semaphore(0)
    errors: list[BaseException] = []

    with connection(server, ssl_context=tls_client) as conn:

        def send_all() -> None:
            try:
                for path in paths:
                    conn.send_request("GET", path)
                    sent.release()
            except BaseException as exc:
                errors.append(exc)
                sent.release()

        sender = threading.Thread(target=send_all, name="test-sender")
        sender.start()
        try:
            for path in paths:
                assert sent.acquire(timeout=SAFETY)
                assert not errors, errors
                response = conn.read_response()
                assert response.path == path
                assert conn.readall() == expected_body(path)
        except BaseException:
            conn.disconnect()  # the sender may wait for the server: end it
            raise
        finally:
            sender.join(SAFETY)
        assert not sender.is_alive()
        assert not errors, errors
        assert not conn.response_pending()
    assert [r.target for r in server.requests] == paths
    assert not server.errors, server.errors


# -- AioFuture on asyncio and uvloop -------------------------------------------------

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}

Runner = Callable[[Callable[[], Any]], Any]


@pytest.fixture(params=sorted(LOOP_FACTORIES))
def run_on_loop(request: pytest.FixtureRequest) -> Runner:
    """Runs ``main()`` on a fresh loop of the parametrized kind, then checks
    that the loop watches no closed descriptor."""
    factory = LOOP_FACTORIES[request.param]

    def run(main: Callable[[], Any]) -> Any:
        loop = factory()
        try:
            result = loop.run_until_complete(asyncio.wait_for(main(), SAFETY))
            stale = closed_but_watched(loop)
            assert not stale, f"the loop still watches closed descriptors {stale}"
            return result
        finally:
            loop.close()

    return run


def watched(loop: asyncio.AbstractEventLoop, fd: int) -> bool:
    """Whether ``loop`` watches ``fd``.  Only a selector loop can tell; for
    uvloop (whose remove_reader returns None either way) the answer is False,
    and the tests check what they can see instead."""
    selector = getattr(loop, "_selector", None)
    return selector is not None and fd in selector.get_map()


def receiving(
    sock: socket.socket, size: int, closed: list[str] | None = None, name: str = ""
) -> Any:
    """A co_ coroutine that receives ``size`` bytes from ``sock``; notes
    ``name`` in ``closed`` if it is closed before it is done."""
    data = bytearray()
    try:
        while len(data) < size:
            try:
                piece = sock.recv(size - len(data))
            except BlockingIOError:
                yield PollNeeded(sock.fileno(), POLLIN)
                continue
            if not piece:
                raise EOFError("the other end closed")
            data += piece
    except GeneratorExit:
        if closed is not None:
            closed.append(name)
        raise
    return bytes(data)


def test_aio_future_reads_a_socketpair_while_a_task_writes(
    run_on_loop: Runner,
) -> None:
    data = payload(300_000)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)

            async def write() -> None:
                for start in range(0, len(data), 7000):
                    await loop.sock_sendall(b, data[start : start + 7000])
                    await asyncio.sleep(0)

            writer = asyncio.ensure_future(write())
            assert await AioFuture(receiving(a, len(data))) == data
            await writer
            # Done: nothing is left registered for the descriptor.
            assert not watched(loop, a.fileno())

    run_on_loop(main)


def test_aio_futures_send_and_read_on_one_connection(
    run_on_loop: Runner, app: AppServer
) -> None:
    paths = [
        f"/r?kind={'chunked' if i % 2 else 'length'}&i={i}"
        + ("&size=20000" if i % 10 == 3 else "")
        for i in range(100)
    ]
    nudge, other = socket.socketpair()
    # Always writable: waiting on it just lets the other future run.
    yield_to_loop = PollNeeded(nudge.fileno(), POLLOUT)
    sent = 0

    with nudge, other, connection(app) as conn:
        conn.connect()

        def sender() -> Any:
            nonlocal sent
            for i, path in enumerate(paths):
                yield from conn.co_send_request("GET", path)
                sent += 1
                if i % 10 == 9:
                    yield yield_to_loop
            return sent

        def reader() -> Any:
            got = []
            while len(got) < len(paths):
                if len(got) == sent:
                    yield yield_to_loop
                    continue
                response = yield from conn.co_read_response()
                body = yield from conn.co_readall()
                got.append((response.path, response.status, body))
            return got

        async def main() -> list[tuple[str, int, bytes]]:
            sending = AioFuture(sender())
            reading = AioFuture(reader(), loop=asyncio.get_running_loop())
            assert await sending == len(paths)
            return await reading  # type: ignore[no-any-return]

        got = run_on_loop(main)
        assert got == [(path, 200, expected_body(path)) for path in paths]
        assert not conn.response_pending()
    assert [r.target for r in app.requests] == paths


def test_cancelling_aio_future_closes_coroutine_and_unwatches(
    run_on_loop: Runner,
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            closed: list[str] = []
            alone = AioFuture(receiving(a, 5, closed, "alone"))
            await asyncio.sleep(0)  # its first step: it waits on a now
            assert not alone.done()
            if isinstance(loop, asyncio.SelectorEventLoop):
                assert watched(loop, a.fileno())
            assert alone.cancel()
            assert alone.cancelled()
            assert closed == ["alone"]
            assert not watched(loop, a.fileno())

            # Two futures share the descriptor: cancelling one leaves the
            # other woken when data comes.
            first = AioFuture(receiving(a, 5, closed, "first"))
            second = AioFuture(receiving(a, 5, closed, "second"))
            await asyncio.sleep(0)
            assert first.cancel()
            assert closed == ["alone", "first"]
            b.send(b"hello")
            assert await asyncio.wait_for(second, SAFETY) == b"hello"
            assert closed == ["alone", "first"]
            assert not watched(loop, a.fileno())

    run_on_loop(main)


#: disconnect() while an AioFuture waits on the connection's socket, from the
#: loop's thread or from another, run in a child process: if the connection
#: closed its socket while the loop still watched it, uvloop (libuv) would
#: abort the whole process, which must fail this test, not the test run.
DISCONNECT_WHILE_WAITING = """
import asyncio, os, socket, sys, threading, uvloop
from tornado_compat.httpclient.connection import (
    AioFuture, ConnectionClosed, HTTPConnection)

kind, where = sys.argv[1:]
new_loop = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
# A server that accepts (in the kernel) and never answers.
with socket.create_server(("127.0.0.1", 0)) as listener:
    conn = HTTPConnection("127.0.0.1", listener.getsockname()[1])
    conn.timeout = 10
    conn.send_request("GET", "/stall")

    async def main():
        waiting = AioFuture(conn.co_read_response())
        await asyncio.sleep(0)
        assert not waiting.done()
        if where == "thread":
            closer = threading.Thread(target=conn.disconnect)
            closer.start()
            closer.join(10)
        else:
            conn.disconnect()
        try:
            await asyncio.wait_for(waiting, 10)
        except ConnectionClosed as exc:
            print("ConnectionClosed:", exc)
        selector = getattr(asyncio.get_running_loop(), "_selector", None)
        for fd in selector.get_map() if selector else ():
            os.fstat(fd)  # OSError: the loop watches a closed descriptor

    loop = new_loop[kind]()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
        conn.disconnect()
"""


@pytest.mark.parametrize("where", ["loop", "thread"])
@pytest.mark.parametrize("kind", sorted(LOOP_FACTORIES))
def test_disconnect_fails_the_aio_future_waiting_on_it(kind: str, where: str) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", DISCONNECT_WHILE_WAITING, kind, where],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=3 * SAFETY,
    )
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.startswith("ConnectionClosed:"), done.stdout


def test_aio_future_refuses_what_is_not_poll_needed(run_on_loop: Runner) -> None:
    closed: list[str] = []

    def odd() -> Any:
        try:
            yield 42
        except GeneratorExit:
            closed.append("odd")
            raise
        return "not reached"

    async def main() -> None:
        with pytest.raises(TypeError, match="PollNeeded"):
            await AioFuture(odd())

    run_on_loop(main)
    assert closed == ["odd"]


# -- request bodies ------------------------------------------------------------------


def test_body_following_written_in_pieces(conn: HTTPConnection, app: AppServer) -> None:
    conn.send_request("PUT", "/upload", body=BodyFollowing(10))
    conn.write(b"abc")
    with pytest.raises(StateError, match="not been sent"):
        conn.read_response()
    for piece in (b"", b"defg", b"hij"):
        conn.write(piece)
    assert conn.read_response().status == 200
    assert conn.readall() == b"got abcdefghij"
    seen = app.requests[-1]
    assert seen.values("Content-Length") == ["10"]
    assert not seen.chunked


def test_excess_body_data_is_refused_and_not_sent(
    conn: HTTPConnection, app: AppServer
) -> None:
    conn.send_request("PUT", "/upload", body=BodyFollowing(8))
    conn.write(b"12345")
    with pytest.raises(ExcessBodyData, match="announced"):
        conn.write(b"6789")
    conn.write(b"678")
    with pytest.raises(StateError, match="no request body"):
        conn.write(b"9")
    assert conn.read_response().status == 200
    assert conn.readall() == b"got 12345678"
    assert_fresh_request_works(conn, "/r?next")
    assert [(r.method, r.target, r.body) for r in app.requests] == [
        ("PUT", "/upload", b"12345678"),
        ("GET", "/r?next", b""),
    ]


def test_body_following_without_length_is_chunked(
    conn: HTTPConnection, app: AppServer
) -> None:
    data = payload(5000)
    conn.send_request("POST", "/upload", body=BodyFollowing())
    for piece in pieces(data):
        conn.write(piece)
    conn.write(b"")
    assert fetch_rest(conn) == (200, b"got " + data)
    seen = app.requests[-1]
    assert seen.chunked
    assert seen.values("Content-Length") == []
    assert_fresh_request_works(conn)


BODIES: dict[str, Callable[[], Any]] = {
    "bytes": lambda: b"some body",
    "bytearray": lambda: bytearray(b"some body"),
    "memoryview of ints": lambda: memoryview(array.array("i", [1, 2, 3])),
}


@pytest.mark.parametrize("given", [None, "Q2hlY2sgSW50ZWdyaXR5IQ=="])
@pytest.mark.parametrize("kind", sorted(BODIES))
def test_bytes_body_gets_content_md5(
    conn: HTTPConnection, app: AppServer, kind: str, given: str | None
) -> None:
    body = BODIES[kind]()
    raw = memoryview(body).tobytes()
    headers = {"content-md5": given} if given else None
    assert fetch(conn, "/upload", "PUT", body=body, headers=headers) == (
        200,
        b"got " + raw,
    )
    seen = app.requests[-1]
    expected = given or b64encode(hashlib.md5(raw).digest()).decode()
    assert seen.values("Content-MD5") == [expected]
    assert seen.values("Content-Length") == [str(len(raw))]
    assert seen.body == raw


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_request_without_body_says_content_length_0(
    conn: HTTPConnection, app: AppServer, method: str
) -> None:
    assert fetch(conn, "/r?nobody", method) == (200, expected_body("/r?nobody"))
    assert app.requests[-1].values("Content-Length") == ["0"]


def test_default_headers(conn: HTTPConnection, app: AppServer) -> None:
    fetch(conn, "/r?defaults")
    seen = app.requests[-1]
    assert seen.values("Host") == [f"127.0.0.1:{app.port}"]
    assert seen.values("Accept-Encoding") == ["identity"]


def test_given_headers_replace_the_defaults(
    conn: HTTPConnection, app: AppServer
) -> None:
    headers = {"host": "example.test", "ACCEPT-ENCODING": "gzip", "X-Other": "1"}
    fetch(conn, "/r?given", headers=headers)
    seen = app.requests[-1]
    assert seen.values("Host") == ["example.test"]
    assert seen.values("Accept-Encoding") == ["gzip"]
    assert seen.values("X-Other") == ["1"]


@pytest.mark.parametrize(
    "hostname, port, host",
    [
        ("example.test", None, "example.test"),
        ("example.test", 80, "example.test:80"),
        ("example.test", 8080, "example.test:8080"),
        ("::1", None, "[::1]"),
    ],
)
def test_host_header_has_the_port_only_when_given(
    app: AppServer, hostname: str, port: int | None, host: str
) -> None:
    # The AppServer stands in for a plain proxy: the request comes to it in
    # absolute form, for a host that needs no resolving.
    with HTTPConnection(hostname, port, proxy=("127.0.0.1", app.port)) as conn:
        conn.timeout = SAFETY
        status, body = fetch(conn, "/r?host")
    seen = app.requests[-1]
    assert seen.target == f"http://{host}/r?host"
    assert seen.values("Host") == [host]
    assert (status, body) == (200, expected_body(seen.target))


@pytest.mark.parametrize(
    "method, path, headers",
    [
        ("GET", "/r", {"X-Bad": "a\r\nX-Injected: 1"}),
        ("GET", "/r", {"X-Bad": "a\nb"}),
        ("GET", "/r", {"X-Bad": "a\rb"}),
        ("GET", "/r", {"X-Bad\r\nX-Injected": "1"}),
        ("GE T", "/r", None),
        ("GET", "/r x", None),
        ("GET", "/r\r\nX-Injected: 1", None),
        ("GET", "/r\x01", None),
        ("GET", "/r\x7f", None),
    ],
)
def test_invalid_request_is_refused_before_sending(
    conn: HTTPConnection,
    app: AppServer,
    method: str,
    path: str,
    headers: dict[str, str] | None,
) -> None:
    with pytest.raises(ValueError, match=r"(?i)CR|LF|invalid|illegal"):
        conn.send_request(method, path, headers=headers)
    assert not conn.response_pending()
    assert_fresh_request_works(conn, "/r?good")
    assert [r.target for r in app.requests] == ["/r?good"]
    assert app.requests[0].values("X-Injected") == []


def test_write_without_body_expected(conn: HTTPConnection) -> None:
    conn.send_request("GET", "/r?nobody")
    with pytest.raises(StateError, match="no request body"):
        conn.write(b"x")
    assert fetch_rest(conn) == (200, expected_body("/r?nobody"))


# -- response bodies -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["length", "chunked"])
def test_read_returns_empty_only_at_the_end(conn: HTTPConnection, kind: str) -> None:
    path = f"/r?kind={kind}&size=50000"
    conn.send_request("GET", path)
    response = conn.read_response()
    assert response.length == (50000 if kind == "length" else None)
    parts = []
    while len(b"".join(parts)) < 50000:
        part = conn.read(777)
        assert 0 < len(part) <= 777, "read() returned b'' before the end"
        parts.append(part)
    assert b"".join(parts) == payload(50000)
    assert conn.read(777) == b""
    assert conn.read(777) == b""
    assert not conn.response_pending()


def readinto_target(kind: str) -> tuple[Any, bytearray | None]:
    """(buffer, the bytearray around it) for ``readinto``; 100 bytes."""
    if kind == "bytearray":
        return bytearray(100), None
    if kind == "memoryview slice":
        backing = bytearray(300)
        return memoryview(backing)[50:150], backing
    return array.array("i", bytes(100)), None


@pytest.mark.parametrize("kind", ["length", "chunked"])
@pytest.mark.parametrize("buffer", ["bytearray", "memoryview slice", "array of int"])
def test_readinto(conn: HTTPConnection, kind: str, buffer: str) -> None:
    path = f"/r?kind={kind}&size=1234"
    conn.send_request("GET", path)
    conn.read_response()
    got = bytearray()
    while True:
        target, backing = readinto_target(buffer)
        n = conn.readinto(target)
        if backing is not None:
            # Only the slice is written to.
            assert backing[:50] == bytes(50) and backing[150:] == bytes(150)
        if not n:
            break
        assert 0 < n <= 100
        with memoryview(target) as view:
            got += view.cast("B")[:n]
    assert bytes(got) == payload(1234)
    assert conn.readinto(readinto_target(buffer)[0]) == 0
    assert not conn.response_pending()


@pytest.mark.parametrize("kind", ["length", "chunked"])
def test_discard_then_next_response(conn: HTTPConnection, kind: str) -> None:
    conn.send_request("GET", f"/r?kind={kind}&size=300000")
    conn.send_request("GET", "/r?after")
    conn.read_response()
    assert conn.read(10) == payload(10)
    conn.discard()
    response = conn.read_response()
    assert response.path == "/r?after"
    assert conn.readall() == expected_body("/r?after")
    assert not conn.response_pending()


@pytest.mark.parametrize("kind", ["length", "chunked"])
@pytest.mark.parametrize("size", [16, 63, 100])
def test_small_read_buffer(conn: HTTPConnection, size: int, kind: str) -> None:
    conn._rbuf = dugong._Buffer(size)
    paths = [f"/r?kind={kind}&size={n}" for n in (0, 1, size - 1, size, size + 1, 5000)]
    for path in paths:
        conn.send_request("GET", path)
    for i, path in enumerate(paths):
        response = conn.read_response()
        assert response.path == path
        body = expected_body(path)
        if i % 2:
            assert conn.readall() == body
        else:
            parts = []
            while part := conn.read(37):
                parts.append(part)
            assert b"".join(parts) == body
    assert not conn.response_pending()


UNTIL_CLOSE = {
    "connection close": (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", None),
    "http/1.0": (b"HTTP/1.0 200 OK\r\nX-Old: yes\r\n\r\n", None),
    "http/1.0 with length": (
        b"HTTP/1.0 200 OK\r\nContent-Length: 20000\r\n\r\n",
        20000,
    ),
}


@pytest.mark.parametrize("case", sorted(UNTIL_CLOSE))
def test_response_that_ends_the_connection(canned: CannedServer, case: str) -> None:
    head, length = UNTIL_CLOSE[case]
    body = payload(20000)
    canned.answers["/last"] = fault(head + body, then="close", follower=False)
    with connection(canned) as conn:
        conn.send_request("GET", "/last")
        response = conn.read_response()
        assert (response.status, response.length) == (200, length)
        assert conn.read(100) == body[:100]
        assert conn.readall() == body[100:]
        assert conn.read(100) == b""
        assert not conn.response_pending()
        conn.disconnect()
        assert_fresh_request_works(conn)


def test_reading_through_text_io_wrapper(canned: CannedServer) -> None:
    text = "line one\nline two\nüñîçødé ☃\n" * 20
    data = text.encode()
    head = response_head(200, [("Transfer-Encoding", "chunked")])
    # Pieces of 1, 2, 3... bytes: multi-byte characters are split.
    canned.answers["/text"] = fault(head + chunked(*pieces(data)), follower=False)
    with connection(canned) as conn:
        conn.send_request("GET", "/text")
        conn.read_response()
        wrapper = io.TextIOWrapper(conn, encoding="utf-8")  # type: ignore[arg-type]
        try:
            assert wrapper.readline() == "line one\n"
            assert wrapper.read() == text[len("line one\n") :]
            assert not conn.response_pending()
            # Detached, the connection goes on serving.
            assert wrapper.detach() is conn
            assert_fresh_request_works(conn)
            # Closing a wrapper closes the connection.
            conn.send_request("GET", "/text")
            conn.read_response()
            with io.TextIOWrapper(conn, encoding="utf-8") as fh:  # type: ignore[arg-type]
                assert fh.read() == text
            assert conn.closed
        finally:
            # A failed detach leaves the wrapper attached: don't let it close
            # the connection later, in another test's time.
            del wrapper


# -- Expect: 100-continue ------------------------------------------------------------


def test_expect_100_continue_accepted(conn: HTTPConnection, app: AppServer) -> None:
    conn.send_request("PUT", "/upload", body=BodyFollowing(5), expect100=True)
    with pytest.raises(StateError, match="100"):
        conn.write(b"early")
    interim = conn.read_response()
    assert (interim.status, interim.length) == (100, 0)
    conn.write(b"hello")
    assert fetch_rest(conn) == (200, b"got hello")
    assert not conn.response_pending()
    seen = app.requests[-1]
    assert seen.values("Expect") == ["100-continue"]
    assert seen.body == b"hello"


@pytest.mark.parametrize("code", [417, 403])
def test_expect_100_continue_refused(
    conn: HTTPConnection, app: AppServer, code: int
) -> None:
    conn.send_request(
        "PUT", f"/refuse?code={code}", body=BodyFollowing(5), expect100=True
    )
    assert fetch_rest(conn) == (code, b"refused %d" % code)
    with pytest.raises(StateError):
        conn.write(b"hello")
    assert not conn.response_pending()
    # The same connection goes on: no body byte went out before this request.
    assert_fresh_request_works(conn, "/r?next")
    assert app.connections == 1
    assert [(r.method, r.target) for r in app.requests] == [
        ("PUT", f"/refuse?code={code}"),
        ("GET", "/r?next"),
    ]


def test_expect_100_needs_body_following(conn: HTTPConnection) -> None:
    with pytest.raises(ValueError, match="BodyFollowing"):
        conn.send_request("PUT", "/upload", body=b"hello", expect100=True)
    assert not conn.response_pending()
    assert_fresh_request_works(conn)


# -- faults --------------------------------------------------------------------------

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"

#: id: (bytes sent, then, where the error shows, exception, message pattern).
#: Where: "head" (read_response), "body" (reading the body), "next" (the
#: read_response after a body read in full).
FAULTS: dict[str, tuple[bytes, str, str, type[Exception], str]] = {
    "close mid-head": (
        b"HTTP/1.1 200 OK\r\nContent-Le",
        "close",
        "head",
        ConnectionClosed,
        "closed.*head",
    ),
    "close mid-length-body": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd",
        "close",
        "body",
        ConnectionClosed,
        r"\b6 bytes",
    ),
    "close mid-chunked-body": (
        CHUNKED_HEAD + b"5\r\nabcde\r\n3\r\nab",
        "close",
        "body",
        ConnectionClosed,
        "closed.*chunked",
    ),
    "invalid status line": (
        b"HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\nok",
        "keep",
        "head",
        InvalidResponse,
        "(?i)status",
    ),
    "invalid header line": (
        b"HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 2\r\n\r\nok",
        "keep",
        "head",
        InvalidResponse,
        "(?i)header",
    ),
    "invalid chunk size": (
        CHUNKED_HEAD + b"zz\r\nabc\r\n0\r\n\r\n",
        "keep",
        "body",
        InvalidResponse,
        "(?i)chunk",
    ),
    "mixed line ends": (
        b"HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 2\r\n\r\nok",
        "keep",
        "head",
        InvalidResponse,
        "(?i)line ends",
    ),
    "content-length of 5000 digits": (
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\nok",
        "keep",
        "head",
        InvalidResponse,
        "Content-Length of 5000 digits",
    ),
    "chunk extension with no name": (
        CHUNKED_HEAD + b"3;\r\nabc\r\n0\r\n\r\n",
        "keep",
        "body",
        InvalidResponse,
        "(?i)empty extension name",
    ),
    "length and chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n0\r\n\r\n",
        "keep",
        "head",
        InvalidResponse,
        "Transfer-Encoding.*Content-Length|Content-Length.*Transfer-Encoding",
    ),
    "http/2.0": (
        b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "keep",
        "head",
        UnsupportedResponse,
        "(?i)version|HTTP/2",
    ),
    "101 switching protocols": (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\n\r\n",
        "keep",
        "head",
        UnsupportedResponse,
        "(?i)switch|101|upgrade",
    ),
    "11 interim responses": (
        b"HTTP/1.1 102 Processing\r\n\r\n" * 11 + OK_HEAD + b"ok",
        "keep",
        "head",
        InvalidResponse,
        "(?i)informational|interim|1xx",
    ),
    "head over MAX_HEADER_SIZE": (
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\n" + OK_HEAD[17:] + b"ok",
        "keep",
        "head",
        InvalidResponse,
        "(?i)long|large|size",
    ),
    "head over both limits": (
        b"HTTP/1.1 200 OK\r\n"
        + b"".join(b"X-Many-%d: %s\r\n" % (i, b"b" * 1000) for i in range(200))
        + OK_HEAD[17:]
        + b"ok",
        "keep",
        "head",
        InvalidResponse,
        "(?i)long|large|size",
    ),
    "tcp reset": (b"", "reset", "head", ConnectionClosed, "(?i)reset"),
    "body longer than announced": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA BYTES",
        "keep",
        "next",
        InvalidResponse,
        "(?i)response|status|version",
    ),
}


# What a strict connection refuses and a default one reads.
STRICT_ONLY_RESPONSES = {
    "bare LF": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "repeated length": b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
    "chunked HTTP/1.0": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"2\r\nok\r\n0\r\n\r\n",
    "whitespace in a chunk extension": CHUNKED_HEAD + b"2 ; a\r\nok\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("case", list(STRICT_ONLY_RESPONSES))
@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_strict_refuses_what_rfc_9112_only_allows(
    canned: CannedServer, case: str, strict: bool
) -> None:
    canned.answers["/lenient"] = fault(STRICT_ONLY_RESPONSES[case], "close", False)
    with connection(canned) as conn:
        conn.strict = strict
        conn.send_request("GET", "/lenient")
        if not strict:
            conn.read_response()
            assert conn.readall() == b"ok"
            return
        with pytest.raises(InvalidResponse, match="(?i)strict"):
            conn.read_response()
            conn.readall()


@pytest.mark.parametrize("case", list(FAULTS))
def test_fault_stops_the_stream_until_disconnect(
    canned: CannedServer, case: str
) -> None:
    data, then, where, error, message = FAULTS[case]
    canned.answers["/fault"] = fault(data, then)
    with connection(canned) as conn:
        conn.send_request("GET", "/fault")
        # Pipelined behind: its response must never come out of this
        # connection now.
        conn.send_request("GET", "/r?follower")
        if where == "head":
            with pytest.raises(error, match=message):
                conn.read_response()
        else:
            response = conn.read_response()
            assert response.path == "/fault"
            if where == "body":
                with pytest.raises(error, match=message):
                    conn.readall()
                with pytest.raises((error, StateError)):
                    conn.read(1)
            else:
                assert conn.readall() == b"abc"
                with pytest.raises(error, match=message):
                    conn.read_response()
        assert_stream_abandoned(conn)
    assert [r.target for r in canned.received] == ["/fault", "/r?follower", "/r?fresh"]


def test_ten_interim_responses_are_skipped(canned: CannedServer) -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
    interim += b"HTTP/1.1 100 Continue\r\n\r\n" + b"HTTP/1.1 102 Processing\r\n\r\n" * 8
    canned.answers["/hints"] = fault(interim + OK_HEAD + b"ok")
    with connection(canned) as conn:
        conn.send_request("GET", "/hints")
        conn.send_request("GET", "/r?follower")
        assert fetch_rest(conn) == (200, b"ok")
        assert fetch_rest(conn) == (200, expected_body("/r?follower"))


def test_head_just_under_max_header_size(canned: CannedServer) -> None:
    big = b"c" * (dugong.MAX_HEADER_SIZE - 100)
    canned.answers["/big-head"] = fault(
        b"HTTP/1.1 200 OK\r\nX-Big: " + big + b"\r\n" + OK_HEAD[17:] + b"ok"
    )
    with connection(canned) as conn:
        conn.send_request("GET", "/big-head")
        conn.send_request("GET", "/r?follower")
        response = conn.read_response()
        assert response.headers["x-big"] == big.decode()
        assert conn.readall() == b"ok"
        assert fetch_rest(conn) == (200, expected_body("/r?follower"))


def test_body_without_length_on_a_kept_connection(canned: CannedServer) -> None:
    raw = payload(3000)
    canned.answers["/undelimited"] = fault(
        b"HTTP/1.1 200 OK\r\nX-Kind: undelimited\r\n\r\n" + raw, follower=False
    )
    with connection(canned) as conn:
        conn.send_request("GET", "/undelimited")
        response = conn.read_response()
        assert (response.status, response.length) == (200, None)
        for read in (lambda: conn.read(10), conn.readall, conn.discard):
            with pytest.raises(UnsupportedResponse, match="Content-Length"):
                read()
        got = b""
        while len(got) < len(raw):
            piece = conn.read_raw(1000)
            assert piece, "read_raw() found the stream closed"
            got += piece
        assert got == raw
        assert_stream_abandoned(conn)


def test_connection_close_response(canned: CannedServer) -> None:
    body = b"last words"
    head = response_head(200, [("Connection", "close"), ("Content-Length", "10")])
    canned.answers["/bye"] = fault(head + body, then="close", follower=False)
    with connection(canned) as conn:
        conn.send_request("GET", "/bye")
        response = conn.read_response()
        assert response.headers["CONNECTION"] == "close"
        assert conn.readall() == body
        # It goes nowhere, without an error...
        conn.send_request("GET", "/r?after-close")
        # ...and its response is known never to come.
        with pytest.raises(ConnectionClosed, match="close"):
            conn.read_response()
        assert_stream_abandoned(conn)
    assert [r.target for r in canned.received] == ["/bye", "/r?fresh"]
    assert canned.connections == 2


@pytest.mark.parametrize(
    "before, after, step",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 10\r\n\r\nhelloworld", "head"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", b"world", "body"),
        (CHUNKED_HEAD + b"5\r\nhello\r\n", b"5\r\nworld\r\n0\r\n\r\n", "body"),
    ],
    ids=["read_response", "read length", "read chunked"],
)
def test_read_timeout_then_the_rest(
    canned: CannedServer, before: bytes, after: bytes, step: str
) -> None:
    """A read that times out loses nothing: once the server goes on, the same
    response, and the one pipelined behind it, come out whole."""
    go = Signal()
    canned.answers["/slow"] = stalled(before, go, after)
    try:
        with connection(canned) as conn:
            conn.send_request("GET", "/slow")
            conn.send_request("GET", "/r?behind")
            if step == "head":
                conn.timeout = SHORT_TIMEOUT
                with pytest.raises(ConnectionTimedOut, match="timeout|timed out"):
                    conn.read_response()
            else:
                # What the server sends before it stalls must come whatever
                # the machine's load: only the read past it is meant to time out.
                assert conn.read_response().path == "/slow"
                assert conn.read(10) == b"hello"
                conn.timeout = SHORT_TIMEOUT
                with pytest.raises(ConnectionTimedOut, match="timeout|timed out"):
                    conn.read(10)
            go.set()
            conn.timeout = SAFETY
            if step == "head":
                assert conn.read_response().path == "/slow"
                assert conn.readall() == b"helloworld"
            else:
                assert conn.readall() == b"world"
            assert fetch_rest(conn) == (200, expected_body("/r?behind"))
    finally:
        go.set()


def test_write_timeout_when_the_server_stops_reading(canned: CannedServer) -> None:
    go = Signal()
    canned.answers["/upload-stall"] = stalled(b"", go, body=False)
    try:
        with connection(canned) as conn:
            conn.send_request("PUT", "/upload-stall", body=BodyFollowing(LARGE_UPLOAD))
            conn.timeout = SHORT_TIMEOUT
            with pytest.raises(ConnectionTimedOut):
                conn.write(bytes(LARGE_UPLOAD))
            conn.timeout = SAFETY
            assert_stream_abandoned(conn)
    finally:
        go.set()
    assert canned.connections == 2


# -- abandoned send coroutines -------------------------------------------------------


def test_send_abandoned_after_part_went_out_disconnects(canned: CannedServer) -> None:
    go = Signal()
    canned.answers["/big"] = stalled(b"", go, body=False)
    try:
        with connection(canned) as conn:
            crt = conn.co_send_request("PUT", "/big", body=bytes(LARGE_UPLOAD))
            assert isinstance(next(crt), PollNeeded), "the whole body went out"
            crt.close()
            assert not conn.response_pending()
            assert conn.closed
            assert_fresh_request_works(conn, "/r?again")
    finally:
        go.set()
    assert canned.connections == 2
    assert [r.target for r in canned.received] == ["/big", "/r?again"]


def send_until_blocked(conn: HTTPConnection, sent: list[str]) -> bool:
    """Pipeline GETs with co_send_request until one has to wait, and abandon
    that one; whether part of it went out before it waited."""
    trace = io.BytesIO()
    conn.trace_fh = trace
    try:
        while len(sent) < 100_000:
            path = f"/r?i={len(sent)}"
            before = trace.tell()
            crt = conn.co_send_request("GET", path)
            try:
                next(crt)
            except StopIteration:
                sent.append(path)
                continue
            crt.close()
            return trace.tell() > before
    finally:
        conn.trace_fh = None
    raise AssertionError("sending never blocked")


def test_send_abandoned_before_any_byte_leaves_nothing_pending(
    canned: CannedServer,
) -> None:
    held = response_head(200, [("Content-Length", "4")]) + b"held"
    signals: list[Signal] = []
    try:
        # Rarely, the request that has to wait got part of itself out first
        # (then the connection is dropped, as the test above checks): try
        # again until the wait came before its first byte.
        for _attempt in range(5):
            go = Signal()
            signals.append(go)
            canned.answers["/hold"] = stalled(b"", go, held)
            with connection(canned) as conn:
                first = len(canned.received)
                conn.send_request("GET", "/hold")
                # A small send buffer: it fills after a few hundred requests.
                conn._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # type: ignore[union-attr]
                sent: list[str] = []
                if send_until_blocked(conn, sent):
                    assert conn.closed and not conn.response_pending()
                    continue
                assert not conn.closed
                assert conn.response_pending()
                go.set()
                assert fetch_rest(conn) == (200, b"held")
                for path in sent:
                    response = conn.read_response()
                    assert response.path == path
                    assert conn.readall() == expected_body(path)
                assert not conn.response_pending()
                assert_fresh_request_works(conn, "/r?last")
                targets = [r.target for r in canned.received[first:]]
                assert targets == ["/hold", *sent, "/r?last"]
                return
        raise AssertionError("every blocked request had sent part of itself")
    finally:
        for signal in signals:
            signal.set()


# -- TLS -----------------------------------------------------------------------------


def test_tls_requests(thread: LoopThread, tls: TLS) -> None:
    server = app_server(thread, ssl_context=tls.server_context())
    paths = ["/r?kind=length&i=1", "/r?kind=chunked&size=200000", "/r?kind=length"]
    with connection(server, ssl_context=client_context(tls)) as conn:
        for path in paths:
            conn.send_request("GET", path)
        for path in paths:
            assert fetch_rest(conn) == (200, expected_body(path))
        cipher = conn.get_ssl_cipher()
        assert cipher is not None and cipher[1].startswith("TLS")
        cert = conn.get_ssl_peercert()
        assert cert is not None
        assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]
        assert isinstance(conn.get_ssl_peercert(binary_form=True), bytes)
    assert conn.get_ssl_cipher() is None
    assert [r.target for r in server.requests] == paths
    assert not server.errors, server.errors


def test_plain_http_has_no_tls_details(conn: HTTPConnection) -> None:
    assert_fresh_request_works(conn)
    assert conn.get_ssl_cipher() is None
    assert conn.get_ssl_peercert() is None


def test_tls_refuses_a_certificate_for_another_name(
    thread: LoopThread, tls: TLS
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.ca.issue_cert("other.test").configure_cert(server_context)
    server = app_server(thread, ssl_context=server_context)
    context = client_context(tls)
    assert context.check_hostname
    with connection(server, ssl_context=context) as conn:
        with pytest.raises(ssl.SSLCertVerificationError, match="127.0.0.1|mismatch"):
            conn.send_request("GET", "/r")
        assert conn.closed
        assert not conn.response_pending()
    assert server.requests == []


# -- through tinyproxy ---------------------------------------------------------------


@pytest.fixture
def proxies(tmp_path: Path) -> Iterator[TinyproxyFactory]:
    with tinyproxies(tmp_path / "proxies") as factory:
        yield factory


def test_plain_http_through_tinyproxy(
    app: AppServer, proxies: TinyproxyFactory
) -> None:
    proxy = proxies.start()
    path = "/r?via=tinyproxy"
    with connection(app, proxy=(proxy.host, proxy.port)) as conn:
        assert fetch(conn, path) == (200, expected_body(path))
    seen = app.requests[-1]
    assert seen.target == path
    assert any(PROXY_VIA_NAME in v for v in seen.values("Via")), seen.headers
    assert f"GET http://127.0.0.1:{app.port}{path} HTTP/1.1" in proxy.log()


def test_https_through_tinyproxy_tunnel(
    thread: LoopThread, tls: TLS, proxies: TinyproxyFactory
) -> None:
    server = app_server(thread, ssl_context=tls.server_context())
    proxy = proxies.start(connect_ports=[server.port])
    paths = ["/r?tunnel=1", "/r?tunnel=2&kind=chunked&size=30000"]
    with connection(
        server, ssl_context=client_context(tls), proxy=(proxy.host, proxy.port)
    ) as conn:
        for path in paths:
            conn.send_request("GET", path)
        for path in paths:
            assert fetch_rest(conn) == (200, expected_body(path))
        assert conn.get_ssl_peercert() is not None
    # Inside the tunnel the proxy sees nothing: origin-form, no Via.
    assert [r.target for r in server.requests] == paths
    assert all(not r.values("Via") for r in server.requests)
    assert f"CONNECT 127.0.0.1:{server.port}" in proxy.log()
    assert not server.errors, server.errors


def test_tunnel_refused_by_the_proxy(
    thread: LoopThread, tls: TLS, proxies: TinyproxyFactory
) -> None:
    server = app_server(thread, ssl_context=tls.server_context())
    proxy = proxies.start()  # CONNECT allowed to no port
    with connection(
        server, ssl_context=client_context(tls), proxy=(proxy.host, proxy.port)
    ) as conn:
        with pytest.raises(OSError, match="403"):
            conn.send_request("GET", "/r")
        assert conn.closed
    assert server.requests == []


# -- name errors ---------------------------------------------------------------------


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """socket.getaddrinfo failing with the given code for the names in the
    returned dict, and resolving the others as usual."""
    failing: dict[str, int] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in failing:
            raise socket.gaierror(failing[host], f"fake failure for {host}")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return failing


@pytest.mark.parametrize(
    "code, probe_resolves, error",
    [
        (socket.EAI_AGAIN, True, DNSUnavailable),
        (socket.EAI_NONAME, True, HostnameNotResolvable),
        (socket.EAI_NONAME, False, DNSUnavailable),
    ],
    ids=["EAI_AGAIN", "no such name", "no name resolves"],
)
def test_name_errors(
    fake_dns: dict[str, int],
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    probe_resolves: bool,
    error: type[Exception],
) -> None:
    fake_dns["target.test"] = code
    fake_dns["probe.test"] = socket.EAI_NONAME
    probe = "localhost" if probe_resolves else "probe.test"
    monkeypatch.setattr(dugong, "DNS_TEST_HOSTNAMES", ((probe, 80),))
    with HTTPConnection("target.test", 80) as conn:
        with pytest.raises(error, match="target.test") as info:
            conn.send_request("GET", "/")
        assert conn.closed
        assert not conn.response_pending()
    assert info.value.hostname == "target.test"  # type: ignore[attr-defined]
    assert is_temp_network_error(info.value) == (error is DNSUnavailable)


@pytest.mark.parametrize(
    "exc, temporary",
    [
        (ConnectionClosed(), True),
        (ConnectionTimedOut(), True),
        (DNSUnavailable("host.test"), True),
        (ConnectionResetError(), True),
        (BrokenPipeError(), True),
        (TimeoutError(), True),
        (OSError(errno.ENETUNREACH, "unreachable"), True),
        (HostnameNotResolvable("host.test"), False),
        (socket.gaierror(socket.EAI_NONAME, "no name"), False),
        (InvalidResponse(), False),
        (ValueError(), False),
        (OSError(errno.ENOENT, "no file"), False),
    ],
    ids=repr,
)
def test_is_temp_network_error(exc: BaseException, temporary: bool) -> None:
    assert is_temp_network_error(exc) is temporary


# -- small types ---------------------------------------------------------------------


def test_case_insensitive_dict() -> None:
    d = CaseInsensitiveDict({"Content-Type": "text/plain"}, Accept="*/*")
    assert d["content-type"] == "text/plain"
    assert d.get("CONTENT-TYPE") == "text/plain"
    assert d.get("missing") is None
    assert "ACCEPT" in d and "missing" not in d and 1 not in d
    d["CONTENT-type"] = "text/html"
    assert len(d) == 2
    assert sorted(d) == ["Accept", "CONTENT-type"]
    assert sorted(d.lower_items()) == [("accept", "*/*"), ("content-type", "text/html")]
    assert d == {"content-type": "text/html", "ACCEPT": "*/*"}
    assert d != {"content-type": "text/html"}
    assert d != {"content-type": "text/plain", "accept": "*/*"}
    assert d != 5

    copy = d.copy()
    assert isinstance(copy, CaseInsensitiveDict) and copy == d
    copy["X-New"] = "1"
    del copy["accept"]
    assert "x-new" not in d and "accept" in d
    assert sorted(copy) == ["CONTENT-type", "X-New"]

    del d["Content-Type"]
    assert "content-type" not in d
    with pytest.raises(KeyError):
        d["content-type"]


def test_poll_needed_poll() -> None:
    a, b = socket.socketpair()
    with a, b:
        readable = PollNeeded(a.fileno(), POLLIN)
        assert readable.poll(0.01) is False
        b.send(b"x")
        assert readable.poll(SAFETY) is True
        assert readable.poll() is True
        assert PollNeeded(a.fileno(), POLLOUT).poll(SAFETY) is True
        assert "POLLIN" in repr(readable)


def test_eval_coroutine_times_out_and_closes_the_coroutine() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.setblocking(False)
        closed: list[str] = []
        with pytest.raises(ConnectionTimedOut, match="timeout"):
            eval_coroutine(receiving(a, 1, closed, "waiting"), timeout=0.01)
        assert closed == ["waiting"]
        b.send(b"xy")
        assert eval_coroutine(receiving(a, 2), timeout=SAFETY) == b"xy"


# -- one byte at a time --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["length", "chunked"])
@pytest.mark.parametrize("buffer", [None, 16])
def test_response_delivered_one_byte_at_a_time(
    canned: CannedServer, kind: str, buffer: int | None
) -> None:
    body = payload(400)
    fields = [("X-Long", "v" * 100), ("X-Repeated", "1"), ("x-repeated", "2")]
    if kind == "length":
        data = response_head(200, [*fields, ("Content-Length", "400")]) + body
    else:
        data = response_head(200, [*fields, ("Transfer-Encoding", "chunked")])
        data += chunked(*pieces(body))
    canned.answers["/trickle"] = trickled(data)
    with connection(canned) as conn:
        if buffer is not None:
            conn._rbuf = dugong._Buffer(buffer)
        conn.send_request("GET", "/trickle")
        conn.send_request("GET", "/r?after")
        response = conn.read_response()
        assert (response.status, response.reason) == (200, "OK")
        assert response.headers["x-long"] == "v" * 100
        assert response.headers["X-REPEATED"] == "1, 2"
        assert conn.readall() == body
        assert fetch_rest(conn) == (200, expected_body("/r?after"))
