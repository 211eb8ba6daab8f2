"""``az keyvault`` and ``az keyvault key``: the life of a vault and its keys through the CLI."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def test_vault_lifecycle(cli, rg):
    v = cli.ok("keyvault", "create", "-n", "kvl", "-g", rg, "--retention-days", "7", "--sku", "Premium").json
    assert v["properties"]["enablePurgeProtection"] is None  # null until set, as az shows it
    assert v["properties"]["sku"]["name"] == "premium"
    assert v["properties"]["accessPolicies"][0]["permissions"]["keys"]  # the creator's policy
    listed = cli.ok("keyvault", "list").json
    assert [x["name"] for x in listed] == ["kvl"] and "properties" not in listed[0]
    assert "properties" in cli.ok("keyvault", "list", "-g", rg).json[0]
    r = cli.ok("keyvault", "update", "-n", "kvl", "--enable-purge-protection", "true")
    assert r.json["properties"]["enablePurgeProtection"] is True
    r = cli.ok("keyvault", "update", "-n", "kvl", "--set", "properties.sku.name=standard")
    assert r.json["properties"]["sku"]["name"] == "standard"
    assert cli.ok("keyvault", "update", "-n", "kvl", "--set", "tags.a=b").json["tags"] == {"a": "b"}  # as az does
    r = cli.az("keyvault", "update", "-n", "kvl", "--enable-purge-protection", "false")
    assert r.code == 1 and r.err.startswith(PURGE_PROTECTION_FALSE)
    d = cli.ok("keyvault", "delete", "-n", "kvl")
    assert d.out == "" and d.err.startswith("WARNING: Warning! If you have soft-delete protection enabled")
    deleted = cli.ok("keyvault", "list-deleted").json
    assert deleted[0]["name"] == "kvl" and deleted[0]["type"] == "Microsoft.KeyVault/deletedVaults"
    assert cli.ok("keyvault", "show-deleted", "-n", "kvl").json["properties"]["purgeProtectionEnabled"] is True
    assert cli.az("keyvault", "purge", "-n", "kvl").code == 1  # purge protection
    assert cli.ok("keyvault", "recover", "-n", "kvl").json["name"] == "kvl"
    assert cli.ok("keyvault", "show", "-n", "KVL").json["name"] == "kvl"


PURGE_PROTECTION_FALSE = ('ERROR: (BadRequest) The property "enablePurgeProtection" cannot be set to false. Enabling '
                          "the purge protection for a vault is an irreversible action.\n")
"""Key Vault's answer to ``enablePurgeProtection: false``, in a create or an update, with or without purge protection."""


def test_purge_protection_false_is_refused_as_key_vault_refuses_it(cli, rg):
    before = cli.state_bytes()
    r = cli.az("keyvault", "create", "-n", "kvpf", "-g", rg, "--enable-purge-protection", "false")
    assert (r.code, r.out) == (1, "") and r.err.startswith(PURGE_PROTECTION_FALSE)
    assert cli.state_bytes() == before
    cli.ok("keyvault", "create", "-n", "kvpf", "-g", rg, "-o", "none")
    for flags in (["--enable-purge-protection", "false"], ["--set", "properties.enablePurgeProtection=false"]):
        r = cli.az("keyvault", "update", "-n", "kvpf", *flags)  # a vault without purge protection: refused too
        assert r.code == 1 and r.err.startswith(PURGE_PROTECTION_FALSE), flags
    assert cli.tsv("keyvault", "show", "-n", "kvpf", "--query", "properties.enablePurgeProtection") == ""


def test_vault_show_not_found_messages(cli, rg):
    r = cli.az("keyvault", "show", "-n", "ghost")
    assert (r.code, r.err) == (1, "ERROR: The Vault 'ghost' not found within subscription.\n")
    r = cli.az("keyvault", "show", "-n", "ghost", "-g", rg)
    assert r.code == 3
    cli.ok("keyvault", "create", "-n", "kvz", "-g", rg, "-o", "none")
    cli.ok("group", "create", "-n", "other", "-l", "eastus", "-o", "none")
    r = cli.az("keyvault", "show", "-n", "kvz", "-g", "other")
    assert r.code == 3 and "Microsoft.KeyVault/vaults/kvz' under resource group 'other' was not found" in r.err


def test_key_versions_attributes_delete_recover(cli, landscape):
    first = cli.tsv("keyvault", "key", "show", "--vault-name", "kv1", "-n", "key1", "--query", "key.kid")
    second = cli.tsv("keyvault", "key", "create", "--vault-name", "kv1", "-n", "key1", "--size", "4096",
                     "--query", "key.kid")
    versions = cli.ok("keyvault", "key", "list-versions", "--vault-name", "kv1", "-n", "key1").json
    assert [v["kid"] for v in versions] == [first, second]
    old = first.rsplit("/", 1)[1]
    r = cli.ok("keyvault", "key", "show", "--id", first)
    assert r.json["key"]["kid"] == first and len(base64.b64decode(r.json["key"]["n"])) == 256
    r = cli.ok("keyvault", "key", "set-attributes", "--vault-name", "kv1", "-n", "key1", "--version", old,
               "--expires", "2027-01-01T00:00:00Z", "--tags", "env=prod")
    assert r.json["attributes"]["expires"] == "2027-01-01T00:00:00+00:00" and r.json["tags"] == {"env": "prod"}
    assert r.json["key"]["kid"] == first
    deleted = cli.ok("keyvault", "key", "delete", "--id", "https://kv1.vault.azure.net/keys/key1").json
    assert deleted["recoveryId"] == "https://kv1.vault.azure.net/deletedkeys/key1"
    assert cli.ok("keyvault", "key", "list-deleted", "--vault-name", "kv1", "--query", "[].name").json == ["key1"]
    assert cli.ok("keyvault", "key", "show-deleted", "--vault-name", "kv1", "-n", "key1").json["scheduledPurgeDate"]
    again = cli.az("keyvault", "key", "create", "--vault-name", "kv1", "-n", "key1")
    assert again.code == 1 and "ObjectIsDeletedButRecoverable" in again.err
    rec = cli.ok("keyvault", "key", "recover", "--id", "https://kv1.vault.azure.net/deletedkeys/key1").json
    assert rec["key"]["kid"] == second
    assert cli.ok("keyvault", "key", "list", "--id", "https://kv1.vault.azure.net/", "--query", "[].name").json == \
        ["key1"]


def test_key_import_pem_with_password(cli, landscape, tmp_path):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b"s3cret"))
    path = tmp_path / "key.pem"
    path.write_bytes(pem)
    r = cli.ok("keyvault", "key", "import", "--vault-name", "kv1", "-n", "byo", "--pem-file", str(path),
               "--pem-password", "s3cret")
    n = int.from_bytes(base64.b64decode(r.json["key"]["n"]), "big")
    assert n == private.public_key().public_numbers().n
    bad = cli.az("keyvault", "key", "import", "--vault-name", "kv1", "-n", "byo2", "--pem-file", str(path),
                 "--pem-password", "wrong")
    assert bad.code == 1 and bad.err.startswith("ERROR: (BadRequest)")
    r = cli.az("keyvault", "key", "import", "--vault-name", "kv1", "-n", "byo3", "--pem-string", "x",
               "--pem-file", str(path))
    assert r.code == 2


def test_rotation_policy_update_and_show(cli, landscape):
    default = cli.ok("keyvault", "key", "rotation-policy", "show", "--vault-name", "kv1", "-n", "key1").json
    assert default["lifetimeActions"] == [{"action": "Notify", "timeAfterCreate": None, "timeBeforeExpiry": "P30D"}]
    policy = cli.ok("keyvault", "key", "rotation-policy", "update", "--vault-name", "kv1", "-n", "key1", "--value",
                    '{"lifetimeActions": [{"trigger": {"timeAfterCreate": "P18M", "timeBeforeExpiry": null},'
                    ' "action": {"type": "Rotate"}}, {"timeBeforeExpiry": "P30D", "action": "Notify"}],'
                    ' "attributes": {"expiryTime": "P2Y"}}').json
    assert policy["expiresIn"] == "P2Y"
    assert policy["lifetimeActions"] == [
        {"action": "Rotate", "timeAfterCreate": "P18M", "timeBeforeExpiry": None},
        {"action": "Notify", "timeAfterCreate": None, "timeBeforeExpiry": "P30D"}]
    r = cli.az("keyvault", "key", "rotation-policy", "update", "--vault-name", "kv1", "-n", "key1", "--value", "{}")
    assert (r.code, r.err) == (1, "ERROR: Please specify a valid policy\n")
    r = cli.az("keyvault", "key", "rotation-policy", "update", "--vault-name", "kv1", "-n", "key1", "--value",
               '{"lifetimeActions": [{"trigger": {"timeAfterCreate": "P1D"}, "action": "Rotate"}]}')
    assert r.code == 1 and "the minimum is P7D" in r.err


def test_rotation_policy_from_file_and_at_file(cli, landscape, tmp_path):
    f = tmp_path / "policy.json"
    f.write_text('{"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}]}')
    for value in (str(f), f"@{f}"):
        r = cli.ok("keyvault", "key", "rotation-policy", "update", "--vault-name", "kv1", "-n", "key1",
                   "--value", value, "--query", "lifetimeActions[0].timeAfterCreate", "-o", "tsv")
        assert r.out == "P90D\n"


def test_KV7_revoking_the_policy_stops_the_vm(cli, landscape):
    cli.ok("keyvault", "delete-policy", "-n", "kv1", "--object-id", landscape["principal"], "-o", "none")
    vm = cli.ok("vm", "show", "-d", "-g", "rg1", "-n", "vm1").json
    assert vm["powerState"] == "VM stopped" and "access revoked" in vm["statusReason"]["message"]
    cli.ok("keyvault", "set-policy", "-n", "kv1", "--object-id", landscape["principal"], "--key-permissions",
           "GET", "WrapKey", "unwrapkey", "-o", "none")
    assert cli.tsv("vm", "show", "-d", "-g", "rg1", "-n", "vm1", "--query", "powerState") == "VM stopped"  # V5
    cli.ok("vm", "start", "-g", "rg1", "-n", "vm1")
    assert cli.tsv("vm", "show", "-d", "-g", "rg1", "-n", "vm1", "--query", "powerState") == "VM running"


def test_rbac_vault_and_role_assignments(cli, rg):
    cli.ok("keyvault", "create", "-n", "kvr", "-g", rg, "--enable-purge-protection", "--enable-rbac-authorization",
           "true", "-o", "none")
    kid = cli.tsv("keyvault", "key", "create", "--vault-name", "kvr", "-n", "k", "--query", "key.kid")
    cli.ok("disk-encryption-set", "create", "-n", "desr", "-g", rg, "--key-url", kid, "--source-vault", "kvr",
           "-o", "none")
    pid = cli.tsv("disk-encryption-set", "show", "-n", "desr", "-g", rg, "--query", "identity.principalId")
    r = cli.az("keyvault", "set-policy", "-n", "kvr", "--object-id", pid, "--key-permissions", "get")
    assert r.code == 1 and "Cannot set policies to a vault with '--enable-rbac-authorization' specified" in r.err
    r = cli.az("disk", "create", "-g", rg, "-n", "dr", "--size-gb", "4", "--disk-encryption-set", "desr")
    assert r.code == 1 and r.err.startswith("ERROR: (KeyVaultAccessForbidden)")  # D2
    vault_id = cli.tsv("keyvault", "show", "-n", "kvr", "--query", "id")
    ra = cli.ok("role", "assignment", "create", "--assignee-object-id", pid, "--assignee-principal-type",
                "ServicePrincipal", "--role", "Key Vault Crypto Service Encryption User", "--scope", vault_id).json
    assert ra["principalId"] == pid and ra["scope"] == vault_id and ra["resourceGroup"] == rg
    assert ra["roleDefinitionId"].endswith("/roleDefinitions/e147488a-f6f5-4113-8e2d-b22465e65bf6")
    listed = cli.ok("role", "assignment", "list", "--assignee", pid).json
    assert listed[0]["roleDefinitionName"] == "Key Vault Crypto Service Encryption User"
    assert listed[0]["principalName"] == "desr"
    cli.ok("disk", "create", "-g", rg, "-n", "dr", "--size-gb", "4", "--disk-encryption-set", "desr", "-o", "none")
    assert cli.ok("disk-encryption-set", "list-associated-resources", "-n", "desr", "-g", rg).json == [
        cli.tsv("disk", "show", "-g", rg, "-n", "dr", "--query", "id")]
    r = cli.az("role", "assignment", "create", "--role", "Key Vault Crypto User", "--scope", vault_id)
    assert (r.code, r.err) == (1, "ERROR: usage error: --assignee STRING | --assignee-object-id GUID\n")
    cli.ok("role", "assignment", "delete", "--assignee", pid, "--scope", vault_id)
    assert cli.ok("role", "assignment", "list", "--assignee", pid).json == []


def test_key_json_has_azs_key_size_fields_and_n_says_the_size(cli, rg):
    """az 2.91's transform_key_output prints ``attributes.keySize`` and transform_key_list_output a top-level
    ``keySize`` (the SDK's key_size: the service gives it for oct keys, so null for RSA and EC); an RSA key's size is
    the length of its modulus ``key.n``."""
    import base64

    cli.ok("keyvault", "create", "-n", "kvsz", "-g", rg, "-o", "none")
    made = cli.ok("keyvault", "key", "create", "--vault-name", "kvsz", "-n", "k3072", "--kty", "RSA", "--size",
                  "3072").json
    shown = cli.ok("keyvault", "key", "show", "--vault-name", "kvsz", "-n", "k3072").json
    for bundle in (made, shown):
        assert "keySize" in bundle["attributes"] and bundle["attributes"]["keySize"] is None
        assert len(base64.b64decode(bundle["key"]["n"])) * 8 == 3072
    (item,) = cli.ok("keyvault", "key", "list", "--vault-name", "kvsz").json
    assert "keySize" in item and item["keySize"] is None and "keySize" in item["attributes"]
    assert item["attributes"]["attestation"] is None and item["attributes"]["externalKey"] is None  # raw attributes
    (version,) = cli.ok("keyvault", "key", "list-versions", "--vault-name", "kvsz", "-n", "k3072").json
    assert "keySize" in version
