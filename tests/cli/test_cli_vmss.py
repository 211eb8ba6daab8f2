"""``az vmss`` through the installed ``cmklab``, as seed 000 uses scale sets: created with disk encryption sets for
the OS and data disks, the model updated, instances brought to it (only while deallocated: V6, K5), listed with
``latestModelApplied``, power actions on all or some instances, deleted with its instances and their disks."""

from __future__ import annotations

import json

import pytest

from .test_cli_ids import az


@pytest.fixture
def sets(cli, rg) -> dict:
    cli.ok("keyvault", "create", "-n", "kv1", "-g", rg, "--enable-purge-protection", "true", "-o", "none")
    kid = cli.tsv("keyvault", "key", "create", "--vault-name", "kv1", "-n", "key1", "--query", "key.kid")
    ids = {}
    for des in ("des1", "des2"):
        ids[des] = cli.tsv("disk-encryption-set", "create", "-n", des, "-g", rg, "--key-url", kid, "--source-vault",
                           "kv1", "--query", "id")
        principal = cli.tsv("disk-encryption-set", "show", "-n", des, "-g", rg, "--query", "identity.principalId")
        cli.ok("keyvault", "set-policy", "-n", "kv1", "--object-id", principal, "--key-permissions", "get",
               "wrapKey", "unwrapKey", "-o", "none")
    return ids


def _run(cmklab_bin, cli, *argv) -> str:
    r = az(cmklab_bin, cli, *argv)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_vmss_create_with_os_and_data_disk_sets(cli, rg, sets, cmklab_bin):
    out = json.loads(_run(cmklab_bin, cli, "vmss", "create", "-g", rg, "-n", "web", "--image", "Ubuntu2204",
                          "--instance-count", "2", "--os-disk-encryption-set", "des1", "--data-disk-sizes-gb", "16",
                          "--data-disk-encryption-sets", "des2", "--generate-ssh-keys"))
    profile = out["vmss"]["virtualMachineProfile"]["storageProfile"]
    assert profile["osDisk"]["managedDisk"]["diskEncryptionSet"]["id"] == sets["des1"]
    assert profile["dataDisks"][0]["managedDisk"]["diskEncryptionSet"]["id"] == sets["des2"]
    shown = _run(cmklab_bin, cli, "vmss", "show", "-g", rg, "-n", "web", "--query",
                 "[sku.capacity, orchestrationMode, upgradePolicy.mode]", "-o", "tsv")
    assert shown == "2\nFlexible\nManual\n"
    # every instance's disks are encrypted with the model's sets (customer-managed keys, real data keys)
    disks = cli.ok("disk", "list", "-g", rg, "--query", "[].[name, encryption.diskEncryptionSetId]", "-o",
                   "json").json
    assert sorted(n for n, des in disks if des == sets["des1"]) == ["web-0-os", "web-1-os"]
    assert len([n for n, des in disks if des == sets["des2"]]) == 2
    rows = _run(cmklab_bin, cli, "vmss", "list-instances", "-g", rg, "-n", "web", "--query",
                "[].[instanceId, name, latestModelApplied]", "-o", "tsv")
    assert rows == "0\tweb-0\tTrue\n1\tweb-1\tTrue\n"
    assert _run(cmklab_bin, cli, "vmss", "list", "-g", rg, "--query", "[].name", "-o", "tsv") == "web\n"


def test_vmss_model_update_then_update_instances_only_while_deallocated(cli, rg, sets, cmklab_bin):
    cli.ok("vmss", "create", "-g", rg, "-n", "web", "--image", "Ubuntu2204", "--instance-count", "2",
           "--os-disk-encryption-set", "des1", "-o", "none")
    out = _run(cmklab_bin, cli, "vmss", "update", "-g", rg, "-n", "web", "--set",
               f"virtualMachineProfile.storageProfile.osDisk.managedDisk.diskEncryptionSet.id={sets['des2']}",
               "--query", "virtualMachineProfile.storageProfile.osDisk.managedDisk.diskEncryptionSet.id", "-o", "tsv")
    assert out == sets["des2"] + "\n"
    latest = "[].[instanceId, latestModelApplied]"
    assert _run(cmklab_bin, cli, "vmss", "list-instances", "-g", rg, "-n", "web", "--query", latest, "-o",
                "tsv") == "0\tFalse\n1\tFalse\n"
    r = az(cmklab_bin, cli, "vmss", "update-instances", "-g", rg, "-n", "web", "--instance-ids", "*")
    assert r.returncode == 1 and r.stderr.startswith("ERROR: (OperationNotAllowed) instance 0 (web-0) of scale set "
                                                     "web is running")
    assert "az vmss deallocate -g rg1 -n web --instance-ids 0" in r.stderr and "(V6" not in r.stderr
    assert cli.tsv("disk", "show", "-g", rg, "-n", "web-0-os", "--query", "encryption.diskEncryptionSetId") == \
        sets["des1"]  # the refusal changed nothing
    _run(cmklab_bin, cli, "vmss", "deallocate", "-g", rg, "-n", "web", "--instance-ids", "0")
    _run(cmklab_bin, cli, "vmss", "update-instances", "-g", rg, "-n", "web", "--instance-ids", "0")
    assert _run(cmklab_bin, cli, "vmss", "list-instances", "-g", rg, "-n", "web", "--query", latest, "-o",
                "tsv") == "0\tTrue\n1\tFalse\n"
    assert cli.tsv("disk", "show", "-g", rg, "-n", "web-0-os", "--query", "encryption.diskEncryptionSetId") == \
        sets["des2"]
    _run(cmklab_bin, cli, "vmss", "start", "-g", rg, "-n", "web", "--instance-ids", "0")
    powers = cli.ok("vm", "list", "-g", rg, "-d", "--query", "[].[name, powerState]", "-o", "json").json
    assert powers == [["web-0", "VM running"], ["web-1", "VM running"]]
    cli.ok("vmss", "scale", "-g", rg, "-n", "web", "--new-capacity", "2", "-o", "none")
    r = az(cmklab_bin, cli, "vmss", "update", "-g", rg, "-n", "web", "--set",
           "virtualMachineProfile.storageProfile.dataDisks[0].managedDisk.diskEncryptionSet.id=des2")
    assert r.returncode == 1 and "the model has 0 data disk(s)" in r.stderr
    r = az(cmklab_bin, cli, "vmss", "update", "-g", rg, "-n", "web", "--set", "virtualMachineProfile.foo=1")
    assert r.returncode == 1 and "takes virtualMachineProfile.securityProfile.encryptionAtHost" in r.stderr


def test_V6_vmss_encryption_at_host_reaches_new_instances_and_upgraded_deallocated_ones(cli, rg, cmklab_bin):
    cli.ok("vmss", "create", "-g", rg, "-n", "web", "--image", "Ubuntu2204", "--instance-count", "1",
           "--vm-sku", "Standard_DS3_v2", "-o", "none")
    _run(cmklab_bin, cli, "vmss", "update", "-g", rg, "-n", "web", "--set",
         "virtualMachineProfile.securityProfile.encryptionAtHost=true", "-o", "none")
    _run(cmklab_bin, cli, "vmss", "scale", "-g", rg, "-n", "web", "--new-capacity", "2", "-o", "none")
    eah = "[].[name, securityProfile.encryptionAtHost]"
    assert cli.ok("vm", "list", "-g", rg, "--query", eah, "-o", "json").json == [["web-0", None], ["web-1", True]]
    _run(cmklab_bin, cli, "vmss", "deallocate", "-g", rg, "-n", "web")
    _run(cmklab_bin, cli, "vmss", "update-instances", "-g", rg, "-n", "web", "--instance-ids", "0", "1")
    assert cli.ok("vm", "list", "-g", rg, "--query", eah, "-o", "json").json == [["web-0", True], ["web-1", True]]


def test_vmss_delete_takes_instances_and_disks_and_a_missing_one_succeeds(cli, rg, sets, cmklab_bin):
    cli.ok("vmss", "create", "-g", rg, "-n", "web", "--image", "Ubuntu2204", "--instance-count", "2",
           "--data-disk-sizes-gb", "8", "--data-disk-encryption-sets", "des1", "-o", "none")
    assert cli.tsv("disk-encryption-set", "list-associated-resources", "-g", rg, "-n", "des1", "--query",
                   "length(@)") == "2"
    ss_id = cli.tsv("vmss", "show", "-g", rg, "-n", "web", "--query", "id")
    r = az(cmklab_bin, cli, "vmss", "delete", "--ids", ss_id)
    assert (r.returncode, r.stdout) == (0, "")
    assert cli.tsv("vm", "list", "--query", "length(@)") == "0"
    assert cli.tsv("disk", "list", "--query", "length(@)") == "0"
    assert cli.tsv("vmss", "list", "--query", "length(@)") == "0"
    again = az(cmklab_bin, cli, "vmss", "delete", "-g", rg, "-n", "web")
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")  # ARM: 204
    missing = az(cmklab_bin, cli, "vmss", "show", "-g", rg, "-n", "web")
    assert missing.returncode == 3 and "(ResourceNotFound)" in missing.stderr


def test_vmss_update_sets_tags_with_azs_generic_set_not_a_tags_flag(cli, rg):
    """az 2.91's ``vmss update`` has no ``--tags`` (exit 2, unrecognized); its generic ``--set tags.KEY=VALUE`` (or
    ``tags={...}``) sets them, and the console's command log says a tag change that way."""
    from console.cli.words import az_lines

    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "0", "-o", "none")
    assert cli.az("vmss", "update", "-g", rg, "-n", "ss1", "--tags", "a=b").code == 2
    assert cli.ok("vmss", "update", "-g", rg, "-n", "ss1", "--set", "tags.owner=ops").json["tags"] == {"owner": "ops"}
    both = cli.ok("vmss", "update", "-g", rg, "-n", "ss1", "--set", "tags.env=test").json["tags"]
    assert both == {"owner": "ops", "env": "test"}
    assert cli.ok("vmss", "update", "-g", rg, "-n", "ss1", "--set", 'tags={"x": "1"}').json["tags"] == {"x": "1"}
    line, = az_lines(cli.engine(), "update_scale_set", ("ss1", rg), {"tags": {"k": "v"}})
    assert line.endswith("""--set 'tags={"k":"v"}'"""), line


def test_O8_vmss_update_reads_a_tag_as_vm_update_does(cli, rg):
    """az 2.91's ``vmss update`` ends in the AAZ VMSS create, as ``vm update`` in the VM's (what the real az sent
    and answered through ``cmklab endpoint``): ``tags.n=1`` is AAZ's ``Expect <class 'str'>, got 1`` and nothing
    is written; ``tags.a=null`` leaves the tag out; ``--force-string`` is not needed for a word."""
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "0", "--tags",
           "a=b", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("vmss", "update", "-g", rg, "-n", "ss1", "--set", "tags.n=1")
    assert (r.code, r.err) == (1, "ERROR: Expect <class 'str'>, got 1 (<class 'int'>)\n")
    assert cli.state_bytes() == before
    assert cli.ok("vmss", "update", "-g", rg, "-n", "ss1", "--set", "tags.env=dev").json["tags"] == {"a": "b",
                                                                                                   "env": "dev"}
    assert cli.ok("vmss", "update", "-g", rg, "-n", "ss1", "--set", "tags.a=null").json["tags"] == {"env": "dev"}
