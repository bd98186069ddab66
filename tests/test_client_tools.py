"""tests/client_tools.py: a missing client skips its test, except under CI
(``CI=true``), where it fails it."""

from __future__ import annotations

import pytest

from tests import client_tools


@pytest.fixture
def missing(monkeypatch: pytest.MonkeyPatch) -> str:
    """A client that is nowhere, and that apt-get cannot install."""
    monkeypatch.setattr(client_tools, "_found", {})
    monkeypatch.setitem(
        client_tools.TOOLS, "nowhere", (("no-such-client-here",), "no-such-package")
    )
    monkeypatch.setattr(client_tools, "install_debian_package", lambda package: False)
    return "nowhere"


def test_a_missing_client_skips(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(
        pytest.skip.Exception, match="apt-get install -y no-such-package"
    ):
        client_tools.tool(missing)


def test_under_ci_a_missing_client_fails(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI a missing client"):
        client_tools.tool(missing)


def test_a_client_on_the_path_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_tools, "_found", {})
    monkeypatch.setitem(client_tools.TOOLS, "python", (("python3",), "python3"))
    assert client_tools.tool("python").endswith("python3")
