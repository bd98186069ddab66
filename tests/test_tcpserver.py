"""Tests for tornado_compat.tcpserver.TCPServer on real sockets.

The clients here are plain asyncio streams or blocking sockets, not our own
IOStream, so that a server bug cannot be hidden by a matching client bug.
Every wait is on an event or a future; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import struct
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support import ipv6_loopback_works, run
from tornado_compat.iostream import IOStream, SSLIOStream, StreamClosedError
from tornado_compat.netutil import bind_sockets
from tornado_compat.tcpserver import TCPServer


class EchoServer(TCPServer):
    """Echoes one line per connection, then closes; records what it was given."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.streams: list[IOStream] = []
        self.addresses: list[Any] = []

    async def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.streams.append(stream)
        self.addresses.append(address)
        try:
            line = await stream.read_until(b"\n")
            await stream.write(line)
        except StreamClosedError:
            pass
        finally:
            stream.close()


async def echo_once(
    host: str, port: int, payload: bytes = b"hello\n", **kwargs: Any
) -> bytes:
    reader, writer = await asyncio.open_connection(host, port, **kwargs)
    try:
        writer.write(payload)
        return await reader.read()
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


def local_sockets(family: socket.AddressFamily = socket.AF_INET) -> list[socket.socket]:
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    return bind_sockets(0, address=host, family=family)


# -- listening and stopping -------------------------------------------------


def test_add_sockets_serves_connections() -> None:
    async def main() -> None:
        server = EchoServer()
        sockets = local_sockets()
        port = sockets[0].getsockname()[1]
        server.add_sockets(sockets)
        try:
            assert await echo_once("127.0.0.1", port) == b"hello\n"
            assert await echo_once("127.0.0.1", port, b"again\n") == b"again\n"
        finally:
            server.stop()
        assert len(server.streams) == 2
        assert server.addresses[0][0] == "127.0.0.1"

    run(main)


@pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback")
def test_add_sockets_both_families() -> None:
    async def main() -> None:
        server = EchoServer()
        v4 = local_sockets(socket.AF_INET)
        v6 = local_sockets(socket.AF_INET6)
        server.add_sockets(v4 + v6)
        try:
            assert await echo_once("127.0.0.1", v4[0].getsockname()[1]) == b"hello\n"
            assert await echo_once("::1", v6[0].getsockname()[1]) == b"hello\n"
        finally:
            server.stop()
        assert server.addresses[1][0] == "::1"

    run(main)


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="no SO_REUSEPORT")
def test_listen() -> None:
    async def main() -> None:
        # Reserve a port that listen() may bind again thanks to reuse_port.
        (holder,) = bind_sockets(
            0, address="127.0.0.1", family=socket.AF_INET, reuse_port=True
        )
        port = holder.getsockname()[1]
        server = EchoServer()
        try:
            server.listen(port, address="127.0.0.1", reuse_port=True)
            holder.close()
            assert await echo_once("127.0.0.1", port) == b"hello\n"
        finally:
            holder.close()
            server.stop()

    run(main)


def test_stop_closes_listening_sockets_and_refuses() -> None:
    async def main() -> None:
        server = EchoServer()
        sockets = local_sockets()
        port = sockets[0].getsockname()[1]
        server.add_sockets(sockets)
        assert await echo_once("127.0.0.1", port) == b"hello\n"
        server.stop()
        assert all(s.fileno() == -1 for s in sockets)
        with pytest.raises(ConnectionRefusedError):
            await echo_once("127.0.0.1", port)

    run(main)


def test_stop_twice() -> None:
    async def main() -> None:
        server = TCPServer()
        server.add_sockets(local_sockets())
        server.stop()
        server.stop()

    run(main)


def test_stop_then_add_sockets_again() -> None:
    async def main() -> None:
        server = EchoServer()
        server.add_sockets(local_sockets())
        server.stop()
        sockets = local_sockets()
        server.add_sockets(sockets)
        assert await echo_once(*sockets[0].getsockname()[:2]) == b"hello\n"
        server.stop()
        assert sockets[0].fileno() == -1

    run(main)


def test_stop_without_sockets() -> None:
    TCPServer().stop()


def test_stop_in_handle_stream_with_queued_connections() -> None:
    # Several connections wait in the backlog, so one readiness event accepts
    # them in one batch; stopping from the first handle_stream must end the
    # batch cleanly instead of accepting on a closed socket (no ERROR log,
    # which the conftest turns into a failure).
    n = 10

    async def main() -> None:
        handled: list[IOStream] = []
        first: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        class StoppingServer(TCPServer):
            def handle_stream(self, stream: IOStream, address: Any) -> None:
                handled.append(stream)
                self.stop()
                first.set_result(None)

        (listener,) = local_sockets()
        port = listener.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        server = StoppingServer()
        try:
            server.add_socket(listener)
            await first
            # One more loop turn in case the batch went on after stop().
            await asyncio.sleep(0)
        finally:
            for c in clients:
                c.close()
            for stream in handled:
                stream.close()
        assert len(handled) == 1
        assert listener.fileno() == -1

    run(main)


def test_bind_then_start_in_process() -> None:
    async def main() -> None:
        server = EchoServer()
        server.bind(0, address="127.0.0.1", family=socket.AF_INET)
        server.start()
        (sock,) = server._sockets.values()
        port = sock.getsockname()[1]
        try:
            assert await echo_once("127.0.0.1", port) == b"hello\n"
            # bind() after start() takes effect at once, like listen().
            server.bind(0, address="127.0.0.1", family=socket.AF_INET)
            (port2,) = {s.getsockname()[1] for s in server._sockets.values()} - {port}
            assert await echo_once("127.0.0.1", port2) == b"hello\n"
        finally:
            server.stop()

    run(main)


def test_start_twice_is_an_error() -> None:
    async def main() -> None:
        server = TCPServer()
        server.start()
        with pytest.raises(RuntimeError):
            server.start()
        server.stop()

    run(main)


def test_stop_closes_sockets_bound_but_never_started() -> None:
    server = TCPServer()
    server.bind(0, address="127.0.0.1")
    pending = list(server._pending_sockets)
    assert pending
    server.stop()
    assert all(s.fileno() == -1 for s in pending)


def _run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-Werror::DeprecationWarning", "-c", code],
        capture_output=True,
        encoding="utf8",
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_start_forks_processes() -> None:
    # The parent stays in fork_processes and exits 0 once all children have;
    # each child serves from the shared sockets and reports its task id.
    out = _run_python(
        textwrap.dedent(
            """
            import warnings

            from tornado.ioloop import IOLoop
            from tornado_compat.process import task_id
            from tornado_compat.tcpserver import TCPServer

            # start() registers the sockets on IOLoop.current() before any
            # loop runs, which asyncio deprecates; that is the pattern here.
            warnings.simplefilter("ignore", DeprecationWarning)
            server = TCPServer()
            server.bind(0, address="127.0.0.1")
            server.start(3)
            IOLoop.current().run_sync(lambda: None)
            server.stop()
            print(task_id(), end="")
            """
        )
    )
    assert "".join(sorted(out)) == "012"


# -- what handle_stream receives --------------------------------------------


def test_buffer_settings_reach_the_stream() -> None:
    async def main() -> None:
        seen: asyncio.Future[IOStream] = asyncio.get_running_loop().create_future()

        class Server(TCPServer):
            def handle_stream(self, stream: IOStream, address: Any) -> None:
                seen.set_result(stream)

        server = Server(max_buffer_size=12345, read_chunk_size=678)
        sockets = local_sockets()
        server.add_sockets(sockets)
        try:
            with socket.create_connection(sockets[0].getsockname()[:2]):
                stream = await seen
                assert type(stream) is IOStream
                assert stream.max_buffer_size == 12345
                assert stream.read_chunk_size == 678
                stream.close()
        finally:
            server.stop()

    run(main)


def test_every_accepted_connection_has_nagle_off() -> None:
    # The first connection shows whether the listening socket's TCP_NODELAY
    # reached it; those after it rely on that without asking.
    async def main() -> list[int]:
        queue: asyncio.Queue[IOStream] = asyncio.Queue()

        class Server(TCPServer):
            def handle_stream(self, stream: IOStream, address: Any) -> None:
                queue.put_nowait(stream)

        server = Server()
        sockets = local_sockets()
        server.add_sockets(sockets)
        seen = []
        try:
            for _ in range(3):
                with socket.create_connection(sockets[0].getsockname()[:2]):
                    stream = await queue.get()
                    seen.append(
                        stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                    )
                    stream.close()
        finally:
            server.stop()
        return seen

    assert all(run(main))


def test_handle_stream_not_overridden() -> None:
    with pytest.raises(NotImplementedError):
        TCPServer().handle_stream(None, ("127.0.0.1", 1))  # type: ignore[arg-type]


class _ErrorSeen(logging.Handler):
    """Sets an asyncio event when an ERROR record arrives (on the loop's thread)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.set()


@pytest.mark.allow_error_logs
def test_handle_stream_coroutine_error_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        class FailingServer(TCPServer):
            async def handle_stream(self, stream: IOStream, address: Any) -> None:
                await stream.read_bytes(5)
                stream.close()
                raise ZeroDivisionError("boom")

        server = FailingServer()
        sockets = local_sockets()
        server.add_sockets(sockets)
        waiter = _ErrorSeen()
        logging.getLogger().addHandler(waiter)
        try:
            reader, writer = await asyncio.open_connection(
                *sockets[0].getsockname()[:2]
            )
            writer.write(b"hello")
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()
            await waiter.seen.wait()
        finally:
            logging.getLogger().removeHandler(waiter)
            server.stop()

    with caplog.at_level(logging.ERROR):
        run(main)
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.name == "tornado.application"
    assert "Exception in callback" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ZeroDivisionError)


def test_handle_stream_coroutine_success_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        server = EchoServer()
        sockets = local_sockets()
        server.add_sockets(sockets)
        try:
            assert await echo_once(*sockets[0].getsockname()[:2]) == b"hello\n"
        finally:
            server.stop()

    run(main)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


# -- TLS ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_cert(ca: trustme.CA) -> trustme.LeafCert:
    return ca.issue_cert("localhost", "127.0.0.1")


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(context)
    return context


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


def cert_files(tmp_path: Path, cert: trustme.LeafCert) -> dict[str, str]:
    certfile = tmp_path / "cert.pem"
    keyfile = tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(certfile)
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(certfile, append=True)
    cert.private_key_pem.write_to_path(keyfile)
    return {"certfile": str(certfile), "keyfile": str(keyfile)}


def tls_roundtrip(ssl_options: Any, ca: trustme.CA) -> None:
    async def main() -> None:
        server = EchoServer(ssl_options=ssl_options)
        sockets = local_sockets()
        port = sockets[0].getsockname()[1]
        server.add_sockets(sockets)
        try:
            reply = await echo_once(
                "127.0.0.1",
                port,
                ssl=client_context(ca),
                server_hostname="localhost",
            )
            assert reply == b"hello\n"
        finally:
            server.stop()
        (stream,) = server.streams
        assert isinstance(stream, SSLIOStream)

    run(main)


def test_tls_server_with_context(ca: trustme.CA, server_cert: trustme.LeafCert) -> None:
    tls_roundtrip(server_context(server_cert), ca)


def test_tls_server_with_dict(
    ca: trustme.CA, server_cert: trustme.LeafCert, tmp_path: Path
) -> None:
    tls_roundtrip(cert_files(tmp_path, server_cert), ca)


def test_tls_handshake_happens_after_handle_stream(
    ca: trustme.CA, server_cert: trustme.LeafCert
) -> None:
    # handle_stream gets the stream before the handshake; wait_for_handshake
    # is how a handler gets at the negotiated session.
    async def main() -> None:
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        class Server(TCPServer):
            async def handle_stream(self, stream: IOStream, address: Any) -> None:
                assert isinstance(stream, SSLIOStream)
                await stream.wait_for_handshake()
                done.set_result(stream.socket.version())
                stream.close()

        server = Server(ssl_options=server_context(server_cert))
        sockets = local_sockets()
        server.add_sockets(sockets)
        try:
            reader, writer = await asyncio.open_connection(
                *sockets[0].getsockname()[:2],
                ssl=client_context(ca),
                server_hostname="localhost",
            )
            assert (await done).startswith("TLS")
            await reader.read()
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass
        finally:
            server.stop()

    run(main)


def test_ssl_options_dict_needs_certfile() -> None:
    with pytest.raises(KeyError):
        TCPServer(ssl_options={"keyfile": "/nonexistent/key.pem"})


def test_ssl_options_dict_files_must_exist(
    server_cert: trustme.LeafCert, tmp_path: Path
) -> None:
    files = cert_files(tmp_path, server_cert)
    with pytest.raises(ValueError, match="certfile"):
        TCPServer(ssl_options={"certfile": str(tmp_path / "missing.pem")})
    with pytest.raises(ValueError, match="keyfile"):
        TCPServer(
            ssl_options={
                "certfile": files["certfile"],
                "keyfile": str(tmp_path / "missing.pem"),
            }
        )
    TCPServer(ssl_options=files)


# -- counting connections (max_connections) -----------------------------------


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="StreamWriter.start_tls is new in 3.11"
)
def test_a_connection_upgraded_with_start_tls_counts_until_it_closes(
    ca: trustme.CA, server_cert: trustme.LeafCert
) -> None:
    # start_tls hands the connection to a new stream; the count goes with it.
    async def main() -> list[int]:
        counts: list[int] = []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        class StartTLSServer(TCPServer):
            async def handle_stream(self, stream: IOStream, address: Any) -> None:
                try:
                    await stream.read_until(b"\n")
                    await stream.write(b"go\n")
                    tls = await stream.start_tls(True, server_context(server_cert))
                    counts.append(self._open_connections)
                    await tls.write(await tls.read_until(b"\n"))
                    tls.close()
                    counts.append(self._open_connections)
                finally:
                    if not done.done():
                        done.set_result(None)

        server = StartTLSServer(max_connections=1)
        sockets = local_sockets()
        server.add_sockets(sockets)
        try:
            reader, writer = await asyncio.open_connection(
                *sockets[0].getsockname()[:2]
            )
            writer.write(b"starttls\n")
            assert await reader.readline() == b"go\n"
            await writer.start_tls(client_context(ca), server_hostname="localhost")
            writer.write(b"hello\n")
            assert await reader.readline() == b"hello\n"
            await done
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass
            # The cap was reached and released: another connection is served.
            assert await echo_after_starttls(sockets[0], ca) == b"again\n"
        finally:
            server.stop()
        return counts

    async def echo_after_starttls(sock: socket.socket, ca: trustme.CA) -> bytes:
        reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        try:
            writer.write(b"starttls\n")
            await reader.readline()
            await writer.start_tls(client_context(ca), server_hostname="localhost")
            writer.write(b"again\n")
            return await reader.readline()
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass

    # Each connection: counted after the upgrade, uncounted once closed.
    assert run(main) == [1, 0, 1, 0]


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="other systems may drop a reset connection from the backlog",
)
@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_a_connection_reset_in_the_backlog_closes_at_once(
    tls: bool, server_cert: trustme.LeafCert
) -> None:
    # The peer resets the connection before the server accepts it: the
    # stream must notice (a read fails), not wait forever for a transport;
    # over TLS, without an ERROR and a socket left to the garbage collector.
    async def main() -> int:
        [listener] = local_sockets()
        client = socket.create_connection(listener.getsockname()[:2])
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
        closed = asyncio.Event()

        class Server(TCPServer):
            def handle_stream(self, stream: IOStream, address: Any) -> None:
                stream.set_close_callback(closed.set)

        server = Server(ssl_options=server_context(server_cert) if tls else None)
        server.add_sockets([listener])
        try:
            await asyncio.wait_for(closed.wait(), 10)
        finally:
            server.stop()
        return server._open_connections

    assert run(main) == 0
