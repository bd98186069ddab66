"""``serve --reload``: an edit to the application's file restarts the server
on the new code (tornado.autoreload re-executes the process)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.serve.support import get, refused, serve, stop

APP = """
import tornado.web


class Handler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("{text}")


app = tornado.web.Application([(r"/", Handler)])
"""


def write_app(path: Path, text: str, bump: int) -> None:
    path.write_text(APP.format(text=text))
    # autoreload compares modification times; make sure this one differs
    # from the last even on a file system with coarse timestamps.
    stamp = path.stat().st_mtime + bump
    os.utime(path, (stamp, stamp))


def test_an_edit_restarts_the_server_on_the_new_code(tmp_path: Path) -> None:
    target = tmp_path / "reloading_app.py"
    write_app(target, "version 1", 0)
    with serve("--reload", target=str(target)) as server:
        assert get(server.port) == (200, b"version 1")
        write_app(target, "version 2", 10)
        try:
            line = server.wait_for_line("serving", timeout=2)
        except AssertionError:
            # autoreload takes the files' first modification times half a
            # second after it starts, so an edit made sooner is its baseline,
            # not a change.  By now that has happened: edit again.
            write_app(target, "version 2", 20)
            line = server.wait_for_line("serving")
        port = int(line.rsplit(":", 1)[1].rstrip("/"))
        assert get(port) == (200, b"version 2")
        status, out, err = stop(server)
    assert status == 0, err
    assert out.endswith("server stopped")
    assert f"{target} modified; restarting server" in err


def test_reload_with_workers_is_refused() -> None:
    result = refused("serve", "examples/hello.py", "--reload", "--workers", "2")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "--reload works with one process only, not with --workers"
    ]


def test_code_that_fails_to_load_waits_for_a_fix(tmp_path: Path) -> None:
    target = tmp_path / "reloading_app.py"
    write_app(target, "version 1", 0)
    with serve("--reload", target=str(target)) as server:
        assert get(server.port) == (200, b"version 1")
        target.write_text("app = 42\n")
        stamp = target.stat().st_mtime + 10
        os.utime(target, (stamp, stamp))
        try:
            server.wait_for_line("waiting for a change", timeout=2)
        except AssertionError:
            os.utime(target, (stamp + 10, stamp + 10))
            server.wait_for_line("waiting for a change")
        server.wait_for_log("app is int 42, not an Application")
        # Still running; the fix brings it back.  The file was just stamped
        # by us, and autoreload's baseline is taken after it starts, so the
        # same retry as above applies.
        write_app(target, "version 3", 30)
        try:
            line = server.wait_for_line("serving", timeout=2)
        except AssertionError:
            write_app(target, "version 3", 40)
            line = server.wait_for_line("serving")
        port = int(line.rsplit(":", 1)[1].rstrip("/"))
        assert get(port) == (200, b"version 3")
        status, _, err = stop(server)
    assert status == 0, err
