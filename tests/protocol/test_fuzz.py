"""Fuzzing the protocol core: any bytes, whole or split, read the same.

The property (issue 21): any bytes fed through the core as the connection
feeds them (:mod:`tests.protocol.driver`), whole or split at any points,
either give the same messages (start line, headers, body, and where each
message ends) or are refused with one of the documented errors; nothing else
escapes, and every step consumes input or waits for it (so nothing spins).
The inputs come from :mod:`tests.protocol.fuzzing`: valid request and
response streams built from the grammar (which must read as built),
near-valid ones that took a wrong turn, byte-level mutations of those,
strings of HTTP fragments, and plain random bytes.

Bugs the fuzzing found have a test each below (digit counts, chunk
extensions, mixed line ends, a head end that depended on how the bytes
arrived, a trailer that cost quadratic time), so that none comes back.
The step bound, the linear-time checks and the server-side run
(``tests/server/test_fuzz_server.py``) cover hangs; ``python -m
benchmarks.fuzz`` runs the same checks on a million inputs.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.protocol import assert_linear_time
from tests.protocol.driver import (
    CLOSED,
    DOCUMENTED_ERRORS,
    EOF,
    ERROR,
    INCOMPLETE,
    Message,
    Outcome,
    Spin,
    read_requests,
    read_responses,
    split_at,
)
from tests.protocol.fuzzing import (
    TCHARS,
    Case,
    Grammar,
    cut_points,
    mutate,
    pick_methods,
    token_soup,
)
from tornado_compat.protocol import framing
from tornado_compat.protocol.errors import RemoteProtocolError

# The same examples on every run (a failure is repeatable), and few enough
# that the whole file runs in seconds.
fuzz_settings = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
few_examples = settings(fuzz_settings, max_examples=100)


# The grammar draws from a seeded Random: Hypothesis picks the seed (a
# draw for each of the grammar's hundreds of choices would cost more than
# the reading).  A failure shows the case's bytes and where they were cut.
def inputs(
    make: Callable[[random.Random], Case], byte_by_byte: bool = False
) -> st.SearchStrategy[tuple[Case, list[int]]]:
    """Cases made by ``make``, each with where to split it."""

    def build(seed: int) -> tuple[Case, list[int]]:
        rng = random.Random(seed)
        case = make(rng)
        if byte_by_byte:
            return case, list(range(1, len(case.data)))
        return case, cut_points(rng, len(case.data))

    return st.integers(0, 2**64 - 1).map(build)


def fragments(rng: random.Random) -> Case:
    side = rng.choice(("request", "response"))
    return Case(side, token_soup(rng, max_parts=24), tuple(pick_methods(rng)))


def mutated(rng: random.Random) -> Case:
    original = Grammar(rng, flaw_rate=rng.choice((0.0, 0.03))).case()
    return Case(original.side, mutate(rng, original.data), original.methods)


def read(case: Case, pieces: list[bytes], build_request: bool = False) -> Outcome:
    if case.side == "request":
        return read_requests(pieces, build_request=build_request)
    return read_responses(pieces, methods=case.methods)


def check(
    case: Case, cuts: list[int], build_request: bool = False
) -> tuple[Outcome, Outcome]:
    """Read ``case`` whole and split at ``cuts``; both must end the same
    way, and only with a documented error (the driver raises anything else,
    and :class:`Spin` for a step that made no progress)."""
    whole = read(case, [case.data], build_request)
    split = read(case, split_at(case.data, cuts), build_request)
    for outcome in (whole, split):
        assert (outcome.end == ERROR) == isinstance(outcome.error, DOCUMENTED_ERRORS)
        if outcome.end == EOF:
            assert outcome.unread == 0
    assert split.verdict() == whole.verdict(), (case, cuts)
    return whole, split


def check_expected(case: Case, cuts: list[int], build_request: bool = False) -> None:
    """A valid case reads as the grammar built it, whole and split."""
    assert case.expected is not None
    for outcome in check(case, cuts, build_request):
        assert (tuple(outcome.messages), outcome.end) == case.expected, outcome.error


# -- the properties ---------------------------------------------------------------


@fuzz_settings
@given(st.binary(max_size=300), st.lists(st.integers(1, 400), max_size=8))
def test_random_bytes_as_requests(data: bytes, cuts: list[int]) -> None:
    check(Case("request", data), cuts, build_request=True)


@fuzz_settings
@given(st.binary(max_size=300), st.lists(st.integers(1, 400), max_size=8))
def test_random_bytes_as_responses(data: bytes, cuts: list[int]) -> None:
    check(Case("response", data, ("GET", "HEAD", "GET")), cuts)


@fuzz_settings
@given(inputs(fragments))
def test_fragments_of_http(given: tuple[Case, list[int]]) -> None:
    check(*given, build_request=True)


@fuzz_settings
@given(inputs(lambda rng: Grammar(rng).requests()))
def test_valid_requests_read_as_built(given: tuple[Case, list[int]]) -> None:
    check_expected(*given, build_request=True)


@fuzz_settings
@given(inputs(lambda rng: Grammar(rng).responses()))
def test_valid_responses_read_as_built(given: tuple[Case, list[int]]) -> None:
    check_expected(*given)


@fuzz_settings
@given(inputs(lambda rng: Grammar(rng, max_messages=3, max_body=40).case(), True))
def test_valid_streams_read_as_built_byte_by_byte(
    given: tuple[Case, list[int]],
) -> None:
    check_expected(*given, build_request=True)


@fuzz_settings
@given(inputs(lambda rng: Grammar(rng, flaw_rate=0.08).case()))
def test_near_valid_streams(given: tuple[Case, list[int]]) -> None:
    check(*given, build_request=True)


@fuzz_settings
@given(inputs(mutated))
def test_mutated_streams(given: tuple[Case, list[int]]) -> None:
    check(*given, build_request=True)


@few_examples
@given(inputs(lambda rng: Grammar(rng).case()), st.sampled_from([1, 7, 100]))
def test_small_body_pieces_change_nothing(
    given: tuple[Case, list[int]], piece: int
) -> None:
    # The connection hands a body over in chunk_size pieces; the reader
    # joins them, so the size must not change what is read.
    case, _ = given
    assert case.expected is not None
    if case.side == "request":
        outcome = read_requests([case.data], chunk_size=piece, build_request=True)
    else:
        outcome = read_responses([case.data], methods=case.methods, chunk_size=piece)
    assert (tuple(outcome.messages), outcome.end) == case.expected


# -- the driver itself can fail -------------------------------------------------


def test_driver_reports_a_loop_that_makes_no_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A decoder that neither consumes nor asks for more is a busy loop in
    # the connection (it would sleep(0) and try again forever).
    def stuck(
        self: framing.ChunkedDecoder, *args: object, **kwargs: object
    ) -> tuple[list[bytes], int]:
        self.wants_data = False
        return [], 0

    monkeypatch.setattr(framing.ChunkedDecoder, "decode", stuck)
    data = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    with pytest.raises(Spin):
        read_requests([data])


def test_driver_lets_an_undocumented_exception_escape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: object) -> framing.Framing:
        raise IndexError("broken")

    # What the driver calls itself: inside the core, a compiled build calls
    # its own functions directly, past any patch.
    monkeypatch.setattr(framing, "request_framing", broken)
    with pytest.raises(IndexError):
        read_requests([b"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"])


def test_driver_sees_where_messages_end() -> None:
    data = (
        b"\r\nPOST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"
        b"GET /b HTTP/1.0\r\n\r\n"
        b"GET /never-read HTTP/1.1\r\n\r\n"
    )
    outcome = read_requests([data], build_request=True)
    assert outcome.messages == [
        Message(
            ("POST", "/a", "HTTP/1.1"),
            (("Host", "h"), ("Transfer-Encoding", "chunked")),
            b"abc",
        ),
        Message(("GET", "/b", "HTTP/1.0"), ()),
    ]
    assert (outcome.end, outcome.unread) == (CLOSED, 28)


def test_driver_reads_interim_responses_and_a_body_until_close() -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        b"HTTP/1.1 200 \r\n\r\nto the end"
    )
    outcome = read_responses(split_at(data, range(1, len(data))))
    assert [m.start_line for m in outcome.messages] == [
        ("HTTP/1.1", 100, "Continue"),
        ("HTTP/1.1", 200, "OK"),
        ("HTTP/1.1", 200, ""),
    ]
    assert [m.body for m in outcome.messages] == [b"", b"ok", b"to the end"]
    assert outcome.end == CLOSED


# -- the grammar of chunk extensions and line ends (issue 21, items 4 and 5) -------

_OWS = r"[ \t]*"
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[\t !\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
# RFC 9112 section 7.1.1, with and without its optional whitespace (BWS).
CHUNK_EXT = re.compile(
    rf"(?:{_OWS};{_OWS}{_TOKEN}(?:{_OWS}={_OWS}(?:{_TOKEN}|{_QUOTED}))?)*".encode(
        "latin-1"
    )
)
CHUNK_EXT_NO_BWS = re.compile(
    rf"(?:;{_TOKEN}(?:=(?:{_TOKEN}|{_QUOTED}))?)*".encode("latin-1")
)
# No hex digits among the letters: "5a" would be a chunk size.
_EXT_ALPHABET = [b";", b"=", b'"', b"\\", b" ", b"\t", b"x", b"y", b"\x00", b"\x80"]


def every_string(alphabet: list[bytes], max_length: int) -> list[bytes]:
    return [
        b"".join(combo)
        for length in range(max_length + 1)
        for combo in itertools.product(alphabet, repeat=length)
    ]


def decode_chunk_line(ext: bytes) -> bytes | RemoteProtocolError | None:
    """The body of a chunked body whose first chunk line has the extensions
    ``ext``, the error, or None if the decoder waits for more."""
    data = b"5" + ext + b"\r\nhello\r\n0\r\n\r\n"
    decoder = framing.ChunkedDecoder()
    try:
        pieces, used = decoder.decode(data)
    except RemoteProtocolError as e:
        return e
    return b"".join(pieces) if decoder.done and used == len(data) else None


_tokens = st.binary(min_size=1, max_size=6).map(
    lambda raw: bytes(TCHARS[b % len(TCHARS)] for b in raw)
)
_QDTEXT = bytes([0x09, 0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F), 0x80, 0xFF])
_quoted = st.lists(
    st.one_of(
        st.sampled_from(list(_QDTEXT)).map(lambda c: bytes([c])),
        st.sampled_from([b'\\"', b"\\\\", b"\\a", b"\\ ", b"\\\xff"]),
    ),
    max_size=6,
).map(lambda parts: b'"' + b"".join(parts) + b'"')
# ;name, ;name=token or ;name="quoted", without optional whitespace.
grammar_extensions = st.lists(
    st.tuples(_tokens, st.one_of(st.just(b""), _tokens, _quoted)), max_size=3
).map(lambda exts: b"".join(b";" + n + (b"=" + v if v else b"") for n, v in exts))


@few_examples
@given(grammar_extensions)
def test_chunk_extensions_in_the_grammar_are_accepted(ext: bytes) -> None:
    assert CHUNK_EXT_NO_BWS.fullmatch(ext)
    assert decode_chunk_line(ext) == b"hello"


# The next two are exhaustive rather than Hypothesis properties: an
# expected failure inside Hypothesis makes its pytest plugin import libcst,
# whose DeprecationWarning the suite's warnings-as-errors turns into an
# internal error of the whole run.


def test_chunk_extensions_outside_the_grammar_are_refused() -> None:
    accepted = [
        ext
        for ext in every_string(_EXT_ALPHABET, 4)
        if not CHUNK_EXT.fullmatch(ext)
        and not isinstance(decode_chunk_line(ext), RemoteProtocolError)
    ]
    # 1,345 of them today, from b";" and b" " on.
    assert not accepted, (len(accepted), accepted[:10])


def test_heads_that_mix_line_ends_are_refused() -> None:
    lines = [b"GET / HTTP/1.1", b"Host: a", b"X: 1", b"Y: 2", b"Z: 3"]
    accepted = []
    for count in range(2, len(lines) + 1):
        head = lines[:count] + [b""]
        for ends in itertools.product([b"\r\n", b"\n"], repeat=len(head)):
            if len(set(ends)) == 2:
                data = b"".join(
                    line + end for line, end in zip(head, ends, strict=True)
                )
                if read_requests([data]).end != ERROR:
                    accepted.append(data)
    assert not accepted, (len(accepted), accepted[:5])


# -- what the fuzzing found ----------------------------------------------------------


@pytest.mark.parametrize(
    "value, ends",
    [
        (b"1" * 4301, {ERROR}),
        (b"1" * 4301 + b", " + b"1" * 4301, {ERROR}),
        # Five, with leading zeros: refused, or waiting for its body.
        (b"0" * 4300 + b"5", {ERROR, INCOMPLETE}),
    ],
    ids=["digits", "list", "leading-zeros"],
)
def test_content_length_of_4301_digits_is_refused(value: bytes, ends: set[str]) -> None:
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + value + b"\r\n\r\n"
    outcome = read_requests([data])  # ValueError today
    assert outcome.end in ends


def test_host_port_of_4301_digits_is_read_or_refused() -> None:
    data = b"GET / HTTP/1.1\r\nHost: a:" + b"1" * 4301 + b"\r\n\r\n"
    # ValueError today; refusing it and taking it are both fine.
    read_requests([data], build_request=True)


@pytest.mark.parametrize(
    "head_end", [b"\n\n\r\n", b"\r\n\n\r\n"], ids=["LF-head", "CRLF-head"]
)
def test_head_end_does_not_depend_on_how_bytes_arrive(head_end: bytes) -> None:
    eol = head_end[: head_end.index(b"\n") + 1]
    first = eol.join([b"POST /a HTTP/1.1", b"Host: a", b"Content-Length: 2"])
    data = first + head_end + b"GET /b HTTP/1.1" + eol + b"Host: a" + eol + eol
    cut = len(first) + head_end.index(b"\n\n") + 2
    whole = read_requests([data])
    split = read_requests([data[:cut], data[cut:]])
    # The head ends at the first empty line, LF LF, either way: POST /a
    # with body "\r\n", then GET /b (it once read "GE" and "T /b" whole).
    assert whole.verdict() == split.verdict()


def _feed_byte_by_byte(body: bytes) -> None:
    """Decode ``body`` as the connection does when it arrives a byte at a
    time: the buffer grows by one byte, decode() takes what it can."""
    decoder = framing.ChunkedDecoder()
    buf = bytearray()
    for byte in body:
        buf.append(byte)
        _, used = decoder.decode(buf, 0, max_chunks=64)
        del buf[:used]
    assert decoder.done


def _trailer_fed_byte_by_byte(lines: int) -> None:
    _feed_byte_by_byte(b"0\r\n" + b"a:b\r\n" * lines + b"\r\n")


def test_trailer_arriving_in_pieces_costs_linear_time() -> None:
    assert_linear_time(_trailer_fed_byte_by_byte, 50, 200, rounds=3, attempts=1)


def _head_fed_byte_by_byte(lines: int) -> None:
    data = b"GET / HTTP/1.1\r\n" + b"a:b\r\n" * lines + b"\r\n"
    outcome = read_requests([data[i : i + 1] for i in range(len(data))])
    assert outcome.end == EOF


def test_head_arriving_in_pieces_costs_linear_time() -> None:
    assert_linear_time(_head_fed_byte_by_byte, 100, 400, rounds=3)


def _chunks_fed_byte_by_byte(chunks: int) -> None:
    _feed_byte_by_byte(b"1;a=b\r\nx\r\n" * chunks + b"0\r\n\r\n")


def test_chunks_arriving_in_pieces_cost_linear_time() -> None:
    assert_linear_time(_chunks_fed_byte_by_byte, 100, 400, rounds=3)
