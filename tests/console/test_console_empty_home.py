"""The console on an empty home: every action that needs no row opens its form, and a list with nothing to
choose from yet (no vault, key, set or group) says so; nothing crashes (Textual's Select refused the wrong
"nothing selected" value the forms gave it: the console ended with a traceback)."""

from __future__ import annotations

import pytest
from textual.widgets import Select, Static

from console.actions import OPS
from console.app import make_app
from console.modals.form import FormModal
from console.screenshots import settle, wait_for_screen

SIZE = (160, 48)
CREATES = [op for op in OPS if op.target is None and op.special is None]


@pytest.mark.parametrize("op", CREATES, ids=[op.id for op in CREATES])
async def test_every_form_opens_on_an_empty_home(op):
    app = make_app(demo=False)
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane(next((p for p in op.panes if p != "*"), "vaults"))
        await pilot.pause()
        app.main.run_op(op.id)
        await wait_for_screen(pilot, FormModal)
        assert isinstance(app.screen, FormModal), app.screen
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.main


@pytest.mark.parametrize("op_id, pane, empty", [("key.create", "keys", {"vault"}),
                                                ("des.create", "sets", {"rg", "key"}),
                                                ("vm.create", "vms", {"rg"})])
async def test_a_list_with_nothing_to_choose_says_to_create_one_and_the_form_stays(op_id, pane, empty):
    app = make_app(demo=False)
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane(pane)
        await pilot.pause()
        app.main.run_op(op_id)
        await wait_for_screen(pilot, FormModal)
        form = app.screen
        blank = {s.id[2:] for s in form.query(Select) if s.value is Select.NULL}
        assert blank == empty
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form  # (not submitted)
        for name in empty:
            assert "none to choose from yet: create one first" in str(form.query_one(f"#err-{name}", Static).render())
        assert not app.engine.list_vaults() and not app.engine.list_vms()
