"""Output formats and --query as knack prints them: json, jsonc, yaml, table, tsv, none."""

from __future__ import annotations

import json

import yaml


def test_json_is_sorted_indented_with_trailing_newline(cli, rg):
    r = cli.ok("group", "show", "-n", rg)
    assert r.out.endswith("}\n")
    data = json.loads(r.out)
    assert r.out == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert list(data) == sorted(data)
    assert data["type"] == "Microsoft.Resources/resourceGroups" and "resourceGroup" not in data


def test_jsonc_is_json_off_a_terminal(cli, rg):
    assert cli.ok("group", "show", "-n", rg, "-o", "jsonc").out == cli.ok("group", "show", "-n", rg).out


def test_query_scalar_json_is_quoted_and_tsv_is_raw(cli, landscape):
    r = cli.ok("keyvault", "show", "-n", "kv1", "--query", "name")
    assert r.out == '"kv1"\n'
    r = cli.ok("keyvault", "show", "-n", "kv1", "--query", "properties.vaultUri", "-o", "tsv")
    assert r.out == "https://kv1.vault.azure.net/\n"


def test_tsv_top_level_bool_is_lower_case(cli, landscape):
    r = cli.ok("keyvault", "key", "show", "--vault-name", "kv1", "-n", "key1", "--query", "attributes.enabled",
               "-o", "tsv")
    assert r.out == "true\n"


def test_tsv_hash_query_keeps_query_order(cli, landscape):
    r = cli.ok("disk", "show", "-g", "rg1", "-n", "vm1-os", "--query", "{t:encryption.type, n:name, s:diskSizeGB}",
               "-o", "tsv")
    assert r.out == "EncryptionAtRestWithCustomerKey\tvm1-os\t30\n"


def test_tsv_without_query_sorts_keys_and_prints_list_lengths(cli, landscape):
    r = cli.ok("disk-encryption-set", "show", "-n", "des1", "-g", "rg1", "-o", "tsv")
    cells = r.out.rstrip("\n").split("\t")
    des = cli.ok("disk-encryption-set", "show", "-n", "des1", "-g", "rg1").json
    expected = []
    for k in sorted(des):
        v = des[k]
        expected.append(str(len(v)) if isinstance(v, list) else "" if isinstance(v, dict) else str(v))
    assert cells == expected
    assert cells[sorted(des).index("previousKeys")] == "0"


def test_tsv_list_projection_one_line_each(cli, landscape):
    r = cli.ok("disk", "list", "-g", "rg1", "--query", "[].[name, diskState]", "-o", "tsv")
    assert sorted(r.out.splitlines())[0] == "vm1-os\tAttached"
    assert len(r.out.splitlines()) == 2


def test_tsv_none_cell_prints_None(cli, landscape):
    r = cli.ok("keyvault", "key", "show", "--vault-name", "kv1", "-n", "key1", "--query",
               "{e:attributes.expires, k:key.kty}", "-o", "tsv")
    assert r.out == "None\tRSA\n"
    r = cli.ok("keyvault", "key", "show", "--vault-name", "kv1", "-n", "key1", "--query",
               "[attributes.expires, key.kty]", "-o", "tsv")
    assert r.out == "None\nRSA\n"  # a top-level list: one line per element


def test_table_generic_rules(cli, landscape):
    r = cli.ok("keyvault", "key", "list", "--vault-name", "kv1", "-o", "table")
    lines = r.out.splitlines()
    assert lines[0].split() == ["Kid", "Name"]  # attributes (dict) and null fields dropped; sorted
    kid = "https://kv1.vault.azure.net/keys/key1"
    assert lines[1] == "-" * len(kid) + "  " + "-" * len("Name  ")  # width: header + 2 at least
    assert lines[2] == f"{kid}  key1"  # every cell padded but the line's end, as tabulate 0.10 does


def test_table_header_is_at_least_name_plus_two(cli, rg):
    r = cli.ok("group", "list", "-o", "table")
    assert r.out.splitlines() == ["Name    Location    Status", "------  ----------  ---------",
                                  "rg1     eastus      Succeeded"]


def test_table_lines_end_without_blanks_as_az_s_tabulate_prints_them(cli, rg):
    """knack's table is ``tabulate(..., tablefmt="simple")``; tabulate 0.10 (what az 2.91 installs) strips each
    row's end, so a short last cell, an empty one or a short last header leaves no trailing blank (tabulate 0.9
    padded them)."""
    cli.ok("disk", "create", "-g", rg, "-n", "d1", "-z", "4", "-o", "none")
    cli.ok("disk", "create", "-g", rg, "-n", "disk-two", "-z", "30", "--sku", "Standard_LRS", "--os-type", "Linux",
           "-o", "none")
    out = cli.ok("disk", "list", "-g", rg, "--query", "[].{Name:name, Sku:sku.name, Size:diskSizeGB, Os:osType}",
                 "-o", "table").out
    assert out == ("Name      Sku           Size    Os\n"  # knack's format_table on the same rows, tabulate 0.10
                   "--------  ------------  ------  -----\n"
                   "d1        Premium_LRS   4\n"
                   "disk-two  Standard_LRS  30      Linux\n")
    assert all(line == line.rstrip() for line in cli.ok("group", "list", "-o", "table").out.splitlines())


def test_table_with_query_keeps_query_order(cli, landscape):
    r = cli.ok("disk", "show", "-g", "rg1", "-n", "vm1-os", "--query",
               "{name:name, encryption:encryption.type}", "-o", "table")
    assert [ln.rstrip() for ln in r.out.splitlines()] == [
        "Name    Encryption", "------  -------------------------------", "vm1-os  EncryptionAtRestWithCustomerKey"]


def test_table_vm_transformer_and_show_details(cli, landscape):
    r = cli.ok("vm", "list", "-d", "-o", "table")
    lines = r.out.splitlines()
    assert lines[0].split() == ["Name", "ResourceGroup", "PowerState", "Location"] or \
        lines[0].split()[:3] == ["Name", "ResourceGroup", "PowerState"]
    assert "VM running" in lines[2]
    r = cli.ok("vm", "get-instance-view", "-g", "rg1", "-n", "vm1", "-o", "table")
    assert r.out.splitlines()[0].split() == ["Name", "ResourceGroup", "Location", "ProvisioningState",
                                             "PowerState"]
    assert r.out.splitlines()[2].split()[-2:] == ["VM", "running"]


def test_table_disk_transformer(cli, landscape):
    lines = cli.ok("disk", "list", "-g", "rg1", "-o", "table").out.splitlines()
    assert lines[0].split() == ["Name", "ResourceGroup", "Location", "Zones", "Sku", "OsType", "SizeGb",
                                "ProvisioningState"]
    # columns are the union in first-seen order: a data disk alone has no OsType (null values are dropped)
    data_disk = cli.tsv("vm", "show", "-g", "rg1", "-n", "vm1", "--query", "storageProfile.dataDisks[0].name")
    assert "OsType" not in cli.ok("disk", "show", "-g", "rg1", "-n", data_disk, "-o", "table").out
    assert cli.ok("disk", "show", "-g", "rg1", "-n", "vm1-os", "-o", "table").out.splitlines()[0].split() == [
        "Name", "ResourceGroup", "Location", "Zones", "Sku", "OsType", "SizeGb", "ProvisioningState"]


def test_table_of_object_without_scalars_is_blank(cli, landscape):
    r = cli.ok("keyvault", "key", "rotation-policy", "show", "--vault-name", "kv1", "-n", "key1",
               "--query", "lifetimeActions[0].{a:action}", "-o", "table")
    assert r.out.splitlines() == ["A", "------", "Notify"]


def test_yaml(cli, landscape):
    r = cli.ok("disk-encryption-set", "show", "-n", "des1", "-g", "rg1", "-o", "yaml")
    data = yaml.safe_load(r.out)
    assert data["identity"]["type"] == "SystemAssigned"
    assert r.out.startswith("activeKey:\n  keyUrl: https://kv1.vault.azure.net/keys/key1/")
    r = cli.ok("disk-encryption-set", "show", "-n", "des1", "-g", "rg1", "-o", "yaml", "--query",
               "{b:name, a:encryptionType}")
    assert r.out == "a: EncryptionAtRestWithCustomerKey\nb: des1\n"


def test_none_prints_nothing(cli, landscape):
    r = cli.ok("disk", "show", "-g", "rg1", "-n", "vm1-os", "-o", "none")
    assert r.out == ""


def test_null_query_result_prints_nothing(cli, landscape):
    for fmt in ("json", "tsv", "table", "yaml"):
        r = cli.ok("disk", "show", "-g", "rg1", "-n", "vm1-os", "--query", "noSuchField", "-o", fmt)
        assert r.out == "", fmt


def test_empty_list(cli, rg):
    assert cli.ok("disk", "list", "-g", rg).out == "[]\n"
    assert cli.ok("disk", "list", "-g", rg, "-o", "tsv").out == ""
    assert cli.ok("disk", "list", "-g", rg, "-o", "table").out == "\n"


def test_query_length_and_filter(cli, landscape):
    assert cli.ok("disk", "list", "--query", "length(@)").out == "2\n"
    r = cli.ok("disk", "list", "--query", "[?name=='vm1-os'].encryption.diskEncryptionSetId | [0]", "-o", "tsv")
    assert r.out.strip().endswith("/diskEncryptionSets/des1")


def test_commands_that_return_nothing_print_nothing(cli, landscape):
    for argv in (["vm", "stop", "-g", "rg1", "-n", "vm1", "--only-show-errors"],
                 ["vm", "start", "-g", "rg1", "-n", "vm1"],
                 ["account", "set", "-s", cli.tsv("account", "show", "--query", "id")]):
        r = cli.ok(*argv)
        assert r.out == "" and r.err == ""


def test_vm_stop_prints_azs_warning(cli, landscape):
    r = cli.ok("vm", "stop", "-g", "rg1", "-n", "vm1")
    assert r.err == ("WARNING: About to power off the specified VM...\n"
                     "It will continue to be billed. To deallocate a VM, run: az vm deallocate.\n")


def _header(text: str) -> list[str]:
    return text.splitlines()[0].split()


def test_table_transformers_of_role_assignment_list_vmss_list_and_vm_create(cli, rg):
    """az's table transformers: role's transform_assignment_list (Principal, Role, Scope), vm's
    transform_vmss_list_with_zones_table_output (Name ... UpgradePolicy; null cells drop out) and vm create's
    transform_vm_create_output (its order, not sorted: a command with a table transformer is not; Zones only for a
    zonal VM)."""
    made = cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "-o", "table").out
    assert _header(made) == ["ResourceGroup", "PowerState", "PublicIpAddress", "Fqdns", "PrivateIpAddress",
                             "MacAddress", "Location"]
    zonal = cli.ok("vm", "create", "-g", rg, "-n", "vm2", "--image", "Ubuntu2204", "--zone", "2", "-o", "table").out
    assert _header(zonal)[-1] == "Zones" and zonal.splitlines()[2].split()[-1] == "2"
    assert cli.ok("vm", "create", "-g", rg, "-n", "vm3", "--image", "Ubuntu2204", "--zone", "3").json["zones"] == "3"
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "2", "-o", "none")
    sets = cli.ok("vmss", "list", "-o", "table").out
    assert _header(sets) == ["Name", "ResourceGroup", "Location", "Zones", "Capacity", "UpgradePolicy"]
    assert sets.splitlines()[2].split() == ["ss1", rg, "eastus", "2", "Manual"]
    cli.ok("keyvault", "create", "-g", rg, "-n", "kv1", "--enable-rbac-authorization", "true", "-o", "none")
    scope = cli.tsv("keyvault", "show", "-n", "kv1", "--query", "id")
    cli.ok("role", "assignment", "create", "--assignee", "00000000-0000-0000-0000-000000000001", "--role",
           "Key Vault Crypto Service Encryption User", "--scope", scope, "-o", "none")
    listed = cli.ok("role", "assignment", "list", "--all", "-o", "table").out
    assert _header(listed) == ["Principal", "Role", "Scope"]
    assert listed.splitlines()[2].split()[-1] == scope
