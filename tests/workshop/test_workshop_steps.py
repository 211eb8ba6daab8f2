"""Steps check what they mean, and a step that can no longer be met says so and has a way out.

Crypto-shredding's step 3 asks for six days on the clock since the delete: however the trainee moves it
(6d, 3d + 3d, 144h), and whenever. Moving it too far purges the key, which no command undoes: ``scenario check`` says the step can
no longer be met and ``scenario reset-step`` puts the landscape back as it was when the step began."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.workshop import find_scenario
from engine import Engine
from console.workshop.scenario import Lab, Objective, evaluate_objective, start_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_helpers import saved_lab  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _shredding_at_step_3() -> Lab:
    sc = find_scenario("crypto-shredding")
    e = Engine.in_memory(seed=sc.seed)
    start_scenario(e, sc)
    lab = Lab(e, sc, started=e.now())
    e.delete_key("kv-tenant", "key-tenant")
    assert all(r.met for r in lab.check(advance=True))
    with pytest.raises(Exception, match="(?i)purge"):
        e.purge_key("kv-tenant", "key-tenant")
    assert all(r.met for r in lab.check(advance=True))
    assert lab.number == 3 and lab.started == e.now()
    return lab


def _retention_objective(lab: Lab):
    [obj] = [o for o in lab.step.objectives if o.kind == "key_retention_left"]
    return obj


@pytest.mark.parametrize("advances", [["6d"], ["3d", "3d"], ["144h"], ["1d", "2d", "72h"]])
def test_six_days_on_the_clock_meet_step_3_however_they_are_typed(advances):
    lab = _shredding_at_step_3()
    for a in advances:
        lab.engine.advance_clock(a)
    results = lab.check(advance=True)
    assert all(r.met for r in results), [r.line() for r in results]
    assert lab.number == 4


def test_step_3_counts_the_retention_from_the_delete_not_from_when_the_step_began():
    """What step 3 asks is a state: the key's retention has a day left. The days that passed in step 2
    count, and moving between steps (< then >) starts nothing again: it never says 6d to go when the
    retention ends in a day (which led trainees to purge the key)."""
    lab = _shredding_at_step_3()
    r = evaluate_objective(lab.engine, _retention_objective(lab))
    assert not r.met and r.detail.endswith(": 7d left; move the clock 6d more")
    lab.goto(1)
    lab.engine.advance_clock("5d")  # on step 2, looking back
    lab.goto(2)
    r = evaluate_objective(lab.engine, _retention_objective(lab))
    assert not r.met and r.detail.endswith(": 2d left; move the clock 1d more")
    lab.engine.advance_clock("1d")
    lab.goto(1)
    lab.goto(2)
    results = lab.check(advance=True)
    assert all(r.met for r in results), [r.line() for r in results]
    assert results[1].detail.endswith(": 1d left")


def test_moving_between_steps_does_not_begin_a_step_again():
    """A step begins once: ``<`` then ``>`` keeps when it began (a ``clock_advanced`` objective of a trainer's
    own scenario counts from there), saved with the lab's progress."""
    lab = _shredding_at_step_3()
    began = lab.started
    lab.engine.advance_clock("2d")
    assert lab.previous() and lab.next()
    assert lab.started == began
    again = Lab.from_state(lab.engine, lab.scenario, lab.to_dict())
    assert again.number == 3 and again.started == began
    obj = Objective("clock_advanced", {"at_least": "2d"}, "2d")
    assert evaluate_objective(lab.engine, obj, since=lab.started).met


def test_a_purged_key_makes_the_step_impossible_not_just_unmet():
    lab = _shredding_at_step_3()
    lab.engine.advance_clock("8d")  # past the 7-day retention: Key Vault purges the key
    results = lab.check(advance=True)
    stuck, retention = lab.stuck(results)
    assert stuck.kind == "key_state" and not stuck.met
    assert retention.kind == "key_retention_left" and retention.detail == stuck.detail
    assert stuck.detail == "key key-tenant is purged: a purge cannot be undone"
    assert stuck.line().startswith("[!] ")
    assert lab.number == 3 and 2 not in lab.completed


# ---- as a trainee runs it: the installed cmklab, one process per command --------------------------


def _cmklab(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMKLAB_", "TEXTUAL"))}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    exe = Path(sys.executable).with_name("cmklab")
    done = subprocess.run([str(exe), "--home", str(home), *args], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_trainee_stuck_on_a_purged_key_resets_the_step_and_finishes_it(tmp_path):
    home = tmp_path / "home"
    run = lambda *a: _cmklab(home, *a)  # noqa: E731
    assert run("scenario", "run", "crypto-shredding", "--no-console").returncode == 0
    assert run("az", "keyvault", "key", "delete", "--vault-name", "kv-tenant", "--name", "key-tenant").returncode == 0
    assert run("scenario", "check").returncode == 0
    assert run("az", "keyvault", "key", "purge", "--vault-name", "kv-tenant", "--name", "key-tenant").returncode != 0
    assert run("scenario", "check").returncode == 0
    # step 3: 3d and 3d count as six days
    for _ in range(2):
        assert run("clock", "advance", "3d").returncode == 0
    done = run("scenario", "check")
    assert done.returncode == 0, done.stdout
    assert "[x] six days since the delete: at most 1d of key-tenant's retention left (recoverable until " in done.stdout
    assert saved_lab(home)["step"] == 4

    # a second trainee overshoots: 8 days purge the key, and step 3 can never be met again
    home = tmp_path / "other"
    assert run("scenario", "run", "crypto-shredding", "--no-console").returncode == 0
    run("az", "keyvault", "key", "delete", "--vault-name", "kv-tenant", "--name", "key-tenant")
    run("scenario", "check")
    run("az", "keyvault", "key", "purge", "--vault-name", "kv-tenant", "--name", "key-tenant")
    run("scenario", "check")
    assert run("clock", "advance", "8d").returncode == 0
    done = run("scenario", "check")
    assert done.returncode == 1
    assert "[!] key key-tenant is deleted (key key-tenant is purged: a purge cannot be undone)" in done.stdout
    assert "This step can no longer be met" in done.stdout
    assert f"cmklab --home {home} scenario reset-step" in done.stdout

    done = run("scenario", "reset-step")
    assert done.returncode == 0, done.stderr
    assert "back at the start of step 3/5 (steps 1 to 2 replayed from their hints)" in done.stdout
    assert "[x] key key-tenant is deleted" in done.stdout
    assert not (home / ".reset-step").exists()
    state = saved_lab(home)
    assert state["step"] == 3 and state["completed"] == [1, 2]

    assert run("clock", "advance", "6d").returncode == 0
    assert run("scenario", "check").returncode == 0
    assert run("clock", "advance", "1d").returncode == 0
    done = run("scenario", "check")
    assert done.returncode == 0 and "[x] key key-tenant is purged" in done.stdout


def test_reset_step_without_a_scenario_says_how_to_start_one(tmp_path):
    done = _cmklab(tmp_path / "empty", "scenario", "reset-step")
    assert done.returncode == 2 and f"cmklab --home {tmp_path / 'empty'} scenario run NAME" in done.stderr
