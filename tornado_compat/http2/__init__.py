"""HTTP/2 for the server, on the ``h2`` library (the ``http2`` extra).

What this package is for: :mod:`.core`, the socket-free driver of ``h2``,
and :mod:`.connection`, which runs it over an IOStream and gives each
stream to the application as an :class:`~tornado_compat.httputil.HTTPConnection`.

What it must never do: be imported when HTTP/2 is not asked for (``h2`` is
optional), or frame, compress headers or track stream states itself.
"""
