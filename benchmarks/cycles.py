"""Open and close many short connections, fast (for ``python -m benchmarks.churn``).

    python -m benchmarks.cycles PORT MODE COUNT [--in-flight N] [--sources N]

MODE is what each connection does:

- ``connect``: connects, sends nothing, and closes its sending side at once;
  when the server has closed its side too, closes the socket.  The server
  sees a connection that ends without a byte.
- ``request``: sends one ``GET /`` with ``Connection: close``, reads the whole
  response until the server closes, checks it (status 200 and the 12-byte
  hello body), and closes.

It keeps ``--in-flight`` connections going at once on non-blocking sockets
(one epoll loop) until COUNT have ended, then prints one JSON line: how many
ended as they should, how many failed and why, and the time taken.  It must
never talk to anything but 127.0.0.1, and it never runs longer than its
deadline.

Why it waits for the server's close in ``connect`` mode: a client that closes
straight after ``connect()`` outruns the server, whose accept queue then
fills up; the kernel drops the next SYNs and the client stalls for a second at
a time.  Waiting for the server's close keeps at most ``--in-flight``
connections unhandled and proves that the server saw each one.

Why it spreads its connections over several source addresses: the side that
closes first keeps the connection in TIME_WAIT for 60 s, and one source
address has only about 28,000 ephemeral ports towards one server port.  The
connections come from 127.0.0.2, 127.0.0.3, … (all of 127.0.0.0/8 is
loopback on Linux), bound with ``IP_BIND_ADDRESS_NO_PORT`` so that the kernel
picks the port at ``connect()``, by the whole address pair.  A close by reset
(``SO_LINGER`` 0) would avoid TIME_WAIT as well, but the server would then see
a connection error instead of an ordinary end of stream, which is not the
path being measured.
"""

from __future__ import annotations

import argparse
import errno
import json
import select
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
REQUEST = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: cycles\r\n"
    b"Connection: close\r\n\r\n"
)
EXPECTED_BODY = b"Hello world!"
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
CONNECT_TIMEOUT = 10.0  # one connection's whole life, at most


def source_addresses(count: int) -> list[str]:
    """127.0.0.2 and the next ones: loopback addresses other than the server's."""
    if not 1 <= count <= 250:
        raise ValueError("between 1 and 250 source addresses")
    return [f"127.0.0.{2 + i}" for i in range(count)]


def check_response(data: bytes) -> str | None:
    """None for a complete 200 response with the hello body, else what is wrong."""
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return "incomplete head" if data else "empty reply"
    status_line = head.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or parts[1] != b"200":
        return f"status line {status_line[:40]!r}"
    if body != EXPECTED_BODY:
        return "wrong body"
    return None


@dataclass
class Connection:
    sock: socket.socket
    started: float
    connected: bool = False
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Result:
    mode: str
    count: int
    completed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "count": self.count,
            "completed": self.completed,
            "failed": sum(self.errors.values()),
            "errors": dict(self.errors),
            "seconds": self.seconds,
            "per_second": self.completed / self.seconds if self.seconds else 0.0,
        }


def run(
    port: int,
    mode: str,
    count: int,
    in_flight: int = 64,
    sources: int = 16,
    deadline: float = 600.0,
) -> Result:
    """COUNT connections to 127.0.0.1:PORT, at most in_flight at once."""
    if mode not in ("connect", "request"):
        raise ValueError(f"unknown mode {mode!r}")
    addresses = source_addresses(sources)
    result = Result(mode, count)
    poller = select.epoll()
    connections: dict[int, Connection] = {}
    opened = 0
    started = time.monotonic()
    stop_at = started + deadline
    next_sweep = started + 1.0

    def finish(fd: int, error: str | None) -> None:
        connection = connections.pop(fd)
        poller.unregister(fd)
        connection.sock.close()
        if error is None:
            result.completed += 1
        else:
            result.errors[error] += 1

    def open_one() -> None:
        nonlocal opened
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((addresses[opened % len(addresses)], 0))
        opened += 1
        code = sock.connect_ex((HOST, port))
        fd = sock.fileno()
        connections[fd] = Connection(sock, time.monotonic())
        poller.register(fd, select.EPOLLOUT)
        if code not in (0, errno.EINPROGRESS):
            finish(fd, f"connect: {errno.errorcode.get(code, code)}")

    try:
        while opened < count or connections:
            while opened < count and len(connections) < in_flight:
                open_one()
            now = time.monotonic()
            if now > stop_at:
                raise TimeoutError(
                    f"{result.completed} of {count} done after {deadline:.0f} s"
                )
            if now > next_sweep:
                next_sweep = now + 1.0
                for fd in [
                    fd
                    for fd, c in connections.items()
                    if now - c.started > CONNECT_TIMEOUT
                ]:
                    finish(fd, "timeout")
            for fd, _ in poller.poll(1.0):
                connection = connections.get(fd)
                if connection is None:
                    continue
                sock = connection.sock
                if not connection.connected:
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if code:
                        finish(fd, f"connect: {errno.errorcode.get(code, code)}")
                        continue
                    connection.connected = True
                    if mode == "connect":
                        sock.shutdown(socket.SHUT_WR)
                    else:
                        # A small request always fits an empty send buffer.
                        sock.send(REQUEST)
                    poller.modify(fd, select.EPOLLIN)
                    continue
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    finish(fd, "reset")
                    continue
                except BlockingIOError:
                    continue
                if chunk:
                    if mode == "connect":
                        finish(fd, "bytes from the server")
                    else:
                        connection.data += chunk
                    continue
                error = None
                if mode == "request":
                    error = check_response(bytes(connection.data))
                finish(fd, error)
    finally:
        for connection in connections.values():
            connection.sock.close()
        poller.close()
    result.seconds = time.monotonic() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("mode", choices=["connect", "request"])
    parser.add_argument("count", type=int)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--sources", type=int, default=16)
    parser.add_argument("--deadline", type=float, default=600.0)
    args = parser.parse_args()
    try:
        result = run(
            args.port,
            args.mode,
            args.count,
            args.in_flight,
            args.sources,
            args.deadline,
        )
    except (OSError, TimeoutError, ValueError) as error:
        sys.exit(f"cycles: {error}")
    print(json.dumps(result.as_json()), flush=True)


if __name__ == "__main__":
    main()
