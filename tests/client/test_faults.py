"""Bad input and faults: what each backend does when the other side misbehaves.

Every fault must end the fetch with an error whose message names the cause:
an :class:`HTTPClientError` (code 599, there being no usable response), or
one of the exception types a fetch documents for a failure below HTTP (an
``OSError`` such as ``ssl.SSLError`` or ``socket.gaierror``,
``httputil.HTTPInputError``, or ``UnsatisfiableReadError`` for a head over
the simple client's ``max_header_size``).  None may hang (every fetch has a
deadline), none may log an ERROR (``tests/conftest.py`` fails the test), the
client's loop must not be left watching a closed socket, and afterwards the
same client, limited to one request at a time so that a leaked slot shows,
must still fetch a good page.

Where the backends differ, the test says which does what: a flood of 1xx
responses is refused by the simple backend (more than ten) and sat through
by libcurl, which returns the final response.

The misbehaving servers are scripted routes of an
:class:`~tests.client.raw_servers.AppServer`, which also serves the good page:
a client that reused a connection it had misread would get garbage there.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from tests.client.conftest import Backend
from tests.client.raw_servers import (
    AppServer,
    Exchange,
    LoopThread,
    ScriptedServer,
    Signal,
    chunked,
    closed_but_watched,
    decodes,
    encode,
    reset,
    response_head,
)
from tests.support import run
from tornado_compat.httpclient import HTTPClientError, HTTPResponse
from tornado_compat.httpclient.simple import SimpleAsyncHTTPClient
from tornado_compat.httputil import HTTPInputError
from tornado_compat.iostream import UnsatisfiableReadError
from tornado_compat.netutil import Resolver

#: Every fault is over well before this; a fetch that reaches it has hung.
FETCH_TIMEOUT = 5.0


@pytest.fixture
def server(thread: LoopThread) -> Iterator[AppServer]:
    """Serves ``/ok`` (the good page) and whatever routes a test adds."""

    async def ok(ex: Exchange) -> None:
        await ex.body()
        ex.respond(200, b"fine")

    app = AppServer(thread, {"/ok": ok})
    yield app
    assert not app.errors, app.errors


def raw_route(server: AppServer, data: bytes, then: str = "keep") -> str:
    """Add a route that answers with ``data`` as it is, then keeps the
    connection open (``"keep"``), closes it (``"close"``) or resets it
    (``"reset"``).  Returns the route's URL."""

    async def answer(ex: Exchange) -> None:
        await ex.body()
        ex.writer.write(data)
        await ex.writer.drain()
        if then == "reset":
            reset(ex.writer)
        elif then == "close":
            ex.close = True

    server.route("/fault")(answer)
    return server.url("/fault")


def fail_then_recover(
    backend: Backend,
    url: str,
    good_url: str,
    client_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> BaseException:
    """Fetch ``url``, which must fail, then ``good_url`` with the same client;
    return the first fetch's exception."""

    async def main() -> BaseException:
        client = backend.client(max_clients=1, **(client_kwargs or {}))
        try:
            try:
                response = await client.fetch(
                    url, request_timeout=FETCH_TIMEOUT, **kwargs
                )
            except Exception as e:
                error: BaseException = e
            else:
                raise AssertionError(f"the fetch succeeded: {response!r}")
            stale = closed_but_watched(asyncio.get_running_loop())
            assert not stale, f"the loop still watches closed descriptors {stale}"
            good = await client.fetch(good_url, request_timeout=FETCH_TIMEOUT)
            assert good.body == b"fine"
            return error
        finally:
            client.close()

    return run(main, 3 * FETCH_TIMEOUT)


#: The exception types a failed fetch may raise besides HTTPClientError:
#: the simple backend raises socket and TLS errors as they are, and
#: UnsatisfiableReadError for a response head over max_header_size
#: (docs/client.md).
DOCUMENTED_ERRORS = (HTTPClientError, OSError, HTTPInputError, UnsatisfiableReadError)


def assert_names(error: BaseException, *words: str, timeout_ok: bool = False) -> None:
    """``error`` is a documented failure of a fetch, and its message has one
    of ``words`` (compared case-insensitively).  A timeout counts only with
    ``timeout_ok``: otherwise the client failed to notice the fault."""
    assert isinstance(error, DOCUMENTED_ERRORS), repr(error)
    if isinstance(error, HTTPClientError):
        assert error.code == 599, repr(error)
    text = str(error).lower()
    if timeout_ok and ("timeout" in text or "timed out" in text):
        return
    assert "timeout" not in text and "timed out" not in text, (
        f"the fault was not noticed, the request timed out: {error!r}"
    )
    assert any(word in text for word in words), f"{error!r} names none of {words}"


# -- the connection breaks ----------------------------------------------------


def test_reset_before_response(backend: Backend, server: AppServer) -> None:
    url = raw_route(server, b"", then="reset")
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(error, "reset", "closed", "empty reply")


@pytest.mark.parametrize(
    "backend",
    [
        "simple",
        "curl",
    ],
    indirect=True,
)
def test_reset_while_responding(backend: Backend, server: AppServer) -> None:
    """Part of the body, then a reset, both waiting for the client at once.

    The client's loop is held (on purpose, blocking) while the server sends
    them, so that the client finds the data and the reset together every
    time, rather than one or the other first depending on timing.
    """
    arrived = Signal()
    hold = Signal()
    sent = threading.Event()
    head = response_head(200, [("Content-Length", "100000")])

    @server.route("/fault")
    async def answer(ex: Exchange) -> None:
        arrived.set()
        await hold.wait()
        ex.writer.write(head + b"x" * 1000)
        await ex.writer.drain()
        reset(ex.writer)
        # Resumes after the transport has closed the socket: the reset is
        # on its way to the client by then.
        await ex.writer.wait_closed()
        sent.set()

    async def main() -> BaseException:
        client = backend.client(max_clients=1)
        try:
            fetching = asyncio.ensure_future(
                client.fetch(server.url("/fault"), request_timeout=FETCH_TIMEOUT)
            )
            await arrived.wait()
            hold.set()
            # Blocks the loop until the server is done.
            assert sent.wait(FETCH_TIMEOUT)
            with pytest.raises(Exception) as info:
                await fetching
            stale = closed_but_watched(asyncio.get_running_loop())
            assert not stale, f"the loop still watches closed descriptors {stale}"
            good = await client.fetch(server.url("/ok"), request_timeout=FETCH_TIMEOUT)
            assert good.body == b"fine"
            return info.value
        finally:
            client.close()

    error = run(main, 3 * FETCH_TIMEOUT)
    assert_names(error, "reset", "closed")


def test_close_mid_body(backend: Backend, server: AppServer) -> None:
    head = response_head(200, [("Content-Length", "1000")])
    url = raw_route(server, head + b"only ten b", then="close")
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(error, "closed", "remaining", "incomplete", "missing")


def test_truncated_chunked_body(backend: Backend, server: AppServer) -> None:
    head = response_head(200, [("Transfer-Encoding", "chunked")])
    url = raw_route(server, head + b"5\r\nhello\r\n", then="close")
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(error, "closed", "remaining", "incomplete")


# -- the response is malformed ------------------------------------------------


@pytest.mark.parametrize(
    "status_line",
    [b"HTTP/1.1 abc OK", b"SSH-2.0-OpenSSH_9.6", b"HTTP/1.1 20 OK", b"HTTP/9 200 OK"],
)
def test_invalid_status_line(
    backend: Backend, server: AppServer, status_line: bytes
) -> None:
    url = raw_route(
        server, status_line + b"\r\nContent-Length: 2\r\n\r\nhi", then="close"
    )
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(
        error,
        "status",
        "start line",
        "http/0.9",
        "http version",
        "response line",
        "unsupported http",
        "malformed",
        "weird",
    )


@pytest.mark.parametrize(
    ("backend", "shape"),
    [
        ("simple", "many headers"),
        ("simple", "one long header"),
        ("curl", "many headers"),
        ("curl", "one long header"),
    ],
    indirect=["backend"],
)
def test_header_block_too_large(
    backend: Backend, server: AppServer, shape: str
) -> None:
    if shape == "many headers":
        headers = [(f"X-Filler-{i}", "a" * 500) for i in range(2048)]
    else:
        headers = [("X-Huge", "a" * 2**20)]
    head = response_head(200, [*headers, ("Content-Length", "2")])
    url = raw_route(server, head + b"hi", then="close")
    error = fail_then_recover(backend, url, server.url("/ok"))
    # The simple backend says "head over 65536 bytes".
    assert_names(error, "header", "head over")


def test_flood_of_1xx_responses(backend: Backend, server: AppServer) -> None:
    """A thousand interim responses before the real one.

    The simple backend gives up after ten of them.  libcurl has no such
    limit: the curl backend must neither hang nor fail on them, and gets
    the final response.
    """
    flood = b"HTTP/1.1 102 Processing\r\n\r\n" * 1000
    final = response_head(200, [("Content-Length", "11")]) + b"after flood"
    url = raw_route(server, flood + final, then="close")
    if backend.name == "simple":
        error = fail_then_recover(backend, url, server.url("/ok"))
        assert_names(error, "1xx", "informational")
        return

    async def main() -> HTTPResponse:
        client = backend.client(max_clients=1)
        try:
            response = await client.fetch(url, request_timeout=FETCH_TIMEOUT)
            good = await client.fetch(server.url("/ok"))
            assert good.body == b"fine"
            return response
        finally:
            client.close()

    response = run(main, 3 * FETCH_TIMEOUT)
    assert response.code == 200
    assert response.body == b"after flood"


@pytest.mark.parametrize(
    "backend",
    [
        "simple",
        "curl",
    ],
    indirect=True,
)
@pytest.mark.parametrize(
    "framing",
    [
        [("Content-Length", "3"), ("Transfer-Encoding", "chunked")],
        [("Transfer-Encoding", "chunked"), ("Content-Length", "3")],
    ],
    ids=["cl-first", "te-first"],
)
def test_content_length_and_transfer_encoding(
    backend: Backend, server: AppServer, framing: list[tuple[str, str]]
) -> None:
    url = raw_route(server, response_head(200, framing) + chunked(b"hello world"))
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(error, "content-length", "transfer-encoding")


@pytest.mark.parametrize(
    "lengths",
    [[("Content-Length", "5"), ("Content-Length", "7")], [("Content-Length", "5, 7")]],
    ids=["two-lines", "one-line"],
)
def test_conflicting_content_lengths(
    backend: Backend, server: AppServer, lengths: list[tuple[str, str]]
) -> None:
    url = raw_route(server, response_head(200, lengths) + b"hello, ")
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(error, "content-length")


@pytest.mark.parametrize("value", ["-5", "abc", "5abc", "0x10"])
def test_invalid_content_length(
    backend: Backend, server: AppServer, value: str
) -> None:
    url = raw_route(server, response_head(200, [("Content-Length", value)]) + b"hello")
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(error, "content-length")


def test_content_length_of_thousands_of_digits(
    backend: Backend, server: AppServer
) -> None:
    # Counted before int(), which raises past 4300 digits.
    head = response_head(200, [("Content-Length", "9" * 5000)])
    url = raw_route(server, head + b"hello")
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(error, "content-length")
    assert len(str(error)) < 300


def test_redirect_to_a_port_of_thousands_of_digits(
    backend: Backend, server: AppServer
) -> None:
    location = "http://127.0.0.1:" + "9" * 5000 + "/"
    head = response_head(302, [("Location", location), ("Content-Length", "0")])
    url = raw_route(server, head)
    error = fail_then_recover(backend, url, server.url("/ok"))
    if isinstance(error, ValueError):
        # What the simple backend raises for a URL it cannot fetch (an
        # unsupported scheme, a bad port), as Tornado's does.
        assert backend.name == "simple"
        assert "port" in str(error)
    else:
        assert_names(error, "port")
    assert len(str(error)) < 300


def test_a_response_head_that_mixes_line_ends(
    backend: Backend, server: AppServer
) -> None:
    # A header after a bare LF in a CRLF head: refused by the simple backend
    # (a head is all CRLF or all bare LF); libcurl splits at either.
    head = b"HTTP/1.1 200 OK\r\nX-A: y\nContent-Length: 2\r\n\r\nhi"
    url = raw_route(server, head)
    if backend.name == "curl":

        async def main() -> bytes:
            client = backend.client()
            response = await client.fetch(url, request_timeout=FETCH_TIMEOUT)
            return response.body

        assert run(main, FETCH_TIMEOUT) == b"hi"
        return
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(error, "line ends")


@pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
def test_the_simple_client_in_strict_mode(server: AppServer, strict: bool) -> None:
    # A bare LF head is what Tornado's client reads; strict refuses it.
    url = raw_route(server, b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi")

    async def main() -> HTTPResponse | Exception:
        client = SimpleAsyncHTTPClient(force_instance=True, strict=strict)
        try:
            return await client.fetch(url, request_timeout=FETCH_TIMEOUT)
        except Exception as e:
            return e
        finally:
            client.close()

    outcome = run(main, 2 * FETCH_TIMEOUT)
    if strict:
        assert isinstance(outcome, Exception)
        assert_names(outcome, "bare lf")
    else:
        assert isinstance(outcome, HTTPResponse)
        assert outcome.body == b"hi"


@pytest.mark.parametrize("bad", [b"a\x00b", b"a\rb"], ids=["nul", "bare-cr"])
def test_forbidden_characters_in_a_header(
    backend: Backend, server: AppServer, bad: bytes
) -> None:
    head = b"HTTP/1.1 200 OK\r\nX-Bad: " + bad + b"\r\nContent-Length: 2\r\n\r\n"
    url = raw_route(server, head + b"hi")
    error = fail_then_recover(backend, url, server.url("/ok"))
    assert_names(error, "header", "nul", "character")


# -- name resolution and TLS -------------------------------------------------


def test_dns_failure(backend: Backend, server: AppServer) -> None:
    """The system's resolver, on a name that cannot exist (RFC 6761)."""
    error = fail_then_recover(
        backend,
        "http://no-such-host.invalid/",
        server.url("/ok"),
        connect_timeout=3,
    )
    # Where DNS does not answer at once, the connect_timeout ends it.
    assert_names(error, "resolve", "not known", "name", "nodename", timeout_ok=True)


class FailingResolver(Resolver):
    """A resolver that knows no name under .invalid, at once."""

    def initialize(self) -> None:
        self.asked: list[str] = []
        self.closed = False

    async def resolve(
        self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[tuple[int, Any]]:
        self.asked.append(host)
        if host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (test)")
        # IP literals are resolved too; they stand for themselves.
        return [(socket.AF_INET, (host, port))]

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("backend", ["simple"], indirect=True)
def test_dns_failure_with_a_resolver(backend: Backend, server: AppServer) -> None:
    resolver = FailingResolver()
    error = fail_then_recover(
        backend,
        "http://no-such-host.invalid/",
        # The good page goes through the same resolver (an IP literal).
        server.url("/ok"),
        client_kwargs={"resolver": resolver},
    )
    assert_names(error, "not known (test)")
    assert resolver.asked == ["no-such-host.invalid", "127.0.0.1"]
    # The client does not close a resolver it was given.
    assert not resolver.closed


def test_tls_to_a_plain_text_server(backend: Backend, thread: LoopThread) -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(response_head(400, [("Content-Length", "0")]))

    origin = ScriptedServer(thread, plain)
    error = fail_then_recover(
        backend, f"https://127.0.0.1:{origin.port}/", good_app(thread).url("/ok")
    )
    assert_names(error, "ssl", "tls", "wrong version", "record")


def good_app(thread: LoopThread) -> AppServer:
    async def ok(ex: Exchange) -> None:
        ex.respond(200, b"fine")

    return AppServer(thread, {"/ok": ok})


def test_tls_untrusted_certificate(
    backend: Backend, server: AppServer, thread: LoopThread
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    tls = AppServer(thread, ssl_context=context)
    error = fail_then_recover(backend, tls.url("/echo"), server.url("/ok"))
    assert_names(error, "certificate")
    assert tls.requests == []


# -- decompression bombs -----------------------------------------------------

#: What the bomb expands to, and the client's limit.
BOMB_SIZE = 32 * 2**20
MAX_BODY = 2**20


@pytest.fixture(scope="module")
def bombs() -> Callable[[str], bytes]:
    made: dict[str, bytes] = {}

    def bomb(coding: str) -> bytes:
        if coding not in made:
            made[coding] = encode(coding, bytes(BOMB_SIZE))
        return made[coding]

    return bomb


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_decompression_bomb(
    backend: Backend,
    server: AppServer,
    bombs: Callable[[str], bytes],
    coding: str,
) -> None:
    """32 MiB of zeros, compressed to a few KiB, for a client whose
    max_body_size is 1 MiB: refused, without ever holding the 32 MiB."""
    bomb = bombs(coding)
    assert len(bomb) < MAX_BODY
    head = response_head(
        200, [("Content-Encoding", coding), ("Content-Length", str(len(bomb)))]
    )
    url = raw_route(server, head + bomb)

    async def main() -> tuple[BaseException | HTTPResponse, int]:
        client = backend.client(max_clients=1, max_body_size=MAX_BODY)
        try:
            tracemalloc.start()
            try:
                outcome: BaseException | HTTPResponse = await client.fetch(
                    url, request_timeout=FETCH_TIMEOUT
                )
            except Exception as e:
                outcome = e
            finally:
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
            good = await client.fetch(server.url("/ok"), request_timeout=FETCH_TIMEOUT)
            assert good.body == b"fine"
            return outcome, peak
        finally:
            client.close()

    outcome, peak = run(main, 3 * FETCH_TIMEOUT)
    assert peak < BOMB_SIZE // 4, f"{peak} bytes allocated at the peak"
    if decodes(backend.name, coding):
        assert isinstance(outcome, BaseException), outcome
        assert_names(outcome, "too large", "max_body_size", "exceed")
    elif isinstance(outcome, BaseException):
        # libcurl refuses a coding it cannot decode.
        assert_names(outcome, "encoding")
    else:
        assert outcome.body == bomb
