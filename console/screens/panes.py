"""The console's panes: what each table lists and the columns an operator needs.

Each pane lists engine models (or small row tuples built from them, ``console/rows.py``) and renders only
the rows on screen (``VirtualTable``). ``rows.Index`` holds the cross-resource lookups a row needs (which sets
use a key, which resources a set holds), built lazily once per engine change, so a 10,000-disk store costs
one pass per change, not one per row.
"""

from __future__ import annotations

import re
from engine._light import dataclass
from typing import Any, Callable, Hashable

from engine.ids import shorten_key_urls
from engine.models import PowerState, ResourceState
from engine.rules import ENC_PLATFORM

from ..rows import ENC_LABEL, AccessRow, Ctx, LogEntry, VersionRow, policy_summary, short_kid, shorten, when
from ..widgets.vtable import Column

# ---- pane definitions ------------------------------------------------------------------------------


@dataclass
class Pane:
    id: str
    title: str
    kind: str
    """What a row is, for actions and the detail panel: vault, key, version, access, audit, des, disk, ..."""
    columns: list[Column]
    rows: Callable[[Ctx], list]
    key: Callable[[Any], Hashable]
    cells: Callable[[Ctx, Any], list]
    empty: str
    aliases: tuple[str, ...] = ()
    follow_end: bool = False
    """New rows arrive at the end (logs): keep the cursor there."""
    tables: tuple[str, ...] = ()
    """What listing the rows and drawing their cells reads as a whole (engine kinds, ``audit``, ``events``):
    when those are not in memory yet, or are big, the rows are built off the UI thread."""
    prime: tuple[str, ...] = ()
    """The ``Index`` look-ups its cells use (built with the rows, off the UI thread, for a big store)."""
    by_name: bool = False
    """Its rows are the models of ``tables[0]`` by name (lower-case): another process's change to a few of them
    is patched into the rows shown (a binary search each) instead of listing them all again."""


def _by_name(objs):
    return sorted(objs, key=lambda o: (getattr(o, "name", "") or "").lower())


# vaults -----------------------------------------------------------------------------------------------

def _vault_rows(ctx: Ctx) -> list:
    return sorted(ctx.engine.list_vaults(include_deleted=True), key=lambda v: (v.state != "Active", v.name.lower()))


def _vault_cells(ctx: Ctx, v) -> list:
    e = ctx.engine
    nkeys = len(e.list_all_keys(vault=v.name, where=lambda k: k.state == "Active"))
    if v.state == ResourceState.ACTIVE.value:
        state = ("active", "ok")
    else:
        state = (f"deleted, purge {when(v.scheduled_purge_date)}", "bad")
    return [
        (v.name, "bold"), v.resource_group, v.location, v.sku,
        ("on", "ok") if v.enable_purge_protection else ("OFF", "warn"),
        f"{v.soft_delete_retention_days}d",
        "RBAC" if v.enable_rbac_authorization else f"policies ({len(v.access_policies)})",
        str(nkeys), state,
    ]


VAULTS = Pane(
    "vaults", "Key vaults", "vault",
    [Column("NAME", 16), Column("GROUP", 10, 3), Column("REGION", 9, 4), Column("SKU", 8, 5),
     Column("PURGE PROT", 10), Column("RETAIN", 6, 6), Column("ACCESS", 13, 2), Column("KEYS", 4, 1),
     Column("STATE", 0, 0, 12)],
    _vault_rows, lambda v: v.id, _vault_cells, "no key vaults: press n to create one", ("kv", "vault", "keyvaults"),
    tables=("vaults", "keys"))


# keys ---------------------------------------------------------------------------------------------------

def _key_rows(ctx: Ctx) -> list:
    return sorted(ctx.engine.list_all_keys(), key=lambda k: (k.state != "Active", k.vault, k.name.lower()))


VALIDITY_LABEL = {"KeyExpired": ("EXPIRED", "bad"), "KeyNotYetValid": ("NOT YET", "warn")}
"""How the keys and versions panes flag a version the engine says is outside its validity (``key_validity``)."""


def _validity_cell(validity: tuple[str, str] | None):
    return VALIDITY_LABEL.get(validity[0], (validity[0], "bad")) if validity else None


def _key_cells(ctx: Ctx, k) -> list:
    vers = k.versions
    n_on = sum(1 for v in vers if v["enabled"])
    vault = ctx.engine.find_vault(k.vault)
    if k.state != "Active":
        enabled = ("DELETED", "bad")
    elif vault is None or vault.state != "Active":
        enabled = ("vault gone", "bad")
    elif n_on == len(vers):
        enabled = ("yes", "ok")
    elif n_on == 0:
        enabled = ("DISABLED", "bad")
    else:
        enabled = (f"{n_on}/{len(vers)} on", "warn")
    cur = k.current if vers else {}
    exp = cur.get("exp")
    exp_cell = _validity_cell(ctx.engine.key_validity(k)) or ((exp[:10], "") if exp else ("-", "dim"))
    sets = ctx.idx.des_by_key.get(k.id.lower(), [])
    used = (f"{len(sets)} set" + ("s" if len(sets) != 1 else ""), "accent") if sets else ("0 sets", "dim")
    return [
        (f"{k.vault}/{k.name}", "bold"), f"{k.type_label}", enabled, (cur.get("version", "")[:8], "accent"),
        str(len(vers)), exp_cell, used, (policy_summary(k), "" if k.rotation_policy else "dim"),
    ]


KEYS = Pane(
    "keys", "Keys", "key",
    [Column("KEY", 20), Column("TYPE", 12, 3), Column("ENABLED", 9), Column("CURRENT", 8), Column("VERS", 4, 4),
     Column("EXPIRES", 10), Column("USED BY", 7), Column("ROTATION POLICY", 0, 2, 14)],
    _key_rows, lambda k: k.id.lower(), _key_cells, "no keys: press n to generate one (i to import)", ("key",),
    tables=("keys", "vaults", "des"), prime=("des_by_key",))


# versions -------------------------------------------------------------------------------------------------

def _version_rows(ctx: Ctx) -> list:
    out = []
    for k in _key_rows(ctx):
        for v in reversed(k.versions):
            out.append(VersionRow(k, v))
    return out


def _version_cells(ctx: Ctx, row: VersionRow) -> list:
    k, v = row
    current = v["version"] == k.current["version"]
    kid = row.kid.lower()
    sets = ctx.idx.des_by_kid.get(kid, [])
    res = ctx.idx.res_by_kid.get(kid, [])
    return [
        (f"{k.vault}/{k.name}", "bold"), (v["version"][:8], "accent"), ("current", "ok") if current else ("older", "dim"),
        ("yes", "ok") if v["enabled"] else ("DISABLED", "bad"), when(v["created"]),
        _validity_cell(ctx.engine.key_validity(k, v["version"])) or (when(v.get("exp")) if v.get("exp") else ("-", "dim")),
        ", ".join(d.name for d in sets) or ("-", "dim"), (f"{len(res):,}", "accent" if res else "dim"),
    ]


VERSIONS = Pane(
    "versions", "Key versions", "version",
    [Column("KEY", 20), Column("VERSION", 9), Column("", 8), Column("ENABLED", 9), Column("CREATED", 16, 3),
     Column("EXPIRES", 16, 2), Column("SETS ON IT", 0, 0, 12), Column("WRAPS", 6, 1, justify="right")],
    _version_rows, lambda r: r.kid.lower(), _version_cells, "no key versions", ("version", "ver", "vers"),
    tables=("keys", "des", "disks", "snapshots", "images"), prime=("des_by_kid", "res_by_kid"))


# access ---------------------------------------------------------------------------------------------------

def _access_rows(ctx: Ctx) -> list:
    e = ctx.engine
    out = []
    roles = e.list_role_assignments()
    names = e.principal_names()  # who each principal is, as the engine names it (once for the pane)
    for v in sorted(e.list_vaults(), key=lambda v: v.name.lower()):
        for p in v.access_policies:
            out.append(AccessRow(v, "policy", p["objectId"], " ".join(p["permissions"].get("keys", [])),
                                 name=names.get(p["objectId"].lower())))
        for r in roles:
            if r.scope.lower() == v.id.lower() or r.scope.lower().startswith(v.id.lower() + "/"):
                out.append(AccessRow(v, "role", r.principal_id, r.role, r, name=names.get(r.principal_id.lower())))
    return out


def _access_cells(ctx: Ctx, row: AccessRow) -> list:
    active = row.model == ("role" if row.vault.enable_rbac_authorization else "policy")
    return [
        (row.vault.name, "bold"), "access policy" if row.model == "policy" else "RBAC role",
        (ctx.idx.who(row.principal), "accent"), row.principal, row.grant if active else (f"{row.grant} (inactive)", "dim"),
    ]


ACCESS = Pane(
    "access", "Access policies and role assignments", "access",
    [Column("VAULT", 12), Column("MODEL", 13), Column("WHO", 16), Column("OBJECT ID", 36, 2),
     Column("KEY PERMISSIONS / ROLE", 0, 0, 16)],
    _access_rows, lambda r: r.id.lower(), _access_cells, "no access policies or role assignments",
    ("policies", "policy", "roles", "rbac"), tables=("vaults", "roles", "des"), prime=("principals",))


# audit ----------------------------------------------------------------------------------------------------

def _audit_rows(ctx: Ctx) -> list:
    return ctx.engine.list_audit()


def _audit_cells(ctx: Ctx, a) -> list:
    ok = a.result == "OK"
    return [
        when(a.time), a.vault, (ctx.idx.who(a.caller), "accent"), a.operation, short_kid(a.kid),
        ("OK", "ok") if ok else (f"{a.result}: {a.code or ''}", "bad"),
    ]


AUDIT = Pane(
    "audit", "Key Vault audit trail", "audit",
    # the key version names its vault: on a narrow terminal (80 columns) the vault's column goes, never the key's
    [Column("TIME", 16), Column("VAULT", 11, 3), Column("CALLER", 13), Column("OPERATION", 12),
     Column("KEY VERSION", 24, 1), Column("RESULT", 0, 0, 7)],
    _audit_rows, lambda a: a.id, _audit_cells, "no key operations yet", ("trail", "log-kv"), follow_end=True,
    tables=("audit", "des"), prime=("principals",))


# disk encryption sets ---------------------------------------------------------------------------------------

def _des_cells(ctx: Ctx, d) -> list:
    e = ctx.engine
    res = ctx.idx.res_by_des.get(d.id, [])
    problem = e.des_identity_ready(d)
    if d.auto_key_rotation_error:
        status = (f"auto-rotation failed: {d.auto_key_rotation_error.get('code')}", "bad")
    elif problem is not None:
        status = (f"{problem.display_code}: {shorten(problem.message)}", "bad")
    elif d.provisioning_state != "Succeeded":
        status = (d.provisioning_state, "warn")
    else:
        status = ("ready", "ok")
    return [
        (d.name, "bold"), d.resource_group, ENC_LABEL.get(d.encryption_type, d.encryption_type),
        (short_kid(d.key_url), "accent"), ("on", "ok") if d.rotation_to_latest else ("off", "dim"),
        (f"{len(res):,}", "accent" if res else "dim"), status,  # a twin's set serves tens of thousands
    ]


SETS = Pane(
    "sets", "Disk encryption sets", "des",
    [Column("NAME", 14), Column("GROUP", 10, 3), Column("TYPE", 12), Column("KEY", 26), Column("AUTO ROT", 8),
     Column("RES", 6, justify="right"), Column("STATUS", 0, 0, 8)],
    lambda ctx: ctx.engine.list_des(), lambda d: d.id, _des_cells,
    "no disk encryption sets: press n to create one", ("des", "set", "disk-encryption-sets"),
    tables=("des", "disks", "snapshots", "images"), prime=("res_by_des",))


# disks, snapshots, images -------------------------------------------------------------------------------------

def _key_cell(ctx: Ctx, r) -> tuple[str, str]:
    if r.encryption_type == ENC_PLATFORM:
        return ("platform key", "dim")
    problem = ctx.engine.resource_problem(r)
    if problem is None:
        return ("usable", "ok")
    if r.cache is not None and r.kind == "disk":
        vm = ctx.engine.vm_of_disk(r.id)
        if vm is not None and vm.power == PowerState.RUNNING.value:
            return (f"{problem.display_code} (host-cached)", "warn")
    return (problem.display_code, "bad")


def _des_name(ctx: Ctx, r) -> str | tuple[str, str]:
    if not r.des_id:
        return ("-", "dim")
    d = ctx.engine.find_des(r.des_id)
    return d.name if d else r.des_id.rsplit("/", 1)[-1]


def _outer_kid(r) -> str | None:
    for layer in r.layers:
        if not layer["kid"].startswith("platform:"):
            return layer["kid"]
    return None


def _disk_cells(ctx: Ctx, d) -> list:
    e = ctx.engine
    vm = e.vm_of_disk(d.id)
    state = e.disk_state(d)
    where = "-"
    if vm is not None:
        lun = vm.lun_of(d.id)
        where = f"{vm.name} ({'os' if lun == 'os' else f'lun {lun}'})"
    return [
        (d.name, "bold"), ("UltraSSD_LRS", "accent") if d.is_ultra else d.sku, str(d.size_gb),
        ENC_LABEL.get(d.encryption_type, d.encryption_type), _des_name(ctx, d), short_kid(_outer_kid(d)),
        (state, "dim" if state == "Unattached" else ""), where, _key_cell(ctx, d),
    ]


DISKS = Pane(
    "disks", "Managed disks", "disk",
    [Column("NAME", 20), Column("SKU", 12, 4), Column("GB", 5, 5, justify="right"), Column("ENCRYPTION", 12),
     Column("SET", 11, 2), Column("KEY VERSION", 25, 3), Column("STATE", 10), Column("VM", 14, 1),
     Column("DATA KEY", 0, 0, 10)],
    lambda ctx: ctx.engine.list_disks(), lambda d: d.id, _disk_cells,
    "no disks: press n to create one", ("disk",), tables=("disks",), by_name=True)


def _source_name(ctx: Ctx, r) -> str:
    sid = r.source_resource_id
    return sid.rsplit("/", 1)[-1] if sid else "-"


def _copy_cells(ctx: Ctx, r) -> list:
    return [
        (r.name, "bold"), _source_name(ctx, r), r.sku, str(r.size_gb),
        ENC_LABEL.get(r.encryption_type, r.encryption_type), _des_name(ctx, r), short_kid(_outer_kid(r)),
        _key_cell(ctx, r),
    ]


_COPY_COLUMNS = [Column("NAME", 18), Column("SOURCE", 22, 2), Column("SKU", 13, 3),
                 Column("GB", 5, 4, justify="right"), Column("ENCRYPTION", 12), Column("SET", 11),
                 Column("KEY VERSION", 26, 1), Column("DATA KEY", 0, 0, 10)]

SNAPSHOTS = Pane(
    "snapshots", "Snapshots", "snapshot", _COPY_COLUMNS,
    lambda ctx: ctx.engine.list_snapshots(), lambda r: r.id, _copy_cells,
    "no snapshots: select a disk and press s", ("snapshot", "snap", "snaps"), tables=("snapshots",),
    by_name=True)

IMAGES = Pane(
    "images", "Images", "image", _COPY_COLUMNS,
    lambda ctx: ctx.engine.list_images(), lambda r: r.id, _copy_cells,
    "no images: press n to capture one from a VM or disk", ("image", "img"), tables=("images",), by_name=True)


# VMs ----------------------------------------------------------------------------------------------------------

_SHORT_VER_RE = re.compile(r"\b(key [a-z0-9-]+/[A-Za-z0-9-]+)/[0-9a-f]{8}\b")
_AT_RE = re.compile(r" at \d{4}-\d\d-\d\dT[0-9:]+(?:\+00:00|Z)?")


def compact_reason(text: str) -> str:
    """A VM status message for a table cell: short key ids, no timestamps, no repeated power state."""
    text = _AT_RE.sub("", shorten_key_urls(text, version=False))
    text = _SHORT_VER_RE.sub(r"\1", text)
    for prefix in ("stopped: ", "running on host-cached keys: "):
        if text.startswith(prefix):
            text = ("host-cached keys; " if "host-cached" in prefix else "") + text[len(prefix):]
    return text.replace("will not start after deallocation", "no start after deallocation")


def vm_power(ctx: Ctx, vm) -> tuple[tuple[str, str], str]:
    """(power cell, reason) for a VM: the reason comes from its status, or why it could not start now."""
    e = ctx.engine
    status = vm.status or {}
    code = status.get("code")
    reason = shorten(status.get("message", ""))
    power = vm.power
    if power == PowerState.RUNNING.value:
        cell = ("running*", "warn") if code == "RunningOnHostKeys" else ("running", "ok")
    elif code in ("KeyUnusable", "UltraKeyUnusable"):
        cell = (power, "bad")
    else:
        cell = (power, "dim" if power == PowerState.DEALLOCATED.value else "warn")
        if not reason:
            problem = e.startable(vm)
            if problem is not None:
                cell = (power, "bad")
                reason = f"cannot start: {shorten(problem.message)}"
    return cell, reason


def _vm_cells(ctx: Ctx, vm) -> list:
    e = ctx.engine
    disks = e.vm_disks(vm)
    ultra = sum(1 for d in disks if d.is_ultra)
    cmk = sum(1 for d in disks if d.encryption_type != ENC_PLATFORM)
    power, reason = vm_power(ctx, vm)
    return [
        (vm.name, "bold"), power, vm.size, f"{len(disks)} ({cmk} CMK)",
        (f"yes ({ultra})", "accent") if ultra else ("no", "dim") if not vm.ultra_ssd_enabled else ("enabled", ""),
        ("yes", "ok") if vm.encryption_at_host else ("no", "dim"), (compact_reason(reason) or "-", "bad" if power[1] == "bad" else
                                                                      "warn" if power[1] == "warn" else "dim"),
    ]


VMS = Pane(
    "vms", "Virtual machines", "vm",
    [Column("NAME", 12), Column("POWER", 12), Column("SIZE", 16, 3), Column("DISKS", 9, 2), Column("ULTRA", 8),
     Column("ENC@HOST", 8, 1), Column("REASON", 0, 0, 36)],
    lambda ctx: ctx.engine.list_vms(), lambda v: v.id, _vm_cells,
    "no VMs: press n to create one", ("vm", "virtual-machines", "machines"), tables=("vms",),
    by_name=True)


# events and the command log ---------------------------------------------------------------------------------------

def _event_cells(ctx: Ctx, ev) -> list:
    sev = {"error": ("error", "bad"), "warning": ("warning", "warn")}.get(ev.severity, ("info", "dim"))
    return [when(ev.time), sev, ev.type, shorten(ev.summary)]


EVENTS = Pane(
    "events", "Event log", "event",
    # the summary says what happened and to which key (the type is its name in one word): on a narrow terminal it
    # keeps the width and the type's column goes
    [Column("TIME", 16), Column("SEVERITY", 8), Column("EVENT", 24, 2), Column("SUMMARY", 0, 0, 44)],
    lambda ctx: ctx.engine.list_events(), lambda ev: ev.id, _event_cells,
    "no events yet", ("event", "ev", "history"), follow_end=True, tables=("events",))


def _log_cells(ctx: Ctx, entry: LogEntry) -> list:
    result = ("ok", "ok") if entry.ok else (entry.error or "refused", "bad")
    return [when(entry.time), result, " ; ".join(entry.lines)]


LOG = Pane(
    "log", "Command log: the equivalent cmklab az commands", "log",
    [Column("TIME", 16), Column("RESULT", 14), Column("COMMAND", 0, 0, 20)],
    lambda ctx: list(ctx.log), lambda entry: entry.seq, _log_cells,
    "no commands yet: every action you take appears here as its cmklab az command", ("cmd", "commands", "az"),
    follow_end=True)


PANES: list[Pane] = [VAULTS, KEYS, VERSIONS, ACCESS, AUDIT, SETS, DISKS, SNAPSHOTS, IMAGES, VMS, EVENTS, LOG]
PANE_BY_ID: dict[str, Pane] = {p.id: p for p in PANES}
NUMBER_KEYS = {"1": "vaults", "2": "keys", "3": "sets", "4": "disks", "5": "vms", "6": "events", "7": "log"}


def find_pane(name: str) -> Pane | None:
    """A pane by id, alias or unique prefix (``:vm``, ``:des``, ``:snap``)."""
    n = name.strip().lower().lstrip(":")
    if not n:
        return None
    for p in PANES:
        if n == p.id or n in p.aliases:
            return p
    cands = [p for p in PANES if p.id.startswith(n) or any(a.startswith(n) for a in p.aliases)]
    return cands[0] if len(cands) == 1 else None


PROMPT_NAMES = {"versions": "vers", "sets": "sets|des", "snapshots": "snap", "images": "img"}
"""How the ``:`` prompt lists a pane when its id is not the name to show (short enough for 80 columns; the
alias the help's examples use): every name listed, and each side of ``a|b``, opens its pane."""


def pane_menu(*extra: str) -> str:
    """The pane names the ``:`` prompt offers (``extra``: more it understands, such as ``lab``)."""
    return " ".join([PROMPT_NAMES.get(p.id, p.id) for p in PANES] + list(extra))


def all_pane_names() -> list[str]:
    out = []
    for p in PANES:
        out.append(p.id)
        out.extend(p.aliases)
    return out
