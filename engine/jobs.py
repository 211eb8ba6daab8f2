"""What runs as the simulated clock passes (KV6, KV9, D3, D4).

``advance_clock`` moves the clock in one unit of work. Due jobs run in time order, each at its
own due time (so its timestamps are right): rotation policies (rotate N after creation or before
expiry, notify before expiry), key expiry, automatic rotation of disk encryption sets (their
resources move to the newest key version one hour after it appears), resuming a re-key cut short
by a crash, and the platform's purge of soft-deleted keys and vaults at the end of retention.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from .actions import action
from . import events as ev
from .clock import advance_step, format_duration, iso, parse_duration, parse_iso
from .errors import BadRequest, EngineError
from .ids import key_id, parse_key_url
from .models import ResourceState
from .core import EngineCore

Job = tuple[str, str, Callable[[], None]]
JOBS_OF_HORIZON = timedelta(days=3660)
"""How far ahead :meth:`JobsBackend.jobs_of` (the what-if's jobs) looks: ten years, past any retention or policy."""


class JobsBackend(EngineCore):
    @action
    def advance_clock(self, delta: timedelta | str) -> list[dict]:
        """Move the simulated clock forward, running every due job in order; returns what ran."""
        try:
            delta = advance_step(delta)
        except ValueError as e:
            raise BadRequest(str(e), code="InvalidParameter") from None
        ran: list[dict] = []
        with self.transaction() as uow:
            start = self.clock.now()
            target = start + delta
            for _ in range(100000):
                due = self._due_jobs(target)
                if not due:
                    break
                when, name, fn = due[0]
                if parse_iso(when) > self.clock.now():
                    self.clock.set(parse_iso(when))
                fn()
                ran.append({"time": when, "job": name})
                self._emit(ev.JobRan, f"{when}: {name}", job=name)
            self.clock.set(target)
            uow.reconcile = True
            self._emit(ev.ClockAdvanced, f"clock advanced {format_duration(delta)} to {iso(target)}"
                       + (f"; {len(ran)} job(s) ran" if ran else ""), start=iso(start), end=iso(target))
        return ran

    @action
    def run_due_jobs(self) -> list[dict]:
        """Run what is due now (for example a re-key resumed after a crash), without moving the clock."""
        ran = []
        with self.transaction() as uow:
            for _ in range(10000):
                due = self._due_jobs(self.clock.now())
                if not due:
                    break
                when, name, fn = due[0]
                fn()
                ran.append({"time": when, "job": name})
                self._emit(ev.JobRan, f"{when}: {name}", job=name)
            if ran:
                uow.reconcile = True
        return ran

    def pending_jobs(self, horizon: timedelta = timedelta(days=400)) -> list[dict]:
        """What will run, and when, within ``horizon`` (for the console's clock panel)."""
        target = self.clock.now() + horizon
        return [{"time": w, "job": n} for w, n, _ in self._due_jobs(target, all_due=True)]

    def jobs_of(self, keys: set[str], sets: set[str], vaults: set[str],
                horizon: timedelta = JOBS_OF_HORIZON) -> list[tuple[str, str]]:
        """``(time, job)`` of what will run within ``horizon`` for those keys, disk encryption sets and vaults
        only (lower-case ids; the what-if compares them before and after an action): a look at the few things
        an action touched, not at every key and set of the home."""
        target = self.clock.now() + horizon
        return [(w, n) for w, n, _ in self._due_jobs(target, all_due=True, scope=(keys, sets, vaults))]

    def _due_jobs(self, until: datetime, all_due: bool = False,
                  scope: tuple[set[str], set[str], set[str]] | None = None) -> list[Job]:
        """The jobs due by ``until`` in time order (the first only, unless ``all_due``). ``scope``: (key ids,
        set ids, vault ids), lower-case: the jobs of those alone."""
        limit = iso(until)
        now = self.now()
        jobs: list[Job] = []
        notified = set(self.meta.notified)

        def add(when: str | None, name: str, fn: Callable[[], None]) -> None:
            if when is not None and when <= limit:
                jobs.append((max(when, now), name, fn))

        if scope is None:
            keys, sets, vaults = self.t["keys"].values(), self.t["des"].values(), self.t["vaults"].values()
        else:
            keys = [k for k in map(self.t["keys"].get, sorted(scope[0])) if k is not None]
            sets = [d for d in map(self.t["des"].get, sorted(scope[1])) if d is not None]
            vaults = [v for v in map(self.t["vaults"].get, sorted(scope[2])) if v is not None]
        for k in list(keys):
            if k.state == ResourceState.DELETED.value:
                add(k.scheduled_purge_date, f"purge deleted key {k.id} (retention ended)",
                    lambda k=k: self.purge_key(k.vault, k.name, _by_platform=True))
                continue
            if self.t["vaults"].get(k.vault.lower()) is None or \
                    self.t["vaults"][k.vault.lower()].state != ResourceState.ACTIVE.value:
                continue
            cur = k.current
            if cur["exp"] and f"expired:{k.id}/{cur['version']}" not in notified:
                # (Key Vault sends KeyExpired for a key's current version: a version a rotation left behind
                # expires all the same, KV9, without the event)
                add(cur["exp"], f"key {k.id}/{cur['version'][:8]} expired (the KeyExpired event of its current "
                                "version)",
                    lambda k=k, cur=cur: self._mark_expired(k, cur))
            for lifetime_action in (k.rotation_policy or {}).get("lifetimeActions", []):
                trig, typ = lifetime_action["trigger"], lifetime_action["action"]["type"]
                if "timeAfterCreate" in trig:
                    base = parse_iso(cur["created"]) + parse_duration(trig["timeAfterCreate"])
                    when = iso(max(base, parse_iso(k.rotation_policy.get("anchor") or cur["created"])))
                elif cur["exp"]:
                    when = iso(parse_iso(cur["exp"]) - parse_duration(trig["timeBeforeExpiry"]))
                else:
                    continue
                if typ == "Rotate":
                    add(when, f"rotation policy of {k.id}: rotate", lambda k=k: self._policy_rotate(k))
                elif f"notify:{k.id}/{cur['version']}" not in notified:
                    add(when, f"rotation policy of {k.id}: notify before expiry", lambda k=k, cur=cur:
                        self._notify(k, cur))
        for des in list(sets):
            ref = parse_key_url(des.key_url)
            k = self.t["keys"].get(key_id(ref.vault, ref.name).lower())
            # a re-key cut short (D3) leaves its set Updating: only then are its resources read (a set of
            # thousands of disks otherwise cost every look at the clock a read of all of them)
            stale = [r for r in self.des_resources(des) if r.layers and r.layers[0]["kid"] != des.key_url] \
                if des.provisioning_state == "Updating" else []
            if stale:
                add(now, f"resume re-keying {len(stale)} resource(s) of set {des.name}",
                    lambda des=des, stale=stale: self._resume_rekey(des, stale))
            if des.rotation_to_latest and k is not None and k.state == ResourceState.ACTIVE.value:
                cur = k.current
                tried = f"autorotate-failed:{des.id}:{key_id(k.vault, k.name, cur['version'])}" in notified
                if cur["version"] != ref.version and not tried:
                    when = iso(parse_iso(cur["created"]) + self.rules.auto_rotation_delay)
                    add(when, f"automatic rotation of set {des.name} to {k.name}/{cur['version'][:8]}",
                        lambda des=des, kid=key_id(k.vault, k.name, cur["version"]): self._auto_rotate(des, kid))
        for v in list(vaults):
            if v.state == ResourceState.DELETED.value:
                add(v.scheduled_purge_date, f"purge deleted vault {v.name} (retention ended)",
                    lambda v=v: self.purge_vault(v.name, _by_platform=True))
        jobs.sort(key=lambda j: (j[0], j[1]))
        return jobs if all_due else jobs[:1]

    def _mark_expired(self, k, cur) -> None:
        self._touch(self.meta)
        self.meta.notified.append(f"expired:{k.id}/{cur['version']}")
        self._emit(ev.KeyExpired, f"key {k.id}/{cur['version']} expired: it no longer wraps new data keys, "
                   "existing ones still unwrap", kid=f"{k.id}/{cur['version']}")
        self.uow.reconcile = True

    def _notify(self, k, cur) -> None:
        self._touch(self.meta)
        self.meta.notified.append(f"notify:{k.id}/{cur['version']}")
        self._emit(ev.KeyNearExpiry, f"key {k.id} expires at {cur['exp']} (rotation policy notification)",
                   kid=k.id)

    def _policy_rotate(self, k) -> None:
        v = self._vault(k.vault)
        private = self._generate(k.size, k.current.get("crv"))
        self._new_version(v, k.name, k.kty, k.size, private, ops=list(k.key_ops), exp=None, nbf=None, enabled=True,
                          tags=None, operation="KeyRotate")

    def _auto_rotate(self, des, kid: str) -> None:
        self._touch(des)
        try:
            self._react("des_key_changed", des, kid)
        except EngineError as err:
            des.auto_key_rotation_error = {"code": err.display_code, "message": err.message}
            des.provisioning_state = "Succeeded"
            des.previous_keys = []
            self._touch(self.meta)
            self.meta.notified.append(f"autorotate-failed:{des.id}:{kid}")
            self._emit(ev.ResourceChanged, f"automatic rotation of set {des.name} failed: {err.message}",
                       resource=des.id)

    def _resume_rekey(self, des, stale) -> None:
        self._touch(des)
        self._react("des_key_changed", des, des.key_url, stale)
