"""Tests for tornado_compat.tcpclient: TCPClient.connect and the happy-eyeballs race.

The race (:class:`_Connector`) is driven by hand with fake streams and
futures, so every ordering is exact.  TCPClient itself is tested on real
sockets against a listener on the loopback interface; host names are
supplied by fake resolvers so that no test depends on the machine's DNS.
Nothing sleeps: tests wait on futures and events.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
import trustme
from tornado.concurrent import Future
from tornado.ioloop import IOLoop

from tests.support import needs_ipv6, run
from tornado_compat.iostream import IOStream, SSLIOStream, StreamClosedError
from tornado_compat.netutil import Resolver, bind_sockets
from tornado_compat.tcpclient import (
    _INITIAL_CONNECT_TIMEOUT,
    TCPClient,
    _Connector,
    _format_addr,
)
from tornado_compat.tcpserver import TCPServer

AF1, AF2 = socket.AddressFamily(1), socket.AddressFamily(2)


# -- _format_addr and _Connector.split --------------------------------------


def test_format_addr() -> None:
    assert _format_addr(("10.0.0.1", 80)) == "10.0.0.1:80"
    assert _format_addr(("::1", 443, 0, 0)) == "[::1]:443"
    assert _format_addr(("::1", 443)) == "[::1]:443"
    assert _format_addr("/run/app.sock") == "/run/app.sock"


def test_split_keeps_resolver_order_per_family() -> None:
    primary, secondary = _Connector.split(
        [(AF2, "x"), (AF1, "a"), (AF2, "y"), (AF1, "b")]
    )
    assert primary == [(AF2, "x"), (AF2, "y")]
    assert secondary == [(AF1, "a"), (AF1, "b")]
    assert _Connector.split([]) == ([], [])


# -- _Connector driven by hand -----------------------------------------------


class FakeStream:
    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Race:
    """A _Connector over fake attempts that the test completes one by one."""

    def __init__(
        self,
        addrinfo: list[tuple[socket.AddressFamily, str]],
        sync_failures: set[str] = frozenset(),  # type: ignore[assignment]
        timeout: float = 3600,
        connect_timeout: float | None = None,
    ) -> None:
        self.attempts: dict[str, Future[FakeStream]] = {}
        self.streams: dict[str, FakeStream] = {}
        self.started: list[str] = []
        self.start_events: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.sync_failures = sync_failures
        self.connector = _Connector(addrinfo, self.connect)  # type: ignore[arg-type]
        self.future = self.connector.start(timeout, connect_timeout=connect_timeout)

    def connect(
        self, af: socket.AddressFamily, addr: str
    ) -> tuple[FakeStream, Future[FakeStream]]:
        self.started.append(addr)
        self.start_events[addr].set()
        if addr in self.sync_failures:
            raise OSError(f"cannot even try {addr}")
        stream = FakeStream(addr)
        future: Future[FakeStream] = Future()
        self.streams[addr] = stream
        self.attempts[addr] = future
        return stream, future

    def pending(self) -> list[str]:
        return sorted(a for a, f in self.attempts.items() if not f.done())

    async def finish(self, addr: str, ok: bool) -> None:
        future = self.attempts[addr]
        if ok:
            future.set_result(self.streams[addr])
        else:
            future.set_exception(ConnectionRefusedError(f"refused by {addr}"))
        await settle()


async def settle() -> None:
    # Done callbacks run on the loop's next turn; two turns let a callback's
    # own follow-up callbacks run as well.
    for _ in range(2):
        await asyncio.sleep(0)


FOUR = [(AF1, "a"), (AF1, "b"), (AF2, "c"), (AF2, "d")]


def test_first_address_wins() -> None:
    async def main() -> None:
        race = Race(FOUR)
        assert race.pending() == ["a"]
        await race.finish("a", True)
        af, addr, stream = race.future.result()
        assert (af, addr) == (AF1, "a")
        assert stream is race.streams["a"]  # type: ignore[comparison-overlap]
        assert not race.streams["a"].closed
        assert race.started == ["a"]

    run(main)


def test_primary_failure_starts_next_primary_and_secondary_at_once() -> None:
    async def main() -> None:
        race = Race(FOUR)
        await race.finish("a", False)
        assert race.pending() == ["b", "c"]
        await race.finish("c", True)
        assert race.future.result()[1] == "c"
        # The loser still in flight is closed, and a late success is too.
        assert race.streams["b"].closed
        await race.finish("b", True)
        assert race.streams["b"].closed
        assert not race.streams["c"].closed

    run(main)


def test_secondary_waits_for_the_timer() -> None:
    async def main() -> None:
        race = Race(FOUR)
        assert race.pending() == ["a"]
        race.connector.on_timeout()
        assert race.pending() == ["a", "c"]
        # A second timer event does not start anything more.
        race.connector.on_timeout()
        assert race.pending() == ["a", "c"]
        await race.finish("a", True)
        assert race.future.result()[1] == "a"
        assert race.streams["c"].closed

    run(main)


def test_real_timer_starts_secondary() -> None:
    async def main() -> None:
        loop = IOLoop.current()
        started = loop.time()
        race = Race(FOUR, timeout=0.05)
        assert race.pending() == ["a"]
        await race.start_events["c"].wait()
        assert race.pending() == ["a", "c"]
        assert loop.time() - started >= 0.04
        await race.finish("c", True)
        assert race.future.result()[1] == "c"

    run(main)


def test_all_fail_reports_last_error_after_every_address() -> None:
    async def main() -> None:
        race = Race(FOUR)
        race.connector.on_timeout()
        await race.finish("c", False)
        assert race.pending() == ["a", "d"]
        await race.finish("d", False)
        assert race.pending() == ["a"]
        assert not race.future.done()
        await race.finish("a", False)
        assert race.pending() == ["b"]
        await race.finish("b", False)
        with pytest.raises(ConnectionRefusedError, match="refused by b"):
            race.future.result()
        assert race.started == ["a", "c", "d", "b"]
        assert all(s.closed for s in race.streams.values())

    run(main)


def test_synchronous_failures_move_on() -> None:
    async def main() -> None:
        race = Race(FOUR, sync_failures={"a", "b"})
        assert race.pending() == ["c"]
        await race.finish("c", True)
        assert race.future.result()[1] == "c"

    run(main)


def test_synchronous_failure_of_everything_fails_at_once() -> None:
    async def main() -> None:
        race = Race(FOUR, sync_failures={"a", "b", "c", "d"})
        with pytest.raises(OSError, match="cannot even try"):
            race.future.result()
        # Nothing is left on the loop's timer list.
        assert race.connector.timeout is None
        assert race.connector.connect_timeout is None

    run(main)


def test_cancelled_attempt_is_a_failure() -> None:
    async def main() -> None:
        race = Race([(AF1, "a"), (AF2, "c")])
        race.connector.on_timeout()
        race.attempts["a"].cancel()
        await settle()
        assert not race.future.done()
        race.attempts["c"].cancel()
        await settle()
        error = race.future.exception()
        assert isinstance(error, OSError)
        assert not isinstance(error, asyncio.CancelledError)
        assert race.streams["a"].closed and race.streams["c"].closed

    run(main)


def test_cancelling_the_race_closes_every_stream() -> None:
    async def main() -> None:
        race = Race(FOUR)
        race.connector.on_timeout()
        race.future.cancel()
        await settle()
        assert race.streams["a"].closed and race.streams["c"].closed
        # Attempts finishing afterwards start nothing new.
        await race.finish("a", False)
        await race.finish("c", True)
        assert race.started == ["a", "c"]
        assert race.streams["c"].closed

    run(main)


def test_connect_timeout_names_the_addresses_in_flight() -> None:
    async def main() -> None:
        race = Race(FOUR)
        await race.finish("a", False)
        assert race.pending() == ["b", "c"]
        race.connector.on_connect_timeout()
        with pytest.raises(TimeoutError) as info:
            race.future.result()
        assert str(info.value) == "Timeout while connecting to b, c"
        assert all(s.closed for s in race.streams.values())
        # The timer for the secondary family starts nothing now.
        race.connector.on_timeout()
        assert race.started == ["a", "b", "c"]

    run(main)


def test_connect_timeout_after_success_changes_nothing() -> None:
    async def main() -> None:
        race = Race(FOUR)
        await race.finish("a", True)
        race.connector.on_connect_timeout()
        assert race.future.result()[1] == "a"
        assert not race.streams["a"].closed

    run(main)


# -- TCPClient on real sockets --------------------------------------------------


class RecordingServer(TCPServer):
    """Hands each accepted stream to the test through a queue."""

    def __init__(self, family: socket.AddressFamily = socket.AF_INET) -> None:
        super().__init__()
        self.accepted: asyncio.Queue[tuple[IOStream, Any]] = asyncio.Queue()
        self.streams: list[IOStream] = []
        host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
        sockets = bind_sockets(0, address=host, family=family)
        self.port = sockets[0].getsockname()[1]
        self.add_sockets(sockets)

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.streams.append(stream)
        self.accepted.put_nowait((stream, address))

    def stop(self) -> None:
        super().stop()
        for stream in self.streams:
            stream.close()


@contextlib.contextmanager
def serving(
    family: socket.AddressFamily = socket.AF_INET, **client_options: Any
) -> Iterator[tuple[RecordingServer, TCPClient]]:
    """A RecordingServer and a TCPClient, both closed afterwards."""
    server = RecordingServer(family)
    client = TCPClient(**client_options)
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


class FixedResolver(Resolver):
    """Resolves every name to the given addresses, in the given order."""

    def initialize(self, addresses: list[tuple[socket.AddressFamily, Any]]) -> None:
        self.addresses = addresses
        self.closed = False

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        return list(self.addresses)

    def close(self) -> None:
        self.closed = True


class HangingResolver(Resolver):
    def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> Future[list[tuple[int, Any]]]:
        return Future()


def refused_port(family: socket.AddressFamily = socket.AF_INET) -> socket.socket:
    """A bound but not listening socket: connections to its port are refused."""
    sock = socket.socket(family)
    sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    return sock


async def roundtrip(stream: IOStream, server: RecordingServer) -> Any:
    server_stream, address = await server.accepted.get()
    await stream.write(b"ping")
    assert await server_stream.read_bytes(4) == b"ping"
    await server_stream.write(b"pong")
    assert await stream.read_bytes(4) == b"pong"
    return address


def test_connect_ipv4() -> None:
    async def main() -> None:
        with serving() as (server, client):
            stream = await client.connect("127.0.0.1", server.port)
            with closing(stream):
                assert type(stream) is IOStream
                address = await roundtrip(stream, server)
                assert address[0] == "127.0.0.1"

    run(main)


def test_connect_localhost_by_name_ipv4_only() -> None:
    async def main() -> None:
        with serving() as (server, client):
            stream = await client.connect("localhost", server.port, af=socket.AF_INET)
            with closing(stream):
                assert stream.socket.family == socket.AF_INET
                await roundtrip(stream, server)

    run(main)


@needs_ipv6
def test_connect_ipv6() -> None:
    async def main() -> None:
        with serving(socket.AF_INET6) as (server, client):
            stream = await client.connect("::1", server.port)
            with closing(stream):
                assert stream.socket.family == socket.AF_INET6
                address = await roundtrip(stream, server)
                assert address[0] == "::1"

    run(main)


def test_refused_port_raises_stream_closed_with_the_reason() -> None:
    async def main() -> None:
        client = TCPClient()
        with refused_port() as sock:
            with pytest.raises(StreamClosedError) as info:
                await client.connect("127.0.0.1", sock.getsockname()[1])
        assert isinstance(info.value, OSError)
        assert isinstance(info.value.real_error, ConnectionRefusedError)
        client.close()

    run(main)


def test_second_address_of_the_same_family_after_a_refusal() -> None:
    async def main() -> None:
        server = RecordingServer()
        with refused_port() as dead:
            resolver = FixedResolver(
                [
                    (socket.AF_INET, ("127.0.0.1", dead.getsockname()[1])),
                    (socket.AF_INET, ("127.0.0.1", server.port)),
                ]
            )
            client = TCPClient(resolver=resolver)
            try:
                stream = await client.connect("example.test", 1)
                with closing(stream):
                    assert stream.socket.getpeername()[1] == server.port
                    await roundtrip(stream, server)
            finally:
                client.close()
                server.stop()

    run(main)


@needs_ipv6
def test_refused_primary_family_falls_back_without_waiting() -> None:
    async def main() -> None:
        server = RecordingServer(socket.AF_INET)
        loop = IOLoop.current()
        with refused_port(socket.AF_INET6) as dead:
            resolver = FixedResolver(
                [
                    (socket.AF_INET6, ("::1", dead.getsockname()[1], 0, 0)),
                    (socket.AF_INET, ("127.0.0.1", server.port)),
                ]
            )
            client = TCPClient(resolver=resolver)
            try:
                started = loop.time()
                stream = await client.connect("example.test", 1)
                elapsed = loop.time() - started
                with closing(stream):
                    assert stream.socket.family == socket.AF_INET
                    await roundtrip(stream, server)
            finally:
                client.close()
                server.stop()
        # The refusal, not the timer, started the IPv4 attempt.
        assert elapsed < _INITIAL_CONNECT_TIMEOUT

    run(main)


class HangingFirstClient(TCPClient):
    """Attempts to ``hang_host`` never complete; the test can see their streams."""

    hang_host = "192.0.2.1"  # TEST-NET-1: never a real peer

    def __init__(self, resolver: Resolver) -> None:
        super().__init__(resolver=resolver)
        self.hung: list[IOStream] = []
        self.hanging = asyncio.Event()
        self.order: list[Any] = []

    def _create_stream(
        self,
        max_buffer_size: int | None,
        af: socket.AddressFamily,
        addr: tuple,
        source_ip: str | None = None,
        source_port: int | None = None,
    ) -> tuple[IOStream, Future[IOStream]]:
        self.order.append(addr)
        if addr[0] == self.hang_host:
            stream = IOStream(socket.socket(af))
            self.hung.append(stream)
            self.hanging.set()
            return stream, Future()
        return super()._create_stream(
            max_buffer_size, af, addr, source_ip=source_ip, source_port=source_port
        )


@needs_ipv6
def test_unreachable_primary_loses_to_secondary_after_the_delay() -> None:
    # The resolver lists an address that never answers first (as a broken
    # IPv4 route would); the other family gets its turn after the head start
    # and wins, and the hanging attempt is closed.
    async def main() -> None:
        server = RecordingServer(socket.AF_INET6)
        resolver = FixedResolver(
            [
                (socket.AF_INET, (HangingFirstClient.hang_host, server.port)),
                (socket.AF_INET6, ("::1", server.port, 0, 0)),
            ]
        )
        client = HangingFirstClient(resolver)
        loop = IOLoop.current()
        try:
            started = loop.time()
            stream = await client.connect("example.test", server.port)
            elapsed = loop.time() - started
            with closing(stream):
                assert stream.socket.family == socket.AF_INET6
                await roundtrip(stream, server)
        finally:
            client.close()
            server.stop()
        assert [a[0] for a in client.order] == [HangingFirstClient.hang_host, "::1"]
        assert elapsed >= _INITIAL_CONNECT_TIMEOUT - 0.01
        (hung,) = client.hung
        assert hung.closed()

    run(main)


def test_timeout_while_resolving() -> None:
    async def main() -> None:
        client = TCPClient(resolver=HangingResolver())
        with pytest.raises(TimeoutError) as info:
            await client.connect("example.test", 80, timeout=0.05)
        assert str(info.value) == "Timeout while resolving example.test"
        with pytest.raises(TimeoutError):
            await client.connect(
                "example.test", 80, timeout=datetime.timedelta(milliseconds=50)
            )
        client.close()

    run(main)


def test_timeout_while_connecting_closes_the_attempts() -> None:
    async def main() -> None:
        resolver = FixedResolver(
            [(socket.AF_INET, (HangingFirstClient.hang_host, 443))]
        )
        client = HangingFirstClient(resolver)
        with pytest.raises(TimeoutError) as info:
            await client.connect("example.test", 443, timeout=0.05)
        assert str(info.value) == "Timeout while connecting to 192.0.2.1:443"
        (hung,) = client.hung
        assert hung.closed()
        client.close()

    run(main)


def test_source_ip_and_port() -> None:
    async def main() -> None:
        server = RecordingServer()
        client = TCPClient()
        # A port that was free a moment ago; nothing else here binds ports.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            source_port = probe.getsockname()[1]
        try:
            stream = await client.connect(
                "127.0.0.1",
                server.port,
                source_ip="127.0.0.1",
                source_port=source_port,
            )
            with closing(stream):
                address = await roundtrip(stream, server)
                assert address == ("127.0.0.1", source_port)
        finally:
            client.close()
            server.stop()

    run(main)


def test_source_ip_that_is_not_ours_fails() -> None:
    async def main() -> None:
        with serving() as (server, client):
            with pytest.raises(OSError):
                await client.connect("127.0.0.1", server.port, source_ip="192.0.2.7")

    run(main)


def test_source_ip_skips_addresses_of_the_other_family() -> None:
    async def main() -> None:
        server = RecordingServer()
        resolver = FixedResolver(
            [
                (socket.AF_INET6, ("::1", server.port, 0, 0)),
                (socket.AF_INET, ("127.0.0.1", server.port)),
            ]
        )
        client = TCPClient(resolver=resolver)
        try:
            stream = await client.connect(
                "example.test", server.port, source_ip="127.0.0.1"
            )
            with closing(stream):
                assert stream.socket.family == socket.AF_INET
        finally:
            client.close()
            server.stop()

    run(main)


def test_max_buffer_size_reaches_the_stream() -> None:
    async def main() -> None:
        with serving() as (server, client):
            stream = await client.connect(
                "127.0.0.1", server.port, max_buffer_size=4321
            )
            with closing(stream):
                assert stream.max_buffer_size == 4321

    run(main)


def test_close_closes_only_a_resolver_it_created() -> None:
    given = FixedResolver([])
    TCPClient(resolver=given).close()
    assert not given.closed

    client = TCPClient()
    own = client.resolver
    closed: list[bool] = []
    own.close = lambda: closed.append(True)  # type: ignore[method-assign]
    client.close()
    assert closed == [True]


# -- TLS -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


class TLSEchoServer(TCPServer):
    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        try:
            await stream.write(await stream.read_bytes(4))
        except StreamClosedError:
            pass
        finally:
            stream.close()


def test_tls_connect(ca: trustme.CA, server_context: ssl.SSLContext) -> None:
    async def main() -> None:
        server = TLSEchoServer(ssl_options=server_context)
        sockets = bind_sockets(0, address="127.0.0.1", family=socket.AF_INET)
        server.add_sockets(sockets)
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        client = TCPClient()
        try:
            stream = await client.connect(
                "localhost",
                sockets[0].getsockname()[1],
                af=socket.AF_INET,
                ssl_options=client_context,
            )
            with closing(stream):
                assert isinstance(stream, SSLIOStream)
                await stream.write(b"ping")
                assert await stream.read_bytes(4) == b"ping"
        finally:
            client.close()
            server.stop()

    run(main)


def test_tls_connect_checks_the_host_name(
    ca: trustme.CA, server_context: ssl.SSLContext
) -> None:
    async def main() -> None:
        server = TLSEchoServer(ssl_options=server_context)
        sockets = bind_sockets(0, address="127.0.0.1", family=socket.AF_INET)
        server.add_sockets(sockets)
        client_context = ssl.create_default_context()
        ca.configure_trust(client_context)
        resolver = FixedResolver(
            [(socket.AF_INET, ("127.0.0.1", sockets[0].getsockname()[1]))]
        )
        client = TCPClient(resolver=resolver)
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                await client.connect("wrong.example", 1, ssl_options=client_context)
        finally:
            client.close()
            server.stop()

    run(main)


def unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_tls_handshake_timeout_closes_the_socket() -> None:
    # The server accepts but never answers the handshake.
    async def main() -> None:
        with serving() as (server, client):
            with pytest.raises(TimeoutError) as info:
                await client.connect(
                    "127.0.0.1",
                    server.port,
                    ssl_options=unverified_context(),
                    timeout=0.3,
                )
            assert str(info.value) == (
                f"Timeout during TLS handshake with 127.0.0.1:{server.port}"
            )
            server_stream, _ = await server.accepted.get()
            # Completes only once the client's socket is closed.
            await server_stream.read_until_close()

    run(main)


def test_cancel_during_tls_handshake_closes_the_socket() -> None:
    async def main() -> None:
        with serving() as (server, client):
            connecting = asyncio.ensure_future(
                client.connect(
                    "127.0.0.1", server.port, ssl_options=unverified_context()
                )
            )
            server_stream, _ = await server.accepted.get()
            await server_stream.read_bytes(1, partial=True)  # the ClientHello
            connecting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await connecting
            await server_stream.read_until_close()

    run(main)


def test_cancel_while_connecting_closes_the_attempts() -> None:
    async def main() -> None:
        resolver = FixedResolver(
            [(socket.AF_INET, (HangingFirstClient.hang_host, 443))]
        )
        client = HangingFirstClient(resolver)
        connecting = asyncio.ensure_future(client.connect("example.test", 443))
        await client.hanging.wait()
        connecting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await connecting
        await settle()
        (hung,) = client.hung
        assert hung.closed()
        client.close()

    run(main)
