"""The scenario files shipped with cmklab: they load, they cover the six exercises, and bad files are
refused with a message that names the file, the step and what is wrong."""

from __future__ import annotations

import tomllib

import pytest

from console.workshop import SCENARIO_DIR, find_scenario, scenarios
from engine import Engine
from console.workshop.scenario import (OBJECTIVES, ScenarioError, load_scenario, parse_scenario, render_hint,
                                      start_scenario)

REQUIRED = {"rotate-no-downtime", "disable-key", "ultra-disk-trap", "revoke-access", "encrypt-existing-disks",
            "crypto-shredding"}


def test_the_six_scenarios_ship_with_cmklab():
    names = [s.name for s in scenarios()]
    assert REQUIRED <= set(names)
    assert len(names) == len(set(names))
    assert [s.order for s in scenarios()] == sorted(s.order for s in scenarios())


@pytest.mark.parametrize("path", sorted(SCENARIO_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_step_has_narrative_hints_and_engine_checked_objectives(path):
    sc = load_scenario(path)
    assert sc.steps
    for step in sc.steps:
        assert step.narrative and step.hints and step.objectives
        assert all(h.command.startswith("cmklab ") for h in step.hints)
        assert all(o.kind in OBJECTIVES and o.label for o in step.objectives)


def test_time_travel_is_used_where_the_lifecycle_needs_it():
    hints = lambda name: [h.command for s in find_scenario(name).steps for h in s.hints]  # noqa: E731
    assert "cmklab clock advance 1h" in hints("rotate-no-downtime")
    assert any(h.startswith("cmklab clock advance") and h.endswith("d") for h in hints("crypto-shredding"))


@pytest.mark.parametrize("sc", scenarios(), ids=lambda s: s.name)
def test_landscapes_are_reproducible_from_the_seed(sc):
    ids = []
    for _ in range(2):
        e = Engine.in_memory(seed=sc.seed)
        start_scenario(e, sc)
        ids.append(sorted((t, k) for t in ("vaults", "keys", "des", "disks", "vms") for k in e.t[t])
                   + [render_hint(e, h.command) for s in sc.steps for h in s.hints])
    assert ids[0] == ids[1]


def test_placeholders_in_hints_are_filled_from_the_state():
    sc = find_scenario("revoke-access")
    e = Engine.in_memory(seed=sc.seed)
    start_scenario(e, sc)
    text = render_hint(e, sc.steps[0].hints[0].command)
    assert e.get_des("des-app").principal_id in text and "{" not in text
    # braces that are not placeholders (a JMESPath query) are left alone
    assert render_hint(e, "cmklab az vm list --query '[].{name:name}'") == "cmklab az vm list --query '[].{name:name}'"


BASE = """
name = "x"
title = "X"
summary = "s"
[landscape]
[[steps]]
title = "t"
narrative = "n"
hints = ["cmklab clock advance 1h"]
"""


@pytest.mark.parametrize("objective, message", [
    ('{ kind = "vm_powr", vm = "a", power = "running" }', "objective kind 'vm_powr' is unknown"),
    ('{ kind = "vm_power", vm = "a" }', "objective vm_power needs 'power'"),
    ('{ kind = "vm_power", vm = "a", power = "asleep" }', "power 'asleep' is not one of"),
    ('{ kind = "key_versions", vault = "v", key = "k", min = "2" }', "min must be a int"),
    ('{ kind = "no_vm_stopped_by_key", vm = "a" }', "takes no 'vm'"),
])
def test_a_bad_objective_is_refused_naming_file_step_and_problem(objective, message):
    data = tomllib.loads(BASE + f"objectives = [{objective}]\n")
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "bad.toml")
    assert err.value.message.startswith("bad.toml, step 1, objective 1: ")
    assert message in err.value.message


def test_a_hint_must_be_a_cmklab_command():
    data = tomllib.loads(BASE.replace('"cmklab clock advance 1h"', '"az vm start -n x"')
                         + 'objectives = [{ kind = "no_vm_stopped_by_key" }]\n')
    with pytest.raises(ScenarioError, match="must start with 'cmklab '"):
        parse_scenario(data, "bad.toml")


def test_an_unknown_scenario_lists_the_known_ones():
    with pytest.raises(ScenarioError, match="rotate-no-downtime"):
        find_scenario("nope")


def test_a_landscape_the_engine_refuses_names_the_file():
    data = tomllib.loads(BASE + 'objectives = [{ kind = "no_vm_stopped_by_key" }]\n'
                         + '[[landscape.vaults]]\nname = "kv-nopp"\npurge_protection = false\n'
                         + '[[landscape.keys]]\nvault = "kv-nopp"\nname = "k"\n'
                         + '[[landscape.sets]]\nname = "des-x"\nvault = "kv-nopp"\nkey = "k"\n')
    sc = parse_scenario(data, "bad.toml")
    with pytest.raises(ScenarioError, match=r"bad.toml: the landscape cannot be built: .*purge protection"):
        start_scenario(Engine.in_memory(seed=1), sc)


def test_a_scenario_written_for_a_rule_profile_refuses_another(lab_home, capsys):
    from console.workshop import run_scenario_cli

    assert run_scenario_cli(["run", "ultra-disk-trap", "--no-console"], home=str(lab_home),
                            profile="azure-2025") == 1
    assert "written for the rule profile 'seeds'" in capsys.readouterr().err
