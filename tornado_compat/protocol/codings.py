"""Content codings: decoding a compressed message body in bounded steps.

What this module is for: undoing the content codings of RFC 9110 section
8.4.1 that a peer applied to a body, ``gzip`` (and its alias ``x-gzip``),
``deflate``, ``br`` (when the ``brotli`` or ``brotlicffi`` package is
installed) and ``zstd`` (``compression.zstd`` on Python 3.14, else the
``backports.zstd`` package), and saying which of them this machine can
decode (:func:`accept_encoding`).

A :class:`Decoder` never returns more than the caller asked for: compressed
input that expands a thousandfold (a "zip bomb") is decoded one bounded
piece at a time, and whatever input is left waits inside the decoder until
the caller asks again.  So the caller can stop as soon as a size limit is
passed, and never holds more than one piece of output.

What it must never do: import asyncio, touch a socket, or log.  A body that
is not valid in its coding, stops early, or carries bytes after its end
raises :class:`~tornado_compat.protocol.errors.RemoteProtocolError` naming
the coding (``invalid gzip data: ...``).
"""

from __future__ import annotations

import functools
import importlib
import sys
import zlib
from collections import deque
from collections.abc import Callable
from types import ModuleType
from typing import Any

from tornado_compat.protocol.errors import RemoteProtocolError

__all__ = [
    "Decoder",
    "decoder_for",
    "supported_codings",
    "accept_encoding",
    "MAX_CODINGS",
    "ZSTD_WINDOW_LOG_MAX",
]

#: Most codings one body may list and still be decoded; a longer list is
#: left undecoded (each layer costs a decoder's memory, and real senders
#: apply one coding, rarely two).
MAX_CODINGS = 2

#: Largest zstd window accepted, as a power of two: 8 MiB, the most an HTTP
#: sender may use (RFC 9659).  A frame asking for more is refused rather
#: than allowed to allocate up to the library's default of 128 MiB.
ZSTD_WINDOW_LOG_MAX = 23

# Compressed input handed to a library in one call: as much as the output
# asked for, within these bounds.  zlib copies the input it did not use on
# every call, so a bounded slice keeps decoding linear in the input.
_MIN_INPUT_STEP = 4096
_MAX_INPUT_STEP = 65536
# Output size asked of the inner decoders of a list of codings.
_INNER_STEP = 65536
# zlib's window bits for the gzip format.
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _load(*names: str) -> ModuleType | None:
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _load_brotli() -> ModuleType | None:
    for name in ("brotli", "brotlicffi"):
        module = _load(name)
        # Releases before 1.2 cannot bound the output of one call; decoding
        # br with them would reopen the zip bomb, so br is left unsupported.
        decompressor = getattr(module, "Decompressor", None)
        if decompressor is not None and hasattr(decompressor, "can_accept_more_data"):
            return module
    return None


def _load_zstd() -> ModuleType | None:
    if sys.version_info >= (3, 14):
        return _load("compression.zstd")
    return _load("backports.zstd")


_brotli = _load_brotli()
_zstd = _load_zstd()


class _Input:
    """Compressed bytes waiting to be decoded, oldest first."""

    __slots__ = ("_chunks", "_size")

    def __init__(self) -> None:
        self._chunks: deque[memoryview] = deque()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, data: bytes) -> None:
        # A copy of a mutable buffer, so the caller may reuse it.
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        if view.nbytes:
            self._chunks.append(view.cast("B"))
            self._size += view.nbytes

    def unread(self, data: bytes | memoryview) -> None:
        """Put ``data`` back in front: it was taken but not used."""
        view = memoryview(data).cast("B")
        if view.nbytes:
            self._chunks.appendleft(view)
            self._size += view.nbytes

    def peek(self, count: int) -> bytes:
        """The first ``count`` bytes (fewer if there are not as many)."""
        parts = []
        for chunk in self._chunks:
            parts.append(chunk[:count].tobytes())
            count -= chunk.nbytes
            if count <= 0:
                break
        return b"".join(parts)

    def take(self, limit: int) -> memoryview:
        """Remove and return up to ``limit`` bytes from the front."""
        first = self._chunks[0]
        if first.nbytes > limit:
            self._chunks[0] = first[limit:]
            first = first[:limit]
        else:
            self._chunks.popleft()
        self._size -= first.nbytes
        return first


def _step(max_length: int) -> int:
    return min(max(max_length, _MIN_INPUT_STEP), _MAX_INPUT_STEP)


class Decoder:
    """Decodes one body in one content coding (or a list of them).

    Feed the body to :meth:`decode` as it arrives.  Each call returns at
    most ``max_length`` bytes of decoded output; input that would produce
    more stays inside the decoder.  Call ``decode(b"", max_length)`` again
    until it returns ``b""``, which means that the input given so far has
    been decoded entirely.  When the body has ended, :meth:`finish` checks
    that its coded stream was complete.
    """

    #: The coding's name, as error messages give it.
    coding: str = ""

    def decode(self, data: bytes, max_length: int) -> bytes:
        """Add ``data`` to the input and return the next decoded bytes.

        Returns at most ``max_length`` bytes (which must be positive), and
        ``b""`` only when no more output can be made without more input.
        Raises :class:`RemoteProtocolError` if the input is not valid in the
        coding, or goes on after the end of the coded stream.
        """
        if max_length < 1:
            raise ValueError("max_length must be positive")
        if data:
            self._feed(data)
        return self._produce(max_length)

    @property
    def eof(self) -> bool:
        """Whether the coded stream has ended and all its output was
        returned."""
        raise NotImplementedError

    def finish(self) -> None:
        """Raise :class:`RemoteProtocolError` unless the stream is complete.

        Call it after the last :meth:`decode` returned ``b""``.
        """
        if not self.eof:
            raise RemoteProtocolError(f"invalid {self.coding} data: truncated")

    def _feed(self, data: bytes) -> None:
        raise NotImplementedError

    def _produce(self, max_length: int) -> bytes:
        raise NotImplementedError

    def _invalid(self, detail: object) -> RemoteProtocolError:
        return RemoteProtocolError(f"invalid {self.coding} data: {detail}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.coding}>"


class _SingleDecoder(Decoder):
    """A decoder of one coding, over a buffer of waiting input."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._input = _Input()

    def _feed(self, data: bytes) -> None:
        self._input.append(data)


class _ZlibDecoder(_SingleDecoder):
    """gzip (RFC 1952) or deflate (the zlib format of RFC 1950).

    A gzip body may hold several members one after another (RFC 1952
    section 2.2); they decode to one body.  Anything after the last member
    must be another valid member, so trailing garbage or padding is an
    error.

    ``deflate`` is defined as the zlib format, but some senders have always
    sent a bare deflate stream (RFC 1951) instead, and browsers accept both.
    The first two bytes tell them apart: a zlib header names compression
    method 8 and is a multiple of 31, which no standard encoder's bare
    stream starts with.  A bare stream has no checksum, but it still has
    to reach its final block, so truncation is still detected.
    """

    def __init__(self, coding: str) -> None:
        super().__init__(coding)
        self._gzip = coding != "deflate"
        # None for deflate until its first two bytes tell which format it is.
        self._z = zlib.decompressobj(_GZIP_WBITS) if self._gzip else None
        # The last call filled its output, so zlib may hold more.
        self._more = False

    @property
    def eof(self) -> bool:
        return self._z is not None and self._z.eof and not self._input

    def _choose_format(self) -> bool:
        if len(self._input) < 2:
            return False
        cmf, flg = self._input.peek(2)
        zlib_header = cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf * 256 + flg) % 31 == 0
        self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        return True

    def _produce(self, max_length: int) -> bytes:
        pending = self._input
        while True:
            z = self._z
            if z is None:
                if not self._choose_format():
                    return b""
                continue
            if z.eof:
                if not pending:
                    return b""
                if not self._gzip:
                    raise self._invalid("data after the end of the stream")
                # The next member of a gzip body.
                self._z = z = zlib.decompressobj(_GZIP_WBITS)
            elif not pending and not self._more:
                return b""
            chunk = pending.take(_step(max_length)) if pending else memoryview(b"")
            try:
                out = z.decompress(chunk, max_length)
            except zlib.error as e:
                raise self._invalid(e) from None
            left = len(z.unused_data) if z.eof else len(z.unconsumed_tail)
            if left:
                pending.unread(chunk[chunk.nbytes - left :])
            self._more = len(out) == max_length and not z.eof
            if out:
                return out


class _BrotliDecoder(_SingleDecoder):
    """br (RFC 7932): one stream; nothing may follow it."""

    def __init__(self) -> None:
        super().__init__("br")
        assert _brotli is not None
        self._error: type[Exception] = _brotli.error
        self._d: Any = _brotli.Decompressor()
        # The library's output limit is only approximate (it grows its
        # buffer in blocks), so the excess waits here.
        self._out = b""
        self._out_pos = 0
        # The last call filled its output, so the library may hold more.
        self._more = False

    @property
    def eof(self) -> bool:
        return (
            self._d.is_finished()
            and not self._input
            and self._out_pos >= len(self._out)
        )

    def _produce(self, max_length: int) -> bytes:
        if self._out_pos < len(self._out):
            return self._take_out(max_length)
        pending = self._input
        d = self._d
        while True:
            if d.is_finished():
                if pending:
                    raise self._invalid("data after the end of the stream")
                return b""
            if not d.can_accept_more_data():
                chunk = memoryview(b"")  # it must hand out what it holds first
            elif pending:
                chunk = pending.take(_step(max_length))
            elif self._more:
                # The last call filled its output: the end of the stream may
                # only show once the library is asked again.
                chunk = memoryview(b"")
            else:
                return b""
            try:
                out = d.process(chunk, output_buffer_limit=max_length)
            except self._error as e:
                raise self._invalid(e) from None
            self._more = len(out) >= max_length
            if len(out) > max_length:
                self._out, self._out_pos = out, 0
                return self._take_out(max_length)
            if out:
                return out
            if not chunk:
                # Asked again and nothing came: wait for more input.
                return b""

    def _take_out(self, max_length: int) -> bytes:
        start = self._out_pos
        self._out_pos = end = start + max_length
        out = self._out[start:end]
        if end >= len(self._out):
            self._out, self._out_pos = b"", 0
        return out


class _ZstdDecoder(_SingleDecoder):
    """zstd (RFC 8878, with the window limit of RFC 9659).

    A body may hold several frames one after another (skippable frames
    included); they decode to one body, as the ``zstd`` tool does.  Anything
    after the last frame must be another valid frame.
    """

    def __init__(self) -> None:
        super().__init__("zstd")
        assert _zstd is not None
        self._error: type[Exception] = _zstd.ZstdError
        self._d: Any = self._new()

    @staticmethod
    def _new() -> Any:
        assert _zstd is not None
        window = _zstd.DecompressionParameter.window_log_max
        return _zstd.ZstdDecompressor(options={window: ZSTD_WINDOW_LOG_MAX})

    @property
    def eof(self) -> bool:
        return bool(self._d.eof) and not self._input

    def _produce(self, max_length: int) -> bytes:
        pending = self._input
        while True:
            d = self._d
            if d.eof:
                if not pending:
                    return b""
                self._d = d = self._new()
            elif not pending and d.needs_input:
                return b""
            # The library keeps all the input it is given, so it gets more
            # only once it has used up what it has.
            chunk = pending.take(_step(max_length)) if d.needs_input else b""
            try:
                out = d.decompress(chunk, max_length)
            except self._error as e:
                raise self._invalid(e) from None
            if d.eof and d.unused_data:
                # The start of the next frame.
                pending.unread(d.unused_data)
            if out:
                return out
            if not chunk and not d.eof and not d.needs_input:
                # Still claims to hold output but gave none: do not spin.
                return b""


class _ChainDecoder(Decoder):
    """Several codings, undone in the reverse of the order they were applied
    (RFC 9110 section 8.4).  ``decoders`` are in decoding order."""

    def __init__(self, decoders: list[Decoder]) -> None:
        self._decoders = decoders
        self.coding = ", ".join(d.coding for d in reversed(decoders))

    @property
    def eof(self) -> bool:
        return all(d.eof for d in self._decoders)

    def finish(self) -> None:
        for decoder in self._decoders:
            decoder.finish()

    def _feed(self, data: bytes) -> None:
        self._decoders[0]._feed(data)

    def _produce(self, max_length: int) -> bytes:
        return self._produce_from(len(self._decoders) - 1, max_length)

    def _produce_from(self, index: int, max_length: int) -> bytes:
        decoder = self._decoders[index]
        if index == 0:
            return decoder._produce(max_length)
        while True:
            out = decoder._produce(max_length)
            if out:
                return out
            # This layer needs input: take some from the layer below it.
            inner = self._produce_from(index - 1, _INNER_STEP)
            if not inner:
                return b""
            decoder._feed(inner)


def _gzip() -> Decoder:
    return _ZlibDecoder("gzip")


def _deflate() -> Decoder:
    return _ZlibDecoder("deflate")


_FACTORIES: dict[str, Callable[[], Decoder]] = {
    "gzip": _gzip,
    "x-gzip": _gzip,
    "deflate": _deflate,
}
if _brotli is not None:
    _FACTORIES["br"] = _BrotliDecoder
if _zstd is not None:
    _FACTORIES["zstd"] = _ZstdDecoder


def supported_codings() -> tuple[str, ...]:
    """The content codings this machine can decode (aliases left out)."""
    return tuple(name for name in _FACTORIES if name != "x-gzip")


@functools.cache
def accept_encoding() -> str:
    """An ``Accept-Encoding`` value offering every coding this machine can
    decode, e.g. ``"gzip, deflate, br, zstd"``."""
    return ", ".join(supported_codings())


def decoder_for(content_encoding: str) -> Decoder | None:
    """A new decoder for a body sent with this ``Content-Encoding`` value.

    The value is a comma-separated list of codings in the order they were
    applied, matched without regard to case; ``identity`` and empty list
    elements are ignored.  Returns None when there is nothing to decode,
    and also when a coding is unknown or unsupported here or the list has
    more than :data:`MAX_CODINGS` codings: such a body must be passed on as
    it is, with its ``Content-Encoding``, because decoding only part of it
    would mislabel the result.
    """
    names = [
        name
        for name in (part.strip(" \t").lower() for part in content_encoding.split(","))
        if name and name != "identity"
    ]
    if not names or len(names) > MAX_CODINGS:
        return None
    factories = [_FACTORIES.get(name) for name in names]
    if None in factories:
        return None
    # The last coding applied is the first to undo.
    decoders = [factory() for factory in reversed(factories) if factory is not None]
    if len(decoders) == 1:
        return decoders[0]
    return _ChainDecoder(decoders)
