"""The memo of HPACK header blocks (``tornado_compat.http2.hpack_cache``):
a block it gives back must be byte for byte what ``hpack`` itself would have
encoded at that point, whatever came before (entries added and evicted, the
table resized, sensitive fields), so that the peer's decoder stays in step."""

from __future__ import annotations

import itertools
import random

import pytest

pytest.importorskip("h2")

from hpack import Decoder, Encoder, NeverIndexedHeaderTuple  # noqa: E402

from tornado_compat.http2.hpack_cache import MAX_ENTRIES, CachingEncoder  # noqa: E402

RESPONSE = [
    (b":status", b"200"),
    (b"content-type", b"text/plain"),
    (b"content-length", b"12"),
]


def test_a_repeated_head_is_not_encoded_again(monkeypatch: pytest.MonkeyPatch) -> None:
    encoder, decoder = CachingEncoder(), Decoder()
    first = encoder.encode(RESPONSE)
    second = encoder.encode(RESPONSE)
    calls = []
    original = Encoder.add

    def counting_add(self: Encoder, *args: object, **kwargs: object) -> bytes:
        calls.append(args)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Encoder, "add", counting_add)
    third = encoder.encode(RESPONSE)
    assert calls == []
    assert third == second != first  # the first block added entries
    for block in (first, second, third):
        assert decoder.decode(block, raw=True) == RESPONSE


def test_same_bytes_as_hpack_in_any_sequence() -> None:
    rng = random.Random(23)
    names = [b"content-type", b"content-length", b"x-a", b"x-b", b"set-cookie"]
    values = [b"1", b"text/plain", b"x" * 40, b"y" * 300, b"12"]
    plain, caching = Encoder(), CachingEncoder()
    decoder = Decoder()
    for step in range(3000):
        if step % 500 == 250:
            size = rng.choice([0, 64, 256, 4096])
            plain.header_table_size = size
            caching.header_table_size = size
            decoder.max_allowed_table_size = 4096
        fields: list[tuple[bytes, bytes]] = [(b":status", rng.choice([b"200", b"404"]))]
        for _ in range(rng.randint(0, 4)):
            field = (rng.choice(names), rng.choice(values))
            if rng.random() < 0.1:
                field = NeverIndexedHeaderTuple(*field)
            fields.append(field)
        huffman = rng.random() < 0.9
        expected = plain.encode(fields, huffman=huffman)
        got = caching.encode(fields, huffman=huffman)
        assert got == expected, step
        assert decoder.decode(got, raw=True) == [tuple(f) for f in fields]


def test_the_memo_is_bounded() -> None:
    encoder = CachingEncoder()
    fields = [(b"x-%d" % n, b"v") for n in range(5)]
    encoder.encode(fields)  # into the dynamic table
    largest = 0
    # Orders of fields already in the table leave it as it was: each block
    # may be remembered.
    for order in itertools.permutations(fields):
        encoder.encode(list(order))
        largest = max(largest, len(encoder._memo))
    assert largest == MAX_ENTRIES
