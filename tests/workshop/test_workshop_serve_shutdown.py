"""Stopping ``cmklab serve`` ends every console it started, within a bound, even a console that ignores the
quit it is sent and SIGTERM (a console stuck in a long action, or one that broke): the server does not hang
waiting for it, and no console outlives it."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_helpers import stop_session  # noqa: E402

DEADLINE = 30.0
STOP_BOUND = 25.0
"""How long stopping the server may take with a console that will not quit (it is asked, then killed)."""

STUBBORN = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
sys.stdout.write("__GANGLION__\\n")
sys.stdout.flush()
while True:  # the quit it is sent is read and ignored; so is the end of its input
    if not sys.stdin.buffer.read(4096):
        time.sleep(3600)
"""

SERVER = """
import sys
from console.workshop.serve import HostPolicy, make_server
port = int(sys.argv[1])
policy = HostPolicy.make("127.0.0.1", port)
make_server(sys.argv[2], host="127.0.0.1", port=port, title="cmklab", policy=policy).serve()
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _until(predicate, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while not (value := predicate()):
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline}s: {what}")
        time.sleep(0.05)
    return value


def test_stopping_the_server_ends_a_console_that_ignores_quit_and_sigterm(tmp_path):
    pid_file = tmp_path / "console.pid"
    command = shlex.join([sys.executable, "-c", STUBBORN, str(pid_file)])
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), command], stdout=out,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True)
    console = None
    try:
        def answering() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}: {log.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    return resp.status == 200
            except (urllib.error.URLError, ConnectionError, OSError):
                return False

        _until(answering, "the server answers")

        async def tab_open_while_the_server_stops() -> None:
            nonlocal console
            import aiohttp

            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=80&height=24",
                                              headers={"Origin": f"http://127.0.0.1:{port}"}):
                    end = time.monotonic() + DEADLINE
                    while not (pid_file.exists() and pid_file.read_text()):
                        if time.monotonic() > end:
                            pytest.fail("the console did not start")
                        await asyncio.sleep(0.05)
                    console = int(pid_file.read_text())
                    os.kill(proc.pid, signal.SIGTERM)  # the server only, as Ctrl+C's handler would be told
                    loop = asyncio.get_running_loop()
                    try:
                        await loop.run_in_executor(None, proc.wait, STOP_BOUND)
                    except subprocess.TimeoutExpired:
                        pytest.fail(f"the server did not stop within {STOP_BOUND}s (console {console} "
                                    f"{'alive' if _alive(console) else 'gone'}): {log.read_text(errors='replace')}")

        asyncio.run(tab_open_while_the_server_stops())
        _until(lambda: not _alive(console), f"console {console} ended with its server", deadline=5)
    finally:
        stop_session(proc)
        if console is not None and _alive(console):
            os.kill(console, signal.SIGKILL)
