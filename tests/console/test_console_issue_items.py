"""Pilot tests of the console issue's later items: the palette reaches every action, slow actions
show progress at once, cascades are events, wording, the command log survives a restart, the lab's
step keys work from anywhere."""

from __future__ import annotations

from textual.command import CommandPalette

from console.app import make_app
from console.modals.confirm import ConfirmModal
from console.screenshots import open_dialog, palette_hits, select, settle, wait_for_screen

SIZE = (160, 48)


async def test_palette_finds_disable_key_on_the_sets_pane_and_acts_on_the_key_picked():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_dialog(pilot, "sets", "des-cmk", "ctrl+p", CommandPalette)
        hits = await palette_hits(pilot, "disable key")
        assert any(h.startswith("Disable key (all versions)") for h in hits), hits
        await pilot.press("enter")
        await wait_for_screen(pilot, CommandPalette)  # the second list: which key
        hits = await palette_hits(pilot, "key-3072")
        assert any("kv-demo/key-3072" in h for h in hits), hits
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmModal)
        assert app.main.pane.id == "keys"
        assert app.main.selected.name == "key-3072"
        await pilot.press("y")
        await settle(pilot)
        key = next(k for k in app.engine.t["keys"].values() if k.name == "key-3072")
        assert not any(v["enabled"] for v in key.versions)


class Gate:
    """Hold an engine action (not its what-if) until the test lets it go: the test sees the screen
    while the action is running, whatever the machine's speed."""

    def __init__(self, engine, method: str, hold_what_if: bool = False) -> None:
        import threading

        self.release = threading.Event()
        self.entered = threading.Event()
        local = threading.local()
        real, real_what_if = getattr(engine, method), engine.what_if

        def what_if(*args, **kwargs):
            if hold_what_if:
                self.entered.set()
                self.release.wait(10)
            local.dry = True
            try:
                return real_what_if(*args, **kwargs)
            finally:
                local.dry = False

        def held(*args, **kwargs):
            if not getattr(local, "dry", False):
                self.entered.set()
                self.release.wait(10)
            return real(*args, **kwargs)

        engine.what_if = what_if
        setattr(engine, method, held)


def busy_text(app) -> str | None:
    main = app.main
    if not main.query_one("#busy").display:
        return None
    return str(main.query_one("#busy-label").render())


async def _until(pilot, condition) -> None:
    for _ in range(250):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition never met")


async def test_progress_shows_at_once_while_a_create_form_waits_for_the_engine_and_the_cursor_goes_to_the_new_row():
    """The form stays open until the engine has acted (a refusal shows in it): meanwhile it says so, the progress
    shows at once, and esc would leave the action running."""
    from console.modals.form import FormModal

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        gate = Gate(app.engine, "create_disk")
        form = await open_dialog(pilot, "disks", "disk-secure", "n", FormModal)
        for ch in "disk-zz":
            await pilot.press(ch)
        await pilot.press("enter")
        await _until(pilot, gate.entered.is_set)
        await pilot.pause()
        assert busy_text(app) is not None and "Create disk" in busy_text(app)  # at once, not after a delay
        assert app.screen is form and "the engine is acting" in str(form.query_one("#form-progress-label").render())
        gate.release.set()
        await _until(pilot, lambda: not isinstance(app.screen, FormModal))  # done: the form closes
        await settle(pilot)
        assert busy_text(app) is None
        assert app.main.pane.id == "disks" and app.main.selected.name == "disk-zz"


async def test_changing_a_set_s_key_shows_progress_while_the_engine_previews_it():
    from console.modals.form import FormModal

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        form = await open_dialog(pilot, "sets", "des-cmk", "c", FormModal)
        gate = Gate(app.engine, "update_des", hold_what_if=True)
        form.spec.check = None  # the form's own check is not what this test holds
        form.action_submit()
        await _until(pilot, gate.entered.is_set)
        await pilot.pause()
        assert busy_text(app) is not None and "asking the engine" in busy_text(app)
        gate.release.set()
        await wait_for_screen(pilot, ConfirmModal)
        assert busy_text(app) is None


async def test_every_cascade_of_a_disable_and_an_enable_is_in_the_events_pane():
    app = make_app()
    app.engine.deallocate_vm("vm-db")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_dialog(pilot, "keys", "key-3072", "e", ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        toast = app._notifications.last if hasattr(app._notifications, "last") else list(app._notifications)[-1]
        main = app.main
        main.show_pane("events")
        await pilot.pause()
        events = [main.table.row_text(k) for k in main.table.keys]
        for line in toast.message.splitlines():  # each line of the notification is an event
            assert any(line in row or line[:60] in row for row in events), (line, events)
        assert any("VmRunningOnHostKeys" in r and "vm-ultra" in r for r in events)
        assert any("VmCannotStartByKey" in r and "vm-db cannot start" in r for r in events)

        await select(pilot, "keys", "key-3072")
        await pilot.press("e")  # enable
        await settle(pilot)
        main.show_pane("events")
        await pilot.pause()
        events = [main.table.row_text(k) for k in main.table.keys]
        again = [r for r in events if "VmKeyUsableAgain" in r]
        assert any("vm-web can be started again" in r for r in again), events
        assert any("vm-db can be started again" in r for r in again)
        assert any("vm-ultra" in r and "no longer runs on host-cached keys" in r for r in again)


def last_toast(app):
    return list(app._notifications)[-1]


async def _disable_3072(pilot) -> None:
    await open_dialog(pilot, "keys", "key-3072", "e", ConfirmModal)
    await pilot.press("y")
    await settle(pilot)


async def test_a_deallocated_ultra_vm_says_it_cannot_start_not_that_it_runs():
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _disable_3072(pilot)
        await open_dialog(pilot, "vms", "vm-ultra", "d", ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        row = app.main.table.row_text(app.main.table.cursor_key)
        assert "deallocated" in row and "cannot start" in row
        assert "running" not in row and "host-cached keys;" not in row
        assert "cannot start" in last_toast(app).message


async def test_the_set_created_toast_asks_for_a_grant_only_when_access_is_missing():
    from console.modals.form import FormModal

    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_dialog(pilot, "sets", "des-cmk", "n", FormModal)
        for ch in "des-new":
            await pilot.press(ch)
        await pilot.press("enter")
        await settle(pilot)
        toast = last_toast(app).message
        assert "des-new created" in toast and "grant" not in toast, toast
        assert "its identity can use it" in toast
        assert app.main.selected.name == "des-new"  # and the cursor is on the new set


async def test_the_rotate_toast_says_the_set_keeps_the_old_version_without_automatic_rotation():
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, "keys", "key-3072")
        old = app.main.selected.current["version"][:8]
        await pilot.press("r")
        await settle(pilot)
        toast = last_toast(app).message
        assert f"set des-cmk still uses version {old} (automatic rotation is off)" in toast, toast



async def test_the_rotate_toast_gives_the_time_a_following_set_moves_and_the_toggle_toast_what_it_means():
    """des-double follows key-hsm: rotating it says when the set moves (the clock's job); turning its automatic
    rotation off says that it stays on its version."""
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, "keys", "key-hsm")
        await pilot.press("r")
        await settle(pilot)
        toast = last_toast(app).message
        [job] = [j for j in app.engine.pending_jobs() if j["job"].startswith("automatic rotation of set des-double")]
        when = job["time"][:16].replace("T", " ")
        assert f"set des-double moves to the new version by automatic rotation at {when}" in toast, toast
        await select(pilot, "sets", "des-double")
        version = app.main.selected.key_url.rsplit("/", 1)[1][:8]
        await pilot.press("a")
        await settle(pilot)
        toast = last_toast(app).message
        assert f"automatic rotation off, it stays on version {version}" in toast, toast

async def test_the_enable_toast_names_the_vms_that_can_be_started_again():
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _disable_3072(pilot)
        await select(pilot, "keys", "key-3072")
        await pilot.press("e")
        await settle(pilot)
        toast = last_toast(app).message
        assert "VM vm-web can be started again" in toast and "VM vm-db can be started again" in toast, toast


async def test_a_disk_read_shows_in_the_detail_panel_too():
    from console.modals.form import FormModal

    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await select(pilot, "vms", "vm-web")
        app.main.run_op("vm.read", preset={"lun": "0"})  # the demo wrote to lun 0
        await wait_for_screen(pilot, FormModal)
        app.screen.action_submit()
        await settle(pilot)
        rest = str(app.main.query_one("#detail-rest").render())
        assert "demo: customer orders 2026-05-01" in rest, rest
        assert app.main.query_one("#detail-rest").display


async def test_the_create_set_form_never_defaults_to_a_disabled_key():
    from console.modals.form import FormModal

    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await _disable_3072(pilot)
        for pane, row in (("keys", "key-3072"), ("sets", "des-cmk")):
            await select(pilot, pane, row)
            app.main.run_op("des.create")
            await wait_for_screen(pilot, FormModal)
            kid = next(f.value for f in app.screen.spec.fields if f.name == "key")
            assert app.engine.key_problem(None, kid, "unwrapKey") is None, (pane, kid)
            await pilot.press("escape")
            await settle(pilot)


async def test_the_delete_key_what_if_names_the_set_it_breaks():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_dialog(pilot, "keys", "key-3072", "x", ConfirmModal)
        assert any("disk encryption set(s) can no longer use their key: des-cmk" in line for line in app.screen.lines)


async def test_the_command_log_survives_a_restart_on_the_same_home(tmp_path):
    from console.app import CmkApp
    from console.session import open_engine
    from store import remove_state, state_files

    home = tmp_path / "home"
    engine = open_engine(home, seed=1, demo=True)
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        await _disable_3072(pilot)
        await select(pilot, "keys", "key-3072")
        await pilot.press("r")
        await settle(pilot)
        before = [e.lines for e in app.command_log]
    engine.store.close()
    assert len(before) == 2 and "--enabled false" in before[0][0] and "rotate" in before[1][0]
    assert not any(".console-log" in name for name in state_files(home))  # not part of the state's bytes

    engine = open_engine(home)
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane("log")
        await pilot.pause()
        rows = [app.main.table.row_text(k) for k in app.main.table.keys]
        assert len(rows) == 2 and "--enabled false" in rows[0] and "rotate" in rows[1], rows
        await select(pilot, "keys", "key-3072")
        await pilot.press("r")  # another action: numbered after the earlier ones
        await settle(pilot)
        assert [e.seq for e in app.command_log] == [1, 2, 3]
    engine.store.close()
    remove_state(home)  # a reset home starts with an empty log
    engine = open_engine(home, seed=1, demo=True)
    app = CmkApp(engine, poll=False, frozen=True)
    assert app.command_log == []
    engine.store.close()


async def test_workshop_step_keys_work_from_any_pane_and_are_listed_in_help_and_palette(tmp_path):
    from console.app import CmkApp
    from console.commands import ConsoleCommands
    from console.modals.form import FormModal
    from console.screens.help import HelpScreen
    from console.session import open_engine
    from console.workshop import run_scenario_cli

    home = tmp_path / "home"
    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(home)) == 0
    engine = open_engine(home)
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.lab.number == 1
        for pane in ("keys", "sets", "vms"):  # the table has the focus; n would open a create form
            app.main.action_pane(pane)
            await pilot.press("greater_than_sign")
            await pilot.pause()
            assert not isinstance(app.screen, FormModal)
        assert app.lab.number == min(4, app.lab.total)
        await pilot.press("less_than_sign")
        await pilot.pause()
        assert app.lab.number == min(4, app.lab.total) - 1
        assert "Press n" not in str(app.main.query_one("#lab-status").render())
        palette = {name: where for name, _, where in ConsoleCommands(app.screen)._entries()}
        assert palette["Workshop: next step"] == "key: >" and palette["Workshop: previous step"] == "key: <"
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "workshop: next step" in text and "workshop: previous step" in text
    engine.store.close()


async def test_the_rules_profile_is_explained_in_the_header_tooltip_and_the_help():
    from console.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        tip = str(app.main.query_one("#header").tooltip)
        assert "seeds (this home): The rules of the seed documents (2020-2021)" in tip
        assert "azure-2025: Today's Azure" in tip
        await pilot.press("question_mark")
        await wait_for_screen(pilot, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        assert "Rules profile" in text and "(2020-2021)" in text and "Today's Azure" in text


async def test_the_re_key_form_shows_its_progress_while_the_engine_re_wraps_at_80x24():
    """At 80x24 the change-key form (a re-key: every data key of the set re-wrapped, seconds on a big set) stays open
    until the engine is done, and covered the main screen's progress bar; its own "acting" line was cut at the bottom of
    its scrolled body. The form's foot shows the progress, bar and words, in sight while the engine works."""
    from textual.widgets import ProgressBar

    from console.modals.form import FormModal
    from tests.console.test_console_dialogs import fully_visible

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_dialog(pilot, "sets", "des-cmk", "c", FormModal)
        k4 = app.engine.get_key("kv-demo", "key-4096", audit=False)[0]
        form.query_one("#f-key").value = f"{k4.id}/{k4.current['version']}"
        await pilot.pause()
        gate = Gate(app.engine, "update_des")
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmModal)
        await pilot.press("y")
        await _until(pilot, gate.entered.is_set)
        await pilot.pause()
        await pilot.pause()
        assert app.screen is form
        said = form.query_one("#form-progress-label")
        assert "the engine is acting" in str(said.render())
        assert fully_visible(said) and fully_visible(form.query_one("#form-progress").query_one(ProgressBar))
        assert fully_visible(form.query_one("#form-az"))  # what it runs, in sight too
        gate.release.set()
        await _until(pilot, lambda: not isinstance(app.screen, FormModal))
        await settle(pilot)
        assert app.engine.get_des("des-cmk").key_url.startswith(k4.id)
