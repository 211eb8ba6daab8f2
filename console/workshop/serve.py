"""``cmklab serve``: the console in a browser, through textual-serve (an aiohttp server; each browser
tab's websocket drives a console process of its own on the same home).

``run_serve(argv, **opts)`` takes what follows ``cmklab serve``::

    [--read-only] [--port N] [--host 127.0.0.1] [--allow-host NAME[:PORT] ...]

Only the browser pages this server serves may drive a console. Every request must name, in its
``Host`` header, a host:port this server answers on, and the websocket's ``Origin`` must be such a
host:port too (``http://`` only); anything else gets HTTP 403 and one line on stderr naming the
refused host or origin (never a query string). That stops any other web page open in the trainer's
browser from connecting to the console (a foreign ``Origin``) and DNS rebinding (a foreign name in
``Host`` that resolves to this machine). What this server answers on (``HostPolicy``):

* the address the connection arrived on, as an IP literal (``--host 127.0.0.1``: 127.0.0.1; ``--host
  0.0.0.0``: whichever address of this machine the browser used, e.g. 192.168.1.10);
* ``localhost``, when the connection arrived on a loopback address;
* the name given to ``--host`` (``--host trainer.lan``);
* every ``--allow-host NAME[:PORT]`` (a name of this machine in the room's DNS; PORT, the served port
  by default, for a port forward).

Always on the served port. The page's websocket and static URLs use the host:port the browser used
(never ``0.0.0.0``), and the page (console/web/app_index.html) loads nothing from another host: its
font comes from this server's static files. Each console is started without a shell; stopping the server
asks each to quit and kills one that has not within ``QUIT_S`` (``end_console``). Nothing here imports textual
or textual-serve until a server is started.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import ipaddress
import json
import logging
import re
import shlex
import sys
from engine._light import dataclass
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("cmklab.serve")

TEMPLATES = Path(__file__).parent.parent / "web"  # the page: textual-serve's, its font served from here
WILDCARDS = ("0.0.0.0", "::", "")
LOOPBACK_NAMES = ("localhost",)
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_ORIGIN = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#@\s]+)/?$")

# ======================================================================================= hosts


def normalize_host(host: str) -> str | None:
    """A host name or IP literal, as compared: lower case, no trailing dot, an IP in its canonical
    form (an IPv4-mapped IPv6 address as the IPv4 one). None when it is neither a name nor an IP."""
    host = host.strip().lower()
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > 253:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host if _NAME.match(host) else None
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


def split_host(value: str) -> tuple[str, int | None] | None:
    """``Host``-header syntax: ``name``, ``name:port``, ``1.2.3.4:port``, ``[::1]:port``. Returns the
    normalized host and the port (None when absent), or None when the value is malformed."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1:]
        if ":" not in host:
            return None
    else:
        host, sep, port = value.partition(":")
        rest = sep + port
    if rest == "":
        port_n = None
    elif rest.startswith(":") and rest[1:].isascii() and rest[1:].isdigit() and len(rest) <= 6:
        port_n = int(rest[1:])
        if not 0 < port_n < 65536:
            return None
    else:
        return None
    norm = normalize_host(host)
    return None if norm is None else (norm, port_n)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    norm = normalize_host(host.split("%", 1)[0])
    try:
        return norm is not None and ipaddress.ip_address(norm).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` / ``Origin`` values name this server (see the module's docstring)."""

    bind: str
    port: int
    allowed: frozenset[tuple[str, int]] = frozenset()
    scheme: str = "http"
    """``https`` when the server speaks TLS (``cmklab classroom --tls-...``): pages' origins are then
    ``https://`` ones, and a ``Host`` without a port means 443."""

    @classmethod
    def make(cls, bind: str, port: int, allow_hosts: list[str] | tuple[str, ...] = (),
             scheme: str = "http") -> "HostPolicy":
        allowed = set()
        for entry in allow_hosts:
            parsed = split_host(entry)
            if parsed is None:
                raise ValueError(f"{entry!r} is not a host name or address with an optional :PORT")
            allowed.add((parsed[0], parsed[1] or port))
        return cls(bind=bind, port=port, allowed=frozenset(allowed), scheme=scheme)

    @property
    def wildcard(self) -> bool:
        return self.bind.strip() in WILDCARDS

    def accepts(self, host: str, port: int | None, local: str | None) -> bool:
        """Whether ``host:port`` (normalized, port None for the scheme's default: 80, or 443 with TLS)
        names this server, for a connection that arrived on the local address ``local``."""
        port = (443 if self.scheme == "https" else 80) if port is None else port
        if (host, port) in self.allowed:
            return True
        if port != self.port:
            return False
        if not self.wildcard and host == normalize_host(self.bind) and not _is_ip(host):
            return True  # --host NAME
        if _is_ip(host) and local is not None and host == normalize_host(local.split("%", 1)[0]):
            return True  # the address the browser connected to (an address of this machine)
        return host in LOOPBACK_NAMES and _is_loopback(local)

    def host_ok(self, value: str | None, local: str | None) -> bool:
        parsed = split_host(value) if value else None
        return parsed is not None and self.accepts(parsed[0], parsed[1], local)

    def origin_ok(self, value: str | None, local: str | None) -> bool:
        """An ``Origin`` header: ``http://host[:port]`` (``https://`` with TLS) where ``host:port`` names
        this server."""
        m = _ORIGIN.match(value or "")
        if m is None or m.group(1).lower() != self.scheme:
            return False
        return self.host_ok(m.group(2), local)

    def describe(self) -> str:
        """What this server answers on, for messages."""
        if self.wildcard:
            parts = [f"this machine's addresses on port {self.port}"]
        else:
            parts = [_url(normalize_host(self.bind) or self.bind, self.port, self.scheme)]
        if self.bind.strip().lower() in ("127.0.0.1", "::1", "localhost") or self.wildcard:
            parts.append(_url("localhost", self.port, self.scheme) + (" (from this machine)" if self.wildcard else ""))
        parts += [_url(h, p, self.scheme) for h, p in sorted(self.allowed)]
        seen: list[str] = []
        for part in parts:
            if part not in seen:
                seen.append(part)
        return ", ".join(seen)


def _url(host: str, port: int, scheme: str = "http") -> str:
    shown = f"[{host}]" if ":" in host else host
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{shown}" + ("" if port == default else f":{port}")


def shown(value: str | None, limit: int = 120) -> str:
    """A header value for a log line: nothing after ``?`` or ``#`` (no query string, no token), no
    user info, control characters escaped, bounded."""
    if value is None:
        return "(none)"
    value = re.split(r"[?#]", value, maxsplit=1)[0]
    scheme, sep, rest = value.partition("://")
    if sep and "@" in rest:
        value = scheme + sep + rest.split("@", 1)[1]
    elif not sep and "@" in value:
        value = value.split("@", 1)[1]
    text = repr(value[:limit])
    return text + ("..." if len(value) > limit else "")


# ======================================================================================= server


def guard_middleware(policy: HostPolicy, *, path_shown: Callable[[str], str] = shown,
                     logger: logging.Logger = log) -> Any:
    """The aiohttp middleware that refuses (HTTP 403, one log line) a request whose ``Host`` does not
    name this server, or whose ``Origin`` does not (an ``Origin`` is required on a websocket). The one
    place the browser consoles' servers (``cmklab serve``, ``cmklab classroom``) check them.
    ``path_shown`` renders the refused path for the log line (the classroom's hides its tokens)."""
    from aiohttp import web

    @web.middleware
    async def guard(request: web.Request, handler):
        transport = request.transport
        sockname = transport.get_extra_info("sockname") if transport is not None else None
        local = sockname[0] if sockname else None
        host = request.headers.get("Host")
        if not policy.host_ok(host, local):
            return _refuse(request, f"host {shown(host)}")
        origin = request.headers.get("Origin")
        websocket = request.path == "/ws" or request.headers.get("Upgrade", "").lower() == "websocket"
        if (origin is not None or websocket) and not policy.origin_ok(origin, local):
            return _refuse(request, f"origin {shown(origin)}")
        return await handler(request)

    def _refuse(request: web.Request, what: str) -> web.Response:
        logger.warning("refused %s %s from %s: %s is not this server (it answers on %s)",
                       request.method, path_shown(request.path), request.remote or "?", what, policy.describe())
        return web.Response(status=403, text=f"403 Forbidden: {what} is not this server\n")

    return guard


PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
"""On every answer of the browser consoles' servers: no other page may frame a console (clickjacking: a
framed page's websocket carries this server's Origin, which the guard lets through), none is told where it
came from (a classroom's paths carry tokens), nothing is kept in a cache."""


def headers_middleware() -> Any:
    """The aiohttp middleware that adds ``PAGE_HEADERS`` to every answer not already sent (a websocket's is)."""
    from aiohttp import web

    @web.middleware
    async def headers(request: web.Request, handler):
        response = await handler(request)
        if not getattr(response, "prepared", False):
            response.headers.update(PAGE_HEADERS)
        return response

    return headers


def serve_command(home: Path, *, read_only: bool = False, seed: int | None = None,
                  profile: str | None = None) -> str:
    """The command textual-serve runs for each browser tab: this Python, cmklab's console, this home."""
    parts = [sys.executable, "-m", "console", "--home", str(home)]
    if seed is not None:
        parts += ["--seed", str(seed)]
    if profile:
        parts += ["--profile", profile]
    if read_only:
        parts.append("--read-only")
    parts.append("console")
    return shlex.join(parts)


WIDTHS = (20, 400)
HEIGHTS = (10, 200)


def terminal_size(width: Any, height: Any) -> tuple[int, int]:
    """A browser's terminal size as a console gets it: within ``WIDTHS`` x ``HEIGHTS`` (a page that asks for
    100,000 columns would have its console draw screens of billions of cells), 80x24 for what is not a number."""
    def bounded(value: Any, default: int, limits: tuple[int, int]) -> int:
        try:
            n = int(value)
        except (TypeError, ValueError):
            n = default
        return max(limits[0], min(limits[1], n))

    return bounded(width, 80, WIDTHS), bounded(height, 24, HEIGHTS)


FONT_SIZES = (8, 48)


def font_size(value: Any) -> int:
    """A page's ``?fontsize=`` (a projector's view wants a big one): within ``FONT_SIZES``, 16 for what is
    not a number."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return 16
    return max(FONT_SIZES[0], min(FONT_SIZES[1], n))


@functools.cache
def console_service() -> type:
    """textual-serve's ``AppService`` (one console process behind one page), which closes its page when the
    console's output ends. A console that quits says so first and textual-serve closes the page then; one
    that died (killed, crashed) said nothing, and its page stayed open on a screen that no longer answered.

    The console is started from its command's words without a shell (textual-serve runs ``sh -c COMMAND``:
    the signals and the kill meant for the console reached the shell), so ``end_console`` ends the console
    itself."""
    import asyncio

    from textual_serve.app_service import AppService

    class ConsoleService(AppService):
        lab_name: str | None = None
        """What the console's header names instead of its home's path (``LAB_ENV``)."""

        def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
            from console.confine import LAB_ENV

            env = super()._build_environment(width=width, height=height)
            if self.lab_name:
                env[LAB_ENV] = self.lab_name
            return env

        async def _open_app_process(self, width: int = 80, height: int = 24):
            self._process = process = await asyncio.create_subprocess_exec(
                *shlex.split(self.command), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._build_environment(width=width, height=height))
            self._stdin = process.stdin
            return process

        async def run(self) -> None:
            try:
                await super().run()
            finally:
                with contextlib.suppress(Exception):
                    await self.remote_close()

    return ConsoleService


QUIT_S = 5.0
"""How long a console is given to quit when asked (its page closed, the server stopping) before it is killed."""


async def end_console(service: Any, timeout: float = QUIT_S) -> None:
    """Ask ``service``'s console to quit; kill it if it has not within ``timeout`` (a console that ignores the
    quit, or is stuck in a long action), and wait for it, boundedly: a console never outlives its server, and
    stopping the server never waits on one."""
    import asyncio

    proc = service._process
    with contextlib.suppress(Exception):
        await asyncio.wait_for(service.stop(), timeout)
    if proc is not None and proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), timeout)
    task = getattr(service, "_task", None)
    if task is not None and not task.done():  # its output is read to the end, which the kill brought
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(task), timeout)


async def pump(websocket: Any, service: Any) -> None:
    """The page's messages to its console (textual-serve's protocol: stdin, resize, ping, focus, blur), until the
    page goes; a message that is not the protocol's is ignored, a size is bounded (``terminal_size``)."""
    from aiohttp import WSMsgType

    async for message in websocket:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            envelope = json.loads(message.data)
        except ValueError:
            continue
        if not isinstance(envelope, list) or not envelope:
            continue
        kind = envelope[0]
        data = envelope[1] if len(envelope) > 1 else None
        if kind == "stdin" and isinstance(data, str):
            await service.send_bytes(data.encode("utf-8"))
        elif kind == "resize" and isinstance(data, dict) and "width" in data and "height" in data:
            await service.set_terminal_size(*terminal_size(data["width"], data["height"]))
        elif kind == "ping":
            await websocket.send_json(["pong", data])
        elif kind == "blur":
            await service.blur()
        elif kind == "focus":
            await service.focus()


def make_server(command: str, *, host: str, port: int, title: str, policy: HostPolicy,
                lab_name: str | None = None) -> Any:
    """A textual-serve ``Server`` that refuses requests whose ``Host`` (or websocket ``Origin``)
    does not name it; its consoles' headers name ``lab_name``, not the home's path on this machine."""
    import asyncio

    import aiohttp_jinja2
    from aiohttp import web
    from textual_serve.server import Server

    class GuardedServer(Server):
        consoles: set = set()
        """The consoles open now (one per page): stopping the server ends each, boundedly (``end_console``)."""

        async def _make_app(self) -> web.Application:
            self.consoles = set()
            app = await super()._make_app()
            app.middlewares.append(guard)
            app.middlewares.append(headers_middleware())
            return app

        async def on_shutdown(self, app: web.Application) -> None:
            await asyncio.gather(*(end_console(s) for s in list(self.consoles)), return_exceptions=True)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            """textual-serve's, with a console that closes its page when it ends however it ends
            (``console_service``) and a bounded terminal size (``terminal_size``, ``pump``)."""
            websocket = web.WebSocketResponse(heartbeat=15)
            width, height = terminal_size(request.query.get("width", "80"), request.query.get("height", "24"))
            service = None
            try:
                await websocket.prepare(request)
                service = console_service()(self.command, write_bytes=websocket.send_bytes,
                                            write_str=websocket.send_str, close=websocket.close,
                                            download_manager=self.download_manager, debug=self.debug)
                service.lab_name = lab_name
                self.consoles.add(service)
                await service.start(width, height)
                await pump(websocket, service)
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:  # noqa: BLE001 - as textual-serve: logged, the page closes
                log.warning("a console failed: %s", error)
            finally:
                if service is not None:
                    await end_console(service)
                    self.consoles.discard(service)
            return websocket

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: web.Request) -> dict[str, Any]:
            """The page, its static files and its websocket at the address the browser used (its
            ``Host``, which the guard let through), not the one listened on (``0.0.0.0``)."""
            host, port = split_host(request.headers["Host"]) or (policy.bind, policy.port)
            base = _url(host, port if port is not None else 80)
            router = request.app.router
            return {
                "font_size": font_size(request.query.get("fontsize")),
                "app_websocket_url": "ws:" + base.split(":", 1)[1] + str(router["websocket"].url_for()),
                "config": {"static": {"url": base + str(router["static"].url_for(filename="/")).rstrip("/") + "/"}},
                "application": {"name": self.title},
            }

    guard = guard_middleware(policy)

    return GuardedServer(command, host=host, port=port, title=title, templates_path=TEMPLATES)


class _NoQueryStrings(logging.Filter):
    """aiohttp's access log without query strings (the request line's, the Referer's): a URL's
    query may carry a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = re.sub(r'\?[^\s"]*', "", record.getMessage())
        record.args = ()
        return True


def _setup_log() -> None:
    """Refusals go to stderr, one line each (not through textual-serve's wrapping rich handler);
    the access log keeps no query string."""
    access = logging.getLogger("aiohttp.access")
    if not any(isinstance(f, _NoQueryStrings) for f in access.filters):
        access.addFilter(_NoQueryStrings())
    lines_on_stderr(log, "cmklab serve")


def lines_on_stderr(logger: logging.Logger, prefix: str) -> None:
    """``logger``'s INFO and above as one line each on stderr, ``prefix: message``, and nowhere else (added
    once, however often a server is started in the process)."""
    if not any(getattr(h, "_cmklab", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(f"{prefix}: %(message)s"))
        handler._cmklab = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _allow_host(value: str) -> str:
    if split_host(value) is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a host name or address with an optional :PORT")
    return value


def serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cmklab serve", description="The console in a browser (textual-serve).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Only pages served by this server may drive the console: a request whose Host header,\n"
               "or a websocket whose Origin, is not an address or name this server answers on gets\n"
               "HTTP 403 (this stops other web pages and DNS rebinding). It answers on the address a\n"
               "browser connected to (for --host 0.0.0.0: any address of this machine), on localhost\n"
               "from this machine, on the --host name, and on every --allow-host; always on --port\n"
               "unless an --allow-host says otherwise.")
    p.add_argument("--read-only", action="store_true", help="a projector view: every change is refused")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on: 127.0.0.1 (default) serves this machine only, 0.0.0.0 the "
                        "room's network")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME[:PORT]", type=_allow_host,
                   help="also accept browsers that reach this server by NAME (a DNS name of this machine, "
                        "e.g. trainer.lan); PORT (default: --port) for a port forward. Repeatable")
    return p


def lab_label(home: Path) -> str:
    """The lab a served console names in its header: its home's directory name (``~/lab``: ``lab``), never the
    path, which is the server's."""
    return home.name or "cmklab"


def _home(opts: dict) -> Path:
    from console.session import default_home

    return (Path(opts["home"]) if opts.get("home") else default_home()).absolute()


def run_serve(argv: list[str], **opts) -> int:
    """``cmklab serve [--read-only] [--port N] [--host H] [--allow-host NAME]``: every browser tab gets
    its own console process on the same home (they share the state, as several terminals would)."""
    args = serve_parser().parse_args(list(argv))
    read_only = bool(args.read_only or opts.get("read_only"))
    if not 0 < args.port < 65536:
        print(f"cmklab serve: error: port {args.port} is not between 1 and 65535", file=sys.stderr)
        return 2
    home = _home(opts)
    try:
        import textual_serve.server  # noqa: F401
    except ImportError as e:  # pragma: no cover - a declared dependency
        print(f"cmklab serve: textual-serve is not installed ({e}); pip install textual-serve", file=sys.stderr)
        return 1
    policy = HostPolicy.make(args.host, args.port, args.allow_host)
    command = serve_command(home, read_only=read_only, seed=opts.get("seed"), profile=opts.get("profile"))
    if args.host not in ("127.0.0.1", "localhost", "::1") and not read_only:
        print(f"cmklab serve: warning: {args.host} exposes a console that can change the state to the network; "
              "add --read-only for a view-only room", file=sys.stderr)
    title = "cmklab" + (" (read-only)" if read_only else "")
    _setup_log()
    print(f"cmklab serve: browsers may open {policy.describe()}", file=sys.stderr, flush=True)
    make_server(command, host=args.host, port=args.port, title=title, policy=policy, lab_name=lab_label(home)).serve()
    return 0
