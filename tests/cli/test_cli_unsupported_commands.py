"""A command az 2.91 has that cmklab does not implement is said to be so (a usage error, exit 2, naming it), as a flag
cmklab does not support is; only a word az does not have either is ``misspelled or not recognized``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.cli import spec
from console.cli.az_names import AZ_COMMANDS, AZ_VERSION

AZ_ONLY = [
    (["account", "list", "-o", "table"], "account list", "command", "az account"),
    (["snapshot", "update", "-g", "rg1", "-n", "s1"], "snapshot update", "command", "az snapshot"),
    (["disk-encryption-set", "identity", "assign", "-g", "rg1", "-n", "des1"], "disk-encryption-set identity assign",
     "command", "az disk-encryption-set"),
    (["vmss", "run-command", "wait", "-g", "rg1", "--vmss-name", "ss1", "--created"], "vmss run-command wait",
     "command", "az vmss"),
    (["keyvault", "network-rule", "wait", "-n", "kv1", "--created"], "keyvault network-rule wait", "command",
     "az keyvault"),
    (["group", "update", "-n", "rg1"], "group update", "command", "az group"),
    (["image", "update", "-g", "rg1", "-n", "i1"], "image update", "command", "az image"),
    (["keyvault", "key", "download", "--vault-name", "kv1", "-n", "k"], "keyvault key download", "command",
     "az keyvault key"),
    (["keyvault", "key", "backup"], "keyvault key backup", "command", "az keyvault key"),
    (["KeyVault", "Key", "Restore"], "keyvault key restore", "command", "az keyvault key"),
    (["vm", "extension"], "vm extension", "group", "az vm"),
    (["vm", "extension", "list", "-g", "rg1"], "vm extension list", "command", "az vm"),
]


@pytest.mark.parametrize(("argv", "name", "kind", "group"), AZ_ONLY, ids=[a[1] for a in AZ_ONLY])
def test_a_command_az_has_is_not_supported_not_misspelled(cli, argv, name, kind, group):
    before = cli.state_bytes()
    r = cli.az(*argv)
    assert (r.code, r.out) == (2, "")
    assert r.err == (f"ERROR: 'az {name}': Not supported by cmklab: az 2.91 has this {kind}, cmklab does not implement "
                     f"it (`{group} --help` lists the commands it has).\n")
    assert "misspelled" not in r.err
    assert cli.state_bytes() == before


@pytest.mark.parametrize("argv", [["disk", "lsit"], ["nosuch"], ["vm", "disk", "foo"], ["keyvault", "key", "x"]])
def test_a_word_az_does_not_have_either_is_still_misspelled(cli, argv):
    r = cli.az(*argv)
    assert r.code == 2 and r.err.startswith(f"ERROR: '{argv[-1]}' is misspelled or not recognized by the system.")


def test_the_names_are_az_s_own():
    """The names come from az's command table (tests/reference/dump_az.py): they hold every command cmklab implements
    (but its own wrap-key and unwrap-key) and every one of the flag reference."""
    spec.load_all()
    implemented = {p[3:] for p in spec.COMMANDS if p.startswith("az ")}
    assert implemented - AZ_COMMANDS == {"keyvault key wrap-key", "keyvault key unwrap-key"}
    reference = json.loads((Path(__file__).parents[1] / "reference" / "az_commands.json").read_text())
    assert set(reference["commands"]) <= AZ_COMMANDS
    assert reference["azure-cli"] == AZ_VERSION and AZ_VERSION.startswith(spec.AZ_VERSION + ".")
    assert {n.split()[0] for n in AZ_COMMANDS} == {p.split()[1] for p in spec.GROUPS if p.startswith("az ")
                                                   and len(p.split()) == 2}
