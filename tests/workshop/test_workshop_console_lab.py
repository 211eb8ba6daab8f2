"""The Lab pane inside the console: shown for a home that plays a scenario, objectives tick as
actions (from the console or another terminal) meet them."""

from __future__ import annotations

import asyncio

from console.app import CmkApp
from console.screens.ops import Call
from console.session import open_engine
from console.widgets.lab import LabPanel
from console.workshop import run_scenario_cli


async def _settle(pilot, engine, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    await pilot.pause()
    while (engine.busy or any(w.group == "engine" and not w.is_finished for w in pilot.app.workers)) and loop.time() < end:
        await asyncio.sleep(0.05)
    await pilot.pause()


async def test_lab_pane_ticks_objectives_as_the_console_acts(tmp_path):
    home = tmp_path / "home"
    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(home)) == 0
    engine = open_engine(home)
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(LabPanel)
        assert app.lab is not None and panel.results
        assert not all(r.met for r in panel.results)  # step 1 not done yet
        app.execute(Call("set_key_attributes", ("kv-lab", "key-app"), {"enabled": False}), "disable key-app")
        await _settle(pilot, engine)
        assert all(r.met for r in panel.results), [(r.label, r.detail) for r in panel.results if not r.met]
        assert engine.get_vm("vm-web").power == "stopped"
    engine.store.close()


async def test_no_lab_pane_without_a_scenario(tmp_path):
    engine = open_engine(tmp_path / "plain", demo=True)
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        assert app.lab is None and not app.screen.query(LabPanel)
    engine.store.close()
