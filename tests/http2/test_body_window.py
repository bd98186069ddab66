"""The connection's flow-control window for a request body the application
never takes, played at the frame level against ``HTTPServer(http2=True)``
on 127.0.0.1.

A piece of body opens the client's window again only once the handler has
taken it.  When the stream ends first (the client resets it, or the
server answers without reading the body), the pieces still queued and the
one the handler holds will never be taken: their share of the connection's
window must be given back then, once, or a client could shrink the window
the connection's other streams share until every upload on it stalls.
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("h2")

import hyperframe.frame as F  # noqa: E402

from tests.http2.support import (  # noqa: E402
    CANCEL,
    NO_ERROR,
    TIMEOUT,
    App,
    Peer,
    data,
    peer_served,
    rst,
    run,
)
from tornado_compat import httputil  # noqa: E402

# The server's connection window, as RFC 9113 starts it.
WINDOW = 65535
PIECE = 16000


class Slow(httputil.HTTPMessageDelegate):
    """``/slow``: each piece of body is taken only when the test resolves
    the future its ``data_received`` returned; ``/sink`` takes each at
    once.  Either answers with the length of the body it took."""

    def __init__(self, conn: httputil.HTTPConnection) -> None:
        self.conn = conn
        self.path = ""
        self.taken = 0
        self.held: list[asyncio.Future[None]] = []
        self.arrived = asyncio.Event()
        self.closed = asyncio.Event()

    def headers_received(
        self,
        start_line: httputil.RequestStartLine | httputil.ResponseStartLine,
        headers: httputil.HTTPHeaders,
    ) -> None:
        assert isinstance(start_line, httputil.RequestStartLine)
        self.path = start_line.path

    def data_received(self, chunk: bytes) -> asyncio.Future[None] | None:
        self.taken += len(chunk)
        self.arrived.set()
        if self.path != "/slow":
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.held.append(future)
        return future

    def finish(self) -> None:
        self.answer()

    def answer(self) -> None:
        body = str(self.taken).encode()
        self.conn.write_headers(
            httputil.ResponseStartLine("HTTP/2.0", 200, "OK"),
            httputil.HTTPHeaders({"Content-Length": str(len(body))}),
            body,
        )
        self.conn.finish()

    def on_connection_close(self) -> None:
        self.closed.set()

    async def pieces(self, count: int) -> None:
        """Wait until the handler has been given ``count`` pieces."""
        while len(self.held) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), TIMEOUT)


class Uploads(App):
    def __init__(self) -> None:
        super().__init__()
        self.handlers: list[Slow] = []

    def start_request(
        self, server_conn: object, request_conn: httputil.HTTPConnection
    ) -> httputil.HTTPMessageDelegate:
        handler = Slow(request_conn)
        self.handlers.append(handler)
        return handler


class Window:
    """What the client knows of the server's connection window: what it
    sent, and what the server gave back (WINDOW_UPDATE on stream 0)."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.sent = 0

    @property
    def given_back(self) -> int:
        return sum(self.updates(0))

    def updates(self, stream_id: int) -> list[int]:
        """The increments of the WINDOW_UPDATEs read so far for
        ``stream_id`` (0: the connection)."""
        return [
            f.window_increment
            for f in self.peer.frames
            if isinstance(f, F.WindowUpdateFrame) and f.stream_id == stream_id
        ]

    @property
    def open(self) -> int:
        return WINDOW - self.sent + self.given_back

    def upload(self, stream_id: int, sizes: list[int], end: bool = False) -> None:
        for i, size in enumerate(sizes):
            last = end and i == len(sizes) - 1
            self.peer.send(data(stream_id, b"x" * size, end_stream=last))
            self.sent += size

    async def barrier(self) -> int:
        """Read until the server has handled all that was sent before, and
        sent all it answered: two PINGs in turn, since the first may come
        in one read with the frames before it, and h2 answers it before the
        server has handled them.  Returns what it gave back meanwhile."""
        before = self.given_back
        for opaque in (b"barrier1", b"barrier2"):
            ping = F.PingFrame(0)
            ping.opaque_data = opaque
            self.peer.send(ping)
            frame = await self.peer.until(
                lambda f, o=opaque: (
                    isinstance(f, F.PingFrame)
                    and "ACK" in f.flags
                    and f.opaque_data == o
                )
            )
            assert frame is not None, "the server closed the connection"
        return self.given_back - before


async def held_upload(app: Uploads, window: Window, stream_id: int) -> Slow:
    """Three pieces to ``/slow`` on ``stream_id``, the stream left open:
    the handler holds the first, the other two wait behind it, and none
    of the window comes back."""
    peer = window.peer
    peer.send(peer.headers(stream_id, "/slow", "POST", end_stream=False))
    window.upload(stream_id, [PIECE] * 3)
    assert await window.barrier() == 0
    handler = app.handlers[-1]
    assert handler.path == "/slow"
    await handler.pieces(1)
    assert handler.taken == PIECE
    return handler


async def sink(window: Window, stream_id: int, size: int) -> None:
    """An upload of ``size`` bytes to ``/sink``, sent at once as the
    client's view of the window allows, is taken whole."""
    assert window.open >= size, f"the connection window is {window.open}"
    peer = window.peer
    peer.send(peer.headers(stream_id, "/sink", "POST", end_stream=False))
    sizes = [PIECE] * (size // PIECE) + [size % PIECE]
    window.upload(stream_id, sizes, end=True)
    assert await peer.response(stream_id) == (200, str(size).encode(), None)


@pytest.mark.parametrize("ending", ["client reset", "answered unread"])
def test_a_stream_ended_with_its_body_unread_gives_back_the_window(
    ending: str,
) -> None:
    async def test() -> None:
        app = Uploads()
        async with peer_served(app, handshake=True) as (_served, peer):
            window = Window(peer)
            handler = await held_upload(app, window, 1)
            assert window.open == WINDOW - 3 * PIECE
            if ending == "client reset":
                peer.send(rst(1, CANCEL))
                given = await window.barrier()
                await asyncio.wait_for(handler.closed.wait(), TIMEOUT)
            else:
                # The answer ends the stream; the rest of the body is not
                # wanted (RST_STREAM NO_ERROR).
                handler.answer()
                assert await peer.response(1) == (200, str(PIECE).encode(), None)
                given = await window.barrier()
                assert peer.responses[1][2] == NO_ERROR
            # The piece the handler holds and the two queued behind it;
            # nothing on the closed stream itself.
            assert given == 3 * PIECE
            assert window.updates(1) == []
            assert window.open == WINDOW
            # More than the window a leak would have left (17,535 bytes).
            await sink(window, 3, 60000)

    run(test)


def test_a_piece_taken_after_the_reset_is_not_given_back_twice() -> None:
    async def test() -> None:
        app = Uploads()
        async with peer_served(app, handshake=True) as (_served, peer):
            window = Window(peer)
            first = await held_upload(app, window, 1)
            peer.send(rst(1, CANCEL))
            assert await window.barrier() == 3 * PIECE
            await asyncio.wait_for(first.closed.wait(), TIMEOUT)
            # The handler takes its piece after all: the window was
            # given back for it already.
            first.held[0].set_result(None)
            assert await window.barrier() == 0
            # A second slow upload: at no point may more have been given
            # back than the handlers took (a second credit for the first
            # stream's piece would show here as window given back early).
            second = await held_upload(app, window, 3)
            taken = 3 * PIECE
            for i in range(3):
                second.held[i].set_result(None)
                taken += PIECE
                if i < 2:
                    await second.pieces(i + 2)
                await window.barrier()
                assert window.given_back <= taken
            peer.send(data(3, b"", end_stream=True))
            assert await peer.response(3) == (200, str(3 * PIECE).encode(), None)
            await window.barrier()
            # All of it given back, once.
            assert window.given_back == window.sent == 6 * PIECE
            await sink(window, 5, 60000)

    run(test)


def test_a_body_refused_as_too_long_gives_back_the_window() -> None:
    async def test() -> None:
        app = Uploads()
        async with peer_served(app, handshake=True, max_body_size=20000) as (
            _served,
            peer,
        ):
            window = Window(peer)
            peer.send(peer.headers(1, "/sink", "POST", end_stream=False))
            # The first piece is taken; the second goes past max_body_size
            # and is refused (400, RST_STREAM NO_ERROR); the third is
            # never handed on.
            window.upload(1, [PIECE] * 3)
            assert await peer.response(1) == (400, b"", None)
            await window.barrier()
            assert peer.responses[1][2] == NO_ERROR
            assert window.given_back == 3 * PIECE
            assert window.updates(1) == []
            await sink(window, 3, 19000)

    run(test)
