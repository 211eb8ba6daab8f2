"""What the classroom tests share (imported by them, and by conftest.py for the fixture): a served classroom (a real ``cmklab classroom`` process on loopback),
its links, its consoles (the processes it started) and browsers' websockets to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workshop"))
from lab_helpers import saved_lab  # noqa: E402
from serve_helpers import stop_session  # noqa: E402

DEADLINE = 60.0
"""How long a test waits for something that should happen (a generous ceiling on a loaded 2-core
machine, not a measure of speed: tests/bench/run.py --classroom measures that)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


@dataclass
class Served:
    proc: subprocess.Popen
    port: int
    directory: Path
    trainer: str
    links: dict[str, str]
    err: Path
    scheme: str = "http"
    extra: dict = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return self.base

    def token(self, name: str) -> str:
        return self.links[name].rsplit("/", 1)[1]

    @property
    def trainer_token(self) -> str:
        return self.trainer.rsplit("/", 1)[1]

    def home(self, name: str) -> Path:
        return self.directory / "homes" / name

    def log(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def consoles(self) -> list[tuple[int, str | None]]:
        """The console processes this classroom started (forked by its fork server, or its own children):
        (pid, the trainee home whose files the console holds open)."""
        return [(pid, home_of(pid)) for pid in consoles_of(self.proc.pid)]


def home_of(pid: int) -> str | None:
    """The cmklab home a console process has files open in (its store's)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            m = re.match(r"^(.*/homes/[^/]+)/", target)
            if m:
                return m.group(1)
    return None


def consoles_of(pid: int) -> list[int]:
    """The live console processes under the classroom server ``pid``: its children, and the children
    of its fork server (which is not a console itself)."""
    out = []
    for child, argv in _children(pid):
        if "console.classroom.zygote" in argv:
            out += [grandchild for grandchild, _ in _children(child)]
        else:
            out.append(child)
    return out


def _children(pid: int) -> list[tuple[int, list[str]]]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            state = stat.rsplit(")", 1)[1].split()[0]
            if ppid != pid or state == "Z":
                continue
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        out.append((int(entry), [a.decode() for a in argv if a]))
    return out


def start_classroom(directory: Path, *args: str, scenario: str = "disable-key", trainees: int | None = 2,
                    scheme: str = "http", port: int | None = None, env: dict | None = None) -> Served:
    port = port or free_port()
    err = directory.parent / f"{directory.name}-stderr-{port}.log"
    argv = [sys.executable, "-m", "console", "classroom", scenario, "--dir", str(directory), "--port", str(port)]
    if trainees:
        argv += ["--trainees", str(trainees)]
    with open(err, "ab") as errf:
        proc = subprocess.Popen([*argv, *args], stdout=subprocess.PIPE, stderr=errf, env={**clean_env(), **(env or {})},
                                start_new_session=True)
    header = proc.stdout.readline().decode()
    m = re.search(r"(\d+) trainees", header)
    if m is None:
        stop_session(proc)
        pytest.fail(f"cmklab classroom did not start: {header!r}\n{err.read_text()}")
    trainer = proc.stdout.readline().decode().split()[1]
    links = {}
    for _ in range(int(m.group(1))):
        name, url = proc.stdout.readline().decode().split()
        links[name] = url
    served = Served(proc, port, directory, trainer, links, err, scheme)
    wait_until_up(served)
    return served


def wait_until_up(served: Served) -> None:
    import ssl

    ctx = ssl._create_unverified_context() if served.scheme == "https" else None
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if served.proc.poll() is not None:
            pytest.fail(f"cmklab classroom exited with {served.proc.returncode}: {served.log()}")
        try:
            with urllib.request.urlopen(served.base + "/", timeout=2, context=ctx):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    pytest.fail(f"cmklab classroom did not answer within {DEADLINE}s")


def stop_classroom(served: Served) -> None:
    stop_session(served.proc)
    if served.proc.stdout:
        served.proc.stdout.close()


def http(served: Served, path: str, *, method: str = "GET", body: dict | None = None,
         headers: dict | None = None) -> tuple[int, bytes]:
    import ssl

    ctx = ssl._create_unverified_context() if served.scheme == "https" else None
    data = None if body is None else json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if data is not None else {}
    if method == "POST":
        h["Origin"] = served.origin
    h.update(headers or {})
    req = urllib.request.Request(served.base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=300, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def state(served: Served) -> dict:
    status, body = http(served, f"/trainer/{served.trainer_token}/api/state")
    assert status == 200, body
    return json.loads(body)


def row(snapshot: dict, name: str) -> dict:
    return next(t for t in snapshot["trainees"] if t["name"] == name)


def wait_for(predicate, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline}s: {what}")
        time.sleep(0.1)


def lab_step(home: Path) -> int:
    return saved_lab(home)["step"]


class Browser:
    """A browser tab's websocket to a console page's socket (textual-serve's protocol)."""

    def __init__(self, session, ws) -> None:
        self.session, self.ws = session, ws
        self.screen = b""

    async def until(self, marker: bytes, deadline: float = DEADLINE) -> bytes:
        import aiohttp

        end = time.monotonic() + deadline
        while marker not in self.screen:
            if time.monotonic() > end:
                pytest.fail(f"{marker!r} not on the screen within {deadline}s: {self.screen[-400:]!r}")
            try:
                msg = await self.ws.receive(timeout=1)
            except asyncio.TimeoutError:
                continue
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.screen += msg.data
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                pytest.fail(f"the console closed before {marker!r} showed: {self.screen[-400:]!r}")
        return self.screen

    async def keys(self, text: str) -> None:
        self.screen = b""
        await self.ws.send_json(["stdin", text])


@contextlib.asynccontextmanager
async def browser(served: Served, path: str, *, origin: str | None = None, width: int = 120, height: int = 40):
    import ssl

    import aiohttp

    ctx = ssl._create_unverified_context() if served.scheme == "https" else None
    scheme = "wss" if served.scheme == "https" else "ws"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"{scheme}://127.0.0.1:{served.port}{path}?width={width}&height={height}",
                                      headers={"Origin": origin or served.origin},
                                      **({"ssl": ctx} if ctx is not None else {})) as ws:
            yield Browser(session, ws)


def trainee_ws(served: Served, name: str) -> str:
    return f"/t/{served.token(name)}/ws"
