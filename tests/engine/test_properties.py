"""Property tests (hypothesis).

(a) KV: any sequence of key operations, saved and reopened, gives an identical engine state (issue 2).
(b) What-if: for random small landscapes and actions, what ``Engine.what_if`` predicts is exactly what the
    action then does (issue 3). The outcome is measured with real operations on copies of the store (reads
    through the vault, deallocate-and-start, an attempt to heal everything), never with the helpers what-if uses.
"""

from __future__ import annotations

import os
import tempfile

from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine import Engine, crypto
from engine.errors import EngineError
from engine.repository import MemoryStore
from store import TinyStore

EXAMPLES = 300 if os.environ.get("CMKLAB_LONG") == "1" else 25
"""Modest by default; CMKLAB_LONG=1 (the long mode of the reliability suites) searches much further."""
SETTINGS = dict(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])
_IMPORTED = crypto.generate_rsa(2048)
_PEM = _IMPORTED.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.BestAvailableEncryption(b"pw"))
OID = "0b0b0b0b-1111-4222-8333-444444444444"

# ================================================================================ (a) save and reopen

VAULTS = ("kvp", "kvf")  # with and without purge protection (7 days' retention both)
NAMES = ("a", "b")

key_op = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(VAULTS), st.sampled_from(NAMES)),
    st.tuples(st.just("import"), st.sampled_from(VAULTS), st.sampled_from(NAMES)),
    st.tuples(st.just("rotate"), st.sampled_from(VAULTS), st.sampled_from(NAMES)),
    st.tuples(st.just("disable"), st.sampled_from(VAULTS), st.sampled_from(NAMES), st.integers(0, 3)),
    st.tuples(st.just("enable"), st.sampled_from(VAULTS), st.sampled_from(NAMES), st.booleans()),
    st.tuples(st.just("exp"), st.sampled_from(VAULTS), st.sampled_from(NAMES), st.integers(1, 20)),
    st.tuples(st.just("delete"), st.sampled_from(VAULTS), st.sampled_from(NAMES)),
    st.tuples(st.just("recover"), st.sampled_from(VAULTS), st.sampled_from(NAMES)),
    st.tuples(st.just("purge"), st.sampled_from(VAULTS), st.sampled_from(NAMES)),
    st.tuples(st.just("policy"), st.sampled_from(VAULTS), st.sampled_from(NAMES), st.sampled_from(["P7D", "P30D"])),
    st.tuples(st.just("get"), st.sampled_from(VAULTS), st.sampled_from(NAMES)),
    st.tuples(st.just("access"), st.sampled_from(VAULTS), st.booleans()),
    st.tuples(st.just("advance"), st.sampled_from(["1h", "1d", "8d"])),
    st.tuples(st.just("vault"), st.sampled_from(VAULTS), st.sampled_from(["delete", "recover", "purge"])),
)


def _apply(e: Engine, op: tuple) -> None:
    kind = op[0]
    try:
        if kind == "create":
            e.create_key(op[1], op[2])
        elif kind == "import":
            e.import_key(op[1], op[2], _PEM, password=b"pw")
        elif kind == "rotate":
            e.rotate_key(op[1], op[2])
        elif kind == "disable":
            k = e.get_key(op[1], op[2], audit=False)[0]
            e.set_key_attributes(op[1], op[2], k.versions[op[3] % len(k.versions)]["version"], enabled=False)
        elif kind == "enable":
            e.set_key_attributes(op[1], op[2], enabled=True, all_versions=op[3])
        elif kind == "exp":
            e.set_key_attributes(op[1], op[2], exp=_plus_days(e, op[3]))
        elif kind == "delete":
            e.delete_key(op[1], op[2])
        elif kind == "recover":
            e.recover_key(op[1], op[2])
        elif kind == "purge":
            e.purge_key(op[1], op[2])
        elif kind == "policy":
            e.set_rotation_policy(op[1], op[2], {"lifetimeActions": [
                {"trigger": {"timeAfterCreate": op[3]}, "action": {"type": "Rotate"}}], "attributes": {}})
        elif kind == "get":
            e.get_key(op[1], op[2])
        elif kind == "access":
            if op[2]:
                e.set_policy(op[1], OID, ["get", "wrapKey", "unwrapKey"])
            else:
                e.delete_policy(op[1], OID)
        elif kind == "advance":
            e.advance_clock(op[1])
        elif kind == "vault":
            getattr(e, f"{op[2]}_vault")(op[1])
    except EngineError:
        pass  # refusals are part of the history too (their audit entries must persist)


def _plus_days(e: Engine, days: int) -> str:
    from datetime import timedelta
    return (e.clock.now() + timedelta(days=days)).isoformat()


def _state(e: Engine) -> dict:
    return {t: {k: o.to_doc() for k, o in rows.items()} for t, rows in e.t.items()}


def _check_same(live: Engine, reopened: Engine) -> None:
    assert _state(reopened) == _state(live)
    assert reopened.clock.now() == live.clock.now()
    assert reopened.rng.counter == live.rng.counter
    assert reopened.pending_jobs() == live.pending_jobs()
    # the sealed key material opens after the reopen: every usable version unwraps what its public key wrapped
    for k in reopened.t["keys"].values():
        for ver in k.versions:
            kid = f"{k.id}/{ver['version']}"
            if reopened.key_problem(None, kid, "unwrapKey") is None:
                dek = os.urandom(32)
                w = crypto.wrap_key(crypto.public_from_jwk(ver["n"], ver["e"]), dek)
                with reopened.transaction():
                    assert reopened.unwrap_key(None, kid, w) == dek


def _base(e: Engine) -> None:
    e.create_group("rg", "eastus")
    e.create_vault("kvp", "rg", enable_purge_protection=True, retention_days=7)
    e.create_vault("kvf", "rg", retention_days=7)


@settings(**SETTINGS)
@given(ops=st.lists(key_op, min_size=1, max_size=12), seed=st.integers(0, 10_000))
def test_KV_any_key_history_saved_and_reopened_is_identical_memory_store(ops, seed):
    store = MemoryStore()
    e = Engine(store, seed=seed)
    _base(e)
    for op in ops:
        _apply(e, op)
    _check_same(e, Engine(store))


@settings(**(SETTINGS | {"max_examples": EXAMPLES // 2}))
@given(ops=st.lists(key_op, min_size=1, max_size=10))
def test_KV_any_key_history_saved_and_reopened_is_identical_tinydb_store(ops):
    with tempfile.TemporaryDirectory() as tmp:
        store = TinyStore(tmp)
        e = Engine(store)  # unseeded: real OpenSSL keys, sealed under the root key file
        _base(e)
        for op in ops:
            _apply(e, op)
        store2 = TinyStore(tmp)
        try:
            _check_same(e, Engine(store2))
        finally:
            store.close()
            store2.close()


# ================================================================================ (b) what-if = what happens

vm_spec = st.tuples(st.sampled_from(["cmk", "ultra", "mixed", "platform"]),
                    st.sampled_from(["running", "running", "stopped", "deallocated"]),
                    st.sampled_from(["des1", "des2"]))
landscape = st.fixed_dictionaries({
    "profile": st.sampled_from(["seeds", "azure-2025"]),
    "two_vaults": st.booleans(),
    "vms": st.lists(vm_spec, min_size=1, max_size=3),
    "spare": st.sampled_from([None, "des1", "des2"]),
    "snapshot": st.booleans(),
    "seed": st.integers(0, 10_000),
})
ACTIONS = [
    ("set_key_attributes", "k1", {"enabled": False}), ("set_key_attributes", "k1", {"enabled": True}),
    ("set_key_attributes", "k2", {"enabled": False}), ("set_key_attributes", "k2", {"enabled": True}),
    ("delete_key", "k1", {}), ("recover_key", "k1", {}), ("purge_key", "k1", {}),
    ("delete_key", "k2", {}), ("recover_key", "k2", {}),
    ("revoke", "des1", {}), ("regrant", "des1", {}), ("revoke", "des2", {}),
    ("delete_vault", "kv1", {}), ("recover_vault", "kv1", {}),
    ("advance_clock", "8d", {}), ("advance_clock", "1h", {}),
    ("rekey", "des1", {}), ("rekey_other", "des2", {}),
    ("start_vm", 0, {}), ("stop_vm", 0, {}), ("deallocate_vm", 0, {}), ("start_vm", 1, {}),
    ("deallocate_vm", 1, {}), ("delete_des", "des1", {}),
]


def _build(spec: dict) -> Engine:
    e = Engine.in_memory(seed=spec["seed"], profile=spec["profile"])
    e.create_group("rg", "eastus")
    e.create_vault("kv1", "rg", enable_purge_protection=True, retention_days=7)
    k2vault = "kv2" if spec["two_vaults"] else "kv1"
    if spec["two_vaults"]:
        e.create_vault("kv2", "rg", enable_purge_protection=True, retention_days=7)
    for vault, name, des in (("kv1", "k1", "des1"), (k2vault, "k2", "des2")):
        k, ver = e.create_key(vault, name)
        d = e.create_des(des, "rg", key_url=f"{k.id}/{ver['version']}")
        e.set_policy(vault, d.principal_id, ["get", "wrapKey", "unwrapKey"])
    for i, (kind, power, des) in enumerate(spec["vms"]):
        other = "des2" if des == "des1" else "des1"
        kw: dict = {"os_disk_name": f"vm{i}-os", "data_disk_sizes_gb": [1]}
        if kind == "cmk":
            kw |= {"os_disk_encryption_set": des, "data_disk_encryption_sets": [des]}
        elif kind == "ultra":
            kw |= {"data_disk_encryption_sets": [des], "storage_sku": ["os=Premium_LRS", "0=UltraSSD_LRS"],
                   "ultra_ssd_enabled": True}
        elif kind == "mixed":
            kw |= {"os_disk_encryption_set": other, "data_disk_encryption_sets": [des],
                   "storage_sku": ["os=Premium_LRS", "0=UltraSSD_LRS"], "ultra_ssd_enabled": True}
        e.create_vm(f"vm{i}", "rg", **kw)
        e.vm_write(f"vm{i}", 0, 0, f"data of vm{i}".encode())
        if power != "running":
            getattr(e, "stop_vm" if power == "stopped" else "deallocate_vm")(f"vm{i}")
    if spec["spare"]:
        e.create_disk("spare", "rg", size_gb=1, disk_encryption_set=spec["spare"])
    if spec["snapshot"]:
        e.create_snapshot("snap", "rg", source="vm0-os")
    return e


def _call(e: Engine, action: tuple, dry: bool):
    """Run (or preview) an action of ACTIONS; returns the Impact when ``dry``."""
    name, arg, kw = action
    run = (lambda fn, *a, **k: e.what_if(fn, *a, **k)) if dry else (lambda fn, *a, **k: getattr(e, fn)(*a, **k))
    if name in ("set_key_attributes", "delete_key", "recover_key", "purge_key"):
        vault = _vault_of(e, arg)
        return run(name, vault, arg, **kw)
    sets = {d.name: d for d in e.list_des()}
    if name in ("revoke", "regrant", "rekey", "rekey_other") and arg not in sets:
        return run("update_des", arg, rotation_to_latest=True)  # the set is gone: refused both ways
    if name in ("revoke", "regrant"):
        des = e.get_des(arg)
        vault = des.source_vault_id.rsplit("/", 1)[1]
        if name == "revoke":
            return run("delete_policy", vault, des.principal_id)
        return run("set_policy", vault, des.principal_id, ["get", "wrapKey", "unwrapKey"])
    if name in ("delete_vault", "recover_vault"):
        return run(name, arg)
    if name == "advance_clock":
        return run(name, arg)
    if name in ("rekey", "rekey_other"):
        des = e.get_des(arg)
        key = des.key_url.rsplit("/", 1)[0]
        k = e.t["keys"].get(key.lower())
        if k is None or name == "rekey_other":
            other = sets.get("des1" if arg == "des2" else "des2", des).key_url
            return run("update_des", arg, key_url=other)
        return run("update_des", arg, key_url=f"{k.id}/{k.current['version']}")
    if name == "delete_des":
        return run(name, arg)
    vms = e.list_vms()
    return run(name, vms[arg % len(vms)].name)


def _vault_of(e: Engine, key: str) -> str:
    for k in e.t["keys"].values():
        if k.name == key:
            return k.vault
    return "kv1"


def _clone(e: Engine) -> Engine:
    src = e.store
    dst = MemoryStore(root_key=src.root_key())
    dst._docs = {t: {k: dict(d) for k, d in rows.items()} for t, rows in src.load().items()}
    dst.blobs._blobs = {k: bytearray(v) for k, v in src.blobs._blobs.items()}
    return Engine(dst)


def _resources(e: Engine) -> list[tuple[str, str]]:
    return [(r.kind, r.name) for t in ("disks", "snapshots", "images") for r in e.t[t].values()]


def _readable(e: Engine) -> dict[str, bool]:
    """Whether each resource's data opens through the vault: a real read on a copy of the store."""
    c = _clone(e)
    out = {}
    for kind, name in _resources(e):
        try:
            c.read_resource(kind, name, 0, 1)
            out[name] = True
        except EngineError:
            out[name] = False
    return out


def _startable_after_deallocation(e: Engine) -> dict[str, bool]:
    out = {}
    for vm in e.list_vms():
        c = _clone(e)
        try:
            if c.get_vm(vm.name).power != "deallocated":
                c.deallocate_vm(vm.name)
            c.start_vm(vm.name)
            out[vm.name] = True
        except EngineError:
            out[vm.name] = False
    return out


def _lost(e: Engine) -> set[str]:
    """Resources that stay unreadable whatever the operator does: recover, enable, grant everything."""
    c = _clone(e)
    for v in list(c.t["vaults"].values()):
        if v.state == "Deleted":
            c.recover_vault(v.name)
    for k in list(c.t["keys"].values()):
        if k.state == "Deleted":
            c.recover_key(k.vault, k.name)
        if k.state == "Active" and c.t["vaults"][k.vault].state == "Active":
            c.set_key_attributes(k.vault, k.name, enabled=True, all_versions=True)
    for des in c.list_des():
        vault = des.source_vault_id.rsplit("/", 1)[1]
        if vault in c.t["vaults"]:
            c.set_policy(vault, des.principal_id, ["get", "wrapKey", "unwrapKey"])
    return {name for name, ok in _readable(c).items() if not ok}


def _running(e: Engine) -> dict[str, bool]:
    return {vm.name: vm.power == "running" for vm in e.list_vms()}


_SPEC = {"profile": "seeds", "two_vaults": False, "spare": "des1", "snapshot": True, "seed": 1,
         "vms": [("cmk", "running", "des1"), ("ultra", "running", "des1"), ("mixed", "deallocated", "des2")]}


@settings(**SETTINGS)
@given(spec=landscape, actions=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4))
@example(spec=_SPEC, actions=[ACTIONS[4], ACTIONS[14], ACTIONS[15]])  # purge by the clock, then anything else
@example(spec=_SPEC, actions=[ACTIONS[0], ACTIONS[22], ACTIONS[1], ACTIONS[21]])  # disable, deallocate, enable
@example(spec=_SPEC | {"profile": "azure-2025"}, actions=[ACTIONS[9], ACTIONS[16], ACTIONS[10]])
@example(spec=_SPEC, actions=[ACTIONS[0], ACTIONS[16], ACTIONS[18]])  # re-key while the old key is disabled
def test_what_if_predicts_exactly_what_the_action_does(spec, actions):
    e = _build(spec)
    for action in actions:
        impact = _call(e, action, dry=True)
        docs, commits = e.store.load(), e.store.commits
        run0, read0, ok0, lost0 = _running(e), _readable(e), _startable_after_deallocation(e), _lost(e)
        assert e.store.load() == docs and e.store.commits == commits  # the preview changed nothing
        try:
            _call(e, action, dry=False)
        except EngineError as err:
            assert impact.error is not None, (action, err.display_code, err.message)
            assert impact.error["code"] == err.display_code
            continue
        assert impact.error is None, (action, impact.error)
        run1, read1, ok1, lost1 = _running(e), _readable(e), _startable_after_deallocation(e), _lost(e)
        stopping = sorted(n for n, was in run0.items() if was and run1.get(n) is False)
        starting = sorted(n for n, was in run0.items() if not was and run1.get(n))
        unreadable = sorted(n for n, was in read0.items() if was and read1.get(n) is False)
        again = sorted(n for n, was in read0.items() if not was and read1.get(n))
        at_risk = sorted(n for n in run1 if run1[n] and ok0.get(n) and not ok1[n])
        lost = sorted(lost1 - lost0)
        where = (spec, action)
        assert sorted(impact.vms_stopping) == stopping, where
        assert sorted(impact.vms_starting) == starting, where
        assert sorted(impact.unreadable) == unreadable, where
        assert sorted(impact.readable_again) == again, where
        assert sorted(impact.vms_at_risk) == at_risk, where
        assert sorted(impact.lost_forever) == lost, where
