"""Configurable: classes whose constructor picks the implementation to build.

A configurable interface (``Resolver``, ``HTTPServer``, ``AsyncHTTPClient``)
is instantiated through its base class; the base looks up which subclass has
been chosen with :meth:`Configurable.configure` (or falls back to
:meth:`Configurable.configurable_default`) and builds that instead, merging the
keyword arguments saved by ``configure`` under the caller's own.  The contract
is that of ``tornado.util.Configurable`` in Tornado 6.6, including the
``_save_configuration`` / ``_restore_configuration`` pair that test suites use.

Each configurable base keeps its own choice.  A base nested inside another
hierarchy (a configurable implementation that is itself configurable) never
inherits the outer base's saved keyword arguments: those were meant for the
outer level and would reach an ``initialize`` that does not accept them.

This module must never import Tornado's networking modules; it sits beneath
all of them.  Everything else from ``tornado.util`` is used from there
directly rather than re-implemented.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tornado.util import import_object

__all__ = ["Configurable"]

# Keys in a configurable base's own ``__dict__``.  They are read with
# ``cls.__dict__.get`` rather than attribute lookup, so a nested base does not
# see the configuration of the hierarchy it is part of.
_IMPL_KEY = "_tornado_compat_configured_impl"
_KWARGS_KEY = "_tornado_compat_configured_kwargs"

_SavedConfiguration = tuple[type["Configurable"] | None, dict[str, Any] | None]


class Configurable:
    """Base class for interfaces whose constructor is a factory.

    Calling the configurable base (the class returned by
    :meth:`configurable_base`) builds the configured implementation class
    instead; ``isinstance`` against the base keeps working.  Calling an
    implementation subclass directly builds that subclass and ignores any
    keyword arguments saved by :meth:`configure`.

    Subclasses define :meth:`configurable_base` and
    :meth:`configurable_default` and put their set-up code in
    :meth:`initialize`, which receives the constructor's positional and
    (merged) keyword arguments.  They must not define ``__init__``.

    An implementation may itself be a configurable base of a nested
    hierarchy; building the outer base then builds whatever the nested base
    is configured to.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        base = cls.configurable_base()
        if cls is base:
            impl = cls.configured_class()
            merged: dict[str, Any] = dict(base.__dict__.get(_KWARGS_KEY) or {})
            merged.update(kwargs)
        else:
            impl = cls
            merged = kwargs
        if impl.configurable_base() is not base:
            # The implementation heads a configurable hierarchy of its own;
            # let its base make the next choice.
            return impl(*args, **merged)
        instance = super().__new__(impl)
        # ``initialize`` rather than ``__init__``: Python would call
        # ``__init__`` again with the caller's unmerged arguments, and
        # AsyncHTTPClient returns cached instances from ``__new__`` that must
        # not be re-initialised.
        instance.initialize(*args, **merged)
        return instance

    @classmethod
    def configurable_base(cls) -> type[Configurable]:
        """Return the base class of this configurable hierarchy.

        Normally the class that defines this method, which is not
        necessarily ``cls``.
        """
        raise NotImplementedError()

    @classmethod
    def configurable_default(cls) -> type[Configurable]:
        """Return the implementation used when none has been configured."""
        raise NotImplementedError()

    def _initialize_nothing(self) -> None:
        pass

    # Declared as a callable attribute so that each implementation can give
    # ``initialize`` its own signature without breaking type checking.
    initialize: Callable[..., None] = _initialize_nothing
    """Set up a new instance; implementations use this instead of ``__init__``.

    Receives the constructor's positional arguments and its keyword arguments
    merged over those saved by :meth:`configure`.
    """

    @classmethod
    def configure(cls, impl: None | str | type[Configurable], **kwargs: Any) -> None:
        """Choose the class built when the configurable base is instantiated.

        ``impl`` is a subclass of ``cls``, its fully qualified dotted name, or
        ``None`` for :meth:`configurable_default`.  ``kwargs`` are saved and
        passed to ``initialize`` as defaults the caller's own keyword
        arguments override.  Raises :class:`ValueError` if ``impl`` is not a
        subclass of ``cls``.
        """
        base = cls.configurable_base()
        if isinstance(impl, str):
            impl = import_object(impl)
        if impl is not None and not (isinstance(impl, type) and issubclass(impl, cls)):
            raise ValueError(f"Invalid subclass of {cls}: {impl!r}")
        setattr(base, _IMPL_KEY, impl)
        setattr(base, _KWARGS_KEY, dict(kwargs))

    @classmethod
    def configured_class(cls) -> type[Configurable]:
        """Return the class currently built by the configurable base."""
        base = cls.configurable_base()
        impl = base.__dict__.get(_IMPL_KEY)
        if impl is None:
            impl = cls.configurable_default()
        return impl

    @classmethod
    def _save_configuration(cls) -> _SavedConfiguration:
        """Return the base's configuration, for :meth:`_restore_configuration`."""
        base = cls.configurable_base()
        return (base.__dict__.get(_IMPL_KEY), base.__dict__.get(_KWARGS_KEY))

    @classmethod
    def _restore_configuration(cls, saved: _SavedConfiguration) -> None:
        """Put back a configuration returned by :meth:`_save_configuration`."""
        base = cls.configurable_base()
        setattr(base, _IMPL_KEY, saved[0])
        setattr(base, _KWARGS_KEY, saved[1])
