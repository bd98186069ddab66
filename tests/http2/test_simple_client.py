"""The simple client over HTTP/2 (``SimpleAsyncHTTPClient(http2=...)``).

Three kinds of server:

- nginx (tests/http2/nginx_h2.py), an HTTP/2 server nobody here wrote, over
  TLS with ALPN and over cleartext with prior knowledge; its access log
  names the connection of each request, so "ten fetches, one connection"
  is counted by the server;
- our own ``HTTPServer(app, http2=True)`` with a ``tornado.web`` app
  (apps/client_app.py, in a subprocess) for request bodies, callbacks,
  decompression, redirects, limits and a timed-out stream;
- a scripted HTTP/2 server on ``h2`` in this process, for what a real
  server does only by accident: GOAWAY with streams in flight, a
  connection cut mid-stream, a small ``SETTINGS_MAX_CONCURRENT_STREAMS``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("h2")

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.errors  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402

from tests.http2.nginx_h2 import FILES, NginxH2, nginx_server  # noqa: E402
from tests.serve_process import AppProcess  # noqa: E402
from tests.support import run  # noqa: E402
from tornado_compat.httpclient import (  # noqa: E402
    HTTPClientError,
    HTTPRequest,
    HTTPResponse,
)
from tornado_compat.httpclient.simple import (  # noqa: E402
    HTTPStreamClosedError,
    HTTPTimeoutError,
    SimpleAsyncHTTPClient,
)

__all__ = ["nginx_server"]

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).with_name("apps") / "client_app.py"
PROCESS_TIMEOUT = 60.0
BIG = FILES["big.bin"]


def client(**kwargs: Any) -> SimpleAsyncHTTPClient:
    return SimpleAsyncHTTPClient(force_instance=True, **kwargs)


async def outcome(c: SimpleAsyncHTTPClient, url: str, **kwargs: Any) -> HTTPResponse:
    """The response, a failed one included (a 599 raises even with
    ``raise_error=False``)."""
    try:
        return await c.fetch(url, raise_error=False, **kwargs)
    except HTTPClientError as e:
        return HTTPResponse(HTTPRequest(url), e.code, error=e)
    except Exception as e:
        return HTTPResponse(HTTPRequest(url), 599, error=e)


async def fetch_all(
    c: SimpleAsyncHTTPClient, urls: list[str], **kwargs: Any
) -> list[HTTPResponse]:
    return list(await asyncio.gather(*(outcome(c, u, **kwargs) for u in urls)))


# -- nginx ---------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["tls", "prior-knowledge"])
def test_nginx_ten_concurrent_fetches_share_one_connection(
    nginx_server: NginxH2, mode: str
) -> None:
    if mode == "tls":
        url, http2 = nginx_server.https("big.bin"), True
    else:
        url, http2 = nginx_server.h2c("big.bin"), "prior-knowledge"

    async def main() -> list[HTTPResponse]:
        c = client(http2=http2)
        try:
            return await fetch_all(c, [url] * 10, ca_certs=nginx_server.ca_file)
        finally:
            c.close()

    responses = run(main)
    assert [r.code for r in responses] == [200] * 10
    assert all(r.body == BIG for r in responses)
    assert {r.version for r in responses} == {"HTTP/2.0"}
    log = nginx_server.log()
    assert [proto for _, proto, _, _ in log] == ["HTTP/2.0"] * 10
    assert len(nginx_server.connections("/big.bin")) == 1


def test_nginx_http2_off_is_http11(nginx_server: NginxH2) -> None:
    async def main() -> list[HTTPResponse]:
        c = client()
        try:
            return await fetch_all(
                c,
                [nginx_server.https("hello.txt"), nginx_server.http1("hello.txt")],
                ca_certs=nginx_server.ca_file,
            )
        finally:
            c.close()

    responses = run(main)
    assert [(r.code, r.body, r.version) for r in responses] == [
        (200, FILES["hello.txt"], "HTTP/1.1")
    ] * 2
    assert [proto for _, proto, _, _ in nginx_server.log()] == ["HTTP/1.1"] * 2


def test_nginx_http2_true_keeps_http_urls_on_http11(nginx_server: NginxH2) -> None:
    async def main() -> HTTPResponse:
        c = client(http2=True)
        try:
            return await c.fetch(nginx_server.http1("hello.txt"))
        finally:
            c.close()

    response = run(main)
    assert (response.code, response.version) == (200, "HTTP/1.1")
    assert [proto for _, proto, _, _ in nginx_server.log()] == ["HTTP/1.1"]


def test_nginx_through_a_proxy_stays_http11(
    nginx_server: NginxH2, tmp_path: Path
) -> None:
    # tinyproxy is a test dependency of the client tests (.ci/run installs it).
    from tests.client.servers import tinyproxies

    with tinyproxies(tmp_path / "proxy") as factory:
        proxy = factory.start(connect_ports=[nginx_server.tls_port])

        async def main() -> HTTPResponse:
            c = client(http2=True)
            try:
                return await c.fetch(
                    nginx_server.https("hello.txt"),
                    ca_certs=nginx_server.ca_file,
                    **proxy.options(),
                )
            finally:
                c.close()

        response = run(main)
    assert (response.code, response.body) == (200, FILES["hello.txt"])
    # The tunnel's TLS offers no h2: nginx answers over HTTP/1.1.
    assert response.version == "HTTP/1.1"
    assert [proto for _, proto, _, _ in nginx_server.log()] == ["HTTP/1.1"]


# -- the http2 keyword ---------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", 1, "h2", None])
def test_http2_refuses_unknown_values(value: Any) -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="http2 must be"):
            client(http2=value)

    run(main)


def test_http2_without_h2_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every module that imported h2 is forgotten, the package among them:
    # the next import of it is as in an environment without h2.
    for name in list(sys.modules):
        if name.split(".")[0] == "h2" or name.startswith("tornado_compat.http2"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "h2", None)  # type: ignore[arg-type]

    async def main() -> None:
        with pytest.raises(ImportError, match=r"tornado_compat\[http2\]"):
            client(http2=True)

    run(main)


def test_http2_off_never_imports_h2() -> None:
    code = (
        "import asyncio, sys\n"
        "from tornado_compat.httpclient.simple import SimpleAsyncHTTPClient\n"
        "async def main():\n"
        "    c = SimpleAsyncHTTPClient(force_instance=True)\n"
        "    try:\n"
        "        await c.fetch('http://127.0.0.1:1/', connect_timeout=5)\n"
        "    except Exception:\n"
        "        pass\n"
        "    c.close()\n"
        "asyncio.run(main())\n"
        "assert 'h2' not in sys.modules, 'h2 was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert done.returncode == 0, done.stderr


# -- our HTTPServer(app, http2=True) with a tornado.web app ---------------------


class App:
    """The running apps/client_app.py."""

    def __init__(self, port: int, scheme: str) -> None:
        self.port = port
        self.scheme = scheme

    def url(self, path: str) -> str:
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        return f"{self.scheme}://{host}:{self.port}{path}"

    async def stats(self) -> dict[str, int]:
        """The server's counters; the fetch opens one connection of its own
        (counted in what it returns)."""
        c = client(max_idle_connections=0)
        try:
            response = await c.fetch(
                f"http://127.0.0.1:{self.port}/stats"
                if self.scheme == "http"
                else self.url("/stats"),
                ca_certs=CA_FILE.get("ca"),
            )
        finally:
            c.close()
        return json.loads(response.body)  # type: ignore[no-any-return]


CA_FILE: dict[str, str] = {}


def start_app(args: list[str], scheme: str) -> Iterator[App]:
    app = AppProcess(APP, *args)
    try:
        yield App(app.port, scheme)
    finally:
        app.stop()


@pytest.fixture(scope="module")
def plain_app() -> Iterator[App]:
    yield from start_app([], "http")


@pytest.fixture(scope="module")
def tls_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    trustme = pytest.importorskip("trustme")
    directory = tmp_path_factory.mktemp("client-app-tls")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert.private_key_pem.write_to_path(str(directory / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(directory / "cert.pem"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    CA_FILE["ca"] = str(directory / "ca.pem")
    yield from start_app(
        [str(directory / "cert.pem"), str(directory / "key.pem")], "https"
    )


@pytest.fixture(params=["tls", "prior-knowledge"])
def app(request: pytest.FixtureRequest) -> App:
    """The app over TLS with ALPN, and over cleartext with prior knowledge."""
    name = "tls_app" if request.param == "tls" else "plain_app"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


def h2_client(app: App, **kwargs: Any) -> SimpleAsyncHTTPClient:
    http2: bool | str = True if app.scheme == "https" else "prior-knowledge"
    return client(http2=http2, defaults={"ca_certs": CA_FILE.get("ca")}, **kwargs)


def test_request_bodies_and_body_producer(app: App) -> None:
    body = bytes(range(256)) * 1000  # past the 64 KiB initial window

    async def producer(write: Callable[[bytes], Awaitable[None]]) -> None:
        for i in range(5):
            await write(bytes([65 + i]) * 50000)

    async def main() -> list[HTTPResponse]:
        c = h2_client(app)
        try:
            return await asyncio.gather(
                c.fetch(
                    app.url("/echo"),
                    method="POST",
                    body=body,
                    headers={"Content-Type": "application/octet-stream"},
                ),
                c.fetch(app.url("/echo"), method="PUT", body_producer=producer),
                c.fetch(app.url("/echo"), method="POST", body=b""),
            )
        finally:
            c.close()

    posted, produced, empty = (json.loads(r.body) for r in run(main))
    assert posted["version"] == "HTTP/2.0"
    assert (posted["length"], posted["sum"]) == (len(body), sum(body) % 65521)
    assert posted["content_type"] == "application/octet-stream"
    expected = b"".join(bytes([65 + i]) * 50000 for i in range(5))
    assert (produced["length"], produced["sum"]) == (
        len(expected),
        sum(expected) % 65521,
    )
    assert produced["method"] == "PUT"
    assert empty["length"] == 0
    assert empty["content_type"] == "application/x-www-form-urlencoded"


def test_streaming_and_header_callbacks(app: App) -> None:
    lines: list[str] = []
    chunks: list[bytes] = []

    async def main() -> tuple[HTTPResponse, HTTPResponse]:
        c = h2_client(app)
        try:
            return await asyncio.gather(
                c.fetch(app.url("/big?size=300000"), streaming_callback=chunks.append),
                c.fetch(app.url("/text?n=3"), header_callback=lines.append),
            )
        finally:
            c.close()

    streamed, text = run(main)
    assert streamed.code == 200 and streamed.body == b""
    assert b"".join(chunks) == (bytes(range(256)) * 64 * 20)[:300000]
    assert lines[0] == "HTTP/2.0 200 OK\r\n"
    assert lines[-1] == "\r\n"
    assert "X-Many: one\r\n" in lines and "X-Many: two\r\n" in lines
    assert all(line.endswith("\r\n") for line in lines)
    assert text.headers.get_list("X-Many") == ["one", "two"]


def test_decompress_response(app: App) -> None:
    expected = "".join(f"line {i}\n" for i in range(1000)).encode()

    async def main() -> tuple[HTTPResponse, HTTPResponse]:
        c = h2_client(app)
        try:
            return await asyncio.gather(
                c.fetch(app.url("/text")),
                c.fetch(
                    app.url("/text"),
                    decompress_response=False,
                    headers={"Accept-Encoding": "gzip"},
                ),
                c.fetch(app.url("/text"), method="HEAD"),
            )
        finally:
            c.close()

    decoded, raw, head = run(main)
    assert (head.code, head.body, head.version) == (200, b"", "HTTP/2.0")
    assert decoded.version == "HTTP/2.0"
    assert decoded.body == expected
    assert decoded.headers.get("X-Consumed-Content-Encoding") == "gzip"
    assert "Content-Encoding" not in decoded.headers
    assert raw.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(raw.body) == expected


def test_request_timeout_resets_one_stream_only(app: App) -> None:
    async def main() -> tuple[list[HTTPResponse], dict[str, int], dict[str, int]]:
        before = await app.stats()
        c = h2_client(app)
        try:
            responses = await asyncio.gather(
                outcome(c, app.url("/hold"), request_timeout=1),
                *(c.fetch(app.url("/big?size=200000")) for _ in range(3)),
            )
            # The connection outlived the timed-out stream.
            again = await c.fetch(app.url("/echo"))
            responses.append(again)
        finally:
            c.close()
        # The server hears of the reset stream as a closed connection; wait
        # for it (a bounded number of looks, each a fetch of its own).
        for _ in range(200):
            after = await app.stats()
            if after["held_closed"] > before["held_closed"]:
                return responses, before, after
        raise AssertionError("the server never saw the timed-out stream end")

    responses, before, after = run(main)
    held, *others = responses
    assert held.code == 599
    assert isinstance(held.error, HTTPTimeoutError)
    assert str(held.error) == "Timeout during request"
    assert [r.code for r in others] == [200] * 4
    assert all(r.version == "HTTP/2.0" for r in others)
    # One connection for the fetches; each stats fetch opened its own.
    assert after["connections"] - before["connections"] - 1 == 1


def test_redirects_follow_across_versions(tls_app: App, plain_app: App) -> None:
    cross = f"http://127.0.0.1:{plain_app.port}/echo"

    async def main() -> list[HTTPResponse]:
        c = h2_client(tls_app)
        try:
            return await asyncio.gather(
                c.fetch(tls_app.url("/redirect?code=302&to=/echo")),
                c.fetch(
                    tls_app.url("/redirect?code=303&to=/echo"),
                    method="POST",
                    body=b"x=1",
                ),
                c.fetch(tls_app.url(f"/redirect?code=307&to={cross}")),
            )
        finally:
            c.close()

    same, see_other, across = run(main)
    assert (same.code, same.version, same.effective_url) == (
        200,
        "HTTP/2.0",
        tls_app.url("/echo"),
    )
    assert json.loads(see_other.body)["method"] == "GET"
    # http2=True leaves http URLs on HTTP/1.1.
    assert (across.code, across.version, across.effective_url) == (
        200,
        "HTTP/1.1",
        cross,
    )
    assert json.loads(across.body)["version"] == "HTTP/1.1"


def test_limits_end_one_stream_only(app: App) -> None:
    async def main() -> tuple[list[HTTPResponse], dict[str, int], dict[str, int]]:
        before = await app.stats()
        c = h2_client(app, max_body_size=100000, max_header_size=400)
        try:
            responses = await asyncio.gather(
                outcome(c, app.url("/big?size=300000"), decompress_response=False),
                outcome(c, app.url("/big?size=300000")),
                outcome(c, app.url("/text?n=1&long=1")),
            )
            responses.append(await c.fetch(app.url("/big?size=1000")))
        finally:
            c.close()
        return responses, before, await app.stats()

    (too_long, too_long_decoded, too_many_headers, fine), before, after = run(main)
    assert too_long.code == 599
    assert isinstance(too_long.error, HTTPStreamClosedError)
    assert str(too_long.error) == "Body too long"
    # Gzipped by the app, it is measured once decoded.
    assert str(too_long_decoded.error) == "decompressed body too large"
    assert too_many_headers.code == 599
    assert str(too_many_headers.error) == "Response header too large"
    assert (fine.code, len(fine.body)) == (200, 1000)
    assert after["connections"] - before["connections"] - 1 == 1


# -- a scripted HTTP/2 server --------------------------------------------------


class ScriptedH2:
    """One accepted connection of :func:`scripted_h2`, as an ``h2`` server."""

    def __init__(
        self,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        settings: dict[int, int],
    ) -> None:
        self.number = number
        self.reader = reader
        self.writer = writer
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding=None)
        )
        self.h2.initiate_connection()
        if settings:
            self.h2.update_settings(settings)
        self.requests: dict[int, bytes] = {}
        self.goaway_seen = False
        self.closed = asyncio.Event()
        self.open_now = 0
        self.most_open = 0
        self.flush()

    def flush(self) -> None:
        self.writer.write(self.h2.data_to_send())

    async def requests_ended(self, count: int) -> list[int]:
        """Read until ``count`` requests (of this call) have ended; their
        stream ids, in order."""
        ended: list[int] = []
        while len(ended) < count:
            data = await self.reader.read(65536)
            if not data:
                raise ConnectionError("the client closed the connection")
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    headers = dict(event.headers)
                    self.requests[event.stream_id] = headers[b":method"]
                    self.open_now += 1
                    self.most_open = max(self.most_open, self.open_now)
                elif isinstance(event, h2.events.DataReceived):
                    self.h2.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, h2.events.StreamEnded):
                    ended.append(event.stream_id)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.goaway_seen = True
            self.flush()
        return ended

    async def until_closed(self) -> None:
        """Read until the client closes the connection."""
        while True:
            data = await self.reader.read(65536)
            if not data:
                self.closed.set()
                return
            for event in self.h2.receive_data(data):
                if isinstance(event, h2.events.ConnectionTerminated):
                    self.goaway_seen = True

    def respond(self, stream_id: int, end: bool = True) -> None:
        body = b"conn %d stream %d" % (self.number, stream_id)
        self.h2.send_headers(stream_id, [(b":status", b"200")])
        self.h2.send_data(stream_id, body, end_stream=end)
        if end:
            self.open_now -= 1
        self.flush()


@asynccontextmanager
async def scripted_h2(
    script: Callable[[ScriptedH2], Awaitable[None]],
    settings: dict[int, int] | None = None,
) -> AsyncIterator[tuple[str, list[ScriptedH2]]]:
    """A cleartext HTTP/2 server whose every connection runs ``script``."""
    accepted: list[ScriptedH2] = []
    tasks: set[asyncio.Task[None]] = set()

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        conn = ScriptedH2(len(accepted) + 1, reader, writer, settings or {})
        accepted.append(conn)
        try:
            await script(conn)
        except ConnectionError:
            pass
        finally:
            writer.close()

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(handle(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(track, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def answer_everything(conn: ScriptedH2) -> None:
    while True:
        for stream_id in await conn.requests_ended(1):
            conn.respond(stream_id)


def test_goaway_retries_the_streams_above_last_stream_id() -> None:
    async def first_goes_away(conn: ScriptedH2) -> None:
        if conn.number > 1:
            await answer_everything(conn)
            return
        first, *_rest = sorted(await conn.requests_ended(3))
        # Streams after the first are refused by GOAWAY; the first one is
        # still answered, after it.
        conn.h2.send_headers(first, [(b":status", b"200")])
        conn.flush()
        conn.h2.close_connection(last_stream_id=first)
        # h2 closes its state machine on sending GOAWAY (python-hyper/h2#1181);
        # reopened, it plays a server that finishes the streams it kept.
        conn.h2.state_machine.state = h2.connection.ConnectionState.SERVER_OPEN
        conn.flush()
        conn.h2.send_data(first, b"conn 1 stream %d" % first, end_stream=True)
        conn.flush()
        await conn.reader.read()

    async def main() -> list[HTTPResponse]:
        async with scripted_h2(first_goes_away) as (base, accepted):
            c = client(http2="prior-knowledge")
            try:
                responses = await asyncio.gather(
                    c.fetch(base + "/a"),
                    c.fetch(base + "/b"),
                    c.fetch(base + "/c", method="POST", body=b"once"),
                )
            finally:
                c.close()
            assert len(accepted) == 2
            return responses

    responses = run(main)
    assert [r.code for r in responses] == [200] * 3
    assert responses[0].body == b"conn 1 stream 1"
    # Above last_stream_id the server did not act on them (RFC 9113 6.8):
    # sent again on a new connection, the POST too.
    assert [r.body.split(b" stream ")[0] for r in responses[1:]] == [b"conn 2"] * 2


def test_lost_connection_retries_idempotent_streams_only() -> None:
    async def first_cut(conn: ScriptedH2) -> None:
        if conn.number > 1:
            await answer_everything(conn)
            return
        (first,) = await conn.requests_ended(1)
        conn.respond(first)
        await conn.requests_ended(2)
        conn.writer.transport.abort()  # no GOAWAY: the outcome is unknown

    async def main() -> list[HTTPResponse]:
        async with scripted_h2(first_cut) as (base, _accepted):
            c = client(http2="prior-knowledge")
            try:
                return await fetch_all(c, [base + "/get"]) + [
                    r
                    for r in await asyncio.gather(
                        outcome(c, base + "/get2"),
                        outcome(c, base + "/post", method="POST", body=b"not twice"),
                    )
                ]
            finally:
                c.close()

    first, get, post = run(main)
    assert first.code == 200 and first.body.startswith(b"conn 1 ")
    assert get.code == 200 and get.body.startswith(b"conn 2 ")
    assert post.code == 599
    assert isinstance(post.error, HTTPStreamClosedError)
    assert str(post.error).startswith(
        "Connection closed before the response was complete"
    )


def test_streams_wait_for_max_concurrent_streams() -> None:
    async def main() -> tuple[list[HTTPResponse], list[ScriptedH2]]:
        async with scripted_h2(
            answer_everything,
            settings={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 2},
        ) as (base, accepted):
            c = client(http2="prior-knowledge")
            try:
                responses = await fetch_all(c, [base + f"/{i}" for i in range(8)])
            finally:
                c.close()
            return responses, accepted

    responses, accepted = run(main)
    assert [r.code for r in responses] == [200] * 8
    assert len(accepted) == 1
    assert accepted[0].most_open == 2


def test_http10_and_http11_responses_carry_their_version() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        version = b"HTTP/1.0" if b"/old" in head else b"HTTP/1.1"
        writer.write(version + b" 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def main() -> list[HTTPResponse]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = client(max_idle_connections=0)
        try:
            return [
                await c.fetch(HTTPRequest(f"http://127.0.0.1:{port}{path}"))
                for path in ("/old", "/new")
            ]
        finally:
            c.close()
            server.close()
            await server.wait_closed()

    old, new = run(main)
    assert (old.version, new.version) == ("HTTP/1.0", "HTTP/1.1")


def test_refused_stream_is_sent_again() -> None:
    async def refuse_first(conn: ScriptedH2) -> None:
        (first,) = await conn.requests_ended(1)
        conn.h2.reset_stream(first, h2.errors.ErrorCodes.REFUSED_STREAM)
        conn.flush()
        await answer_everything(conn)

    async def main() -> HTTPResponse:
        async with scripted_h2(refuse_first) as (base, accepted):
            c = client(http2="prior-knowledge")
            try:
                response = await c.fetch(base + "/", method="POST", body=b"x")
            finally:
                c.close()
            assert len(accepted) == 1
            return response

    response = run(main)
    # Refused, so not processed: the POST went again, as stream 3.
    assert (response.code, response.body) == (200, b"conn 1 stream 3")


def test_a_protocol_error_from_the_server_fails_its_streams() -> None:
    async def garbage(conn: ScriptedH2) -> None:
        await conn.requests_ended(1)
        # DATA on stream 0 is a connection error (RFC 9113 6.1).
        conn.writer.write(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")
        await conn.until_closed()

    async def main() -> tuple[HTTPResponse, list[ScriptedH2]]:
        async with scripted_h2(garbage) as (base, accepted):
            c = client(http2="prior-knowledge")
            try:
                response = await outcome(c, base + "/")
            finally:
                c.close()
            return response, accepted

    response, accepted = run(main)
    assert response.code == 599
    assert str(response.error).startswith("HTTP/2 protocol error from the server")
    assert len(accepted) == 1


@pytest.mark.parametrize("how", ["idle_timeout", "close"])
def test_the_client_ends_its_connections_with_goaway(how: str) -> None:
    async def once(conn: ScriptedH2) -> None:
        (first,) = await conn.requests_ended(1)
        conn.respond(first)
        await conn.until_closed()

    async def main() -> list[ScriptedH2]:
        async with scripted_h2(once) as (base, accepted):
            c = client(
                http2="prior-knowledge",
                idle_timeout=0.2 if how == "idle_timeout" else None,
            )
            try:
                response = await c.fetch(base + "/")
                assert response.code == 200
                if how == "close":
                    c.close()
                await accepted[0].closed.wait()
            finally:
                c.close()
            return accepted

    (conn,) = run(main, timeout=10)
    assert conn.goaway_seen
    assert conn.reader.at_eof()


def test_connect_timeout_bounds_the_wait_for_the_first_connection() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Takes the TLS ClientHello and never answers.
        accepted.append(writer)

    async def main() -> list[HTTPResponse]:
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        c = client(http2=True)
        try:
            return await fetch_all(
                c, [f"https://127.0.0.1:{port}/"] * 3, connect_timeout=0.5
            )
        finally:
            c.close()
            for writer in accepted:
                writer.close()
            server.close()
            await server.wait_closed()

    responses = run(main)
    assert [r.code for r in responses] == [599] * 3
    assert all(isinstance(r.error, HTTPTimeoutError) for r in responses)
    # The two that waited for the first one opened none of their own.
    assert len(accepted) == 1


@pytest.mark.allow_error_logs
def test_an_exception_in_a_callback_resets_only_its_stream(
    plain_app: App, caplog: pytest.LogCaptureFixture
) -> None:
    def failing(chunk: bytes) -> None:
        raise ZeroDivisionError("in the streaming_callback")

    async def main() -> tuple[list[HTTPResponse], dict[str, int], dict[str, int]]:
        before = await plain_app.stats()
        c = h2_client(plain_app)
        try:
            responses = await asyncio.gather(
                outcome(
                    c, plain_app.url("/big?size=100000"), streaming_callback=failing
                ),
                outcome(c, plain_app.url("/big?size=100000")),
            )
        finally:
            c.close()
        return list(responses), before, await plain_app.stats()

    (failed, fine), before, after = run(main)
    assert failed.code == 599
    assert str(failed.error) == "in the streaming_callback"
    assert (fine.code, len(fine.body)) == (200, 100000)
    assert after["connections"] - before["connections"] - 1 == 1
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in logged] == ["Uncaught exception"]
    assert logged[0].exc_info is not None
    assert logged[0].exc_info[0] is ZeroDivisionError


def test_a_tls_server_without_h2_gets_http11(tmp_path: Path) -> None:
    from tests.client.servers import TLS, serve_http

    tls = TLS(tmp_path)

    async def main() -> tuple[list[HTTPResponse], list[HTTPResponse], int]:
        # An HTTP/1.1-only server: ALPN picks nothing, the client falls back.
        async with serve_http(ssl_options=tls.server_context()) as origin:
            c = client(http2=True, defaults={"ca_certs": tls.ca_file})
            try:
                first = await fetch_all(c, [origin.url("/a")] * 3)
                # Remembered: later fetches go straight to the keep-alive pool.
                again = await fetch_all(c, [origin.url("/b")] * 3)
            finally:
                c.close()
            return first, again, origin.log.accepted

    first, again, accepted = run(main)
    assert [(r.code, r.version) for r in first + again] == [(200, "HTTP/1.1")] * 6
    # Three connections for the three concurrent first fetches, reused after.
    assert accepted == 3


def test_a_header_h2_cannot_send_fails_only_that_fetch() -> None:
    async def main() -> list[HTTPResponse]:
        async with scripted_h2(
            answer_everything,
            settings={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1},
        ) as (base, _accepted):
            c = client(http2="prior-knowledge")
            try:
                # The first holds the only stream; the other two wait for
                # it, and the one that cannot be sent must pass its turn on.
                return await asyncio.gather(
                    outcome(c, base + "/first"),
                    outcome(c, base + "/bad", headers={"X-Bad": " padded"}),
                    outcome(c, base + "/good"),
                )
            finally:
                c.close()

    first, bad, good = run(main, timeout=10)
    assert (first.code, first.body) == (200, b"conn 1 stream 1")
    assert isinstance(bad.error, ValueError)
    assert str(bad.error) == "header field not allowed in HTTP/2: 'X-Bad'"
    assert (good.code, good.body) == (200, b"conn 1 stream 3")
