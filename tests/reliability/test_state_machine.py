"""A hypothesis RuleBasedStateMachine over the engine facade, on a real TinyStore home.

Rules: create a key or a version, rotate, disable/enable a key or one version, delete/recover/purge (with
clock advances past the retention), grant and revoke (access policy or RBAC role), create a set, change a
set's key, toggle automatic rotation, set a rotation policy, create disks (platform, customer key, double),
switch a disk to a set, create VMs (normal and ultra), attach/detach, start/stop/deallocate/restart, write
and read through VMs, advance the clock, snapshot, delete a disk.

Checked around every mutating rule (``_act``):

* the what-if of the action equals its effect: refused iff the action fails (same code); the VMs it
  says stop / start, the resources it says become unreadable / readable again, and the number of
  resources it says are created / deleted, are what really happened;
* a refused action changes nothing (every table but the audit, in memory and on disk);
* no stored ciphertext changes except by a guest write: a set's rotation (update_des, automatic rotation
  in advance_clock) re-wraps data keys, never data.

Checked after every step (``check``), with real reads through the vault:

* no running VM has a non-ultra disk whose key is unusable;
* every disk and snapshot whose key is usable reads back exactly what was last written (a model of the
  writes), through the vault and through its running VM; a resource reads iff the engine says it is
  readable; a resource whose key was purged never reads again;
* no set is left half-rotated: every resource of a set is wrapped by the set's key;
* saving and reopening gives the same state: a new Engine on a new store object on the same home has
  the same documents in every table;
* the audit trail has an entry for every key operation: counts by operation and caller match the
  operations made (and the jobs that ran), every key version has its creation entry, every unwrap of a
  read is audited once with the set's identity, and the audit sequence has no gap.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition, rule,  # noqa: E402
                                 run_state_machine_as_test)

import reliability_harness as H  # noqa: E402
from engine import Engine  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.facade import NEW_VERSION  # noqa: E402
from engine.jobs import JOBS_OF_HORIZON  # noqa: E402
from engine.models import NOT_RESOURCES, ResourceState  # noqa: E402
from engine.rules import ENC_CUSTOMER, ENC_DOUBLE, ENC_PLATFORM  # noqa: E402
from store import TinyStore  # noqa: E402

REGION_BYTES = 64 * 1024
"""Guest writes land in the first 64 KiB of each disk; the model holds those bytes."""
VAULTS = ("kv1", "kv2", "kv3")  # kv1: access policies; kv2: RBAC, premium; kv3: no purge protection
KEY_NAMES = ("k1", "k2", "k3", "k4")
DES_NAMES = ("des-a", "des-b", "des-c", "des-d", "des-e")
DISK_NAMES = ("d-0", "d-1", "d-2", "d-3", "d-4")
SNAP_NAMES = ("s-1", "s-2", "s-3")
VM_NAMES = ("vm-0", "vm-u", "vm-1", "vm-2")
SKUS = ("Premium_LRS", "StandardSSD_LRS", "Standard_LRS", "UltraSSD_LRS")
CLOCK_STEPS = ("30m", "1h", "2h", "1d", "3d", "8d")
KEY_ROOM = 34
"""Seeded stores draw RSA keys from a pool of 40 per size; stay inside it (beyond, keys are generated slowly)."""
COMPUTE_KEY_CODES = {"KeyVaultKeyNotEnabled", "KeyVaultAccessForbidden", "KeyVaultKeyNotFound", "KeyVaultNotFound"}

STATS = bool(os.environ.get("CMKLAB_SM_STATS"))
"""Set CMKLAB_SM_STATS=1 to list how often each action succeeded or was refused, by code."""
if H.LONG:
    EXAMPLES, STEPS = 300, 50
else:
    EXAMPLES, STEPS = 30, 20


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="cmklab-sm-")
        self.home = Path(self.tmp) / "home"
        self.store: TinyStore | None = None
        self.e: Engine | None = None
        self.data: dict[str, bytearray] = {}
        """Model of the first REGION_BYTES of every disk and snapshot, by resource id."""
        self.n = Counter()
        """Key operations this machine made and that succeeded (or were refused, for purge)."""
        self.shredded: set[str] = set()
        """Versionless ids of purged keys: whatever they wrapped must never read again."""
        self.policies = 0
        self.seen_keys: set[str] = set()

    # ---- set-up and tear-down ----------------------------------------------------------------

    @initialize(seed=st.integers(0, 10_000))
    def landscape(self, seed: int) -> None:
        self.store = TinyStore(self.home)
        e = self.e = Engine(self.store, seed=seed)
        with e.transaction():
            e.create_group(H.RG, H.REGION)
            e.create_vault("kv1", H.RG, enable_purge_protection=True, retention_days=7)
            e.create_vault("kv2", H.RG, enable_purge_protection=True, retention_days=7,
                           enable_rbac_authorization=True, sku="premium")
            e.create_vault("kv3", H.RG, retention_days=7)
            k1, v1 = e.create_key("kv1", "k1")
            k2, v2 = e.create_key("kv1", "k2")
            k3, v3 = e.create_key("kv2", "k3")
            self.n["KeyCreate"] += 3
            for name, key, ver, etype in (("des-a", k1, v1, ENC_CUSTOMER), ("des-b", k2, v2, ENC_DOUBLE),
                                          ("des-c", k3, v3, ENC_CUSTOMER)):
                H.grant(e, e.create_des(name, H.RG, H.versioned(key, ver), encryption_type=etype))
            e.create_vm("vm-0", H.RG, os_disk_name="vm-0-os", os_disk_encryption_set="des-a",
                        data_disk_sizes_gb=[1], data_disk_encryption_sets=["des-b"])
            e.create_vm("vm-u", H.RG, size="Standard_D4s_v3", os_disk_name="vm-u-os",
                        os_disk_encryption_set="des-c", data_disk_sizes_gb=[1], data_disk_encryption_sets=["des-c"],
                        storage_sku=["os=Premium_LRS", "0=UltraSSD_LRS"], ultra_ssd_enabled=True)
            e.create_disk("d-0", H.RG, size_gb=1, disk_encryption_set="des-a")
        for r in H.all_resources(e):
            self.data[r.id] = bytearray(REGION_BYTES)

    def teardown(self) -> None:
        if STATS and self.e is not None:
            for ev in self.e.t["events"].values():
                if ev.type in ("VmShutDownByKey", "KeyPurged", "DiskEncryptionSetKeyChanged", "VmStartRefused",
                               "KeyDisabled", "AccessRevoked", "JobRan"):
                    H.record(f"sm event {ev.type}")
            for vm in self.e.t["vms"].values():
                if vm.status:
                    H.record(f"sm final VM status {vm.status.get('code')}")
        if self.store is not None:
            self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        H.record("state-machine examples")

    # ---- observation ---------------------------------------------------------------------------

    def _observe(self) -> dict:
        e = self.e
        res = H.all_resources(e)
        return {
            "readable": {r.id: e.readable(r) for r in res},
            "names": {**{r.id: r.name for r in res}, **{v.id: v.name for v in e.t["vms"].values()}},
            "running": {v.id: v.power == "running" for v in e.t["vms"].values()},
            "docs": H.docs_of(e),
            "blobs": {r.unique_id: H.blob_bytes(e, r) for r in res},
            "owners": {r.unique_id: r.id for r in res},
            "jobs": {(j["time"], j["job"]) for j in e.pending_jobs(JOBS_OF_HORIZON)},
            "versions": {v["version"] for k in e.t["keys"].values() for v in k.versions},
        }

    def _act(self, action: str, *args, **kwargs):
        """Preview ``action``, run it, and check that the preview told the truth."""
        e = self.e
        H.record("state-machine steps")
        impact = e.what_if(action, *args, **kwargs)
        before = self._observe()
        try:
            result, err = getattr(e, action)(*args, **kwargs), None
        except EngineError as exc:
            result, err = None, exc
        after = self._observe()
        H.record("what-if checks")
        if STATS:
            H.record(f"sm {action}: {err.display_code if err else 'OK'}")
        assert (impact.error is None) == (err is None), (action, args, kwargs, impact.error, err and err.to_dict())
        if err is not None:
            assert impact.error["code"] == err.display_code, (impact.error, err.to_dict())
            assert err.code and err.code != "InternalError" and err.message
            # a refused action changes nothing but the audit of denied key operations (KV8)
            assert H.docs_without_audit(after["docs"]) == H.docs_without_audit(before["docs"]), (action, err.message)
            assert after["blobs"] == before["blobs"]
            return None, err
        b, a, names = before, after, after["names"]
        stopping = sorted(names[v] for v, run in b["running"].items() if run and a["running"].get(v) is False)
        starting = sorted(names[v] for v, run in b["running"].items() if not run and a["running"].get(v))
        unreadable = sorted(names[r] for r, ok in b["readable"].items() if ok and a["readable"].get(r) is False)
        again = sorted(names[r] for r, ok in b["readable"].items() if not ok and a["readable"].get(r))
        assert impact.vms_stopping == stopping, (action, args, impact.lines())
        assert sorted(impact.vms_starting) == starting, (action, args, impact.lines())
        assert impact.unreadable == unreadable, (action, args, impact.lines())
        assert impact.readable_again == again, (action, args, impact.lines())
        created = deleted = 0
        for table in set(b["docs"]) | set(a["docs"]):
            if table in NOT_RESOURCES:
                continue
            old, new = b["docs"].get(table, {}), a["docs"].get(table, {})
            created += len(set(new) - set(old))
            deleted += len(set(old) - set(new))
        assert (len(impact.created), len(impact.deleted)) == (created, deleted), (action, args, impact.lines())
        # what the clock will do: every job the action schedules or moves is said (a version the action makes is
        # named "(its new version)": its id is drawn by the action), and every job said to go away does
        if action not in ("advance_clock", "run_due_jobs"):
            made = a["versions"] - b["versions"]

            def unnamed(job: str) -> str:
                for v in made:
                    job = job.replace(v, NEW_VERSION).replace(v[:8], NEW_VERSION)
                return job
            new = sorted(f"{unnamed(j)} at {t}" for t, j in a["jobs"] - b["jobs"])
            gone = {f"{j} at {t}" for t, j in b["jobs"] - a["jobs"]}
            assert sorted(impact.scheduled) == new, (action, args, impact.lines(), new)
            assert set(impact.unscheduled) <= gone, (action, args, impact.lines(), gone)
        # rotation (and anything else but a guest write) never touches the data's ciphertext
        for uid, blob in b["blobs"].items():
            if uid in a["blobs"]:
                assert a["blobs"][uid] == blob, f"{action} changed the ciphertext of {names[b['owners'][uid]]}"
        return result, None

    # ---- helpers ---------------------------------------------------------------------------------

    def _key_room(self) -> bool:
        e = self.e
        return sum(len(k.versions) for k in e.t["keys"].values()) + len(e.t["platform_keys"]) < KEY_ROOM

    def _keys(self, include_deleted=False):
        return sorted((k for k in self.e.t["keys"].values()
                       if include_deleted or k.state == ResourceState.ACTIVE.value), key=lambda k: k.id)

    def _pick(self, data, items, label):
        items = list(items)
        return data.draw(st.sampled_from(items), label=label) if items else None

    def _disk_names(self):
        return sorted({d.name for d in self.e.t["disks"].values()} | set(DISK_NAMES))

    def _name(self, data, existing, pool, label, *, fresh=False):
        """Mostly an existing name (or, with ``fresh``, mostly an unused one); sometimes any name of the pool."""
        existing = sorted(existing)
        unused = [n for n in pool if n not in existing]
        preferred = unused if fresh else existing
        if preferred and data.draw(st.integers(0, 9), label=f"{label} from pool?") < 8:
            return data.draw(st.sampled_from(preferred), label=label)
        return data.draw(st.sampled_from(sorted(set(pool) | set(existing))), label=label)

    def _des_names(self):
        return [d.name for d in self.e.t["des"].values()]

    # ---- Key Vault rules ---------------------------------------------------------------------------
    # Every rule takes one ``data`` argument and draws the rest, so that hypothesis picks rules about evenly.

    def _draw(self, data, strategy, label):
        return data.draw(strategy, label=label)

    @precondition(lambda self: self._key_room())
    @rule(data=st.data())
    def create_key(self, data):
        vault = self._draw(data, st.sampled_from(VAULTS), "vault")
        name = self._name(data, [k.name for k in self._keys(include_deleted=True)], KEY_NAMES, "key", fresh=True)
        _, err = self._act("create_key", vault, name)
        if err is None:
            self.n["KeyCreate"] += 1

    @precondition(lambda self: self._key_room())
    @rule(data=st.data())
    def rotate_key(self, data):
        k = self._pick(data, self._keys(include_deleted=True), "key")
        if k is None:
            return
        _, err = self._act("rotate_key", k.vault, k.name)
        if err is None:
            self.n["KeyRotate"] += 1

    def _set_enabled(self, data, enabled: bool) -> None:
        k = self._pick(data, self._keys(include_deleted=True), "key")
        if k is None:
            return
        which = self._draw(data, st.sampled_from(["current", "version", "all"]), "which")
        version = None
        if which == "version":
            version = self._draw(data, st.sampled_from([v["version"] for v in k.versions]), "version")
        _, err = self._act("set_key_attributes", k.vault, k.name, version, enabled=enabled,
                           all_versions=which == "all")
        if err is None:
            self.n["KeyUpdate"] += 1

    @rule(data=st.data())
    def disable_key(self, data):
        self._set_enabled(data, False)

    @rule(data=st.data())
    def enable_key(self, data):
        self._set_enabled(data, True)

    @rule(data=st.data())
    def delete_key(self, data):
        k = self._pick(data, self._keys(include_deleted=True), "key")
        if k is not None:
            _, err = self._act("delete_key", k.vault, k.name)
            if err is None:
                self.n["KeyDelete"] += 1

    def _deleted_key(self, data):
        """Mostly a deleted key (what recover and purge act on), sometimes any key."""
        deleted = [k for k in self._keys(include_deleted=True) if k.state != ResourceState.ACTIVE.value]
        if deleted and self._draw(data, st.integers(0, 9), "deleted one?") < 8:
            return self._pick(data, deleted, "key")
        return self._pick(data, self._keys(include_deleted=True), "key")

    @rule(data=st.data())
    def recover_key(self, data):
        k = self._deleted_key(data)
        if k is not None:
            _, err = self._act("recover_key", k.vault, k.name)
            if err is None:
                self.n["KeyRecover"] += 1

    @rule(data=st.data())
    def purge_key(self, data):
        k = self._deleted_key(data)
        if k is None:
            return
        kid = k.id
        _, err = self._act("purge_key", k.vault, k.name)
        if err is None:
            self.n["KeyPurge"] += 1
            self.shredded.add(kid.lower())
        elif err.display_code == "PurgeProtectionEnabled":
            self.n["KeyPurgeRefused"] += 1

    @precondition(lambda self: any(k.state != ResourceState.ACTIVE.value and k.vault == "kv3"
                                   for k in self.e.t["keys"].values()))
    @rule()
    def purge_unprotected(self):
        """kv3 has no purge protection: a deleted key there can be purged at once (by the operator)."""
        k = next(k for k in self._keys(include_deleted=True) if k.state != ResourceState.ACTIVE.value
                 and k.vault == "kv3")
        _, err = self._act("purge_key", k.vault, k.name)
        assert err is None, err.to_dict()
        self.n["KeyPurge"] += 1
        self.shredded.add(k.id.lower())

    @precondition(lambda self: self.policies < 2 and self._key_room())
    @rule(data=st.data())
    def set_rotation_policy(self, data):
        k = self._pick(data, self._keys(), "key")
        if k is None:
            return
        days = self._draw(data, st.integers(7, 40), "days")
        policy = {"lifetimeActions": [{"trigger": {"timeAfterCreate": f"P{days}D"}, "action": {"type": "Rotate"}}],
                  "attributes": {"expiryTime": None}}
        _, err = self._act("set_rotation_policy", k.vault, k.name, policy)
        if err is None:
            self.n["KeyRotationPolicyUpdate"] += 1
            self.policies += 1

    def _vault_of(self, des):
        return self.e.t["vaults"][des.key_url.split("//")[1].split(".")[0]]

    @rule(data=st.data())
    def grant(self, data):
        des = self._pick(data, self.e.t["des"].values(), "set")
        if des is None:
            return
        vault = self._vault_of(des)
        if vault.enable_rbac_authorization:
            self._act("create_role_assignment", des.principal_id, "Key Vault Crypto Service Encryption User", vault.id)
        else:
            perms = self._draw(data, st.sampled_from([("get", "wrapKey", "unwrapKey"), ("get", "wrapKey"),
                                                      ("get", "unwrapKey"), ("all",)]), "permissions")
            self._act("set_policy", vault.name, des.principal_id, list(perms))

    @rule(data=st.data())
    def revoke(self, data):
        des = self._pick(data, self.e.t["des"].values(), "set")
        if des is None:
            return
        vault = self._vault_of(des)
        if vault.enable_rbac_authorization:
            self._act("delete_role_assignment", assignee=des.principal_id, scope=vault.id)
        else:
            self._act("delete_policy", vault.name, des.principal_id)

    # ---- disk encryption sets ------------------------------------------------------------------------

    def _key_url(self, data):
        k = self._pick(data, self._keys(include_deleted=True), "key")
        if k is None:
            return None
        ver = self._draw(data, st.sampled_from(k.versions[::-1]), "version")
        return H.versioned(k, ver)

    @rule(data=st.data())
    def create_des(self, data):
        name = self._name(data, self._des_names(), DES_NAMES, "set", fresh=True)
        etype = self._draw(data, st.sampled_from([ENC_CUSTOMER, ENC_DOUBLE]), "type")
        auto = self._draw(data, st.booleans(), "auto rotation")
        url = self._key_url(data)
        if url is not None:
            self._act("create_des", name, H.RG, url, encryption_type=etype, rotation_to_latest=auto)

    @rule(data=st.data())
    def update_des_key(self, data):
        des = self._pick(data, self.e.t["des"].values(), "set")
        url = self._key_url(data)
        if des is None or url is None:
            return
        wrapped = {r.id: r.layers[0]["wrapped"] for r in self.e.des_resources(des)}
        _, err = self._act("update_des", des.name, H.RG, key_url=url)
        if err is None:
            des = self.e.t["des"][des.id]
            assert des.key_url == url
            for r in self.e.des_resources(des):
                assert r.layers[0]["kid"] == des.key_url
                if r.id in wrapped and wrapped[r.id] != r.layers[0]["wrapped"]:
                    H.record("data keys re-wrapped")

    @rule(data=st.data())
    def toggle_auto_rotation(self, data):
        des = self._pick(data, self.e.t["des"].values(), "set")
        if des is not None:
            self._act("update_des", des.name, H.RG, rotation_to_latest=not des.rotation_to_latest)

    # ---- disks, snapshots ------------------------------------------------------------------------------

    @rule(data=st.data())
    def create_disk(self, data):
        name = self._name(data, [d.name for d in self.e.t["disks"].values()], DISK_NAMES, "disk", fresh=True)
        sku = self._draw(data, st.sampled_from(SKUS), "sku")
        etype = self._draw(data, st.sampled_from([None, None, None, None, ENC_PLATFORM, ENC_CUSTOMER, ENC_DOUBLE]),
                           "type")
        des = self._draw(data, st.sampled_from([None] + self._des_names() + ["des-x"]), "set")
        r, err = self._act("create_disk", name, H.RG, size_gb=1, sku=sku, disk_encryption_set=des,
                           encryption_type=etype)
        if err is None:
            self.data[r.id] = bytearray(REGION_BYTES)

    @rule(data=st.data())
    def encrypt_disk(self, data):
        """Switch a disk to a set (K4, K5); to double encryption it is re-encrypted in place, else never."""
        d = self._pick(data, self.e.t["disks"].values(), "disk")
        des = self._pick(data, self._des_names(), "set")
        if d is None or des is None:
            return
        etype_before, blob = d.encryption_type, H.blob_bytes(self.e, d)
        e = self.e
        H.record("state-machine steps")
        impact = e.what_if("update_disk", d.name, H.RG, disk_encryption_set=des)
        docs = H.docs_of(e)
        try:
            e.update_disk(d.name, H.RG, disk_encryption_set=des)
            err = None
        except EngineError as exc:
            err = exc
        assert (impact.error is None) == (err is None), (impact.error, err and err.to_dict())
        if err is not None:
            assert H.docs_without_audit(H.docs_of(e)) == H.docs_without_audit(docs)
            assert H.blob_bytes(e, d) == blob
            return
        after = e.t["disks"][d.id]
        if not (etype_before == ENC_PLATFORM and after.encryption_type == ENC_DOUBLE):
            assert H.blob_bytes(e, after) == blob, "switching a disk to customer keys re-encrypted its data"

    @rule(data=st.data())
    def create_snapshot(self, data):
        name = self._name(data, [x.name for x in self.e.t["snapshots"].values()], SNAP_NAMES, "snapshot", fresh=True)
        src = self._pick(data, self.e.t["disks"].values(), "source")
        if src is None:
            return
        model = bytes(self.data[src.id])
        r, err = self._act("create_snapshot", name, H.RG, src.name)
        if err is None:
            self.data[r.id] = bytearray(model)

    @rule(data=st.data())
    def delete_disk(self, data):
        d = self._pick(data, self.e.t["disks"].values(), "disk")
        if d is not None:
            _, err = self._act("delete_disk", d.name, H.RG)
            if err is None:
                self.data.pop(d.id, None)

    # ---- VMs -----------------------------------------------------------------------------------------

    @rule(data=st.data())
    def create_vm(self, data):
        name = self._name(data, [v.name for v in self.e.t["vms"].values()], VM_NAMES, "vm", fresh=True)
        ultra = self._draw(data, st.booleans(), "ultra")
        os_des = self._draw(data, st.sampled_from([None] + self._des_names()), "os set")
        data_des = self._draw(data, st.sampled_from([None] + self._des_names()), "data set")
        kwargs = dict(os_disk_name=f"{name}-os", os_disk_encryption_set=os_des, data_disk_sizes_gb=[1],
                      data_disk_encryption_sets=[data_des] if data_des else None)
        if ultra:
            kwargs.update(size="Standard_D4s_v3", storage_sku=["os=Premium_LRS", "0=UltraSSD_LRS"],
                          ultra_ssd_enabled=True)
        vm, err = self._act("create_vm", name, H.RG, **kwargs)
        if err is None:
            for d in self.e.vm_disks(vm):
                self.data[d.id] = bytearray(REGION_BYTES)

    @rule(data=st.data())
    def attach(self, data):
        vm = self._pick(data, self.e.t["vms"].values(), "vm")
        free = [d.name for d in self.e.t["disks"].values() if self.e.vm_of_disk(d.id) is None]
        disk = self._name(data, free, DISK_NAMES, "disk")
        lun = self._draw(data, st.sampled_from([None, 1, 2, 3]), "lun")
        if vm is not None:
            self._act("attach_disk", vm.name, disk, H.RG, lun=lun)

    @rule(data=st.data())
    def detach(self, data):
        vm = self._pick(data, self.e.t["vms"].values(), "vm")
        if vm is None:
            return
        names = [self.e.t["disks"][x["diskId"]].name for x in vm.data_disks]
        self._act("detach_disk", vm.name, self._name(data, names, DISK_NAMES[:2], "disk"), H.RG)

    @rule(data=st.data())
    def power(self, data):
        vm = self._pick(data, self.e.t["vms"].values(), "vm")
        verb = self._draw(data, st.sampled_from(["start_vm", "stop_vm", "deallocate_vm", "restart_vm"]), "verb")
        if vm is not None:
            self._act(verb, vm.name, H.RG)

    @rule(data=st.data())
    def start(self, data):
        vm = self._pick(data, [v for v in self.e.t["vms"].values() if v.power != "running"], "vm")
        if vm is not None:
            self._act("start_vm", vm.name, H.RG)

    @rule(data=st.data())
    def a_guest_write(self, data):
        """A guest writes through a running VM. (Named to sort first: hypothesis draws the first rule most.)"""
        vm = self._pick(data, self.e.t["vms"].values(), "vm")
        if vm is None:
            return
        H.record("state-machine steps")
        lun = self._draw(data, st.sampled_from(["os"] + [x["lun"] for x in vm.data_disks]), "lun")
        offset = self._draw(data, st.integers(0, REGION_BYTES - 1), "offset")
        length = min(self._draw(data, st.integers(1, 9000), "length"), REGION_BYTES - offset)
        payload = random.Random(self._draw(data, st.integers(0, 2**32), "seed")).randbytes(length)
        disk_id = vm.os_disk_id if lun == "os" else next(x["diskId"] for x in vm.data_disks if x["lun"] == lun)
        before = H.docs_of(self.e)
        try:
            n = self.e.vm_write(vm.name, lun, offset, payload, H.RG)
        except EngineError as exc:
            if STATS:
                H.record(f"sm vm_write: {exc.display_code}")
            d = self.e.t["disks"][disk_id]
            # only a stopped VM, or an ultra disk whose host keys were shredded, refuses a write
            assert vm.power != "running" or (d.is_ultra and d.cache is None), exc.to_dict()
            H.record("state-machine writes refused")
            assert H.docs_of(self.e) == before
            return
        assert vm.power == "running" and n == length
        if STATS:
            H.record("sm vm_write: OK")
        self.data[disk_id][offset:offset + length] = payload
        H.record("state-machine writes")
        assert H.docs_of(self.e) == before, "a guest write changed resource state"

    @precondition(lambda self: self._key_room())
    @rule(data=st.data())
    def advance_clock(self, data):
        self._act("advance_clock", self._draw(data, st.sampled_from(CLOCK_STEPS), "by"))

    @precondition(lambda self: self._key_room() and any(k.state != ResourceState.ACTIVE.value
                                                        for k in self.e.t["keys"].values()))
    @rule()
    def wait_out_retention(self):
        """Past the 7-day retention: the platform purges soft-deleted keys (crypto-shredding, KV6)."""
        self._act("advance_clock", "8d")

    # ---- invariants ------------------------------------------------------------------------------------

    @invariant()
    def check(self) -> None:
        e = self.e
        if e is None:
            return
        known = {k.id.lower() for k in e.t["keys"].values()}
        self.shredded |= self.seen_keys - known
        self.seen_keys |= known
        res = H.all_resources(e)
        reads: dict[str, bytes | EngineError] = {}
        # Real reads through the vault (each unwrap audited, whether it is allowed or refused).
        for r in res:
            seen = set(e.t["audit"].keys())
            try:
                reads[r.id] = e.read_resource(r.kind, r.name, 0, REGION_BYTES, H.RG)
            except EngineError as exc:
                reads[r.id] = exc
            kid = r.layers[0]["kid"]
            if not kid.startswith("platform:"):
                new = [e.t["audit"][i] for i in sorted(set(e.t["audit"].keys()) - seen)]
                assert [a.operation for a in new] == ["KeyUnwrap"], (r.name, [a.to_doc() for a in new])
                des = e.t["des"][r.des_id]
                assert new[0].kid == kid and new[0].caller == des.principal_id
                assert (new[0].result == "OK") == (not isinstance(reads[r.id], EngineError))
        for r in res:
            got = reads[r.id]
            if isinstance(got, EngineError):
                assert got.code in COMPUTE_KEY_CODES, (r.name, got.to_dict())
                assert not e.readable(r), f"{r.kind} {r.name} is readable but its read failed: {got.message}"
            else:
                assert e.readable(r)
                assert got == bytes(self.data[r.id]), f"{r.kind} {r.name} does not read back its last written data"
            kid = r.layers[0]["kid"]
            if not kid.startswith("platform:") and kid.rsplit("/", 1)[0].lower() in self.shredded:
                assert isinstance(got, EngineError), f"{r.kind} {r.name} reads after its key was purged"
        # No running VM has a non-ultra disk whose key is unusable; a running VM reads its disks itself.
        for vm in e.t["vms"].values():
            if vm.power != "running":
                continue
            for d in e.vm_disks(vm):
                if d.encryption_type != ENC_PLATFORM and not d.is_ultra:
                    assert not isinstance(reads[d.id], EngineError), \
                        f"VM {vm.name} runs but the key of its disk {d.name} is unusable: {reads[d.id].message}"
                lun = vm.lun_of(d.id)
                try:
                    got = e.vm_read(vm.name, lun, 0, REGION_BYTES, H.RG)
                except EngineError as exc:
                    assert d.is_ultra and d.cache is None, (vm.name, d.name, exc.to_dict())
                    continue
                assert got == bytes(self.data[d.id]), f"VM {vm.name} reads other data than written on {d.name}"
        # No set is left half-rotated.
        for des in e.t["des"].values():
            assert des.provisioning_state == "Succeeded" and not des.previous_keys
            for r in e.des_resources(des):
                assert r.layers[0]["kid"] == des.key_url, (des.name, r.name)
        # Saving and reopening gives the same state.
        assert H.reopened_docs(self.home) == H.docs_of(e)
        H.record("reopen checks")
        self._check_audit()

    def _check_audit(self) -> None:
        e = self.e
        audit = sorted(e.t["audit"].values(), key=lambda a: a.id)
        assert [a.time for a in audit] == sorted(a.time for a in audit), "the audit trail is not in time order"
        by = Counter((a.operation, a.result == "OK", a.caller) for a in audit)
        op = e.operator
        jobs = [ev.data.get("job", "") for ev in e.t["events"].values() if ev.type == "JobRan"]
        policy_rotations = sum(1 for j in jobs if j.startswith("rotation policy of") and j.endswith(": rotate"))
        platform_purges = sum(1 for j in jobs if j.startswith("purge deleted key"))
        assert by[("KeyCreate", True, op)] == self.n["KeyCreate"]
        assert by[("KeyRotate", True, op)] == self.n["KeyRotate"] + policy_rotations
        assert by[("KeyUpdate", True, op)] == self.n["KeyUpdate"]
        assert by[("KeyDelete", True, op)] == self.n["KeyDelete"]
        assert by[("KeyRecover", True, op)] == self.n["KeyRecover"]
        assert by[("KeyPurge", True, op)] == self.n["KeyPurge"]
        assert by[("KeyPurge", False, op)] == self.n["KeyPurgeRefused"]
        assert by[("KeyPurge", True, "platform")] == platform_purges
        assert by[("KeyRotationPolicyUpdate", True, op)] == self.n["KeyRotationPolicyUpdate"]
        made = {a.kid for a in audit if a.operation in ("KeyCreate", "KeyRotate", "KeyImport") and a.result == "OK"}
        for k in e.t["keys"].values():
            for ver in k.versions:
                assert f"{k.id}/{ver['version']}" in made, f"no audit entry for the creation of {k.id}/{ver['version']}"
            if k.state == ResourceState.DELETED.value:
                assert any(a.operation == "KeyDelete" and a.kid == k.id for a in audit)


def test_engine_state_machine():
    run_state_machine_as_test(EngineMachine, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
        derandomize=not H.LONG, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]))
    assert H.FIGURES["state-machine steps"] > 0
