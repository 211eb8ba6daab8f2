"""Pilot tests of the console's flows: what a person does, and what they see happen."""

from __future__ import annotations

import asyncio

import pytest

from console.app import CmkApp, make_app
from console.modals.confirm import ConfirmModal, TypedConfirmModal
from console.modals.form import FormModal
from console.screenshots import open_dialog, select, settle, wait_for_screen
from console.screens.help import HelpScreen
from store import state_files


def state_bytes(home) -> bytes:
    return b"".join(state_files(home).values())


SIZE = (160, 48)


def vm_rows(app) -> dict[str, str]:
    """The VMs pane as text, by VM name (what the person reads)."""
    main = app.main
    main.show_pane("vms")
    return {main.rows_by_key[k].name: main.table.row_text(k) for k in main.table.keys}


def vm_state(app) -> dict[str, tuple[str, str | None]]:
    return {vm.name: (vm.power, (vm.status or {}).get("code")) for vm in app.engine.t["vms"].values()}


def notes(app) -> list:
    return list(app._notifications)


async def test_disable_key_stops_premium_vms_ultra_keeps_running():
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        modal = await open_dialog(pilot, "keys", "key-3072", "e", ConfirmModal)
        assert any("2 VM(s) will stop: vm-db, vm-web" in line for line in modal.lines)
        assert any("keep running" in line and "vm-ultra" in line for line in modal.lines)
        await pilot.press("y")
        await settle(pilot)

        rows = vm_rows(app)
        for name in ("vm-web", "vm-db"):
            assert "stopped" in rows[name]
            assert "key kv-demo/key-3072 disabled" in rows[name]
        assert "running" in rows["vm-ultra"] and "host-cached" in rows["vm-ultra"]
        assert "deallocated" in rows["vm-batch"]
        state = vm_state(app)
        assert state["vm-web"] == ("stopped", "KeyUnusable")
        assert state["vm-ultra"] == ("running", "RunningOnHostKeys")

        cascade = [n for n in notes(app) if n.title.startswith("Disable key")]
        assert cascade and cascade[0].severity == "error"
        assert "VM vm-web shut down" in cascade[0].message and "vm-ultra keeps running" in cascade[0].message
        assert app.command_log[-1].ok
        assert "keyvault key set-attributes --vault-name kv-demo --name key-3072 --enabled false" in \
            app.command_log[-1].lines[0]


async def test_rotate_changes_no_vm():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        before = vm_state(app)
        count = len(app.engine.get_key("kv-demo", "key-3072", audit=False)[0].versions)
        await select(pilot, "keys", "key-3072")
        await pilot.press("r")
        await settle(pilot)
        assert len(app.engine.get_key("kv-demo", "key-3072", audit=False)[0].versions) == count + 1
        assert vm_state(app) == before
        rows = vm_rows(app)
        assert all("stopped" not in text for text in rows.values())
        assert app.command_log[-1].lines == ["cmklab az keyvault key rotate --vault-name kv-demo --name key-3072"]


async def test_purge_refused_under_protection():
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_dialog(pilot, "keys", "key-2048", "x", ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        app.clear_notifications()
        await select(pilot, "keys", "key-2048")
        await pilot.press("P")
        await settle(pilot)
        errors = [n for n in notes(app) if n.severity == "error"]
        assert errors and errors[0].title == "PurgeProtectionEnabled"
        assert "purge protection" in errors[0].message
        assert "https://kv-demo.vault.azure.net/keys/key-2048" in app.engine.t["keys"]
        denied = [a for a in app.engine.t["audit"].values() if a.operation == "KeyPurge"]
        assert denied and denied[-1].code == "PurgeProtectionEnabled"
        assert not app.command_log[-1].ok and app.command_log[-1].error == "PurgeProtectionEnabled"


async def test_purge_without_protection_asks_for_the_name():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        e = app.engine
        e.create_vault("kv-scratch", "rg-demo", retention_days=7)
        e.create_key("kv-scratch", "key-old", size=2048)
        e.delete_key("kv-scratch", "key-old")
        app.main.refresh_data()
        await open_dialog(pilot, "keys", "key-old", "P", TypedConfirmModal)
        await pilot.press("y")  # a stray "y" types into the box; it does not confirm
        assert isinstance(app.screen, TypedConfirmModal)
        await pilot.press("backspace", *"key-old", "enter")
        await settle(pilot)
        assert "https://kv-scratch.vault.azure.net/keys/key-old" not in e.t["keys"]


async def test_escape_cancels_a_confirmation():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        before = vm_state(app)
        await open_dialog(pilot, "vms", "vm-web", "o", ConfirmModal)
        await pilot.press("escape")
        await settle(pilot)
        assert vm_state(app) == before
        assert app.command_log == []


async def test_read_only_refuses_every_change():
    app = make_app(read_only=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        before = vm_state(app)
        await select(pilot, "keys", "key-3072")
        for key in ("e", "r", "x", "n"):  # not offered in the footer: the keys do nothing but say why
            app.clear_notifications()
            await pilot.press(key)
            await settle(pilot)
            assert [(n.title, n.severity) for n in notes(app)] == [("READ-ONLY", "error")], key
        assert vm_state(app) == before
        assert all(not isinstance(s, (ConfirmModal, FormModal)) for s in app.screen_stack)
        for op_id in ("key.disable", "key.rotate", "key.delete", "key.create"):  # the palette's way
            app.clear_notifications()
            app.main.run_op(op_id)
            await settle(pilot)
            assert [(n.title, n.severity) for n in notes(app)] == [("READ-ONLY", "error")], op_id
        assert vm_state(app) == before
        assert all(not isinstance(s, (ConfirmModal, FormModal)) for s in app.screen_stack)
        app.clear_notifications()
        app.execute(__import__("console.actions", fromlist=["Call"]).Call("advance_clock", ("1h",)), "clock")
        await settle(pilot)
        assert app.engine.now() == "2026-05-01T09:00:00+00:00"  # the store refused it, and says so
        refused = [n for n in notes(app) if n.title == "READ-ONLY"]  # the header's marker, as every refusal here
        assert len(refused) == 1 and "READ-ONLY (opened with --read-only)" in refused[0].message


async def test_form_validates_as_you_type_with_the_engines_rules():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane("keys")
        await pilot.press("n")
        await wait_for_screen(pilot, FormModal)
        form = app.screen
        await pilot.press(*"bad_name")
        await pilot.pause()
        error = str(form.query_one("#err-name").render())
        assert "Key name 'bad_name' is not valid" in error
        assert form.query_one("#submit").disabled
        for _ in range(len("bad_name")):
            await pilot.press("backspace")
        await pilot.press(*"key-new")
        await pilot.pause()
        assert not form.query_one("#submit").disabled
        assert "keyvault key create --vault-name kv-demo --name key-new" in str(form.query_one("#form-az").render())
        await pilot.press("enter")
        await settle(pilot)
        assert "https://kv-demo.vault.azure.net/keys/key-new" in app.engine.t["keys"]


async def test_at_80x24_the_engines_refusal_is_brought_into_view_below_the_fields():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.main.show_pane("vaults")
        await pilot.press("n")
        await wait_for_screen(pilot, FormModal)
        await pilot.press(*"kv-demo", "enter")
        said = app.screen.query_one("#form-error")
        for _ in range(100):
            await pilot.pause(0.02)
            if "VaultAlreadyExists" in str(said.render()) and said.parent.scroll_offset.y > 0:
                break
        body = said.parent
        assert "VaultAlreadyExists" in str(said.render())
        assert body.scroll_offset.y > 0 and body.region.y <= said.region.y < body.region.bottom


async def test_form_shows_the_engines_refusal():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane("vaults")
        await pilot.press("n")
        await wait_for_screen(pilot, FormModal)
        await pilot.press(*"kv-demo", "enter")
        for _ in range(100):
            await pilot.pause(0.02)
            if str(app.screen.query_one("#form-error").render()).strip() not in ("", "asking the engine…"):
                break
        assert "VaultAlreadyExists" in str(app.screen.query_one("#form-error").render())
        assert isinstance(app.screen, FormModal)
        await pilot.press("escape")
        await settle(pilot)
        assert len(app.engine.t["vaults"]) == 2


async def test_create_set_grants_its_identity_and_logs_both_commands():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane("sets")
        await pilot.press("n")
        await wait_for_screen(pilot, FormModal)
        await pilot.press(*"des-app", "enter")
        await settle(pilot)
        des = app.engine.get_des("des-app")
        assert app.engine.des_identity_ready(des) is None
        lines = [line for entry in app.command_log for line in entry.lines]
        assert lines[0].startswith("cmklab az disk-encryption-set create --resource-group rg-demo --name des-app")
        assert "keyvault set-policy --name kv-demo --object-id \"$(cmklab az disk-encryption-set show --name " \
               "des-app" in lines[1]


async def test_vm_write_then_read_through_the_console():
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_dialog(pilot, "vms", "vm-web", "w", FormModal)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("r")
        await wait_for_screen(pilot, FormModal)
        await pilot.press("enter")
        await settle(pilot)
        assert any("hello from the console" in n.message for n in notes(app))


async def test_advance_clock_runs_due_jobs():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "keys", "key-hsm")
        await pilot.press("r")  # des-double follows the newest version within the hour
        await settle(pilot)
        des = app.engine.get_des("des-double")
        old = des.key_url
        await pilot.press("plus")
        await wait_for_screen(pilot, FormModal)
        await pilot.press("enter")
        await settle(pilot)
        assert app.engine.get_des("des-double").key_url != old
        assert "10:00" in str(app.main.query_one("#header").render())
        assert app.command_log[-1].lines == ["cmklab clock advance 1h"]


async def test_filter_and_jump():
    app = make_app()
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("colon", *"disks", "enter")
        await pilot.pause()
        assert app.main.pane.id == "disks"
        await pilot.press("slash", *"ultra", "enter")
        await pilot.pause()
        assert len(app.main.table.keys) == 2
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.main.table.keys) == 10
        await pilot.press("colon", *"nope", "enter")
        await pilot.pause()
        assert any(n.title == "Unknown pane" for n in notes(app))
        await pilot.press("5", "question_mark")
        await wait_for_screen(pilot, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.main.pane.id == "vms"


async def test_dependency_view_follows_the_selection():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "vms", "vm-ultra")
        await pilot.press("t")
        await pilot.pause()
        tree = app.main.query_one("#deps")
        labels = []

        def walk(node):
            labels.append(str(node.label))
            for child in node.children:
                walk(child)
        walk(tree.root)
        text = "\n".join(labels)
        assert "key kv-demo/key-3072" in text and "set des-cmk" in text and "platform-managed key" in text
        assert sum("◀ selected" in x for x in labels) == 2  # the VM under each of its disks


async def test_export_replay_script(tmp_path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "keys", "key-3072")
        await pilot.press("r")
        await settle(pilot)
        await open_dialog(pilot, "keys", "key-2048", "x", ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        await pilot.press("P")  # refused (purge protection): kept as a comment
        await settle(pilot)
        await pilot.press("7", "e")
        await wait_for_screen(pilot, FormModal)
        path = tmp_path / "session.sh"
        field = app.screen.query_one("#f-path")
        field.value = str(path)
        await pilot.press("enter")
        await settle(pilot)
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "\ncmklab az keyvault key rotate --vault-name kv-demo --name key-3072\n" in text
    assert "\ncmklab az keyvault key delete --vault-name kv-demo --name key-2048\n" in text
    assert "\n# refused (PurgeProtectionEnabled): cmklab az keyvault key purge" in text


async def test_a_change_from_another_process_appears_within_a_second(tmp_path):
    from console.session import open_engine

    home = tmp_path / "home"
    engine = open_engine(home, seed=3, demo=True)
    app = CmkApp(engine, poll=True, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane("vms")
        await pilot.pause()
        other = open_engine(home)  # what `cmklab az vm stop` in another terminal does
        other.stop_vm("vm-web", "rg-demo")
        other.store.close()
        for _ in range(60):
            await pilot.pause(0.05)
            if "stopped" in vm_rows(app)["vm-web"]:
                break
        assert "stopped" in vm_rows(app)["vm-web"]
    engine.store.close()


async def test_a_slow_action_shows_progress_and_the_ui_keeps_answering():
    from console.actions import Call

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        gate = asyncio.Event()
        started = []
        real = app.engine.rotate_key

        def slow_rotate(*args, **kwargs):
            started.append(1)
            import time
            while not gate.is_set():
                time.sleep(0.01)
            return real(*args, **kwargs)

        app.engine.rotate_key = slow_rotate
        app.execute(Call("rotate_key", ("kv-demo", "key-3072")), "Rotate", slow=True)
        for _ in range(100):
            await pilot.pause(0.01)
            if started:
                break
        assert app.main.query_one("#busy").display
        await pilot.press("5", "down", "2")  # the UI answers while the worker runs
        assert app.main.pane.id == "keys"
        gate.set()
        await settle(pilot)
        assert not app.main.query_one("#busy").display
        assert app.command_log[-1].ok


@pytest.mark.parametrize("empty", [True, False])
def test_run_console_opens_the_demo_unless_empty(tmp_path, monkeypatch, empty):
    import console.app as console_app

    seen = {}

    def fake_run(self, *a, **kw):
        seen["vms"] = len(self.engine.t["vms"])
        seen["read_only"] = self.read_only
        return None

    monkeypatch.setattr(console_app.CmkApp, "run", fake_run)
    rc = console_app.run_console(home=str(tmp_path / "h"), seed=1, empty=empty)
    assert rc == 0
    assert seen["vms"] == (0 if empty else 4)
    assert seen["read_only"] is False
    # a read-only console then opens the same store, unchanged (it never creates state itself)
    before = state_bytes(tmp_path / "h")
    assert console_app.run_console(home=str(tmp_path / "h"), read_only=True) == 0
    assert seen["read_only"] is True and seen["vms"] == (0 if empty else 4)
    assert state_bytes(tmp_path / "h") == before


async def test_mouse_switches_panes_and_selects_rows():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.click("#tab-vms")
        await pilot.pause()
        assert app.main.pane.id == "vms"
        await pilot.click("#table", offset=(3, 3))  # header is line 0: line 3 is the third VM
        await pilot.pause()
        assert app.main.selected.name == "vm-ultra"
        await pilot.click("#table", offset=(3, 1), times=2)  # double click opens the detail
        await pilot.pause()
        assert app.main.selected.name == "vm-batch"
        assert app.focused is app.main.query_one("#detail")


async def test_deallocating_an_ultra_vm_on_cached_keys_is_said_to_leave_it_unable_to_start():
    """The deallocate confirmation of a VM that runs on host-cached keys (its key disabled) says, from the
    engine's what-if, that it will not start again and why: deallocation drops the cached keys (V4)."""
    app = make_app()
    app.engine.set_key_attributes("kv-demo", "key-3072", enabled=False)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        modal = await open_dialog(pilot, "vms", "vm-ultra", "d", ConfirmModal)
        assert ("1 VM(s) will not start again after deallocation (key kv-demo/key-3072 disabled): vm-ultra"
                in modal.lines)
        assert "will not start again" in str(modal.query_one("#impact").render())
        await pilot.press("n")


def test_the_what_if_marks_each_line_by_what_it_means():
    """A line of harm is marked as harm ("can no longer start" is not "start:"), a line of relief as relief."""
    from console.modals.confirm import impact_markup
    from engine.facade import Impact

    harm = Impact("set_key_attributes", vms_stopping=["a"], vms_start_blocked=["b", "c"])
    relief = Impact("set_key_attributes", vms_startable_again=["b"], vms_starting=["d"])
    marks = {line: impact_markup([line]).split("]", 1)[1][0] for line in harm.lines() + relief.lines()}
    assert marks == {"1 VM(s) will stop: a": "-",
                     "2 VM(s) already stopped or deallocated can no longer start: b, c": "!",
                     "1 VM(s) become startable (nothing starts by itself): b": "+",
                     "VM(s) start: d": "+"}
    assert "$text-error" in impact_markup(["2 VM(s) already stopped or deallocated can no longer start: b, c"])



def test_the_what_if_marks_what_the_clock_will_run_by_itself_whatever_the_job_names():
    """Jobs scheduled, unscheduled or run by the clock are marked "@", even when a job names something that
    reads like another line ("start:", "will stop" in a set's name); sets left behind a rotation are a warning."""
    from console.modals.confirm import impact_markup
    from engine.facade import Impact

    impact = Impact("rotate_key", scheduled=["automatic rotation of set will-stop to k/(its new version) at T"],
                    unscheduled=["purge deleted key https://kv.vault.azure.net/keys/start: at T"],
                    jobs_run=["key k expired at T"], sets_pinned=["des-cmk"], sets_unfollowing=["des-x"])
    marks = {line.split(":", 1)[0]: impact_markup([line]).split("]", 1)[1][0] for line in impact.lines()}
    assert marks == {"1 job(s) scheduled": "@", "1 job(s) no longer scheduled": "@",
                     "1 job(s) run as the clock passes them": "@",
                     "1 disk encryption set(s) stay on the key version they name (automatic rotation off": "!",
                     "1 disk encryption set(s) stop following their key's new versions (their resources stay on "
                     "the version they are on)": "!"}
    assert not impact.destructive

async def test_a_notification_of_another_terminals_changes_summarises_all_of_them(tmp_path):
    """What another process committed since the last look is said as a whole: how many events of each kind,
    the first few named, then how many more (the events pane has them all); not only the last one."""
    from console.app import LOUD_SHOWN
    from console.session import open_engine

    home = tmp_path / "home"
    engine = open_engine(home, seed=3, demo=True)
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app._watch_once()  # where the journal ends now
        other = open_engine(home)  # `cmklab az ...` in another terminal, several commands
        for i in range(LOUD_SHOWN + 1):
            other.create_snapshot(f"snap-{i}", "rg-demo", "disk-archive")
        other.create_disk("disk-new", "rg-demo", size_gb=4)
        other.store.close()
        before = len(notes(app))
        app._watch_once()
        await settle(pilot)
        [note] = [n for n in notes(app)[before:] if n.title == "Changed in another terminal"]
        lines = note.message.splitlines()
        assert lines[0] == f"{LOUD_SHOWN + 2} changes: {LOUD_SHOWN + 1} SnapshotCreated, 1 DiskCreated"
        assert lines[1].startswith("snapshot snap-0 created") and len(lines) == 1 + LOUD_SHOWN + 1
        assert lines[-1] == "… and 2 more: the events pane has them all"
    engine.store.close()


async def test_revoking_access_names_the_principal_and_warns_when_it_is_ones_own():
    """A revoke confirmation names the identity (the engine's name for it, with its id), and revoking the signed-in
    operator's own policy says, from the engine's what-if, what they will lose."""
    app = make_app()
    e = app.engine
    des = e.find_des("des-cmk")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_dialog(pilot, "access", "des-cmk", "x", ConfirmModal)
        assert app.screen.title_text == f"Revoke the access policy of des-cmk ({des.principal_id}) on vault kv-demo?"
        assert not [ln for ln in app.screen.lines if "own access" in ln]
        await pilot.press("n")
        await settle(pilot)
        await select(pilot, "access", e.meta.user_name)
        await pilot.press("x")
        await wait_for_screen(pilot, ConfirmModal)
        modal = app.screen
        assert modal.title_text == (f"Revoke the access policy of {e.meta.user_name} ({e.operator}) on vault "
                                    "kv-demo?")
        [line] = [ln for ln in modal.lines if "your own access" in ln]
        assert line.startswith(f"you ({e.meta.user_name}) lose your own access to vault kv-demo: key permissions ")
        assert "create" in line and "purge" in line
        assert "your own access" in str(modal.query_one("#impact").render())
        await pilot.press("n")


async def test_a_name_longer_than_azure_allows_is_said_with_its_length_and_the_limit_never_cut_short():
    """A name typed past Azure's maximum is refused as you type with its length and the limit; a name the form
    proposes (a snapshot of a disk with a long name) is the whole name, told the same way, not cut to fit."""
    app = make_app()
    e = app.engine
    long_disk = "d" * 78
    e.create_disk(long_disk, "rg-demo", size_gb=4)
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane("keys")
        await pilot.press("n")
        await wait_for_screen(pilot, FormModal)
        form = app.screen
        await pilot.press(*("k" * 130))
        await pilot.pause()
        assert form.values()["name"] == "k" * 130
        assert "is 130 characters long; Azure allows at most 127" in str(form.query_one("#err-name").render())
        assert form.query_one("#submit").disabled
        await pilot.press("escape")
        await settle(pilot)
        form = await open_dialog(pilot, "disks", long_disk, "s", FormModal)
        assert form.values()["name"] == f"{long_disk}-snap"
        assert "is 83 characters long; Azure allows at most 80" in str(form.query_one("#err-name").render())
        assert form.query_one("#submit").disabled


@pytest.mark.parametrize("typed", ["0m", "P20Y", "3651d", "tomorrow"])
async def test_the_clock_form_refuses_as_you_type_what_cmklab_clock_advance_refuses(typed):
    """The clock form checks a duration as it is typed with the engine's one rule of how far the clock moves (the
    rule ``cmklab clock advance`` meets): its message under the field is the engine's, before any submit."""
    from engine.errors import EngineError

    app = make_app()
    try:
        app.engine.advance_clock(typed)
        raise AssertionError(f"the engine took {typed}")
    except EngineError as err:
        refusal = err.message
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("plus")
        await wait_for_screen(pilot, FormModal)
        form = app.screen
        form.query_one("#f-delta").value = typed
        await pilot.pause()
        assert refusal in str(form.query_one("#err-delta").render()).replace("\n", " ")
        assert form.query_one("#submit").disabled
        form.query_one("#f-delta").value = "P10Y"  # the longest step the engine takes
        await pilot.pause()
        assert not form.query_one("#err-delta").display and not form.query_one("#submit").disabled


async def test_the_disk_form_checks_the_size_against_the_chosen_skus_limit_as_you_type():
    """A disk's size is checked as it is typed, and again when the SKU changes, by the engine's rule for that SKU
    (Premium_LRS to 32,767 GB, UltraSSD_LRS to 65,536): the engine's message, before any submit."""
    from engine.rules import disk_size_problem

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane("disks")
        await pilot.press("n")
        await wait_for_screen(pilot, FormModal)
        form = app.screen
        form.query_one("#f-name").value = "disk-big"
        form.query_one("#f-size").value = "40000"
        await pilot.pause()
        assert str(form.query_one("#err-size").render()) == disk_size_problem(40000, "Premium_LRS")
        assert "allowed: 1 to 32767" in str(form.query_one("#err-size").render())
        assert form.query_one("#submit").disabled
        form.query_one("#f-sku").value = "UltraSSD_LRS"
        await pilot.pause()
        assert not form.query_one("#err-size").display


async def test_an_expired_key_is_flagged_in_the_keys_and_versions_panes_and_the_detail():
    """A key whose current version is past its expiry by the simulated clock is flagged EXPIRED (the engine's
    ``key_validity``), and its detail says what that means: no new wraps, existing data still unwraps."""
    from console.kinds import cause_lines
    from console.rows import Index

    app = make_app()
    e = app.engine
    e.set_key_attributes("kv-demo", "key-2048", exp="2026-05-01T10:00:00Z")
    async with app.run_test(size=SIZE) as pilot:
        main = app.main
        main.show_pane("keys")
        await pilot.pause()
        rows = {main.rows_by_key[k].name: main.table.row_text(k) for k in main.table.keys}
        assert "EXPIRED" not in rows["key-2048"]
        e.advance_clock("2h")
        main.refresh_data()
        await settle(pilot)
        rows = {main.rows_by_key[k].name: main.table.row_text(k) for k in main.table.keys}
        assert "EXPIRED" in rows["key-2048"] and "EXPIRED" not in rows["key-3072"]
        main.show_pane("versions")
        await settle(pilot)
        versions = [main.table.row_text(k) for k in main.table.keys if main.rows_by_key[k].key.name == "key-2048"]
        assert any("EXPIRED" in text for text in versions)
        k = e.find_key("kv-demo", "key-2048")
        lines = [text for text, _style in cause_lines(e, Index(e), "key", k)]
        assert any(text.endswith(", EXPIRED") and "(current)" in text for text in lines)
        assert any(text.strip().startswith("expired at 2026-05-01T10:00:00+00:00") and "KeyExpired" in text
                   for text in lines)


@pytest.mark.parametrize("field, typed, said", [
    ("after", "P3D", "timeAfterCreate P3D is too short; the minimum is P7D"),
    ("expiry", "P10D", "expiryTime P10D is too short; the minimum is P28D"),
])
async def test_the_rotation_policy_form_checks_each_duration_as_you_type_by_the_engines_policy_rules(field, typed,
                                                                                                   said):
    """A rotation policy's durations are checked as they are typed by the rules the engine applies to the policy
    (its minimums), under the field they concern, before any submit."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        form = await open_dialog(pilot, "keys", "key-2048", "p", FormModal)
        form.query_one(f"#f-{field}").value = typed
        await pilot.pause()
        assert said in str(form.query_one(f"#err-{field}").render()).replace("\n", " ")
        assert form.query_one("#submit").disabled


async def test_cancelling_the_confirmation_after_a_form_goes_back_to_the_form_as_it_was():
    """A form whose action is destructive asks again with the engine's what-if; saying no there goes back to the
    form with what was chosen in it (it closed the form too: everything had to be typed again), and nothing
    changed. Submitting again then confirms and acts."""
    from textual.widgets import Select

    app = make_app()
    e = app.engine
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, "sets", "des-cmk")
        before = e.get_des("des-cmk").key_url
        await pilot.press("c")
        await wait_for_screen(pilot, FormModal)
        form = app.screen
        choice = next(v for _label, v in form.spec.fields[0].options if v != before and "key-2048" in v)
        form.query_one("#f-key", Select).value = choice
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmModal)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is form  # back to the form, not to the table
        assert form.query_one("#f-key", Select).value == choice
        assert not form.query_one("#submit").disabled and not form._busy
        assert e.get_des("des-cmk").key_url == before and app.command_log == []
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        assert e.get_des("des-cmk").key_url == choice
        assert not any(isinstance(s, (FormModal, ConfirmModal)) for s in app.screen_stack)


async def test_the_attach_forms_check_a_lun_with_the_engines_rule_as_you_type():
    """The LUN of an attach form is checked as it is typed by the engine's rule (its range, 0 to 63, is not the
    console's own number any more): its message is the refusal the engine gives, and a LUN the VM already uses is
    said at once too (it was said only once the engine refused the submit)."""
    from engine.errors import EngineError

    app = make_app()
    e = app.engine
    try:
        e.attach_disk("vm-web", "disk-archive", lun=64)
        raise AssertionError("the engine took LUN 64")
    except EngineError as err:
        too_far = err.message
    used = e.get_vm("vm-web").data_disks[0]["lun"]
    async with app.run_test(size=SIZE) as pilot:
        for pane, row, key in (("disks", "disk-archive", "a"), ("vms", "vm-web", "a")):
            await select(pilot, pane, row)
            await pilot.press(key)
            await wait_for_screen(pilot, FormModal)
            form = app.screen
            if pane == "disks":
                form.query_one("#f-vm").value = "vm-web"
            lun = form.query_one("#f-lun")
            for typed, said in (("64", too_far), (str(used), "already used"), ("63", "")):
                lun.value = typed
                await pilot.pause()
                error = str(form.query_one("#err-lun").render())
                assert (said in error) if said else not error, (pane, typed, error)
            await pilot.press("escape")
            await settle(pilot)


async def test_a_grant_that_narrows_access_asks_first_with_the_engines_what_if():
    """An access policy replaces the key permissions the identity had: granting a set's identity only `get` takes
    wrapKey and unwrapKey away (its VMs stop), granting yourself fewer takes your own away. The grant form acted on
    it at once, with no word; now the engine's what-if asks first (the action's ``confirm="impact"``), and declining
    goes back to the form. A grant that takes nothing away still acts at once."""
    app = make_app()
    e = app.engine
    des = e.find_des("des-cmk")

    def perms(oid):
        vault = e.get_vault("kv-demo")
        return next(p["permissions"]["keys"] for p in vault.access_policies if p["objectId"].lower() == oid.lower())

    async with app.run_test(size=SIZE) as pilot:
        mine = list(perms(e.operator))
        await select(pilot, "access", e.meta.user_name)
        await pilot.press("A")
        await wait_for_screen(pilot, FormModal)
        form = app.screen
        assert form.values()["who"] == e.operator
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmModal)
        assert any("lose your own access to vault kv-demo" in ln for ln in app.screen.lines)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is form and perms(e.operator) == mine
        await pilot.press("escape")
        await settle(pilot)
        form = await open_dialog(pilot, "access", "des-cmk", "A", FormModal)
        form.query_one("#f-perms").value = "get"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmModal)
        assert any("will stop" in ln for ln in app.screen.lines)
        await pilot.press("y")
        await settle(pilot)
        assert perms(des.principal_id) == ["get"]
        await select(pilot, "access", "des-cmk")
        await pilot.press("A")  # the identity's access back: nothing lost, no question
        await wait_for_screen(pilot, FormModal)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not any(isinstance(s, (FormModal, ConfirmModal)) for s in app.screen_stack)
        assert perms(des.principal_id) == ["get", "wrapKey", "unwrapKey"]


async def test_an_actions_key_on_a_row_it_does_not_apply_to_says_so():
    """s (start) on a running VM did nothing at all: no dialog, no word (the footer drops the key, unnoticed). A
    trainee in workshop 6, the cursor on the first row (vm-shared, running) rather than on vm-tenant, pressed s
    and saw nothing happen. The console says the action does not apply to that row."""
    app = make_app()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        running = next(v.name for v in app.engine.list_vms() if v.power == "running")
        await select(pilot, "vms", running)
        await pilot.press("s")
        await settle(pilot)
        said = [n for n in app._notifications if "Start VM" in n.message]
        assert said and running in said[-1].message and said[-1].severity == "warning", \
            [(n.title, n.message) for n in app._notifications]
        assert vm_state(app)[running][0] == "running"
        await pilot.press("j")  # a key that is no action's says nothing
        await settle(pilot)
        assert len([n for n in app._notifications if "Start VM" in n.message]) == len(said)


def test_the_clock_form_names_the_next_jobs_with_short_key_ids():
    """The clock form's "Next:" line names keys as every pane does (vault/key/version), not by their URLs."""
    from console.actions import form_clock
    from engine import Engine

    e = Engine.in_memory(seed=5)
    e.create_group("rg", "eastus")
    e.create_vault("kv1", "rg", location="eastus")
    k, ver = e.create_key("kv1", "k1", kty="RSA", size=2048, exp="2026-06-01T00:00:00+00:00")
    intro = form_clock(e, None, None).intro
    assert f"Next: 2026-06-01 00:00 key kv1/k1/{ver['version'][:8]} expired" in intro, intro
    assert "https://" not in intro
