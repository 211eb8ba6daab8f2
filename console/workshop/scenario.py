"""Workshop scenarios: a landscape, then steps whose objectives the engine checks.

A scenario is data (TOML, parsed with :mod:`tomllib`): a landscape to start from (groups, vaults,
keys, disk encryption sets with their grants, disks, VMs, data written), then steps. Each step has the
narrative the trainee reads, hints (the exact ``cmklab az ...`` / ``cmklab clock ...`` commands, some
of them expected to be refused) and objectives.

Objectives are data too, in a small closed vocabulary (:data:`OBJECTIVES`): ``{kind = "vm_power",
vm = "vm-db", power = "running"}``. Each kind is a pure function of the engine's state (resources,
the event log, the Key Vault audit log, the simulated clock) returning ``(met, detail)``; checking
never writes, never audits, never moves the clock. "Negative" objectives (a start that was refused, a
purge that was refused) are read from what the refusal leaves behind although the action itself rolled
back: Key Vault keeps denied attempts in its audit log (KV8), and a refused VM start is logged as a
``VmStartRefused`` event naming the VM (a key's audit entry cannot tell which VM on that key tried).

:class:`Lab` is the headless model of a scenario being played (current step, next/previous,
objectives met or not) that the console's Lab pane renders and ``cmklab scenario check`` prints.
It reads the engine only through its public queries (tables, ``resource_problem``, ``lost``,
``read_at_rest``, ``vm_read``...), and imports no UI. Where the shipped scenario files live and how
hints are run is :mod:`console.workshop.cli`'s business.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from engine._light import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from engine.clock import format_duration, parse_duration, parse_iso
from engine.errors import EngineError
from engine.ids import key_id, parse_key_url, shorten_key_urls
from engine.models import PowerState, ResourceState
from engine.rules import CRYPTO_SERVICE_ROLE, DES_REQUIRED_PERMISSIONS, ENC_CUSTOMER, ENC_PLATFORM

LAB_DOCUMENT = "scenario"
"""The store's side document (``engine.repository.SIDE_DOCUMENTS``) that records which scenario is being
played and how far: ``HOME/scenario.json`` on a home's store, written by the store (its lock, an atomic replace,
mode 0600, refused read-only)."""


class ScenarioError(EngineError):
    """A scenario file that cannot be used: the message names the file, the step and what is wrong."""

    code = "InvalidScenario"
    status = 400


class ScenarioNotFound(ScenarioError):
    """No shipped scenario has that name or number, or no file is at that path (exit 3, as az's not found)."""

    code = "ResourceNotFound"
    status = 404


# ==================================================================================== the data


@dataclass(frozen=True)
class Objective:
    kind: str
    args: dict
    label: str
    """What the trainee reads ("vm-db is running"); generated from the kind when the file has none."""

    def check(self, engine, *, since: str | None = None, after: str | None = None) -> "ObjectiveResult":
        return evaluate_objective(engine, self, since=since, after=after)


@dataclass(frozen=True)
class ObjectiveResult:
    kind: str
    label: str
    met: bool
    detail: str
    status: str = ""
    """``""``: checked (met or not); ``"impossible"``: not met, and it can no longer be met from this
    state (a purged key does not come back); ``"error"``: the check itself failed, so the objective
    cannot be checked (never met; the detail says why)."""

    @property
    def error(self) -> bool:
        return self.status == "error"

    @property
    def impossible(self) -> bool:
        return self.status == "impossible"

    def line(self) -> str:
        mark = "?" if self.error else "!" if self.impossible else ("x" if self.met else " ")
        return f"[{mark}] {self.label}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Hint:
    command: str
    """A ``cmklab ...`` command line, possibly with placeholders (see :func:`render_hint`)."""
    expect: str = "ok"
    """``ok``: the command succeeds; ``refused``: the engine refuses it, and that is the lesson."""
    note: str = ""

    @property
    def refused(self) -> bool:
        return self.expect == "refused"


@dataclass(frozen=True)
class Step:
    title: str
    narrative: str
    hints: tuple[Hint, ...]
    objectives: tuple[Objective, ...]
    console: str = ""
    """The same action in the console (keys, panes), for trainees who click rather than type."""


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    summary: str
    order: int
    seed: int
    landscape: dict
    steps: tuple[Step, ...]
    source: str = ""
    profile: str | None = None
    """The rule profile the scenario is written for (None: any); the ultra-disk trap needs ``seeds``."""
    path: str | None = None
    """The file of a trainer's own scenario (None for those shipped with cmklab, found by name)."""


# ================================================================================ the checks


def _find(engine, table: str, name: str):
    return engine.find_named(table, name)


def _missing(what: str, name: str) -> tuple[bool, str]:
    return False, f"there is no {what} named {name!r}"


def _short(version: str) -> str:
    return version[:8]


class Impossible(tuple):
    """A check's ``(False, detail)`` that can no longer turn true from this state (see ObjectiveResult)."""

    def __new__(cls, detail: str):
        return super().__new__(cls, (False, detail))


def _purged_key(key: str) -> Impossible:
    return Impossible(f"key {key} is purged: a purge cannot be undone")


def _key_of(engine, vault: str, name: str):
    return engine.find_key(vault, name)


def _des_key(engine, des):
    ref = parse_key_url(des.key_url)
    return ref, engine.find_key(ref.vault, ref.name)


def _chk_des_on_latest(engine, des: str) -> tuple[bool, str]:
    d = _find(engine, "des", des)
    if d is None:
        return _missing("disk encryption set", des)
    ref, k = _des_key(engine, d)
    if k is None:
        return Impossible(f"its key {ref.name} is purged: a purge cannot be undone")
    newest = k.current["version"]
    target = key_id(ref.vault, ref.name, newest)
    res = engine.des_resources(d)
    on = [r for r in res if r.layers and r.layers[0]["kid"] == target]
    head = f"{len(on)} of {len(res)} resource(s) on {ref.name}/{_short(newest)} (version {len(k.versions)})"
    if ref.version != newest:
        return False, f"the set still uses {ref.name}/{_short(ref.version or '?')}; {head}"
    return len(on) == len(res), head


def _chk_des_auto_rotation(engine, des: str, enabled: bool = True) -> tuple[bool, str]:
    d = _find(engine, "des", des)
    if d is None:
        return _missing("disk encryption set", des)
    return bool(d.rotation_to_latest) == bool(enabled), \
        f"automatic rotation is {'on' if d.rotation_to_latest else 'off'}"


def _chk_des_rotated_within(engine, des: str, within: str = "1h") -> tuple[bool, str]:
    d = _find(engine, "des", des)
    if d is None:
        return _missing("disk encryption set", des)
    ok, detail = _chk_des_on_latest(engine, des)
    ref, k = _des_key(engine, d)
    if not ok or k is None:
        return False, detail
    created = parse_iso(k.current["created"])
    rotated = parse_iso(d.last_key_rotation)
    if rotated is None or rotated < created:
        return False, "the set has not moved to the newest version since it appeared"
    lag = rotated - created
    mins = int(lag.total_seconds() // 60)
    return lag <= parse_duration(within), f"moved {mins} min after version {_short(k.current['version'])} appeared"


def _chk_key_versions(engine, vault: str, key: str, min: int = 2) -> tuple[bool, str]:  # noqa: A002
    k = _key_of(engine, vault, key)
    if k is None:
        if _key_state(engine, vault, key) == "purged" and _purge_seen(engine, vault, key):
            return _purged_key(key)
        return _missing(f"key in vault {vault}", key)
    return len(k.versions) >= min, f"{len(k.versions)} version(s)"


def _key_state(engine, vault: str, key: str) -> str | None:
    if engine.find_vault(vault) is None:
        return None
    k = _key_of(engine, vault, key)
    if k is None:
        return "purged"
    if k.state != ResourceState.ACTIVE.value:
        return "deleted"
    return "enabled" if k.current["enabled"] else "disabled"


def _chk_key_state(engine, vault: str, key: str, state: str) -> tuple[bool, str]:
    now = _key_state(engine, vault, key)
    if now is None:
        return _missing("vault", vault)
    # enabled or disabled is the current version's state (the one az's set-attributes without --version changes):
    # the detail says so, so that a trainee who disabled another version sees why the objective is not met
    detail = f"the current version of key {key} is {now}" if now in ("enabled", "disabled") else f"key {key} is {now}"
    if now == "deleted":
        detail += f" (recoverable until {_key_of(engine, vault, key).scheduled_purge_date})"
    if now == "purged" and state != "purged" and _purge_seen(engine, vault, key):
        return _purged_key(key)
    return now == state, detail


def _purge_seen(engine, vault: str, key: str) -> bool:
    """The key existed and was purged (a key that never existed can still be created)."""
    kid = key_id(vault.lower(), key).lower()
    return bool(engine.list_audit(where=lambda a: a.operation == "KeyPurge" and a.result == "OK"
                                  and (a.kid or "").lower() == kid))


def _chk_key_purged(engine, vault: str, key: str) -> tuple[bool, str]:
    return _chk_key_state(engine, vault, key, "purged")


def journal_end(engine) -> str:
    """The id of the last line of the engine's journal (events and audit entries share one sequence of
    zero-padded ids): what happens from now on has a greater id. ``""`` when the journal is empty."""
    events = engine.list_events()
    audit = engine.list_audit()
    return max(events[-1].id if events else "", audit[-1].id if audit else "")


def _after(entries: list, after: str | None) -> list:
    """The journal lines of ``entries`` written after ``after`` (a :func:`journal_end`; None: all of them)."""
    return entries if after is None else [e for e in entries if e.id > after]


_EARLIER = " since this step began (only before it)"


def _chk_purge_refused(engine, vault: str, key: str, after: str | None = None) -> tuple[bool, str]:
    kid = key_id(vault.lower(), key).lower()
    every = engine.list_audit(where=lambda a: a.operation == "KeyPurge" and a.result != "OK"
                              and (a.kid or "").lower() == kid)
    hits = _after(every, after)
    if not hits:
        return False, "no refused purge in the vault's audit log" + (_EARLIER if every else "")
    last = max(hits, key=lambda a: a.id)
    return True, f"audit {last.time}: KeyPurge {last.result} ({last.code})"


def _chk_access(engine, des: str, granted: bool = True) -> tuple[bool, str]:
    d = _find(engine, "des", des)
    if d is None:
        return _missing("disk encryption set", des)
    ref = parse_key_url(d.key_url)
    v = engine.find_vault(ref.vault)
    if v is None:
        return (not granted), f"vault {ref.vault} is gone"
    lacking = [p for p in DES_REQUIRED_PERMISSIONS if not engine.has_permission(v, d.principal_id, p)]
    via = "role assignment" if v.enable_rbac_authorization else "access policy"
    detail = f"identity lacks {', '.join(lacking)} ({via})" if lacking else f"get, wrapKey, unwrapKey granted ({via})"
    return (not lacking) == bool(granted), detail


def _chk_vm_power(engine, vm: str, power: str) -> tuple[bool, str]:
    v = _find(engine, "vms", vm)
    if v is None:
        return _missing("VM", vm)
    detail = f"{v.name} is {v.power}"
    if v.status and v.power != PowerState.RUNNING.value:
        # the message may open with the power state ("stopped: key ... disabled"): said once
        detail += f": {str(v.status.get('message')).removeprefix(f'{v.power}: ')}"
    if v.power != power and power == PowerState.RUNNING.value and _lost_disk(engine, v):
        return Impossible(f"{detail}; {_lost_disk(engine, v)} is crypto-shredded, so {v.name} can never start")
    return v.power == power, detail


def _lost_disk(engine, v) -> str | None:
    """The name of a disk of the VM whose data is gone for good (None if there is none)."""
    return next((d.name for d in engine.vm_disks(v) if engine.lost(d)), None)


def _shutdowns(engine, vm_id: str | None = None) -> list:
    return engine.list_events(where=lambda e: e.type == "VmShutDownByKey"
                              and (vm_id is None or (e.data or {}).get("vm") == vm_id))


def _chk_vm_stopped_by_key(engine, vm: str) -> tuple[bool, str]:
    v = _find(engine, "vms", vm)
    if v is None:
        return _missing("VM", vm)
    if v.power == PowerState.RUNNING.value:
        return False, f"{v.name} is running"
    hits = _shutdowns(engine, v.id)
    if not hits:
        return False, f"{v.name} is {v.power}, but no key shut it down"
    return True, hits[-1].summary


def _chk_no_vm_stopped_by_key(engine) -> tuple[bool, str]:
    hits = _shutdowns(engine)
    if not hits:
        return True, "no VM was shut down by a key"
    names = {v.id: v.name for v in engine.list_vms()}
    down = sorted({names.get((e.data or {}).get("vm"), "?") for e in hits})
    return False, f"shut down by a key: {', '.join(down)}"


def _chk_vm_startable(engine, vm: str, startable: bool = True, after_deallocation: bool = False) -> tuple[bool, str]:
    v = _find(engine, "vms", vm)
    if v is None:
        return _missing("VM", vm)
    err = engine.startable(v, after_deallocation=after_deallocation)
    detail = f"{v.name} could start" if err is None else f"refused: {err.message}"
    if err is None and not after_deallocation and v.power == PowerState.RUNNING.value:
        later = engine.startable(v, after_deallocation=True)
        if later is not None:  # an ultra disk's keys held by its host: "could start" said the opposite of the lesson
            detail = f"{v.name} is running on host-cached keys; deallocated, it would not start: {later.message}"
    if startable and err is not None and _lost_disk(engine, v):
        return Impossible(f"{detail}; {_lost_disk(engine, v)} is crypto-shredded")
    return (err is None) == bool(startable), detail


def _chk_vm_at_risk(engine, vm: str) -> tuple[bool, str]:
    v = _find(engine, "vms", vm)
    if v is None:
        return _missing("VM", vm)
    if v.power != PowerState.RUNNING.value:
        return False, f"{v.name} is {v.power}"
    err = engine.startable(v, after_deallocation=True)
    if err is None:
        return False, f"{v.name} is running and could start again after deallocation"
    return True, f"{v.name} keeps running on host-cached keys; after deallocation: {err.message}"


def _chk_vm_start_refused(engine, vm: str, after: str | None = None) -> tuple[bool, str]:
    """A start of this VM (not of another VM on the same key) was refused since the step began, and it still
    cannot start. Read from the VmStartRefused events, which name the VM and are logged although the start
    failed; one logged before the step began (before the key was purged, say) does not count."""
    v = _find(engine, "vms", vm)
    if v is None:
        return _missing("VM", vm)
    if v.power == PowerState.RUNNING.value:
        return False, f"{v.name} is running"
    err = engine.startable(v)
    if err is None:
        return False, f"{v.name} could start now"
    every = engine.list_events(where=lambda e: e.type == "VmStartRefused"
                               and (e.data or {}).get("vm", "").lower() == v.id.lower())
    refused = _after(every, after)
    if not refused:
        return False, (f"{v.name} cannot start ({err.message}), but no start of {v.name} was attempted"
                       + (_EARLIER if every else ""))
    last = max(refused, key=lambda e: e.id)
    return True, last.summary if last.summary.startswith(last.time) else f"{last.time}: {last.summary}"


def _chk_disk_encryption_refused(engine, disk: str, after: str | None = None) -> tuple[bool, str]:
    """A change of this disk's encryption was attempted and refused since the step began (its VM was not
    deallocated: K5). Read from the DiskEncryptionRefused events, logged although the update failed."""
    r = _resource(engine, disk)
    if r is None:
        return _missing("disk", disk)
    every = engine.list_events(where=lambda e: e.type == "DiskEncryptionRefused"
                               and (e.data or {}).get("disk", "").lower() == r.id.lower())
    refused = _after(every, after)
    if not refused:
        return False, f"no change of {r.name}'s encryption was attempted" + (_EARLIER if every else "")
    last = max(refused, key=lambda e: e.id)
    return True, last.summary if last.summary.startswith(last.time) else f"{last.time}: {last.summary}"


def _resource(engine, disk: str, kind: str = "disk"):
    table = {"disk": "disks", "snapshot": "snapshots", "image": "images"}.get(kind)
    if table is None:
        raise ScenarioError(f"kind {kind!r} is not disk, snapshot or image")
    return _find(engine, table, disk)


def _chk_disk_readable(engine, disk: str, readable: bool = True, kind: str = "disk") -> tuple[bool, str]:
    r = _resource(engine, disk, kind)
    if r is None:
        return _missing(kind, disk)
    problem = engine.resource_problem(r)
    detail = "its data keys open" if problem is None else f"unreadable: {problem.message}"
    if readable and problem is not None and engine.lost(r):
        return Impossible(f"{detail}; its data is gone for good")
    return (problem is None) == bool(readable), detail


def _chk_disk_encryption(engine, disk: str, des: str | None = None,
                         type: str | None = None) -> tuple[bool, str]:  # noqa: A002
    r = _resource(engine, disk)
    if r is None:
        return _missing("disk", disk)
    d = engine.find_des(r.des_id)
    detail = r.encryption_type + (f" with set {d.name}" if d else "")
    ok = True
    if des is not None:
        ok = d is not None and d.name.lower() == des.lower()
    if type is not None:
        ok = ok and r.encryption_type == type
    if des is None and type is None:
        ok = r.encryption_type != ENC_PLATFORM
    return ok, detail


def _chk_data_intact(engine, disk: str, text: str, offset: int = 0, kind: str = "disk",
                     via: str = "vault") -> tuple[bool, str]:
    """``via = "vault"``: unwrap the data keys with the vault's key (proves a re-wrap is right);
    ``via = "vm"``: read as the guest does, through the keys its host holds (an ultra VM on a disabled key)."""
    r = _resource(engine, disk, kind)
    if r is None:
        return _missing(kind, disk)
    if via == "vm":
        vm = engine.vm_of_disk(r.id) if kind == "disk" else None
        if vm is None:
            return False, f"{r.name} is not attached to a VM"
        try:
            data = engine.vm_read(vm.name, vm.lun_of(r.id), offset, len(text.encode()), vm.resource_group)
        except EngineError as err:
            return False, f"{vm.name} cannot read it: {err.message}"
        if data == text.encode():
            return True, f"{vm.name} reads {text.strip()!r}"
        return False, f"{vm.name} reads {data[:40]!r}"
    cmk = [layer["kid"] for layer in r.layers if not layer["kid"].startswith("platform:")]
    if not cmk:
        return False, (f"{r.name} is still on platform-managed keys: no key of yours wraps its data key, "
                       "so there is no vault key to read it back through")
    problem = engine.resource_problem(r)
    if problem is not None:
        detail = f"its data keys cannot be opened: {problem.message}"
        return Impossible(f"{detail}; its data is gone for good") if engine.lost(r) else (False, detail)
    data = engine.read_at_rest(r, offset, len(text.encode()))
    if data == text.encode():
        return True, f"read back through key {parse_key_url(cmk[0]).name}: {text.strip()!r}"
    return False, f"read {data[:40]!r}"


def _chk_data_lost(engine, disk: str, kind: str = "disk") -> tuple[bool, str]:
    r = _resource(engine, disk, kind)
    if r is None:
        return _missing(kind, disk)
    if engine.lost(r):
        return True, f"the key that wrapped its data key is purged and no copy remains: {r.name} is crypto-shredded"
    problem = engine.resource_problem(r)
    return False, "its data can still be opened" if problem is None else f"not lost yet: {problem.message}"


def _chk_event_logged(engine, type: str, contains: str = "", min: int = 1,  # noqa: A002
                      after: str | None = None) -> tuple[bool, str]:
    """At least ``min`` such events were logged since the step began (``after``)."""
    every = engine.list_events(where=lambda e: e.type == type and contains.lower() in e.summary.lower())
    hits = _after(every, after)
    if not hits:
        return False, f"no {type} event" + (f" mentioning {contains!r}" if contains else "") \
            + (_EARLIER if every else "")
    last = max(hits, key=lambda e: e.id)
    return len(hits) >= min, last.summary if last.summary.startswith(last.time) else f"{last.time}: {last.summary}"


def _chk_key_retention_left(engine, vault: str, key: str, at_most: str) -> tuple[bool, str]:
    """The key is deleted and Key Vault purges it within ``at_most`` of now: how far the retention has run is
    the key's state (its scheduled purge date), whenever and in however many advances the clock moved."""
    now = _key_state(engine, vault, key)
    if now is None:
        return _missing("vault", vault)
    if now == "purged":
        return _purged_key(key) if _purge_seen(engine, vault, key) else _missing(f"key in vault {vault}", key)
    if now != "deleted":
        return False, f"key {key} is {now}: only a deleted key's retention runs"
    k = _key_of(engine, vault, key)
    due = parse_iso(k.scheduled_purge_date)
    left = max(due - parse_iso(engine.now()), timedelta(0))
    want = parse_duration(at_most)
    head = f"recoverable until {k.scheduled_purge_date}: {format_duration(left)} left"
    if left <= want:
        return True, head
    return False, f"{head}; move the clock {format_duration(left - want)} more"


def _chk_clock_advanced(engine, at_least: str, since: str | None = None) -> tuple[bool, str]:
    """The simulated clock moved at least ``at_least`` since the step began (``since``), in any number
    of advances of any size: what counts is how far it moved, not how the advance was typed."""
    want = parse_duration(at_least)
    now = parse_iso(engine.now())
    start = parse_iso(since) if since else None
    where = "since this step began"
    if start is None:  # a lab saved before steps recorded their start: since the scenario began
        times = [parse_iso(e.time) for e in engine.list_events()]
        start = min(times) if times else now
        where = "since the scenario began"
    moved = max(now - start, timedelta(0))
    if moved >= want:
        return True, f"the clock moved {format_duration(moved)} {where}"
    return False, f"the clock moved {format_duration(moved)} {where}; {format_duration(want - moved)} to go"


@dataclass(frozen=True)
class Kind:
    fn: Callable[..., tuple[bool, str]]
    required: dict[str, type]
    optional: dict[str, type] = field(default_factory=dict)
    label: str = ""
    context: tuple[str, ...] = ()
    """What the check reads from the lab rather than the scenario file: ``since`` (when the step began, on the
    simulated clock), ``after`` (where the journal ended when the step began: only events and audit entries
    written since count)."""


OBJECTIVES: dict[str, Kind] = {
    "des_on_latest": Kind(_chk_des_on_latest, {"des": str}, {},
                          "every resource of {des} is on the newest version of its key"),
    "des_auto_rotation": Kind(_chk_des_auto_rotation, {"des": str}, {"enabled": bool},
                              "automatic key rotation of {des} is {enabled:on/off}"),
    "des_rotated_within": Kind(_chk_des_rotated_within, {"des": str}, {"within": str},
                               "{des} moved to the newest key version within {within}"),
    "key_versions": Kind(_chk_key_versions, {"vault": str, "key": str}, {"min": int},
                         "key {key} has at least {min} versions"),
    "key_state": Kind(_chk_key_state, {"vault": str, "key": str, "state": str}, {}, "key {key} is {state}"),
    "key_purged": Kind(_chk_key_purged, {"vault": str, "key": str}, {}, "key {key} is purged"),
    "purge_refused": Kind(_chk_purge_refused, {"vault": str, "key": str}, {},
                          "a purge of {key} was refused (purge protection)", ("after",)),
    "access": Kind(_chk_access, {"des": str}, {"granted": bool},
                   "the identity of {des} {granted:has/lacks} get, wrapKey and unwrapKey"),
    "vm_power": Kind(_chk_vm_power, {"vm": str, "power": str}, {}, "{vm} is {power}"),
    "vm_stopped_by_key": Kind(_chk_vm_stopped_by_key, {"vm": str}, {}, "{vm} was shut down by the key"),
    "no_vm_stopped_by_key": Kind(_chk_no_vm_stopped_by_key, {}, {}, "no VM was shut down by a key"),
    "vm_startable": Kind(_chk_vm_startable, {"vm": str}, {"startable": bool, "after_deallocation": bool},
                         "{vm} {startable:can/cannot} start"),
    "vm_at_risk": Kind(_chk_vm_at_risk, {"vm": str}, {},
                       "{vm} keeps running but would not start after deallocation"),
    "vm_start_refused": Kind(_chk_vm_start_refused, {"vm": str}, {}, "a start of {vm} was refused", ("after",)),
    "disk_readable": Kind(_chk_disk_readable, {"disk": str}, {"readable": bool, "kind": str},
                          "{disk} is {readable:readable/unreadable}"),
    "disk_encryption_refused": Kind(_chk_disk_encryption_refused, {"disk": str}, {},
                                    "a change of {disk}'s encryption was refused", ("after",)),
    "disk_encryption": Kind(_chk_disk_encryption, {"disk": str}, {"des": str, "type": str},
                            "{disk} is encrypted with {des}"),
    "data_intact": Kind(_chk_data_intact, {"disk": str, "text": str}, {"offset": int, "kind": str, "via": str},
                        "the data on {disk} reads back intact"),
    "data_lost": Kind(_chk_data_lost, {"disk": str}, {"kind": str}, "the data on {disk} is gone for good"),
    "event_logged": Kind(_chk_event_logged, {"type": str}, {"contains": str, "min": int},
                         "the event log shows {type} {contains}", ("after",)),
    "key_retention_left": Kind(_chk_key_retention_left, {"vault": str, "key": str, "at_most": str}, {},
                               "the retention of deleted key {key} ends within {at_most}"),
    "clock_advanced": Kind(_chk_clock_advanced, {"at_least": str}, {},
                           "the clock moved at least {at_least} during this step", ("since",)),
}
"""The closed vocabulary of objectives: kind -> check, arguments, default label."""

_POWERS = {p.value for p in PowerState}
_KEY_STATES = ("enabled", "disabled", "deleted", "purged")


def _default_label(kind: str, args: dict) -> str:
    spec = OBJECTIVES[kind]
    merged = {k: "" for k in spec.optional} | {"enabled": True, "granted": True, "startable": True, "readable": True,
                                                  "within": "1h", "min": 2} | args
    if kind == "disk_encryption" and "des" not in args:
        return f"{args['disk']} is encrypted with " + (args.get("type") or "a customer-managed key")

    def sub(m: re.Match) -> str:
        name, choice = m.group(1), m.group(2)
        value = merged.get(name, "")
        if choice:
            yes, no = choice.split("/")
            return yes if value else no
        return str(value)

    return re.sub(r"\{(\w+)(?::([^}]+))?\}", sub, spec.label).strip()


def short_kids(text: str) -> str:
    """Key URLs in ``text`` shortened to ``vault/key/01234567`` (details are read on a console line)."""
    return shorten_key_urls(text)


def evaluate_objective(engine, obj: Objective, *, since: str | None = None,
                       after: str | None = None) -> ObjectiveResult:
    """Evaluate one objective on the engine's current state (pure: nothing is written or audited).

    A check never raises: a refusal of the engine is a reason the objective is not met, and any other
    failure inside the check makes this one objective "cannot be checked: <reason>" (not met), so that
    one broken check cannot take the Lab pane or ``cmklab scenario check`` down with it.

    ``since``: when the current step began (the simulated clock's ISO time), for the kinds that measure
    from there (``clock_advanced``). ``after``: where the journal ended when the step began
    (:func:`journal_end`), for the kinds that count events or refusals (``vm_start_refused``, ``purge_refused``,
    ``event_logged``): only those written since count (None: every one)."""
    spec = OBJECTIVES[obj.kind]
    context = {"since": since, "after": after}
    try:
        out = spec.fn(engine, **obj.args, **{k: context[k] for k in spec.context})
        met, detail = out
        if isinstance(out, Impossible):
            return ObjectiveResult(obj.kind, obj.label, False, short_kids(detail), "impossible")
    except EngineError as err:
        return ObjectiveResult(obj.kind, obj.label, False, short_kids(err.message))
    except Exception as err:  # noqa: BLE001 - reported on the objective's line, never a traceback
        reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        return ObjectiveResult(obj.kind, obj.label, False, f"cannot be checked: {reason}", "error")
    return ObjectiveResult(obj.kind, obj.label, bool(met), short_kids(detail))


def check_objective(engine, obj: Objective) -> tuple[bool, str]:
    """``(met, detail)`` of one objective (see :func:`evaluate_objective`)."""
    r = evaluate_objective(engine, obj)
    return r.met, r.detail


# ================================================================================== loading


def _need(cond: bool, where: str, message: str) -> None:
    if not cond:
        raise ScenarioError(f"{where}: {message}")


def _objective(raw: Any, where: str) -> Objective:
    _need(isinstance(raw, dict), where, "an objective is a table such as {kind = \"vm_power\", vm = \"vm-db\", "
                                        "power = \"running\"}")
    kind = raw.get("kind")
    _need(kind in OBJECTIVES, where, f"objective kind {kind!r} is unknown; kinds: {', '.join(sorted(OBJECTIVES))}")
    spec = OBJECTIVES[kind]
    args = {k: v for k, v in raw.items() if k not in ("kind", "label")}
    for name, typ in spec.required.items():
        _need(name in args, where, f"objective {kind} needs {name!r}")
    for name, value in args.items():
        typ = spec.required.get(name) or spec.optional.get(name)
        _need(typ is not None, where, f"objective {kind} takes no {name!r}; it takes: "
                                      f"{', '.join(list(spec.required) + list(spec.optional)) or 'nothing'}")
        _need(isinstance(value, typ) and not (typ is int and isinstance(value, bool)), where,
              f"objective {kind}: {name} must be a {typ.__name__}, not {value!r}")
    if kind == "vm_power":
        _need(args["power"] in _POWERS, where, f"power {args['power']!r} is not one of {', '.join(sorted(_POWERS))}")
    if kind == "key_state":
        _need(args["state"] in _KEY_STATES, where, f"state {args['state']!r} is not one of {', '.join(_KEY_STATES)}")
    if kind == "data_intact" and "via" in args:
        _need(args["via"] in ("vault", "vm"), where, f"via {args['via']!r} must be 'vault' or 'vm'")
    for name in ("within", "at_least", "at_most"):
        if name not in args:
            continue
        try:
            parse_duration(args[name])
        except ValueError as e:
            raise ScenarioError(f"{where}: {e}") from None
    label = raw.get("label") or _default_label(kind, args)
    return Objective(kind, args, str(label))


def _hint(raw: Any, where: str) -> Hint:
    if isinstance(raw, str):
        raw = {"cmd": raw}
    _need(isinstance(raw, dict) and isinstance(raw.get("cmd"), str), where,
          "a hint is a command string or a table {cmd = \"cmklab az ...\", expect = \"refused\"}")
    cmd = raw["cmd"].strip()
    _need(cmd.startswith("cmklab "), where, f"hint {cmd!r} must start with 'cmklab ' (cmklab az ..., cmklab clock ...)")
    expect = raw.get("expect", "ok")
    _need(expect in ("ok", "refused"), where, f"hint expect {expect!r} must be 'ok' or 'refused'")
    return Hint(cmd, expect, str(raw.get("note", "")))


def parse_scenario(data: dict, source: str = "<scenario>") -> Scenario:
    """Build and validate a :class:`Scenario` from parsed TOML."""
    where = source
    for name in ("name", "title", "summary"):
        _need(isinstance(data.get(name), str) and data[name].strip(), where, f"{name!r} is required (a string)")
    _need(re.fullmatch(r"[a-z0-9][a-z0-9-]*", data["name"]) is not None, where,
          f"name {data['name']!r}: lowercase letters, digits and hyphens")
    landscape = data.get("landscape")
    _need(isinstance(landscape, dict), where, "a [landscape] table is required")
    steps_raw = data.get("steps")
    _need(isinstance(steps_raw, list) and steps_raw, where, "at least one [[steps]] is required")
    steps = []
    for i, s in enumerate(steps_raw, 1):
        w = f"{where}, step {i}"
        _need(isinstance(s, dict), w, "a step is a table")
        for name in ("title", "narrative"):
            _need(isinstance(s.get(name), str) and s[name].strip(), w, f"{name!r} is required")
        hints = s.get("hints", [])
        _need(isinstance(hints, list) and hints, w, "'hints' is required: the commands that do the step")
        objs = s.get("objectives", [])
        _need(isinstance(objs, list) and objs, w, "'objectives' is required: what the engine checks")
        steps.append(Step(title=s["title"].strip(), narrative=_dedent(s["narrative"]),
                          hints=tuple(_hint(h, f"{w}, hint {j}") for j, h in enumerate(hints, 1)),
                          objectives=tuple(_objective(o, f"{w}, objective {j}") for j, o in enumerate(objs, 1)),
                          console=str(s.get("console", "")).strip()))
    seed = data.get("seed", 1)
    _need(isinstance(seed, int) and not isinstance(seed, bool), where, "seed must be a whole number")
    order = data.get("order", 100)
    profile = data.get("profile")
    from engine.rules import PROFILES
    _need(profile is None or profile in PROFILES, where, f"profile {profile!r} is not one of {', '.join(PROFILES)}")
    _check_landscape(landscape, where)
    _check_names(landscape, steps, where)
    return Scenario(name=data["name"], title=data["title"].strip(), summary=_dedent(data["summary"]),
                    order=int(order), seed=seed, landscape=landscape, steps=tuple(steps), source=source,
                    profile=profile)


_OWN_LINE = re.compile(r"\s|[-*\u2022] |\d+[.)] |\$ ")
"""A line that stays a line of its own when a paragraph is reflowed: indented, a list item, a command."""


def _dedent(text: str) -> str:
    """The text of a summary or narrative, reflowed: files wrap their lines at ~100 columns, which is not
    where a terminal or the Lab panel wraps, so the lines of a paragraph are joined (paragraphs stay apart
    by a blank line; an indented line, a list item or a ``$ command`` line stays a line of its own) and
    whoever shows it wraps it to its own width (:func:`wrap_text`)."""
    paragraphs = []
    for para in re.split(r"\n[ \t]*\n", text.strip()):
        lines: list[str] = []
        for ln in para.splitlines():
            if lines and not _OWN_LINE.match(ln):
                lines[-1] += " " + ln.strip()
            else:
                lines.append(ln.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(p for p in paragraphs if p)


def wrap_text(text: str, width: int, indent: str = "  ") -> list[str]:
    """``text`` (reflowed: :func:`_dedent`) as lines of at most ``width`` columns, each indented; blank lines
    between paragraphs kept as empty lines."""
    import textwrap

    out: list[str] = []
    for ln in text.splitlines():
        if not ln.strip():
            out.append("")
            continue
        lead = ln[:len(ln) - len(ln.lstrip())]
        out += textwrap.wrap(ln.strip(), max(20, width - len(indent) - len(lead)), break_long_words=False,
                             break_on_hyphens=False, initial_indent=indent + lead,
                             subsequent_indent=indent + lead) or [""]
    return out


def text_width(limit: int = 100) -> int:
    """The width to wrap printed text to: the terminal's (``COLUMNS`` first), at most ``limit``."""
    import shutil

    return min(limit, shutil.get_terminal_size((limit, 24)).columns)


def load_scenario(path: str | os.PathLike) -> Scenario:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{p.name}: not valid TOML: {e}") from None
    except OSError as e:
        raise ScenarioError(f"{p}: cannot be read: {e.strerror or e}") from None
    return parse_scenario(data, p.name)


def load_scenarios(directory: str | os.PathLike) -> list[Scenario]:
    """Every ``*.toml`` scenario of a directory, in their ``order``; names must be unique."""
    out = [load_scenario(p) for p in sorted(Path(directory).glob("*.toml"))]
    seen: dict[str, str] = {}
    for s in out:
        if s.name in seen:
            raise ScenarioError(f"{s.source}: scenario name {s.name!r} is also used by {seen[s.name]}")
        seen[s.name] = s.source
    return sorted(out, key=lambda s: (s.order, s.name))


# ================================================================================ landscapes

_LANDSCAPE_KEYS = {"region", "group", "groups", "vaults", "keys", "sets", "disks", "vms", "writes", "snapshots"}


def _check_landscape(ls: dict, where: str) -> None:
    w = f"{where}, landscape"
    unknown = set(ls) - _LANDSCAPE_KEYS
    _need(not unknown, w, f"unknown entries {sorted(unknown)}; known: {', '.join(sorted(_LANDSCAPE_KEYS))}")
    for table in ("groups", "vaults", "keys", "sets", "disks", "vms", "writes", "snapshots"):
        rows = ls.get(table, [])
        _need(isinstance(rows, list) and all(isinstance(r, dict) for r in rows), w,
              f"{table} must be an array of tables ([[landscape.{table}]])")
        for r in rows:
            if table == "writes":
                _need(isinstance(r.get("vm"), str) and isinstance(r.get("text"), str), w,
                      "every write needs a vm and a text")
            else:
                _need(isinstance(r.get("name"), str), w, f"every entry of {table} needs a name")


class _Names:
    """The names a scenario can rely on: what its landscape creates, and what its hints create
    (``az ... create --name X``). A kind some hint creates with names nobody can know in advance (the
    disks of ``az vm create``) is ``open``: any name of that kind is accepted."""

    WHAT = {"vaults": "vault", "keys": "key", "sets": "disk encryption set", "disks": "disk", "vms": "VM",
            "snapshots": "snapshot", "images": "image"}

    def __init__(self) -> None:
        self.known: dict[str, dict[str, str]] = {k: {} for k in self.WHAT}
        self.open: set[str] = set()

    def add(self, kind: str, name: str, key: str | None = None) -> None:
        self.known[kind][(key or name).lower()] = name

    def has(self, kind: str, name: str, key: str | None = None) -> bool:
        return kind in self.open or (key or name).lower() in self.known[kind]

    def need(self, kind: str, name: str, where: str, *, key: str | None = None, how: str = "") -> None:
        if self.has(kind, name, key):
            return
        names = sorted(self.known[kind].values())
        if kind == "keys":
            vault = (key or "").split("/")[0]
            names = sorted(n for k, n in self.known[kind].items() if k.startswith(vault.lower() + "/"))
            what = f"key {name!r} in vault {vault!r}"
        else:
            what = f"{self.WHAT[kind]} {name!r}"
        known = f"; the scenario creates: {', '.join(names)}" if names else f"; the scenario creates no {self.WHAT[kind]}"
        raise ScenarioError(f"{where}: {how or ''}{what} does not exist: the landscape does not create it and no "
                            f"hint does{known}")


_HINT_CREATES = {("keyvault", "create"): "vaults", ("keyvault", "key", "create"): "keys",
                 ("keyvault", "key", "import"): "keys", ("disk-encryption-set", "create"): "sets",
                 ("disk", "create"): "disks", ("vm", "create"): "vms", ("snapshot", "create"): "snapshots",
                 ("image", "create"): "images"}


def _hint_names(names: _Names, command: str) -> None:
    """What one hint creates (``cmklab az <group...> create --name X``)."""
    import shlex

    try:
        argv = shlex.split(command)
    except ValueError:
        return
    if len(argv) < 3 or argv[1] != "az":
        return
    words = tuple(w for w in argv[2:6] if not w.startswith("-"))
    for path, kind in _HINT_CREATES.items():
        if words[:len(path)] != path:
            continue
        opts: dict[str, str] = {}
        for i, a in enumerate(argv[:-1]):
            if a.startswith("-"):
                opts.setdefault(a, argv[i + 1])
        name = opts.get("--name") or opts.get("-n")
        if not name:
            names.open.add(kind)
        elif kind == "keys":
            vault = opts.get("--vault-name", "")
            names.add("keys", name, f"{vault}/{name}")
        else:
            names.add(kind, name)
        if kind == "vms":  # its disks get generated names (unless --os-disk-name, and data disks never)
            names.open.add("disks")


_ARG_KINDS = {"des": "sets", "vm": "vms"}
_PLACEHOLDER_KINDS = {"principal": "sets", "des_id": "sets", "vault_id": "vaults", "disk_id": "disks",
                      "vm_id": "vms"}


def _check_names(ls: dict, steps: list[Step], where: str) -> None:
    """Every name an objective, a hint's placeholder or a landscape entry refers to exists: in the
    landscape, or created by a hint. A typo is found when the file is loaded, naming the file, the step
    and the name, not by a trainee stuck on an objective that can never be met."""
    names = _Names()
    w = f"{where}, landscape"
    for v in ls.get("vaults", []):
        names.add("vaults", v["name"])
    for k in ls.get("keys", []):
        names.need("vaults", str(k.get("vault")), w, how=f"key {k['name']!r}: ")
        names.add("keys", k["name"], f"{k['vault']}/{k['name']}")
    for st in ls.get("sets", []):
        how = f"set {st['name']!r}: "
        names.need("vaults", str(st.get("vault")), w, how=how)
        names.need("keys", str(st.get("key")), w, key=f"{st.get('vault')}/{st.get('key')}", how=how)
        names.add("sets", st["name"])
    for d in ls.get("disks", []):
        if d.get("set"):
            names.need("sets", str(d["set"]), w, how=f"disk {d['name']!r}: ")
        names.add("disks", d["name"])
    for vm in ls.get("vms", []):
        how = f"VM {vm['name']!r}: "
        if vm.get("os_set"):
            names.need("sets", str(vm["os_set"]), w, how=how)
        names.add("disks", str(vm.get("os_disk", f"{vm['name']}-os")))
        for dd in vm.get("disks", []):
            if isinstance(dd, dict) and dd.get("set"):
                names.need("sets", str(dd["set"]), w, how=how)
            if isinstance(dd, dict) and isinstance(dd.get("name"), str):
                names.add("disks", dd["name"])
        names.add("vms", vm["name"])
    for wr in ls.get("writes", []):
        names.need("vms", wr["vm"], w, how="a write: ")
    for sn in ls.get("snapshots", []):
        how = f"snapshot {sn['name']!r}: "
        names.need("disks", str(sn.get("source")), w, how=how)
        if sn.get("set"):
            names.need("sets", str(sn["set"]), w, how=how)
        names.add("snapshots", sn["name"])
    for step in steps:
        for h in step.hints:
            _hint_names(names, h.command)
    for i, step in enumerate(steps, 1):
        for j, h in enumerate(step.hints, 1):
            for m in _PLACEHOLDER.finditer(h.command):
                what, ref = m.group(1), m.group(2)
                wh = f"{where}, step {i}, hint {j}"
                if what in _PLACEHOLDER_KINDS:
                    names.need(_PLACEHOLDER_KINDS[what], ref, wh, how=f"{{{what}:{ref}}}: ")
                else:
                    vault, _, key = ref.partition("/")
                    names.need("vaults", vault, wh, how=f"{{{what}:{ref}}}: ")
                    names.need("keys", key, wh, key=ref, how=f"{{{what}:{ref}}}: ")
        for j, o in enumerate(step.objectives, 1):
            wo = f"{where}, step {i}, objective {j} ({o.kind})"
            a = o.args
            for arg, kind in _ARG_KINDS.items():
                if arg in a:
                    names.need(kind, a[arg], wo)
            if "disk" in a:
                names.need("disks", a["disk"], wo)
            if "vault" in a:
                names.need("vaults", a["vault"], wo)
                if "key" in a:
                    names.need("keys", a["key"], wo, key=f"{a['vault']}/{a['key']}")


def build_landscape(engine, landscape: dict) -> None:
    """Create a scenario's starting point through the facade: resources in one unit of work, then the
    data written by the VMs, then the power states asked for (stopped, deallocated)."""
    ls = landscape
    region = ls.get("region", "eastus")
    default_group = ls.get("group", "rg-lab")
    groups = ls.get("groups") or [{"name": default_group, "location": region}]
    with engine.transaction():
        for g in groups:
            engine.create_group(g["name"], g.get("location", region))
        for v in ls.get("vaults", []):
            engine.create_vault(v["name"], v.get("group", default_group), sku=v.get("sku", "standard"),
                                enable_purge_protection=v.get("purge_protection", True) or None,
                                retention_days=v.get("retention_days", 90),
                                enable_rbac_authorization=v.get("rbac", False))
        for k in ls.get("keys", []):
            for _ in range(int(k.get("versions", 1))):
                engine.create_key(k["vault"], k["name"], kty=k.get("kty", "RSA"), size=k.get("size", 2048))
        for s in ls.get("sets", []):
            key, ver = engine.get_key(s["vault"], s["key"], audit=False)
            des = engine.create_des(s["name"], s.get("group", default_group),
                                    key_url=f"{key.id}/{ver['version']}", source_vault=s["vault"],
                                    encryption_type=s.get("type", ENC_CUSTOMER),
                                    rotation_to_latest=s.get("auto_rotation", False))
            if s.get("grant", True):
                vault = engine.get_vault(s["vault"])
                if vault.enable_rbac_authorization:
                    engine.create_role_assignment(des.principal_id, CRYPTO_SERVICE_ROLE, vault.id)
                else:
                    engine.set_policy(s["vault"], des.principal_id, list(DES_REQUIRED_PERMISSIONS))
        for d in ls.get("disks", []):
            engine.create_disk(d["name"], d.get("group", default_group), size_gb=d.get("size_gb", 64),
                               sku=d.get("sku", "Premium_LRS"), disk_encryption_set=d.get("set"))
        for vm in ls.get("vms", []):
            group = vm.get("group", default_group)
            engine.create_vm(vm["name"], group, size=vm.get("size", "Standard_DS3_v2"),
                             image=vm.get("image", "Ubuntu2204"), os_disk_name=vm.get("os_disk", f"{vm['name']}-os"),
                             os_disk_encryption_set=vm.get("os_set"),
                             storage_sku=[f"os={vm.get('os_sku', 'Premium_LRS')}"],
                             ultra_ssd_enabled=vm.get("ultra", False),
                             encryption_at_host=vm.get("encryption_at_host", False))
            for lun, dd in enumerate(vm.get("disks", [])):
                engine.create_disk(dd["name"], group, size_gb=dd.get("size_gb", 64), sku=dd.get("sku", "Premium_LRS"),
                                   disk_encryption_set=dd.get("set"))
                engine.attach_disk(vm["name"], dd["name"], group, lun=dd.get("lun", lun))
    for w in ls.get("writes", []):
        engine.vm_write(w["vm"], w.get("lun", "os"), w.get("offset", 0), w["text"].encode())
    snaps = ls.get("snapshots", [])
    later = [vm for vm in ls.get("vms", []) if vm.get("power", "running") != "running"]
    if snaps or later:
        with engine.transaction():
            for s in snaps:
                engine.create_snapshot(s["name"], s.get("group", default_group), source=s["source"],
                                       disk_encryption_set=s.get("set"))
            for vm in later:
                {"stopped": engine.stop_vm, "deallocated": engine.deallocate_vm}[vm["power"]](vm["name"])


def start_scenario(engine, scenario: Scenario) -> None:
    """Fill an empty engine with the scenario's landscape."""
    if engine.has_resources(("groups", "vaults", "keys", "des", "disks", "vms")):
        raise ScenarioError("the engine already holds resources; a scenario starts from an empty store",
                            code="Conflict")
    try:
        build_landscape(engine, scenario.landscape)
    except ScenarioError:
        raise
    except EngineError as err:
        raise ScenarioError(f"{scenario.source}: the landscape cannot be built: ({err.display_code}) "
                            f"{err.message}") from None
    except (KeyError, TypeError, ValueError) as err:
        raise ScenarioError(f"{scenario.source}: the landscape cannot be built: {type(err).__name__}: {err}") \
            from None


# ==================================================================================== hints

_PLACEHOLDER = re.compile(r"\{(principal|key_url|key_id|des_id|vault_id|disk_id|vm_id):([A-Za-z0-9_./-]+)\}")
"""Placeholders in hints, filled from the engine's state when shown or run:
``{principal:des-x}`` (the set's identity), ``{key_url:vault/key}`` (the newest version's URL),
``{key_id:vault/key}`` (versionless), ``{des_id:name}``, ``{vault_id:name}``, ``{disk_id:name}``,
``{vm_id:name}``. Anything else in braces (a JMESPath ``--query``) is left alone."""


def render_hint(engine, command: str) -> str:
    def sub(m: re.Match) -> str:
        what, ref = m.group(1), m.group(2)
        try:
            if what == "principal":
                return engine.get_des(ref).principal_id
            if what == "des_id":
                return engine.get_des(ref).id
            if what == "vault_id":
                return engine.get_vault(ref).id
            if what == "disk_id":
                return engine.get_disk(ref).id
            if what == "vm_id":
                return engine.get_vm(ref).id
            vault, _, name = ref.partition("/")
            k = _key_of(engine, vault, name)
            if k is None:
                return m.group(0)
            return k.id if what == "key_id" else f"{k.id}/{k.current['version']}"
        except EngineError:
            return m.group(0)

    return _PLACEHOLDER.sub(sub, command)


def in_classroom() -> bool:
    """This process is a trainee's console in ``cmklab classroom`` (``CMKLAB_CONFINE`` set): a browser with no
    terminal, where the trainer resets a step from the trainer's page."""
    from console.confine import files_root

    return files_root() is not None


def in_a_browser() -> bool:
    """This process is a console served to a browser (``cmklab serve``, ``cmklab classroom``: its lab's name
    is set, console/confine.py): no terminal, and the home's path is the server's."""
    from console.confine import lab_name

    return lab_name() is not None or in_classroom()


def cmklab_prefix(home: str | os.PathLike | None) -> str:
    """How a command line a trainee copies starts: ``cmklab --home HOME`` (shell-quoted), so that pasted in any
    terminal it acts on this home; plain ``cmklab`` when a bare ``cmklab`` here acts on that home already (it is
    the default home, ``$CMKLAB_HOME`` included), when there is no home (an engine in memory), or in a console
    served to a browser (no terminal: the hints are read, not pasted, and the home's path on the server is
    nobody's business in the browser)."""
    if home is None or in_a_browser():
        return "cmklab"
    from console.session import default_home

    here = Path(home).expanduser().absolute()
    try:
        if here.resolve() == default_home().expanduser().absolute().resolve():
            return "cmklab"
    except OSError:
        pass
    return f"cmklab --home {shlex.quote(str(here))}"


def with_prefix(command: str, prefix: str) -> str:
    """``command`` (a ``cmklab ...`` line) starting with ``prefix`` instead of ``cmklab``."""
    if prefix != "cmklab" and (command == "cmklab" or command.startswith("cmklab ")):
        return prefix + command[len("cmklab"):]
    return command


# ====================================================================================== lab


_FLAG_ALIASES = {"-g": "--resource-group", "-n": "--name", "-l": "--location"}


def _command_shape(line: str) -> tuple[tuple[str, ...], dict[str, str]]:
    """A command line as (its words up to the first flag, without ``cmklab``; {flag: value})."""
    try:
        argv = shlex.split(line)
    except ValueError:
        argv = line.split()
    if argv and argv[0] == "cmklab":
        argv = argv[1:]
    words: list[str] = []
    flags: dict[str, str] = {}
    i = 0
    while i < len(argv) and not argv[i].startswith("-"):
        words.append(argv[i])
        i += 1
    while i < len(argv):
        flag = _FLAG_ALIASES.get(argv[i], argv[i])
        value = argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("-") else ""
        flags[flag] = value.lower()
        i += 2 if value else 1
    return tuple(words), flags


class Lab:
    """A scenario being played on an engine: the model behind the console's Lab pane and
    ``cmklab scenario check``.

    State (which step, when it began on the simulated clock, which steps are complete) is the store's side
    document :data:`LAB_DOCUMENT` (``scenario.json`` in the home), read with :meth:`state_of` and written by
    :meth:`save` through the engine (never in the engine's state: a lab is how you look at a store, not part
    of it). A lab that is ``read_only`` (default: the engine's mode when the lab is made), or whose engine's store
    is read-only, moves in memory and never saves.
    """

    def __init__(self, engine, scenario: Scenario, *, index: int = 0, completed: set[int] | None = None,
                 seed: int | None = None, read_only: bool | None = None, started: str | None = None,
                 begun: dict[int, str] | None = None, marks: dict[int, str] | None = None) -> None:
        self.engine = engine
        self.scenario = scenario
        self.index = max(0, min(index, len(scenario.steps) - 1))
        self.completed: set[int] = set(completed or ())
        self.seed = scenario.seed if seed is None else seed
        self.read_only = bool(engine.read_only) if read_only is None else read_only
        self.begun: dict[int, str] = {i: t for i, t in (begun or {}).items() if 0 <= i < len(scenario.steps)}
        """When each step began (index -> the simulated clock, ISO): recorded the first time the step is entered
        and kept while the trainee moves between steps (``<`` then ``>`` does not begin a step again); a step
        looked at before the one ahead of it was complete begins again when it is entered after that."""
        self.marks: dict[int, str] = {i: m for i, m in (marks or {}).items() if 0 <= i < len(scenario.steps)}
        """Where the journal ended when each step began (index -> :func:`journal_end`): the events and refusals
        a step's objectives count are those written since (recorded and kept as :attr:`begun` is)."""
        if started is not None:
            self.begun[self.index] = started
            self.marks[self.index] = journal_end(engine)
        self._seen = self._signature()
        """The saved progress's signature as this lab last read or wrote it: another process's save is re-read."""
        self.superseded = False
        """The home's saved progress is another scenario's now (``scenario run OTHER --reset`` in another
        terminal): this lab never saves again (it would write its scenario over the new one's progress)."""

    def _begin(self, index: int) -> None:
        """Step ``index`` begins now, unless it began already (moving between steps begins nothing again)."""
        if index not in self.begun:
            self.begun[index] = self.engine.now()
            self.marks[index] = journal_end(self.engine)

    def _forget(self, index: int) -> None:
        """Step ``index`` has not begun (it begins when it is entered next)."""
        self.begun.pop(index, None)
        self.marks.pop(index, None)

    @property
    def started(self) -> str | None:
        """When the current step began (the simulated clock, ISO): objectives such as ``clock_advanced``
        measure from there. None for a lab saved before steps recorded it."""
        return self.begun.get(self.index)

    @started.setter
    def started(self, when: str | None) -> None:
        if when is None:
            self.begun.pop(self.index, None)
        else:
            self.begun[self.index] = when

    @staticmethod
    def _steps_of(state: dict, name: str) -> dict[int, str]:
        """A ``{"step number": "text"}`` entry of ``state`` as ``{index: text}``."""
        out: dict[int, str] = {}
        raw = state.get(name)
        if isinstance(raw, dict):
            for k, v in raw.items():
                try:
                    if isinstance(v, str):
                        out[int(k) - 1] = v
                except (TypeError, ValueError):
                    continue
        return out

    @classmethod
    def _begun_of(cls, state: dict, index: int) -> dict[int, str]:
        """The steps' starts saved in ``state`` (a lab saved before they were: its ``started``, the current step's)."""
        out = cls._steps_of(state, "begun")
        started = state.get("started")
        if isinstance(started, str):
            out.setdefault(index, started)
        return out
        """The saved progress's signature as this lab last read or wrote it: another process's save is re-read."""

    # -- the saved progress -----------------------------------------------------------------------

    @staticmethod
    def state_of(engine) -> dict | None:
        """The lab's progress saved in the engine's store (None if there is none)."""
        try:
            data = engine.read_side(LAB_DOCUMENT)
        except EngineError as e:
            raise ScenarioError(f"the lab's progress cannot be read: {e.message}") from None
        if data is None:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("scenario"), str):
            raise ScenarioError("the lab's progress is not a cmklab lab (no 'scenario' entry)")
        return data

    @classmethod
    def from_state(cls, engine, scenario: Scenario, state: dict, read_only: bool | None = None) -> "Lab":
        index = int(state.get("step", 1)) - 1
        return cls(engine, scenario, index=index, completed={int(i) - 1 for i in state.get("completed", [])},
                   seed=state.get("seed"), read_only=read_only, begun=cls._begun_of(state, index),
                   marks=cls._steps_of(state, "journal"))

    def to_dict(self) -> dict:
        out = {"scenario": self.scenario.name, "title": self.scenario.title, "seed": self.seed,
               "step": self.index + 1, "steps": self.total, "completed": sorted(i + 1 for i in self.completed)}
        if self.started:
            out["started"] = self.started
        if self.begun:
            out["begun"] = {str(i + 1): t for i, t in sorted(self.begun.items())}
        if self.marks:
            out["journal"] = {str(i + 1): m for i, m in sorted(self.marks.items())}
        if self.scenario.path:
            out["file"] = self.scenario.path
        return out

    def save(self) -> None:
        """Save the progress through the engine's store (nothing when the lab or the store is read-only)."""
        if self.read_only or self.engine.read_only or self.superseded:
            return
        self.engine.write_side(LAB_DOCUMENT, self.to_dict())
        self._seen = self._signature()

    def _signature(self):
        return self.engine.side_signature(LAB_DOCUMENT)

    def reload_if_changed(self) -> bool:
        """Re-read the progress (step, its start, completed steps) when another process saved it, for instance
        ``cmklab scenario check`` in another terminal moving to the next step; True if it did. When the saved
        progress is another scenario's (a new ``scenario run ... --reset``), this lab is :attr:`superseded`
        (True is returned): it saves nothing from then on, and its owner opens the new lab (``open_lab``)."""
        sig = self._signature()
        if sig is None or sig == self._seen:
            return False
        try:
            state = self.state_of(self.engine)
        except ScenarioError:
            return False
        self._seen = sig
        if state is None:
            return False
        if state.get("scenario") != self.scenario.name or state.get("file") != self.scenario.path:
            changed = not self.superseded
            self.superseded = True
            return changed
        try:
            index = int(state.get("step", 1)) - 1
            completed = {int(i) - 1 for i in state.get("completed", [])}
        except (TypeError, ValueError):
            return False
        self.index = max(0, min(index, self.total - 1))
        self.completed = {i for i in completed if 0 <= i < self.total}
        self.begun = {i: t for i, t in self._begun_of(state, index).items() if 0 <= i < self.total}
        self.marks = {i: m for i, m in self._steps_of(state, "journal").items() if 0 <= i < self.total}
        return True

    # -- navigation -------------------------------------------------------------------------------

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.scenario.steps

    @property
    def total(self) -> int:
        return len(self.scenario.steps)

    @property
    def step(self) -> Step:
        return self.scenario.steps[self.index]

    @property
    def number(self) -> int:
        """The current step, counted from 1."""
        return self.index + 1

    @property
    def finished(self) -> bool:
        return len(self.completed) == self.total

    def goto(self, index: int) -> bool:
        self.reload_if_changed()
        if self.superseded:
            return False
        new = max(0, min(index, self.total - 1))
        changed = new != self.index
        self.index = new
        if changed:
            self._begin(new)  # a step begins once: moving back and forth keeps when it began
            self.save()
        return changed

    def next(self) -> bool:
        self.reload_if_changed()
        return self.goto(self.index + 1)

    def previous(self) -> bool:
        self.reload_if_changed()
        return self.goto(self.index - 1)

    # -- objectives -------------------------------------------------------------------------------

    def results(self, index: int | None = None) -> list[ObjectiveResult]:
        """The objectives of a step (the current one by default), checked on the engine's state now."""
        self.engine.refresh_if_changed()
        if index is None:
            self.reload_if_changed()
        i = self.index if index is None else index
        return [o.check(self.engine, since=self.begun.get(i), after=self.marks.get(i))
                for o in self.scenario.steps[i].objectives]

    def check(self, *, advance: bool = False) -> list[ObjectiveResult]:
        """Check the current step; when every objective is met it is marked complete (and, with
        ``advance``, the lab moves to the next step). Returns the current step's results."""
        res = self.results()
        if all(r.met for r in res):
            changed = self.index not in self.completed
            self.completed.add(self.index)
            if changed:  # the next step, looked at before this one was done, begins when it is entered now
                self._forget(self.index + 1)
            if advance and self.index < self.total - 1:
                self.index += 1
                self._begin(self.index)
                changed = True
            if changed:
                self.save()
        return res

    @property
    def met(self) -> bool:
        return all(r.met for r in self.results())

    @staticmethod
    def stuck(results: list[ObjectiveResult]) -> list[ObjectiveResult]:
        """The objectives of ``results`` that can no longer be met from this state."""
        return [r for r in results if r.impossible]

    def expected_refusal(self, lines: list[str]) -> Hint | None:
        """The current step's hint that says a command is refused on purpose, when ``lines`` (the az
        command lines of an action that was just refused) are that command: the refusal is the lesson.
        Commands are compared by their words and the values of the flags the hint gives (short and long
        flags alike: ``-n`` is ``--name``)."""
        refused = [(_command_shape(text), h) for text, h in self.hints() if h.refused]
        for line in lines:
            words, flags = _command_shape(line)
            for (h_words, h_flags), hint in refused:
                if h_words == words and all(flags.get(k) == v for k, v in h_flags.items()):
                    return hint
        return None

    def hints(self, index: int | None = None) -> list[tuple[str, Hint]]:
        """The hints of a step with their placeholders filled from the current state (as the scenario
        writes them: ``cmklab ...``, without ``--home``; :meth:`shown_hints` is what a trainee reads)."""
        step = self.scenario.steps[self.index if index is None else index]
        return [(render_hint(self.engine, h.command), h) for h in step.hints]

    @property
    def cmklab(self) -> str:
        """How the command lines this lab shows start: ``cmklab --home HOME`` when the lab's home is not the one
        a bare ``cmklab`` acts on (:func:`cmklab_prefix`), so that a copied hint acts on this lab's home."""
        return cmklab_prefix(self.engine.home)

    def shown_hints(self, index: int | None = None) -> list[tuple[str, Hint]]:
        """The hints as a trainee reads them (:meth:`hints`, each starting with :attr:`cmklab`)."""
        prefix = self.cmklab
        return [(with_prefix(text, prefix), h) for text, h in self.hints(index)]

    def command(self, words: str) -> str:
        """A ``cmklab`` command line on this lab's home: ``command("scenario check")``."""
        return f"{self.cmklab} {words}"

    def reset_advice(self) -> str:
        """What a trainee on a step that can no longer be met does: ``scenario reset-step`` on this home, or in
        the classroom (no terminal) ask the trainer, whose page resets a trainee's step."""
        if in_classroom():
            return "Ask the trainer to start this step again from where it began (the trainer's page resets it)."
        return f"Start it again from where it began: {self.command('scenario reset-step')}"

    def lines(self, *, with_narrative: bool = True) -> list[str]:
        """The current step as plain text (what ``cmklab scenario check`` prints)."""
        self.reload_if_changed()
        s = self.step
        out = [f"{self.scenario.title}: step {self.number}/{self.total}: {s.title}"
               + ("  [complete]" if self.index in self.completed else "")]
        if with_narrative:
            out += ["", *wrap_text(s.narrative, text_width()), ""]
            for text, h in self.shown_hints():
                out.append(f"  $ {text}" + ("    # refused, on purpose" if h.refused else ""))
            if s.console:
                out.append(f"  console: {s.console}")
            out.append("")
        out += ["  " + r.line() for r in self.results()]
        return out


__all__ = ["LAB_DOCUMENT", "Hint", "Impossible", "Lab", "OBJECTIVES", "Objective", "ObjectiveResult", "Scenario",
           "ScenarioError", "ScenarioNotFound", "Step", "build_landscape", "check_objective", "cmklab_prefix",
           "evaluate_objective", "in_classroom", "journal_end", "load_scenario", "load_scenarios", "parse_scenario",
           "render_hint", "start_scenario", "text_width", "with_prefix", "wrap_text"]
