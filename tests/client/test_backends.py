"""What every client backend must do, asserted as a user sees it.

Each test takes the ``backend`` fixture (``tests/client/conftest.py``), so it
runs once with ``SimpleAsyncHTTPClient`` and once with
``CurlAsyncHTTPClient``.  The servers are scripted ones from
:mod:`tests.client.raw_servers`, on a loop of their own in a thread: they do
not use tornado_compat, so what they record is what went over the wire.

Proxies, connection pooling and unix sockets have suites of their own
(``test_proxy.py``, ``test_pool.py``, ``test_unix.py``); bad input and faults
are in ``test_faults.py``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import gc
import gzip
import hashlib
import json
import ssl
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from tests.client.conftest import Backend
from tests.client.raw_servers import (
    CALL_TIMEOUT,
    PAYLOAD,
    AppServer,
    Exchange,
    LoopThread,
    ScriptedServer,
    Signal,
    StalledPort,
    accepted_codings,
    chunked,
    closed_but_watched,
    closed_port,
    decodes,
    read_request,
    response_head,
)
from tests.support import run
from tornado_compat.httpclient import (
    AsyncHTTPClient,
    HTTPClient,
    HTTPClientError,
    HTTPRequest,
    HTTPResponse,
)
from tornado_compat.httputil import HTTPHeaders

# -- fixtures and helpers ----------------------------------------------------


@pytest.fixture
def server(thread: LoopThread) -> Iterator[AppServer]:
    app = AppServer(thread)
    yield app
    assert not app.errors, app.errors


@pytest.fixture
def other_server(thread: LoopThread) -> Iterator[AppServer]:
    """A second server: another port, so another origin."""
    app = AppServer(thread)
    yield app
    assert not app.errors, app.errors


def fetch(
    backend: Backend,
    request: str | HTTPRequest,
    client_kwargs: dict[str, Any] | None = None,
    timeout: float = 20,
    **kwargs: Any,
) -> HTTPResponse:
    """One fetch with a fresh client of ``backend``, closed afterwards."""

    async def main() -> HTTPResponse:
        client = backend.client(**(client_kwargs or {}))
        try:
            return await client.fetch(request, **kwargs)
        finally:
            client.close()
            stale = closed_but_watched(asyncio.get_running_loop())
            assert not stale, f"the loop still watches closed descriptors {stale}"

    return run(main, timeout)


def echoed(response: HTTPResponse) -> dict[str, Any]:
    """The request as the ``/echo`` route described it."""
    return json.loads(response.body)


def values(description: dict[str, Any], name: str) -> list[str]:
    """The values of header ``name`` in an echo, split at commas."""
    found = []
    for n, v in description["headers"]:
        if n.lower() == name.lower():
            found += [part.strip() for part in v.split(",")]
    return found


# -- what a finished fetch leaves behind --------------------------------------


def test_a_finished_fetch_holds_on_to_nothing(
    backend: Backend, server: AppServer
) -> None:
    # A client that kept each fetch's timer (or anything else) until its
    # timeout fired would hold every request and response for that long:
    # memory growing with the request rate.
    async def main() -> list[weakref.ref[Any]]:
        client = backend.client()
        refs = []
        for _ in range(3):
            request = HTTPRequest(server.url("/echo"), request_timeout=600)
            response = await client.fetch(request)
            assert response.code == 200
            refs += [weakref.ref(request), weakref.ref(response)]
        del request, response
        # Let any completion callbacks scheduled by the last fetch run.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        gc.collect()
        return [ref for ref in refs if ref() is not None]

    assert run(main) == []


# -- methods and bodies ------------------------------------------------------


def test_get(backend: Backend, server: AppServer) -> None:
    response = fetch(backend, server.url("/echo?a=1&b=two"))
    assert response.code == 200
    seen = echoed(response)
    assert seen["method"] == "GET"
    assert seen["target"] == "/echo?a=1&b=two"
    assert values(seen, "Host") == [f"127.0.0.1:{server.port}"]
    assert seen["body"] == ""
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("POST", b"posted body"),
        ("PUT", b"put body"),
        ("PATCH", b"patch body"),
        ("DELETE", None),
        ("OPTIONS", None),
    ],
)
def test_methods(
    backend: Backend, server: AppServer, method: str, body: bytes | None
) -> None:
    response = fetch(backend, server.url("/echo"), method=method, body=body)
    seen = echoed(response)
    assert seen["method"] == method
    assert seen["body"] == (body or b"").decode()
    if body:
        assert values(seen, "Content-Length") == [str(len(body))]


def test_head_has_no_body_and_keeps_the_connection_usable(
    backend: Backend, server: AppServer
) -> None:
    @server.route("/sized")
    async def sized(ex: Exchange) -> None:
        ex.respond(200, b"x" * 1000)

    async def main() -> None:
        client = backend.client()
        try:
            head = await client.fetch(server.url("/sized"), method="HEAD")
            assert head.code == 200
            assert head.body == b""
            assert head.headers["Content-Length"] == "1000"
            # A client that waited for the announced 1000 bytes would hang or
            # take the next response for them.
            after = await client.fetch(server.url("/sized"))
            assert after.body == b"x" * 1000
        finally:
            client.close()

    run(main, 20)
    assert [r.method for r in server.requests] == ["HEAD", "GET"]


def test_custom_method_with_allow_nonstandard_methods(
    backend: Backend, server: AppServer
) -> None:
    response = fetch(
        backend, server.url("/echo"), method="PROPFIND", allow_nonstandard_methods=True
    )
    assert echoed(response)["method"] == "PROPFIND"


def test_custom_method_is_refused_by_default(
    backend: Backend, server: AppServer
) -> None:
    with pytest.raises((KeyError, ValueError), match="PROPFIND"):
        fetch(backend, server.url("/echo"), method="PROPFIND")
    assert server.requests == []


@pytest.mark.parametrize(
    ("method", "body"),
    [("POST", None), ("PUT", None), ("PATCH", None), ("GET", b"unexpected")],
)
def test_body_rules(
    backend: Backend, server: AppServer, method: str, body: bytes | None
) -> None:
    with pytest.raises(ValueError, match="(?i)body"):
        fetch(backend, server.url("/echo"), method=method, body=body)
    assert server.requests == []


def test_post_without_body_with_allow_nonstandard_methods(
    backend: Backend, server: AppServer
) -> None:
    response = fetch(
        backend, server.url("/echo"), method="POST", allow_nonstandard_methods=True
    )
    seen = echoed(response)
    assert seen["method"] == "POST"
    assert seen["body"] == ""


def test_str_body_is_sent_as_utf8(backend: Backend, server: AppServer) -> None:
    response = fetch(backend, server.url("/echo"), method="POST", body="café")
    assert echoed(response)["body"].encode("latin-1") == "café".encode()


# -- headers and response fields ----------------------------------------------


def test_headers_round_trip(backend: Backend, server: AppServer) -> None:
    @server.route("/headers")
    async def headers(ex: Exchange) -> None:
        ex.respond(
            200,
            b"ok",
            [
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
                ("X-Single", "only"),
                ("X-Spaced", "  padded value  "),
            ],
        )

    request_headers = HTTPHeaders()
    request_headers.add("X-Multi", "first")
    request_headers.add("X-Multi", "second")
    request_headers["X-Single"] = "one"
    response = fetch(backend, server.url("/headers"), headers=request_headers)

    sent = server.requests[0]
    multi = [p.strip() for v in sent.values("X-Multi") for p in v.split(",")]
    assert multi == ["first", "second"]
    assert sent.values("X-Single") == ["one"]
    assert response.headers.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert response.headers["X-Single"] == "only"
    assert response.headers["x-single"] == "only"
    assert response.headers["X-Spaced"] == "padded value"
    assert isinstance(response.headers, HTTPHeaders)


def test_plain_dict_headers(backend: Backend, server: AppServer) -> None:
    response = fetch(backend, server.url("/echo"), headers={"X-Dict": "yes"})
    assert values(echoed(response), "X-Dict") == ["yes"]


def test_response_fields(backend: Backend, server: AppServer) -> None:
    url = server.url("/status?code=200&reason=Very+Fine")
    before = time.time()
    response = fetch(backend, url)
    after = time.time()
    assert response.code == 200
    assert response.reason == "Very Fine"
    assert response.body == b"status 200"
    assert response.headers["Content-Length"] == "10"
    assert response.effective_url == url
    assert response.error is None
    assert response.rethrow() is None
    assert isinstance(response.request_time, float)
    assert 0 <= response.request_time <= after - before
    assert response.start_time is not None
    assert before <= response.start_time <= after
    assert response.request.url == url


def test_error_status_without_raise_error(backend: Backend, server: AppServer) -> None:
    response = fetch(backend, server.url("/nowhere"), raise_error=False)
    assert response.code == 404
    assert response.body == b"no such page"
    assert isinstance(response.error, HTTPClientError)
    assert response.error.code == 404
    with pytest.raises(HTTPClientError) as info:
        response.rethrow()
    assert info.value.code == 404


def test_error_status_raises(backend: Backend, server: AppServer) -> None:
    with pytest.raises(HTTPClientError) as info:
        fetch(backend, server.url("/nowhere"))
    assert info.value.code == 404
    assert str(info.value) == "HTTP 404: Not Found"
    assert info.value.response is not None
    assert info.value.response.body == b"no such page"


def test_user_agent(backend: Backend, server: AppServer) -> None:
    response = fetch(backend, server.url("/echo"), user_agent="TestAgent/1.0")
    assert values(echoed(response), "User-Agent") == ["TestAgent/1.0"]


def test_user_agent_from_client_defaults(backend: Backend, server: AppServer) -> None:
    response = fetch(
        backend,
        server.url("/echo"),
        client_kwargs={"defaults": {"user_agent": "DefaultAgent/2"}},
    )
    assert values(echoed(response), "User-Agent") == ["DefaultAgent/2"]


def test_if_modified_since(backend: Backend, server: AppServer) -> None:
    @server.route("/cached")
    async def cached(ex: Exchange) -> None:
        if ex.request.header("If-Modified-Since"):
            ex.respond(304)
        else:
            ex.respond(200, b"fresh")

    when = datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    response = fetch(
        backend, server.url("/cached"), if_modified_since=when, raise_error=False
    )
    assert server.requests[0].values("If-Modified-Since") == [
        "Thu, 02 Jan 2020 03:04:05 GMT"
    ]
    assert response.code == 304
    assert response.body == b""


# -- redirects -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "method", "keeps_body"),
    [
        (301, "POST", False),
        (302, "POST", False),
        (303, "POST", False),
        (303, "PUT", False),
        (307, "POST", True),
        (307, "PUT", True),
        (308, "POST", True),
    ],
)
def test_redirect_method_and_body(
    backend: Backend, server: AppServer, code: int, method: str, keeps_body: bool
) -> None:
    start = server.url(f"/redirect?code={code}&to=/echo")
    response = fetch(backend, start, method=method, body=b"the payload")
    assert response.code == 200
    assert response.effective_url == server.url("/echo")
    first, second = server.requests
    assert (first.method, first.body) == (method, b"the payload")
    if keeps_body:
        assert (second.method, second.body) == (method, b"the payload")
    else:
        assert (second.method, second.body) == ("GET", b"")
        assert second.header("Content-Length") in (None, "0")
        assert not second.chunked


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_get(backend: Backend, server: AppServer, code: int) -> None:
    response = fetch(backend, server.url(f"/redirect?code={code}&to=/echo?after=1"))
    assert response.code == 200
    assert response.effective_url == server.url("/echo?after=1")
    assert echoed(response)["method"] == "GET"


def test_redirect_not_followed(backend: Backend, server: AppServer) -> None:
    with pytest.raises(HTTPClientError) as info:
        fetch(backend, server.url("/redirect?to=/echo"), follow_redirects=False)
    assert info.value.code == 302
    assert info.value.response is not None
    assert info.value.response.headers["Location"] == "/echo"
    assert len(server.requests) == 1


def test_max_redirects_enough(backend: Backend, server: AppServer) -> None:
    response = fetch(backend, server.url("/chain?n=3"), max_redirects=3)
    assert response.body == b"end of chain"
    assert response.effective_url == server.url("/chain?n=0")


def test_max_redirects_exceeded(backend: Backend, server: AppServer) -> None:
    with pytest.raises(HTTPClientError) as info:
        fetch(backend, server.url("/chain?n=3"), max_redirects=2)
    assert_redirect_limit(info.value)
    # The first request and the two redirects allowed, no more.
    assert len(server.requests) == 3


def test_redirect_loop(backend: Backend, server: AppServer) -> None:
    with pytest.raises(HTTPClientError) as info:
        fetch(backend, server.url("/loop"))
    assert_redirect_limit(info.value)
    # max_redirects is 5 by default.
    assert len(server.requests) == 6


def assert_redirect_limit(error: HTTPClientError) -> None:
    """A fetch stopped by max_redirects: either the last redirect itself, or
    a 599 that says why."""
    if error.code == 599:
        assert "redirect" in str(error).lower()
    else:
        assert error.code == 302
        assert error.response is not None
        assert error.response.headers.get("Location")


CREDENTIALS: dict[str, dict[str, Any]] = {
    "headers": {"headers": {"Authorization": "Bearer secret", "Cookie": "sid=42"}},
    "auth": {
        "auth_username": "user",
        "auth_password": "pass",
        "headers": {"Cookie": "sid=42"},
    },
}


@pytest.mark.parametrize("given", sorted(CREDENTIALS))
def test_cross_origin_redirect_strips_credentials(
    backend: Backend, server: AppServer, other_server: AppServer, given: str
) -> None:
    kwargs = CREDENTIALS[given]
    headers = {**kwargs["headers"], "X-Harmless": "kept"}
    target = other_server.url("/echo")
    response = fetch(
        backend,
        server.url(f"/redirect?to={target}"),
        **{**kwargs, "headers": headers},
    )
    assert response.effective_url == target
    first = server.requests[0]
    assert first.header("Authorization") is not None
    assert first.header("Cookie") == "sid=42"
    (second,) = other_server.requests
    assert second.header("Authorization") is None
    assert second.header("Cookie") is None
    assert second.header("X-Harmless") == "kept"


@pytest.mark.parametrize("given", sorted(CREDENTIALS))
def test_same_origin_redirect_keeps_credentials(
    backend: Backend, server: AppServer, given: str
) -> None:
    kwargs = CREDENTIALS[given]
    fetch(backend, server.url("/redirect?to=/echo"), **kwargs)
    first, second = server.requests
    assert second.path == "/echo"
    assert first.header("Authorization") is not None
    assert second.header("Authorization") == first.header("Authorization")
    assert second.header("Cookie") == "sid=42"


# -- authentication --------------------------------------------------------------


@pytest.mark.parametrize("mode", [None, "basic"])
def test_basic_auth(backend: Backend, server: AppServer, mode: str | None) -> None:
    response = fetch(
        backend,
        server.url("/basic"),
        auth_username="user",
        auth_password="pass",
        auth_mode=mode,
    )
    assert response.body == b"welcome"
    expected = "Basic " + base64.b64encode(b"user:pass").decode()
    assert server.requests[-1].header("Authorization") == expected


def test_basic_auth_wrong_password(backend: Backend, server: AppServer) -> None:
    with pytest.raises(HTTPClientError) as info:
        fetch(backend, server.url("/basic"), auth_username="user", auth_password="no")
    assert info.value.code == 401


@pytest.mark.parametrize("backend", ["curl"], indirect=True)
def test_digest_auth(backend: Backend, server: AppServer) -> None:
    response = fetch(
        backend,
        server.url("/digest"),
        auth_username="user",
        auth_password="pass",
        auth_mode="digest",
    )
    assert response.body == b"digest welcome"
    challenge, answer = server.requests
    assert challenge.header("Authorization") is None
    assert (answer.header("Authorization") or "").startswith("Digest ")


# -- content codings -------------------------------------------------------------


def test_gzip_response_is_decoded(backend: Backend, server: AppServer) -> None:
    response = fetch(backend, server.url("/encoded?coding=gzip"))
    assert server.exchanges[0].notes["sent"] == "gzip"
    assert response.body == PAYLOAD


def test_advertised_codings_are_decoded(backend: Backend, server: AppServer) -> None:
    """Accept-Encoding lists only codings the backend then decodes."""
    fetch(backend, server.url("/echo"))
    advertised = accepted_codings(server.requests[0])
    assert "gzip" in advertised
    for coding in advertised:
        assert decodes(backend.name, coding), f"advertises {coding!r}"
        response = fetch(backend, server.url(f"/encoded?coding={coding}"))
        assert server.exchanges[-1].notes["sent"] == coding
        assert response.body == PAYLOAD, coding


@pytest.mark.parametrize("coding", ["br", "zstd"])
def test_br_and_zstd(backend: Backend, server: AppServer, coding: str) -> None:
    response = fetch(backend, server.url(f"/encoded?coding={coding}"))
    advertised = accepted_codings(server.requests[0])
    assert response.body == PAYLOAD
    if decodes(backend.name, coding):
        assert coding in advertised
        assert server.exchanges[0].notes["sent"] == coding
    else:
        # This libcurl cannot decode it, so it must not ask for it.
        assert coding not in advertised
        assert server.exchanges[0].notes["sent"] == "identity"


@pytest.mark.parametrize("option", ["decompress_response", "use_gzip"])
def test_decompress_response_false_keeps_the_body_encoded(
    backend: Backend, server: AppServer, option: str
) -> None:
    response = fetch(
        backend, server.url("/encoded?coding=gzip&force=1"), **{option: False}
    )
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.body == gzip.compress(PAYLOAD, mtime=0)
    assert "gzip" not in accepted_codings(server.requests[0])


# -- streaming --------------------------------------------------------------------


def test_streaming_callback(backend: Backend, thread: LoopThread) -> None:
    parts = [b"first ", b"second ", b"third " * 1000, b"last"]

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(response_head(200, [("Transfer-Encoding", "chunked")]))
        for part in parts:
            writer.write(chunked(part)[: -len(b"0\r\n\r\n")])
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    origin = ScriptedServer(thread, script)
    received: list[bytes] = []
    response = fetch(backend, origin.url("/"), streaming_callback=received.append)
    assert b"".join(received) == b"".join(parts)
    assert all(isinstance(chunk, bytes) for chunk in received)
    assert response.body == b""
    assert response.code == 200


#: The back-pressure test's body, and how much of it may be in flight (in the
#: kernel's socket buffers, measured at about 4 MiB here, and the client's
#: own) while the consumer is blocked.
STREAM_TOTAL = 48 * 2**20
STREAM_BOUND = 16 * 2**20
#: How long a drain() must block before the server counts as stalled.  A
#: client that keeps reading never lets it block that long; a machine that
#: pauses for this long can only make the test pass wrongly, never fail.
STALL_SECONDS = 0.5


@pytest.mark.parametrize("backend", ["simple"], indirect=True)
def test_streaming_callback_backpressure(backend: Backend, thread: LoopThread) -> None:
    """A coroutine streaming_callback that blocks stops the client reading:
    the server's writes stall long before the whole body is sent.

    Only the simple backend takes a coroutine here (see the next test).
    """
    block = hashlib.sha256(b"block").digest() * 2048  # 64 KiB
    stalled = Signal()
    release = Signal()
    sent_before_stall: list[int] = []

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(response_head(200, [("Content-Length", str(STREAM_TOTAL))]))
        sent = 0
        while sent < STREAM_TOTAL:
            writer.write(block)
            sent += len(block)
            try:
                await asyncio.wait_for(writer.drain(), STALL_SECONDS)
            except asyncio.TimeoutError:
                if not stalled.is_set():
                    sent_before_stall.append(sent)
                    stalled.set()
                await writer.drain()
        if not stalled.is_set():
            # Every byte went out while the consumer was blocked.
            sent_before_stall.append(sent)
            stalled.set()

    origin = ScriptedServer(thread, script)
    digest = hashlib.sha256()
    delivered: list[int] = []

    async def consume(chunk: bytes) -> None:
        delivered.append(len(chunk))
        digest.update(chunk)
        if len(delivered) == 1:
            await release.wait()

    async def main() -> HTTPResponse:
        client = backend.client()
        try:
            fetching = asyncio.ensure_future(
                client.fetch(origin.url("/"), streaming_callback=consume)
            )
            # A fetch that ends first (it failed, or the body was read
            # without waiting for the callback) ends the wait too.
            await asyncio.wait(
                [fetching, asyncio.ensure_future(stalled.wait())],
                return_when=asyncio.FIRST_COMPLETED,
            )
            assert not fetching.done(), fetching
            blocked_delivery = list(delivered)
            release.set()
            response = await fetching
        finally:
            client.close()
        assert len(blocked_delivery) == 1
        return response

    response = run(main, 30)
    assert sent_before_stall[0] < STREAM_BOUND, sent_before_stall
    assert sum(delivered) == STREAM_TOTAL
    expected = hashlib.sha256(block * (STREAM_TOTAL // len(block))).hexdigest()
    assert digest.hexdigest() == expected
    assert response.code == 200


@pytest.mark.parametrize("backend", ["curl"], indirect=True)
def test_async_streaming_callback_refused_by_curl(
    backend: Backend, server: AppServer
) -> None:
    """The curl backend cannot wait for a coroutine between chunks: it says
    so before sending anything, instead of dropping the coroutines."""

    async def consume(chunk: bytes) -> None:
        pass

    with pytest.raises(TypeError, match="async streaming_callback"):
        fetch(backend, server.url("/echo"), streaming_callback=consume)
    assert server.requests == []


def test_header_callback(backend: Backend, server: AppServer) -> None:
    lines: list[str] = []
    fetch(backend, server.url("/status?code=200"), header_callback=lines.append)
    assert lines[0].startswith("HTTP/1.1 200 ")
    assert lines[-1] == "\r\n"
    assert all(line.endswith("\r\n") for line in lines)
    assert "Content-Length: 10\r\n" in lines


def test_header_callback_after_redirects(backend: Backend, server: AppServer) -> None:
    lines: list[str] = []
    received: list[bytes] = []
    fetch(
        backend,
        server.url("/redirect?to=/chain?n=1"),
        header_callback=lines.append,
        streaming_callback=received.append,
    )
    status_lines = [line for line in lines if line.startswith("HTTP/")]
    assert status_lines == ["HTTP/1.1 200 OK\r\n"]
    assert lines[0] == "HTTP/1.1 200 OK\r\n"
    assert not any(line.lower().startswith("location:") for line in lines)
    assert b"".join(received) == b"end of chain"


# -- request bodies -----------------------------------------------------------------


def test_body_producer_sync(backend: Backend, server: AppServer) -> None:
    def producer(write: Callable[[bytes], Any]) -> Any:
        write(b"first part, ")
        return write(b"second part")

    response = fetch(
        backend, server.url("/echo"), method="POST", body_producer=producer
    )
    sent = server.requests[0]
    assert sent.chunked
    assert sent.header("Content-Length") is None
    assert sent.body == b"first part, second part"
    assert echoed(response)["body"] == "first part, second part"


def test_body_producer_async(backend: Backend, server: AppServer) -> None:
    async def producer(write: Callable[[bytes], Any]) -> None:
        for i in range(5):
            await write(b"piece %d;" % i)
            await asyncio.sleep(0)

    fetch(backend, server.url("/echo"), method="PUT", body_producer=producer)
    sent = server.requests[0]
    assert sent.method == "PUT"
    assert sent.chunked
    assert sent.body == b"piece 0;piece 1;piece 2;piece 3;piece 4;"


def test_body_producer_with_content_length(backend: Backend, server: AppServer) -> None:
    async def producer(write: Callable[[bytes], Any]) -> None:
        await write(b"hello ")
        await write(b"world")

    fetch(
        backend,
        server.url("/echo"),
        method="POST",
        headers={"Content-Length": "11"},
        body_producer=producer,
    )
    sent = server.requests[0]
    assert not sent.chunked
    assert sent.values("Content-Length") == ["11"]
    assert sent.body == b"hello world"


def test_expect_100_continue(backend: Backend, server: AppServer) -> None:
    body = b"b" * 10000
    response = fetch(
        backend, server.url("/echo"), method="POST", body=body, expect_100_continue=True
    )
    assert response.code == 200
    sent = server.requests[0]
    assert sent.header("Expect") == "100-continue"
    assert server.exchanges[0].continue_sent
    assert sent.body == body


def test_expect_100_continue_refused(backend: Backend, server: AppServer) -> None:
    """A final answer instead of 100 Continue: the body is never produced."""

    @server.route("/refuse")
    async def refuse(ex: Exchange) -> None:
        ex.respond(403, b"not you")

    produced: list[str] = []

    async def producer(write: Callable[[bytes], Any]) -> None:
        produced.append("called")
        await write(b"should not be sent")

    response = fetch(
        backend,
        server.url("/refuse"),
        method="POST",
        headers={"Content-Length": "18"},
        body_producer=producer,
        expect_100_continue=True,
        raise_error=False,
    )
    assert response.code == 403
    assert response.body == b"not you"
    assert produced == []
    assert server.requests[0].header("Expect") == "100-continue"


# -- timeouts and the queue -----------------------------------------------------------


def silent_server(thread: LoopThread) -> tuple[ScriptedServer, Signal]:
    """A server that reads a request and never answers; ``arrived`` is set
    when a request head has been read."""
    arrived = Signal()
    never = Signal()

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        arrived.set()
        await never.wait()

    return ScriptedServer(thread, script), arrived


def assert_timeout(error: BaseException) -> None:
    assert isinstance(error, HTTPClientError), repr(error)
    assert error.code == 599
    text = str(error).lower()
    assert "timeout" in text or "timed out" in text, str(error)


def test_request_timeout(backend: Backend, thread: LoopThread) -> None:
    # The request that times out goes out on a connection an answered fetch
    # opened: its deadline is spent waiting for the answer, not on a connect
    # that a busy machine may slow past it.
    arrived = Signal()
    never = Signal()

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        writer.write(response_head(200, [("Content-Length", "2")]) + b"ok")
        if await read_request(reader) is not None:
            arrived.set()
        await never.wait()

    origin = ScriptedServer(thread, script)

    async def main() -> None:
        client = backend.client()
        try:
            assert (await client.fetch(origin.url("/warm"))).body == b"ok"
            started = time.monotonic()
            with pytest.raises(HTTPClientError) as info:
                await client.fetch(origin.url("/"), request_timeout=0.3)
            assert_timeout(info.value)
            assert time.monotonic() - started < 10
            # The server's thread reads the request in its own time.
            await asyncio.wait_for(arrived.wait(), CALL_TIMEOUT)
        finally:
            client.close()
        stale = closed_but_watched(asyncio.get_running_loop())
        assert not stale, f"the loop still watches closed descriptors {stale}"

    run(main, 30)


def test_request_timeouts_come_due_in_any_order(
    backend: Backend, thread: LoopThread
) -> None:
    """Each fetch times out at its own deadline, whatever the deadlines of
    the fetches before it: a short timeout after a long one, and one after
    a fetch whose earlier deadline never came (it was answered)."""
    silent, _ = silent_server(thread)

    async def answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(reader) is not None:
            writer.write(response_head(200, [("Content-Length", "2")]) + b"ok")

    answering = ScriptedServer(thread, answer)
    release = Signal()

    async def answer_when_released(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(reader) is not None:
            await release.wait()
            writer.write(response_head(200, [("Content-Length", "4")]) + b"done")

    held = ScriptedServer(thread, answer_when_released)

    async def main() -> None:
        client = backend.client()
        long = asyncio.ensure_future(
            client.fetch(held.url("/long"), request_timeout=60)
        )
        try:
            started = time.monotonic()
            with pytest.raises(HTTPClientError) as info:
                await client.fetch(silent.url("/short"), request_timeout=0.3)
            assert_timeout(info.value)
            assert time.monotonic() - started < 10
            answered = await client.fetch(answering.url("/"), request_timeout=1.0)
            assert answered.body == b"ok"
            with pytest.raises(HTTPClientError) as info:
                await client.fetch(silent.url("/after"), request_timeout=2.0)
            assert_timeout(info.value)
            assert not long.done()
            release.set()
            assert (await long).body == b"done"
        finally:
            client.close()

    run(main, 30)


@pytest.fixture
def stalled_port() -> Iterator[StalledPort]:
    port = StalledPort()
    try:
        yield port
    finally:
        port.close()


def test_connect_timeout(backend: Backend, stalled_port: StalledPort) -> None:
    started = time.monotonic()
    with pytest.raises(HTTPClientError) as info:
        fetch(backend, stalled_port.url("/"), connect_timeout=0.3, request_timeout=20)
    assert_timeout(info.value)
    assert time.monotonic() - started < 10


def test_connection_refused(backend: Backend) -> None:
    with pytest.raises((HTTPClientError, ConnectionError)) as info:
        fetch(backend, f"http://127.0.0.1:{closed_port()}/")
    error = info.value
    if isinstance(error, HTTPClientError):
        assert error.code == 599
    text = str(error).lower()
    assert "refused" in text or "connect" in text, str(error)


def test_queue_timeout(backend: Backend, thread: LoopThread) -> None:
    """With max_clients=1 and the slot taken, a queued request times out
    after its request_timeout, counted from when it was queued."""
    release = Signal()
    arrived = Signal()

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while await read_request(reader) is not None:
            arrived.set()
            await release.wait()
            writer.write(response_head(200, [("Content-Length", "4")]) + b"done")

    origin = ScriptedServer(thread, script)

    async def main() -> None:
        client = backend.client(max_clients=1)
        try:
            first = asyncio.ensure_future(
                client.fetch(origin.url("/first"), request_timeout=20)
            )
            await arrived.wait()
            with pytest.raises(HTTPClientError) as info:
                await client.fetch(origin.url("/second"), request_timeout=0.2)
            assert info.value.code == 599
            assert "Timeout in request queue" in str(info.value)
            release.set()
            assert (await first).body == b"done"
            # The slot is free again.
            assert (await client.fetch(origin.url("/third"))).body == b"done"
        finally:
            client.close()

    run(main, 30)


# -- TLS ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def tls_server(thread: LoopThread, ca: trustme.CA) -> Iterator[AppServer]:
    app = AppServer(thread, ssl_context=server_context(ca))
    yield app
    assert not app.errors, app.errors


def test_tls_with_ca_certs(
    backend: Backend, tls_server: AppServer, ca_file: str
) -> None:
    response = fetch(backend, tls_server.url("/echo"), ca_certs=ca_file)
    assert tls_server.url("/echo").startswith("https://")
    assert response.code == 200
    assert echoed(response)["method"] == "GET"


def test_tls_untrusted_certificate(backend: Backend, tls_server: AppServer) -> None:
    with pytest.raises((HTTPClientError, ssl.SSLError)) as info:
        fetch(backend, tls_server.url("/echo"))
    assert "certificate" in str(info.value).lower(), str(info.value)
    assert tls_server.requests == []


def test_tls_without_validation(backend: Backend, tls_server: AppServer) -> None:
    response = fetch(backend, tls_server.url("/echo"), validate_cert=False)
    assert response.code == 200


def test_a_context_that_verifies_nothing_loads_no_ca_certificates() -> None:
    # Loading the system's CA store takes about 100 ms, which a first fetch
    # with a short request_timeout cannot spare (Tornado's HTTPS
    # test_request_timeout allows 0.1 s); without validation it is unused.
    from tornado_compat.httpclient.simple import _tls_settings

    _, build = _tls_settings(HTTPRequest("https://a.test/", validate_cert=False))
    context = build()
    assert context.verify_mode == ssl.CERT_NONE
    assert not context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.options & ssl.OP_NO_COMPRESSION


@pytest.fixture(scope="module")
def client_cert_files(
    ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("client-cert")
    cert = ca.issue_cert("client@example.test")
    cert_file = directory / "client.pem"
    key_file = directory / "client.key"
    cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key_file))
    return str(cert_file), str(key_file)


@pytest.fixture
def mtls_server(thread: LoopThread, ca: trustme.CA) -> Iterator[AppServer]:
    """An HTTPS server that requires a client certificate from ``ca``."""
    context = server_context(ca)
    context.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(context)

    async def who(ex: Exchange) -> None:
        peer = ex.writer.get_extra_info("peercert") or {}
        names = [v for rdn in peer.get("subjectAltName", ()) for v in rdn[1:]]
        ex.respond_json({"peer": names})

    app = AppServer(thread, {"/who": who}, ssl_context=context)
    yield app
    assert not app.errors, app.errors


def test_tls_client_certificate(
    backend: Backend,
    mtls_server: AppServer,
    ca_file: str,
    client_cert_files: tuple[str, str],
) -> None:
    cert_file, key_file = client_cert_files
    response = fetch(
        backend,
        mtls_server.url("/who"),
        ca_certs=ca_file,
        client_cert=cert_file,
        client_key=key_file,
    )
    assert json.loads(response.body) == {"peer": ["client@example.test"]}


def test_tls_client_certificate_missing(
    backend: Backend, mtls_server: AppServer, ca_file: str
) -> None:
    with pytest.raises((HTTPClientError, ssl.SSLError, ConnectionError)) as info:
        fetch(backend, mtls_server.url("/who"), ca_certs=ca_file)
    if isinstance(info.value, HTTPClientError):
        assert info.value.code == 599
    assert mtls_server.requests == []


# -- lifecycle and the blocking client ---------------------------------------


def test_fetch_after_close(backend: Backend, server: AppServer) -> None:
    async def main() -> None:
        client = backend.client()
        client.close()
        with pytest.raises(RuntimeError, match="closed"):
            await client.fetch(server.url("/echo"))

    run(main, 10)
    assert server.requests == []


def test_blocking_client_with_async_client_class(
    backend: Backend, server: AppServer
) -> None:
    client = HTTPClient(async_client_class=backend.cls)
    try:
        response = client.fetch(server.url("/echo"), method="POST", body=b"blocking")
        assert echoed(response)["body"] == "blocking"
        with pytest.raises(HTTPClientError) as info:
            client.fetch(server.url("/nowhere"))
        assert info.value.code == 404
        assert client.fetch(server.url("/nowhere"), raise_error=False).code == 404
    finally:
        client.close()
    with pytest.raises(RuntimeError):
        client.fetch(server.url("/echo"))


def test_blocking_client_with_configure(backend: Backend, server: AppServer) -> None:
    saved = AsyncHTTPClient._save_configuration()
    try:
        AsyncHTTPClient.configure(backend.cls)
        client = HTTPClient()
        try:
            assert type(client._async_client) is backend.cls
            response = client.fetch(server.url("/echo"))
            assert echoed(response)["method"] == "GET"
        finally:
            client.close()
    finally:
        AsyncHTTPClient._restore_configuration(saved)
