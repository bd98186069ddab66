"""Run every comparison, print the tables and write the results.

See docs/benchmarks.md, or ``python -m benchmarks --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import churn, drain, report, tools
from benchmarks.tools import BenchmarkError

HELLO = b"Hello world!"
BIG_SIZE = 102400
MB = 1e6
MIB = 1 << 20
DOCS_OUTPUT = tools.ROOT / "docs" / "_static"


@dataclass
class Settings:
    rounds: int = 5
    seconds: int = 3
    connections: int = 50
    upload_connections: int = 10
    upload_bytes: int = MIB
    gets: int = 3000
    gets_warmup: int = 100
    stream_bytes: int = 1 << 30
    idle_connections: int = 10000
    churn_cycles: int = 200_000
    drain_plan: drain.Plan = field(default_factory=drain.Plan)
    # h2load -c CLIENTS -m STREAMS, for the HTTP/2 comparisons: for
    # ``seconds`` (-D), or for H2_REQUESTS requests (-n) when that is set.
    h2_requests: int | None = None
    h2_clients: int = 10
    h2_streams: int = 10
    smoke: bool = False


@dataclass
class Env:
    """What a measurement gets: the settings, a scratch folder and the shared
    resource of its comparison (nginx, for the client comparisons)."""

    settings: Settings
    workdir: Path
    shared: Any = None


# A measurement returns its metrics: {unit: value}.
Measure = Callable[[Env], dict[str, float]]


@dataclass
class Contender:
    label: str
    measure: Measure


@dataclass
class Target:
    contender: str
    kind: str  # "ratio": at least value × reference; "max": at most value
    value: float
    reference: str | None = None
    metric: str | None = None  # "max" targets: the metric bounded (default: main)
    strict: bool = False  # "max": strictly below

    def text(self, unit: str) -> str:
        """Such as "≥ 2× tornado", "≤ 4 KiB/conn" or "peak RSS < 64 MiB"."""
        if self.kind == "ratio":
            return f"≥ {self.value:g}× {self.reference}"
        sign = "<" if self.strict else "≤"
        if self.metric is None:
            return f"{sign} {self.value:g} {unit}"
        name, _, metric_unit = self.metric.partition(" (")
        return f"{name} {sign} {self.value:g} {metric_unit.rstrip(')')}".rstrip()


@dataclass
class Comparison:
    number: int
    name: str
    how: str
    metric: str
    contenders: list[Contender]
    targets: list[Target] = field(default_factory=list)
    extra_metrics: list[str] = field(default_factory=list)
    higher_is_better: bool = True
    chart: str = "ratio"  # or "median"
    shared: Callable[[Env], contextlib.AbstractContextManager[Any]] | None = None
    # At most this many rounds, whatever --rounds says: for the long
    # measurements whose result hardly varies (memory, counts).
    rounds: int | None = None
    # False where a ratio to the baseline means nothing (a count of zero, a
    # growth near zero): the tables show "–".
    ratios: bool = True


# -- measurements ----------------------------------------------------------------


def wrk_server(
    impl: str,
    app: str,
    loop: str = "asyncio",
    tls: bool = False,
    close: bool = False,
) -> Measure:
    """A server from benchmarks.servers under wrk: over TLS with ``tls``
    (keep-alive, so that the handshakes are a few per run), each request
    with ``Connection: close`` (a new connection per request) with
    ``close``.  These two also give the CPU time per request of the server
    process and its children (user and system, from /proc)."""

    def measure(env: Env) -> dict[str, float]:
        settings = env.settings
        argv = [impl, app, "--loop", loop]
        if tls:
            certfile, keyfile = tools.tls_files(env.workdir)
            argv += ["--certfile", certfile, "--keyfile", keyfile]
        with tools.server(argv, env.workdir) as server:
            script = None
            connections = settings.connections
            headers: tuple[str, ...] = ()
            if app == "upload":
                size = settings.upload_bytes
                body = b"u" * size
                tools.verify(server.port, str(size).encode(), body=body, times=20)
                script = tools.upload_script(size, env.workdir)
                connections = settings.upload_connections
            elif app == "big":
                tools.verify(server.port, b"x" * BIG_SIZE, times=200)
            elif close:
                tools.verify_close(server.port, HELLO, times=20)
                headers = ("Connection: close",)
            else:
                tools.verify(server.port, HELLO, times=200, tls=tls)
            before = tools.tree_cpu_seconds(server.pid)
            rate = tools.run_wrk(
                server.port, settings.seconds, connections, script, tls, headers
            )
            cpu = tools.tree_cpu_seconds(server.pid) - before
            server.check_alive()
            server.check_log()
        metrics = {"req/s": rate}
        if tls or close:
            metrics[CPU_METRIC] = cpu / (rate * settings.seconds) * 1e6
        if app == "big":
            metrics["MB/s"] = rate * BIG_SIZE / MB
        elif app == "upload":
            metrics["MB/s"] = rate * settings.upload_bytes / MB
        return metrics

    return measure


def h2load_server(
    impl: str,
    app: str,
    tls: bool = False,
    h1: bool = False,
) -> Measure:
    """A server from benchmarks.servers under h2load: HTTP/2 over TLS (ALPN
    h2) or in cleartext (prior knowledge), or HTTP/1.1 with ``h1``.  Also
    the server process's CPU time per request (user and system, from
    /proc), which for Granian misses its worker process and is left out."""

    def measure(env: Env) -> dict[str, float]:
        settings = env.settings
        argv = [impl, app]
        if impl in ("compat", "granian"):
            argv.append("--http2")
        if tls:
            certfile, keyfile = tools.tls_files(env.workdir)
            argv += ["--certfile", certfile, "--keyfile", keyfile]
        with tools.server(argv, env.workdir) as server:
            if h1:
                if tls:
                    raise BenchmarkError("HTTP/1.1 is measured in cleartext only")
                tools.verify(server.port, HELLO, times=200)
            else:
                tools.verify_h2(server.port, HELLO, tls, times=200)
            scheme = "https" if tls else "http"
            before = tools.cpu_seconds(server.pid)
            rate, done = tools.run_h2load(
                f"{scheme}://127.0.0.1:{server.port}/",
                settings.h2_clients,
                settings.h2_streams,
                h1=h1,
                requests=settings.h2_requests,
                seconds=None if settings.h2_requests else settings.seconds,
            )
            cpu = tools.cpu_seconds(server.pid) - before
            server.check_alive()
            server.check_log()
        metrics = {"req/s": rate}
        if impl != "granian":
            metrics[CPU_METRIC] = cpu / done * 1e6
        return metrics

    return measure


CPU_METRIC = "server CPU (µs/req)"


def run_client(client: str, argv: list[str], timeout: float) -> dict[str, Any]:
    """Run benchmarks.clients and check that the client it measured is the one
    meant: tornado_compat's after install(), Tornado's without."""
    result = tools.run_json_child("benchmarks.clients", [client, *argv], timeout)
    implementation = result["implementation"]
    prefix = {"tornado": "tornado.", "compat": "tornado_compat."}.get(
        client.split("-")[0], client
    )
    if not implementation.startswith(prefix):
        raise BenchmarkError(f"client {client} ran {implementation}, not {prefix}")
    return result


def client_gets(client: str) -> Measure:
    def measure(env: Env) -> dict[str, float]:
        settings = env.settings
        result = run_client(
            client,
            [
                "gets",
                env.shared.url("hello.txt"),
                "--length",
                str(len(HELLO)),
                "--count",
                str(settings.gets),
                "--warmup",
                str(settings.gets_warmup),
            ],
            timeout=300,
        )
        return {
            "req/s": result["requests_per_second"],
            "peak RSS (MiB)": result["peak_rss_kib"] / 1024,
        }

    return measure


def client_stream(client: str) -> Measure:
    def measure(env: Env) -> dict[str, float]:
        result = run_client(
            client,
            [
                "stream",
                env.shared.url("big.bin"),
                "--length",
                str(env.settings.stream_bytes),
                "--warmup-url",
                env.shared.url("hello.txt"),
            ],
            timeout=900,
        )
        return {
            "MB/s": result["bytes_per_second"] / MB,
            "peak RSS (MiB)": result["peak_rss_kib"] / 1024,
        }

    return measure


def idle_memory(impl: str) -> Measure:
    """RSS growth of a server holding many answered, idle keep-alive
    connections: the growth per connection of the second half of them, and
    (for comparison) of the first half."""

    def measure(env: Env) -> dict[str, float]:
        half = env.settings.idle_connections // 2
        with tools.server([impl, "hello"], env.workdir) as server:
            # Warm up: requests on one connection, then connections of one
            # request each, so that the first connection's one-time costs are
            # paid before the first reading.
            tools.verify(server.port, HELLO, times=200)
            for _ in range(50):
                tools.verify(server.port, HELLO)
            before = tools.settled_rss(server)
            with tools.idle_connections(server.port, half):
                middle = tools.settled_rss(server)
                # The first half's growth also holds whatever the warm-up
                # left free in the heap and the first half reused; the
                # second half's is what each connection costs.
                with tools.idle_connections(server.port, half):
                    after = tools.settled_rss(server)
            server.check_log()
        return {
            "KiB/conn": (after - middle) / half,
            "first half (KiB/conn)": (middle - before) / half,
            "RSS before (MiB)": before / 1024,
            "RSS after (MiB)": after / 1024,
        }

    return measure


def churn_memory(impl: str) -> Measure:
    """Server RSS growth over many short connections (benchmarks.churn)."""

    def measure(env: Env) -> dict[str, float]:
        return churn.measure(impl, env.settings.churn_cycles, env.workdir)

    return measure


def drain_requests(impl: str) -> Measure:
    """Requests cut by SIGTERM (benchmarks.drain)."""

    def measure(env: Env) -> dict[str, float]:
        result = drain.measure(impl, env.settings.drain_plan, env.workdir)
        tools.log(
            f"  {impl}: "
            + ", ".join(f"{n} {outcome}" for outcome, n in result.outcomes.items())
        )
        return result.metrics()

    return measure


def websocket_echo(impl: str) -> Measure:
    """An echo server of benchmarks.websocket under its load client."""

    def measure(env: Env) -> dict[str, float]:
        from benchmarks import websocket

        settings = env.settings
        return websocket.measure(
            impl, env.workdir, settings.seconds, settings.connections
        )

    return measure


@contextlib.contextmanager
def nginx_files(env: Env) -> Iterator[tools.Nginx]:
    files: dict[str, bytes | int] = {
        "hello.txt": HELLO,
        "big.bin": env.settings.stream_bytes,
    }
    with tools.nginx(env.workdir, files) as server:
        yield server


# -- the comparisons -----------------------------------------------------------------


def comparisons(settings: Settings) -> list[Comparison]:
    wrk = f"wrk -t1 -c{settings.connections}, keep-alive, {settings.seconds} s runs."
    granian = "one worker, one runtime thread, `--loop` as the others"
    server_cpu = (
        "Also the server's CPU time per request: user and system time of its "
        "processes (Granian's worker included) over the wrk run, from /proc, "
        "over the requests wrk made."
    )
    hello = "The 12-byte body `Hello world!`;"
    raw = "tornado's HTTPServer with a raw request callback;"
    gets = settings.gets
    stream = report.size_text(settings.stream_bytes)
    idle = settings.idle_connections
    h2load_length = (
        f"-n {settings.h2_requests}"
        if settings.h2_requests
        else f"-D {settings.seconds}"
    )
    h2load = (
        f"h2load {h2load_length} -c {settings.h2_clients} -m {settings.h2_streams} -t 1"
    )
    cycles = settings.churn_cycles
    plan = settings.drain_plan

    def servers(
        app: str, loop: str, others: bool = True, granian: bool = False
    ) -> list[Contender]:
        result = [
            Contender("tornado", wrk_server("tornado", app, loop)),
            Contender("tornado_compat", wrk_server("compat", app, loop)),
        ]
        if others:
            result += [
                Contender("uvicorn (httptools)", wrk_server("uvicorn", app, loop)),
                Contender("aiohttp", wrk_server("aiohttp", app, loop)),
            ]
        if granian:
            result += [
                Contender("Granian ASGI", wrk_server("granian", app, loop)),
                Contender("Granian RSGI", wrk_server("granian-rsgi", app, loop)),
                # What the loop alone allows, and that plus the objects of
                # Tornado's raw-callback API (benchmarks.floors).
                Contender("floor: canned answer", wrk_server("floor", app, loop)),
                Contender(
                    "floor: canned answer + Tornado API objects",
                    wrk_server("floor-api", app, loop),
                ),
            ]
        return result

    def hello_servers(tls: bool = False, close: bool = False) -> list[Contender]:
        """The hello world of comparison 1 over TLS or one request per
        connection: every server that can, aiohttp aside."""
        return [
            Contender(label, wrk_server(impl, "hello", tls=tls, close=close))
            for label, impl in [
                ("tornado", "tornado"),
                ("tornado_compat", "compat"),
                ("uvicorn (httptools)", "uvicorn"),
                ("Granian ASGI", "granian"),
                ("Granian RSGI", "granian-rsgi"),
            ]
        ]

    def h2_servers(tls: bool) -> list[Contender]:
        return [
            Contender("hypercorn", h2load_server("hypercorn", "hello", tls)),
            Contender("Granian", h2load_server("granian", "hello", tls)),
            Contender("tornado_compat, raw", h2load_server("compat", "hello", tls)),
            Contender(
                "tornado_compat, tornado.web", h2load_server("compat", "web", tls)
            ),
        ]

    h2_how = (
        f"{hello} tornado_compat's HTTPServer(http2=True) with the raw "
        "callback of comparison 1 and with the tornado.web app of comparison 3; "
        "hypercorn (in-process, asyncio loop) and Granian (`--http 2 "
        "--interface asgi`, one worker, one runtime thread, asyncio loop) with a "
        "bare ASGI app (benchmarks/apps/hello_asgi.py); every server on one "
        f"core, `{h2load}` on the other"
    )
    h2_targets = [
        Target("tornado_compat, raw", "ratio", 2.0, "hypercorn"),
        Target("tornado_compat, tornado.web", "ratio", 2.0, "hypercorn"),
    ]
    clients = [
        ("tornado simple", "tornado-simple"),
        ("tornado curl", "tornado-curl"),
        ("tornado_compat simple", "compat-simple"),
        ("tornado_compat curl", "compat-curl"),
        ("aiohttp", "aiohttp"),
        ("httpx", "httpx"),
        ("pyreqwest", "pyreqwest"),
    ]
    return [
        Comparison(
            1,
            "Hello world, raw HTTPServer, asyncio loop",
            f"{hello} {raw} uvicorn, aiohttp and Granian ({granian}, ASGI and "
            f"RSGI) for reference, and two floors (benchmarks/floors.py): an "
            "asyncio protocol that answers each request with a canned response, "
            "and the same making the objects of Tornado's raw-callback API as "
            f"tornado_compat does; {wrk}",
            "req/s",
            servers("hello", "asyncio", granian=True),
            [
                Target("tornado_compat", "ratio", 6.0, "tornado"),
                Target("tornado_compat", "ratio", 1.25, "Granian RSGI"),
            ],
        ),
        Comparison(
            2,
            "Hello world, raw HTTPServer, uvloop",
            f"As comparison 1, every server on uvloop; {wrk}",
            "req/s",
            servers("hello", "uvloop", granian=True),
            [
                Target("tornado_compat", "ratio", 1.3, "uvicorn (httptools)"),
                Target("tornado_compat", "ratio", 1.1, "Granian ASGI"),
            ],
        ),
        Comparison(
            3,
            "Hello world, tornado.web",
            f"{hello} an unmodified tornado.web.Application whose handler writes "
            "it, on tornado's HTTPServer and on tornado_compat's, and for "
            "reference its floor (benchmarks/floors.py): the same application "
            "called by an asyncio protocol that neither parses nor formats, "
            f"answering with a canned response; {wrk}",
            "req/s",
            [
                *servers("web", "asyncio", others=False),
                Contender(
                    "floor: canned answer + tornado.web",
                    wrk_server("floor-api", "web"),
                ),
            ],
            [Target("tornado_compat", "ratio", 3.0, "tornado")],
        ),
        Comparison(
            4,
            "100 KiB responses",
            f"A 102400-byte body from the raw callback (asyncio loop); {wrk}",
            "req/s",
            servers("big", "asyncio"),
            extra_metrics=["MB/s"],
        ),
        Comparison(
            5,
            "1 MiB uploads",
            f"wrk POSTs {settings.upload_bytes:,}-byte bodies (a Lua script) with "
            f"-t1 -c{settings.upload_connections}; the server reads the whole "
            "body (tornado's HTTPServer buffers it into request.body before the "
            "raw callback runs) and answers with its length, which the script "
            f"checks; asyncio loop, {settings.seconds} s runs.",
            "req/s",
            servers("upload", "asyncio"),
            extra_metrics=["MB/s"],
        ),
        Comparison(
            6,
            f"Client, {gets} keep-alive GETs, 10 at a time",
            f"One client per process: a warm-up of {settings.gets_warmup} "
            f"requests, then {gets} GETs of a 12-byte file from nginx with 10 "
            "in flight (max_clients=10, or a 10-connection limit).",
            "req/s",
            [Contender(label, client_gets(name)) for label, name in clients],
            [Target("tornado_compat simple", "ratio", 1.75, "aiohttp")],
            extra_metrics=["peak RSS (MiB)"],
            shared=nginx_files,
        ),
        Comparison(
            7,
            f"Client, streaming download of {stream}",
            f"One download of a {stream} file from nginx (sendfile), "
            "whose body the client only counts as it arrives (streaming_callback "
            "for the tornado clients); peak RSS is the client process's VmHWM.",
            "MB/s",
            [Contender(label, client_stream(name)) for label, name in clients],
            extra_metrics=["peak RSS (MiB)"],
            shared=nginx_files,
        ),
        Comparison(
            8,
            "Memory per idle keep-alive connection",
            f"The hello-world servers (asyncio loop): server RSS (VmRSS) after a "
            f"warm-up, after another process opened {idle // 2:,} keep-alive "
            "connections, made one GET on each, read every answer and left them "
            f"open and idle, and after a second such process opened {idle // 2:,} "
            f"more; the second half's growth / {idle // 2:,}.",
            "KiB/conn",
            [
                Contender("tornado", idle_memory("tornado")),
                Contender("tornado_compat", idle_memory("compat")),
                Contender("uvicorn (httptools)", idle_memory("uvicorn")),
                Contender("aiohttp", idle_memory("aiohttp")),
            ],
            [Target("tornado_compat", "max", 2)],
            extra_metrics=[
                "first half (KiB/conn)",
                "RSS before (MiB)",
                "RSS after (MiB)",
            ],
            higher_is_better=False,
            chart="median",
        ),
        Comparison(
            9,
            "Memory after many short connections",
            "tornado_compat and tornado serve the tornado.web hello world, "
            "uvicorn the bare ASGI one (asyncio loop). After a warm-up, "
            "server RSS (VmRSS, in MB of 10⁶ bytes) until it stops changing; "
            f"then {cycles:,} connections that end without a byte (the client "
            f"closes first), RSS again; then {cycles:,} connections of one "
            "request each (`Connection: close`), RSS a third time. The growth "
            "is the last reading less the first.",
            churn.MAIN_METRIC,
            [
                Contender("tornado", churn_memory("tornado")),
                Contender("tornado_compat", churn_memory("compat")),
                Contender("uvicorn (httptools)", churn_memory("uvicorn")),
            ],
            [
                Target("tornado_compat", "max", 5),
                Target("tornado_compat", "max", 5, metric=churn.CONNECT_GROWTH),
            ],
            extra_metrics=[churn.CONNECT_GROWTH, churn.START, churn.END],
            higher_is_better=False,
            chart="median",
            rounds=1,
            ratios=False,
        ),
        Comparison(
            10,
            f"SIGTERM during {plan.requests} requests in flight",
            f"{plan.requests} requests on connections of their own, half to a "
            f"handler that answers after {plan.slow_seconds:g} s, half to one "
            f"that streams {plan.parts} flushed parts {plan.interval:g} s apart; "
            "SIGTERM once the application has started them all. tornado_compat: "
            "`python -m tornado_compat serve` (with `--graceful-timeout "
            f"{plan.grace:g}` where it has one); tornado: the usual main "
            "(`server.stop()`, then the loop ends); uvicorn: "
            f"`--timeout-graceful-shutdown {plan.grace:g}`. A request is cut "
            "unless its response arrives whole (status 200, the full body). "
            "Exit status 143 is death by SIGTERM.",
            "cut",
            [
                Contender("tornado", drain_requests("tornado")),
                Contender("tornado_compat", drain_requests("compat")),
                Contender("uvicorn (httptools)", drain_requests("uvicorn")),
            ],
            [
                Target("tornado_compat", "max", 0),
                Target("tornado_compat", "max", 0, metric="exit status"),
            ],
            extra_metrics=["completed", "exit status", "exit time (s)", "error lines"],
            higher_is_better=False,
            chart="median",
            rounds=3,
            ratios=False,
        ),
        Comparison(
            11,
            "HTTP/2 hello world, cleartext (prior knowledge)",
            f"{h2_how}; h2c by prior knowledge.",
            "req/s",
            h2_servers(tls=False),
            h2_targets,
            extra_metrics=[CPU_METRIC],
        ),
        Comparison(
            12,
            "HTTP/2 hello world, TLS (ALPN h2)",
            f"{h2_how}; over TLS 1.3 with a self-signed certificate, h2 chosen "
            "by ALPN.",
            "req/s",
            h2_servers(tls=True),
            h2_targets,
            extra_metrics=[CPU_METRIC],
        ),
        Comparison(
            13,
            "HTTP/1.1 and HTTP/2, CPU per request",
            f"tornado_compat's HTTPServer(http2=True), raw callback and "
            f"tornado.web app, in cleartext, under the same `{h2load}`: with "
            "`--h1` (HTTP/1.1 keep-alive, 10 requests pipelined per "
            "connection) and without (h2c, 10 streams per connection). The "
            "server process's CPU time (utime + stime from /proc) over the "
            "run, per request.",
            CPU_METRIC,
            [
                Contender("raw, HTTP/1.1", h2load_server("compat", "hello", h1=True)),
                Contender("raw, HTTP/2", h2load_server("compat", "hello")),
                Contender(
                    "tornado.web, HTTP/1.1", h2load_server("compat", "web", h1=True)
                ),
                Contender("tornado.web, HTTP/2", h2load_server("compat", "web")),
            ],
            extra_metrics=["req/s"],
            higher_is_better=False,
        ),
        Comparison(
            14,
            "Hello world over TLS, keep-alive",
            f"{hello} the servers of comparison 1 (aiohttp aside) over TLS with "
            "a self-signed certificate (ECDSA P-256): tornado and "
            "tornado_compat with `ssl_options` (an `ssl.SSLContext`), uvicorn "
            "with `ssl_certfile`/`ssl_keyfile`, Granian with `--ssl-certificate` "
            f"(TLS 1.3 on every server); asyncio loop; `wrk https://...`, "
            f"{wrk[:-1]}: the handshakes are {settings.connections} per run. "
            f"{server_cpu}",
            "req/s",
            hello_servers(tls=True),
            [
                Target("tornado_compat", "ratio", 3.0, "tornado"),
                Target("tornado_compat", "ratio", 1.0, "uvicorn (httptools)"),
            ],
            extra_metrics=[CPU_METRIC],
        ),
        Comparison(
            15,
            "Hello world, a new connection per request",
            f"{hello} the servers of comparison 14 in cleartext, and the floor "
            "of comparison 1 (benchmarks/floors.py), which answers with a "
            "canned response; wrk sends every "
            'request with `-H "Connection: close"`: the server answers and '
            "closes, wrk connects again (-t1 "
            f"-c{settings.connections}, {settings.seconds} s runs); asyncio loop. "
            f"{server_cpu}",
            "req/s",
            [
                *hello_servers(close=True),
                Contender(
                    "floor: canned answer, then close",
                    wrk_server("floor", "hello", close=True),
                ),
            ],
            [
                Target("tornado_compat", "ratio", 3.0, "tornado"),
                Target("tornado_compat", "ratio", 1.0, "uvicorn (httptools)"),
            ],
            extra_metrics=[CPU_METRIC],
        ),
        Comparison(
            16,
            "WebSocket echo, 1 KiB messages",
            "A `tornado.web.Application` whose `tornado.websocket` handler sends "
            "every message back, on tornado's HTTPServer and on tornado_compat's; "
            "uvicorn (its `websockets` protocol) with a bare ASGI echo, and "
            "picows's echo listener, for reference; asyncio loop. The client "
            "(`benchmarks.websocket`, on the other core) keeps one 1024-byte "
            f"binary message in flight on each of {settings.connections} "
            "connections, checks every echo byte for byte, and counts echoes "
            f"for {settings.seconds} s after a 0.5 s warm-up.",
            "msg/s",
            [
                Contender("tornado", websocket_echo("tornado")),
                Contender("tornado_compat", websocket_echo("compat")),
                Contender("uvicorn (websockets)", websocket_echo("uvicorn")),
                Contender("picows", websocket_echo("picows")),
            ],
            [Target("tornado_compat", "ratio", 2.5, "tornado")],
            extra_metrics=["server CPU (µs/msg)"],
        ),
    ]


# -- running -----------------------------------------------------------------------


class Runner:
    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self.incidents: list[str] = []

    def measure_once(
        self, comparison: Comparison, contender: Contender, env: Env
    ) -> dict[str, float]:
        """One measurement; a failure is reported and tried once more."""
        for attempt in (1, 2):
            try:
                return contender.measure(env)
            except tools.FAILURES as error:
                message = (
                    f"{comparison_key(comparison)}, {contender.label}: "
                    f"attempt {attempt} failed: {error}"
                )
                tools.log("!" * 70 + "\n" + message + "\n" + "!" * 70)
                self.incidents.append(message.splitlines()[0])
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def run(self, comparison: Comparison) -> dict[str, Any]:
        settings = self.settings
        samples: dict[str, dict[str, list[float]]] = {
            c.label: {} for c in comparison.contenders
        }
        env = Env(settings, self.workdir)
        with contextlib.ExitStack() as stack:
            if comparison.shared is not None:
                env.shared = stack.enter_context(comparison.shared(env))
            contenders = comparison.contenders
            rounds = settings.rounds
            if comparison.rounds is not None:
                rounds = min(rounds, comparison.rounds)
            for round_number in range(rounds):
                # Alternate within the round, and start each round with the
                # next contender, so that no one always runs first.
                shift = round_number % len(contenders)
                for contender in contenders[shift:] + contenders[:shift]:
                    metrics = self.measure_once(comparison, contender, env)
                    for unit, value in metrics.items():
                        samples[contender.label].setdefault(unit, []).append(value)
                    tools.log(
                        f"  round {round_number + 1}/{rounds} "
                        f"{contender.label}: "
                        + ", ".join(
                            f"{report.number(v)} {u}" for u, v in metrics.items()
                        )
                    )
        return summarise(comparison, samples, rounds)


def comparison_key(comparison: Comparison) -> str:
    return f"{comparison.number}. {comparison.name}"


def summarise(
    comparison: Comparison,
    samples: dict[str, dict[str, list[float]]],
    rounds: int,
) -> dict[str, Any]:
    metric = comparison.metric
    medians = {
        label: {unit: statistics.median(values) for unit, values in units.items()}
        for label, units in samples.items()
    }
    baseline = comparison.contenders[0].label
    ratios: dict[str, float | None] = {
        label: (
            medians[label][metric] / medians[baseline][metric]
            if comparison.ratios and medians[baseline][metric]
            else None
        )
        for label in medians
    }
    targets = []
    for target in comparison.targets:
        text = target.text(metric)
        if target.kind == "ratio":
            assert target.reference is not None
            achieved = (
                medians[target.contender][metric] / medians[target.reference][metric]
            )
            met = achieved >= target.value
            achieved_text = report.ratio_text(achieved)
            reference_ratio = ratios[target.reference]
            chart_line = (
                reference_ratio * target.value
                if comparison.chart == "ratio" and reference_ratio is not None
                else None
            )
        else:
            unit = target.metric or metric
            achieved = medians[target.contender][unit]
            met = achieved < target.value if target.strict else achieved <= target.value
            achieved_text = report.number(achieved)
            chart_line = (
                target.value
                if comparison.chart == "median" and unit == metric
                else None
            )
        targets.append(
            {
                "contender": target.contender,
                "text": text,
                "achieved": achieved,
                "achieved_text": achieved_text,
                "met": met,
                "chart_line": chart_line,
            }
        )
    return {
        "number": comparison.number,
        "name": comparison.name,
        "how": comparison.how,
        "metric": comparison.metric,
        "extra_metrics": comparison.extra_metrics,
        "higher_is_better": comparison.higher_is_better,
        "chart": comparison.chart,
        "rounds": rounds,
        "baseline": baseline,
        "contenders": [
            {
                "label": c.label,
                "samples": samples[c.label],
                "median": medians[c.label],
                "ratio": ratios[c.label],
            }
            for c in comparison.contenders
        ],
        "targets": targets,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run tornado_compat's benchmark comparisons against Tornado, "
        "uvicorn, aiohttp and httpx; print markdown tables and write the results "
        "(JSON, markdown, chart). See docs/benchmarks.md.",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds per comparison (default 5; smoke 1)"
    )
    parser.add_argument(
        "--seconds",
        type=int,
        help="seconds per wrk run, a whole number (default 3; smoke 1)",
    )
    parser.add_argument(
        "--churn-cycles",
        type=int,
        metavar="N",
        help="connections of each kind in the short-connection memory "
        "comparison (default 200000; smoke 2000)",
    )
    parser.add_argument(
        "--h2-requests",
        type=int,
        metavar="N",
        help="requests per h2load run in the HTTP/2 comparisons "
        "(default: runs of --seconds instead)",
    )
    parser.add_argument(
        "--only",
        metavar="TEXT",
        help="run only the comparisons whose name contains TEXT (any case)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="everything once, 1 s runs and tiny sizes: proves the suite runs",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="where to write the results: default docs/_static for a full run, "
        "a new temporary folder for --smoke or --only",
    )
    parser.add_argument(
        "--list", action="store_true", help="list the comparisons and exit"
    )
    args = parser.parse_args(argv)
    for name in ("rounds", "seconds", "churn_cycles", "h2_requests"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def make_settings(args: argparse.Namespace) -> Settings:
    if args.smoke:
        settings = Settings(
            rounds=1,
            seconds=1,
            gets=300,
            gets_warmup=20,
            stream_bytes=16 * MIB,
            idle_connections=500,
            churn_cycles=2000,
            drain_plan=drain.Plan(requests=10, slow_seconds=1.0, interval=0.2),
            smoke=True,
        )
    else:
        settings = Settings()
    if args.rounds is not None:
        settings.rounds = args.rounds
    if args.seconds is not None:
        settings.seconds = args.seconds
    if args.churn_cycles is not None:
        settings.churn_cycles = args.churn_cycles
    if args.h2_requests is not None:
        settings.h2_requests = args.h2_requests
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = make_settings(args)
    selected = [
        c
        for c in comparisons(settings)
        if not args.only or args.only.lower() in comparison_key(c).lower()
    ]
    if args.list:
        for comparison in selected:
            print(comparison_key(comparison))
        return 0
    if not selected:
        print(f"no comparison name contains {args.only!r}", file=sys.stderr)
        return 2
    command = shlex.join(
        ["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)]
    )
    try:
        tools.ensure_system_tools()
    except tools.FAILURES as error:
        print(f"python -m benchmarks: {error}", file=sys.stderr)
        return 2
    if not tools.can_pin():
        tools.log("warning: no taskset or one CPU: processes are not pinned")
    started = time.monotonic()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="tornado-compat-bench-") as scratch:
        runner = Runner(settings, Path(scratch))
        for comparison in selected:
            tools.log(f"running {comparison_key(comparison)}")
            try:
                result = runner.run(comparison)
            except tools.FAILURES as error:
                print(
                    f"\npython -m benchmarks: {comparison_key(comparison)} "
                    f"failed:\n{error}",
                    file=sys.stderr,
                )
                return 1
            results.append(result)
            print()
            print("\n".join(report.comparison_markdown(result, 2)), flush=True)
    machine, versions = tools.machine_info(), tools.versions()
    everything: dict[str, Any] = {
        "date": date,
        "command": command,
        "duration_seconds": time.monotonic() - started,
        "machine": machine,
        "versions": versions,
        "settings": {
            "rounds": settings.rounds,
            "seconds": settings.seconds,
            "connections": settings.connections,
            "upload_connections": settings.upload_connections,
            "upload_bytes": settings.upload_bytes,
            "gets": settings.gets,
            "stream_bytes": settings.stream_bytes,
            "idle_connections": settings.idle_connections,
            "churn_cycles": settings.churn_cycles,
            "drain": dataclasses.asdict(settings.drain_plan),
            "h2load": {
                "requests": settings.h2_requests,
                "seconds": None if settings.h2_requests else settings.seconds,
                "clients": settings.h2_clients,
                "streams": settings.h2_streams,
            },
            "smoke": settings.smoke,
        },
        "comparisons": results,
        "incidents": runner.incidents,
    }
    print("\n## Targets\n")
    print("\n".join(report.targets_summary(everything)))
    if args.output is not None:
        output = args.output
    elif args.smoke or args.only:
        output = Path(tempfile.mkdtemp(prefix="tornado-compat-bench-results-"))
    else:
        output = DOCS_OUTPUT
    written = report.write_all(everything, output)
    print(f"\nTotal time {everything['duration_seconds']:.0f} s.")
    if runner.incidents:
        print(f"{len(runner.incidents)} measurement(s) failed once and were re-run:")
        for incident in runner.incidents:
            print(f"  {incident}")
    print("Wrote " + ", ".join(str(path) for path in written))
    return 0
