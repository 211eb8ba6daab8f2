"""A cascade costs what it reaches: disabling a key examines the VMs on the sets that use it, found through
the indexes, not every VM of the estate; and the result is the same as examining them all."""

from __future__ import annotations


def _two_keys(e, kit):
    kit.vault(e, "kv1")
    k1 = kit.key(e, "kv1", "k1")
    k2 = kit.key(e, "kv1", "k2")
    kit.des(e, "des1", k1)
    kit.des(e, "des2", k2)
    for i in range(3):
        kit.vm(e, f"a{i}", "des1")
        kit.vm(e, f"b{i}", "des2")


def test_disabling_a_key_examines_only_the_vms_of_its_sets(e, kit, monkeypatch):
    _two_keys(e, kit)
    examined = []
    real = type(e)._affected_vms

    def spy(self):
        out = real(self)
        examined.append(sorted(vm.name for vm in out))
        return out

    monkeypatch.setattr(type(e), "_affected_vms", spy)
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert examined == [["a0", "a1", "a2"]]
    assert [e.get_vm(f"a{i}").power for i in range(3)] == ["stopped"] * 3
    assert [e.get_vm(f"b{i}").power for i in range(3)] == ["running"] * 3


def test_the_scoped_cascade_equals_examining_every_vm(kit):
    from engine import Engine

    results = []
    for scoped in (True, False):
        e = Engine.in_memory(seed=11)
        _two_keys(e, kit)
        if not scoped:
            e._affected_vms = lambda: sorted(e.t["vms"].values(), key=lambda v: v.key)
        e.set_policy("kv1", e.get_des("des2").principal_id, ["get", "wrapKey"])  # revoke unwrap for des2
        e.set_key_attributes("kv1", "k1", enabled=False)
        e.set_key_attributes("kv1", "k1", enabled=True)
        results.append({vm.name: (vm.power, (vm.status or {}).get("code")) for vm in e.t["vms"].values()})
    assert results[0] == results[1]


def test_a_state_without_its_engine_document_is_refused_not_started_afresh(tmp_path):
    import pytest

    from console.session import open_engine
    from engine.errors import StoreError

    home = tmp_path / "home"
    e = open_engine(home)
    e.create_group("rg", "eastus")
    with e.store.lock():
        e.store.commit({}, {"engine": ["engine"]})
    e.store.close()
    with pytest.raises(StoreError, match="no engine document"):
        open_engine(home)


def test_a_document_missing_a_field_is_refused_naming_it(tmp_path):
    import pytest

    from console.session import open_engine
    from engine.errors import StoreError

    home = tmp_path / "home"
    e = open_engine(home)
    g = e.create_group("rg", "eastus")
    doc = g.to_doc()
    del doc["location"]
    with e.store.lock():
        e.store.commit({"groups": {g.key: doc}}, {})
    e.store.close()
    e = open_engine(home)
    with pytest.raises(StoreError, match="resourcegroups/rg' of table 'groups' lacks the field 'location'"):
        e.list_groups()
    e.store.close()


def test_a_document_with_a_field_of_the_wrong_type_is_refused_naming_it(tmp_path):
    import pytest

    from console.session import open_engine
    from engine.errors import StoreError

    home = tmp_path / "home"
    e = open_engine(home)
    g = e.create_group("rg", "eastus")
    doc = dict(g.to_doc(), location=["eastus"])
    with e.store.lock():
        e.store.commit({"groups": {g.key: doc}}, {})
    e.store.close()
    e = open_engine(home)
    with pytest.raises(StoreError, match="has list in the field 'location', expected str"):
        e.list_groups()
    e.store.close()


def test_revoking_one_sets_access_examines_only_the_vms_of_that_set(e, kit, monkeypatch):
    """Both sets' keys live in kv1: a change of des1's access policy alone cannot change what des2's identity may
    do, so des2's members and VMs are not examined (on a twin, revoking a 5,000-disk set's access examined the
    25,000 disks of the vault's other set too: a what-if of 1.8 s in the console)."""
    _two_keys(e, kit)
    examined = []
    real = type(e)._affected_vms

    def spy(self):
        out = real(self)
        examined.append(sorted(vm.name for vm in out))
        return out

    monkeypatch.setattr(type(e), "_affected_vms", spy)
    e.delete_policy("kv1", e.get_des("des1").principal_id)
    assert examined == [["a0", "a1", "a2"]]
    assert [e.get_vm(f"a{i}").power for i in range(3)] == ["stopped"] * 3
    assert [e.get_vm(f"b{i}").power for i in range(3)] == ["running"] * 3
    examined.clear()
    e.set_policy("kv1", e.get_des("des1").principal_id, ["get", "wrapKey", "unwrapKey"])
    assert examined == [["a0", "a1", "a2"]]
    assert e.get_vm("a0").status["code"] == "KeyUsableAgain"


def test_the_scoped_cascade_of_access_changes_equals_examining_every_vm(kit):
    from engine import Engine

    results, impacts = [], []
    for scoped in (True, False):
        e = Engine.in_memory(seed=11)
        _two_keys(e, kit)
        if not scoped:
            e._affected_vms = lambda: sorted(e.t["vms"].values(), key=lambda v: v.key)
            e._affected = lambda: None
        p1, p2 = e.get_des("des1").principal_id, e.get_des("des2").principal_id
        impacts.append(e.what_if("delete_policy", "kv1", p2).lines(100))
        e.delete_policy("kv1", p2)
        e.set_policy("kv1", p1, ["get", "wrapKey"])  # unwrap revoked for des1
        e.set_policy("kv1", p2, ["get", "wrapKey", "unwrapKey"])
        e.update_vault("kv1", enable_purge_protection=True)  # not only its policies: every set of the vault
        results.append({vm.name: (vm.power, (vm.status or {}).get("code")) for vm in e.t["vms"].values()})
    assert results[0] == results[1]
    assert impacts[0] == impacts[1] and any("b0" in line for line in impacts[0])


def test_the_clocks_jobs_read_a_sets_resources_only_while_its_re_key_is_cut_short(e, kit, monkeypatch):
    """Looking at the clock (pending jobs: the clock form, ``clock show``) reads no set's resources unless a
    re-key of the set was cut short (D3: it is Updating then), where the resources still on the old key are the
    job to resume; a set of 80,000 imported disks cost every look 1.6 s."""
    kid, _ = kit.basic(e)
    kit.vm(e, "vm1")
    e.update_des("des1", rotation_to_latest=True)
    kit.key(e)  # a newer version: the set's automatic rotation is due within the hour
    read = []
    real = type(e).des_resources
    monkeypatch.setattr(type(e), "des_resources", lambda self, des: read.append(des.name) or real(self, des))
    [job] = e.pending_jobs()
    assert job["job"].startswith("automatic rotation of set des1") and read == []
    with e.transaction():
        des = e.get_des("des1")
        e._touch(des)
        des.provisioning_state = "Updating"  # as a re-key cut short leaves it
    e.pending_jobs()
    assert read == ["des1"]  # (its resources are all on its key: nothing to resume, test_des.py cuts one short)
