"""``create`` as az 2.91 does it: az's own checks before the PUT (an empty disk or snapshot needs its size), and
create-or-update on a name that exists (ARM's PUT)."""

from __future__ import annotations

import pytest


def test_an_empty_disk_needs_its_size_as_az_says(cli, rg):
    """az's ``create_managed_disk``: ``usage error: --size-gb is required to create an empty disk`` (exit 1, a
    RequiredArgumentMissingError); nothing is made, never a 128 GB disk."""
    r = cli.az("disk", "create", "-g", rg, "-n", "d1")
    assert (r.code, r.out, r.err) == (1, "", "ERROR: usage error: --size-gb is required to create an empty disk\n")
    assert cli.ok("disk", "list", "-g", rg).json == []
    assert cli.tsv("disk", "create", "-g", rg, "-n", "d1", "-z", "7", "--query", "diskSizeGB") == "7"


def test_an_empty_snapshot_needs_its_size_and_is_made_with_one(cli, rg):
    """az's ``create_snapshot``: ``Please supply size for the snapshots`` (exit 1) without --source or --size-gb;
    with --size-gb alone an empty snapshot of that size (createOption Empty)."""
    r = cli.az("snapshot", "create", "-g", rg, "-n", "s1")
    assert (r.code, r.out, r.err) == (1, "", "ERROR: Please supply size for the snapshots\n")
    assert cli.ok("snapshot", "list", "-g", rg).json == []
    made = cli.ok("snapshot", "create", "-g", rg, "-n", "s1", "--size-gb", "3").json
    assert (made["diskSizeGB"], made["creationData"]["createOption"]) == (3, "Empty")


def test_disk_create_on_a_name_that_exists_updates_it_as_arms_put(cli, rg):
    """az disk create is a PUT: on a disk that exists it grows it and sets its tags, never ``Conflict``; what is
    fixed at creation (region, source) is ARM's refusal, and a refusal changes nothing."""
    first = cli.ok("disk", "create", "-g", rg, "-n", "d1", "-z", "4").json
    again = cli.ok("disk", "create", "-g", rg, "-n", "d1", "-z", "8", "--tags", "team=ops").json
    assert (again["diskSizeGB"], again["tags"], again["uniqueId"]) == (8, {"team": "ops"}, first["uniqueId"])
    assert cli.tsv("disk", "list", "-g", rg, "--query", "length(@)") == "1"
    moved = cli.az("disk", "create", "-g", rg, "-n", "d1", "-z", "8", "-l", "westus")
    assert moved.code == 1 and moved.err.startswith("ERROR: (InvalidResourceLocation) The resource 'd1' already "
                                                    "exists in location 'eastus'")
    smaller = cli.az("disk", "create", "-g", rg, "-n", "d1", "-z", "2", "--tags", "team=dev")
    assert smaller.code == 1 and "can only grow" in smaller.err
    cli.ok("disk", "create", "-g", rg, "-n", "d2", "-z", "4", "-o", "none")
    cli.ok("snapshot", "create", "-g", rg, "-n", "s1", "--source", "d1", "-o", "none")
    other = cli.az("snapshot", "create", "-g", rg, "-n", "s1", "--source", "d2")
    assert other.code == 1 and other.err.startswith("ERROR: (PropertyChangeNotAllowed) Changing property "
                                                    "'creationData.sourceResourceId' is not allowed")
    assert cli.ok("disk", "show", "-g", rg, "-n", "d1").json["tags"] == {"team": "ops"}


def test_snapshot_image_and_set_create_again_update_them(cli, landscape):
    """A snapshot, image or disk encryption set created again (same source, same key) is the same resource with
    the new tags: ARM's PUT, as az's create sends it."""
    rg = "rg1"
    snap = cli.ok("snapshot", "create", "-g", rg, "-n", "s1", "--source", "vm1-os", "--disk-encryption-set",
                  "des1").json
    again = cli.ok("snapshot", "create", "-g", rg, "-n", "s1", "--source", "vm1-os", "--disk-encryption-set",
                   "des1", "--tags", "a=1").json
    assert (again["uniqueId"], again["tags"]) == (snap["uniqueId"], {"a": "1"})
    cli.ok("image", "create", "-g", rg, "-n", "img1", "--source", "vm1-os", "-o", "none")
    img = cli.ok("image", "create", "-g", rg, "-n", "img1", "--source", "vm1-os", "--tags", "b=2").json
    assert img["tags"] == {"b": "2"} and cli.tsv("image", "list", "-g", rg, "--query", "length(@)") == "1"
    des = cli.ok("disk-encryption-set", "show", "-g", rg, "-n", "des1").json
    url = des["activeKey"]["keyUrl"]
    same = cli.ok("disk-encryption-set", "create", "-g", rg, "-n", "des1", "--key-url", url, "--source-vault", "kv1",
                  "--tags", "c=3").json
    assert (same["identity"]["principalId"], same["tags"]) == (des["identity"]["principalId"], {"c": "3"})


def test_keyvault_create_on_a_vault_of_the_group_is_azs_refusal(cli, rg):
    """az's create_vault asks for the vault in the group first: ``The specified vault: NAME already exists``
    (exit 1); another group's is the service's ``VaultAlreadyExists`` (names are global)."""
    cli.ok("keyvault", "create", "-g", rg, "-n", "kv1", "-o", "none")
    r = cli.az("keyvault", "create", "-g", rg, "-n", "kv1")
    assert (r.code, r.err) == (1, "ERROR: The specified vault: kv1 already exists\n")
    cli.ok("group", "create", "-n", "rg2", "-l", "eastus", "-o", "none")
    r = cli.az("keyvault", "create", "-g", "rg2", "-n", "kv1")
    assert r.code == 1 and r.err.startswith("ERROR: (VaultAlreadyExists) ")


def test_keyvault_create_prints_the_creators_policy_and_network_acls_as_az(cli, rg):
    """az 2.91 gives the signed-in user an access policy with ``all`` of keys, secrets, certificates and storage
    (not on an RBAC vault, nor with --no-self-perms), and sends networkAcls AzureServices / Allow by default."""
    v = cli.ok("keyvault", "create", "-g", rg, "-n", "kv1").json["properties"]
    (policy,) = v["accessPolicies"]
    assert policy["permissions"] == {"certificates": ["all"], "keys": ["all"], "secrets": ["all"], "storage": ["all"]}
    assert v["networkAcls"] == {"bypass": "AzureServices", "defaultAction": "Allow", "ipRules": [],
                                "virtualNetworkRules": []}
    deny = cli.ok("keyvault", "create", "-g", rg, "-n", "kv2", "--default-action", "Deny").json["properties"]
    assert deny["networkAcls"]["defaultAction"] == "Deny" and deny["networkAcls"]["bypass"] == "AzureServices"
    rbac = cli.ok("keyvault", "create", "-g", rg, "-n", "kv3", "--enable-rbac-authorization", "true").json
    assert rbac["properties"]["accessPolicies"] == []


def test_a_gen2_image_makes_gen2_disks_vms_and_snapshots(cli, rg):
    """``--hyper-v-generation V2`` is kept on an image, and what is made from it inherits it: a disk, a VM's OS disk
    (and the VM's instance view), a snapshot of that disk, an image of that VM. An image of a Gen1 VM (from az's one
    Gen1 Windows alias) without a generation, V1; of a Gen2 VM, with ``--hyper-v-generation V2`` (K11)."""
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Win2012R2Datacenter", "-o", "none")
    cli.ok("vm", "deallocate", "-g", rg, "-n", "vm1")
    assert cli.tsv("image", "create", "-g", rg, "-n", "img1", "--source", "vm1", "--query", "hyperVGeneration") == "V1"
    cli.ok("vm", "create", "-g", rg, "-n", "vm0", "--image", "Ubuntu2204", "-o", "none")
    cli.ok("vm", "deallocate", "-g", rg, "-n", "vm0")
    assert cli.tsv("image", "create", "-g", rg, "-n", "img2", "--source", "vm0", "--hyper-v-generation", "V2",
                   "--query", "hyperVGeneration") == "V2"
    assert cli.tsv("disk", "create", "-g", rg, "-n", "d2", "--source", "img2", "--query", "hyperVGeneration") == "V2"
    cli.ok("vm", "create", "-g", rg, "-n", "vm2", "--image", "img2", "-o", "none")
    os_disk = cli.tsv("vm", "show", "-g", rg, "-n", "vm2", "--query", "storageProfile.osDisk.name")
    assert cli.tsv("disk", "show", "-g", rg, "-n", os_disk, "--query", "hyperVGeneration") == "V2"
    assert cli.tsv("vm", "get-instance-view", "-g", rg, "-n", "vm2", "--query", "instanceView.hyperVGeneration") == "V2"
    assert cli.tsv("snapshot", "create", "-g", rg, "-n", "s2", "--source", os_disk, "--query",
                   "hyperVGeneration") == "V2"
    cli.ok("vm", "deallocate", "-g", rg, "-n", "vm2")
    assert cli.tsv("image", "create", "-g", rg, "-n", "img3", "--source", "vm2", "--hyper-v-generation", "V2",
                   "--query", "hyperVGeneration") == "V2"
    again = cli.az("image", "create", "-g", rg, "-n", "img2", "--source", "vm0", "--hyper-v-generation", "V1")
    assert again.code == 1 and "(PropertyChangeNotAllowed) Changing property 'hyperVGeneration'" in again.err


@pytest.mark.parametrize("image, sku, generation", [
    ("Ubuntu2204", "22_04-lts-gen2", "V2"),
    ("ubuntu2204", "22_04-lts-gen2", "V2"),  # az matches an alias whatever its case
    ("Debian11", "11-backports-gen2", "V2"),
    ("Win2022Datacenter", "2022-datacenter-g2", "V2"),
    ("Win2019Datacenter", "2019-datacenter-gensecond", "V2"),
    ("Win2016Datacenter", "2016-datacenter-gensecond", "V2"),
    ("SuseSles15SP3", "gen2", "V2"),
    ("AzureLinux4Gen1", "4-gen1", "V1"),
    ("Win2012R2Datacenter", "2012-R2-Datacenter", "V1"),
    ("Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest", "22_04-lts-gen2", "V2"),
    ("Canonical:0001-com-ubuntu-server-focal:20_04-lts:latest", "20_04-lts", "V1"),
])
def test_vm_create_takes_the_generation_of_the_image_its_alias_names(cli, rg, image, sku, generation):
    """az 2.91's alias table (``vm/_alias.py``) resolves ``Ubuntu2204`` to Canonical's ``22_04-lts-gen2``, a Gen2
    image: the VM (its instance view) and its OS disk are V2, as in Azure; az's Gen1 SKUs stay V1."""
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", image, "-o", "none")
    vm = cli.ok("vm", "show", "-g", rg, "-n", "vm1").json
    assert vm["storageProfile"]["imageReference"]["sku"] == sku
    assert cli.tsv("vm", "get-instance-view", "-g", rg, "-n", "vm1", "--query",
                   "instanceView.hyperVGeneration") == generation
    os_disk = vm["storageProfile"]["osDisk"]["name"]
    assert cli.tsv("disk", "show", "-g", rg, "-n", os_disk, "--query", "hyperVGeneration") == generation


def test_create_on_one_that_exists_without_tags_clears_them_as_az_s_put_does(cli, rg):
    """az 2.91's ``disk create``, ``snapshot create`` and ``image create`` send ``"tags": tags or {}`` in their PUT
    (the request body ``--debug`` prints, through ``cmklab endpoint``): a second create without ``--tags`` replaces
    the tags with none, one with ``--tags`` with those given."""
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "-z", "4", "--os-type", "Linux", "--tags", "a=1", "-o", "none")
    assert cli.ok("disk", "create", "-g", rg, "-n", "d1", "-z", "4", "--os-type", "Linux").json["tags"] == {}
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "-z", "4", "--tags", "a=1", "-o", "none")
    assert cli.ok("disk", "create", "-g", rg, "-n", "d1", "-z", "4", "--tags", "b=2").json["tags"] == {"b": "2"}
    cli.ok("snapshot", "create", "-g", rg, "-n", "s1", "--source", "d1", "--tags", "a=1", "-o", "none")
    assert cli.ok("snapshot", "create", "-g", rg, "-n", "s1", "--source", "d1").json["tags"] == {}
    cli.ok("image", "create", "-g", rg, "-n", "i1", "--source", "d1", "--os-type", "Linux", "--tags", "a=1",
           "-o", "none")
    assert cli.ok("image", "create", "-g", rg, "-n", "i1", "--source", "d1", "--os-type", "Linux").json["tags"] == {}


def test_a_set_created_again_without_tags_has_none_as_arms_put_leaves_it(cli, landscape):
    """``disk-encryption-set create`` (AAZ) sends no tags without ``--tags``; ARM's PUT resets what it is not given,
    as it resets the set's automatic rotation when the PUT does not turn it on."""
    rg, kid = landscape["rg"], landscape["kid"]
    made = cli.ok("disk-encryption-set", "create", "-n", "des1", "-g", rg, "--key-url", kid, "--source-vault", "kv1",
                  "--tags", "a=1").json
    assert made["tags"] == {"a": "1"}
    again = cli.ok("disk-encryption-set", "create", "-n", "des1", "-g", rg, "--key-url", kid, "--source-vault",
                   "kv1").json
    assert (again["tags"], again["id"]) == ({}, made["id"])
