"""``cmklab scenario next``: a trainee on the CLI alone moves on from a step they are already past (as the
console's ``>`` does), and ``scenario check`` says so when a step is not met."""

from __future__ import annotations

import sys
from pathlib import Path

from console.session import open_engine
from console.workshop import run_scenario_cli

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_helpers import saved_lab, saved_lab_version  # noqa: E402


def test_a_trainee_ahead_of_a_step_moves_on_with_scenario_next(lab_home, capsys):
    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(lab_home)) == 0
    e = open_engine(lab_home)
    e.set_key_attributes("kv-lab", "key-app", enabled=False)
    e.close()
    assert run_scenario_cli(["check"], home=str(lab_home)) == 0
    e = open_engine(lab_home)  # step 2 wants vm-web's start refused; the trainee enabled the key and started it
    e.set_key_attributes("kv-lab", "key-app", enabled=True)
    e.start_vm("vm-web")
    e.close()
    capsys.readouterr()
    assert run_scenario_cli(["check"], home=str(lab_home)) == 1
    out = capsys.readouterr().out
    assert f"Move on: cmklab --home {lab_home} scenario next" in out

    assert run_scenario_cli(["next"], home=str(lab_home)) == 0
    out = capsys.readouterr().out
    assert out.startswith("Step 2 left not met (skipped). Next:")
    assert "step 3/4: Enable the key" in out
    state = saved_lab(lab_home)
    assert state["step"] == 3 and state["completed"] == [1]


def test_next_on_the_last_step_and_without_a_lab(lab_home, capsys):
    assert run_scenario_cli(["next"], home=str(lab_home)) == 2
    assert "no scenario is being played" in capsys.readouterr().err
    assert run_scenario_cli(["run", "revoke-access", "--no-console"], home=str(lab_home)) == 0
    for _ in range(2):
        assert run_scenario_cli(["next"], home=str(lab_home)) == 0
    capsys.readouterr()
    before = saved_lab_version(lab_home)
    assert run_scenario_cli(["next"], home=str(lab_home)) == 1
    assert "step 3/3 is the last step of revoke-access" in capsys.readouterr().err
    assert saved_lab_version(lab_home) == before


def test_next_is_refused_read_only(lab_home, capsys):
    assert run_scenario_cli(["run", "revoke-access", "--no-console"], home=str(lab_home)) == 0
    before = saved_lab_version(lab_home)
    capsys.readouterr()
    assert run_scenario_cli(["next"], home=str(lab_home), read_only=True) == 1
    assert capsys.readouterr().err.startswith("ERROR: (ReadOnly) ")
    assert saved_lab_version(lab_home) == before
