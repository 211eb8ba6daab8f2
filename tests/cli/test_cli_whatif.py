"""``cmklab what-if <command>`` previews without changing anything; ``--read-only`` refuses every change."""

from __future__ import annotations

import pytest


def test_what_if_disable_key_lists_the_vms_that_stop_and_changes_nothing(cli, landscape):
    before = cli.state_bytes()
    r = cli("what-if", "az", "keyvault", "key", "set-attributes", "--vault-name", "kv1", "-n", "key1",
            "--enabled", "false")
    assert r.code == 0, r.err
    assert r.out.splitlines()[0] == "what-if: az keyvault key set-attributes"
    assert "1 VM(s) will stop: vm1" in r.out
    assert "resource(s) become unreadable" in r.out and "vm1-os" in r.out
    assert cli.state_bytes() == before
    assert cli.tsv("vm", "show", "-d", "-g", "rg1", "-n", "vm1", "--query", "powerState") == "VM running"
    assert cli.tsv("keyvault", "key", "show", "--vault-name", "kv1", "-n", "key1", "--query",
                   "attributes.enabled") == "true"


def test_what_if_json_output(cli, landscape):
    before = cli.state_bytes()
    r = cli("what-if", "az", "keyvault", "delete-policy", "-n", "kv1", "--object-id", landscape["principal"],
            "-o", "json")
    assert r.code == 0
    impact = r.json
    assert impact["action"] == "delete_policy"
    assert impact["vmsStopping"] == ["vm1"] and impact["destructive"] is True
    assert impact["summary"][0] == "1 VM(s) will stop: vm1"
    assert cli.state_bytes() == before
    r = cli("what-if", "az", "keyvault", "delete-policy", "-n", "kv1", "--object-id", landscape["principal"],
            "--query", "vmsStopping", "-o", "tsv")
    assert r.out == "vm1\n"


def test_what_if_rekey_and_create(cli, landscape):
    new = cli.tsv("keyvault", "key", "create", "--vault-name", "kv1", "-n", "key1", "--query", "key.kid")
    before = cli.state_bytes()
    r = cli("what-if", "az", "disk-encryption-set", "update", "-n", "des1", "-g", "rg1", "--key-url", new)
    assert "2 data key(s) re-wrapped (data and VMs untouched)" in r.out
    assert "disk encryption set des1" in r.out
    r = cli("what-if", "az", "disk", "create", "-g", "rg1", "-n", "newdisk", "--size-gb", "4")
    assert r.out.splitlines()[1:] == ["create: disk newdisk"]
    assert cli.state_bytes() == before
    assert cli.az("disk", "show", "-g", "rg1", "-n", "newdisk").code == 3


def test_what_if_refusal_is_shown_not_raised(cli, landscape):
    r = cli("what-if", "az", "disk", "create", "-g", "rg1", "-n", "dbl", "--size-gb", "4", "--encryption-type",
            "EncryptionAtRestWithPlatformAndCustomerKeys", "--disk-encryption-set", "des1")
    assert r.code == 0
    assert r.out.splitlines()[1].startswith("refused: (EncryptionTypeMismatch) disk dbl: encryption type")


def test_what_if_purge_shows_crypto_shredding(cli, landscape):
    cli.ok("vm", "deallocate", "-g", "rg1", "-n", "vm1")
    cli.ok("keyvault", "update", "-n", "kv1", "-o", "none")
    cli.ok("keyvault", "key", "delete", "--vault-name", "kv1", "-n", "key1", "-o", "none", "--only-show-errors")
    cli("clock", "advance", "91d", "-o", "none")  # past retention: the platform purges it
    before = cli.state_bytes()
    r = cli("what-if", "clock", "advance", "1d")
    assert r.code == 0 and r.out.startswith("what-if: cmklab clock advance\n")
    assert cli.state_bytes() == before


def test_what_if_uses_the_same_parser(cli, landscape):
    r = cli("what-if", "az", "disk", "create", "-g", "rg1")
    assert (r.code, r.err) == (2, "ERROR: the following arguments are required: --name/-n\n")
    r = cli("what-if", "az", "disk", "show", "-g", "rg1", "-n", "vm1-os")
    assert r.code == 1 and "changes nothing" in r.err


def test_what_if_without_a_command_is_a_usage_error(cli, landscape):
    """Its COMMAND is required: without one, az's usage error (exit 2), not the help and success."""
    r = cli("what-if")
    assert r.code == 2 and r.err.startswith("ERROR: the following arguments are required: COMMAND") and not r.out
    r = cli("what-if", "--help")
    assert r.code == 0 and "cmklab what-if : Preview what a command" in r.out


def test_read_only_refuses_every_mutating_command(cli, landscape):
    before = cli.state_bytes()
    for argv in (["az", "keyvault", "key", "delete", "--vault-name", "kv1", "-n", "key1"],
                 ["az", "vm", "stop", "-g", "rg1", "-n", "vm1"],
                 ["az", "disk", "create", "-g", "rg1", "-n", "x", "--size-gb", "4"],
                 ["clock", "advance", "1d"],
                 ["vm", "write", "-g", "rg1", "-n", "vm1", "--lun", "0", "--offset", "0", "--data", "x"],
                 ["az", "vm", "delete", "-g", "rg1", "-n", "vm1"]):  # refused, not asked to confirm
        r = cli(*argv, read_only=True)
        assert r.code == 1, argv
        error = r.err[r.err.index("ERROR: "):]  # (after az's own warning, where the command has one)
        assert error.startswith("ERROR: (ReadOnly) "), r.err  # the store's refusal, in az's shape
        assert "was opened read-only (--read-only)" in r.err and "nothing was changed" in r.err
        assert "what-if previews work" in r.err and "prompt" not in r.err
    # queries, and previews, still work; key show does not even audit
    assert cli("az", "keyvault", "key", "show", "--vault-name", "kv1", "-n", "key1", read_only=True).code == 0
    assert cli("what-if", "az", "vm", "stop", "-g", "rg1", "-n", "vm1", read_only=True).code == 0
    assert cli("vm", "read", "-g", "rg1", "-n", "vm1", "--lun", "0", "--offset", "0", "--length", "4",
               read_only=True).code == 0
    assert cli.state_bytes() == before


@pytest.mark.parametrize("argv", [
    ["az", "keyvault", "key", "purge", "--vault-name", "kv1", "-n", "key1"],
    ["az", "vm", "delete", "-g", "rg1", "-n", "vm1", "--yes"],
    ["az", "role", "assignment", "create", "--assignee", "x", "--role", "Key Vault Crypto User", "--scope", "{vault}"],
])
def test_what_if_never_writes(cli, landscape, argv):
    vault = cli.tsv("keyvault", "show", "-n", "kv1", "--query", "id")
    before = cli.state_bytes()
    assert cli("what-if", *(a.replace("{vault}", vault) for a in argv)).code == 0
    assert cli.state_bytes() == before


@pytest.mark.parametrize("duration", ["-1h", "-30m", "-2"])
def test_a_negative_clock_advance_says_the_clock_only_moves_forward(cli, rg, duration):
    """``-1h`` is a (negative) value, not an unknown option: the refusal names what is wrong with it."""
    before = cli.state_bytes()
    r = cli("clock", "advance", duration)
    assert r.code == 1 and "the clock only moves forward" in r.err and "required" not in r.err
    assert cli.state_bytes() == before


def test_what_if_text_names_at_most_twenty_a_line_and_json_names_them_all(cli, landscape):
    for i in range(25):
        cli.ok("disk", "create", "-g", "rg1", "-n", f"many{i:02d}", "--size-gb", "1", "--disk-encryption-set", "des1",
               "-o", "none")
    r = cli("what-if", "az", "keyvault", "key", "set-attributes", "--vault-name", "kv1", "-n", "key1",
            "--enabled", "false")
    assert r.code == 0, r.err
    line = next(x for x in r.out.splitlines() if "become unreadable" in x)
    count = int(line.split(" ", 1)[0])
    assert count >= 27  # the 25 new disks, vm1's disks
    assert line.endswith(f", … and {count - 20:,} more") and line.count(", ") == 20
    assert r.out.splitlines()[-1] == "(at most 20 names a line: -o json lists every one)"
    impact = cli("what-if", "az", "keyvault", "key", "set-attributes", "--vault-name", "kv1", "-n", "key1",
                 "--enabled", "false", "-o", "json").json
    assert len(impact["unreadable"]) == count and {f"many{i:02d}" for i in range(25)} <= set(impact["unreadable"])
    # a short preview is as it was: every name, no note
    r = cli("what-if", "az", "vm", "deallocate", "-g", "rg1", "-n", "vm1")
    assert "every one" not in r.out and "more" not in r.out
