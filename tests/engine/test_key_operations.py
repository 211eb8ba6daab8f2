"""The key operations an operator calls (KV5, KV7, KV8, KV9): real cryptography, the algorithms each key type takes,
and a failed operation changes no state but stays in the audit log."""

from __future__ import annotations

import hashlib

import pytest

from engine import crypto
from engine.errors import EngineError


@pytest.fixture
def keys(e, kit):
    kit.vault(e)
    e.create_key("kv1", "r")
    e.create_key("kv1", "ec", kty="EC", curve="P-256K")
    return e


def _audit(e):
    return [(a.operation, a.result, a.code) for a in sorted(e.t["audit"].values(), key=lambda a: a.id)]


R = "https://kv1.vault.azure.net/keys/r"
EC = "https://kv1.vault.azure.net/keys/ec"


def op(e, kid, name, alg, value, **kw):
    """The signed-in user calls the vault (its access policy is checked)."""
    return e.key_operation(e.operator, kid, name, value, alg=alg, **kw)


def test_KV8_rsa_encrypt_is_real_and_decrypts_with_the_private_key(keys):
    kid, ct = op(keys, R, "encrypt", "RSA-OAEP-256", b"secret")
    k, ver = keys.get_key("kv1", "r", audit=False)
    assert kid.endswith(ver["version"]) and len(ct) == 256
    assert crypto.kv_decrypt(keys._private(kid), "RSA-OAEP-256", ct) == b"secret"
    assert op(keys, R, "decrypt", "rsa-oaep-256", ct)[1] == b"secret"
    assert op(keys, R, "decrypt", "RSA1_5", op(keys, R, "encrypt", "RSA1_5", b"old")[1])[1] == b"old"
    assert _audit(keys)[-4:-2] == [("KeyEncrypt", "OK", None), ("KeyDecrypt", "OK", None)]


def test_KV8_ecdsa_signature_verifies_with_the_public_key_only(keys):
    digest = hashlib.sha256(b"m").digest()
    sig = op(keys, EC, "sign", "ES256K", digest)[1]
    _, ver = keys.get_key("kv1", "ec", audit=False)
    public = crypto.ec_public_from_jwk(ver["crv"], ver["x"], ver["y"])
    assert crypto.kv_verify(public, "ES256K", digest, sig)
    assert op(keys, EC, "verify", "ES256K", digest, signature=sig)[1] is True
    assert op(keys, EC, "verify", "ES256K", hashlib.sha256(b"n").digest(), signature=sig)[1] is False


@pytest.mark.parametrize("key,name,alg,code", [
    ("ec", "encrypt", "RSA-OAEP", "OperationNotSupported"),
    ("ec", "sign", "ES384", "AlgorithmNotSupported"),
    ("r", "sign", "ES256", "AlgorithmNotSupported"),
    ("r", "encrypt", "A256GCM", "AlgorithmNotSupported"),
])
def test_KV2_each_key_type_takes_its_algorithms(keys, key, name, alg, code):
    before = keys.t["keys"].get("https://kv1.vault.azure.net/keys/r").to_doc()
    with pytest.raises(EngineError) as info:
        keys.key_operation(keys.operator, f"https://kv1.vault.azure.net/keys/{key}", name, hashlib.sha256(b"x").digest(),
                           alg=alg)
    assert info.value.inner_code == code
    assert keys.t["keys"].get("https://kv1.vault.azure.net/keys/r").to_doc() == before
    assert _audit(keys)[-1][1:] == ("BadParameter", code)


def test_KV9_KV5_expired_disabled_and_key_ops(keys):
    ct = op(keys, R, "encrypt", "RSA-OAEP", b"x")[1]
    keys.set_key_attributes("kv1", "r", exp="2000-01-01T00:00:00Z")
    with pytest.raises(EngineError) as info:
        op(keys, R, "encrypt", "RSA-OAEP", b"x")
    assert info.value.inner_code == "KeyExpired"
    assert op(keys, R, "decrypt", "RSA-OAEP", ct)[1] == b"x"  # expired still decrypts
    keys.set_key_attributes("kv1", "r", exp="2999-01-01T00:00:00Z", ops=["encrypt"])
    with pytest.raises(EngineError) as info:
        op(keys, R, "decrypt", "RSA-OAEP", ct)
    assert info.value.inner_code == "KeyOperationForbidden"
    keys.set_key_attributes("kv1", "r", enabled=False, ops=["encrypt", "decrypt"])
    with pytest.raises(EngineError) as info:
        op(keys, R, "decrypt", "RSA-OAEP", ct)
    assert info.value.inner_code == "KeyDisabled"


def test_KV2_automatic_rotation_to_an_ec_version_is_refused_by_the_set_and_recorded(e, kit):
    kit.vault(e)
    e.create_key("kv1", "k1")
    des = e.create_des("des1", kit.RG, "https://kv1.vault.azure.net/keys/k1", source_vault="kv1",
                       rotation_to_latest=True)
    e.set_policy("kv1", des.principal_id, ["get", "wrapKey", "unwrapKey"])
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    before = e.get_des("des1", kit.RG).key_url
    e.create_key("kv1", "k1", kty="EC")  # a new version of another type: Key Vault allows it
    e.advance_clock("2h")
    des = e.get_des("des1", kit.RG)
    assert des.key_url == before  # the set stays on its RSA version
    assert des.auto_key_rotation_error["code"] == "KeyVaultKeyTypeNotSupported"
    assert e.readable(e.get_disk("d1", kit.RG))  # its data keys still open with the RSA version
