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
