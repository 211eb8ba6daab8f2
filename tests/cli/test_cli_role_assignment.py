"""``az role assignment create`` parses and answers as az 2.91's: ``--scope`` is required, ``-g`` is not one of
its flags, and creating an assignment that exists returns it (az catches ``RoleAssignmentExists``, role/custom.py,
"for idempotent")."""

from __future__ import annotations

WHO = "11111111-1111-1111-1111-111111111111"


def _vault(cli, rg) -> str:
    cli.ok("keyvault", "create", "-n", "kvra", "-g", rg, "--enable-rbac-authorization", "true", "-o", "none")
    return cli.tsv("keyvault", "show", "-n", "kvra", "--query", "id")


def test_create_without_scope_is_azs_usage_error_and_grants_nothing(cli, rg):
    before = cli.state_bytes()
    r = cli.az("role", "assignment", "create", "--role", "Key Vault Crypto User", "--assignee-object-id", WHO)
    assert (r.code, r.err) == (2, "ERROR: the following arguments are required: --scope\n")
    assert cli.state_bytes() == before
    assert cli.ok("role", "assignment", "list", "--all").json == []


def test_create_takes_no_resource_group(cli, rg):
    vault = _vault(cli, rg)
    r = cli.az("role", "assignment", "create", "--role", "Key Vault Crypto User", "--assignee-object-id", WHO,
               "--scope", vault, "-g", rg)
    assert (r.code, r.err) == (2, f"ERROR: unrecognized arguments: -g {rg}\n")


def test_creating_an_existing_assignment_returns_it(cli, rg):
    vault = _vault(cli, rg)
    args = ("role", "assignment", "create", "--role", "Key Vault Crypto User", "--assignee-object-id", WHO,
            "--assignee-principal-type", "ServicePrincipal", "--scope", vault)
    first = cli.ok(*args).json
    again = cli.ok(*args)
    assert again.err == ""
    assert again.json["id"] == first["id"] and again.json["roleDefinitionName"] == "Key Vault Crypto User"
    by_guid = cli.ok(*(a if a != "Key Vault Crypto User" else "12338af0-0e69-4776-bea7-57ae8d297424"
                       for a in args)).json
    assert by_guid["id"] == first["id"]
    assert len(cli.ok("role", "assignment", "list", "--scope", vault).json) == 1
