"""What the console knows about each kind of row, one descriptor per kind (``KINDS``).

A pane lists rows of one kind (``Pane.kind``); the detail panel, the dependency tree, the action catalogue and
the command palette ask the row's descriptor, never ``if kind == ...``: its name, its Azure JSON, the cause
chain (why it is as it is), what it depends on, what an action aimed at its vault or key finds from it. A new
kind of row is one more ``Kind`` here (with its ``Pane`` and its ``Op``s), no if-chain to extend elsewhere.

Nothing here draws (no textual): the widgets render what these return.
"""

from __future__ import annotations

from engine._light import dataclass, field
from typing import Any, Callable

from engine import crypto, views
from engine.ids import key_id
from engine.models import PowerState

from .rows import ENC_LABEL, Index, policy_summary, short_kid, shorten, when

Line = tuple[str, str]
"""(text, style name: ok, bad, warn, dim, accent, bold or '')"""

# ---- JSON (what ``cmklab az ... show`` prints), secrets scrubbed ----------------------------------------------

SECRET_FIELDS = ("sealed", "cache", "wrapped", "host_cache")


def _fp(value: Any) -> str:
    return f"<sealed: sha256 {crypto.fingerprint(str(value).encode())}>"


def scrub(doc: Any) -> Any:
    """Replace every secret value by its fingerprint (recursively)."""
    if isinstance(doc, dict):
        out = {}
        for k, v in doc.items():
            if k in SECRET_FIELDS and v:
                out[k] = {hk: _fp(hv) for hk, hv in v.items()} if isinstance(v, dict) else _fp(v)
            else:
                out[k] = scrub(v)
        return out
    if isinstance(doc, list):
        return [scrub(x) for x in doc]
    return doc


def _short_n(bundle: dict) -> dict:
    key = bundle.get("key")
    if isinstance(key, dict) and isinstance(key.get("n"), str) and len(key["n"]) > 40:
        key["n"] = key["n"][:32] + f"…({len(key['n'])} chars)"
    return bundle


def _model_doc(obj: Any) -> Any:
    return scrub(obj.to_doc()) if hasattr(obj, "to_doc") else {}


def at_rest(engine, obj) -> Any:
    """What is stored for a disk, snapshot or image (layers, wrapped-key fingerprints, ciphertext sample)."""
    try:
        return views.inspect_resource(engine, obj)
    except Exception:  # noqa: BLE001
        return None


# ---- the cause chain ------------------------------------------------------------------------------------------


def _classify(text: str) -> str:
    if "UNUSABLE" in text or "cannot start" in text or "stopped:" in text:
        return "bad"
    if "usable" in text and "UNUSABLE" not in text:
        return "ok"
    return ""


VALIDITY_WORDS = {"KeyExpired": "EXPIRED", "KeyNotYetValid": "NOT YET VALID"}
"""A version outside its validity window, as the detail flags it (the engine's ``key_validity`` says which)."""


def _key_lines(engine, idx: Index, k, only_version: str | None = None) -> list[Line]:
    out: list[Line] = [(f"key {k.vault}/{k.name} ({k.type_label}), {len(k.versions)} version(s)", "bold")]
    if k.state != "Active":
        out.append((f"  deleted {when(k.deleted_date)}; purged automatically {when(k.scheduled_purge_date)}", "bad"))
    if k.rotation_policy:
        out.append((f"  rotation policy: {policy_summary(k)}", ""))
    if k.current.get("crv"):
        out.append(("  an EC key signs and verifies; a disk encryption set cannot use it (RSA keys only)", "warn"))
    for ver in reversed(k.versions):
        if only_version and ver["version"] != only_version:
            continue
        kid = f"{k.id}/{ver['version']}"
        problem = engine.key_problem(None, kid, "sign" if ver.get("crv") else "unwrapKey")
        tag = "current" if ver["version"] == k.current["version"] else "older"
        state = "usable" if problem is None else f"UNUSABLE ({problem.display_code})"
        validity = engine.key_validity(k, ver["version"])
        if validity is not None:
            state += f", {VALIDITY_WORDS.get(validity[0], validity[0])}"
        out.append((f"  version {ver['version'][:8]} ({tag}): {state}",
                    "ok" if problem is None and validity is None else "bad"))
        if validity is not None:
            out.append((f"    {validity[1]}", "warn"))
        if ver.get("standIn"):
            out.append((f"    {views.STAND_IN_NOTE}", "dim"))
        sets = idx.des_by_kid.get(kid.lower(), [])
        res = idx.res_by_kid.get(kid.lower(), [])
        for d in sets:
            out.append((f"    set {d.name} uses it", "accent"))
        if res:
            vms = sorted({vm.name for r in res if r.kind == "disk" for vm in [engine.vm_of_disk(r.id)] if vm})
            out.append((f"    wraps the data keys of {len(res):,} resource(s)"
                        + (f"; VMs: {', '.join(vms[:8])}" + (" …" if len(vms) > 8 else "") if vms else ""), ""))
    sets = idx.des_by_key.get(k.id.lower(), [])
    if not sets and only_version is None:
        out.append(("  no disk encryption set uses this key", "dim"))
    return out


def _why_lines(engine, idx: Index, obj) -> list[Line]:
    """A VM, disk, snapshot or image: the engine's own account of why it is as it is (``engine.why``)."""
    try:
        lines = engine.why(obj.id)
    except Exception as exc:  # noqa: BLE001
        return [(str(exc), "bad")]
    return [(shorten(x), _classify(x)) for x in lines]


def _vm_lines(engine, idx: Index, vm) -> list[Line]:
    """The engine's account, then whether it could start (now, or after a deallocation)."""
    try:
        lines = engine.why(vm.id)
    except Exception as exc:  # noqa: BLE001
        return [(str(exc), "bad")]
    out = [(shorten(x), _classify(x)) for x in lines]
    problem = engine.startable(vm, after_deallocation=True)
    if vm.power == PowerState.RUNNING.value and problem is not None:
        out.append(("  after a deallocation it would not start: " + shorten(problem.message), "warn"))
    elif vm.power != PowerState.RUNNING.value:
        problem = engine.startable(vm)
        out.append(("  it can start now" if problem is None else
                    "  cannot start: " + shorten(problem.message), "ok" if problem is None else "bad"))
    return out


def _des_lines(engine, idx: Index, d) -> list[Line]:
    out = [(f"set {d.name} ({ENC_LABEL.get(d.encryption_type, d.encryption_type)}), identity "
            f"{d.principal_id}", "bold"),
           (f"  key {short_kid(d.key_url)}; automatic rotation {'on' if d.rotation_to_latest else 'off'}", "")]
    problem = engine.des_identity_ready(d)
    out.append(("  its identity can get, wrap and unwrap with the key: usable" if problem is None else
                f"  UNUSABLE: {shorten(problem.message)}", "ok" if problem is None else "bad"))
    if d.auto_key_rotation_error:
        out.append((f"  automatic rotation failed: {shorten(d.auto_key_rotation_error.get('message'))}", "bad"))
    res = idx.res_by_des.get(d.id, [])
    stale = [r for r in res if r.layers and r.layers[0]["kid"] != d.key_url]
    out.append((f"  {len(res):,} resource(s) use it" + (f"; {len(stale):,} still on an older key version"
                                                        if stale else ""), "warn" if stale else ""))
    return out


def _vault_lines(engine, idx: Index, v) -> list[Line]:
    out = [(f"vault {v.name} ({v.sku}, {v.location}), "
            f"{'RBAC' if v.enable_rbac_authorization else 'access policies'}", "bold"),
           (f"  soft delete {v.soft_delete_retention_days} days; purge protection "
            f"{'on' if v.enable_purge_protection else 'OFF: it cannot back a disk encryption set'}",
            "" if v.enable_purge_protection else "warn")]
    if v.state != "Active":
        out.append((f"  deleted {when(v.deleted_date)}; purged automatically {when(v.scheduled_purge_date)}; "
                    "every key in it is unusable until it is recovered", "bad"))
    sets = engine.list_des(where=lambda d: d.source_vault_id.lower() == v.id.lower())
    out.append((f"  backs {len(sets):,} disk encryption set(s)" + (": " + ", ".join(d.name for d in sets)
                                                                 if sets else ""), "accent" if sets else "dim"))
    return out


def _access_lines(engine, idx: Index, row) -> list[Line]:
    active = row.model == ("role" if row.vault.enable_rbac_authorization else "policy")
    out = [(f"{idx.who(row.principal)} on vault {row.vault.name}: {row.grant}", "bold")]
    if not active:
        out.append(("  inactive: the vault uses " + ("RBAC" if row.vault.enable_rbac_authorization
                                                    else "access policies"), "warn"))
    if idx.who(row.principal).startswith("set "):
        out.append(("  revoking it has the same effect as disabling the key for that set's disks", "warn"))
    return out


def _audit_lines(engine, idx: Index, a) -> list[Line]:
    return [(f"{a.time} {a.operation} by {idx.who(a.caller)}: {a.result}", "bold"),
            (shorten(a.message or a.kid or ""), "bad" if a.result != "OK" else "")]


def _event_lines(engine, idx: Index, ev) -> list[Line]:
    return [(f"{ev.time} {ev.type} ({ev.severity})", "bold"), (shorten(ev.summary), "")]


def _log_lines(engine, idx: Index, entry) -> list[Line]:
    return [(f"{entry.time} {entry.label}: " + ("ok" if entry.ok else f"refused ({entry.error})"),
             "bold" if entry.ok else "bad")] + [(line, "accent") for line in entry.lines]


# ---- the descriptor -------------------------------------------------------------------------------------------


def _no_lines(engine, idx: Index, obj) -> list[Line]:
    return []


def _nothing(engine, obj) -> list:
    return []


def _none(obj) -> None:
    return None


def _plain_name(obj) -> str:
    return getattr(obj, "name", "") or ""


def _vault_named(engine, name: str | None):
    return engine.find_vault(name) if name else None


def _first_kid(r) -> str | None:
    return r.layers[0]["kid"] if r.layers else None


@dataclass(frozen=True)
class Kind:
    """One kind of row (``Pane.kind``, ``Op.target``)."""

    id: str
    name: Callable[[Any], str] = _plain_name
    """The row as the palette and the dialogs name it (``kv/key``, ``kv/key/0123abcd``, ``vm-db``)."""
    view: Callable[[Any, Any], Any] | None = None
    """(engine, row) -> its Azure JSON, as ``cmklab az ... show`` prints it (may raise: then ``model_doc``)."""
    model_doc: Callable[[Any], Any] = _model_doc
    """row -> the JSON shown when there is no view (or it failed): the model's own, secrets scrubbed."""
    cause: Callable[[Any, Index, Any], list[Line]] = _no_lines
    """(engine, index, row) -> why it is as it is, as (text, style) lines."""
    at_rest: bool = False
    """It holds data: the detail shows what the storage holds (layers, wrapped keys, a ciphertext sample)."""
    reads: bool = False
    """The detail shows what this session last read from its disks (``app.reads``)."""
    keys: Callable[[Any, Any], list] = _nothing
    """(engine, row) -> the keys it is, holds or grants access to (the roots of its dependency tree)."""
    kids: Callable[[Any, Any], list] = _nothing
    """(engine, row) -> the key versions (URLs, ``platform:<region>`` for a platform key) it depends on."""
    resources: Callable[[Any, Any], list] = _nothing
    """(engine, row) -> the disks, snapshots and images it is or holds (always shown in its dependency tree)."""
    parents: dict[str, Callable[[Any, Any], Any]] = field(default_factory=dict)
    """Kind -> (engine, row) -> the object of that kind an action aimed at it works on (a key's vault)."""
    principal: Callable[[Any], str | None] = _none
    """The identity a grant from this row is for (a set's, an access entry's)."""
    key_version: Callable[[Any], str | None] = _none
    """The key version (URL) this row names, the default key of a new disk encryption set."""


def _key_view(engine, k) -> Any:
    if k.state != "Active":
        return _short_n(views.deleted_key_view(engine, k))
    doc = _short_n(views.key_bundle(engine, k))
    if k.rotation_policy:
        doc["rotationPolicy"] = views.rotation_policy_view(k.rotation_policy)
    return doc


def _access_view(engine, row) -> Any:
    if row.assignment is not None:
        return views.role_assignment_view(engine, row.assignment, with_names=True)
    return next((p for p in views.vault_view(engine, row.vault)["properties"]["accessPolicies"]
                 if p.get("objectId", "").lower() == row.principal.lower()), {})


def _vault_keys(engine, v) -> list:
    return sorted(engine.list_all_keys(vault=v.name), key=lambda k: k.name.lower())


def _resource(kind: str) -> Kind:
    """A disk, a snapshot or an image: its data keys wrapped by a key version (or the platform's)."""
    return Kind(kind, view=views.resource_view, cause=_why_lines, at_rest=True,
                kids=lambda e, r: [_first_kid(r)], resources=lambda e, r: [r])


KINDS: dict[str, Kind] = {k.id: k for k in (
    Kind("vault", view=lambda e, v: views.vault_view(e, v) if v.state == "Active" else views.deleted_vault_view(v),
         cause=_vault_lines, keys=_vault_keys),
    Kind("key", name=lambda k: f"{k.vault}/{k.name}", view=_key_view, cause=_key_lines, keys=lambda e, k: [k],
         parents={"vault": lambda e, k: _vault_named(e, k.vault)},
         key_version=lambda k: key_id(k.vault, k.name, k.current["version"]) if k.versions else None),
    Kind("version", name=lambda r: f"{r.key.vault}/{r.key.name}/{r.version['version'][:8]}",
         view=lambda e, r: _short_n(views.key_bundle(e, r.key, r.version)), model_doc=lambda r: scrub(r.version),
         cause=lambda e, idx, r: _key_lines(e, idx, r.key, r.version["version"]), keys=lambda e, r: [r.key],
         parents={"vault": lambda e, r: _vault_named(e, r.key.vault), "key": lambda e, r: r.key},
         key_version=lambda r: r.kid),
    Kind("access", name=lambda r: f"{r.who} on {r.vault.name}", view=_access_view,
         model_doc=lambda r: {"vault": r.vault.name, "model": r.model, "objectId": r.principal, "grant": r.grant},
         cause=_access_lines, keys=lambda e, r: _vault_keys(e, r.vault), parents={"vault": lambda e, r: r.vault},
         principal=lambda r: r.principal),
    Kind("audit", view=lambda e, a: views.audit_view(a), cause=_audit_lines),
    Kind("des", view=lambda e, d: views.des_view(d), cause=_des_lines, kids=lambda e, d: [d.key_url],
         parents={"vault": lambda e, d: _vault_named(e, d.source_vault_id.rsplit("/", 1)[-1])},
         principal=lambda d: d.principal_id),
    _resource("disk"),
    _resource("snapshot"),
    _resource("image"),
    Kind("vm", view=lambda e, vm: views.vm_view(e, vm, details=True), cause=_vm_lines, reads=True,
         kids=lambda e, vm: [_first_kid(d) for d in e.vm_disks(vm)], resources=lambda e, vm: e.vm_disks(vm)),
    Kind("event", model_doc=lambda ev: ev.to_doc(), cause=_event_lines),
    Kind("log", model_doc=lambda entry: {"time": entry.time, "action": entry.label, "ok": entry.ok,
                                         "error": entry.error, "commands": entry.lines},
         cause=_log_lines),
)}

_UNKNOWN = Kind("")


def kind_of(kind: str | None) -> Kind:
    """The descriptor of ``kind`` (one that knows nothing for an unknown kind or None)."""
    return KINDS.get(kind or "", _UNKNOWN)


def display_name(kind: str | None, obj: Any) -> str:
    """How the palette and the dialogs name a row of ``kind``."""
    return "" if obj is None else kind_of(kind).name(obj)


def azure_doc(engine, kind: str | None, obj: Any) -> Any:
    """The Azure-shaped JSON of a row, as ``cmklab az ... show`` prints it (secrets scrubbed)."""
    spec = kind_of(kind)
    if spec.view is not None:
        try:
            return spec.view(engine, obj)
        except Exception:  # noqa: BLE001 - never let a view break the panel; fall back to the model
            pass
    return spec.model_doc(obj)


def cause_lines(engine, idx: Index, kind: str | None, obj: Any) -> list[Line]:
    """Why the selection is as it is, key by key, as lines for the panel."""
    if obj is None:
        return [("nothing selected", "dim")]
    return kind_of(kind).cause(engine, idx, obj)


def resolve(engine, target: str | None, kind: str | None, obj: Any) -> Any:
    """The object an action aimed at ``target`` works on, given the selected row of kind ``kind`` (the row itself,
    its vault, its key), or None."""
    if target is None or obj is None:
        return None
    if target == kind:
        return obj
    find = kind_of(kind).parents.get(target)
    return find(engine, obj) if find is not None else None


__all__ = ["KINDS", "Kind", "Line", "at_rest", "azure_doc", "cause_lines", "display_name", "kind_of", "resolve",
           "scrub"]
