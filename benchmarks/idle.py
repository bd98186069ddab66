"""Open many keep-alive connections and leave them idle (for ``python -m benchmarks``).

    python -m benchmarks.idle PORT COUNT

Opens COUNT connections to 127.0.0.1:PORT in batches, sends one
``GET / HTTP/1.1`` on each and reads its whole response (it must be a 200
with the 12-byte hello body), keeping every connection open.  Then it prints
``open COUNT`` and holds them, idle, until its standard input closes.
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys

BATCH = 250
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: idle\r\n\r\n"
EXPECTED_BODY = b"Hello world!"


def raise_fd_limit(needed: int) -> None:
    """Lift the limit on open files to needed, or else as far as allowed."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, needed))
            return
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Read one response with a Content-Length body; return (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed in the body")
        body += chunk
    return status, body


def open_connections(port: int, count: int) -> list[socket.socket]:
    held: list[socket.socket] = []
    while len(held) < count:
        batch = []
        for _ in range(min(BATCH, count - len(held))):
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            batch.append(sock)
        for sock in batch:
            sock.sendall(REQUEST)
        for sock in batch:
            status, body = read_response(sock)
            if status != 200 or body != EXPECTED_BODY:
                raise SystemExit(f"wrong response: {status} {body!r}")
        held.extend(batch)
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    args = parser.parse_args()
    raise_fd_limit(args.count + 100)
    held = open_connections(args.port, args.count)
    print(f"open {len(held)}", flush=True)
    sys.stdin.read()  # hold the connections until the parent lets go
    for sock in held:
        sock.close()


if __name__ == "__main__":
    main()
