"""The whole story of the seeds, end to end, on a real TinyDB store with real RSA-3072 keys (issue 3's Done-when).

Vault with purge protection, RSA-3072 key, set, access policy, a premium VM and an ultra VM with customer-key
disks, data written; rotate; disable; deallocate the ultra VM; enable; revoke the policy; delete and purge after
the retention period. At the end the data is gone for good and nothing at rest holds a plaintext or a private key.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

from console.session import open_engine
from engine import Engine, crypto
from engine.errors import EngineError
from store import TinyStore

RG, REGION = "rg-story", "eastus"
PREMIUM_DATA = b"premium: orders of 2026-05-01, customer 4711, total 1234.56 EUR"
PREMIUM_OS = b"premium os: /etc/shadow root:$6$notreallyahash"
ULTRA_DATA = b"ultra: sensor telemetry 17.3C 18.1C 18.4C -- trade secret"
PLAINTEXTS = (PREMIUM_DATA, PREMIUM_OS, ULTRA_DATA)


def _refused(fn, *args) -> EngineError:
    try:
        fn(*args)
    except EngineError as err:
        return err
    raise AssertionError(f"{fn.__name__} was not refused")


def _blob_bytes(e, disks) -> dict[str, bytes]:
    return {d.name: Path(e.store.blobs.filename(d.unique_id)).read_bytes() for d in disks}


def _data_disk(e, vm: str):
    return e.t["disks"][e.get_vm(vm).data_disks[0]["diskId"]]


def _renderings(n: int) -> list[bytes]:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return [str(n).encode(), format(n, "x").encode(), base64.b64encode(raw).rstrip(b"="),
            base64.urlsafe_b64encode(raw).rstrip(b"=")]


def _reopen(e: Engine, home: Path) -> Engine:
    """Close and open the store again, as the next command in another process would."""
    e.store.close()
    return Engine(TinyStore(home))


def test_the_story_of_the_seeds(tmp_path):
    home = tmp_path / "home"
    e = open_engine(home)
    t0 = e.clock.now()

    # -- set up: vault with purge protection, RSA-3072 key, set, access policy ----------------------------
    e.create_group(RG, REGION)
    e.create_vault("kv-story", RG, enable_purge_protection=True, retention_days=7)
    key, v1 = e.create_key("kv-story", "disk-key", size=3072)
    kid1 = f"{key.id}/{v1['version']}"
    assert key.size == 3072 and crypto.public_from_jwk(v1["n"], v1["e"]).key_size == 3072
    des = e.create_des("des-story", RG, key_url=kid1, source_vault="kv-story")
    e.set_policy("kv-story", des.principal_id, ["get", "wrapKey", "unwrapKey"])

    # -- a premium VM (OS and data disk on the key) and an ultra VM (ultra data disk on the key) ------------
    e.create_vm("vm-premium", RG, size="Standard_DS3_v2", os_disk_name="premium-os",
                os_disk_encryption_set="des-story", data_disk_sizes_gb=[8], data_disk_encryption_sets=["des-story"])
    e.create_vm("vm-ultra", RG, size="Standard_D4s_v3", os_disk_name="ultra-os", data_disk_sizes_gb=[8],
                data_disk_encryption_sets=["des-story"], storage_sku=["os=Premium_LRS", "0=UltraSSD_LRS"],
                ultra_ssd_enabled=True)
    e.vm_write("vm-premium", 0, 0, PREMIUM_DATA)
    e.vm_write("vm-premium", "os", 3 * 4096 + 17, PREMIUM_OS)
    e.vm_write("vm-ultra", 0, 1 << 20, ULTRA_DATA)
    e = _reopen(e, home)
    cmk = sorted(e.des_resources(e.get_des("des-story")), key=lambda d: d.name)
    assert [d.sku for d in cmk].count("UltraSSD_LRS") == 1 and len(cmk) == 3

    def reads_intact(eng: Engine) -> None:
        assert eng.vm_read("vm-premium", 0, 0, len(PREMIUM_DATA)) == PREMIUM_DATA
        assert eng.vm_read("vm-premium", "os", 3 * 4096 + 17, len(PREMIUM_OS)) == PREMIUM_OS
        assert eng.vm_read("vm-ultra", 0, 1 << 20, len(ULTRA_DATA)) == ULTRA_DATA

    reads_intact(e)

    # -- rotate: new version, the set moves to it; data and VMs untouched, only the wrapped keys change ---------
    blobs_before = _blob_bytes(e, cmk)
    wrapped_before = {d.name: d.layers[0]["wrapped"] for d in cmk}
    vms_before = {vm.name: (vm.power, vm.status) for vm in e.list_vms()}
    _, v2 = e.rotate_key("kv-story", "disk-key")
    kid2 = f"{key.id}/{v2['version']}"
    impact = e.what_if("update_des", "des-story", key_url=kid2)
    assert sorted(impact.rewrapped) == sorted(d.id for d in cmk) and not impact.destructive
    e.update_des("des-story", key_url=kid2)
    e = _reopen(e, home)
    cmk = sorted(e.des_resources(e.get_des("des-story")), key=lambda d: d.name)
    assert {d.layers[0]["kid"] for d in cmk} == {kid2}
    assert all(d.layers[0]["wrapped"] != wrapped_before[d.name] for d in cmk)
    assert _blob_bytes(e, cmk) == blobs_before  # not one byte of data ciphertext changed
    assert {vm.name: (vm.power, vm.status) for vm in e.list_vms()} == vms_before
    assert e.get_des("des-story").last_key_rotation is not None
    reads_intact(e)

    # -- disable: the premium VM stops with the reason; the ultra VM runs on and still reads ------------------
    impact = e.what_if("set_key_attributes", "kv-story", "disk-key", enabled=False)
    assert impact.vms_stopping == ["vm-premium"] and impact.vms_at_risk == ["vm-ultra"]
    e.advance_clock("1h")
    e.set_key_attributes("kv-story", "disk-key", enabled=False)
    e = _reopen(e, home)
    prem, ultra = e.get_vm("vm-premium"), e.get_vm("vm-ultra")
    when = (t0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert prem.power == "stopped"
    assert prem.status["message"].startswith(f"stopped: key {kid2} disabled at {when}")
    assert ultra.power == "running" and "will not start after deallocation" in ultra.status["message"]
    assert e.vm_read("vm-ultra", 0, 1 << 20, len(ULTRA_DATA)) == ULTRA_DATA
    assert _refused(e.vm_read, "vm-premium", 0, 0, 4).code == "OperationNotAllowed"

    # -- deallocate the ultra VM: it cannot start again ---------------------------------------------------------
    e.deallocate_vm("vm-ultra")
    assert _refused(e.start_vm, "vm-ultra").code == "KeyVaultKeyNotEnabled"
    assert _refused(e.start_vm, "vm-premium").code == "KeyVaultKeyNotEnabled"

    # -- enable: nothing starts by itself; both start; data intact ------------------------------------------------
    e.set_key_attributes("kv-story", "disk-key", enabled=True)
    assert e.get_vm("vm-premium").power == "stopped" and e.get_vm("vm-ultra").power == "deallocated"
    e.start_vm("vm-premium")
    e.start_vm("vm-ultra")
    e = _reopen(e, home)
    reads_intact(e)

    # -- revoke the policy: the same as disabling --------------------------------------------------------------
    e.delete_policy("kv-story", des.principal_id)
    prem, ultra = e.get_vm("vm-premium"), e.get_vm("vm-ultra")
    assert prem.power == "stopped" and f"key {kid2} access revoked" in prem.status["message"]
    assert ultra.power == "running"
    assert e.vm_read("vm-ultra", 0, 1 << 20, len(ULTRA_DATA)) == ULTRA_DATA
    e.deallocate_vm("vm-ultra")
    assert _refused(e.start_vm, "vm-ultra").code == "KeyVaultAccessForbidden"
    e.set_policy("kv-story", des.principal_id, ["get", "wrapKey", "unwrapKey"])
    e.start_vm("vm-premium")
    e.start_vm("vm-ultra")
    reads_intact(e)

    # -- delete the key, and purge it after the retention period ------------------------------------------------
    keys = e.t["keys"][key.id.lower()]
    secrets = []  # what must never be at rest: the private numbers of both versions
    root = (home / "root.key").read_bytes()
    for ver in keys.versions:
        kid = f"{key.id}/{ver['version']}"
        nums = crypto.private_from_der(crypto.Sealer(root).unseal_text(ver["sealed"], kid.encode())).private_numbers()
        assert nums.public_numbers.n.bit_length() == 3072
        for n in (nums.d, nums.p, nums.q):
            secrets += _renderings(n)
    sealed = [ver["sealed"].encode() for ver in keys.versions]
    e.delete_key("kv-story", "disk-key")
    assert e.get_vm("vm-premium").power == "stopped" and e.get_vm("vm-ultra").power == "running"
    err = _refused(e.purge_key, "kv-story", "disk-key")
    assert err.code == "Forbidden" and err.inner_code == "PurgeProtectionEnabled"
    impact = e.what_if("advance_clock", "8d")
    assert sorted(impact.lost_forever) == sorted(d.name for d in cmk)
    ran = e.advance_clock("8d")
    assert any(j["job"].startswith("purge deleted key") for j in ran)
    e = _reopen(e, home)

    # -- the data is gone for good, with a clear error --------------------------------------------------------
    err = _refused(e.start_vm, "vm-premium")
    assert err.code == "KeyVaultKeyNotFound" and "purged" in err.message and "gone for good" in err.message
    cmk = sorted(e.des_resources(e.get_des("des-story")), key=lambda d: d.name)
    for d in cmk:
        err = _refused(e.read_resource, "disk", d.name, 0, 16)
        assert err.code == "KeyVaultKeyNotFound" and "gone for good" in err.message
        assert d.cache is None
    assert _refused(e.vm_read, "vm-ultra", 0, 1 << 20, 8).code == "KeyVaultKeyNotFound"
    assert _refused(e.recover_key, "kv-story", "disk-key").code == "KeyNotFound"
    assert any("no sealed copy of the data keys remains" in line for line in e.why(e.get_disk("premium-os").id))

    # -- and nothing at rest holds a plaintext, a private key or its numbers ---------------------------------
    files = sorted((home / "db").iterdir()) + sorted((home / "blobs").iterdir())
    assert len(files) >= 4
    for path in files:
        data = path.read_bytes()
        assert b"PRIVATE KEY" not in data, path
        for text in PLAINTEXTS:
            assert text not in data and text[:24] not in data, path
        for s in secrets:
            assert s not in data, path
        for s in sealed:
            assert s not in data, path  # crypto-shredded: not even the sealed form is left
    e.store.close()
