"""An HTTPServer in a process of its own, with a low limit on open files.

    python -m tests.server.fd_limited LOOP LIMIT [PAUSE]

What this module is for: tests/server/test_fd_exhaustion.py runs out of file
descriptors on purpose; doing that in the test process would break the test
process itself (and every test after it).  This process lowers its own
``RLIMIT_NOFILE`` soft limit to LIMIT, serves ``Hello world!`` on every path
of 127.0.0.1 on a port the kernel picks, with LOOP (``asyncio`` or
``uvloop``), and prints ``ready PORT`` on standard output.  Every log record
at INFO or above goes to standard error, one line each (``LEVEL logger:
message``; a traceback, if any, follows on its own lines).  It stops when its
standard input closes.  PAUSE, if given, sets every pause of the accept
back-off to that many seconds (its first and its longest).

What it must never do: sleep, or outlive its standard input.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import threading

from tests.server.support import new_event_loop
from tornado_compat import httputil, netutil
from tornado_compat.httpserver import HTTPServer
from tornado_compat.netutil import bind_sockets

HELLO = b"Hello world!"


def hello(request: httputil.HTTPServerRequest) -> None:
    connection = request.connection
    assert connection is not None
    connection.write_headers(
        httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
        httputil.HTTPHeaders({"Content-Length": str(len(HELLO))}),
        HELLO,
    )
    connection.finish()


def main() -> None:
    loop_kind, limit = sys.argv[1], int(sys.argv[2])
    if len(sys.argv) > 3:
        netutil._ACCEPT_PAUSE_FIRST = netutil._ACCEPT_PAUSE_MAX = float(sys.argv[3])
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    loop = new_event_loop(loop_kind)
    asyncio.set_event_loop(loop)
    stopped = asyncio.Event()

    def wait_for_stdin_to_close() -> None:
        sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stopped.set)

    async def serve() -> None:
        server = HTTPServer(hello)
        [sock] = bind_sockets(0, address="127.0.0.1")
        server.add_sockets([sock])
        # Lowered only now: the loop, the imports and the listening socket
        # have their descriptors, and everything after counts against LIMIT.
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
        print("ready", sock.getsockname()[1], flush=True)
        threading.Thread(target=wait_for_stdin_to_close, daemon=True).start()
        await stopped.wait()
        server.stop()
        await server.close_all_connections()

    loop.run_until_complete(serve())
    loop.close()


if __name__ == "__main__":
    main()
