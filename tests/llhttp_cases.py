"""llhttp's test vectors, and what tornado_compat must make of each (not a test
module).

What this module is for: loading ``tests/data/llhttp_cases.json`` (llhttp's
request and response cases, MIT-licensed; see ``tests/data/README.md``),
saying for every case what tornado_compat is expected to do with its bytes,
and parsing bytes the way the server and the clients do with the protocol
core alone, so that the three test modules that use it
(``tests/protocol/test_llhttp_cases.py``, ``tests/server/test_llhttp_requests.py``
and ``tests/client/test_llhttp_responses.py``) check the same expectations.

An expectation (:func:`expected`) comes from llhttp's verdict, unless the case
is in one of the reviewed lists below, each entry with the reason:

* :data:`DIFFERENCES`: where we deliberately decide otherwise than llhttp's
  strict mode (bare LF heads, which Tornado requires; methods llhttp does not
  know; versions other than HTTP/1.0 and 1.1; ...);
* :data:`CORPUS_DEFECTS`: where the converted case is wrong, not llhttp, and
  how it is put right;
* :data:`TRAILER_FIELDS`, :data:`BODIES_WITHOUT_LINE_BREAKS`: the two ways
  the conversion reports a message differently from how we do.

Cases of llhttp's lenient modes (any other ``type``) are what llhttp accepts
only when told to be lenient (or refuses even then): :data:`LENIENT_CASES`,
which ``strict=True`` must refuse, each of them.

What it must never do: weaken a comparison for every case.  Every exception
is one case, by its index in the JSON file, with its reason.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from tornado_compat.httputil import HTTPHeaders
from tornado_compat.protocol import framing as _framing
from tornado_compat.protocol import head as _head
from tornado_compat.protocol.errors import RemoteProtocolError

DATA = Path(__file__).with_name("data") / "llhttp_cases.json"

# -- what we do differently, on purpose -------------------------------------------

BARE_LF = (
    "a head whose lines all end with a bare LF is accepted, as Tornado accepts "
    "(its HTTPServerTest.test_newlines sends one); strict=True refuses it"
)
METHOD_TOKEN = (
    "any token is a method (RFC 9110 section 9.1), as in Tornado: llhttp knows "
    "a fixed list of methods; the application answers 405 if it wants"
)
ONLY_HTTP_1X = (
    "only HTTP/1.0 and HTTP/1.1 are spoken (505 for another HTTP/x.y, 400 for "
    "RTSP, ICE or no version at all); llhttp also parses RTSP, ICE and HTTP/0.9"
)
TE_ONLY_CHUNKED = (
    "any Transfer-Encoding but a single chunked is refused, as framing other "
    "than chunked or a length is how front and back ends come to disagree; "
    "llhttp reads such a body until the connection closes"
)
NON_ASCII_TARGET = (
    "bytes above US-ASCII in the target are passed on, one character per byte, "
    "as Tornado does; strict=True refuses them, as llhttp's strict mode does"
)
NO_REASON_SPACE = (
    "a status line needs the space after the code even with no reason phrase "
    "(RFC 9112 section 4); Tornado's tests pin the refusal of 'HTTP/1.1 200'"
)
BODY_IN_1XX = (
    "a 1xx response with Content-Length or Transfer-Encoding is refused (RFC "
    "9110 section 15.2: informational responses have no content); llhttp "
    "reads it as an upgrade and stops"
)
CONNECT_BODY = (
    "a CONNECT request is read as any other (the server is no proxy, and "
    "Tornado does the same): its Content-Length body is its body; llhttp "
    "stops after the head, where a proxy's tunnel would begin"
)
SKIP_BODY = (
    "llhttp's test skipped the body from its on_headers_complete callback; a "
    "server cannot skip a request body, so this one's 'body' is the next request"
)


@dataclass(frozen=True)
class Difference:
    """What we do instead of what llhttp does, and why.  ``ours`` is
    ``"refused"`` (llhttp accepts, we answer 400 or raise), ``"accepted"``
    (llhttp refuses, we parse the bytes) or ``"reads otherwise"`` (both
    accept, and read different messages); ``strict`` says whether it holds
    with ``strict=True`` too.  What we must do is then what our own parse of
    the bytes gives, which the core's test checks is of the kind claimed."""

    ours: str
    reason: str
    strict: bool = True


#: Reviewed, case by case (the key is the case's index in the JSON file).
DIFFERENCES: dict[int, Difference] = {
    # requests
    36: Difference("reads otherwise", SKIP_BODY),  # Content-Length, no body
    45: Difference("accepted", METHOD_TOKEN),  # ANNOUNCE with HTTP/1.0
    55: Difference("accepted", METHOD_TOKEN),  # MKCOLA
    79: Difference("reads otherwise", CONNECT_BODY),  # CONNECT with a body
    87: Difference("refused", ONLY_HTTP_1X),  # SOURCE with ICE/1.0
    88: Difference("refused", ONLY_HTTP_1X),  # OPTIONS with RTSP/1.0
    89: Difference("refused", ONLY_HTTP_1X),  # ANNOUNCE with RTSP/1.0
    115: Difference("refused", ONLY_HTTP_1X),  # "GET /", an HTTP/0.9 request
    143: Difference("refused", TE_ONLY_CHUNKED),  # deflate, chunked
    144: Difference("refused", TE_ONLY_CHUNKED),  # deflate; chunked
    161: Difference("accepted", NON_ASCII_TARGET, strict=False),  # UTF-8 in URI
    # responses
    175: Difference("refused", BODY_IN_1XX),  # 101 with Content-Length
    176: Difference("refused", BODY_IN_1XX),  # 101 with Transfer-Encoding
    204: Difference("accepted", BARE_LF, strict=False),  # only LFs, no body
    206: Difference("accepted", BARE_LF, strict=False),  # only LFs
    222: Difference("refused", ONLY_HTTP_1X),  # RTSP/1.1
    223: Difference("refused", ONLY_HTTP_1X),  # ICE/1.1
    228: Difference("refused", NO_REASON_SPACE),  # "HTTP/1.1 301"
    230: Difference("accepted", BARE_LF, strict=False),  # no carriage return
    237: Difference("refused", ONLY_HTTP_1X),  # HTTP/0.9
    241: Difference("refused", TE_ONLY_CHUNKED),  # chunked, deflate
    242: Difference("refused", TE_ONLY_CHUNKED),  # chunked; identity
    243: Difference("refused", TE_ONLY_CHUNKED),  # chunkedchunked
}


@dataclass(frozen=True)
class CorpusFix:
    """A case whose conversion went wrong: its bytes are cut before
    ``cut``, where llhttp's input ended.  llhttp's log (in its repository)
    shows that it completed no message from them, and whether it was in the
    middle of one (``unfinished``)."""

    reason: str
    cut: bytes
    unfinished: bool


#: Cases whose converted data is not what llhttp parsed, and how to undo it.
CORPUS_DEFECTS: dict[int, CorpusFix] = {
    226: CorpusFix(
        "the conversion missed the end of the input, which runs on into the "
        "markdown after it, and took the messages of the next case "
        "(amazon.com); llhttp's log has the head and 213 of the 219 bytes of "
        "the body, and no complete message",
        cut=b"\r\n```",
        unfinished=True,
    ),
}

#: llhttp reports trailer fields with the header fields; we check them and
#: drop them (RFC 9112 section 7.1.2 lets a recipient), so the last N fields
#: of these llhttp messages are trailers and are not compared.
TRAILER_FIELDS: dict[int, int] = {
    129: 2,  # "Vary: *" and "Content-Type: text/plain" after the last chunk
}

#: Bodies whose CR and LF bytes llhttp logs on lines of their own
#: (``span[body]=lf``), which the conversion dropped: these are compared
#: without CR and LF.
BODIES_WITHOUT_LINE_BREAKS: dict[int, str] = {
    184: "the XML body's line breaks",
}


# -- the cases ---------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One message, as the application sees it: the start line, the header
    fields in order (values without the whitespace around them, RFC 9110
    section 5.5) and the body."""

    method: str = ""
    target: str = ""
    version: str = ""
    reason: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    #: A response's status code, from our own parse (llhttp's converted
    #: messages have none); not compared.
    code: int = field(default=0, compare=False)

    def as_seen_through_headers(self) -> Message:
        """The fields as an application sees them through ``HTTPHeaders``:
        names in Http-Header-Case, the values of each name together in
        order of arrival (HTTPHeaders keeps them per name)."""
        headers = HTTPHeaders()
        for name, value in self.fields:
            headers.add(name, value)
        return replace(self, fields=tuple(headers.get_all()))


@dataclass(frozen=True)
class Case:
    index: int
    file: str
    name: str
    type: str
    #: The bytes llhttp parsed (see :func:`_restore`).
    data: bytes
    #: ``ok``, ``error`` or ``pause``.
    expect: str
    error_reason: str
    #: llhttp's messages; ``complete`` says which it finished.
    messages: tuple[Message, ...]
    complete: tuple[bool, ...]
    skip_body: bool

    @property
    def finished(self) -> list[Message]:
        """The messages llhttp finished."""
        return [m for m, done in zip(self.messages, self.complete, strict=True) if done]

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        return f"{self.index}-{slug}"


def _restore(raw: bytes) -> bytes:
    """The input llhttp's test parsed, from the converted bytes.

    llhttp's test runner keeps all but the last line break of an ``http``
    block; the conversion dropped one more, so an input that ends with an
    empty line lost that line's CRLF.  (Checked against the offsets in
    llhttp's logs: "Setting flag" in request/connection.md completes its
    message at offset 45, two bytes past the converted input.)
    """
    return raw + b"\r\n" if raw.endswith(b"\r\n") else raw


def _unescape(text: str) -> str:
    # llhttp's logs write a tab as "\t" and a form feed as "\f"; the
    # conversion kept those escapes in the values it read from them.
    return text.replace("\\t", "\t").replace("\\f", "\f")


def _message(entry: dict[str, object]) -> Message:
    fields = tuple(
        (str(name), _unescape(str(value)).strip(" \t"))
        for name, value in entry["headers"]  # type: ignore[attr-defined]
    )
    body = str(entry["body"]).encode("latin-1")
    version = str(entry["version"])
    return Message(
        method=str(entry["method"]),
        target=str(entry["url"]),
        version=f"HTTP/{version}" if version else "",
        reason=str(entry["status"]),
        fields=fields,
        body=body,
    )


def load_cases() -> list[Case]:
    cases = []
    for index, entry in enumerate(json.loads(DATA.read_text())):
        data = _restore(base64.b64decode(entry["raw_b64"]))
        messages = tuple(_message(m) for m in entry["messages"])
        complete = tuple(bool(m.get("complete")) for m in entry["messages"])
        fix = CORPUS_DEFECTS.get(index)
        if fix is not None:
            data = data[: data.index(fix.cut)]
            messages = (Message(),) * fix.unfinished
            complete = (False,) * fix.unfinished
        cases.append(
            Case(
                index=index,
                file=entry["file"],
                name=entry["name"],
                type=entry["type"],
                data=data,
                expect=entry["expect"],
                error_reason=(entry["error"] or {}).get("reason", ""),
                messages=messages,
                complete=complete,
                skip_body=bool(entry["meta"].get("skipBody")),
            )
        )
    return cases


CASES = load_cases()
REQUEST_CASES = [c for c in CASES if c.type == "request"]
RESPONSE_CASES = [c for c in CASES if c.type == "response"]


#: The cases of llhttp's lenient modes: what llhttp accepts only when told to
#: be lenient, or refuses even then.  ``strict=True`` must refuse each (a
#: 400, or a close where llhttp's leniency is to read on after a message
#: that ends the connection).  The "-finish" cases test llhttp's end-of-input
#: call, which has no counterpart here.
LENIENT_CASES = [
    c for c in CASES if c.type not in ("request", "response") and
    not c.type.endswith("-finish")
]  # fmt: skip


# -- what we must make of a case --------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What our parser must do with a case's bytes.

    ``messages``: the messages it must produce, in order.  ``end``: what
    happens after them:

    - ``"end"``: the bytes are used up;
    - ``"incomplete"``: the bytes stop inside a message, which waits for more;
    - ``"until-close"`` (responses): the last message's body runs until the
      connection closes, and is the rest of the bytes;
    - ``"closed"``: the last message ends the connection (``Connection:
      close``, HTTP/1.0); what follows is never read;
    - ``"refused"``: the next message is malformed: 400 or an error;
    - ``"paused"``: llhttp stopped at an upgrade or CONNECT; nothing after
      the messages is compared.

    ``data`` is what to send: the case's bytes, completed with an empty line
    where llhttp refused a prefix that we can only judge once its head is
    complete (any input that starts with a prefix llhttp refuses, it
    refuses too).  ``why`` is the reason of a reviewed difference, whose
    messages and end are those of our own parse (checked, in the core's
    test, to differ from llhttp's as the entry says).
    """

    data: bytes
    messages: tuple[Message, ...]
    end: str
    why: str = ""


def expected(case: Case, strict: bool = False) -> Expected:
    difference = DIFFERENCES.get(case.index)
    if difference is not None and (difference.strict or not strict):
        return _expected_difference(case, difference, strict)
    complete = case.finished
    trailers = TRAILER_FIELDS.get(case.index)
    if trailers:
        complete = [replace(m, fields=m.fields[:-trailers]) for m in complete]
    messages = tuple(complete)
    data = case.data
    if case.expect == "pause":
        return Expected(data, messages, "paused")
    if case.expect == "error":
        if case.error_reason.startswith("Data after `Connection: close`"):
            return Expected(data, messages, "closed")
        if parse(case, data, strict).end == "incomplete":
            data += b"\r\n\r\n"
        return Expected(data, messages, "refused")
    if len(complete) == len(case.messages):
        return Expected(data, messages, "end")
    # llhttp's last message is unfinished.  A response whose body runs until
    # the connection closes is finished by the close (llhttp's test never
    # closes): then it is compared too.
    if parse(case, data, strict).end == "until-close":
        return Expected(data, (*messages, case.messages[-1]), "until-close")
    return Expected(data, messages, "incomplete")


def _expected_difference(case: Case, difference: Difference, strict: bool) -> Expected:
    data = case.data
    outcome = parse(case, data, strict)
    if difference.ours == "refused" and outcome.end == "incomplete":
        data += b"\r\n\r\n"
        outcome = parse(case, data, strict)
    return Expected(data, tuple(outcome.messages), outcome.end, difference.reason)


# -- parsing with the core, as the server and the clients do -----------------------


@dataclass
class Outcome:
    messages: list[Message] = field(default_factory=list)
    end: str = "end"
    error: str = ""


_EMPTY_LINES = re.compile(rb"(?:\r?\n)*")
_STRICT_EMPTY_LINES = re.compile(rb"(?:\r\n)*")


def parse(case: Case, data: bytes, strict: bool = False) -> Outcome:
    """Parse ``data`` as a stream of requests (a request case) or of
    responses to GET requests (HEAD for a case whose body llhttp skipped),
    with the protocol core, as the server or a client would."""
    if case.type.startswith("request"):
        return parse_requests(data, strict)
    return parse_responses(data, "HEAD" if case.skip_body else "GET", strict)


def parse_requests(data: bytes, strict: bool = False) -> Outcome:
    outcome = Outcome()
    pos = 0
    while True:
        pos = (_STRICT_EMPTY_LINES if strict else _EMPTY_LINES).match(data, pos).end()
        if pos == len(data):
            return outcome
        end = _head.find_head_end(data, pos)
        if end < 0:
            outcome.end = "incomplete"
            return outcome
        try:
            method, target, version, fields = _head.parse_request_head(
                data[pos:end], strict
            )
            lookup = _lookup(fields)
            framing = _framing.request_framing(version, lookup, None, strict)
            body, pos = _body(data, end, framing, strict)
        except RemoteProtocolError as e:
            outcome.end, outcome.error = "refused", str(e)
            return outcome
        if body is None:
            outcome.end = "incomplete"
            return outcome
        outcome.messages.append(
            Message(method=method, target=target, version=version,
                    fields=tuple(fields), body=body)
        )  # fmt: skip
        if not _framing.keep_alive(version, lookup, framing):
            outcome.end = "closed" if pos < len(data) else "end"
            return outcome


def parse_responses(data: bytes, method: str = "GET", strict: bool = False) -> Outcome:
    outcome = Outcome()
    pos = 0
    while True:
        pos = (_STRICT_EMPTY_LINES if strict else _EMPTY_LINES).match(data, pos).end()
        if pos == len(data):
            return outcome
        end = _head.find_head_end(data, pos)
        if end < 0:
            outcome.end = "incomplete"
            return outcome
        try:
            version, code, reason, fields = _head.parse_response_head(
                data[pos:end], strict
            )
            lookup = _lookup(fields)
            framing = _framing.response_framing(method, code, lookup, strict, version)
            if framing.kind == _framing.UNTIL_CLOSE:
                body: bytes | None = data[end:]
                pos = len(data)
            else:
                body, pos = _body(data, end, framing, strict)
        except RemoteProtocolError as e:
            outcome.end, outcome.error = "refused", str(e)
            return outcome
        if body is None:
            outcome.end = "incomplete"
            return outcome
        outcome.messages.append(
            Message(
                version=version,
                reason=reason,
                fields=tuple(fields),
                body=body,
                code=code,
            )  # fmt: skip
        )
        if framing.kind == _framing.UNTIL_CLOSE:
            outcome.end = "until-close"
            return outcome
        if 100 <= code < 200:
            continue
        if not _framing.keep_alive(version, lookup, framing):
            outcome.end = "closed" if pos < len(data) else "end"
            return outcome


def _lookup(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    headers = HTTPHeaders()
    for name, value in fields:
        headers.add(name, value)
    return headers._as_list


def _body(
    data: bytes, pos: int, framing: _framing.Framing, strict: bool
) -> tuple[bytes | None, int]:
    """The body at ``pos`` and where it ends; None if it is not all there."""
    if framing.kind == _framing.LENGTH:
        if len(data) - pos < framing.length:
            return None, pos
        return data[pos : pos + framing.length], pos + framing.length
    if framing.kind == _framing.CHUNKED:
        decoder = _framing.ChunkedDecoder(strict=strict)
        pieces, used = decoder.decode(data, pos)
        if not decoder.done:
            return None, pos
        return b"".join(pieces), pos + used
    return b"", pos


def comparable(case: Case, message: Message) -> Message:
    """``message`` as it is compared with llhttp's for ``case``."""
    if case.index in BODIES_WITHOUT_LINE_BREAKS:
        return replace(message, body=re.sub(rb"[\r\n]", b"", message.body))
    return message


# -- the summary ---------------------------------------------------------------------


def summary() -> str:
    """A table of the cases: how many agree with llhttp, and how many differ
    on purpose, by reason (``python -m tests.llhttp_cases``)."""
    reasons = {
        BARE_LF: "bare LF throughout a head (Tornado's test_newlines)",
        METHOD_TOKEN: "methods are tokens; llhttp knows a fixed list",
        ONLY_HTTP_1X: "only HTTP/1.0 and 1.1 (no RTSP, ICE, HTTP/0.9)",
        TE_ONLY_CHUNKED: "Transfer-Encoding other than one chunked refused",
        NON_ASCII_TARGET: "bytes above ASCII in the target passed on",
        NO_REASON_SPACE: "status line without the space before the reason",
        BODY_IN_1XX: "1xx response with a body-framing header refused",
        CONNECT_BODY: "CONNECT read as any request (body by Content-Length)",
        SKIP_BODY: "llhttp's test skipped a request body",
    }
    rows = []
    for label, cases in (("request", REQUEST_CASES), ("response", RESPONSE_CASES)):
        for strict in (False, True):
            counts: dict[str, int] = {}
            agreed = 0
            for case in cases:
                difference = DIFFERENCES.get(case.index)
                if difference is not None and (difference.strict or not strict):
                    key = f"{difference.ours}: {reasons[difference.reason]}"
                    counts[key] = counts.get(key, 0) + 1
                else:
                    agreed += 1
            mode = "strict=True" if strict else "default"
            llhttp_refused = sum(c.expect == "error" for c in cases)
            rows.append(
                f"| {label} | {mode} | {len(cases)} ({llhttp_refused} refused "
                f"by llhttp) | {agreed} | "
                + "; ".join(f"{n} {k}" for k, n in sorted(counts.items()))
                + " |"
            )
    lenient = len(LENIENT_CASES)
    return "\n".join(
        [
            "| cases | mode | total | agreed | deliberate differences |",
            "|---|---|---|---|---|",
            *rows,
            f"| lenient-mode | strict=True | {lenient} | {lenient} refused or "
            "closed | none |",
        ]
    )


if __name__ == "__main__":
    print(summary())
