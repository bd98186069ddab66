"""A forking HTTPServer, run as a script by tests/server/test_start_patterns.py.

Usage: ``python forking.py start PORT`` (``bind`` then ``start(2)``) or
``python forking.py add_sockets`` (``bind_sockets``, ``fork_processes(2)``,
then ``add_sockets``).  The parent prints ``port N`` once the listening
socket is bound, before forking.  Each child answers exactly one request
with ``TASK_ID PID``: it stops accepting before it answers, so that the
next connection can only go to the other child, then stops its loop once
the answer is written and exits with status 0.  When both children have
exited, the parent exits with status 0 too (fork_processes does that).

The forking happens in this fresh interpreter, never in the pytest process.
"""

from __future__ import annotations

import logging
import os
import sys

from tornado.ioloop import IOLoop

from tornado_compat import httputil, process
from tornado_compat.httpserver import HTTPServer
from tornado_compat.netutil import bind_sockets


def make_app(server_box: list[HTTPServer]):
    def app(request: httputil.HTTPServerRequest) -> None:
        server_box[0].stop()
        body = f"{process.task_id()} {os.getpid()}".encode()
        connection = request.connection
        assert connection is not None
        written = connection.write_headers(
            httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            httputil.HTTPHeaders(
                {"Content-Length": str(len(body)), "Connection": "close"}
            ),
            body,
        )
        connection.finish()
        written.add_done_callback(lambda _: IOLoop.current().stop())

    return app


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    mode = sys.argv[1]
    box: list[HTTPServer] = []
    if mode == "start":
        port = int(sys.argv[2])
        server = HTTPServer(make_app(box))
        box.append(server)
        server.bind(port, address="127.0.0.1")
        print(f"port {port}", flush=True)
        server.start(2)
    elif mode == "add_sockets":
        sockets = bind_sockets(0, address="127.0.0.1")
        print(f"port {sockets[0].getsockname()[1]}", flush=True)
        process.fork_processes(2)
        server = HTTPServer(make_app(box))
        box.append(server)
        server.add_sockets(sockets)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    IOLoop.current().start()


if __name__ == "__main__":
    main()
