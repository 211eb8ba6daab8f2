"""Seed 000 (server-side encryption of managed disks, PowerShell) translated to az, one test per flow.

Each PowerShell flow is written as the az commands an operator would type for it; the comment above
each command names the cmdlet it replaces. The flows build on each other as in the seed, so each test
first runs the flows before it (through the CLI too).
"""

from __future__ import annotations

import re

RG = "yourResourceGroupName"
LOC = "westcentralus"
KV = "yourKeyVaultName"
KEY = "yourKeyName"
DES = "yourDiskEncryptionSetName"
VM = "yourVMName"


def create_vault_and_key(cli) -> str:
    cli.ok("group", "create", "-n", RG, "-l", LOC, "-o", "none")
    # New-AzKeyVault -Name $keyVaultName -ResourceGroupName ... -Location ... -EnableSoftDelete -EnablePurgeProtection
    cli.ok("keyvault", "create", "--name", KV, "--resource-group", RG, "--location", LOC, "--enable-soft-delete",
           "true", "--enable-purge-protection", "true", "-o", "none")
    # $key = Add-AzKeyVaultKey -VaultName $keyVaultName -Name $keyName -Destination Software
    return cli.tsv("keyvault", "key", "create", "--vault-name", KV, "--name", KEY, "--protection", "software",
                   "--query", "key.kid")


def create_set_and_grant(cli, kid: str) -> str:
    # New-AzDiskEncryptionSetConfig -SourceVaultId $keyVault.ResourceId -KeyUrl $key.Key.Kid -IdentityType SystemAssigned
    # New-AzDiskEncryptionSet -Name ... -ResourceGroupName ... -InputObject $desConfig
    vault_id = cli.tsv("keyvault", "show", "--name", KV, "--query", "id")
    cli.ok("disk-encryption-set", "create", "--name", DES, "--resource-group", RG, "--location", LOC,
           "--source-vault", vault_id, "--key-url", kid, "-o", "none")
    principal = cli.tsv("disk-encryption-set", "show", "-n", DES, "-g", RG, "--query", "identity.principalId")
    # Set-AzKeyVaultAccessPolicy -VaultName ... -ObjectId $des.Identity.PrincipalId -PermissionsToKeys wrapkey,unwrapkey,get
    cli.ok("keyvault", "set-policy", "--name", KV, "--object-id", principal, "--key-permissions", "wrapkey",
           "unwrapkey", "get", "-o", "none")
    return principal


def create_vm(cli) -> None:
    des_id = cli.tsv("disk-encryption-set", "show", "-g", RG, "-n", DES, "--query", "id")
    # Set-AzVMSourceImage ... 'MicrosoftWindowsServer' 'WindowsServer' '2012-R2-Datacenter' latest
    # Set-AzVMOSDisk -Name ($VMName + "_OSDisk") -DiskEncryptionSetId $diskEncryptionSet.Id -CreateOption FromImage
    # Add-AzVMDataDisk -DiskSizeInGB 128 -StorageAccountType Premium_LRS -CreateOption Empty -Lun 0 -DiskEncryptionSetId ...
    # New-AzVM -ResourceGroupName ... -Location ... -VM $VirtualMachine
    cli.ok("vm", "create", "--resource-group", RG, "--name", VM, "--location", LOC, "--size", "Standard_DS3_v2",
           "--image", "MicrosoftWindowsServer:WindowsServer:2012-R2-Datacenter:latest",
           "--admin-username", "yourVMLocalAdminUserName", "--admin-password", "Password@123",
           "--os-disk-name", f"{VM}_OSDisk", "--os-disk-encryption-set", des_id,
           "--data-disk-sizes-gb", "128", "--storage-sku", "Premium_LRS", "--data-disk-encryption-sets", des_id,
           "-o", "none")


def test_flow_create_vault_and_key(cli):
    kid = create_vault_and_key(cli)
    assert re.fullmatch(rf"https://{KV}\.vault\.azure\.net/keys/{KEY}/[0-9a-f]{{32}}", kid, re.I)
    vault = cli.ok("keyvault", "show", "-n", KV, "-g", RG).json
    assert vault["properties"]["enableSoftDelete"] is True
    assert vault["properties"]["enablePurgeProtection"] is True
    assert vault["properties"]["softDeleteRetentionInDays"] == 90
    key = cli.ok("keyvault", "key", "show", "--vault-name", KV, "-n", KEY).json
    assert key["key"]["kty"] == "RSA" and key["attributes"]["enabled"] is True
    assert key["attributes"]["recoveryLevel"] == "Recoverable"


def test_flow_create_set_and_grant(cli):
    kid = create_vault_and_key(cli)
    principal = create_set_and_grant(cli, kid)
    des = cli.ok("disk-encryption-set", "show", "-n", DES, "-g", RG).json
    assert des["activeKey"]["keyUrl"] == kid
    assert des["identity"] == {"principalId": principal, "tenantId": des["identity"]["tenantId"],
                               "type": "SystemAssigned"}
    policies = cli.ok("keyvault", "show", "-n", KV, "--query",
                      f"properties.accessPolicies[?objectId=='{principal}'].permissions.keys | [0]").json
    assert sorted(policies) == ["get", "unwrapKey", "wrapKey"]  # Azure's spelling, whatever the case typed


def test_flow_vm_with_encrypted_os_and_data_disks(cli):
    create_set_and_grant(cli, create_vault_and_key(cli))
    create_vm(cli)
    vm = cli.ok("vm", "show", "-g", RG, "-n", VM).json
    des_id = cli.tsv("disk-encryption-set", "show", "-g", RG, "-n", DES, "--query", "id")
    assert vm["storageProfile"]["osDisk"]["managedDisk"]["diskEncryptionSet"]["id"] == des_id
    assert vm["storageProfile"]["osDisk"]["osType"] == "Windows"
    data = vm["storageProfile"]["dataDisks"]
    assert [(d["lun"], d["diskSizeGB"], d["managedDisk"]["diskEncryptionSet"]["id"]) for d in data] == [(0, 128, des_id)]
    assert cli.tsv("disk", "show", "-g", RG, "-n", f"{VM}_OSDisk", "--query", "encryption.type") == \
        "EncryptionAtRestWithCustomerKey"
    assert cli.tsv("vm", "show", "-d", "-g", RG, "-n", VM, "--query", "powerState") == "VM running"


def test_flow_add_encrypted_empty_disk(cli):
    create_set_and_grant(cli, create_vault_and_key(cli))
    create_vm(cli)
    # Add-AzVMDataDisk -Name $diskName -CreateOption Empty -DiskSizeInGB 30 -StorageAccountType Premium_LRS -Lun 1
    #   -DiskEncryptionSetId $diskEncryptionSet.Id ; Update-AzVM
    cli.ok("disk", "create", "-g", RG, "-n", "yourDiskName", "--size-gb", "30", "--sku", "Premium_LRS",
           "--disk-encryption-set", DES, "-o", "none")
    r = cli.ok("vm", "disk", "attach", "-g", RG, "--vm-name", VM, "--name", "yourDiskName", "--lun", "1")
    assert r.out == ""  # az prints nothing
    disk = cli.ok("disk", "show", "-g", RG, "-n", "yourDiskName").json
    assert disk["encryption"]["type"] == "EncryptionAtRestWithCustomerKey"
    assert disk["diskState"] == "Attached" and disk["managedBy"].endswith(f"/virtualMachines/{VM}")
    luns = cli.ok("vm", "show", "-g", RG, "-n", VM, "--query", "storageProfile.dataDisks[].lun").json
    assert luns == [0, 1]
    written = cli("vm", "write", "-g", RG, "-n", VM, "--lun", "1", "--offset", "4096", "--data", "new disk")
    assert written.code == 0 and written.json["bytesWritten"] == 8


def test_flow_encrypt_existing_disk(cli):
    create_set_and_grant(cli, create_vault_and_key(cli))
    create_vm(cli)
    cli.ok("disk", "create", "-g", RG, "-n", "plain-disk", "--size-gb", "32", "-o", "none")
    assert cli.tsv("disk", "show", "-g", RG, "-n", "plain-disk", "--query", "encryption.type") == \
        "EncryptionAtRestWithPlatformKey"
    cli.ok("vm", "disk", "attach", "-g", RG, "--vm-name", VM, "--name", "plain-disk")
    assert cli("vm", "write", "-g", RG, "-n", VM, "--lun", "1", "--offset", "0", "--data", "before").code == 0
    # Attached to a running VM: refused (K5), with what to do.
    refused = cli.az("disk", "update", "-g", RG, "-n", "plain-disk", "--encryption-type",
                     "EncryptionAtRestWithCustomerKey", "--disk-encryption-set", DES)
    assert refused.code == 1 and "deallocate it first" in refused.err
    cli.ok("vm", "deallocate", "-g", RG, "-n", VM)
    assert cli.tsv("disk", "show", "-g", RG, "-n", "plain-disk", "--query", "diskState") == "Reserved"
    # New-AzDiskUpdateConfig -EncryptionType "EncryptionAtRestWithCustomerKey" -DiskEncryptionSetId ... | Update-AzDisk
    updated = cli.ok("disk", "update", "-g", RG, "-n", "plain-disk", "--encryption-type",
                     "EncryptionAtRestWithCustomerKey", "--disk-encryption-set", DES).json
    assert updated["encryption"]["type"] == "EncryptionAtRestWithCustomerKey"
    cli.ok("vm", "start", "-g", RG, "-n", VM)
    read = cli("vm", "read", "-g", RG, "-n", VM, "--lun", "1", "--offset", "0", "--length", "6")
    assert read.code == 0 and read.json["data"] == "before"


def test_flow_rotate_the_sets_key(cli):
    kid = create_vault_and_key(cli)
    create_set_and_grant(cli, kid)
    create_vm(cli)
    assert cli("vm", "write", "-g", RG, "-n", VM, "--lun", "0", "--offset", "0", "--data", "payroll").code == 0
    # Add-AzKeyVaultKey again: a new version; then Update-AzDiskEncryptionSet -KeyUrl $keyVaultKey.Id
    new_kid = cli.tsv("keyvault", "key", "rotate", "--vault-name", KV, "-n", KEY, "--query", "key.kid")
    assert new_kid != kid
    vault_id = cli.tsv("keyvault", "show", "-n", KV, "--query", "id")
    des = cli.ok("disk-encryption-set", "update", "-n", DES, "-g", RG, "--source-vault", vault_id,
                 "--key-url", new_kid).json
    assert des["activeKey"]["keyUrl"] == new_kid and des["previousKeys"] == []
    assert des["lastKeyRotationTimestamp"]
    for disk in (f"{VM}_OSDisk", cli.tsv("vm", "show", "-g", RG, "-n", VM, "--query",
                                         "storageProfile.dataDisks[0].name")):
        layers = cli("disk", "inspect", "-g", RG, "-n", disk).json["layers"]
        assert layers[0]["keyUrl"] == new_kid
    assert cli.tsv("vm", "show", "-d", "-g", RG, "-n", VM, "--query", "powerState") == "VM running"
    read = cli("vm", "read", "-g", RG, "-n", VM, "--lun", "0", "--offset", "0", "--length", "7")
    assert read.json["data"] == "payroll"


def test_flow_find_encryption_status(cli):
    create_set_and_grant(cli, create_vault_and_key(cli))
    create_vm(cli)
    # $disk = Get-AzDisk -ResourceGroupName ... -DiskName ... ; $disk.Encryption.Type
    r = cli.az("disk", "show", "--resource-group", RG, "--name", f"{VM}_OSDisk", "--query", "encryption.type",
               "-o", "tsv")
    assert (r.code, r.out) == (0, "EncryptionAtRestWithCustomerKey\n")
    cli.ok("disk", "create", "-g", RG, "-n", "pmk-disk", "--size-gb", "8", "-o", "none")
    r = cli.az("disk", "show", "-g", RG, "-n", "pmk-disk", "--query", "encryption.type", "-o", "tsv")
    assert r.out == "EncryptionAtRestWithPlatformKey\n"
