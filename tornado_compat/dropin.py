"""The drop-in map, and the import hook that serves it.

:data:`MODULE_MAP` says which Tornado module each tornado_compat module
replaces.  It is the single source for :func:`tornado_compat.install`, the
conformance runner in ``tests/conformance`` and the docs.

:func:`install` puts a finder on :data:`sys.meta_path` that answers
``import tornado.X`` with tornado_compat's module for that row, at the moment
something imports it: a process pays only for the modules it uses, and a
module whose optional dependency is missing (``tornado.curl_httpclient``
without pycurl) fails when it is imported, as Tornado's does, not at install.

This module must never import a Tornado module from the map, nor any
tornado_compat module that replaces one, outside the import hook: installing
has to happen before anything else imports them, and has to stay cheap.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys

# See tornado_compat._compiled: annotations only, without importing typing.
# The finder and the loader follow importlib's protocols; only the type
# checker sees them derive from importlib.abc, whose import pulls in
# importlib.resources, pathlib, tempfile and typing: more than the rest of
# install() costs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from importlib.abc import Loader, MetaPathFinder
    from types import ModuleType
else:
    Loader = MetaPathFinder = object


class Replacement:
    """One row of the drop-in map: ``tornado_name`` is served by ``compat_name``."""

    # A plain class, not a dataclass: dataclasses imports inspect, and this
    # module is on the path of every process that calls install().
    __slots__ = ("compat_name", "tornado_name")

    def __init__(self, tornado_name: str, compat_name: str) -> None:
        self.tornado_name = tornado_name
        self.compat_name = compat_name

    def __repr__(self) -> str:
        return f"Replacement({self.tornado_name!r}, {self.compat_name!r})"


MODULE_MAP: tuple[Replacement, ...] = (
    Replacement("tornado.httputil", "tornado_compat.httputil"),
    Replacement("tornado.iostream", "tornado_compat.iostream"),
    Replacement("tornado.netutil", "tornado_compat.netutil"),
    Replacement("tornado.tcpserver", "tornado_compat.tcpserver"),
    Replacement("tornado.tcpclient", "tornado_compat.tcpclient"),
    Replacement("tornado.http1connection", "tornado_compat.http1connection"),
    Replacement("tornado.httpserver", "tornado_compat.httpserver"),
    Replacement("tornado.httpclient", "tornado_compat.httpclient"),
    Replacement("tornado.simple_httpclient", "tornado_compat.httpclient.simple"),
    Replacement("tornado.curl_httpclient", "tornado_compat.httpclient.curl"),
)


class InstallError(RuntimeError):
    """Raised when a Tornado module was imported before :func:`install` ran."""


class _Alias(Loader):
    """Loads ``tornado.X`` as tornado_compat's module, imported on demand."""

    def __init__(self, compat_name: str) -> None:
        self.compat_name = compat_name
        self._own_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # An ImportError here (a missing optional dependency) is the import's
        # error, as it would be for Tornado's own module.
        module = importlib.import_module(self.compat_name)
        self._own_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system has just stamped the alias's spec on the module;
        # its own spec must stay, so that importlib.reload, pickle and
        # inspect see tornado_compat's module under its real name.
        module.__spec__ = self._own_spec


class _Finder(MetaPathFinder):
    """The :data:`sys.meta_path` entry that :func:`install` adds, once."""

    def __init__(self) -> None:
        #: Tornado module name -> the tornado_compat module that serves it.
        self.aliases: dict[str, str] = {}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        compat_name = self.aliases.get(fullname)
        if compat_name is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(compat_name))


_finder = _Finder()


def installed() -> dict[str, str]:
    """The Tornado module names :func:`install` serves, each with its module.

    A name is listed from the moment ``install()`` maps it, whether or not
    anything has imported it yet.
    """
    return dict(_finder.aliases)


def install(names: Iterable[str] | None = None) -> list[str]:
    """Make ``import tornado.X`` return tornado_compat's module, per the map.

    ``names`` restricts the replacement to those Tornado module names; by
    default every row is installed.  It must run before anything imports the
    Tornado modules being replaced (tornado.web imports most of them),
    otherwise the importer would keep Tornado's classes and the two stacks
    would be mixed; that case raises :class:`InstallError` instead of
    half-working.  Nothing is imported here: each module is imported when
    something first imports its Tornado name.  Calling it again is harmless,
    and adds the rows it names.  Returns the Tornado module names now served
    by tornado_compat.
    """
    rows = MODULE_MAP
    if names is not None:
        wanted = set(names)
        unknown = wanted - {r.tornado_name for r in MODULE_MAP}
        if unknown:
            raise ValueError(f"not in the drop-in map: {sorted(unknown)}")
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

    for row in rows:
        _finder.aliases[row.tornado_name] = row.compat_name
    if _finder not in sys.meta_path:
        # First, so that no other finder can hand out Tornado's own module.
        sys.meta_path.insert(0, _finder)
    return [r.tornado_name for r in rows]
