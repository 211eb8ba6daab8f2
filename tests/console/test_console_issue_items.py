"""Pilot tests of the console issue's later items: the palette reaches every action, slow actions
show progress at once, cascades are events, wording, the command log survives a restart, the lab's
step keys work from anywhere."""

from __future__ import annotations

from textual.command import CommandPalette

from console.app import make_app
from console.modals.confirm import ConfirmModal
from console.screenshots import select, settle, wait_for_screen

SIZE = (160, 48)


async def _palette_pick(pilot, query: str) -> list[str]:
    """Type ``query`` in the open palette; the names of the hits it lists."""
    from textual.widgets import OptionList

    for ch in query:
        await pilot.press("space" if ch == " " else ch)
    options = pilot.app.screen.query_one(OptionList)
    for _ in range(100):
        await pilot.pause(0.02)
        if options.option_count:
            break
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_palette_finds_disable_key_on_the_sets_pane_and_acts_on_the_key_picked():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "sets", "des-cmk")
        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, CommandPalette)
        hits = await _palette_pick(pilot, "disable key")
        assert any(h.startswith("Disable key (all versions)") for h in hits), hits
        await pilot.press("enter")
        await wait_for_screen(pilot, CommandPalette)  # the second list: which key
        hits = await _palette_pick(pilot, "key-3072")
        assert any("kv-demo/key-3072" in h for h in hits), hits
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmModal)
        assert app.main.pane.id == "keys"
        assert app.main.selected.name == "key-3072"
        await pilot.press("y")
        await settle(pilot)
        key = next(k for k in app.engine.t["keys"].values() if k.name == "key-3072")
        assert not any(v["enabled"] for v in key.versions)
