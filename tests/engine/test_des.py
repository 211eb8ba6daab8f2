"""Disk encryption sets: D1-D8 of docs/behaviours.md, positive and negative, every refusal by its code."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from engine import Engine, crypto
from engine.disks import _rekey_impl
from engine.errors import EngineError
from engine.models import DiskEncryptionSet
from engine.rules import ENC_CUSTOMER, ENC_DOUBLE

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _dek(e, r) -> bytes:
    """The outer data key of a disk/snapshot/image, opened with the private key of the version that wrapped it."""
    return crypto.unwrap_key(e._private(r.layers[0]["kid"]), e.unb64(r.layers[0]["wrapped"]))


def _landscape(e, kit):
    """des1 on k1/v1 with: a running VM (OS + data disk), a spare disk, a snapshot and an image."""
    kid, des = kit.basic(e)
    kit.vm(e, "vm1")
    e.vm_write("vm1", 0, 0, b"data disk bytes")
    e.vm_write("vm1", "os", 4096, b"os disk bytes")
    e.create_disk("spare", kit.RG, size_gb=4, disk_encryption_set="des1")
    e.create_snapshot("snap1", kit.RG, source=e.get_vm("vm1").data_disks[0]["diskId"])
    e.create_image("img1", kit.RG, source="vm1")
    return kid, des


# ============================================================================================ D1 shape


def test_D1_set_has_a_versioned_key_a_source_vault_a_type_and_a_system_identity(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    des = e.create_des("des1", kit.RG, key_url=kid, source_vault="kv1")
    assert des.key_url == kid
    assert des.source_vault_id == e.get_vault("kv1").id
    assert des.source_vault_id.endswith("/providers/Microsoft.KeyVault/vaults/kv1")
    assert des.id == f"/subscriptions/{e.subscription_id}/resourceGroups/rg/providers/" \
                     "Microsoft.Compute/diskEncryptionSets/des1"
    assert des.encryption_type == ENC_CUSTOMER
    assert GUID.match(des.principal_id) and des.tenant_id == e.meta.tenant_id
    assert (des.rotation_to_latest, des.previous_keys, des.last_key_rotation, des.provisioning_state) == \
        (False, [], None, "Succeeded")


def test_D1_json_has_azures_shape(e, kit, monkeypatch):
    from engine.views import des_view

    old, _ = _landscape(e, kit)
    des = e.get_des("des1")
    doc = des_view(des)
    assert doc["activeKey"] == {"keyUrl": old, "sourceVault": {"id": e.get_vault("kv1").id}}
    assert doc["encryptionType"] == ENC_CUSTOMER and doc["rotationToLatestKeyVersionEnabled"] is False
    assert doc["identity"] == {"principalId": des.principal_id, "tenantId": des.tenant_id, "type": "SystemAssigned"}
    assert doc["previousKeys"] == [] and doc["provisioningState"] == "Succeeded"
    assert "lastKeyRotationTimestamp" not in doc
    assert doc["type"] == "Microsoft.Compute/diskEncryptionSets"
    new = kit.key(e)
    seen = []
    real = type(e)._open_outer_bulk

    def spy(self, todo, des):
        seen.append(des_view(des))
        return real(self, todo, des)

    monkeypatch.setattr(type(e), "_open_outer_bulk", spy)
    e.update_des("des1", key_url=new)
    assert seen[0]["provisioningState"] == "Updating" and seen[0]["previousKeys"][0]["keyUrl"] == old
    after = des_view(e.get_des("des1"))
    assert after["activeKey"]["keyUrl"] == new and after["lastKeyRotationTimestamp"] == e.now()


def test_D1_each_set_gets_its_own_identity(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    a = e.create_des("a", kit.RG, key_url=kid)
    b = e.create_des("b", kit.RG, key_url=kid)
    assert a.principal_id != b.principal_id


def test_D1_double_encryption_type(e, kit):
    kit.vault(e)
    des = e.create_des("dbl", kit.RG, key_url=kit.key(e), encryption_type=ENC_DOUBLE)
    assert des.encryption_type == ENC_DOUBLE


def test_D1_a_set_needs_a_versioned_key_url_unless_it_follows_the_latest(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    versionless = kid.rsplit("/", 1)[0]
    err = kit.refused(e.create_des, "des1", kit.RG, key_url=versionless)
    assert err.code == "InvalidParameter" and "no version" in err.message
    des = e.create_des("des1", kit.RG, key_url=versionless, rotation_to_latest=True)
    assert des.key_url == kid and des.rotation_to_latest


@pytest.mark.parametrize("etype", ["EncryptionAtRestWithPlatformKey", "Whatever"])
def test_D1_other_encryption_types_are_refused(e, kit, etype):
    kit.vault(e)
    err = kit.refused(e.create_des, "des1", kit.RG, key_url=kit.key(e), encryption_type=etype)
    assert err.code == "InvalidParameter"
    assert ENC_CUSTOMER in err.message and ENC_DOUBLE in err.message


def test_D1_set_names_and_duplicates(e, kit):
    kid, _ = kit.basic(e)
    before = e.get_des("des1", kit.RG)
    again = e.create_des("des1", kit.RG, key_url=kid, tags={"t": "1"})  # ARM's PUT on a set that exists: an update
    assert (again.id, again.principal_id, again.tags) == (before.id, before.principal_id, {"t": "1"})
    assert len(e.list_des(kit.RG)) == 1
    assert kit.refused(e.create_des, "des1", kit.RG, key_url=kid, location="westus").code == \
        "InvalidResourceLocation"
    assert kit.refused(e.create_des, "bad name!", kit.RG, key_url=kid).code == "InvalidParameter"
    assert kit.refused(e.create_des, "x" * 81, kit.RG, key_url=kid).code == "InvalidParameter"
    assert kit.refused(e.get_des, "nope").code == "ResourceNotFound"


def test_D1_set_on_a_missing_key_or_version_is_refused(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    base = kid.rsplit("/", 2)[0]
    assert kit.refused(e.create_des, "d", kit.RG, key_url=f"{base}/nope/{'0' * 32}").code == "KeyVaultKeyNotFound"
    assert kit.refused(e.create_des, "d", kit.RG, key_url=f"{base}/k1/{'0' * 32}").code == "KeyVaultKeyNotFound"


def test_D1_associated_resources_query(e, kit):
    _, des = _landscape(e, kit)
    names = sorted(r.name for r in e.des_resources(des))
    assert names == sorted(["vm1-os", e.get_disk(e.get_vm("vm1").data_disks[0]["diskId"].rsplit("/", 1)[1]).name,
                            "spare", "snap1", "img1"])
    e.create_disk("plain", kit.RG, size_gb=4)
    assert "plain" not in {r.name for r in e.des_resources(des)}


# ============================================================================================ D2 access


def test_D2_disks_need_the_identity_to_have_get_wrap_unwrap(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    des = kit.des(e, "des1", kid, grant=False)
    err = kit.refused(e.create_disk, "d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    assert err.code == "KeyVaultAccessForbidden"
    assert kid in err.message and des.principal_id in err.message
    assert e.list_disks() == []
    err = kit.refused(kit.vm, e, "vm1")
    assert err.code == "KeyVaultAccessForbidden"
    assert e.list_vms() == [] and e.list_disks() == []
    kit.grant(e, des)
    assert e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1").encryption_type == ENC_CUSTOMER


def test_D2_encrypting_an_existing_disk_needs_the_grant_too(e, kit):
    kit.vault(e)
    des = kit.des(e, "des1", kit.key(e), grant=False)
    e.create_disk("d1", kit.RG, size_gb=4)
    err = kit.refused(e.update_disk, "d1", disk_encryption_set="des1")
    assert err.code == "KeyVaultAccessForbidden" and des.principal_id in err.message
    assert e.get_disk("d1").encryption_type == "EncryptionAtRestWithPlatformKey"
    kit.grant(e, des)
    assert e.update_disk("d1", disk_encryption_set="des1").encryption_type == ENC_CUSTOMER


# ============================================================================================ D3 rotation


def test_D3_changing_the_key_version_rewraps_everything_and_changes_nothing_else(e, kit):
    old, des = _landscape(e, kit)
    resources = e.des_resources(des)
    assert len(resources) == 5
    deks = {r.id: _dek(e, r) for r in resources}
    wrapped = {r.id: r.layers[0]["wrapped"] for r in resources}
    blobs = {r.id: e.store.blobs.raw(r.unique_id) for r in resources}
    vm_before = e.get_vm("vm1").to_doc()
    new = kit.key(e)  # a new version of k1
    e.update_des("des1", key_url=new)
    des = e.get_des("des1")
    assert des.key_url == new and des.previous_keys == [] and des.provisioning_state == "Succeeded"
    assert des.last_key_rotation == e.now()
    for r in e.des_resources(des):
        assert r.layers[0]["kid"] == new
        assert r.layers[0]["wrapped"] != wrapped[r.id]
        assert _dek(e, r) == deks[r.id]  # the data key itself never changes
        assert e.store.blobs.raw(r.unique_id) == blobs[r.id]  # nor does a byte of ciphertext
        # and the new version alone opens it now
        with pytest.raises(EngineError):
            crypto.unwrap_key(e._private(old), e.unb64(r.layers[0]["wrapped"]))
    vm_after = e.get_vm("vm1").to_doc()
    assert vm_after["power"] == "running" and vm_after["status"] is None
    assert {k: v for k, v in vm_after.items() if k != "host_cache"} == \
        {k: v for k, v in vm_before.items() if k != "host_cache"}
    assert e.vm_read("vm1", 0, 0, 15) == b"data disk bytes"
    assert e.read_resource("snapshot", "snap1", 0, 15) == b"data disk bytes"
    assert e.read_resource("image", "img1", 4096, 13) == b"os disk bytes"
    e.deallocate_vm("vm1")
    e.start_vm("vm1")  # starts on the new version
    assert e.vm_read("vm1", "os", 4096, 13) == b"os disk bytes"


def test_D3_changing_to_another_key_rewraps_too(e, kit):
    _, des = _landscape(e, kit)
    other = kit.key(e, "kv1", "k2")
    e.update_des("des1", key_url=other)
    assert {r.layers[0]["kid"] for r in e.des_resources(des)} == {other}
    assert e.vm_read("vm1", 0, 0, 15) == b"data disk bytes"
    e.set_key_attributes("kv1", "k1", enabled=False, all_versions=True)  # the old key no longer matters
    assert e.get_vm("vm1").power == "running"
    assert e.read_resource("snapshot", "snap1", 0, 15) == b"data disk bytes"


def test_D3_double_encryption_rotation_rewraps_the_customer_layer_only(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    kit.des(e, "dbl", kid, encryption_type=ENC_DOUBLE)
    d = e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="dbl")
    inner = dict(d.layers[1])
    new = kit.key(e)
    e.update_des("dbl", key_url=new)
    d = e.get_disk("d1")
    assert d.layers[0]["kid"] == new and d.layers[1] == inner


def test_D3_while_it_runs_the_set_shows_updating_and_the_previous_key(e, kit, monkeypatch):
    old, _ = _landscape(e, kit)
    new = kit.key(e)
    seen = []
    real = type(e)._open_outer_bulk

    def spy(self, todo, des):
        seen.append((des.provisioning_state, [dict(p) for p in des.previous_keys], len(todo)))
        return real(self, todo, des)

    monkeypatch.setattr(type(e), "_open_outer_bulk", spy)
    e.update_des("des1", key_url=new)
    assert seen == [("Updating", [{"keyUrl": old, "sourceVault": {"id": e.get_vault("kv1").id}}], 5)]
    assert e.get_des("des1").provisioning_state == "Succeeded"


def test_D3_a_failure_midway_rolls_everything_back_and_every_disk_still_reads(e, kit, monkeypatch):
    old, des = _landscape(e, kit)
    new = kit.key(e)
    before = kit.persisted(e)
    calls = {"n": 0}
    real = crypto.wrap_key

    def crash(public, dek):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return real(public, dek)

    monkeypatch.setattr(crypto, "wrap_key", crash)
    monkeypatch.setattr(e.rng, "seed", None)  # take the OpenSSL wrap path, which the crash hooks
    with pytest.raises(RuntimeError):
        e.update_des("des1", key_url=new)
    monkeypatch.undo()
    assert calls["n"] == 3
    assert kit.persisted(e) == before
    assert e.get_des("des1").key_url == old and e.get_des("des1").provisioning_state == "Succeeded"
    assert {r.layers[0]["kid"] for r in e.des_resources(des)} == {old}
    assert e.vm_read("vm1", 0, 0, 15) == b"data disk bytes"
    assert e.read_resource("snapshot", "snap1", 0, 15) == b"data disk bytes"
    e.update_des("des1", key_url=new)  # and it runs to the end when asked again
    assert {r.layers[0]["kid"] for r in e.des_resources(des)} == {new}


def _half_rekeyed(e, kit):
    """Build what a re-key cut short leaves: the set on the new version, some resources still on the old."""
    old, des = _landscape(e, kit)
    new = kit.key(e)
    todo = sorted(e.des_resources(des), key=lambda r: r.name)
    with e.transaction():
        des = e.get_des("des1")
        e._touch(des)
        des.key_url = new
        des.previous_keys = [{"keyUrl": old, "sourceVault": {"id": des.source_vault_id}}]
        des.provisioning_state = "Updating"
        _rekey_impl(e, des, new, todo[:2])  # only two of five get there
        des.provisioning_state = "Updating"
    kids = sorted(r.layers[0]["kid"] for r in e.des_resources(des))
    assert kids.count(old) == 3 and kids.count(new) == 2
    return old, new, des


def test_D3_rekey_cut_short_leaves_every_data_key_readable_and_resumes(e, kit):
    old, new, des = _half_rekeyed(e, kit)
    reopened = Engine(e.store)  # as after a crash and a restart
    for r in reopened.des_resources(reopened.get_des("des1")):
        assert reopened.read_resource(r.kind, r.name, 0, 1) is not None
    assert reopened.read_resource("snapshot", "snap1", 0, 15) == b"data disk bytes"
    assert reopened.read_resource("image", "img1", 4096, 13) == b"os disk bytes"
    reopened.deallocate_vm("vm1")
    reopened.start_vm("vm1")  # both versions unwrap at the vault
    assert reopened.vm_read("vm1", 0, 0, 15) == b"data disk bytes"
    assert any("resume re-keying 3" in j["job"] for j in reopened.pending_jobs())
    ran = reopened.run_due_jobs()
    assert [j["job"] for j in ran] == ["resume re-keying 3 resource(s) of set des1"]
    des = reopened.get_des("des1")
    assert {r.layers[0]["kid"] for r in reopened.des_resources(des)} == {new}
    assert des.provisioning_state == "Succeeded" and des.previous_keys == []
    assert reopened.run_due_jobs() == []
    reopened.set_key_attributes("kv1", "k1", kid_version(old), enabled=False)  # the old version is not needed
    assert reopened.get_vm("vm1").power == "running"
    assert reopened.read_resource("snapshot", "snap1", 0, 15) == b"data disk bytes"


def kid_version(kid: str) -> str:
    return kid.rsplit("/", 1)[1]


def test_D3_rekey_cut_short_also_finishes_as_the_clock_advances(e, kit):
    _, new, des = _half_rekeyed(e, kit)
    ran = e.advance_clock("1m")
    assert any("resume re-keying" in j["job"] for j in ran)
    assert {r.layers[0]["kid"] for r in e.des_resources(des)} == {new}


def test_D3_rekey_to_a_disabled_or_inaccessible_key_is_refused_and_changes_nothing(e, kit):
    old, des = _landscape(e, kit)
    new = kit.key(e)
    e.set_key_attributes("kv1", "k1", kid_version(new), enabled=False)
    before = kit.without_audit(kit.persisted(e))
    assert kit.refused(e.update_des, "des1", key_url=new).code == "KeyVaultKeyNotEnabled"
    kit.vault(e, "kv2")
    other = kit.key(e, "kv2", "k9")  # the set's identity has no access in kv2
    err = kit.refused(e.update_des, "des1", key_url=other, source_vault="kv2")
    assert err.code == "KeyVaultAccessForbidden" and des.principal_id in err.message
    after = kit.without_audit(kit.persisted(e))
    after["vaults"].pop("kv2")
    after["keys"].pop("https://kv2.vault.azure.net/keys/k9")
    before_n = {t: v for t, v in before.items() if t not in ("events", "engine")}
    after_n = {t: v for t, v in after.items() if t not in ("events", "engine")}
    assert before_n == after_n
    assert {r.layers[0]["kid"] for r in e.des_resources(des)} == {old}


def test_D3_vault_argument_must_match_the_key_url(e, kit):
    kit.basic(e)
    kit.vault(e, "kv2")
    new = kit.key(e)
    err = kit.refused(e.update_des, "des1", key_url=new, source_vault="kv2")
    assert err.code == "InvalidParameter" and "must be the same vault" in err.message


def test_D3_rewrap_of_many_resources_uses_the_two_thread_path(e, kit):
    _, des = _landscape(e, kit)
    for i in range(10):
        e.create_disk(f"bulk{i}", kit.RG, size_gb=1, disk_encryption_set="des1")
    deks = {r.id: _dek(e, r) for r in e.des_resources(des)}
    new = kit.key(e)
    e.update_des("des1", key_url=new)
    assert {r.id: _dek(e, r) for r in e.des_resources(des)} == deks
    assert all(r.layers[0]["kid"] == new for r in e.des_resources(des))


@pytest.mark.parametrize("seed", [11, None], ids=["seeded", "unseeded"])
def test_D3_a_rekey_audits_one_unwrap_with_the_old_key_and_one_wrap_with_the_new_per_resource(kit, seed):
    """Both re-key paths (the seeded one in order, the two-thread pass that unwraps and wraps each data key at
    once) audit the same: a KeyUnwrap with the version that wrapped it, a KeyWrap with the new one."""
    e = Engine.in_memory(seed=seed)
    old, des = kit.basic(e)
    for i in range(20):  # past the two-thread threshold
        e.create_disk(f"bulk{i}", kit.RG, size_gb=1, disk_encryption_set="des1")
    seen = {a.id for a in kit.audit(e)}
    new = kit.key(e)
    e.update_des("des1", key_url=new)
    fresh = [a for a in kit.audit(e) if a.id not in seen and a.operation in ("KeyUnwrap", "KeyWrap")]
    assert sorted((a.operation, a.kid) for a in fresh) == [("KeyUnwrap", old)] * 20 + [("KeyWrap", new)] * 20


def test_D3_what_if_lists_the_rewrap_and_changes_nothing(e, kit):
    old, des = _landscape(e, kit)
    new = kit.key(e)
    before, commits = kit.persisted(e), e.store.commits
    impact = e.what_if("update_des", "des1", key_url=new)
    assert sorted(impact.rewrapped) == sorted(r.id for r in e.des_resources(des))
    assert impact.vms_stopping == [] and impact.unreadable == [] and not impact.error
    assert kit.persisted(e) == before and e.store.commits == commits
    assert e.get_des("des1").key_url == old


# ============================================================================================ D4 auto-rotation


def test_D4_auto_rotation_moves_every_resource_within_one_hour_not_before(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    kit.des(e, "des1", kid.rsplit("/", 1)[0], rotation_to_latest=True)
    kit.vm(e, "vm1")
    e.vm_write("vm1", 0, 0, b"auto")
    e.create_snapshot("snap1", kit.RG, source="vm1-os")
    e.advance_clock("3h")
    new = kit.key(e)  # a new version appears at 12:00
    e.advance_clock("59m")
    des = e.get_des("des1")
    assert des.key_url == kid
    assert {r.layers[0]["kid"] for r in e.des_resources(des)} == {kid}
    ran = e.advance_clock("2m")
    des = e.get_des("des1")
    assert des.key_url == new and des.last_key_rotation == "2026-05-01T13:00:00+00:00"
    assert {r.layers[0]["kid"] for r in e.des_resources(des)} == {new}
    assert any("automatic rotation of set des1" in j["job"] for j in ran)
    assert e.get_vm("vm1").power == "running" and e.vm_read("vm1", 0, 0, 4) == b"auto"


def test_D4_auto_rotation_follows_a_rotation_policy(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    kit.des(e, "des1", kid, rotation_to_latest=True)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    e.set_rotation_policy("kv1", "k1", {"lifetimeActions": [
        {"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}], "attributes": {}})
    e.advance_clock(timedelta(days=30, minutes=30))
    assert e.get_disk("d1").layers[0]["kid"] == kid
    e.advance_clock("31m")
    k = e.get_key("kv1", "k1", audit=False)[0]
    assert e.get_disk("d1").layers[0]["kid"] == f"{k.id}/{k.current['version']}" != kid


def test_D4_without_auto_rotation_nothing_moves(e, kit):
    kid, _ = kit.basic(e)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    kit.key(e)
    e.advance_clock("30d")
    assert e.get_des("des1").key_url == kid and e.get_disk("d1").layers[0]["kid"] == kid


def test_D4_auto_rotation_can_be_turned_on_later(e, kit):
    kid, _ = kit.basic(e)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    new = kit.key(e)
    e.update_des("des1", rotation_to_latest=True)
    assert e.get_des("des1").key_url == kid
    e.advance_clock("61m")
    assert e.get_disk("d1").layers[0]["kid"] == new


def test_D4_auto_rotation_to_a_disabled_version_fails_visibly_and_keeps_the_old_key(e, kit):
    kid, _ = kit.basic(e)
    e.update_des("des1", rotation_to_latest=True)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    new = kit.key(e, enabled=False)
    e.advance_clock("2h")
    des = e.get_des("des1")
    assert des.key_url == kid and e.get_disk("d1").layers[0]["kid"] == kid
    assert des.auto_key_rotation_error["code"] == "KeyVaultKeyNotEnabled"
    assert new not in des.key_url


def test_D4_the_what_if_of_a_rotation_names_the_sets_that_stay_behind_and_schedules_the_others(e, kit):
    """A new version moves only the sets that follow their key: the what-if names the others (they stay on the
    version they name, and so do their disks) and gives the time at which the clock moves the followers."""
    kid, _ = kit.basic(e)
    kit.des(e, "des2", kid.rsplit("/", 1)[0], rotation_to_latest=True)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    e.create_disk("d2", kit.RG, size_gb=4, disk_encryption_set="des2")
    before = kit.persisted(e)
    impact = e.what_if("rotate_key", "kv1", "k1")
    assert impact.sets_pinned == ["des1"] and not impact.destructive
    # (the version's id is drawn by the rotation itself: the preview does not name one it made up)
    assert impact.scheduled == ["automatic rotation of set des2 to k1/(its new version) at 2026-05-01T10:00:00+00:00"]
    [job] = impact.scheduled
    assert impact.unscheduled == []
    lines = impact.lines()
    assert "1 disk encryption set(s) stay on the key version they name (automatic rotation off: their resources " \
           "are not moved to the new version): des1" in lines
    assert f"1 job(s) scheduled: {job}" in lines
    assert kit.persisted(e) == before  # a preview changes nothing
    new = e.rotate_key("kv1", "k1")[1]["version"]
    [pending] = e.pending_jobs()  # what the clock then holds
    assert f"{pending['job']} at {pending['time']}" == job.replace("(its new version)", new[:8])
    e.advance_clock("61m")
    assert e.get_disk("d1").layers[0]["kid"] == kid != e.get_disk("d2").layers[0]["kid"]


def test_D4_the_what_if_of_turning_auto_rotation_off_says_the_set_stops_following_and_unschedules_it(e, kit):
    kid, _ = kit.basic(e)
    e.update_des("des1", rotation_to_latest=True)
    new = kit.key(e)  # a newer version: the set moves to it within the hour
    [pending] = e.pending_jobs()
    impact = e.what_if("update_des", "des1", rotation_to_latest=False)
    assert impact.sets_unfollowing == ["des1"] and impact.sets_pinned == []
    assert impact.unscheduled == [f"{pending['job']} at {pending['time']}"] and impact.scheduled == []
    assert "1 disk encryption set(s) stop following their key's new versions (their resources stay on the version " \
           "they are on): des1" in impact.lines()
    assert e.pending_jobs() == [pending]  # a preview changes nothing
    e.update_des("des1", rotation_to_latest=False)
    assert e.pending_jobs() == []
    # the event says what it means for the set (the console's notification shows it)
    assert e.list_events()[-1].summary == (
        f"disk encryption set des1 updated: automatic rotation off, it stays on version {kid.rsplit('/', 1)[1][:8]} "
        "of key kv1/k1 as new ones come (change its key to move its resources)")
    e.update_des("des1", tags={"a": "b"})
    assert e.list_events()[-1].summary == "disk encryption set des1 updated"  # nothing said of what did not change
    e.advance_clock("2h")
    assert e.get_des("des1").key_url == kid != new
    # turning it on again schedules the move, at the hour after the version appeared (already past: now)
    impact = e.what_if("update_des", "des1", rotation_to_latest=True)
    assert impact.sets_unfollowing == [] and impact.unscheduled == []
    e.update_des("des1", rotation_to_latest=True)
    assert e.list_events()[-1].summary == ("disk encryption set des1 updated: automatic rotation on, it follows the "
                                           "new versions of key kv1/k1 (its resources move to each within 1h)")
    e.update_des("des1", rotation_to_latest=False)
    assert impact.scheduled == [f"automatic rotation of set des1 to k1/{new.rsplit('/', 1)[1][:8]} at {e.now()}"]


# ============================================================================================ D5 limit


def _fill_region(e, kit, n: int, region: str = "eastus") -> str:
    kit.vault(e)
    kid = kit.key(e)
    with e.transaction():  # one write for all of them
        for i in range(n):
            e.create_des(f"des{i:04d}", kit.RG, key_url=kid, location=region)
    return kid


def test_D5_at_most_50_sets_per_region(e, kit):
    kid = _fill_region(e, kit, 50)
    err = kit.refused(e.create_des, "one-too-many", kit.RG, key_url=kid)
    assert err.code == "QuotaExceeded"
    assert "50" in err.message and "eastus" in err.message
    assert len(e.list_des()) == 50


def test_D5_the_limit_is_per_region(e, kit):
    kid = _fill_region(e, kit, 50)
    kit.vault(e, "kvwest", location="westus2")
    wkid = kit.key(e, "kvwest", "kw")
    assert e.create_des("west1", kit.RG, key_url=wkid, location="westus2").location == "westus2"
    e.delete_des("des0000")
    assert e.create_des("again", kit.RG, key_url=kid).name == "again"


def test_D5_rule_profile_azure_2025_allows_5000_sets(kit):
    e = Engine.in_memory(seed=5, profile="azure-2025")
    assert e.rules.des_per_region == 5000
    kid = _fill_region(e, kit, 51)
    # 5,000 is the limit: fill the store directly (creating them one by one is not what is under test)
    template = e.get_des("des0000").to_doc()
    with e.transaction():
        for i in range(51, 5000):
            doc = dict(template, name=f"des{i:04d}", id=template["id"].replace("des0000", f"des{i:04d}"))
            e._add(DiskEncryptionSet.from_doc(doc))
    assert len(e.list_des()) == 5000
    err = kit.refused(e.create_des, "des5000", kit.RG, key_url=kid)
    assert err.code == "QuotaExceeded" and "5000" in err.message and "azure-2025" in err.message


# ============================================================================================ D6 same region/subscription


def test_D6_vault_and_set_must_share_region(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    err = kit.refused(e.create_des, "des1", kit.RG, key_url=kid, location="westus2")
    assert err.code == "InvalidParameter"
    assert err.inner_code == "KeyVaultAndDiskEncryptionSetInDifferentRegions"


def test_D6_disk_and_set_must_share_region(e, kit):
    kit.basic(e)
    err = kit.refused(e.create_disk, "d1", kit.RG, size_gb=4, location="westus2", disk_encryption_set="des1")
    assert err.code == "InvalidParameter" and "D6" in err.message
    err = kit.refused(e.create_vm, "vm1", kit.RG, location="westus2", os_disk_encryption_set="des1")
    assert err.code == "InvalidParameter"
    assert e.list_vms() == []


def test_D6_vault_of_another_subscription_is_refused(e, kit):
    kid, _ = kit.basic(e)
    other = "/subscriptions/00000000-0000-4000-8000-000000000000/resourceGroups/rg/providers/" \
            "Microsoft.KeyVault/vaults/kv1"
    err = kit.refused(e.create_des, "des2", kit.RG, key_url=kid, source_vault=other)
    assert err.code == "InvalidParameter" and "subscription" in err.message


def test_D6_same_region_and_subscription_is_accepted(e, kit):
    kit.basic(e)
    d = e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1", location="eastus")
    assert d.location == e.get_des("des1").location == e.get_vault("kv1").location
    assert d.subscription_id == e.subscription_id


# ============================================================================================ D7 delete / type fixed


def test_D7_a_set_in_use_cannot_be_deleted(e, kit):
    kit.basic(e)
    e.create_disk("d1", kit.RG, size_gb=4, disk_encryption_set="des1")
    e.create_snapshot("s1", kit.RG, source="d1")
    err = kit.refused(e.delete_des, "des1")
    assert err.code == "DiskEncryptionSetInUse" and "d1" in err.message and "s1" in err.message
    e.delete_disk("d1")
    assert kit.refused(e.delete_des, "des1").code == "DiskEncryptionSetInUse"
    e.delete_snapshot("s1")
    e.delete_des("des1")
    assert e.list_des() == []


def test_D7_encryption_type_cannot_change(e, kit):
    kit.basic(e)
    err = kit.refused(e.update_des, "des1", encryption_type=ENC_DOUBLE)
    assert err.code == "PropertyChangeNotAllowed"
    assert e.get_des("des1").encryption_type == ENC_CUSTOMER
    assert e.update_des("des1", encryption_type=ENC_CUSTOMER).encryption_type == ENC_CUSTOMER


# ============================================================================================ D8 the set decides the type


def test_D8_disk_asking_for_double_on_a_customer_key_set_is_refused_naming_the_sets_type(e, kit):
    kit.basic(e)
    err = kit.refused(e.create_disk, "d1", kit.RG, size_gb=4, disk_encryption_set="des1", encryption_type=ENC_DOUBLE)
    assert err.code == "InvalidParameter" and err.inner_code == "EncryptionTypeMismatch"
    assert ENC_CUSTOMER in err.message  # the set's type
    assert f"create a set with --encryption-type {ENC_DOUBLE}" in err.message
    assert e.list_disks() == []


def test_D8_disk_asking_for_customer_only_on_a_double_set_is_refused(e, kit):
    kit.vault(e)
    kit.des(e, "dbl", kit.key(e), encryption_type=ENC_DOUBLE)
    err = kit.refused(e.create_disk, "d1", kit.RG, size_gb=4, disk_encryption_set="dbl", encryption_type=ENC_CUSTOMER)
    assert err.code == "InvalidParameter" and ENC_DOUBLE in err.message


def test_D8_matching_or_absent_type_follows_the_set(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    kit.des(e, "cmk", kid)
    kit.des(e, "dbl", kid, encryption_type=ENC_DOUBLE)
    assert e.create_disk("a", kit.RG, size_gb=4, disk_encryption_set="cmk").encryption_type == ENC_CUSTOMER
    assert e.create_disk("b", kit.RG, size_gb=4, disk_encryption_set="dbl").encryption_type == ENC_DOUBLE
    assert e.create_disk("c", kit.RG, size_gb=4, disk_encryption_set="dbl",
                         encryption_type=ENC_DOUBLE).encryption_type == ENC_DOUBLE


def test_D8_customer_type_without_a_set_is_refused(e, kit):
    kit.basic(e)
    err = kit.refused(e.create_disk, "d1", kit.RG, size_gb=4, encryption_type=ENC_CUSTOMER)
    assert err.code == "InvalidParameter" and "disk-encryption-set" in err.message


def test_D3_rekey_after_a_purge_says_the_data_is_gone_not_to_recover_the_key():
    """A set whose old key was purged cannot move its resources to a new key: the data keys are gone
    for good; the refusal says so (and does not suggest recovering a purged key)."""
    from engine import Engine
    from engine.errors import EngineError

    e = Engine.in_memory(seed=5)
    e.create_group("rg", "eastus")
    e.create_vault("kvp", "rg", enable_purge_protection=True, retention_days=7)
    k, v = e.create_key("kvp", "old")
    des = e.create_des("des", "rg", key_url=f"{k.id}/{v['version']}")
    e.set_policy("kvp", des.principal_id, ["get", "wrapKey", "unwrapKey"])
    e.create_disk("d1", "rg", size_gb=1, disk_encryption_set="des")
    e.delete_key("kvp", "old")
    e.advance_clock("8d")  # the platform purges it at the end of retention
    k2, v2 = e.create_key("kvp", "new")
    try:
        e.update_des("des", key_url=f"{k2.id}/{v2['version']}")
    except EngineError as err:
        assert err.code == "KeyVaultKeyNotFound"
        assert "gone for good" in err.message and "recover" not in err.message
    else:
        raise AssertionError("re-keying onto a new key after a purge must be refused")


def test_impact_lines_cap_names_and_say_how_many_more():
    from engine.facade import Impact

    impact = Impact("set_key_attributes", vms_stopping=[f"vm{i}" for i in range(1500)], modified=["key k"])
    full, capped = impact.lines(), impact.lines(3)
    assert full[0].startswith("1,500 VM(s) will stop: vm0, vm1, vm2, vm3") and full[0].endswith("vm1499")
    assert capped == ["1,500 VM(s) will stop: vm0, vm1, vm2, … and 1,497 more", "modify: key k"]
    assert impact.lines(1500) == full
