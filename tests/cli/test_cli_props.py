"""Flags that set a plain property (console/cli/props.py): each one given is stored and shown at its path, a later
update changes it, a null removes it, and a bad value is az's usage error with nothing changed."""

from __future__ import annotations

import pytest

from console.cli.commands import compute, keyvault, vm, vmss

SAMPLES = {"int": "2", "float": "0.5", "flag3": "true", "value": "name1", "list": "1"}


def _sample(p):
    return p.choices[-1] if p.kind == "enum" else SAMPLES[p.kind]


def _expected(p, shown):
    if p.kind == "enum":
        return p.choices[-1]
    if p.kind == "list":
        return ["1"]
    return {"int": 2, "float": 0.5, "flag3": True}.get(p.kind, shown)


def _query(path: str) -> str:
    return ".".join(f'"{part}"' for part in path.split("."))


@pytest.mark.parametrize("prop", compute.DISK_CREATE_PROPS, ids=lambda p: p.options[0])
def test_disk_create_stores_and_shows_each_property(cli, rg, prop):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "8", prop.options[0], _sample(prop), "-o", "none")
    shown = cli.ok("disk", "show", "-g", rg, "-n", "d1", "--query", _query(prop.path)).json
    assert shown is not None and shown == _expected(prop, shown)


@pytest.mark.parametrize("prop", vm.VM_CREATE_PROPS, ids=lambda p: p.options[0])
def test_vm_create_stores_and_shows_each_property(cli, rg, prop):
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", prop.options[0], _sample(prop), "-o", "none")
    shown = cli.ok("vm", "show", "-g", rg, "-n", "vm1", "-u", "--query", _query(prop.path)).json
    assert shown is not None and shown == _expected(prop, shown)


def test_names_become_ids_and_edge_zones_objects(cli, rg):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "8", "--disk-access", "da1", "--edge-zone", "ez1",
           "-o", "none")
    d = cli.ok("disk", "show", "-g", rg, "-n", "d1").json
    assert d["diskAccessId"].endswith(f"/resourceGroups/{rg}/providers/Microsoft.Compute/diskAccesses/da1")
    assert d["extendedLocation"] == {"name": "ez1", "type": "EdgeZone"}


def test_update_changes_a_property_and_a_null_removes_it(cli, rg):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "8", "--max-shares", "2", "-o", "none")
    assert cli.tsv("disk", "update", "-g", rg, "-n", "d1", "--max-shares", "3", "--query", "maxShares") == "3"
    assert cli.tsv("disk", "update", "-g", rg, "-n", "d1", "--set", "networkAccessPolicy=AllowPrivate", "--query",
                   "networkAccessPolicy") == "AllowPrivate"
    out = cli.ok("disk", "update", "-g", rg, "-n", "d1", "--set", "maxShares=null").json
    assert "maxShares" not in out


def test_vm_update_properties_and_user_data_only_when_asked(cli, rg):
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "--user-data", "hello", "-o", "none")
    assert "userData" not in cli.ok("vm", "show", "-g", rg, "-n", "vm1").json
    assert cli.tsv("vm", "show", "-g", rg, "-n", "vm1", "--include-user-data", "--query", "userData") == "aGVsbG8="
    out = cli.ok("vm", "update", "-g", rg, "-n", "vm1", "--priority", "Spot", "--max-price", "-1",
                 "--processor-mode", "Deterministic").json
    assert out["priority"] == "Spot" and out["billingProfile"] == {"maxPrice": -1.0}
    assert out["hardwareProfile"]["processorMode"] == "Deterministic"


def test_a_bad_value_is_a_usage_error_and_changes_nothing(cli, rg):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "8", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("disk", "update", "-g", rg, "-n", "d1", "--network-access-policy", "Open")
    assert r.code == 2 and "'Open' is not a valid value for '--network-access-policy'" in r.err
    r = cli.az("disk", "update", "-g", rg, "-n", "d1", "--max-shares", "two")
    assert r.code == 2 and "--max-shares" in r.err
    r = cli.az("vm", "create", "-g", rg, "-n", "vm9", "--image", "Ubuntu2204", "--max-price", "cheap")
    assert r.code == 2 and "--max-price" in r.err and "cheap" in r.err
    assert cli.state_bytes() == before


def test_help_says_the_property_is_stored_and_not_acted_on(cli):
    text = " ".join(cli.ok("vm", "create", "--help").out.split())
    assert "--max-price" in text and "billingProfile.maxPrice" in text and "does not act on it" in text


@pytest.mark.parametrize("prop", keyvault.VAULT_CREATE_PROPS, ids=lambda p: p.options[0])
def test_keyvault_create_stores_and_shows_each_property(cli, rg, prop):
    cli.ok("keyvault", "create", "-g", rg, "-n", "kvp1", prop.options[0], _sample(prop), "-o", "none")
    shown = cli.ok("keyvault", "show", "-n", "kvp1", "--query", _query(prop.path)).json
    if prop.kind == "list":
        assert shown and len(shown) == 1
    else:
        assert shown == _expected(prop, shown)


def test_no_self_perms_leaves_the_creator_without_a_policy(cli, rg):
    cli.ok("keyvault", "create", "-g", rg, "-n", "kvs1", "-o", "none")
    cli.ok("keyvault", "create", "-g", rg, "-n", "kvs2", "--no-self-perms", "-o", "none")
    assert len(cli.ok("keyvault", "show", "-n", "kvs1", "--query", "properties.accessPolicies").json) == 1
    assert cli.ok("keyvault", "show", "-n", "kvs2", "--query", "properties.accessPolicies").json == []


def test_vm_list_vmss_lists_the_vms_of_one_scale_set(cli, rg):
    cli.engine().create_scale_set("ss1", rg, capacity=2)  # az vmss is another change's; the engine has scale sets
    cli.ok("vm", "create", "-g", rg, "-n", "loner", "--image", "Ubuntu2204", "-o", "none")
    everyone = cli.ok("vm", "list", "-g", rg, "--query", "length(@)").json
    in_set = cli.ok("vm", "list", "-g", rg, "--vmss", "ss1", "--query", "length(@)").json
    assert (everyone, in_set) == (3, 2)
    sid = f"/subscriptions/x/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/ss1"
    assert cli.ok("vm", "list", "-g", rg, "--vmss", sid, "--query", "length(@)").json == 2


def _vmss_sample(p):
    return "10" if p.convert is vmss._minutes else _sample(p)


def _vmss_expected(p, shown):
    if p.convert is vmss._minutes:
        return "PT10M"
    if p.dest == "skuprofile_vmsizes":
        return [{"name": "1"}]
    return _expected(p, shown)


@pytest.mark.parametrize("prop", vmss.VMSS_CREATE_PROPS, ids=lambda p: p.options[0])
def test_vmss_create_stores_and_shows_each_property(cli, rg, prop):
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "0", prop.options[0],
           _vmss_sample(prop), "-o", "none")
    shown = cli.ok("vmss", "show", "-g", rg, "-n", "ss1", "-u", "--query", _query(prop.path)).json
    assert shown is not None and shown == _vmss_expected(prop, shown)


@pytest.mark.parametrize("prop", vmss.VMSS_UPDATE_PROPS, ids=lambda p: p.options[0])
def test_vmss_update_stores_and_shows_each_property(cli, rg, prop):
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "0", "-o", "none")
    before = cli.ok("vmss", "show", "-g", rg, "-n", "ss1", "-u", "--query", _query(prop.path)).out
    cli.ok("vmss", "update", "-g", rg, "-n", "ss1", prop.options[0], _vmss_sample(prop), "-o", "none")
    shown = cli.ok("vmss", "show", "-g", rg, "-n", "ss1", "-u", "--query", _query(prop.path)).json
    assert shown is not None and shown == _vmss_expected(prop, shown)
    assert before.strip() in ("", "null")


def test_vmss_properties_sit_beside_the_simulated_model_and_user_data_only_when_asked(cli, rg):
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "1",
           "--encryption-at-host", "--security-type", "TrustedLaunch", "--user-data", "hello", "--zones", "1", "2",
           "-o", "none")
    ss = cli.ok("vmss", "show", "-g", rg, "-n", "ss1").json
    assert ss["virtualMachineProfile"]["securityProfile"] == {"encryptionAtHost": True, "securityType": "TrustedLaunch"}
    assert "userData" not in ss["virtualMachineProfile"] and ss["zones"] == ["1", "2"]
    assert cli.ok("vmss", "show", "-g", rg, "-n", "ss1", "--include-user-data", "--query",
                  "virtualMachineProfile.userData").json is not None
    assert cli.tsv("vmss", "update", "-g", rg, "-n", "ss1", "--upgrade-policy-mode", "Automatic", "--query",
                   "upgradePolicy.mode") == "Automatic"


def test_vmss_show_one_instance_and_a_missing_one(cli, rg):
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "2", "-o", "none")
    assert cli.tsv("vmss", "show", "-g", rg, "-n", "ss1", "--instance-id", "1", "--query", "name") == "ss1-1"
    r = cli.az("vmss", "show", "-g", rg, "-n", "ss1", "--instance-id", "7")
    assert r.code == 3 and "virtualMachines/7" in r.err


def test_vmss_bad_minutes_is_a_usage_error_and_nothing_is_made(cli, rg):
    r = cli.az("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--terminate-notification-time",
               "soon")
    assert r.code != 0 and "minutes" in r.err
    assert cli.az("vmss", "show", "-g", rg, "-n", "ss1").code == 3


def test_vmss_no_effect_flags_are_accepted_and_say_so(cli, rg):
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "0", "--lb-sku",
           "Standard", "--public-ip-per-vm", "--ssh-key-values", "k1", "--disable-overprovision", "-o", "none")
    text = " ".join(cli.ok("vmss", "create", "--help").out.split())
    assert "Accepted; no effect in cmklab: cmklab models no networking for scale sets" in text


def test_vmss_os_disk_size_reaches_every_instance_and_a_bad_one_makes_nothing(cli, rg):
    out = cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "1",
                 "--os-disk-size-gb", "64", "--user-data", "hi").json
    assert out["vmss"]["virtualMachineProfile"]["storageProfile"]["osDisk"]["diskSizeGB"] == 64
    assert "userData" not in out["vmss"]["virtualMachineProfile"]
    cli.ok("vmss", "scale", "-g", rg, "-n", "ss1", "--new-capacity", "2", "-o", "none")
    assert cli.tsv("disk", "show", "-g", rg, "-n", "ss1-0-os", "--query", "diskSizeGB") == "64"
    assert cli.tsv("disk", "show", "-g", rg, "-n", "ss1-1-os", "--query", "diskSizeGB") == "64"
    r = cli.az("vmss", "create", "-g", rg, "-n", "ss2", "--image", "Ubuntu2204", "--os-disk-size-gb", "0")
    assert r.code == 1 and "allowed: 1 to 4095" in r.err
    assert cli.az("vmss", "show", "-g", rg, "-n", "ss2").code == 3


def test_vmss_sku_profile_sizes_with_their_ranks(cli, rg):
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "0",
           "--skuprofile-vmsizes", "Standard_D2s_v3", "Standard_D4s_v3", "--skuprofile-rank", "0", "1",
           "--sku-allocat-strat", "Prioritized", "-o", "none")
    assert cli.ok("vmss", "show", "-g", rg, "-n", "ss1", "--query", "skuProfile").json == {
        "allocationStrategy": "Prioritized",
        "vmSizes": [{"name": "Standard_D2s_v3", "rank": 0}, {"name": "Standard_D4s_v3", "rank": 1}]}
    r = cli.az("vmss", "update", "-g", rg, "-n", "ss1", "--skuprofile-vmsizes", "Standard_D2s_v3",
               "--skuprofile-rank", "0", "1")
    assert r.code != 0 and "one whole number per size" in r.err
    assert len(cli.ok("vmss", "show", "-g", rg, "-n", "ss1", "--query", "skuProfile.vmSizes").json) == 2
