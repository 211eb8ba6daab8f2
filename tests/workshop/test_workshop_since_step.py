"""Objectives read from the journal (a refused start, a refused purge, an event logged) count only what was
written since the step began: a refusal from step 1, before the key was purged, does not meet step 5's "a
start of vm-tenant was refused", and a rotation job that ran in step 3 does not meet step 4's."""

from __future__ import annotations

import pytest

from console.workshop import find_scenario
from console.workshop.scenario import Lab, start_scenario
from engine import Engine


def _lab(name: str) -> Lab:
    sc = find_scenario(name)
    e = Engine.in_memory(seed=sc.seed)
    start_scenario(e, sc)
    return Lab(e, sc, started=e.now())


def _result(lab: Lab, label_start: str):
    [r] = [r for r in lab.results() if r.label.startswith(label_start)]
    return r


def _refused(fn, *args):
    with pytest.raises(Exception):  # noqa: B017,PT011 - the engine's refusal: the lesson
        fn(*args)


def test_shredding_step_5_needs_a_start_refused_after_the_purge():
    lab = _lab("crypto-shredding")
    e = lab.engine
    e.delete_key("kv-tenant", "key-tenant")
    _refused(e.start_vm, "vm-tenant")  # step 1: refused while the key is only deleted
    assert all(r.met for r in lab.check(advance=True))
    _refused(e.purge_key, "kv-tenant", "key-tenant")
    assert all(r.met for r in lab.check(advance=True))
    e.advance_clock("6d")
    assert all(r.met for r in lab.check(advance=True))
    e.advance_clock("1d")
    assert all(r.met for r in lab.check(advance=True))
    assert lab.number == 5
    r = _result(lab, "a start of vm-tenant was refused")
    assert not r.met
    assert r.detail.endswith("but no start of vm-tenant was attempted since this step began (only before it)")
    assert not lab.check(advance=True)[0].met and 4 not in lab.completed

    _refused(e.start_vm, "vm-tenant")  # now, after the purge
    assert _result(lab, "a start of vm-tenant was refused").met
    assert all(r.met for r in lab.check(advance=True)) and 4 in lab.completed


def test_a_step_begins_once_so_its_refusal_still_counts_after_moving_away_and_back():
    lab = _lab("disable-key")
    e = lab.engine
    e.set_key_attributes("kv-lab", "key-app", enabled=False)
    assert all(r.met for r in lab.check(advance=True))
    assert not _result(lab, "a start of vm-web was refused").met
    _refused(e.start_vm, "vm-web")
    assert lab.previous() and lab.next()
    assert _result(lab, "a start of vm-web was refused").met


def test_disable_key_step_2_ignores_a_refusal_from_step_1():
    lab = _lab("disable-key")
    e = lab.engine
    e.set_key_attributes("kv-lab", "key-app", enabled=False)
    _refused(e.start_vm, "vm-web")  # tried in step 1, before the step that asks for it
    assert all(r.met for r in lab.check(advance=True))
    assert not _result(lab, "a start of vm-web was refused").met


def test_rotation_step_4_ignores_a_rotation_job_that_ran_in_step_3():
    lab = _lab("rotate-no-downtime")
    e = lab.engine
    e.rotate_key("kv-lab", "key-prod")
    assert all(r.met for r in lab.check(advance=True))
    e.update_des("des-prod", key_url=f"{e.get_key('kv-lab', 'key-prod', audit=False)[0].id}/"
                 f"{e.get_key('kv-lab', 'key-prod', audit=False)[1]['version']}")
    assert all(r.met for r in lab.check(advance=True))
    e.update_des("des-prod", rotation_to_latest=True)
    e.rotate_key("kv-lab", "key-prod")  # step 3, ahead of time: the job runs within the hour
    e.advance_clock("1h")
    assert all(r.met for r in lab.check(advance=True)), [r.line() for r in lab.results()]
    assert lab.number == 4
    r = _result(lab, "the event log shows JobRan")
    assert not r.met and r.detail.endswith("since this step began (only before it)")
    e.rotate_key("kv-lab", "key-prod")
    e.advance_clock("1h")
    assert all(r.met for r in lab.check(advance=True)), [r.line() for r in lab.results()]


def test_a_step_looked_at_before_the_one_before_it_was_done_begins_when_entered_after():
    """Peeking ahead with > and coming back: the later step begins when it is entered once the step before it
    is complete, so what was done while peeking (before its time) does not count."""
    lab = _lab("disable-key")
    e = lab.engine
    assert lab.next()  # a look at step 2 first
    assert lab.previous()
    e.set_key_attributes("kv-lab", "key-app", enabled=False)
    _refused(e.start_vm, "vm-web")  # still step 1
    assert all(r.met for r in lab.check(advance=True)) and lab.number == 2
    assert not _result(lab, "a start of vm-web was refused").met


def test_the_marks_are_saved_with_the_progress():
    lab = _lab("disable-key")
    e = lab.engine
    e.set_key_attributes("kv-lab", "key-app", enabled=False)
    _refused(e.start_vm, "vm-web")
    assert all(r.met for r in lab.check(advance=True))
    again = Lab.from_state(e, lab.scenario, lab.to_dict())
    assert again.marks == lab.marks and 1 in again.marks
    assert not _result(again, "a start of vm-web was refused").met


def test_encrypt_existing_disks_step_1_needs_the_refused_update_to_be_tried():
    """Workshop 5 step 1 held in the starting landscape (the disk on the platform key, the VM running): done
    before the trainee did anything. It now asks for the refused switch itself."""
    lab = _lab("encrypt-existing-disks")
    e = lab.engine
    r = _result(lab, "the switch of vm-legacy-data to des-cmk was tried")
    assert not r.met and r.detail == "no change of vm-legacy-data's encryption was attempted"
    assert not all(r.met for r in lab.check(advance=True)) and lab.number == 1
    _refused(lambda: e.update_disk("vm-legacy-data", "rg-lab", disk_encryption_set="des-cmk"))
    assert all(r.met for r in lab.check(advance=True)) and lab.number == 2


def test_skipping_workshop_5_step_1_is_caught(lab_home, capsys):
    from console.workshop import run_scenario_cli

    assert run_scenario_cli(["run", "encrypt-existing-disks", "--auto", "--skip", "1"], home=str(lab_home)) == 1
    assert "stopped at step 1: not met: the switch of vm-legacy-data to des-cmk was tried, and refused" \
        in capsys.readouterr().err
