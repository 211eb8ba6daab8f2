"""``--ids`` as az takes it, run through the installed ``cmklab`` script the way an operator types it: one or
many space-separated resource ids instead of -g/-n; several ids make a show print a list and an action run
for each; mixing --ids with -g/-n, or giving neither, is a usage error (exit 2)."""

from __future__ import annotations

import json
import subprocess

from .conftest import SEED


def az(cmklab_bin, cli, *argv):
    p = subprocess.run([str(cmklab_bin), "--home", str(cli.home), "--seed", str(SEED), "az", *argv],
                       capture_output=True, text=True, timeout=120)
    return p


def _ids(cli, *argv):
    return cli.tsv(*argv, "--query", "[].id").split("\n")


def test_disk_show_update_delete_by_ids(cli, rg, cmklab_bin):
    for n, size in (("d1", "4"), ("d2", "8")):
        cli.ok("disk", "create", "-g", rg, "-n", n, "--size-gb", size, "-o", "none")
    d1, d2 = _ids(cli, "disk", "list", "-g", rg)
    one = az(cmklab_bin, cli, "disk", "show", "--ids", d1)
    assert one.returncode == 0 and json.loads(one.stdout)["name"] == "d1"  # one id: the object itself
    two = az(cmklab_bin, cli, "disk", "show", "--ids", d1, d2, "--query", "[].name", "-o", "tsv")
    assert (two.returncode, two.stdout) == (0, "d1\nd2\n")
    quoted = az(cmklab_bin, cli, "disk", "show", "--ids", f"{d1} {d2}", "-o", "tsv", "--query", "[].diskSizeGB")
    assert (quoted.returncode, quoted.stdout) == (0, "4\n8\n")  # "$(az disk list --query [].id -o tsv)" style
    up = az(cmklab_bin, cli, "disk", "update", "--ids", d1, d2, "--size-gb", "16", "--query", "[].diskSizeGB",
            "-o", "tsv")
    assert (up.returncode, up.stdout) == (0, "16\n16\n")
    gone = az(cmklab_bin, cli, "disk", "delete", "--ids", d1, d2, "--yes")
    assert (gone.returncode, json.loads(gone.stdout), gone.stderr) == (0, [None, None], "")  # each job's None
    assert cli.tsv("disk", "list", "-g", rg, "--query", "length(@)") == "0"


def test_ids_usage_errors(cli, rg, cmklab_bin):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "-o", "none")
    (d1,) = _ids(cli, "disk", "list", "-g", rg)
    mixed = az(cmklab_bin, cli, "disk", "show", "--ids", d1, "-g", rg)
    assert mixed.returncode == 2 and mixed.stdout == ""
    assert mixed.stderr.startswith("ERROR: usage error: --ids cannot be combined with --resource-group")
    neither = az(cmklab_bin, cli, "disk", "show")
    assert (neither.returncode, neither.stderr) == (2, "ERROR: (--resource-group --name | --ids) are required\n")
    bad = az(cmklab_bin, cli, "disk", "show", "--ids", "not-an-id")
    assert bad.returncode == 2 and "invalid resource ID 'not-an-id'" in bad.stderr
    assert "providers/Microsoft.Compute/disks/{name}" in bad.stderr  # says what is allowed
    other_type = az(cmklab_bin, cli, "vm", "show", "--ids", d1)
    assert other_type.returncode == 2 and "Microsoft.Compute/virtualMachines/{name}" in other_type.stderr
    sub = az(cmklab_bin, cli, "disk", "show", "--ids", d1.replace(d1.split("/")[2], "00000000-0000-0000-0000-"
                                                                   "000000000000"))
    assert sub.returncode == 1 and "doesn't exist in cloud 'AzureCloud'" in sub.stderr
    help_text = az(cmklab_bin, cli, "disk", "show", "--help").stdout
    assert "Resource Id Arguments\n    --ids" in help_text


def test_vm_power_and_disk_commands_by_ids(cli, landscape, cmklab_bin):
    cli.ok("vm", "create", "-g", "rg1", "-n", "vm2", "--image", "Ubuntu2204", "-o", "none")
    vm1, vm2 = _ids(cli, "vm", "list", "-g", "rg1")
    r = az(cmklab_bin, cli, "vm", "deallocate", "--ids", vm1, vm2)
    assert (r.returncode, json.loads(r.stdout)) == (0, [None, None])
    states = az(cmklab_bin, cli, "vm", "get-instance-view", "--ids", vm1, vm2, "--query",
                "[].instanceView.statuses[1].code", "-o", "tsv")
    assert states.stdout == "PowerState/deallocated\nPowerState/deallocated\n"
    cli.ok("disk", "create", "-g", "rg1", "-n", "extra", "--size-gb", "4", "-o", "none")
    assert az(cmklab_bin, cli, "vm", "disk", "attach", "--ids", vm2, "-n", "extra").returncode == 0
    assert cli.tsv("vm", "show", "-g", "rg1", "-n", "vm2", "--query",
                   "storageProfile.dataDisks[0].name") == "extra"
    assert az(cmklab_bin, cli, "vm", "disk", "detach", "-g", "rg1", "--vm-name", "vm2", "-n", "extra").returncode == 0
    assert az(cmklab_bin, cli, "vm", "start", "--ids", vm1).returncode == 0
    shown = az(cmklab_bin, cli, "vm", "show", "--ids", vm1, "-d", "--query", "powerState", "-o", "tsv")
    assert shown.stdout == "VM running\n"
    up = az(cmklab_bin, cli, "vm", "update", "--ids", vm2, "--size", "Standard_DS2_v2", "--query",
            "hardwareProfile.vmSize", "-o", "tsv")
    assert (up.returncode, up.stdout) == (0, "Standard_DS2_v2\n"), up.stderr
    assert az(cmklab_bin, cli, "vm", "delete", "--ids", vm2, "--yes").returncode == 0
    assert cli.tsv("vm", "list", "--query", "[].name") == "vm1"


def test_des_snapshot_image_vault_and_key_by_id(cli, landscape, cmklab_bin):
    (des,) = _ids(cli, "disk-encryption-set", "list")
    r = az(cmklab_bin, cli, "disk-encryption-set", "show", "--ids", des, "--query", "name", "-o", "tsv")
    assert (r.returncode, r.stdout) == (0, "des1\n")
    r = az(cmklab_bin, cli, "disk-encryption-set", "update", "--ids", des, "--enable-auto-key-rotation", "true",
           "--query", "rotationToLatestKeyVersionEnabled", "-o", "tsv")
    assert (r.returncode, r.stdout) == (0, "true\n"), r.stderr
    cli.ok("snapshot", "create", "-g", "rg1", "-n", "s1", "--source", "vm1-os", "--disk-encryption-set", "des1",
           "-o", "none")
    (snap,) = _ids(cli, "snapshot", "list")
    r = az(cmklab_bin, cli, "snapshot", "show", "--ids", snap, "--query", "name", "-o", "tsv")
    assert (r.returncode, r.stdout) == (0, "s1\n")
    assert az(cmklab_bin, cli, "snapshot", "delete", "--ids", snap).returncode == 0
    cli.ok("image", "create", "-g", "rg1", "-n", "img1", "--source", "vm1-os", "-o", "none")
    (img,) = _ids(cli, "image", "list")
    r = az(cmklab_bin, cli, "image", "show", "--ids", img, "--query", "name", "-o", "tsv")
    assert (r.returncode, r.stdout) == (0, "img1\n")
    assert az(cmklab_bin, cli, "image", "delete", "--ids", img).returncode == 0
    assert cli.tsv("image", "list", "--query", "length(@)") == "0"
    r = az(cmklab_bin, cli, "keyvault", "key", "show", "--id", landscape["kid"], "--query", "key.kid", "-o", "tsv")
    assert (r.returncode, r.stdout) == (0, landscape["kid"] + "\n")
    r = az(cmklab_bin, cli, "keyvault", "key", "set-attributes", "--id", landscape["kid"], "--tags", "a=1",
           "--query", "tags.a", "-o", "tsv")
    assert (r.returncode, r.stdout) == (0, "1\n"), r.stderr


def test_role_assignment_delete_by_ids(cli, landscape, cmklab_bin):
    vault = cli.tsv("keyvault", "show", "-n", "kv1", "--query", "id")
    for who in ("11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"):
        cli.ok("role", "assignment", "create", "--assignee-object-id", who, "--role", "Key Vault Crypto User",
               "--scope", vault, "-o", "none")
    ids = _ids(cli, "role", "assignment", "list", "--scope", vault)
    assert len(ids) == 2
    r = az(cmklab_bin, cli, "role", "assignment", "delete", "--ids", *ids)
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    assert cli.tsv("role", "assignment", "list", "--scope", vault, "--query", "length(@)") == "0"


def test_what_if_previews_each_id(cli, rg, cmklab_bin):
    for n in ("d1", "d2"):
        cli.ok("disk", "create", "-g", rg, "-n", n, "--size-gb", "4", "-o", "none")
    d1, d2 = _ids(cli, "disk", "list", "-g", rg)
    p = subprocess.run([str(cmklab_bin), "--home", str(cli.home), "what-if", "az", "disk", "delete", "--ids", d1, d2,
                        "--yes"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "what-if: az disk delete\ndelete: disk d1\nwhat-if: az disk delete\ndelete: disk d2\n"
    assert cli.tsv("disk", "list", "--query", "length(@)") == "2"  # nothing was deleted


def _not_found_warning(rid: str, kind: str, name: str, rg: str) -> list[str]:
    text = f"The Resource 'Microsoft.Compute/{kind}/{name}' under resource group '{rg}' was not found."
    return [f'WARNING: {rid}: "(ResourceNotFound) {text}', "Code: ResourceNotFound", f'Message: {text}"']


def test_several_ids_run_every_one_and_warn_for_each_failure(cli, rg):
    """As az's invoker: every id runs; a failure is a warning naming the id, and the command succeeds when any id
    did (core/commands/__init__.py)."""
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "-o", "none")
    vm1 = cli.tsv("vm", "show", "-g", rg, "-n", "vm1", "--query", "id")
    missing = vm1[:-len("vm1")] + "nosuchvm"
    r = cli.az("vm", "deallocate", "--ids", missing, vm1)
    assert (r.code, r.out) == (0, "")
    assert r.err.splitlines() == [*_not_found_warning(missing, "virtualMachines", "nosuchvm", rg),
                                  "WARNING: Encountered more than one exception."]
    assert cli.tsv("vm", "show", "-g", rg, "-n", "vm1", "-d", "--query", "powerState") == "VM deallocated"
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "-o", "none")
    d1 = cli.tsv("disk", "show", "-g", rg, "-n", "d1", "--query", "id")
    nod = d1[:-len("d1")] + "nod"
    r = cli.az("disk", "show", "--ids", d1, nod)
    assert r.code == 0 and r.json["name"] == "d1"  # one result is printed as itself, as az does
    assert r.err.splitlines()[:3] == _not_found_warning(nod, "disks", "nod", rg)


def test_several_ids_that_all_fail(cli, rg):
    base = f"/subscriptions/{cli.engine().subscription_id}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/"
    r = cli.az("disk", "show", "--ids", base + "a", base + "b")
    assert (r.code, r.out) == (1, "")
    lines = r.err.splitlines()
    assert lines[:3] == _not_found_warning(base + "a", "disks", "a", rg)
    assert lines[3:6] == _not_found_warning(base + "b", "disks", "b", rg)
    assert lines[6:] == []  # az's invoker returns exit 1 with no error line (checked against az 2.91)
    r = cli.az("disk", "show", "--ids", base + "a")  # one id that fails: its own error and exit code
    assert r.code == 3 and r.err.startswith("ERROR: (ResourceNotFound) ")


def test_several_ids_print_every_jobs_result_as_az_2_91_does(cli, rg):
    """Checked against az 2.91 (its invoker keeps each job's result): two ids print a list of two, an action's
    (and --no-wait's) ``null`` too (``-o tsv``: ``None`` a line); one result prints as itself."""
    for n in ("d1", "d2"):
        cli.ok("disk", "create", "-g", rg, "-n", n, "--size-gb", "1", "-o", "none")
    ids = cli.tsv("disk", "list", "-g", rg, "--query", "[].id").split()
    shown = cli.ok("disk", "show", "--ids", *ids, "-o", "json").json
    assert [d["name"] for d in shown] == ["d1", "d2"]
    assert cli.ok("disk", "update", "--ids", *ids, "--size-gb", "2", "--no-wait").json == [None, None]
    assert cli.ok("disk", "delete", "--ids", *ids, "--yes", "-o", "tsv").out == "None\nNone\n"
    assert cli.ok("disk", "delete", "--ids", ids[0], "--yes").out == ""  # one id: its None, nothing printed
