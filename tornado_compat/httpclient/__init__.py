"""tornado_compat.httpclient: the replacement for ``tornado.httpclient``.

Delivered by issue #4, together with ``simple`` (for
``tornado.simple_httpclient``), ``curl`` (for ``tornado.curl_httpclient``) and
``connection`` (the pipelining client).  Until then this package is
deliberately empty: it must never pretend to offer a client, and the drop-in
map marks its rows as not ready, so :func:`tornado_compat.install` leaves
Tornado's own modules in place.
"""
