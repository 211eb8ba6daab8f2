"""What a pane's columns keep at 80x24: the figures an operator reads to judge a what-if are drawn whole."""

from __future__ import annotations

from console.app import make_app
from console.screenshots import select

SMALL = (80, 24)


async def test_the_sets_pane_shows_a_set_of_thirty_thousand_resources_whole_at_80_columns():
    """A twin's set serves 29,992 disks: the RES column was four cells wide and showed '299…'."""
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await select(pilot, "sets", "des-cmk")
        des = app.engine.get_des("des-cmk")
        app.main.ctx().idx.res_by_des = {des.id: [object()] * 29_992}  # the index a 100,000-resource twin has
        table = app.main.table
        table._cache.clear()  # the cells drawn from it
        table.refresh()
        await pilot.pause()
        lines = [table.render_line(y).text for y in range(table.size.height)]
        row = next(line for line in lines if "des-cmk" in line)
        assert "29,992" in row, row
        assert "ready" in row, row  # the status still shows


async def test_the_events_pane_shows_which_key_stopped_a_vm_at_80_columns():
    """At 80 columns the event's type took 24 cells and its summary 27: 'VM vm-003326 cannot star…', without the key.
    The summary says the type in words; it keeps the width and the type column goes first."""
    from console.screenshots import disable_key_3072

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await disable_key_3072(pilot)
        app.main.show_pane("events")
        await pilot.pause()
        table = app.main.table
        lines = [table.render_line(y).text for y in range(table.size.height)]
        row = next(line for line in lines if "shut down" in line)
        assert "key kv-demo/key-3072" in row, row


async def test_the_audit_trail_names_the_key_at_80_columns():
    """The audit trail at 80 columns dropped its KEY VERSION column and kept VAULT: 'KeyUpdate OK', of which key it
    did not say. The key version names its vault; the vault's column goes first."""
    from console.screenshots import disable_key_3072

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await disable_key_3072(pilot)
        app.main.show_pane("audit")
        await pilot.pause()
        table = app.main.table
        lines = [table.render_line(y).text for y in range(table.size.height)]
        assert "KEY VERSION" in lines[0], lines[0]
        row = next(line for line in reversed(lines) if "KeyUpdate" in line)
        assert "kv-demo/key-3072/" in row and "OK" in row, row


async def test_the_detail_s_cause_chain_wraps_under_each_line_s_start_at_80x24():
    """A stopped VM's chain at 80 columns: a line that wraps went back to the panel's first column ('des-5k (identity
    ...): UNUSABLE' under 'VM vm-000000: VM stopped'), and the chain's depth could not be read. Each line's rest is
    drawn under its start, further in."""
    from console.screenshots import disable_key_3072, settle

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await disable_key_3072(pilot)
        await select(pilot, "vms", "vm-db")
        await pilot.press("enter")
        await settle(pilot)
        why = app.main.query_one("#detail-why")
        drawn = [why.render_line(y).text.rstrip() for y in range(why.size.height)]
        drawn = [line for line in drawn if line.strip()]
        assert drawn[0].startswith("VM vm-db"), drawn
        assert len(drawn) > 4, drawn
        assert all(line.startswith("  ") for line in drawn[1:]), drawn  # nothing goes back under the VM's line


async def test_the_versions_pane_counts_the_data_keys_a_version_wraps_as_the_sets_pane_does():
    """WRAPS said 29994 where the sets pane says 29,994 for the same disks."""
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        app.main.show_pane("versions")
        await pilot.pause()
        row = next(r for r in app.main.rows_by_key.values() if r.key.name == "key-3072")
        app.main.ctx().idx.res_by_kid = {row.kid.lower(): [object()] * 29_994}
        table = app.main.table
        table._cache.clear()
        table.refresh()
        await pilot.pause()
        lines = [table.render_line(y).text for y in range(table.size.height)]
        assert any("key-3072" in line and line.rstrip().endswith("29,994") for line in lines), lines


def _screen_lines(app) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


def _words(text: str) -> str:
    return " ".join(text.split())


async def test_the_command_log_shows_the_selected_command_whole_at_80x24():
    """At 80 columns the log pane's COMMAND column is what the time and the result leave: 'cmklab az keyvault key
    set-attributes --vault-name kv…', and the detail that says it whole is folded away. The selected entry's commands
    show whole under the table, wrapped, while the detail is folded away (and not when it is shown: it says them)."""
    from console.screenshots import disable_key_3072, settle
    from console.widgets.detail import CauseText

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await disable_key_3072(pilot)
        await select(pilot, "keys", "key-3072")
        await pilot.press("e")  # enable again: no confirmation
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)
        main = app.main
        entries = list(app.command_log)
        assert [len(e.lines) for e in entries] == [1, 1]
        disable, enable = (e.lines[0] for e in entries)
        assert len(disable) > 80 and disable.endswith("--enabled false")
        assert main.selected is entries[-1]  # the newest entry, as the log follows its end
        screen = _words("\n".join(_screen_lines(app)))
        assert _words(f"$ {enable}") in screen, screen
        await pilot.press("k")
        await settle(pilot)
        screen = _words("\n".join(_screen_lines(app)))
        assert _words(f"$ {disable}") in screen, screen
        line = main.query_one("#log-line", CauseText)
        assert line.region.bottom <= main.query_one("#busy").region.y or not main.query_one("#busy").display
        await pilot.press("v")  # the detail shows: it says the commands, the line under the table goes
        await settle(pilot)
        assert not line.display or line.styles.display == "none" or line.region.height == 0


async def test_the_command_log_keeps_its_wide_layout():
    """Beside the detail panel (120 columns and more), which says the selected commands whole, nothing is added."""
    from console.screenshots import disable_key_3072, settle

    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await disable_key_3072(pilot)
        await pilot.press("7")
        await settle(pilot)
        assert app.main.query_one("#log-line").region.height == 0
