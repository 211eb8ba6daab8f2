"""The classroom's figures (``python tests/bench/run.py --classroom``): a real ``cmklab classroom`` process
on loopback, N trainees' browsers opening their links at once over websockets.

* ``classroom_30_first_screen_s``: from the moment the 30 sockets are opened together until the last
  console has drawn its first screen (its Lab pane's "step 1/N" has arrived);
* ``classroom_console_rss_mb``: the resident memory of each console process once all have drawn it
  (mean; the detail gives the largest);
* ``classroom_progress_visible_s``: with the 30 consoles open, from a trainee's action (a ``cmklab az``
  process on their home, timed from its end) until the trainer's API shows the objective met, plus the
  page's one-second polling interval (the worst case of what the trainer's page adds).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE_POLL_S = 1.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _consoles(pid: int) -> list[int]:
    """The console processes under the classroom server: its children and its fork server's."""
    out = []
    for child in _children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        out += _children(child) if b"console.classroom.zygote" in argv else [child]
    return out


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _first_screen(port: int, path: str, marker: bytes, deadline: float, seen: list[float],
                        hold: asyncio.Event) -> float:
    import aiohttp

    t0 = time.perf_counter()
    got = b""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{port}{path}?width=120&height=40",
                                      headers={"Origin": f"http://127.0.0.1:{port}"}) as ws:
            while marker not in got:
                if time.perf_counter() - t0 > deadline:
                    raise TimeoutError(f"no first screen within {deadline}s")
                try:
                    msg = await ws.receive(timeout=1)
                except asyncio.TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.BINARY:
                    got += msg.data
                elif msg.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError("the console closed")
            elapsed = time.perf_counter() - t0
            seen.append(elapsed)
            await hold.wait()  # keep the console open until the memory and progress are measured
    return elapsed


def bench_classroom(n: int = 30, scenario: str = "disable-key") -> dict:
    """Runs the classroom with ``n`` trainees; returns the figures and their details."""
    tmp = Path(tempfile.mkdtemp(prefix="cmklab-classroom-bench-"))
    port = _port()
    proc = subprocess.Popen([sys.executable, "-m", "console", "classroom", scenario, "--trainees", str(n),
                             "--dir", str(tmp / "room"), "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=_env(), start_new_session=True)
    try:
        header = proc.stdout.readline().decode()
        trainer = proc.stdout.readline().decode().split()[1]
        links = dict(proc.stdout.readline().decode().split() for _ in range(int(re.search(r"(\d+) trainees",
                                                                                          header).group(1))))
        end = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(trainer + "/api/state", timeout=5) as r:
                    snap = json.loads(r.read())
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)
        marker = f"step 1/{len(snap['steps'])}".encode()
        paths = [u.split(f":{port}", 1)[1] + "/ws" for u in links.values()]

        async def room() -> tuple[list[float], list[float], float]:
            hold = asyncio.Event()
            seen: list[float] = []
            t0 = time.perf_counter()
            tasks = [asyncio.create_task(_first_screen(port, p, marker, 120, seen, hold)) for p in paths]
            while len(seen) < n:  # every first screen drawn; the consoles stay open
                for t in tasks:
                    if t.done():
                        t.result()  # a console that failed fails the figure at once
                await asyncio.sleep(0.05)
                if time.perf_counter() - t0 > 180:
                    raise TimeoutError("not every console drew its first screen within 180 s")
            consoles = _consoles(proc.pid)
            rss = [_rss_mb(pid) for pid in consoles]
            pss = [_pss_mb(pid) for pid in consoles]
            cpu = [_cpu_s(pid) for pid in consoles]
            latency = await asyncio.get_running_loop().run_in_executor(None, _progress_latency, tmp, trainer)
            hold.set()
            firsts = await asyncio.gather(*tasks)
            return firsts, rss, pss, cpu, latency

        load = os.getloadavg()[0]
        firsts, rss, pss, cpu, latency = asyncio.run(room())
        return {
            "classroom_30_first_screen_s": (max(firsts), f"{n} trainees opening their links at once: first screens "
                                            f"after {min(firsts):.1f}-{max(firsts):.1f} s (median "
                                            f"{statistics.median(firsts):.1f}); {os.cpu_count()} cores at load "
                                            f"{load:.1f}; the consoles' CPU to their first screens / cores: "
                                            f"{sum(cpu) / (os.cpu_count() or 1):.1f} s"),
            "classroom_console_rss_mb": (statistics.mean(rss), f"mean RSS of {len(rss)} console processes (largest "
                                         f"{max(rss):.1f} MB); PSS (shared pages split) {statistics.mean(pss):.1f} "
                                         f"MB each, {sum(pss):.0f} MB in all; CPU to the first screen "
                                         f"{statistics.median(cpu):.2f} s each (median)"),
            "classroom_progress_visible_s": (latency + PAGE_POLL_S,
                                             f"an objective met with {n} consoles open: on the trainer's API after "
                                             f"{latency:.2f} s, + {PAGE_POLL_S:.0f} s of the page's polling (worst case)"),
        }
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        subprocess.run(["rm", "-rf", str(tmp)], check=False)


def _progress_latency(tmp: Path, trainer: str) -> float:
    home = tmp / "room" / "homes"
    first = sorted(home.iterdir())[0]
    r = subprocess.run([sys.executable, "-m", "console", "--home", str(first), "az", "keyvault", "key",
                        "set-attributes", "--vault-name", "kv-lab", "--name", "key-app", "--enabled", "false"],
                       capture_output=True, env=_env(), timeout=120)
    t0 = time.perf_counter()
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode())
    while time.perf_counter() - t0 < 60:
        with urllib.request.urlopen(trainer + "/api/state", timeout=10) as resp:
            snap = json.loads(resp.read())
        row = next(t for t in snap["trainees"] if t["name"] == first.name)
        if row["objectives"] and row["objectives"][0]["state"] == "met":
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise TimeoutError("the objective did not show on the trainer's API within 60 s")
