"""Fuzzed request streams to a real server, checked against the driver.

What this module is for: what ``tests/server/test_fuzz_server.py`` and
``python -m benchmarks.fuzz --server`` share.  :func:`request_cases` makes
request streams (valid, near-valid, mutated, fragments) from a seed;
:func:`check_connection` sends one on a fresh connection and checks that the
server does what :mod:`tests.protocol.driver` says the connection must do
with those bytes, raising AssertionError (or the raw client's ClientError,
or a socket timeout) when it does not.

What it must never do: decide by itself what the bytes mean (the driver
does, with the core), or wait on anything but a socket read with a timeout.
"""

from __future__ import annotations

import random
import socket

from tests.protocol.driver import CLOSED, EOF, ERROR, INCOMPLETE, read_requests
from tests.protocol.fuzzing import (
    Case,
    Grammar,
    mutate,
    token_soup,
)
from tests.server.client import RawConnection, request
from tests.server.support import RecordingApp, respond
from tornado_compat import iostream
from tornado_compat.httputil import HTTPServerRequest


def request_case(rng: random.Random, huge_numbers: bool = False) -> Case:
    """A request stream: valid, near-valid, mutated, or fragments."""
    kind = rng.random()
    if kind < 0.35:
        return Grammar(rng).requests()
    if kind < 0.7:
        case = Grammar(rng, flaw_rate=0.08, huge_numbers=huge_numbers).requests()
        return Case("request", case.data, flaws=case.flaws, source="flawed")
    if kind < 0.9:
        original = Grammar(rng, flaw_rate=rng.choice((0.0, 0.03))).requests()
        return Case("request", mutate(rng, original.data), source="mutation")
    return Case("request", token_soup(rng), source="fragments")


def request_cases(count: int, seed: int = 21) -> list[Case]:
    """``count`` request streams."""
    rng = random.Random(seed)
    return [request_case(rng) for _ in range(count)]


def empty_answer(request: HTTPServerRequest) -> None:
    """The application: a 200 with an empty body, for every request."""
    respond(request, b"")


def seen(request: HTTPServerRequest) -> tuple[object, ...]:
    """What the application was given, in the driver's terms."""
    return (
        (request.method, request.uri, request.version),
        tuple(request.headers.get_all()),
        request.body,
    )


def check_connection(case: Case, conn: RawConnection, app: RecordingApp) -> str:
    """Send ``case`` on ``conn`` and check that the server does what the
    driver says; returns how the driver says reading ends.

    ``app`` is a :class:`RecordingApp` answering with :func:`empty_answer`.
    """
    served_before = app.calls
    outcome = read_requests([case.data], build_request=True)
    conn.send(case.data)
    for message in outcome.messages:
        response = conn.read_response(method=str(message.start_line[0]))
        assert response.status == 200, (case, response)
    got = [seen(r) for r in app.requests[served_before:]]
    assert got == [(m.start_line, m.headers, m.body) for m in outcome.messages], case
    if outcome.end == ERROR:
        if isinstance(outcome.error, iostream.UnsatisfiableReadError):
            assert conn.is_closed()
        else:
            response = conn.read_response()
            assert (response.status, response.body) == (400, b""), case
    elif outcome.end == CLOSED:
        assert conn.is_closed(), case
    elif outcome.end == INCOMPLETE:
        conn.sock.shutdown(socket.SHUT_WR)
        assert conn.is_closed(), case
    else:
        assert outcome.end == EOF
        conn.send(request("GET", "/after"))
        assert conn.read_response().status == 200, case
        assert app.requests[-1].uri == "/after"
    return outcome.end
