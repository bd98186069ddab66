"""``serve``'s option table against what users read: ``--help`` and the one
defaults table of docs/cli.md.  The argument parser is built from
:data:`tornado_compat.serve.OPTIONS`; these tests keep the docs from drifting
away from it."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.serve_process import ROOT
from tornado_compat.serve import OPTIONS, SERVE_MAX_BODY_SIZE, size

FLAG = re.compile(r"^`(--[a-z][a-z0-9-]+)")


def docs_rows() -> dict[str, tuple[str, str]]:
    """``flag: (default, HTTPServer argument)`` from docs/cli.md's table."""
    rows: dict[str, tuple[str, str]] = {}
    for line in (ROOT / "docs" / "cli.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        match = FLAG.match(cells[1]) if len(cells) == 6 else None
        if match:
            flag = match.group(1)
            assert flag not in rows, f"{flag} is in the table twice"
            rows[flag] = (cells[2], cells[3])
    return rows


def test_the_docs_table_has_every_option_with_its_default_and_argument() -> None:
    rows = docs_rows()
    assert list(rows) == [option.flag for option in OPTIONS]
    for option in OPTIONS:
        default, keyword = rows[option.flag]
        assert default == option.shown, option.flag
        if option.server_keyword is not None:
            assert keyword == f"`{option.server_keyword}`", option.flag
        elif option.group == "TLS":
            assert keyword == "`ssl_options`", option.flag
        else:
            assert keyword == "", option.flag


def test_the_shown_defaults_are_the_defaults() -> None:
    # What the table shows for a size or a number is the parser's default.
    for option in OPTIONS:
        if option.type is size:
            assert size(option.shown) == option.default, option.flag
        elif isinstance(option.default, (int, float)) and not isinstance(
            option.default, bool
        ):
            if option.flag == "--unix-socket-mode":
                assert int(option.shown, 8) == option.default
            else:
                assert float(option.shown) == option.default, option.flag
        elif isinstance(option.default, bool):
            assert option.shown == ("on" if option.default else "off"), option.flag
        elif isinstance(option.default, str):
            assert option.shown == f"`{option.default}`", option.flag
        else:
            assert option.default is None, option.flag
    assert SERVE_MAX_BODY_SIZE == 100 * 1024 * 1024


def test_help_shows_every_option() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tornado_compat", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    flags = re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", result.stdout)
    expected = {option.flag for option in OPTIONS} | {"--help", "--no-access-log"}
    assert set(flags) == expected
    assert "(default 75)" in result.stdout
