"""``az vm update --set securityProfile.encryptionAtHost=false`` keeps ``securityProfile: {"encryptionAtHost": false}`` in the
VM's JSON, as Azure does once the property was set; a VM on which it was never set has no security profile."""

from __future__ import annotations

import json

from .test_cli_ids import az


def test_encryption_at_host_false_is_kept(cli, rg, cmklab_bin):
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "--size", "Standard_DS3_v2", "-o", "none")
    assert "securityProfile" not in cli.ok("vm", "show", "-g", rg, "-n", "vm1").json  # never set: AAZ omits it
    cli.ok("vm", "deallocate", "-g", rg, "-n", "vm1")
    on = az(cmklab_bin, cli, "vm", "update", "-g", rg, "-n", "vm1", "--set", "securityProfile.encryptionAtHost=true",
            "--query",
            "securityProfile.encryptionAtHost", "-o", "tsv")
    assert (on.returncode, on.stdout) == (0, "true\n"), on.stderr
    off = az(cmklab_bin, cli, "vm", "update", "-g", rg, "-n", "vm1", "--set",
              "securityProfile.encryptionAtHost=false")
    assert off.returncode == 0, off.stderr
    assert json.loads(off.stdout)["securityProfile"]["encryptionAtHost"] is False
    shown = az(cmklab_bin, cli, "vm", "show", "-g", rg, "-n", "vm1", "--query", "securityProfile.encryptionAtHost",
               "-o", "json")
    assert json.loads(shown.stdout) is False


def test_setting_false_on_a_vm_that_never_had_it(cli, rg, cmklab_bin):
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "-o", "none")
    r = az(cmklab_bin, cli, "vm", "update", "-g", rg, "-n", "vm1", "--set", "securityProfile.encryptionAtHost=false",
           "--query", "securityProfile", "-o", "json")
    assert r.returncode == 0, r.stderr  # no change of the setting: the VM may keep running
    assert json.loads(r.stdout)["encryptionAtHost"] is False
