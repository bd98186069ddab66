"""Rules both client implementations follow, in one place.

What this module is for: the decisions that must not differ between the
simple and the curl client: which requests may be sent twice, which
responses are redirects and what the next hop of a redirect may carry, and
how long a fetch may wait in a client's queue.

What it must never do: touch a socket or a curl handle.
"""

from __future__ import annotations

import urllib.parse

from tornado_compat import httputil
from tornado_compat.httpclient import HTTPRequest

# Methods whose request may be repeated without changing its outcome
# (RFC 9110 9.2.2): the only ones a client may send again on its own
# (RFC 9112 9.3.1).
# Methods a request may use without allow_nonstandard_methods, and those of
# them that must carry a body.
STANDARD_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
)
BODY_METHODS = frozenset(("POST", "PUT", "PATCH"))
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"))
REDIRECT_CODES = frozenset((301, 302, 303, 307, 308))
# Headers that describe a request body, dropped when a redirect turns the
# request into a GET.
BODY_HEADERS = (
    "Content-Length",
    "Content-Type",
    "Content-Encoding",
    "Transfer-Encoding",
)
# Credentials that must not follow a redirect to another origin.
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-Authorization")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_method_and_body(
    request: HTTPRequest, standard_methods: frozenset[str] = STANDARD_METHODS
) -> None:
    """Tornado's rule, unless ``allow_nonstandard_methods``: the method is
    a standard one (else KeyError), and a body is given exactly when the
    method takes one (else ValueError)."""
    if request.allow_nonstandard_methods:
        return
    method = request.method
    if method not in standard_methods:
        raise KeyError(f"unknown method {method}")
    body_expected = method in BODY_METHODS
    body_present = request.body is not None or request.body_producer is not None
    if body_expected != body_present:
        raise ValueError(
            "Body must %sbe None for method %s (unless allow_nonstandard_methods "
            "is true)" % ("not " if body_expected else "", method)
        )


def queue_timeout(request: HTTPRequest) -> float | None:
    """How long ``request`` may wait for a free slot in a client's queue:
    the shorter of its two timeouts (0 or None means no limit)."""
    limits = [t for t in (request.connect_timeout, request.request_timeout) if t]
    return min(limits) if limits else None


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url`` (RFC 6454), for comparing origins."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    # Split here rather than by urllib, whose int() of a port of thousands of
    # digits (from a server's Location) fails with a message about integers.
    port = httputil.split_host_and_port(parts.netloc.rpartition("@")[2])[1]
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def becomes_get(code: int, method: str) -> bool:
    """Whether a redirect with status ``code`` turns a ``method`` request
    into a GET without a body: a 303 (except for HEAD), and a 301 or 302 of
    a POST, as every browser and Tornado do (RFC 9110 15.4)."""
    return (code == 303 and method != "HEAD") or (
        code in (301, 302) and method == "POST"
    )


def rewrite_for_redirect(request: HTTPRequest, code: int, previous_url: str) -> None:
    """Make ``request``, a copy of the redirected request that already has
    the new URL, into the next hop of a ``code`` redirect.

    A hop that :func:`becomes_get` loses its body and the headers that
    described it.  A hop to another origin loses the credentials (headers
    and ``auth_username``/``auth_password``) and any ``unix_socket``, which
    were meant for the origin that redirected.
    """
    if becomes_get(code, request.method):
        request.method = "GET"
        request.body = None
        request.body_producer = None
        for name in BODY_HEADERS:
            request.headers.pop(name, None)
    if origin(request.url) != origin(previous_url):
        request.auth_username = None
        request.auth_password = None
        request.unix_socket = None
        for name in CREDENTIAL_HEADERS:
            request.headers.pop(name, None)
