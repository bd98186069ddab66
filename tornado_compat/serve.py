"""``python -m tornado_compat serve``: run a Tornado application on tornado_compat.

What this module is for: everything the ``serve`` command does besides
parsing its command line (which :mod:`tornado_compat.__main__` does, from
:data:`OPTIONS`):

* :data:`OPTIONS`, the one table of ``serve``'s options: flag, type,
  default, help and the ``HTTPServer`` keyword each one sets.  The argument
  parser is built from it and a test checks the defaults table of
  ``docs/cli.md`` against it, so the three cannot disagree.
* loading and checking the target (:func:`load_target`): an ``Application``
  or other ``HTTPServerConnectionDelegate``, a request callable (one
  argument) or a factory (no arguments) that returns one of these;
* the listening sockets: TCP (:func:`~tornado_compat.netutil.bind_sockets`),
  a Unix socket that never replaces one another server is listening on, an
  inherited descriptor (``--fd``) or systemd's socket activation
  (``LISTEN_FDS``);
* the TLS context, the event loop (asyncio or uvloop), logging in
  ``tornado.log``'s format, ``--reload`` through ``tornado.autoreload``;
* serving until SIGINT or SIGTERM and then draining, in this process or in
  ``--workers`` forked processes supervised by
  :func:`tornado_compat.supervisor.run_workers`.

What it must never do: import a Tornado module that tornado_compat replaces
before :func:`tornado_compat.install` ran (the application is imported only
after, by name); delete a file it did not create (a live socket of another
server, a regular file); bind anything but 127.0.0.1 unless told to; fork
while an event loop runs; or let a peer's mistake reach the log as an
ERROR.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib
import importlib.util
import inspect
import logging
import os
import signal
import socket
import ssl
import stat
import sys
import traceback
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tornado_compat.netutil import _DEFAULT_BACKLOG, bind_sockets

#: Seconds ``serve`` lets requests in progress finish after the first signal.
DEFAULT_GRACEFUL_TIMEOUT = 30.0
#: ``serve``'s deadlines: the production values of "Deadlines" in the server
#: docs, where a bare HTTPServer keeps Tornado's (an hour for the first two,
#: none for the body).  The idle wait outlasts a proxy's usual 60 s, so the
#: proxy closes idle connections; a head has 10 s from its first byte; a body
#: 60 s from the end of its head.
SERVE_IDLE_TIMEOUT = 75.0
SERVE_HEAD_TIMEOUT = 10.0
SERVE_BODY_TIMEOUT = 60.0
#: The limits ``serve`` starts with: Tornado's own (64 KiB of head, 100 MiB
#: of body).
SERVE_MAX_HEADER_SIZE = 64 * 1024
SERVE_MAX_BODY_SIZE = 100 * 1024 * 1024
#: Permissions of a Unix socket ``serve`` creates: the owner and its group
#: (the proxy's user joins the group) may connect, nobody else.
SERVE_UNIX_SOCKET_MODE = 0o660

#: The protocols offered by ALPN on a TLS listener, in order of preference.
#: ``--http2`` adds :data:`ALPN_HTTP2` in front, and nothing else does.
ALPN_PROTOCOLS = ("http/1.1",)
ALPN_HTTP2 = "h2"

#: systemd passes socket-activated descriptors from this number on
#: (``SD_LISTEN_FDS_START``).
LISTEN_FDS_START = 3

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_T = TypeVar("_T")


class ServeError(Exception):
    """A problem that stops ``serve`` before it serves: its message is the
    one line printed on stderr, and ``status`` the exit status."""

    status = 1


class TargetError(ServeError):
    """The application named on the command line cannot be loaded or is not
    something ``HTTPServer`` can serve.  ``files`` are those whose edit may
    fix it (for --reload to watch)."""

    status = 2

    def __init__(self, message: str, files: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.files = list(files)


class UsageError(ServeError):
    """Options that cannot work (together, or on this machine)."""

    status = 2


class BindError(ServeError):
    """A listening socket cannot be made."""

    status = 1


# -- the option table -----------------------------------------------------------


def seconds(text: str) -> float:
    """A command-line duration: a number of seconds, zero or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"not a finite duration >= 0: {text!r}")
    return value


def positive_seconds(text: str) -> float:
    """A deadline: a number of seconds above zero."""
    value = seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"not a duration > 0: {text!r}")
    return value


_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def size(text: str) -> int:
    """A number of bytes, with an optional K, M or G suffix (powers of 1024)."""
    number, unit = text.strip(), ""
    if number[-1:].lower() in ("k", "m", "g"):
        number, unit = number[:-1], number[-1].lower()
    if not number.isdigit() or int(number) == 0:
        raise argparse.ArgumentTypeError(
            f"not a size in bytes (such as 65536, 64K or 10M): {text!r}"
        )
    return int(number) * _SIZE_UNITS[unit]


def count(text: str) -> int:
    """A whole number of one or more."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number >= 1: {text!r}")
    return int(text)


def port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}")
    return int(text)


def descriptor(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a file descriptor number: {text!r}")
    return int(text)


def file_mode(text: str) -> int:
    try:
        value = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an octal mode: {text!r}") from None
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"not a mode from 000 to 777: {text!r}")
    return value


class _AddressList(argparse.Action):
    """Repeatable, and each value may be a comma-separated list."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        known = list(getattr(namespace, self.dest) or [])
        known.extend(part.strip() for part in str(values).split(",") if part.strip())
        setattr(namespace, self.dest, known)


@dataclass(frozen=True)
class Option:
    """One option of ``serve``: how to parse it, its default, the
    ``HTTPServer`` keyword it sets (if any), and the default as the docs
    show it."""

    flag: str
    group: str
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: Sequence[str] | None = None
    #: ``store_true``, ``BooleanOptionalAction``, or an Action class.
    action: Any = None
    #: The keyword of ``HTTPServer`` this option's value goes to.
    server_keyword: str | None = None
    #: The default column of the table in docs/cli.md.
    shown: str = "none"

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def add_to(self, parser: argparse._ActionsContainer) -> None:
        text = self.help
        if self.shown != "none":
            text += f" (default {self.shown.strip('`')})"
        kwargs: dict[str, Any] = {"help": text, "default": self.default}
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        if self.action is not None:
            kwargs["action"] = self.action
        else:
            kwargs["type"] = self.type
            if self.choices is not None:
                kwargs["choices"] = self.choices
        parser.add_argument(self.flag, **kwargs)


#: Every option of ``serve``, in the order of ``--help`` and of the docs.
OPTIONS: tuple[Option, ...] = (
    Option(
        "--address",
        "binding",
        "address to listen on ('' for all interfaces)",
        default="127.0.0.1",
        metavar="ADDRESS",
        shown="`127.0.0.1`",
    ),
    Option(
        "--port",
        "binding",
        "TCP port to listen on (0: a free port the system picks)",
        default=8888,
        type=port,
        metavar="PORT",
        shown="8888",
    ),
    Option(
        "--unix-socket",
        "binding",
        "listen on a Unix socket at PATH instead of TCP; a stale socket left"
        " there is replaced, a live one or any other file is refused",
        metavar="PATH",
    ),
    Option(
        "--unix-socket-mode",
        "binding",
        "permissions of the Unix socket, in octal",
        default=SERVE_UNIX_SOCKET_MODE,
        type=file_mode,
        metavar="MODE",
        shown="660",
    ),
    Option(
        "--fd",
        "binding",
        "serve the listening socket inherited as descriptor N instead of binding",
        type=descriptor,
        metavar="N",
    ),
    Option(
        "--reuse-port",
        "binding",
        "set SO_REUSEPORT; with --workers each worker binds its own socket",
        default=False,
        action="store_true",
        shown="off",
    ),
    Option(
        "--workers",
        "processes",
        "number of worker processes; more than 1 forks them and supervises",
        default=1,
        type=count,
        metavar="N",
        shown="1",
    ),
    Option(
        "--certfile",
        "TLS",
        "serve HTTPS with this certificate chain (PEM)",
        metavar="PATH",
    ),
    Option(
        "--keyfile",
        "TLS",
        "the private key (PEM), if not in --certfile",
        metavar="PATH",
    ),
    Option(
        "--keyfile-password",
        "TLS",
        "password of an encrypted private key",
        metavar="PASSWORD",
    ),
    Option(
        "--ca-certs",
        "TLS",
        "CA certificates (PEM) that client certificates are checked against",
        metavar="PATH",
    ),
    Option(
        "--cert-reqs",
        "TLS",
        "ask for a client certificate: none, optional or required"
        " (the last two need --ca-certs)",
        default="none",
        choices=("none", "optional", "required"),
        metavar="{none,optional,required}",
        shown="`none`",
    ),
    Option(
        "--ciphers",
        "TLS",
        "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's)",
        metavar="CIPHERS",
        shown="Python's",
    ),
    Option(
        "--http2",
        "HTTP/2",
        "also serve HTTP/2: chosen by ALPN over TLS, by prior knowledge in"
        " cleartext (needs the h2 package)",
        default=False,
        action="store_true",
        server_keyword="http2",
        shown="off",
    ),
    Option(
        "--http2-max-concurrent-streams",
        "HTTP/2",
        "streams one HTTP/2 connection may have open at once (advertised);"
        " more are refused",
        default=100,
        type=count,
        metavar="N",
        server_keyword="http2_max_concurrent_streams",
        shown="100",
    ),
    Option(
        "--http2-max-resets",
        "HTTP/2",
        "streams an HTTP/2 client may reset (or have refused) per 10 s before"
        " its connection ends (rapid reset)",
        default=200,
        type=count,
        metavar="N",
        server_keyword="http2_max_resets",
        shown="200",
    ),
    Option(
        "--http2-max-control-frames",
        "HTTP/2",
        "control frames (PING, SETTINGS, PRIORITY, ...) an HTTP/2 client may"
        " send per 10 s before its connection ends",
        default=1000,
        type=count,
        metavar="N",
        server_keyword="http2_max_control_frames",
        shown="1000",
    ),
    Option(
        "--loop",
        "event loop",
        "event loop: auto (uvloop if installed), asyncio or uvloop",
        default="auto",
        choices=("auto", "asyncio", "uvloop"),
        metavar="{auto,asyncio,uvloop}",
        shown="`auto`",
    ),
    Option(
        "--max-body-size",
        "limits and deadlines",
        "largest request body, in bytes (K, M, G suffixes)",
        default=SERVE_MAX_BODY_SIZE,
        type=size,
        metavar="BYTES",
        server_keyword="max_body_size",
        shown="100M",
    ),
    Option(
        "--max-header-size",
        "limits and deadlines",
        "largest request head, in bytes (K, M, G suffixes)",
        default=SERVE_MAX_HEADER_SIZE,
        type=size,
        metavar="BYTES",
        server_keyword="max_header_size",
        shown="64K",
    ),
    Option(
        "--max-connections",
        "limits and deadlines",
        "most connections open at once per process; more wait in the listen backlog",
        type=count,
        metavar="N",
        server_keyword="max_connections",
    ),
    Option(
        "--idle-timeout",
        "limits and deadlines",
        "seconds a keep-alive connection may wait for its next request",
        default=SERVE_IDLE_TIMEOUT,
        type=positive_seconds,
        metavar="SECONDS",
        server_keyword="idle_connection_timeout",
        shown="75",
    ),
    Option(
        "--head-timeout",
        "limits and deadlines",
        "seconds from a request head's first byte to its end",
        default=SERVE_HEAD_TIMEOUT,
        type=positive_seconds,
        metavar="SECONDS",
        server_keyword="head_timeout",
        shown="10",
    ),
    Option(
        "--body-timeout",
        "limits and deadlines",
        "seconds from the end of a request head to the end of its body",
        default=SERVE_BODY_TIMEOUT,
        type=positive_seconds,
        metavar="SECONDS",
        server_keyword="body_timeout",
        shown="60",
    ),
    Option(
        "--graceful-timeout",
        "limits and deadlines",
        "on Ctrl-C or SIGTERM, how long the requests in progress may take to"
        " finish before they are cut",
        default=DEFAULT_GRACEFUL_TIMEOUT,
        type=seconds,
        metavar="SECONDS",
        shown="30",
    ),
    Option(
        "--decompress-request",
        "limits and deadlines",
        "decode gzip, deflate (and br, zstd if installed) request bodies",
        default=False,
        action="store_true",
        server_keyword="decompress_request",
        shown="off",
    ),
    Option(
        "--xheaders",
        "proxies",
        "trust X-Real-Ip / X-Forwarded-For / X-Scheme / X-Forwarded-Proto"
        " (behind a proxy)",
        default=False,
        action="store_true",
        server_keyword="xheaders",
        shown="off",
    ),
    Option(
        "--trusted-downstream",
        "proxies",
        "with --xheaders, a proxy address skipped in X-Forwarded-For"
        " (repeatable, or comma-separated)",
        action=_AddressList,
        metavar="ADDR",
        server_keyword="trusted_downstream",
    ),
    Option(
        "--log-level",
        "logs",
        "lowest level logged: debug, info, warning or error",
        default="info",
        choices=("debug", "info", "warning", "error"),
        metavar="{debug,info,warning,error}",
        shown="`info`",
    ),
    Option(
        "--access-log",
        "logs",
        "log a line per request on tornado.access",
        default=True,
        action=argparse.BooleanOptionalAction,
        shown="on",
    ),
    Option(
        "--reload",
        "development",
        "restart when a source file changes (tornado.autoreload); one process only",
        default=False,
        action="store_true",
        shown="off",
    ),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the target and every option of :data:`OPTIONS` to ``parser``."""
    parser.add_argument(
        "target",
        help="module:attribute or path/to/file.py:attribute (default"
        " attribute: app): an Application, a request callable or a factory",
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in OPTIONS:
        if option.group not in groups:
            groups[option.group] = parser.add_argument_group(option.group)
        option.add_to(groups[option.group])


def check_arguments(args: argparse.Namespace) -> None:
    """Raise :class:`UsageError` for options that cannot work together."""
    if args.fd is not None and args.unix_socket is not None:
        raise UsageError("--fd and --unix-socket cannot be used together")
    if args.reload and args.workers > 1:
        raise UsageError("--reload works with one process only, not with --workers")
    if args.trusted_downstream and not args.xheaders:
        raise UsageError("--trusted-downstream has no effect without --xheaders")
    if args.certfile is None:
        for name in ("keyfile", "keyfile_password", "ca_certs", "ciphers"):
            if getattr(args, name) is not None:
                raise UsageError(f"--{name.replace('_', '-')} needs --certfile")
        if args.cert_reqs != "none":
            raise UsageError("--cert-reqs needs --certfile")
    elif args.cert_reqs != "none" and args.ca_certs is None:
        raise UsageError(f"--cert-reqs {args.cert_reqs} needs --ca-certs")


# -- the target -----------------------------------------------------------------


_WHAT_SERVES = (
    "an Application (HTTPServerConnectionDelegate), a request callable taking"
    " one argument, or a factory taking none that returns one of these"
)


@dataclass
class Target:
    """What ``TARGET`` named: the object, and whether it is a factory to call
    (once per process, in the running event loop)."""

    name: str
    value: Any
    is_factory: bool
    #: Files that --reload must watch besides the imported modules.
    files: list[str] = field(default_factory=list)

    def build(self) -> Any:
        """The object to serve: the value, or what the factory returns."""
        if not self.is_factory:
            return self.value
        built = _calling(f"{self.name}()", self.value)
        kind = _kind(built)
        if kind in ("delegate", "callback"):
            return built
        if inspect.isawaitable(built):
            if inspect.iscoroutine(built):
                built.close()
            raise TargetError(
                f"{self.name}() returned an awaitable; the factory must return"
                f" {_WHAT_SERVES}"
            )
        raise TargetError(
            f"{self.name}() returned {_describe(built)}, not {_WHAT_SERVES}"
        )


def _kind(value: Any) -> str | None:
    """``delegate``, ``callback``, ``factory``, or None for none of these.

    The rule: a delegate is an instance of ``HTTPServerConnectionDelegate``;
    any other callable that can be called with no argument is a factory; one
    that needs exactly one is a request callable.  Coroutine functions are
    neither, since nothing would await them.
    """
    from tornado_compat.httputil import HTTPServerConnectionDelegate

    if isinstance(value, HTTPServerConnectionDelegate):
        return "delegate"
    if not callable(value) or inspect.iscoroutinefunction(value):
        return None
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return None
    for arguments, kind in ((0, "factory"), (1, "callback")):
        try:
            signature.bind(*range(arguments))
        except TypeError:
            continue
        return kind
    return None


def _describe(value: Any) -> str:
    if inspect.iscoroutinefunction(value):
        return "a coroutine function"
    if callable(value):
        try:
            return f"a callable with signature {inspect.signature(value)}"
        except (TypeError, ValueError):
            return "a callable without a signature"
    return f"{type(value).__name__} {value!r:.40}"


def load_target(target: str) -> Target:
    """Import ``module:attribute`` or ``file.py:attribute`` (``app`` by
    default) and check that it can be served; see :func:`_kind`."""
    try:
        return _load_target(target)
    except TargetError as exc:
        where = target.partition(":")[0]
        module = sys.modules.get(Path(where).stem if where.endswith(".py") else where)
        exc.files.extend(
            [str(Path(where).resolve())]
            if where.endswith(".py")
            else [getattr(module, "__file__", None) or ""]
        )
        raise


def _load_target(target: str) -> Target:
    where, _, attribute = target.partition(":")
    attribute = attribute or "app"
    files: list[str] = []
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.is_file():
            raise TargetError(f"no such file: {where}")
        files.append(str(path))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        _calling(f"importing {where}", lambda: spec.loader.exec_module(module))  # type: ignore[union-attr]
    else:
        try:
            module = _calling(
                f"importing {where}", lambda: importlib.import_module(where)
            )
        except ImportError as exc:
            raise TargetError(f"cannot import {where}: {exc}") from exc
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise TargetError(f"{where} has no attribute {attribute!r}") from None
    kind = _kind(value)
    if kind is None:
        raise TargetError(f"{attribute} is {_describe(value)}, not {_WHAT_SERVES}")
    return Target(attribute, value, kind == "factory", files)


def _calling(what: str, do: Callable[[], _T]) -> _T:
    """Run the target's code (its import, its factory); an exception other
    than ImportError becomes a one-line TargetError naming where it was
    raised."""
    try:
        return do()
    except ImportError:
        raise
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1:]
        place = ""
        if isinstance(exc, SyntaxError):
            place = f" ({exc.filename}, line {exc.lineno})"
        elif frame:
            place = f" ({frame[0].filename}, line {frame[0].lineno})"
        files = [entry.filename for entry in traceback.extract_tb(exc.__traceback__)]
        if isinstance(exc, SyntaxError) and exc.filename:
            files.append(exc.filename)
        raise TargetError(
            f"{what} raised {type(exc).__name__}: {exc}{place}", files
        ) from exc


# -- listening sockets ----------------------------------------------------------


@dataclass
class Listeners:
    """The sockets to serve, how to show them, and what to clean up."""

    sockets: list[socket.socket]
    #: The Unix socket file we created: (path, device, inode), removed at the
    #: end only if it is still that file.
    created: tuple[str, int, int] | None = None
    #: The process that bound them (forked workers must not clean up).
    owner: int = field(default_factory=os.getpid)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        if self.created is not None and os.getpid() == self.owner:
            path, device, inode = self.created
            self.created = None
            try:
                st = os.lstat(path)
            except OSError:
                return
            if (st.st_dev, st.st_ino) == (device, inode):
                os.unlink(path)


def show(sock: socket.socket, scheme: str) -> str:
    """How to reach ``sock``: ``http://127.0.0.1:8888/`` or ``unix:PATH``."""
    name = sock.getsockname()
    if sock.family == getattr(socket, "AF_UNIX", None):
        if isinstance(name, bytes):
            name = name.decode(errors="replace")
        return f"unix:{name or '(unnamed)'}"
    host, number = name[:2]
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{number}/"


def bind_unix_socket(path: str, mode: int) -> Listeners:
    """A listening Unix socket at ``path``.

    If something is already there: a socket nobody listens on (left by a
    server that died) is replaced; a socket another server listens on, or
    any other kind of file, is refused with :class:`BindError`.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            sock.bind(path)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            _remove_stale_socket(path)
            sock.bind(path)
        st = os.lstat(path)
        os.chmod(path, mode)
        sock.listen(_DEFAULT_BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot listen on unix:{path}: {exc}") from exc
    except BaseException:
        sock.close()
        raise
    return Listeners([sock], created=(path, st.st_dev, st.st_ino))


def _remove_stale_socket(path: str) -> None:
    st = os.lstat(path)
    if not stat.S_ISSOCK(st.st_mode):
        raise BindError(
            f"cannot listen on unix:{path}: a file that is not a socket is there"
        )
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(5)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        # Nobody accepts there: the socket of a server that is gone.
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    except OSError as exc:
        raise BindError(
            f"cannot listen on unix:{path}: cannot tell whether another server"
            f" uses it ({exc})"
        ) from exc
    finally:
        probe.close()
    raise BindError(f"cannot listen on unix:{path}: another server is listening there")


def adopt_descriptor(fd: int, keep_inheritable: bool) -> socket.socket:
    """The listening stream socket open as descriptor ``fd``."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        if exc.errno == errno.ENOTSOCK:
            raise BindError(
                f"cannot serve descriptor {fd}: not a listening stream socket"
            ) from exc
        raise BindError(f"cannot serve descriptor {fd}: {exc}") from exc
    try:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        listening = 0
    if sock.type != socket.SOCK_STREAM or not listening:
        sock.detach()
        raise BindError(f"cannot serve descriptor {fd}: not a listening stream socket")
    sock.setblocking(False)
    if not keep_inheritable:
        # Subprocesses of the application must not hold the listener open.
        sock.set_inheritable(False)
    return sock


def socket_activation(keep_environment: bool) -> list[int] | None:
    """The descriptors systemd passed (``LISTEN_FDS``) if they are meant for
    this process (``LISTEN_PID``), else None.

    As ``sd_listen_fds`` does, the variables are then removed from the
    environment, so that a subprocess does not take the sockets for its own;
    except with --reload, whose restart is this same process again.
    """
    pid = os.environ.get("LISTEN_PID", "")
    number = os.environ.get("LISTEN_FDS", "")
    if not number or not pid.isdigit() or int(pid) != os.getpid():
        return None
    if not keep_environment:
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)
    if not number.isdigit() or int(number) < 1:
        raise BindError(f"LISTEN_FDS={number!r} names no descriptor")
    return list(range(LISTEN_FDS_START, LISTEN_FDS_START + int(number)))


def bind(args: argparse.Namespace, worker: bool = False) -> Listeners:
    """The listening sockets the options ask for."""
    if args.fd is not None:
        return Listeners([adopt_descriptor(args.fd, args.reload)])
    if args.unix_socket is not None:
        return bind_unix_socket(args.unix_socket, args.unix_socket_mode)
    if not worker:
        activated = socket_activation(keep_environment=args.reload)
        if activated is not None:
            return Listeners([adopt_descriptor(fd, args.reload) for fd in activated])
    try:
        sockets = bind_sockets(
            args.port, address=args.address or None, reuse_port=args.reuse_port
        )
    except (OSError, ValueError) as exc:
        raise BindError(f"cannot listen on {args.address}:{args.port}: {exc}") from exc
    return Listeners(sockets)


# -- TLS ------------------------------------------------------------------------


_CERT_REQS = {
    "none": ssl.CERT_NONE,
    "optional": ssl.CERT_OPTIONAL,
    "required": ssl.CERT_REQUIRED,
}


def tls_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's TLS context (TLS 1.2 or later, ALPN offered), or None
    without --certfile."""
    if args.certfile is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= getattr(ssl, "OP_NO_COMPRESSION", 0)
    try:
        context.load_cert_chain(args.certfile, args.keyfile, args.keyfile_password)
        if args.ca_certs is not None:
            context.load_verify_locations(args.ca_certs)
        if args.ciphers is not None:
            context.set_ciphers(args.ciphers)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot set up TLS: {exc}") from exc
    context.verify_mode = _CERT_REQS[args.cert_reqs]
    protocols = list(ALPN_PROTOCOLS)
    if args.http2:
        protocols.insert(0, ALPN_HTTP2)
    context.set_alpn_protocols(protocols)
    return context


# -- event loop and logs --------------------------------------------------------


def loop_factory(choice: str) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The name and factory of the event loop ``--loop`` asks for."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise UsageError(
                    "--loop uvloop: uvloop is not installed"
                    " (pip install 'tornado_compat[speed]')"
                ) from None
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", asyncio.new_event_loop


def run_in_loop(
    factory: Callable[[], asyncio.AbstractEventLoop],
    main: Callable[[], Coroutine[Any, Any, _T]],
) -> _T:
    """``asyncio.run(main())`` on a loop from ``factory``."""
    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main())
    loop = factory()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(main())
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def setup_logging(level: str, access_log: bool) -> None:
    """Log to stderr in ``tornado.log``'s format."""
    from tornado.log import LogFormatter

    root = logging.getLogger()
    handler = logging.StreamHandler()
    handler.setFormatter(LogFormatter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    if not access_log:
        logging.getLogger("tornado.access").disabled = True


# -- serving --------------------------------------------------------------------


def say(line: str) -> None:
    # One write for the whole line: workers share the parent's stdout, and
    # a line must not be split by another's.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


#: Stop signals a forked worker received before its event loop took them
#: over (see :func:`_run_workers`).
_early_signals: list[int] = []
#: The pid of the process that runs the workers.
_supervisor_pid: int | None = None


class _StoppedBeforeStart(Exception):
    """A stop signal reached the parent before the supervisor handled them."""


def _remember_signal(signum: int, frame: object) -> None:
    if os.getpid() == _supervisor_pid:
        # No worker has started yet: there is nothing to drain.
        raise _StoppedBeforeStart
    _early_signals.append(signum)


class _Signals:
    """Counts Ctrl-C and SIGTERM: the first asks for a drain, the second
    for a stop at once.

    In a worker (``repeat_term`` false) SIGTERM only ever asks for the drain:
    a process manager may send it to the worker and to the parent at once,
    and the parent passes its own on, so two may come for one stop.  There
    the parent's SIGINT, sent for a second signal, stops at once.
    """

    def __init__(self, repeat_term: bool = True, prefix: str = "") -> None:
        self.first = asyncio.Event()
        self.second = asyncio.Event()
        self.repeat_term = repeat_term
        self.prefix = prefix

    def received(self, signum: int) -> None:
        if not self.first.is_set():
            self.first.set()
        elif signum != signal.SIGTERM or self.repeat_term:
            self.second.set()
        elif not self.second.is_set():
            say(f"{self.prefix}SIGTERM again: still draining (SIGINT stops at once)")


@dataclass
class Plan:
    """What every serving process needs, worked out before any forks."""

    args: argparse.Namespace
    target: Target
    loop_name: str
    loop_factory: Callable[[], asyncio.AbstractEventLoop]
    ssl_context: ssl.SSLContext | None
    #: Keywords for ``HTTPServer`` from the table.
    server_options: dict[str, Any]
    #: None when each worker binds its own socket (--reuse-port).
    listeners: Listeners | None

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        option.server_keyword: getattr(args, option.dest)
        for option in OPTIONS
        if option.server_keyword is not None
    }


async def serve_forever(plan: Plan, listeners: Listeners, prefix: str = "") -> int:
    """Serve until a signal, then drain; the number of requests cut.

    With requests cut the process ends here, at once, with status 1: their
    handlers are still suspended, and leaving them to the loop's end would
    cancel them, which tornado.web answers with a 500 logged as an error,
    for clients already cut off.
    """
    from tornado_compat.httpserver import HTTPServer

    # Before the line that says it is ready: a signal sent on seeing that
    # line must find the handlers in place.
    signals = _Signals(repeat_term=not prefix, prefix=prefix)
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, signals.received, signum)
    for early in _early_signals:
        signals.received(early)
    _early_signals.clear()
    try:
        application = plan.target.build()
        server = HTTPServer(
            application, ssl_options=plan.ssl_context, **plan.server_options
        )
        server.add_sockets(listeners.sockets)
        if plan.args.reload:
            _start_reload(plan, listeners)
        if prefix:
            say(f"{prefix}ready (pid {os.getpid()}, {plan.loop_name})")
        else:
            for sock in listeners.sockets:
                say(f"serving {plan.args.target} on {show(sock, plan.scheme)}")
            say(
                "try:  "
                f"{_try_command(listeners.sockets[0], plan.scheme, plan.args.http2)}"
                "   (Ctrl-C stops the server)"
            )
        await signals.first.wait()
        timeout = plan.args.graceful_timeout
        say(
            f"{prefix}draining: waiting up to {timeout:g} s for the requests"
            " in progress (a second Ctrl-C stops at once)"
        )
        drain = asyncio.ensure_future(server.drain(timeout))
        second = asyncio.ensure_future(signals.second.wait())
        await asyncio.wait((drain, second), return_when=asyncio.FIRST_COMPLETED)
        if not drain.done():
            # Counted and logged as cut by the drain.
            await server.close_all_connections()
        second.cancel()
        cut = await drain
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        if prefix:
            # The parent's SIGTERM or SIGINT may still be on its way to a
            # worker that has finished its drain: it must not kill the worker
            # on its way out, which the parent would count as a failure.
            for signum in _STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)
    stopped = f"{prefix}stopped" if prefix else "server stopped"
    if cut:
        say(f"{stopped}: {cut} request(s) cut")
        listeners.close()
        exit_at_once(1)
    say(stopped)
    return cut


def _try_command(sock: socket.socket, scheme: str, http2: bool = False) -> str:
    where = show(sock, scheme)
    options = "-k " if scheme == "https" else ""
    if http2:
        options += "--http2 " if scheme == "https" else "--http2-prior-knowledge "
    if where.startswith("unix:"):
        return f"curl {options}--unix-socket {where[5:]} {scheme}://localhost/"
    return f"curl {options}{where}"


def _check_http2() -> None:
    """Raise :class:`UsageError` if HTTP/2 cannot be served here (no ``h2``),
    before anything is bound rather than on the first client."""
    try:
        importlib.import_module("tornado_compat.http2.connection")
    except ImportError as exc:
        raise UsageError(f"--http2: {exc}") from None


def _start_reload(plan: Plan, listeners: Listeners) -> None:
    import tornado.autoreload

    for path in plan.target.files:
        tornado.autoreload.watch(path)
    # The restart is an exec of this process: the Unix socket file it made
    # would be found stale and replaced, but removing it first is tidier.
    tornado.autoreload.add_reload_hook(listeners.close)
    tornado.autoreload.start()


async def wait_for_stop_signal() -> None:
    """Return once Ctrl-C (SIGINT) or SIGTERM arrives; the handlers are in
    place only while it waits."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in _STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def _wait_for_a_fix(
    factory: Callable[[], asyncio.AbstractEventLoop], error: TargetError
) -> int:
    """With --reload, a target that cannot be loaded waits for an edit to
    the files involved (then restarts) or for a signal (exit status 2)."""
    print(error, file=sys.stderr, flush=True)
    say("waiting for a change to reload (Ctrl-C stops)")

    async def wait() -> None:
        import tornado.autoreload

        for path in error.files:
            if os.path.isfile(path):
                tornado.autoreload.watch(path)
        tornado.autoreload.start()
        await wait_for_stop_signal()

    run_in_loop(factory, wait)
    return error.status


def exit_at_once(status: int) -> None:
    """End the process now, with what was logged and printed written out."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _serve_one(plan: Plan, listeners: Listeners, prefix: str = "") -> int:
    try:
        cut = run_in_loop(
            plan.loop_factory, lambda: serve_forever(plan, listeners, prefix)
        )
    except TargetError as exc:
        print(f"cannot load {plan.args.target}: {exc}", file=sys.stderr, flush=True)
        return exc.status
    return 1 if cut else 0


def _run_workers(plan: Plan, where: list[str]) -> int:
    from tornado_compat.supervisor import run_workers

    args = plan.args

    def worker(task_id: int) -> int:
        prefix = f"worker {task_id}: "
        if plan.listeners is not None:
            listeners = plan.listeners
        else:
            try:
                listeners = bind(args, worker=True)
            except BindError as exc:
                print(f"{prefix}{exc}", file=sys.stderr, flush=True)
                return exc.status
        return _serve_one(plan, listeners, prefix)

    # The workers start with the handlers in place when run_workers is
    # called: these, so that a SIGTERM a worker gets before its event loop
    # runs is kept for the loop rather than killing the worker mid-start.
    # In place before the first line, which tells that the server started.
    global _supervisor_pid
    _supervisor_pid = os.getpid()
    previous = {
        signum: signal.signal(signum, _remember_signal) for signum in _STOP_SIGNALS
    }
    try:
        for shown in where:
            say(f"serving {args.target} on {shown} with {args.workers} workers")
        status = run_workers(args.workers, worker)
    except _StoppedBeforeStart:
        status = 0
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    say("server stopped" if status == 0 else f"server stopped: status {status}")
    return status


def run(args: argparse.Namespace) -> int:
    """Run ``serve`` with parsed arguments; the exit status."""
    # Ours must replace Tornado's modules before the application imports
    # tornado.web.
    from tornado_compat import install

    install()
    setup_logging(args.log_level, args.access_log)
    listeners: Listeners | None = None
    try:
        check_arguments(args)
        if args.http2:
            _check_http2()
        loop_name, factory = loop_factory(args.loop)
        context = tls_context(args)
        try:
            target = load_target(args.target)
        except TargetError as exc:
            error = TargetError(f"cannot load {args.target}: {exc}", exc.files)
            if args.reload:
                return _wait_for_a_fix(factory, error)
            raise error from exc
        if (
            args.reuse_port
            and args.workers > 1
            and args.fd is None
            and (args.unix_socket is None)
            and socket_activation(keep_environment=True) is None
        ):
            # Checked here so that a port that cannot be bound fails once, in
            # the parent; a port chosen by the system is kept for the workers.
            probe = bind(args)
            args.port = probe.sockets[0].getsockname()[1]
            scheme = "https" if context is not None else "http"
            where = [show(sock, scheme) for sock in probe.sockets]
            probe.close()
        else:
            listeners = bind(args)
            where = []
        plan = Plan(
            args, target, loop_name, factory, context, server_options(args), listeners
        )
        if listeners is not None:
            where = [show(sock, plan.scheme) for sock in listeners.sockets]
        if args.workers > 1:
            return _run_workers(plan, where)
        assert listeners is not None
        return _serve_one(plan, listeners)
    except ServeError as exc:
        print(exc, file=sys.stderr, flush=True)
        return exc.status
    finally:
        if listeners is not None:
            listeners.close()
