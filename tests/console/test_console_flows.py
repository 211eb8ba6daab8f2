"""Pilot tests of the console's flows: what a person does, and what they see happen."""

from __future__ import annotations

import asyncio

import pytest

from console.app import CmkApp, make_app
from console.modals.confirm import ConfirmModal, TypedConfirmModal
from console.modals.form import FormModal
from console.screenshots import select, settle, wait_for_screen
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
        await select(pilot, "keys", "key-3072")
        await pilot.press("e")
        await wait_for_screen(pilot, ConfirmModal)
        modal = app.screen
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
        await select(pilot, "keys", "key-2048")
        await pilot.press("x")
        await wait_for_screen(pilot, ConfirmModal)
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
        await select(pilot, "keys", "key-old")
        await pilot.press("P")
        await wait_for_screen(pilot, TypedConfirmModal)
        await pilot.press("y")  # a stray "y" types into the box; it does not confirm
        assert isinstance(app.screen, TypedConfirmModal)
        await pilot.press("backspace", *"key-old", "enter")
        await settle(pilot)
        assert "https://kv-scratch.vault.azure.net/keys/key-old" not in e.t["keys"]


async def test_escape_cancels_a_confirmation():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        before = vm_state(app)
        await select(pilot, "vms", "vm-web")
        await pilot.press("o")
        await wait_for_screen(pilot, ConfirmModal)
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
            assert [(n.title, n.severity) for n in notes(app)] == [("ReadOnly", "error")], key
        assert vm_state(app) == before
        assert all(not isinstance(s, (ConfirmModal, FormModal)) for s in app.screen_stack)
        for op_id in ("key.disable", "key.rotate", "key.delete", "key.create"):  # the palette's way
            app.clear_notifications()
            app.main.run_op(op_id)
            await settle(pilot)
            assert [(n.title, n.severity) for n in notes(app)] == [("ReadOnly", "error")], op_id
        assert vm_state(app) == before
        assert all(not isinstance(s, (ConfirmModal, FormModal)) for s in app.screen_stack)
        app.clear_notifications()
        app.execute(__import__("console.actions", fromlist=["Call"]).Call("advance_clock", ("1h",)), "clock")
        await settle(pilot)
        assert app.engine.now() == "2026-05-01T09:00:00+00:00"  # the store refused it, and says so
        refused = [n for n in notes(app) if n.title == "ReadOnly"]
        assert len(refused) == 1 and "opened read-only" in refused[0].message


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
        await select(pilot, "vms", "vm-web")
        await pilot.press("w")
        await wait_for_screen(pilot, FormModal)
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
        await select(pilot, "keys", "key-2048")
        await pilot.press("x")
        await wait_for_screen(pilot, ConfirmModal)
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
