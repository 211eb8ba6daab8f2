"""The classroom's web server (aiohttp): each trainee's console, the trainer's page and its API.

Routes (``TOKEN``: a trainee's or the trainer's, from ``classroom.json``; a wrong or missing one gets
404 and nothing else)::

    GET  /                                  a page that says to open the link the trainer gave
    GET  /t/TOKEN                           the trainee's console page
    GET  /t/TOKEN/ws                        its websocket: a console process on the trainee's home
    GET  /trainer/TOKEN                     the trainer's page (trainer.html: a table, polling the API)
    GET  /trainer/TOKEN/api/state           every trainee's step, objective states, last action (JSON)
    POST /trainer/TOKEN/api/reset/NAME      the trainee's current step back to its start
    POST /trainer/TOKEN/api/advance         the room to the next step (``{"to": N}`` for another)
    GET  /trainer/TOKEN/view/NAME           a trainee's console, read-only (for the projector)
    GET  /trainer/TOKEN/view/NAME/ws
    GET  /trainer/TOKEN/download            a zip: every trainee's command log and the summary
    GET  /static/...                        the console page's scripts and fonts (textual-serve's)

Every request goes through ``console.workshop.serve.guard_middleware`` (the ``Host`` and ``Origin`` checks of
``cmklab serve``). Log lines name the trainee, never a token: there is no access log with paths, and
a refused request's path is shown with its token replaced by ``…``. Each console is a process of its
own (``python -m console --home HOME console``, started without a shell); closing the server stops
every one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from console.workshop.serve import (TEMPLATES, HostPolicy, _url, console_service, end_console, font_size,
                                    guard_middleware, headers_middleware, pump, split_host, terminal_size)

from console.confine import ENV as CONFINE_ENV
from console.confine import LAB_ENV

from .room import FILES, Classroom, ClassroomError, Progress

log = logging.getLogger("cmklab.classroom")

WEB = Path(__file__).with_name("web")
MAX_CONSOLES_PER_TRAINEE = 3
REFRESH_S = 0.5
_TOKEN_PATH = re.compile(r"^/(t|trainer)/[^/]+")


def redact(path: str) -> str:
    """A request path for a log line: the token segment replaced (``/t/…/ws``), no query string."""
    path = re.split(r"[?#]", path, maxsplit=1)[0]
    return repr(_TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/…", path)[:120])


def console_argv(home: Path, *, read_only: bool = False) -> list[str]:
    argv = [sys.executable, "-m", "console", "--home", str(home)]
    if read_only:
        argv.append("--read-only")
    return argv + ["console"]


def _console_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("CMKLAB_HOME", "CMKLAB_SEED", "CMKLAB_PROFILE")}


class ClassroomServer:
    """One classroom served: ``app()`` builds the aiohttp application; ``run()`` serves until stopped."""

    def __init__(self, room: Classroom, policy: HostPolicy, *, host: str, port: int, ssl_context=None) -> None:
        self.room = room
        self.policy = policy
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.scheme = "https" if ssl_context is not None else "http"
        self.progress = Progress(room)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classroom-progress")
        """Every engine read of the overview runs on this one thread, off the event loop."""
        self.consoles: dict[str, set] = {}
        self.forks: ForkServer | None = None
        """The console fork server (console/classroom/zygote.py), None where consoles are exec'd."""
        self._task: asyncio.Task | None = None
        self._busy: set[str] = set()
        import jinja2

        self.templates = jinja2.Environment(loader=jinja2.FileSystemLoader([str(WEB), str(TEMPLATES)]),
                                            autoescape=True)

    # -- the application ----------------------------------------------------------------------------

    def app(self) -> Any:
        from aiohttp import web
        from textual_serve.server import Server

        statics = (Path(sys.modules[Server.__module__].__file__).parent / "static").resolve()
        app = web.Application(middlewares=[guard_middleware(self.policy, path_shown=redact, logger=log),
                                           headers_middleware()])
        app.add_routes([
            web.get("/", self.index),
            web.get("/t/{token}", self.trainee_page),
            web.get("/t/{token}/ws", self.trainee_ws),
            web.get("/trainer/{token}", self.trainer_page),
            web.get("/trainer/{token}/api/state", self.api_state),
            web.post("/trainer/{token}/api/reset/{name}", self.api_reset),
            web.post("/trainer/{token}/api/advance", self.api_advance),
            web.get("/trainer/{token}/view/{name}", self.view_page),
            web.get("/trainer/{token}/view/{name}/ws", self.view_ws),
            web.get("/trainer/{token}/download", self.download),
            web.static("/static", statics, name="static"),
        ])
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._stop)
        return app

    async def _start(self, _app) -> None:
        self._task = asyncio.create_task(self._refresh_loop())
        self.forks = await ForkServer.start()

    async def _refresh_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await loop.run_in_executor(self.worker, self.progress.refresh)
            except Exception as e:  # noqa: BLE001 - keep the overview going
                log.warning("progress refresh failed: %s", e)
            await asyncio.sleep(REFRESH_S)

    async def _stop(self, _app) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        services = [s for group in self.consoles.values() for s in group]
        await asyncio.gather(*(self._end(s) for s in services), return_exceptions=True)
        if self.forks is not None:
            await self.forks.close()
        self.worker.submit(self.progress.close).result(timeout=10)
        self.worker.shutdown(wait=True)
        if services:
            log.info("stopped %d console(s)", len(services))

    # -- helpers -----------------------------------------------------------------------------------

    def _base(self, request) -> str:
        host, port = split_host(request.headers.get("Host", "")) or (self.policy.bind, self.policy.port)
        return _url(host, port if port is not None else (443 if self.scheme == "https" else 80), self.scheme)

    def _render(self, name: str, **context):
        from aiohttp import web

        html = self.templates.get_template(name).render(**context)
        return web.Response(text=html, content_type="text/html")

    def _trainee(self, request):
        from aiohttp import web

        t = self.room.trainee_for(request.match_info["token"])
        if t is None:
            log.warning("refused %s %s from %s: not a link of this classroom", request.method,
                        redact(request.path), request.remote or "?")
            raise web.HTTPNotFound(text="404: this link does not open anything here; ask the trainer for yours\n")
        return t

    def _trainer(self, request) -> None:
        from aiohttp import web

        if not self.room.is_trainer(request.match_info["token"]):
            log.warning("refused %s %s from %s: not the trainer's link", request.method, redact(request.path),
                        request.remote or "?")
            raise web.HTTPNotFound(text="404: this link does not open anything here\n")

    def _named(self, request):
        from aiohttp import web

        self._trainer(request)
        t = self.room.by_name.get(request.match_info["name"])
        if t is None:
            raise web.HTTPNotFound(text=f"404: no trainee named {request.match_info['name'][:60]!r} in this room\n")
        return t

    def _console_page(self, request, ws_path: str, title: str):
        base = self._base(request)
        ws = ("wss:" if self.scheme == "https" else "ws:") + base.split(":", 1)[1] + ws_path
        return self._render("app_index.html", font_size=font_size(request.query.get("fontsize")), app_websocket_url=ws,
                            config={"static": {"url": base + "/static/"}}, application={"name": title})

    # -- pages ---------------------------------------------------------------------------------------

    async def index(self, request):
        return self._render("classroom_index.html", title=self.room.scenario.title)

    async def trainee_page(self, request):
        t = self._trainee(request)
        self._room_for_a_console(t.name)  # here, where the browser shows why (its socket's refusal shows nothing)
        return self._console_page(request, f"/t/{t.token}/ws", f"cmklab: {t.name}")

    async def trainer_page(self, request):
        self._trainer(request)
        return self._render("trainer.html", title=self.room.scenario.title, scenario=self.room.scenario.name)

    async def view_page(self, request):
        t = self._named(request)
        return self._console_page(request, f"/trainer/{self.room.trainer_token}/view/{t.name}/ws",
                                  f"cmklab: {t.name} (read-only)")

    # -- consoles ------------------------------------------------------------------------------------

    def _room_for_a_console(self, name: str) -> None:
        """HTTP 429 when ``name`` has ``MAX_CONSOLES_PER_TRAINEE`` consoles open already."""
        from aiohttp import web

        group = self.consoles.get(name, ())
        if sum(1 for s in group if s.counted and not s.closing) >= MAX_CONSOLES_PER_TRAINEE:
            log.warning("refused a console for %s: %d already open (at most %d per trainee)", name,
                        MAX_CONSOLES_PER_TRAINEE, MAX_CONSOLES_PER_TRAINEE)
            raise web.HTTPTooManyRequests(text=f"429: {MAX_CONSOLES_PER_TRAINEE} consoles are open for you "
                                               "already; close a tab, then reload this page\n")

    async def trainee_ws(self, request):
        t = self._trainee(request)
        return await self._drive(request, t.name, console_argv(t.home), who=t.name)

    async def view_ws(self, request):
        t = self._named(request)
        return await self._drive(request, t.name, console_argv(t.home, read_only=True),
                                 who=f"the trainer (viewing {t.name})", count=False)

    async def _drive(self, request, name: str, argv: list[str], *, who: str, count: bool = True):
        from aiohttp import web

        group = self.consoles.setdefault(name, set())
        if count:
            self._room_for_a_console(name)
        websocket = web.WebSocketResponse(heartbeat=15)
        width, height = terminal_size(request.query.get("width", "80"), request.query.get("height", "24"))
        service = None
        try:
            await websocket.prepare(request)
            service = _console_service(argv, websocket, self.forks)
            service.counted = count
            group.add(service)
            if count:
                self.progress.connected[name] = self.progress.connected.get(name, 0) + 1
                await asyncio.get_running_loop().run_in_executor(None, self.progress.joined, name)
            log.info("%s: console opened (%d open)", who, _open(group))
            await service.start(width, height)
            await pump(websocket, service)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await websocket.close()
        except Exception as e:  # noqa: BLE001
            log.warning("%s: console failed: %s", who, e)
        finally:
            if service is not None:
                service.closing = True
                await self._end(service)
                group.discard(service)
                if count:
                    self.progress.connected[name] = max(0, self.progress.connected.get(name, 1) - 1)
                log.info("%s: console closed (%d open)", who, _open(group))
        return websocket

    @staticmethod
    async def _end(service) -> None:
        """Ask the console to quit; kill it if it has not within ``QUIT_S`` (``end_console``, as ``cmklab serve``)."""
        await end_console(service)

    # -- the trainer's API -----------------------------------------------------------------------------

    async def api_state(self, request):
        from aiohttp import web

        self._trainer(request)
        return web.json_response(self.progress.snapshot())

    async def api_reset(self, request):
        from aiohttp import web

        t = self._named(request)
        if t.name in self._busy:
            return web.json_response({"ok": False, "message": f"{t.name}'s step is being reset already"}, status=409)
        self._busy.add(t.name)
        loop = asyncio.get_running_loop()
        try:
            # the trainee's consoles close: their engines hold the state being replaced (a reload reopens it)
            await asyncio.gather(*(self._end(s) for s in list(self.consoles.get(t.name, ())) if s.counted))
            ok, text = await loop.run_in_executor(None, self.room.reset_step, t.name)
            await loop.run_in_executor(self.worker, self.progress.forget, t.name)
        finally:
            self._busy.discard(t.name)
        log.info("trainer reset %s's step: %s", t.name, "done" if ok else "failed")
        return web.json_response({"ok": ok, "message": text}, status=200 if ok else 500)

    async def api_advance(self, request):
        from aiohttp import web

        self._trainer(request)
        to = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"ok": False, "message": "the body is not JSON"}, status=400)
            raw = body.get("to") if isinstance(body, dict) else None
            if raw is not None and (not isinstance(raw, int) or isinstance(raw, bool)):
                return web.json_response({"ok": False, "message": "'to' must be a step number"}, status=400)
            to = raw
        try:
            to, moved = await asyncio.get_running_loop().run_in_executor(self.worker, self.progress.advance, to)
        except ClassroomError as e:
            return web.json_response({"ok": False, "message": e.message}, status=400)
        log.info("trainer moved the room to step %d (%d trainee(s) moved)", to, len(moved))
        return web.json_response({"ok": True, "to": to, "moved": moved})

    async def download(self, request):
        from aiohttp import web

        self._trainer(request)
        data = await asyncio.get_running_loop().run_in_executor(self.worker, self.progress.export_zip)
        return web.Response(body=data, content_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="classroom-{self.room.scenario.name}.zip"'})

    # -- serving ---------------------------------------------------------------------------------------

    def run(self) -> None:
        from aiohttp import web

        web.run_app(self.app(), host=self.host, port=self.port, ssl_context=self.ssl_context, access_log=None,
                    print=None, shutdown_timeout=10)


def _console_service(argv: list[str], websocket, forks: "ForkServer | None" = None) -> Any:
    """A textual-serve ``AppService`` whose console is forked from the fork server (``forks``) or, without
    one, started from ``argv`` without a shell."""
    from textual_serve.download_manager import DownloadManager

    class Console(console_service()):
        counted = True
        """A trainee's own console (False: the trainer's read-only view of it)."""
        closing = False

        async def _open_app_process(self, width: int = 80, height: int = 24):
            env = self._build_environment(width=width, height=height)
            for k in ("CMKLAB_HOME", "CMKLAB_SEED", "CMKLAB_PROFILE"):
                env.pop(k, None)
            home = argv[argv.index("--home") + 1]
            env[CONFINE_ENV] = str(Path(home) / FILES)  # the files a trainee names stay in their home
            env[LAB_ENV] = Path(home).name  # the header names the trainee's lab, not its path on this machine
            if forks is not None and forks.alive:
                process = await forks.fork(home, "--read-only" in argv, env)
                if process is not None:
                    self._process = process
                    self._stdin = process.stdin
                    return process
            self._process = process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env)
            self._stdin = process.stdin
            return process

    return Console(" ".join(argv), write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                   close=websocket.close, download_manager=DownloadManager())


TEXTUAL_ENV = ("TEXTUAL_DRIVER", "TEXTUAL_FPS", "TEXTUAL_COLOR_SYSTEM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION")
"""What textual-serve sets for a console that Textual reads when it is imported: the fork server is
started with them, since its consoles import nothing more."""


class ForkServer:
    """The server's end of console/classroom/zygote.py: forks consoles that have imported everything."""

    def __init__(self, proc, sock) -> None:
        import threading

        self.proc = proc
        self.sock = sock
        self.lock = threading.Lock()
        self.alive = True

    @classmethod
    async def start(cls, timeout: float = 60.0) -> "ForkServer | None":
        """The fork server, ready; None (and a log line) where it cannot run: consoles are then exec'd."""
        import signal as _signal
        import socket

        if os.environ.get("CMKLAB_CLASSROOM_FORK", "1") == "0":
            return None
        if not (hasattr(os, "fork") and hasattr(os, "pidfd_open") and hasattr(_signal, "pidfd_send_signal")
                and hasattr(socket, "send_fds")):
            log.info("consoles start as processes of their own (no fork server on this system)")
            return None
        from textual_serve.app_service import AppService

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = _console_env()
        probe = AppService.__new__(AppService)
        probe.debug = False
        base = AppService._build_environment(probe, 80, 24)
        env.update({k: base[k] for k in TEXTUAL_ENV if k in base})
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "console.classroom.zygote", str(theirs.fileno()), pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, env=env)
        finally:
            theirs.close()
        loop = asyncio.get_running_loop()
        try:
            ready = await asyncio.wait_for(loop.run_in_executor(None, ours.recv, 64), timeout)
        except (asyncio.TimeoutError, OSError):
            ready = b""
        if ready != b"ready":
            log.warning("the console fork server did not start; consoles start as processes of their own")
            ours.close()
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            return None
        return cls(proc, ours)

    def _request(self, message: bytes, fds: list[int]) -> dict:
        import socket

        with self.lock:
            socket.send_fds(self.sock, [message], fds)
            return json.loads(self.sock.recv(1 << 16) or b"{}")

    async def fork(self, home: str, read_only: bool, env: dict) -> "_Forked | None":
        """A console on ``home`` with ``env``, forked; None when the fork server failed (the caller
        starts one itself)."""
        loop = asyncio.get_running_loop()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        message = json.dumps({"home": home, "read_only": read_only, "env": env}).encode()
        try:
            answer = await loop.run_in_executor(None, self._request, message, [in_r, out_w, err_w])
        except (OSError, ValueError) as e:
            log.warning("the console fork server failed (%s); consoles start as processes of their own", e)
            self.alive = False
            answer = {}
        finally:
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        pid = answer.get("pid")
        if not isinstance(pid, int) or pid <= 0:
            for fd in (in_w, out_r, err_r):
                os.close(fd)
            return None
        return await _Forked.attach(pid, in_w, out_r, err_r)

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        self.alive = False
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


class _Forked:
    """A forked console as textual-serve's ``AppService`` uses a process: its three streams, ``wait``,
    ``kill`` and ``returncode``, followed through a pidfd (it is the fork server's child, not ours)."""

    def __init__(self, pid: int, pidfd: int | None) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.returncode: int | None = None
        self.exited = asyncio.Event()
        self.stdin = self.stdout = self.stderr = None

    @classmethod
    async def attach(cls, pid: int, in_w: int, out_r: int, err_r: int) -> "_Forked":
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            pidfd = None
        self = cls(pid, pidfd)
        if pidfd is None:
            self._gone()
        else:
            loop.add_reader(pidfd, self._gone)
        self.stdout = await _reader(loop, out_r)
        self.stderr = await _reader(loop, err_r)
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                            os.fdopen(in_w, "wb", buffering=0))
        self.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        return self

    def _gone(self) -> None:
        if self.pidfd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        if self.returncode is None:
            self.returncode = 0  # (the fork server's child: its status is not ours to read)
        self.exited.set()
        if self.stdin is not None:
            self.stdin.close()

    async def wait(self) -> int:
        await self.exited.wait()
        return self.returncode or 0

    def kill(self) -> None:
        import signal as _signal

        if self.pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                _signal.pidfd_send_signal(self.pidfd, _signal.SIGKILL)


async def _reader(loop, fd: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=2 ** 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    return reader


def _open(group: set) -> int:
    return sum(1 for s in group if not s.closing)


__all__ = ["ClassroomServer", "console_argv", "redact"]
