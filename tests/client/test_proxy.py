"""Fetching through a real HTTP proxy: tinyproxy, with both client backends.

http:// URLs go to the proxy as absolute-form requests, which the proxy
forwards to the origin (adding ``Via``); https:// URLs open a CONNECT tunnel
through which the client speaks TLS to the origin itself, so the origin's
certificate (issued by a trustme CA) is checked end to end.  Proxy
authentication is Basic: tinyproxy answers 407 when credentials are missing
and 401 when they are wrong, for plain requests and CONNECT alike.

Every tinyproxy here is started for the test (a few milliseconds) with the
configuration the test needs, CONNECT allowed only to the test's origin
port.  A missing tinyproxy fails these tests: see
:func:`tests.client.servers.find_tinyproxy`.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.client import servers
from tests.client.conftest import Backend
from tests.client.servers import (
    PROXY_VIA_NAME,
    TLS,
    TinyproxyFactory,
    closing_client,
    described,
    header_values,
    serve_http,
    tinyproxies,
)
from tests.support import run
from tornado_compat.httpclient import HTTPClientError

CREDENTIALS = ("user", "password")


@pytest.fixture
def proxies(tmp_path: Path) -> Iterator[TinyproxyFactory]:
    with tinyproxies(tmp_path) as factory:
        yield factory


@pytest.fixture
def tls(tmp_path: Path) -> TLS:
    return TLS(tmp_path)


def via_values(response: Any) -> list[str]:
    return header_values(described(response), "Via")


def assert_names_refusal(error: HTTPClientError, status: int) -> None:
    """The error says that the proxy refused the tunnel, and with what."""
    text = str(error)
    assert str(status) in text, text
    assert re.search(r"proxy|tunnel|CONNECT", text, re.IGNORECASE), text


# -- the fixture itself ----------------------------------------------------------


def test_missing_tinyproxy_fails_with_instructions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TINYPROXY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(servers, "TINYPROXY_PATHS", ())
    with pytest.raises(AssertionError, match="apt-get install -y tinyproxy"):
        TinyproxyFactory(tmp_path)


def test_proxies_stop_with_the_factory(tmp_path: Path) -> None:
    with tinyproxies(tmp_path) as factory:
        proxy = factory.start()
        assert proxy.process.poll() is None
    assert proxy.process.poll() is not None


# -- http:// through the proxy ---------------------------------------------------


def test_http_request_goes_through_the_proxy(
    backend: Backend, proxies: TinyproxyFactory
) -> None:
    proxy = proxies.start()

    async def main() -> None:
        async with serve_http() as origin, closing_client(backend) as client:
            url = origin.url("/path/to?x=1&y=two")
            direct = await client.fetch(url)
            assert via_values(direct) == []
            assert origin.log.accepted == 1

            response = await client.fetch(url, **proxy.options())
            seen = described(response)
            assert response.code == 200
            # The proxy forwarded it: it says so, and it opened a connection
            # of its own to the origin.
            assert any(PROXY_VIA_NAME in v for v in via_values(response)), seen
            assert origin.log.accepted == 2
            # The origin got the origin-form target and the URL's Host...
            assert seen["uri"] == "/path/to?x=1&y=two"
            assert seen["host"] == f"127.0.0.1:{origin.port}"
            # ...and the proxy got the absolute form from the client.
            assert f"GET {url} HTTP/1.1" in proxy.log()

    run(main)


def test_sequential_fetches_through_the_proxy(
    backend: Backend, proxies: TinyproxyFactory
) -> None:
    # tinyproxy ends every client connection after one exchange; the client
    # must notice each time and open the next one.
    proxy = proxies.start()

    async def main() -> None:
        async with serve_http() as origin, closing_client(backend) as client:
            for i in range(5):
                response = await client.fetch(origin.url(f"/n/{i}"), **proxy.options())
                assert described(response)["uri"] == f"/n/{i}"
            assert origin.log.accepted == 5
            assert proxy.log().count("Request (file descriptor") == 5

    run(main)


def test_http_post_body_through_the_proxy(
    backend: Backend, proxies: TinyproxyFactory
) -> None:
    proxy = proxies.start()
    body = b"name=value&other=" + b"x" * 100_000

    async def main() -> None:
        async with serve_http() as origin, closing_client(backend) as client:
            response = await client.fetch(
                origin.url("/form"), method="POST", body=body, **proxy.options()
            )
            seen = described(response)
            assert seen["method"] == "POST"
            assert seen["body"].encode("latin-1") == body
            assert any(PROXY_VIA_NAME in v for v in via_values(response))

    run(main)


def test_http_with_credentials(backend: Backend, proxies: TinyproxyFactory) -> None:
    proxy = proxies.start(credentials=CREDENTIALS)

    async def main() -> None:
        async with serve_http() as origin, closing_client(backend) as client:
            response = await client.fetch(origin.url("/secret"), **proxy.options())
            assert described(response)["uri"] == "/secret"
            assert any(PROXY_VIA_NAME in v for v in via_values(response))

    run(main)


def test_http_without_credentials_is_refused_with_407(
    backend: Backend, proxies: TinyproxyFactory
) -> None:
    proxy = proxies.start(credentials=CREDENTIALS)

    async def main() -> None:
        async with serve_http() as origin, closing_client(backend) as client:
            with pytest.raises(HTTPClientError) as caught:
                await client.fetch(origin.url("/secret"), **proxy.options(False))
            assert caught.value.code == 407
            response = caught.value.response
            assert response is not None
            assert response.headers["Proxy-Authenticate"].startswith("Basic")
            # Nothing reached the origin.
            assert origin.log.accepted == 0

            response = await client.fetch(
                origin.url("/secret"), raise_error=False, **proxy.options(False)
            )
            assert response.code == 407

    run(main)


def test_http_with_wrong_credentials_is_refused(
    backend: Backend, proxies: TinyproxyFactory
) -> None:
    proxy = proxies.start(credentials=CREDENTIALS)

    async def main() -> None:
        async with serve_http() as origin, closing_client(backend) as client:
            with pytest.raises(HTTPClientError) as caught:
                await client.fetch(
                    origin.url("/secret"),
                    proxy_host=proxy.host,
                    proxy_port=proxy.port,
                    proxy_username="user",
                    proxy_password="wrong",
                )
            # tinyproxy answers a wrong password with 401, a missing one
            # with 407.
            assert caught.value.code in (401, 407)
            assert origin.log.accepted == 0

    run(main)


# -- https:// through a CONNECT tunnel ------------------------------------------


def test_https_through_a_connect_tunnel(
    backend: Backend, proxies: TinyproxyFactory, tls: TLS
) -> None:
    async def main() -> None:
        async with serve_http(ssl_options=tls.server_context()) as origin:
            proxy = proxies.start(connect_ports=[origin.port or 0])
            async with closing_client(backend) as client:
                response = await client.fetch(
                    origin.url("/tunnelled?q=1"),
                    ca_certs=tls.ca_file,
                    validate_cert=True,
                    **proxy.options(),
                )
                seen = described(response)
                assert seen["uri"] == "/tunnelled?q=1"
                assert seen["protocol"] == "https"
                assert seen["host"] == f"127.0.0.1:{origin.port}"
                # The proxy only relayed bytes: it could not add a header.
                assert via_values(response) == []
                assert origin.log.accepted == 1
                assert f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1" in proxy.log()

    run(main)


def test_https_tunnel_is_reused(
    backend: Backend, proxies: TinyproxyFactory, tls: TLS
) -> None:
    # A tunnel is a connection to the origin like any other: kept alive, the
    # next fetch goes through it without a second CONNECT.
    async def main() -> None:
        async with serve_http(ssl_options=tls.server_context()) as origin:
            proxy = proxies.start(connect_ports=[origin.port or 0])
            async with closing_client(backend) as client:
                for i in range(3):
                    response = await client.fetch(
                        origin.url(f"/n/{i}"), ca_certs=tls.ca_file, **proxy.options()
                    )
                    assert described(response)["uri"] == f"/n/{i}"
                assert origin.log.accepted == 1
                assert proxy.log().count("CONNECT 127.0.0.1:") == 1

    run(main)


def test_https_tunnel_still_checks_the_origin_certificate(
    backend: Backend, proxies: TinyproxyFactory, tls: TLS, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    other_ca = TLS(tmp_path / "other")

    async def main() -> None:
        async with serve_http(ssl_options=tls.server_context()) as origin:
            proxy = proxies.start(connect_ports=[origin.port or 0])
            async with closing_client(backend) as client:
                # As in Tornado: the simple client raises the ssl.SSLError
                # itself, curl an HTTPClientError with code 599.
                with pytest.raises((HTTPClientError, ssl.SSLError)) as caught:
                    await client.fetch(
                        origin.url("/"),
                        ca_certs=other_ca.ca_file,
                        validate_cert=True,
                        **proxy.options(),
                    )
                if isinstance(caught.value, HTTPClientError):
                    assert caught.value.code == 599
                text = str(caught.value)
                assert re.search(r"certificate|SSL", text, re.IGNORECASE), text
                # The tunnel was opened; the origin refused nothing, the
                # client hung up after the handshake failed.
                assert f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1" in proxy.log()

    run(main)


def test_https_tunnel_with_credentials(
    backend: Backend, proxies: TinyproxyFactory, tls: TLS
) -> None:
    async def main() -> None:
        async with serve_http(ssl_options=tls.server_context()) as origin:
            proxy = proxies.start(
                connect_ports=[origin.port or 0], credentials=CREDENTIALS
            )
            async with closing_client(backend) as client:
                response = await client.fetch(
                    origin.url("/secret"), ca_certs=tls.ca_file, **proxy.options()
                )
                seen = described(response)
                assert seen["uri"] == "/secret"
                # The credentials were for the proxy, not for the origin.
                assert header_values(seen, "Proxy-Authorization") == []

    run(main)


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        (None, 407),
        # tinyproxy answers a wrong password with 401.
        (("user", "wrong"), 401),
    ],
    ids=["without-credentials", "wrong-credentials"],
)
def test_https_tunnel_without_valid_credentials_is_refused(
    backend: Backend,
    proxies: TinyproxyFactory,
    tls: TLS,
    credentials: tuple[str, str] | None,
    status: int,
) -> None:
    async def main() -> None:
        async with serve_http(ssl_options=tls.server_context()) as origin:
            proxy = proxies.start(
                connect_ports=[origin.port or 0], credentials=CREDENTIALS
            )
            options = proxy.options(with_credentials=False)
            if credentials is not None:
                options["proxy_username"], options["proxy_password"] = credentials
            async with closing_client(backend) as client:
                with pytest.raises(HTTPClientError) as caught:
                    await client.fetch(
                        origin.url("/secret"), ca_certs=tls.ca_file, **options
                    )
                assert_names_refusal(caught.value, status)
                assert origin.log.accepted == 0

    run(main)


def test_https_tunnel_to_a_forbidden_port_is_refused(
    backend: Backend, proxies: TinyproxyFactory, tls: TLS
) -> None:
    # No ConnectPort for the origin's port: tinyproxy answers CONNECT with 403.
    proxy = proxies.start(connect_ports=[])

    async def main() -> None:
        async with serve_http(ssl_options=tls.server_context()) as origin:
            async with closing_client(backend) as client:
                with pytest.raises(HTTPClientError) as caught:
                    await client.fetch(
                        origin.url("/"), ca_certs=tls.ca_file, **proxy.options()
                    )
                assert_names_refusal(caught.value, 403)
                assert origin.log.accepted == 0
        assert "Refused CONNECT method on port" in proxy.log()

    run(main)
