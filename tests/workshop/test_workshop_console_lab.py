"""The Lab pane inside the console: shown for a home that plays a scenario, objectives tick as
actions (from the console or another terminal) meet them."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from console.app import CmkApp
from console.actions import Call
from console.session import open_engine
from console.widgets.lab import LabPanel
from console.workshop import run_scenario_cli

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_helpers import lab_console  # noqa: E402


async def _settle(pilot, engine, seconds: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    await pilot.pause()
    while (engine.busy or any(w.group == "engine" and not w.is_finished for w in pilot.app.workers)) and loop.time() < end:
        await asyncio.sleep(0.05)
    await pilot.pause()


async def test_lab_pane_ticks_objectives_as_the_console_acts(tmp_path):
    home = tmp_path / "home"
    async with lab_console(home, "disable-key") as (engine, app, pilot, panel):
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


async def test_a_refusal_the_step_expects_is_marked_as_part_of_the_lesson(tmp_path):
    """disable-key step 2 asks the trainee to start vm-web and see it refused: the console says the
    refusal is the lesson; a refusal the step does not expect stays an error."""
    home = tmp_path / "home"
    async with lab_console(home, "disable-key") as (engine, app, pilot, _panel):
        app.execute(Call("set_key_attributes", ("kv-lab", "key-app"), {"enabled": False}), "disable key-app")
        await _settle(pilot, engine)
        app.lab.next()
        app.execute(Call("start_vm", ("vm-web",), {"resource_group": "rg-lab"}), "start vm-web")
        await _settle(pilot, engine)
        # (the refusal also completes the step: the step's own notification comes after)
        lesson = [n for n in app._notifications if not n.title.startswith("Step ")][-1]
        assert lesson.title.endswith(": part of the lesson") and lesson.severity == "information"
        assert lesson.message.startswith("Refused, as this step of the lab expects: ")
        app.execute(Call("start_vm", ("vm-api",), {"resource_group": "rg-lab"}), "start vm-api")
        await _settle(pilot, engine)
        other = [n for n in app._notifications if not n.title.startswith("Step ")][-1]
        assert "part of the lesson" not in other.title and other.severity == "error"
    engine.store.close()


def test_the_lab_recognises_the_refused_hint_in_short_or_long_flags(tmp_path):
    from console.workshop import open_lab

    home = tmp_path / "home"
    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(home)) == 0
    engine = open_engine(home)
    try:
        lab = open_lab(engine, home)
        assert lab.expected_refusal(["cmklab az vm start --resource-group rg-lab --name vm-web"]) is None  # step 1
        lab.goto(1)
        for line in ("cmklab az vm start --resource-group rg-lab --name vm-web", "az vm start -g RG-LAB -n vm-web"):
            hint = lab.expected_refusal([line])
            assert hint is not None and hint.refused, line
        assert lab.expected_refusal(["cmklab az vm start -g rg-lab -n vm-api"]) is None
        assert lab.expected_refusal(["cmklab az vm deallocate -g rg-lab -n vm-web"]) is None
    finally:
        engine.store.close()


async def test_the_disks_pane_encrypt_form_is_recognised_as_workshop_5s_refusal(tmp_path):
    """The disks pane's ``c`` form runs ``az disk update ... --disk-encryption-set des-cmk`` (no
    ``--encryption-type``): step 1's expected refusal, and it meets the step."""
    home = tmp_path / "home"
    async with lab_console(home, "encrypt-existing-disks") as (engine, app, pilot, _panel):
        app.execute(Call("update_disk", ("vm-legacy-data", "rg-lab"), {"disk_encryption_set": "des-cmk"}),
                    "encrypt vm-legacy-data")
        await _settle(pilot, engine)
        lesson = [n for n in app._notifications if not n.title.startswith("Step ")][-1]  # (then the step's own)
        assert lesson.message.startswith("Refused, as this step of the lab expects: "), lesson.message
        panel = app.screen.query_one(LabPanel)
        panel.refresh_lab()
        assert all(r.met for r in panel.results), [(r.label, r.detail) for r in panel.results if not r.met]
    engine.store.close()


async def test_the_encrypt_form_a_trainee_submits_on_a_running_vm_meets_workshop_5s_step_1(tmp_path):
    """Workshop 5 step 1 as a trainee plays it at 80x24: disks pane, ``c`` on vm-legacy-data, Tab to the
    button, Enter. The form's what-if foresaw the refusal and showed it in the form without asking the engine,
    so no refusal was logged and "the switch ... was tried, and refused" never ticked: the step could not be
    met from the console. A foreseen refusal goes to the engine, which refuses (and logs it) for real."""
    from console.modals.form import FormModal
    from console.screenshots import settle, wait_for_screen

    from tests.console.test_console_dialogs import wait_until

    home = tmp_path / "home"
    assert run_scenario_cli(["run", "encrypt-existing-disks", "--no-console"], home=str(home)) == 0
    engine = open_engine(home)
    app = CmkApp(engine, poll=False, frozen=True)
    said = []  # every notification's title (the app's own list drops them when they time out: on a loaded
    real_notify = app.notify  # machine, before the test looked)

    def notify(*args, **kwargs):
        said.append(kwargs.get("title"))
        return real_notify(*args, **kwargs)
    app.notify = notify
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("colon", *"disks", "enter")
        await pilot.pause()
        assert app.main.rows_by_key[app.main.table.cursor_key].name == "vm-legacy-data"
        await pilot.press("c")
        await wait_for_screen(pilot, FormModal)
        form = app.screen
        assert isinstance(form, FormModal)
        await pilot.press("tab", "enter")
        # (the form's check, then the engine's refusal: bounded waits long enough for a loaded machine)
        assert await wait_until(pilot, lambda: "OperationNotAllowed" in str(form.query_one("#form-error").render()),
                                rounds=1500)
        await settle(pilot)
        assert app.screen is form  # the refusal shows in the form, as before
        assert "Step 1 of 4 complete" in said
        panel = app.main.query_one(LabPanel)
        panel.refresh_lab()
        assert all(r.met for r in panel.results), [(r.label, r.detail) for r in panel.results if not r.met]
    engine.store.close()
