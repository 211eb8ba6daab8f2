"""A scenario's Lab is in sight from the start at any terminal size (80x24 too: the side panel, which a
narrow terminal folds away, opens on it under the table); ``l`` and ``:lab`` bring it back, and the footer
and the help name its key."""

from __future__ import annotations

import pytest
from textual.widgets import TabbedContent

from console.app import CmkApp
from console.screens.help import HelpScreen, help_text
from console.screenshots import wait_for_screen
from console.session import open_engine
from console.widgets.footer import KeyFooter
from console.widgets.lab import LabPanel
from console.workshop import run_scenario_cli
from tests.console.test_console_navigation import burst


@pytest.fixture
def lab_engine(tmp_path):
    home = tmp_path / "home"
    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(home)) == 0
    engine = open_engine(home)
    yield engine
    engine.store.close()


def lab_in_sight(app) -> bool:
    main = app.main
    panel = main.query_one(LabPanel)
    return (main.side_visible() and main.query_one("#side", TabbedContent).active == "side-lab"
            and panel.region.width > 20 and panel.region.height >= 3)


def footer_keys(app) -> list[str]:
    return [k.key for k in app.main.query_one(KeyFooter).query("FooterKey")]


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_the_lab_is_in_sight_at_start(lab_engine, size):
    app = CmkApp(lab_engine, poll=False, frozen=True)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert lab_in_sight(app)
        assert app.main.table.has_focus  # the table keeps the keys: the panes' actions work at once
        assert "l" in footer_keys(app)


async def test_l_and_colon_lab_bring_the_lab_back_at_80x24(lab_engine):
    app = CmkApp(lab_engine, poll=False, frozen=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("v")  # fold the side panel away
        await pilot.pause()
        assert not app.main.side_visible()
        await pilot.press("colon", *"lab", "enter")
        await pilot.pause()
        assert lab_in_sight(app) and app.main.query_one(LabPanel).has_focus
        assert not [n for n in app._notifications if n.title == "Unknown pane"]
        await pilot.press("escape", "t")  # back to the table, then the detail tab
        await pilot.pause()
        assert not lab_in_sight(app)
        await pilot.press("l")
        await pilot.pause()
        assert lab_in_sight(app) and app.main.query_one(LabPanel).has_focus


async def test_the_help_names_the_lab_key(lab_engine):
    assert "show the Lab" not in help_text("vaults", lab=False)
    assert "show the Lab" in help_text("vaults", lab=True)
    app = CmkApp(lab_engine, poll=False, frozen=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "lab" in app.main.query_one("#jump").placeholder.split()
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        assert "show the Lab" in str(app.screen.query_one("#help-text").render())


async def _keys_at_once(app, pilot, *keys: str) -> None:
    """Keys that arrive together (typed quickly, or in one read from a terminal), as the driver hands them over."""
    burst(pilot, *keys)
    await pilot.pause()
    await pilot.pause()


async def test_the_lab_scrolls_with_j_k_g_G_and_with_keys_typed_quickly_at_80x24(lab_engine):
    app = CmkApp(lab_engine, poll=False, frozen=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        panel = app.main.query_one(LabPanel)
        assert panel.has_focus and panel.max_scroll_y >= 6  # (80x24: the Lab shows a few of its lines)
        await _keys_at_once(app, pilot, *["j"] * 3, *["down"] * 3)
        assert panel.scroll_y == 6  # each key a line: none lost
        await _keys_at_once(app, pilot, "k", "up")
        assert panel.scroll_y == 4
        await pilot.press("G")
        await pilot.pause()
        assert panel.scroll_y == panel.max_scroll_y
        await pilot.press("g")
        await pilot.pause()
        assert panel.scroll_y == 0


async def test_a_completed_step_is_notified_and_the_lab_shows_its_status_at_80x24(lab_engine):
    app = CmkApp(lab_engine, poll=False, frozen=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        panel = app.main.query_one(LabPanel)
        assert panel.lab.number == 1 and panel.scroll_y == 0
        # step 1 of disable-key: disable the key (as its hint does, through the engine the console acts on)
        lab_engine.set_key_attributes("kv-lab", "key-app", enabled=False)
        app.main.refresh_data()
        await pilot.pause()
        await pilot.pause()
        titles = [n.title for n in app._notifications]
        assert f"Step 1 of {panel.lab.total} complete" in titles
        assert "Press > for step 2." in [n.message for n in app._notifications]
        assert "Step complete" in str(panel.query_one("#lab-status").render())
        assert panel.scroll_y == panel.max_scroll_y > 0  # the status line is in sight


async def test_at_80x24_notifications_leave_the_lab_readable(lab_engine):
    """At 80x24 the Lab is under the table, where notifications came up (bottom right): after an action the
    action's and the step's notifications hid the right half of the Lab for ten seconds ("Step complete. Press >
    for the next st▌", objectives cut). While a scenario is played they show at the top, over the table."""
    from textual.widgets._toast import Toast

    from console.actions import Call
    from console.screenshots import settle

    app = CmkApp(lab_engine, poll=False, frozen=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause()
        await pilot.press("colon", *"keys", "enter")
        await pilot.pause()
        app.execute(Call("set_key_attributes", ("kv-lab", "key-app"), {"enabled": False}), "disable key-app")
        await settle(pilot)
        await pilot.pause(0.3)
        panel = app.main.query_one(LabPanel)
        toasts = [t for t in app.screen.query(Toast) if t.region.area]
        assert len(toasts) >= 2, [(n.title, n.message) for n in app._notifications]
        for toast in toasts:
            assert not toast.region.overlaps(panel.region), (toast.region, panel.region, [(n.title, n.message) for n in app._notifications])


def _screen_text(app) -> str:
    import html
    import re

    svg = app.export_screenshot()
    return html.unescape("".join(re.findall(r">([^<>]*)</text>", svg))).replace("\xa0", " ")


@pytest.mark.parametrize("scenario", ["rotate-no-downtime", "disable-key", "ultra-disk-trap", "revoke-access",
                                      "encrypt-existing-disks", "crypto-shredding"])
async def test_at_80x24_a_steps_console_route_is_in_sight_without_scrolling(tmp_path, scenario):
    """At 80x24 the Lab showed eight lines: the step's title and narrative, and the console's route ("console:
    keys pane: select key-prod, r (rotate).") was below them, out of sight, the table holding the keys (j and k
    moved its rows, not the Lab). A trainee saw what to do only once they thought of l then j. The console's route
    comes first among the hints, and the Lab, while a scenario is played, takes more of a narrow terminal."""
    home = tmp_path / "home"
    assert run_scenario_cli(["run", scenario, "--no-console"], home=str(home)) == 0
    engine = open_engine(home)
    try:
        app = CmkApp(engine, poll=False, frozen=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.pause()
            panel = app.main.query_one(LabPanel)
            assert panel.scroll_y == 0 and app.main.table.has_focus
            assert "console: " in _screen_text(app), _screen_text(app)
            assert app.main.table.region.height >= 4  # the table keeps its header and a few rows
    finally:
        engine.store.close()
