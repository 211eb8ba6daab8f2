"""``az disk-encryption-set``, ``az disk``, ``az snapshot``, ``az image``, ``az vm``: rules reach the user
through the engine, in az's shapes."""

from __future__ import annotations


def test_D7_set_in_use_cannot_be_deleted(cli, landscape):
    r = cli.az("disk-encryption-set", "delete", "-n", "des1", "-g", "rg1")
    assert r.code == 1 and r.err.startswith("ERROR: (DiskEncryptionSetInUse)")
    assert cli.ok("disk-encryption-set", "list", "--query", "[].name").json == ["des1"]


def test_K4_no_way_back_to_platform_keys(cli, landscape):
    cli.ok("vm", "deallocate", "-g", "rg1", "-n", "vm1")
    r = cli.az("disk", "update", "-g", "rg1", "-n", "vm1-os", "--encryption-type", "EncryptionAtRestWithPlatformKey")
    assert r.code == 1 and "cannot go back to platform keys" in r.err


def test_K6_snapshot_and_image_keep_the_key(cli, landscape):
    snap = cli.ok("snapshot", "create", "-g", "rg1", "-n", "s1", "--source", "vm1-os").json
    assert snap["encryption"]["type"] == "EncryptionAtRestWithCustomerKey"
    assert snap["diskSizeGB"] == 30 and snap["creationData"]["createOption"] == "Copy"
    assert snap["creationData"]["sourceResourceId"].endswith("/disks/vm1-os")
    shown = cli.ok("snapshot", "show", "-g", "rg1", "-n", "s1").json
    assert shown["diskSizeGB"] == 30 and "diskState" not in shown
    img = cli.ok("image", "create", "-g", "rg1", "-n", "i1", "--source", "vm1", "--hyper-v-generation", "V2").json
    assert img["storageProfile"]["osDisk"]["diskEncryptionSet"]["id"].endswith("/diskEncryptionSets/des1")
    assert img["sourceVirtualMachine"]["id"].endswith("/virtualMachines/vm1")
    assert cli.ok("image", "list", "-g", "rg1", "--query", "[].name").json == ["i1"]
    assoc = cli.ok("disk-encryption-set", "list-associated-resources", "-n", "des1", "-g", "rg1").json
    assert sum("/snapshots/s1" in a for a in assoc) == 1 and sum("/images/i1" in a for a in assoc) == 1
    cli.ok("snapshot", "delete", "-g", "rg1", "-n", "s1")
    cli.ok("image", "delete", "-g", "rg1", "-n", "i1")
    assert cli.ok("snapshot", "list", "-g", "rg1").json == []


def test_disk_states_follow_the_vm(cli, landscape):
    data = cli.tsv("vm", "show", "-g", "rg1", "-n", "vm1", "--query", "storageProfile.dataDisks[0].name")
    assert cli.tsv("disk", "show", "-g", "rg1", "-n", data, "--query", "diskState") == "Attached"
    cli.ok("vm", "deallocate", "-g", "rg1", "-n", "vm1")
    assert cli.tsv("disk", "show", "-g", "rg1", "-n", data, "--query", "diskState") == "Reserved"
    cli.ok("vm", "disk", "detach", "-g", "rg1", "--vm-name", "vm1", "-n", data)
    d = cli.ok("disk", "show", "-g", "rg1", "-n", data).json
    assert d["diskState"] == "Unattached" and "managedBy" not in d
    r = cli.az("disk", "delete", "-g", "rg1", "-n", "vm1-os", "--yes")
    assert r.code == 1 and "is attached to VM" in r.err
    cli.ok("disk", "delete", "-g", "rg1", "-n", data, "--yes")


def test_vm_power_cycle_and_update(cli, landscape):
    cli.ok("vm", "deallocate", "-g", "rg1", "-n", "vm1")
    assert cli.tsv("vm", "get-instance-view", "-g", "rg1", "-n", "vm1", "--query",
                   "instanceView.statuses[1].displayStatus") == "VM deallocated"
    vm = cli.ok("vm", "update", "-g", "rg1", "-n", "vm1", "--set", "securityProfile.encryptionAtHost=true").json
    assert vm["securityProfile"]["encryptionAtHost"] is True
    r = cli.az("vm", "update", "-g", "rg1", "-n", "vm1", "--set", "location=westus")
    assert r.code == 1 and "securityProfile.encryptionAtHost" in r.err  # what a generic update can change (O8)
    r = cli.az("vm", "update", "-g", "rg1", "-n", "vm1", "--set", "tags.x=1")
    assert r.code == 1 and "Expect <class 'str'>, got 1" in r.err  # a tag, but a number (O8)
    cli.ok("vm", "start", "-g", "rg1", "-n", "vm1")
    cli.ok("vm", "restart", "-g", "rg1", "-n", "vm1")
    r = cli.az("vm", "update", "-g", "rg1", "-n", "vm1", "--set", "securityProfile.encryptionAtHost=false")
    assert r.code == 1 and "must be deallocated" in r.err


def test_vm_create_ultra_and_storage_sku_per_lun(cli, landscape):
    out = cli.ok("vm", "create", "-g", "rg1", "-n", "vmu", "--image", "Canonical:0001-com-ubuntu-server-jammy:"
                 "22_04-lts-gen2:latest", "--size", "Standard_D4s_v3", "--ultra-ssd-enabled", "true",
                 "--data-disk-sizes-gb", "8", "16", "--storage-sku", "os=Premium_LRS", "1=UltraSSD_LRS").json
    assert out["powerState"] == "VM running" and set(out) == {
        "fqdns", "id", "location", "macAddress", "powerState", "privateIpAddress", "publicIpAddress",
        "resourceGroup"}  # a regional VM: no zones (the AAZ VM has the key only for a zonal one)
    vm = cli.ok("vm", "show", "-g", "rg1", "-n", "vmu").json
    assert [d["managedDisk"]["storageAccountType"] for d in vm["storageProfile"]["dataDisks"]] == \
        ["Premium_LRS", "UltraSSD_LRS"]
    assert vm["storageProfile"]["imageReference"]["publisher"] == "Canonical"
    r = cli.az("vm", "create", "-g", "rg1", "-n", "vmx", "--data-disk-sizes-gb", "8", "--storage-sku",
               "UltraSSD_LRS")
    assert r.code == 1 and "ultra" in r.err


def test_group_delete_deletes_everything_in_it_and_soft_deletes_its_vaults(cli, landscape):
    """As Resource Manager: ``az group delete`` deletes the group's VMs, disks, sets and vaults (soft-deleted:
    recoverable) and the role assignments at its scope; a group another group's resource still needs (a disk
    of it attached to a VM elsewhere) is refused whole, and nothing is deleted."""
    cli.ok("group", "create", "-n", "rg2", "-l", "eastus", "-o", "none")
    cli.ok("vm", "create", "-g", "rg2", "-n", "vm2", "--image", "Ubuntu2204", "-o", "none")
    cli.ok("disk", "create", "-g", "rg1", "-n", "shared", "--size-gb", "8", "-o", "none")
    cli.ok("vm", "disk", "attach", "-g", "rg2", "--vm-name", "vm2", "--name",
           cli.tsv("disk", "show", "-g", "rg1", "-n", "shared", "--query", "id"), "-o", "none")
    rg1 = cli.tsv("group", "show", "-n", "rg1", "--query", "id")
    cli.ok("role", "assignment", "create", "--assignee", landscape["principal"], "--role",
           "Key Vault Crypto Service Encryption User", "--scope", rg1, "-o", "none")
    before = cli.state_bytes()
    r = cli.az("group", "delete", "-n", "rg1", "--yes")
    assert r.code == 1 and "shared" in r.err and "vm2" in r.err
    assert cli.state_bytes() == before  # refused whole: nothing of the group was deleted
    cli.ok("vm", "disk", "detach", "-g", "rg2", "--vm-name", "vm2", "--name", "shared", "-o", "none")
    assert cli.ok("group", "delete", "-n", "rg1", "--yes").out == ""
    assert cli.ok("group", "exists", "-n", "rg1").out == "false\n"
    assert cli.ok("vm", "list", "-g", "rg2", "--query", "[].name").json == ["vm2"]  # another group's VM stays
    names = cli.ok("disk", "list", "--query", "[].name").json
    assert "shared" not in names and "vm1-os" not in names and names  # (vm2's own OS disk stays)
    assert cli.ok("keyvault", "list-deleted", "--query", "[].name").json == ["kv1"]  # recoverable
    assert cli.ok("role", "assignment", "list", "--all", "--query", f"[?scope=='{rg1}']").json == []
    cli.ok("group", "create", "-n", "empty", "-l", "westus2", "-o", "none")
    assert cli.ok("group", "delete", "-n", "empty", "--yes").out == ""
    assert cli.ok("group", "exists", "-n", "empty").out == "false\n"


def test_vm_encryption_enable_is_ade_with_its_refusals(cli, landscape):
    """``az vm encryption enable``: Azure Disk Encryption on a platform-key VM; refused beside customer keys (K8),
    with a vault that is missing (3) or in another region (1), and with a volume type cmklab does not split (1)."""
    cli.ok("vm", "create", "-g", "rg1", "-n", "vmp", "--os-disk-name", "vmp-os", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("vm", "encryption", "enable", "-g", "rg1", "-n", "vmp")
    assert r.code == 2 and "--disk-encryption-keyvault" in r.err
    r = cli.az("vm", "encryption", "enable", "-g", "rg1", "-n", "vmp", "--disk-encryption-keyvault", "kv-none")
    assert r.code == 3 and "kv-none" in r.err
    cli.ok("group", "create", "-n", "rg-west", "-l", "westus2", "-o", "none")
    cli.ok("keyvault", "create", "-n", "kv-west", "-g", "rg-west", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("vm", "encryption", "enable", "-g", "rg1", "-n", "vmp", "--disk-encryption-keyvault", "kv-west")
    assert r.code == 1 and "the VM's region" in r.err
    r = cli.az("vm", "encryption", "enable", "-g", "rg1", "-n", "vmp", "--disk-encryption-keyvault", "kv1",
               "--volume-type", "OS")
    assert r.code == 1 and "--volume-type ALL" in r.err
    r = cli.az("vm", "encryption", "enable", "-g", "rg1", "-n", "vm1", "--disk-encryption-keyvault", "kv1")
    assert r.code == 1 and "customer-managed keys" in r.err
    assert cli.state_bytes() == before
    vault_id = cli.tsv("keyvault", "show", "-n", "kv1", "--query", "id")
    assert cli.ok("vm", "encryption", "enable", "-g", "rg1", "-n", "vmp", "--disk-encryption-keyvault",
                  vault_id).out == ""
    e = cli.engine()
    assert e.get_vm("vmp").ade_enabled and e.get_disk("vmp-os").ade_enabled and not e.get_vm("vm1").ade_enabled


def test_K11_image_create_from_a_gen2_vm_without_its_generation_is_refused_as_azure_does(cli, rg):
    """az 2.91's ``image create`` sends ``hyperVGeneration: V1`` unless ``--hyper-v-generation`` says otherwise, and
    Azure refuses V1 for a Gen2 VM (``Ubuntu2204`` is Gen2): exit 1, nothing created. With V2 it is made."""
    from console.cli.words import az_lines

    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "-o", "none")
    before = cli.state_bytes()
    r = cli.az("image", "create", "-g", rg, "-n", "img1", "--source", "vm1")
    assert r.code == 1 and r.out == "" and r.err.startswith(
        "ERROR: (InvalidParameter) The Input HyperVGeneration property: 'V1' does not match with the "
        "HyperVGeneration property: 'Gen2' belonging to source: 'sourceVirtualMachine'.\n")
    vm_id = cli.tsv("vm", "show", "-g", rg, "-n", "vm1", "--query", "id")
    assert cli.az("image", "create", "-g", rg, "-n", "img1", "--source", vm_id).code == 1
    assert cli.state_bytes() == before and cli.ok("image", "list", "-g", rg).json == []
    out = cli.ok("image", "create", "-g", rg, "-n", "img1", "--source", "vm1", "--hyper-v-generation", "V2").json
    assert out["hyperVGeneration"] == "V2"
    line, = az_lines(cli.engine(), "create_image", ("img2", rg, "vm1"), {"hyper_v_generation": "V2"})
    assert "--hyper-v-generation V2" in line  # the console's log says it, so its replay is not refused
