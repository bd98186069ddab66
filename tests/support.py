"""Helpers shared by the project's tests (not a test module)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest


def run(main: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
    """Run ``main()`` on a fresh event loop, failing rather than hanging."""

    async def bounded() -> Any:
        return await asyncio.wait_for(main(), timeout)

    return asyncio.run(bounded())


def ipv6_loopback_works() -> bool:
    """Whether ::1 can be bound here (not every CI machine has IPv6)."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback")
