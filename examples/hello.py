"""A small tornado.web application, served by tornado_compat in the README.

    python -m tornado_compat serve examples/hello.py --port 8888
    curl http://127.0.0.1:8888/
    curl -d 'some text' http://127.0.0.1:8888/echo

It is plain Tornado code: nothing here knows about tornado_compat.  The
``serve`` command installs tornado_compat's modules before this file imports
tornado.web, so the whole HTTP layer under it is ours.
"""

import tornado.web


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello from tornado.web on tornado_compat\n")


class EchoHandler(tornado.web.RequestHandler):
    def post(self) -> None:
        self.set_header("Content-Type", "application/octet-stream")
        self.write(self.request.body)


class StreamHandler(tornado.web.RequestHandler):
    """Sends its body in pieces, flushing each (a chunked response)."""

    async def get(self) -> None:
        for i in range(5):
            self.write(f"line {i}\n")
            await self.flush()


def make_app() -> tornado.web.Application:
    return tornado.web.Application(
        [(r"/", HelloHandler), (r"/echo", EchoHandler), (r"/stream", StreamHandler)]
    )


app = make_app()
