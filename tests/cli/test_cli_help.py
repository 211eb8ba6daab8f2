"""``--help`` on every group and command, in az's layout."""

from __future__ import annotations

import pytest

from store import has_state

from console.cli import spec

spec.load_all()
COMMAND_PATHS = sorted(spec.COMMANDS)
GROUP_PATHS = sorted(spec.GROUPS)


def _argv(path: str) -> list[str]:
    words = path.split()
    return words[1:] if words[0] == "cmklab" else words


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_every_command_has_help(cli, path):
    r = cli(*_argv(path), "--help")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "" and lines[1] == "Command"
    assert lines[2].startswith(f"    {path} : ")
    assert "Arguments" in lines and "Global Arguments" in lines
    assert "    --output -o" in r.out and "Output format. Allowed values: json," in " ".join(r.out.split())
    assert all(len(line) <= 100 or " " not in line.strip() for line in lines if "https://" not in line)
    cmd = spec.COMMANDS[path]
    for arg in cmd.args:
        if arg.options:
            assert " ".join(sorted(arg.options)) in r.out, arg.options
    assert not has_state(cli.home) and not (cli.home / "db").exists()  # help never opens the store


@pytest.mark.parametrize("path", GROUP_PATHS)
def test_every_group_has_help(cli, path):
    r = cli(*_argv(path), "--help")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[:2] == ["", "Group"]
    assert lines[2].startswith(f"    {path} : ")
    assert "Commands:" in lines or "Subgroups:" in lines


def test_group_without_command_prints_group_help(cli):
    r = cli.az("keyvault", "key")
    assert r.code == 0
    assert "    create          : Create a new key, stores it" in r.out
    assert "Subgroups:" in r.out and "    rotation-policy : Manage key's rotation policy." in r.out


def test_command_help_layout(cli):
    r = cli.az("disk", "create", "-h")
    lines = r.out.splitlines()
    # required first within a group, then by name; name column padded to a common width with [Required]
    args = lines[lines.index("Arguments") + 1:]
    column = args[0].index(" : ")  # the name column is as wide as the longest name with [Required]
    assert args[0].startswith("    --name -n ") and args[0][:column].endswith(" [Required]")
    assert args[0][column:].startswith(" : The name of the managed disk")
    rg_line = next(a for a in args[1:] if a.startswith("    --"))
    assert rg_line.startswith("    --resource-group -g ") and rg_line[column:].startswith(" : Name of resource group.")
    sku = next(i for i, a in enumerate(lines) if a.startswith("    --sku "))
    assert lines[sku][column:].startswith(" : Underlying storage SKU.  Allowed values:")
    assert lines[sku + 1].startswith(" " * (column + 3) + "PremiumV2_LRS, Premium_LRS")  # sorted, hanging indent
    assert "Default: Premium_LRS." in r.out
    assert lines[-4:] == ["Examples", "    Create a managed disk encrypted with a customer-managed key.",
                          "        az disk create -g MyResourceGroup -n MyDisk --size-gb 128 --disk-encryption-set "
                          "MySet", ""]


def test_hanging_indent_aligns_with_summary(cli):
    lines = cli.az("keyvault", "create", "--help").out.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("    --enable-purge-protection"))
    start = lines[first].index(" : ") + 3
    assert lines[first + 1].startswith(" " * start) and lines[first + 1][start] != " "


def test_top_level_help(cli):
    r = cli("--help")
    assert r.code == 0 and "    what-if   : Preview what a command that changes state would do" in r.out
    assert "    classroom : A classroom in the browser: one isolated lab per trainee" in r.out
    r = cli.az("--help")
    assert r.code == 0 and "    disk-encryption-set : Disk Encryption Set resource." in r.out
    assert cli("what-if", "--help").code == 0
