"""llhttp's response cases read by the clients, from a server that sends the
case's bytes.

For each response case of llhttp's strict mode, a scripted server reads the
client's requests, sends the case's bytes as they are and closes.  Both
clients built on the protocol core read them, by default and strict:

- the simple client (one fetch, redirects not followed, bodies not
  decoded) must return the first final response as llhttp parsed it (status
  from our own parse, reason, header fields, body; 1xx responses before it
  are skipped), or fail when there is none;
- the pipelining connection, sent one request per final response llhttp
  finished (and one more where llhttp refused or ran out of bytes), must
  return each of those responses as llhttp parsed it, then fail where
  llhttp refused (``InvalidResponse`` or ``UnsupportedResponse``) or ran out
  of bytes (``ConnectionClosed``).

What to expect of each case, and the differences from llhttp reviewed case
by case, come from ``tests/llhttp_cases.py``; the core's own test checks the
same expectations on the bytes alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tests.client.connection_helpers import connection
from tests.client.raw_servers import LoopThread, ScriptedServer, read_request
from tests.llhttp_cases import (
    RESPONSE_CASES,
    Case,
    Message,
    comparable,
    expected,
    parse,
)
from tests.support import run
from tornado_compat.httpclient import HTTPResponse
from tornado_compat.httpclient.connection import (
    ConnectionClosed,
    InvalidResponse,
    UnsupportedResponse,
)
from tornado_compat.httpclient.simple import SimpleAsyncHTTPClient
from tornado_compat.httputil import responses

TIMEOUT = 5.0
MODES = pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])
CASES = pytest.mark.parametrize("case", RESPONSE_CASES, ids=lambda c: c.id)


def canned(thread: LoopThread, data: bytes, requests: int) -> ScriptedServer:
    """A server that reads ``requests`` request heads, then sends ``data``
    and closes the connection."""

    async def script(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        for _ in range(requests):
            if await read_request(reader) is None:
                return
        writer.write(data)
        await writer.drain()

    return ScriptedServer(thread, script)


@pytest.fixture
def server_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    try:
        yield thread
    finally:
        thread.close()


def final_responses(case: Case, strict: bool) -> tuple[list[Message], str, bytes]:
    """The final (not 1xx) responses the clients must return, in order; what
    comes after them; and the bytes to send."""
    want = expected(case, strict)
    ours = parse(case, want.data, strict)
    # The core's test holds these equal; the codes come from our parse.
    assert [comparable(case, m) for m in ours.messages[: len(want.messages)]] == [
        comparable(case, m) for m in want.messages
    ]
    finals = [
        comparable(case, replace(m, code=ours.messages[i].code))
        for i, m in enumerate(want.messages)
        if not 100 <= ours.messages[i].code < 200
    ]
    return finals, want.end, want.data


def keeps_alive(message: Message) -> bool:
    connection = ",".join(v for n, v in message.fields if n.lower() == "connection")
    tokens = {t.strip().lower() for t in connection.split(",")}
    if message.version == "HTTP/1.1":
        return "close" not in tokens
    return "keep-alive" in tokens


@MODES
@CASES
def test_response_case_through_the_simple_client(
    server_thread: LoopThread, case: Case, strict: bool
) -> None:
    finals, _end, data = final_responses(case, strict)
    server = canned(server_thread, data, 1)

    async def fetch() -> HTTPResponse | Exception:
        client = SimpleAsyncHTTPClient(force_instance=True, strict=strict)
        try:
            return await client.fetch(
                server.url("/"),
                method="HEAD" if case.skip_body else "GET",
                follow_redirects=False,
                decompress_response=False,
                raise_error=False,
                request_timeout=TIMEOUT,
            )
        except Exception as e:
            return e
        finally:
            client.close()

    outcome = run(fetch, 2 * TIMEOUT)
    if not finals:
        assert isinstance(outcome, Exception), outcome
        assert "timeout" not in str(outcome).lower(), outcome
        return
    assert isinstance(outcome, HTTPResponse), outcome
    first = finals[0].as_seen_through_headers()
    if not first.reason:
        # HTTPResponse fills an empty reason in from the status, as
        # Tornado's does.
        first = replace(first, reason=responses.get(first.code, "Unknown"))
    got = Message(
        reason=outcome.reason,
        version=first.version,
        fields=tuple(outcome.headers.get_all()),
        body=outcome.body,
    )
    assert outcome.code == first.code
    assert comparable(case, got) == first
    assert not server.errors


@MODES
@CASES
def test_response_case_through_the_pipelining_connection(
    server_thread: LoopThread, case: Case, strict: bool
) -> None:
    finals, end, data = final_responses(case, strict)
    extra = end in ("refused", "incomplete")
    requests = max(1, len(finals) + extra)
    server = canned(server_thread, data, requests)
    method = "HEAD" if case.skip_body else "GET"
    with connection(server) as conn:
        conn.strict = strict
        for i in range(requests):
            conn.send_request(method, f"/{i}")
        for message in finals:
            response = conn.read_response()
            assert (response.status, response.reason) == (
                message.code,
                message.reason,
            )
            assert dict(response.headers.lower_items()) == joined(message)
            if end == "until-close" and message is finals[-1] and keeps_alive(message):
                # No length, and the server did not say it would close: where
                # the body ends cannot be known, so it is not read (dugong's
                # rule too).
                with pytest.raises(UnsupportedResponse):
                    conn.readall()
                return
            assert comparable(case, Message(body=conn.readall())).body == message.body
        if extra:
            failure = ConnectionClosed if end == "incomplete" else (
                InvalidResponse, UnsupportedResponse,
            )  # fmt: skip
            with pytest.raises(failure):
                conn.read_response()
                conn.readall()
    assert not server.errors


def joined(message: Message) -> dict[str, str]:
    """The fields as the pipelining connection's headers give them: repeated
    names joined with ", ", looked up by lowercase name."""
    fields: dict[str, str] = {}
    for name, value in message.fields:
        key = name.lower()
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return fields
