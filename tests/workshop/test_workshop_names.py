"""A scenario file that names a resource nobody creates is refused when it is loaded, with the file,
the step (or the landscape) and the name: a typo must not leave a trainee on an objective that can
never be met."""

from __future__ import annotations

import tomllib

import pytest

from console.workshop import run_scenario_cli
from console.workshop.scenario import ScenarioError, parse_scenario

GOOD = """
name = "names"
title = "Names"
summary = "s"
[landscape]
[[landscape.vaults]]
name = "kv-lab"
[[landscape.keys]]
vault = "kv-lab"
name = "key-app"
[[landscape.sets]]
name = "des-app"
vault = "kv-lab"
key = "key-app"
[[landscape.vms]]
name = "vm-db"
os_set = "des-app"
disks = [{ name = "vm-db-data", set = "des-app" }]
[[steps]]
title = "t"
narrative = "n"
hints = ["cmklab az keyvault key rotate --vault-name kv-lab --name key-app"]
objectives = [{ kind = "vm_power", vm = "vm-db", power = "running" },
              { kind = "data_intact", disk = "vm-db-data", text = "x" },
              { kind = "key_versions", vault = "kv-lab", key = "key-app" }]
"""


def _refused(text: str, source: str = "bad.toml") -> str:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(tomllib.loads(text), source)
    return err.value.message


def test_the_good_file_loads():
    assert parse_scenario(tomllib.loads(GOOD), "good.toml").steps


@pytest.mark.parametrize("typo, message", [
    ('vm = "vm-db", power', "bad.toml, step 1, objective 1 (vm_power): VM 'vm-dbb' does not exist"),
    ('disk = "vm-db-data"', "bad.toml, step 1, objective 2 (data_intact): disk 'vm-db-dta' does not exist"),
    ('key = "key-app" }]', "bad.toml, step 1, objective 3 (key_versions): key 'key-ap' in vault 'kv-lab' does "
                           "not exist"),
])
def test_an_objective_naming_a_missing_resource_is_refused_at_load(typo, message):
    bad = {'vm = "vm-db", power': 'vm = "vm-dbb", power', 'disk = "vm-db-data"': 'disk = "vm-db-dta"',
           'key = "key-app" }]': 'key = "key-ap" }]'}[typo]
    text = GOOD.replace(typo, bad)
    assert text != GOOD
    got = _refused(text)
    assert got.startswith(message), got
    assert "the landscape does not create it and no hint does" in got


def test_a_landscape_entry_naming_a_missing_resource_is_refused_at_load():
    got = _refused(GOOD.replace('os_set = "des-app"', 'os_set = "des-ap"'))
    assert got.startswith("bad.toml, landscape: VM 'vm-db': disk encryption set 'des-ap' does not exist"), got
    assert "the scenario creates: des-app" in got
    got = _refused(GOOD.replace('key = "key-app"\n[[landscape.vms]]', 'key = "key-apx"\n[[landscape.vms]]'))
    assert got.startswith("bad.toml, landscape: set 'des-app': key 'key-apx' in vault 'kv-lab' does not exist"), got


def test_a_hint_placeholder_naming_a_missing_resource_is_refused_at_load():
    text = GOOD.replace('hints = ["cmklab az keyvault key rotate --vault-name kv-lab --name key-app"]',
                        'hints = ["cmklab az keyvault delete-policy --name kv-lab --object-id {principal:des-apq}"]')
    got = _refused(text)
    assert got.startswith("bad.toml, step 1, hint 1: {principal:des-apq}: disk encryption set 'des-apq' does "
                          "not exist"), got


def test_a_resource_a_hint_creates_may_be_named():
    text = GOOD.replace('hints = ["cmklab az keyvault key rotate --vault-name kv-lab --name key-app"]',
                        'hints = ["cmklab az keyvault key create --vault-name kv-lab --name key-new", '
                        '"cmklab az disk-encryption-set create --name des-new --resource-group rg-lab '
                        '--key-url {key_url:kv-lab/key-new} --source-vault kv-lab"]')
    text = text.replace('{ kind = "vm_power", vm = "vm-db", power = "running" }',
                        '{ kind = "access", des = "des-new" }, { kind = "key_versions", vault = "kv-lab", key = "key-new" }')
    assert parse_scenario(tomllib.loads(text), "ok.toml").steps


def test_scenario_run_of_a_file_with_a_typo_names_file_step_and_name(lab_home, tmp_path, capsys):
    own = tmp_path / "typo.toml"
    own.write_text(GOOD.replace('vm = "vm-db", power', 'vm = "vm-dbb", power'))
    assert run_scenario_cli(["run", str(own), "--no-console"], home=str(lab_home)) == 1
    err = capsys.readouterr().err
    assert "typo.toml, step 1, objective 1 (vm_power): VM 'vm-dbb' does not exist" in err
    assert not (lab_home / "state.json").exists() and not (lab_home / "db").exists()
