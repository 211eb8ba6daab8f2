"""The one facade the console and the CLI both call: :class:`Engine`.

It is built from one mixin per resource kind (vaults, keys, disk encryption sets, disks, VMs,
jobs), moto-style, and adds the queries that span them: the what-if preview of any action and the
cause chain of any resource. No rule lives in a screen or a command: they call these methods.
"""

from __future__ import annotations

from ._lazy import crypto
from ._light import dataclass, field
from .actions import action, actions_of
from datetime import datetime

from .errors import EngineError, NotFound
from .ids import key_id, parse_key_url
from .des import DesBackend
from .disks import DisksBackend
from .jobs import JobsBackend
from .keys import KeysBackend
from .models import DATA_TABLES, NOT_RESOURCES, PowerState
from .repository import MemoryStore
from .rules import KEY_PERMISSIONS
from .vaults import VaultsBackend
from .vms import VmsBackend



@dataclass
class Impact:
    """What an action would do (what-if), in the terms an operator cares about."""

    action: str
    vms_stopping: list[str] = field(default_factory=list)
    """Running VMs the action shuts down."""
    vms_at_risk: list[str] = field(default_factory=list)
    """Running VMs that keep running (ultra disks) but would not start after deallocation."""
    vms_not_restartable: list[str] = field(default_factory=list)
    """VMs the action deallocates that will not start again (their key is unusable: the host-cached keys a VM
    with ultra disks runs on go with the deallocation, V4)."""
    not_restartable_why: str | None = None
    """Why the first of them will not start (``key kv/k disabled``)."""
    vms_start_blocked: list[str] = field(default_factory=list)
    """VMs already stopped or deallocated that could start before the action and no longer can (a disk's key
    becomes unusable): the mirror of ``vms_startable_again``. They stay as they are, with the reason."""
    vms_startable_again: list[str] = field(default_factory=list)
    vms_starting: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """Disks, snapshots and images whose data keys could no longer be opened."""
    readable_again: list[str] = field(default_factory=list)
    rewrapped: list[str] = field(default_factory=list)
    lost_forever: list[str] = field(default_factory=list)
    """Resources whose data is gone for good (the only key that could open them is purged)."""
    sets_broken: list[str] = field(default_factory=list)
    """Disk encryption sets that could use their key before and no longer can."""
    sets_pinned: list[str] = field(default_factory=list)
    """Disk encryption sets on a key that gets a new version, without automatic rotation: they stay on the version
    they name, and so do their resources (D4), until the set is given the new one."""
    sets_unfollowing: list[str] = field(default_factory=list)
    """Disk encryption sets whose automatic rotation the action turns off: the key's next versions are not taken
    up; their resources stay on the version they are on."""
    own_access_lost: dict[str, list[str]] = field(default_factory=dict)
    """Vault name -> the key permissions the current principal (the one acting: you) loses on it: revoking or
    narrowing one's own access policy or role."""
    own_name: str | None = None
    """The current principal's name (:meth:`Engine.principal_name`), when it loses access."""
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    jobs_run: list[str] = field(default_factory=list)
    """What the simulated clock would run (``advance_clock``, ``run_due_jobs``): ``<job> at <time>``, in order."""
    scheduled: list[str] = field(default_factory=list)
    """Jobs of the keys, sets and vaults the action touches that it schedules or moves (``<job> at <time>``): a
    rotation policy's next rotation, a set's automatic rotation to a new version, a purge at the end of retention,
    an expiry. Nothing runs now; the clock runs them as it passes them."""
    unscheduled: list[str] = field(default_factory=list)
    """Jobs of those that were due and no longer will be (the set's automatic rotation turned off, a deleted key's
    purge after its recovery), or were moved (then ``scheduled`` holds their new time)."""
    error: dict | None = None
    """The refusal, when the action would fail (then nothing else happens)."""

    @property
    def destructive(self) -> bool:
        return bool(self.vms_stopping or self.vms_at_risk or self.vms_not_restartable or self.vms_start_blocked
                    or self.own_access_lost
                    or self.unreadable or self.lost_forever or self.deleted
                    or self.sets_broken)

    def lines(self, limit: int | None = None) -> list[str]:
        """Terraform-style lines: ``- stop``, ``! at risk``, ``~ re-wrap``, ``x lost``. ``limit``: at most that
        many names on a line, then how many more (a set serving 5,000 disks stays readable)."""
        if self.error:
            return [f"refused: ({self.error['code']}) {self.error['message']}"]

        def names(items: list[str]) -> str:
            if limit is None or len(items) <= limit:
                return ", ".join(items)
            return f"{', '.join(items[:limit])}, … and {len(items) - limit:,} more"

        out = []
        if self.vms_stopping:
            out.append(f"{len(self.vms_stopping):,} VM(s) will stop: {names(self.vms_stopping)}")
        if self.vms_at_risk:
            out.append(f"{len(self.vms_at_risk):,} VM(s) with ultra disks keep running but will not start after "
                       f"deallocation: {names(self.vms_at_risk)}")
        if self.vms_not_restartable:
            why = f" ({self.not_restartable_why})" if self.not_restartable_why else ""
            out.append(f"{len(self.vms_not_restartable):,} VM(s) will not start again after deallocation{why}: "
                       f"{names(self.vms_not_restartable)}")
        if self.vms_start_blocked:
            out.append(f"{len(self.vms_start_blocked):,} VM(s) already stopped or deallocated can no longer start: "
                       f"{names(self.vms_start_blocked)}")
        for vault, perms in self.own_access_lost.items():
            out.append(f"you ({self.own_name or 'the signed-in principal'}) lose your own access to vault {vault}: "
                       f"key permissions {', '.join(perms)}; Azure refuses you those operations on its keys until a "
                       "policy or role grants them again (cmklab's operator keeps managing the home, O7)")
        if self.sets_broken:
            out.append(f"{len(self.sets_broken):,} disk encryption set(s) can no longer use their key: "
                       f"{names(self.sets_broken)}")
        if self.unreadable:
            out.append(f"{len(self.unreadable):,} resource(s) become unreadable: {names(self.unreadable)}")
        if self.lost_forever:
            out.append(f"{len(self.lost_forever):,} resource(s) lost for good (crypto-shredded): "
                       f"{names(self.lost_forever)}")
        if self.sets_pinned:
            out.append(f"{len(self.sets_pinned):,} disk encryption set(s) stay on the key version they name "
                       f"(automatic rotation off: their resources are not moved to the new version): "
                       f"{names(self.sets_pinned)}")
        if self.sets_unfollowing:
            out.append(f"{len(self.sets_unfollowing):,} disk encryption set(s) stop following their key's new "
                       f"versions (their resources stay on the version they are on): {names(self.sets_unfollowing)}")
        if self.rewrapped:
            out.append(f"{len(self.rewrapped):,} data key(s) re-wrapped (data and VMs untouched)")
        if self.readable_again:
            out.append(f"{len(self.readable_again):,} resource(s) readable again: {names(self.readable_again)}")
        if self.vms_startable_again:
            out.append(f"{len(self.vms_startable_again):,} VM(s) become startable (nothing starts by itself): "
                       f"{names(self.vms_startable_again)}")
        if self.vms_starting:
            out.append(f"VM(s) start: {names(self.vms_starting)}")
        for label, items in (("create", self.created), ("delete", self.deleted), ("modify", self.modified)):
            if items:
                out.append(f"{label}: {names(items)}")
        if self.jobs_run:
            out.append(f"{len(self.jobs_run):,} job(s) run as the clock passes them: {names(self.jobs_run)}")
        if self.scheduled:
            out.append(f"{len(self.scheduled):,} job(s) scheduled: {names(self.scheduled)}")
        if self.unscheduled:
            out.append(f"{len(self.unscheduled):,} job(s) no longer scheduled: {names(self.unscheduled)}")
        return out or ["no change"]

    def summary(self) -> str:
        return "; ".join(self.lines())

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()} | {"summary": self.lines()}


NEW_VERSION = "(its new version)"
"""What a what-if's job names in place of a key version the action would make (its id is drawn then)."""
_RUNS_JOBS = ("advance_clock", "run_due_jobs")
"""The actions that run the clock's jobs: their what-if says which (``jobs_run``), not which they unschedule."""


class _DryRunDone(Exception):
    """Raised at the end of a what-if so that the unit of work rolls every touched model back."""


def _name(table: str, obj) -> str:
    return getattr(obj, "name", None) or getattr(obj, "id", "?")


class Engine(JobsBackend, VmsBackend, DisksBackend, DesBackend, KeysBackend, VaultsBackend):
    """The engine: every action and query of cmklab."""

    @classmethod
    def in_memory(cls, *, seed: int | None = None, profile: str | None = None,
                  start: datetime | None = None) -> "Engine":
        return cls(MemoryStore(), seed=seed, profile=profile, start=start)

    # ---- resource groups -------------------------------------------------------------------------

    @action
    def delete_group(self, name: str) -> None:
        """``az group delete``: the group and everything in it, as Azure Resource Manager deletes it: scale
        sets (with their instances and disks) and VMs first, then images, snapshots and disks, disk encryption
        sets, and vaults (soft-deleted: recoverable as any deleted vault, with their keys), and the role
        assignments at or under its scope. The deletions cascade as each one alone does (a vault's keys become
        unusable to the sets in other groups that use them). One unit of work: a member that cannot go (a set
        that still serves disks in another group) refuses the whole deletion, and nothing is deleted."""
        with self.transaction():
            g = self.get_group(name)
            for table, delete in (("scalesets", self.delete_scale_set), ("vms", self.delete_vm),
                                  ("images", self.delete_image), ("snapshots", self.delete_snapshot),
                                  ("disks", self.delete_disk), ("des", self.delete_des)):
                for r in self.group_members(table, g):
                    if self.t[table].get(r.key) is not None:  # (a scale set took its instances' disks)
                        delete(r.name, g.name)
            for v in self.group_members("vaults", g):
                self.delete_vault(v.name)
            self._remove_emptied_group(g)

    # ---- side documents ---------------------------------------------------------------------------
    # Small JSON documents the store keeps beside the state (``engine.repository.SIDE_DOCUMENTS``: the
    # workshop lab's progress), not part of it: no action, no commit, no journal line.

    def read_side(self, name: str):
        """The store's side document ``name`` (its JSON value), or None when there is none."""
        return self.store.read_side(name)

    def write_side(self, name: str, value) -> None:
        """Replace the store's side document ``name``; a read-only store refuses
        (:class:`~engine.errors.ReadOnly`) and nothing is written."""
        self.refuse_if_read_only(f"saving the {name} document")
        self.store.write_side(name, value)

    def side_signature(self, name: str):
        """What changes when the side document ``name`` is written, by this process or another (None: there
        is none): compare it with the one last seen before reading again."""
        return self.store.side_signature(name)

    # ---- what-if ---------------------------------------------------------------------------------

    def _readiness(self, scope: tuple[set, set] | None) -> tuple[dict, dict, dict]:
        """Readability of disks, snapshots and images and the state of VMs: of those in ``scope``
        (``({(table, key)}, {vm key})``), or of all of them."""
        if scope is None:
            resources = [r for t in DATA_TABLES for r in self.t[t].values()]
            vms = list(self.t["vms"].values())
        else:
            resources = [r for t, k in sorted(scope[0]) if (r := self.t[t].get(k)) is not None]
            vms = [vm for k in sorted(scope[1]) if (vm := self.t["vms"].get(k)) is not None]
        with self._key_problems_fixed():  # a pure reading: each key's usability is asked once
            readable = {r.id: self.readable(r) for r in resources}
            running = {vm.id: vm.power == PowerState.RUNNING.value for vm in vms}
            restartable = {vm.id: self.startable(vm, after_deallocation=True) is None for vm in vms}
            restartable.update({d.id: self.des_identity_ready(d) is None for d in self.t["des"].values()})  # sets are few
        return readable, running, restartable

    def _scope_of(self, action: str, args, kwargs) -> tuple[set, set] | None:
        """What ``action`` can reach: a first dry run, rolled back, tells (None: everything)."""
        scope = None
        try:
            with self.transaction(dry_run=True) as uow:
                getattr(self, action)(*args, **kwargs)
                # no cascade here: the VMs it would check are the ones _affected finds (the same function
                # chooses them), so the scope is the same without paying for the cascade twice
                found = self._affected()
                if found is not None and not any(t in ("vms", *DATA_TABLES) for t, _k in uow.before):
                    # the rollback leaves the models it found as they are (it touched none of them): the
                    # second run of the action asks the same question of the same models
                    self._affected_hint = (set(uow.before), found)
                if found is not None:
                    vms, resources = found
                    scope = (set(resources) | {(t, k) for t, k in uow.before if t in ("disks", "snapshots",
                                                                                      "images")},
                             set(vms) | {k for t, k in uow.before if t == "vms"})
                raise _DryRunDone
        except _DryRunDone:
            pass
        return scope

    def what_if(self, action: str, *args, **kwargs) -> Impact:
        """Run ``action`` as a dry run and report its consequences; no state changes, nothing is written."""
        if not previewable(action):
            raise NotFound(f"{action!r} is not an action what-if can preview; those are: "
                           f"{', '.join(a for a, p in ACTIONS.items() if p)}", code="InvalidParameter")
        impact = Impact(action=action)
        with self._lock:
            self.refresh_if_changed()
            try:
                try:
                    scope = self._scope_of(action, args, kwargs)
                except EngineError as err:
                    impact.error = {"code": err.display_code, "message": err.message}
                    return impact
                r0, run0, ok0 = self._readiness(scope)
                own0 = self.key_permissions_of(self.operator)
                try:
                    with self.transaction(dry_run=True) as uow:
                        result = getattr(self, action)(*args, **kwargs)
                        self._finish(uow)
                        uow.reconcile = False
                        self._fill_impact(impact, uow, scope, r0, run0, ok0)
                        self._own_access(impact, own0)
                        if action in _RUNS_JOBS:
                            impact.jobs_run = [f"{j['job']} at {j['time']}" for j in result or []]
                            jobs = None
                        else:
                            # of what is still there after the action: a purge ends its thing's jobs, which
                            # its own lines say (the jobs of what it removes are not listed as unscheduled)
                            jobs = tuple({k for k in ids if self.t[table].get(k) is not None}
                                         for table, ids in zip(("keys", "des", "vaults"), self._jobs_scope(uow)))
                            after = self._unnamed_versions(uow, self.jobs_of(*jobs))
                        raise _DryRunDone  # leave through the rollback: a preview changes nothing in memory either
                except _DryRunDone:
                    if jobs is not None:  # the same keys, sets and vaults as they are (the rollback is done)
                        before = self.jobs_of(*jobs)
                        impact.scheduled = [f"{job} at {when}" for when, job in after if (when, job) not in before]
                        impact.unscheduled = [f"{job} at {when}" for when, job in before if (when, job) not in after]
                except EngineError as err:
                    impact.error = {"code": err.display_code, "message": err.message}
            finally:
                self._affected_hint = None
        return impact

    def _unnamed_versions(self, uow, jobs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """``jobs`` without the ids of the key versions the dry run made: the action itself would draw others
        (a job is named by its version's first eight characters, or all of them)."""
        made = []
        for (table, key), before in uow.before.items():
            k = self.t[table].get(key) if table == "keys" else None
            if k is not None:
                had = {v["version"] for v in (before or {}).get("versions") or []}
                made += [v["version"] for v in k.versions if v["version"] not in had]
        if not made:
            return jobs
        out = []
        for when, job in jobs:
            for version in made:
                job = job.replace(version, NEW_VERSION).replace(version[:8], NEW_VERSION)
            out.append((when, job))
        return out

    def _jobs_scope(self, uow) -> tuple[set[str], set[str], set[str]]:
        """The keys, sets and vaults whose jobs an action can change (lower-case ids): those it touched, the
        keys of the vaults it touched, and the sets on the keys among them (a new version schedules their
        automatic rotation; a deleted key ends it)."""
        keys = {key for table, key in uow.before if table == "keys"}
        vaults = {key for table, key in uow.before if table == "vaults"}
        sets = {key for table, key in uow.before if table == "des"}
        if vaults:
            keys |= {k.key for k in self.t["keys"].values() if k.vault.lower() in vaults}
        if keys:
            for des in self.t["des"].values():
                ref = parse_key_url(des.key_url)
                if key_id(ref.vault, ref.name).lower() in keys:
                    sets.add(des.key)
        return keys, sets, vaults

    def _own_access(self, impact: Impact, before: dict[str, frozenset]) -> None:
        """The key permissions the current principal had on each vault before the action and has no longer (a vault
        the action deletes is said by ``deleted``)."""
        after = self.key_permissions_of(self.operator)
        canon = {p.lower(): p for p in KEY_PERMISSIONS}
        for vault, perms in sorted(before.items()):
            lost = perms - after.get(vault, perms)
            if lost:
                impact.own_access_lost[vault] = [canon.get(p, p) for p in sorted(lost)]
        if impact.own_access_lost:
            impact.own_name = self.principal_name(self.operator)

    def _fill_impact(self, impact: Impact, uow, scope, r0: dict, run0: dict, ok0: dict) -> None:
        r1, run1, ok1 = self._readiness(scope)
        names = {}
        for table, key in uow.before:
            if table in ("disks", "snapshots", "images", "vms") and (obj := self.t[table].get(key)) is not None:
                names[obj.id] = obj.name
        for table, ids in (("vms", list(run0) + list(run1)), ("disks", list(r0) + list(r1))):
            for rid in ids:
                if rid not in names:
                    obj = self.t[table].get(rid) or self.t["snapshots"].get(rid) or self.t["images"].get(rid)
                    if obj is not None:
                        names[obj.id] = obj.name
        for vid, was in run0.items():
            now_running = run1.get(vid)
            if was and now_running is False:
                impact.vms_stopping.append(names.get(vid, vid))
            if not was and now_running:
                impact.vms_starting.append(names.get(vid, vid))
            if run1.get(vid) and ok0.get(vid) and not ok1.get(vid):
                impact.vms_at_risk.append(names[vid])
            if not run1.get(vid, True) and not ok0.get(vid) and ok1.get(vid):
                impact.vms_startable_again.append(names[vid])
            if not was and not run1.get(vid, True) and ok0.get(vid) and not ok1.get(vid):
                impact.vms_start_blocked.append(names[vid])
        for (table, key), before in uow.before.items():
            vm = self.t["vms"].get(key) if table == "vms" and before is not None else None
            if vm is not None and vm.power == PowerState.DEALLOCATED.value and \
                    before.get("power") != PowerState.DEALLOCATED.value:
                why = self.start_blocker(vm)
                if why is not None:
                    impact.vms_not_restartable.append(vm.name)
                    impact.not_restartable_why = impact.not_restartable_why or why
        for did, name in ((d.id, d.name) for d in self.t["des"].values()):
            if ok0.get(did) and ok1.get(did) is False:
                impact.sets_broken.append(name)
        for rid, was in r0.items():
            if rid not in r1:
                continue
            if was and not r1[rid]:
                impact.unreadable.append(names.get(rid, rid))
            if not was and r1[rid]:
                impact.readable_again.append(names.get(rid, rid))
        for (t, key), before in uow.before.items():  # an untouched resource that is lost was lost already
            if t not in DATA_TABLES:
                continue
            r = self.t[t].get(key)
            if r is not None and self.lost(r):
                if before is None or before.get("cache") is not None:  # it could still be opened before
                    impact.lost_forever.append(r.name)
        impact.rewrapped = sorted(set(uow.rewrap_skipped))
        new_version = set()  # the keys whose current version the action changes
        for (table, key), before in uow.before.items():
            k = self.t[table].get(key) if table == "keys" and before is not None else None
            if k is not None and k.versions and (before.get("versions") or [{}])[-1].get("version") != \
                    k.current["version"]:
                new_version.add(key)
            if table == "des" and before is not None and before.get("rotation_to_latest") and \
                    (d := self.t["des"].get(key)) is not None and not d.rotation_to_latest:
                impact.sets_unfollowing.append(d.name)
        if new_version:
            for d in self.t["des"].values():
                ref = parse_key_url(d.key_url)
                if not d.rotation_to_latest and key_id(ref.vault, ref.name).lower() in new_version:
                    impact.sets_pinned.append(d.name)
        for (table, key), before in uow.before.items():
            if table in NOT_RESOURCES:
                continue
            after = self.t[table].get(key)
            kind = {"des": "disk encryption set", "vms": "VM", "roles": "role assignment"}.get(
                table, table[:-1] if table.endswith('s') else table)
            label = f"{kind} {_name(table, after) if after else (before or {}).get('name', key)}"
            if before is None and after is not None:
                impact.created.append(label)
            elif before is not None and after is None:
                impact.deleted.append(label)
            elif after is not None and after.__dict__ != before:  # (the same fields: dicts compare in any order)
                impact.modified.append(label)
        for lst in (impact.vms_stopping, impact.vms_at_risk, impact.vms_not_restartable, impact.vms_start_blocked,
                    impact.unreadable, impact.readable_again,
                    impact.vms_startable_again, impact.lost_forever, impact.sets_broken, impact.sets_pinned,
                    impact.sets_unfollowing):
            lst.sort()

    def read_at_rest(self, r, offset: int, length: int) -> bytes:
        """Read a disk, snapshot or image with its data keys unwrapped straight from the key material the
        store seals: no access check, no audit, no VM. A check's view (a workshop objective proving that
        a re-wrap kept the data), not an operation: a purged key's material is gone, so this raises
        ``KeyPurged`` for crypto-shredded data."""
        keys = []
        for layer in r.layers:
            kid = layer["kid"]
            private = self._platform_private(kid) if kid.startswith("platform:") else self._private(kid)
            keys.append(crypto.unwrap_key(private, self.unb64(layer["wrapped"])))
        return self._read_data(r, keys, offset, length)

    def lost(self, r) -> bool:
        """Gone for good: a layer's key material is purged and no sealed copy of the data keys remains."""
        if r.cache is not None:
            return False
        for layer in r.layers:
            if layer["kid"].startswith("platform:"):
                continue
            problem = self.key_problem(None, layer["kid"], "unwrapKey")
            if problem is not None and problem.inner_code in ("KeyPurged",) or (
                    problem is not None and problem.inner_code == "VaultNotFound"
                    and "purged" in problem.message):
                return True
        return False

    # ---- cause chain ---------------------------------------------------------------------------

    def why(self, resource_id: str) -> list[str]:
        """The cause chain of a VM, disk, snapshot or image: why it is as it is, key by key."""
        vm = self.t["vms"].get(resource_id)
        if vm is not None:
            lines = [f"VM {vm.name}: {PowerState(vm.power).display}"]
            if vm.status:
                lines.append(f"  {vm.status['message']}")
            for d in self.vm_disks(vm):
                lines += ["  " + x for x in self._disk_chain(d)]
            return lines
        for t in DATA_TABLES:
            r = self.t[t].get(resource_id)
            if r is not None:
                return self._disk_chain(r)
        raise NotFound(f"no VM, disk, snapshot or image with id {resource_id!r}", code="ResourceNotFound")

    def _disk_chain(self, r) -> list[str]:
        head = f"{r.kind} {r.name} ({r.sku}, {r.encryption_type})"
        if r.kind == "disk":
            head += f", {self.disk_state(r)}"
        lines = [head]
        des = self.t["des"].get(r.des_id) if r.des_id else None
        for layer in r.layers:
            if layer["kid"].startswith("platform:"):
                lines.append(f"  {layer['mode']} data key wrapped by the platform key of {layer['kid'][9:]}")
                continue
            problem = self.key_problem(des.principal_id if des else None, layer["kid"], "unwrapKey")
            state = "usable" if problem is None else f"UNUSABLE: {problem.message}"
            via = f" via set {des.name} (identity {des.principal_id})" if des else ""
            lines.append(f"  {layer['mode']} data key wrapped by {layer['kid']}{via}: {state}")
        if r.cache is None and self.resource_problem(r) is not None:
            lines.append("  no sealed copy of the data keys remains")
        return lines


ACTIONS: dict[str, bool] = actions_of(Engine)
"""Every facade method that changes state (marked ``@action`` on its backend): name -> whether what-if can
preview it."""


def changes_state(method: str) -> bool:
    """Whether the facade method ``method`` changes state (the one place that says so: its ``@action``)."""
    return method in ACTIONS


def previewable(method: str) -> bool:
    """Whether what-if can preview ``method`` (an action that is not marked ``previewable=False``)."""
    return ACTIONS.get(method, False)
