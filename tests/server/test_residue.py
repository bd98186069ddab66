"""Nothing a connection owns outlives it (DESIGN.md rule 5).

After a batch of connections ends, in every way a client can end one, each
``IOStream``, ``HTTP1Connection`` and ``HTTP1ServerConnection`` the server
made for them must be collectable at once: no timer, callback or task of
the server may still hold one.  The deadlines stay at their defaults (an
hour), so a test that had to wait for one to pass would time out; the tests
wait only for the server to report each connection over (its delegate's
``on_close``) and for a few turns of its loop.

The objects are reached through public seams only: ``handle_stream`` (the
stream), and the delegate's ``start_request`` and ``on_close`` (the two
connections).  They are tracked by identity and looked for among the
garbage collector's objects (see :class:`Tracker`).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

import pytest
import trustme

from tests.server.client import RawConnection, request
from tests.server.support import ServerThread, respond
from tornado_compat import httputil, iostream
from tornado_compat.httpserver import HTTPServer
from tornado_compat.netutil import bind_sockets

#: Connections per scenario.
CYCLES = 20
#: Safety net for each wait on the server; reaching it fails the test.
WAIT = 10.0
#: Rounds of (loop turns, collection) allowed for the last callbacks of a
#: closed transport to run.  Loop turns, not time: nothing waits for a timer.
ROUNDS = 10


class Tracker:
    """What the server made (by kind and id), and a count of the
    connections it reported over.

    Identities, not weak references: compiled classes do not all take weak
    references.  An object found alive under a tracked id and type is one
    of ours: no other can share the id of a live object.
    """

    def __init__(self) -> None:
        self.made: set[tuple[str, int, type]] = set()
        self.ended = threading.Semaphore(0)
        self.lock = threading.Lock()

    def track(self, kind: str, obj: object) -> None:
        with self.lock:
            self.made.add((kind, id(obj), type(obj)))

    def alive(self) -> dict[str, int]:
        with self.lock:
            made = set(self.made)
        types = {tp for _, _, tp in made}
        live = {id(o): type(o) for o in gc.get_objects() if type(o) in types}
        counts: dict[str, int] = {}
        for kind, ident, tp in made:
            if live.get(ident) is tp:
                counts[kind] = counts.get(kind, 0) + 1
        return counts

    def kinds(self) -> set[str]:
        with self.lock:
            return {kind for kind, _, _ in self.made}


class TrackingServer(HTTPServer):
    """An HTTPServer that tells a :class:`Tracker` what it made."""

    tracker: Tracker

    def handle_stream(self, stream: iostream.IOStream, address: Any) -> None:
        self.tracker.track("IOStream", stream)
        super().handle_stream(stream, address)

    def _bare_started(self, bare: Any) -> None:
        # A private seam: a connection that starts on a BareConnection
        # (TCPServer._bare_first) has no stream until its first bytes.
        self.tracker.track("BareConnection", bare)
        super()._bare_started(bare)

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        self.tracker.track("HTTP1ServerConnection", server_conn)
        self.tracker.track("HTTP1Connection", request_conn)
        return super().start_request(server_conn, request_conn)

    def on_close(self, server_conn: object) -> None:
        self.tracker.track("HTTP1ServerConnection", server_conn)
        super().on_close(server_conn)
        self.tracker.ended.release()


class HoldingApp:
    """Answers ``/held`` only when :attr:`release` is set (as a handler
    still running would); other requests at once.  It keeps nothing of a
    request once it has answered."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release: asyncio.Event | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def __call__(self, req: httputil.HTTPServerRequest) -> None:
        if req.path != "/held":
            respond(req, b"hello")
            return
        if self.release is None:
            self.release = asyncio.Event()
        task = asyncio.ensure_future(self._answer_later(req, self.release))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        self.arrived.set()

    async def _answer_later(
        self, req: httputil.HTTPServerRequest, release: asyncio.Event
    ) -> None:
        await release.wait()
        # The client has gone: the answer goes nowhere, quietly.
        respond(req, b"too late")


@pytest.fixture
def tracked(server_thread: ServerThread) -> Callable[..., tuple[int, Tracker]]:
    def start(app: Any, **options: Any) -> tuple[int, Tracker]:
        tracker = Tracker()

        async def listen() -> int:
            server = TrackingServer(app, **options)
            server.tracker = tracker
            sockets = bind_sockets(0, address="127.0.0.1")
            server.add_sockets(sockets)
            server_thread.servers.append(server)
            return int(sockets[0].getsockname()[1])

        return server_thread.call(listen), tracker

    return start


def wait_until_ended(tracker: Tracker) -> None:
    """Every connection was reported over."""
    for i in range(CYCLES):
        assert tracker.ended.acquire(timeout=WAIT), f"only {i} connections ended"


def assert_all_collected(thread: ServerThread, tracker: Tracker) -> None:
    """Once the loop has run what it had queued, nothing the server made
    for the connections is alive."""

    async def turns() -> None:
        for _ in range(5):
            await asyncio.sleep(0)

    alive: dict[str, int] = {}
    for _ in range(ROUNDS):
        thread.call(turns)
        gc.collect()
        alive = tracker.alive()
        if not alive:
            break
    assert alive == {}, f"alive after {CYCLES} connections ended: {alive}"


def cycle(port: int, send: bytes, read_response: bool = False) -> None:
    with RawConnection(port) as conn:
        if send:
            conn.send(send)
        if read_response:
            assert conn.read_response().status == 200


HEAD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
SCENARIOS: dict[str, tuple[bytes, bool]] = {
    "no bytes": (b"", False),
    "a request, then the server closes": (
        request("GET", "/", headers={"Connection": "close"}),
        True,
    ),
    "a request, then idle keep-alive, then the client closes": (request(), True),
    "a half-sent head": (HEAD, False),
    "a half-sent body": (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\nab",
        False,
    ),
    "a half-sent chunked body": (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nab",
        False,
    ),
    "two pipelined requests and half a third": (
        request("GET", "/1") + request("GET", "/2") + HEAD,
        False,
    ),
}


@pytest.mark.parametrize(
    "options",
    [{}, {"body_timeout": 3600}, {"head_timeout": 3600}],
    ids=["", "body_timeout", "head_timeout"],
)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_connections_leave_nothing_behind(
    tracked, server_thread: ServerThread, scenario: str, options: dict[str, Any]
) -> None:
    port, tracker = tracked(HoldingApp(), **options)
    send, read_response = SCENARIOS[scenario]
    for _ in range(CYCLES):
        cycle(port, send, read_response)
    wait_until_ended(tracker)
    assert_all_collected(server_thread, tracker)
    # Something was tracked: a stream, or the bare connection that a
    # connection which sent nothing had instead.
    assert tracker.kinds() & {"IOStream", "BareConnection"}


def test_a_handler_still_running_when_the_client_goes(
    tracked, server_thread: ServerThread
) -> None:
    app = HoldingApp()
    port, tracker = tracked(app)
    for _ in range(CYCLES):
        app.arrived.clear()
        with RawConnection(port) as conn:
            conn.send(request("GET", "/held"))
            assert app.arrived.wait(WAIT)
    wait_until_ended(tracker)

    # The handlers were still holding their requests; they answer now.
    def release() -> None:
        assert app.release is not None
        app.release.set()

    server_thread.call_soon(release)

    async def handlers_done() -> None:
        await asyncio.gather(*app.tasks)

    server_thread.call(handlers_done)
    assert_all_collected(server_thread, tracker)
    assert "HTTP1Connection" in tracker.kinds()


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context for 127.0.0.1 and a client context that trusts it."""
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@pytest.mark.parametrize(
    "scenario", ["a TCP connect and close", "a request, then the client closes"]
)
def test_tls_connections_leave_nothing_behind(
    tracked, server_thread: ServerThread, tls, scenario: str
) -> None:
    server_context, client_context = tls
    port, tracker = tracked(HoldingApp(), ssl_options=server_context)
    for _ in range(CYCLES):
        if scenario == "a TCP connect and close":
            socket.create_connection(("127.0.0.1", port)).close()
            continue
        with RawConnection(port, ssl_context=client_context) as conn:
            conn.send(request())
            assert conn.read_response().status == 200
    wait_until_ended(tracker)
    assert_all_collected(server_thread, tracker)
