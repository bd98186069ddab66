"""What ``serve`` accepts as its target, and how it refuses the rest: at
start, with one line on stderr and exit status 2."""

from __future__ import annotations

import pytest

from tests.serve.support import TARGETS, get, refused, serve, stop


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("app", b"hello\n"),
        ("make_app", b"hello\n"),
        ("handle", b"raw callback\n"),
        ("make_callback", b"raw callback\n"),
    ],
)
def test_serves_an_application_a_request_callable_or_a_factory(
    name: str, body: bytes
) -> None:
    with serve(target=f"{TARGETS}:{name}") as server:
        assert get(server.port) == (200, body)
        status, out, err = stop(server)
    assert status == 0, err
    assert out.endswith("server stopped")


def test_the_attribute_defaults_to_app_and_a_module_name_works() -> None:
    with serve(target="tests.serve.apps.targets") as server:
        assert get(server.port) == (200, b"hello\n")
        status, _, err = stop(server)
    assert status == 0, err


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("number", "number is int 42, not an Application"),
        ("make_number", "make_number() returned int 42, not an Application"),
        ("two_arguments", "two_arguments is a callable with signature (a: 'object'"),
        ("main", "main is a coroutine function, not an Application"),
        ("handle_async", "handle_async is a coroutine function, not an Application"),
        ("nothing", "has no attribute 'nothing'"),
    ],
)
def test_refuses_what_it_cannot_serve_at_start(name: str, message: str) -> None:
    result = refused("serve", f"{TARGETS}:{name}", "--port", "0")
    assert result.returncode == 2, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"cannot load {TARGETS}:{name}: "), lines
    assert message in lines[0]


def test_an_error_while_importing_is_one_line_naming_where(tmp_path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import tornado.web\n\nx = 1 / 0\n")
    result = refused("serve", str(broken))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"cannot load {broken}: importing {broken} raised ZeroDivisionError:"
        f" division by zero ({broken}, line 3)"
    ]


def test_a_module_that_cannot_be_imported() -> None:
    result = refused("serve", "no_such_module_here:app")
    assert result.returncode == 2
    assert result.stderr.startswith(
        "cannot load no_such_module_here:app: cannot import no_such_module_here:"
    )
