"""The lab's progress is the store's side document (``scenario.json`` in the home): a lab open in the console
follows ``cmklab scenario check`` run in another terminal, and never writes its stale step over it."""

from __future__ import annotations

import sys
from pathlib import Path

from textual.widgets import Static

from console.session import open_engine
from console.workshop import open_lab, run_scenario_cli

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_helpers import lab_console, saved_lab  # noqa: E402


def _step_1_done_in_another_terminal(home) -> None:
    e = open_engine(home)
    e.set_key_attributes("kv-lab", "key-app", enabled=False)
    e.store.close()
    assert run_scenario_cli(["check"], home=str(home)) == 0  # moves the lab to step 2


def _progress(home) -> tuple[int, list[int]]:
    state = saved_lab(home)
    return state["step"], state["completed"]


def test_an_open_lab_rereads_the_progress_another_process_saved(lab_home, capsys):
    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(lab_home)) == 0
    engine = open_engine(lab_home)
    lab = open_lab(engine, lab_home)
    assert lab.number == 1
    _step_1_done_in_another_terminal(lab_home)
    assert lab.lines()[0].startswith("Disable a key: the VMs stop; bring them back: step 2/4")
    assert lab.number == 2 and lab.completed == {0}
    lab.check(advance=True)  # step 2 is not done: nothing to save, and nothing stale written
    assert _progress(lab_home) == (2, [1])
    assert lab.next() and lab.number == 3  # from where the other terminal left it
    engine.store.close()


async def test_the_console_lab_pane_follows_scenario_check_in_another_terminal(lab_home, capsys):
    async with lab_console(lab_home, "disable-key") as (engine, app, pilot, panel):
        title = lambda: str(panel.query_one("#lab-title", Static).render())  # noqa: E731
        assert "step 1/4" in title()
        _step_1_done_in_another_terminal(lab_home)
        assert panel.follow() is True  # what the panel's one-second timer calls
        await pilot.pause()
        assert "step 2/4" in title() and app.lab.number == 2
        assert panel.follow() is False  # nothing changed since
        panel.refresh_lab()  # the engine changed: re-check; must not write step 1 back
        assert _progress(lab_home) == (2, [1])
    assert app.lab.lines()[0].endswith("step 2/4: Try to start vm-web")
    engine.store.close()


def test_a_lab_never_saves_over_another_scenario_started_in_the_home(lab_home, capsys):
    """A console left open on disable-key while another terminal runs ``scenario run revoke-access --reset``:
    the old lab notices and never writes disable-key's progress over revoke-access's."""
    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(lab_home)) == 0
    engine = open_engine(lab_home)
    lab = open_lab(engine, lab_home)
    assert run_scenario_cli(["run", "revoke-access", "--reset", "--no-console"], home=str(lab_home)) == 0
    assert not lab.next()  # the console's >
    assert lab.superseded
    lab.check(advance=True)
    assert saved_lab(lab_home)["scenario"] == "revoke-access" and saved_lab(lab_home)["step"] == 1
    again = open_lab(engine)
    assert again.scenario.name == "revoke-access"
    engine.store.close()


async def test_the_console_lab_pane_follows_a_new_scenario_started_in_another_terminal(lab_home, capsys):
    async with lab_console(lab_home, "disable-key") as (engine, app, pilot, panel):
        title = lambda: str(panel.query_one("#lab-title", Static).render())  # noqa: E731
        assert "Disable a key" in title()
        assert run_scenario_cli(["run", "revoke-access", "--reset", "--no-console"], home=str(lab_home)) == 0
        assert panel.follow() is True
        await pilot.pause()
        assert "Revoke the set's access" in title() and "step 1/3" in title()
        assert app.lab.scenario.name == "revoke-access"
        await pilot.press("greater_than_sign")  # on the new lab: saved as revoke-access's
        assert saved_lab(lab_home)["scenario"] == "revoke-access"
    engine.store.close()
