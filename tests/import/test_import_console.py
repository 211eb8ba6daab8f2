"""The console on an imported twin: every pane and every row draws, and a stand-in key says what it is."""

from __future__ import annotations

import json
from pathlib import Path

from console.app import make_app
from console.screenshots import select, settle
from console.screens.panes import PANES
from console.kinds import azure_doc
from engine import Engine, twin

FILES = sorted(str(p) for p in (Path(__file__).parent / "fixtures").glob("*.json"))


async def test_every_pane_and_row_of_a_twin_draws():
    engine = Engine.in_memory(seed=3)
    twin.import_files(engine, FILES)
    app = make_app(engine)
    async with app.run_test(size=(160, 48)) as pilot:
        main = app.main
        drawn = 0
        for pane in PANES:
            main.show_pane(pane.id)
            await pilot.pause()
            for key in list(main.rows_by_key):
                main.table.move_to(key)
                await pilot.pause()
                drawn += 1
        assert drawn >= 30
        main.show_pane("vms")
        await pilot.pause()
        assert sorted(r.name for r in main.rows_by_key.values()) == sorted(v.name for v in engine.t["vms"].values())
        main.show_pane("disks")
        await pilot.pause()
        assert len(main.rows_by_key) == 12
        await select(pilot, "keys", "disk-key")
        await settle(pilot)
        key = engine.t["keys"]["https://kv-prod-cmk.vault.azure.net/keys/disk-key"]
        assert "stand-in" in json.dumps(azure_doc(engine, "key", key))
        # the detail panel says it too, under each version, not only in the Azure JSON further down
        why = str(main.query_one("#detail-why").render())
        assert "generated stand-in material" in why
        await select(pilot, "vms", "vm-ultra-01")
        await settle(pilot)
        assert app.is_running


# ---- the palette's "Import ..." dialog ---------------------------------------------------------------------


async def _import_in_dialog(app, pilot, paths: str, *, merge: bool = False):
    from console.modals.importer import ImportModal
    from textual.widgets import Switch

    app.open_import(paths)
    await pilot.pause()
    modal = app.screen
    assert isinstance(modal, ImportModal)
    modal.query_one("#import-merge", Switch).value = merge
    await pilot.click("#submit")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return modal


def test_the_palette_offers_the_import():
    from console.commands import ConsoleCommands

    app = make_app()

    async def run():
        async with app.run_test(size=(120, 40)):
            provider = ConsoleCommands(app.screen)
            names = [name for name, _cb, _help in provider._entries()]
            assert any(n.startswith("Import a twin") for n in names), names

    import asyncio

    asyncio.run(run())


async def test_import_dialog_runs_in_a_worker_with_progress_and_shows_the_summary(monkeypatch):
    """A folder of az files imported from the console: a progress bar (shown at once here: the delay is set to
    zero), the CLI's summary in the dialog, the command in the log, the twin's VMs in their pane."""
    from console.modals import importer

    monkeypatch.setattr(importer, "PROGRESS_AFTER", 0.0)
    seen: list[tuple[str, int, int]] = []
    show = importer.ImportModal._show_progress
    monkeypatch.setattr(importer.ImportModal, "_show_progress",
                        lambda self, stage, done, total: (seen.append((stage, done, total)),
                                                          show(self, stage, done, total)))
    engine = Engine.in_memory(seed=3)
    app = make_app(engine)
    async with app.run_test(size=(160, 48)) as pilot:
        modal = await _import_in_dialog(app, pilot, str(Path(__file__).parent / "fixtures"))
        assert modal.error is None, modal.error
        assert modal.report.counts["VMs"] == 7 and modal.report.counts["disks"] == 12
        assert "modelled:" in str(modal.query_one("#import-summary").render())
        # told as it went (at most ten a second: the stages between may be skipped), ending at the whole
        assert seen[0][0] == "planning" and seen[-1][0] == "writing" and seen[-1][1] == seen[-1][2] > 1
        bar = modal.query_one("#import-bar")
        assert modal.query_one("#import-progress").display and bar.progress == bar.total > 1
        assert app.command_log[-1].ok and app.command_log[-1].lines[0].startswith("cmklab import ")
        assert "vm-list-d.json" in app.command_log[-1].lines[0]
        # the files are counted while they are read; the later stages (one measure of all the work) by the bar
        label = modal.query_one("#import-stage")
        show(modal, "reading", 2, 3)
        assert str(label.render()) == "importing: reading (2 of 3 files)"
        show(modal, "data keys", 50, 180)
        assert str(label.render()) == "importing: data keys" and bar.progress == 50
        await pilot.press("escape")
        await pilot.pause()
        app.main.show_pane("vms")
        await pilot.pause()
        assert sorted(r.name for r in app.main.rows_by_key.values()) == \
            sorted(v.name for v in engine.t["vms"].values())
        assert len(app.main.rows_by_key) == 7


async def test_import_dialog_refuses_a_home_with_state_unless_merge_and_changes_nothing():
    app = make_app()  # the demo landscape: a home that holds state
    engine = app.engine
    before = sorted(engine.t["vms"])
    async with app.run_test(size=(160, 48)) as pilot:
        modal = await _import_in_dialog(app, pilot, " ".join(FILES))
        assert modal.error is not None and "--merge" in modal.error and "holds state" in modal.error
        assert modal.report is None and sorted(engine.t["vms"]) == before
        assert not app.command_log[-1].ok and app.command_log[-1].error == "Conflict"
        # merge chosen: the import goes to the engine, which refuses another subscription (a home models one)
        modal.dismiss(None)
        await pilot.pause()
        modal = await _import_in_dialog(app, pilot, " ".join(FILES), merge=True)
        assert modal.error is not None and "one subscription" in modal.error
        assert sorted(engine.t["vms"]) == before


async def test_at_80x24_a_refused_import_is_in_view_and_notified():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        modal = await _import_in_dialog(app, pilot, " ".join(FILES))
        await pilot.pause()
        said = modal.query_one("#form-error")
        body = said.parent
        assert modal.error and "holds state" in modal.error
        assert body.scroll_offset.y > 0  # the body scrolled down to it
        top = said.region.y
        assert body.region.y <= top < body.region.bottom  # its first line is on the screen
        assert any(n.severity == "error" and "holds state" in str(n.message) for n in app._notifications)


async def test_at_80x24_the_progress_and_the_summary_are_in_view(monkeypatch):
    """At 80x24 the dialog's body scrolls and the progress comes after the form: while the import runs its bar
    is brought into view (it was below the fold: the dialog looked frozen for the import's seconds), and once
    it is done, "imported" and the first line of what was modelled."""
    import threading

    from console.modals import importer

    monkeypatch.setattr(importer, "PROGRESS_AFTER", 0.0)
    told, go = threading.Event(), threading.Event()
    real = twin.import_files

    def slow(engine, paths, **kw):
        kw["progress"]("reading", 1, 4)
        told.set()
        go.wait(10)
        return real(engine, paths, **kw)

    monkeypatch.setattr(twin, "import_files", slow)
    app = make_app(Engine.in_memory(seed=3))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_import(" ".join(FILES))
        await pilot.pause()
        modal = app.screen
        await pilot.click("#submit")
        for _ in range(50):
            await pilot.pause(0.02)
            if told.is_set() and modal.query_one("#import-bar").progress:
                break
        await pilot.pause()

        def in_view(widget) -> bool:
            body = modal.query_one("#dialog-body")
            return widget.display and body.region.y <= widget.region.y < body.region.bottom

        assert modal.running and in_view(modal.query_one("#import-bar"))
        go.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.pause()
        assert modal.error is None and not modal.running
        assert in_view(modal.query_one("#import-stage")) and in_view(modal.query_one("#import-summary"))
        assert "imported" in str(modal.query_one("#import-stage").render())


async def test_import_dialog_on_a_read_only_console_refuses():
    app = make_app(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_import(" ".join(FILES))
        await pilot.pause()
        from console.modals.importer import ImportModal

        assert not isinstance(app.screen, ImportModal)


def test_import_dialog_paths_take_folders_globs_and_quotes(tmp_path):
    from console.modals.importer import command_line, expand_paths

    (tmp_path / "a b").mkdir()
    for name in ("x.json", "y.json", "z.txt"):
        (tmp_path / "a b" / name).write_text("[]")
    folder = str(tmp_path / "a b")
    assert expand_paths(f"'{folder}'") == [f"{folder}/x.json", f"{folder}/y.json"]
    assert expand_paths(f"'{folder}'/*.txt other.json") == [f"{folder}/z.txt", "other.json"]
    assert command_line([f"{folder}/x.json"], True, False) == f"cmklab import --merge '{folder}/x.json'"


async def test_enter_on_a_switch_of_the_import_dialog_imports_and_space_toggles_it():
    from textual.widgets import Switch

    from console.modals.importer import ImportModal

    app = make_app(Engine.in_memory(seed=3))
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_import(" ".join(FILES))
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ImportModal)
        partial = modal.query_one("#import-partial", Switch)
        partial.focus()
        await pilot.press("space")
        assert partial.value is True
        await pilot.press("enter")  # imports, as Enter in the paths does; it toggled the switch back
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert partial.value is True
        assert modal.error is None and modal.report is not None
        assert "--partial" in app.command_log[-1].lines[0]
