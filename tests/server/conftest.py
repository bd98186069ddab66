"""Fixtures of the server tests: a server on a real loop, and raw clients.

Every test that takes ``serve`` runs once per event loop (asyncio's default
loop and uvloop).  ``serve(app, **options)`` starts an HTTPServer on a fresh
port of 127.0.0.1 and returns a :class:`Served`; ``connect(port)`` opens a
:class:`~tests.server.client.RawConnection` that is closed after the test.
Everything is torn down whatever the outcome: servers stopped, connections
closed, the loop closed.

A test marked xfail for a known bug that makes the server hang may pass a
shorter ``timeout`` to ``connect``, so that the known failure does not cost
the full safety net every run.

Records at ERROR already fail a test (``tests/conftest.py``); the log level
is lowered to INFO here so that tests can assert on Tornado's INFO lines
("Malformed HTTP message", ...) with ``caplog``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.server.client import SOCKET_TIMEOUT, RawConnection
from tests.server.support import RecordingApp, ServerThread
from tornado_compat.httpserver import HTTPServer

LOOP_KINDS = ("asyncio", "uvloop")


@dataclass
class Served:
    """A running server, its port, and the application it serves."""

    server: HTTPServer
    port: int
    app: Any
    thread: ServerThread

    def close_all_connections(self) -> None:
        self.thread.close_connections(self.server)


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request: pytest.FixtureRequest) -> str:
    # uvloop is a test dependency: a missing one must fail, not skip.
    return str(request.param)


@pytest.fixture
def server_thread(loop_kind: str) -> Iterator[ServerThread]:
    thread = ServerThread(loop_kind)
    try:
        yield thread
    finally:
        thread.shutdown()


@pytest.fixture
def serve(server_thread: ServerThread) -> Callable[..., Served]:
    def start(app: Any = None, **options: Any) -> Served:
        if app is None:
            app = RecordingApp()
        server, port = server_thread.start_server(app, **options)
        return Served(server, port, app, server_thread)

    return start


@pytest.fixture
def connect() -> Iterator[Callable[..., RawConnection]]:
    opened: list[RawConnection] = []

    def open_connection(
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = SOCKET_TIMEOUT,
    ) -> RawConnection:
        connection = RawConnection(port, ssl_context=ssl_context, timeout=timeout)
        opened.append(connection)
        return connection

    try:
        yield open_connection
    finally:
        for connection in opened:
            connection.close()


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
