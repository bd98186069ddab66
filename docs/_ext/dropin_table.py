"""Sphinx extension: the ``dropin-table`` directive renders the drop-in map.

The table is built from :data:`tornado_compat.dropin.MODULE_MAP` when the docs
are built, so the docs can never disagree with :func:`tornado_compat.install`.
This extension must never hold a copy of the map.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

import tornado_compat.dropin as dropin

HEADERS = ("Tornado module", "tornado_compat module")


def _cell(content: nodes.Node | str) -> nodes.entry:
    entry = nodes.entry()
    para = nodes.paragraph()
    para += content if isinstance(content, nodes.Node) else nodes.Text(content)
    entry += para
    return entry


class DropinTable(SphinxDirective):
    """Renders one row per drop-in replacement."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        # Rebuild the page when the map changes.
        self.env.note_dependency(dropin.__file__)
        table = nodes.table(classes=["dropin-table"])
        group = nodes.tgroup(cols=len(HEADERS))
        table += group
        for _ in HEADERS:
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        group += head
        row = nodes.row()
        for title in HEADERS:
            row += _cell(title)
        head += row
        body = nodes.tbody()
        group += body
        for replacement in dropin.MODULE_MAP:
            row = nodes.row()
            row += _cell(nodes.literal(text=replacement.tornado_name))
            row += _cell(nodes.literal(text=replacement.compat_name))
            body += row
        return [table]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("dropin-table", DropinTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
