"""Pilot tests of moving around: the detail, the footer and every action follow the table's cursor.

A terminal delivers keys as fast as they are typed or repeated (a held-down arrow): ``burst`` hands
them to the app the way its driver does, all at once, without waiting for the screen to catch up
between two keys (``pilot.press`` waits after each key, which hides ordering bugs).
"""

from __future__ import annotations

from textual import events
from textual.widgets._toast import Toast

from console.app import make_app
from console.modals.confirm import ConfirmModal
from console.screenshots import open_dialog, wait_for_screen

SIZE = (160, 48)


def burst(pilot, *keys: str) -> None:
    """Queue ``keys`` as the terminal driver does when they arrive together (no pause in between)."""
    app = pilot.app
    for key in keys:
        char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


def held_what_if(app):
    """The engine's what-if held in its thread until ``release`` is set (``entered`` is set once it is asked)."""
    import threading

    entered, release = threading.Event(), threading.Event()
    real_what_if = app.engine.what_if

    def slow_what_if(*args, **kwargs):
        entered.set()
        release.wait(10)  # bounded: a failing test does not keep its thread
        return real_what_if(*args, **kwargs)

    app.engine.what_if = slow_what_if
    return entered, release


async def rested(pilot) -> None:
    """Wait until the cursor has rested: after a held key the side panel follows once no key came for
    ``SETTLE_SECONDS`` (bounded: a panel that never settles fails the test's next assertion)."""
    for _ in range(200):
        await pilot.pause()
        if pilot.app.main._settle_timer is None:
            return
        await pilot.pause(0.01)


def cursor_row(app):
    main = app.main
    return main.rows_by_key[main.table.cursor_key]


def detail_head(app) -> str:
    """The first line of the detail panel (it names the row it describes)."""
    return str(app.main.query_one("#detail-why").render()).splitlines()[0]


def key_name(key) -> str:
    return f"{key.vault}/{key.name}"


async def test_quick_arrows_leave_the_detail_on_the_cursors_row():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        first = cursor_row(app)
        burst(pilot, "down", "down")
        await rested(pilot)
        row = cursor_row(app)
        assert row is not first
        assert app.main.table.cursor == 2
        assert app.main.selected is row
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(row)} ")

        burst(pilot, *["up"] * 5, "down")  # a held-down arrow (past the top), then one back
        await rested(pilot)
        row = cursor_row(app)
        assert app.main.table.cursor == 1
        assert app.main.selected is row
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(row)} ")


async def test_an_action_pressed_right_after_quick_arrows_hits_the_row_the_detail_names():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        burst(pilot, "down", "down", "x")  # delete: asks first, naming its target
        await wait_for_screen(pilot, ConfirmModal)
        row = app.main.rows_by_key[app.main.table.cursor_key]
        assert app.main.table.cursor == 2
        assert app.screen.query_one("#dialog-title").render().plain.startswith(f"Delete key {key_name(row)}?")
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(row)} ")


async def test_a_click_then_quick_arrows_keep_detail_and_cursor_together():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.click("#table", offset=(3, 2))  # header is line 0: line 2 is the second key
        await pilot.pause()
        assert app.main.table.cursor == 1
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")
        burst(pilot, "down", "down")
        await rested(pilot)
        assert app.main.table.cursor == 3
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")


async def test_at_start_the_detail_describes_the_highlighted_first_row():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        main = app.main
        assert main.table.cursor == 0
        first = cursor_row(app)
        assert main.selected is first
        await rested(pilot)
        assert detail_head(app).startswith(f"vault {first.name} ")
        await pilot.press("up")  # already at the top: nothing moves, the detail stays filled
        await rested(pilot)
        assert detail_head(app).startswith(f"vault {first.name} ")
        await pilot.press("2")
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")


async def test_at_80_columns_the_detail_shown_with_v_describes_the_first_row():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.main.side_visible()
        await pilot.press("v")
        await pilot.pause()
        assert app.main.side_visible()
        await rested(pilot)
        assert detail_head(app).startswith(f"vault {cursor_row(app).name} ")


# ---- k9s / lazygit / htop habits ---------------------------------------------------------------------------

async def test_j_and_k_move_down_and_up_and_the_detail_follows():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.press("j", "j")
        assert app.main.table.cursor == 2
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")
        await pilot.press("k")
        assert app.main.table.cursor == 1
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")


async def test_g_G_home_and_end_go_to_the_first_and_last_row():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        last = len(app.main.table.keys) - 1
        assert last >= 2
        await pilot.press("G")
        assert app.main.table.cursor == last
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")
        await pilot.press("g")
        assert app.main.table.cursor == 0
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")
        await pilot.press("end")
        assert app.main.table.cursor == last
        await pilot.press("home")
        assert app.main.table.cursor == 0


async def test_grant_moved_from_g_to_A_in_keys_footer_help_and_palette():
    from textual.content import Content

    from console.commands import ConsoleCommands
    from console.modals.form import FormModal
    from console.screens.help import help_text
    from console.screenshots import select

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "sets", "des-cmk")
        await pilot.press("j", "g")  # g is "first row" now: no form opens
        await pilot.pause()
        assert app.screen is app.main and app.main.table.cursor == 0
        footer_keys = {b.binding.key: b.binding.description for b in app.main.active_bindings.values()
                       if b.binding.show}
        assert footer_keys.get("A") == "grant" and "g" not in footer_keys
        shown = Content.from_markup(help_text("sets")).plain
        assert "A  Grant access to keys" in shown
        assert "g G  home end  first / last row" in shown and "k j  previous / next row" in shown
        palette = {name: where for name, _, where in ConsoleCommands(app.screen)._entries()}
        assert palette["Grant access to keys"] == "key A"  # on the sets pane, where it applies
        await pilot.press("A")
        await wait_for_screen(pilot, FormModal)
        assert "Grant" in app.screen.query_one("#dialog-title").render().plain


def test_no_action_key_is_taken_by_the_table_s_navigation_keys():
    from console.actions import OPS
    from console.widgets.vtable import VirtualTable

    navigation = {key.strip() for b in VirtualTable.BINDINGS for key in b.key.split(",")}
    assert {"j", "k", "g", "G", "home", "end"} <= navigation
    taken = sorted(f"{op.key} ({op.id})" for op in OPS if op.key in navigation)
    assert not taken, f"the table would swallow these action keys: {taken}"


async def test_c_changes_a_set_s_key_now_that_k_moves_up():
    from console.modals.form import FormModal
    from console.screenshots import select

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "sets", "des-double")
        await pilot.press("k")
        assert app.screen is app.main and app.main.selected.name == "des-cmk"
        await pilot.press("c")
        await wait_for_screen(pilot, FormModal)
        assert "Change the key of set des-cmk" in app.screen.query_one("#dialog-title").render().plain


async def test_escape_goes_back_from_the_detail_to_the_table():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "j", "enter")
        assert app.focused is app.main.query_one("#detail")
        await pilot.press("j", "escape")  # j scrolls the detail; the row stays
        assert app.focused is app.main.table
        assert app.main.table.cursor == 1


async def test_escape_folds_the_detail_that_enter_opened_on_a_narrow_terminal():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2", "j")
        assert not app.main.side_visible()
        await pilot.press("enter")
        await pilot.pause()
        assert app.main.side_visible() and app.focused is app.main.query_one("#detail")
        await rested(pilot)
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")
        await pilot.press("escape")
        await pilot.pause()
        assert not app.main.side_visible()
        assert app.focused is app.main.table and app.main.table.cursor == 1


async def test_the_focused_panel_is_marked():
    from textual.color import Color

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        main = app.main
        title, side = main.query_one("#pane-title"), main.query_one("#side")
        primary = Color.parse(app.theme_variables["primary"])
        assert app.focused is main.table
        assert title.styles.background.rgb == primary.rgb  # the table's title bar: the table has the focus
        assert side.styles.border_left[1].rgb != primary.rgb
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is main.query_one("#detail")
        assert title.styles.background.rgb != primary.rgb
        assert side.styles.border_left[1].rgb == primary.rgb  # the side panel's edge: the detail has it


# ---- the filter ----------------------------------------------------------------------------------------------

async def test_a_filter_that_hides_every_row_says_so_and_esc_clears_it():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        total = len(app.main.table.keys)
        await pilot.press("slash", *"xyz")
        await pilot.pause()
        table = app.main.table
        assert table.keys == []
        line = table.render_line(1).text.strip()
        assert line == f"no keys match the filter 'xyz' ({total} hidden): esc clears it"
        assert "press n" not in line
        await pilot.press("enter", "escape")  # keep the filter, then clear it from the table
        await pilot.pause()
        assert len(table.keys) == total and app.main.selected is not None


async def test_an_empty_pane_without_a_filter_still_says_how_to_fill_it():
    from engine import Engine

    app = make_app(Engine.in_memory(seed=1))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        assert app.main.table.render_line(1).text.strip() == "no keys: press n to generate one (i to import)"


# ---- the footer at 80 columns --------------------------------------------------------------------------------

async def test_at_80_columns_the_footer_never_spills_and_points_at_help_for_what_does_not_fit():
    from textual.content import Content
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    from console.screens.help import help_text

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        for pane in ("vaults", "keys", "sets", "disks", "vms", "log"):
            await pilot.press("colon", *pane, "enter")
            await pilot.pause()
            footer = app.main.query_one(Footer)
            keys = list(footer.query(FooterKey))
            palette = [k for k in keys if k.has_class("-command-palette")]
            items = [k for k in keys if not k.has_class("-command-palette")]
            assert len(palette) == 1 and palette[0].region.right <= footer.region.right
            assert footer.max_scroll_x == 0, f"{pane}: the footer's keys run past its edge"
            for item in items:
                assert item.region.right <= palette[0].region.x, f"{pane}: {item.key} {item.description} spills"
            wanted = [b for (_n, b, _e, _t) in app.main.active_bindings.values() if b.show]
            shown = [k.key for k in items if not k.has_class("-more")]
            assert shown[0] == "question_mark"  # help always shows
            more = [k for k in items if k.has_class("-more")]
            hidden = [b for b in wanted if b.key not in shown]
            if hidden:
                assert len(more) == 1 and more[0].description == f"{len(hidden)} more", pane
                listed = Content.from_markup(help_text(app.main.pane.id)).plain
                for b in hidden:  # what the footer leaves out, ? lists
                    assert b.description in listed or b.tooltip in listed or b.key == "q", (pane, b.key)
            else:
                assert not more
        assert app.main.pane.id == "log"


async def test_the_more_item_opens_the_help():
    from console.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.click(".-more")
        await wait_for_screen(pilot, HelpScreen)
        assert isinstance(app.screen, HelpScreen)


async def test_the_footer_fits_again_after_the_terminal_shrinks():
    from textual.widgets import Footer

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        footer = app.main.query_one(Footer)
        assert not footer.query(".-more")  # everything fits at 160 columns
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        await pilot.pause()
        assert footer.max_scroll_x == 0 and len(footer.query(".-more")) == 1


async def test_keys_typed_right_after_colon_or_slash_all_reach_the_prompt():
    """`:disks` and `/data` typed at terminal speed: the first letter after `:` or `/` goes to the prompt that
    the key opened, not to the table it leaves (it was lost: `:disks` asked for a pane named 'isks')."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        burst(pilot, "colon", "d", "i", "s", "k", "s", "enter", "slash", "d", "a", "t", "a", "enter", "colon", "v")
        await pilot.pause()
        assert app.main.pane.id == "disks"
        assert app.main.filters.get("disks") == "data"
        assert app.main.query_one("#jump").value == "v"  # Enter closed the filter before `:v` came


# ---- the filter prompt ---------------------------------------------------------------------------------------------

async def test_the_filter_prompt_lies_over_the_footer_and_moves_nothing():
    """Opening ``/`` lays nothing out again: the prompt takes the footer's line (its keys are the prompt's while
    it is open), the table and the side panel keep their size and the footer is not rebuilt under it; closing it
    shows the table's keys again."""
    from textual.widgets._footer import FooterKey

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        main = app.main
        footer = main.query_one("KeyFooter")
        keys_before = list(footer.query(FooterKey))
        sizes = (main.table.size, main.query_one("#side").size)
        await pilot.press("slash")
        await pilot.pause()
        prompt = main.query_one("#filter")
        assert prompt.has_focus and prompt.region == footer.region
        assert (main.table.size, main.query_one("#side").size) == sizes
        assert list(footer.query(FooterKey)) == keys_before  # not rebuilt under the prompt
        assert main.query_one("#main").has_class("-focused")  # the prompt works on the table
        await pilot.press(*"disk", "enter")
        await pilot.pause()
        assert not prompt.display and main.table.has_focus
        assert (main.table.size, main.query_one("#side").size) == sizes
        shown = {k.key for k in footer.query(FooterKey)}
        assert {"slash", "colon", "question_mark"} <= shown  # the table's keys


def cursor_in_view(table) -> bool:
    """The cursor's row is among the rows drawn (the table's first line is its header)."""
    top = int(table.scroll_y)
    return top <= table.cursor < top + table._body_height()


async def test_a_pane_longer_than_the_screen_scrolls_with_the_cursor_from_the_first_key():
    """At 80x24 the events pane (30 rows, the cursor on the newest) opened from a fresh console: the rows in
    view are the cursor's, and j / k / g / G scroll the list from the first key (the list stayed at its top,
    its scroll bar missing, until a resize: the table set its own height without the scroll bars learning it)."""
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("colon", *"events", "enter")
        await pilot.pause()
        table = app.main.table
        assert len(table.keys) > table._body_height()  # longer than the screen
        assert table.cursor == len(table.keys) - 1
        assert table.show_vertical_scrollbar
        assert cursor_in_view(table) and table.scroll_y > 0
        await pilot.press("g")
        assert table.cursor == 0 and table.scroll_y == 0
        for _ in range(table._body_height() + 3):
            await pilot.press("j")
        assert cursor_in_view(table) and table.scroll_y > 0
        await pilot.press("G")
        assert cursor_in_view(table)
        await pilot.press("2", "colon", *"events", "enter")  # and again on the way back to a long pane
        await pilot.pause()
        await pilot.press("k", "k")
        assert cursor_in_view(table)


# ---- what the user typed is shown as typed, never read as markup ----------------------------------------------

def title_text(app) -> str:
    return str(app.main.query_one("#pane-title").render())


async def test_brackets_and_backslashes_typed_in_the_filter_show_as_typed_in_the_title():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "slash", "left_square_bracket")
        await pilot.pause()
        assert "filter /[ → 0" in title_text(app)  # it read '/[[/] → 0': the '[' took the closing tag for text
        await pilot.press("slash")  # '[/' was read as a closing tag that matches none: the console crashed
        await pilot.pause()
        assert "filter /[/ → 0" in title_text(app)
        for typed in ("[b]key[/b]", "[$text-error]x", "key\\"):
            app.main.query_one("#filter").value = typed
            await pilot.pause()
            assert f"filter /{typed} → " in title_text(app), typed


async def test_a_notification_shows_the_text_the_user_typed_as_typed():
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("colon", *"[b]nope[/b]", "enter")
        await pilot.pause()
        toast = list(app._notifications)[-1]
        assert toast.title == "Unknown pane"
        assert "'[b]nope[/b]'" in str(app.screen.query_one(Toast).render())


def test_the_detail_s_cause_lines_show_their_text_as_it_is():
    from console.widgets.detail import lines_content

    lines = [("key [b]x[/b] disabled", "bold"), ("a tag ending in \\", "bad"), ("[$text-error]y", "")]
    assert lines_content(lines).plain == "\n".join(text for text, _ in lines)


async def test_a_key_typed_just_before_slash_or_colon_is_handled_first():
    """`2` then `/` in one read from the terminal, from the events pane: the keys pane comes first, then its filter
    (the `/` was acted on as the app received it, before the table had handed the `2` on: the `2` then met the
    filter prompt, which took it as text, and the pane never changed). Same for `:`, and for keys after them."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await pilot.pause()
        assert app.main.pane.id == "events"
        burst(pilot, "2", "slash", "k", "e", "y", "enter")
        await pilot.pause()
        await pilot.pause()
        assert app.main.pane.id == "keys"
        assert app.main.filters.get("keys") == "key"
        assert not app.main.filters.get("events")
        burst(pilot, "escape", "4", "colon", "v", "m", "s", "enter", "3", "slash", "x")
        await pilot.pause()
        await pilot.pause()
        assert app.main.pane.id == "sets"  # :vms, then 3
        assert app.main.query_one("#filter").value == "x"


async def test_keys_typed_right_after_an_actions_key_go_to_its_dialog():
    """`n` and a name typed at once: the form opens in a worker, and the letters came before it, to the table (`k`
    moved the cursor, `v` folded the detail, `x` asked to delete the vault). They wait for the form now and fill
    its first field; keys typed right after a destructive action's key go to its confirmation (`x` `n`: asked,
    then answered no), in order, none lost."""
    from console.modals.form import FormModal

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.main.pane.id == "vaults"
        side = app.main.side_visible()
        burst(pilot, "n", "k", "v", "-", "x")
        await wait_for_screen(pilot, FormModal)
        await pilot.pause()
        form = app.screen
        assert form.values()["name"] == "kv-x"
        assert app.main.side_visible() == side
        await pilot.press("escape")
        await pilot.pause()
        vaults = len(app.engine.list_vaults())
        burst(pilot, "x", "n", "j")
        for _ in range(50):
            await pilot.pause()
        assert not any(isinstance(s, (ConfirmModal, FormModal)) for s in app.screen_stack)
        assert len(app.engine.list_vaults()) == vaults and app.main.table.cursor == 1  # no, then down


async def test_slash_typed_right_after_enter_focuses_the_filter_of_the_pane():
    """Enter on a row then `/` and a letter, at terminal speed: the detail opens, then the filter of the pane has the
    focus and the letter (the table's Enter was said in a message handled once it had bubbled up to the screen,
    after the `/`: the detail took the focus from the open prompt, and the keys typed next went to the detail)."""
    for size in (SIZE, (80, 24)):
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await pilot.press("2", "j")
            await pilot.pause()
            burst(pilot, "enter", "slash", "3")
            for _ in range(5):
                await pilot.pause()
            main = app.main
            prompt = main.query_one("#filter")
            assert main.side_visible()  # Enter opened the detail
            assert app.focused is prompt and prompt.display
            assert main.filters.get("keys") == "3"
            burst(pilot, "0", "7", "2", "enter", "j")
            for _ in range(5):
                await pilot.pause()
            assert main.filters.get("keys") == "3072" and not prompt.display
            assert app.focused is main.table


async def test_keys_typed_while_a_slow_what_if_runs_wait_for_its_confirmation(monkeypatch):
    """A what-if that takes long (a disable of a key serving many disks on a big store; here held by a stub): the keys
    typed meanwhile, even after seconds, never reach the table under the coming dialog (they were held 3 s, then went
    to the table: `j` moved its cursor, `v` folded the detail, `x` asked to delete another row). The screen says the
    engine is being asked; the keys wait, in order, for the confirmation (`n` answers it)."""
    import time as real_time

    import console.app as console_app
    from console.screenshots import select

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "keys", "key-3072")
        main = app.main
        cursor, side = main.table.cursor, main.side_visible()
        entered, release = held_what_if(app)
        burst(pilot, "e", "j", "j")  # disable (all versions): asks first
        while not entered.is_set():
            await pilot.pause(0.01)

        class Later:  # the clock, an hour on: the key holds' deadlines have passed
            @staticmethod
            def monotonic() -> float:
                return real_time.monotonic() + 3600

        monkeypatch.setattr(console_app, "time", Later)
        app._expire_waits()  # what the app's timer does a few times a second
        burst(pilot, "j", "v", "x")  # typed long after the action's key
        for _ in range(100):
            await pilot.pause(0.01)
            if main.query_one("#busy").display:
                break
        assert app.screen is main and main.table.cursor == cursor and main.side_visible() == side
        assert "asking the engine what it would do" in str(main.query_one("#busy-label").render())
        release.set()
        await wait_for_screen(pilot, ConfirmModal)
        for _ in range(5):
            await pilot.pause()
        assert app.screen.query_one("#dialog-title").render().plain.startswith("Disable key kv-demo/key-3072")
        assert not main.query_one("#busy").display
        burst(pilot, "n")
        for _ in range(20):
            await pilot.pause()
        assert not any(isinstance(s, ConfirmModal) for s in app.screen_stack)
        assert main.table.cursor == cursor and main.side_visible() == side
        assert all(v["enabled"] for v in app.engine.find_key("kv-demo", "key-3072").versions)  # no: nothing disabled


async def test_a_dialog_shows_its_own_keys_not_the_main_screens():
    """The main screen's footer (`n new`, `x delete`, `/ filter` ...) showed through a dialog's backdrop, offering keys
    that do nothing there. Under a dialog, the help or the palette it is hidden; a dialog's footer shows its own keys;
    once the dialog closes, the main screen's keys show again."""
    from textual.command import CommandPalette
    from textual.widgets._footer import FooterKey

    from console.modals.form import FormModal
    from console.screens.help import HelpScreen
    from console.screenshots import select
    from console.widgets.footer import KeyFooter

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await select(pilot, "keys", "key-3072")
        main = app.main
        footer = main.query_one(KeyFooter)

        def own_keys() -> set[str]:
            return {k.key for k in app.screen.query(KeyFooter).first().query(FooterKey)}

        async def opened(keys, screen_type, expected: set[str] | None) -> None:
            await pilot.press(*keys)
            await wait_for_screen(pilot, screen_type)
            for _ in range(5):
                await pilot.pause()
            assert not footer.visible  # the main screen's keys are not shown under it
            if expected is not None:
                assert own_keys() == expected
            else:
                assert not app.screen.query(KeyFooter)
            await pilot.press("escape")
            for _ in range(5):
                await pilot.pause()
            assert app.screen is main and footer.visible
            assert {"question_mark", "n", "ctrl+p"} <= {k.key for k in footer.query(FooterKey)}

        # (its what-if is taller than the dialog at 80x24: it scrolls, and the footer says so with ↓)
        await opened(["e"], ConfirmModal, {"y", "n", "down"})
        await opened(["n"], FormModal, {"escape", "ctrl+s"})
        await opened(["question_mark"], HelpScreen, {"escape"})
        await opened(["ctrl+p"], CommandPalette, None)


async def test_ctrl_q_quits_while_keys_wait_for_an_actions_dialog():
    """The keys typed while an action's what-if runs wait for its dialog however long it takes; ctrl+q (quit) never
    waits: a what-if that would take minutes does not keep the console open."""

    from console.screenshots import select

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "keys", "key-3072")
        entered, release = held_what_if(app)
        burst(pilot, "e", "j")
        while not entered.is_set():
            await pilot.pause(0.01)
        assert app._held is not None  # the `j` waits for the dialog
        burst(pilot, "ctrl+q")
        for _ in range(20):
            await pilot.pause()
            if app.return_code is not None:
                break
        release.set()
        assert app.return_code == 0


async def test_a_key_typed_right_after_a_forms_enter_goes_to_the_confirmation_that_follows():
    """Change a set's key: Enter (here ctrl+s) then `y` at once. The form asks the engine first (its check, in a thread;
    held here by a stub): the `y` went to the form's field meanwhile, and the confirmation that followed waited for
    an answer already given. It waits for the confirmation now, which it answers."""
    import threading

    from console.modals.form import FormModal

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        form = await open_dialog(pilot, "sets", "des-cmk", "c", FormModal)
        field = form.query_one("#f-key")
        other = next(value for _label, value in form.spec.fields[0].options if value != field.value)
        field.value = other
        await pilot.pause()
        entered, release = threading.Event(), threading.Event()
        real_check = form.spec.check

        def slow_check(call):
            entered.set()
            release.wait(10)  # bounded: a failing test does not keep its thread
            return real_check(call)

        form.spec.check = slow_check
        burst(pilot, "ctrl+s", "y")
        while not entered.is_set():
            await pilot.pause(0.01)
        for _ in range(5):
            await pilot.pause()
        release.set()
        for _ in range(200):
            await pilot.pause(0.01)
            if app.screen is app.main and not app._pending:  # the form closed once the engine had acted
                break
        assert not any(isinstance(s, (FormModal, ConfirmModal)) for s in app.screen_stack)
        des = next(d for d in app.engine.list_des() if d.name == "des-cmk")
        assert des.key_url.rstrip("/").lower() == str(other).rstrip("/").lower()


async def test_the_title_counts_rows_with_thousands_separators():
    """A twin's pane of 20,003 VMs said "20003 rows" where every other figure of the console reads 20,003."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        main = app.main
        main.rows_by_key = {str(i): None for i in range(12345)}
        main.filters[main.pane.id] = "vm"
        main._update_title(1234)
        await pilot.pause()
        assert "12,345 rows, filter /vm → 1,234" in title_text(app)
