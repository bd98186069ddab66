"""tornado_compat: an asyncio-native reimplementation of Tornado's HTTP/1.x stack.

Each module here has the public API of the Tornado 6.6 module it replaces (see
:mod:`tornado_compat.dropin` for the map).  ``tornado_compat.install()`` makes
``import tornado.iostream`` and friends return ours, so ``tornado.web`` and the
rest of Tornado run on top of it unchanged.
"""

from tornado_compat import _compiled

# Before any other module of the package is imported: TORNADO_COMPAT_PURE
# decides whether the compiled ones are used (see _compiled).
_compiled._pure_if_asked()

from tornado_compat._compiled import compiled_modules  # noqa: E402
from tornado_compat.dropin import MODULE_MAP, InstallError, install  # noqa: E402

__all__ = ["MODULE_MAP", "InstallError", "compiled_modules", "install", "__version__"]

__version__ = "0.1.0"
