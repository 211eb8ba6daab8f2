"""The help screen's title says what it lists; the ``:`` prompt lists the pane names the help uses, and every
name it lists opens a pane."""

from __future__ import annotations

import re

from console.app import make_app
from tests.console.test_console_navigation import burst
from console.screens.help import GLOBAL_KEYS, HelpScreen
from console.screens.panes import find_pane
from console.screenshots import wait_for_screen
from console.widgets.footer import KeyFooter


async def test_the_help_title_says_key_bindings_not_the_keys_pane():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        title = str(app.screen.query_one("#dialog-title").render())
        assert "key bindings" in title and not title.endswith(": keys")


async def test_the_jump_prompt_lists_every_alias_the_help_names_and_each_name_it_lists_works():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        placeholder = app.main.query_one("#jump").placeholder
        assert placeholder.startswith("pane: ") and len(placeholder) <= 78  # whole at 80 columns
        listed = [n for word in placeholder.removeprefix("pane: ").split() for n in word.split("|")]
        assert all(find_pane(n) is not None for n in listed), [n for n in listed if find_pane(n) is None]
        jump_help = next(text for key, text in GLOBAL_KEYS if key == ":")
        named = re.findall(r":(\w+)", jump_help)
        assert named and set(named) <= set(listed), (named, listed)
        assert "l" not in [k.key for k in app.main.query_one(KeyFooter).query("FooterKey")]  # no lab, no l


async def test_the_help_scrolls_with_j_k_g_and_G_as_the_rest_of_the_console():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        scroll = app.screen.query_one("#help-scroll")
        assert scroll.max_scroll_y > 5  # more than one screen at 80x24
        await pilot.press("j", "j", "j")
        assert scroll.scroll_y == 3
        await pilot.press("k")
        assert scroll.scroll_y == 2
        await pilot.press("G")
        assert scroll.scroll_y == scroll.max_scroll_y
        await pilot.press("g")
        assert scroll.scroll_y == 0
        assert isinstance(app.screen, HelpScreen)  # none of them closed it
        burst(pilot, *["j"] * 4)  # typed quickly (in one read from the terminal): each key a line, none lost
        await pilot.pause()
        await pilot.pause()
        assert scroll.scroll_y == 4


async def test_a_key_description_that_wraps_stays_in_its_column_at_80_columns():
    """At 80x24 a key's description longer than the help's width wrapped back under the keys (the rules profiles'
    lines too): the help is drawn for its width, each continuation under the description's start."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        await pilot.pause()
        lines = str(app.screen.query_one("#help-text").render()).splitlines()
        i = next(i for i, ln in enumerate(lines) if ln.strip().startswith("esc  back:"))
        assert lines[i + 1].startswith(" " * 17) and lines[i + 1].strip().startswith(("detail", "leave", "clear"))
        j = next(i for i, ln in enumerate(lines) if ln.startswith("  seeds (this home):"))
        assert lines[j + 1].startswith("    ") and not lines[j + 1].startswith("  azure-2025")
        width = app.screen.query_one("#help-text").content_region.width
        assert all(len(ln) <= width for ln in lines if ln.startswith(" " * 4))  # the key lines, wrapped here
