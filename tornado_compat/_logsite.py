"""Log records from compiled modules that name the module they come from.

logging finds where a record comes from by walking Python frames.  A module
compiled with mypyc runs without frames, so a record it logs would name the
nearest Python caller instead (asyncio's ``events.py``, say), and a user
reading the log line would look in the wrong file.  A compiled module logs
through a :class:`SiteLogger` instead, which fills in the location itself:

- ``pathname``, ``filename`` and ``module`` name the module's ``.py``
  source (which sits next to the compiled file);
- ``lineno`` and ``funcName`` are those of the logging call in that source
  with the record's message.  When several calls share one message
  ("Uncaught exception"), the call in the function that the record's
  traceback last passed through in this module is chosen, else the first.

When the module runs as Python the caller's own frame gives the exact
location, as plain logging would.  The records go to the same loggers, with
the same names, levels, messages and arguments: only the location differs.

This module must never be compiled itself (its point is to run where frames
exist), and must never change which records are emitted.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from importlib.machinery import EXTENSION_SUFFIXES
from types import TracebackType
from typing import Any

_LOG_METHODS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _source_path(module_file: str) -> str:
    """The ``.py`` source next to a module file, compiled or not."""
    for suffix in EXTENSION_SUFFIXES:
        if module_file.endswith(suffix):
            return module_file[: -len(suffix)] + ".py"
    return module_file


def _module_source(module_name: str) -> str:
    """The ``.py`` source of the module named ``module_name``.

    A compiled module's ``__file__`` can name a file that does not exist:
    mypyc gives a module of a compiled group that another module of the
    group imports first the package's folder twice over
    (``.../tornado_compat/tornado_compat/http1connection...so``).  The
    source is then found from where its package is."""
    module = sys.modules.get(module_name)
    source = _source_path(getattr(module, "__file__", None) or "")
    if not source or os.path.exists(source):
        return source
    top, _, rest = module_name.partition(".")
    package_file = getattr(sys.modules.get(top), "__file__", None)
    if package_file and rest:
        beside = os.path.join(os.path.dirname(package_file), *rest.split(".")) + ".py"
        if os.path.exists(beside):
            return beside
    return source


def _logging_calls(source_path: str) -> dict[str, list[tuple[int, str]]]:
    """Each constant message logged in the source: its calls' lines and
    functions, in source order."""
    import ast  # only once a compiled module logs

    try:
        with open(source_path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), source_path)
    except (OSError, SyntaxError, ValueError):
        return {}
    calls: dict[str, list[tuple[int, str]]] = {}

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _LOG_METHODS
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            calls.setdefault(node.args[0].value, []).append((node.lineno, function))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "<module>")
    for sites in calls.values():
        sites.sort()
    return calls


class SiteLogger:
    """A logger as used from one module, with records located in it.

    ``SiteLogger(gen_log, __name__)`` at a module's top level; then
    ``.info(...)``, ``.error(...)`` and the rest as on the logger.
    """

    def __init__(self, logger: logging.Logger, module_name: str) -> None:
        self.logger = logger
        self.module_name = module_name
        self._calls: dict[str, list[tuple[int, str]]] | None = None
        self._source = ""
        self._lock = threading.Lock()

    def debug(self, msg: str, *args: object, exc_info: Any = None) -> None:
        self._log(logging.DEBUG, msg, args, exc_info)

    def info(self, msg: str, *args: object, exc_info: Any = None) -> None:
        self._log(logging.INFO, msg, args, exc_info)

    def warning(self, msg: str, *args: object, exc_info: Any = None) -> None:
        self._log(logging.WARNING, msg, args, exc_info)

    def error(self, msg: str, *args: object, exc_info: Any = None) -> None:
        self._log(logging.ERROR, msg, args, exc_info)

    def exception(self, msg: str, *args: object, exc_info: Any = True) -> None:
        self._log(logging.ERROR, msg, args, exc_info)

    def critical(self, msg: str, *args: object, exc_info: Any = None) -> None:
        self._log(logging.CRITICAL, msg, args, exc_info)

    def _log(
        self, level: int, msg: str, args: tuple[object, ...], exc_info: Any
    ) -> None:
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        if exc_info:
            if isinstance(exc_info, BaseException):
                exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
            elif not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
        else:
            exc_info = None
        # Two up: past _log and the level method, to the module's call.  A
        # compiled caller has no frame; the stack may then be that short.
        try:
            caller = sys._getframe(2)
        except ValueError:
            caller = None
        if caller is not None and caller.f_globals.get("__name__") == self.module_name:
            code = caller.f_code
            path, line, function = code.co_filename, caller.f_lineno, code.co_name
        else:
            path, line, function = self._site(msg, exc_info)
        record = logger.makeRecord(
            logger.name, level, path, line, msg, args, exc_info, function
        )
        logger.handle(record)

    def _site(self, msg: str, exc_info: _ExcInfo | None) -> tuple[str, int, str]:
        """Where the compiled module logs ``msg``, from its source."""
        with self._lock:
            if self._calls is None:
                self._source = _module_source(self.module_name)
                self._calls = _logging_calls(self._source) if self._source else {}
        sites = self._calls.get(msg)
        if not sites:
            return self._source or self.module_name, 0, "(unknown function)"
        if len(sites) > 1 and exc_info is not None:
            # mypyc adds the compiled functions an exception passed through
            # to its traceback, with their source file.
            # mypyc names the file as it was given to the build (a relative
            # path): compare base names.
            functions = {function for _, function in sites}
            source_name = os.path.basename(self._source)
            tb = exc_info[2]
            chosen = None
            while tb is not None:
                code = tb.tb_frame.f_code
                if (
                    code.co_name in functions
                    and os.path.basename(code.co_filename) == source_name
                ):
                    chosen = code.co_name
                tb = tb.tb_next
            for line, function in sites:
                if function == chosen:
                    return self._source, line, function
        line, function = sites[0]
        return self._source, line, function
