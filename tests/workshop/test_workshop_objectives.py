"""Objective checks report, they never raise: a check that cannot run makes its own objective "cannot be
checked", and the views built on the checks (the Lab pane, ``cmklab scenario check``) stay up."""

from __future__ import annotations

import pytest

from console.app import CmkApp
from console.session import open_engine
from console.widgets.lab import LabPanel
from console.workshop import find_scenario, open_lab, run_scenario_cli
from console.workshop.scenario import OBJECTIVES, Lab, Objective, evaluate_objective, start_scenario
from engine import Engine
from engine._light import replace
from engine.errors import EngineError


def _lab(name: str) -> Lab:
    sc = find_scenario(name)
    e = Engine.in_memory(seed=sc.seed)
    start_scenario(e, sc)
    return Lab(e, sc)


def _data_intact_on_platform_disk(lab: Lab) -> Objective:
    """Step 4 of encrypt-existing-disks checks the data of vm-legacy-data, which the landscape puts on
    platform keys (step 3 moves it to the customer's key)."""
    [obj] = [o for o in lab.steps[3].objectives if o.kind == "data_intact"]
    assert lab.engine.get_disk("vm-legacy-data").encryption_type == "EncryptionAtRestWithPlatformKey"
    return obj


def test_data_intact_on_a_disk_still_on_platform_keys_is_not_met_and_says_why():
    lab = _lab("encrypt-existing-disks")
    r = evaluate_objective(lab.engine, _data_intact_on_platform_disk(lab))
    assert not r.met and not r.error
    assert "vm-legacy-data is still on platform-managed keys" in r.detail


def test_data_intact_reads_back_through_the_customer_key_once_the_disk_uses_it():
    lab = _lab("encrypt-existing-disks")
    obj = _data_intact_on_platform_disk(lab)
    e = lab.engine
    e.deallocate_vm("vm-legacy")
    e.update_disk("vm-legacy-data", encryption_type="EncryptionAtRestWithCustomerKey", disk_encryption_set="des-cmk")
    r = evaluate_objective(e, obj)
    assert r.met and r.detail == "read back through key key-cmk: 'archive: 2019-2025 invoices'"


@pytest.mark.broken_checks_expected
def test_a_check_that_fails_is_that_objective_cannot_be_checked_not_an_exception(monkeypatch):
    lab = _lab("disable-key")

    def broken(engine, vm, power):
        raise IndexError("list index out of range")

    monkeypatch.setitem(OBJECTIVES, "vm_power", replace(OBJECTIVES["vm_power"], fn=broken))
    results = lab.check(advance=True)
    bad = [r for r in results if r.kind == "vm_power"]
    assert bad and all(r.error and not r.met for r in bad)
    assert bad[0].detail == "cannot be checked: IndexError: list index out of range"
    assert bad[0].line().startswith("[?] ")
    # the other objectives are still checked, and the step is not complete
    assert any(r.kind != "vm_power" and not r.error for r in results)
    assert lab.number == 1 and not lab.completed


def _home_on_step_4_of_encrypt_existing_disks(home) -> None:
    assert run_scenario_cli(["run", "encrypt-existing-disks", "--no-console"], home=str(home)) == 0
    e = open_engine(home)
    lab = open_lab(e, home)
    lab.goto(3)  # the trainee pressed n three times: vm-legacy-data is still on platform keys
    e.store.close()


def test_scenario_check_reports_the_platform_disk_instead_of_crashing(lab_home, capsys):
    _home_on_step_4_of_encrypt_existing_disks(lab_home)
    capsys.readouterr()
    assert run_scenario_cli(["check"], home=str(lab_home)) == 1
    out = capsys.readouterr().out
    assert "[ ] the data on vm-legacy-data reads back intact (vm-legacy-data is still on platform-managed keys" in out
    assert run_scenario_cli(["show"], home=str(lab_home)) == 0
    assert "step 4/4: Start the VM" in capsys.readouterr().out


async def test_the_console_opens_on_the_lab_pane_not_on_a_traceback(lab_home):
    _home_on_step_4_of_encrypt_existing_disks(lab_home)
    engine = open_engine(lab_home)
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(LabPanel)
        assert app.lab is not None and app.lab.number == 4
        [r] = [r for r in panel.results if r.kind == "data_intact"]
        assert not r.met and "still on platform-managed keys" in r.detail
        assert "still on platform-managed keys" in str(panel.query_one("#lab-objectives").render())
    assert app.return_code in (None, 0)
    engine.store.close()


# ---- objectives check what they name --------------------------------------------------------------


def test_a_refused_start_of_another_vm_on_the_same_key_does_not_tick_vm_start_refused():
    lab = _lab("disable-key")
    e = lab.engine
    e.set_key_attributes("kv-lab", "key-app", enabled=False)
    lab.goto(1)
    [obj] = lab.step.objectives
    assert obj.label == "a start of vm-web was refused"
    # vm-api shares des-app (and so key-app) with vm-web: its refused start is not vm-web's
    with pytest.raises(EngineError):
        e.start_vm("vm-api")
    r = evaluate_objective(e, obj)
    assert not r.met and "no start of vm-web was attempted" in r.detail
    with pytest.raises(EngineError):
        e.start_vm("vm-web")
    r = evaluate_objective(e, obj)
    assert r.met and "VM vm-web cannot start" in r.detail


def test_a_refused_start_is_logged_although_the_start_rolled_back():
    lab = _lab("disable-key")
    e = lab.engine
    e.set_key_attributes("kv-lab", "key-app", enabled=False)
    before = e.get_vm("vm-api").to_doc()
    with pytest.raises(EngineError):
        e.start_vm("vm-api")
    assert e.get_vm("vm-api").to_doc() == before
    refused = [ev for ev in e.t["events"].values() if ev.type == "VmStartRefused"]
    assert [ev.data["vm"] for ev in refused] == [e.get_vm("vm-api").id]


def test_a_running_ultra_vm_on_a_disabled_key_is_not_said_to_be_startable():
    """ultra-disk-trap step 2 "vm-ultra cannot start", read with the key disabled and vm-ultra still running: the
    Lab said "✗ vm-ultra cannot start / vm-ultra could start", the opposite of what step 1 just taught. It says
    that vm-ultra runs on host-cached keys and would not start once deallocated."""
    lab = _lab("ultra-disk-trap")
    e = lab.engine
    e.set_key_attributes("kv-lab", "key-data", enabled=False)
    [obj] = [o for o in lab.steps[1].objectives if o.kind == "vm_startable"]
    r = evaluate_objective(e, obj)
    assert not r.met
    assert "could start" not in r.detail, r.detail
    assert r.detail.startswith("vm-ultra is running on host-cached keys") and "deallocated" in r.detail, r.detail
    e.deallocate_vm("vm-ultra")
    r = evaluate_objective(e, obj)
    assert r.met and r.detail.startswith("refused: "), r.detail


def test_a_vm_stopped_by_a_key_is_not_said_stopped_twice():
    """revoke-access step 3 "vm-app is running", read before the start: the Lab said "vm-app is stopped: stopped:
    key ... access revoked" (the VM's status message starts with its power state)."""
    lab = _lab("revoke-access")
    e = lab.engine
    des = e.get_des("des-app")
    e.delete_policy("kv-lab", des.principal_id)
    [obj] = [o for o in lab.steps[2].objectives if o.kind == "vm_power"]
    r = evaluate_objective(e, obj)
    assert not r.met and r.detail.startswith("vm-app is stopped: key "), r.detail
