"""Tests of what is particular to the curl backend
(:mod:`tornado_compat.httpclient.curl`).

The behaviour both backends share is tested through the ``backend`` fixture
in the other client tests; these cover the curl client's own contract: each
easy handle is reset between requests, the request head is checked before
anything is sent, ``max_body_size``, uploads from a ``body_producer``, the
``Expect`` header, ``ssl_options``, unix sockets and redirects, the content
codings asked for, the queue, errors, ``close()`` and the callbacks.

Every server here is :class:`Origin`, a small HTTP/1.1 server on the test's
own event loop (the client runs on the same loop), which records each
request it reads.  Nothing sleeps to synchronise: tests wait on events, and
the few that are about time limits measure elapsed time with wide margins.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import logging
import os
import socket
import ssl
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pycurl
import pytest
import trustme
from tornado.concurrent import Future

from tests.support import run
from tornado_compat.httpclient import (
    AsyncHTTPClient,
    HTTPClientError,
    HTTPRequest,
    HTTPResponse,
)
from tornado_compat.httpclient.curl import (
    CurlAsyncHTTPClient,
    CurlError,
    _CurlStreamingBuffer,
    _ResponseHead,
)
from tornado_compat.httpclient.simple import SimpleAsyncHTTPClient

LOOPBACK = "127.0.0.1"

# -- the server -----------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the server read it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    connection: int
    body: bytes = b""
    chunked: bool = False
    peer_cert: bool = False
    tls_version: str | None = None

    def header(self, name: str) -> str | None:
        values = self.values(name)
        return values[0] if values else None

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


class Conn:
    """One connection to :class:`Origin`, as a route handler sees it."""

    def __init__(
        self,
        origin: Origin,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        number: int,
    ) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.number = number
        self.keep_alive = True

    async def read_head(self) -> Seen | None:
        try:
            data = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = data.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name, value.strip()))
        seen = Seen(method, target, headers, self.number)
        ssl_object = self.writer.get_extra_info("ssl_object")
        if ssl_object is not None:
            seen.peer_cert = bool(ssl_object.getpeercert())
            seen.tls_version = ssl_object.version()
        self.origin.requests.append(seen)
        return seen

    async def read_body(self, seen: Seen, send_continue: bool = True) -> bytes:
        expect = (seen.header("Expect") or "").lower() == "100-continue"
        if expect and send_continue:
            self.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if (seen.header("Transfer-Encoding") or "").lower() == "chunked":
            seen.chunked = True
            body = bytearray()
            while True:
                line = await self.reader.readuntil(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while await self.reader.readuntil(b"\r\n") != b"\r\n":
                        pass
                    break
                body += await self.reader.readexactly(size)
                await self.reader.readexactly(2)
            seen.body = bytes(body)
        else:
            length = int(seen.header("Content-Length") or 0)
            seen.body = await self.reader.readexactly(length)
        return seen.body

    def respond(
        self,
        status: int = 200,
        body: bytes = b"",
        headers: list[tuple[str, str]] | None = None,
        reason: str = "OK",
    ) -> None:
        head = [f"HTTP/1.1 {status} {reason}"]
        for name, value in headers or []:
            head.append(f"{name}: {value}")
        if not any(n.lower() == "content-length" for n, _ in headers or []):
            head.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


Route = Callable[[Conn, Seen], Awaitable[None]]


async def echo(conn: Conn, seen: Seen) -> None:
    """The default route: the request, as JSON."""
    body = await conn.read_body(seen)
    answer = {
        "method": seen.method,
        "target": seen.target,
        "headers": seen.headers,
        "body": body.decode("latin-1"),
    }
    conn.respond(
        200,
        json.dumps(answer).encode(),
        [("Content-Type", "application/json")],
    )


@dataclass
class Origin:
    """A keep-alive HTTP/1.1 server on the running loop."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    accepted: int = 0
    port: int = 0
    scheme: str = "http"
    unix_path: str | None = None
    _server: asyncio.AbstractServer | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def url(self, path: str = "/", host: str = LOOPBACK) -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def route(self, path: str) -> Callable[[Route], Route]:
        def register(handler: Route) -> Route:
            self.routes[path] = handler
            return handler

        return register

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.accepted += 1
        conn = Conn(self, reader, writer, self.accepted)
        try:
            while conn.keep_alive:
                seen = await conn.read_head()
                if seen is None:
                    break
                path = seen.target.split("?")[0]
                if "://" in path:  # absolute form, as sent to a proxy
                    path = "/" + path.split("/", 3)[3]
                await self.routes.get(path, echo)(conn, seen)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            # Stopped by stop(); ending normally keeps asyncio's stream
            # protocol from logging the cancellation.
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        if self.unix_path is not None:
            self._server = await asyncio.start_unix_server(
                self._serve, self.unix_path, ssl=tls
            )
        else:
            self._server = await asyncio.start_server(self._serve, LOOPBACK, 0, ssl=tls)
            self.port = self._server.sockets[0].getsockname()[1]
        if tls is not None:
            self.scheme = "https"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


@asynccontextmanager
async def serving(
    tls: ssl.SSLContext | None = None, unix_path: str | None = None
) -> AsyncIterator[Origin]:
    origin = Origin(unix_path=unix_path)
    await origin.start(tls)
    try:
        yield origin
    finally:
        await origin.stop()


@asynccontextmanager
async def curl_client(**kwargs: Any) -> AsyncIterator[CurlAsyncHTTPClient]:
    client = CurlAsyncHTTPClient(force_instance=True, **kwargs)
    try:
        yield client
    finally:
        client.close()


@asynccontextmanager
async def any_client(cls: type[AsyncHTTPClient]) -> AsyncIterator[AsyncHTTPClient]:
    client = cls(force_instance=True)
    try:
        yield client
    finally:
        client.close()


def echoed(response: HTTPResponse) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(response.body)
    return answer


def echoed_header(response: HTTPResponse, name: str) -> str | None:
    for n, v in echoed(response)["headers"]:
        if n.lower() == name.lower():
            return str(v)
    return None


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """libcurl reads the *_proxy variables; these tests must not."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


# -- TLS material ---------------------------------------------------------------------


@dataclass
class TLSFiles:
    ca: trustme.CA
    ca_file: str
    client_cert: str
    client_key: str

    def server_context(self, *names: str, client_auth: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert(*(names or (LOOPBACK, "localhost"))).configure_cert(context)
        if client_auth:
            context.verify_mode = ssl.CERT_OPTIONAL
            self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca_file = str(folder / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    client = ca.issue_cert("client.example")
    client_cert = str(folder / "client.pem")
    client_key = str(folder / "client.key")
    client.cert_chain_pems[0].write_to_path(client_cert)
    client.private_key_pem.write_to_path(client_key)
    return TLSFiles(ca, ca_file, client_cert, client_key)


# -- each handle starts clean ---------------------------------------------------------


def test_a_reused_handle_keeps_nothing_of_the_request_before() -> None:
    """Credentials, headers, callbacks, options set by prepare_curl_callback
    and cookies of one request never reach the next on the same handle."""
    lines: list[str] = []

    def prepare(curl: Any) -> None:
        curl.setopt(pycurl.REFERER, "http://referer.example/")
        curl.setopt(pycurl.COOKIEFILE, "")  # turns the cookie engine on

    async def main() -> None:
        async with serving() as origin, curl_client(max_clients=1) as client:

            @origin.route("/cookie")
            async def cookie(conn: Conn, seen: Seen) -> None:
                conn.respond(200, b"", [("Set-Cookie", "session=secret; Path=/")])

            await client.fetch(
                origin.url("/cookie"),
                auth_username="user",
                auth_password="secret",
                user_agent="first-agent",
                headers={"X-First": "1"},
                header_callback=lines.append,
                prepare_curl_callback=prepare,
            )
            assert origin.requests[0].header("Referer") == "http://referer.example/"
            assert origin.requests[0].header("Authorization") is not None
            seen_lines = len(lines)
            assert seen_lines > 0
            second = await client.fetch(origin.url("/plain"))
            assert len(client._handles) == 1  # the same handle served both
            sent = origin.requests[1]
            assert sent.header("Authorization") is None
            assert sent.header("Referer") is None
            assert sent.header("Cookie") is None
            assert sent.header("X-First") is None
            assert sent.header("User-Agent") != "first-agent"
            assert len(lines) == seen_lines
            assert second.code == 200

    run(main)


def test_a_reused_handle_forgets_the_proxy_and_its_credentials() -> None:
    async def main() -> None:
        async with (
            serving() as proxy,
            serving() as origin,
            curl_client(max_clients=1) as client,
        ):
            via_proxy = await client.fetch(
                origin.url("/through"),
                proxy_host=LOOPBACK,
                proxy_port=proxy.port,
                proxy_username="foo",
                proxy_password="bar",
            )
            assert echoed(via_proxy)["target"] == origin.url("/through")
            assert echoed_header(via_proxy, "Proxy-Authorization") == (
                "Basic Zm9vOmJhcg=="
            )
            direct = await client.fetch(origin.url("/direct"))
            assert echoed(direct)["target"] == "/direct"
            assert echoed_header(direct, "Proxy-Authorization") is None
            assert len(proxy.requests) == 1
            again = await client.fetch(
                origin.url("/again"), proxy_host=LOOPBACK, proxy_port=proxy.port
            )
            assert echoed_header(again, "Proxy-Authorization") is None
            assert len(proxy.requests) == 2

    run(main)


def test_a_reused_handle_forgets_the_client_certificate(tls: TLSFiles) -> None:
    async def main() -> None:
        context = tls.server_context(client_auth=True)
        async with serving(tls=context) as origin, curl_client(max_clients=1) as client:
            await client.fetch(
                origin.url("/with"),
                ca_certs=tls.ca_file,
                client_cert=tls.client_cert,
                client_key=tls.client_key,
            )
            await client.fetch(origin.url("/without"), ca_certs=tls.ca_file)
            assert [r.peer_cert for r in origin.requests] == [True, False]

    run(main)


# -- the request head is checked before anything is sent ------------------------------


@pytest.mark.parametrize("char", ["\r", "\n", "\r\n", "\0"])
@pytest.mark.parametrize("where", ["name", "value", "method", "url", "user_agent"])
def test_line_breaks_are_refused_before_sending(where: str, char: str) -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            kwargs: dict[str, Any] = {}
            url = origin.url("/")
            if where == "name":
                kwargs["headers"] = {f"X-Bad{char}Name": "v"}
            elif where == "value":
                kwargs["headers"] = {"X-Bad": f"one{char}Injected: two"}
            elif where == "method":
                kwargs["method"] = f"GET{char}X"
                kwargs["allow_nonstandard_methods"] = True
            elif where == "url":
                url = origin.url(f"/a{char}b")
            else:
                kwargs["user_agent"] = f"agent{char}X-Injected: 1"
            with pytest.raises(ValueError) as caught:
                await client.fetch(url, **kwargs)
            message = str(caught.value)
            assert repr(char[0]) in message
            if where in ("name", "value"):
                assert "X-Bad" in message
            assert origin.accepted == 0

    run(main)


def test_header_names_must_be_tokens() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            with pytest.raises(ValueError, match="(?i)x bad"):
                await client.fetch(origin.url("/"), headers={"X Bad": "v"})
            assert origin.accepted == 0

    run(main)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(proxy_host=LOOPBACK), "proxy_port"),
        (dict(auth_username="u", auth_password="p", auth_mode="ntlm"), "auth_mode"),
        (
            dict(proxy_host=LOOPBACK, proxy_port=1, proxy_auth_mode="ntlm"),
            "proxy_auth_mode",
        ),
        (
            dict(method="POST", body=b"abc", headers={"Content-Length": "4"}),
            "Content-Length",
        ),
        (dict(method="HEAD", body=b"x", allow_nonstandard_methods=True), "HEAD"),
        (dict(method="GET", body=b"x"), "must be None"),
        (dict(method="POST"), "must not be None"),
        (dict(unix_socket="\0abstract"), "abstract"),
    ],
)
def test_requests_libcurl_cannot_send_as_asked_are_refused(
    kwargs: dict[str, Any], message: str
) -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            with pytest.raises(ValueError, match=message):
                await client.fetch(origin.url("/"), **kwargs)
            assert origin.accepted == 0

    if "abstract" in message and hasattr(pycurl, "ABSTRACT_UNIX_SOCKET"):
        pytest.skip("this pycurl can pass abstract socket names")
    run(main)


def test_unknown_method_is_a_key_error_as_in_tornado() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            with pytest.raises(KeyError, match="BREW"):
                await client.fetch(origin.url("/"), method="BREW")
            response = await client.fetch(
                origin.url("/"), method="BREW", allow_nonstandard_methods=True
            )
            assert echoed(response)["method"] == "BREW"

    run(main)


def test_get_with_a_body_when_allowed() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            response = await client.fetch(
                origin.url("/"),
                method="GET",
                body=b"query",
                allow_nonstandard_methods=True,
            )
            assert echoed(response)["method"] == "GET"
            assert echoed(response)["body"] == "query"

    run(main)


# -- max_body_size --------------------------------------------------------------------


def test_max_body_size_defaults_to_100_mib() -> None:
    async def main() -> None:
        async with curl_client() as client:
            assert client.max_body_size == 100 * 1024 * 1024

    run(main)


def sized_routes(origin: Origin) -> None:
    @origin.route("/size")
    async def size(conn: Conn, seen: Seen) -> None:
        n = int(seen.target.partition("=")[2])
        conn.respond(200, b"a" * n)

    @origin.route("/bomb")
    async def bomb(conn: Conn, seen: Seen) -> None:
        body = gzip.compress(b"\0" * (1024 * 1024))
        conn.respond(200, body, [("Content-Encoding", "gzip")])


def test_body_over_max_body_size_fails_and_the_handle_stays_usable() -> None:
    async def main() -> None:
        async with (
            serving() as origin,
            curl_client(max_body_size=1000, max_clients=1) as client,
        ):
            sized_routes(origin)
            exact = await client.fetch(origin.url("/size?n=1000"))
            assert exact.body == b"a" * 1000
            with pytest.raises(CurlError) as caught:
                await client.fetch(origin.url("/size?n=1001"))
            assert caught.value.code == 599
            assert "too large" in str(caught.value)
            assert "max_body_size" in str(caught.value)
            again = await client.fetch(origin.url("/size?n=10"))
            assert again.body == b"a" * 10

    run(main)


def test_max_body_size_counts_the_decoded_body() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client(max_body_size=64 * 1024) as client:
            sized_routes(origin)
            with pytest.raises(HTTPClientError, match="too large"):
                await client.fetch(origin.url("/bomb"))
            # Undecoded, the same response is small enough.
            raw = await client.fetch(
                origin.url("/bomb"),
                decompress_response=False,
                headers={"Accept-Encoding": "gzip"},
            )
            assert len(raw.body) < 64 * 1024

    run(main)


@pytest.mark.parametrize("path", ["/size?n=300000", "/bomb"])
def test_nothing_past_max_body_size_reaches_the_streaming_callback(path: str) -> None:
    limit = 100_000
    received: list[bytes] = []

    async def main() -> None:
        async with serving() as origin, curl_client(max_body_size=limit) as client:
            sized_routes(origin)
            with pytest.raises(HTTPClientError, match="too large") as caught:
                await client.fetch(origin.url(path), streaming_callback=received.append)
            assert caught.value.code == 599

    run(main)
    assert 0 < sum(map(len, received)) <= limit


# -- uploads from a body_producer -----------------------------------------------------


def test_body_producer_without_length_is_sent_chunked() -> None:
    async def producer(write: Callable[[bytes], Future[None]]) -> None:
        await write(b"first, ")
        await write(b"second")

    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            for method in ("POST", "PUT", "PATCH"):
                response = await client.fetch(
                    origin.url("/"), method=method, body_producer=producer
                )
                assert echoed(response)["body"] == "first, second"
            assert [r.chunked for r in origin.requests] == [True, True, True]
            assert all(r.header("Content-Length") is None for r in origin.requests)

    run(main)


def test_body_producer_with_content_length_is_sent_sized() -> None:
    def producer(write: Callable[[bytes], Future[None]]) -> Future[None]:
        write(b"hello ")
        return write(b"world")

    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            for method in ("POST", "PUT"):
                await client.fetch(
                    origin.url("/"),
                    method=method,
                    headers={"Content-Length": "11"},
                    body_producer=producer,
                )
            for sent in origin.requests:
                assert not sent.chunked
                assert sent.values("Content-Length") == ["11"]
                assert sent.body == b"hello world"

    run(main)


def test_body_producer_that_returns_none_ends_the_body() -> None:
    # A plain function that writes without waiting and returns nothing, as
    # Tornado's own tests write them: the body is what it wrote.
    def producer(write: Callable[[bytes], Future[None]]) -> None:
        write(b"first, ")
        write(b"second")

    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            response = await client.fetch(
                origin.url("/"), method="POST", body_producer=producer
            )
            assert echoed(response)["body"] == "first, second"

    run(main)


def test_body_producer_write_resolves_only_once_the_data_is_taken() -> None:
    """The Future of write() is the producer's back-pressure: a chunk far
    larger than the socket buffers is not taken while the server reads
    nothing, and is once it reads."""
    big = os.urandom(1024) * (32 * 1024)  # 32 MiB

    async def main() -> None:
        head_read = asyncio.Event()
        release = asyncio.Event()
        wrote = asyncio.Event()
        writes: list[Future[None]] = []

        async with serving() as origin, curl_client() as client:

            @origin.route("/slow")
            async def slow(conn: Conn, seen: Seen) -> None:
                head_read.set()
                await release.wait()
                body = await conn.read_body(seen)
                conn.respond(200, str(len(body)).encode())

            async def producer(write: Callable[[bytes], Future[None]]) -> None:
                writes.append(write(big))
                wrote.set()
                await writes[0]
                writes.append(write(b"tail"))
                await writes[1]

            fetching = asyncio.ensure_future(
                client.fetch(origin.url("/slow"), method="PUT", body_producer=producer)
            )
            await head_read.wait()
            await wrote.wait()
            assert not writes[0].done()
            assert len(writes) == 1
            release.set()
            response = await fetching
            assert response.body == str(len(big) + 4).encode()
            assert all(w.done() and w.exception() is None for w in writes)

    run(main, 60)


def test_an_exception_in_the_body_producer_fails_the_fetch() -> None:
    class Broken(Exception):
        pass

    async def producer(write: Callable[[bytes], Future[None]]) -> None:
        await write(b"part")
        raise Broken("producer failed")

    async def main() -> None:
        async with serving() as origin, curl_client(max_clients=1) as client:
            with pytest.raises(Broken):
                await client.fetch(
                    origin.url("/"), method="POST", body_producer=producer
                )
            after = await client.fetch(origin.url("/"))
            assert after.code == 200

    run(main)


def test_expect_header_only_when_asked() -> None:
    body = b"x" * (2 * 1024 * 1024)  # libcurl would add Expect on its own

    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            await client.fetch(origin.url("/"), method="POST", body=body)
            await client.fetch(origin.url("/"), method="PUT", body=b"small")
            await client.fetch(
                origin.url("/"), method="POST", body=body, expect_100_continue=True
            )
            expects = [r.header("Expect") for r in origin.requests]
            assert expects == [None, None, "100-continue"]
            assert origin.requests[2].body == body

    run(main)


# -- ssl_options ----------------------------------------------------------------------


def test_ssl_options_dict(tls: TLSFiles) -> None:
    async def main() -> None:
        context = tls.server_context(client_auth=True)
        async with serving(tls=context) as origin, curl_client() as client:
            await client.fetch(origin.url("/"), ssl_options={"ca_certs": tls.ca_file})
            await client.fetch(
                origin.url("/"),
                ssl_options={
                    "ca_certs": tls.ca_file,
                    "certfile": tls.client_cert,
                    "keyfile": tls.client_key,
                    "cert_reqs": ssl.CERT_REQUIRED,
                    "ciphers": "ECDHE+AESGCM",
                },
            )
            # ssl_options wins over validate_cert and ca_certs.
            await client.fetch(
                origin.url("/"),
                validate_cert=True,
                ca_certs="/nonexistent.pem",
                ssl_options={"cert_reqs": ssl.CERT_NONE},
            )
            assert [r.peer_cert for r in origin.requests] == [False, True, False]
            with pytest.raises(CurlError) as caught:
                await client.fetch(origin.url("/"), ssl_options={})
            assert caught.value.errno == pycurl.E_PEER_FAILED_VERIFICATION
            with pytest.raises(CurlError):
                await client.fetch(
                    origin.url("/"),
                    ssl_options={"ca_certs": tls.ca_file, "ciphers": "NO-SUCH-CIPHER"},
                )

    run(main)


def test_ssl_options_dict_keys_libcurl_cannot_express() -> None:
    async def main() -> None:
        async with curl_client() as client:
            with pytest.raises(ValueError, match="server_hostname"):
                await client.fetch(
                    "https://127.0.0.1:1/", ssl_options={"server_hostname": "x"}
                )

    run(main)


def test_ssl_context_is_mapped(tls: TLSFiles) -> None:
    async def main() -> None:
        # A certificate for another name: only check_hostname can refuse it.
        context = tls.server_context("secure.test")
        async with serving(tls=context) as origin, curl_client() as client:
            trusting = ssl.create_default_context(cafile=tls.ca_file)
            with pytest.raises(CurlError) as caught:
                await client.fetch(origin.url("/"), ssl_options=trusting)
            assert caught.value.errno == pycurl.E_PEER_FAILED_VERIFICATION

            trusting.check_hostname = False
            await client.fetch(origin.url("/"), ssl_options=trusting)

            untrusting = ssl.create_default_context()
            untrusting.check_hostname = False
            with pytest.raises(CurlError, match="certificate"):
                await client.fetch(origin.url("/"), ssl_options=untrusting)
            untrusting.verify_mode = ssl.CERT_NONE
            await client.fetch(origin.url("/"), ssl_options=untrusting)

            capped = ssl.create_default_context(cafile=tls.ca_file)
            capped.check_hostname = False
            capped.maximum_version = ssl.TLSVersion.TLSv1_2
            await client.fetch(origin.url("/"), ssl_options=capped)
            assert origin.requests[-1].tls_version == "TLSv1.2"
            assert origin.requests[-2].tls_version == "TLSv1.3"

    run(main)


def test_ssl_context_settings_libcurl_cannot_express(tmp_path: Path) -> None:
    ciphers = ssl.create_default_context()
    ciphers.set_ciphers("ECDHE+AESGCM")
    keylog = ssl.create_default_context()
    keylog.keylog_filename = str(tmp_path / "keys.log")
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)

    async def main() -> None:
        async with curl_client() as client:
            for context, message in [
                (ciphers, "cipher"),
                (keylog, "keylog_filename"),
                (server_side, "server-side"),
            ]:
                with pytest.raises(ValueError, match=message):
                    await client.fetch("https://127.0.0.1:1/", ssl_options=context)

    run(main)


# -- unix sockets ---------------------------------------------------------------------


@pytest.mark.parametrize("client_class", [CurlAsyncHTTPClient, SimpleAsyncHTTPClient])
def test_unix_socket_redirects_on_both_backends(
    tmp_path: Path, client_class: type[AsyncHTTPClient]
) -> None:
    """The same rule on both clients: a redirect within the origin stays on
    the socket; one to another origin connects there, without the socket
    and the credentials."""
    socket_path = str(tmp_path / "s")

    async def main() -> None:
        async with (
            serving(unix_path=socket_path) as on_socket,
            serving() as elsewhere,
            any_client(client_class) as client,
        ):

            @on_socket.route("/hop")
            async def hop(conn: Conn, seen: Seen) -> None:
                conn.respond(302, b"moved", [("Location", "/landing")])

            @on_socket.route("/away")
            async def away(conn: Conn, seen: Seen) -> None:
                conn.respond(307, b"", [("Location", elsewhere.url("/there"))])

            response = await client.fetch(
                "http://app.internal/hop", unix_socket=socket_path
            )
            assert echoed(response)["target"] == "/landing"
            assert response.effective_url == "http://app.internal/landing"
            assert response.body.startswith(b"{")

            away_response = await client.fetch(
                "http://app.internal/away",
                unix_socket=socket_path,
                method="POST",
                body=b"payload",
                auth_username="user",
                auth_password="secret",
                headers={"Cookie": "c=1"},
            )
            assert echoed(away_response)["target"] == "/there"
            assert echoed(away_response)["method"] == "POST"
            assert echoed(away_response)["body"] == "payload"
            assert echoed_header(away_response, "Authorization") is None
            assert echoed_header(away_response, "Cookie") is None
            assert away_response.effective_url == elsewhere.url("/there")
            assert [r.target for r in on_socket.requests] == [
                "/hop",
                "/landing",
                "/away",
            ]
            assert on_socket.requests[2].header("Authorization") is not None

    run(main)


def test_unix_socket_redirect_limits(tmp_path: Path) -> None:
    """The curl client follows unix-socket redirects itself, so it keeps
    libcurl's rules for them: over max_redirects is a CurlError, and
    follow_redirects=False returns the redirect.  (Where the hops go is
    tested on both clients above.)"""
    socket_path = str(tmp_path / "s")

    async def main() -> None:
        async with (
            serving(unix_path=socket_path) as on_socket,
            curl_client() as client,
        ):

            @on_socket.route("/hop")
            async def hop(conn: Conn, seen: Seen) -> None:
                conn.respond(302, b"moved", [("Location", "/landing")])

            with pytest.raises(CurlError, match="redirects"):
                await client.fetch(
                    "http://app.internal/hop", unix_socket=socket_path, max_redirects=0
                )
            not_followed = await client.fetch(
                "http://app.internal/hop",
                unix_socket=socket_path,
                follow_redirects=False,
                raise_error=False,
            )
            assert not_followed.code == 302
            assert not_followed.body == b"moved"
            assert [r.target for r in on_socket.requests] == ["/hop", "/hop"]

    run(main)


# -- content codings ------------------------------------------------------------------


def decodable_codings() -> set[str]:
    features = pycurl.version_info()[4]
    codings = set()
    if features & pycurl.VERSION_LIBZ:
        codings |= {"gzip", "deflate"}
    if features & pycurl.VERSION_BROTLI:
        codings.add("br")
    if features & getattr(pycurl, "VERSION_ZSTD", 0):
        codings.add("zstd")
    return codings


def test_accept_encoding_lists_what_libcurl_decodes() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            asked = echoed_header(
                await client.fetch(origin.url("/")), "Accept-Encoding"
            )
            assert asked is not None
            assert {c.strip() for c in asked.split(",")} == decodable_codings()
            plain = await client.fetch(origin.url("/"), decompress_response=False)
            assert echoed_header(plain, "Accept-Encoding") is None

    run(main)


def test_a_coding_libcurl_cannot_decode_is_a_599_naming_it() -> None:
    """zstd, with pycurl's wheels: not asked for, and refused if sent anyway;
    without decompression the body comes as it was sent."""
    coding = "zstd" if "zstd" not in decodable_codings() else "x-made-up"
    sent = b"\x28\xb5\x2f\xfd not really compressed"

    async def main() -> None:
        async with serving() as origin, curl_client() as client:

            @origin.route("/coded")
            async def coded(conn: Conn, seen: Seen) -> None:
                await conn.read_body(seen)
                conn.respond(200, sent, [("Content-Encoding", coding)])

            with pytest.raises(CurlError) as caught:
                await client.fetch(origin.url("/coded"))
            assert caught.value.code == 599
            assert "Unrecognized content encoding" in str(caught.value)
            raw = await client.fetch(origin.url("/coded"), decompress_response=False)
            assert raw.body == sent
            assert raw.headers["Content-Encoding"] == coding

    run(main)


# -- connections, the queue and time limits -------------------------------------------


def test_sequential_fetches_reuse_one_connection() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            for _ in range(5):
                await client.fetch(origin.url("/"))
            assert origin.accepted == 1
            assert {r.connection for r in origin.requests} == {1}

    run(main)


def test_timeout_in_request_queue() -> None:
    async def main() -> None:
        release = asyncio.Event()
        async with serving() as origin, curl_client(max_clients=1) as client:

            @origin.route("/held")
            async def held(conn: Conn, seen: Seen) -> None:
                await release.wait()
                conn.respond(200, b"done")

            first = asyncio.ensure_future(client.fetch(origin.url("/held")))
            with pytest.raises(HTTPClientError) as caught:
                await client.fetch(origin.url("/"), request_timeout=0.2)
            assert caught.value.code == 599
            assert "Timeout in request queue" in str(caught.value)
            assert caught.value.response is not None
            assert caught.value.response.time_info["queue"] >= 0.2
            release.set()
            assert (await first).body == b"done"
            assert [r.target for r in origin.requests] == ["/held"]

    run(main)


def test_time_in_the_queue_counts_toward_request_timeout() -> None:
    async def main() -> None:
        release = asyncio.Event()
        async with serving() as origin, curl_client(max_clients=1) as client:

            @origin.route("/held")
            async def held(conn: Conn, seen: Seen) -> None:
                await release.wait()
                conn.respond(200, b"done")

            @origin.route("/never")
            async def never(conn: Conn, seen: Seen) -> None:
                await conn.reader.read()

            first = asyncio.ensure_future(client.fetch(origin.url("/held")))
            asyncio.get_running_loop().call_later(0.5, release.set)
            started = time.monotonic()
            with pytest.raises(CurlError) as caught:
                await client.fetch(
                    origin.url("/never"), request_timeout=1.0, connect_timeout=5
                )
            elapsed = time.monotonic() - started
            await first
            assert caught.value.errno == pycurl.E_OPERATION_TIMEDOUT
            assert "queue" not in str(caught.value)
            response = caught.value.response
            assert response is not None and response.request_time is not None
            assert response.time_info["queue"] >= 0.45
            # Given the full second again it would have run until 1.5 s.
            assert response.request_time < 0.85
            assert elapsed < 1.35

    run(main)


# -- errors ---------------------------------------------------------------------------


def test_failures_are_599_curl_errors_naming_the_cause(tls: TLSFiles) -> None:
    async def main() -> None:
        with socket.socket() as unused:
            unused.bind((LOOPBACK, 0))
            closed_port = unused.getsockname()[1]
        async with serving(tls=tls.server_context()) as origin, curl_client() as client:
            cases = [
                (
                    "http://nonexistent.invalid/",
                    pycurl.E_COULDNT_RESOLVE_HOST,
                    "resolve",
                ),
                (f"http://{LOOPBACK}:{closed_port}/", pycurl.E_COULDNT_CONNECT, ""),
                (origin.url("/"), pycurl.E_PEER_FAILED_VERIFICATION, "certificate"),
            ]
            for url, errno, words in cases:
                with pytest.raises(CurlError) as caught:
                    await client.fetch(url, raise_error=False)
                error = caught.value
                assert (error.code, error.errno) == (599, errno)
                assert words in str(error)
                assert error.response is not None
                assert error.response.code == 599

    run(main)


def test_bad_network_interface_is_named() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            ok = await client.fetch(origin.url("/"), network_interface=LOOPBACK)
            assert ok.code == 200
            with pytest.raises(CurlError, match="not-an-interface"):
                await client.fetch(
                    origin.url("/"), network_interface="not-an-interface"
                )

    run(main)


def test_malformed_response_header_fails_the_fetch() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client(max_clients=1) as client:

            @origin.route("/bad")
            async def bad(conn: Conn, seen: Seen) -> None:
                conn.writer.write(
                    b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n"
                )
                conn.keep_alive = False

            with pytest.raises(CurlError, match="Malformed HTTP header") as caught:
                await client.fetch(origin.url("/bad"))
            assert caught.value.code == 599
            assert (await client.fetch(origin.url("/"))).code == 200

    run(main)


@pytest.mark.parametrize(
    "head, words",
    [
        (
            b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
            "Malformed HTTP message.*Transfer-Encoding and Content-Length",
        ),
        # libcurl refuses these two on its own, with its own words.
        (b"Transfer-Encoding: gzip, chunked\r\n", "Transfer-Encoding"),
        (b"Content-Length: 5\r\nContent-Length: 7\r\n", "Content-Length"),
    ],
    ids=["cl-and-te", "te-not-chunked", "unequal-lengths"],
)
def test_ambiguous_framing_fails_the_fetch(head: bytes, words: str) -> None:
    """Responses whose end two parsers could disagree about are refused, in
    this client as in the simple one (the first, which libcurl would accept,
    by the protocol core's framing rule)."""

    async def main() -> None:
        async with serving() as origin, curl_client(max_clients=1) as client:

            @origin.route("/smuggle")
            async def smuggle(conn: Conn, seen: Seen) -> None:
                conn.writer.write(
                    b"HTTP/1.1 200 OK\r\n" + head + b"\r\n5\r\nhello\r\n0\r\n\r\n"
                )
                conn.keep_alive = False

            with pytest.raises(CurlError, match=words) as caught:
                await client.fetch(origin.url("/smuggle"))
            assert caught.value.code == 599
            assert (await client.fetch(origin.url("/"))).code == 200

    run(main)


def test_a_header_too_large_for_libcurl_is_named() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:

            @origin.route("/huge")
            async def huge(conn: Conn, seen: Seen) -> None:
                conn.writer.write(
                    b"HTTP/1.1 200 OK\r\nX-Huge: "
                    + b"a" * 2**20
                    + b"\r\nContent-Length: 2\r\n\r\nhi"
                )
                conn.keep_alive = False

            with pytest.raises(CurlError, match="header too large") as caught:
                await client.fetch(origin.url("/huge"))
            assert caught.value.errno == 100  # CURLE_TOO_LARGE

    run(main)


def test_response_head_unfolds_folded_lines() -> None:
    # libcurl 8 unfolds by itself; older versions pass continuation lines on.
    head = _ResponseHead()
    for line in [
        b"HTTP/1.1 200 Fine\r\n",
        b"X-Folded: one;\r\n",
        b"\t two\r\n",
        b"X-Plain: 3\r\n",
        b"\r\n",
    ]:
        assert head.feed(line)
    assert head.reason == "Fine"
    assert head.headers()["X-Folded"] == "one; two"
    assert head.headers()["X-Plain"] == "3"
    assert not _ResponseHead().feed(b" orphan continuation\r\n")


# -- the response ---------------------------------------------------------------------


def test_response_fields_and_heads_before_the_final_one() -> None:
    lines: list[str] = []

    async def main() -> None:
        async with serving() as origin, curl_client() as client:

            @origin.route("/start")
            async def start(conn: Conn, seen: Seen) -> None:
                conn.writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
                conn.respond(302, b"", [("Location", "/final"), ("X-Hop", "1")])

            @origin.route("/final")
            async def final(conn: Conn, seen: Seen) -> None:
                conn.respond(200, b"end", [("X-Final", "yes")], reason="All Good")

            response = await client.fetch(
                origin.url("/start"), header_callback=lines.append
            )
            assert response.body == b"end"
            assert response.reason == "All Good"
            assert response.effective_url == origin.url("/final")
            assert response.headers["X-Final"] == "yes"
            assert "X-Hop" not in response.headers
            assert "Link" not in response.headers
            assert set(response.time_info) == {
                "queue",
                "namelookup",
                "connect",
                "appconnect",
                "pretransfer",
                "starttransfer",
                "total",
                "redirect",
            }
            assert response.time_info["redirect"] > 0
            assert response.start_time is not None
            assert abs(response.start_time - time.time()) < 5
            assert response.request_time is not None
            assert 0 <= response.request_time < 5

    run(main)
    statuses = [line for line in lines if line.startswith("HTTP/")]
    assert statuses == ["HTTP/1.1 200 All Good\r\n"]
    assert lines[-1] == "\r\n"
    assert "X-Final: yes\r\n" in lines


# -- callbacks ------------------------------------------------------------------------


@pytest.mark.allow_error_logs
def test_an_exception_in_a_callback_is_logged_and_harms_nothing_else(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chunks: list[bytes] = []
    others: list[bytes] = []

    def failing(chunk: bytes) -> None:
        chunks.append(chunk)
        if len(chunks) == 1:
            raise ZeroDivisionError("in the streaming_callback")

    def failing_header(line: str) -> None:
        raise KeyError("in the header_callback")

    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            sized_routes(origin)
            mine, other = await asyncio.gather(
                client.fetch(
                    origin.url("/size?n=300000"),
                    streaming_callback=failing,
                    header_callback=failing_header,
                ),
                client.fetch(
                    origin.url("/size?n=300000"), streaming_callback=others.append
                ),
            )
            assert mine.code == 200
            assert other.code == 200

    run(main)
    assert b"".join(chunks) == b"a" * 300000
    assert b"".join(others) == b"a" * 300000
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert logged
    assert all(r.getMessage().startswith("Exception in callback") for r in logged)
    causes = {type(r.exc_info[1]) for r in logged if r.exc_info}
    assert causes == {ZeroDivisionError, KeyError}


def test_async_streaming_callbacks_are_refused() -> None:
    async def consume(chunk: bytes) -> None:
        pass

    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            with pytest.raises(TypeError, match="async streaming_callback"):
                await client.fetch(origin.url("/"), streaming_callback=consume)
            assert origin.accepted == 0

    run(main)


def test_an_awaitable_from_the_streaming_callback_holds_delivery_back() -> None:
    """A plain callback may return an awaitable: the next chunk, and the
    response, wait for it."""
    part1, part2 = b"a" * 100, b"b" * 100

    async def main() -> None:
        go = asyncio.Event()
        first = asyncio.Event()
        gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        chunks: list[bytes] = []

        def consume(chunk: bytes) -> Any:
            chunks.append(chunk)
            if len(chunks) == 1:
                first.set()
                return gate
            return None

        async with serving() as origin, curl_client() as client:

            @origin.route("/parts")
            async def parts(conn: Conn, seen: Seen) -> None:
                conn.writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n" + part1
                )
                await conn.writer.drain()
                await go.wait()
                conn.writer.write(part2)

            finished = asyncio.Event()
            finish = client._finish

            def spy(*args: Any) -> None:
                finish(*args)
                finished.set()

            client._finish = spy  # type: ignore[method-assign]
            fetching = asyncio.ensure_future(
                client.fetch(origin.url("/parts"), streaming_callback=consume)
            )
            await first.wait()
            go.set()
            await finished.wait()  # libcurl has the whole body
            assert chunks == [part1]
            assert not fetching.done()
            gate.set_result(None)
            response = await fetching
            assert response.code == 200
            assert b"".join(chunks) == part1 + part2

    run(main)


def test_streaming_buffer_pauses_past_its_bound() -> None:
    class FakeCurl:
        def __init__(self) -> None:
            self.pauses: list[int] = []

        def pause(self, flags: int) -> None:
            self.pauses.append(flags)

    async def main() -> None:
        async with curl_client() as client:
            kicks: list[int] = []
            client._set_timeout = kicks.append  # type: ignore[method-assign]
            curl = FakeCurl()
            delivered: list[bytes] = []
            buffer = _CurlStreamingBuffer(client, curl, delivered.append)
            buffer.max_buffer_size = 8  # type: ignore[misc]
            assert buffer.write(b"12345678") == 8
            assert buffer.write(b"9") == pycurl.WRITEFUNC_PAUSE
            assert buffer.paused
            buffer.flush()
            assert delivered == [b"12345678"]
            assert curl.pauses == [pycurl.PAUSE_CONT]
            assert kicks == [0]

    run(main)


# -- close ----------------------------------------------------------------------------


def test_close_fails_what_is_running_and_queued() -> None:
    async def main() -> None:
        release = asyncio.Event()
        arrived = asyncio.Event()
        async with serving() as origin:

            @origin.route("/held")
            async def held(conn: Conn, seen: Seen) -> None:
                arrived.set()
                await release.wait()

            client = CurlAsyncHTTPClient(force_instance=True, max_clients=1)
            running = client.fetch(origin.url("/held"))
            queued = client.fetch(origin.url("/"))
            await arrived.wait()
            client.close()
            client.close()  # a second close does nothing
            for future in (running, queued):
                with pytest.raises(HTTPClientError, match="closed") as caught:
                    await future
                assert caught.value.code == 599
            with pytest.raises(RuntimeError):
                client.fetch(origin.url("/"))
            release.set()

    run(main)


def test_a_closed_client_can_be_collected() -> None:
    async def main() -> weakref.ref[CurlAsyncHTTPClient]:
        async with serving() as origin:
            client = CurlAsyncHTTPClient(force_instance=True)
            sized_routes(origin)
            await client.fetch(origin.url("/"))
            await client.fetch(
                origin.url("/size?n=200000"), streaming_callback=lambda chunk: None
            )
            await client.fetch(
                origin.url("/"),
                method="POST",
                body_producer=lambda write: write(b"body"),
            )
            client.close()
            return weakref.ref(client)

    ref = run(main)
    gc.collect()
    assert ref() is None


def test_debug_log_hides_credentials(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            await client.fetch(
                origin.url("/"),
                auth_username="user",
                auth_password="hunter2",
                headers={"Cookie": "session=topsecret"},
            )

    with caplog.at_level(logging.DEBUG, logger="tornado.curl_httpclient"):
        run(main)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "> GET / HTTP/1.1" in text
    assert "Authorization: <hidden>" in text
    assert "topsecret" not in text
    assert "dXNlcjpodW50ZXIy" not in text  # base64 of user:hunter2


def test_request_object_and_defaults() -> None:
    async def main() -> None:
        async with (
            serving() as origin,
            curl_client(defaults={"user_agent": "from-defaults"}) as client,
        ):
            request = HTTPRequest(origin.url("/"), headers={"X-Mine": "1"})
            response = await client.fetch(request)
            assert response.request is request
            assert echoed_header(response, "User-Agent") == "from-defaults"
            assert echoed_header(response, "X-Mine") == "1"

    run(main)


def test_user_name_with_a_colon_and_empty_headers() -> None:
    async def main() -> None:
        async with serving() as origin, curl_client() as client:
            response = await client.fetch(
                origin.url("/"),
                auth_username="us:er",
                auth_password="pw",
                headers={"Accept": "", "X-Empty": ""},
            )
            # b"us:er:pw" in base64: the user name is not cut at its colon.
            assert echoed_header(response, "Authorization") == "Basic dXM6ZXI6cHc="
            # An empty value removes the header libcurl would send.
            assert echoed_header(response, "Accept") is None
            assert echoed_header(response, "X-Empty") is None

    run(main)


def test_a_307_cannot_send_a_produced_body_again() -> None:
    async def producer(write: Callable[[bytes], Future[None]]) -> None:
        await write(b"once")

    async def main() -> None:
        async with serving() as origin, curl_client() as client:

            @origin.route("/moved")
            async def moved(conn: Conn, seen: Seen) -> None:
                await conn.read_body(seen)
                conn.respond(307, b"", [("Location", "/")])

            with pytest.raises(CurlError) as caught:
                await client.fetch(
                    origin.url("/moved"), method="POST", body_producer=producer
                )
            assert caught.value.errno == pycurl.E_SEND_FAIL_REWIND

    run(main)
