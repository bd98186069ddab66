"""A memo of HPACK-encoded header blocks for the server's ``h2`` connection.

What this module is for: :class:`CachingEncoder` is ``hpack``'s own
``Encoder`` with a memo in front.  A server answers most requests with the
same response headers (a status, a content type, a length), and once these
are in the dynamic table their block is the same bytes every time, yet
``hpack`` builds it again, field by field.  The memo keeps each block whose
encoding left the dynamic table as it was, and gives it back while the table
stays unchanged; any change to the table (an entry added or evicted, a new
size) empties it.  Encoding the same fields against the same table gives the
same bytes, so the peer's decoder cannot tell a remembered block from a new
one.

What it must never do: encode anything itself (every block comes from
``hpack``), remember a block whose encoding changed the table, or give one
back after the table changed; nor hold more than :data:`MAX_ENTRIES` blocks.
"""

from __future__ import annotations

from typing import Any

from hpack import Encoder, HeaderTuple
from hpack.table import HeaderTable

__all__ = ["CachingEncoder", "MAX_ENTRIES"]

#: The most blocks remembered; past it the memo starts again empty.
MAX_ENTRIES = 64


class _CountingTable(HeaderTable):
    """hpack's header table, counting the changes that alter encodings."""

    def __init__(self) -> None:
        super().__init__()
        self.changes = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.changes += 1
        super().add(name, value)

    @property
    def maxsize(self) -> int:
        return HeaderTable.maxsize.fget(self)  # type: ignore[attr-defined]

    @maxsize.setter
    def maxsize(self, newmax: int) -> None:
        self.changes += 1
        HeaderTable.maxsize.fset(self, newmax)  # type: ignore[attr-defined]


class CachingEncoder(Encoder):
    """``hpack.Encoder`` that remembers the blocks it may give again."""

    def __init__(self) -> None:
        super().__init__()
        self._table = self.header_table = _CountingTable()
        self._memo: dict[Any, bytes] = {}
        self._memo_changes = 0

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        table = self._table
        if isinstance(headers, dict) or table.resized:
            return bytes(super().encode(headers, huffman))
        fields = tuple(headers)
        for field in fields:
            kind = type(field)
            # Only plain, indexable two-tuples: a sensitive field's block
            # differs from an ordinary one's with the same name and value.
            if kind is not HeaderTuple and (kind is not tuple or len(field) != 2):
                return bytes(super().encode(fields, huffman))
        if self._memo_changes != table.changes:
            self._memo.clear()
            self._memo_changes = table.changes
        key = (huffman, fields)
        block = self._memo.get(key)
        if block is not None:
            return block
        block = bytes(super().encode(fields, huffman))
        if table.changes == self._memo_changes:
            if len(self._memo) >= MAX_ENTRIES:
                self._memo.clear()
            self._memo[key] = block
        return block
