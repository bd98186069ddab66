"""The server's request path alone: many pipelined requests over a socketpair.

    python benchmarks/pipelined.py [--requests N] [--rounds R]

Runs Tornado's HTTPServer and tornado_compat's (each in its own process, so
that ``install()`` applies to one only), alternating, and prints the median
microseconds per request and the ratio.  The requests are all written at
once, so there is no waiting for the network: what is measured is the Python
cost of parsing a request, calling the application and writing the response
(plus the client's reading of responses, the same for both).  Under wrk the
per-request event-loop and syscall costs come on top; see python -m benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REQUEST = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
)


def child(impl: str, count: int) -> None:
    sys.path.insert(0, str(ROOT))
    if impl == "compat":
        import tornado_compat

        tornado_compat.install()
    import tornado.httpserver
    import tornado.iostream

    from benchmarks.servers import HELLO, responder

    respond = responder()

    def app(request: Any) -> None:
        respond(request, HELLO)

    async def main() -> float:
        a, b = socket.socketpair()
        server = tornado.httpserver.HTTPServer(app)
        server.handle_stream(tornado.iostream.IOStream(a), ("127.0.0.1", 1))
        client = tornado.iostream.IOStream(b)
        start = time.perf_counter()

        async def send() -> None:
            for _ in range(0, count, 100):
                await client.write(REQUEST * 100)

        sender = asyncio.ensure_future(send())
        answered = 0
        while answered < count:
            data = await client.read_bytes(65536, partial=True)
            answered += data.count(b"HTTP/1.1 200 OK")
        elapsed = time.perf_counter() - start
        await sender
        client.close()
        server.stop()
        return elapsed

    print(asyncio.run(main()) / count * 1e6)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--child", choices=["tornado", "compat"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.requests)
        return 0
    results: dict[str, list[float]] = {"tornado": [], "compat": []}
    for _ in range(args.rounds):
        for impl in results:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    impl,
                    "--requests",
                    str(args.requests),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[impl].append(float(out.strip()))
    tornado_us = statistics.median(results["tornado"])
    compat_us = statistics.median(results["compat"])
    print(f"## pipelined requests ({args.rounds} rounds of {args.requests})")
    print("| contender | median us/request | ratio (speed) |")
    print("|---|---|---|")
    print(f"| tornado HTTPServer | {tornado_us:.1f} | 1.00x |")
    ratio = tornado_us / compat_us
    print(f"| tornado_compat HTTPServer | {compat_us:.1f} | {ratio:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
