"""The drop-in map: which Tornado module each tornado_compat module replaces.

This table is the single source for :func:`tornado_compat.install`, the
conformance runner in ``tests/conformance`` and the docs.  A row whose
``ready`` flag is false names a module that a later issue delivers; it is
listed so that the map is complete, but nothing installs it yet.

This module must never import a Tornado module from the map: installing has
to happen before anything else imports them.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class Replacement:
    """One row of the drop-in map."""

    tornado_name: str
    compat_name: str
    #: The issue that delivers the module; a row is installed only once ready.
    issue: int
    ready: bool


MODULE_MAP: tuple[Replacement, ...] = (
    Replacement("tornado.httputil", "tornado_compat.httputil", 3, True),
    Replacement("tornado.iostream", "tornado_compat.iostream", 2, True),
    Replacement("tornado.netutil", "tornado_compat.netutil", 2, True),
    Replacement("tornado.tcpserver", "tornado_compat.tcpserver", 2, True),
    Replacement("tornado.tcpclient", "tornado_compat.tcpclient", 2, True),
    Replacement("tornado.http1connection", "tornado_compat.http1connection", 3, True),
    Replacement("tornado.httpserver", "tornado_compat.httpserver", 3, True),
    Replacement("tornado.httpclient", "tornado_compat.httpclient", 4, True),
    Replacement(
        "tornado.simple_httpclient", "tornado_compat.httpclient.simple", 4, True
    ),
    Replacement("tornado.curl_httpclient", "tornado_compat.httpclient.curl", 4, True),
)


def ready_replacements() -> tuple[Replacement, ...]:
    """The rows whose tornado_compat module exists and can be installed."""
    return tuple(r for r in MODULE_MAP if r.ready)


class InstallError(RuntimeError):
    """Raised when a Tornado module was imported before :func:`install` ran."""


def install(names: Iterable[str] | None = None) -> list[str]:
    """Make ``import tornado.X`` return tornado_compat's module, per the map.

    ``names`` restricts the replacement to those Tornado module names; by
    default every ready row is installed.  It must run before anything imports
    the Tornado modules being replaced (tornado.web imports most of them),
    otherwise the importer would keep Tornado's classes and the two stacks
    would be mixed; that case raises :class:`InstallError` instead of
    half-working.  Calling it again is harmless.  Returns the Tornado module
    names now served by tornado_compat.
    """
    rows = ready_replacements()
    if names is not None:
        wanted = set(names)
        unknown = wanted - {r.tornado_name for r in MODULE_MAP}
        if unknown:
            raise ValueError(f"not in the drop-in map: {sorted(unknown)}")
        not_ready = wanted - {r.tornado_name for r in rows}
        if not_ready:
            raise ValueError(f"not available yet: {sorted(not_ready)}")
        rows = tuple(r for r in rows if r.tornado_name in wanted)

    already = [
        r.tornado_name
        for r in rows
        if r.tornado_name in sys.modules
        and getattr(sys.modules[r.tornado_name], "__name__", "") != r.compat_name
    ]
    if already:
        raise InstallError(
            "install() must run before these Tornado modules are imported: "
            + ", ".join(already)
        )

    import tornado  # the package itself only; none of the mapped modules

    installed = []
    for row in rows:
        module: ModuleType = importlib.import_module(row.compat_name)
        sys.modules[row.tornado_name] = module
        setattr(tornado, row.tornado_name.rpartition(".")[2], module)
        installed.append(row.tornado_name)
    return installed
