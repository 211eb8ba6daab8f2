"""Flags az 2.91 has that cmklab now accepts: pagination, policy tokens, the other access-policy permission kinds,
and the shapes' ``-o tsv --query`` (run as an operator types them, through the installed ``cmklab``)."""

from __future__ import annotations

import base64
import json
import subprocess


def test_max_items_pages_a_list_and_the_warning_gives_the_next_token(cli, rg):
    for i in range(3):
        cli.ok("disk", "create", "-g", rg, "-n", f"d{i}", "--size-gb", "4", "-o", "none")
    first = cli.ok("disk", "list", "-g", rg, "--max-items", "2", "--query", "[].name", "-o", "tsv")
    assert first.out.split() == ["d0", "d1"]
    token = first.err.strip().removeprefix("WARNING: Token of next page: ")
    assert json.loads(base64.b64decode(token))["offset"] == 2
    rest = cli.ok("disk", "list", "-g", rg, "--max-items", "2", "--next-token", token, "--query", "[].name", "-o", "tsv")
    assert rest.out.split() == ["d2"] and rest.err == ""  # the last page: no token
    assert cli.ok("disk", "list", "-g", rg, "--query", "length(@)").json == 3  # without --max-items: every item


def test_a_bad_page_argument_is_a_usage_error(cli, rg):
    r = cli.az("snapshot", "list", "-g", rg, "--max-items", "1", "--next-token", "not-a-token")
    assert r.code == 2 and "--next-token" in r.err and "not-a-token" in r.err
    r = cli.az("image", "list", "--max-items", "0")
    assert r.code == 2 and "--max-items" in r.err


def test_policy_token_arguments_are_accepted_and_change_nothing_else(cli, rg):
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "--size-gb", "4", "--acquire-policy-token", "--change-reference",
           "CR-1", "-o", "none")
    assert cli.tsv("disk", "show", "-g", rg, "-n", "d1", "--query", "diskSizeGB") == "4"
    help_text = cli.ok("disk", "create", "--help").out
    assert "--acquire-policy-token" in help_text and "No effect in cmklab" in help_text


def test_set_policy_stores_secret_certificate_and_storage_permissions(cli, rg):
    cli.ok("keyvault", "create", "-n", "kvp", "-g", rg, "-o", "none")
    oid = "00000000-0000-0000-0000-0000000000aa"
    cli.ok("keyvault", "set-policy", "-n", "kvp", "--object-id", oid, "--key-permissions", "get", "-o", "none")
    cli.ok("keyvault", "set-policy", "-n", "kvp", "--object-id", oid, "--secret-permissions", "get", "list",
           "--certificate-permissions", "get", "--storage-permissions", "getsas", "-o", "none")
    perms = cli.ok("keyvault", "show", "-n", "kvp", "--query",
                   f"properties.accessPolicies[?objectId=='{oid}'].permissions | [0]").json
    assert perms == {"keys": ["get"], "secrets": ["get", "list"], "certificates": ["get"], "storage": ["getsas"]}


def test_a_bad_permission_is_azs_usage_error_and_changes_nothing(cli, rg):
    cli.ok("keyvault", "create", "-n", "kvq", "-g", rg, "-o", "none")
    before = cli.state_bytes()
    r = cli.az("keyvault", "set-policy", "-n", "kvq", "--object-id", "abc", "--secret-permissions", "wrapKey")
    assert r.code == 2 and "'wrapKey' is not a valid value for '--secret-permissions'" in r.err
    assert cli.state_bytes() == before


def test_new_shapes_answer_tsv_queries_through_the_installed_cmklab(cmklab_bin, cmklab_env):
    def az(*argv: str) -> str:
        run = subprocess.run([str(cmklab_bin), "az", *argv], env=cmklab_env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    az("group", "create", "-n", "g", "-l", "eastus", "-o", "none")
    az("disk", "create", "-g", "g", "-n", "d", "--size-gb", "8", "-o", "none")
    az("snapshot", "create", "-g", "g", "-n", "s", "--source", "d", "-o", "none")
    az("image", "create", "-g", "g", "-n", "i", "--source", "s", "--os-type", "Linux", "-o", "none")
    assert az("disk", "show", "-g", "g", "-n", "d", "--query", "[diskSizeGB, diskIOPSReadWrite]", "-o", "tsv") \
        .split() == ["8", "120"]  # Premium_LRS P2: 120 IOPS
    assert az("snapshot", "show", "-g", "g", "-n", "s", "--query", "diskSizeGB", "-o", "tsv") == "8"
    assert az("image", "show", "-g", "g", "-n", "i", "--query", "storageProfile.osDisk.diskSizeGB", "-o", "tsv") == "8"
    assert "encryption" not in json.loads(az("image", "show", "-g", "g", "-n", "i", "--query", "keys(@)"))
    assert az("image", "create", "-g", "g", "-n", "i2", "--source", "s", "--os-type", "Linux", "--query",
              "storageProfile.osDisk.diskSizeGB", "-o", "tsv") == "8"  # az 2.91's image create is AAZ too
