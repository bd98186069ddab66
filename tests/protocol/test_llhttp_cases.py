"""llhttp's request and response cases through the protocol core.

Every case of llhttp's strict mode (``"type": "request"`` or ``"response"``)
is parsed with the core as the server and the clients parse a stream of
messages (``tests/llhttp_cases.py``), by default and with ``strict``, and
must give what llhttp gives: the same messages (method, target, version,
reason, header fields, body), then the same end (used up, waiting for more,
closed after ``Connection: close``, or refused).  Where we decide otherwise
on purpose, the case is in the reviewed lists of ``tests/llhttp_cases.py``
with its reason, and the tests here check that each entry still says what
happens.  The cases of llhttp's lenient modes must all be refused in strict
mode.  ``tests/server/test_llhttp_requests.py`` and
``tests/client/test_llhttp_responses.py`` send the same bytes through real
sockets.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.llhttp_cases import (
    CORPUS_DEFECTS,
    DATA,
    DIFFERENCES,
    LENIENT_CASES,
    REQUEST_CASES,
    RESPONSE_CASES,
    Case,
    Expected,
    Outcome,
    comparable,
    expected,
    parse,
)

MODES = pytest.mark.parametrize("strict", [False, True], ids=["default", "strict"])


def assert_agrees(case: Case, want: Expected, got: Outcome) -> None:
    messages = [comparable(case, m) for m in got.messages]
    wanted = [comparable(case, m) for m in want.messages]
    if want.end == "paused":
        # llhttp stops at an upgrade or a CONNECT; what follows is another
        # protocol's, and not compared.
        messages = messages[: len(wanted)]
    assert messages == wanted, (case.name, want.why)
    ends = {want.end}
    if want.end in ("refused", "closed"):
        # Either way the server answers what came before and then closes.
        ends = {"refused", "closed"}
    if want.end != "paused":
        assert got.end in ends, (case.name, got.end, got.error, want.why)


@MODES
@pytest.mark.parametrize("case", REQUEST_CASES, ids=lambda c: c.id)
def test_request_case(case: Case, strict: bool) -> None:
    want = expected(case, strict)
    assert_agrees(case, want, parse(case, want.data, strict))


@MODES
@pytest.mark.parametrize("case", RESPONSE_CASES, ids=lambda c: c.id)
def test_response_case(case: Case, strict: bool) -> None:
    want = expected(case, strict)
    assert_agrees(case, want, parse(case, want.data, strict))


@pytest.mark.parametrize("index", sorted(DIFFERENCES))
def test_each_reviewed_difference_is_what_it_says(index: int) -> None:
    """An entry of DIFFERENCES must describe what happens, so that a change
    to either side shows up here instead of passing silently."""
    case = next(c for c in REQUEST_CASES + RESPONSE_CASES if c.index == index)
    difference = DIFFERENCES[index]
    ours = parse(case, expected(case).data)
    if difference.ours == "refused":
        assert case.expect != "error"
        assert ours.end == "refused", ours
    elif difference.ours == "accepted":
        assert case.expect == "error"
        assert ours.end != "refused", ours
    else:
        assert difference.ours == "reads otherwise"
        complete = case.finished
        assert case.expect != "error" and ours.messages[: len(complete)] != complete
    if not difference.strict:
        # In strict mode we do as llhttp does.
        assert parse(case, expected(case, True).data, True).end == "refused"


@pytest.mark.parametrize("index", sorted(CORPUS_DEFECTS))
def test_each_corpus_fix_is_needed(index: int) -> None:
    raw = base64.b64decode(json.loads(DATA.read_text())[index]["raw_b64"])
    assert CORPUS_DEFECTS[index].cut in raw


@pytest.mark.parametrize("case", LENIENT_CASES, ids=lambda c: c.id)
def test_strict_mode_refuses_what_only_llhttps_lenient_modes_accept(
    case: Case,
) -> None:
    data = case.data
    if parse(case, data, True).end == "incomplete":
        data += b"\r\n\r\n"
    outcome = parse(case, data, True)
    if "keep-alive" in case.type or "data-after-close" in case.type:
        # llhttp's leniency here is to read on after a message that ends the
        # connection: we answer that message and close.
        assert outcome.end == "closed", outcome
        assert len(outcome.messages) == 1
    else:
        assert outcome.end == "refused", outcome
    if case.expect == "error":
        # Refused by llhttp even when lenient: refused by default too.
        assert parse(case, data).end == "refused"
