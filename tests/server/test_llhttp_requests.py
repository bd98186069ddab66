"""llhttp's request cases sent to the real server, over a socket.

The bytes of each request case of llhttp's strict mode go to an HTTPServer
(by default and with ``strict=True``, on both event loops) whose application
is an ``HTTPServerConnectionDelegate`` that records every message as it
arrives: start line, header fields and body, with no ``HTTPServerRequest``
in between (which would refuse an HTTP/1.1 request without ``Host``, as
llhttp does not).  The application must see exactly the messages that
``tests/llhttp_cases.py`` expects (llhttp's, but for the reviewed
differences), each answered; then the server must do what comes next: a
400 or a close for what llhttp refuses, a close after ``Connection: close``,
and nothing at all (until the client closes) for bytes that stop inside a
message.  The refused cases are also sent one byte per write.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable

import pytest

from tests.llhttp_cases import REQUEST_CASES, Case, Message, expected
from tests.server.client import RawConnection
from tornado_compat import httputil

BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\n\r\n"


class Recorder(httputil.HTTPMessageDelegate):
    def __init__(self, app: RecordingDelegateApp, conn: httputil.HTTPConnection):
        self.app = app
        self.conn = conn
        self.start_line: httputil.RequestStartLine | None = None
        self.fields: tuple[tuple[str, str], ...] = ()
        self.chunks: list[bytes] = []

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> Awaitable[None] | None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.start_line = start_line
        self.fields = tuple(headers.get_all())
        return None

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        self.chunks.append(chunk)
        return None

    def finish(self) -> None:
        assert self.start_line is not None
        method, target, version = self.start_line
        self.app.messages.append(
            Message(method, target, version, "", self.fields, b"".join(self.chunks))
        )
        self.conn.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": "0"}),
        )
        self.conn.finish()

    def on_connection_close(self) -> None:
        pass


class RecordingDelegateApp(httputil.HTTPServerConnectionDelegate):
    """Answers every request with an empty 200 and keeps what it saw."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        return Recorder(self, request_conn)

    def on_close(self, server_conn: object) -> None:
        pass


def exchange(serve, connect, case: Case, strict: bool, bytewise: bool = False) -> None:
    want = expected(case, strict)
    app = RecordingDelegateApp()
    served = serve(app, strict=strict)
    conn: RawConnection = connect(served.port)
    if bytewise:
        conn.send_bytewise(want.data, stop_at_close=True)
    else:
        conn.send(want.data)
    for _ in want.messages:
        assert conn.read_response().status == 200
    wanted = [m.as_seen_through_headers() for m in want.messages]
    if want.end == "paused":
        # An upgrade or a CONNECT: what follows is not HTTP/1.1 to llhttp.
        assert app.messages[: len(wanted)] == wanted, want.why
        return
    if want.end in ("end", "incomplete", "until-close"):
        # The server waits for the rest, or the next request: the client
        # ends the conversation, and the server closes without a word.
        conn.sock.shutdown(socket.SHUT_WR)
        assert conn.read_until_close() == b""
    elif want.end == "closed":
        assert conn.read_until_close() == b""
    else:
        assert want.end == "refused"
        assert conn.read_until_close() in (b"", BAD_REQUEST)
    assert app.messages == wanted, want.why


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
@pytest.mark.parametrize("case", REQUEST_CASES, ids=lambda c: c.id)
def test_request_case_through_the_server(serve, connect, case, strict) -> None:
    exchange(serve, connect, case, strict)


@pytest.mark.parametrize(
    "case",
    [c for c in REQUEST_CASES if expected(c).end == "refused"],
    ids=lambda c: c.id,
)
def test_refused_request_case_sent_byte_by_byte(serve, connect, case) -> None:
    exchange(serve, connect, case, False, bytewise=True)
