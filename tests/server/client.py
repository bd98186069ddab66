"""A raw HTTP/1.x client over a blocking socket, for the server tests.

What this module is for: letting a test send exactly the bytes it means
(whole, or one byte per write) and read the server's answers one response at
a time, so that keep-alive, pipelining and framing can be checked byte for
byte.  It also parses responses itself, strictly, so that a server bug cannot
be hidden by a lenient client.

What it must never do: use tornado_compat's own parser (a shared bug would
then cancel out), or wait on anything but a socket read; the socket timeout
is only a safety net, and a test that reaches it fails.
"""

from __future__ import annotations

import json
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

#: Safety net on every socket operation; reaching it fails the test.
SOCKET_TIMEOUT = 10.0


class ClientError(AssertionError):
    """The server's bytes are not what an HTTP/1.x response looks like."""


@dataclass
class Response:
    """One response as it came off the wire."""

    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    #: Whether the body came with the chunked coding.
    chunked: bool = False
    #: Each chunk's data, for a chunked body.
    chunks: list[bytes] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The value of ``name``; several values are joined with commas."""
        values = self.header_list(name)
        return ", ".join(values) if values else None

    def header_list(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for n, v in self.headers if n.lower() == lowered]

    def json(self) -> Any:
        return json.loads(self.body)


class RawConnection:
    """A client connection to 127.0.0.1 that sends and reads raw bytes."""

    def __init__(
        self,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str = "127.0.0.1",
        timeout: float = SOCKET_TIMEOUT,
    ) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        # Each send() goes out as its own segment, so that byte-by-byte
        # writes really reach the server in pieces.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            try:
                sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self._buffer = bytearray()
        self._eof = False

    # -- sending ----------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_bytewise(self, data: bytes, stop_at_close: bool = False) -> None:
        """Send ``data`` one byte per write.

        With ``stop_at_close``, a server that has closed the connection (as
        it does on bad input, possibly before everything was sent) ends the
        sending quietly; what it answered can still be read.
        """
        for i in range(len(data)):
            try:
                self.sock.sendall(data[i : i + 1])
            except (BrokenPipeError, ConnectionResetError):
                if not stop_at_close:
                    raise
                return

    # -- reading ----------------------------------------------------------

    def _fill(self) -> bool:
        """Read more from the socket; False at end of stream.

        A reset counts as end of stream: a server that closes with unread
        input makes the kernel answer with RST instead of FIN.
        """
        if self._eof:
            return False
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b""
        if not data:
            self._eof = True
            return False
        self._buffer += data
        return True

    def read_line(self) -> bytes:
        """One line without its CRLF; a bare LF is a protocol error."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                break
            if not self._fill():
                partial = bytes(self._buffer)
                raise ClientError(f"connection closed in a line: {partial!r}")
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        if not line.endswith(b"\r\n"):
            raise ClientError(f"line not terminated by CRLF: {line!r}")
        return line[:-2]

    def read_exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if not self._fill():
                raise ClientError(
                    f"connection closed after {len(self._buffer)} of {n} bytes"
                )
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def read_until_close(self) -> bytes:
        while self._fill():
            pass
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    def read_head(self) -> Response:
        """A status line and its headers, with no body read."""
        line = self.read_line()
        try:
            version, status, reason = line.decode("latin-1").split(" ", 2)
        except ValueError:
            raise ClientError(f"malformed status line: {line!r}") from None
        if not version.startswith("HTTP/1.") or not status.isdigit():
            raise ClientError(f"malformed status line: {line!r}")
        headers = []
        while True:
            line = self.read_line()
            if not line:
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep or name != name.strip() or not name:
                raise ClientError(f"malformed header line: {line!r}")
            headers.append((name, value.strip(" \t")))
        return Response(version, int(status), reason, headers)

    def read_response(
        self, method: str = "GET", skip_continue: bool = True
    ) -> Response:
        """The next complete response to a request made with ``method``.

        Interim ``100 Continue`` responses are skipped unless
        ``skip_continue`` is false.
        """
        while True:
            response = self.read_head()
            if not (skip_continue and response.status == 100):
                break
        if (
            method == "HEAD"
            or 100 <= response.status < 200
            or response.status in (204, 304)
        ):
            return response
        transfer_encoding = response.header("Transfer-Encoding")
        length = response.header("Content-Length")
        if transfer_encoding is not None:
            if transfer_encoding.lower() != "chunked":
                raise ClientError(f"unexpected Transfer-Encoding {transfer_encoding!r}")
            if length is not None:
                raise ClientError("response with Content-Length and chunked")
            response.chunked = True
            response.chunks = self._read_chunks()
            response.body = b"".join(response.chunks)
        elif length is not None:
            if not length.isdigit():
                raise ClientError(f"invalid Content-Length {length!r}")
            response.body = self.read_exact(int(length))
        else:
            response.body = self.read_until_close()
        return response

    def _read_chunks(self) -> list[bytes]:
        chunks = []
        while True:
            line = self.read_line()
            size_text = line.split(b";", 1)[0]
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ClientError(f"invalid chunk size line {line!r}") from None
            if size == 0:
                break
            chunks.append(self.read_exact(size))
            if self.read_exact(2) != b"\r\n":
                raise ClientError("chunk not followed by CRLF")
        while self.read_line():
            pass  # trailer lines
        return chunks

    def is_closed(self) -> bool:
        """Wait until the server closes; True if it did with nothing more sent.

        Bytes still unread, or arriving, mean the server said more than the
        test expected, which is reported rather than dropped.
        """
        extra = self.read_until_close()
        if extra:
            raise ClientError(f"unexpected bytes before the close: {extra[:200]!r}")
        return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def request(
    method: str = "GET",
    target: str = "/",
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    """The bytes of a well-formed request; Host and Content-Length are added
    unless given (Content-Length only for a non-empty body)."""
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {n.lower() for n, _ in items}
    if "host" not in names and version == "HTTP/1.1":
        items.insert(0, ("Host", "127.0.0.1"))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        items.append(("Content-Length", str(len(body))))
    head = f"{method} {target} {version}\r\n" + "".join(
        f"{n}: {v}\r\n" for n, v in items
    )
    return head.encode("latin-1") + b"\r\n" + body


def chunked(*pieces: bytes) -> bytes:
    """A chunked body made of ``pieces``, with the last chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
