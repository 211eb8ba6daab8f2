"""Errors as az prints them: usage errors exit 2 with argparse's/az's wording, refusals exit 1 with
``ERROR: (Code) message`` and the Code:/Message: lines, not found exits 3."""

from __future__ import annotations

import pytest

# ---- usage errors (exit 2) -----------------------------------------------------------------------------


@pytest.mark.parametrize("argv, message", [
    (["disk", "create", "-g", "rg", "-n", "d", "--bogus", "x"], "ERROR: unrecognized arguments: --bogus x"),
    (["disk", "create"], "ERROR: the following arguments are required: --resource-group/-g, --name/-n"),
    (["group", "create"], "ERROR: the following arguments are required: --name/--resource-group/-n/-g, "
                          "--location/-l"),
    (["disk", "show", "-g", "rg", "-n"], "ERROR: argument --name/-n: expected one argument"),
    (["disk", "create", "-g", "rg", "-n", "d", "--size-gb", "abc"],
     "ERROR: argument --size-gb/-z: invalid int value: 'abc'"),
    (["keyvault", "key", "create", "--vault-name", "v", "-n", "k", "--exp", "2030-01-01"],
     "ERROR: ambiguous option: --exp could match --expires, --exportable"),
    (["disk", "create", "-g", "rg", "-n", "d", "--sku", "Foo_LRS"],
     "ERROR: az disk create: 'Foo_LRS' is not a valid value for '--sku'. Allowed values: Standard_LRS, Premium_LRS, "
     "StandardSSD_LRS, UltraSSD_LRS, Premium_ZRS, StandardSSD_ZRS, PremiumV2_LRS."),
    (["keyvault", "create", "-g", "rg", "-n", "kv", "--enable-purge-protection", "maybe"],
     "ERROR: az keyvault create: 'maybe' is not a valid value for '--enable-purge-protection'. Allowed values: "
     "true, false."),
    (["vm", "show", "-g", "rg", "-n", "vm", "-o", "xml"],
     "ERROR: az vm show: 'xml' is not a valid value for '--output'. Allowed values: json, jsonc, yaml, yamlc, "
     "table, tsv, none."),
    (["keyvault", "set-policy", "-n", "kv", "--key-permissions", "get"],
     "ERROR: specify exactly one: --object-id, --spn, --upn"),
    (["keyvault", "key", "import", "--vault-name", "kv", "-n", "k"],
     "ERROR: supply exactly one: --byok-file, --byok-string, --pem-file, --pem-string"),
    (["keyvault", "bogus"], "ERROR: 'bogus' is misspelled or not recognized by the system."),
])
def test_usage_errors_exit_2_with_az_wording(cli, argv, message):
    r = cli.az(*argv)
    assert r.code == 2
    assert r.err.splitlines()[0] == message
    assert r.out == ""
    assert "usage:" not in r.err  # az's parser prints no argparse usage line


def test_bad_choice_suggests_the_close_one(cli):
    r = cli.az("keyvault", "set-policy", "-n", "kv", "--object-id", "x", "--key-permissions", "get", "wrapkeyy")
    assert r.code == 2
    assert r.err.splitlines() == [
        "ERROR: az keyvault set-policy: 'wrapkeyy' is not a valid value for '--key-permissions'. Allowed values: "
        "all, encrypt, decrypt, wrapKey, unwrapKey, sign, verify, get, list, create, update, import, delete, backup, "
        "restore, recover, purge, release, rotate, getrotationpolicy, setrotationpolicy.",
        "Did you mean 'wrapKey' ?"]


def test_misspelled_group_suggests(cli):
    r = cli.az("keyvaul", "list")
    assert r.code == 2
    assert r.err.splitlines() == ["ERROR: 'keyvaul' is misspelled or not recognized by the system.",
                                  "Did you mean 'keyvault' ?"]


def test_bad_query_is_a_usage_error(cli):
    r = cli.az("group", "list", "--query", "[[")
    assert r.code == 2
    assert r.err.splitlines() == [
        "ERROR: argument --query: invalid jmespath_type value: '[['",
        "To learn more about --query, please visit: 'https://learn.microsoft.com/cli/azure/query-azure-cli'"]


def test_usage_errors_do_not_create_a_store(cli):
    cli.az("disk", "create")
    assert not (cli.home / "db").exists() and not (cli.home / "state.json").exists()


def test_choices_are_case_insensitive_and_canonicalised(cli, rg):
    r = cli.ok("disk", "create", "-g", rg, "-n", "d1", "--sku", "standardssd_lrs", "--size-gb", "4",
               "--encryption-type", "encryptionatrestwithplatformkey")
    assert r.json["sku"]["name"] == "StandardSSD_LRS"
    assert r.json["encryption"]["type"] == "EncryptionAtRestWithPlatformKey"
    assert cli.ok("disk", "show", "-g", rg, "-n", "D1", "-o", "JSON").json["name"] == "d1"


def test_command_words_are_case_insensitive(cli, rg):
    assert cli.az("GROUP", "Show", "-n", rg).code == 0


def test_prefix_abbreviation_is_accepted(cli, rg):
    assert cli.az("group", "show", "--resource-gr", rg).code == 0


# ---- refusals (exit 1) ------------------------------------------------------------------------------------


def test_D8_double_encryption_with_customer_key_set_refused_with_advice(cli, landscape):
    r = cli.az("disk", "create", "-g", "rg1", "-n", "dbl", "--size-gb", "8", "--encryption-type",
               "EncryptionAtRestWithPlatformAndCustomerKeys", "--disk-encryption-set", "des1")
    assert r.code == 1
    lines = r.err.splitlines()
    assert lines[0].startswith("ERROR: (InvalidParameter) disk dbl: encryption type "
                               "EncryptionAtRestWithPlatformAndCustomerKeys does not match")
    assert "create a set with --encryption-type EncryptionAtRestWithPlatformAndCustomerKeys" in lines[0]
    assert lines[1] == "Code: InvalidParameter"
    assert lines[2].startswith("Message: disk dbl: encryption type")
    assert lines[3:] == ["Inner error: {", '    "code": "EncryptionTypeMismatch"', "}"]


def test_KV1_set_on_vault_without_purge_protection_refused(cli, rg):
    cli.ok("keyvault", "create", "-n", "kvnopp", "-g", rg, "-o", "none")
    kid = cli.tsv("keyvault", "key", "create", "--vault-name", "kvnopp", "-n", "k", "--query", "key.kid")
    r = cli.az("disk-encryption-set", "create", "-n", "s", "-g", rg, "--key-url", kid, "--source-vault", "kvnopp")
    assert r.code == 1
    assert r.err.startswith("ERROR: (BadRequest) key vault 'kvnopp' does not have purge protection enabled")
    assert "--enable-purge-protection true" in r.err


def test_KV6_purge_refused_while_protected(cli, landscape):
    cli.ok("keyvault", "key", "create", "--vault-name", "kv1", "-n", "spare", "-o", "none")
    deleted = cli.ok("keyvault", "key", "delete", "--vault-name", "kv1", "-n", "spare")
    assert deleted.err.startswith("WARNING: Warning! If you have soft-delete protection enabled on this key vault")
    assert deleted.json["recoveryId"] == "https://kv1.vault.azure.net/deletedkeys/spare"
    r = cli.az("keyvault", "key", "purge", "--vault-name", "kv1", "-n", "spare")
    assert r.code == 1
    assert r.err.startswith('ERROR: (Forbidden) Operation "purge" is not allowed')
    assert '"code": "PurgeProtectionEnabled"' in r.err


def test_KV2_a_vault_refuses_oct_keys_with_key_vaults_words(cli, landscape):
    r = cli.az("keyvault", "key", "create", "--vault-name", "kv1", "-n", "octk", "--kty", "oct")
    assert r.code == 1 and r.err.startswith("ERROR: (BadParameter) Invalid kty value: oct (allowed in a vault: RSA, ")
    assert '"code": "KeyTypeNotSupported"' in r.err


def test_software_protection_with_hsm_type_is_azs_own_error(cli, landscape):
    r = cli.az("keyvault", "key", "create", "--vault-name", "kv1", "-n", "k2", "--kty", "RSA-HSM", "-p", "software")
    assert (r.code, r.err) == (1, "ERROR: The key type {} is invalid for software protected keys. Omit --protection\n")


def test_K5_encrypting_attached_disk_of_running_vm_refused(cli, landscape):
    cli.ok("disk", "create", "-g", "rg1", "-n", "pd", "--size-gb", "4", "-o", "none")
    cli.ok("vm", "disk", "attach", "-g", "rg1", "--vm-name", "vm1", "-n", "pd")
    r = cli.az("disk", "update", "-g", "rg1", "-n", "pd", "--disk-encryption-set", "des1")
    assert r.code == 1 and r.err.startswith("ERROR: (OperationNotAllowed)")
    assert "az vm deallocate -g rg1 -n vm1" in r.err


def test_key_id_usage_error_is_exit_1(cli):
    r = cli.az("keyvault", "key", "show", "-n", "k")
    assert r.code == 1
    assert r.err == ("ERROR: incorrect usage: --id ID | --vault-name/--hsm-name VAULT/HSM --name/-n NAME "
                     "[--version VERSION]\n")


def test_confirmation_without_tty_cancels(cli, landscape):
    r = cli.az("vm", "delete", "-g", "rg1", "-n", "vm1")
    assert r.code == 1
    assert r.err == ("WARNING: Unable to prompt for confirmation as no tty available. Use --yes.\n"
                     "ERROR: Operation cancelled.\n")
    assert cli.az("vm", "delete", "-g", "rg1", "-n", "vm1", "--yes").code == 0


def test_account_set_unknown_subscription(cli):
    r = cli.az("account", "set", "-s", "nope")
    assert (r.code, r.err) == (1, "ERROR: The subscription of 'nope' doesn't exist in cloud 'AzureCloud'.\n")


def test_enable_soft_delete_is_deprecated_but_accepted(cli, rg):
    r = cli.az("keyvault", "create", "-n", "kvsd", "-g", rg, "--enable-soft-delete", "true", "-o", "none")
    assert r.code == 0
    assert r.err == ("WARNING: Argument '--enable-soft-delete' has been deprecated and will be removed in a future "
                     "release.\n")
    r = cli.az("keyvault", "create", "-n", "kvsd2", "-g", rg, "--enable-soft-delete", "false")
    assert r.code == 1 and "soft delete is always on" in r.err


# ---- not found (exit 3) ------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, code", [
    (["disk", "show", "-g", "rg1", "-n", "nope"], "ResourceNotFound"),
    (["vm", "show", "-g", "rg1", "-n", "nope"], "ResourceNotFound"),
    (["disk-encryption-set", "show", "-g", "rg1", "-n", "nope"], "ResourceNotFound"),
    (["group", "show", "-n", "nope"], "ResourceGroupNotFound"),
    (["keyvault", "key", "show", "--vault-name", "kv1", "-n", "nope"], "KeyNotFound"),
    (["keyvault", "key", "purge", "--vault-name", "kv1", "-n", "key1"], "KeyNotFound"),
])
def test_not_found_exits_3(cli, landscape, argv, code):
    r = cli.az(*argv)
    assert r.code == 3
    lines = r.err.splitlines()
    assert lines[0].startswith(f"ERROR: ({code}) ")
    assert lines[1] == f"Code: {code}"
    assert lines[2].startswith("Message: ")


def test_group_not_found_message_is_arms(cli):
    r = cli.az("group", "show", "-n", "rg9")
    assert r.err.splitlines() == ["ERROR: (ResourceGroupNotFound) Resource group 'rg9' could not be found.",
                                  "Code: ResourceGroupNotFound",
                                  "Message: Resource group 'rg9' could not be found."]


def test_refused_start_for_unusable_key_is_exit_1_not_3(cli, landscape):
    """A VM refused because its key is deleted is a refusal of the start (exit 1), not a missing VM."""
    cli.ok("vm", "deallocate", "-g", "rg1", "-n", "vm1")
    cli.ok("keyvault", "key", "delete", "--vault-name", "kv1", "-n", "key1", "--only-show-errors", "-o", "none")
    r = cli.az("vm", "start", "-g", "rg1", "-n", "vm1")
    assert r.code == 1
    assert r.err.startswith("ERROR: (KeyVaultKeyNotFound) VM vm1: disk vm1-os")
