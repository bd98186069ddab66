"""The HTTP clients under test, one per process (started by ``python -m benchmarks``).

    python -m benchmarks.clients CLIENT gets URL --count N --concurrency C \
        --warmup W --length L
    python -m benchmarks.clients CLIENT stream URL --length L --warmup-url URL2

CLIENT is one of ``tornado-simple``, ``tornado-curl``, ``compat-simple``,
``compat-curl`` (the same two after ``tornado_compat.install()``), ``aiohttp``,
``httpx`` or ``pyreqwest`` (reqwest, in Rust, on a Tokio runtime of its own).

``gets`` makes one client, fetches URL ``--warmup`` times, then times
``--count`` fetches with ``--concurrency`` of them in flight (that many worker
coroutines take the next request number until all are taken).  Every
response must have status 200 and a body of ``--length`` bytes.

``stream`` makes one client, fetches ``--warmup-url`` a few times, then times
one download of URL whose body is only counted as it arrives (Tornado's
``streaming_callback``; the other clients' chunk iterators), and checks that
``--length`` bytes arrived.

Either prints one JSON object: the module of the client's class (so that the
parent can check that ``install()`` took), the elapsed seconds, the request rate or the
bytes per second, and the process's peak resident memory (``VmHWM``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import inspect
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

CONCURRENCY = 10
STREAM_WARMUP = 10
MAX_BODY = 2 << 30  # 2 GiB: room for the 1 GiB download
TIMEOUT = 600.0

# fetch(url) -> (status, body length); stream(url) -> (status, bytes counted)
Fetch = Callable[[str], Awaitable[tuple[int, int]]]


def peak_rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Tornado:
    """Tornado's AsyncHTTPClient, or tornado_compat's behind the same names."""

    def __init__(self, name: str) -> None:
        impl, backend = name.split("-")
        if impl == "compat":
            import tornado_compat

            tornado_compat.install()
        from tornado.httpclient import AsyncHTTPClient

        # None: the default, the simple client.
        impl_name = (
            "tornado.curl_httpclient.CurlAsyncHTTPClient" if backend == "curl" else None
        )
        AsyncHTTPClient.configure(impl_name)
        options: dict[str, Any] = {"max_clients": CONCURRENCY}
        # The body limit (100 MiB by default) bounds streamed bodies too; raise
        # it where the client has one.
        initialize = AsyncHTTPClient.configured_class().initialize
        if "max_body_size" in inspect.signature(initialize).parameters:
            options["max_body_size"] = MAX_BODY
        AsyncHTTPClient.configure(impl_name, **options)
        self.client = AsyncHTTPClient()
        self.implementation = type(self.client).__module__

    async def fetch(self, url: str) -> tuple[int, int]:
        response = await self.client.fetch(url, request_timeout=TIMEOUT)
        return response.code, len(response.body)

    async def stream(self, url: str) -> tuple[int, int]:
        count = 0

        def on_chunk(chunk: bytes) -> None:
            nonlocal count
            count += len(chunk)

        response = await self.client.fetch(
            url,
            streaming_callback=on_chunk,
            request_timeout=TIMEOUT,
            connect_timeout=TIMEOUT,
        )
        return response.code, count

    async def close(self) -> None:
        self.client.close()


class Aiohttp:
    implementation = "aiohttp"

    def __init__(self) -> None:
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONCURRENCY),
            timeout=aiohttp.ClientTimeout(total=TIMEOUT),
        )

    async def fetch(self, url: str) -> tuple[int, int]:
        async with self.session.get(url) as response:
            body = await response.read()
            return response.status, len(body)

    async def stream(self, url: str) -> tuple[int, int]:
        count = 0
        async with self.session.get(url) as response:
            async for chunk in response.content.iter_any():
                count += len(chunk)
            return response.status, count

    async def close(self) -> None:
        await self.session.close()


class Httpx:
    implementation = "httpx"

    def __init__(self) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY
            ),
            timeout=TIMEOUT,
        )

    async def fetch(self, url: str) -> tuple[int, int]:
        response = await self.client.get(url)
        return response.status_code, len(response.content)

    async def stream(self, url: str) -> tuple[int, int]:
        count = 0
        async with self.client.stream("GET", url) as response:
            async for chunk in response.aiter_raw():
                count += len(chunk)
            return response.status_code, count

    async def close(self) -> None:
        await self.client.aclose()


class Pyreqwest:
    """pyreqwest: Rust's reqwest (hyper) with an asyncio API.  Its I/O runs
    on a Tokio runtime in a thread of its own (the single-threaded one, its
    default), which the parent pins to the same CPU as this process."""

    implementation = "pyreqwest"

    def __init__(self) -> None:
        from pyreqwest.client import ClientBuilder

        self.client = (
            ClientBuilder()
            .max_connections(CONCURRENCY)
            .pool_max_idle_per_host(CONCURRENCY)
            .timeout(datetime.timedelta(seconds=TIMEOUT))
            .build()
        )

    async def fetch(self, url: str) -> tuple[int, int]:
        response = await self.client.get(url).build().send()
        body = await response.bytes()
        return response.status, len(body)

    async def stream(self, url: str) -> tuple[int, int]:
        count = 0
        async with self.client.get(url).build_streamed() as response:
            reader = response.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                count += len(chunk)
            return response.status, count

    async def close(self) -> None:
        await self.client.close()


def make_client(name: str) -> Any:
    if name == "aiohttp":
        return Aiohttp()
    if name == "httpx":
        return Httpx()
    if name == "pyreqwest":
        return Pyreqwest()
    return Tornado(name)


def check(result: tuple[int, int], length: int, what: str) -> None:
    status, size = result
    if status != 200 or size != length:
        raise SystemExit(
            f"wrong response to {what}: status {status}, {size} body bytes "
            f"(expected 200 and {length})"
        )


async def run_gets(
    client: Any, url: str, count: int, concurrency: int, length: int
) -> float:
    """Fetch url count times, concurrency at a time; return the seconds taken."""
    next_number = 0

    async def worker() -> None:
        nonlocal next_number
        while next_number < count:
            next_number += 1
            check(await client.fetch(url), length, url)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    client = make_client(args.client)
    try:
        if args.mode == "gets":
            await run_gets(client, args.url, args.warmup, args.concurrency, args.length)
            elapsed = await run_gets(
                client, args.url, args.count, args.concurrency, args.length
            )
            return {
                "implementation": client.implementation,
                "seconds": elapsed,
                "requests_per_second": args.count / elapsed,
                "peak_rss_kib": peak_rss_kib(),
            }
        for _ in range(STREAM_WARMUP):
            status, _ = await client.fetch(args.warmup_url)
            if status != 200:
                raise SystemExit(f"status {status} from {args.warmup_url}")
        start = time.perf_counter()
        result = await client.stream(args.url)
        elapsed = time.perf_counter() - start
        check(result, args.length, args.url)
        return {
            "implementation": client.implementation,
            "seconds": elapsed,
            "bytes_per_second": args.length / elapsed,
            "peak_rss_kib": peak_rss_kib(),
        }
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "client",
        choices=[
            "tornado-simple",
            "tornado-curl",
            "compat-simple",
            "compat-curl",
            "aiohttp",
            "httpx",
            "pyreqwest",
        ],
    )
    parser.add_argument("mode", choices=["gets", "stream"])
    parser.add_argument("url")
    parser.add_argument("--length", type=int, required=True)
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--warmup-url")
    args = parser.parse_args()
    if args.mode == "stream" and not args.warmup_url:
        parser.error("stream needs --warmup-url")
    result = asyncio.run(main_async(args))
    print(json.dumps(result), flush=True)
    if args.client == "pyreqwest":
        # Its Tokio thread may still call into Python while the interpreter
        # finalizes, which aborts the process now and then (PyGILState_Release
        # "must be current"); the result is out, so nothing is left to do.
        os._exit(0)


if __name__ == "__main__":
    main()
