"""Deprecation warnings and the deprecated request constructor, against Tornado 6.6.

Projects filter warnings by category and text (``filterwarnings = ignore:The
start_line argument...``), so a warning is API behaviour, like an exception
type: a different text escapes the filter and, under ``-W error``, fails the
project's tests.  Each deprecated call path below is taken once on Tornado's
module and once on ours, and the warnings must be the same list: category,
text, and where they point (the caller, or the module that warns).  Paths that
are deprecated but silent on this Python are listed too: ours must stay silent.

Tornado's own modules are imported into this test session to compare with.
That is safe here: no test calls ``install()`` in this process.  The paths that
run outside an event loop change the process's loop state, so each of them runs
in a fresh interpreter, once per side.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
import os
import socket
import ssl
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tornado_compat.dropin import MODULE_MAP

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Short names of the replaced modules, as Tornado names them.
MODULES = {r.tornado_name.split(".", 1)[1]: r.compat_name for r in MODULE_MAP}

Module = Callable[[str], ModuleType]
Warned = list[tuple[str, str, str]]


def tornado_module(name: str) -> ModuleType:
    return importlib.import_module("tornado." + name)


def compat_module(name: str) -> ModuleType:
    return importlib.import_module(MODULES[name])


def _where(filename: str) -> str:
    # Tornado's own warnings point at the caller (this file); Python's, such
    # as the ssl module's, point at the module that called into Python.
    return "caller" if filename == __file__ else Path(filename).name


def _record(call: Callable[[], Any]) -> tuple[Warned, Any]:
    """The warnings ``call`` gives, and what it returned or raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            outcome: Any = ("returned", call())
        except Exception as e:
            outcome = ("raised", type(e).__name__, str(e))
    warned = [
        (w.category.__name__, str(w.message), _where(w.filename))
        for w in caught
        # A ResourceWarning comes from whatever the collector frees meanwhile.
        if not issubclass(w.category, ResourceWarning)
    ]
    return warned, outcome


# -- HTTPServerRequest: every combination of its deprecated arguments ----------

_METHODS = [None, "POST", ""]
_URIS = [None, "/a/b?x=1&x=2", ""]
_VERSIONS = [None, "HTTP/1.1"]
_START_LINES = [None, ("PUT", "/p?q=2", "HTTP/1.1")]
_HOSTS = [None, "h.example:8080"]
_HEADERS = [None, {"Host": "from.headers"}, {}]

_REQUEST_CASES = list(
    itertools.product(_METHODS, _URIS, _VERSIONS, _START_LINES, _HOSTS, _HEADERS)
)


def _case_id(case: tuple[Any, ...]) -> str:
    method, uri, version, start_line, host, headers = case
    parts = [
        f"method={method!r}" if method is not None else "",
        f"uri={uri!r}" if uri is not None else "",
        f"version={version}" if version is not None else "",
        "start_line" if start_line is not None else "",
        "host" if host is not None else "",
        f"headers={headers}" if headers is not None else "",
    ]
    return ",".join(p for p in parts if p) or "no-arguments"


def _make_request(mod: Module, case: tuple[Any, ...]) -> dict[str, Any]:
    method, uri, version, start_line, host, headers = case
    httputil = mod("httputil")
    kwargs: dict[str, Any] = {}
    if method is not None:
        kwargs["method"] = method
    if uri is not None:
        kwargs["uri"] = uri
    if version is not None:
        kwargs["version"] = version
    if start_line is not None:
        kwargs["start_line"] = httputil.RequestStartLine(*start_line)
    if host is not None:
        kwargs["host"] = host
    passed = None
    if headers is not None:
        passed = kwargs["headers"] = httputil.HTTPHeaders(headers)
    r = httputil.HTTPServerRequest(**kwargs)
    return {
        "line": (r.method, r.uri, r.version),
        "path": (r.path, r.query),
        "host": (r.host, r.host_name),
        "headers": sorted(r.headers.get_all()),
        "headers_kept": r.headers is passed,
        "arguments": (r.arguments, r.query_arguments, r.body_arguments),
        "body": r.body,
        "files": r.files,
        "full_url": r.full_url(),
    }


@pytest.mark.parametrize("case", _REQUEST_CASES, ids=map(_case_id, _REQUEST_CASES))
def test_request_constructor_matches_tornado(case: tuple[Any, ...]) -> None:
    ours = _record(lambda: _make_request(compat_module, case))
    theirs = _record(lambda: _make_request(tornado_module, case))
    assert ours == theirs


def test_request_without_start_line_is_get_slash() -> None:
    # What a user sees, spelled out for the commonest case.
    httputil = compat_module("httputil")
    with pytest.warns(DeprecationWarning) as caught:
        r = httputil.HTTPServerRequest()
    assert (r.method, r.uri, r.path, r.query) == ("GET", "/", "/", "")
    assert [str(w.message) for w in caught] == [
        "The start_line argument to HTTPServerRequest will be required in Tornado 6.7."
    ]


@pytest.mark.parametrize(
    "host",
    ["a,b", "a.example,b.example:80", ",", "a:80,b:80"],
)
def test_request_host_with_a_comma_is_refused_like_tornado(host: str) -> None:
    # A proxy that folds two Host headers into one value must not get past.
    def make(mod: Module) -> Callable[[], Any]:
        httputil = mod("httputil")
        return lambda: (
            httputil.HTTPServerRequest(
                start_line=httputil.RequestStartLine("GET", "/", "HTTP/1.1"),
                headers=httputil.HTTPHeaders({"Host": host}),
            ).host
        )

    ours = _record(make(compat_module))
    assert ours == _record(make(tornado_module))
    assert ours[1][:2] == ("raised", "HTTPInputError")


# -- the other deprecated paths, in this process -------------------------------


def _run_in_loop(call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` run inside a running event loop, as a server or client would."""

    async def inside() -> Any:
        return call()

    return lambda: asyncio.run(inside())


def _headers_parse_line_lf(mod: Module) -> Any:
    headers = mod("httputil").HTTPHeaders()
    # Lines ending in a bare LF are deprecated (to be refused in 6.7).
    headers.parse_line("X-A: 1\n")
    return sorted(headers.get_all())


def _context_without_server_side(mod: Module) -> Any:
    return mod("netutil").ssl_options_to_context({}).protocol


def _context_with_legacy_version(mod: Module) -> Any:
    netutil = mod("netutil")
    options = {"ssl_version": ssl.PROTOCOL_TLSv1_2}
    return netutil.ssl_options_to_context(options, server_side=True).protocol


def _wrap_socket_without_server_side(mod: Module) -> Any:
    with socket.socket() as sock:
        wrapped = mod("netutil").ssl_wrap_socket(sock, {})
        try:
            return (wrapped.server_side, wrapped.context.protocol)
        finally:
            wrapped.close()


def _resolver(class_name: str) -> Callable[[Module], Any]:
    def make(mod: Module) -> Any:
        def construct() -> Any:
            resolver = getattr(mod("netutil"), class_name)()
            resolver.close()
            return class_name

        return _run_in_loop(construct)()

    return make


def _request_use_gzip(mod: Module) -> Any:
    request = mod("httpclient").HTTPRequest("http://127.0.0.1/", use_gzip=False)
    return request.decompress_response


IN_PROCESS: dict[str, Callable[[Module], Any]] = {
    "httputil.HTTPServerRequest(): no start_line": lambda mod: mod(
        "httputil"
    ).HTTPServerRequest(),
    "httputil.HTTPServerRequest(method, uri, version)": lambda mod: mod(
        "httputil"
    ).HTTPServerRequest("GET", "/", "HTTP/1.0"),
    "httputil.HTTPServerRequest(uri=..., start_line=...)": lambda mod: mod(
        "httputil"
    ).HTTPServerRequest(
        uri="/x", start_line=mod("httputil").RequestStartLine("GET", "/", "HTTP/1.0")
    ),
    "httputil.HTTPServerRequest(host=..., start_line=...)": lambda mod: mod(
        "httputil"
    ).HTTPServerRequest(
        host="h", start_line=mod("httputil").RequestStartLine("GET", "/", "HTTP/1.0")
    ),
    "httputil.HTTPServerRequest(host=...): no start_line": lambda mod: mod(
        "httputil"
    ).HTTPServerRequest(host="h"),
    "httputil.HTTPHeaders.parse_line: bare LF": _headers_parse_line_lf,
    "netutil.ssl_options_to_context: no server_side": _context_without_server_side,
    "netutil.ssl_options_to_context: legacy ssl_version": _context_with_legacy_version,
    "netutil.ssl_wrap_socket: no server_side": _wrap_socket_without_server_side,
    "netutil.DefaultExecutorResolver": _resolver("DefaultExecutorResolver"),
    "netutil.ExecutorResolver": _resolver("ExecutorResolver"),
    "netutil.BlockingResolver": _resolver("BlockingResolver"),
    "netutil.ThreadedResolver": _resolver("ThreadedResolver"),
    "httpclient.HTTPRequest(use_gzip=...)": _request_use_gzip,
}


def _comparable(outcome: Any) -> Any:
    # Objects of the two implementations never compare equal; their class
    # names and repr-free facts do.
    if outcome[0] == "returned" and type(outcome[1]).__module__.startswith(
        ("tornado.", "tornado_compat.")
    ):
        return ("returned", type(outcome[1]).__name__)
    return outcome


@pytest.mark.parametrize("path", IN_PROCESS)
def test_deprecated_path_warns_as_tornado(path: str) -> None:
    take = IN_PROCESS[path]
    ours, our_outcome = _record(lambda: take(compat_module))
    theirs, their_outcome = _record(lambda: take(tornado_module))
    assert ours == theirs
    assert _comparable(our_outcome) == _comparable(their_outcome)


# -- deprecated paths outside a running event loop, one interpreter each --------

_CHILD = """
import importlib, json, os, sys, warnings
MODULES = json.loads(sys.argv[2])
def mod(name):
    if sys.argv[1] == "tornado":
        return importlib.import_module("tornado." + name)
    return importlib.import_module(MODULES[name])
code = compile(sys.stdin.read(), "<caller>", "exec")
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    exec(code, {"mod": mod})
print(json.dumps([
    (w.category.__name__, str(w.message),
     "caller" if w.filename == "<caller>" else os.path.basename(w.filename))
    for w in caught if not issubclass(w.category, ResourceWarning)
]))
"""

OUTSIDE_A_LOOP = {
    # Deprecated since 6.2 in favour of listen() or add_sockets().
    "tcpserver.TCPServer.bind + start": """
        server = mod("tcpserver").TCPServer()
        server.bind(0, "127.0.0.1")
        server.start(1)
        server.stop()
    """,
    "httpserver.HTTPServer.bind + start": """
        server = mod("httpserver").HTTPServer(lambda request: None)
        server.bind(0, "127.0.0.1")
        server.start(1)
        server.stop()
    """,
    # IOLoop.current() with no running loop is deprecated since 6.2; these
    # constructors call it.
    "tcpserver.TCPServer.listen": """
        server = mod("tcpserver").TCPServer()
        server.listen(0, "127.0.0.1")
        server.stop()
    """,
    "httpclient.AsyncHTTPClient()": """
        mod("httpclient").AsyncHTTPClient().close()
    """,
    "simple_httpclient.SimpleAsyncHTTPClient()": """
        mod("simple_httpclient").SimpleAsyncHTTPClient(force_instance=True).close()
    """,
    "iostream.IOStream()": """
        import socket
        a, b = socket.socketpair()
        mod("iostream").IOStream(a).close()
        b.close()
    """,
    "tcpclient.TCPClient()": """
        mod("tcpclient").TCPClient().close()
    """,
    "netutil.Resolver()": """
        mod("netutil").Resolver().close()
    """,
}


def _warnings_in_child(side: str, code: str) -> Warned:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, side, json.dumps(MODULES)],
        input=textwrap.dedent(code),
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [tuple(w) for w in json.loads(result.stdout)]


@pytest.mark.parametrize("path", OUTSIDE_A_LOOP)
def test_deprecated_path_outside_a_loop_warns_as_tornado(path: str) -> None:
    code = OUTSIDE_A_LOOP[path]
    assert _warnings_in_child("compat", code) == _warnings_in_child("tornado", code)
