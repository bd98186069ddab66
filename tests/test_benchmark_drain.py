"""How ``python -m benchmarks.drain`` judges what a client got and what a server
logged: a cut request must never count as completed, nor an INFO line as an
error (the measurement itself needs whole server processes and is not run
here)."""

from __future__ import annotations

import pytest

from benchmarks import drain

PLAN = drain.Plan(requests=4, slow_seconds=3, parts=3, interval=0.5)
SLOW_BODY = b"slow done\n"
STREAM_BODY = b"part 1 of 3\npart 2 of 3\npart 3 of 3\n"


def chunked(*parts: bytes, last: bool = True) -> bytes:
    data = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts)
    return data + (b"0\r\n\r\n" if last else b"")


HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
HEAD_LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"


def test_the_plan_alternates_slow_and_streaming_requests() -> None:
    assert PLAN.paths() == [
        ("/slow?seconds=3", SLOW_BODY),
        ("/stream?parts=3&interval=0.5", STREAM_BODY),
        ("/slow?seconds=3", SLOW_BODY),
        ("/stream?parts=3&interval=0.5", STREAM_BODY),
    ]


@pytest.mark.parametrize(
    ("data", "expected", "reset", "outcome"),
    [
        (HEAD_LENGTH + SLOW_BODY, SLOW_BODY, False, "complete"),
        (
            HEAD_CHUNKED + chunked(b"part 1 of 3\n", b"part 2 of 3\npart 3 of 3\n"),
            STREAM_BODY,
            False,
            "complete",
        ),
        (b"", SLOW_BODY, False, "empty reply"),
        (b"", SLOW_BODY, True, "reset, nothing received"),
        (b"HTTP/1.1 200 OK\r\nContent-", SLOW_BODY, False, "truncated head"),
        (HEAD_LENGTH + b"slow", SLOW_BODY, False, "truncated body"),
        (
            HEAD_CHUNKED + chunked(b"part 1 of 3\n", last=False),
            STREAM_BODY,
            False,
            "truncated body",
        ),
        (
            HEAD_CHUNKED + chunked(b"part 1 of 3\n", last=False),
            STREAM_BODY,
            True,
            "reset",
        ),
        # Tornado's handler, cancelled mid-stream, ends the chunked body
        # properly: whole by its framing, yet short.
        (
            HEAD_CHUNKED + chunked(b"part 1 of 3\n"),
            STREAM_BODY,
            False,
            "ended early",
        ),
        (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nbad",
            SLOW_BODY,
            False,
            "status 500",
        ),
        (b"SSH-2.0-OpenSSH\r\n\r\n", SLOW_BODY, False, "not HTTP"),
    ],
)
def test_classify(data: bytes, expected: bytes, reset: bool, outcome: str) -> None:
    assert drain.classify(data, expected, reset) == outcome


def test_a_chunked_body_split_inside_a_chunk_is_not_complete() -> None:
    data = HEAD_CHUNKED + chunked(b"part 1 of 3\n")
    for end in range(len(HEAD_CHUNKED), len(data)):
        parsed = drain.parse_response(data[:end])
        assert not parsed.complete, end
        assert STREAM_BODY.startswith(parsed.body)
    assert drain.parse_response(data).complete


def test_result_counts_every_outcome_but_complete_as_cut() -> None:
    result = drain.Result()
    result.outcomes.update(["complete", "complete", "empty reply", "ended early"])
    result.exit_status = drain.exit_status(-15)
    result.errors = ["[E 1] 500 GET /slow"]
    assert result.metrics() == {
        "cut": 2,
        "completed": 2,
        "exit status": 143,
        "exit time (s)": 0.0,
        "error lines": 1,
    }
    assert drain.exit_status(0) == 0
    assert drain.exit_status(1) == 1


def test_error_lines_are_errors_and_500s_only() -> None:
    log = "\n".join(
        [
            "serving /x/drain_app.py:app on http://127.0.0.1:8000/",
            "[I 261206 08:30:19 web:2591] 200 GET /slow?seconds=3 (127.0.0.1) 500.12ms",
            "[W 261206 08:30:19 web:2591] 404 GET /nope (127.0.0.1) 0.50ms",
            "[E 261206 08:30:19 web:2591] 500 GET /slow?seconds=3 (127.0.0.1) 7.30ms",
            "[E 261206 08:30:19 web:1355] Cannot send error response after headers",
            'INFO:     127.0.0.1:5000 - "GET /slow?seconds=3 HTTP/1.1" 200 OK',
            'INFO:     127.0.0.1:5000 - "GET /slow HTTP/1.1" 500 Internal Server Error',
            "ERROR:    Exception in ASGI application",
            "Traceback (most recent call last):",
            "INFO:     Finished server process [123]",
        ]
    )
    assert drain.error_lines(log) == [
        "[E 261206 08:30:19 web:2591] 500 GET /slow?seconds=3 (127.0.0.1) 7.30ms",
        "[E 261206 08:30:19 web:1355] Cannot send error response after headers",
        'INFO:     127.0.0.1:5000 - "GET /slow HTTP/1.1" 500 Internal Server Error',
        "ERROR:    Exception in ASGI application",
        "Traceback (most recent call last):",
    ]


def test_server_commands() -> None:
    tornado = drain.server_argv("tornado", 8000, 10)
    assert tornado[1:] == [str(drain.APPS / "drain_app.py"), "--port", "8000"]
    uvicorn = drain.server_argv("uvicorn", 8000, 7.5)
    assert uvicorn[uvicorn.index("--timeout-graceful-shutdown") + 1] == "7.5"
    compat = drain.server_argv("compat", 8000, 10)
    assert compat[1:5] == [
        "-m",
        "tornado_compat",
        "serve",
        f"{drain.APPS}/drain_app.py:app",
    ]
    # The option is passed exactly when this checkout's serve has it.
    assert ("--graceful-timeout" in compat) == drain.serve_has_graceful_timeout()
