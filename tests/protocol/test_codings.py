"""Content-coding decoders on byte strings.

Every coding is decoded whole, one byte at a time and in random pieces, with
output limits from one byte up; bombs (a gigabyte of zeros in a few
kilobytes) never yield more than the limit per call; truncated streams,
garbage and trailing bytes are refused with the coding's name; and decoding
costs linear time.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import os
import tracemalloc
import zlib
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.protocol import assert_linear_time
from tornado_compat.protocol import codings
from tornado_compat.protocol.codings import (
    MAX_CODINGS,
    Decoder,
    accept_encoding,
    decoder_for,
    supported_codings,
)
from tornado_compat.protocol.errors import RemoteProtocolError

try:
    import brotli
except ImportError:  # pragma: no cover - the test extra installs it
    brotli = None

try:
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:
    try:
        from backports import zstd
    except ImportError:  # pragma: no cover - the test extra installs it
        zstd = None

deterministic = settings(derandomize=True, database=None, deadline=None)

needs_br = pytest.mark.skipif(
    "br" not in supported_codings(), reason="no brotli 1.2 or brotlicffi 1.2"
)
needs_zstd = pytest.mark.skipif(
    "zstd" not in supported_codings(), reason="no compression.zstd or backports.zstd"
)

# Some of it compresses well, some not at all.
PAYLOAD = os.urandom(3000) + b"hello, world! " * 3000 + os.urandom(500)
MiB = 1 << 20
GiB = 1 << 30


def gzip_encode(data: bytes) -> bytes:
    return gzip.compress(data)


def zlib_encode(data: bytes) -> bytes:
    return zlib.compress(data)


def raw_deflate_encode(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def br_encode(data: bytes) -> bytes:
    assert brotli is not None
    return bytes(brotli.compress(data))


def zstd_encode(data: bytes) -> bytes:
    assert zstd is not None
    return bytes(zstd.compress(data))


# (Content-Encoding, encoder), one for each way a body may arrive.
CODINGS = [
    pytest.param("gzip", gzip_encode, id="gzip"),
    pytest.param("x-gzip", gzip_encode, id="x-gzip"),
    pytest.param("deflate", zlib_encode, id="deflate-zlib"),
    pytest.param("deflate", raw_deflate_encode, id="deflate-raw"),
    pytest.param("br", br_encode, id="br", marks=needs_br),
    pytest.param("zstd", zstd_encode, id="zstd", marks=needs_zstd),
]


def decode_all(
    decoder: Decoder, pieces: Iterable[bytes], max_length: int = 65536
) -> bytes:
    """Feed ``pieces``, draining after each; check every output's size."""
    out = []
    for piece in pieces:
        data = decoder.decode(piece, max_length)
        while data:
            assert 0 < len(data) <= max_length
            out.append(data)
            data = decoder.decode(b"", max_length)
    decoder.finish()
    assert decoder.eof
    return b"".join(out)


def decode(coding: str, body: bytes, max_length: int = 65536) -> bytes:
    decoder = decoder_for(coding)
    assert decoder is not None
    return decode_all(decoder, [body], max_length)


def bytewise(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def refused(coding: str, pieces: Iterable[bytes], max_length: int = 65536) -> str:
    decoder = decoder_for(coding)
    assert decoder is not None
    with pytest.raises(RemoteProtocolError) as info:
        decode_all(decoder, pieces, max_length)
    assert info.value.status == 400
    return str(info.value)


# -- which codings ---------------------------------------------------------------


def test_accept_encoding_offers_what_can_be_decoded() -> None:
    offered = accept_encoding().split(", ")
    assert offered[:2] == ["gzip", "deflate"]
    assert ("br" in offered) == (brotli is not None)
    assert ("zstd" in offered) == (zstd is not None)
    assert tuple(offered) == supported_codings()
    for coding in offered:
        assert decoder_for(coding) is not None


def test_old_brotli_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # Before 1.2, brotli could not bound the output of a call.
    class OldDecompressor:
        def process(self, data: bytes) -> bytes:
            raise AssertionError("never used")

    class OldBrotli:
        Decompressor = OldDecompressor

    monkeypatch.setattr(codings, "_load", lambda name: OldBrotli())
    assert codings._load_brotli() is None


@pytest.mark.parametrize(
    "value",
    ["", "identity", "IDENTITY", " , ", "compress", "x-compress", "gzip, compress"],
)
def test_nothing_to_decode_or_unknown(value: str) -> None:
    assert decoder_for(value) is None


@pytest.mark.parametrize("value", ["GZIP", " gzip ", "gzip,", "identity, gzip"])
def test_coding_names_are_matched_loosely(value: str) -> None:
    assert decode(value, gzip.compress(b"abc")) == b"abc"


def test_too_many_codings_are_left_undecoded() -> None:
    assert decoder_for(", ".join(["gzip"] * MAX_CODINGS)) is not None
    assert decoder_for(", ".join(["gzip"] * (MAX_CODINGS + 1))) is None


def test_each_body_gets_its_own_decoder() -> None:
    assert decoder_for("gzip") is not decoder_for("gzip")


def test_max_length_must_be_positive() -> None:
    decoder = decoder_for("gzip")
    assert decoder is not None
    with pytest.raises(ValueError):
        decoder.decode(b"", 0)


# -- round trips -----------------------------------------------------------------


@pytest.mark.parametrize("coding, encode", CODINGS)
@pytest.mark.parametrize("max_length", [1, 7, 4096, 65536])
def test_whole_body(coding: str, encode: Callable[[bytes], bytes], max_length) -> None:
    assert decode(coding, encode(PAYLOAD), max_length) == PAYLOAD


@pytest.mark.parametrize("coding, encode", CODINGS)
@pytest.mark.parametrize("max_length", [1, 100, 65536])
def test_one_byte_at_a_time(
    coding: str, encode: Callable[[bytes], bytes], max_length: int
) -> None:
    decoder = decoder_for(coding)
    assert decoder is not None
    assert decode_all(decoder, bytewise(encode(PAYLOAD)), max_length) == PAYLOAD


@pytest.mark.parametrize("coding, encode", CODINGS)
def test_empty_content(coding: str, encode: Callable[[bytes], bytes]) -> None:
    assert decode(coding, encode(b"")) == b""


@pytest.mark.parametrize("coding, encode", CODINGS)
def test_input_fed_without_draining_is_kept(
    coding: str, encode: Callable[[bytes], bytes]
) -> None:
    # A caller may feed more before asking for everything: nothing is lost.
    body = encode(PAYLOAD)
    decoder = decoder_for(coding)
    assert decoder is not None
    out = [decoder.decode(body[i : i + 50], 10) for i in range(0, len(body), 50)]
    data = decoder.decode(b"", 1000)
    while data:
        out.append(data)
        data = decoder.decode(b"", 1000)
    decoder.finish()
    assert b"".join(out) == PAYLOAD


@pytest.mark.parametrize("coding, encode", CODINGS)
@deterministic
@given(data=st.data())
def test_any_split_decodes_the_same(
    coding: str, encode: Callable[[bytes], bytes], data: st.DataObject
) -> None:
    payload = data.draw(st.binary(max_size=2000)) * data.draw(st.integers(1, 20))
    body = encode(payload)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=12)))
    pieces = [body[a:b] for a, b in itertools.pairwise([0, *cuts, len(body)])]
    max_length = data.draw(st.integers(1, 5000))
    decoder = decoder_for(coding)
    assert decoder is not None
    assert decode_all(decoder, pieces, max_length) == payload


@pytest.mark.parametrize("coding, encode", CODINGS)
def test_eof_only_once_everything_is_out(
    coding: str, encode: Callable[[bytes], bytes]
) -> None:
    decoder = decoder_for(coding)
    assert decoder is not None
    assert not decoder.eof
    assert decoder.decode(encode(PAYLOAD), 1000) == PAYLOAD[:1000]
    assert not decoder.eof
    rest = decode_all(decoder, [b""], 1000)
    assert rest == PAYLOAD[1000:]
    assert decoder.eof


# -- gzip ------------------------------------------------------------------------


@pytest.mark.parametrize("split", [False, True])
def test_gzip_members_form_one_body(split: bool) -> None:
    body = gzip.compress(b"foo=") + gzip.compress(b"") + gzip.compress(b"bar")
    decoder = decoder_for("gzip")
    assert decoder is not None
    pieces = bytewise(body) if split else [body]
    assert decode_all(decoder, pieces, 2) == b"foo=bar"


def test_gzip_is_not_done_between_members() -> None:
    decoder = decoder_for("gzip")
    assert decoder is not None
    second = gzip.compress(b"bar")
    decode_all(decoder, [gzip.compress(b"foo")])
    assert decoder.decode(second[:5], 100) == b""
    assert not decoder.eof
    with pytest.raises(RemoteProtocolError, match="^invalid gzip data: truncated$"):
        decoder.finish()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(gzip.compress(b"foo=bar") + b"\0", id="trailing-nul"),
        pytest.param(gzip.compress(b"foo=bar") + b"\0" * 20, id="trailing-nuls"),
        pytest.param(gzip.compress(b"foo=bar") + b"garbage!" * 3, id="garbage"),
        pytest.param(gzip.compress(b"foo=bar")[:-1], id="truncated-trailer"),
        pytest.param(gzip.compress(b"foo=bar")[:5], id="truncated-header"),
        pytest.param(b"\x1f", id="one-byte"),
        pytest.param(b"not gzip at all", id="not-gzip"),
        pytest.param(zlib.compress(b"foo=bar"), id="zlib-format"),
    ],
)
@pytest.mark.parametrize("split", [False, True])
def test_gzip_refused(body: bytes, split: bool) -> None:
    message = refused("gzip", bytewise(body) if split else [body])
    # Tornado's tests look for this text in the log.
    assert message.startswith("invalid gzip data: ")


def test_gzip_bad_checksum() -> None:
    body = bytearray(gzip.compress(b"foo=bar"))
    body[-5] ^= 1  # the CRC-32 of the trailer
    assert refused("gzip", [bytes(body)]).startswith("invalid gzip data: ")


# -- deflate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(zlib.compress(b"abc") + b"\0", id="zlib-trailing"),
        pytest.param(zlib.compress(b"abc") * 2, id="zlib-twice"),
        pytest.param(zlib.compress(b"abc")[:-1], id="zlib-truncated"),
        pytest.param(raw_deflate_encode(b"abc" * 100)[:-1], id="raw-truncated"),
        pytest.param(raw_deflate_encode(b"abc") + b"x", id="raw-trailing"),
        pytest.param(b"x", id="one-byte"),
        pytest.param(b"\x78\x9c\xff\xff", id="bad-block"),
    ],
)
@pytest.mark.parametrize("split", [False, True])
def test_deflate_refused(body: bytes, split: bool) -> None:
    message = refused("deflate", bytewise(body) if split else [body])
    assert message.startswith("invalid deflate data: ")


def test_deflate_bad_adler32() -> None:
    body = bytearray(zlib.compress(b"abc"))
    body[-1] ^= 1
    assert refused("deflate", [bytes(body)]).startswith("invalid deflate data: ")


# -- br --------------------------------------------------------------------------


@needs_br
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda: br_encode(PAYLOAD)[:-1], id="truncated"),
        pytest.param(lambda: br_encode(PAYLOAD)[:1], id="one-byte"),
        pytest.param(lambda: br_encode(b"abc") + b"\0", id="trailing-nul"),
        pytest.param(lambda: br_encode(b"abc") * 2, id="twice"),
        pytest.param(lambda: b"\xff" * 40, id="garbage"),
    ],
)
@pytest.mark.parametrize("split", [False, True])
def test_br_refused(body: Callable[[], bytes], split: bool) -> None:
    data = body()
    message = refused("br", bytewise(data) if split else [data])
    assert message.startswith("invalid br data: ")


# -- zstd ------------------------------------------------------------------------


@needs_zstd
@pytest.mark.parametrize("split", [False, True])
def test_zstd_frames_form_one_body(split: bool) -> None:
    # A skippable frame: magic 0x184D2A50, length 3, three ignored bytes.
    skippable = bytes.fromhex("502a4d18") + (3).to_bytes(4, "little") + b"abc"
    body = zstd_encode(b"foo=") + skippable + zstd_encode(b"") + zstd_encode(b"bar")
    decoder = decoder_for("zstd")
    assert decoder is not None
    assert decode_all(decoder, bytewise(body) if split else [body], 2) == b"foo=bar"


@needs_zstd
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(lambda: zstd_encode(PAYLOAD)[:-1], id="truncated"),
        pytest.param(lambda: zstd_encode(PAYLOAD)[:3], id="truncated-magic"),
        pytest.param(lambda: zstd_encode(b"abc") + b"\0", id="trailing-nul"),
        pytest.param(lambda: zstd_encode(b"abc") + b"\0" * 8, id="trailing-nuls"),
        pytest.param(lambda: zstd_encode(b"abc") + b"garbage!", id="garbage"),
        pytest.param(lambda: b"not zstd at all", id="not-zstd"),
    ],
)
@pytest.mark.parametrize("split", [False, True])
def test_zstd_refused(body: Callable[[], bytes], split: bool) -> None:
    data = body()
    message = refused("zstd", bytewise(data) if split else [data])
    assert message.startswith("invalid zstd data: ")


@needs_zstd
def test_zstd_window_over_8_mib_is_refused() -> None:
    # RFC 9659: a sender uses at most an 8 MiB window.  A streamed frame
    # (no content size) declares the window it was compressed with.
    assert zstd is not None
    payload = os.urandom(1000) * 20

    def streamed(window_log: int) -> bytes:
        options = {zstd.CompressionParameter.window_log: window_log}
        compressor = zstd.ZstdCompressor(options=options)
        return bytes(compressor.compress(payload) + compressor.flush())

    assert decode("zstd", streamed(codings.ZSTD_WINDOW_LOG_MAX)) == payload
    message = refused("zstd", [streamed(codings.ZSTD_WINDOW_LOG_MAX + 1)])
    assert message.startswith("invalid zstd data: ")


# -- lists of codings ------------------------------------------------------------


LISTS = [
    pytest.param("gzip, deflate", lambda d: zlib_encode(gzip_encode(d)), id="gz-df"),
    pytest.param("deflate,gzip", lambda d: gzip_encode(zlib_encode(d)), id="df-gz"),
    pytest.param("gzip, gzip", lambda d: gzip_encode(gzip_encode(d)), id="gz-gz"),
    pytest.param(
        "gzip, br", lambda d: br_encode(gzip_encode(d)), id="gz-br", marks=needs_br
    ),
    pytest.param(
        "br, zstd",
        lambda d: zstd_encode(br_encode(d)),
        id="br-zstd",
        marks=[needs_br, needs_zstd],
    ),
]


@pytest.mark.parametrize("coding, encode", LISTS)
@pytest.mark.parametrize("split", [False, True])
def test_codings_are_undone_last_first(
    coding: str, encode: Callable[[bytes], bytes], split: bool
) -> None:
    body = encode(PAYLOAD)
    decoder = decoder_for(coding)
    assert decoder is not None
    assert decode_all(decoder, bytewise(body) if split else [body], 333) == PAYLOAD


def test_codings_in_the_wrong_order_are_refused() -> None:
    body = zlib_encode(gzip_encode(b"abc"))
    assert refused("deflate, gzip", [body]).startswith("invalid gzip data: ")


def test_a_truncated_inner_coding_is_refused() -> None:
    body = zlib_encode(gzip_encode(b"abc" * 100)[:-3])
    message = refused("gzip, deflate", [body])
    assert message == "invalid gzip data: truncated"


# -- bombs -----------------------------------------------------------------------


@functools.cache
def gzip_bomb() -> bytes:
    # One member of 16 MiB of zeros, then 63 more: 1 GiB from about 1 MB.
    member = gzip.compress(b"\0" * (16 * MiB))
    return member * 64


@functools.cache
def br_bomb() -> bytes:
    assert brotli is not None
    compressor = brotli.Compressor(quality=0)
    zeros = b"\0" * MiB
    parts = [compressor.process(zeros) for _ in range(1024)]
    return b"".join(parts) + compressor.finish()


@functools.cache
def zstd_bomb() -> bytes:
    assert zstd is not None
    compressor = zstd.ZstdCompressor(level=1)
    zeros = b"\0" * MiB
    parts = [compressor.compress(zeros) for _ in range(1024)]
    return b"".join(parts) + compressor.flush()


BOMBS = [
    pytest.param("gzip", gzip_bomb, id="gzip"),
    pytest.param("br", br_bomb, id="br", marks=needs_br),
    pytest.param("zstd", zstd_bomb, id="zstd", marks=needs_zstd),
]


@pytest.mark.parametrize("coding, make", BOMBS)
def test_a_bomb_is_decoded_in_bounded_pieces(
    coding: str, make: Callable[[], bytes]
) -> None:
    body = make()
    assert len(body) < 2 * MiB
    decoder = decoder_for(coding)
    assert decoder is not None
    max_length = 65536
    # The first call gets all of the input and still returns one piece.
    out = decoder.decode(body, max_length)
    assert len(out) == max_length
    total = len(out)
    while out:
        out = decoder.decode(b"", max_length)
        assert len(out) <= max_length
        total += len(out)
    decoder.finish()
    assert total == GiB


@pytest.mark.parametrize("coding, make", BOMBS)
def test_a_bomb_stopped_at_a_limit_costs_little_memory(
    coding: str, make: Callable[[], bytes]
) -> None:
    # What the connection does: decode up to a limit, then give up.
    body = make()
    decoder = decoder_for(coding)
    assert decoder is not None
    tracemalloc.start()
    try:
        decoded = len(decoder.decode(body, 4096))
        while decoded <= 8 * MiB:
            decoded += len(decoder.decode(b"", 4096))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The input is already held by the caller; output comes one small piece
    # at a time (br's library hands out blocks of about 32 KiB).
    assert peak < MiB, peak


@pytest.mark.parametrize(
    "coding, inner",
    [
        ("gzip, gzip", lambda d: gzip.compress(d, compresslevel=1)),
        ("deflate, gzip", lambda d: zlib.compress(d, 1)),
    ],
)
def test_a_bomb_inside_a_list_is_bounded_too(
    coding: str, inner: Callable[[bytes], bytes]
) -> None:
    body = gzip.compress(inner(b"\0" * (16 * MiB)))
    decoder = decoder_for(coding)
    assert decoder is not None
    out = decoder.decode(body, 1000)
    total = len(out)
    while out:
        assert len(out) <= 1000
        out = decoder.decode(b"", 1000)
        total += len(out)
    decoder.finish()
    assert total == 16 * MiB


# -- linear time -----------------------------------------------------------------


@pytest.mark.parametrize("coding, encode", CODINGS)
def test_decoding_byte_by_byte_costs_linear_time(
    coding: str, encode: Callable[[bytes], bytes]
) -> None:
    bodies = {n: bytewise(encode(os.urandom(n))) for n in (5_000, 50_000)}

    def run(n: int) -> None:
        decoder = decoder_for(coding)
        assert decoder is not None
        decode_all(decoder, bodies[n], 65536)

    assert_linear_time(run, 5_000, 50_000)


@pytest.mark.parametrize("coding, encode", CODINGS)
def test_draining_a_big_body_in_small_pieces_costs_linear_time(
    coding: str, encode: Callable[[bytes], bytes]
) -> None:
    # All the input at once and small output pieces: leftover input must not
    # be copied on every call.
    bodies = {n: encode(os.urandom(n // 2) * 2) for n in (100_000, 1_000_000)}

    def run(n: int) -> None:
        decoder = decoder_for(coding)
        assert decoder is not None
        decode_all(decoder, [bodies[n]], 512)

    assert_linear_time(run, 100_000, 1_000_000)
