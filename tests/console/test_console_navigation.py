"""Pilot tests of moving around: the detail, the footer and every action follow the table's cursor.

A terminal delivers keys as fast as they are typed or repeated (a held-down arrow): ``burst`` hands
them to the app the way its driver does, all at once, without waiting for the screen to catch up
between two keys (``pilot.press`` waits after each key, which hides ordering bugs).
"""

from __future__ import annotations

from textual import events

from console.app import make_app
from console.modals.confirm import ConfirmModal
from console.screenshots import wait_for_screen

SIZE = (160, 48)


def burst(pilot, *keys: str) -> None:
    """Queue ``keys`` as the terminal driver does when they arrive together (no pause in between)."""
    app = pilot.app
    for key in keys:
        char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        app._driver.send_message(event)


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
        await pilot.pause()
        row = cursor_row(app)
        assert row is not first
        assert app.main.table.cursor == 2
        assert app.main.selected is row
        assert detail_head(app).startswith(f"key {key_name(row)} ")

        burst(pilot, *["up"] * 5, "down")  # a held-down arrow (past the top), then one back
        await pilot.pause()
        row = cursor_row(app)
        assert app.main.table.cursor == 1
        assert app.main.selected is row
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
        assert detail_head(app).startswith(f"key {key_name(row)} ")


async def test_a_click_then_quick_arrows_keep_detail_and_cursor_together():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.click("#table", offset=(3, 2))  # header is line 0: line 2 is the second key
        await pilot.pause()
        assert app.main.table.cursor == 1
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")
        burst(pilot, "down", "down")
        await pilot.pause()
        assert app.main.table.cursor == 3
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")


async def test_at_start_the_detail_describes_the_highlighted_first_row():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        main = app.main
        assert main.table.cursor == 0
        first = cursor_row(app)
        assert main.selected is first
        assert detail_head(app).startswith(f"vault {first.name} ")
        await pilot.press("up")  # already at the top: nothing moves, the detail stays filled
        assert detail_head(app).startswith(f"vault {first.name} ")
        await pilot.press("2")
        assert detail_head(app).startswith(f"key {key_name(cursor_row(app))} ")


async def test_at_80_columns_the_detail_shown_with_v_describes_the_first_row():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.main.side_visible()
        await pilot.press("v")
        await pilot.pause()
        assert app.main.side_visible()
        assert detail_head(app).startswith(f"vault {cursor_row(app).name} ")
