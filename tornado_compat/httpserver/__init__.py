"""tornado_compat.httpserver: the replacement for ``tornado.httpserver``.

Delivered by issue #3.  Until then this package is deliberately empty: it
offers no ``HTTPServer`` and must never pretend to, and the drop-in map marks
its row as not ready, so :func:`tornado_compat.install` leaves Tornado's own
module in place.
"""
