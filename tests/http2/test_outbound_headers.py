"""The response fields the socket-free core sends (``H2ServerCore``): the
driver normalizes and checks them itself, in one pass, as ``h2``'s outbound
normalization and validation would (names lowercased, names and values
stripped, connection-specific fields and a bad TE dropped, authorization and
short cookies never indexed, an application's pseudo-header refused), and a
client decodes exactly that."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("h2")

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
from hpack import NeverIndexedHeaderTuple  # noqa: E402

from tornado_compat.http2 import core  # noqa: E402

REQUEST = [
    (b":method", b"GET"),
    (b":path", b"/"),
    (b":authority", b"example.com"),
    (b":scheme", b"https"),
]


def exchange(
    headers: list[tuple[bytes, bytes]],
    trailers: list[tuple[bytes, bytes]] | None = None,
) -> list[Any]:
    """One request, answered with ``headers`` (and ``trailers``); the
    client's events."""
    client = h2.connection.H2Connection(
        # Without inbound normalization, which would join cookies and mark
        # the result never-indexed whatever was sent.
        h2.config.H2Configuration(
            client_side=True, header_encoding=None, normalize_inbound_headers=False
        )
    )
    client.initiate_connection()
    server = core.H2ServerCore()
    client.send_headers(1, REQUEST, end_stream=True)
    server.receive(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.send_headers(1, 200, headers, end_stream=trailers is None)
    if trailers is not None:
        server.send_trailers(1, trailers)
    return client.receive_data(server.data_to_send())


def response_fields(events: list[Any]) -> list[Any]:
    (head,) = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    return list(head.headers)


def test_names_lowercased_and_fields_stripped() -> None:
    fields = response_fields(
        exchange([(b"X-Mixed-Case", b"  padded value\t"), (b" Server ", b"x")])
    )
    assert fields == [
        (b":status", b"200"),
        (b"x-mixed-case", b"padded value"),
        (b"server", b"x"),
    ]


def test_connection_specific_fields_and_bad_te_dropped() -> None:
    fields = response_fields(
        exchange(
            [
                (b"Connection", b"close"),
                (b"Keep-Alive", b"timeout=5"),
                (b"Transfer-Encoding", b"chunked"),
                (b"Upgrade", b"h2c"),
                (b"Proxy-Connection", b"close"),
                (b"TE", b"gzip"),
                (b"Content-Length", b"0"),
            ]
        )
    )
    assert fields == [(b":status", b"200"), (b"content-length", b"0")]


def test_te_trailers_kept() -> None:
    fields = response_fields(exchange([(b"TE", b" Trailers ")]))
    assert (b"te", b"Trailers") in fields


def test_secrets_are_never_indexed() -> None:
    fields = response_fields(
        exchange(
            [
                (b"Authorization", b"Basic dXNlcjpwYXNz"),
                (b"proxy-authorization", b"Basic eDp5"),
                (b"x-plain", b"1"),
            ]
        )
    )
    never = {f[0] for f in fields if isinstance(f, NeverIndexedHeaderTuple)}
    assert never == {b"authorization", b"proxy-authorization"}


@pytest.mark.parametrize(
    ("value", "never_indexed"), [(b"a=1", True), (b"long=" + b"x" * 30, False)]
)
def test_short_cookies_are_never_indexed(value: bytes, never_indexed: bool) -> None:
    fields = response_fields(exchange([(b"Cookie", value)]))
    (cookie,) = [f for f in fields if f[0] == b"cookie"]
    assert cookie[1] == value
    assert isinstance(cookie, NeverIndexedHeaderTuple) == never_indexed


def test_an_application_pseudo_header_is_refused() -> None:
    with pytest.raises(h2.exceptions.ProtocolError, match="pseudo-header"):
        exchange([(b":status", b"404")])


def test_trailers_are_normalized_too() -> None:
    events = exchange([(b"content-type", b"text/plain")], [(b"X-Check", b" 1 ")])
    (trailers,) = [e for e in events if isinstance(e, h2.events.TrailersReceived)]
    assert list(trailers.headers) == [(b"x-check", b"1")]
    with pytest.raises(h2.exceptions.ProtocolError, match="pseudo-header"):
        exchange([], [(b":path", b"/")])
