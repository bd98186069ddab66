"""An unchanged ``tornado.web`` application (tests/http2/apps/peers.py: a
page with a stylesheet, a script and an image from ``StaticFileHandler``,
and a JSON handler) served by ``python -m tornado_compat serve --http2``,
over TLS with a trustme certificate for localhost and in cleartext, and
fetched by real HTTP/2 clients that nobody here wrote:

- curl, with ``--http2`` (ALPN) and ``--http2-prior-knowledge``;
- nghttp, fetching the page and its assets (``-a``) on one connection;
- h2load, a bounded load over TLS and h2c;
- headless Chromium over TLS, whose page reports the protocol of the page
  and of every resource (Resource Timing's ``nextHopProtocol``);
- and SIGTERM while HTTP/2 requests are in progress on one connection: all
  of them finish, with their whole bodies.

The bodies are compared byte for byte with the files on disk, or with what
the same server answers over HTTP/1.1.  A test whose client is missing is
skipped (failed under CI); see tests/client_tools.py.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

pytest.importorskip("h2")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

from tests.client_tools import tool  # noqa: E402
from tests.http2.apps.peers import STATIC, hold_body  # noqa: E402
from tests.serve.support import serve  # noqa: E402
from tests.serve_process import ServeProcess  # noqa: E402

TARGET = "tests/http2/apps/peers.py"
#: Seconds any one client run may take; reaching it fails the test.
CLIENT_TIMEOUT = 120
ITEMS = "/items/3000.json"


@dataclass
class Certificate:
    ca: Path
    cert: Path  # chain and key
    #: base64 of the SHA-256 of the leaf's SubjectPublicKeyInfo, as
    #: Chromium's --ignore-certificate-errors-spki-list takes it.
    spki: str


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    where = tmp_path_factory.mktemp("peers-tls")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    found = Certificate(where / "ca.pem", where / "server.pem", "")
    ca.cert_pem.write_to_path(found.ca)
    leaf.private_key_and_cert_chain_pem.write_to_path(found.cert)
    public_key = x509.load_pem_x509_certificate(
        leaf.cert_chain_pems[0].bytes()
    ).public_key()
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    found.spki = base64.b64encode(hashlib.sha256(der).digest()).decode()
    return found


def finished(server: ServeProcess) -> str:
    """SIGTERM; the server's stdout, once it exited cleanly."""
    server.send_signal(signal.SIGTERM)
    status, out, err = server.finish()
    assert status == 0, err
    assert "Traceback" not in err and "[E " not in err, err
    assert out.endswith("server stopped"), out
    return out


@dataclass
class Site:
    tls: ServeProcess
    clear: ServeProcess
    certificate: Certificate
    #: path -> the body the server must send for it.
    bodies: dict[str, bytes]

    def https(self, path: str = "/") -> str:
        return f"https://localhost:{self.tls.port}{path}"

    def http(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.clear.port}{path}"

    @property
    def assets(self) -> list[str]:
        return [path for path in self.bodies if path.startswith("/static/")]


def http11_get(port: int, path: str) -> bytes:
    """The body of ``path`` over HTTP/1.1, from the cleartext server."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        assert response.status == 200 and response.version == 11
        return response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def site(certificate: Certificate) -> Iterator[Site]:
    with serve("--http2", "--certfile", str(certificate.cert), target=TARGET) as tls:
        with serve("--http2", target=TARGET) as clear:
            page = http11_get(clear.port, "/")
            bodies = {"/": page}
            for path in re.findall(r"(?:href|src)='(/static/[^']+)'", page.decode()):
                name = path.split("?")[0].removeprefix("/static/")
                bodies[path] = (STATIC / name).read_bytes()
                assert http11_get(clear.port, path) == bodies[path]
            assert len(bodies) == 4, page  # the page and three assets
            bodies[ITEMS] = http11_get(clear.port, ITEMS)
            assert len(bodies[ITEMS]) > 65535  # past the initial window
            yield Site(tls, clear, certificate, bodies)
            finished(clear)
        finished(tls)


def run(*command: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(command, capture_output=True, timeout=CLIENT_TIMEOUT)
    assert done.returncode == 0, (command, done.stderr[-4000:])
    return done


# -- curl -----------------------------------------------------------------------


def curl(*args: str) -> tuple[str, bytes]:
    """``%{http_version}`` and the body of one fetch."""
    done = run(tool("curl"), "-sS", "-o", "-", "-w", "\n%{http_version}", *args)
    body, _, version = done.stdout.rpartition(b"\n")
    return version.decode(), body


def test_curl_over_alpn_and_with_prior_knowledge(site: Site) -> None:
    tls = ("--cacert", str(site.certificate.ca))
    tls += ("--resolve", f"localhost:{site.tls.port}:127.0.0.1")
    for path, body in site.bodies.items():
        assert curl("--http2", *tls, site.https(path)) == ("2", body), path
        assert curl("--http2-prior-knowledge", site.http(path)) == ("2", body), path


# -- nghttp ---------------------------------------------------------------------


@dataclass
class NghttpRun:
    """What ``nghttp -nv`` printed: the protocol ALPN chose (None in
    cleartext), the connections made, and per stream the request's path,
    the response status and the DATA bytes received."""

    protocol: str | None
    connections: int
    paths: dict[int, str]
    statuses: dict[int, str]
    received: dict[int, int]


def nghttp_verbose(*args: str) -> NghttpRun:
    return nghttp_run(run(tool("nghttp"), "-nv", *args).stdout.decode())


def nghttp_run(out: str) -> NghttpRun:
    protocol = re.search(r"^The negotiated protocol: (\S+)$", out, re.M)
    found = NghttpRun(
        protocol.group(1) if protocol else None,
        len(re.findall(r"^\[ *[0-9.]+\] Connected$", out, re.M)),
        {},
        {},
        {},
    )
    # A sent HEADERS frame opens a stream; its :path follows a few lines on.
    for match in re.finditer(
        r"send HEADERS frame <[^>]*stream_id=(\d+)>.*?\n\s+:path: (\S+)", out, re.S
    ):
        found.paths[int(match.group(1))] = match.group(2)
    for match in re.finditer(r"recv \(stream_id=(\d+)\) :status: (\d+)", out):
        found.statuses[int(match.group(1))] = match.group(2)
    for match in re.finditer(
        r"recv DATA frame <length=(\d+), [^>]*stream_id=(\d+)>", out
    ):
        stream = int(match.group(2))
        found.received[stream] = found.received.get(stream, 0) + int(match.group(1))
    return found


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_nghttp_gets_the_page_and_its_assets_on_streams_of_one_connection(
    site: Site, scheme: str
) -> None:
    url = site.https if scheme == "https" else site.http
    fetched = nghttp_verbose("-a", url("/"))
    # nghttp speaks only HTTP/2: in cleartext, with prior knowledge.
    assert fetched.protocol == ("h2" if scheme == "https" else None)
    assert fetched.connections == 1
    assert sorted(fetched.paths.values()) == sorted(["/", *site.assets])
    assert fetched.statuses == dict.fromkeys(fetched.paths, "200")
    assert fetched.received == {
        stream: len(site.bodies[path]) for stream, path in fetched.paths.items()
    }
    # Several URIs on the command line share the connection too.
    several = nghttp_verbose(url(ITEMS), *(url(path) for path in site.assets))
    assert several.connections == 1 and len(several.paths) == 4
    assert set(several.statuses.values()) == {"200"}
    # Without -n, nghttp writes the body of its one URI to stdout.
    for path, body in site.bodies.items():
        assert run(tool("nghttp"), url(path)).stdout == body, path


# -- h2load ---------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_h2load_bounded_run_has_no_failure(site: Site, scheme: str) -> None:
    # The TLS server's certificate is for localhost; h2load does not check it.
    port = site.tls.port if scheme == "https" else site.clear.port
    url = f"{scheme}://127.0.0.1:{port}/items/3.json"
    out = run(tool("h2load"), "-n", "2000", "-c", "4", "-m", "10", url).stdout.decode()
    # h2load names HTTP/2 in cleartext "h2c".
    protocol = "h2" if scheme == "https" else "h2c"
    assert re.search(rf"^Application protocol: {protocol}$", out, re.M), out
    assert re.search(
        r"^requests: 2000 total, 2000 started, 2000 done, 2000 succeeded,"
        r" 0 failed, 0 errored, 0 timeout$",
        out,
        re.M,
    ), out
    assert re.search(r"^status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx$", out, re.M), out


# -- Chromium -------------------------------------------------------------------


def chromium_command(profile: str, spki: str, *args: str) -> list[str]:
    """Headless Chromium that reaches nothing but the test's server: no
    sandbox (the tests may run as root), no QUIC, no background traffic,
    a fresh profile, and only the certificate whose key is ``spki``
    accepted beyond the system's roots."""
    return [
        tool("chromium"),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--ignore-certificate-errors-spki-list={spki}",
        *args,
    ]


def test_chromium_loads_the_page_and_every_resource_over_h2(site: Site) -> None:
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryFile() as log:
        browser = subprocess.Popen(
            chromium_command(profile, site.certificate.spki, site.https("/")),
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        try:
            line = site.tls.wait_for_line("report ", timeout=CLIENT_TIMEOUT)
        except AssertionError:
            log.seek(0)
            raise AssertionError(log.read()[-4000:].decode(errors="replace")) from None
        finally:
            # Chromium's helper processes are in its own process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGTERM)
            try:
                browser.wait(30)
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(browser.pid, signal.SIGKILL)
                browser.wait()
    report = json.loads(line.removeprefix("report "))
    assert report["items"] == 3000
    expected = {site.https(path) for path in site.bodies}
    assert {entry["name"] for entry in report["entries"]} == expected
    assert [entry["type"] for entry in report["entries"]].count("navigation") == 1
    assert {entry["protocol"] for entry in report["entries"]} == {"h2"}


def test_chromium_still_checks_the_certificate(site: Site, tmp_path: Path) -> None:
    # Another key's SPKI: the server's certificate is refused, and no
    # request reaches the application.
    other = base64.b64encode(hashlib.sha256(b"another key").digest()).decode()
    shown = run(
        *chromium_command(str(tmp_path), other, "--dump-dom", site.https("/"))
    ).stdout
    assert b"HTTP/2 peers" not in shown
    assert b"HTTP/2 peers" in site.bodies["/"]


# -- drain ---------------------------------------------------------------------


def drain_while(server: ServeProcess, client: subprocess.Popen[bytes]) -> bytes:
    """With the three /hold requests of ``client`` (its output piped) in
    progress, SIGTERM the server, then let the handlers finish (SIGUSR1,
    once the drain has begun); the client's stdout, once it exited with
    status 0 (its stderr shown if not)."""
    try:
        arrived = {server.wait_for_line("arrived /hold/") for _ in HOLDS}
        assert arrived == {f"arrived /hold/{number}" for number in HOLDS}
        server.send_signal(signal.SIGTERM)
        server.wait_for_line("draining:")
        server.send_signal(signal.SIGUSR1)
        out, err = client.communicate(timeout=CLIENT_TIMEOUT)
    finally:
        if client.poll() is None:
            client.kill()
            client.communicate()
    assert client.returncode == 0, err.decode(errors="replace")[-4000:]
    status, stdout, stderr = server.finish()
    assert status == 0, stderr
    assert stdout.endswith("server stopped"), stdout
    assert "Traceback" not in stderr and "[E " not in stderr, stderr
    assert stderr.count(" 200 GET /hold/") == 3, stderr
    return out


def hold(number: int) -> bytes:
    return hold_body(number, 1) + hold_body(number, 2)


HOLDS = (1, 2, 3)
#: Ample for three 100 KB answers; a drain that stalls is cut after it.
GRACE = ("--graceful-timeout", "15")


def test_sigterm_lets_requests_in_progress_finish_for_curl_over_tls(
    certificate: Certificate, tmp_path: Path
) -> None:
    tls = ("--certfile", str(certificate.cert))
    with serve("--http2", *tls, *GRACE, target=TARGET) as server:
        command = [tool("curl"), "-sS", "--parallel", "--http2"]
        command += ["--cacert", str(certificate.ca)]
        command += ["--resolve", f"localhost:{server.port}:127.0.0.1"]
        command += ["-w", "%{http_version} %{num_connects} %{response_code}\n"]
        for number in HOLDS:
            url = f"https://localhost:{server.port}/hold/{number}"
            command += ["-o", str(tmp_path / f"{number}"), url]
        client = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out = drain_while(server, client)
    # Every transfer over HTTP/2, on the one connection curl opened.
    assert sorted(out.decode().splitlines()) == ["2 0 200", "2 0 200", "2 1 200"]
    for number in HOLDS:
        assert (tmp_path / f"{number}").read_bytes() == hold(number)


def test_sigterm_lets_requests_in_progress_finish_for_nghttp_in_cleartext() -> None:
    # nghttp rather than curl: curl 7.88's --parallel fails the second
    # transfer on a prior-knowledge connection ("Error in the HTTP2 framing
    # layer"), against hypercorn as well.
    with serve("--http2", *GRACE, target=TARGET) as server:
        urls = [f"http://127.0.0.1:{server.port}/hold/{number}" for number in HOLDS]
        client = subprocess.Popen(
            [tool("nghttp"), "-nv", *urls],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out = drain_while(server, client).decode()
    fetched = nghttp_run(out)
    assert fetched.connections == 1
    assert sorted(fetched.paths.values()) == [f"/hold/{number}" for number in HOLDS]
    assert fetched.statuses == dict.fromkeys(fetched.paths, "200")
    assert fetched.received == {
        stream: len(hold(int(path.rsplit("/", 1)[1])))
        for stream, path in fetched.paths.items()
    }
    # The GOAWAY came first, then the rest of every response.
    goaway = out.index("recv GOAWAY frame")
    assert "error_code=NO_ERROR" in out[goaway:].split("\n[", 1)[0]
    for stream in fetched.paths:
        assert out.rindex(f"stream_id={stream}>\n          ; END_STREAM") > goaway
