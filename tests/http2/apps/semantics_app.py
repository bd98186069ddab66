"""A ``tornado.web`` application whose handlers report what they saw, served
over HTTP/2 (and HTTP/1.1 on the same ports) by tornado_compat; run as a
script by tests/http2/test_app_semantics.py.

Usage: ``python semantics_app.py CONFIG_JSON``, where the JSON object has
``static`` (a directory for ``StaticFileHandler``) and optionally ``tls``
(``certfile``, ``keyfile`` and ``client_ca``: a TLS server that asks for,
but does not require, a client certificate).  ``tornado_compat.install()``
runs before ``tornado.web`` is imported.  Three servers share the
application, all with ``http2=True``: ``plain`` (``decompress_request``,
``max_body_size`` 1 MB), ``proxied`` (``xheaders``, ``trusted_downstream``
10.9.9.9) and ``tls``.  The script prints one JSON line with their ports
and serves until SIGTERM, then closes every connection and exits with
status 0.

What it must never do: run on Tornado's own HTTP modules.
"""

from __future__ import annotations

import sys

import tornado_compat

tornado_compat.install()

import asyncio  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import ssl  # noqa: E402
from typing import Any  # noqa: E402

import tornado.httpserver  # noqa: E402
import tornado.web  # noqa: E402
import tornado.websocket  # noqa: E402

from tests.app_main import run, serve_until_sigterm  # noqa: E402
from tests.http2.apps.handlers import FlushHandler  # noqa: E402

MAX_BODY_SIZE = 1_000_000


def describe(handler: tornado.web.RequestHandler) -> dict[str, Any]:
    request = handler.request
    context = request.connection.context  # type: ignore[union-attr]
    subject = der = None
    # As in Tornado, only a TLS connection has certificates to ask about.
    if hasattr(request.connection.stream.socket, "getpeercert"):  # type: ignore[union-attr]
        cert = request.get_ssl_certificate()
        if isinstance(cert, dict):
            subject = dict(pair for rdn in cert.get("subject", ()) for pair in rdn)
        der = request.get_ssl_certificate(binary_form=True)
    return {
        "version": request.version,
        "method": request.method,
        "uri": request.uri,
        "host": request.host,
        "protocol": request.protocol,
        "remote_ip": request.remote_ip,
        "full_url": request.full_url(),
        "body": request.body.decode("latin-1"),
        "headers": {k: v for k, v in request.headers.get_all()},
        "cookies": {name: morsel.value for name, morsel in request.cookies.items()},
        "arguments": {
            k: [v.decode() for v in vs] for k, vs in request.body_arguments.items()
        },
        "context": {
            "remote_ip": context.remote_ip,
            "protocol": context.protocol,
            "address": list(context.address)[:2],
            "str": str(context),
        },
        "cert_subject": subject,
        "cert_der_len": len(der) if isinstance(der, bytes) else None,
    }


class InfoHandler(tornado.web.RequestHandler):
    """Answers with what the handler saw of the request, as JSON."""

    def get(self) -> None:
        self.write(describe(self))

    post = put = get


class Barrier:
    """Lets ``n`` requests of one group go on only once all have arrived,
    so that they are in flight on one connection at the same time."""

    groups: dict[str, tuple[int, asyncio.Event]] = {}

    @classmethod
    async def wait(cls, key: str, n: int) -> None:
        count, event = cls.groups.get(key, (0, asyncio.Event()))
        count += 1
        cls.groups[key] = (count, event)
        if count >= n:
            event.set()
        await event.wait()


class TogetherHandler(tornado.web.RequestHandler):
    """Waits for the other requests of its group, then reports."""

    async def get(self) -> None:
        before = describe(self)
        await Barrier.wait(self.get_argument("key"), int(self.get_argument("n")))
        after = describe(self)
        self.write({"before": before, "after": after})

    post = get


@tornado.web.stream_request_body
class UploadHandler(tornado.web.RequestHandler):
    """Takes the body piece by piece, yielding to the loop for each one;
    answers with its size and digest."""

    def prepare(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    async def data_received(self, chunk: bytes) -> None:
        await asyncio.sleep(0)
        self.digest.update(chunk)
        self.size += len(chunk)

    def put(self) -> None:
        self.write({"size": self.size, "sha256": self.digest.hexdigest()})


class ForbiddenHeadersHandler(tornado.web.RequestHandler):
    """Sets every connection-specific header HTTP/2 forbids."""

    def get(self) -> None:
        self.set_header("Connection", "keep-alive")
        self.set_header("Keep-Alive", "timeout=5")
        self.set_header("Transfer-Encoding", "chunked")
        self.set_header("Upgrade", "h2c")
        self.set_header("Proxy-Connection", "keep-alive")
        self.set_header("X-Kept", "yes")
        self.write("body")


class StatusHandler(tornado.web.RequestHandler):
    """Answers with the status in the path, and a body only if it may
    have one."""

    def get(self, code: str) -> None:
        self.set_status(int(code))
        if int(code) not in (204, 304):
            self.write("status %s" % code)

    head = get


class DetachHandler(tornado.web.RequestHandler):
    """Takes the connection over and answers with raw HTTP/1.1 bytes."""

    async def get(self) -> None:
        stream = self.detach()
        await stream.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\ndetached"
        )
        stream.close()


class RawStreamHandler(tornado.web.RequestHandler):
    """Writes raw bytes to ``request.connection.stream``."""

    async def get(self) -> None:
        stream = self.request.connection.stream  # type: ignore[union-attr]
        try:
            await stream.write(b"raw")
        except Exception as e:
            self.write({"error": type(e).__name__, "message": str(e)})


class CloseStreamHandler(tornado.web.RequestHandler):
    """Drops its connection, as a test of Tornado's own does, then returns
    as if nothing happened."""

    def get(self) -> None:
        self.request.connection.stream.close()  # type: ignore[union-attr]
        self.write("never seen")


class EchoWebSocket(tornado.websocket.WebSocketHandler):
    def on_message(self, message: str | bytes) -> None:
        self.write_message(message)


def make_app(static: str) -> tornado.web.Application:
    return tornado.web.Application(
        [
            (r"/info", InfoHandler),
            (r"/together", TogetherHandler),
            (r"/flush", FlushHandler),
            (r"/upload", UploadHandler),
            (r"/forbidden", ForbiddenHeadersHandler),
            (r"/status/(\d+)", StatusHandler),
            (r"/detach", DetachHandler),
            (r"/raw", RawStreamHandler),
            (r"/close", CloseStreamHandler),
            (r"/ws", EchoWebSocket),
            (r"/static/(.*)", tornado.web.StaticFileHandler, {"path": static}),
        ]
    )


async def serve(config: dict[str, Any]) -> None:
    app = make_app(config["static"])
    servers = {
        "plain": tornado.httpserver.HTTPServer(
            app, http2=True, decompress_request=True, max_body_size=MAX_BODY_SIZE
        ),
        "proxied": tornado.httpserver.HTTPServer(
            app, http2=True, xheaders=True, trusted_downstream=["10.9.9.9"]
        ),
    }
    tls = config.get("tls")
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls["certfile"], tls["keyfile"])
        context.load_verify_locations(tls["client_ca"])
        context.verify_mode = ssl.CERT_OPTIONAL
        servers["tls"] = tornado.httpserver.HTTPServer(
            app, http2=True, ssl_options=context
        )
    await serve_until_sigterm(servers)


def main() -> None:
    run(serve(json.loads(sys.argv[1])))


if __name__ == "__main__":
    main()
