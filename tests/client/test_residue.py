"""Nothing a client's connection owns outlives it (DESIGN.md rule 5).

For each backend: connections that the server closes while they wait in
the pool, fetches that run out of time (``request_timeout`` against a
server that never answers, ``connect_timeout`` against a port that never
completes a connection), and a client closed with connections in its pool.
While the client is open, no stream or HTTP/1 connection of those
connections may be left alive; once it is closed, nothing of tornado_compat
that it made may be (its pool, its timers' owners, libcurl's handles
included).  Nothing waits for a timer to run out: the waits are for the
server's record of each connection ending, then a few turns of the loop.

The objects are found by a scan of the garbage collector's objects, taken
after a warm-up fetch (which fills the module caches) and compared after
the scenario.  Compiled classes do not all take weak references, and a
scan also finds objects no public seam hands out (the simple client's
pool and timers, libcurl's handles).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import pycurl
import pytest

from tests.client.conftest import Backend
from tests.client.raw_servers import StalledPort
from tests.client.servers import ScriptedConnection, keep_alive, serve_script
from tests.support import run
from tornado_compat.http1connection import HTTP1Connection
from tornado_compat.httpclient import AsyncHTTPClient, HTTPClientError
from tornado_compat.iostream import BaseIOStream

#: Fetches per scenario.
FETCHES = 10
#: Rounds of (loop turns, collection) allowed for the last callbacks of a
#: closed transport to run.  Loop turns, not time.
ROUNDS = 10
#: What must be gone while the client is still open.
CONNECTION_TYPES = (BaseIOStream, HTTP1Connection)


def _ours(obj: object) -> bool:
    # Not always a string: some types (mypyc's among them) have a
    # descriptor there.
    module = type(obj).__dict__.get("__module__")
    if not isinstance(module, str):
        module = getattr(type(obj), "__module__", None)
    return (
        isinstance(module, str) and module.startswith("tornado_compat")
    ) or isinstance(obj, (pycurl.Curl, pycurl.CurlMulti))


class Residue:
    """What the garbage collector holds of tornado_compat (and of pycurl)
    beyond what it held when this was made."""

    def __init__(self) -> None:
        gc.collect()
        # Held, so that no new object can take the id of one of these.
        self._before = [o for o in gc.get_objects() if _ours(o)]
        self._ids = {id(o) for o in self._before}

    def new(self, only: tuple[type, ...] | None = None) -> dict[str, int]:
        gc.collect()
        counts: dict[str, int] = {}
        for obj in gc.get_objects():
            if id(obj) in self._ids or not _ours(obj):
                continue
            if only is not None and not isinstance(obj, only):
                continue
            name = type(obj).__qualname__
            counts[name] = counts.get(name, 0) + 1
        return counts

    async def settled(self, only: tuple[type, ...] | None = None) -> dict[str, int]:
        """:meth:`new`, once the loop has run what closing queued."""
        left: dict[str, int] = {}
        for _ in range(ROUNDS):
            for _ in range(5):
                await asyncio.sleep(0)
            left = self.new(only)
            if not left:
                break
        return left


async def answer_then_close(conn: ScriptedConnection) -> None:
    """Answer one request as if keeping the connection, then close it."""
    if await conn.read_request() is not None:
        await conn.respond()
    await conn.close()


async def never_answer(conn: ScriptedConnection) -> None:
    await conn.read_request()
    await conn.wait_peer_close()


async def warm_up(backend: Backend) -> None:
    """One fetch with a client of the backend, closed: the module-level
    caches it fills are not residue."""
    async with serve_script(keep_alive) as server:
        client = backend.cls(force_instance=True)
        try:
            await client.fetch(server.url())
        finally:
            client.close()


async def expect_599(fetch: Awaitable[Any]) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await fetch
    assert caught.value.code == 599
    del caught


def scenario(
    body: Callable[[AsyncHTTPClient, Residue], Awaitable[None]], backend: Backend
) -> None:
    async def main() -> None:
        await warm_up(backend)
        residue = Residue()
        client = backend.cls(force_instance=True)
        try:
            await body(client, residue)
        finally:
            client.close()
        del client
        left = await residue.settled()
        assert left == {}, f"alive once the client was closed: {left}"

    run(main)


def test_pooled_connections_that_the_server_closes(backend: Backend) -> None:
    async def body(client: AsyncHTTPClient, residue: Residue) -> None:
        async with serve_script(answer_then_close) as server:
            for _ in range(FETCHES):
                response = await client.fetch(server.url())
                assert response.code == 200
                del response
            await server.log.wait_for(
                lambda: server.log.closed == FETCHES, "every connection closed"
            )
            left = await residue.settled(CONNECTION_TYPES)
            assert left == {}, f"alive after the server closed them: {left}"

    scenario(body, backend)


def test_fetches_that_time_out_during_the_request(backend: Backend) -> None:
    async def body(client: AsyncHTTPClient, residue: Residue) -> None:
        async with serve_script(never_answer) as server:
            for _ in range(FETCHES):
                await expect_599(client.fetch(server.url(), request_timeout=0.05))
            left = await residue.settled(CONNECTION_TYPES)
            assert left == {}, f"alive after the fetches timed out: {left}"

    scenario(body, backend)


def test_fetches_that_time_out_while_connecting(backend: Backend) -> None:
    stalled = StalledPort()

    async def body(client: AsyncHTTPClient, residue: Residue) -> None:
        for _ in range(FETCHES):
            await expect_599(
                client.fetch(stalled.url(), connect_timeout=0.05, request_timeout=20)
            )
        left = await residue.settled(CONNECTION_TYPES)
        assert left == {}, f"alive after the connections timed out: {left}"

    try:
        scenario(body, backend)
    finally:
        stalled.close()


def test_a_client_closed_with_pooled_connections(backend: Backend) -> None:
    async def body(client: AsyncHTTPClient, residue: Residue) -> None:
        async with serve_script(keep_alive) as server:
            fetches = [client.fetch(server.url()) for _ in range(FETCHES)]
            codes = [r.code for r in await asyncio.gather(*fetches)]
            assert codes == [200] * FETCHES
            del fetches
            client.close()
            await server.log.wait_for(
                lambda: server.log.closed == server.log.accepted,
                "every connection closed",
            )

    scenario(body, backend)
