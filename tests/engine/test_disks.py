"""Disks, snapshots and images: K1-K10 of docs/behaviours.md, positive and negative, every refusal by its code."""

from __future__ import annotations

import os

import pytest

from engine import crypto
from engine.errors import CryptoError
from engine.rules import ENC_CUSTOMER, ENC_DOUBLE, ENC_PLATFORM

PLAIN = b"The quick brown fox jumps over the lazy dog. " * 3


def _keys(e, r) -> list[bytes]:
    """Open a resource's layers with the private keys (customer version or platform), outermost first."""
    out = []
    for layer in r.layers:
        kid = layer["kid"]
        private = e._platform_private(kid) if kid.startswith("platform:") else e._private(kid)
        out.append(crypto.unwrap_key(private, e.unb64(layer["wrapped"])))
    return out


# ============================================================================================ K1 platform default


def test_K1_disks_snapshots_images_use_the_platform_key_by_default(e, kit):
    e.create_group(kit.RG, kit.REGION)
    d = e.create_disk("d1", kit.RG, size_gb=4)
    s = e.create_snapshot("s1", kit.RG, source="d1")
    vm = e.create_vm("vm1", kit.RG, os_disk_name="vm1-os")
    i = e.create_image("i1", kit.RG, source="vm1")
    for r in (d, s, i, e.get_disk("vm1-os")):
        assert r.encryption_type == ENC_PLATFORM and r.des_id is None
        assert [(x["mode"], x["kid"]) for x in r.layers] == [("AES-256-GCM", "platform:eastus")]
    assert vm.power == "running"


def test_K1_platform_encrypted_data_is_ciphertext_at_rest(e, kit):
    e.create_group(kit.RG, kit.REGION)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os", data_disk_sizes_gb=[4])
    e.vm_write("vm1", 0, 0, PLAIN)
    d = e.get_disk(e.get_vm("vm1").data_disks[0]["diskId"].rsplit("/", 1)[1])
    raw = e.store.blobs.raw(d.unique_id)
    assert raw and PLAIN[:16] not in raw
    assert e.vm_read("vm1", 0, 0, len(PLAIN)) == PLAIN


def test_K1_platform_key_is_one_per_region_and_sealed(e, kit):
    e.create_group(kit.RG, kit.REGION)
    e.create_disk("a", kit.RG, size_gb=4)
    e.create_disk("b", kit.RG, size_gb=4, location="westus2")
    e.create_disk("c", kit.RG, size_gb=4)
    assert sorted(e.t["platform_keys"]) == ["platform:eastus", "platform:westus2"]
    pk = e.t["platform_keys"]["platform:eastus"]
    assert "PRIVATE" not in pk.sealed
    raw = crypto.Sealer(_root(e)).unseal_text(pk.sealed, b"platform:eastus")
    assert crypto.private_from_der(raw).key_size == 2048


def _root(e):
    import hashlib
    return hashlib.sha256(f"cmklab-seeded-root:{e.meta.seed}".encode()).digest()


def test_K1_unknown_encryption_type_is_refused(e, kit):
    e.create_group(kit.RG, kit.REGION)
    err = kit.refused(e.create_disk, "d1", kit.RG, size_gb=4, encryption_type="EncryptionWithMagic")
    assert err.code == "InvalidParameter" and ENC_PLATFORM in err.message


# ============================================================================================ K2 envelope


def test_K2_each_disk_has_its_own_random_data_key_wrapped_by_the_sets_key(e, kit):
    kid, des = kit.basic(e)
    a = e.create_disk("a", kit.RG, size_gb=4, disk_encryption_set="des1")
    b = e.create_disk("b", kit.RG, size_gb=4, disk_encryption_set="des1")
    assert a.layers[0]["kid"] == b.layers[0]["kid"] == kid
    assert a.layers[0]["wrapped"] != b.layers[0]["wrapped"]
    (ka,), (kb,) = _keys(e, a), _keys(e, b)
    assert len(ka) == len(kb) == 32 and ka != kb
    assert len(e.unb64(a.layers[0]["wrapped"])) == 256  # RSA-2048 OAEP output: only the wrapped form is kept


def test_K2_disk_data_is_encrypted_with_the_data_key(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    e.vm_write("vm1", 0, 8192, PLAIN)
    d = e.get_disk(e.get_vm("vm1").data_disks[0]["diskId"].rsplit("/", 1)[1])
    raw = e.store.blobs.raw(d.unique_id)
    assert PLAIN[:16] not in raw
    (dek,) = _keys(e, d)
    rec = raw[2 * crypto.RECORD_SIZE:3 * crypto.RECORD_SIZE]
    block = crypto.BlockCipher(dek, d.unique_id.encode()).decrypt_blocks(2, rec)
    assert block[:len(PLAIN)] == PLAIN
    other = crypto.new_data_key()
    with pytest.raises(CryptoError):
        crypto.BlockCipher(other, d.unique_id.encode()).decrypt_blocks(2, rec)


def test_K2_reads_and_writes_at_any_offset(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    e.vm_write("vm1", 0, 4090, b"across a block boundary")
    e.vm_write("vm1", 0, 5, b"head")
    assert e.vm_read("vm1", 0, 4090, 23) == b"across a block boundary"
    assert e.vm_read("vm1", 0, 0, 12) == b"\0" * 5 + b"head\0\0\0"
    assert e.vm_read("vm1", 0, 1 << 20, 4) == b"\0" * 4  # never written: zeros
    assert kit.refused(e.vm_read, "vm1", 0, 4 * 1024**3 - 2, 4).code == "InvalidParameter"
    assert kit.refused(e.vm_read, "vm1", 0, -1, 4).code == "InvalidParameter"
    assert kit.refused(e.vm_read, "vm1", 7, 0, 4).code == "ResourceNotFound"


@pytest.mark.parametrize("encryption", [ENC_CUSTOMER, ENC_DOUBLE])
def test_K2_a_big_write_streams_through_one_chunk_buffer_and_reads_back(e, kit, encryption):
    """A write of several MiB is encrypted a chunk at a time into one buffer that the blob store writes before
    the next chunk is encrypted; an unaligned write keeps its neighbours, and unwritten blocks read as zeros."""
    kit.vault(e)
    kit.des(e, "set", kit.key(e), encryption_type=encryption)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os", os_disk_encryption_set="set")
    blob = e.get_disk("vm1-os").unique_id
    blobs = e.store.blobs
    seen = []
    real = blobs.writev

    def recording(blob_id, offset, parts):
        def drawn():
            for part in parts:
                seen.append((memoryview(part).nbytes, id(memoryview(part).obj)))
                yield part
        real(blob_id, offset, drawn())

    blobs.writev = recording
    data = os.urandom(3 * (1 << 20) + 1000)
    e.vm_write("vm1", "os", 8192 + 7, data)
    assert len(seen) == 4 and len({buf for _, buf in seen}) == 1  # four chunks, one buffer
    assert max(size for size, _ in seen) == 256 * crypto.RECORD_SIZE  # 1 MiB of blocks per chunk
    assert e.vm_read("vm1", "os", 8192 + 7, len(data)) == data
    assert e.vm_read("vm1", "os", 0, 8192 + 7) == bytes(8192 + 7)
    e.vm_write("vm1", "os", 8192 + 5, b"xyz")
    assert e.vm_read("vm1", "os", 8192 + 4, 6 + 10) == b"\0xyz" + data[1:13]
    assert blobs.raw(blob)[:2 * crypto.RECORD_SIZE] == bytes(2 * crypto.RECORD_SIZE)  # still a hole


@pytest.mark.parametrize("encryption", [ENC_CUSTOMER, ENC_DOUBLE])
def test_K2_a_big_read_from_files_decrypts_the_records_in_place_and_past_the_file_end_reads_zeros(
        e, kit, encryption, tmp_path):
    """On the file store a big read decrypts the records from a memory map of the blob (no copy of them; the
    portable path reads them a chunk at a time); blocks past the end of the file read as zeros, and a record
    altered on disk is caught by its tag as on any read."""
    from store import FileBlobStore, _compat

    e.store.blobs = blobs = FileBlobStore(tmp_path / "blobs")
    kit.vault(e)
    kit.des(e, "set", kit.key(e), encryption_type=encryption)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os", os_disk_encryption_set="set")
    data = os.urandom(2 * (1 << 20) + 3)
    e.vm_write("vm1", "os", 3 * 4096 + 5, data)  # the file ends with the block holding the last byte
    mapped, views = [], []
    real = blobs.map

    def spy(*args):
        view = real(*args)
        mapped.append(None if view is None else len(view))
        views.append(view)
        return view

    blobs.map = spy
    length = 4 << 20  # twice what the file holds
    assert e.vm_read("vm1", "os", 4096 + 1, length) == \
        bytes(2 * 4096 + 4) + data + bytes(length - 2 * 4096 - 4 - len(data))
    assert len(mapped) == 1 and (mapped[0] is not None) == _compat.maps()
    if mapped[0] is not None:  # only the records inside the file were mapped, and unmapped after the read
        blocks = -(-(3 * 4096 + 5 + len(data)) // 4096) - 1
        assert mapped[0] == blocks * crypto.RECORD_SIZE
        with pytest.raises(ValueError, match="released"):
            len(views[0])
    path = blobs.filename(e.get_disk("vm1-os").unique_id)
    with open(path, "r+b") as f:  # one bit of one record in the middle of the range
        f.seek(300 * crypto.RECORD_SIZE + 100)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(CryptoError, match="block 300 failed its integrity check"):
        e.vm_read("vm1", "os", 0, length)


def test_K2_a_big_read_faults_in_the_output_of_written_chunks_only(e, kit, monkeypatch):
    """Each chunk of output whose first record was written is faulted in with one call before it is
    decrypted into; a chunk of never-written blocks reads as zeros and its pages stay untouched."""
    kit.basic(e)
    kit.vm(e, "vm1")
    data = os.urandom(1 << 20)
    e.vm_write("vm1", 0, 2 << 20, data)  # the third MiB of the disk
    prefaulted = []
    monkeypatch.setattr(crypto, "prefault", lambda view: prefaulted.append(memoryview(view).nbytes))
    assert e.vm_read("vm1", 0, 0, 4 << 20) == bytes(2 << 20) + data + bytes(1 << 20)
    assert prefaulted == [1 << 20]


# ============================================================================================ K3 double encryption


def test_K3_double_encryption_has_two_real_layers_with_different_keys_and_modes(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    kit.des(e, "dbl", kid, encryption_type=ENC_DOUBLE)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os", os_disk_encryption_set="dbl")
    d = e.get_disk("vm1-os")
    assert d.encryption_type == ENC_DOUBLE
    assert [(x["mode"], x["kid"]) for x in d.layers] == [("AES-256-GCM", kid), ("AES-256-XTS", "platform:eastus")]
    outer, inner = _keys(e, d)
    assert len(outer) == 32 and len(inner) == 64 and inner[:32] != outer
    e.vm_write("vm1", "os", 0, PLAIN)
    raw = e.store.blobs.raw(d.unique_id)[:crypto.RECORD_SIZE]
    assert PLAIN[:16] not in raw
    # peel the customer layer: what is inside is still ciphertext (the platform layer)
    middle = crypto.BlockCipher(outer, d.unique_id.encode()).decrypt_blocks(0, raw)
    assert PLAIN[:16] not in middle
    assert crypto.XtsLayer(inner).decrypt_sectors(0, middle)[:len(PLAIN)] == PLAIN
    assert e.vm_read("vm1", "os", 0, len(PLAIN)) == PLAIN


def test_K3_double_encryption_only_where_offered(e, kit):
    kit.vault(e, "kvw", location="westus")
    kid = kit.key(e, "kvw", "k1")
    err = kit.refused(e.create_des, "dbl", kit.RG, key_url=kid, location="westus", encryption_type=ENC_DOUBLE)
    assert err.code == "InvalidParameter" and "not offered in westus" in err.message
    assert e.create_des("cmk", kit.RG, key_url=kid, location="westus").encryption_type == ENC_CUSTOMER


def test_K3_encrypting_a_platform_disk_with_a_double_set_adds_the_inner_layer(e, kit):
    kit.vault(e)
    kit.des(e, "dbl", kit.key(e), encryption_type=ENC_DOUBLE)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os", data_disk_sizes_gb=[4])
    e.vm_write("vm1", 0, 100, PLAIN)
    name = e.get_vm("vm1").data_disks[0]["diskId"].rsplit("/", 1)[1]
    e.deallocate_vm("vm1")
    d = e.update_disk(name, disk_encryption_set="dbl")
    assert d.encryption_type == ENC_DOUBLE and len(d.layers) == 2
    e.start_vm("vm1")
    assert e.vm_read("vm1", 0, 100, len(PLAIN)) == PLAIN


# ============================================================================================ K4 no way back


def test_K4_customer_key_disk_cannot_go_back_to_platform_keys(e, kit):
    kit.basic(e)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    err = kit.refused(e.update_disk, "d1", encryption_type=ENC_PLATFORM)
    assert err.code == "OperationNotAllowed" and "K4" in err.message
    assert e.get_disk("d1").encryption_type == ENC_CUSTOMER


def test_K4_customer_key_disk_cannot_switch_to_double_either(e, kit):
    kid, _ = kit.basic(e)
    kit.des(e, "dbl", kid, encryption_type=ENC_DOUBLE)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    assert kit.refused(e.update_disk, "d1", disk_encryption_set="dbl").code == "OperationNotAllowed"


def test_K4_platform_disk_can_move_to_another_set_of_the_same_type(e, kit):
    kid, _ = kit.basic(e)
    kit.des(e, "des2", kit.key(e, "kv1", "k2"))
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    d = e.update_disk("d1", disk_encryption_set="des2")
    assert d.des_id == e.get_des("des2").id and d.encryption_type == ENC_CUSTOMER


# ============================================================================================ K5 when to encrypt


def test_K5_unattached_disk_can_switch_to_customer_keys_and_keeps_its_data(e, kit):
    kit.basic(e)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os", data_disk_sizes_gb=[4])
    e.vm_write("vm1", 0, 0, PLAIN)
    name = e.get_vm("vm1").data_disks[0]["diskId"].rsplit("/", 1)[1]
    e.detach_disk("vm1", name)
    d = e.update_disk(name, disk_encryption_set="des1")
    assert d.encryption_type == ENC_CUSTOMER and d.layers[0]["kid"] == e.get_des("des1").key_url
    assert e.read_resource("disk", name, 0, len(PLAIN)) == PLAIN


@pytest.mark.parametrize("power", ["running", "stopped"])
def test_K5_disk_of_an_allocated_vm_cannot_switch(e, kit, power):
    kit.basic(e)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os")
    if power == "stopped":
        e.stop_vm("vm1")
    err = kit.refused(e.update_disk, "vm1-os", disk_encryption_set="des1")
    assert err.code == "OperationNotAllowed" and "deallocate" in err.message
    assert e.get_disk("vm1-os").encryption_type == ENC_PLATFORM
    # the attempt stays on record although the update rolled back (a workshop checks that it was tried)
    [refused] = e.list_events(where=lambda ev: ev.type == "DiskEncryptionRefused")
    assert refused.data["disk"] == e.get_disk("vm1-os").id and refused.severity == "warning"
    assert refused.summary.startswith("disk vm1-os cannot change its encryption: disk 'vm1-os' is attached to VM")


def test_K5_disk_of_a_deallocated_vm_can_switch(e, kit):
    kit.basic(e)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os")
    e.vm_write("vm1", "os", 0, PLAIN)
    e.deallocate_vm("vm1")
    assert e.update_disk("vm1-os", disk_encryption_set="des1").encryption_type == ENC_CUSTOMER
    e.start_vm("vm1")
    assert e.vm_read("vm1", "os", 0, len(PLAIN)) == PLAIN
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert e.get_vm("vm1").power == "stopped"  # it really depends on the customer key now


# ============================================================================================ K6 copies keep the key


def test_K6_snapshot_of_a_customer_key_disk_uses_the_same_set(e, kit):
    kid, des = kit.basic(e)
    kit.vm(e, "vm1")
    e.vm_write("vm1", "os", 0, PLAIN)
    s = e.create_snapshot("s1", kit.RG, source="vm1-os")
    assert s.des_id == des.id and s.encryption_type == ENC_CUSTOMER and s.layers[0]["kid"] == kid
    assert s.create_option == "Copy" and s.source_resource_id == e.get_disk("vm1-os").id
    assert _keys(e, s) != _keys(e, e.get_disk("vm1-os"))  # a copy gets its own data key
    assert e.read_resource("snapshot", "s1", 0, len(PLAIN)) == PLAIN


def test_K6_snapshot_with_a_set_of_another_key_is_refused(e, kit):
    kit.basic(e)
    kit.des(e, "des2", kit.key(e, "kv1", "k2"))
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    err = kit.refused(e.create_snapshot, "s1", kit.RG, source="d1", disk_encryption_set="des2")
    assert err.code == "InvalidParameter" and "same customer-managed key" in err.message
    assert e.list_snapshots() == []


def test_K6_snapshot_with_another_set_of_the_same_key_is_accepted(e, kit):
    kid, _ = kit.basic(e)
    kit.des(e, "des2", kid)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    assert e.create_snapshot("s1", kit.RG, source="d1", disk_encryption_set="des2").des_id == e.get_des("des2").id


def test_K6_disk_from_a_customer_key_image_uses_the_same_key(e, kit):
    kid, des = kit.basic(e)
    kit.vm(e, "vm1", data=0)
    e.vm_write("vm1", "os", 0, PLAIN)
    img = e.create_image("img1", kit.RG, source="vm1")
    assert img.des_id == des.id and img.layers[0]["kid"] == kid
    vm2 = e.create_vm("vm2", kit.RG, image="img1", os_disk_name="vm2-os")
    d = e.get_disk("vm2-os")
    assert d.des_id == des.id and d.create_option == "FromImage" and vm2.power == "running"
    assert e.vm_read("vm2", "os", 0, len(PLAIN)) == PLAIN
    kit.des(e, "des2", kit.key(e, "kv1", "k2"))
    err = kit.refused(e.create_disk, "d3", kit.RG, source="img1", disk_encryption_set="des2")
    assert err.code == "InvalidParameter" and "K6" in err.message


def test_K6_source_in_another_subscription_is_refused(e, kit):
    kit.basic(e)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    foreign = e.get_disk("d1").id.replace(e.subscription_id, "00000000-0000-4000-8000-000000000000")
    err = kit.refused(e.create_disk, "d2", kit.RG, source=foreign)
    assert err.code == "InvalidParameter" and "subscription" in err.message


def test_K6_platform_copies_stay_platform_and_a_copy_can_add_a_set(e, kit):
    kit.basic(e)
    e.create_disk("d1", kit.RG, size_gb=4)
    assert e.create_snapshot("s1", kit.RG, source="d1").encryption_type == ENC_PLATFORM
    assert e.create_disk("d2", kit.RG, source="s1", disk_encryption_set="des1").encryption_type == ENC_CUSTOMER


def test_K6_copy_of_an_unreadable_source_is_refused(e, kit):
    kit.basic(e)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    e.set_key_attributes("kv1", "k1", enabled=False)
    err = kit.refused(e.create_snapshot, "s1", kit.RG, source="d1")
    assert err.code == "KeyVaultKeyNotEnabled"


# ============================================================================================ K7 no subscription move


@pytest.mark.parametrize("kind", ["disk", "snapshot", "image"])
def test_K7_customer_key_resources_cannot_move_subscription(e, kit, kind):
    kit.basic(e)
    kit.vm(e, "vm1", data=0)
    if kind == "disk":
        r = e.get_disk("vm1-os")
    elif kind == "snapshot":
        r = e.create_snapshot("s1", kit.RG, source="vm1-os")
    else:
        r = e.create_image("i1", kit.RG, source="vm1")
    err = kit.refused(e.move_resource, r.id, "00000000-0000-4000-8000-000000000000")
    assert err.code == "OperationNotAllowed" and "K7" in err.message


def test_K7_platform_key_resources_are_not_refused_for_their_key(e, kit):
    e.create_group(kit.RG, kit.REGION)
    d = e.create_disk("d1", kit.RG, size_gb=4)
    err = kit.refused(e.move_resource, d.id, "00000000-0000-4000-8000-000000000000")
    assert "K7" not in err.message and "customer-managed" not in err.message


# ============================================================================================ K8 ADE excludes CMK


def test_K8_ade_on_a_vm_with_customer_key_disks_is_refused(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    err = kit.refused(e.enable_disk_encryption_ade, "vm1")
    assert err.code == "OperationNotAllowed" and "K8" in err.message
    assert not e.get_vm("vm1").ade_enabled


def test_ade_takes_a_vault_of_the_vms_subscription_and_region(e, kit):
    kit.basic(e)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os")
    vault = e.list_vaults()[0]
    other = vault.id.replace(e.subscription_id, "00000000-0000-0000-0000-000000000000")
    assert kit.refused(e.enable_disk_encryption_ade, "vm1", disk_encryption_keyvault=other).code == "InvalidParameter"
    assert kit.refused(e.enable_disk_encryption_ade, "vm1", disk_encryption_keyvault="kv-none").code == \
        "ResourceNotFound"
    assert not e.get_vm("vm1").ade_enabled
    assert e.enable_disk_encryption_ade("vm1", disk_encryption_keyvault=vault.id).ade_enabled


def test_K8_customer_keys_on_an_ade_disk_are_refused(e, kit):
    kit.basic(e)
    e.create_vm("vm1", kit.RG, os_disk_name="vm1-os")
    vm = e.enable_disk_encryption_ade("vm1")
    assert vm.ade_enabled and e.get_disk("vm1-os").ade_enabled
    e.deallocate_vm("vm1")
    err = kit.refused(e.update_disk, "vm1-os", disk_encryption_set="des1")
    assert err.code == "OperationNotAllowed" and "Azure Disk Encryption" in err.message
    assert e.get_disk("vm1-os").encryption_type == ENC_PLATFORM


# ============================================================================================ K9 SKUs, temp disk


@pytest.mark.parametrize("sku", ["Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "UltraSSD_LRS"])
def test_K9_disk_skus(e, kit, sku):
    kit.basic(e)
    d = e.create_disk("d1", kit.RG, size_gb=4, sku=sku, disk_encryption_set="des1")
    assert d.sku == sku and d.is_ultra == (sku == "UltraSSD_LRS")


@pytest.mark.parametrize("sku", ["Premium_ZRS", "PremiumV2_LRS", "ssd"])
def test_K9_other_skus_are_refused(e, kit, sku):
    e.create_group(kit.RG, kit.REGION)
    err = kit.refused(e.create_disk, "d1", kit.RG, size_gb=4, sku=sku)
    assert err.code == "InvalidParameter" and "UltraSSD_LRS" in err.message


@pytest.mark.parametrize("sku,size,ok", [("Premium_LRS", 32767, True), ("Premium_LRS", 32768, False),
                                         ("UltraSSD_LRS", 65536, True), ("Standard_LRS", 0, False)])
def test_K9_disk_sizes(e, kit, sku, size, ok):
    e.create_group(kit.RG, kit.REGION)
    if ok:
        assert e.create_disk("d1", kit.RG, size_gb=size, sku=sku).size_gb == size
    else:
        assert kit.refused(e.create_disk, "d1", kit.RG, size_gb=size, sku=sku).code == "InvalidParameter"


def test_K9_a_vm_has_no_managed_temp_disk(e, kit):
    kit.basic(e)
    vm = kit.vm(e, "vm1", data=2)
    assert len(e.list_disks()) == 3 == len(vm.disk_ids())  # OS and data disks only: the temp disk is no resource
    assert {d.encryption_type for d in e.list_disks()} == {ENC_CUSTOMER}


# ============================================================================================ K10 diskState


def test_K10_disk_state_follows_the_vm(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1", data=0)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    d = e.get_disk("d1")
    assert e.disk_state(d) == "Unattached"
    e.attach_disk("vm1", "d1", lun=3)
    assert e.disk_state(d) == "Attached"
    e.stop_vm("vm1")
    assert e.disk_state(d) == "Attached"
    e.deallocate_vm("vm1")
    assert e.disk_state(d) == "Reserved"
    e.start_vm("vm1")
    assert e.disk_state(d) == "Attached"
    e.detach_disk("vm1", "d1")
    assert e.disk_state(d) == "Unattached"
    e.delete_vm("vm1")
    assert e.disk_state(e.get_disk("vm1-os")) == "Unattached"


def test_K10_attached_disk_cannot_be_deleted(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1", data=0)
    err = kit.refused(e.delete_disk, "vm1-os")
    assert err.code == "OperationNotAllowed"
    e.delete_vm("vm1")
    e.delete_disk("vm1-os")
    assert e.list_disks() == []


# ============================================================================================ events by kind


def test_snapshots_and_images_have_their_own_created_and_deleted_events(e, kit):
    """A snapshot or an image is not logged as a disk: its events are SnapshotCreated, ImageCreated,
    SnapshotDeleted and ImageDeleted, naming the resource in a field of its own kind."""
    e.create_group(kit.RG, kit.REGION)
    d = e.create_disk("d1", kit.RG, size_gb=4)
    s = e.create_snapshot("s1", kit.RG, source="d1")
    i = e.create_image("i1", kit.RG, source="s1", os_type="Linux")
    e.delete_image("i1", kit.RG)
    e.delete_snapshot("s1", kit.RG)
    seen = [(x.type, {k: v for k, v in x.data.items() if k != "origin"})
            for x in e.list_events(where=lambda ev: ev.type.endswith(("Created", "Deleted"))
                                   and ev.type != "ResourceGroupCreated")]
    assert seen == [("DiskCreated", {"disk": d.id}), ("SnapshotCreated", {"snapshot": s.id}),
                    ("ImageCreated", {"image": i.id}), ("ImageDeleted", {"image": i.id}),
                    ("SnapshotDeleted", {"snapshot": s.id})]


# ============================================================================================ empty disks need a size


def test_an_empty_disk_or_snapshot_without_a_size_is_refused_as_arm_refuses_it(e, kit):
    """ARM's PUT of a disk or snapshot with createOption Empty and no diskSizeGB is refused (InvalidParameter);
    nothing is made. With a size, an empty snapshot is made; a copy takes its source's size."""
    from engine.errors import BadRequest

    e.create_group(kit.RG, kit.REGION)
    for make in (lambda: e.create_disk("d0", kit.RG), lambda: e.create_snapshot("s0", kit.RG, None)):
        with pytest.raises(BadRequest) as err:
            make()
        assert err.value.code == "InvalidParameter" and "diskSizeGB" in err.value.message
    assert e.list_disks(kit.RG) == [] and e.list_snapshots(kit.RG) == []
    assert e.create_snapshot("s1", kit.RG, None, size_gb=3).size_gb == 3
    assert e.create_disk("d1", kit.RG, source="s1").size_gb == 3


# ============================================================================================ K11 image generation


def test_K11_an_image_of_a_vm_asked_for_another_generation_is_refused_and_nothing_is_created(e, kit):
    """Azure refuses an image whose Hyper-V generation is not its source VM's (``InvalidParameter``, in the words
    users of ``az image create`` report); az asks for V1 unless told, so a Gen2 VM needs V2 said."""
    e.create_group(kit.RG, kit.REGION)
    e.create_vm("vm2", kit.RG, image="Ubuntu2204")  # Gen2
    e.create_vm("vm1", kit.RG, image="Win2012R2Datacenter")  # Gen1
    before = kit.persisted(e)
    err = kit.refused(e.create_image, "i1", kit.RG, source="vm2", hyper_v_generation="V1")
    assert err.code == "InvalidParameter" and err.message == (
        "The Input HyperVGeneration property: 'V1' does not match with the HyperVGeneration property: 'Gen2' "
        "belonging to source: 'sourceVirtualMachine'.")
    err = kit.refused(e.create_image, "i1", kit.RG, source=e.get_vm("vm1").id, hyper_v_generation="v2")
    assert err.code == "InvalidParameter" and "'V2' does not match" in err.message and "'Gen1'" in err.message
    assert kit.persisted(e) == before and e.list_images() == []
    assert e.create_image("i2", kit.RG, source="vm2", hyper_v_generation="V2").hyper_v_generation == "V2"
    assert e.create_image("i1", kit.RG, source="vm1", hyper_v_generation="V1").hyper_v_generation == "V1"
    assert e.create_image("i3", kit.RG, source="vm2").hyper_v_generation == "V2"  # a REST call naming none: the VM's
