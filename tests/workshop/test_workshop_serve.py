"""``cmklab serve``: the console in a browser through textual-serve, on loopback; ``--read-only`` for
a projector view that cannot change anything."""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from console.workshop import run_scenario_cli, serve_command
from store import state_files

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_helpers import stop_session  # noqa: E402


def state_bytes(home) -> bytes:
    return b"".join(state_files(home).values())


DEADLINE = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _serving(home, *extra: str):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
    code = "import sys; from console.workshop import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", code, "--home", str(home), "serve", "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield proc, port
    finally:
        stop_session(proc)
        if proc.stdout:
            proc.stdout.close()


def _get(proc, port: int) -> tuple[int, str]:
    """GET / on loopback, polling until the server answers or the deadline passes."""
    end = time.monotonic() + DEADLINE
    last: Exception | None = None
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"cmklab serve exited with {proc.returncode}: {proc.stdout.read().decode(errors='replace')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                return resp.status, resp.read().decode("utf-8", "replace")
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            last = e
            time.sleep(0.1)
    pytest.fail(f"cmklab serve did not answer on 127.0.0.1:{port} within {DEADLINE}s ({last})")


def test_serve_answers_on_loopback(lab_home):
    with _serving(lab_home) as (proc, port):
        status, body = _get(proc, port)
    assert status == 200
    assert "<div>cmklab</div>" in body
    assert f"ws://127.0.0.1:{port}/ws" in body


def test_serve_read_only_says_so(lab_home):
    with _serving(lab_home, "--read-only") as (proc, port):
        status, body = _get(proc, port)
    assert status == 200
    assert "<div>cmklab (read-only)</div>" in body


def test_each_browser_tab_runs_the_console_on_the_served_home(tmp_path):
    home = tmp_path / "my home"
    argv = shlex.split(serve_command(home, read_only=True))
    assert argv[:3] == [sys.executable, "-m", "console"]
    assert argv[argv.index("--home") + 1] == str(home)
    assert "--read-only" in argv and argv[-1] == "console"
    assert "--read-only" not in shlex.split(serve_command(home))


def test_serve_refuses_a_bad_port(lab_home, capsys):
    from console.workshop import run_serve

    assert run_serve(["--port", "70000"], home=str(lab_home)) == 2
    assert "port 70000" in capsys.readouterr().err


@pytest.mark.usefixtures("require_cli")
def test_read_only_cli_refuses_every_change_and_leaves_the_state_as_it_was(lab_home, capsys):
    from console.cli import run_cli

    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(lab_home)) == 0
    before = state_bytes(lab_home)
    capsys.readouterr()
    for argv in (["az", "keyvault", "key", "set-attributes", "--vault-name", "kv-lab", "--name", "key-app",
                  "--enabled", "false"],
                 ["az", "vm", "deallocate", "-g", "rg-lab", "-n", "vm-web"],
                 ["clock", "advance", "1d"]):
        rc = run_cli(argv, home=str(lab_home), read_only=True)
        err = capsys.readouterr().err
        assert rc != 0, argv
        assert "read-only" in err.lower(), err
    assert state_bytes(lab_home) == before
    assert run_cli(["az", "vm", "list", "-o", "table"], home=str(lab_home), read_only=True) == 0


def test_a_browser_tab_gets_the_console(lab_home):
    """Connecting the page's websocket starts the console (in a process of its own) on the home.
    The home holds a lab first: a read-only console never creates state, so it needs some to show."""
    import asyncio

    from console.workshop import run_scenario_cli

    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(lab_home)) == 0

    import aiohttp

    async def screen(port: int) -> bytes:
        got = b""
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=120&height=40",
                                          headers={"Origin": f"http://127.0.0.1:{port}"}) as ws:
                end = time.monotonic() + DEADLINE
                while time.monotonic() < end and b"vaults" not in got:
                    try:
                        msg = await ws.receive(timeout=1)
                    except asyncio.TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        got += msg.data
                    elif msg.type != aiohttp.WSMsgType.TEXT:
                        break
        return got

    with _serving(lab_home, "--read-only") as (proc, port):
        _get(proc, port)
        out = asyncio.run(screen(port))
    assert b"vaults" in out, out[-500:]


def test_the_served_command_opens_the_console_read_only_on_the_home(tmp_path, monkeypatch):
    """What each browser tab runs reaches ``run_console(home=..., read_only=True)``."""
    import console.app
    from console.main import main

    seen = {}
    monkeypatch.setattr(console.app, "run_console", lambda **opts: seen.update(opts) or 0)
    argv = shlex.split(serve_command(tmp_path / "h", read_only=True))
    assert main(argv[3:]) == 0
    assert seen["read_only"] is True and seen["home"] == str(tmp_path / "h")


def test_a_browser_tab_names_the_lab_never_the_servers_path(tmp_path, monkeypatch):
    """The console's header names the lab (its home's directory name), not the home's path on the server,
    which is no business of whoever has the page open. At 250 columns nothing of the header is cut."""
    import asyncio

    import aiohttp

    for var in ("CMKLAB_HOME", "CMKLAB_SEED", "CMKLAB_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "lab-kestrel"
    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(home)) == 0

    async def screen(port: int) -> bytes:
        got = b""
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=250&height=40",
                                          headers={"Origin": f"http://127.0.0.1:{port}"}) as ws:
                end = time.monotonic() + DEADLINE
                while time.monotonic() < end and not (b"vaults" in got and b"rules " in got):
                    try:
                        msg = await ws.receive(timeout=1)
                    except asyncio.TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        got += msg.data
                    elif msg.type != aiohttp.WSMsgType.TEXT:
                        break
        return got

    for extra in ((), ("--read-only",)):
        with _serving(home, *extra) as (proc, port):
            _get(proc, port)
            out = asyncio.run(screen(port))
        assert b"rules " in out, out[-500:]
        assert str(tmp_path).encode() not in out and b"store " not in out, out[-800:]
        assert b"lab-kestrel" in out, out[-800:]
