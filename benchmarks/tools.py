"""The machinery of the benchmark: system tools, child processes, nginx and wrk."""

from __future__ import annotations

import http.client
import os
import platform
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPU = 0  # the server or client under test
LOAD_CPU = 1  # wrk, nginx, the idle-connection opener
START_TIMEOUT = 30.0


class BenchmarkError(Exception):
    """A contender or a tool misbehaved: the measurement is not valid."""


# What a failed measurement or setup step raises: ours, and what the standard
# library raises for a broken connection, a failed or hung command, or output
# that does not parse.
FAILURES = (
    BenchmarkError,
    OSError,
    http.client.HTTPException,
    subprocess.SubprocessError,
    ValueError,
)


# -- the system ---------------------------------------------------------------


def can_pin() -> bool:
    return shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2


def pinned(cpu: int, argv: list[str]) -> list[str]:
    """argv run on one CPU with taskset (which execs it: the pid stays the same)."""
    if can_pin():
        return ["taskset", "-c", str(cpu), *argv]
    return argv


def find_nginx() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx"):
        if os.access(path, os.X_OK):
            return path
    return None


# The system tools the benchmark runs, and the Debian package of each.
SYSTEM_TOOLS = {"wrk": "wrk", "nginx": "nginx", "h2load": "nghttp2-client"}


def find_tool(name: str) -> str | None:
    return find_nginx() if name == "nginx" else shutil.which(name)


def ensure_system_tools() -> None:
    """Install wrk, nginx and h2load with apt-get when they are missing (as
    root on Debian); elsewhere, say what to install."""
    missing = [name for name in SYSTEM_TOOLS if find_tool(name) is None]
    if not missing:
        return
    packages = [SYSTEM_TOOLS[name] for name in missing]
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise BenchmarkError(
            f"the benchmark needs {' and '.join(missing)}; install "
            f"{'them' if len(missing) > 1 else 'it'} first (on Debian: "
            f"apt-get install {' '.join(packages)}), or run as root on Debian "
            "and the benchmark installs them itself"
        )
    print(f"installing {' '.join(packages)} with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
        check=True,
        env=env,
    )
    still = [name for name in missing if find_tool(name) is None]
    if still:
        raise BenchmarkError(f"apt-get did not install {' and '.join(still)}")


def proc_status_kib(pid: int, field: str) -> int:
    """A memory field (VmRSS, VmHWM) of /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchmarkError(f"no {field} in /proc/{pid}/status")


def child_env() -> dict[str, str]:
    """The environment of the child processes: this checkout first on the path,
    so that an uninstalled checkout works too."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The next line of a child's stdout, or "" if it exits or times out."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        return ""
    return proc.stdout.readline()


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


# -- the servers under test -----------------------------------------------------


# What the server of each implementation must be served by (a module prefix).
SERVED_BY = {"tornado": "tornado.", "compat": "tornado_compat."}


class Server:
    """A running ``benchmarks.servers`` process, pinned to the server CPU."""

    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        self.check_alive()
        return proc_status_kib(self.pid, "VmRSS")

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchmarkError(
                f"the server exited with {self.proc.returncode}:\n{tail(self.log)}"
            )

    def check_log(self) -> None:
        """Fail if the server printed a traceback (an exception in a handler or
        in the server itself)."""
        text = self.log.read_text(errors="replace")
        if "Traceback" in text:
            raise BenchmarkError(f"the server logged an exception:\n{tail(self.log)}")


def settled_rss(server: Server) -> int:
    """The server's RSS in KiB once it has stopped changing (the same for 10
    reads 20 ms apart), or after 10 s at the most."""
    deadline = time.monotonic() + 10
    last = server.rss_kib()
    same = 0
    while same < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
        now = server.rss_kib()
        same = same + 1 if now == last else 0
        last = now
    return last


@contextmanager
def server(argv: list[str], workdir: Path) -> Iterator[Server]:
    """Start ``python -m benchmarks.servers ARGV`` and wait for it to listen."""
    log = Path(tempfile.mkstemp(prefix="server-", suffix=".log", dir=workdir)[1])
    with open(log, "w") as err:
        proc = subprocess.Popen(
            pinned(SERVER_CPU, [sys.executable, "-m", "benchmarks.servers", *argv]),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=ROOT,
            env=child_env(),
        )
    try:
        line = read_line(proc, START_TIMEOUT)
        match = re.fullmatch(r"ready (\d+) (\S+)\n", line)
        if not match:
            stop(proc)
            raise BenchmarkError(
                f"server {' '.join(argv)} did not start (said {line!r}):\n{tail(log)}"
            )
        served_by = match.group(2)
        expected = SERVED_BY.get(argv[0], argv[0])
        if not served_by.startswith(expected):
            raise BenchmarkError(
                f"server {' '.join(argv)} runs on {served_by}, not {expected}"
            )
        yield Server(proc, int(match.group(1)), log)
    finally:
        stop(proc)


def http_request(
    port: int,
    method: str = "GET",
    body: bytes | None = None,
    times: int = 1,
    tls: bool = False,
) -> tuple[int, bytes]:
    """Make times requests on one keep-alive connection (over TLS, without
    checking the certificate, with ``tls``); return the last response's
    status and body."""
    conn: http.client.HTTPConnection
    if tls:
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=30, context=context
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        status, data = 0, b""
        for _ in range(times):
            conn.request(method, "/", body=body)
            response = conn.getresponse()
            status, data = response.status, response.read()
            if status != 200:
                break
        return status, data
    finally:
        conn.close()


def verify(
    port: int,
    expected: bytes,
    body: bytes | None = None,
    times: int = 1,
    tls: bool = False,
) -> None:
    """Check the server's answer (and warm it up with times requests)."""
    method = "GET" if body is None else "POST"
    status, data = http_request(port, method, body, times, tls)
    if status != 200 or data != expected:
        shown = data if len(data) <= 40 else data[:40] + b"..."
        raise BenchmarkError(
            f"wrong answer to {method} /: status {status}, {len(data)} bytes "
            f"{shown!r} (expected 200 and {len(expected)} bytes)"
        )


def verify_close(
    port: int, expected: bytes, times: int = 1, timeout: float = 10
) -> None:
    """Make times GETs with ``Connection: close``, each on a new connection,
    and check each answer and that the server then closes the connection
    (within timeout seconds of the last byte)."""
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    for _ in range(times):
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            chunks = []
            try:
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
            except TimeoutError:
                raise BenchmarkError(
                    "the server did not close the connection after answering "
                    "a request with Connection: close"
                ) from None
        data = b"".join(chunks)
        head, _, body = data.partition(b"\r\n\r\n")
        status_line = head.partition(b"\r\n")[0]
        if not status_line.startswith(b"HTTP/1.1 200 ") or body != expected:
            raise BenchmarkError(
                f"wrong answer to GET / with Connection: close: {data[:200]!r}"
            )


# -- wrk --------------------------------------------------------------------------

UPLOAD_SCRIPT = """\
-- POST a body of {size} bytes; count the answers that do not give its length.
wrk.method = "POST"
wrk.body = string.rep("u", {size})
wrk.headers["Content-Type"] = "application/octet-stream"

bad_bodies = 0
local expected = "{size}"

function response(status, headers, body)
    if body ~= expected then
        bad_bodies = bad_bodies + 1
    end
end

local threads = {{}}

function setup(thread)
    table.insert(threads, thread)
end

function done(summary, latency, requests)
    local total = 0
    for _, thread in ipairs(threads) do
        total = total + thread:get("bad_bodies")
    end
    io.write(string.format("bad bodies: %d\\n", total))
end
"""


def upload_script(size: int, workdir: Path) -> Path:
    path = workdir / f"upload-{size}.lua"
    path.write_text(UPLOAD_SCRIPT.format(size=size))
    return path


def run_wrk(
    port: int,
    seconds: int,
    connections: int,
    script: Path | None = None,
    tls: bool = False,
    headers: tuple[str, ...] = (),
) -> float:
    """Run wrk (pinned to the load CPU) against the server, over TLS with
    ``tls``, each request with the given extra header lines; return
    requests/s.  Any non-2xx answer, socket error or wrong upload answer is
    an error."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    if script is not None:
        argv += ["-s", str(script)]
    for header in headers:
        argv += ["-H", header]
    argv.append(f"{'https' if tls else 'http'}://127.0.0.1:{port}/")
    proc = subprocess.run(
        pinned(LOAD_CPU, argv),
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    out = proc.stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    problems = []
    if proc.returncode != 0 or not match:
        problems.append(f"exit status {proc.returncode}")
    if "Non-2xx" in out:
        problems.append("non-2xx answers")
    if "Socket errors" in out:
        problems.append("socket errors")
    bad = re.search(r"bad bodies: (\d+)", out)
    if script is not None and (bad is None or int(bad.group(1)) != 0):
        problems.append("wrong upload answers")
    if problems:
        raise BenchmarkError(
            f"wrk reported {', '.join(problems)}:\n{out}{proc.stderr}".rstrip()
        )
    assert match is not None
    return float(match.group(1))


# -- HTTP/2: a certificate, h2load and one checked request ---------------------


def tls_files(workdir: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (PKCS#8, as
    Granian wants), written to workdir: (certfile, keyfile)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = workdir / "server.pem", workdir / "server.key"
    if cert_path.exists() and key_path.exists():
        return str(cert_path), str(key_path)
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def h2_get(port: int, tls: bool, times: int = 1) -> tuple[int, bytes]:
    """GET / times over one HTTP/2 connection (ALPN ``h2`` over TLS, prior
    knowledge in cleartext), one stream after the other; return the last
    response's status and body.  A connection that does not speak HTTP/2 is
    an error."""
    import ssl

    import h2.config
    import h2.connection
    import h2.events

    sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["h2"])
            sock = context.wrap_socket(sock)
            if sock.selected_alpn_protocol() != "h2":
                raise BenchmarkError("the server did not choose h2 by ALPN")
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        status, body = 0, b""
        scheme = b"https" if tls else b"http"
        for _ in range(times):
            stream_id = conn.get_next_available_stream_id()
            conn.send_headers(
                stream_id,
                [
                    (b":method", b"GET"),
                    (b":path", b"/"),
                    (b":scheme", scheme),
                    (b":authority", b"127.0.0.1"),
                ],
                end_stream=True,
            )
            status, chunks, ended = 0, [], False
            while not ended:
                sock.sendall(conn.data_to_send())
                data = sock.recv(65536)
                if not data:
                    raise BenchmarkError("the server closed the HTTP/2 connection")
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.ResponseReceived):
                        status = int(dict(event.headers)[b":status"])
                    elif isinstance(event, h2.events.DataReceived):
                        chunks.append(event.data)
                        conn.acknowledge_received_data(
                            event.flow_controlled_length, stream_id
                        )
                    elif isinstance(event, h2.events.StreamEnded):
                        ended = event.stream_id == stream_id
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        raise BenchmarkError(f"the server sent GOAWAY: {event}")
            body = b"".join(chunks)
            if status != 200:
                break
        sock.sendall(conn.data_to_send())
        return status, body
    finally:
        sock.close()


def verify_h2(port: int, expected: bytes, tls: bool, times: int = 1) -> None:
    status, data = h2_get(port, tls, times)
    if status != 200 or data != expected:
        raise BenchmarkError(
            f"wrong HTTP/2 answer to GET /: status {status}, {data[:40]!r} "
            f"(expected 200 and {len(expected)} bytes)"
        )


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used so far (utime + stime
    of /proc/PID/stat), children not included."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name, in parentheses, may hold spaces: split after it.
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """cpu_seconds of a process and of its descendants still running (for
    Granian, whose server and worker are children of the process started)."""
    total = cpu_seconds(pid)
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return total
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                kids = children.read().split()
        except OSError:
            continue
        for kid in kids:
            try:
                total += tree_cpu_seconds(int(kid))
            except OSError:
                pass
    return total


def run_h2load(
    url: str,
    clients: int,
    streams: int,
    h1: bool = False,
    *,
    requests: int | None = None,
    seconds: int | None = None,
) -> tuple[float, int]:
    """Run h2load (pinned to the load CPU, one thread) for a number of
    ``requests`` or for ``seconds``; return requests/s and the requests done.
    Every request done must have succeeded with a 2xx, over the protocol
    meant: h2 (or h2c in cleartext), or HTTP/1.1 with ``h1``.  A timed run
    stops with up to ``clients * streams`` requests in flight, which h2load
    neither counts nor fails."""
    if (requests is None) == (seconds is None):
        raise ValueError("run_h2load takes requests or seconds, not both")
    argv = ["h2load", "-c", str(clients), "-m", str(streams), "-t", "1"]
    argv += ["-n", str(requests)] if requests is not None else ["-D", str(seconds)]
    if h1:
        argv.append("--h1")
    argv.append(url)
    proc = subprocess.run(
        pinned(LOAD_CPU, argv), capture_output=True, text=True, timeout=600
    )
    out = proc.stdout
    problems = []
    rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if proc.returncode != 0 or rate is None:
        problems.append(f"exit status {proc.returncode}")
    done = re.search(
        r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out
    )
    finished = int(done.group(1)) if done else 0
    if (
        done is None
        or finished == 0
        or int(done.group(2)) != finished
        or (requests is not None and finished != requests)
    ):
        problems.append("failed requests")
    codes = re.search(r"status codes: (\d+) 2xx", out)
    if codes is None or int(codes.group(1)) != finished:
        problems.append("non-2xx answers")
    protocol = re.search(r"Application protocol: (\S+)", out)
    wanted = ("http/1.1",) if h1 else ("h2", "h2c")
    if protocol is None or protocol.group(1) not in wanted:
        problems.append(f"protocol {protocol.group(1) if protocol else 'unknown'}")
    if problems:
        raise BenchmarkError(
            f"h2load reported {', '.join(problems)}:\n{out}{proc.stderr}".rstrip()
        )
    assert rate is not None
    return float(rate.group(1)), finished


# -- nginx -------------------------------------------------------------------------

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 300;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {dir}/www;
    }}
}}
"""


class Nginx:
    def __init__(self, port: int) -> None:
        self.port = port

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@contextmanager
def nginx(workdir: Path, files: dict[str, bytes | int]) -> Iterator[Nginx]:
    """Run nginx (pinned to the load CPU) on a free port of 127.0.0.1, serving
    files: name -> content, or a size for a sparse file of zeros."""
    binary = find_nginx()
    if binary is None:
        raise BenchmarkError("nginx is not installed")
    directory = Path(tempfile.mkdtemp(prefix="nginx-", dir=workdir))
    www = directory / "www"
    www.mkdir(parents=True)
    # nginx's worker runs as an unprivileged user when started as root.
    for path in (workdir, directory, www):
        path.chmod(0o755)
    for name, content in files.items():
        with open(www / name, "wb") as out:
            if isinstance(content, int):
                out.truncate(content)
            else:
                out.write(content)
        (www / name).chmod(0o644)
    port = free_port()
    conf = directory / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=directory, port=port))
    errors = directory / "error.log"
    proc = subprocess.Popen(
        pinned(
            LOAD_CPU,
            [binary, "-p", str(directory), "-c", str(conf), "-e", str(errors)],
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                assert proc.stderr is not None
                raise BenchmarkError(
                    f"nginx exited with {proc.returncode}:\n{proc.stderr.read()}"
                    f"{tail(errors)}"
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchmarkError("nginx did not start listening") from None
                time.sleep(0.05)
        yield Nginx(port)
    finally:
        stop(proc)


# -- children that print one JSON line -------------------------------------------------


def run_json_child(
    module: str, argv: list[str], timeout: float, cpu: int = SERVER_CPU
) -> dict[str, Any]:
    """Run ``python -m MODULE ARGV`` pinned to cpu; return the JSON object of
    its last line of output."""
    import json

    proc = subprocess.run(
        pinned(cpu, [sys.executable, "-m", module, *argv]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(),
        timeout=timeout,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise BenchmarkError(
            f"{module} {' '.join(argv)} failed (exit status {proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}".rstrip()
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@contextmanager
def idle_connections(port: int, count: int) -> Iterator[subprocess.Popen[str]]:
    """Start ``benchmarks.idle`` (on the load CPU) and wait until it holds count
    answered keep-alive connections to port."""
    proc = subprocess.Popen(
        pinned(
            LOAD_CPU,
            [sys.executable, "-m", "benchmarks.idle", str(port), str(count)],
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=child_env(),
    )
    try:
        line = read_line(proc, 120)
        if line != f"open {count}\n":
            if proc.poll() is None:
                proc.kill()
            _, errors = proc.communicate(timeout=30)
            raise BenchmarkError(
                f"the idle-connection client said {line!r}:\n{errors}".rstrip()
            )
        yield proc
    finally:
        if proc.poll() is None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        stop(proc)


# -- what ran where ------------------------------------------------------------------


def _first_line(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (proc.stdout + proc.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": f"{platform.system()} {platform.release()}",
        "pinned": can_pin(),
    }


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "tornado_compat"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if not head:
        return "unknown"
    return head + (" (tornado_compat/ modified)" if dirty else "")


def versions() -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    try:
        import tornado_compat
        import tornado_compat.httpclient.simple
        import tornado_compat.httpserver  # noqa: F401

        compat = tornado_compat.__version__
        compiled = [
            name.removeprefix("tornado_compat.")
            for name in tornado_compat.compiled_modules()
        ]
        build = "mypyc: " + ", ".join(compiled) if compiled else "pure Python"
    except ImportError:
        compat = build = "not found"
    try:
        import pycurl

        curl = str(pycurl.version)
    except ImportError:
        curl = "not installed"
    nginx_binary = find_nginx()
    return {
        "python": platform.python_version(),
        "tornado": _package("tornado"),
        "tornado_compat": f"{compat}, git {_git_revision()}",
        "tornado_compat build": build,
        "uvloop": _package("uvloop"),
        "uvicorn": _package("uvicorn"),
        "httptools": _package("httptools"),
        "aiohttp": _package("aiohttp"),
        "httpx": _package("httpx"),
        "pycurl": curl,
        "wrk": _first_line(["wrk", "-v"]),
        "nginx": _first_line([nginx_binary, "-v"]) if nginx_binary else "not found",
        "h2": _package("h2"),
        "hypercorn": _package("hypercorn"),
        "granian": _package("granian"),
        "websockets": _package("websockets"),
        "picows": _package("picows"),
        "h2load": _first_line(["h2load", "--version"]),
    }


def log(message: str, stream: IO[str] | None = None) -> None:
    print(message, file=stream or sys.stderr, flush=True)


def print_profile_shares(
    stats: dict[Any, Any],
    packages: Sequence[tuple[str, str]],
    title: str,
    builtin_group: Callable[[str], str | None] = lambda func: None,
) -> None:
    """Print ``title`` and a table of cProfile's own time (``stats``, a
    ``pstats.Stats``'s ``stats``) grouped by package: a function goes to the
    group of the first ``(path part, group)`` of ``packages`` its file
    matches; a built-in to ``builtin_group(its name)`` when that names one,
    else to the groups of its callers, by what each call of it cost."""
    groups: dict[str, float] = {}

    def group_of(path: str) -> str:
        return next((g for key, g in packages if key in path), "other")

    for (path, _line, func), (_cc, _nc, own, _cum, callers) in stats.items():
        group = group_of(path) if path != "~" else builtin_group(func)
        if group is not None:
            groups[group] = groups.get(group, 0.0) + own
            continue
        for (caller_path, _l, _f), caller_stats in callers.items():
            group = group_of(caller_path)
            groups[group] = groups.get(group, 0.0) + caller_stats[2]
    total = sum(groups.values())
    print(f"{title} ({total:.2f} s)\n")
    print("| where | share of the time |")
    print("|---|--:|")
    for group, own in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"| {group} | {own / total:.1%} |")
