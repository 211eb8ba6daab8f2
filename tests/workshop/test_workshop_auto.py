"""Every scenario played ``--auto`` through the real CLI reaches all its objectives; skipping a step
makes one of its objectives fail, and the run says which."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from console.workshop import SCENARIO_DIR, cli_runner, new_landscape, play, run_scenario_cli, scenarios
from console.workshop.scenario import load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_helpers import saved_lab  # noqa: E402

pytestmark = pytest.mark.usefixtures("require_cli")

SKIPS = {
    # scenario: (step skipped, the objective that then fails)
    "rotate-no-downtime": (2, "every resource of des-prod is on the newest version of its key"),
    "disable-key": (2, "a start of vm-web was refused"),
    "ultra-disk-trap": (2, "vm-ultra is deallocated"),
    "revoke-access": (1, "the identity of des-app lacks get, wrapKey and unwrapKey"),
    "encrypt-existing-disks": (2, "vm-legacy is deallocated"),
    "crypto-shredding": (4, "key key-tenant is purged"),
}


@pytest.mark.parametrize("name", sorted(s.name for s in scenarios()))
def test_scenario_runs_auto_to_all_its_objectives(name, lab_home, capsys):
    rc = run_scenario_cli(["run", name, "--auto"], home=str(lab_home))
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    total = len(next(s for s in scenarios() if s.name == name).steps)
    assert f"all {total} steps done, every objective met" in out
    assert "[ ]" not in out
    lab = saved_lab(lab_home)
    assert lab["scenario"] == name and lab["completed"] == list(range(1, total + 1))


@pytest.mark.parametrize("name", sorted(SKIPS))
def test_skipping_a_step_fails_an_objective(name, lab_home):
    step, label = SKIPS[name]
    sc = next(s for s in scenarios() if s.name == name)
    engine, lab = new_landscape(lab_home, sc)
    lines: list[str] = []
    result = play(lab, cli_runner(lab_home, engine=engine), skip={step}, out=lines.append)
    engine.store.close()
    assert not result.ok
    assert result.failed_step == step
    assert label in result.unmet
    assert any(line.startswith("  [ ] " + label) for line in lines)


def test_auto_exits_non_zero_naming_the_objective_not_met(lab_home, capsys):
    rc = run_scenario_cli(["run", "disable-key", "--auto", "--skip", "1"], home=str(lab_home))
    out, err = capsys.readouterr()
    assert rc == 1
    assert "stopped at step 1: not met: the current version of key-app is disabled" in err


def test_auto_refuses_a_home_that_holds_state_unless_reset(lab_home, capsys):
    assert run_scenario_cli(["run", "revoke-access", "--auto", "--until", "1"], home=str(lab_home)) == 0
    capsys.readouterr()
    assert run_scenario_cli(["run", "revoke-access", "--auto"], home=str(lab_home)) == 1
    assert "already holds a cmklab state" in capsys.readouterr().err
    assert run_scenario_cli(["run", "revoke-access", "--auto", "--reset"], home=str(lab_home)) == 0


def test_a_hint_that_should_be_refused_but_succeeds_fails_the_run(lab_home, tmp_path):
    """The runner holds the engine to its refusals too: an expected refusal that passes is a failure."""
    sc = load_scenario(SCENARIO_DIR / "02-disable-key.toml")
    engine, lab = new_landscape(lab_home, sc)
    lines: list[str] = []
    result = play(lab, cli_runner(lab_home, engine=engine), skip={1}, out=lines.append)  # step 1 unmet: stops there
    assert result.failed_step == 1
    lab.goto(1)
    result = play(lab, cli_runner(lab_home, engine=engine), out=lines.append)  # the key is enabled: vm-web is running
    engine.store.close()
    assert not result.ok and result.failed_step == 2


@pytest.mark.parametrize("argv", [["--skip", "6"], ["--skip", "0"], ["--until", "9"], ["--until", "0"]])
def test_a_step_the_scenario_does_not_have_is_a_usage_error(argv, lab_home, capsys):
    """``--skip 6`` on a 5-step scenario was silently ignored: a usage error now, naming the steps there are,
    before the home is touched."""
    assert run_scenario_cli(["run", "crypto-shredding", "--auto", *argv], home=str(lab_home)) == 2
    assert f"error: {' '.join(argv)}: crypto-shredding has steps 1 to 5" in capsys.readouterr().err
    assert not lab_home.exists()
