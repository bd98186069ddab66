"""What the HTTP/2 attack, deadline and drain tests share: a server of
``HTTPServer(http2=True)`` on 127.0.0.1 in the test's own loop, an
application that records what it saw, and :class:`Peer`, a client that
speaks frames built with ``hyperframe`` and ``hpack`` and reads the
server's frames one by one, so that it can send what ``h2`` would refuse
to (floods, HPACK bombs, streams past the limit) and go on reading after
a GOAWAY (which an ``h2`` client does not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import hpack
import hyperframe.frame as F
import pytest

from tornado_compat import httputil, iostream
from tornado_compat.httpserver import HTTPServer
from tornado_compat.netutil import bind_sockets

TIMEOUT = 30.0
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Error codes (RFC 9113 section 7).
NO_ERROR = 0
PROTOCOL_ERROR = 1
CANCEL = 8
REFUSED_STREAM = 7
ENHANCE_YOUR_CALM = 11

INITIAL_WINDOW_SIZE = 4
# A connection window increment that opens it to the largest.
BIG = 2**31 - 1 - 65535


class App(httputil.HTTPServerConnectionDelegate):
    """Paths: ``/`` answers ``ok``; ``/hold`` answers ``held`` once
    :attr:`release` is set; ``/echo`` answers with the request body;
    ``/big?size=N&chunk=M`` writes N bytes M at a time, waiting for each
    write; ``/early`` sends its head at once and ends when released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = 0
        self.closed = 0
        self.answered = 0
        self.started_event = asyncio.Event()
        self.closed_event = asyncio.Event()
        self.written = 0
        # Set when a /big answer finds its stream closed under it.
        self.cut = asyncio.Event()
        self.max_unsent = 0
        self.connections: list[Any] = []

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        self.connections.append(server_conn)
        return Handler(self, request_conn)


class Handler(httputil.HTTPMessageDelegate):
    def __init__(self, app: App, conn: httputil.HTTPConnection) -> None:
        self.app = app
        self.conn = conn
        self.body = b""
        self.path = ""
        self.task: asyncio.Task[None] | None = None

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.path = start_line.path
        self.app.started += 1
        self.app.started_event.set()
        if self.path == "/early":
            self.conn.write_headers(
                httputil.ResponseStartLine("HTTP/2.0", 200, "OK"),
                httputil.HTTPHeaders(),
            )

    def data_received(self, chunk: bytes) -> None:
        self.body += chunk

    def finish(self) -> None:
        path = urlsplit(self.path)
        if path.path == "/hold":
            self.task = asyncio.ensure_future(self.later(b"held"))
        elif path.path == "/echo":
            self.answer(self.body)
        elif path.path == "/big":
            query = parse_qs(path.query)
            size = int(query["size"][0])
            chunk = int(query.get("chunk", ["65536"])[0])
            self.task = asyncio.ensure_future(self.big(size, chunk))
        elif path.path == "/early":
            self.task = asyncio.ensure_future(self.later(b""))
        else:
            self.answer(b"ok")

    async def later(self, body: bytes) -> None:
        await self.app.release.wait()
        if self.path == "/early":
            self.conn.finish()
        else:
            self.answer(body)

    async def big(self, size: int, chunk: int) -> None:
        self.conn.write_headers(
            httputil.ResponseStartLine("HTTP/2.0", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(size)}),
        )
        socket_stream = getattr(getattr(self.conn, "conn", None), "stream", None)
        block = b"x" * chunk
        left = size
        try:
            while left:
                piece = block[: min(left, chunk)]
                await self.conn.write(piece)
                left -= len(piece)
                self.app.written += len(piece)
                if socket_stream is not None:
                    self.app.max_unsent = max(
                        self.app.max_unsent, socket_stream._unsent_bytes()
                    )
        except iostream.StreamClosedError:
            if socket_stream is not None:
                self.app.max_unsent = max(
                    self.app.max_unsent, socket_stream._unsent_bytes()
                )
            self.app.cut.set()
            return
        self.conn.finish()
        self.app.answered += 1

    def answer(self, body: bytes) -> None:
        self.conn.write_headers(
            httputil.ResponseStartLine("HTTP/2.0", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        self.conn.finish()
        self.app.answered += 1

    def on_connection_close(self) -> None:
        self.app.closed += 1
        self.app.closed_event.set()


class Served:
    """A running server: its port, and an event set whenever it has no
    connection left."""

    def __init__(self, server: HTTPServer, port: int) -> None:
        self.server = server
        self.port = port
        self.empty = asyncio.Event()
        on_close = server.on_close

        def watched(conn: object) -> None:
            on_close(conn)
            if not server._connections:
                self.empty.set()

        server.on_close = watched  # type: ignore[method-assign]

    async def all_closed(self) -> None:
        """Wait until the server has no connection left."""
        while self.server._connections:
            self.empty.clear()
            await asyncio.wait_for(self.empty.wait(), TIMEOUT)


@contextlib.asynccontextmanager
async def serving(app: App, **options: Any) -> AsyncIterator[Served]:
    server = HTTPServer(app, http2=True, **options)
    sockets = bind_sockets(0, address="127.0.0.1")
    server.add_sockets(sockets)
    served = Served(server, sockets[0].getsockname()[1])
    try:
        yield served
    finally:
        server.stop()
        await server.close_all_connections()


@contextlib.asynccontextmanager
async def peer_served(
    app: App,
    *,
    handshake: bool = False,
    settings: dict[int, int] | None = None,
    window: int = BIG,
    **options: Any,
) -> AsyncIterator[tuple[Served, Peer]]:
    """:func:`serving` with ``options``, and a :class:`Peer` connected to
    it (``settings`` and ``window`` as :meth:`Peer.connect` takes them;
    with ``handshake``, past the server's SETTINGS)."""
    async with serving(app, **options) as served:
        peer = await Peer.connect(served.port, settings, window)
        try:
            if handshake:
                await peer.handshake()
            yield served, peer
        finally:
            peer.close()


class Peer:
    """A client speaking frames: it sends what it is told, and reads the
    server's frames one by one, acknowledging SETTINGS (and PINGs, when
    :attr:`auto_ping` is set)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self._buf = b""
        self.auto_ping = True
        self.eof = False
        self.frames: list[F.Frame] = []
        # Per stream: [status, body, reset code, ended].
        self.responses: dict[int, list[Any]] = {}

    @classmethod
    async def connect(
        cls, port: int, settings: dict[int, int] | None = None, window: int = BIG
    ) -> Peer:
        """Connect, send the preface and SETTINGS (by default with the
        largest initial window) and a connection WINDOW_UPDATE of
        ``window``: such a peer never needs to open a window again."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = cls(reader, writer)
        frame = F.SettingsFrame(0)
        frame.settings = {INITIAL_WINDOW_SIZE: 2**31 - 1}
        frame.settings.update(settings or {})
        out = [frame]
        if window:
            out.append(window_update(0, window))
        peer.writer.write(PREFACE + b"".join(f.serialize() for f in out))
        return peer

    async def handshake(self) -> None:
        """Read until the server's SETTINGS (acknowledged at once): after
        it the server sends nothing unasked, and this peer nothing either,
        so a header block sent next is not interrupted by a SETTINGS ACK."""
        await self.until(
            lambda f: isinstance(f, F.SettingsFrame) and "ACK" not in f.flags
        )

    def send(self, *frames: F.Frame | bytes) -> None:
        self.writer.write(
            b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames)
        )

    def headers(
        self,
        stream_id: int,
        path: str = "/",
        method: str = "GET",
        end_stream: bool = True,
        extra: Iterable[tuple[str, str]] = (),
        end_headers: bool = True,
    ) -> F.HeadersFrame:
        frame = F.HeadersFrame(stream_id)
        frame.data = self.encoder.encode(
            [
                (":method", method),
                (":path", path),
                (":scheme", "http"),
                (":authority", "127.0.0.1"),
                *extra,
            ]
        )
        if end_headers:
            frame.flags.add("END_HEADERS")
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame

    async def next_frame(self) -> F.Frame | None:
        """The server's next frame, or None once it has closed."""
        while True:
            if len(self._buf) >= 9:
                frame, length = F.Frame.parse_frame_header(memoryview(self._buf[:9]))
                if len(self._buf) >= 9 + length:
                    frame.parse_body(memoryview(self._buf[9 : 9 + length]))
                    self._buf = self._buf[9 + length :]
                    self._react(frame)
                    self._track(frame)
                    self.frames.append(frame)
                    return frame
            if self.eof:
                return None
            try:
                data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            except ConnectionError:
                data = b""
            if not data:
                self.eof = True
            self._buf += data

    def _react(self, frame: F.Frame) -> None:
        if self.writer.is_closing():
            return
        if isinstance(frame, F.SettingsFrame) and "ACK" not in frame.flags:
            ack = F.SettingsFrame(0)
            ack.flags.add("ACK")
            self.send(ack)
        elif (
            isinstance(frame, F.PingFrame)
            and "ACK" not in frame.flags
            and self.auto_ping
        ):
            ack = F.PingFrame(0)
            ack.flags.add("ACK")
            ack.opaque_data = frame.opaque_data
            self.send(ack)

    async def until(self, done: Callable[[F.Frame], bool]) -> F.Frame | None:
        """Read frames until one satisfies ``done`` (returned), or the end
        (None)."""
        while True:
            frame = await self.next_frame()
            if frame is None or done(frame):
                return frame

    async def goaway(self) -> F.GoAwayFrame | None:
        """Read until a GOAWAY (returned) or the end."""
        frame = await self.until(lambda f: isinstance(f, F.GoAwayFrame))
        assert frame is None or isinstance(frame, F.GoAwayFrame)
        return frame

    async def to_the_end(self) -> None:
        """Read (and drop) until the server closes."""
        while await self.next_frame() is not None:
            pass

    def _track(self, frame: F.Frame) -> None:
        """Keep each stream's response as its frames arrive (HEADERS are
        decoded in order, as HPACK needs)."""
        sid = frame.stream_id
        if not sid:
            return
        state = self.responses.setdefault(sid, [None, b"", None, False])
        if isinstance(frame, F.HeadersFrame):
            for name, value in self.decoder.decode(frame.data):
                if name == ":status":
                    state[0] = int(value)
        elif isinstance(frame, F.DataFrame):
            state[1] += frame.data
        elif isinstance(frame, F.RstStreamFrame):
            state[2] = frame.error_code
            state[3] = True
        if "END_STREAM" in frame.flags:
            state[3] = True

    async def response(self, stream_id: int) -> tuple[int | None, bytes, int | None]:
        """The response on ``stream_id``: (status, body, reset code), once
        it has ended (END_STREAM or RST_STREAM) or the connection has."""
        while True:
            state = self.responses.get(stream_id)
            if state is not None and state[3]:
                break
            if await self.next_frame() is None:
                break
        status, body, reset, _ended = self.responses.get(
            stream_id, [None, b"", None, False]
        )
        return status, body, reset

    def close(self) -> None:
        self.writer.close()


def window_update(stream_id: int, increment: int) -> F.WindowUpdateFrame:
    frame = F.WindowUpdateFrame(stream_id)
    frame.window_increment = increment
    return frame


def data(stream_id: int, payload: bytes, end_stream: bool = False) -> F.DataFrame:
    frame = F.DataFrame(stream_id)
    frame.data = payload
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame


def rst(stream_id: int, code: int = CANCEL) -> F.RstStreamFrame:
    frame = F.RstStreamFrame(stream_id)
    frame.error_code = code
    return frame


async def get_ok(port: int) -> None:
    """A second client, on a connection of its own, gets its 200."""
    peer = await Peer.connect(port)
    try:
        peer.send(peer.headers(1))
        status, body, reset = await peer.response(1)
        assert (status, body, reset) == (200, b"ok", None)
    finally:
        peer.close()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed the connection (a close with data
    unread may come as a reset)."""
    try:
        return await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    except ConnectionResetError:
        return True


def run(test: Callable[[], Any]) -> None:
    asyncio.run(asyncio.wait_for(test(), TIMEOUT * 2))


def info_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """The INFO lines logged so far that contain ``text``."""
    return [
        r.getMessage()
        for r in caplog.records
        if text in r.getMessage() and r.levelno == logging.INFO
    ]


def no_warnings(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def run_logged(
    caplog: pytest.LogCaptureFixture, test: Callable[[], Any], *info: str
) -> None:
    """:func:`run` with the logs at INFO captured; then each of ``info``
    must stand in an INFO line, and nothing be logged at WARNING or
    above (a peer's mistake is news, not a fault)."""
    caplog.set_level(logging.INFO)
    run(test)
    for text in info:
        assert info_lines(caplog, text), text
    no_warnings(caplog)


async def served_then_closed(peer: Peer, served: Served) -> None:
    """Another client is served; then ``peer`` closes, and the server is
    left with no connection."""
    await get_ok(served.port)
    peer.close()
    await served.all_closed()


async def ended_by_goaway(peer: Peer, served: Served, code: int) -> F.GoAwayFrame:
    """``peer`` gets GOAWAY with ``code``; another client is served
    meanwhile; ``peer`` reads on to the end of the connection, closes, and
    the server is left with no connection.  Returns the GOAWAY."""
    goaway = await peer.goaway()
    assert goaway is not None
    assert goaway.error_code == code
    await get_ok(served.port)
    await peer.to_the_end()
    peer.close()
    await served.all_closed()
    return goaway
