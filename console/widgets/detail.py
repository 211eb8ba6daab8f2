"""The detail panel: why the selected resource is as it is (cause chain), then its Azure-shaped JSON.

The JSON comes from ``engine.views`` (what ``cmklab az ... show`` prints). Secrets never appear: sealed
key material, wrapped data keys and host caches are shown as SHA-256 fingerprints, and a key's
modulus is shortened.
"""

from __future__ import annotations

import json
from typing import Any

from rich.json import JSON
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.widgets import Static

from engine import crypto
from engine.models import PowerState

from ..rows import ENC_LABEL, AccessRow, Index, LogEntry, VersionRow, policy_summary, short_kid, shorten, when

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


def azure_doc(engine, kind: str, obj: Any) -> Any:
    """The Azure-shaped JSON of a row, as ``cmklab az ... show`` prints it (secrets scrubbed)."""
    try:
        from engine import views
    except ImportError:  # pragma: no cover - views ships with the engine
        views = None
    try:
        if views is not None:
            if kind == "vault":
                return views.vault_view(engine, obj) if obj.state == "Active" else views.deleted_vault_view(obj)
            if kind == "key":
                if obj.state != "Active":
                    return _short_n(views.deleted_key_view(engine, obj))
                doc = _short_n(views.key_bundle(engine, obj))
                if obj.rotation_policy:
                    doc["rotationPolicy"] = views.rotation_policy_view(obj.rotation_policy)
                return doc
            if kind == "version":
                return _short_n(views.key_bundle(engine, obj.key, obj.version))
            if kind == "access":
                if obj.assignment is not None:
                    return views.role_assignment_view(engine, obj.assignment, with_names=True)
                return next((p for p in views.vault_view(engine, obj.vault)["properties"]["accessPolicies"]
                             if p.get("objectId", "").lower() == obj.principal.lower()), {})
            if kind == "des":
                return views.des_view(obj)
            if kind in ("disk", "snapshot", "image"):
                doc = views.resource_view(engine, obj)
                return doc
            if kind == "vm":
                return views.vm_view(engine, obj, details=True)
            if kind == "audit":
                return views.audit_view(obj)
    except Exception:  # noqa: BLE001 - never let a view break the panel; fall back to the model
        pass
    if kind == "event":
        return obj.to_doc()
    if kind == "log":
        return {"time": obj.time, "action": obj.label, "ok": obj.ok, "error": obj.error, "commands": obj.lines}
    if isinstance(obj, VersionRow):
        return scrub(obj.version)
    if isinstance(obj, AccessRow):
        return {"vault": obj.vault.name, "model": obj.model, "objectId": obj.principal, "grant": obj.grant}
    return scrub(obj.to_doc()) if hasattr(obj, "to_doc") else {}


def at_rest(engine, obj) -> Any:
    """What is stored for a disk, snapshot or image (layers, wrapped-key fingerprints, ciphertext sample)."""
    try:
        from engine import views

        return views.inspect_resource(engine, obj)
    except Exception:  # noqa: BLE001
        return None


# ---- the cause chain --------------------------------------------------------------------------------------

Line = tuple[str, str]
"""(text, style name: ok, bad, warn, dim, accent, bold or '')"""


def _classify(text: str) -> str:
    if "UNUSABLE" in text or "cannot start" in text or "stopped:" in text:
        return "bad"
    if "usable" in text and "UNUSABLE" not in text:
        return "ok"
    return ""


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
        out.append((f"  version {ver['version'][:8]} ({tag}): {state}", "ok" if problem is None else "bad"))
        sets = idx.des_by_kid.get(kid.lower(), [])
        res = idx.res_by_kid.get(kid.lower(), [])
        for d in sets:
            out.append((f"    set {d.name} uses it", "accent"))
        if res:
            vms = sorted({vm.name for r in res if r.kind == "disk" for vm in [engine.vm_of_disk(r.id)] if vm})
            out.append((f"    wraps the data keys of {len(res)} resource(s)"
                        + (f"; VMs: {', '.join(vms[:8])}" + (" …" if len(vms) > 8 else "") if vms else ""), ""))
    sets = idx.des_by_key.get(k.id.lower(), [])
    if not sets and only_version is None:
        out.append(("  no disk encryption set uses this key", "dim"))
    return out


def cause_lines(engine, idx: Index, kind: str, obj: Any) -> list[Line]:
    """Why the selection is as it is, key by key, as lines for the panel."""
    if obj is None:
        return [("nothing selected", "dim")]
    if kind in ("vm", "disk", "snapshot", "image"):
        try:
            lines = engine.why(obj.id)
        except Exception as exc:  # noqa: BLE001
            return [(str(exc), "bad")]
        out = [(shorten(x), _classify(x)) for x in lines]
        if kind == "vm":
            problem = engine.startable(obj, after_deallocation=True)
            if obj.power == PowerState.RUNNING.value and problem is not None:
                out.append(("  after a deallocation it would not start: " + shorten(problem.message), "warn"))
            elif obj.power != PowerState.RUNNING.value:
                problem = engine.startable(obj)
                out.append(("  it can start now" if problem is None else
                            "  cannot start: " + shorten(problem.message), "ok" if problem is None else "bad"))
        return out
    if kind == "key":
        return _key_lines(engine, idx, obj)
    if kind == "version":
        return _key_lines(engine, idx, obj.key, obj.version["version"])
    if kind == "des":
        out = [(f"set {obj.name} ({ENC_LABEL.get(obj.encryption_type, obj.encryption_type)}), identity "
                f"{obj.principal_id}", "bold"),
               (f"  key {short_kid(obj.key_url)}; automatic rotation {'on' if obj.rotation_to_latest else 'off'}", "")]
        problem = engine.des_identity_ready(obj)
        out.append(("  its identity can get, wrap and unwrap with the key: usable" if problem is None else
                    f"  UNUSABLE: {shorten(problem.message)}", "ok" if problem is None else "bad"))
        if obj.auto_key_rotation_error:
            out.append((f"  automatic rotation failed: {shorten(obj.auto_key_rotation_error.get('message'))}", "bad"))
        res = idx.res_by_des.get(obj.id, [])
        stale = [r for r in res if r.layers and r.layers[0]["kid"] != obj.key_url]
        out.append((f"  {len(res)} resource(s) use it" + (f"; {len(stale)} still on an older key version"
                                                            if stale else ""), "warn" if stale else ""))
        return out
    if kind == "vault":
        v = obj
        out = [(f"vault {v.name} ({v.sku}, {v.location}), "
                f"{'RBAC' if v.enable_rbac_authorization else 'access policies'}", "bold"),
               (f"  soft delete {v.soft_delete_retention_days} days; purge protection "
                f"{'on' if v.enable_purge_protection else 'OFF: it cannot back a disk encryption set'}",
                "" if v.enable_purge_protection else "warn")]
        if v.state != "Active":
            out.append((f"  deleted {when(v.deleted_date)}; purged automatically {when(v.scheduled_purge_date)}; "
                        "every key in it is unusable until it is recovered", "bad"))
        sets = engine.list_des(where=lambda d: d.source_vault_id.lower() == v.id.lower())
        out.append((f"  backs {len(sets)} disk encryption set(s)" + (": " + ", ".join(d.name for d in sets)
                                                                     if sets else ""), "accent" if sets else "dim"))
        return out
    if kind == "access":
        model = obj.model
        active = model == ("role" if obj.vault.enable_rbac_authorization else "policy")
        out = [(f"{idx.who(obj.principal)} on vault {obj.vault.name}: {obj.grant}", "bold")]
        if not active:
            out.append(("  inactive: the vault uses " + ("RBAC" if obj.vault.enable_rbac_authorization
                                                        else "access policies"), "warn"))
        if idx.who(obj.principal).startswith("set "):
            out.append(("  revoking it has the same effect as disabling the key for that set's disks", "warn"))
        return out
    if kind == "audit":
        return [(f"{obj.time} {obj.operation} by {idx.who(obj.caller)}: {obj.result}", "bold"),
                (shorten(obj.message or obj.kid or ""), "bad" if obj.result != "OK" else "")]
    if kind == "event":
        return [(f"{obj.time} {obj.type} ({obj.severity})", "bold"), (shorten(obj.summary), "")]
    if isinstance(obj, LogEntry):
        return [(f"{obj.time} {obj.label}: " + ("ok" if obj.ok else f"refused ({obj.error})"),
                 "bold" if obj.ok else "bad")] + [(line, "accent") for line in obj.lines]
    return []


_STYLE = {"ok": "$text-success", "bad": "$text-error", "warn": "$text-warning", "dim": "$text-muted",
          "accent": "$text-accent"}


def lines_markup(lines: list[Line]) -> str:
    out = []
    for text, style in lines:
        t = escape(text)
        if style == "bold":
            out.append(f"[b]{t}[/b]")
        elif style in _STYLE:
            out.append(f"[{_STYLE[style]}]{t}[/]")
        else:
            out.append(t)
    return "\n".join(out)


class DetailPanel(VerticalScroll):
    """Cause chain and JSON of the selection."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-why")
        yield Static("", id="detail-rest-title", classes="detail-section")
        yield Static("", id="detail-rest")
        yield Static("Azure JSON", id="detail-json-title", classes="detail-section")
        yield Static("", id="detail-json")

    def show(self, engine, idx: Index, kind: str | None, obj: Any) -> None:
        why = self.query_one("#detail-why", Static)
        js = self.query_one("#detail-json", Static)
        rest_title = self.query_one("#detail-rest-title", Static)
        rest = self.query_one("#detail-rest", Static)
        if obj is None or kind is None:
            why.update("[dim]nothing selected[/dim]")
            js.update("")
            rest_title.display = rest.display = False
            return
        why.update(lines_markup(cause_lines(engine, idx, kind, obj)))
        doc = azure_doc(engine, kind, obj)
        js.update(JSON(json.dumps(doc, default=str), indent=2))
        if kind in ("disk", "snapshot", "image"):
            rest_doc = at_rest(engine, obj)
            sample = (rest_doc or {}).get("ciphertext") or {}
            if getattr(self.app, "frozen", False) and sample.get("sampleHex"):
                # GCM nonces are random per write: snapshot mode hides the bytes so screens stay identical
                for field in ("sampleHex", "nonceHex", "tagHex"):
                    if field in sample:
                        sample[field] = "(random per write; hidden in snapshot mode)"
            rest_title.update("At rest (what the storage holds)")
            rest.update(JSON(json.dumps(rest_doc, default=str), indent=2) if rest_doc else "")
            rest_title.display = rest.display = rest_doc is not None
        elif kind == "vm" and getattr(self.app, "reads", {}).get(obj.name.lower()):
            rest_title.update("Last read from its disks (this session)")
            rest.update(escape(self.app.reads[obj.name.lower()]))
            rest_title.display = rest.display = True
        else:
            rest_title.display = rest.display = False
