"""Tests for the common interface in tornado_compat.httpclient.

Every fetch here goes to :class:`CannedClient`, an ``AsyncHTTPClient``
implementation that answers from a table on the next loop turn, so these
tests need no sockets and no backend.  Each test that configures
``AsyncHTTPClient`` restores the previous configuration (``configured``
fixture), and every client a test makes is closed by the test.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import gc
import inspect
import logging
import pathlib
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from tornado.ioloop import IOLoop

from tests.support import run
from tornado_compat import httpclient
from tornado_compat.httpclient import (
    AsyncHTTPClient,
    HTTPClient,
    HTTPClientError,
    HTTPError,
    HTTPRequest,
    HTTPResponse,
    _RequestProxy,
)
from tornado_compat.httputil import HTTPHeaders, format_timestamp

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

#: How a canned answer is given: a status code and body, or an exception that
#: stands for "no response" (it becomes a 599 response carrying that error).
Answer = tuple[int, bytes] | BaseException


class CannedClient(AsyncHTTPClient):
    """An implementation that answers each URL from ``answers``.

    Unknown URLs get a 404.  Every request it receives is appended to
    ``seen`` (a list the test may share between instances), and ``closes``
    counts calls of :meth:`close`.
    """

    def initialize(  # type: ignore[override]
        self,
        answers: dict[str, Answer] | None = None,
        seen: list[Any] | None = None,
        defaults: dict[str, Any] | None = None,
        label: str = "",
    ) -> None:
        super().initialize(defaults=defaults)
        self.answers = answers or {}
        self.seen = [] if seen is None else seen
        self.label = label
        self.closes = 0

    def close(self) -> None:
        self.closes += 1
        super().close()

    def fetch_impl(self, request: HTTPRequest, callback: Any) -> None:
        self.seen.append(request)
        answer = self.answers.get(request.url, (404, b"not here"))
        if isinstance(answer, BaseException):
            response = HTTPResponse(request, 599, error=answer, request_time=0.0)
        else:
            code, body = answer
            response = HTTPResponse(
                request,
                code,
                headers=HTTPHeaders({"Content-Type": "text/plain"}),
                buffer=BytesIO(body),
                request_time=0.0,
                start_time=time.time(),
            )
        # Answer later, as a real implementation would.
        self.io_loop.add_callback(callback, response)


class OtherClient(CannedClient):
    """A second implementation, to tell configured classes apart."""


URL = "http://example.com/"
ANSWERS: dict[str, Answer] = {
    URL: (200, b"hello"),
    "http://example.com/created": (201, b""),
    "http://example.com/moved": (302, b""),
    "http://example.com/early": (101, b""),
    "http://example.com/gone": (410, b"gone"),
    "http://example.com/refused": ConnectionRefusedError("refused"),
    "http://example.com/timeout": HTTPClientError(599, "Timeout"),
}


@pytest.fixture
def configured() -> Iterator[None]:
    """Restores AsyncHTTPClient's configuration after the test."""
    saved = AsyncHTTPClient._save_configuration()
    try:
        yield
    finally:
        AsyncHTTPClient._restore_configuration(saved)


def fetch_on_new_loop(
    url: str | HTTPRequest, raise_error: bool = True, **kwargs: Any
) -> tuple[HTTPResponse, list[Any]]:
    """Fetch with a fresh CannedClient; returns the response and what it saw."""
    seen: list[Any] = []

    async def main() -> HTTPResponse:
        client = CannedClient(force_instance=True, answers=ANSWERS, seen=seen)
        try:
            return await client.fetch(url, raise_error=raise_error, **kwargs)
        finally:
            client.close()

    return run(main), seen


# -- HTTPRequest ------------------------------------------------------------------

# Tornado 6.6's parameters in order, then tornado_compat's one extension.
TORNADO_PARAMETERS = [
    "url",
    "method",
    "headers",
    "body",
    "auth_username",
    "auth_password",
    "auth_mode",
    "connect_timeout",
    "request_timeout",
    "if_modified_since",
    "follow_redirects",
    "max_redirects",
    "user_agent",
    "use_gzip",
    "network_interface",
    "streaming_callback",
    "header_callback",
    "prepare_curl_callback",
    "proxy_host",
    "proxy_port",
    "proxy_username",
    "proxy_password",
    "proxy_auth_mode",
    "allow_nonstandard_methods",
    "validate_cert",
    "ca_certs",
    "allow_ipv6",
    "client_key",
    "client_cert",
    "body_producer",
    "expect_100_continue",
    "decompress_response",
    "ssl_options",
]

# Options stored as given, under their own name.
PLAIN_OPTIONS = [
    name
    for name in TORNADO_PARAMETERS
    if name not in {"url", "method", "headers", "body", "if_modified_since", "use_gzip"}
]


def test_request_parameters_are_tornados_plus_unix_socket() -> None:
    parameters = list(inspect.signature(HTTPRequest).parameters)
    assert parameters == TORNADO_PARAMETERS + ["unix_socket"]


def test_request_defaults() -> None:
    before = time.time()
    request = HTTPRequest(URL)
    assert request.url == URL
    assert request.method == "GET"
    assert isinstance(request.headers, HTTPHeaders)
    assert len(request.headers) == 0
    assert request.body is None
    assert request.expect_100_continue is False
    for name in PLAIN_OPTIONS + ["unix_socket"]:
        if name != "expect_100_continue":
            assert getattr(request, name) is None, name
    assert before <= request.start_time <= time.time()
    assert not hasattr(request, "original_request")


@pytest.mark.parametrize("name", PLAIN_OPTIONS)
def test_request_keeps_each_option(name: str) -> None:
    value = object()
    request = HTTPRequest(URL, **{name: value})
    assert getattr(request, name) is value


def test_client_starting_defaults() -> None:
    assert HTTPRequest._DEFAULTS == {
        "connect_timeout": 20.0,
        "request_timeout": 20.0,
        "follow_redirects": True,
        "max_redirects": 5,
        "decompress_response": True,
        "proxy_password": "",
        "allow_nonstandard_methods": False,
        "validate_cert": True,
    }


def test_request_body_is_bytes() -> None:
    assert HTTPRequest(URL, body="caf\u00e9").body == b"caf\xc3\xa9"
    assert HTTPRequest(URL, body=b"\xff").body == b"\xff"
    request = HTTPRequest(URL, method="POST")
    request.body = "x"  # type: ignore[assignment]
    assert request.body == b"x"
    request.body = bytearray(b"y")  # type: ignore[assignment]
    assert request.body == b"y"
    request.body = memoryview(b"z")  # type: ignore[assignment]
    assert request.body == b"z"
    request.body = None  # type: ignore[assignment]
    assert request.body is None
    with pytest.raises(TypeError, match="body"):
        HTTPRequest(URL, body=5)  # type: ignore[arg-type]


def test_request_headers_as_given_and_reset() -> None:
    given = {"Foo": "bar"}
    request = HTTPRequest(URL, headers=given)
    assert request.headers == {"Foo": "bar"}
    request.headers = {"Baz": "qux"}  # type: ignore[assignment]
    assert request.headers == {"Baz": "qux"}
    request.headers = None  # type: ignore[assignment]
    assert isinstance(request.headers, HTTPHeaders)
    assert request.headers == {}


@pytest.mark.parametrize(
    "when",
    [
        datetime.datetime(2013, 1, 27, 18, 43, 20, tzinfo=datetime.timezone.utc),
        1359312200,
        1359312200.5,
    ],
)
def test_if_modified_since(when: Any) -> None:
    given = {"Foo": "bar"}
    request = HTTPRequest(URL, headers=given, if_modified_since=when)
    assert request.headers["If-Modified-Since"] == "Sun, 27 Jan 2013 18:43:20 GMT"
    assert request.headers["Foo"] == "bar"
    # The caller's dict is left as it was.
    assert given == {"Foo": "bar"}


def test_if_modified_since_the_epoch_is_sent() -> None:
    request = HTTPRequest(URL, if_modified_since=0)
    assert request.headers["If-Modified-Since"] == format_timestamp(0)


@pytest.mark.parametrize(
    ("use_gzip", "decompress_response", "expected"),
    [
        (None, None, None),
        (False, None, False),
        (True, None, True),
        (None, False, False),
        (True, False, False),
        (False, True, True),
    ],
)
def test_decompress_response_and_its_old_name(
    use_gzip: bool | None, decompress_response: bool | None, expected: bool | None
) -> None:
    request = HTTPRequest(
        URL, use_gzip=use_gzip, decompress_response=decompress_response
    )
    assert request.decompress_response is expected


def test_unix_socket_paths(tmp_path: pathlib.Path) -> None:
    assert HTTPRequest(URL, unix_socket="/run/app.sock").unix_socket == "/run/app.sock"
    path = tmp_path / "app.sock"
    assert HTTPRequest(URL, unix_socket=path).unix_socket == str(path)
    assert HTTPRequest(URL, unix_socket="\0abstract").unix_socket == "\0abstract"
    with pytest.raises(TypeError, match="unix_socket"):
        HTTPRequest(URL, unix_socket=b"/run/app.sock")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unix_socket"):
        HTTPRequest(URL, unix_socket="")


# -- _RequestProxy ------------------------------------------------------------------


def test_proxy_prefers_the_request_then_the_default() -> None:
    defaults = {"proxy_host": "default-proxy", "network_interface": "10.0.0.1"}
    request = HTTPRequest(URL, proxy_host="my-proxy", user_agent="agent")
    proxy = _RequestProxy(request, defaults)
    assert proxy.proxy_host == "my-proxy"
    assert proxy.network_interface == "10.0.0.1"
    assert proxy.user_agent == "agent"
    assert proxy.auth_username is None
    assert proxy.request is request
    assert proxy.defaults is defaults


def test_proxy_defaults_apply_only_to_none() -> None:
    proxy = _RequestProxy(
        HTTPRequest(URL, follow_redirects=False, max_redirects=0),
        HTTPRequest._DEFAULTS,
    )
    assert proxy.follow_redirects is False
    assert proxy.max_redirects == 0
    assert proxy.request_timeout == 20.0


def test_proxy_without_defaults() -> None:
    proxy = _RequestProxy(HTTPRequest(URL), None)
    assert proxy.auth_username is None
    assert proxy.method == "GET"


def test_proxy_unknown_attribute() -> None:
    proxy = _RequestProxy(HTTPRequest(URL), {"no_such_option": 1})
    with pytest.raises(AttributeError):
        proxy.no_such_option  # noqa: B018
    # What the simple client's redirect code relies on.
    assert getattr(proxy, "original_request", proxy) is proxy


def test_proxy_resolves_the_request_when_it_is_made() -> None:
    request = HTTPRequest(URL, method="POST", body="é", headers={"A": "b"})
    proxy = _RequestProxy(request, {"user_agent": "default-agent"})
    # As the class says: what fetch() saw is what the fetch uses, even for
    # an attribute first read after the request changed.
    request.user_agent = "changed later"
    request.method = "PUT"
    assert proxy.user_agent == "default-agent"
    assert proxy.method == "POST"
    assert proxy.body == "é".encode()
    assert proxy.headers is request.headers


def test_proxy_can_be_copied() -> None:
    proxy = _RequestProxy(HTTPRequest(URL), {"user_agent": "x"})
    duplicate = copy.copy(proxy)
    assert duplicate.request is proxy.request
    assert duplicate.user_agent == "x"


# -- HTTPResponse ------------------------------------------------------------------


def test_response_body_is_read_from_the_buffer_once() -> None:
    buffer = BytesIO(b"hello")
    response = HTTPResponse(HTTPRequest(URL), 200, buffer=buffer)
    assert response.body == b"hello"
    buffer.write(b" again")
    assert response.body == b"hello"
    assert response.buffer is buffer


def test_response_without_buffer_has_empty_body() -> None:
    response = HTTPResponse(HTTPRequest(URL), 204)
    assert response.buffer is None
    assert response.body == b""


def test_response_defaults() -> None:
    request = HTTPRequest(URL)
    response = HTTPResponse(request, 200)
    assert response.request is request
    assert response.code == 200
    assert response.reason == "OK"
    assert isinstance(response.headers, HTTPHeaders)
    assert response.effective_url == URL
    assert response.error is None
    assert response.request_time is None
    assert response.start_time is None
    assert response.time_info == {}


def test_response_fields_as_given() -> None:
    headers = HTTPHeaders({"X": "y"})
    response = HTTPResponse(
        HTTPRequest(URL),
        200,
        headers=headers,
        effective_url="http://example.com/final",
        request_time=0.25,
        time_info={"queue": 0.5},
        reason="Fine",
        start_time=12.0,
    )
    assert response.headers is headers
    assert response.effective_url == "http://example.com/final"
    assert response.request_time == 0.25
    assert response.time_info == {"queue": 0.5}
    assert response.reason == "Fine"
    assert response.start_time == 12.0


@pytest.mark.parametrize("code", [200, 204, 304, 404])
def test_a_response_read_by_a_client_is_the_one_the_constructor_makes(
    code: int,
) -> None:
    # Implementations make theirs with HTTPResponse._received, which skips
    # the constructor for a success: nothing must tell the two apart.
    request = HTTPRequest(URL)
    arguments: dict[str, Any] = {
        "headers": HTTPHeaders({"A": "b"}),
        "buffer": BytesIO(b"body"),
        "effective_url": URL + "x",
        "request_time": 0.5,
        "time_info": {"queue": 0.25},
        "reason": None,
        "start_time": 12.0,
        "version": "HTTP/1.1",
    }
    made = HTTPResponse(request, code, **arguments)
    received = HTTPResponse._received(request, code, **arguments)
    made_attributes, received_attributes = vars(made), vars(received)
    made_error, received_error = (
        made_attributes.pop("error"),
        received_attributes.pop("error"),
    )
    assert received_attributes == made_attributes
    assert list(received_attributes) == list(made_attributes)
    assert repr(received_error) == repr(made_error)
    assert received.body == b"body"


def test_response_unwraps_the_request_proxy() -> None:
    request = HTTPRequest(URL)
    response = HTTPResponse(_RequestProxy(request, {}), 200)
    assert response.request is request


@pytest.mark.parametrize("code", [200, 201, 204, 299])
def test_success_codes_are_not_errors(code: int) -> None:
    response = HTTPResponse(HTTPRequest(URL), code)
    assert response.error is None
    response.rethrow()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (101, "Switching Protocols"),
        (302, "Found"),
        (404, "Not Found"),
        (799, "Unknown"),
    ],
)
def test_other_codes_are_errors(code: int, reason: str) -> None:
    response = HTTPResponse(HTTPRequest(URL), code)
    assert response.reason == reason
    assert isinstance(response.error, HTTPClientError)
    assert response.error.code == code
    assert response.error.message == reason
    assert response.error.response is response
    with pytest.raises(HTTPClientError) as caught:
        response.rethrow()
    assert caught.value is response.error


def test_given_reason_names_the_error() -> None:
    response = HTTPResponse(HTTPRequest(URL), 404, reason="Nope")
    assert str(response.error) == "HTTP 404: Nope"


def test_given_error_is_kept() -> None:
    error = ConnectionResetError("reset")
    response = HTTPResponse(HTTPRequest(URL), 599, error=error)
    assert response.error is error
    with pytest.raises(ConnectionResetError):
        response.rethrow()
    # Even with a success code, the given error stands.
    assert HTTPResponse(HTTPRequest(URL), 200, error=error).error is error


def test_response_repr() -> None:
    response = HTTPResponse(HTTPRequest(URL), 200, buffer=BytesIO(b"x"))
    text = repr(response)
    assert text.startswith("HTTPResponse(")
    assert "code=200" in text
    assert "effective_url='http://example.com/'" in text
    assert str(response) == text
    assert "HTTP 404: Not Found" in repr(HTTPResponse(HTTPRequest(URL), 404))


# -- HTTPClientError ---------------------------------------------------------------


def test_error_alias() -> None:
    assert HTTPError is HTTPClientError


def test_error_text() -> None:
    error = HTTPClientError(403)
    assert error.code == 403
    assert error.message == "Forbidden"
    assert error.response is None
    assert str(error) == repr(error) == "HTTP 403: Forbidden"
    assert str(HTTPClientError(599)) == "HTTP 599: Unknown"
    assert str(HTTPClientError(599, "Timeout during request")) == (
        "HTTP 599: Timeout during request"
    )


def test_error_copy_and_pickle() -> None:
    error = HTTPClientError(404, "missing")
    for duplicate in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert duplicate is not error
        assert (duplicate.code, duplicate.message) == (404, "missing")
        assert duplicate.response is None


def test_error_subclass_with_its_own_message() -> None:
    # The shape of the simple client's timeout and stream-closed errors.
    class Timeout(HTTPClientError):
        def __init__(self, message: str) -> None:
            super().__init__(599, message=message)

        def __str__(self) -> str:
            return self.message or "Timeout"

    assert str(Timeout("Timeout while connecting")) == "Timeout while connecting"
    assert Timeout("x").code == 599


# -- AsyncHTTPClient: instances ------------------------------------------------------


def test_one_instance_per_loop_and_class() -> None:
    async def main() -> tuple[CannedClient, CannedClient]:
        first = CannedClient()
        assert CannedClient() is first
        assert first.io_loop is IOLoop.current()
        forced = CannedClient(force_instance=True)
        assert forced is not first
        assert CannedClient() is first
        # Each class called has a cache of its own.
        other = OtherClient()
        assert other is not first
        assert isinstance(other, OtherClient)
        forced.close()
        other.close()
        return first, CannedClient()

    first, again = run(main)
    assert again is first
    first.close()

    async def on_another_loop() -> CannedClient:
        client = CannedClient()
        client.close()
        return client

    assert run(on_another_loop) is not first


def test_instances_on_two_live_loops_differ() -> None:
    loop1, loop2 = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:

        async def make() -> CannedClient:
            return CannedClient()

        client1 = loop1.run_until_complete(make())
        client2 = loop2.run_until_complete(make())
        assert client1 is not client2
        assert loop1.run_until_complete(make()) is client1
        client1.close()
        client2.close()
    finally:
        loop1.close()
        loop2.close()


def test_cached_instance_keeps_its_first_arguments() -> None:
    async def main() -> None:
        client = CannedClient(label="first")
        try:
            assert CannedClient(label="second").label == "first"
            assert CannedClient(force_instance=True, label="third").label == "third"
        finally:
            client.close()

    run(main)


def test_close_leaves_the_cache() -> None:
    async def main() -> None:
        client = CannedClient()
        client.close()
        assert client.closes == 1
        client.close()  # a second close does nothing
        fresh = CannedClient()
        assert fresh is not client
        fresh.close()

    run(main)


def test_closing_a_forced_instance_leaves_the_cached_one() -> None:
    async def main() -> None:
        cached = CannedClient()
        forced = CannedClient(force_instance=True)
        forced.close()
        assert CannedClient() is cached
        cached.close()

    run(main)


def test_fetch_after_close_raises() -> None:
    async def main() -> None:
        client = CannedClient(force_instance=True)
        client.close()
        with pytest.raises(RuntimeError, match="closed"):
            client.fetch(URL)

    run(main)


# -- AsyncHTTPClient: configuration ---------------------------------------------------


@pytest.mark.usefixtures("configured")
def test_configure_chooses_the_class_and_its_arguments() -> None:
    AsyncHTTPClient.configure(CannedClient, label="configured")

    async def main() -> None:
        client = AsyncHTTPClient(force_instance=True)
        assert isinstance(client, CannedClient)
        assert client.label == "configured"
        client.close()
        client = AsyncHTTPClient(force_instance=True, label="mine")
        assert isinstance(client, CannedClient)
        assert client.label == "mine"
        client.close()
        # Calling an implementation directly ignores configure's arguments.
        direct = OtherClient(force_instance=True)
        assert direct.label == ""
        direct.close()

    run(main)


@pytest.mark.usefixtures("configured")
def test_configure_by_dotted_name() -> None:
    AsyncHTTPClient.configure(f"{__name__}.OtherClient")
    assert AsyncHTTPClient.configured_class() is OtherClient

    async def main() -> None:
        client = AsyncHTTPClient()
        assert type(client) is OtherClient
        assert AsyncHTTPClient() is client
        client.close()

    run(main)


@pytest.mark.usefixtures("configured")
def test_configure_refuses_other_classes() -> None:
    with pytest.raises(ValueError):
        AsyncHTTPClient.configure(HTTPRequest)  # type: ignore[arg-type]


def test_save_and_restore_configuration() -> None:
    saved = AsyncHTTPClient._save_configuration()
    try:
        AsyncHTTPClient.configure(CannedClient, label="a")
        inner = AsyncHTTPClient._save_configuration()
        AsyncHTTPClient.configure(OtherClient)
        assert AsyncHTTPClient.configured_class() is OtherClient
        AsyncHTTPClient._restore_configuration(inner)
        assert AsyncHTTPClient.configured_class() is CannedClient
    finally:
        AsyncHTTPClient._restore_configuration(saved)
    assert AsyncHTTPClient._save_configuration() == saved


def test_configurable_base() -> None:
    assert AsyncHTTPClient.configurable_base() is AsyncHTTPClient
    assert CannedClient.configurable_base() is AsyncHTTPClient


# -- AsyncHTTPClient: defaults ---------------------------------------------------------


def test_client_defaults_start_from_the_request_defaults() -> None:
    async def main() -> None:
        client = CannedClient(force_instance=True, defaults={"user_agent": "mine"})
        plain = CannedClient(force_instance=True)
        try:
            assert client.defaults == dict(HTTPRequest._DEFAULTS, user_agent="mine")
            assert plain.defaults == HTTPRequest._DEFAULTS
            assert plain.defaults is not HTTPRequest._DEFAULTS
        finally:
            client.close()
            plain.close()

    run(main)


@pytest.mark.usefixtures("configured")
def test_defaults_reach_the_implementation_through_the_proxy() -> None:
    seen: list[Any] = []
    AsyncHTTPClient.configure(
        CannedClient,
        seen=seen,
        answers=ANSWERS,
        defaults={"user_agent": "default-agent", "request_timeout": 5.0},
    )
    request = HTTPRequest(URL, request_timeout=1.0, follow_redirects=False)

    async def main() -> HTTPResponse:
        client = AsyncHTTPClient(force_instance=True)
        try:
            return await client.fetch(request)
        finally:
            client.close()

    response = run(main)
    (proxy,) = seen
    assert isinstance(proxy, _RequestProxy)
    assert proxy.request is request
    assert proxy.user_agent == "default-agent"
    assert proxy.request_timeout == 1.0
    assert proxy.connect_timeout == 20.0
    assert proxy.follow_redirects is False
    assert proxy.max_redirects == 5
    # The response names the caller's request, not the proxy.
    assert response.request is request


# -- AsyncHTTPClient.fetch ------------------------------------------------------------


def test_fetch_returns_the_response() -> None:
    response, seen = fetch_on_new_loop(URL)
    assert response.code == 200
    assert response.body == b"hello"
    assert response.request.url == URL


def test_fetch_builds_the_request_from_keyword_arguments() -> None:
    response, (proxy,) = fetch_on_new_loop(
        URL, method="POST", body="x", headers={"X-A": "b"}, user_agent="ua"
    )
    assert response.request is proxy.request
    assert proxy.method == "POST"
    assert proxy.body == b"x"
    assert proxy.user_agent == "ua"
    assert isinstance(proxy.headers, HTTPHeaders)
    assert proxy.headers["X-A"] == "b"


FETCH_OPTIONS: list[dict[str, Any]] = [
    {},
    {"request_timeout": 3.0},
    {"request_timeout": None, "expect_100_continue": None, "user_agent": "ua"},
    {"method": "PUT", "body": b"x", "decompress_response": False},
    {"headers": {"X-A": "b"}, "use_gzip": False, "follow_redirects": None},
]


@pytest.mark.parametrize("options", FETCH_OPTIONS)
def test_fetch_of_a_url_makes_the_request_and_proxy_the_constructors_make(
    options: dict[str, Any],
) -> None:
    # fetch(url, **options) makes its request without calling HTTPRequest()
    # where it can; what the implementation and the caller see must not
    # tell the two ways apart, before and after the defaults change.
    def attributes(obj: Any) -> dict[str, Any]:
        found = dict(vars(obj))
        found.pop("start_time")
        found["_headers"] = dict(found["_headers"])
        return found

    async def main() -> None:
        seen: list[Any] = []
        client = CannedClient(
            force_instance=True,
            seen=seen,
            answers=ANSWERS,
            defaults={"user_agent": "default-agent", "expect_100_continue": True},
        )
        try:
            for change in ({}, {"request_timeout": 7.0, "max_redirects": None}):
                client.defaults.update(change)
                response = await client.fetch(URL, **options)
                proxy = seen[-1]
                expected = HTTPRequest(URL, **options)
                if options.get("headers") is not None:
                    expected.headers = HTTPHeaders(expected.headers)
                assert attributes(response.request) == attributes(expected)
                assert type(response.request) is HTTPRequest
                assert proxy.request is response.request
                assert proxy.headers is response.request.headers
                assert attributes(proxy) == attributes(
                    _RequestProxy(expected, client.defaults)
                )
        finally:
            client.close()

    run(main)


def test_fetch_refuses_keyword_arguments_with_a_request() -> None:
    async def main() -> None:
        client = CannedClient(force_instance=True)
        try:
            with pytest.raises(ValueError, match="method"):
                client.fetch(HTTPRequest(URL), method="POST")
        finally:
            client.close()

    run(main)


def test_fetch_converts_the_request_headers() -> None:
    given = {"X-A": "b"}
    request = HTTPRequest(URL, headers=given)
    response, _ = fetch_on_new_loop(request)
    assert response.request is request
    assert isinstance(request.headers, HTTPHeaders)
    assert request.headers == {"X-A": "b"}
    assert given == {"X-A": "b"}


def test_a_response_request_can_be_fetched_again() -> None:
    response, _ = fetch_on_new_loop(URL)
    again, _ = fetch_on_new_loop(response.request)
    assert again.body == b"hello"


@pytest.mark.parametrize("path", ["", "created"])
def test_success_is_the_result_whatever_raise_error(path: str) -> None:
    for raise_error in (True, False):
        response, _ = fetch_on_new_loop(URL + path, raise_error=raise_error)
        assert response.error is None


@pytest.mark.parametrize(
    ("path", "code"), [("gone", 410), ("moved", 302), ("early", 101)]
)
def test_error_status_raises_by_default(path: str, code: int) -> None:
    with pytest.raises(HTTPClientError) as caught:
        fetch_on_new_loop(URL + path)
    assert caught.value.code == code
    assert caught.value.response is not None
    assert caught.value.response.code == code


def test_error_status_is_a_result_without_raise_error() -> None:
    response, _ = fetch_on_new_loop(URL + "gone", raise_error=False)
    assert response.code == 410
    assert response.body == b"gone"
    assert isinstance(response.error, HTTPClientError)


@pytest.mark.parametrize("raise_error", [True, False])
def test_errors_without_a_response_always_raise(raise_error: bool) -> None:
    with pytest.raises(ConnectionRefusedError):
        fetch_on_new_loop(URL + "refused", raise_error=raise_error)
    with pytest.raises(HTTPClientError) as caught:
        fetch_on_new_loop(URL + "timeout", raise_error=raise_error)
    assert caught.value.code == 599
    assert str(caught.value) == "HTTP 599: Timeout"


def test_fetch_impl_is_abstract() -> None:
    class Unfinished(AsyncHTTPClient):
        pass

    async def main() -> None:
        client = Unfinished(force_instance=True)
        try:
            with pytest.raises(NotImplementedError):
                client.fetch(URL)
        finally:
            client.close()

    run(main)


def test_cancelled_fetch_drops_its_response_quietly() -> None:
    async def main() -> None:
        client = CannedClient(force_instance=True, answers=ANSWERS)
        try:
            future = client.fetch(URL)
            assert future.cancel()
            # Let the answer arrive on the next loop turns.
            for _ in range(3):
                await asyncio.sleep(0)
        finally:
            client.close()

    run(main)


@pytest.mark.allow_error_logs
def test_error_after_cancel_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        client = CannedClient(force_instance=True, answers=ANSWERS)
        try:
            future = client.fetch(URL + "refused")
            assert future.cancel()
            for _ in range(3):
                await asyncio.sleep(0)
        finally:
            client.close()

    with caplog.at_level(logging.ERROR):
        run(main)
    assert "Exception after Future was cancelled" in caplog.text


# -- HTTPClient -------------------------------------------------------------------


def test_blocking_fetch() -> None:
    client = HTTPClient(CannedClient, answers=ANSWERS)
    try:
        response = client.fetch(URL)
        assert response.code == 200
        assert response.body == b"hello"
        with pytest.raises(HTTPClientError) as caught:
            client.fetch(URL + "gone")
        assert caught.value.code == 410
        assert client.fetch(URL + "gone", raise_error=False).code == 410
        with pytest.raises(ConnectionRefusedError):
            client.fetch(URL + "refused", raise_error=False)
    finally:
        client.close()


@pytest.mark.usefixtures("configured")
def test_blocking_client_uses_the_configured_class() -> None:
    AsyncHTTPClient.configure(OtherClient, answers=ANSWERS)
    client = HTTPClient()
    try:
        assert type(client._async_client) is OtherClient
        assert client.fetch(URL).body == b"hello"
    finally:
        client.close()


def test_blocking_client_runs_on_a_private_loop() -> None:
    client = HTTPClient(CannedClient, label="private")
    try:
        async_client = client._async_client
        assert isinstance(async_client, CannedClient)
        assert async_client.label == "private"
        assert async_client.io_loop is client._io_loop
        # The private loop never became this thread's loop.
        assert IOLoop.current(instance=False) is not client._io_loop
    finally:
        client.close()


def test_blocking_client_close() -> None:
    client = HTTPClient(CannedClient)
    async_client = client._async_client
    assert isinstance(async_client, CannedClient)
    client.close()
    client.close()
    assert async_client.closes == 1
    with pytest.raises(RuntimeError, match="closed"):
        client.fetch(URL)


def test_blocking_client_closes_when_collected() -> None:
    client = HTTPClient(CannedClient)
    async_client = client._async_client
    assert isinstance(async_client, CannedClient)
    del client
    gc.collect()
    assert async_client.closes == 1


def test_blocking_client_cannot_start_inside_a_running_loop() -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError):
            HTTPClient(CannedClient)

    run(main)
    # The failed client closed its loop; gc would warn about it otherwise.
    gc.collect()


def test_blocking_client_alive_at_exit_is_silent() -> None:
    # A client still open when the interpreter exits is closed by its
    # destructor during shutdown, which must not print anything.
    code = (
        "from tornado_compat.httpclient import AsyncHTTPClient, HTTPClient\n"
        "class Fake(AsyncHTTPClient):\n"
        "    def fetch_impl(self, request, callback):\n"
        "        raise AssertionError\n"
        "f = lambda: None\n"
        "c = HTTPClient(Fake)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout == b""


# -- main() and python -m ------------------------------------------------------------


@pytest.fixture
def cli(
    configured: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[list[Any], Any]]:
    """Runs main() against CannedClient; yields (requests seen, run function)."""
    seen: list[Any] = []
    answers = dict(ANSWERS)
    answers["http://example.com/binary"] = (200, b"\xff\xfe")
    AsyncHTTPClient.configure(CannedClient, answers=answers, seen=seen)

    def run_main(*args: str) -> None:
        # --logging=none: main() must not touch this process's logging.
        monkeypatch.setattr(sys, "argv", ["httpclient", "--logging=none", *args])
        httpclient.main()

    yield seen, run_main


def test_main_prints_the_body(
    cli: tuple[list[Any], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    seen, run_main = cli
    run_main(URL)
    assert capsys.readouterr().out == "hello\n"
    (proxy,) = seen
    assert proxy.follow_redirects is True
    assert proxy.validate_cert is True
    assert proxy.proxy_host is None
    assert proxy.proxy_port is None


def test_main_flags(
    cli: tuple[list[Any], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    seen, run_main = cli
    run_main(
        "--print_headers",
        "--print_body=false",
        "--follow_redirects=false",
        "--validate_cert=false",
        "--proxy_host=proxy.example",
        "--proxy_port=3128",
        URL,
        URL + "gone",
    )
    assert capsys.readouterr().out == "Content-Type: text/plain\n\n" * 2
    for proxy in seen:
        assert proxy.follow_redirects is False
        assert proxy.validate_cert is False
        assert proxy.proxy_host == "proxy.example"
        assert proxy.proxy_port == 3128


def test_main_prints_error_responses(
    cli: tuple[list[Any], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_main = cli
    run_main(URL + "gone")
    assert capsys.readouterr().out == "gone\n"


def test_main_raises_when_there_is_no_response(cli: tuple[list[Any], Any]) -> None:
    _, run_main = cli
    with pytest.raises(ConnectionRefusedError):
        run_main(URL + "refused")


def test_main_writes_binary_bodies_as_they_are(
    cli: tuple[list[Any], Any], capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    _, run_main = cli
    run_main(URL, "http://example.com/binary")
    assert capfdbinary.readouterr().out == b"hello\n\xff\xfe\n"


FLAGS = [
    "--print_headers=false",
    "--print_body=false",
    "--follow_redirects=false",
    "--validate_cert=false",
    "--proxy_host=proxy.example",
    "--proxy_port=3128",
]


def python_m(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tornado_compat.httpclient", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_python_m_runs_main() -> None:
    # Without URLs there is nothing to fetch, so no backend is needed.
    proc = python_m("--logging=none", *FLAGS)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    proc = python_m("--help")
    assert proc.returncode == 0, proc.stderr
    # tornado.options lists the flags with dashes; both spellings work.
    for flag in FLAGS:
        assert flag.partition("=")[0].replace("_", "-") in proc.stderr
    proc = python_m("--no_such_flag")
    assert proc.returncode != 0
    assert "no-such-flag" in proc.stderr


# -- what the package imports ----------------------------------------------------


def test_imports_no_replaced_tornado_module() -> None:
    code = (
        "import sys\n"
        "import tornado_compat.httpclient\n"
        "from tornado_compat.dropin import MODULE_MAP\n"
        "names = [r.tornado_name for r in MODULE_MAP]\n"
        "names += ['tornado.web', 'tornado.websocket', 'tornado.testing',\n"
        "          'tornado.routing', 'tornado.process']\n"
        "loaded = [name for name in names if name in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip() == ""
