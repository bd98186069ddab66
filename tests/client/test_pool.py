"""Keep-alive connection reuse, seen from the server: it counts connections.

The simple client keeps idle connections per pool key (scheme, host, port,
unix socket, TLS settings, proxy and its credentials, source address,
allow_ipv6); libcurl keeps a connection cache of its own, so the assertions
that are about HTTP (reuse, no reuse after an exchange that did not end
cleanly, one retry of an idempotent request) run with both backends, and
those about the simple client's options (``max_idle_connections``,
``idle_timeout``, the exact retry rule) with the simple client only.

The servers are :func:`~tests.client.servers.serve_http` (our HTTPServer)
and scripted ones whose every answer names the connection that carried it
(``X-Connection``), so "the client reused a connection it should have
dropped" shows up as the wrong connection number, not as a hang.  Scripts
that misbehave keep the connection open and go on answering, so that a
wrongful reuse would succeed visibly.  Tests wait for server-side events
(a connection closing) with a deadline; none sleeps.

Run with ``-s`` to see the connection counts of 100 sequential fetches.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client.conftest import Backend
from tests.client.servers import (
    LOOPBACK,
    TLS,
    ScriptedConnection,
    ScriptedServer,
    closing_client,
    connection_of,
    described,
    header_values,
    keep_alive,
    per_connection,
    serve_http,
    serve_script,
)
from tests.support import run
from tornado_compat.httpclient import HTTPClientError, HTTPResponse
from tornado_compat.httpclient.curl import CurlAsyncHTTPClient
from tornado_compat.httpclient.simple import SimpleAsyncHTTPClient

#: Sequential fetches in the reuse-counting tests.
SEQUENTIAL = 100


@pytest.fixture
def simple() -> Iterator[Backend]:
    """The simple client alone, for tests of its own options and rules
    (max_idle_connections, idle_timeout, which requests are retried)."""
    chosen = Backend("simple", SimpleAsyncHTTPClient)
    try:
        yield chosen
    finally:
        chosen.close_all()


@pytest.fixture
def curl() -> Iterator[Backend]:
    """The curl client alone, for its own rule on which requests may meet a
    reused connection."""
    chosen = Backend("curl", CurlAsyncHTTPClient)
    try:
        yield chosen
    finally:
        chosen.close_all()


# -- reuse -----------------------------------------------------------------------


def test_sequential_fetches_share_one_connection(backend: Backend) -> None:
    async def main() -> None:
        async with serve_http() as origin, closing_client(backend) as client:
            for i in range(SEQUENTIAL):
                response = await client.fetch(origin.url(f"/n/{i}"))
                assert described(response)["uri"] == f"/n/{i}"
            print(
                f"\n[{backend.name}] {SEQUENTIAL} sequential GETs, pooling on: "
                f"{origin.log.accepted} connection(s) accepted"
            )
            assert origin.app.calls == SEQUENTIAL
            assert origin.log.accepted == 1

    run(main)


def test_without_pooling_every_fetch_has_its_own_connection(simple: Backend) -> None:
    async def main() -> None:
        async with (
            serve_http() as origin,
            closing_client(simple, max_idle_connections=0) as client,
        ):
            for i in range(SEQUENTIAL):
                response = await client.fetch(origin.url(f"/n/{i}"))
                assert header_values(described(response), "Connection") == ["close"]
            print(
                f"\n[{simple.name}] {SEQUENTIAL} sequential GETs, "
                f"max_idle_connections=0: {origin.log.accepted} connection(s) accepted"
            )
            assert origin.log.accepted == SEQUENTIAL
            # Connection: close means the server closes each one.
            await origin.log.wait_closed(SEQUENTIAL)

    run(main)


def test_max_idle_connections_bounds_the_idle_pool(simple: Backend) -> None:
    async def main() -> None:
        barrier = Barrier(3)
        async with (
            serve_script(barrier.script) as server,
            closing_client(simple, max_clients=3, max_idle_connections=1) as client,
        ):
            await asyncio.gather(*(client.fetch(server.url()) for _ in range(3)))
            assert server.log.accepted == 3
            # Two of the three are more than the pool keeps: closed.
            await server.log.wait_closed(2)
            # The one kept serves the next fetch.
            await client.fetch(server.url())
            assert server.log.accepted == 3
            assert server.log.closed == 2

    run(main)


def test_unix_socket_connections_are_reused(backend: Backend, tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")

    async def main() -> None:
        async with (
            serve_http(tcp=False, unix_socket=path) as origin,
            closing_client(backend) as client,
        ):
            for _ in range(5):
                await client.fetch("http://unix.test/", unix_socket=path)
            assert origin.log.accepted == 1

    run(main)


# -- what must not share a connection ---------------------------------------------


def test_no_reuse_across_ports(backend: Backend) -> None:
    async def main() -> None:
        async with (
            serve_http() as one,
            serve_http() as two,
            closing_client(backend) as client,
        ):
            for _ in range(3):
                for origin in (one, two):
                    response = await client.fetch(origin.url("/"))
                    assert described(response)["host"] == f"127.0.0.1:{origin.port}"
            assert (one.log.accepted, two.log.accepted) == (1, 1)
            assert (one.app.calls, two.app.calls) == (3, 3)

    run(main)


def second_loopback_works() -> bool:
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not second_loopback_works(), reason="no 127.0.0.2 here (macOS)")
def test_no_reuse_across_hosts(backend: Backend) -> None:
    # One server, one port, two addresses: only the host differs.
    async def main() -> None:
        async with (
            serve_http(addresses=(LOOPBACK, "127.0.0.2")) as origin,
            closing_client(backend) as client,
        ):
            hosts = []
            for _ in range(3):
                for host in (LOOPBACK, "127.0.0.2"):
                    response = await client.fetch(origin.url("/", host=host))
                    hosts.append(described(response)["host"])
            assert hosts == [f"{h}:{origin.port}" for h in [LOOPBACK, "127.0.0.2"] * 3]
            assert origin.log.accepted == 2

    run(main)


def test_no_reuse_across_tls_settings(backend: Backend, tmp_path: Path) -> None:
    tls = TLS(tmp_path)
    same_ca_elsewhere = tls.copy_ca_file(tmp_path / "same-ca-other-file.pem")

    async def main() -> None:
        async with (
            serve_http(ssl_options=tls.server_context()) as origin,
            closing_client(backend) as client,
        ):
            settings: list[dict[str, Any]] = [
                {"ca_certs": tls.ca_file, "validate_cert": True},
                {"validate_cert": False},
                {"ca_certs": same_ca_elsewhere, "validate_cert": True},
            ]
            accepted = []
            for options in settings * 2:
                await client.fetch(origin.url("/"), **options)
                accepted.append(origin.log.accepted)
            # A new connection for each new setting, then reuse of each.
            assert accepted == [1, 2, 3, 3, 3, 3]

    run(main)


def test_no_reuse_between_unix_socket_and_tcp(backend: Backend, tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")

    async def main() -> None:
        async with (
            serve_http(unix_socket=path) as origin,
            closing_client(backend) as client,
        ):
            url = origin.url("/")
            for _ in range(3):
                await client.fetch(url)
                await client.fetch(url, unix_socket=path)
            assert origin.log.accepted == 2
            tcp_peers = [p for p in origin.log.peers if isinstance(p, tuple) and p]
            assert len(tcp_peers) == 1

    run(main)


def test_no_reuse_across_proxies(backend: Backend) -> None:
    # Scripted "proxies" that answer absolute-form requests themselves, and
    # keep their connections alive (tinyproxy closes after each request).
    async def main() -> None:
        async with (
            serve_script() as origin,
            serve_script() as proxy_a,
            serve_script() as proxy_b,
            closing_client(backend) as client,
        ):
            url = origin.url("/thing")
            via_a = {"proxy_host": LOOPBACK, "proxy_port": proxy_a.port}
            via_b = {"proxy_host": LOOPBACK, "proxy_port": proxy_b.port}

            await client.fetch(url)
            await client.fetch(url, **via_a)
            await client.fetch(url, **via_a)
            await client.fetch(url, **via_b)
            await client.fetch(url)
            assert origin.log.accepted == 1
            assert [r.target for r in origin.requests] == ["/thing", "/thing"]
            assert proxy_a.log.accepted == 1
            assert [r.target for r in proxy_a.requests] == [url, url]
            assert proxy_b.log.accepted == 1
            assert [r.target for r in proxy_b.requests] == [url]

    run(main)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_no_reuse_across_proxy_credentials(backend: Backend) -> None:
    async def main() -> None:
        async with (
            serve_script() as proxy,
            closing_client(backend) as client,
        ):
            url = "http://origin.test/"
            plain = {"proxy_host": LOOPBACK, "proxy_port": proxy.port}
            alice = {**plain, "proxy_username": "alice", "proxy_password": "a"}
            bob = {**plain, "proxy_username": "bob", "proxy_password": "b"}
            for options in (plain, alice, bob) * 2:
                await client.fetch(url, **options)
            authorizations = [r.header("Proxy-Authorization") for r in proxy.requests]
            assert authorizations == [None, basic("alice", "a"), basic("bob", "b")] * 2
            assert [r.connection for r in proxy.requests] == [1, 2, 3, 1, 2, 3]

    run(main)


# -- what must not be reused afterwards ---------------------------------------------


async def fetch_twice_expect_fresh(
    client: Any,
    server: ScriptedServer,
    second_method: str = "GET",
    **first_kwargs: Any,
) -> tuple[HTTPResponse | BaseException, HTTPResponse]:
    """Fetch once (the exchange the test is about), wait for the client to
    drop that connection, then fetch again, which must get a new one."""
    first: HTTPResponse | BaseException
    try:
        first = await client.fetch(server.url("/first"), **first_kwargs)
    except Exception as exc:
        first = exc
    # The client must close the connection it cannot reuse (the scripts
    # below keep it open and go on reading).
    await server.log.wait_closed(1)
    body = b"second" if second_method == "POST" else None
    second = await client.fetch(server.url("/second"), method=second_method, body=body)
    assert connection_of(second) == 2
    assert server.log.accepted == 2
    return first, second


async def answer_then_serve(conn: ScriptedConnection, **respond: Any) -> None:
    """Answer every request with ``respond`` options (keeping the
    connection open whatever the answer says)."""
    while (request := await conn.read_request()) is not None:
        await conn.respond(head=request.method == "HEAD", **respond)


def test_no_reuse_after_connection_close_response(backend: Backend) -> None:
    async def script(conn: ScriptedConnection) -> None:
        await answer_then_serve(conn, headers=[("Connection", "close")])

    async def main() -> None:
        async with serve_script(script) as server, closing_client(backend) as client:
            first, _ = await fetch_twice_expect_fresh(client, server)
            assert isinstance(first, HTTPResponse) and first.body == b"ok"

    run(main)


def test_no_reuse_after_http10_response(backend: Backend) -> None:
    async def script(conn: ScriptedConnection) -> None:
        await answer_then_serve(conn, version="HTTP/1.0")

    async def main() -> None:
        async with serve_script(script) as server, closing_client(backend) as client:
            first, _ = await fetch_twice_expect_fresh(client, server)
            assert isinstance(first, HTTPResponse) and first.body == b"ok"

    run(main)


def test_no_reuse_after_body_read_until_close(backend: Backend) -> None:
    async def until_close(conn: ScriptedConnection) -> None:
        await conn.read_request()
        await conn.respond(body=b"all of it", content_length=False)
        await conn.close()

    async def main() -> None:
        async with (
            serve_script(per_connection(until_close)) as server,
            closing_client(backend) as client,
        ):
            # A POST next: sent on a dead pooled connection, it would fail.
            first, second = await fetch_twice_expect_fresh(
                client, server, second_method="POST"
            )
            assert isinstance(first, HTTPResponse) and first.body == b"all of it"
            assert second.code == 200

    run(main)


BAD_RESPONSES = {
    "bad status line": b"HTTP/1.1 abc Nope\r\nContent-Length: 2\r\n\r\nok",
    "bad content-length": b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nok",
    "bad header line": (
        b"HTTP/1.1 200 OK\r\nno colon here\r\nContent-Length: 2\r\n\r\nok"
    ),
}


@pytest.mark.parametrize("bad", sorted(BAD_RESPONSES))
def test_no_reuse_after_invalid_response(backend: Backend, bad: str) -> None:
    async def script(conn: ScriptedConnection) -> None:
        await conn.read_request()
        conn.write(BAD_RESPONSES[bad])
        await keep_alive(conn)

    async def main() -> None:
        async with (
            serve_script(per_connection(script)) as server,
            closing_client(backend) as client,
        ):
            first, _ = await fetch_twice_expect_fresh(client, server)
            assert isinstance(first, HTTPClientError), first
            assert first.code == 599

    run(main)


def test_no_reuse_after_truncated_response(backend: Backend) -> None:
    async def script(conn: ScriptedConnection) -> None:
        await conn.read_request()
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await conn.close()

    async def main() -> None:
        async with (
            serve_script(per_connection(script)) as server,
            closing_client(backend) as client,
        ):
            first, _ = await fetch_twice_expect_fresh(
                client, server, second_method="POST"
            )
            assert isinstance(first, HTTPClientError), first
            assert first.code == 599

    run(main)


def test_no_reuse_after_timeout(backend: Backend) -> None:
    # The request that times out goes out on a connection a first fetch has
    # opened, so no lookup or connect eats its time.  A loop stalled on a
    # busy machine may still fire the timer before the request is written;
    # such an attempt proves nothing (what the server read says so) and is
    # made again with twice the timeout.
    async def script(conn: ScriptedConnection) -> None:
        await conn.read_request()
        await conn.respond(body=b"warm")
        await conn.read_request()  # never answered...
        await keep_alive(conn)  # ...but anything sent after it would be

    async def attempt(request_timeout: float) -> bool:
        async with (
            serve_script(per_connection(script)) as server,
            closing_client(backend) as client,
        ):
            warm = await client.fetch(server.url("/warm"))
            assert connection_of(warm) == 1
            with pytest.raises(HTTPClientError) as timed_out:
                await client.fetch(
                    server.url("/first"), request_timeout=request_timeout
                )
            assert timed_out.value.code == 599
            assert re.search(r"time(d)? ?out", str(timed_out.value), re.I)
            # The client must close the connection it gave up on.
            await server.log.wait_closed(1)
            if len(server.connections[0].requests) < 2:
                return False
            second = await client.fetch(server.url("/second"))
            assert connection_of(second) == 2
            assert server.log.accepted == 2
            return True

    async def main() -> None:
        timeouts = [0.2 * 2**n for n in range(6)]
        for request_timeout in timeouts:
            if await attempt(request_timeout):
                return
        pytest.fail(f"no request reached the server within {timeouts[-1]} s")

    run(main)


def test_no_reuse_after_early_response_to_unfinished_upload(
    backend: Backend,
) -> None:
    # The server refuses the upload as soon as it has the head (keep-alive,
    # so the connection would be usable once the body is through), then
    # reads nothing more; its small receive buffer makes the client's
    # upload stall long before the body is sent.  The client must deliver
    # the answer, and must not send another request on that connection
    # while its body is unfinished.  (Whether it then abandons the upload,
    # as libcurl does, or would finish it in the background is its choice.)
    body = b"x" * (16 * 1024 * 1024)
    client_closed = asyncio.Event()

    async def script(conn: ScriptedConnection) -> None:
        request = await conn.read_request(body=False)
        assert request is not None
        await conn.respond(413, b"too big", reason="Payload Too Large")
        await client_closed.wait()
        await conn.wait_peer_close()

    async def main() -> None:
        async with serve_script(per_connection(script), receive_buffer=65536) as server:
            async with closing_client(backend) as client:
                first = await client.fetch(
                    server.url("/upload"),
                    method="POST",
                    body=body,
                    raise_error=False,
                    request_timeout=20,
                )
                assert first.code == 413, first.error
                assert first.body == b"too big"
                second = await client.fetch(server.url("/next"), request_timeout=5)
                assert connection_of(second) == 2
                assert server.log.accepted == 2
            # close() ended both connections, the stalled one included: the
            # server, reading again, comes to the end of the first one.
            client_closed.set()
            await server.log.wait_closed(2)

    run(main)


# -- concurrency -------------------------------------------------------------------


class Barrier:
    """A script that holds the first ``n`` requests until all ``n`` have
    arrived (so they must have come on ``n`` connections at once), then
    answers everything at once; it records the most requests in flight."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrived = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.all_arrived = asyncio.Event()

    async def script(self, conn: ScriptedConnection) -> None:
        while (request := await conn.read_request()) is not None:
            self.arrived += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.arrived <= self.n:
                if self.arrived == self.n:
                    self.all_arrived.set()
                await self.all_arrived.wait()
            self.in_flight -= 1
            await conn.respond(body=request.target.encode())


def test_concurrent_fetches_open_up_to_max_clients_then_reuse(
    backend: Backend,
) -> None:
    async def main() -> None:
        barrier = Barrier(3)
        async with (
            serve_script(barrier.script) as server,
            closing_client(backend, max_clients=3) as client,
        ):
            responses = await asyncio.gather(
                *(
                    client.fetch(server.url(f"/{i}"), request_timeout=10)
                    for i in range(9)
                )
            )
            assert [r.body for r in responses] == [f"/{i}".encode() for i in range(9)]
            assert barrier.max_in_flight == 3
            assert server.log.accepted == 3
            assert {connection_of(r) for r in responses} == {1, 2, 3}

    run(main)


# -- connections that die while idle, and the retry -------------------------------


def test_server_closing_an_idle_connection_is_noticed(backend: Backend) -> None:
    async def answer_one(conn: ScriptedConnection) -> None:
        await conn.read_request()
        await conn.respond()
        await conn.close()

    async def main() -> None:
        async with (
            serve_script(per_connection(answer_one)) as server,
            closing_client(backend) as client,
        ):
            first = await client.fetch(server.url("/first"))
            assert connection_of(first) == 1
            await server.log.wait_closed(1)
            second = await client.fetch(server.url("/second"))
            assert connection_of(second) == 2
            assert server.log.accepted == 2

    run(main)


async def answer_then_drop(conn: ScriptedConnection) -> None:
    """Answer the first request keep-alive; read the second, then close the
    connection without a byte of answer."""
    request = await conn.read_request()
    assert request is not None
    await conn.respond()
    await conn.read_request()
    await conn.close()


def test_get_is_retried_once_on_a_new_connection(backend: Backend) -> None:
    async def main() -> None:
        async with (
            serve_script(per_connection(answer_then_drop)) as server,
            closing_client(backend) as client,
        ):
            await client.fetch(server.url("/first"))
            response = await client.fetch(server.url("/second"))
            assert response.code == 200
            assert connection_of(response) == 2
            assert server.log.accepted == 2
            assert [(r.connection, r.target) for r in server.requests] == [
                (1, "/first"),
                (1, "/second"),
                (2, "/second"),
            ]

    run(main)


def test_the_retry_happens_only_once(backend: Backend) -> None:
    async def drop(conn: ScriptedConnection) -> None:
        await conn.read_request()
        await conn.close()

    async def main() -> None:
        async with (
            serve_script(per_connection(answer_then_drop, then=drop)) as server,
            closing_client(backend) as client,
        ):
            await client.fetch(server.url("/first"))
            with pytest.raises(HTTPClientError) as caught:
                await client.fetch(server.url("/second"))
            assert caught.value.code == 599
            # The retry went out on a new connection, which failed too: that
            # was not a reused connection, so no third try.
            assert server.log.accepted == 2
            assert [r.target for r in server.requests] == [
                "/first",
                "/second",
                "/second",
            ]

    run(main)


IDEMPOTENT: dict[str, dict[str, Any]] = {
    "GET": {},
    "HEAD": {},
    "OPTIONS": {},
    "PUT": {"body": b"replace"},
    "DELETE": {},
}
NOT_IDEMPOTENT: dict[str, dict[str, Any]] = {
    "POST": {"body": b"create"},
    "PATCH": {"body": b"change"},
}


@pytest.mark.parametrize("method", sorted(IDEMPOTENT))
def test_idempotent_methods_are_retried(simple: Backend, method: str) -> None:
    async def main() -> None:
        async with (
            serve_script(per_connection(answer_then_drop)) as server,
            closing_client(simple) as client,
        ):
            await client.fetch(server.url("/first"))
            response = await client.fetch(
                server.url("/second"), method=method, **IDEMPOTENT[method]
            )
            assert connection_of(response) == 2
            assert server.methods() == ["GET", method, method]

    run(main)


@pytest.mark.parametrize("method", sorted(NOT_IDEMPOTENT))
def test_other_methods_are_not_retried(simple: Backend, method: str) -> None:
    async def main() -> None:
        async with (
            serve_script(per_connection(answer_then_drop)) as server,
            closing_client(simple) as client,
        ):
            await client.fetch(server.url("/first"))
            with pytest.raises(HTTPClientError) as caught:
                await client.fetch(
                    server.url("/second"), method=method, **NOT_IDEMPOTENT[method]
                )
            assert caught.value.code == 599
            assert "closed" in str(caught.value).lower(), str(caught.value)
            # The server saw it once, and no new connection was opened.
            assert server.methods() == ["GET", method]
            assert server.log.accepted == 1

    run(main)


@pytest.mark.parametrize("method", sorted(NOT_IDEMPOTENT))
def test_curl_sends_other_methods_on_a_fresh_connection(
    curl: Backend, method: str
) -> None:
    # libcurl resends a request whose reused connection died before any
    # response, whatever its method; the curl client keeps it from ever
    # being in that position.
    async def main() -> None:
        async with (
            serve_script(per_connection(answer_then_drop)) as server,
            closing_client(curl) as client,
        ):
            await client.fetch(server.url("/first"))
            response = await client.fetch(
                server.url("/second"), method=method, **NOT_IDEMPOTENT[method]
            )
            assert connection_of(response) == 2
            assert server.methods() == ["GET", method]

    run(main)


def test_body_producer_requests_are_not_retried(simple: Backend) -> None:
    async def producer(write: Callable[[bytes], Any]) -> None:
        await write(b"streamed")

    async def main() -> None:
        async with (
            serve_script(per_connection(answer_then_drop)) as server,
            closing_client(simple) as client,
        ):
            await client.fetch(server.url("/first"))
            with pytest.raises(HTTPClientError) as caught:
                await client.fetch(
                    server.url("/second"),
                    method="PUT",
                    body_producer=producer,
                    headers={"Content-Length": "8"},
                )
            assert caught.value.code == 599
            assert server.methods() == ["GET", "PUT"]
            assert server.log.accepted == 1

    run(main)


# -- closing idle connections ---------------------------------------------------------


def test_idle_timeout_closes_idle_connections(simple: Backend) -> None:
    async def main() -> None:
        async with (
            serve_script() as server,
            closing_client(simple, idle_timeout=0.05) as client,
        ):
            first = await client.fetch(server.url("/"))
            assert connection_of(first) == 1
            # The client closes it; the server's script sees the end.
            await server.log.wait_closed(1)
            second = await client.fetch(server.url("/"))
            assert connection_of(second) == 2

    run(main)


def test_close_closes_idle_connections(backend: Backend) -> None:
    async def main() -> None:
        barrier = Barrier(2)
        async with serve_script(barrier.script) as one, serve_script() as two:
            async with closing_client(backend, max_clients=2) as client:
                await asyncio.gather(client.fetch(one.url()), client.fetch(one.url()))
                await client.fetch(two.url())
                assert (one.log.accepted, two.log.accepted) == (2, 1)
                assert (one.log.closed, two.log.closed) == (0, 0)
            await one.log.wait_closed(2)
            await two.log.wait_closed(1)

    run(main)


# -- a response on a reused connection reads as on a new one ----------------------

# The simple client reads a response that arrives whole on a pooled
# connection without a task, and hands anything else over to the reader
# that reads every other response.  Each answer here is sent once as the
# first answer on a new connection and once as the second on a kept-alive
# one: the fetch must end the same both ways, and as expected: (status,
# body, whether the connection may carry the next request).  A list is
# sent in pieces, each written on its own.
REUSE_CASES: dict[str, tuple[bytes | list[bytes], tuple[int, bytes, bool]]] = {
    "content-length": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",
        (200, b"body", True),
    ),
    "in pieces": (
        [b"HTTP/1.1 200 OK\r\nConte", b"nt-Length: 4\r\n\r\n", b"bo", b"dy"],
        (200, b"body", True),
    ),
    "body in pieces": (
        [b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nb", b"od", b"y"],
        (200, b"body", True),
    ),
    "no body": (b"HTTP/1.1 204 No Content\r\n\r\n", (204, b"", True)),
    "chunked": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
        (200, b"body", True),
    ),
    "gzip": (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
        % (len(gzip.compress(b"body")), gzip.compress(b"body")),
        (200, b"body", True),
    ),
    "early hints": (
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",
        (200, b"body", True),
    ),
    "connection close": (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbody",
        (200, b"body", False),
    ),
    "http/1.0": (
        b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nbody",
        (200, b"body", False),
    ),
    "empty line first": (
        b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody",
        (200, b"body", True),
    ),
    "head over max_header_size": (
        b"HTTP/1.1 200 OK\r\nX-Long: %s\r\nContent-Length: 4\r\n\r\nbody"
        % (b"x" * 2000),
        (599, b"", False),
    ),
    "body over max_body_size": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n" + b"b" * 40,
        (599, b"", False),
    ),
    "both lengths": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nbody\r\n0\r\n\r\n",
        (599, b"", False),
    ),
    **{bad: (data, (599, b"", False)) for bad, data in BAD_RESPONSES.items()},
}


@pytest.mark.parametrize("case", sorted(REUSE_CASES))
def test_a_response_on_a_reused_connection_reads_as_on_a_new_one(
    simple: Backend, case: str
) -> None:
    answer, expected = REUSE_CASES[case]
    pieces = answer if isinstance(answer, list) else [answer]

    async def send_answer(conn: ScriptedConnection) -> None:
        await conn.read_request()
        for piece in pieces:
            conn.write(piece)
            await conn.writer.drain()

    async def fresh(conn: ScriptedConnection) -> None:
        await send_answer(conn)
        await keep_alive(conn)

    async def reused(conn: ScriptedConnection) -> None:
        await conn.read_request()
        await conn.respond(body=b"warm")
        await fresh(conn)

    async def outcome(
        script: Callable[[ScriptedConnection], Any], warm: bool
    ) -> tuple[tuple[int, bytes, bool], str]:
        async with (
            serve_script(per_connection(script)) as server,
            closing_client(simple, max_header_size=1024, max_body_size=32) as client,
        ):
            if warm:
                await client.fetch(server.url("/warm"))
            try:
                response = await client.fetch(server.url("/answer"), raise_error=False)
                code, body, error = response.code, response.body, ""
            except Exception as e:  # no response: the error says why
                code, body, error = 599, b"", f"{type(e).__name__}: {e}"
            after = await client.fetch(server.url("/after"))
            reusable = connection_of(after) == 1
            return (code, body, reusable), error

    async def main() -> None:
        on_new = await outcome(fresh, warm=False)
        on_reused = await outcome(reused, warm=True)
        assert on_new[0] == expected, on_new
        assert on_reused == on_new

    run(main)


@pytest.mark.allow_error_logs
def test_a_failing_header_callback_ends_a_fetch_on_a_reused_connection_as_on_a_new_one(
    simple: Backend,
) -> None:
    # What a header_callback raises is the application's error: logged,
    # and the fetch fails, the same on either kind of connection.
    def refuse(line: str) -> None:
        raise ValueError("refused by the header callback")

    async def outcome(warm: bool) -> tuple[str, bool]:
        async with (
            serve_script(keep_alive) as server,
            closing_client(simple) as client,
        ):
            if warm:
                await client.fetch(server.url("/warm"))
            with pytest.raises(Exception) as failed:
                await client.fetch(server.url("/answer"), header_callback=refuse)
            after = await client.fetch(server.url("/after"))
            error = f"{type(failed.value).__name__}: {failed.value}"
            return error, connection_of(after) == 1

    async def main() -> None:
        on_new = await outcome(warm=False)
        on_reused = await outcome(warm=True)
        assert on_new == (
            "HTTPStreamClosedError: Connection closed: refused by the header callback",
            False,
        )
        assert on_reused == on_new

    run(main)


# The same head, byte for byte, every time: the simple client parses a head
# it has seen before on a reused connection only once, and each response must
# still read as if it had been parsed afresh.  (A response on a new connection
# is read by the connection's reader, which parses every head.)
SAME_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Same: a\r\n\r\n"


async def same_head_every_time(conn: ScriptedConnection) -> None:
    while await conn.read_request() is not None:
        conn.write(SAME_HEAD + b"body")
        await conn.writer.drain()


def test_responses_with_the_same_head_have_headers_of_their_own(
    simple: Backend,
) -> None:
    async def main() -> None:
        async with (
            serve_script(same_head_every_time) as server,
            closing_client(simple) as client,
        ):
            for n in range(5):
                response = await client.fetch(server.url(f"/{n}"))
                assert response.headers.get_list("X-Same") == ["a"]
                assert "X-Added" not in response.headers
                assert response.body == b"body"
                response.headers.add("X-Same", "changed")
                response.headers["X-Added"] = "1"
            assert len(server.connections) == 1

    run(main)


def test_a_repeated_connection_close_head_closes_every_time(simple: Backend) -> None:
    closing = SAME_HEAD.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")

    # Each connection: a keep-alive answer, then the closing one (the
    # connection stays open, so that a wrongful reuse would succeed).
    async def script(conn: ScriptedConnection) -> None:
        await conn.read_request()
        await conn.respond(body=b"warm")
        while await conn.read_request() is not None:
            conn.write(closing + b"body")
            await conn.writer.drain()

    async def main() -> None:
        async with serve_script(script) as server, closing_client(simple) as client:
            for n in range(3):
                assert (await client.fetch(server.url(f"/warm{n}"))).body == b"warm"
                assert (await client.fetch(server.url(f"/close{n}"))).body == b"body"
            assert len(server.connections) == 3

    run(main)


def test_a_head_response_is_not_framed_as_the_get_with_the_same_head(
    simple: Backend,
) -> None:
    # The server wrongly sends a body after its answer to HEAD: with the
    # head of the GETs before it, those bytes are still not a body, and the
    # connection that carried them is not used again.
    async def main() -> None:
        async with (
            serve_script(same_head_every_time) as server,
            closing_client(simple) as client,
        ):
            for n in range(3):
                assert (await client.fetch(server.url(f"/get{n}"))).body == b"body"
            head = await client.fetch(server.url("/head"), method="HEAD")
            assert (head.code, head.body) == (200, b"")
            after = await client.fetch(server.url("/after"))
            assert after.body == b"body"
            assert len(server.connections) == 2

    run(main)


def test_a_redirect_on_a_reused_connection_is_followed_without_its_body(
    simple: Backend,
) -> None:
    # A whole response on a pooled connection is read without a task; a
    # redirect read that way is followed (its body dropped), or returned
    # with its body when redirects are not followed.
    async def script(conn: ScriptedConnection) -> None:
        while (request := await conn.read_request()) is not None:
            if request.target.startswith("/moved"):
                await conn.respond(
                    302, b"moved away", [("Location", "/target")], reason="Found"
                )
            else:
                await conn.respond(body=b"target " + request.target.encode())

    async def main() -> None:
        async with serve_script(script) as server, closing_client(simple) as client:
            await client.fetch(server.url("/warm"))
            followed = await client.fetch(server.url("/moved"))
            assert (followed.code, followed.body) == (200, b"target /target")
            assert followed.effective_url == server.url("/target")
            kept = await client.fetch(
                server.url("/moved"), follow_redirects=False, raise_error=False
            )
            assert (kept.code, kept.body) == (302, b"moved away")
            assert kept.headers["Location"] == "/target"
            assert len(server.connections) == 1

    run(main)
