"""install(): the import hook that serves tornado.X from tornado_compat.

Each test runs in a fresh interpreter: install() changes the process's import
system for good, and the point is what a process that has imported nothing
yet sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tornado_compat.dropin import MODULE_MAP

REPO_ROOT = Path(__file__).resolve().parent.parent


def _python(
    code: str, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    path = [str(REPO_ROOT)]
    if pythonpath is not None:
        path.insert(0, str(pythonpath))
    env["PYTHONPATH"] = os.pathsep.join(path)
    env.pop("TORNADO_COMPAT_INSTALL", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _json(code: str, pythonpath: Path | None = None) -> object:
    proc = _python(code, pythonpath)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_install_imports_nothing_it_maps() -> None:
    loaded = _json(
        """
        import json, sys
        import tornado_compat
        names = tornado_compat.install()
        print(json.dumps({
            "names": names,
            "loaded": sorted(n for n in sys.modules if n.startswith("tornado")),
            "heavy": sorted({"doctest", "unittest", "pycurl", "ssl", "asyncio"}
                            & set(sys.modules)),
        }))
        """
    )
    assert loaded == {
        "names": [r.tornado_name for r in MODULE_MAP],
        "loaded": [
            "tornado_compat",
            "tornado_compat._compiled",
            "tornado_compat.dropin",
        ],
        "heavy": [],
    }


def test_install_stays_cheap() -> None:
    # Without site, so that only what tornado_compat imports is counted: a
    # sitecustomize drop-in makes every Python process pay for it.
    proc = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import json, sys\n"
            "before = set(sys.modules)\n"
            "import tornado_compat\n"
            "tornado_compat.install()\n"
            "print(json.dumps(sorted(set(sys.modules) - before)))\n",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    heavy = {
        "asyncio",
        "collections",
        "dataclasses",
        "doctest",
        "importlib.abc",
        "importlib.resources",
        "inspect",
        "pathlib",
        "pycurl",
        "ssl",
        "tempfile",
        "typing",
        "unittest",
    }
    assert heavy & set(json.loads(proc.stdout)) == set()


def test_each_name_imports_tornado_compat_module() -> None:
    served = _json(
        """
        import importlib, json, sys
        import tornado_compat
        tornado_compat.install()
        import tornado
        out = {}
        for name in [r.tornado_name for r in tornado_compat.MODULE_MAP]:
            module = importlib.import_module(name)
            out[name] = [
                module.__name__,
                module.__spec__.name,
                sys.modules[name] is sys.modules[module.__name__],
                getattr(tornado, name.rpartition(".")[2]) is module,
            ]
        print(json.dumps(out))
        """
    )
    assert served == {
        r.tornado_name: [r.compat_name, r.compat_name, True, True] for r in MODULE_MAP
    }


def test_tornado_web_runs_on_tornado_compat_modules() -> None:
    held = _json(
        """
        import json
        import tornado_compat
        tornado_compat.install()
        import tornado.web
        print(json.dumps({
            "httputil": tornado.web.httputil.__name__,
            "iostream": tornado.web.iostream.__name__,
            "HTTPServer": tornado.web.HTTPServer.__module__,
            "HTTPHeaders": tornado.web.httputil.HTTPHeaders.__module__,
        }))
        """
    )
    assert held == {
        "httputil": "tornado_compat.httputil",
        "iostream": "tornado_compat.iostream",
        "HTTPServer": "tornado_compat.httpserver",
        "HTTPHeaders": "tornado_compat.httputil",
    }


def test_from_tornado_import_and_reload() -> None:
    seen = _json(
        """
        import importlib, json, sys
        import tornado_compat
        tornado_compat.install()
        from tornado import httputil
        before = httputil.HTTPHeaders
        again = importlib.reload(httputil)
        print(json.dumps([
            httputil.__name__,
            again is httputil,
            sys.modules["tornado.httputil"] is sys.modules["tornado_compat.httputil"],
            httputil.HTTPHeaders is not before,
            httputil.__name__,
        ]))
        """
    )
    assert seen == [
        "tornado_compat.httputil",
        True,
        True,
        True,
        "tornado_compat.httputil",
    ]


def test_install_twice_and_by_name() -> None:
    seen = _json(
        """
        import json, sys
        import tornado_compat
        first = tornado_compat.install(["tornado.iostream"])
        import tornado.iostream, tornado.httputil
        partial = [tornado.iostream.__name__, tornado.httputil.__name__]
        try:
            tornado_compat.install()
        except tornado_compat.InstallError as e:
            refused = str(e)
        try:
            tornado_compat.install(["tornado.web"])
        except ValueError as e:
            unknown = str(e)
        again = tornado_compat.install(["tornado.iostream", "tornado.netutil"])
        import tornado.netutil
        hooks = sum(
            type(f).__module__ == "tornado_compat.dropin" for f in sys.meta_path
        )
        print(json.dumps([first, partial, refused, unknown, again,
                          tornado.netutil.__name__, hooks]))
        """
    )
    assert seen == [
        ["tornado.iostream"],
        ["tornado_compat.iostream", "tornado.httputil"],
        "install() must run before these Tornado modules are imported: "
        "tornado.httputil",
        "not in the drop-in map: ['tornado.web']",
        ["tornado.iostream", "tornado.netutil"],
        "tornado_compat.netutil",
        1,
    ]


def test_install_after_tornado_web_is_refused() -> None:
    proc = _python(
        """
        import tornado.web
        import tornado_compat
        tornado_compat.install()
        """
    )
    assert proc.returncode == 1
    assert "InstallError: install() must run before these Tornado modules" in (
        proc.stderr
    )
    assert "tornado.httputil" in proc.stderr


@pytest.fixture
def no_pycurl(tmp_path: Path) -> Path:
    """A PYTHONPATH folder whose pycurl fails to import, as when it is absent."""
    (tmp_path / "pycurl.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'pycurl'\", name='pycurl')\n"
    )
    return tmp_path


@pytest.mark.parametrize("compat", [False, True], ids=["tornado", "tornado_compat"])
def test_curl_without_pycurl_fails_only_when_imported(
    no_pycurl: Path, compat: bool
) -> None:
    seen = _json(
        f"""
        import json
        if {compat}:
            import tornado_compat
            tornado_compat.install()
        import tornado.web, tornado.httpclient, tornado.simple_httpclient
        try:
            import tornado.curl_httpclient
        except ImportError as e:
            error = [type(e).__name__, e.name]
        print(json.dumps([tornado.httpclient.AsyncHTTPClient.configured_class()
                          .__module__, error]))
        """,
        pythonpath=no_pycurl,
    )
    client = (
        "tornado_compat.httpclient.simple" if compat else "tornado.simple_httpclient"
    )
    assert seen == [client, ["ModuleNotFoundError", "pycurl"]]
