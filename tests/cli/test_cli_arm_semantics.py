"""ARM semantics on the az path, through the installed ``cmklab`` script: deleting a resource that is not
there succeeds silently (ARM answers 204); a resource asked for in a resource group that does not exist is
``ResourceGroupNotFound`` (exit 3), not ``ResourceNotFound``. Key Vault keeps its own answers."""

from __future__ import annotations

import pytest

from .test_cli_ids import az

MISSING_DELETES = [
    ("disk", "delete", "--yes"),
    ("snapshot", "delete"),
    ("image", "delete"),
    ("disk-encryption-set", "delete"),
    ("vm", "delete", "--yes"),
]


@pytest.mark.parametrize("argv", MISSING_DELETES, ids=lambda a: a[0])
def test_deleting_what_is_not_there_succeeds(cli, rg, cmklab_bin, argv):
    r = az(cmklab_bin, cli, *argv, "-g", rg, "-n", "nope")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_delete_by_ids_of_a_resource_already_gone(cli, rg, cmklab_bin):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "-o", "none")
    rid = cli.tsv("disk", "show", "-g", rg, "-n", "d1", "--query", "id")
    assert az(cmklab_bin, cli, "disk", "delete", "--ids", rid, "--yes").returncode == 0
    again = az(cmklab_bin, cli, "disk", "delete", "--ids", rid, "--yes")
    assert (again.returncode, again.stderr) == (0, "")


@pytest.mark.parametrize("group", ["disk", "snapshot", "image", "disk-encryption-set", "vm"])
def test_missing_resource_group(cli, rg, cmklab_bin, group):
    msg = "ERROR: (ResourceGroupNotFound) Resource group 'nogroup' could not be found.\n"
    shown = az(cmklab_bin, cli, group, "show", "-g", "nogroup", "-n", "x")
    assert (shown.returncode, shown.stdout) == (3, "")
    assert shown.stderr.startswith(msg) and "Code: ResourceGroupNotFound\n" in shown.stderr
    deleted = az(cmklab_bin, cli, group, "delete", "-g", "nogroup", "-n", "x", "--yes"
                 ) if group in ("disk", "vm") else az(cmklab_bin, cli, group, "delete", "-g", "nogroup", "-n", "x")
    assert deleted.returncode == 3 and deleted.stderr.startswith(msg)
    # a missing resource in a group that exists is still ResourceNotFound
    other = az(cmklab_bin, cli, group, "show", "-g", rg, "-n", "x")
    assert other.returncode == 3 and other.stderr.startswith("ERROR: (ResourceNotFound) ")


def test_vm_actions_in_a_missing_group(cli, rg, cmklab_bin):
    r = az(cmklab_bin, cli, "vm", "start", "-g", "nogroup", "-n", "vm1")
    assert r.returncode == 3 and r.stderr.startswith("ERROR: (ResourceGroupNotFound) ")
    r = az(cmklab_bin, cli, "vm", "start", "-g", rg, "-n", "vm1")  # a VM that is not there is not deleted-ok
    assert r.returncode == 3 and r.stderr.startswith("ERROR: (ResourceNotFound) ")


def test_key_vault_keeps_its_own_answers(cli, landscape, cmklab_bin):
    r = az(cmklab_bin, cli, "keyvault", "key", "delete", "--vault-name", "kv1", "-n", "nokey")
    assert r.returncode == 3 and "(KeyNotFound)" in r.stderr
    r = az(cmklab_bin, cli, "keyvault", "show", "-n", "novault")
    assert (r.returncode, r.stderr) == (1, "ERROR: The Vault 'novault' not found within subscription.\n")


def test_group_create_on_a_group_that_exists_replaces_its_tags(cli, cmklab_bin):
    """az group create is ARM's PUT: run again, the group's tags become the ones given, and none given clears
    them (the Azure CLI's maintainers: 'when you create an existing resource, the new resource will directly
    overwrite the original'); its place cannot change."""
    cli.ok("group", "create", "-n", "rg-tags", "-l", "eastus", "--tags", "owner=ops", "env=test", "-o", "none")
    assert cli.ok("group", "show", "-n", "rg-tags", "--query", "tags").json == {"owner": "ops", "env": "test"}
    again = cli.ok("group", "create", "-n", "RG-TAGS", "-l", "eastus", "--tags", "owner=sec").json
    assert (again["name"], again["tags"]) == ("rg-tags", {"owner": "sec"})
    cli.ok("group", "create", "-n", "rg-tags", "-l", "eastus", "-o", "none")
    assert cli.ok("group", "show", "-n", "rg-tags").json["tags"] is None  # as az shows a group without tags
    moved = az(cmklab_bin, cli, "group", "create", "-n", "rg-tags", "-l", "westus", "--tags", "a=b")
    assert moved.returncode == 1 and "InvalidResourceGroupLocation" in moved.stderr
    assert cli.ok("group", "show", "-n", "rg-tags").json["tags"] is None


@pytest.mark.parametrize("group", ["disk", "snapshot", "image", "disk-encryption-set", "vm", "vmss", "keyvault"])
def test_a_list_in_a_missing_resource_group_is_resource_group_not_found(cli, rg, group):
    """ARM's list by resource group: ``ResourceGroupNotFound`` (exit 3), not ``[]``; an empty group lists ``[]``."""
    r = cli.az(group, "list", "-g", "nosuchrg")
    assert (r.code, r.out) == (3, "")
    assert r.err.splitlines()[:2] == ["ERROR: (ResourceGroupNotFound) Resource group 'nosuchrg' could not be found.",
                                      "Code: ResourceGroupNotFound"]
    assert cli.ok(group, "list", "-g", rg).json == []
