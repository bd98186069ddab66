"""Errors of the protocol core.

Two kinds are kept apart, as h11 does: the peer's mistakes
(:class:`RemoteProtocolError`, which a server answers with the status the
error carries and a client reports as a failed request) and ours
(:class:`LocalProtocolError`: the application asked us to send something
that is not valid HTTP).  Each error carries the HTTP status it suggests.

This module must never import anything from the rest of the package.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Something about a message is not valid HTTP/1.x.

    ``status`` is the HTTP status code a server would answer with.
    """

    status: int = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class RemoteProtocolError(ProtocolError):
    """The peer sent something invalid or over a limit."""


class LocalProtocolError(ProtocolError, ValueError):
    """We were asked to send something invalid.

    It is a ``ValueError`` too, which is what Tornado raises for, say, a
    header value containing CR or LF.
    """

    status = 500


# Statuses that the precise-status option of the server uses; by default the
# server answers 400 for all of them, as Tornado does.
PAYLOAD_TOO_LARGE = 413
URI_TOO_LONG = 414
HEADERS_TOO_LARGE = 431
VERSION_NOT_SUPPORTED = 505
