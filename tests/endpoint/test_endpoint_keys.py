"""Key Vault's data plane for keys through azure-keyvault-keys (O6, O7): import, versions, update, rotate,
rotation policy, delete and recover, deleted keys, and the key operations (encrypt, decrypt, sign, verify,
wrap, unwrap done at the vault), each checked through the SDK's models; a disabled key refuses the private
ones (KV5)."""

from __future__ import annotations

import hashlib

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keys(endpoint, credential, sub):
    from azure.keyvault.keys import KeyClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultProperties
    from azure.mgmt.resource.resources import ResourceManagementClient

    ResourceManagementClient(credential, sub).resource_groups.create_or_update("rg-keys", {"location": "eastus"})
    tenant = endpoint.environment()["AZURE_TENANT_ID"]
    v = KeyVaultManagementClient(credential, sub).vaults.begin_create_or_update(
        "rg-keys", "kv-keys", VaultCreateOrUpdateParameters(location="eastus", properties=VaultProperties(
            tenant_id=tenant, sku=Sku(family="A", name="standard"), soft_delete_retention_in_days=7))).result()
    return KeyClient(v.properties.vault_uri, credential)


def test_O6_import_versions_update_rotate_and_policy(keys):
    from azure.keyvault.keys import (JsonWebKey, KeyRotationLifetimeAction, KeyRotationPolicy,
                                     KeyRotationPolicyAction)
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    nums = private.private_numbers()

    def b(n: int) -> bytes:
        return n.to_bytes((n.bit_length() + 7) // 8, "big")

    jwk = JsonWebKey(kty="RSA", n=b(nums.public_numbers.n), e=b(nums.public_numbers.e), d=b(nums.d), p=b(nums.p),
                     q=b(nums.q), dp=b(nums.dmp1), dq=b(nums.dmq1), qi=b(nums.iqmp))
    imported = keys.import_key("imported", jwk, tags={"source": "hsm-export"})
    assert imported.key.n == b(nums.public_numbers.n) and imported.properties.tags == {"source": "hsm-export"}
    assert imported.key.d is None  # the private part never comes back

    rotated = keys.rotate_key("imported")
    assert rotated.properties.version != imported.properties.version
    versions = {p.version for p in keys.list_properties_of_key_versions("imported")}
    assert versions == {imported.properties.version, rotated.properties.version}
    assert keys.get_key("imported", imported.properties.version).key.n == imported.key.n

    updated = keys.update_key_properties("imported", imported.properties.version, enabled=False)
    assert updated.properties.enabled is False and updated.properties.version == imported.properties.version
    assert keys.get_key("imported").properties.enabled is True  # the current version is untouched

    policy = keys.update_key_rotation_policy("imported", KeyRotationPolicy(lifetime_actions=[
        KeyRotationLifetimeAction(KeyRotationPolicyAction.rotate, time_after_create="P90D")], expires_in="P2Y"))
    assert policy.expires_in == "P2Y"
    assert [(a.action, a.time_after_create) for a in policy.lifetime_actions] == [(KeyRotationPolicyAction.rotate,
                                                                                  "P90D")]
    assert keys.get_key_rotation_policy("imported").lifetime_actions[0].time_after_create == "P90D"
    assert "imported" in {k.name for k in keys.list_properties_of_keys()}


def test_KV6_delete_list_deleted_and_recover(keys):
    keys.create_rsa_key("comeback", size=2048)
    deleted = keys.begin_delete_key("comeback").result()
    assert deleted.name == "comeback" and deleted.deleted_date is not None
    assert "comeback" in {k.name for k in keys.list_deleted_keys()}
    assert "comeback" not in {k.name for k in keys.list_properties_of_keys()}
    recovered = keys.begin_recover_deleted_key("comeback").result()
    assert recovered.name == "comeback" and keys.get_key("comeback").properties.enabled is True


def test_KV5_key_operations_at_the_vault_and_a_disabled_key(endpoint, keys, credential):
    from azure.core.exceptions import HttpResponseError
    from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, SignatureAlgorithm

    from azure.identity import ClientSecretCredential
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.keyvault.models import (AccessPolicyEntry, Permissions, VaultAccessPolicyParameters,
                                            VaultAccessPolicyProperties)

    key = keys.create_rsa_key("ops", size=2048)
    # an application allowed the four operations but not "get": the SDK cannot fetch the public key to
    # encrypt and verify locally, so every operation is done, and audited, at the vault
    env = endpoint.environment()
    app = endpoint.files.create_principal("crypto-app")
    KeyVaultManagementClient(credential, env["AZURE_SUBSCRIPTION_ID"]).vaults.update_access_policy(
        "rg-keys", "kv-keys", "add", VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(
            access_policies=[AccessPolicyEntry(tenant_id=env["AZURE_TENANT_ID"], object_id=app["objectId"],
                                               permissions=Permissions(keys_property=["encrypt", "decrypt", "sign",
                                                                                      "verify"]))])))
    crypto = CryptographyClient(key.id, ClientSecretCredential(env["AZURE_TENANT_ID"], app["appId"],
                                                               app["password"]))
    ct = crypto.encrypt(EncryptionAlgorithm.rsa_oaep_256, b"orders 2026")
    assert crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, ct.ciphertext).plaintext == b"orders 2026"
    digest = hashlib.sha256(b"release 1.0").digest()
    sig = crypto.sign(SignatureAlgorithm.ps256, digest)
    assert sig.key_id == key.id
    assert crypto.verify(SignatureAlgorithm.ps256, digest, sig.signature).is_valid
    assert not crypto.verify(SignatureAlgorithm.ps256, hashlib.sha256(b"other").digest(), sig.signature).is_valid
    keys.update_key_properties("ops", enabled=False)
    with pytest.raises(HttpResponseError) as refused:
        crypto.decrypt(EncryptionAlgorithm.rsa_oaep_256, ct.ciphertext)
    assert refused.value.status_code == 403 and "disabled" in refused.value.message
    engine = endpoint.engine
    with engine._lock:
        engine.refresh_if_changed()
        ops = [(e.operation, e.result) for e in engine.t["audit"].values() if e.vault == "kv-keys"
               and e.caller == app["objectId"]]
    for op in ("KeyEncrypt", "KeyDecrypt", "KeySign", "KeyVerify"):
        assert (op, "OK") in ops, ops  # done at the vault, audited (KV8)
    assert ("KeyDecrypt", "Forbidden") in ops


def test_KV6_vault_soft_delete_recover_and_purge_through_arm(endpoint, credential, sub):
    from azure.core.exceptions import ResourceNotFoundError
    from azure.keyvault.keys import KeyClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultProperties

    kvm = KeyVaultManagementClient(credential, sub)
    tenant = endpoint.environment()["AZURE_TENANT_ID"]

    def create(mode=None):
        return kvm.vaults.begin_create_or_update("rg-keys", "kv-gone", VaultCreateOrUpdateParameters(
            location="eastus", properties=VaultProperties(tenant_id=tenant, sku=Sku(family="A", name="standard"),
                                                          soft_delete_retention_in_days=7, create_mode=mode))).result()

    vault = create()
    KeyClient(vault.properties.vault_uri, credential).create_rsa_key("inside", size=2048)
    kvm.vaults.delete("rg-keys", "kv-gone")
    deleted = kvm.vaults.get_deleted("kv-gone", "eastus")
    assert deleted.properties.vault_id == vault.id and deleted.properties.scheduled_purge_date is not None
    assert "kv-gone" in {v.name for v in kvm.vaults.list_deleted()}
    recovered = create("recover")
    assert recovered.name == "kv-gone"
    assert KeyClient(vault.properties.vault_uri, credential).get_key("inside").name == "inside"
    kvm.vaults.delete("rg-keys", "kv-gone")
    kvm.vaults.begin_purge_deleted("kv-gone", "eastus").result()
    with pytest.raises(ResourceNotFoundError):
        kvm.vaults.get_deleted("kv-gone", "eastus")
    with pytest.raises(ResourceNotFoundError):
        kvm.vaults.get("rg-keys", "kv-gone")


def test_the_console_says_what_a_request_did_in_az_words_and_a_key_operation_as_audited(endpoint, keys, credential,
                                                                                      sub):
    """The journal lines of a request served to the SDK name the engine call that wrote them; the console's
    command log (console/app.py) says a key's creation and a disk's update as cmklab az commands, an unwrap
    done at the vault as the audited operation it is, each with the request's method and URL."""
    from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import CreationData, Disk, DiskSku, DiskUpdate

    from console.app import external_entry, external_requests

    engine = endpoint.engine
    with engine._lock:
        cursor = engine.journal_cursor()
    key = keys.create_rsa_key("logged", size=2048)
    crypto = CryptographyClient(key.id, credential)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"k" * 32)
    assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == b"k" * 32
    cm = ComputeManagementClient(credential, sub)
    cm.disks.begin_create_or_update("rg-keys", "d-logged", Disk(
        location="eastus", sku=DiskSku(name="Premium_LRS"), disk_size_gb=8,
        creation_data=CreationData(create_option="Empty"))).result()
    cm.disks.begin_update("rg-keys", "d-logged", DiskUpdate(max_shares=4)).result()
    with engine._lock:
        events, audit, _ = engine.journal_since(cursor)
        entries = [external_entry(engine, r, i) for i, r in enumerate(external_requests(events, audit))]
    said = [(e.lines[:-1], e.lines[-1]) for e in entries]
    who = entries[0].lines[0].split(":")[0]
    version = key.id.rstrip("/").rsplit("/", 1)[-1]
    assert said[0][0][0].startswith(f"{who}: az keyvault key create --vault-name kv-keys --name logged")
    assert said[0][1] == "POST kv-keys.vault.azure.net/keys/logged/create"
    assert (f"{who}: unwrapKey kv-keys/logged/{version}" in [x for lines, _ in said for x in lines])
    assert said[-2][0] == [f"{who}: az disk create --resource-group rg-keys --name d-logged --size-gb 8 "
                           "--location eastus"]
    assert said[-1] == ([f"{who}: az disk update --resource-group rg-keys --name d-logged --max-shares 4"],
                        "PATCH …/resourceGroups/rg-keys/providers/Microsoft.Compute/disks/d-logged")
    assert all(e.ok for e in entries)
