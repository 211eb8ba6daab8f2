"""Every pane's tab is reachable with the mouse at any width: on a terminal too narrow for all of them (85
columns: a browser tab in the classroom, a small laptop window) the tab bar scrolls sideways (wheel, scrollbar)
instead of hiding the tabs past its edge."""

from __future__ import annotations

import pytest
from textual import events

from console.app import make_app
from console.screens.panes import PANES
from console.screenshots import settle


def shown(app, tab) -> bool:
    """The tab is drawn whole, inside the bar and the screen."""
    bar = app.main.query_one("#tabs-scroll")
    return bar.region.contains_region(tab.region) and app.screen.region.contains_region(tab.region)


async def wheel(pilot, down: bool) -> None:
    """One notch of the mouse wheel with the pointer over the tab bar."""
    await pilot._post_mouse_events([events.MouseScrollDown if down else events.MouseScrollUp],  # noqa: SLF001
                                   widget="#pane-tabs", offset=(2, 0))


@pytest.mark.parametrize("width", [85, 80])
async def test_every_tab_is_reachable_with_the_mouse_on_a_narrow_terminal(width):
    app = make_app()
    async with app.run_test(size=(width, 24)) as pilot:
        await settle(pilot)
        main = app.main
        hidden = [p.id for p in PANES if not shown(app, main.query_one(f"#tab-{p.id}"))]
        assert hidden, "every tab fits: this test no longer tests anything at this width"
        for pane in [*reversed(PANES), *PANES]:  # there and back: right to the last, left to the first
            tab = main.query_one(f"#tab-{pane.id}")
            for _ in range(40):
                if shown(app, tab):
                    break
                await wheel(pilot, down=tab.region.right > main.query_one("#tabs-scroll").region.right)
            assert shown(app, tab), f"tab {pane.id} cannot be brought into sight at {width} columns"
            assert await pilot.click(tab), f"tab {pane.id}: the click landed elsewhere"
            await settle(pilot)
            assert main.pane.id == pane.id, (pane.id, main.pane.id)
            assert shown(app, tab), f"tab {pane.id} went out of sight once active"


async def test_the_tab_bar_takes_two_lines_when_every_tab_fits():
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        assert app.main.query_one("#pane-tabs").region.height == 2
        assert all(shown(app, t) for t in app.main.query("#pane-tabs Tab"))
