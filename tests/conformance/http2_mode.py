"""Forces Tornado's HTTP test cases onto HTTP/2, for the runner's ``--http2`` mode.

The worker (:mod:`tests.conformance.worker`) calls :func:`force_http2` in
``--http2`` mode, after tornado_compat is installed and before any test
runs.  It patches ``tornado.testing.AsyncHTTPTestCase`` so that, in every
test case built on it:

- the server is ``HTTPServer(app, http2=True, **get_httpserver_options())``
  (one port still serves HTTP/1.1 to raw sockets and other clients);
- ``self.http_client`` is a ``CurlAsyncHTTPClient(http2="prior-knowledge")``,
  whatever the test case's own ``get_http_client`` returns, so its fetches
  go over HTTP/2: with prior knowledge on ``http`` URLs, by ALPN on
  ``https`` ones (with ``validate_cert=False``, as
  ``AsyncHTTPSTestCase``'s client has), and with libcurl's
  ``CURLOPT_PATH_AS_IS``, so that paths such as ``//evil.com/../dir`` go
  out unchanged, as the simple client sends them.

:data:`versions` counts the versions of the responses the forced clients
got, so that the run can show it really spoke HTTP/2.

What it must never do: change product code, or patch anything beyond these
two hooks; and it is only ever loaded in ``--http2`` mode.
"""

from __future__ import annotations

import collections
from typing import Any

#: Responses received by the forced clients, by ``HTTPResponse.version``
#: (``"none"`` for a fetch that got no response).
versions: collections.Counter[str] = collections.Counter()


def force_http2() -> None:
    import pycurl
    import tornado.testing
    from tornado.httpserver import HTTPServer

    from tornado_compat.httpclient import HTTPResponse
    from tornado_compat.httpclient.curl import CurlAsyncHTTPClient

    class CountingClient(CurlAsyncHTTPClient):
        def fetch_impl(self, request: Any, callback: Any) -> None:
            def counted(response: HTTPResponse) -> None:
                versions[response.version or "none"] += 1
                callback(response)

            super().fetch_impl(request, counted)

    case = tornado.testing.AsyncHTTPTestCase
    original_setup = case.setUp

    def get_http_server(self: Any) -> HTTPServer:
        options = dict(self.get_httpserver_options())
        options["http2"] = True
        return HTTPServer(self._app, **options)

    def send_path_as_is(curl: Any) -> None:
        # libcurl squashes "/../" and "//" in the path by default; Tornado's
        # tests of paths like "//evil.com/../dir" pick the simple client
        # for that, which sends the path as it is.
        curl.setopt(pycurl.PATH_AS_IS, 1)

    def forced_client(self: Any) -> CountingClient:
        return CountingClient(
            force_instance=True,
            http2="prior-knowledge",
            defaults={
                "validate_cert": False,
                "prepare_curl_callback": send_path_as_is,
            },
        )

    def set_up(self: Any) -> None:
        # An attribute of the instance wins over the test case's own
        # get_http_client, which some cases override (to pick the simple
        # client for what Tornado's curl client lacks).
        self.get_http_client = forced_client.__get__(self)
        original_setup(self)

    case.get_http_server = get_http_server  # type: ignore[method-assign]
    case.setUp = set_up  # type: ignore[method-assign]
