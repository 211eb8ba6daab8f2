"""The console's exported session script says how to replay it, and that replay works: a new home with
the landscape the session started from (the scenario being played, or the demo), then the script."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.app import CmkApp
from console.actions import Call
from console.session import open_engine
from console.workshop import run_scenario_cli
from store import state_files

ROOT = Path(__file__).resolve().parents[2]


async def _settle(pilot, engine, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    await pilot.pause()
    while (engine.busy or any(w.group == "engine" and not w.is_finished for w in pilot.app.workers)) and loop.time() < end:
        await asyncio.sleep(0.05)
    await pilot.pause()


sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_helpers import replay_lines  # noqa: E402


@pytest.mark.parametrize("start", ["scenario", "demo"])
async def test_the_exported_script_says_how_to_replay_it_and_that_replay_works(tmp_path, start):
    home = tmp_path / "trainer"
    if start == "scenario":
        assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(home)) == 0
        engine = open_engine(home)
        calls = [Call("set_key_attributes", ("kv-lab", "key-app"), {"enabled": False}),
                 Call("advance_clock", ("1d",))]
    else:
        engine = open_engine(home, seed=7, demo=True)
        calls = [Call("advance_clock", ("2d",))]
    app = CmkApp(engine, poll=False, frozen=True)
    script = tmp_path / "session.sh"
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        for call in calls:
            app.execute(call, call.method)
            await _settle(pilot, engine)
        app.export_log(str(script))
    engine.store.close()

    text = script.read_text()
    replay = replay_lines(text)
    if start == "scenario":
        assert "cmklab scenario run disable-key --no-console" in replay
        assert not any("demo" in ln for ln in replay)
    else:
        assert replay[1].startswith("cmklab --seed 7 demo")
    assert "demo with the same seed" not in text

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMKLAB_", "TEXTUAL"))}
    env.update(PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""), TMPDIR=str(scratch),
               PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(replay)], env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    [laptop] = list(scratch.iterdir())
    assert state_files(laptop) == state_files(home)
