"""Log records from the connection name http1connection, compiled or not.

A mypyc-compiled module runs without Python frames, so logging on its own
would name the nearest Python caller (``iostream.py``).  These records must
lead a reader to the call that logged them: module, file, line and function.
CI runs the suite compiled, so there this checks the compiled build.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

import tornado_compat
from tornado_compat import httputil

# From the package, not the module's own __file__: compiled, that can name
# the package's folder twice (see tornado_compat._logsite._module_source).
SOURCE = Path(tornado_compat.__file__).with_name("http1connection.py")


def _sites(call: str) -> dict[int, str]:
    """The lines of the source that hold ``call``, each with its function."""
    sites = {}
    function = "<module>"
    for number, line in enumerate(SOURCE.read_text().splitlines(), 1):
        match = re.match(r"\s*(?:async )?def (\w+)", line)
        if match:
            function = match.group(1)
        if call in line:
            sites[number] = function
    return sites


def _located(record: logging.LogRecord, call: str) -> None:
    sites = _sites(call)
    assert sites, call
    assert (record.module, record.filename) == ("http1connection", "http1connection.py")
    assert Path(record.pathname).resolve() == SOURCE.resolve()
    assert record.lineno in sites, (record.lineno, sites)
    assert record.funcName == sites[record.lineno]


def test_a_malformed_message_is_logged_from_http1connection(
    serve, connect, caplog
) -> None:
    served = serve()
    conn = connect(served.port)
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\nA : 1\r\n\r\n")
    assert conn.read_response().status == 400
    [record] = [r for r in caplog.records if "Malformed HTTP message" in r.msg]
    _located(record, '.info("Malformed HTTP message from %s: %s"')


@pytest.mark.allow_error_logs
def test_an_application_error_is_logged_from_http1connection(
    serve, connect, caplog
) -> None:
    class Broken(httputil.HTTPServerConnectionDelegate):
        def start_request(self, server_conn, request_conn):
            raise RuntimeError("broken application")

    served = serve(app=Broken())
    conn = connect(served.port)
    conn.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.read_until_close() == b""
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == "Uncaught exception"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "broken application"
    _located(record, '.error("Uncaught exception"')
