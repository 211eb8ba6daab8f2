"""``--no-wait`` is accepted on the long-running commands that have it in az; the simulated operation is done
when the command returns, and, as az does, nothing is printed."""

from __future__ import annotations

import pytest

from .test_cli_ids import az

NO_WAIT = [
    ("disk", "create", "-g", "rg1", "-n", "d2", "--size-gb", "4"),
    ("disk", "update", "-g", "rg1", "-n", "d2", "--size-gb", "8"),
    ("snapshot", "create", "-g", "rg1", "-n", "s1", "--source", "d2"),
    ("snapshot", "delete", "-g", "rg1", "-n", "s1"),
    ("disk", "delete", "-g", "rg1", "-n", "d2", "--yes"),
    ("disk-encryption-set", "update", "-g", "rg1", "-n", "des1", "--enable-auto-key-rotation", "true"),
    ("vm", "update", "-g", "rg1", "-n", "vm1", "--size", "Standard_DS2_v2"),
    ("vm", "restart", "-g", "rg1", "-n", "vm1"),
    ("vm", "stop", "-g", "rg1", "-n", "vm1", "--only-show-errors"),
    ("vm", "start", "-g", "rg1", "-n", "vm1"),
    ("vm", "deallocate", "-g", "rg1", "-n", "vm1"),
    ("vm", "create", "-g", "rg1", "-n", "vm2", "--image", "Ubuntu2204"),
    ("vm", "delete", "-g", "rg1", "-n", "vm2", "--yes"),
]


def test_no_wait_is_accepted_and_prints_nothing(cli, landscape, cmklab_bin):
    for argv in NO_WAIT:
        r = az(cmklab_bin, cli, *argv, "--no-wait")
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), (argv, r.stderr)
    # and each was done: the state is as if it had been waited for
    assert cli.tsv("disk", "list", "-g", "rg1", "--query", "[?name=='d2'] | length(@)") == "0"
    assert cli.tsv("disk-encryption-set", "show", "-g", "rg1", "-n", "des1", "--query",
                   "rotationToLatestKeyVersionEnabled") == "true"
    assert cli.tsv("vm", "show", "-g", "rg1", "-n", "vm1", "-d", "--query", "[hardwareProfile.vmSize, powerState]"
                   ) == "Standard_DS2_v2\nVM deallocated"
    assert cli.tsv("vm", "list", "--query", "[].name") == "vm1"


@pytest.mark.parametrize("path", ["disk create", "disk-encryption-set delete", "vm start"])
def test_no_wait_help_says_it_has_no_effect(cli, path):
    out = " ".join(cli.az(*path.split(), "--help").out.split())  # help wraps lines
    assert "--no-wait" in out and "No effect in cmklab" in out
