"""Fixtures shared by the client tests.

``backend`` runs a test once per client implementation, the way Tornado's
``curl_httpclient_test`` reruns its common client tests: the test receives a
:class:`Backend` whose ``client(**kwargs)`` builds a fresh instance
(``force_instance=True``) of that implementation on the running loop.  Every
client built that way is closed when the test ends.

pycurl is a test dependency (the ``curl`` extra): a missing pycurl fails the
curl half of the suite instead of skipping it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.client.raw_servers import LoopThread
from tornado_compat.httpclient import AsyncHTTPClient

BACKENDS = {
    "simple": ("tornado_compat.httpclient.simple", "SimpleAsyncHTTPClient"),
    "curl": ("tornado_compat.httpclient.curl", "CurlAsyncHTTPClient"),
}


@dataclass
class Backend:
    """One client implementation, and the clients a test built with it."""

    name: str
    cls: type[AsyncHTTPClient]
    built: list[AsyncHTTPClient] = field(default_factory=list)

    def client(self, **kwargs: Any) -> AsyncHTTPClient:
        """A new client of this implementation; call it on the test's loop."""
        client = self.cls(force_instance=True, **kwargs)
        self.built.append(client)
        return client

    def close_all(self) -> None:
        for client in self.built:
            client.close()
        self.built.clear()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    module_name, class_name = BACKENDS[request.param]
    cls = getattr(importlib.import_module(module_name), class_name)
    chosen = Backend(request.param, cls)
    try:
        yield chosen
    finally:
        chosen.close_all()


@pytest.fixture
def thread() -> Iterator[LoopThread]:
    """An event loop in a thread, for the scripted servers of
    ``tests/client/raw_servers.py``; closed after the test."""
    loop_thread = LoopThread()
    try:
        yield loop_thread
    finally:
        loop_thread.close()
