"""The README's examples, run against the example app as a reader would.

What the README shows a reader must work when copied: its pipelining
snippet runs here against ``examples/hello.py`` served by ``python -m
tornado_compat serve`` (the README's first command, on a port the system
picks), and what it gets back is what that app serves.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

from tests.serve_process import TORNADO_COMPAT, ServeProcess

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _python_block(marker: str) -> str:
    """The README's python code block that contains ``marker``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    [block] = [b for b in blocks if marker in b]
    return str(block)


def test_the_pipelining_snippet_runs_against_the_example_app() -> None:
    snippet = _python_block("dugong.HTTPConnection(")
    assert "8888" in snippet
    with ServeProcess(
        [*TORNADO_COMPAT, "serve", "examples/hello.py", "--port", "0"],
        r"serving examples/hello\.py on http://127\.0\.0\.1:(\d+)/$",
    ) as server:
        scope: dict[str, object] = {}
        exec(snippet.replace("8888", str(server.port)), scope)
        server.send_signal(signal.SIGTERM)
        status, _, err = server.finish()
    assert status == 0, err
    hello = b"Hello from tornado.web on tornado_compat\n"
    stream = b"".join(b"line %d\n" % i for i in range(5))
    assert scope["bodies"] == [hello, stream, hello]
    # Three requests, each answered 200 (a 404 would be a wrong path).
    assert err.count(" 200 GET ") == 3, err
