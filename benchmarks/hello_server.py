"""A hello-world HTTP server for the benchmarks (12-byte body, keep-alive).

    python benchmarks/hello_server.py IMPL KIND PORT [LOOP]

IMPL is ``tornado`` (Tornado's own HTTPServer) or ``compat`` (ours, through
``tornado_compat.install()``); KIND is ``raw`` (a plain request callback) or
``web`` (a tornado.web.Application); LOOP is ``asyncio`` or ``uvloop``.
It prints ``ready`` once it listens, and runs until killed.
"""

from __future__ import annotations

import asyncio
import sys


def main() -> None:
    impl, kind, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    loop_name = sys.argv[4] if len(sys.argv) > 4 else "asyncio"
    if impl == "compat":
        import tornado_compat

        tornado_compat.install()
    if loop_name == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    import tornado.httpserver
    import tornado.httputil
    import tornado.web

    body = b"Hello world!"
    assert len(body) == 12

    def raw(request: tornado.httputil.HTTPServerRequest) -> None:
        connection = request.connection
        assert connection is not None
        connection.write_headers(
            tornado.httputil.ResponseStartLine("HTTP/1.1", 200, "OK"),
            tornado.httputil.HTTPHeaders(
                {"Content-Length": "12", "Content-Type": "text/plain"}
            ),
            body,
        )
        connection.finish()

    class Hello(tornado.web.RequestHandler):
        def get(self) -> None:
            self.write(body)

    app = raw if kind == "raw" else tornado.web.Application([(r"/", Hello)])

    async def serve() -> None:
        server = tornado.httpserver.HTTPServer(app)
        server.listen(port, "127.0.0.1")
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
