"""Tests for tornado_compat.netutil: binding, accepting, resolving and TLS."""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import errno
import gc
import importlib.util
import inspect
import logging
import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support import needs_ipv6
from tornado_compat import netutil
from tornado_compat.netutil import (
    BlockingResolver,
    DefaultExecutorResolver,
    DefaultLoopResolver,
    ExecutorResolver,
    OverrideResolver,
    Resolver,
    ThreadedResolver,
    add_accept_handler,
    bind_sockets,
    is_valid_ip,
    ssl_options_to_context,
    ssl_wrap_socket,
)

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def run(main: Callable[[], Awaitable[T]]) -> T:
    async def wrapper() -> T:
        return await main()

    return asyncio.run(wrapper())


needs_unix = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no AF_UNIX")
needs_reuse_port = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT"
)


@pytest.fixture
def closing() -> Iterator[list[socket.socket]]:
    """Sockets appended here are closed after the test."""
    socks: list[socket.socket] = []
    yield socks
    for s in socks:
        s.close()


def _info(family: int, sockaddr: tuple[Any, ...]) -> tuple[Any, ...]:
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)


# ---------------------------------------------------------------------------
# The names Tornado's modules use


def _tornado_netutil_names() -> dict[str, list[str] | None]:
    """Public top-level names of Tornado's netutil, read from its source.

    Maps each function to its parameter names and anything else to None.  The
    file is parsed, not imported, so Tornado's networking modules stay out of
    this test session.
    """
    spec = importlib.util.find_spec("tornado")
    assert spec is not None and spec.submodule_search_locations
    path = Path(list(spec.submodule_search_locations)[0], "netutil.py")
    names: dict[str, list[str] | None] = {}

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                visit(node.body)
            elif isinstance(node, ast.FunctionDef):
                a = node.args
                names[node.name] = [p.arg for p in a.posonlyargs + a.args]
                names[node.name] += [p.arg for p in a.kwonlyargs]
            elif isinstance(node, ast.ClassDef):
                names[node.name] = None
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = None

    visit(ast.parse(path.read_text()).body)
    return names


def test_everything_tornado_netutil_defines_is_here_with_the_same_parameters() -> None:
    # Tornado's own modules import private names too (_DEFAULT_BACKLOG,
    # _client_ssl_defaults, ...), so every top-level name counts.
    tornado_names = _tornado_netutil_names()
    assert "bind_sockets" in tornado_names
    for name, params in tornado_names.items():
        if name == "_SSL_CONTEXT_KEYWORDS" or name == "_resolve_addr":
            continue  # internal helpers nobody imports
        assert hasattr(netutil, name), name
        if params is not None:
            ours = inspect.signature(getattr(netutil, name)).parameters
            assert list(ours)[: len(params)] == params, name


def test_private_names_tornado_reads() -> None:
    assert netutil._DEFAULT_BACKLOG == 128
    client = netutil._client_ssl_defaults()
    assert client is netutil._client_ssl_defaults()
    assert client.verify_mode == ssl.CERT_REQUIRED
    assert client.check_hostname
    server = netutil._server_ssl_defaults()
    assert server is netutil._server_ssl_defaults()
    assert server.verify_mode == ssl.CERT_NONE


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH")] if p)
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=path),
        timeout=60,
    )


def test_import_creates_no_tls_context_and_no_tornado_networking_module() -> None:
    result = _run_python(
        "import sys\n"
        "import tornado_compat.netutil as n, tornado_compat.process, "
        "tornado_compat.util\n"
        "assert n._client_ssl_defaults.cache_info().currsize == 0\n"
        "assert n._server_ssl_defaults.cache_info().currsize == 0\n"
        "banned = ['httputil', 'iostream', 'netutil', 'tcpserver', 'tcpclient',\n"
        "  'http1connection', 'httpserver', 'httpclient', 'simple_httpclient',\n"
        "  'curl_httpclient', 'process', 'web', 'websocket', 'testing', 'routing']\n"
        "loaded = [b for b in banned if 'tornado.' + b in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------
# bind_sockets


def test_port_zero_on_all_interfaces_shares_one_port(
    closing: list[socket.socket],
) -> None:
    socks = bind_sockets(0, None)
    closing.extend(socks)
    assert socks
    ports = {s.getsockname()[1] for s in socks}
    assert len(ports) == 1 and ports != {0}
    assert socks[0].family == socket.AF_INET
    for s in socks:
        assert not s.getblocking()
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        if s.family == socket.AF_INET6:
            assert s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)


def test_empty_address_means_all_interfaces(closing: list[socket.socket]) -> None:
    socks = bind_sockets(0, "", family=socket.AF_INET)
    closing.extend(socks)
    assert [s.getsockname()[0] for s in socks] == ["0.0.0.0"]


@needs_ipv6
def test_port_zero_localhost_both_families_get_the_same_port(
    monkeypatch: pytest.MonkeyPatch, closing: list[socket.socket]
) -> None:
    # Pin localhost to both loopbacks, IPv6 listed first, whatever the host's
    # /etc/hosts says.
    def fake_getaddrinfo(host: Any, port: Any, *args: Any) -> list[Any]:
        assert host == "localhost"
        return [
            _info(socket.AF_INET6, ("::1", port, 0, 0)),
            _info(socket.AF_INET, ("127.0.0.1", port)),
            _info(socket.AF_INET, ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    socks = bind_sockets(0, "localhost")
    closing.extend(socks)
    assert [s.family for s in socks] == [socket.AF_INET, socket.AF_INET6]
    port = socks[0].getsockname()[1]
    assert port != 0
    assert socks[1].getsockname()[:2] == ("::1", port)

    # Both sockets really listen on that port.
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family) as client:
            client.connect((host, port))


def test_family_restricts_the_addresses(closing: list[socket.socket]) -> None:
    socks = bind_sockets(0, None, family=socket.AF_INET)
    closing.extend(socks)
    assert [s.family for s in socks] == [socket.AF_INET]


def test_flags_reach_getaddrinfo() -> None:
    with pytest.raises(socket.gaierror):
        bind_sockets(0, "localhost", flags=socket.AI_NUMERICHOST)


def test_bound_socket_accepts_connections(closing: list[socket.socket]) -> None:
    [listener] = bind_sockets(0, "127.0.0.1")
    closing.append(listener)
    with pytest.raises(BlockingIOError):
        listener.accept()
    client = socket.create_connection(listener.getsockname())
    closing.append(client)
    conn, _ = listener.accept()
    closing.append(conn)
    client.sendall(b"hi")
    conn.setblocking(True)
    assert conn.recv(2) == b"hi"


def test_port_in_use_raises(closing: list[socket.socket]) -> None:
    [first] = bind_sockets(0, "127.0.0.1")
    closing.append(first)
    with pytest.raises(OSError) as info:
        bind_sockets(first.getsockname()[1], "127.0.0.1")
    assert info.value.errno == errno.EADDRINUSE


class _RecordingSocket(socket.socket):
    made: list[_RecordingSocket] = []
    refuse: set[str] = set()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _RecordingSocket.made.append(self)

    def bind(self, address: Any) -> None:
        if address[0] in self.refuse:
            raise OSError(errno.EADDRNOTAVAIL, "refused by the test")
        super().bind(address)


@pytest.fixture
def recording_sockets(monkeypatch: pytest.MonkeyPatch) -> type[_RecordingSocket]:
    _RecordingSocket.made = []
    _RecordingSocket.refuse = set()
    monkeypatch.setattr(socket, "socket", _RecordingSocket)
    return _RecordingSocket


def test_failed_bind_closes_the_sockets_already_bound(
    monkeypatch: pytest.MonkeyPatch,
    closing: list[socket.socket],
    recording_sockets: type[_RecordingSocket],
) -> None:
    [busy] = bind_sockets(0, "127.0.0.1")
    closing.append(busy)
    busy_port = busy.getsockname()[1]
    recording_sockets.made.clear()

    def fake_getaddrinfo(host: Any, port: Any, *args: Any) -> list[Any]:
        return [
            _info(socket.AF_INET, ("127.0.0.1", 0)),
            _info(socket.AF_INET, ("127.0.0.1", busy_port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(OSError):
        bind_sockets(0, "somewhere")
    assert len(recording_sockets.made) == 2
    assert all(s.fileno() == -1 for s in recording_sockets.made)


@needs_ipv6
def test_unusable_ipv6_localhost_is_skipped_but_not_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
    closing: list[socket.socket],
    recording_sockets: type[_RecordingSocket],
) -> None:
    def fake_getaddrinfo(host: Any, port: Any, *args: Any) -> list[Any]:
        return [
            _info(socket.AF_INET, ("127.0.0.1", port)),
            _info(socket.AF_INET6, ("::1", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    recording_sockets.refuse.add("::1")
    socks = bind_sockets(0, "localhost")
    closing.extend(socks)
    assert [s.family for s in socks] == [socket.AF_INET]
    with pytest.raises(OSError):
        bind_sockets(0, "not-localhost")
    assert all(s.fileno() == -1 for s in recording_sockets.made if s not in socks)


@needs_reuse_port
def test_reuse_port_lets_two_sets_share_a_port(closing: list[socket.socket]) -> None:
    [first] = bind_sockets(0, "127.0.0.1", reuse_port=True)
    closing.append(first)
    port = first.getsockname()[1]
    second = bind_sockets(port, "127.0.0.1", reuse_port=True)
    closing.extend(second)
    assert [s.getsockname()[1] for s in second] == [port]
    for s in (first, *second):
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)


def test_reuse_port_without_platform_support_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(socket, "SO_REUSEPORT", raising=False)
    with pytest.raises(ValueError):
        bind_sockets(0, "127.0.0.1", reuse_port=True)


# ---------------------------------------------------------------------------
# bind_unix_socket


@pytest.fixture
def short_dir() -> Iterator[Path]:
    # Unix socket paths are limited to about 100 bytes; pytest's tmp_path can
    # be longer than that.
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tc") as d:
        yield Path(d)


@needs_unix
def test_unix_socket_listens_with_the_given_mode(
    short_dir: Path, closing: list[socket.socket]
) -> None:
    path = str(short_dir / "s")
    sock = netutil.bind_unix_socket(path)
    closing.append(sock)
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not sock.getblocking()
    client = socket.socket(socket.AF_UNIX)
    closing.append(client)
    client.connect(path)
    conn, _ = sock.accept()
    closing.append(conn)

    other = str(short_dir / "t")
    closing.append(netutil.bind_unix_socket(other, mode=0o660))
    assert stat.S_IMODE(os.stat(other).st_mode) == 0o660


@needs_unix
def test_unix_socket_replaces_a_stale_socket_file(
    short_dir: Path, closing: list[socket.socket]
) -> None:
    path = str(short_dir / "s")
    with socket.socket(socket.AF_UNIX) as old:
        old.bind(path)
    assert os.path.exists(path)  # left behind, as a crashed server leaves it
    sock = netutil.bind_unix_socket(path)
    closing.append(sock)
    client = socket.socket(socket.AF_UNIX)
    closing.append(client)
    client.connect(path)


@needs_unix
def test_unix_socket_refuses_to_replace_another_file(short_dir: Path) -> None:
    path = short_dir / "data"
    path.write_text("keep me")
    with pytest.raises(ValueError):
        netutil.bind_unix_socket(str(path))
    assert path.read_text() == "keep me"


@needs_unix
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_unix_socket_in_the_abstract_namespace(closing: list[socket.socket]) -> None:
    name = f"\0tornado-compat-test-{os.getpid()}"
    sock = netutil.bind_unix_socket(name)
    closing.append(sock)
    client = socket.socket(socket.AF_UNIX)
    closing.append(client)
    client.connect(name)


# ---------------------------------------------------------------------------
# add_accept_handler


def _listener(closing: list[socket.socket], backlog: int = 128) -> socket.socket:
    [sock] = bind_sockets(0, "127.0.0.1", family=socket.AF_INET, backlog=backlog)
    closing.append(sock)
    return sock


def _connect(closing: list[socket.socket], listener: socket.socket, n: int) -> None:
    # Blocking connects return once the kernel has queued the connection, so
    # they are all waiting when the loop first sees the socket readable.
    for _ in range(n):
        closing.append(socket.create_connection(listener.getsockname()))


def test_accepts_many_connections_in_bounded_batches(
    closing: list[socket.socket],
) -> None:
    batch = netutil._DEFAULT_BACKLOG
    total = batch + 40
    listener = _listener(closing, backlog=total + 10)
    _connect(closing, listener, total)

    async def main() -> tuple[int, set[str], list[int]]:
        loop = asyncio.get_running_loop()
        accepted: list[socket.socket] = []
        peers: set[str] = set()
        counted_between: list[int] = []
        done = asyncio.Event()

        def on_connection(conn: socket.socket, address: Any) -> None:
            closing.append(conn)
            accepted.append(conn)
            peers.add(address[0])
            if len(accepted) == 1:
                # Runs only once the handler yields to the loop.
                loop.call_soon(lambda: counted_between.append(len(accepted)))
            if len(accepted) == total:
                done.set()

        remove = add_accept_handler(listener, on_connection)
        await done.wait()
        remove()
        return len(accepted), peers, counted_between

    count, peers, counted_between = run(main)
    assert count == total
    assert peers == {"127.0.0.1"}
    assert counted_between == [batch]


def test_accepted_connections_are_what_socket_accept_returns(
    closing: list[socket.socket],
) -> None:
    listener = _listener(closing)
    _connect(closing, listener, 1)

    async def main() -> tuple[socket.socket, Any]:
        accepted: asyncio.Future[tuple[socket.socket, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        remove = add_accept_handler(
            listener, lambda conn, address: accepted.set_result((conn, address))
        )
        try:
            return await accepted
        finally:
            remove()

    conn, address = run(main)
    closing.append(conn)
    assert type(conn) is socket.socket
    assert conn.family is socket.AF_INET
    assert conn.type is socket.SOCK_STREAM
    assert conn.proto == listener.proto
    assert address == conn.getpeername()
    # As socket.accept() makes them: in blocking mode (IOStream changes it).
    assert conn.gettimeout() is None
    assert conn.getblocking()


def test_remove_from_inside_the_callback_stops_at_once(
    closing: list[socket.socket],
) -> None:
    listener = _listener(closing)
    _connect(closing, listener, 5)

    async def main() -> int:
        accepted: list[socket.socket] = []
        first = asyncio.Event()

        def on_connection(conn: socket.socket, address: Any) -> None:
            closing.append(conn)
            accepted.append(conn)
            remove()
            remove()  # a second call is harmless
            first.set()

        remove = add_accept_handler(listener, on_connection)
        await first.wait()
        for _ in range(5):
            await asyncio.sleep(0)  # turns of the loop, not a timed wait
        return len(accepted)

    assert run(main) == 1
    # The other four are still queued for whoever accepts next.
    for _ in range(4):
        conn, _ = listener.accept()
        closing.append(conn)
    with pytest.raises(BlockingIOError):
        listener.accept()


def test_after_remove_the_socket_can_be_handed_to_a_new_handler(
    closing: list[socket.socket],
) -> None:
    listener = _listener(closing)

    async def main() -> list[str]:
        seen: list[str] = []
        got = asyncio.Event()

        def handler(tag: str) -> Callable[[socket.socket, Any], None]:
            def on_connection(conn: socket.socket, address: Any) -> None:
                closing.append(conn)
                seen.append(tag)
                got.set()

            return on_connection

        remove = add_accept_handler(listener, handler("first"))
        _connect(closing, listener, 1)
        await got.wait()
        remove()
        got.clear()
        remove = add_accept_handler(listener, handler("second"))
        _connect(closing, listener, 1)
        await got.wait()
        remove()
        return seen

    assert run(main) == ["first", "second"]


class _AbortingListener:
    """A listening socket whose first accept reports an aborted connection."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.aborted = False

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self) -> tuple[socket.socket, Any]:
        if not self.aborted:
            self.aborted = True
            raise ConnectionAbortedError(errno.ECONNABORTED, "aborted in the queue")
        return self.real.accept()


def test_connection_aborted_in_the_queue_is_skipped(
    closing: list[socket.socket],
) -> None:
    listener = _listener(closing)
    _connect(closing, listener, 2)

    async def main() -> int:
        accepted: list[socket.socket] = []
        both = asyncio.Event()

        def on_connection(conn: socket.socket, address: Any) -> None:
            closing.append(conn)
            accepted.append(conn)
            if len(accepted) == 2:
                both.set()

        wrapped: Any = _AbortingListener(listener)
        remove = add_accept_handler(wrapped, on_connection)
        await both.wait()
        remove()
        return len(accepted)

    assert run(main) == 2


class _FailingListener:
    """A listening socket whose first ``failures`` accepts fail with ``code``;
    it counts every call."""

    def __init__(self, real: socket.socket, code: int, failures: int) -> None:
        self.real = real
        self.code = code
        self.failures = failures
        #: What each call did: "failed", "accepted" or "empty".
        self.calls: list[str] = []

    def fileno(self) -> int:
        return self.real.fileno()

    def getsockname(self) -> Any:
        return self.real.getsockname()

    def accept(self) -> tuple[socket.socket, Any]:
        if len(self.calls) < self.failures:
            self.calls.append("failed")
            raise OSError(self.code, os.strerror(self.code))
        try:
            accepted = self.real.accept()
        except BlockingIOError:
            self.calls.append("empty")
            raise
        self.calls.append("accepted")
        return accepted


def _accept_through(
    closing: list[socket.socket], listener: _FailingListener, expected: int
) -> list[str]:
    """Accept ``expected`` connections through ``listener``; return what each
    call of accept did by then."""

    async def main() -> list[str]:
        accepted: list[socket.socket] = []
        done = asyncio.Event()

        def on_connection(conn: socket.socket, address: Any) -> None:
            closing.append(conn)
            accepted.append(conn)
            if len(accepted) == expected:
                done.set()

        wrapped: Any = listener
        remove = add_accept_handler(wrapped, on_connection)
        try:
            await asyncio.wait_for(done.wait(), 10)
        finally:
            remove()
        return listener.calls

    return run(main)


@pytest.mark.parametrize("name", ["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"])
def test_running_out_of_resources_pauses_accepting_and_warns_once(
    closing: list[socket.socket], caplog: pytest.LogCaptureFixture, name: str
) -> None:
    listener = _listener(closing)
    _connect(closing, listener, 1)
    failing = _FailingListener(listener, getattr(errno, name), failures=3)
    with caplog.at_level("INFO", logger="tornado.general"):
        calls = _accept_through(closing, failing, 1)
    # One try per pause (0.1 s, 0.2 s, 0.4 s), not a spin on a socket that
    # stays readable; then the connection waiting in the backlog is accepted.
    assert calls == ["failed"] * 3 + ["accepted", "empty"]
    records = [r for r in caplog.records if "accept failed" in r.getMessage()]
    # The three failures fall within one log interval: one line says so.
    assert [r.levelname for r in records] == ["WARNING"]
    message = records[0].getMessage()
    assert os.strerror(getattr(errno, name)) in message
    assert "pausing accepts for 0.1 s" in message
    assert "%s:%d" % listener.getsockname() in message


@pytest.mark.parametrize(
    "name", ["EPROTO", "EPERM", "ECONNRESET", "ENETUNREACH", "EHOSTUNREACH"]
)
def test_a_connection_failing_in_the_queue_is_skipped_silently(
    closing: list[socket.socket], caplog: pytest.LogCaptureFixture, name: str
) -> None:
    listener = _listener(closing)
    _connect(closing, listener, 2)
    failing = _FailingListener(listener, getattr(errno, name), failures=1)
    with caplog.at_level("DEBUG", logger="tornado"):
        calls = _accept_through(closing, failing, 2)
    # Skipped within the same batch: no pause.
    assert calls == ["failed", "accepted", "accepted", "empty"]
    assert [r for r in caplog.records if r.name.startswith("tornado")] == []


@pytest.mark.allow_error_logs
def test_a_broken_listening_socket_is_an_error_but_not_a_spin(
    closing: list[socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    listener = _listener(closing)
    _connect(closing, listener, 1)
    failing = _FailingListener(listener, errno.EINVAL, failures=2)
    calls = _accept_through(closing, failing, 1)
    assert calls == ["failed", "failed", "accepted", "empty"]
    records = [r for r in caplog.records if "accept failed" in r.getMessage()]
    assert [r.levelname for r in records] == ["ERROR"]
    assert records[0].exc_info is None


def test_removing_the_handler_cancels_a_pause(closing: list[socket.socket]) -> None:
    listener = _listener(closing)
    _connect(closing, listener, 1)
    failing = _FailingListener(listener, errno.EMFILE, failures=1)

    class Callback:
        def __call__(self, conn: socket.socket, address: Any) -> None:
            closing.append(conn)

    async def main() -> tuple[Any, list[str]]:
        paused = asyncio.Event()
        callback = Callback()
        handler = logging.Handler()
        handler.emit = lambda record: paused.set()  # type: ignore[method-assign]
        logger = logging.getLogger("tornado.general")
        logger.addHandler(handler)
        try:
            wrapped: Any = failing
            remove = add_accept_handler(wrapped, callback)
            await asyncio.wait_for(paused.wait(), 10)
        finally:
            logger.removeHandler(handler)
        remove()
        remove()
        # Nothing refers to the acceptor any more: not the IOLoop's table,
        # nor a pending timer that would resume accepting.
        reference = weakref.ref(callback)
        del callback, remove
        gc.collect()
        return reference(), failing.calls

    with pytest.MonkeyPatch.context() as patch:
        # The one failure must be logged (that is the event waited on).
        patch.setattr(logging.getLogger("tornado.general"), "disabled", False)
        alive, calls = run(main)
    assert alive is None
    assert calls == ["failed"]
    # The queued connection is still there for whoever accepts next.
    conn, _ = listener.accept()
    closing.append(conn)


# ---------------------------------------------------------------------------
# is_valid_ip


@pytest.mark.parametrize(
    "text", ["127.0.0.1", "4.4.4.4", "::1", "2620:0:1cfe:face:b00c::3", "::"]
)
def test_ip_literals_are_valid(text: str) -> None:
    assert is_valid_ip(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\n",
        "\x00",
        "127.0.0.1\x00",
        " 127.0.0.1",
        "4.4.4.4<",
        "localhost",
        "www.example.com",
        "a" * 100,
        "1:2:3:4:5:6:7:8:9",
    ],
)
def test_names_and_junk_are_not_ips(text: str) -> None:
    assert not is_valid_ip(text)


# ---------------------------------------------------------------------------
# Resolvers


@pytest.fixture
def fresh_threadpool() -> Iterator[None]:
    # ThreadedResolver's pool is shared by the process; give each test its own.
    ThreadedResolver._threadpool = None
    yield
    pool = ThreadedResolver._threadpool
    ThreadedResolver._threadpool = None
    if pool is not None:
        pool.shutdown(wait=True)


def _make_resolver(kind: str) -> Resolver:
    if kind == "executor":
        return ExecutorResolver(concurrent.futures.ThreadPoolExecutor(2))
    classes: dict[str, type[Resolver]] = {
        "default": Resolver,
        "loop": DefaultLoopResolver,
        "default-executor": DefaultExecutorResolver,
        "blocking": BlockingResolver,
        "threaded": ThreadedResolver,
    }
    return classes[kind]()


RESOLVER_KINDS = [
    "default",
    "loop",
    "default-executor",
    "executor",
    "blocking",
    "threaded",
]


@pytest.mark.usefixtures("fresh_threadpool")
@pytest.mark.parametrize("kind", RESOLVER_KINDS)
def test_every_resolver_resolves_localhost(kind: str) -> None:
    async def main() -> list[tuple[int, Any]]:
        resolver = _make_resolver(kind)
        try:
            return await resolver.resolve("localhost", 80)
        finally:
            resolver.close()

    result = run(main)
    assert (socket.AF_INET, ("127.0.0.1", 80)) in result or (
        socket.AF_INET6,
        ("::1", 80, 0, 0),
    ) in result
    assert all(isinstance(family, int) for family, _ in result)


@pytest.mark.usefixtures("fresh_threadpool")
@pytest.mark.parametrize("kind", RESOLVER_KINDS)
def test_every_resolver_honours_the_family(kind: str) -> None:
    async def main() -> tuple[list[Any], list[Any]]:
        resolver = _make_resolver(kind)
        try:
            v4 = await resolver.resolve("127.0.0.1", 8080, socket.AF_INET)
            v6 = await resolver.resolve("::1", 8080, socket.AF_INET6)
            return v4, v6
        finally:
            resolver.close()

    v4, v6 = run(main)
    assert v4 == [(socket.AF_INET, ("127.0.0.1", 8080))]
    assert v6 == [(socket.AF_INET6, ("::1", 8080, 0, 0))]


@pytest.mark.usefixtures("fresh_threadpool")
@pytest.mark.parametrize("kind", RESOLVER_KINDS)
def test_every_resolver_reports_failure_as_oserror(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_getaddrinfo(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "no such host (test)")

    monkeypatch.setattr(socket, "getaddrinfo", failing_getaddrinfo)

    async def main() -> None:
        resolver = _make_resolver(kind)
        try:
            await resolver.resolve("an invalid domain", 80)
        finally:
            resolver.close()

    with pytest.raises(OSError):
        run(main)


def test_default_resolver_is_the_loop_resolver() -> None:
    assert Resolver.configured_class() is DefaultLoopResolver
    assert type(Resolver()) is DefaultLoopResolver


@pytest.mark.usefixtures("fresh_threadpool")
def test_resolver_configure_by_name_with_arguments() -> None:
    saved = Resolver._save_configuration()
    try:
        Resolver.configure("tornado_compat.netutil.ThreadedResolver", num_threads=3)
        resolver = Resolver()
        assert type(resolver) is ThreadedResolver
        assert isinstance(resolver, Resolver)
        assert resolver.executor is ThreadedResolver._threadpool
        resolver.close()
    finally:
        Resolver._restore_configuration(saved)
    assert type(Resolver()) is DefaultLoopResolver


def test_executor_resolver_closes_its_executor_unless_told_not_to() -> None:
    owned = concurrent.futures.ThreadPoolExecutor(1)
    ExecutorResolver(owned).close()
    with pytest.raises(RuntimeError):
        owned.submit(int)

    shared = concurrent.futures.ThreadPoolExecutor(1)
    try:
        ExecutorResolver(shared, close_executor=False).close()
        assert shared.submit(int, "5").result() == 5
    finally:
        shared.shutdown()


@pytest.mark.usefixtures("fresh_threadpool")
def test_threaded_resolvers_share_one_pool_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = ThreadedResolver()
    second = ThreadedResolver(num_threads=50)
    assert first.executor is second.executor is ThreadedResolver._threadpool
    first.close()
    # Closing one resolver leaves the shared pool usable.
    pool = ThreadedResolver._threadpool
    assert pool is not None
    assert pool.submit(int, "1").result() == 1

    # In a forked child (another pid) the parent's threads are gone, so a new
    # pool is made.
    monkeypatch.setattr(os, "getpid", lambda: -12345)
    third = ThreadedResolver()
    assert third.executor is not pool
    pool.shutdown()


class _RecordingResolver(Resolver):
    def initialize(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        self.calls.append((host, port, family))
        return [(socket.AF_INET, (host, port))]

    def close(self) -> None:
        self.closed = True


def test_override_resolver_mapping_precedence() -> None:
    inner = _RecordingResolver()
    mapping = {
        "example.com": "127.0.1.1",
        ("example.com", 443): ("localhost", 1443),
        ("example.com", 443, socket.AF_INET6): ("::1", 2443),
    }
    resolver = OverrideResolver(inner, mapping)

    async def main() -> list[list[tuple[int, Any]]]:
        return [
            await resolver.resolve("example.com", 80),
            await resolver.resolve("example.com", 443),
            await resolver.resolve("example.com", 443, socket.AF_INET),
            await resolver.resolve("example.com", 443, socket.AF_INET6),
            await resolver.resolve("other.org", 443),
        ]

    results = run(main)
    assert inner.calls == [
        ("127.0.1.1", 80, socket.AF_UNSPEC),
        ("localhost", 1443, socket.AF_UNSPEC),
        ("localhost", 1443, socket.AF_INET),
        ("::1", 2443, socket.AF_INET6),
        ("other.org", 443, socket.AF_UNSPEC),
    ]
    assert results[0] == [(socket.AF_INET, ("127.0.1.1", 80))]
    resolver.close()
    assert inner.closed


def test_override_resolver_over_a_real_resolver() -> None:
    resolver = OverrideResolver(BlockingResolver(), {"example.invalid": "127.0.0.1"})

    async def main() -> list[tuple[int, Any]]:
        return await resolver.resolve("example.invalid", 80, socket.AF_INET)

    assert run(main) == [(socket.AF_INET, ("127.0.0.1", 80))]


# ---------------------------------------------------------------------------
# TLS


class _Certs:
    def __init__(self, directory: Path) -> None:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("localhost", "127.0.0.1")
        self.ca = str(directory / "ca.pem")
        self.cert = str(directory / "cert.pem")
        self.key = str(directory / "key.pem")
        self.combined = str(directory / "combined.pem")
        ca.cert_pem.write_to_path(self.ca)
        cert.cert_chain_pems[0].write_to_path(self.cert)
        cert.private_key_pem.write_to_path(self.key)
        cert.private_key_and_cert_chain_pem.write_to_path(self.combined)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> _Certs:
    return _Certs(tmp_path_factory.mktemp("certs"))


def test_a_context_passes_through_unchanged() -> None:
    context = ssl.create_default_context()
    assert ssl_options_to_context(context) is context
    assert ssl_options_to_context(context, server_side=True) is context


def test_unknown_ssl_option_keys_are_rejected(certs: _Certs) -> None:
    with pytest.raises(ValueError, match="unknown ssl_options keys"):
        ssl_options_to_context({"certfile": certs.cert, "verify": True}, True)
    # Code written against Tornado, which asserts, still catches it.
    with pytest.raises(AssertionError):
        ssl_options_to_context({"server_side": True}, server_side=True)
    with pytest.raises(TypeError):
        ssl_options_to_context([("certfile", certs.cert)], True)  # type: ignore[arg-type]


def test_server_side_chooses_the_protocol() -> None:
    assert ssl_options_to_context({}, server_side=True).protocol == (
        ssl.PROTOCOL_TLS_SERVER
    )
    client = ssl_options_to_context({}, server_side=False)
    assert client.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED
    with pytest.warns(DeprecationWarning):
        ssl_options_to_context({})


def test_dict_options_are_applied(certs: _Certs) -> None:
    context = ssl_options_to_context(
        {
            "certfile": certs.cert,
            "keyfile": certs.key,
            "cert_reqs": ssl.CERT_OPTIONAL,
            "ca_certs": certs.ca,
            "ciphers": "ECDHE+AESGCM",
        },
        server_side=True,
    )
    assert context.verify_mode == ssl.CERT_OPTIONAL
    assert context.cert_store_stats()["x509_ca"] == 1
    assert context.options & ssl.OP_NO_COMPRESSION
    names = {c["name"] for c in context.get_ciphers()}
    assert names and all("ECDHE" in n or n.startswith("TLS_") for n in names)

    client = ssl_options_to_context({"cert_reqs": ssl.CERT_NONE}, server_side=False)
    assert client.verify_mode == ssl.CERT_NONE
    assert not client.check_hostname

    with pytest.raises(ssl.SSLError):
        ssl_options_to_context({"ciphers": "NO-SUCH-CIPHER"}, server_side=True)


def _handshake(
    server_options: Any, client_options: Any, server_hostname: str
) -> tuple[bytes, BaseException | None]:
    """TLS over a socket pair; return what the server read and its error."""
    server_raw, client_raw = socket.socketpair()
    received: list[bytes] = []
    server_error: list[BaseException] = []

    def serve() -> None:
        try:
            with ssl_wrap_socket(server_raw, server_options, server_side=True) as tls:
                received.append(tls.recv(4))
        except (ssl.SSLError, OSError) as e:
            server_error.append(e)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with ssl_wrap_socket(
            client_raw,
            client_options,
            server_hostname=server_hostname,
            server_side=False,
        ) as tls:
            tls.sendall(b"ping")
    finally:
        client_raw.close()
        thread.join()
        server_raw.close()
    return b"".join(received), (server_error or [None])[0]


def test_wrap_socket_handshake_with_verification(certs: _Certs) -> None:
    received, error = _handshake(
        {"certfile": certs.cert, "keyfile": certs.key},
        {"ca_certs": certs.ca},
        "localhost",
    )
    assert error is None
    assert received == b"ping"


def test_wrap_socket_rejects_the_wrong_host_name(certs: _Certs) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake({"certfile": certs.combined}, {"ca_certs": certs.ca}, "example.org")


def test_wrap_socket_passes_keyword_arguments(certs: _Certs) -> None:
    raw = socket.socket()
    try:
        tls = ssl_wrap_socket(
            raw,
            {"certfile": certs.combined},
            server_side=True,
            do_handshake_on_connect=False,
        )
        assert tls.server_side
        assert tls.do_handshake_on_connect is False
        tls.close()
    finally:
        raw.close()
