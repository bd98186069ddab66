"""docs/deploy.md's nginx blocks, run by a real nginx in front of
``python -m tornado_compat serve`` on a unix socket: what a client sees
through them, and what the application sees of the client."""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path

import pytest

from tests.deploy import docpage
from tests.deploy.client import CLIENT_IP, Response, request, websocket_echo
from tests.deploy.conftest import Certificates
from tests.deploy.nginx import fill, nginx
from tests.ports import free_ports
from tests.serve_process import WAIT, ServeProcess

SOCKET = "/run/myapp/myapp.sock"
DIRECT = "/etc/nginx/conf.d/myapp.conf"
BEHIND_LB = "/etc/nginx/conf.d/myapp.conf, behind a load balancer at 10.0.0.5"
LB_ADDRESS = "10.0.0.5"
#: Where the test's own load balancer connects from.
LB_HERE = "127.0.0.2"


def serve(argv: list[str], sock: Path) -> ServeProcess:
    child = ServeProcess(argv)
    try:
        child.wait_for("serving")
    except BaseException:
        child.kill()
        raise
    assert sock.exists(), child.output()
    return child


def direct_config(sock: Path, http: int, https: int, certs: Certificates) -> str:
    return fill(
        docpage.block(DIRECT),
        {
            SOCKET: str(sock),
            "listen 80;": f"listen 127.0.0.1:{http};",
            "listen 443 ssl;": f"listen 127.0.0.1:{https} ssl;",
            "/etc/ssl/example.com.pem": str(certs.chain),
            "/etc/ssl/example.com.key": str(certs.key),
        },
    )


@pytest.mark.parametrize("xheaders", [True, False], ids=["xheaders", "no-xheaders"])
def test_nginx_passes_the_client_address_and_scheme(
    workdir: Path, certs: Certificates, xheaders: bool
) -> None:
    sock = workdir / "myapp.sock"
    argv = docpage.runnable(
        docpage.command("--unix-socket", without=("--trusted-downstream",)),
        {SOCKET: str(sock)},
    )
    if not xheaders:
        # What the page says happens without it.
        argv.remove("--xheaders")
    http, https = free_ports(2)
    with (
        serve(argv, sock) as app,
        nginx(
            workdir / "nginx", direct_config(sock, http, https, certs), [http, https]
        ) as proxy,
    ):
        # A client that claims another address and plain http.
        seen = request(
            https,
            tls=certs.client,
            headers={
                "X-Real-IP": "198.51.100.1",
                "X-Forwarded-For": "198.51.100.2",
                "X-Scheme": "http",
                "X-Forwarded-Proto": "http",
            },
        )
        assert seen.status == 200, proxy.errors() + app.output()
        if xheaders:
            assert seen.json()["remote_ip"] == CLIENT_IP
            assert seen.json()["protocol"] == "https"
        else:
            assert seen.json()["remote_ip"] == "0.0.0.0"
            assert seen.json()["protocol"] == "http"
        assert seen.json()["host"] == "example.com"

        redirect = request(http, "/some/page?x=1")
        assert redirect.status == 301
        assert redirect.headers["Location"] == "https://example.com/some/page?x=1"


def test_nginx_keeps_connections_to_serve_and_passes_websockets(
    workdir: Path, certs: Certificates
) -> None:
    sock = workdir / "myapp.sock"
    argv = docpage.runnable(
        docpage.command("--unix-socket", without=("--trusted-downstream",)),
        {SOCKET: str(sock)},
    )
    http, https = free_ports(2)
    with (
        serve(argv, sock) as app,
        nginx(
            workdir / "nginx", direct_config(sock, http, https, certs), [http, https]
        ) as proxy,
    ):
        # Each on a new client connection: nginx reuses its idle upstream
        # connection for all of them.
        answers = [request(https, tls=certs.client) for _ in range(5)]
        assert [a.status for a in answers] == [200] * 5, proxy.errors()
        assert len({a.json()["connection"] for a in answers}) == 1, [
            a.json() for a in answers
        ]
        assert websocket_echo(https, "hello through nginx", certs.client) == (
            "hello through nginx"
        )
        # Plain requests still share a connection after the upgrade.
        after = [request(https, tls=certs.client) for _ in range(2)]
        assert after[0].json()["connection"] == after[1].json()["connection"]
        assert app.proc.poll() is None


def test_serve_drains_behind_nginx_and_removes_its_socket(
    workdir: Path, certs: Certificates
) -> None:
    sock = workdir / "myapp.sock"
    argv = docpage.runnable(
        docpage.command("--unix-socket", without=("--trusted-downstream",)),
        {SOCKET: str(sock)},
    )
    http, https = free_ports(2)
    flag = workdir / "release"
    with (
        serve(argv, sock) as app,
        nginx(
            workdir / "nginx", direct_config(sock, http, https, certs), [http, https]
        ) as proxy,
    ):
        slow: list[Response] = []
        client = threading.Thread(
            target=lambda: slow.append(
                request(https, f"/slow?flag={flag}", tls=certs.client)
            )
        )
        client.start()
        try:
            app.wait_for(f"arrived {flag}")
            app.send_signal(signal.SIGTERM)
            app.wait_for("draining")
            # The request in progress still finishes, through nginx.
            flag.touch()
        finally:
            flag.touch()
            client.join(WAIT)
        assert slow and slow[0].status == 200, proxy.errors() + app.output()
        assert slow[0].body == b"finished after the release\n"
        assert app.finish()[0] == 0, app.output()
        assert "Traceback" not in app.output()
        assert not sock.exists()
        # Nothing serves the upstream now: nginx says so.
        assert request(https, tls=certs.client).status == 502


LB_SERVER = """
server {{
    listen 127.0.0.1:{edge} ssl;
    ssl_certificate     {chain};
    ssl_certificate_key {key};
    location / {{
        proxy_pass http://127.0.0.1:{inner};
        proxy_bind {lb};
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
    }}
}}
"""


@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "untrusted"])
def test_trusted_downstream_behind_a_load_balancer(
    workdir: Path, certs: Certificates, trusted: bool
) -> None:
    """The second block behind a load balancer of the test's own (another
    nginx server that terminates TLS and connects from 127.0.0.2)."""
    sock = workdir / "myapp.sock"
    argv = docpage.runnable(
        docpage.command("--unix-socket", "--trusted-downstream"),
        {SOCKET: str(sock), LB_ADDRESS: LB_HERE},
    )
    if not trusted:
        at = argv.index("--trusted-downstream")
        del argv[at : at + 2]
    inner, edge = free_ports(2)
    config = fill(
        docpage.block(BEHIND_LB),
        {
            SOCKET: str(sock),
            "listen 80;": f"listen 127.0.0.1:{inner};",
            LB_ADDRESS: LB_HERE,
        },
    ) + LB_SERVER.format(
        edge=edge, inner=inner, lb=LB_HERE, chain=certs.chain, key=certs.key
    )
    with (
        serve(argv, sock) as app,
        nginx(workdir / "nginx", config, [inner, edge]) as proxy,
    ):
        seen = request(
            edge,
            tls=certs.client,
            headers={
                "X-Forwarded-For": "198.51.100.9",
                "X-Real-IP": "198.51.100.10",
                "X-Scheme": "http",
            },
        )
        assert seen.status == 200, proxy.errors() + app.output()
        assert seen.json()["protocol"] == "https"
        if trusted:
            assert seen.json()["remote_ip"] == CLIENT_IP
        else:
            # The load balancer's address, as the page warns.
            assert seen.json()["remote_ip"] == LB_HERE
        assert websocket_echo(edge, "through two proxies", certs.client) == (
            "through two proxies"
        )
        # Only the load balancer may talk to this nginx.
        assert request(inner).status == 403


@pytest.mark.parametrize("caption", [DIRECT, BEHIND_LB])
def test_nginx_blocks_agree_with_serve_s_defaults(caption: str) -> None:
    """nginx closes an idle upstream connection before serve would, and
    refuses a body before serve would."""
    from tornado_compat.serve import SERVE_IDLE_TIMEOUT, SERVE_MAX_BODY_SIZE

    config = docpage.block(caption)
    keepalive = docpage.nginx_seconds(config, "keepalive_timeout", "upstream myapp")
    assert keepalive < SERVE_IDLE_TIMEOUT
    body = re.search(r"client_max_body_size (\d+)m;", config)
    assert body, "no client_max_body_size in megabytes"
    assert int(body.group(1)) * 1024 * 1024 <= SERVE_MAX_BODY_SIZE
