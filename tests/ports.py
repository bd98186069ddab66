"""Free ports on 127.0.0.1, for the programs (nginx, tinyproxy, ``serve``)
that take a port number rather than a listening socket."""

from __future__ import annotations

import socket


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago.
    Every socket stays bound until all are chosen: asking one at a time can
    be given the same port twice, and nginx then refuses a duplicate
    ``listen``."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    """One port that was free on 127.0.0.1 a moment ago."""
    return free_ports(1)[0]
