"""Which of tornado_compat's modules run compiled, and the switch for none.

A build with a C compiler compiles the per-request modules with mypyc
(setup.py says which).  Each compiled module sits next to its ``.py``
source, and Python imports the compiled one first.  Setting
``TORNADO_COMPAT_PURE`` (to anything but ``0``) before tornado_compat is
imported makes its modules load from their sources instead, as in a build
without a compiler: for debuggers, profilers and coverage, which see into
Python source only.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import (
    SOURCE_SUFFIXES,
    ExtensionFileLoader,
    FileFinder,
    ModuleSpec,
    SourceFileLoader,
)

# Not typing.TYPE_CHECKING: importing typing (and collections) would cost
# every process that imports tornado_compat, and the names below are only
# annotations.  mypy and ruff treat a name TYPE_CHECKING the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import ModuleType

PURE_ENV = "TORNADO_COMPAT_PURE"


def compiled_modules() -> list[str]:
    """The names of tornado_compat's imported modules that run compiled.

    Empty for a pure-Python build, and under ``TORNADO_COMPAT_PURE``.
    Only imported modules count: import the ones you ask about first (the
    server and the clients import them all).
    """
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith("tornado_compat.")
        and not name.endswith("__mypyc")  # mypyc's shared library, not a module
        and isinstance(getattr(module, "__loader__", None), ExtensionFileLoader)
    )


class _SourcesOnly:
    """Finds tornado_compat's modules among ``.py`` files only."""

    @staticmethod
    def find_spec(
        name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if path is None or not name.startswith("tornado_compat."):
            return None
        for entry in path:
            finder = FileFinder(entry, (SourceFileLoader, SOURCE_SUFFIXES))
            spec = finder.find_spec(name, target)
            if spec is not None:
                return spec
        return None


def _pure_if_asked() -> None:
    if os.environ.get(PURE_ENV, "0") != "0" and _SourcesOnly not in sys.meta_path:
        sys.meta_path.insert(0, _SourcesOnly)
