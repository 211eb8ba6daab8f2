"""Key vaults and keys: KV1-KV9 of docs/behaviours.md, positive and negative, every refusal by its code."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from engine import crypto
from engine import events as ev
from engine.errors import CryptoError
from engine.rules import CRYPTO_SERVICE_ROLE

KID_RE = re.compile(r"^https://kv1\.vault\.azure\.net/keys/k1/[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def local_rsa():
    return crypto.generate_rsa(2048)


def _pem(key, password: bytes | None = None, fmt=serialization.PrivateFormat.PKCS8) -> bytes:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def _wrap(e, kid, dek, principal=None) -> bytes:
    with e.transaction():
        return e.wrap_key(principal, kid, dek)


def _unwrap(e, kid, wrapped, principal=None) -> bytes:
    with e.transaction():
        return e.unwrap_key(principal, kid, wrapped)


# ============================================================================================ KV1 vaults


def test_KV1_vault_soft_delete_default_retention_is_90_days(e, kit):
    e.create_group(kit.RG, kit.REGION)
    v = e.create_vault("kv-default", kit.RG)
    assert v.soft_delete_retention_days == 90
    assert v.enable_purge_protection is None
    e.delete_vault("kv-default")
    gone = e.list_deleted_vaults()
    assert [x.name for x in gone] == ["kv-default"]
    assert gone[0].scheduled_purge_date == "2026-07-30T09:00:00+00:00"  # 90 days after 2026-05-01T09:00


@pytest.mark.parametrize("days", [7, 90])
def test_KV1_retention_bounds_are_accepted(e, kit, days):
    v = kit.vault(e, f"kv-r{days}", retention=days)
    assert v.soft_delete_retention_days == days


@pytest.mark.parametrize("days", [6, 91, 0, "30", 30.5, True])
def test_KV1_retention_outside_7_to_90_is_refused(e, kit, days):
    e.create_group(kit.RG, kit.REGION)
    err = kit.refused(e.create_vault, "kv-bad", kit.RG, retention_days=days)
    assert err.code == "InvalidParameter"
    assert "7 to 90" in err.message
    assert e.list_vaults() == []


def test_KV1_retention_cannot_change_after_creation(e, kit):
    kit.vault(e, retention=30)
    err = kit.refused(e.update_vault, "kv1", retention_days=60)
    assert err.code == "BadRequest"
    assert e.get_vault("kv1").soft_delete_retention_days == 30


def test_KV1_purge_protection_can_be_turned_on_but_never_off(e, kit):
    kit.vault(e, purge_protection=False)
    assert e.get_vault("kv1").enable_purge_protection is None
    e.update_vault("kv1", enable_purge_protection=True)
    assert e.get_vault("kv1").enable_purge_protection is True
    err = kit.refused(e.update_vault, "kv1", enable_purge_protection=False)
    assert err.code == "BadRequest"
    assert err.message == ('The property "enablePurgeProtection" cannot be set to false. Enabling the purge '
                           "protection for a vault is an irreversible action.")
    assert e.get_vault("kv1").enable_purge_protection is True


def test_KV1_purge_protection_false_is_refused_even_where_it_is_off(e, kit):
    """Key Vault refuses ``enablePurgeProtection: false`` in a create and in an update of a vault without it."""
    kit.vault(e, purge_protection=False)
    err = kit.refused(e.update_vault, "kv1", enable_purge_protection=False)
    assert err.code == "BadRequest" and "cannot be set to false" in err.message
    err = kit.refused(e.create_vault, "kv2", kit.RG, enable_purge_protection=False)
    assert err.code == "BadRequest" and "cannot be set to false" in err.message
    assert e.find_vault("kv2") is None and e.get_vault("kv1").enable_purge_protection is None


def test_KV1_des_against_vault_without_purge_protection_is_refused(e, kit):
    kit.vault(e, purge_protection=False)
    kid = kit.key(e)
    err = kit.refused(e.create_des, "des1", kit.RG, key_url=kid)
    assert err.code == "BadRequest"
    assert err.inner_code == "KeyVaultPurgeProtectionNotEnabled"
    assert "purge protection" in err.message and "kv1" in err.message
    assert e.list_des() == []
    # once purge protection is on, the same set is accepted
    e.update_vault("kv1", enable_purge_protection=True)
    assert e.create_des("des1", kit.RG, key_url=kid).key_url == kid


def test_KV1_des_update_to_vault_without_purge_protection_is_refused(e, kit):
    kid, des = kit.basic(e)
    kit.vault(e, "kv2", purge_protection=False)
    other = kit.key(e, "kv2", "k2")
    err = kit.refused(e.update_des, "des1", key_url=other, source_vault="kv2")
    assert err.code == "BadRequest" and err.inner_code == "KeyVaultPurgeProtectionNotEnabled"
    assert e.get_des("des1").key_url == kid


@pytest.mark.parametrize("name", ["kv1", "a-b-c", "Abc", "a" * 24, "kv-2024-x9"])
def test_KV1_vault_names_that_azure_accepts(e, kit, name):
    e.create_group(kit.RG, kit.REGION)
    assert e.create_vault(name, kit.RG).name == name


@pytest.mark.parametrize("name", ["ab", "a" * 25, "1kv", "-kv", "kv-", "kv--1", "kv_1", "kv 1", ""])
def test_KV1_vault_names_that_azure_refuses(e, kit, name):
    e.create_group(kit.RG, kit.REGION)
    err = kit.refused(e.create_vault, name, kit.RG)
    assert err.code == "InvalidParameter"
    assert "3-24" in err.message


def test_KV1_vault_names_are_global_and_a_deleted_name_is_still_taken(e, kit):
    kit.vault(e)
    err = kit.refused(e.create_vault, "KV1", kit.RG)
    assert err.code == "VaultAlreadyExists"
    e.delete_vault("kv1")
    err = kit.refused(e.create_vault, "kv1", kit.RG)
    assert err.code == "ConflictError"
    assert "recover or purge" in err.message


@pytest.mark.parametrize("sku", ["standard", "premium", "Premium"])
def test_KV1_vault_skus(e, kit, sku):
    assert kit.vault(e, sku=sku).sku == sku.lower()


def test_KV1_vault_sku_other_than_standard_or_premium_is_refused(e, kit):
    e.create_group(kit.RG, kit.REGION)
    err = kit.refused(e.create_vault, "kv1", kit.RG, sku="gold")
    assert err.code == "InvalidParameter"
    assert "standard, premium" in err.message


def test_KV1_unknown_region_is_refused(e, kit):
    e.create_group(kit.RG, kit.REGION)
    err = kit.refused(e.create_vault, "kv1", kit.RG, location="atlantis")
    assert err.code == "LocationNotAvailableForResourceType"


def test_KV1_vault_delete_recover(e, kit):
    kit.vault(e)
    kit.key(e)
    e.delete_vault("kv1")
    assert e.list_vaults() == []
    err = kit.refused(e.get_vault, "kv1")
    assert err.code == "ResourceNotFound" and err.inner_code == "VaultNotFound"
    err = kit.refused(e.list_keys, "kv1")
    assert err.inner_code == "VaultNotFound"
    e.recover_vault("kv1")
    assert [k.name for k in e.list_keys("kv1")] == ["k1"]
    assert e.get_vault("kv1").deleted_date is None


def test_KV1_recover_or_purge_of_a_vault_that_is_not_deleted_is_refused(e, kit):
    kit.vault(e)
    assert kit.refused(e.recover_vault, "kv1").inner_code == "DeletedVaultNotFound"
    assert kit.refused(e.purge_vault, "kv1").inner_code == "DeletedVaultNotFound"
    assert kit.refused(e.recover_vault, "nope").code == "ResourceNotFound"


def test_KV1_vault_purge_refused_while_protected_and_allowed_without_protection(e, kit):
    kit.vault(e, "kvprot", retention=7)
    kit.vault(e, "kvfree", purge_protection=False, retention=7)
    e.delete_vault("kvprot")
    e.delete_vault("kvfree")
    err = kit.refused(e.purge_vault, "kvprot")
    assert err.code == "Forbidden" and err.inner_code == "PurgeProtectionEnabled"
    e.purge_vault("kvfree")
    assert [v.name for v in e.list_deleted_vaults()] == ["kvprot"]
    e.advance_clock("8d")  # retention ended: the platform purges it
    assert e.list_deleted_vaults() == []
    assert "kvprot" not in e.t["vaults"]


def test_KV1_access_policy_mode_and_rbac_mode(e, kit):
    kit.vault(e, "kvpol")
    kit.vault(e, "kvrbac", rbac=True)
    pol = e.get_vault("kvpol")
    assert not pol.enable_rbac_authorization
    assert [p["objectId"] for p in pol.access_policies] == [e.operator]  # the creator, as az does
    rbac = e.get_vault("kvrbac")
    assert rbac.enable_rbac_authorization and rbac.access_policies == []
    err = kit.refused(e.set_policy, "kvrbac", "11111111-1111-4111-8111-111111111111", ["get"])
    assert err.code == "BadRequest"
    assert CRYPTO_SERVICE_ROLE in err.message


# ============================================================================================ KV2 key types


@pytest.mark.parametrize("size", [2048, 3072, 4096])
def test_KV2_rsa_software_keys_of_the_three_sizes(e, kit, size):
    kit.vault(e)
    k, ver = e.create_key("kv1", "k1", size=size)
    assert (k.kty, k.size) == ("RSA", size)
    assert crypto.public_from_jwk(ver["n"], ver["e"]).key_size == size


def test_KV2_hsm_keys_in_a_premium_vault(e, kit):
    kit.vault(e, "kvp", sku="premium")
    k, _ = e.create_key("kvp", "hsm", kty="RSA-HSM", size=3072)
    assert (k.kty, k.size) == ("RSA-HSM", 3072)


def test_KV2_hsm_keys_need_a_premium_vault(e, kit):
    kit.vault(e)
    err = kit.refused(e.create_key, "kv1", "hsm", kty="RSA-HSM", size=2048)
    assert err.code == "BadParameter"
    assert "premium" in err.message
    assert e.list_keys("kv1") == []


@pytest.mark.parametrize("kty", ["oct", "oct-HSM", "DSA"])
def test_KV2_symmetric_and_unknown_key_types_are_refused_by_a_vault(e, kit, kty):
    kit.vault(e, "kvp", sku="premium")
    err = kit.refused(e.create_key, "kvp", "k1", kty=kty)
    assert (err.code, err.inner_code) == ("BadParameter", "KeyTypeNotSupported")
    assert err.message.startswith(f"Invalid kty value: {kty} (allowed in a vault: RSA, RSA-HSM, EC, EC-HSM, ")
    assert e.list_keys("kvp") == []


@pytest.mark.parametrize("curve,bits", [("P-256", 256), ("P-256K", 256), ("P-384", 384), ("P-521", 521)])
def test_KV2_ec_keys_on_the_four_curves(e, kit, curve, bits):
    kit.vault(e)
    k, ver = e.create_key("kv1", "ec", kty="EC", curve=curve)
    assert (k.kty, k.size, ver["crv"], k.type_label) == ("EC", bits, curve, f"EC {curve}")
    assert crypto.ec_public_from_jwk(ver["crv"], ver["x"], ver["y"]).curve.key_size == bits
    assert k.key_ops == ["sign", "verify"]


def test_KV2_ec_hsm_keys_need_a_premium_vault_and_default_to_p256(e, kit):
    kit.vault(e)
    kit.vault(e, "kvp", sku="premium")
    assert "premium vault" in kit.refused(e.create_key, "kv1", "ec", kty="EC-HSM").message
    k, ver = e.create_key("kvp", "ec", kty="EC-HSM")
    assert (k.kty, ver["crv"]) == ("EC-HSM", "P-256")


def test_KV2_ec_key_with_a_wrong_curve_or_size_is_refused(e, kit):
    kit.vault(e)
    assert "allowed: P-256, P-256K, P-384, P-521" in kit.refused(e.create_key, "kv1", "ec", kty="EC",
                                                                   curve="P-192").message
    assert "not valid for an EC key on P-384" in kit.refused(e.create_key, "kv1", "ec", kty="EC", curve="P-384",
                                                              size=2048).message
    assert "curves are for EC keys" in kit.refused(e.create_key, "kv1", "k", kty="RSA", curve="P-256").message


def test_KV2_a_set_refuses_an_ec_key_that_the_vault_stores(e, kit):
    kit.vault(e)
    _, ver = e.create_key("kv1", "ec", kty="EC", curve="P-384")
    err = kit.refused(e.create_des, "des1", kit.RG, f"https://kv1.vault.azure.net/keys/ec/{ver['version']}",
                      source_vault="kv1")
    assert (err.code, err.inner_code) == ("InvalidParameter", "KeyVaultKeyTypeNotSupported")
    assert "cannot be used by disk encryption set 'des1'" in err.message and "RSA and RSA-HSM" in err.message
    assert e.list_des() == []


@pytest.mark.parametrize("size", [1024, 1536, 2047, 8192])
def test_KV2_other_sizes_are_refused(e, kit, size):
    kit.vault(e)
    err = kit.refused(e.create_key, "kv1", "k1", size=size)
    assert err.code == "BadParameter"
    assert "2048, 3072, 4096" in err.message


# ============================================================================================ KV3 import


def test_KV3_generated_in_the_vault(e, kit):
    kit.vault(e)
    k, ver = e.create_key("kv1", "k1")
    assert not k.imported
    assert ver["sealed"] and ver["n"] and ver["e"] == "AQAB"


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
def test_KV3_import_pem_without_password_wraps_for_the_customer_private_key(engine, kit, local_rsa, fmt):
    kit.vault(engine)
    k, ver = engine.import_key("kv1", "byok", _pem(local_rsa, fmt=fmt))
    assert k.imported and k.size == 2048
    assert ver["n"] == crypto.public_numbers_jwk(local_rsa)["n"]
    kid = f"{k.id}/{ver['version']}"
    dek = os.urandom(32)
    wrapped = _wrap(engine, kid, dek)
    assert crypto.unwrap_key(local_rsa, wrapped) == dek  # the customer's own key opens it: real RSA-OAEP
    assert _unwrap(engine, kid, crypto.wrap_key(local_rsa, dek)) == dek
    assert kit.audit(engine, "KeyImport")[0].kid == kid


def test_KV3_import_password_protected_pem(engine, kit, local_rsa):
    kit.vault(engine)
    k, ver = engine.import_key("kv1", "byok", _pem(local_rsa, b"s3cret!"), password=b"s3cret!")
    assert ver["n"] == crypto.public_numbers_jwk(local_rsa)["n"]
    k2, _ = engine.import_key("kv1", "byok2", _pem(local_rsa, b"s3cret!"), password="s3cret!")
    assert k2.imported


def test_KV3_import_with_a_wrong_or_missing_password_is_refused(e, kit, local_rsa):
    kit.vault(e)
    pem = _pem(local_rsa, b"right")
    err = kit.refused(e.import_key, "kv1", "byok", pem, password=b"wrong")
    assert err.code == "BadRequest" and "password is wrong" in err.message
    err = kit.refused(e.import_key, "kv1", "byok", pem)
    assert err.code == "BadRequest" and "needs a password" in err.message
    assert e.list_keys("kv1") == []


def test_KV3_import_of_an_ec_key_is_refused(e, kit):
    kit.vault(e)
    pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    err = kit.refused(e.import_key, "kv1", "eckey", pem)
    assert err.code == "BadRequest"
    assert "not an RSA key" in err.message and "2048, 3072 or 4096" in err.message
    assert e.list_keys("kv1") == []


def test_KV3_import_of_garbage_or_a_public_key_is_refused(e, kit, local_rsa):
    kit.vault(e)
    assert kit.refused(e.import_key, "kv1", "x", b"not a pem").code == "BadRequest"
    pub = local_rsa.public_key().public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    err = kit.refused(e.import_key, "kv1", "x", pub)
    assert err.code == "BadRequest" and "public key" in err.message


def test_KV3_import_hsm_into_standard_vault_is_refused(e, kit, local_rsa):
    kit.vault(e)
    err = kit.refused(e.import_key, "kv1", "byok", _pem(local_rsa), kty="RSA-HSM")
    assert err.code == "BadParameter"


# ============================================================================================ KV4 versions


def test_KV4_key_ids_have_azures_shape(e, kit):
    kit.vault(e)
    k, ver = e.create_key("kv1", "k1")
    assert k.id == "https://kv1.vault.azure.net/keys/k1"
    assert KID_RE.match(f"{k.id}/{ver['version']}")


def test_KV4_create_under_existing_name_and_rotate_add_current_versions(e, kit):
    kit.vault(e)
    v1 = kit.key(e)
    v2 = kit.key(e)  # same name: a new version
    k, v3 = e.rotate_key("kv1", "k1")
    kid3 = f"{k.id}/{v3['version']}"
    assert len({v1, v2, kid3}) == 3
    assert [f"{k.id}/{v['version']}" for v in k.versions] == [v1, v2, kid3]
    assert e.get_key("kv1", "k1")[1]["version"] == v3["version"]  # current = newest
    assert all(KID_RE.match(x) for x in (v1, v2, kid3))
    assert kit.audit(e, "KeyRotate")[-1].kid == kid3


def test_KV4_old_versions_stay_usable_for_unwrap(e, kit):
    kit.vault(e)
    v1 = kit.key(e)
    dek = os.urandom(32)
    wrapped = _wrap(e, v1, dek)
    e.rotate_key("kv1", "k1")
    e.rotate_key("kv1", "k1")
    assert _unwrap(e, v1, wrapped) == dek


def test_KV4_a_data_key_unwraps_only_with_the_version_that_wrapped_it(e, kit):
    kit.vault(e)
    v1 = kit.key(e)
    k, ver2 = e.rotate_key("kv1", "k1")
    wrapped = _wrap(e, v1, os.urandom(32))
    err = kit.refused(_unwrap, e, f"{k.id}/{ver2['version']}", wrapped)
    assert isinstance(err, CryptoError) and err.inner_code == "InvalidCiphertext"


def test_KV4_unknown_versions_and_keys_are_refused(e, kit):
    kit.vault(e)
    kit.key(e)
    assert kit.refused(e.get_key, "kv1", "k1", "0" * 32).code == "KeyNotFound"
    assert kit.refused(e.rotate_key, "kv1", "nope").code == "KeyNotFound"
    assert kit.refused(e.get_key, "kv1", "nope").code == "KeyNotFound"


@pytest.mark.parametrize("url", ["https://kv1.vault.azure.net/keys/k1/xyz", "http://kv1.vault.azure.net/keys/k1",
                                 "https://kv1.vault.azure.net/secrets/k1", "k1"])
def test_KV4_malformed_key_urls_are_refused(e, kit, url):
    kit.basic(e)
    err = kit.refused(e.create_des, "des2", kit.RG, key_url=url)
    assert err.code == "InvalidParameter"
    assert "vault.azure.net/keys/" in err.message


@pytest.mark.parametrize("name,ok", [("k", True), ("K-1-x", True), ("a" * 127, True), ("a" * 128, False),
                                     ("k_1", False), ("k.1", False), ("", False)])
def test_KV4_key_names(e, kit, name, ok):
    kit.vault(e)
    if ok:
        assert e.create_key("kv1", name)[0].name == name
    else:
        err = kit.refused(e.create_key, "kv1", name)
        assert err.code == "InvalidParameter" and "1-127" in err.message


# ============================================================================================ KV5 enable/disable


def test_KV5_disabled_key_refuses_unwrap_with_KeyDisabled(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    wrapped = _wrap(e, kid, b"k" * 32)
    e.set_key_attributes("kv1", "k1", enabled=False)
    err = kit.refused(_unwrap, e, kid, wrapped)
    assert err.code == "Forbidden" and err.inner_code == "KeyDisabled"
    assert kid in err.message
    e.set_key_attributes("kv1", "k1", enabled=True)
    assert _unwrap(e, kid, wrapped) == b"k" * 32


def test_KV5_public_key_wrap_still_works_at_the_vault_on_a_disabled_key(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    e.set_key_attributes("kv1", "k1", enabled=False)
    wrapped = _wrap(e, kid, b"w" * 32)
    assert kit.audit(e, "KeyWrap")[-1].result == "OK"
    e.set_key_attributes("kv1", "k1", enabled=True)
    assert _unwrap(e, kid, wrapped) == b"w" * 32


def test_KV5_compute_refuses_to_create_on_a_disabled_key(e, kit):
    kid, des = kit.basic(e)
    e.set_key_attributes("kv1", "k1", enabled=False)
    err = kit.refused(e.create_disk, "d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    assert err.code == "KeyVaultKeyNotEnabled"
    err = kit.refused(e.create_des, "des2", kit.RG, key_url=kid)
    assert err.code == "KeyVaultKeyNotEnabled"
    e.create_disk("plain", kit.RG, size_gb=4)
    err = kit.refused(e.update_disk, "plain", disk_encryption_set="des1")
    assert err.code == "KeyVaultKeyNotEnabled"
    assert e.get_disk("plain").encryption_type == "EncryptionAtRestWithPlatformKey"


def test_KV5_disabling_one_version_leaves_the_others_usable(e, kit):
    kit.vault(e)
    v1 = kit.key(e)
    v2 = kit.key(e)
    w1, w2 = _wrap(e, v1, b"1" * 32), _wrap(e, v2, b"2" * 32)
    e.set_key_attributes("kv1", "k1", v1.rsplit("/", 1)[1], enabled=False)
    assert kit.refused(_unwrap, e, v1, w1).inner_code == "KeyDisabled"
    assert _unwrap(e, v2, w2) == b"2" * 32


def test_KV5_disabling_all_versions(e, kit):
    kit.vault(e)
    v1 = kit.key(e)
    v2 = kit.key(e)
    w1, w2 = _wrap(e, v1, b"1" * 32), _wrap(e, v2, b"2" * 32)
    e.set_key_attributes("kv1", "k1", enabled=False, all_versions=True)
    assert kit.refused(_unwrap, e, v1, w1).inner_code == "KeyDisabled"
    assert kit.refused(_unwrap, e, v2, w2).inner_code == "KeyDisabled"
    e.set_key_attributes("kv1", "k1", enabled=True, all_versions=True)
    assert _unwrap(e, v1, w1) == b"1" * 32


def test_KV5_disabling_a_key_stops_a_vm_through_the_unwrap(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert e.get_vm("vm1").power == "stopped"
    err = kit.refused(e.start_vm, "vm1")
    assert err.code == "KeyVaultKeyNotEnabled"
    denied = [a for a in kit.audit(e, "KeyUnwrap") if a.result != "OK"]
    assert denied and denied[-1].code == "KeyDisabled"  # refused by the vault, not by a flag


# ============================================================================================ KV6 delete/purge


def test_KV6_deleted_key_is_recoverable_during_retention(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    wrapped = _wrap(e, kid, b"d" * 32)
    k = e.delete_key("kv1", "k1")
    assert k.state == "Deleted" and k.scheduled_purge_date == "2026-05-31T09:00:00+00:00"
    assert [x.name for x in e.list_deleted_keys("kv1")] == ["k1"]
    err = kit.refused(_unwrap, e, kid, wrapped)
    assert err.code == "KeyNotFound" and err.inner_code == "KeyDeleted"
    e.advance_clock("29d")
    e.recover_key("kv1", "k1")
    assert _unwrap(e, kid, wrapped) == b"d" * 32


def test_KV6_purge_refused_while_protected(e, kit):
    kit.vault(e)
    kit.key(e)
    e.delete_key("kv1", "k1")
    err = kit.refused(e.purge_key, "kv1", "k1")
    assert err.code == "Forbidden" and err.inner_code == "PurgeProtectionEnabled"
    assert "2026-05-31T09:00:00+00:00" in err.message
    assert e.list_deleted_keys("kv1")[0].name == "k1"


def test_KV6_purge_allowed_at_once_without_purge_protection(e, kit):
    kit.vault(e, purge_protection=False)
    kid = kit.key(e)
    wrapped = _wrap(e, kid, b"p" * 32)
    e.delete_key("kv1", "k1")
    e.purge_key("kv1", "k1")
    assert e.list_deleted_keys("kv1") == []
    err = kit.refused(_unwrap, e, kid, wrapped)
    assert err.inner_code == "KeyPurged"
    assert kit.refused(e.recover_key, "kv1", "k1").code == "KeyNotFound"


def test_KV6_only_a_deleted_key_can_be_purged_or_recovered(e, kit):
    kit.vault(e, purge_protection=False)
    kit.key(e)
    assert kit.refused(e.purge_key, "kv1", "k1").code == "KeyNotFound"
    assert kit.refused(e.recover_key, "kv1", "k1").code == "Conflict"


def test_KV6_a_deleted_key_name_cannot_be_reused(e, kit):
    kit.vault(e)
    kit.key(e)
    e.delete_key("kv1", "k1")
    err = kit.refused(e.create_key, "kv1", "k1")
    assert err.code == "Conflict" and err.inner_code == "ObjectIsDeletedButRecoverable"


def test_KV6_purged_key_crypto_shreds_every_data_key_it_wrapped(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    e.vm_write("vm1", 0, 0, b"secret data")
    disk = e.get_disk("vm1-os")
    e.deallocate_vm("vm1")
    e.delete_key("kv1", "k1")
    e.advance_clock("31d")  # the platform purges at the end of retention
    assert "https://kv1.vault.azure.net/keys/k1" not in e.t["keys"]
    assert disk.cache is None and all(d.cache is None for d in e.list_disks())
    err = kit.refused(e.start_vm, "vm1")
    assert err.code == "KeyVaultKeyNotFound" and "gone for good" in err.message
    err = kit.refused(e.read_resource, "disk", "vm1-os", 0, 16)
    assert err.code == "KeyVaultKeyNotFound"
    # nothing can bring it back: not a recover, not a new key under the old name
    assert kit.refused(e.recover_key, "kv1", "k1").code == "KeyNotFound"
    kit.key(e)
    assert kit.refused(e.start_vm, "vm1").code == "KeyVaultKeyNotFound"


def test_KV6_deleted_vault_acts_like_deleted_keys_and_purge_shreds(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    e.delete_vault("kv1")
    assert e.get_vm("vm1").power == "stopped"
    assert kit.refused(e.start_vm, "vm1").code == "KeyVaultNotFound"
    e.recover_vault("kv1")
    e.start_vm("vm1")
    e.delete_vault("kv1")
    assert kit.refused(e.purge_vault, "kv1").inner_code == "PurgeProtectionEnabled"
    e.advance_clock("31d")
    assert "kv1" not in e.t["vaults"] and e.t["keys"] == {}
    err = kit.refused(e.read_resource, "disk", "vm1-os", 0, 16)
    assert err.code == "KeyVaultNotFound" and "purged" in err.message


# ============================================================================================ KV7 access


def test_KV7_access_policy_with_get_wrap_unwrap_lets_the_set_use_the_key(e, kit):
    kit.vault(e)
    des = kit.des(e, "des1", kit.key(e), grant=False)
    e.set_policy("kv1", des.principal_id, ["get", "wrapkey", "UNWRAPKEY"])  # az accepts any case
    perms = next(p for p in e.get_vault("kv1").access_policies if p["objectId"] == des.principal_id)
    assert perms["permissions"]["keys"] == ["get", "wrapKey", "unwrapKey"]
    assert e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1").des_id == des.id


@pytest.mark.parametrize("perms", [["get", "wrapKey"], ["wrapKey", "unwrapKey"], ["get", "unwrapKey"], ["list"]])
def test_KV7_an_incomplete_access_policy_is_not_enough(e, kit, perms):
    kit.vault(e)
    des = kit.des(e, "des1", kit.key(e), grant=False)
    e.set_policy("kv1", des.principal_id, perms)
    err = kit.refused(e.create_disk, "d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    assert err.code == "KeyVaultAccessForbidden"


def test_KV7_unknown_key_permission_is_refused(e, kit):
    kit.vault(e)
    err = kit.refused(e.set_policy, "kv1", "11111111-1111-4111-8111-111111111111", ["get", "fly"])
    assert err.code == "InvalidParameter" and "wrapKey" in err.message


def test_KV7_rbac_role_crypto_service_encryption_user(e, kit):
    kit.vault(e, rbac=True)
    des = kit.des(e, "des1", kit.key(e), grant=False)
    assert kit.refused(e.create_disk, "d1", kit.RG, size_gb=4,
                       disk_encryption_set="des1").code == "KeyVaultAccessForbidden"
    e.create_role_assignment(des.principal_id, CRYPTO_SERVICE_ROLE, e.get_vault("kv1").id)
    assert e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1").des_id == des.id


def test_KV7_rbac_refusals(e, kit):
    kit.vault(e, rbac=True)
    des = kit.des(e, "des1", kit.key(e))
    scope = e.get_vault("kv1").id
    assert kit.refused(e.create_role_assignment, des.principal_id, CRYPTO_SERVICE_ROLE,
                       scope).code == "RoleAssignmentExists"
    assert kit.refused(e.create_role_assignment, des.principal_id, "Owner of Everything",
                       scope).code == "RoleDefinitionNotFound"
    assert kit.refused(e.create_role_assignment, des.principal_id, CRYPTO_SERVICE_ROLE,
                       "/subscriptions/other/resourceGroups/rg").code == "InvalidScope"
    assert kit.refused(e.delete_role_assignment, assignee="nobody").code == "RoleAssignmentNotFound"


def test_KV7_access_policies_do_not_count_on_an_rbac_vault(e, kit):
    kit.vault(e)
    des = kit.des(e, "des1", kit.key(e))  # granted by access policy
    kit.vm(e, "vm1")
    e.update_vault("kv1", enable_rbac_authorization=True)  # the permission model changes: access is lost
    assert e.get_vm("vm1").power == "stopped"
    e.create_role_assignment(des.principal_id, CRYPTO_SERVICE_ROLE, e.get_vault("kv1").id)
    e.start_vm("vm1")


@pytest.mark.parametrize("how", ["delete_policy", "narrow_policy", "delete_role"])
def test_KV7_revoking_access_has_the_effect_of_disabling_the_key(e, kit, how):
    kit.vault(e, rbac=how == "delete_role")
    kid = kit.key(e)
    des = kit.des(e, "des1", kid)
    kit.vm(e, "vm1")
    if how == "delete_policy":
        e.delete_policy("kv1", des.principal_id)
    elif how == "narrow_policy":
        e.set_policy("kv1", des.principal_id, ["get", "wrapKey"])
    else:
        e.delete_role_assignment(assignee=des.principal_id)
    vm = e.get_vm("vm1")
    assert vm.power == "stopped"
    assert vm.status["code"] == "KeyUnusable" and vm.status["kid"] == kid
    assert "access revoked" in vm.status["message"]
    err = kit.refused(e.start_vm, "vm1")
    assert err.code == "KeyVaultAccessForbidden" and des.principal_id in err.message
    kit.grant(e, des)
    assert e.get_vm("vm1").power == "stopped"  # regranting starts nothing (V5)
    e.start_vm("vm1")


def test_KV7_principals_are_named_and_revoking_ones_own_access_is_said(e, kit):
    """The engine names the identities it knows (the signed-in operator, a set's identity) and, in the what-if of
    revoking the current principal's own policy or role, says which key permissions it loses on which vault;
    revoking another identity's access says nothing of the kind."""
    kit.vault(e)
    des = kit.des(e, "des1", kit.key(e))
    me = e.operator
    assert e.principal_name(me) == e.meta.user_name and e.is_current_principal(me.upper())
    assert e.principal_name(des.principal_id) == "des1" and not e.is_current_principal(des.principal_id)
    assert e.principal_name("00000000-0000-0000-0000-00000000dead") is None
    assert e.principal_names() == {me.lower(): e.meta.user_name, des.principal_id.lower(): "des1"}
    own = e.what_if("delete_policy", "kv1", me)
    assert list(own.own_access_lost) == ["kv1"] and \
        {"get", "create", "unwrapKey", "purge"} <= set(own.own_access_lost["kv1"])
    [line] = [ln for ln in own.lines() if "your own access" in ln]
    assert line.startswith(f"you ({e.meta.user_name}) lose your own access to vault kv1: key permissions ")
    assert own.destructive
    narrowed = e.what_if("set_policy", "kv1", me, ["get", "list"])
    assert "get" not in narrowed.own_access_lost["kv1"] and "create" in narrowed.own_access_lost["kv1"]
    other = e.what_if("delete_policy", "kv1", des.principal_id)
    assert other.own_access_lost == {} and not [ln for ln in other.lines() if "own access" in ln]
    # the event of a revocation names who lost it
    e.delete_policy("kv1", des.principal_id)
    [revoked] = e.list_events(where=lambda x: x.type == "AccessRevoked")
    assert f"des1 ({des.principal_id})" in revoked.summary


def test_KV7_the_event_of_a_grant_names_the_principal_as_a_revocation_does(e, kit):
    """AccessGranted said a bare object id where AccessRevoked names the identity (``principal_label``): both name
    it now, for an access policy and a role; an identity the home does not know stays its id."""
    kit.vault(e)
    des = kit.des(e, "des1", kit.key(e))
    oid = des.principal_id.lower()
    [grant] = e.list_events(where=lambda x: x.type == "AccessGranted" and x.data.get("object_id") == oid)
    assert grant.summary.startswith(f"access policy of des1 ({oid}) on vault kv1: keys ")
    me = e.operator
    kv = e.get_vault("kv1")
    e.create_role_assignment(me, "Key Vault Crypto Service Encryption User", kv.id)
    stranger = "00000000-0000-0000-0000-00000000beef"
    e.set_policy("kv1", stranger, ["get"])
    granted = e.list_events(where=lambda x: x.type == "AccessGranted")
    assert f"assigned to {e.meta.user_name} ({me.lower()}) at {kv.id}" in granted[-2].summary
    assert granted[-1].summary == f"access policy of {stranger} on vault kv1: keys get"


def test_KV7_delete_policy_for_unknown_object_is_refused(e, kit):
    kit.vault(e)
    assert kit.refused(e.delete_policy, "kv1", "nobody").code == "ResourceNotFound"


# ============================================================================================ KV8 audit


def test_KV8_every_key_operation_is_audited_with_time_caller_operation_version_result(e, kit):
    kit.vault(e, purge_protection=False)
    kid = kit.key(e)
    k, ver = e.get_key("kv1", "k1")
    wrapped = _wrap(e, kid, b"a" * 32)
    _unwrap(e, kid, wrapped)
    e.set_key_attributes("kv1", "k1", enabled=False)
    e.set_key_attributes("kv1", "k1", enabled=True)
    _, v2 = e.rotate_key("kv1", "k1")
    e.delete_key("kv1", "k1")
    e.recover_key("kv1", "k1")
    e.delete_key("kv1", "k1")
    e.purge_key("kv1", "k1")
    ops = [a.operation for a in kit.audit(e)]
    assert ops == ["KeyCreate", "KeyGet", "KeyWrap", "KeyUnwrap", "KeyUpdate", "KeyUpdate", "KeyRotate",
                   "KeyDelete", "KeyRecover", "KeyDelete", "KeyPurge"]
    for a in kit.audit(e):
        assert a.result == "OK" and a.caller == e.operator and a.vault == "kv1"
        assert a.time == "2026-05-01T09:00:00+00:00"
    assert kit.audit(e, "KeyCreate")[0].kid == kid
    assert kit.audit(e, "KeyUnwrap")[0].kid == kid
    assert kit.audit(e, "KeyRotate")[0].kid == f"https://kv1.vault.azure.net/keys/k1/{v2['version']}"


def test_KV8_disk_operations_are_audited_under_the_sets_identity(e, kit):
    kid, des = kit.basic(e)
    kit.vm(e, "vm1")
    wraps = kit.audit(e, "KeyWrap")
    unwraps = kit.audit(e, "KeyUnwrap")
    assert len(wraps) == 2 and all(a.caller == des.principal_id and a.kid == kid for a in wraps)
    assert len(unwraps) == 2 and all(a.caller == des.principal_id for a in unwraps)


def test_KV8_denied_attempts_are_audited_and_kept_although_the_action_fails(e, kit):
    kid, des = kit.basic(e)
    kit.vm(e, "vm1")
    e.delete_key("kv1", "k1")
    n = len(kit.audit(e))
    assert kit.refused(e.start_vm, "vm1").code == "KeyVaultKeyNotFound"
    assert kit.refused(e.purge_key, "kv1", "k1").inner_code == "PurgeProtectionEnabled"
    denied = kit.audit(e)[n:]
    assert [(a.operation, a.result, a.code) for a in denied] == [
        ("KeyUnwrap", "KeyNotFound", "KeyDeleted"), ("KeyPurge", "Forbidden", "PurgeProtectionEnabled")]
    assert denied[0].caller == des.principal_id and denied[0].kid == kid
    persisted = {d["id"]: d for d in e.store.read_log("audit")}
    assert {a.id for a in denied} <= set(persisted)


def test_KV8_audit_holds_no_key_material(e, kit):
    kid, _ = kit.basic(e)
    kit.vm(e, "vm1")
    sealed = e.t["keys"]["https://kv1.vault.azure.net/keys/k1"].versions[0]["sealed"]
    text = repr([a.to_doc() for a in kit.audit(e)])
    assert sealed not in text and "PRIVATE" not in text
    for d in e.list_disks():
        assert d.layers[0]["wrapped"] not in text


# ============================================================================================ KV9 exp/nbf/policy


def test_KV9_past_exp_a_key_no_longer_wraps_but_still_unwraps(e, kit):
    kid, des = kit.basic(e)
    kit.vm(e, "vm1")
    e.vm_write("vm1", 0, 0, b"before expiry")
    wrapped = _wrap(e, kid, b"x" * 32)
    e.set_key_attributes("kv1", "k1", exp="2026-05-02T00:00:00Z")
    e.advance_clock("1d")
    err = kit.refused(_wrap, e, kid, b"y" * 32)
    assert err.code == "Forbidden" and err.inner_code == "KeyExpired"
    assert _unwrap(e, kid, wrapped) == b"x" * 32
    assert e.get_vm("vm1").power == "running"  # expiry stops nothing
    e.deallocate_vm("vm1")
    e.start_vm("vm1")  # an expired key still unwraps
    assert e.vm_read("vm1", 0, 0, 13) == b"before expiry"
    err = kit.refused(e.create_disk, "d2", kit.RG, size_gb=4, disk_encryption_set="des1")
    assert err.code == "KeyVaultKeyNotEnabled"


def test_KV9_the_engine_says_when_a_key_version_is_expired_or_not_yet_valid(e, kit):
    """``key_validity``: a version past its ``exp`` (by the simulated clock) or before its ``nbf`` is flagged with
    the inner code Key Vault answers and what it still does; a version inside its window is not."""
    kit.vault(e)
    kit.key(e)
    k = e.find_key("kv1", "k1")
    assert e.key_validity(k) is None
    e.set_key_attributes("kv1", "k1", exp="2026-05-02T00:00:00Z")
    assert e.key_validity(e.find_key("kv1", "k1")) is None  # not yet: the clock is at 2026-05-01
    e.advance_clock("1d")
    k = e.find_key("kv1", "k1")
    code, says = e.key_validity(k)
    assert code == "KeyExpired"
    assert says.startswith("expired at 2026-05-02T00:00:00+00:00") and "wrapKey" in says and "still" in says
    assert e.key_validity(k, k.current["version"]) == (code, says)
    e.set_key_attributes("kv1", "k1", exp="2027-01-01T00:00:00Z", nbf="2026-06-01T00:00:00Z")
    code, says = e.key_validity(e.find_key("kv1", "k1"))
    assert code == "KeyNotYetValid" and says.startswith("not valid before 2026-06-01T00:00:00+00:00")


def test_KV9_before_nbf_a_key_neither_wraps_nor_unwraps(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    wrapped = _wrap(e, kid, b"n" * 32)
    e.set_key_attributes("kv1", "k1", nbf="2026-05-03T00:00:00Z")
    assert kit.refused(_unwrap, e, kid, wrapped).inner_code == "KeyNotYetValid"
    assert kit.refused(_wrap, e, kid, b"n" * 32).inner_code == "KeyNotYetValid"
    e.advance_clock("2d")
    assert _unwrap(e, kid, wrapped) == b"n" * 32


def test_KV9_bad_time_is_refused(e, kit):
    kit.vault(e)
    kit.key(e)
    assert kit.refused(e.set_key_attributes, "kv1", "k1", exp="next tuesday").code == "BadParameter"


ROTATE_30 = {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}],
             "attributes": {"expiryTime": "P90D"}}


def test_KV9_rotation_policy_creates_versions_as_the_clock_passes(e, kit):
    kit.vault(e)
    kit.key(e)
    e.set_rotation_policy("kv1", "k1", ROTATE_30)
    e.advance_clock("29d")
    assert len(e.get_key("kv1", "k1", audit=False)[0].versions) == 1
    ran = e.advance_clock("2d")
    k = e.get_key("kv1", "k1", audit=False)[0]
    assert len(k.versions) == 2
    assert k.current["created"] == "2026-05-31T09:00:00+00:00"  # at its due time, not at the end of the advance
    assert k.current["exp"] == "2026-08-29T09:00:00+00:00"  # the policy's expiryTime applies to new versions
    assert any("rotate" in r["job"] for r in ran)
    assert kit.audit(e, "KeyRotate")[-1].kid == f"{k.id}/{k.current['version']}"
    e.advance_clock("61d")  # two more periods of 30 days
    assert len(e.get_key("kv1", "k1", audit=False)[0].versions) == 4


def test_KV9_rotation_policy_notify_before_expiry(e, kit):
    kit.vault(e)
    kit.key(e)
    e.set_rotation_policy("kv1", "k1", {"lifetimeActions": [
        {"trigger": {"timeBeforeExpiry": "P10D"}, "action": {"type": "Notify"}}], "attributes": {"expiryTime": "P40D"}})
    e.rotate_key("kv1", "k1")  # the new version expires in 40 days
    seen = []
    e.subscribe(seen.append)
    e.advance_clock("29d")
    assert not any(isinstance(x, ev.KeyNearExpiry) for x in seen)
    e.advance_clock("2d")
    assert [x.kind for x in seen if isinstance(x, ev.KeyNearExpiry)] == ["KeyNearExpiry"]
    e.advance_clock("1d")
    assert len([x for x in seen if isinstance(x, ev.KeyNearExpiry)]) == 1  # once per version


@pytest.mark.parametrize("policy,words", [
    ({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P6D"}, "action": {"type": "Rotate"}}]}, "minimum is P7D"),
    ({"lifetimeActions": [], "attributes": {"expiryTime": "P27D"}}, "minimum is P28D"),
    ({"lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P6D"}, "action": {"type": "Notify"}}],
      "attributes": {"expiryTime": "P90D"}}, "minimum is P7D"),
    ({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Notify"}}]}, "Notify"),
    ({"lifetimeActions": [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Rotate"}}]}, "expiryTime"),
    ({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P85D"}, "action": {"type": "Rotate"}}],
      "attributes": {"expiryTime": "P90D"}}, "7 days before"),
    ({"lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Delete"}}]}, "Rotate, Notify"),
    ({"lifetimeActions": [{"trigger": {}, "action": {"type": "Rotate"}}]}, "exactly one"),
    ("{not json", "not valid JSON"),
])
def test_KV9_rotation_policy_minimums_and_shape_are_enforced(e, kit, policy, words):
    kit.vault(e)
    kit.key(e)
    err = kit.refused(e.set_rotation_policy, "kv1", "k1", policy)
    assert err.code == "BadParameter" and words in err.message
    assert e.get_key("kv1", "k1", audit=False)[0].rotation_policy is None


def test_KV9_rotation_policy_at_the_minimums_is_accepted(e, kit):
    kit.vault(e)
    kit.key(e)
    p = e.set_rotation_policy("kv1", "k1", {"lifetimeActions": [
        {"trigger": {"timeAfterCreate": "P7D"}, "action": {"type": "rotate"}},
        {"trigger": {"timeBeforeExpiry": "P7D"}, "action": {"type": "notify"}}], "attributes": {"expiryTime": "P28D"}})
    assert [a["action"]["type"] for a in p["lifetimeActions"]] == ["Rotate", "Notify"]
    assert e.get_rotation_policy("kv1", "k1")["attributes"]["expiryTime"] == "P28D"
    e.advance_clock(timedelta(days=7, hours=1))
    assert len(e.get_key("kv1", "k1", audit=False)[0].versions) == 2


def test_O4_every_action_that_sets_tags_checks_azures_limits(e, kit):
    """The engine checks the limits itself (the endpoint calls it without the CLI's parser): 50 tags on a
    resource, 15 on a key, names of 512 characters, values of 256; a refused action changes nothing."""
    from engine.errors import BadRequest

    e.create_group(kit.RG, kit.REGION)
    e.create_vault("kv-tags", kit.RG)
    too_many = {f"t{i}": "v" for i in range(51)}
    for call in (lambda: e.create_group("rg2", kit.REGION, tags=too_many),
                 lambda: e.create_disk("d1", kit.RG, size_gb=1, tags=too_many),
                 lambda: e.create_disk("d1", kit.RG, size_gb=1, tags={"n" * 513: "v"}),
                 lambda: e.create_disk("d1", kit.RG, size_gb=1, tags={"k": "v" * 257}),
                 lambda: e.create_key("kv-tags", "k1", tags={f"t{i}": "v" for i in range(16)})):
        with pytest.raises(BadRequest):
            call()
    assert e.list_disks() == [] and [g.name for g in e.list_groups()] == [kit.RG]
    assert e.create_disk("d1", kit.RG, size_gb=1, tags={f"t{i}": "v" * 256 for i in range(50)}).tags
    key, _version = e.create_key("kv-tags", "k1", tags={f"t{i}": "v" for i in range(15)})
    with pytest.raises(BadRequest):
        e.set_key_attributes("kv-tags", "k1", tags={f"t{i}": "v" for i in range(16)})
    assert len(e.get_key("kv-tags", "k1")[0].tags) == 15
