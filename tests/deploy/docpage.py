"""What docs/deploy.md and examples/deploy/Dockerfile say, as data for the
deployment tests (not a test module).

What it is for: the tests run the configurations and commands of the page
itself, not copies of them, so that the page and the tests cannot drift
apart.  A block is found by its caption (``{code-block}`` with
``:caption:``); a command by the words it contains, among the lines of the
page's ``sh`` blocks.

What it must never do: guess.  A caption or a command that is missing, or
found twice, fails the test that asked for it, naming what it looked for.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "deploy.md"
DOCKERFILE = ROOT / "examples" / "deploy" / "Dockerfile"

_FENCE = re.compile(r"^(`{3,})(.*)$")


@dataclass
class Block:
    language: str
    caption: str | None
    text: str


def blocks(page: Path = PAGE) -> list[Block]:
    """Every fenced block of the page, in order."""
    found: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        i += 1
        if opening is None:
            continue
        fence, info = opening.groups()
        info = info.strip()
        directive = re.match(r"\{([\w-]+)\}\s*(.*)", info)
        if directive:
            language = directive.group(2).strip()
            if directive.group(1) == "literalinclude":
                language = "literalinclude"
        else:
            language = info
        caption = None
        # A directive's options come first, then a blank line.
        while directive and i < len(lines) and lines[i].startswith(":"):
            name, _, value = lines[i][1:].partition(":")
            if name == "caption":
                caption = value.strip()
            i += 1
        if directive and i < len(lines) and not lines[i].strip():
            i += 1
        body: list[str] = []
        while i < len(lines) and lines[i] != fence:
            body.append(lines[i])
            i += 1
        i += 1
        found.append(Block(language, caption, "\n".join(body) + "\n"))
    return found


def block(caption: str) -> str:
    """The text of the one block with this caption."""
    matching = [b for b in blocks() if b.caption == caption]
    assert len(matching) == 1, (
        f"docs/deploy.md has {len(matching)} blocks captioned {caption!r}"
    )
    return matching[0].text


def commands() -> list[str]:
    """Every command of the page's ``sh`` blocks, one per line."""
    found = []
    for b in blocks():
        if b.language == "sh":
            found.extend(line.strip() for line in b.text.splitlines() if line.strip())
    return found


def command(*words: str, without: tuple[str, ...] = ()) -> list[str]:
    """The argv of the one command of the page that contains all ``words``
    and none of ``without``."""
    matching = [
        c
        for c in commands()
        if all(w in shlex.split(c) for w in words)
        and not any(w in shlex.split(c) for w in without)
    ]
    assert len(matching) == 1, (
        f"docs/deploy.md has {len(matching)} commands with {words}: {matching}"
    )
    return shlex.split(matching[0])


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), comments and
    line continuations resolved."""
    instructions = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_cmd(path: Path = DOCKERFILE) -> list[str]:
    """The argv of the Dockerfile's last CMD, which must be in exec form (a
    JSON list): only that form makes the command PID 1."""
    cmds = [args for keyword, args in dockerfile_instructions(path) if keyword == "CMD"]
    assert cmds, "the Dockerfile has no CMD"
    argv = json.loads(cmds[-1])
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), argv
    return argv


def unit_value(unit: str, key: str) -> str:
    """The value of ``key`` in a systemd unit's text (the one line setting it)."""
    values = [
        line.partition("=")[2].strip()
        for line in unit.splitlines()
        if line.partition("=")[0].strip() == key
    ]
    assert len(values) == 1, f"{len(values)} lines set {key}"
    return values[0]


def nginx_seconds(config: str, directive: str, context: str) -> float:
    """The seconds of ``directive`` inside the block that opens with
    ``context`` (``upstream myapp``, say) in an nginx configuration."""
    start = config.index(context + " {")
    end = config.index("\n}", start)
    match = re.search(rf"^\s*{directive}\s+(\d+)(s?);", config[start:end], re.M)
    assert match, f"no {directive} in {context}"
    return float(match.group(1))


#: The application the tests serve in place of the page's ``myapp:app``.
TEST_APP = "tests.deploy.app:app"


def runnable(argv: list[str], replacements: dict[str, str]) -> list[str]:
    """A command of the page made to run here: this Python for ``python``
    (or a virtual environment's), the test application for ``myapp:app``,
    and each placeholder of ``replacements`` (which must all be used)."""
    replacements = {"myapp:app": TEST_APP, **replacements}
    unused = set(replacements)
    result = []
    for arg in argv:
        if arg == "python" or arg.endswith("/bin/python"):
            arg = sys.executable
        for placeholder, value in replacements.items():
            if placeholder in arg:
                arg = arg.replace(placeholder, value)
                unused.discard(placeholder)
        result.append(arg)
    assert not unused, f"{sorted(unused)} not in the command {argv}"
    return result


def dockerfile_commands(path: Path = DOCKERFILE) -> list[str]:
    """The commands the Dockerfile's comments show (indented lines)."""
    return [
        line[1:].strip()
        for line in path.read_text().splitlines()
        if line.startswith("#     ")
    ]
