"""How ``HTTPServer(http2=True)`` writes its frames, on real sockets of
127.0.0.1: the responses to requests that arrive together leave together,
and a response finished right after its last chunk ends on that chunk's
DATA frame (no empty DATA frame to end the stream)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("h2")

import h2.events  # noqa: E402

from tests.http2.test_connection import (  # noqa: E402
    App,
    Client,
    body_of,
    ended,
    run,
)
from tornado_compat import iostream  # noqa: E402


@pytest.fixture(params=["asyncio", "uvloop"])
def loop_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_response_ends_on_its_data_frame(loop_kind: str) -> None:
    async def test(app: App, client: Client) -> None:
        sid = client.request(b"/")
        events = await client.until(ended(sid))
        data = [
            e
            for e in events
            if isinstance(e, h2.events.DataReceived) and e.stream_id == sid
        ]
        assert [e.data for e in data] == [b"ok 0"]
        assert data[0].stream_ended is not None

    run(loop_kind, test)


def test_requests_that_arrive_together_are_answered_in_one_write(
    loop_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    original = iostream.IOStream.write

    def counting_write(self: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        writes.append(len(data))
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(iostream.IOStream, "write", counting_write)

    async def test(app: App, client: Client) -> None:
        # The server's SETTINGS and its acknowledgement of ours first.
        sid = client.request(b"/")
        await client.until(ended(sid))
        before = len(writes)
        sids = []
        for _ in range(10):
            sid = client.h2.get_next_available_stream_id()
            client.h2.send_headers(
                sid,
                [
                    (b":method", b"GET"),
                    (b":path", b"/"),
                    (b":authority", b"127.0.0.1"),
                    (b":scheme", b"http"),
                ],
                end_stream=True,
            )
            sids.append(sid)
        client.flush()  # the ten HEADERS frames in one send
        events = await client.until(lambda ev: all(ended(s)(ev) for s in sids))
        assert all(body_of(events, s) == b"ok 0" for s in sids)
        assert len(writes) - before == 1

    run(loop_kind, test)
