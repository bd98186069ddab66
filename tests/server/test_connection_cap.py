"""``max_connections``: past the cap the server stops accepting, so new
connections wait in the kernel's listen backlog, and it accepts again as
connections close, however they end.

A connection that is "not served" is shown so: its request was sent, then a
connection that is served made a whole round trip, and the waiting one still
has no answer and the server has not accepted it.  A connection that is
served is read with a blocking socket whose timeout is only a safety net.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest

from tests.server.client import RawConnection, request
from tests.server.conftest import Served
from tests.server.support import RecordingApp, respond
from tornado_compat import httputil
from tornado_compat.httpserver import HTTPServer
from tornado_compat.iostream import IOStream
from tornado_compat.tcpserver import TCPServer

CAP = 3


def served(connection: RawConnection, target: str = "/") -> None:
    connection.send(request("GET", target))
    assert connection.read_response().status == 200


def not_answered(connection: RawConnection) -> bool:
    """Whether nothing (not even a close) has arrived on ``connection``; it
    does not wait."""
    timeout = connection.sock.gettimeout()
    connection.sock.setblocking(False)
    try:
        connection.sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        connection.sock.settimeout(timeout)
    return False


def open_count(served_server: Served) -> int:
    server = served_server.server
    return served_server.thread.call_soon(lambda: server._open_connections)


def assert_waiting(
    waiting: RawConnection, other: RawConnection, served_server: Served
) -> None:
    """``waiting`` sent a request and must not be accepted: ``other``'s round
    trip after it shows the server went round its loop meanwhile."""
    calls = served_server.app.calls
    served(other, "/meanwhile")
    assert served_server.app.calls == calls + 1
    assert not_answered(waiting)
    assert open_count(served_server) == CAP


def fill(
    served_server: Served, connect: Callable[[int], RawConnection]
) -> list[RawConnection]:
    """CAP connections, each served once and kept open."""
    held = [connect(served_server.port) for _ in range(CAP)]
    for connection in held:
        served(connection)
    assert open_count(served_server) == CAP
    return held


def test_past_the_cap_a_connection_waits_until_one_closes(serve, connect) -> None:
    server = serve(max_connections=CAP)
    held = fill(server, connect)
    waiting = connect(server.port)
    waiting.send(request("GET", "/waiting"))
    assert_waiting(waiting, held[0], server)

    held[1].close()
    response = waiting.read_response()
    assert response.status == 200
    assert server.app.uris[-1] == "/waiting"
    # The others were served all along, and still are.
    served(held[0])
    served(held[2])


def reset(connection: RawConnection) -> None:
    """Close with an RST instead of a FIN."""
    connection.sock.setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
    )
    connection.close()


def close_by_server(connection: RawConnection) -> None:
    connection.send(request("GET", "/bye", headers={"Connection": "close"}))
    assert connection.read_response().status == 200
    assert connection.is_closed()


def close_by_error(connection: RawConnection) -> None:
    connection.send(b"NOT HTTP\r\n\r\n")
    assert connection.read_response().status == 400
    assert connection.is_closed()


@pytest.mark.parametrize(
    "end",
    [RawConnection.close, reset, close_by_server, close_by_error],
    ids=["peer-close", "peer-reset", "server-close", "bad-request"],
)
def test_the_count_follows_connections_however_they_end(serve, connect, end) -> None:
    server = serve(max_connections=CAP)
    for _ in range(3):
        held = fill(server, connect)
        for connection in held:
            end(connection)
    # Had one count leaked, the third of these would wait for ever.
    held = fill(server, connect)
    waiting = connect(server.port)
    waiting.send(request("GET", "/waiting"))
    assert_waiting(waiting, held[0], server)
    server.close_all_connections()
    assert open_count(server) == 0


class Detaching(RecordingApp):
    """Takes the connection over, as a websocket handler does, and answers
    on the bare stream, which it keeps open."""

    def __init__(self) -> None:
        super().__init__(self._detach)
        self.streams: list[IOStream] = []

    def _detach(self, req: httputil.HTTPServerRequest) -> None:
        if req.path != "/detach":
            respond(req, b"ok")
            return
        assert req.connection is not None
        stream = req.connection.detach()  # type: ignore[attr-defined]
        self.streams.append(stream)
        stream.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ndetached")


def test_a_detached_connection_counts_until_its_stream_closes(serve, connect) -> None:
    app = Detaching()
    server = serve(app, max_connections=1)
    taken = connect(server.port)
    taken.send(request("GET", "/detach"))
    assert taken.read_response().body == b"detached"
    waiting = connect(server.port)
    waiting.send(request("GET", "/waiting"))
    assert not_answered(waiting)
    assert open_count(server) == 1

    server.thread.call_soon(app.streams[0].close)
    assert taken.is_closed()
    assert waiting.read_response().status == 200


def test_the_cap_holds_on_every_listening_socket(serve, connect) -> None:
    server = serve(max_connections=1)
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen(8)
    server.thread.call_soon(lambda: server.server.add_sockets([other]))
    first = connect(server.port)
    served(first)
    # The second socket was added at the cap: it starts held.
    waiting = connect(other.getsockname()[1])
    waiting.send(request("GET", "/waiting"))
    calls = server.app.calls
    served(first)
    assert server.app.calls == calls + 1
    assert not_answered(waiting)
    first.close()
    assert waiting.read_response().status == 200


@pytest.mark.parametrize("value", [0, -1, True, 2.5, "3"])
def test_max_connections_must_be_a_positive_int(value: Any) -> None:
    with pytest.raises(ValueError, match="max_connections"):
        TCPServer(max_connections=value)
    with pytest.raises(ValueError, match="max_connections"):
        HTTPServer(RecordingApp(), max_connections=value)
