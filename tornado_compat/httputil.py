"""HTTP utilities shared by clients and servers: the API of ``tornado.httputil``.

What this module is for: the public API of ``tornado.httputil`` in Tornado
6.6, for tornado_compat's server and clients and for Tornado's own upper
layers (``tornado.web``, ``tornado.websocket``, ``tornado.routing``), which
import it as ``tornado.httputil`` once :func:`tornado_compat.install` ran:

* :class:`HTTPHeaders`, a case-insensitive multi-valued mapping;
* :class:`HTTPServerRequest`, one request as the application sees it;
* the interfaces between connections and applications:
  :class:`HTTPServerConnectionDelegate`, :class:`HTTPMessageDelegate` and
  :class:`HTTPConnection`;
* start lines (:class:`RequestStartLine`, :class:`ResponseStartLine`) and
  their parsers;
* form bodies (:func:`parse_body_arguments`,
  :func:`parse_multipart_form_data`, with the limits of
  :class:`ParseBodyConfig`), cookies (:func:`parse_cookie`) and small helpers.

Tornado's other modules also use a few private names from here
(``_ABNF``, ``_FORBIDDEN_HEADER_CHARS_RE``, ``_parse_request_range``,
``_get_content_range``, ``_parse_header``, ``_encode_header``,
``_normalize_header``, ``_DEFAULT_PARSE_BODY_CONFIG``); they are part of the
contract too.

What it must never do: parse a message head itself (start lines and header
blocks go through :mod:`tornado_compat.protocol.head`, the one header parser),
run a parser in more than linear time (Tornado's CVEs of 2023 to 2026 were
quadratic parsers of cookies, repeated headers, multipart bodies and
Content-Disposition parameters), accept a number in a form that ``int()``
allows and HTTP does not (sign, underscore, whitespace, non-ASCII digits), or
import Tornado's networking modules.
"""

from __future__ import annotations

import calendar
import codecs
import dataclasses
import datetime
import http.client
import http.cookies
import re
import sys
import time
import unicodedata
import urllib.parse
import warnings
from collections.abc import Awaitable, Iterable, Iterator, Mapping, MutableMapping
from ssl import SSLError
from typing import TYPE_CHECKING, Any, AnyStr, NamedTuple, cast

from tornado.escape import parse_qs_bytes, utf8
from tornado.util import ObjectDict

from tornado_compat.protocol import head as _head
from tornado_compat.protocol.errors import ProtocolError

if TYPE_CHECKING:
    import unittest
    from asyncio import Future

__all__ = [
    "HTTP_WHITESPACE",
    "HTTPConnection",
    "HTTPFile",
    "HTTPHeaders",
    "HTTPInputError",
    "HTTPMessageDelegate",
    "HTTPOutputError",
    "HTTPServerConnectionDelegate",
    "HTTPServerRequest",
    "ParseBodyConfig",
    "ParseMultipartConfig",
    "ParseUrlEncodedConfig",
    "RequestStartLine",
    "ResponseStartLine",
    "doctests",
    "encode_username_password",
    "format_timestamp",
    "parse_body_arguments",
    "parse_cookie",
    "parse_multipart_form_data",
    "parse_request_start_line",
    "parse_response_start_line",
    "qs_to_qsl",
    "responses",
    "set_parse_body_config",
    "split_host_and_port",
    "url_concat",
]

#: The whitespace HTTP strips around header values: space and tab only.
HTTP_WHITESPACE = " \t"

#: Reason phrases by status code.
responses: dict[int, str] = dict(http.client.responses)


class HTTPInputError(Exception):
    """Malformed HTTP input from the peer: a request or a response.

    .. versionadded:: 4.0
    """


class HTTPOutputError(Exception):
    """The application tried to send something that is not valid HTTP.

    .. versionadded:: 4.0
    """


# -- the grammar ----------------------------------------------------------------


class _ABNF:
    """The HTTP grammar as compiled regexes over ``str`` (one char per byte).

    Tornado's ``web.py`` checks reason phrases with ``reason_phrase`` and its
    property tests draw examples from several of these, so the names are
    Tornado's.  The sources come from :mod:`tornado_compat.protocol.head`
    wherever the message parser uses the same rule, so the two cannot
    disagree.
    """

    tchar = re.compile(_head.TCHAR)
    token = re.compile(_head.TOKEN)
    method = token
    field_name = token
    VCHAR = re.compile(_head.VCHAR)
    obs_text = re.compile(_head.OBS_TEXT)
    field_vchar = re.compile(_head.FIELD_VCHAR)
    # Empty, or starting and ending with a field-vchar, with spaces and tabs
    # allowed only inside (RFC 9110 section 5.5).
    field_value = re.compile(
        f"(?:{_head.FIELD_VCHAR}(?:{_head.FIELD_CONTENT_CHAR}*{_head.FIELD_VCHAR})?)?"
    )
    request_target = re.compile(_head.REQUEST_TARGET)
    HTTP_version = re.compile(_head.HTTP_VERSION)
    status_code = re.compile(_head.STATUS_CODE)
    reason_phrase = re.compile(_head.REASON_PHRASE)
    request_line = re.compile(
        f"({_head.TOKEN}) ({_head.REQUEST_TARGET}) ({_head.HTTP_VERSION})"
    )
    status_line = re.compile(
        f"({_head.HTTP_VERSION}) ({_head.STATUS_CODE}) ({_head.REASON_PHRASE})?"
    )
    # RFC 3986 section 3.2.2, for the Host header: a reg-name or an IP
    # literal, with an optional port.  ':' and digits are allowed in the host
    # part already, so the port needs no group of its own.
    uri_unreserved = re.compile(r"[A-Za-z0-9\-._~]")
    uri_sub_delims = re.compile(r"[!$&'()*+,;=]")
    uri_pct_encoded = re.compile(r"%[0-9A-Fa-f]{2}")
    uri_host = re.compile(r"(?:[\[\]:A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
    uri_port = re.compile(r"[0-9]*")
    host = re.compile(
        r"(?:[\[\]:A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*(?::[0-9]*)?"
    )


#: Characters that may never appear in a header value or a redirect target:
#: the control characters other than HTAB, and DEL.
_FORBIDDEN_HEADER_CHARS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# What ``HTTPHeaders.add`` accepts as a value, depending on whether the
# characters stand for bytes (latin-1) or for text (any non-ASCII character).
_VALUE_CHARS_BYTES = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_VALUE_CHARS_TEXT = re.compile(r"[\t\x20-\x7e\x80-\U0010ffff]*")


# -- header names ---------------------------------------------------------------

# Normalizing a name is on the path of every header lookup, so results are
# cached.  The cache is emptied when full rather than evicted entry by entry:
# the common names come back at once, and a peer sending endless distinct
# names cannot make it grow.  The hottest methods look in the cache themselves
# (``_NORMALIZED_CACHE[name]``, calling :func:`_normalize_header` only on a
# miss): a subscript of a plain dict is the cheapest lookup Python has, and
# it saves a call per lookup (tornado.web makes about ten per response).
_NORMALIZED_CACHE: dict[str, str] = {}
_NORMALIZED_CACHE_SIZE = 1000


def _normalize_header(name: str) -> str:
    """``Http-Header-Case`` for ``name``: each dash-separated word capitalized.

    >>> _normalize_header("coNtent-TYPE")
    'Content-Type'
    """
    try:
        return _NORMALIZED_CACHE[name]
    except KeyError:
        pass
    normalized = "-".join(word.capitalize() for word in name.split("-"))
    if normalized == name:
        # Keep the caller's object: a parsed head then holds one copy of
        # each name, not two.
        normalized = name
    if len(_NORMALIZED_CACHE) >= _NORMALIZED_CACHE_SIZE:
        _NORMALIZED_CACHE.clear()
    _NORMALIZED_CACHE[name] = normalized
    return normalized


# Valid Host header values seen, and their host_name: a cache emptied when
# full, like the one above.
_HOST_NAMES: dict[str, str] = {}
_HOST_NAMES_SIZE = 1000


# -- HTTPHeaders -------------------------------------------------------------------


class HTTPHeaders(MutableMapping[str, str]):
    """Header names to values, with names in ``Http-Header-Case``.

    It holds several values per name: :meth:`add` appends one and
    :meth:`get_list` returns them all, while the plain mapping interface
    gives all the values of a name joined by commas.  Lookups ignore case.
    Names keep the order in which they were first added; setting a name
    replaces its values but keeps its place.

    A name is stored in canonical case, whatever case it came in:

    >>> headers = HTTPHeaders({"cache-control": "no-store"})
    >>> headers.add("X-FORWARDED-FOR", "203.0.113.7")
    >>> list(headers)
    ['Cache-Control', 'X-Forwarded-For']

    A second value for the same name (in any case) is kept beside the first:

    >>> headers.add("x-forwarded-for", "198.51.100.2")
    >>> headers.get_list("X-Forwarded-For")
    ['203.0.113.7', '198.51.100.2']
    >>> headers["X-FORWARDED-for"]
    '203.0.113.7,198.51.100.2'
    >>> "cache-control" in headers
    True

    :meth:`get_all` yields one pair per value, in the order added:

    >>> for name, value in headers.get_all():
    ...     print(name, "=", value)
    Cache-Control = no-store
    X-Forwarded-For = 203.0.113.7
    X-Forwarded-For = 198.51.100.2

    Every operation costs time linear in its own arguments, whatever the
    number of values already stored: adding the n-th value of a name does not
    copy the n-1 before it.
    """

    def __init__(self, *args: Any, **kwargs: str) -> None:
        # Normalized name -> its values, in the order they were added.
        as_list: dict[str, list[str]]
        if len(args) == 1 and not kwargs:
            arg = args[0]
            if arg.__class__ is dict:
                # What update() would do, without the abstract base class's
                # generic path: tornado.web makes one from a dict for every
                # response.
                as_list = {}
                cache = _NORMALIZED_CACHE
                for name, value in arg.items():
                    try:
                        key = cache[name]
                    except KeyError:
                        key = _normalize_header(name)
                    as_list[key] = [value]
                self._as_list = as_list
                return
            if isinstance(arg, HTTPHeaders):
                # A copy: each name's list is copied, not shared.
                self._as_list = {
                    name: list(values) for name, values in arg._as_list.items()
                }
                return
        self._as_list = {}
        if args or kwargs:
            self.update(*args, **kwargs)

    # -- multi-valued interface

    def add(self, name: str, value: str, *, _chars_are_bytes: bool = True) -> None:
        """Add a value for ``name``, after the values it already has.

        Raises :class:`HTTPInputError` if ``name`` is not a token or
        ``value`` is not a valid field value (control characters, CR, LF,
        leading or trailing whitespace, or, when ``_chars_are_bytes`` is
        true as it is by default, a character above U+00FF).
        """
        if not _ABNF.field_name.fullmatch(name):
            raise HTTPInputError(f"Invalid header name {name!r}")
        chars = _VALUE_CHARS_BYTES if _chars_are_bytes else _VALUE_CHARS_TEXT
        if not chars.fullmatch(value) or value.strip(HTTP_WHITESPACE) != value:
            raise HTTPInputError(f"Invalid header value {value!r}")
        self._append(_normalize_header(name), value)

    def _append(self, normalized: str, value: str) -> None:
        values = self._as_list.get(normalized)
        if values is None:
            self._as_list[normalized] = [value]
        else:
            values.append(value)

    def get_list(self, name: str) -> list[str]:
        """All the values of ``name``, as a list (empty if there are none)."""
        try:
            key = _NORMALIZED_CACHE[name]
        except KeyError:
            key = _normalize_header(name)
        return self._as_list.get(key, [])

    def get_all(self) -> Iterable[tuple[str, str]]:
        """Every ``(name, value)`` pair.

        A name with several values comes back once for each of them.
        """
        for name, values in self._as_list.items():
            for value in values:
                yield name, value

    def parse_line(self, line: str, *, _chars_are_bytes: bool = True) -> None:
        """Add the header of a single line, with or without its line end.

        >>> received = HTTPHeaders()
        >>> received.parse_line("Accept-Language: de")
        >>> received.parse_line("Retry-After: 120\\r\\n")
        >>> received.get_list("accept-language"), received["retry-after"]
        (['de'], '120')

        An empty line adds nothing.  Folded continuation lines (obs-fold) are
        rejected with :class:`HTTPInputError`, as in Tornado 6.6.
        """
        if line.endswith("\r\n"):
            content = line[:-2]
        elif line.endswith("\n"):
            content = line[:-1]
        else:
            content = line
        if "\n" in content:
            raise HTTPInputError(f"Invalid header line {content[:60]!r}: line break")
        self._parse_into(content, _chars_are_bytes)

    @classmethod
    def parse(cls, headers: str, *, _chars_are_bytes: bool = True) -> HTTPHeaders:
        """A new :class:`HTTPHeaders` from the text of a header block.

        >>> block = "vary: Accept\\r\\nVary: Origin\\r\\nAge: 7\\r\\n\\r\\n"
        >>> HTTPHeaders.parse(block).get_list("Vary")
        ['Accept', 'Origin']

        Lines end with CRLF or LF; the empty line that ends a head may be
        included.  Raises :class:`HTTPInputError` on malformed input.  With
        ``_chars_are_bytes`` true (the default) each character stands for
        one byte, as when the head was decoded as latin-1; with it false the
        text is Unicode (multipart part headers are UTF-8).
        """
        result = cls()
        result._parse_into(headers, _chars_are_bytes)
        return result

    @classmethod
    def _from_fields(cls, fields: Iterable[tuple[str, str]]) -> HTTPHeaders:
        """A new :class:`HTTPHeaders` from ``(name, value)`` pairs that the
        protocol core's parser has validated already (so they skip the
        check :meth:`add` makes)."""
        headers = cls.__new__(cls)
        as_list: dict[str, list[str]] = {}
        headers._as_list = as_list
        cache = _NORMALIZED_CACHE
        for name, value in fields:
            try:
                key = cache[name]
            except KeyError:
                key = _normalize_header(name)
            if key in as_list:
                as_list[key].append(value)
            else:
                as_list[key] = [value]
        return headers

    @classmethod
    def _from_lines(cls, lines: str | list[tuple[str, str]]) -> HTTPHeaders:
        """A new :class:`HTTPHeaders` from what the protocol core parsed of
        a head: the text of its header lines, when its one-pass check
        accepted it (``match_request_head``, ``match_response_head``; split
        here as its ``_fields`` splits them), or else the fields of its
        steps (see :meth:`_from_fields`).

        The text goes straight into the headers in one pass, without a list
        of pairs in between: this runs for every message the server and the
        simple client read, where the second pass cost about 1,200
        instructions for a two-line request head and 5,400 for nginx's
        eight-line response head.
        """
        if not isinstance(lines, str):
            return cls._from_fields(lines)
        headers = cls.__new__(cls)
        as_list: dict[str, list[str]] = {}
        cache = _NORMALIZED_CACHE
        for line in lines.split("\n"):
            if not line:
                break  # after the last line's LF
            name, _, value = line.partition(":")
            try:
                key = cache[name]
            except KeyError:
                key = _normalize_header(name)
            if key in as_list:
                as_list[key].append(value.strip(" \t\r"))
            else:
                as_list[key] = [value.strip(" \t\r")]
        headers._as_list = as_list
        return headers

    def _parse_into(self, text: str, chars_are_bytes: bool) -> None:
        # The one header parser works on bytes, so the text is encoded first:
        # as latin-1 when its characters are bytes, as UTF-8 when they are
        # text (non-ASCII then becomes obs-text, which the parser allows, and
        # is decoded back below).
        try:
            data = text.encode("latin-1" if chars_are_bytes else "utf-8")
        except UnicodeEncodeError as e:
            raise HTTPInputError(
                f"Invalid header character {text[e.start]!r} at offset {e.start}"
            ) from None
        # Tornado's own callers pass the text after the start line starting
        # with that line's LF (``data[eol:]``); line ends before the first
        # header are the tail of the start line, not a blank line that ends
        # the block.
        start = _head.skip_line_ends(data)
        if start:
            data = data[start:]
        append = self._append
        normalize = _normalize_header
        try:
            for name, value in _head.iter_header_block(data):
                if not chars_are_bytes and not value.isascii():
                    value = value.encode("latin-1").decode("utf-8")
                append(normalize(name), value)
        except ProtocolError as e:
            raise HTTPInputError(str(e)) from e

    # -- the mapping interface

    # A value comes back as it was stored when it is a name's only one:
    # applications (and Tornado's own clients) set values of other types,
    # bytes for example, through the mapping interface, and read them back.
    # Several values come back joined by commas.

    def __setitem__(self, name: str, value: str) -> None:
        try:
            key = _NORMALIZED_CACHE[name]
        except KeyError:
            key = _normalize_header(name)
        self._as_list[key] = [value]

    def __getitem__(self, name: str) -> str:
        try:
            key = _NORMALIZED_CACHE[name]
        except KeyError:
            key = _normalize_header(name)
        values = self._as_list[key]
        if len(values) == 1:
            return values[0]
        return ",".join(values)

    def __delitem__(self, name: str) -> None:
        try:
            key = _NORMALIZED_CACHE[name]
        except KeyError:
            key = _normalize_header(name)
        del self._as_list[key]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            key = _NORMALIZED_CACHE[name]
        except KeyError:
            key = _normalize_header(name)
        return key in self._as_list

    def __len__(self) -> int:
        return len(self._as_list)

    def __iter__(self) -> Iterator[str]:
        return iter(self._as_list)

    def get(self, name: str, default: Any = None) -> Any:
        # Mapping.get goes through an exception for every absent name.
        try:
            key = _NORMALIZED_CACHE[name]
        except KeyError:
            key = _normalize_header(name)
        values = self._as_list.get(key)
        if values is None:
            return default
        if len(values) == 1:
            return values[0]
        return ",".join(values)

    def copy(self) -> HTTPHeaders:
        """A copy whose lists of values are not shared with this one."""
        return HTTPHeaders(self)

    # copy.copy() gives the same independent copy as copy().
    __copy__ = copy

    def __str__(self) -> str:
        return "".join(f"{name}: {value}\n" for name, value in self.get_all())

    __unicode__ = __str__


# -- start lines -------------------------------------------------------------------


class RequestStartLine(NamedTuple):
    """The start line of a request: ``method``, ``path`` and ``version``."""

    method: str
    path: str
    version: str


class ResponseStartLine(NamedTuple):
    """The start line of a response: ``version``, ``code`` and ``reason``."""

    version: str
    code: int
    reason: str


def parse_request_start_line(line: str) -> RequestStartLine:
    """A :class:`RequestStartLine` from an HTTP/1.x request line.

    >>> parse_request_start_line("DELETE /items/7?force=1 HTTP/1.0")
    RequestStartLine(method='DELETE', path='/items/7?force=1', version='HTTP/1.0')

    Raises :class:`HTTPInputError` for a malformed line or a version other
    than HTTP/1.0 and HTTP/1.1.
    """
    try:
        method, path, version = _head.parse_request_line(line.encode("latin-1"))
    except UnicodeEncodeError:
        raise HTTPInputError(f"Malformed HTTP request line {line[:60]!r}") from None
    except ProtocolError as e:
        raise HTTPInputError(str(e)) from e
    return RequestStartLine(method, path, version)


def parse_response_start_line(line: str) -> ResponseStartLine:
    """A :class:`ResponseStartLine` from an HTTP/1.x status line.

    >>> parse_response_start_line("HTTP/1.0 503 Service Unavailable")
    ResponseStartLine(version='HTTP/1.0', code=503, reason='Service Unavailable')

    As in Tornado, an empty reason phrase comes back as ``None``.  Raises
    :class:`HTTPInputError` for a malformed line or a version other than
    HTTP/1.0 and HTTP/1.1.
    """
    try:
        version, code, reason = _head.parse_status_line(line.encode("latin-1"))
    except UnicodeEncodeError:
        raise HTTPInputError(f"Malformed HTTP status line {line[:60]!r}") from None
    except ProtocolError as e:
        raise HTTPInputError(str(e)) from e
    return ResponseStartLine(version, code, reason or cast(str, None))


# -- the interfaces between connections and applications ------------------------


class HTTPServerConnectionDelegate:
    """What an HTTP server hands its connections' requests to.

    The server calls :meth:`start_request` once for each request it reads,
    in the order they arrive on a connection, and :meth:`on_close` once when
    that connection is gone.

    .. versionadded:: 4.0
    """

    def start_request(
        self, server_conn: object, request_conn: HTTPConnection
    ) -> HTTPMessageDelegate:
        """Called at the start of each request a connection carries.

        :arg server_conn: an opaque object for the long-lived (TCP-level)
            connection; the same object for every request it carries.
        :arg request_conn: the :class:`HTTPConnection` for this one
            request/response exchange.

        Returns the :class:`HTTPMessageDelegate` that receives the request.
        """
        raise NotImplementedError()

    def on_close(self, server_conn: object) -> None:
        """Called when a connection has closed.

        :arg server_conn: a server connection previously passed to
            :meth:`start_request`.
        """
        pass


class HTTPMessageDelegate:
    """Receives one HTTP message, request or response, as it arrives.

    The contract, for one message: :meth:`headers_received` first, then
    :meth:`data_received` zero or more times, then exactly one of
    :meth:`finish` (the whole message arrived) or :meth:`on_connection_close`
    (the connection ended first).  Once :meth:`headers_received` has been
    called, one of those two is always called, and never both.  A future
    returned by :meth:`headers_received` or :meth:`data_received` holds back
    the reading of the body until it resolves (flow control).

    .. versionadded:: 4.0
    """

    def headers_received(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
    ) -> Awaitable[None] | None:
        """Called when the start line and headers have been read and parsed.

        :arg start_line: a :class:`RequestStartLine` on a server, a
            :class:`ResponseStartLine` on a client.
        :arg headers: an :class:`HTTPHeaders`.

        Some :class:`HTTPConnection` methods can only be called while this
        runs.  May return a future; the body is not read until it is done.
        """
        pass

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        """Called with each chunk of the body, in order.

        A returned future holds back further chunks until it is done,
        which keeps a slow consumer from buffering the whole body.
        """
        pass

    def finish(self) -> None:
        """Called after the last chunk of the body has been received."""
        pass

    def on_connection_close(self) -> None:
        """Called if the connection closes before the message is complete.

        If :meth:`headers_received` was called, exactly one of :meth:`finish`
        and ``on_connection_close`` is called, never both.
        """
        pass


class HTTPConnection:
    """The interface through which applications write their responses.

    (A client writes its request through it too.)  The order of calls is
    :meth:`write_headers` once, :meth:`write` any number of times, then
    :meth:`finish` once.

    .. versionadded:: 4.0
    """

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> Future[None]:
        """Write the start line and headers of the message.

        :arg start_line: a :class:`RequestStartLine` or
            :class:`ResponseStartLine`; its ``version`` field is ignored.
        :arg headers: an :class:`HTTPHeaders`.
        :arg chunk: optionally the first chunk of the body, so that a small
            message goes out in one write.

        The future it returns is for flow control: it resolves when the
        data has been handed to the network.

        .. versionchanged:: 6.0
           The ``callback`` argument was removed.
        """
        raise NotImplementedError()

    def write(self, chunk: bytes) -> Future[None]:
        """Write a chunk of the body.

        The future it returns is for flow control, as for
        :meth:`write_headers`.

        .. versionchanged:: 6.0
           The ``callback`` argument was removed.
        """
        raise NotImplementedError()

    def finish(self) -> None:
        """Say that the last chunk of the body has been written."""
        raise NotImplementedError()


# -- requests ---------------------------------------------------------------------


class HTTPFile(ObjectDict):
    """A file uploaded through a form.

    Its attributes are also available as dictionary keys, for backwards
    compatibility:

    * ``filename``
    * ``body``
    * ``content_type``
    """

    filename: str
    body: bytes
    content_type: str


class HTTPServerRequest:
    """One HTTP request, as the application receives it.

    All attributes are ``str`` unless said otherwise.

    .. attribute:: method

       The method of the request, such as ``"GET"`` or ``"POST"``.

    .. attribute:: uri

       The request target, as sent.

    .. attribute:: path

       The part of ``uri`` before the first ``?``.

    .. attribute:: query

       The part of ``uri`` after the first ``?``.

    .. attribute:: version

       The version of HTTP the request was made in, such as
       ``"HTTP/1.1"``.

    .. attribute:: headers

       The request headers, an :class:`HTTPHeaders`.

    .. attribute:: body

       The request body, as ``bytes`` (empty if there is none).

    .. attribute:: remote_ip

       The client's IP address.  With ``HTTPServer(xheaders=True)`` it is
       the address a load balancer reports in ``X-Real-Ip`` or
       ``X-Forwarded-For``.

    .. attribute:: protocol

       ``"http"`` or ``"https"``; with ``xheaders``, what a load balancer
       reports in ``X-Scheme`` or ``X-Forwarded-Proto``.

    .. attribute:: host

       The requested host, from the ``Host`` header (``"127.0.0.1"`` for an
       HTTP/1.0 request without one).

    .. attribute:: host_name

       ``host`` in lower case, without its port.

    .. attribute:: arguments

       The query and body arguments together: a dict from names (``str``)
       to lists of values (``bytes``).

    .. attribute:: query_arguments

       Like ``arguments``, for the query string only.

    .. attribute:: body_arguments

       Like ``arguments``, for the body only.

    .. attribute:: files

       Uploaded files: a dict from form field names to lists of
       :class:`HTTPFile`.

    .. attribute:: connection

       The :class:`HTTPConnection` the request arrived on, through which
       the response is written.

    A request for HTTP/1.1 (or anything but HTTP/1.0) must have exactly one
    valid ``Host`` header (a value with a comma counts as two), and the query
    string at most as many arguments as the urlencoded limit of
    :func:`set_parse_body_config` allows; otherwise the constructor raises
    :class:`HTTPInputError`.

    .. deprecated:: 6.6
       The ``method``, ``uri``, ``version`` and ``host`` arguments, and
       leaving out ``start_line``, are deprecated as in Tornado 6.6, with
       the same warnings.  Without ``start_line`` the request line is made
       of ``method`` (``"GET"`` if not given), ``uri`` (``"/"`` if not given)
       and ``version``; with it, those three are ignored.
    """

    path: str
    query: str
    _body_future: Future[None]
    _cookies: http.cookies.SimpleCookie

    def __init__(
        self,
        method: str | None = None,
        uri: str | None = None,
        version: str = "HTTP/1.0",
        headers: HTTPHeaders | None = None,
        body: bytes | None = None,
        host: str | None = None,
        files: dict[str, list[HTTPFile]] | None = None,
        connection: HTTPConnection | None = None,
        start_line: RequestStartLine | None = None,
        server_connection: object | None = None,
    ) -> None:
        # The texts of these warnings are Tornado's own: projects filter
        # warnings by their message, so other words would escape the filter.
        if method is not None or uri is not None:
            warnings.warn(
                "The method, uri, and version arguments to HTTPServerRequest are "
                "deprecated and will be removed in Tornado 6.7. Use the start_line "
                "argument instead.",
                DeprecationWarning,
                stacklevel=2,
            )
        if start_line is None:
            warnings.warn(
                "The start_line argument to HTTPServerRequest will be required in "
                "Tornado 6.7.",
                DeprecationWarning,
                stacklevel=2,
            )
            # An empty method or target counts as missing, as in Tornado.
            start_line = RequestStartLine(method or "GET", uri or "/", version)
        self.method, uri, self.version = start_line
        self.uri = uri
        # An empty mapping passed in is replaced, as in Tornado (which says
        # ``headers or HTTPHeaders()``); a server's HTTPHeaders is checked
        # without the call to __len__ that its truth value would make.
        if headers.__class__ is not HTTPHeaders or not headers._as_list:
            headers = headers or HTTPHeaders()
        self.headers = headers
        if host is not None:
            warnings.warn(
                "The host argument to HTTPServerRequest is deprecated and will be "
                "removed in Tornado 6.7. Use headers['Host'] instead.",
                DeprecationWarning,
                stacklevel=2,
            )
            self.headers["Host"] = host
        self.body = body or b""

        try:
            # What a server's connection has; a request made by hand may
            # have no connection, or a context without these.
            context = connection.context  # type: ignore[union-attr]
            self.remote_ip: str | None = context.remote_ip
            self.protocol: str = context.protocol
        except AttributeError:
            context = getattr(connection, "context", None)
            self.remote_ip = getattr(context, "remote_ip", None)
            self.protocol = getattr(context, "protocol", "http")

        # A server's requests name the same few valid hosts again and again:
        # a single Host header seen before needs no check.
        hosts = headers._as_list.get("Host")
        if (
            hosts is not None
            and len(hosts) == 1
            and (host := hosts[0]).__class__ is str
            and (host_name := _HOST_NAMES.get(host)) is not None
        ):
            self.host = host
            self.host_name = host_name
        else:
            self.host, self.host_name = self._host_from_headers()
        self.files = files or {}
        self.connection = connection
        self.server_connection = server_connection
        self._start_time = time.time()
        self._finish_time: float | None = None

        self.path, _, query = uri.partition("?")
        self.query = query
        self.body_arguments: dict[str, list[bytes]] = {}
        if not query:
            self.arguments: dict[str, list[bytes]] = {}
            self.query_arguments: dict[str, list[bytes]] = {}
            return
        try:
            self.arguments = parse_qs_bytes(
                query,
                keep_blank_values=True,
                max_num_fields=_DEFAULT_PARSE_BODY_CONFIG.urlencoded.max_arguments,
            )
        except ValueError as e:
            raise HTTPInputError(f"Invalid query string: {e}") from e
        # The values are lists of immutable bytes: copying the lists is a
        # deep copy, without copy.deepcopy's cost.
        self.query_arguments = {k: list(v) for k, v in self.arguments.items()}

    def _host_from_headers(self) -> tuple[str, str]:
        """``(host, host_name)`` from the Host header."""
        hosts = self.headers._as_list.get("Host")
        if not hosts:
            if self.version == "HTTP/1.0":
                return "127.0.0.1", "127.0.0.1"
            raise HTTPInputError("Missing Host header")
        if len(hosts) > 1:
            # RFC 9112 section 3.2: a request with more than one Host header
            # gets a 400; picking one would be a guess a proxy may not share.
            joined = ",".join(hosts)
            raise HTTPInputError(f"Multiple host headers not allowed: {joined[:60]!r}")
        host = hosts[0]
        # A server sees the same few hosts again and again.
        host_name = _HOST_NAMES.get(host) if isinstance(host, str) else None
        if host_name is None:
            if not isinstance(host, str) or not _ABNF.host.fullmatch(host):
                raise HTTPInputError(f"Invalid Host header: {host[:60]!r}")
            if "," in host:
                # A proxy may have folded two Host headers into one list
                # value; no DNS name has a comma, so it counts as two.
                raise HTTPInputError(
                    f"Multiple host headers not allowed: {host[:60]!r}"
                )
            try:
                host_name = split_host_and_port(host.lower())[0]
            except ValueError as e:
                raise HTTPInputError(f"Invalid Host header: {e}") from None
            if len(_HOST_NAMES) >= _HOST_NAMES_SIZE:
                _HOST_NAMES.clear()
            _HOST_NAMES[host] = host_name
        return host, host_name

    @property
    def cookies(self) -> dict[str, http.cookies.Morsel]:
        """The request's cookies, as a dict of :class:`http.cookies.Morsel`.

        Cookies whose names :class:`http.cookies.SimpleCookie` does not
        accept are left out.
        """
        if not hasattr(self, "_cookies"):
            cookies: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
            if "Cookie" in self.headers:
                for name, value in parse_cookie(self.headers["Cookie"]).items():
                    try:
                        cookies[name] = value
                    except http.cookies.CookieError:
                        pass
            self._cookies = cookies
        return self._cookies

    def full_url(self) -> str:
        """The full URL of the request: protocol, host and target."""
        return f"{self.protocol}://{self.host}{self.uri}"

    def request_time(self) -> float:
        """How long the request took, or has taken so far, in seconds."""
        if self._finish_time is None:
            return time.time() - self._start_time
        return self._finish_time - self._start_time

    def get_ssl_certificate(
        self, binary_form: bool = False
    ) -> None | dict[str, Any] | bytes:
        """The client's TLS certificate, or None if there is none.

        There is one only when the server's :class:`ssl.SSLContext` asks
        clients for a certificate: its ``verify_mode`` is
        ``ssl.CERT_REQUIRED`` or ``ssl.CERT_OPTIONAL``, and
        ``load_verify_locations()`` gave it the authorities to trust, as in::

            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain("server.pem", "server.key")
            context.load_verify_locations("client-ca.pem")
            context.verify_mode = ssl.CERT_REQUIRED
            HTTPServer(app, ssl_options=context)

        By default the certificate is a dict; with ``binary_form`` it is
        the DER-encoded bytes.  See :meth:`ssl.SSLSocket.getpeercert`.
        """
        if self.connection is None:
            return None
        try:
            # Only a connection over a TLS stream has a peer certificate (an
            # HTTP/2 stream's ``stream`` offers its connection's socket); the
            # HTTPConnection interface does not promise one.
            stream = cast(Any, self.connection).stream
            return cast(
                "None | dict[str, Any] | bytes",
                stream.socket.getpeercert(binary_form=binary_form),
            )
        except SSLError:
            return None

    def _parse_body(self) -> None:
        """Parse a form body into ``body_arguments`` and ``files``.

        Raises :class:`HTTPInputError` for a malformed body.
        """
        headers = self.headers
        if headers.__class__ is HTTPHeaders:
            # Most requests have no form: say so without a method call.
            if "Content-Type" not in headers._as_list:
                return
        elif "Content-Type" not in headers:
            return  # not a form
        parse_body_arguments(
            self.headers.get("Content-Type", ""),
            self.body,
            self.body_arguments,
            self.files,
            self.headers,
        )
        for name, values in self.body_arguments.items():
            self.arguments.setdefault(name, []).extend(values)

    def __repr__(self) -> str:
        # Headers are left out on purpose: they carry credentials and cookies.
        fields = ("protocol", "host", "method", "uri", "version", "remote_ip")
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields)
        return f"{self.__class__.__name__}({args})"


# -- URLs ---------------------------------------------------------------------------


def url_concat(
    url: str,
    args: None | dict[str, str] | list[tuple[str, str]] | tuple[tuple[str, str], ...],
) -> str:
    """Add query arguments to ``url``, whether or not it has a query already.

    ``args`` is a dict or a sequence of ``(name, value)`` pairs (which may
    repeat a name).

    >>> url_concat("https://shop.test/search", {"q": "tea"})
    'https://shop.test/search?q=tea'
    >>> url_concat("https://shop.test/search?q=tea", {"page": "2"})
    'https://shop.test/search?q=tea&page=2'
    >>> url_concat("/search", [("tag", "green"), ("tag", "loose")])
    '/search?tag=green&tag=loose'
    """
    if args is None:
        return url
    if isinstance(args, dict):
        extra = list(args.items())
    elif isinstance(args, (list, tuple)):
        extra = list(args)
    else:
        raise TypeError(
            f"'args' parameter should be dict, list or tuple. Not {type(args)}"
        )
    parts = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query.extend(extra)
    return urllib.parse.urlunparse(parts._replace(query=urllib.parse.urlencode(query)))


def qs_to_qsl(qs: dict[str, list[AnyStr]]) -> Iterable[tuple[str, AnyStr]]:
    """Turn the result of ``parse_qs`` back into ``(name, value)`` pairs.

    .. versionadded:: 5.0
    """
    for name, values in qs.items():
        for value in values:
            yield name, value


# Port digits are ASCII only: int() would also take other scripts' digits.
_NETLOC_PORT = re.compile(r"(.+):([0-9]+)", re.DOTALL)
# Ports above 99999 are refused rather than converted; Tornado returns any
# number up to five digits (65536 included), so those still come back.
_MAX_PORT_DIGITS = 5


def split_host_and_port(netloc: str) -> tuple[str, int | None]:
    """``(host, port)`` from ``netloc``; the port is None when absent.

    A port of more than five digits (leading zeros aside) raises
    ``ValueError`` before any conversion.

    >>> split_host_and_port("example.com:8080")
    ('example.com', 8080)
    >>> split_host_and_port("[::1]")
    ('[::1]', None)

    .. versionadded:: 4.1
    """
    m = _NETLOC_PORT.fullmatch(netloc)
    if m is None:
        return netloc, None
    digits = m.group(2)
    if len(digits) > _MAX_PORT_DIGITS:
        # Counted before int(), which would take its time over (and past
        # 4300 digits refuse) a number no port can be.
        digits = digits.lstrip("0") or "0"
        if len(digits) > _MAX_PORT_DIGITS:
            raise ValueError(
                f"Invalid port in {netloc[:60]!r}: more than {_MAX_PORT_DIGITS} digits"
            )
    return m.group(1), int(digits)


def encode_username_password(username: str | bytes, password: str | bytes) -> bytes:
    """``username:password`` as bytes (UTF-8, NFC), as HTTP Basic auth uses.

    >>> encode_username_password("user", "pass")
    b'user:pass'

    .. versionadded:: 5.1
    """
    # RFC 7617 section 2.1: text is sent in Unicode Normalization Form C, so
    # that the same name typed on two systems gives the same credentials.
    if isinstance(username, str):
        username = unicodedata.normalize("NFC", username)
    if isinstance(password, str):
        password = unicodedata.normalize("NFC", password)
    return utf8(username) + b":" + utf8(password)


# -- dates --------------------------------------------------------------------------

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)

# The second that format_timestamp formatted last, as an int and as the
# interval of floats that truncate to it (empty before 1970, where int()
# rounds toward zero), and its text: tornado.web dates every response with
# time.time(), so a busy server formats each second once instead of once per
# response.
_last_formatted: tuple[int | None, float, float, str] = (None, 0.0, 0.0, "")


def format_timestamp(
    ts: int | float | tuple[int, ...] | time.struct_time | datetime.datetime,
) -> str:
    """A timestamp in the format HTTP uses (RFC 9110 section 5.6.7).

    ``ts`` is a number of seconds since the epoch (as from
    :func:`time.time`), a time tuple in UTC (as from :func:`time.gmtime`),
    or a :class:`datetime.datetime`: a naive one is taken as UTC, an aware
    one is converted to UTC.

    >>> format_timestamp(951782400)
    'Tue, 29 Feb 2000 00:00:00 GMT'
    """
    global _last_formatted
    last = _last_formatted
    # time.time() within the second formatted last: no conversion at all.
    if type(ts) is float and last[1] <= ts < last[2]:
        return last[3]
    if isinstance(ts, (int, float)):
        seconds = int(ts)
    elif isinstance(ts, (tuple, time.struct_time)):
        seconds = calendar.timegm(ts)
    elif isinstance(ts, datetime.datetime):
        # utctimetuple() converts an aware datetime and leaves a naive one
        # as it is, which is what "naive means UTC" asks for.
        seconds = calendar.timegm(ts.utctimetuple())
    else:
        raise TypeError(f"unknown timestamp type: {ts!r}")
    if last[0] == seconds:
        return last[3]
    t = time.gmtime(seconds)
    text = "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _WEEKDAYS[t.tm_wday],
        t.tm_mday,
        _MONTHS[t.tm_mon - 1],
        t.tm_year,
        t.tm_hour,
        t.tm_min,
        t.tm_sec,
    )
    start = float(seconds) if seconds >= 0 else 0.0
    end = start + 1.0 if seconds >= 0 else 0.0
    # One tuple, replaced whole, so that a thread never sees the text of
    # one second paired with another.
    _last_formatted = (seconds, start, end, text)
    return text


# -- ranges -------------------------------------------------------------------------

_RANGE_POSITION = re.compile(r"[0-9]*")


def _parse_request_range(range_header: str) -> tuple[int | None, int | None] | None:
    """``(start, end)`` of a single byte range, for slicing; None if invalid.

    ``end`` is exclusive.  A suffix range (``bytes=-N``) gives ``(-N, None)``,
    except ``bytes=-0``, which gives ``(None, 0)`` so that the caller
    answers 416.  ``bytes=N`` without a dash is read as ``bytes=N-``, as
    Tornado does.  Multiple ranges are not supported (None).  Positions are
    ASCII digits only; one past 10**18 (beyond any file) is read as 10**18,
    without ``int()`` of its digits.

    The first hundred bytes, then all from byte 500 on, then the last 20:

    >>> _parse_request_range("bytes=0-99"), _parse_request_range("bytes=500-")
    ((0, 100), (500, None))
    >>> _parse_request_range("bytes=-20")
    (-20, None)

    An empty suffix, no positions at all, a sign, another unit:

    >>> _parse_request_range("bytes=-0"), _parse_request_range("bytes=")
    ((None, 0), (None, None))
    >>> [_parse_request_range(h) for h in ("bytes=-+3", "items=0-4")]
    [None, None]
    """
    unit, equals, spec = range_header.strip(HTTP_WHITESPACE).partition("=")
    if unit.strip(HTTP_WHITESPACE) != "bytes" or not equals:
        return None
    first, _, last = spec.partition("-")
    first = first.strip(HTTP_WHITESPACE)
    last = last.strip(HTTP_WHITESPACE)
    if not _RANGE_POSITION.fullmatch(first) or not _RANGE_POSITION.fullmatch(last):
        return None
    start = _range_position(first) if first else None
    end = _range_position(last) if last else None
    if start is None:
        if end is None:
            return None, None
        if end == 0:
            return None, 0
        return -end, None
    if end is not None:
        # The last position is inclusive in HTTP and exclusive in Python;
        # an end before the start is kept so that the caller answers 416.
        end = max(start, end + 1)
    return start, end


# A byte position past 10**18 is past the end of any representation: it is
# read as 10**18 without converting its digits (int() of thousands of digits
# is slow, and raises past 4300).
_MAX_RANGE_DIGITS = 18
_RANGE_BEYOND_ANY = 10**_MAX_RANGE_DIGITS


def _range_position(digits: str) -> int:
    if len(digits) > _MAX_RANGE_DIGITS:
        digits = digits.lstrip("0")
        if len(digits) > _MAX_RANGE_DIGITS:
            return _RANGE_BEYOND_ANY
    return int(digits)


def _get_content_range(start: int | None, end: int | None, total: int) -> str:
    """The Content-Range value for ``[start, end)`` of ``total`` bytes.

    >>> _get_content_range(None, 1, 4)
    'bytes 0-0/4'
    >>> _get_content_range(1, 3, 4)
    'bytes 1-2/4'
    >>> _get_content_range(None, None, 4)
    'bytes 0-3/4'
    """
    start = start or 0
    end = (end or total) - 1
    return f"bytes {start}-{end}/{total}"


# -- header parameters --------------------------------------------------------------

# One ';'-separated segment of a header with parameters.  A quoted string may
# contain ';' and backslash escapes.  Each alternative starts with a
# different character and nothing follows the repetition, so a match never
# backtracks: splitting is linear even for a long run of ';' inside quotes
# (CVE-2025-67726).
_PARAM_SEGMENT = re.compile(r'(?:[^;"]+|"(?:[^"\\]+|\\[\s\S]?)*"?)*')
# Inside a quoted parameter only \\ and \" are escapes, as in Tornado; a
# backslash before anything else stays.
_QUOTED_PAIR = re.compile(r'\\([\\"])')


def _split_params(line: str) -> Iterator[str]:
    pos = 0
    end = len(line)
    match = _PARAM_SEGMENT.match
    while True:
        m = match(line, pos)
        assert m is not None  # the pattern matches the empty string
        yield m.group()
        pos = m.end() + 1  # past the ';'
        if pos > end:
            return


def _parse_header(line: str) -> tuple[str, dict[str, str]]:
    """Split a header like Content-Type into its main value and parameters.

    >>> _parse_header('form-data; name="a;b"; filename=x.txt')
    ('form-data', {'name': 'a;b', 'filename': 'x.txt'})
    >>> _parse_header("attachment; filename*=UTF-8''%C3%A1.txt")
    ('attachment', {'filename': 'á.txt'})

    Parameter names are lower-cased; quoted values are unquoted; a
    parameter without ``=`` is dropped.  An RFC 2231/5987 extended parameter
    (``name*=charset'lang'percent-encoded``) is decoded and replaces the
    plain one of the same name.  Linear in the length of ``line``.
    """
    segments = _split_params(line)
    key = next(segments).strip()
    params: dict[str, str] = {}
    extended: list[tuple[str, str]] = []
    for segment in segments:
        name, equals, value = segment.partition("=")
        if not equals:
            continue
        name = name.strip().lower()
        value = value.strip()
        if name.endswith("*"):
            extended.append((name[:-1], value))
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        params[name] = value
    for name, value in extended:
        params[name] = _decode_extended_value(value)
    return key, params


def _decode_extended_value(value: str) -> str:
    """Decode an RFC 5987 ``charset'language'percent-encoded`` value."""
    charset, quote1, rest = value.partition("'")
    _language, quote2, encoded = rest.partition("'")
    if not quote1 or not quote2:
        return value
    raw = urllib.parse.unquote_to_bytes(encoded)
    try:
        codecs.lookup(charset)
    except LookupError:
        # An unknown charset: latin-1 keeps every byte rather than failing.
        charset = "latin-1"
    return raw.decode(charset, errors="replace")


def _encode_header(key: str, pdict: Mapping[str, str | None]) -> str:
    """The inverse of :func:`_parse_header`, for simple values.

    A parameter whose value is None is written as its name alone.

    >>> _encode_header("form-data", {"name": "avatar", "inline": None})
    'form-data; name=avatar; inline'
    """
    if not pdict:
        return key
    out = [key]
    for name, value in pdict.items():
        out.append(name if value is None else f"{name}={value}")
    return "; ".join(out)


# -- form bodies --------------------------------------------------------------------


@dataclasses.dataclass
class ParseMultipartConfig:
    """How ``multipart/form-data`` bodies are parsed.

    Its point is to bound the size and complexity of what a client can make
    the server parse.

    ``enabled``: false refuses every multipart body.  ``max_parts``: the most
    parts a body may have.  ``max_part_header_size``: the largest header
    block of one part, in bytes.

    .. versionadded:: 6.5.5
    """

    enabled: bool = True
    max_parts: int = 100
    max_part_header_size: int = 10 * 1024


@dataclasses.dataclass
class ParseUrlEncodedConfig:
    """How ``application/x-www-form-urlencoded`` bodies are parsed.

    ``max_arguments``: the most fields a body (or a query string) may have.

    .. versionadded:: 6.5.8
    """

    max_arguments: int = 1000


@dataclasses.dataclass
class ParseBodyConfig:
    """How request bodies are parsed: one config per form encoding.

    .. versionadded:: 6.5.5
    """

    multipart: ParseMultipartConfig = dataclasses.field(
        default_factory=ParseMultipartConfig
    )
    urlencoded: ParseUrlEncodedConfig = dataclasses.field(
        default_factory=ParseUrlEncodedConfig
    )


_DEFAULT_PARSE_BODY_CONFIG = ParseBodyConfig()


def set_parse_body_config(config: ParseBodyConfig) -> None:
    """Replace the limits that form bodies are parsed with, process-wide.

    It applies to every later call of :func:`parse_body_arguments` and
    :func:`parse_multipart_form_data` without a ``config`` argument, and to
    the query strings of new :class:`HTTPServerRequest` objects.

    With multipart parsing switched off, an upload is refused:

    >>> no_uploads = ParseMultipartConfig(enabled=False)
    >>> set_parse_body_config(ParseBodyConfig(multipart=no_uploads))
    >>> upload = "multipart/form-data; boundary=b1"
    >>> parse_body_arguments(upload, b"--b1--\\r\\n", {}, {})
    Traceback (most recent call last):
        ...
    tornado_compat.httputil.HTTPInputError: multipart/form-data parsing is disabled
    >>> set_parse_body_config(ParseBodyConfig())

    .. versionadded:: 6.5.5
    """
    global _DEFAULT_PARSE_BODY_CONFIG
    _DEFAULT_PARSE_BODY_CONFIG = config


def parse_body_arguments(
    content_type: str,
    body: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    headers: HTTPHeaders | None = None,
    *,
    config: ParseBodyConfig | None = None,
) -> None:
    """Parse a form body into ``arguments`` and ``files``.

    ``application/x-www-form-urlencoded`` and ``multipart/form-data`` are
    parsed (the media type is compared without regard to case); any other
    content type is left alone.  ``arguments`` and ``files`` are updated
    with what the body holds.  Raises :class:`HTTPInputError` for a
    malformed body, one over the limits of ``config`` (by default the one of
    :func:`set_parse_body_config`), or a body with a ``Content-Encoding``
    (which should have been decoded before).
    """
    if config is None:
        config = _DEFAULT_PARSE_BODY_CONFIG
    media_type = content_type.partition(";")[0].strip(HTTP_WHITESPACE).lower()
    if media_type == "application/x-www-form-urlencoded":
        _check_no_content_encoding(headers)
        try:
            parsed = parse_qs_bytes(
                body,
                keep_blank_values=True,
                max_num_fields=config.urlencoded.max_arguments,
            )
        except ValueError as e:
            raise HTTPInputError(f"Invalid x-www-form-urlencoded body: {e}") from e
        for name, values in parsed.items():
            if values:
                arguments.setdefault(name, []).extend(values)
    elif media_type == "multipart/form-data":
        _check_no_content_encoding(headers)
        boundary = _parse_header(content_type)[1].get("boundary")
        if not boundary:
            raise HTTPInputError(
                "Invalid multipart/form-data: multipart boundary not found"
            )
        parse_multipart_form_data(
            utf8(boundary), body, arguments, files, config=config.multipart
        )


def _check_no_content_encoding(headers: HTTPHeaders | None) -> None:
    if headers is not None and "Content-Encoding" in headers:
        raise HTTPInputError(
            "Unsupported Content-Encoding: %s" % headers["Content-Encoding"]
        )


def parse_multipart_form_data(
    boundary: bytes,
    data: bytes,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    *,
    config: ParseMultipartConfig | None = None,
) -> None:
    """Parse a ``multipart/form-data`` body into ``arguments`` and ``files``.

    ``boundary`` (quoted or not) and ``data`` are bytes.  A part with a
    non-empty ``filename`` becomes an :class:`HTTPFile` in ``files``; any
    other part's body is appended to ``arguments``.  Filenames in RFC
    2231/5987 form (``filename*=``) are decoded.  Part headers are UTF-8.

    Raises :class:`HTTPInputError` at the first malformed part, or if the
    body breaks a limit of ``config`` (by default the one of
    :func:`set_parse_body_config`): more than ``max_parts`` parts, or a part
    header block larger than ``max_part_header_size``.  Every search for a
    delimiter moves forward, so the time is linear in ``len(data)``.
    """
    if config is None:
        config = _DEFAULT_PARSE_BODY_CONFIG.multipart
    if not config.enabled:
        raise HTTPInputError("multipart/form-data parsing is disabled")
    if len(boundary) >= 2 and boundary.startswith(b'"') and boundary.endswith(b'"'):
        boundary = boundary[1:-1]
    if not boundary:
        raise HTTPInputError("Invalid multipart/form-data: empty boundary")
    # As Tornado does: the body ends at the last close delimiter (what
    # follows is the epilogue), and parts are separated by "--boundary"
    # followed by CRLF.  Each part then ends with the CRLF that belongs to
    # the next delimiter.
    final = data.rfind(b"--" + boundary + b"--")
    if final == -1:
        raise HTTPInputError("Invalid multipart/form-data: no final boundary found")
    delimiter = b"--" + boundary + b"\r\n"
    # Counted before anything is parsed, so a body of many parts is refused
    # at the cost of one scan.
    if data.count(delimiter, 0, final) > config.max_parts:
        raise HTTPInputError("multipart/form-data has too many parts")
    pos = 0
    while True:
        found = data.find(delimiter, pos, final)
        part_end = final if found == -1 else found
        if part_end > pos:
            _parse_part(data, pos, part_end, arguments, files, config)
        if found == -1:
            return
        pos = found + len(delimiter)


def _parse_part(
    data: bytes,
    start: int,
    end: int,
    arguments: dict[str, list[bytes]],
    files: dict[str, list[HTTPFile]],
    config: ParseMultipartConfig,
) -> None:
    """Parse the part ``data[start:end]`` (slicing only what is kept)."""
    # The search for the end of the headers stops at the header size limit,
    # so a part with no headers costs no more than that limit to refuse.
    limit = min(end, start + config.max_part_header_size + 4)
    eoh = data.find(b"\r\n\r\n", start, limit)
    if eoh == -1:
        if end - start > config.max_part_header_size + 4:
            raise HTTPInputError("multipart/form-data part header too large")
        raise HTTPInputError("multipart/form-data missing headers")
    if eoh - start > config.max_part_header_size:
        raise HTTPInputError("multipart/form-data part header too large")
    disposition_header: str | None = None
    content_type = "application/unknown"
    content_types: list[str] = []
    try:
        for field_name, field_value in _head.iter_header_block(data[start:eoh]):
            lowered = field_name.lower()
            if lowered == "content-disposition":
                if disposition_header is not None:
                    raise HTTPInputError(
                        "Invalid multipart/form-data: repeated Content-Disposition"
                    )
                disposition_header = _utf8_header(field_value)
            elif lowered == "content-type":
                content_types.append(_utf8_header(field_value))
    except ProtocolError as e:
        raise HTTPInputError(str(e)) from e
    if content_types:
        content_type = ",".join(content_types)
    disposition, params = _parse_header(disposition_header or "")
    if disposition != "form-data" or not data.endswith(b"\r\n", start, end):
        raise HTTPInputError("Invalid multipart/form-data")
    name = params.get("name")
    if not name:
        raise HTTPInputError("multipart/form-data missing name")
    # The part's body ends before the CRLF of the next delimiter; a part
    # whose headers run up to that CRLF has an empty body.
    value = data[eoh + 4 : end - 2] if end - 2 > eoh + 4 else b""
    filename = params.get("filename")
    if filename:
        files.setdefault(name, []).append(
            HTTPFile(filename=filename, body=value, content_type=content_type)
        )
    else:
        arguments.setdefault(name, []).append(value)


def _utf8_header(value: str) -> str:
    # The head parser hands back one character per byte; part headers are
    # UTF-8 (browsers send file names that way).
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPInputError(
            "Invalid multipart/form-data: part header is not UTF-8"
        ) from None


# -- cookies ------------------------------------------------------------------------

# One ';'-separated chunk of a Cookie header: the name is what comes before
# the first '=', the value everything after it.  A chunk without '=' is a
# value with an empty name, as browsers treat it.
_COOKIE_CHUNK = re.compile(r"([^;=]*)(=?)([^;]*)")
# Backslash escapes in a quoted cookie value: three octal digits (the first
# 0-3) or any single character.
_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|([\s\S]))")


def _unescape_cookie_char(m: re.Match[str]) -> str:
    octal = m.group(1)
    if octal is not None:
        return chr(int(octal, 8))
    return m.group(2)


def _unquote_cookie(value: str) -> str:
    """Undo the quoting of :class:`http.cookies.SimpleCookie`, in linear time.

    A value that is not enclosed in double quotes is returned as it is.
    (CVE-2024-7592: unquoting one escape at a time was quadratic.)
    """
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _COOKIE_ESCAPE.sub(_unescape_cookie_char, value[1:-1])


def parse_cookie(cookie: str) -> dict[str, str]:
    """Parse a ``Cookie`` header into a dict of names and values.

    This follows what browsers do, not the cookie RFCs (browsers do not
    either): every ``;`` separates cookies, even inside quotes; a chunk
    without ``=`` is a value with an empty name; whitespace around names and
    values is dropped; the last cookie of a name wins.  It is the algorithm
    of Django 1.9.10, as in Tornado.

    >>> parse_cookie("a=1; b=2; a=3")
    {'a': '3', 'b': '2'}

    .. versionadded:: 4.4.2
    """
    result: dict[str, str] = {}
    for m in _COOKIE_CHUNK.finditer(cookie):
        name, equals, value = m.groups()
        if not equals:
            name, value = "", name
        name = name.strip()
        value = value.strip()
        if name or value:
            result[name] = _unquote_cookie(value)
    return result


# -- doctests -----------------------------------------------------------------------


def doctests() -> unittest.TestSuite:
    """The doctests of this module, as a unittest suite."""
    # Imported here: doctest pulls in pdb, unittest and more, a cost every
    # process that imports tornado.httputil would pay for a test helper.
    import doctest

    return doctest.DocTestSuite(
        sys.modules[__name__], optionflags=doctest.IGNORE_EXCEPTION_DETAIL
    )
