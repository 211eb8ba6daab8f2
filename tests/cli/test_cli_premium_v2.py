"""Premium SSD v2 through the installed ``cmklab`` (K9): the ``azure-2025`` profile offers it with its documented
rules (data disks only, no host caching, its regions, zonal where the region has zones), customer-managed keys
included; the ``seeds`` profile refuses it naming the profile. Help shows one SKU list in both."""

from __future__ import annotations

import json
import subprocess

import pytest

from .conftest import SEED


def _az(cmklab_bin, home, profile, *argv):
    return subprocess.run([str(cmklab_bin), "--home", str(home), "--seed", str(SEED), "--profile", profile, "az",
                           *argv], capture_output=True, text=True, timeout=120)


@pytest.fixture
def today(tmp_path, cmklab_bin):
    home = tmp_path / "h2025"

    def az(*argv):
        return _az(cmklab_bin, home, "azure-2025", *argv)
    assert az("group", "create", "-n", "rg1", "-l", "eastus", "-o", "none").returncode == 0
    return az


def test_K9_premium_v2_data_disk_with_a_customer_key_on_a_zonal_vm(today):
    assert today("keyvault", "create", "-n", "kv1", "-g", "rg1", "--enable-purge-protection", "true",
                 "-o", "none").returncode == 0
    kid = today("keyvault", "key", "create", "--vault-name", "kv1", "-n", "k1", "--query", "key.kid",
                "-o", "tsv").stdout.strip()
    assert today("disk-encryption-set", "create", "-g", "rg1", "-n", "des1", "--key-url", kid, "--source-vault",
                 "kv1", "-o", "none").returncode == 0
    pid = today("disk-encryption-set", "show", "-g", "rg1", "-n", "des1", "--query", "identity.principalId",
                "-o", "tsv").stdout.strip()
    assert today("keyvault", "set-policy", "-n", "kv1", "--object-id", pid, "--key-permissions", "get", "wrapKey",
                 "unwrapKey", "-o", "none").returncode == 0
    r = today("disk", "create", "-g", "rg1", "-n", "pv2", "--sku", "PremiumV2_LRS", "--size-gb", "100", "--zone",
              "2", "--disk-encryption-set", "des1", "--query",
              "[sku.name, zones[0], encryption.type, diskIOPSReadWrite]", "-o", "tsv")
    assert (r.returncode, r.stdout) == (0, "PremiumV2_LRS\n2\nEncryptionAtRestWithCustomerKey\n3000\n"), r.stderr
    r = today("vm", "create", "-g", "rg1", "-n", "vm2", "--image", "Ubuntu2204", "--zone", "2", "-o", "none")
    assert r.returncode == 0, r.stderr
    r = today("vm", "disk", "attach", "-g", "rg1", "--vm-name", "vm2", "--name", "pv2", "--caching", "ReadOnly")
    assert r.returncode == 1 and "host caching ReadOnly is not supported by PremiumV2_LRS disks" in r.stderr
    assert "(K9)" not in r.stderr
    r = today("vm", "disk", "attach", "-g", "rg1", "--vm-name", "vm2", "--name", "pv2")
    assert r.returncode == 0, r.stderr
    shown = json.loads(today("vm", "show", "-g", "rg1", "-n", "vm2").stdout)
    assert shown["zones"] == ["2"]
    assert [(d["name"], d["caching"]) for d in shown["storageProfile"]["dataDisks"]] == [("pv2", "None")]


def test_K9_premium_v2_rules_refuse_with_reasons(today):
    r = today("disk", "create", "-g", "rg1", "-n", "p1", "--sku", "PremiumV2_LRS", "--size-gb", "8")
    assert r.returncode == 1 and "a PremiumV2_LRS disk is zonal: give --zone 1, 2 or 3" in r.stderr
    r = today("disk", "create", "-g", "rg1", "-n", "p1", "--sku", "PremiumV2_LRS", "--size-gb", "8", "-l", "westus")
    assert r.returncode == 1 and r.stderr.startswith("ERROR: (SkuNotAvailable) disk 'p1': PremiumV2_LRS is not "
                                                     "offered in westus")
    r = today("vm", "create", "-g", "rg1", "-n", "vm1", "--image", "Ubuntu2204", "--zone", "1", "--storage-sku",
              "PremiumV2_LRS")
    assert r.returncode == 1 and "cannot be used as an OS disk" in r.stderr
    r = today("vm", "create", "-g", "rg1", "-n", "vm1", "--image", "Ubuntu2204", "--zone", "1", "--storage-sku",
              "os=Premium_LRS", "0=PremiumV2_LRS", "--data-disk-sizes-gb", "16", "--data-disk-caching", "ReadWrite")
    assert r.returncode == 1 and "host caching ReadWrite is not supported" in r.stderr
    assert today("vm", "list", "--query", "length(@)", "-o", "tsv").stdout == "0\n"
    r = today("disk", "create", "-g", "rg1", "-n", "p2", "--sku", "PremiumV2_LRS", "--size-gb", "8", "--zone", "1",
              "-o", "none")
    assert r.returncode == 0
    today("vm", "create", "-g", "rg1", "-n", "vmr", "--image", "Ubuntu2204", "-o", "none")
    r = today("vm", "disk", "attach", "-g", "rg1", "--vm-name", "vmr", "--name", "p2")
    assert r.returncode == 1 and "disk 'p2' is in zone 1; VM 'vmr' has no zone (a regional VM)" in r.stderr
    r = today("disk", "update", "-g", "rg1", "-n", "p2", "--sku", "Premium_LRS")
    assert r.returncode == 1 and "cannot change to or from PremiumV2_LRS in place" in r.stderr


def test_K9_seeds_profile_refuses_todays_skus_naming_itself(tmp_path, cmklab_bin):
    home = tmp_path / "hseeds"
    assert _az(cmklab_bin, home, "seeds", "group", "create", "-n", "rg1", "-l", "eastus", "-o", "none").returncode == 0
    for sku in ("PremiumV2_LRS", "Premium_ZRS", "StandardSSD_ZRS"):
        r = _az(cmklab_bin, home, "seeds", "disk", "create", "-g", "rg1", "-n", "d1", "--sku", sku, "--zone", "1",
                "--size-gb", "4")
        assert r.returncode == 1
        assert r.stderr.startswith(f"ERROR: (InvalidParameter) sku {sku} is not offered under the rule profile "
                                   "'seeds'"), r.stderr
        assert "--profile azure-2025" in r.stderr
    help_text = _az(cmklab_bin, home, "seeds", "disk", "create", "--help").stdout
    assert "PremiumV2_LRS" in help_text and "StandardSSD_ZRS" in help_text  # one list, every profile
