"""Fuzzed requests over real sockets, checked against the socket-free driver.

A bounded number of inputs from ``tests/protocol/fuzzing.py`` (valid
request streams, near-valid ones, byte-level mutations, strings of HTTP
fragments) go to a real ``HTTPServer`` on 127.0.0.1, each on a connection of
its own.  For each, :mod:`tests.protocol.driver` says what the connection
must do, and the server must do exactly that:

* every request the driver reads reaches the application as read (method,
  target, version, headers, body) and gets its 200;
* input refused with a documented error gets a 400 and a close (a head over
  the limit just a close); a request after which the connection ends gets
  its response and a close; input that stops inside a message gets a close
  once the client stops sending; input that stops between messages leaves
  the connection open, and a normal request on it is answered.

Nothing may hang (every socket read has a timeout, and reaching it fails),
and nothing may be logged at ERROR (``tests/conftest.py``).  After all of
them the server still answers a new connection.  ``python -m benchmarks.fuzz
--server`` does the same with many more inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.protocol.driver import CLOSED, EOF, ERROR, INCOMPLETE
from tests.server.client import RawConnection, request
from tests.server.conftest import Served
from tests.server.fuzzing import check_connection, empty_answer, request_cases, seen
from tests.server.support import RecordingApp

#: Inputs per event loop; each costs a connection.
INPUTS = 120


def test_fuzzed_requests_get_what_the_driver_says(
    serve: Callable[..., Served], connect: Callable[..., RawConnection]
) -> None:
    app = RecordingApp(empty_answer)
    served = serve(app)
    ends = []
    for case in request_cases(INPUTS):
        conn = connect(served.port, timeout=5)
        ends.append(check_connection(case, conn, app))
        conn.close()
    # The inputs reach every way a connection can end.
    assert set(ends) == {EOF, CLOSED, ERROR, INCOMPLETE}
    with connect(served.port) as conn:
        conn.send(request("GET", "/still-there"))
        assert conn.read_response().status == 200


def test_the_request_after_a_body_does_not_depend_on_segments(
    serve: Callable[..., Served], connect: Callable[..., RawConnection]
) -> None:
    # The same bytes, sent in one write and in two; Expect: 100-continue
    # makes the server read the head before the rest is sent.
    head = b"POST /a HTTP/1.1\nHost: a\nExpect: 100-continue\nContent-Length: 2\n\n"
    rest = b"\r\nGET /b HTTP/1.1\nHost: a\n\n"
    app = RecordingApp(empty_answer)
    served = serve(app)
    with connect(served.port) as conn:
        conn.send(head + rest)
        conn.read_response()
        conn.read_response()
    whole = [seen(r) for r in app.requests]
    with connect(served.port) as conn:
        conn.send(head)
        assert conn.read_response(skip_continue=False).status == 100
        conn.send(rest)
        conn.read_response()
        conn.read_response()
    split = [seen(r) for r in app.requests[len(whole) :]]
    # Both: POST /a with body b"\r\n", then GET /b (the whole write once
    # gave a body of b"GE", then "T /b").
    assert whole == split


@pytest.mark.parametrize(
    "data, answers",
    [
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "
            + b"1" * 4301
            + b"\r\n\r\n",
            {400},
        ),
        # Such a port may be refused or taken; it must not crash.
        (b"GET / HTTP/1.1\r\nHost: a:" + b"1" * 4301 + b"\r\n\r\n", {200, 400}),
    ],
    ids=["content-length", "host-port"],
)
def test_numbers_of_4301_digits_are_answered(
    serve: Callable[..., Served],
    connect: Callable[..., RawConnection],
    data: bytes,
    answers: set[int],
) -> None:
    served = serve()
    with connect(served.port) as conn:
        conn.send(data)
        # Once: an ERROR "Uncaught exception" traceback and a close.
        assert conn.read_response().status in answers
