"""The curl client backend over HTTP/2, against servers that are not it.

``CurlAsyncHTTPClient(http2=...)`` fetches from a real nginx
(tests/http2/nginx_h2.py, whose access log names the connection of each
request) and from tornado_compat's own ``HTTPServer(app, http2=True)``
serving a ``tornado.web`` app (apps/peer_app.py, in a subprocess, whose
responses name the client port they came on).  Ten concurrent fetches to
one origin must share ONE connection, every body must arrive whole, and
every response must say which version carried it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pycurl = pytest.importorskip("pycurl")

from tests.http2.nginx_h2 import FILES, NginxH2, nginx_server  # noqa: E402
from tests.serve_process import AppProcess  # noqa: E402
from tornado_compat.httpclient import HTTPResponse  # noqa: E402
from tornado_compat.httpclient.curl import CurlAsyncHTTPClient, CurlError  # noqa: E402

__all__ = ["nginx_server"]

APP = Path(__file__).with_name("apps") / "peer_app.py"
BIG = bytes(range(256)) * 4096
PROCESS_TIMEOUT = 60.0
CONCURRENT = 10

_features = pycurl.version_info()[4]
pytestmark = pytest.mark.skipif(
    not _features & pycurl.VERSION_HTTP2, reason="this libcurl has no HTTP/2"
)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), PROCESS_TIMEOUT))


async def fetch_all(
    client: CurlAsyncHTTPClient, url: str, n: int = CONCURRENT, **kwargs: Any
) -> list[HTTPResponse]:
    return await asyncio.gather(*(client.fetch(url, **kwargs) for _ in range(n)))


def check_http2(responses: list[HTTPResponse], body: bytes, count: int) -> None:
    """``count`` responses, each 200 with ``body``, over HTTP/2."""
    assert [r.code for r in responses] == [200] * count
    assert all(r.body == body for r in responses)
    assert {r.version for r in responses} == {"HTTP/2.0"}


# -- nginx


@pytest.mark.parametrize("mode", [True, "prior-knowledge"])
def test_nginx_tls_ten_fetches_share_one_connection(
    nginx_server: NginxH2, mode: bool | str
) -> None:
    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True, http2=mode)
        try:
            url = nginx_server.https("big.bin")
            responses = await fetch_all(client, url, ca_certs=nginx_server.ca_file)
        finally:
            client.close()
        check_http2(responses, FILES["big.bin"], CONCURRENT)

    run(test)
    log = nginx_server.log()
    assert [(proto, status) for _, proto, _, status in log] == [
        ("HTTP/2.0", "200")
    ] * CONCURRENT
    assert len(nginx_server.connections()) == 1


def test_nginx_prior_knowledge_ten_fetches_share_one_connection(
    nginx_server: NginxH2,
) -> None:
    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True, http2="prior-knowledge")
        try:
            responses = await fetch_all(client, nginx_server.h2c("big.bin"))
            # Then one after another, on the same connection (libcurl before
            # 8.0 could not reuse a prior-knowledge connection: curl#10634).
            for _ in range(3):
                again = await client.fetch(nginx_server.h2c("hello.txt"))
                assert (again.body, again.version) == (FILES["hello.txt"], "HTTP/2.0")
        finally:
            client.close()
        check_http2(responses, FILES["big.bin"], CONCURRENT)

    run(test)
    assert {proto for _, proto, _, _ in nginx_server.log()} == {"HTTP/2.0"}
    assert len(nginx_server.log()) == CONCURRENT + 3
    assert len(nginx_server.connections()) == 1


def test_nginx_streaming_and_header_callbacks_over_http2(
    nginx_server: NginxH2,
) -> None:
    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True, http2=True)
        chunks: list[list[bytes]] = [[], [], []]
        lines: list[list[str]] = [[], [], []]
        try:
            responses = await asyncio.gather(
                *(
                    client.fetch(
                        nginx_server.https("big.bin"),
                        ca_certs=nginx_server.ca_file,
                        streaming_callback=chunks[i].append,
                        header_callback=lines[i].append,
                    )
                    for i in range(3)
                )
            )
        finally:
            client.close()
        for i, response in enumerate(responses):
            assert (response.code, response.version, response.body) == (
                200,
                "HTTP/2.0",
                b"",
            )
            assert b"".join(chunks[i]) == FILES["big.bin"]
            assert lines[i][0].startswith("HTTP/2 200")
            assert lines[i][-1] == "\r\n"
            assert response.headers["Content-Length"] == str(len(FILES["big.bin"]))

    run(test)
    assert len(nginx_server.connections()) == 1


def test_nginx_without_http2_stays_on_http1(nginx_server: NginxH2) -> None:
    # The server offers h2 by ALPN; http2=False must not take it.
    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True, http2=False)
        try:
            tls = await fetch_all(
                client, nginx_server.https("big.bin"), ca_certs=nginx_server.ca_file
            )
            plain = await client.fetch(nginx_server.http1("hello.txt"))
        finally:
            client.close()
        assert all(r.body == FILES["big.bin"] for r in tls)
        assert {r.version for r in tls} == {"HTTP/1.1"}
        assert (plain.body, plain.version) == (FILES["hello.txt"], "HTTP/1.1")

    run(test)
    assert {proto for _, proto, _, _ in nginx_server.log()} == {"HTTP/1.1"}


def test_nginx_default_is_libcurls_choice(nginx_server: NginxH2) -> None:
    # Without the keyword the client does what Tornado's curl client does:
    # it leaves the version to libcurl, which takes h2 where TLS offers it.
    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True)
        try:
            tls = await client.fetch(
                nginx_server.https("hello.txt"), ca_certs=nginx_server.ca_file
            )
            plain = await client.fetch(nginx_server.http1("hello.txt"))
        finally:
            client.close()
        assert (tls.body, tls.version) == (FILES["hello.txt"], "HTTP/2.0")
        assert (plain.body, plain.version) == (FILES["hello.txt"], "HTTP/1.1")

    run(test)


def test_nginx_http2_true_keeps_http_urls_on_http1(nginx_server: NginxH2) -> None:
    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True, http2=True)
        try:
            response = await client.fetch(nginx_server.http1("hello.txt"))
        finally:
            client.close()
        assert (response.body, response.version) == (FILES["hello.txt"], "HTTP/1.1")

    run(test)


def test_prior_knowledge_to_an_http1_server_fails_clearly(
    nginx_server: NginxH2,
) -> None:
    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True, http2="prior-knowledge")
        try:
            with pytest.raises(CurlError) as caught:
                await client.fetch(nginx_server.http1("hello.txt"))
        finally:
            client.close()
        assert caught.value.code == 599
        assert caught.value.response is not None
        assert caught.value.response.version is None
        assert "SETTINGS" in caught.value.message or "HTTP/2" in caught.value.message

    run(test)


# -- tornado_compat's own server


@pytest.fixture(scope="module")
def tls_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    trustme = pytest.importorskip("trustme")
    pytest.importorskip("h2")
    folder = tmp_path_factory.mktemp("peer-app")
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    app = AppProcess(APP, str(folder / "cert.pem"), str(folder / "key.pem"))
    yield app.port, str(folder / "ca.pem")
    app.stop()


@pytest.fixture(scope="module")
def plain_app() -> Iterator[int]:
    pytest.importorskip("h2")
    app = AppProcess(APP)
    yield app.port
    app.stop()


def check_multiplexed(responses: list[HTTPResponse], body: bytes) -> None:
    check_http2(responses, body, len(responses))
    assert {r.headers["X-Version"] for r in responses} == {"HTTP/2.0"}
    assert len({r.headers["X-Peer-Port"] for r in responses}) == 1


@pytest.mark.parametrize("mode", [True, "prior-knowledge"])
def test_own_server_tls(tls_app: tuple[int, str], mode: bool | str) -> None:
    port, ca_file = tls_app

    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True, http2=mode)
        try:
            base = f"https://localhost:{port}"
            responses = await fetch_all(client, base + "/big", ca_certs=ca_file)
            check_multiplexed(responses, BIG)
            posts = [
                client.fetch(
                    base + "/echo",
                    method="POST",
                    body=b"%d" % i * 5000,
                    ca_certs=ca_file,
                )
                for i in range(CONCURRENT)
            ]
            echoed = await asyncio.gather(*posts)
            assert [r.body for r in echoed] == [
                b"%d" % i * 5000 for i in range(CONCURRENT)
            ]
            assert {r.version for r in echoed} == {"HTTP/2.0"}
        finally:
            client.close()

    run(test)


def test_own_server_prior_knowledge(plain_app: int) -> None:
    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True, http2="prior-knowledge")
        try:
            url = f"http://127.0.0.1:{plain_app}/big"
            responses = await fetch_all(client, url)
            check_multiplexed(responses, BIG)
            later = await client.fetch(url)
            assert later.headers["X-Peer-Port"] == responses[0].headers["X-Peer-Port"]
        finally:
            client.close()

    run(test)


def test_own_server_without_http2(tls_app: tuple[int, str], plain_app: int) -> None:
    port, ca_file = tls_app

    async def test() -> None:
        client = CurlAsyncHTTPClient(force_instance=True, http2=False)
        try:
            tls = await client.fetch(f"https://localhost:{port}/big", ca_certs=ca_file)
            plain = await client.fetch(f"http://127.0.0.1:{plain_app}/big")
        finally:
            client.close()
        for response in (tls, plain):
            assert response.body == BIG
            assert response.version == "HTTP/1.1"
            assert response.headers["X-Version"] == "HTTP/1.1"

    run(test)


# -- the keyword


@pytest.mark.parametrize("value", [0, 1, "yes", "h2c", "prior_knowledge"])
def test_http2_keyword_is_checked(value: Any) -> None:
    async def test() -> None:
        with pytest.raises(ValueError, match="http2 must be None, False, True or"):
            CurlAsyncHTTPClient(force_instance=True, http2=value)

    run(test)


def test_configure_passes_http2() -> None:
    from tornado_compat.httpclient import AsyncHTTPClient

    async def test() -> None:
        AsyncHTTPClient.configure(CurlAsyncHTTPClient, http2="prior-knowledge")
        try:
            client = AsyncHTTPClient(force_instance=True)
            assert isinstance(client, CurlAsyncHTTPClient)
            assert client.http2 == "prior-knowledge"
            client.close()
        finally:
            AsyncHTTPClient.configure(None)

    run(test)


# -- HTTPResponse.version over HTTP/1.x


def test_version_of_an_http10_answer_and_of_no_answer() -> None:
    async def answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def test() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = CurlAsyncHTTPClient(force_instance=True)
        try:
            response = await client.fetch(f"http://127.0.0.1:{port}/")
            assert (response.body, response.version) == (b"ok", "HTTP/1.0")
            server.close()
            await server.wait_closed()
            with pytest.raises(CurlError) as caught:
                await client.fetch(f"http://127.0.0.1:{port}/")
            assert caught.value.response is not None
            assert caught.value.response.version is None
        finally:
            client.close()
            server.close()

    run(test)
