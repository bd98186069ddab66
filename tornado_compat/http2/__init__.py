"""HTTP/2 for the server, on the ``h2`` library (the ``http2`` extra).

What this package is for: :mod:`.core`, the socket-free driver of ``h2``,
and :mod:`.connection`, which runs it over an IOStream and gives each
stream to the application as an :class:`~tornado_compat.httputil.HTTPConnection`;
:mod:`.clientcore` and :mod:`.client`, the same two layers for a client;
:mod:`.common`, what both cores share.

What it must never do: be imported when HTTP/2 is not asked for (``h2`` is
optional), or frame, compress headers or track stream states itself.
Importing any of its modules without ``h2`` raises an ImportError that
names the extra.
"""

try:
    import h2  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "HTTP/2 needs the h2 package: pip install 'tornado_compat[http2]'"
    ) from e
