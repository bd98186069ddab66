"""The client side of the deployment tests (not a test module): HTTP
requests and a WebSocket echo, from a chosen loopback address, over TLS
when asked.

What it is for: being a client that nginx sees at an address of its own
(127.0.0.3 rather than nginx's 127.0.0.1), so that a test can tell the
client's address from a proxy's in what the application reports.

What it must never do: block without a bound (every socket has a timeout),
or leave a connection open.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import socket
import ssl
import struct
from dataclasses import dataclass
from typing import Any

from tests.serve_process import WAIT

#: The client's own address; nginx listens on 127.0.0.1.
CLIENT_IP = "127.0.0.3"


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    port: int,
    path: str = "/",
    *,
    tls: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    source: str = CLIENT_IP,
) -> Response:
    """One request on a new connection to 127.0.0.1:``port``."""
    conn: http.client.HTTPConnection
    if tls is None:
        conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=WAIT, source_address=(source, 0)
        )
    else:
        conn = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=WAIT, source_address=(source, 0), context=tls
        )
    try:
        conn.request("GET", path, headers={"Host": "example.com", **(headers or {})})
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()


def unix_request(
    path: str, target: str = "/", sock: socket.socket | None = None
) -> Response:
    """One request over the unix socket at ``path`` (on ``sock`` when it is
    already connected there)."""
    own = sock is None
    if sock is None:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(WAIT)
        sock.connect(path)
    try:
        conn = http.client.HTTPConnection("localhost", timeout=WAIT)
        conn.sock = sock
        conn.request("GET", target)
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        if own:
            sock.close()


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"connection closed after {len(data)} of {count} bytes"
        data += chunk
    return data


def websocket_echo(port: int, message: str, tls: ssl.SSLContext | None) -> str:
    """Open a WebSocket to ``/ws`` (RFC 6455), send ``message`` as one text
    frame and return the text of the first frame that comes back."""
    raw = socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT, source_address=(CLIENT_IP, 0)
    )
    sock = raw if tls is None else tls.wrap_socket(raw, server_hostname="127.0.0.1")
    with sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, f"closed during the handshake: {head!r}"
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        accept = base64.b64encode(
            hashlib.sha1(
                (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()
            ).digest()
        )
        fields = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (
                line.partition(b":") for line in head.split(b"\r\n")[1:]
            )
        )
        assert fields.get(b"sec-websocket-accept") == accept, head
        payload = message.encode()
        assert len(payload) < 126
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        data = rest + _read_exactly(sock, max(0, 2 - len(rest)))
        first, second = data[0], data[1]
        assert first & 0x0F == 0x1, f"not a text frame: {data!r}"
        length = second & 0x7F
        if length == 126:
            data += _read_exactly(sock, 2)
            (length,) = struct.unpack("!H", data[2:4])
            start = 4
        else:
            start = 2
        body = data[start:] + _read_exactly(sock, length - len(data[start:]))
        # A close frame, so that the server sees an orderly end.
        sock.sendall(bytes([0x88, 0x80]) + os.urandom(4))
        return body[:length].decode()
