"""Every action of the console: its key, the panes it applies to, its form, its confirmation, its call.

One catalogue drives the key bindings (and the footer), the command palette and the help screen, so
a key, a palette entry and a help line always do the same thing. An action applies to the selected
row (``target``) or to nothing (creations); ``when`` says whether it makes sense in the selection's
state (``Recover`` only for a deleted key). No rule is decided here: the engine refuses what it
refuses, and the console shows its error.
"""

from __future__ import annotations

import json
import os
from engine._light import dataclass
from typing import Any, Callable

from engine.clock import advance_step, parse_duration
from engine.errors import EngineError
from engine.facade import changes_state, previewable
from engine.ids import check_name, key_id
from engine.models import PowerState
from engine.rules import (CRYPTO_SERVICE_ROLE, DES_ENCRYPTION_TYPES, EC_CURVES, ENC_CUSTOMER, ENC_PLATFORM, KEY_SIZES,
                          REGIONS, RETENTION_MAX, RETENTION_MIN, ROLE_PERMISSIONS, disk_size_problem, lun_problem,
                          lun_used_problem)

from .cli.replay import AZ, Raw, az_lines, join
from .cli.spec import Call
from .confine import default_path, shown_path, user_path
from .kinds import kind_of, resolve
from .modals.form import Field, FormSpec
from .rows import short_kid, shorten, when


@dataclass
class Op:
    id: str
    label: str
    """Palette and help text: ``Rotate key``."""
    key: str | None
    short: str
    """Footer text: ``rotate``."""
    panes: tuple[str, ...]
    target: str | None
    """What the action works on: a kind of row (``console.kinds.KINDS``: vault, key, version, access, des, disk,
    snapshot, image, vm, log), or None."""
    call: Callable[[Any, Any], Call] | None = None
    """(engine, target) -> the call, for actions without a form."""
    form: Callable[[Any, Any, Any], FormSpec] | None = None
    """(engine, target, selection) -> the form that builds the call."""
    when: Callable[[Any, Any], bool] = lambda e, obj: True
    confirm: str = "never"
    """never, impact (when the what-if is destructive), always, or typed (type the name)."""
    title: Callable[[Any], str] | None = None
    """target -> the confirmation's question."""
    slow: bool = False
    method: str | None = None
    """The facade method the action calls (the one it is about, when a form calls more: a vault's group
    first); None for a console action (export, copy)."""
    special: str | None = None
    """A console action with no engine call (export, copy): the screen's method of this name runs it."""
    typed_name: Callable[[Any], str] | None = None
    verb: str = ""
    """The confirmation button (default: the footer text, capitalised)."""
    steps: Callable[[Any, Call], Call] | None = None
    """(engine, the confirmed call) -> the calls it runs as, chained with ``then`` (one command log line each),
    when the call has no az words of its own: what its what-if previews as a whole, the console does as az would."""

    @property
    def mutating(self) -> bool:
        """Whether the action changes state: its facade method's ``@action`` says so, nothing here."""
        return self.method is not None and changes_state(self.method)


def each_version(e, call: Call) -> Call:
    """``set_key_attributes(..., all_versions=True)`` as az users do it: ``set-attributes --version V`` for each
    version, one call each, in one go (a key of one version: one call without ``--version``, the current one). az
    has no flag for every version, so the command log writes one line per version (``_each_version`` in
    console/cli/commands/keyvault.py): running those very calls makes a replay of the log byte-identical."""
    vault, name = call.args[:2]
    key, _ = e.get_key(vault, name, audit=False)
    kwargs = {k: v for k, v in call.kwargs.items() if k != "all_versions"}
    versions = [v["version"] for v in key.versions] if len(key.versions) > 1 else [None]
    calls = [Call(call.method, (vault, name) + ((ver,) if ver else ()), dict(kwargs), hints=dict(call.hints))
             for ver in versions]
    for this, after in zip(calls, calls[1:]):
        this.then = lambda _result, after=after: after
    return calls[0]


# ---- checks (the engine's own validators) --------------------------------------------------------------------

def name_check(kind: str) -> Callable[[Any, dict], str | None]:
    def check(value: Any, values: dict) -> str | None:
        try:
            check_name(kind, value)
        except EngineError as err:
            return err.message
        return None
    return check


def int_range(lo: int, hi: int, what: str) -> Callable[[Any, dict], str | None]:
    def check(value: Any, values: dict) -> str | None:
        if not isinstance(value, int) or not lo <= value <= hi:
            return f"{what}: a whole number from {lo} to {hi}"
        return None
    return check


def duration_check(value: Any, values: dict) -> str | None:
    try:
        parse_duration(value)
    except ValueError as e:
        return str(e)
    return None


def advance_check(value: Any, values: dict) -> str | None:
    """How far the clock may move: the engine's one rule (``engine.clock.advance_step``), as ``cmklab clock
    advance`` meets it."""
    try:
        advance_step(value)
    except ValueError as e:
        return str(e)
    return None


def iso_duration_check(value: Any, values: dict) -> str | None:
    if not str(value).upper().startswith("P"):
        return "an ISO 8601 duration such as P90D, P1Y, P28D"
    return duration_check(value, values)


def what_if_check(engine) -> Callable[[Call], str | None]:
    """The engine's refusal of the call, from a dry run (what-if)."""
    def check(call: Call) -> str | None:
        if not previewable(call.method):
            return None
        try:
            impact = engine.what_if(call.method, *call.args, **call.kwargs)
        except EngineError as err:
            return f"({err.display_code}) {err.message}"
        call.impact = impact
        if impact.error:
            return f"({impact.error['code']}) {impact.error['message']}"
        return None
    return check


def previewer(engine) -> Callable[[Call], list[str]]:
    def preview(call: Call) -> list[str]:
        return az_lines(engine, call.method, call.args, call.kwargs, call.hints) + list(call.preview_then)
    return preview


def _spec(engine, title: str, fields: list[Field], build: Callable[[dict], Call], submit: str = "Create",
          intro: str = "") -> FormSpec:
    return FormSpec(title, fields, build, submit=submit, intro=intro, preview=previewer(engine),
                    check=what_if_check(engine))


# ---- option lists --------------------------------------------------------------------------------------------

def groups(e) -> list:
    return e.list_groups()


def group_options(e) -> list[tuple[str, str]]:
    return [(f"{g.name} ({g.location})", g.name) for g in groups(e)]


def active_vaults(e) -> list:
    return e.list_vaults()


def vault_options(e) -> list[tuple[str, str]]:
    return [(f"{v.name} ({v.sku}{', RBAC' if v.enable_rbac_authorization else ''}"
             f"{', purge protection' if v.enable_purge_protection else ''})", v.name) for v in active_vaults(e)]


def key_version_options(e, *, current_only: bool = False) -> list[tuple[str, str]]:
    out = []
    vaults = {v.name for v in active_vaults(e)}
    for k in e.list_all_keys():
        if k.state != "Active" or k.vault not in vaults:
            continue
        for i, ver in enumerate(reversed(k.versions)):
            if current_only and i:
                break
            tag = "current" if i == 0 else "older"
            off = "" if ver["enabled"] else ", disabled"
            out.append((f"{k.vault}/{k.name} {ver['version'][:8]} ({tag}, {k.type_label}{off})",
                        key_id(k.vault, k.name, ver["version"])))
    return out


def des_options(e, *, none_label: str | None = None) -> list[tuple[str, str]]:
    out = [(none_label, "")] if none_label else []
    for d in e.list_des():
        kind = "CMK+platform" if d.encryption_type != ENC_CUSTOMER else "CMK"
        out.append((f"{d.name} ({kind}, {short_kid(d.key_url)})", d.name))
    return out


def principal_options(e) -> list[tuple[str, str]]:
    out = [(f"set {d.name}: {d.principal_id}", d.principal_id)
           for d in e.list_des()]
    out.append((f"you ({e.meta.user_name}): {e.operator}", e.operator))
    out.append(("another object id (type it below)", "other"))
    return out


def _first(options: list[tuple[str, Any]], default: Any = "") -> Any:
    return options[0][1] if options else default


def _vault_of_sel(e, kind, sel) -> str | None:
    v = resolve(e, "vault", kind, sel)
    return v.name if v is not None else None


# ---- forms ------------------------------------------------------------------------------------------------------

def form_group(e, target, sel) -> FormSpec:
    def build(v: dict) -> Call:
        return Call("create_group", (v["name"], v["location"]))
    return _spec(e, "Create a resource group", [
        Field("name", "Name", value="rg-cmklab", check=name_check("resource_group")),
        Field("location", "Region", "select", value="eastus", options=[(r, r) for r in REGIONS]),
    ], build)


def form_vault(e, target, sel) -> FormSpec:
    gs = groups(e)
    default_rg = gs[0].name if gs else "rg-cmklab"
    default_loc = gs[0].location if gs else "eastus"

    def build(v: dict) -> Call:
        vault = Call("create_vault", (v["name"], v["rg"]), {
            "location": v["location"] or None, "sku": v["sku"], "enable_purge_protection": v["purge"] or None,
            "retention_days": v["retention"], "enable_rbac_authorization": v["rbac"]})
        if any(g.name.lower() == v["rg"].lower() for g in e.list_groups()):
            return vault
        return Call("create_group", (v["rg"], v["location"] or "eastus"), then=lambda _: vault,
                    preview_then=az_lines(e, "create_vault", vault.args, vault.kwargs))

    return _spec(e, "Create a key vault", [
        Field("name", "Name (globally unique)", value="", placeholder="kv-team", check=name_check("vault")),
        Field("rg", "Resource group (created if new)", value=default_rg, check=name_check("resource_group")),
        Field("location", "Region", "select", value=default_loc, options=[(r, r) for r in REGIONS]),
        Field("sku", "SKU", "select", value="standard",
              options=[("standard", "standard"), ("premium (HSM keys)", "premium")]),
        Field("purge", "Purge protection (needed to back a disk encryption set; cannot be turned off)", "switch",
              value=True),
        Field("retention", "Soft-delete retention (days)", "int", value=90,
              check=int_range(RETENTION_MIN, RETENTION_MAX, "retention")),
        Field("rbac", "RBAC authorization (role assignments instead of access policies)", "switch", value=False),
    ], build)


def form_key(e, target, sel) -> FormSpec:
    vopts = vault_options(e)
    default = _vault_of_sel(e, *sel) if sel else None

    def build(v: dict) -> Call:
        kw = {"kty": v["kty"], "enabled": v["enabled"]}
        if v["kty"].startswith("EC"):
            kw["curve"] = v["curve"]
        else:
            kw["size"] = int(v["size"])
        if v["exp"]:
            kw["exp"] = v["exp"]
        return Call("create_key", (v["vault"], v["name"]), kw)

    return _spec(e, "Generate a key", [
        Field("vault", "Vault", "select", value=default or _first(vopts), options=vopts),
        Field("name", "Key name", placeholder="key-disks", check=name_check("key")),
        Field("kty", "Type", "select", value="RSA", options=[("RSA (software)", "RSA"), ("RSA-HSM (premium vault)", "RSA-HSM"),
                                                            ("EC (signs only: no disk encryption)", "EC"),
                                                            ("EC-HSM (premium vault, signs only)", "EC-HSM")]),
        Field("size", "Size (bits, RSA)", "select", value=3072, options=[(str(s), s) for s in KEY_SIZES]),
        Field("curve", "Curve (EC)", "select", value="P-256", options=[(c, c) for c in EC_CURVES]),
        Field("exp", "Expires (ISO 8601 UTC)", placeholder="2027-05-01T00:00:00Z", optional=True),
        Field("enabled", "Enabled", "switch", value=True),
    ], build, submit="Generate", intro="A new name creates a key; an existing name adds a new version.")


def _pem_check(value: Any, values: dict) -> str | None:
    if value and not values.get("pem_text"):
        try:
            path = user_path(str(value))
        except ValueError as e:
            return str(e)
        if not os.path.isfile(path):
            return f"no such file: {shown_path(path)}"
    return None


def form_import(e, target, sel) -> FormSpec:
    vopts = vault_options(e)
    default = _vault_of_sel(e, *sel) if sel else None

    def build(v: dict) -> Call:
        hints = {}
        if v["pem_text"]:
            pem = v["pem_text"].encode()
        else:
            path = user_path(v["pem_file"])
            with open(path, "rb") as fh:
                pem = fh.read()
            hints["pem_file"] = v["pem_file"]
        kw = {"password": v["password"].encode() if v["password"] else None, "kty": v["kty"]}
        return Call("import_key", (v["vault"], v["name"], pem), kw, hints=hints)

    def need_source(value: Any, values: dict) -> str | None:
        if not values.get("pem_file") and not values.get("pem_text"):
            return "give a PEM file or paste the PEM"
        return _pem_check(value, values)

    return _spec(e, "Import an RSA private key (PEM)", [
        Field("vault", "Vault", "select", value=default or _first(vopts), options=vopts),
        Field("name", "Key name", placeholder="key-imported", check=name_check("key")),
        Field("pem_file", "PEM file", placeholder="~/keys/disk-key.pem", optional=True, check=need_source),
        Field("pem_text", "…or paste the PEM", "textarea", optional=True),
        Field("password", "PEM password", "password", optional=True),
        Field("kty", "Protection", "select", value="RSA", options=[("software (RSA)", "RSA"), ("HSM (RSA-HSM)", "RSA-HSM")]),
    ], build, submit="Import")


def _grant_call(e, vault_name: str, oid: str, perms: str, role: str) -> Call:
    v = e.find_vault(vault_name)
    if v is not None and v.enable_rbac_authorization:
        return Call("create_role_assignment", (oid, role, v.id))
    return Call("set_policy", (vault_name, oid, perms.replace(",", " ").split()))


def form_grant(e, target, sel) -> FormSpec:
    kind, obj = sel if sel else (None, None)
    vopts = vault_options(e)
    vault = _vault_of_sel(e, kind, obj) if obj is not None else None
    popts = principal_options(e)
    oid = (kind_of(kind).principal(obj) if obj is not None else None) or _first(popts)

    def is_rbac(values: dict) -> bool:
        v = e.find_vault(values.get("vault"))
        return bool(v and v.enable_rbac_authorization)

    def build(v: dict) -> Call:
        who = v["other"] if v["who"] == "other" else v["who"]
        return _grant_call(e, v["vault"], who, v["perms"], v["role"])

    return _spec(e, "Grant access to keys", [
        Field("vault", "Vault", "select", value=vault or _first(vopts), options=vopts),
        Field("who", "Identity", "select", value=oid if oid in [p for _, p in popts] else _first(popts),
              options=popts, help="A disk encryption set needs get, wrapKey and unwrapKey on its key."),
        Field("other", "Object id", placeholder="00000000-0000-0000-0000-000000000000",
              visible=lambda v: v.get("who") == "other"),
        Field("perms", "Key permissions (access policy)", value="get wrapKey unwrapKey",
              visible=lambda v: not is_rbac(v)),
        Field("role", "Role (RBAC vault)", "select", value=CRYPTO_SERVICE_ROLE,
              options=[(r, r) for r in ROLE_PERMISSIONS], visible=is_rbac),
    ], build, submit="Grant")


def form_des(e, target, sel) -> FormSpec:
    kopts = key_version_options(e)
    kind, obj = sel if sel else (None, None)
    default_key = kind_of(kind).key_version(obj) if obj is not None else None

    def usable(kid: str | None) -> bool:  # the engine's word: a disabled or expired key is no default
        return kid is not None and e.key_problem(None, kid, "unwrapKey") is None

    if not usable(default_key):
        default_key = next((kid for _, kid in kopts if usable(kid)), None)
    gopts = group_options(e)

    def build(v: dict) -> Call:
        from engine.ids import parse_key_url

        ref = parse_key_url(v["key"])
        des = Call("create_des", (v["name"], v["rg"], v["key"]), {
            "source_vault": ref.vault, "encryption_type": v["etype"], "rotation_to_latest": v["auto"]})
        if v["grant"]:
            vault = e.find_vault(ref.vault)
            rbac = bool(vault and vault.enable_rbac_authorization)
            pid = Raw(f'"$({join(AZ, ["disk-encryption-set", "show", "--name", v["name"], "--resource-group", v["rg"], "--query", "identity.principalId", "-o", "tsv"])})"')
            if rbac:
                des.preview_then = [join(AZ, ["role", "assignment", "create", "--assignee-object-id", pid,
                                              "--assignee-principal-type", "ServicePrincipal", "--role",
                                              CRYPTO_SERVICE_ROLE, "--scope", "…vault id…"])]
            else:
                des.preview_then = [join(AZ, ["keyvault", "set-policy", "--name", ref.vault, "--object-id", pid,
                                              "--key-permissions", "get", "wrapKey", "unwrapKey"])]
            des.then = lambda created: _grant_call(e, ref.vault, created.principal_id, "get wrapKey unwrapKey",
                                                   CRYPTO_SERVICE_ROLE)
        return des

    return _spec(e, "Create a disk encryption set", [
        Field("name", "Name", placeholder="des-team", check=name_check("des")),
        Field("rg", "Resource group", "select", value=_first(gopts), options=gopts),
        Field("key", "Key version", "select", value=default_key or _first(kopts), options=kopts),
        Field("etype", "Encryption type (fixed once created)", "select", value=ENC_CUSTOMER,
              options=[(t, t) for t in DES_ENCRYPTION_TYPES]),
        Field("auto", "Automatic key rotation (follow the newest version within an hour)", "switch", value=False),
        Field("grant", "Grant the set's identity get, wrapKey, unwrapKey on the key", "switch", value=True),
    ], build)


def form_disk(e, target, sel) -> FormSpec:
    gopts = group_options(e)
    dopts = des_options(e, none_label="none: platform-managed key")

    def build(v: dict) -> Call:
        kw = {"size_gb": v["size"], "sku": v["sku"]}
        if v["des"]:
            kw["disk_encryption_set"] = v["des"]
        return Call("create_disk", (v["name"], v["rg"]), kw)

    return _spec(e, "Create a managed disk", [
        Field("name", "Name", placeholder="disk-data", check=name_check("disk")),
        Field("rg", "Resource group", "select", value=_first(gopts), options=gopts),
        Field("size", "Size (GB)", "int", value=64, check=lambda v, values: disk_size_problem(v, values.get("sku"))),
        Field("sku", "SKU", "select", value="Premium_LRS", options=[(s, s) for s in e.rules.disk_skus]),
        Field("des", "Disk encryption set", "select", value="", options=dopts, optional=True),
    ], build)


def form_snapshot(e, target, sel) -> FormSpec:
    kind, obj = sel if sel else (None, None)
    disks = e.list_disks()
    sopts = [(f"{d.name} ({d.resource_group})", d.id) for d in disks]
    src = resolve(e, "disk", kind, obj)
    default = src.id if src is not None else _first(sopts)
    dopts = des_options(e, none_label="same key as the source (or platform key)")

    def build(v: dict) -> Call:
        src = e.find_disk(v["source"]) if str(v["source"]).startswith("/") else None
        rg = src.resource_group if src is not None else _first(group_options(e))
        kw = {"disk_encryption_set": v["des"]} if v["des"] else {}
        return Call("create_snapshot", (v["name"], rg, src.name if src is not None else v["source"]), kw)

    base = e.find_disk(default) if str(default or "").startswith("/") else None
    return _spec(e, "Create a snapshot", [
        Field("source", "Source disk", "select", value=default, options=sopts),
        Field("name", "Name", value=f"{base.name}-snap" if base is not None else "", check=name_check("snapshot")),
        Field("des", "Disk encryption set", "select", value="", options=dopts, optional=True,
              help="A snapshot of a customer-key disk must use the same key (K6)."),
    ], build)


def form_image(e, target, sel) -> FormSpec:
    opts = [(f"VM {v.name} (its OS disk)", v.id) for v in sorted(e.list_vms(), key=lambda v: v.name)]
    opts += [(f"disk {d.name}", d.id) for d in sorted(e.list_disks(), key=lambda d: d.name)]
    opts += [(f"snapshot {s.name}", s.id) for s in sorted(e.list_snapshots(), key=lambda s: s.name)]

    def build(v: dict) -> Call:
        src = v["source"]
        obj = next((o for o in (e.find(t, src) for t in ("vms", "disks", "snapshots")) if o is not None), None)
        rg = obj.resource_group if obj is not None else _first(group_options(e))
        disk = e.find_disk(obj.os_disk_id) if obj is not None and hasattr(obj, "os_disk_id") else obj
        generation = getattr(disk, "hyper_v_generation", None)  # the source's, said in the log as az needs it (K11)
        return Call("create_image", (v["name"], rg, obj.name if obj is not None else src),
                    {"hyper_v_generation": generation} if generation else {})

    return _spec(e, "Capture an image", [
        Field("source", "Source", "select", value=_first(opts), options=opts),
        Field("name", "Name", placeholder="img-golden", check=name_check("image")),
    ], build)


def _sizes_check(value: Any, values: dict) -> str | None:
    for part in str(value or "").replace(",", " ").split():
        if not part.isdigit() or not 1 <= int(part) <= 65536:
            return f"{part!r}: give sizes in GB separated by spaces, e.g. 64 128"
    return None


def form_vm(e, target, sel) -> FormSpec:
    gopts = group_options(e)
    dopts = des_options(e, none_label="none: platform-managed key")
    first_set = dopts[1][1] if len(dopts) > 1 else ""

    def build(v: dict) -> Call:
        sizes = [int(x) for x in v["data"].replace(",", " ").split()]
        kw: dict[str, Any] = {"size": v["size"], "image": v["image"]}
        if v["os_des"]:
            kw["os_disk_encryption_set"] = v["os_des"]
        if sizes:
            kw["data_disk_sizes_gb"] = sizes
            if v["data_des"]:
                kw["data_disk_encryption_sets"] = [v["data_des"]]
        skus = v["sku"].split()
        if skus and skus != ["Premium_LRS"]:
            kw["storage_sku"] = skus if len(skus) > 1 or "=" in skus[0] else skus[0]
        if v["ultra"]:
            kw["ultra_ssd_enabled"] = True
        if v["eah"]:
            kw["encryption_at_host"] = True
        return Call("create_vm", (v["name"], v["rg"]), kw)

    return _spec(e, "Create a virtual machine", [
        Field("name", "Name", placeholder="vm-app", check=name_check("vm")),
        Field("rg", "Resource group", "select", value=_first(gopts), options=gopts),
        Field("size", "Size", value="Standard_DS3_v2"),
        Field("image", "Image (alias or managed image name)", value="Ubuntu2204"),
        Field("os_des", "OS disk encryption set", "select", value=first_set, options=dopts, optional=True),
        Field("data", "Data disk sizes (GB)", value="64", optional=True, check=_sizes_check),
        Field("data_des", "Data disk encryption set", "select", value=first_set, options=dopts, optional=True),
        Field("sku", "Storage SKU (one SKU, or os=SKU 0=SKU ...)", value="Premium_LRS",
              help="e.g. os=Premium_LRS 0=UltraSSD_LRS for an ultra data disk"),
        Field("ultra", "Ultra SSD enabled", "switch", value=False),
        Field("eah", "Encryption at host", "switch", value=False),
    ], build)


def form_clock(e, target, sel) -> FormSpec:
    jobs = e.pending_jobs()
    intro = "Due jobs run in order as the clock passes them."
    if jobs:
        intro += "\nNext: " + "; ".join(f"{when(j['time'])} {shorten(j['job'])}" for j in jobs[:3])
    else:
        intro += "\nNothing is scheduled in the next 400 days."

    def build(v: dict) -> Call:
        return Call("advance_clock", (v["delta"],))

    return _spec(e, f"Advance the simulated clock (now {e.now()[:16].replace('T', ' ')})", [
        Field("delta", "By", value="1h", check=advance_check, help="30m, 1h, 8d, 2w, or ISO 8601 (P7D)"),
    ], build, submit="Advance", intro=intro)


def form_policy(e, k, sel) -> FormSpec:
    pol = k.rotation_policy or {}
    after = ""
    notify = "P30D"
    for a in pol.get("lifetimeActions", []):
        trig = a["trigger"]
        if a["action"]["type"] == "Rotate":  # the form edits rotation after creation (timeAfterCreate) only
            after = trig.get("timeAfterCreate", "") or ""
        else:
            notify = trig.get("timeBeforeExpiry", notify)
    expiry = (pol.get("attributes") or {}).get("expiryTime") or ""

    def build(v: dict) -> Call:
        actions = []
        if v["after"]:
            actions.append({"trigger": {"timeAfterCreate": v["after"]}, "action": {"type": "Rotate"}})
        if v["notify"] and v["expiry"]:
            actions.append({"trigger": {"timeBeforeExpiry": v["notify"]}, "action": {"type": "Notify"}})
        policy = {"lifetimeActions": actions, "attributes": {"expiryTime": v["expiry"] or None}}
        return Call("set_rotation_policy", (k.vault, k.name, policy))

    def policy_check(field: str) -> Callable[[Any, dict], str | None]:
        """The field's duration, then the whole policy by the engine's rules (``check_rotation_policy``): its
        refusal shows under the field it names."""
        def check(value: Any, values: dict) -> str | None:
            said = iso_duration_check(value, values)
            if said:
                return said
            try:
                e.check_rotation_policy(build(values).args[2])
            except EngineError as err:
                first = err.message.split(" ", 1)[0]
                owner = {"timeAfterCreate": "after", "expiryTime": "expiry", "timeBeforeExpiry": "notify"}.get(first)
                return err.message if owner == field or (owner is None and field == "after") else None
            return None
        return check

    return _spec(e, f"Rotation policy of {k.vault}/{k.name}", [
        Field("after", "Rotate this long after each version's creation", value=after, placeholder="P90D",
              optional=True, check=policy_check("after")),
        Field("expiry", "New versions expire after", value=expiry, placeholder="P1Y", optional=True,
              check=policy_check("expiry")),
        Field("notify", "Notify this long before expiry", value=notify, optional=True, check=policy_check("notify")),
    ], build, submit="Save policy", intro=f"Applies to key {k.vault}/{k.name}; the clock runs it (advance with +).")


def form_change_key(e, d, sel) -> FormSpec:
    from engine.ids import parse_key_url

    kopts = key_version_options(e)
    ref = parse_key_url(d.key_url)
    k = e.find_key(ref.vault, ref.name)
    default = key_id(k.vault, k.name, k.current["version"]) if k is not None and k.versions else d.key_url

    def build(v: dict) -> Call:
        r = parse_key_url(v["key"])
        return Call("update_des", (d.name, d.resource_group), {"key_url": v["key"], "source_vault": r.vault})

    return _spec(e, f"Change the key of set {d.name}", [
        Field("key", "New key version", "select", value=default, options=kopts,
              help="Every disk, snapshot and image of the set is re-wrapped; data and VMs are untouched."),
    ], build, submit="Change key", intro=f"Now: {short_kid(d.key_url)}")


def form_encrypt(e, d, sel) -> FormSpec:
    dopts = des_options(e)

    def build(v: dict) -> Call:
        return Call("update_disk", (d.name, d.resource_group), {"disk_encryption_set": v["des"]})

    return _spec(e, f"Encrypt disk {d.name} with a customer-managed key", [
        Field("des", "Disk encryption set", "select", value=_first(dopts), options=dopts,
              help="The disk must be unattached or its VM deallocated; there is no way back to platform keys."),
    ], build, submit="Encrypt")


def _lun_check(lun: Any, vm) -> str | None:
    """The engine's rules for a data disk's LUN (its range, and one free on ``vm``), as you type."""
    problem = lun_problem(lun)
    if problem or vm is None:
        return problem
    return lun_used_problem(lun, {x["lun"] for x in vm.data_disks}, vm.name)


def form_attach_to_vm(e, d, sel) -> FormSpec:
    vopts = [(f"{v.name} ({v.power})", v.name) for v in sorted(e.list_vms(), key=lambda v: v.name)]

    def build(v: dict) -> Call:
        kw = {"lun": v["lun"]} if v["lun"] is not None and v["lun"] != "" else {}
        return Call("attach_disk", (v["vm"], d.id), kw)

    return _spec(e, f"Attach disk {d.name}", [
        Field("vm", "VM", "select", value=_first(vopts), options=vopts),
        Field("lun", "LUN (empty: the next free one)", "int", value="", optional=True,
              check=lambda n, values: _lun_check(n, e.find_vm(values.get("vm")))),
    ], build, submit="Attach")


def form_attach_disk(e, vm, sel) -> FormSpec:
    free = e.list_disks(where=lambda d: e.vm_of_disk(d.id) is None)
    dopts = [(f"{d.name} ({d.sku}, {d.size_gb} GB)", d.id) for d in free]

    def build(v: dict) -> Call:
        kw = {"lun": v["lun"]} if v["lun"] is not None and v["lun"] != "" else {}
        return Call("attach_disk", (vm.name, v["disk"]), kw)

    return _spec(e, f"Attach a disk to {vm.name}", [
        Field("disk", "Unattached disk", "select", value=_first(dopts), options=dopts),
        Field("lun", "LUN (empty: the next free one)", "int", value="", optional=True,
              check=lambda n, values: _lun_check(n, vm)),
    ], build, submit="Attach")


def form_detach_disk(e, vm, sel) -> FormSpec:
    dopts = []
    for x in vm.data_disks:
        d = e.find("disks", x["diskId"])
        if d is not None:
            dopts.append((f"lun {x['lun']}: {d.name}", d.id))

    def build(v: dict) -> Call:
        d = e.find("disks", v["disk"])
        return Call("detach_disk", (vm.name, d.name if d is not None else v["disk"]))

    return _spec(e, f"Detach a data disk from {vm.name}", [
        Field("disk", "Data disk", "select", value=_first(dopts), options=dopts),
    ], build, submit="Detach")


def _lun_options(vm) -> list[tuple[str, str]]:
    return [("os", "os")] + [(f"lun {x['lun']}", str(x["lun"])) for x in vm.data_disks]


def form_write(e, vm, sel) -> FormSpec:
    def build(v: dict) -> Call:
        lun = v["lun"] if v["lun"] == "os" else int(v["lun"])
        return Call("vm_write", (vm.name, lun, v["offset"], v["data"].encode()))

    return _spec(e, f"Write to a disk of {vm.name} (as the guest)", [
        Field("lun", "Disk", "select", value="os", options=_lun_options(vm)),
        Field("offset", "Offset (bytes)", "int", value=0, check=int_range(0, 2**45, "offset")),
        Field("data", "Text to write", value="hello from the console"),
    ], build, submit="Write")


def form_read(e, vm, sel) -> FormSpec:
    def build(v: dict) -> Call:
        lun = v["lun"] if v["lun"] == "os" else int(v["lun"])
        return Call("vm_read", (vm.name, lun, v["offset"], v["length"]))

    return _spec(e, f"Read from a disk of {vm.name} (as the guest)", [
        Field("lun", "Disk", "select", value="os", options=_lun_options(vm)),
        Field("offset", "Offset (bytes)", "int", value=0, check=int_range(0, 2**45, "offset")),
        Field("length", "Length (bytes)", "int", value=64, check=int_range(1, 4096, "length")),
    ], build, submit="Read")


def form_export(e, entry, sel) -> FormSpec:
    home = os.path.dirname(e.store_path) if e.store_path else os.getcwd()

    def build(v: dict) -> Call:
        return Call("export_log", (user_path(v["path"]),))

    def allowed(value: Any, values: dict) -> str | None:
        try:
            user_path(str(value))
        except ValueError as e:
            return str(e)
        return None

    return FormSpec("Export the command log as a replay script", [
        Field("path", "File", value=default_path("cmklab-session.sh", home), check=allowed),
    ], build, submit="Export", intro="Successful commands replay with bash; refused ones are kept as comments.")


# ---- predicates -----------------------------------------------------------------------------------------------------

def _active(obj) -> bool:
    return getattr(obj, "state", "Active") == "Active"


def _deleted(obj) -> bool:
    return getattr(obj, "state", "Active") == "Deleted"


def _vault_active(e, k) -> bool:
    v = e.find_vault(k.vault)
    return v is not None and v.state == "Active"


def _key_all_on(k) -> bool:
    return all(v["enabled"] for v in k.versions)


def _power(vm) -> str:
    return vm.power


def _data_disk(e, d) -> bool:
    vm = e.vm_of_disk(d.id)
    return vm is not None and d.id != vm.os_disk_id


# ---- the catalogue --------------------------------------------------------------------------------------------------

OPS: list[Op] = [
    # creation (no selection needed)
    Op("vault.create", "Create key vault", "n", "new", ("vaults",), None, method="create_vault", form=form_vault),
    Op("key.create", "Generate key", "n", "new", ("keys", "versions"), None, method="create_key", form=form_key, slow=True),
    Op("key.import", "Import key (PEM)", "i", "import", ("keys",), None, method="import_key", form=form_import),
    Op("des.create", "Create disk encryption set", "n", "new", ("sets",), None, method="create_des", form=form_des),
    Op("disk.create", "Create disk", "n", "new", ("disks",), None, method="create_disk", form=form_disk),
    Op("snapshot.create", "Create snapshot", "n", "new", ("snapshots",), None, method="create_snapshot", form=form_snapshot),
    Op("image.create", "Capture image", "n", "new", ("images",), None, method="create_image", form=form_image),
    Op("vm.create", "Create VM", "n", "new", ("vms",), None, method="create_vm", form=form_vm),
    Op("group.create", "Create resource group", None, "group", (), None, method="create_group", form=form_group),
    Op("clock.advance", "Advance the clock", "plus", "clock+", ("*",), None, method="advance_clock", form=form_clock),
    # a policy replaces the permissions the identity had: narrowing one (a set's: its VMs stop; your own) asks first
    Op("access.grant", "Grant access to keys", "A", "grant", ("vaults", "keys", "access", "sets"), None, method="set_policy",
       form=form_grant, confirm="impact", verb="Grant"),
    # vaults
    Op("vault.delete", "Delete key vault", "x", "delete", ("vaults",), "vault", method="delete_vault",
       call=lambda e, v: Call("delete_vault", (v.name,)), when=lambda e, v: _active(v), confirm="always",
       title=lambda v: f"Delete key vault {v.name}? (soft delete: recoverable for "
                       f"{v.soft_delete_retention_days} days)"),
    Op("vault.recover", "Recover key vault", "u", "recover", ("vaults",), "vault", method="recover_vault",
       call=lambda e, v: Call("recover_vault", (v.name,)), when=lambda e, v: _deleted(v)),
    Op("vault.purge", "Purge key vault", "P", "purge", ("vaults",), "vault", method="purge_vault",
       call=lambda e, v: Call("purge_vault", (v.name,)), when=lambda e, v: _deleted(v), confirm="typed",
       title=lambda v: f"Purge key vault {v.name} and every key in it, for good?", typed_name=lambda v: v.name),
    Op("vault.protect", "Enable purge protection", None, "protect", ("vaults",), "vault", method="update_vault",
       call=lambda e, v: Call("update_vault", (v.name,), {"enable_purge_protection": True}),
       when=lambda e, v: _active(v) and not v.enable_purge_protection),
    # keys
    Op("key.rotate", "Rotate key (new version)", "r", "rotate", ("keys", "versions"), "key", method="rotate_key",
       call=lambda e, k: Call("rotate_key", (k.vault, k.name)), when=lambda e, k: _active(k) and _vault_active(e, k),
       slow=True),
    Op("key.disable", "Disable key (all versions)", "e", "disable", ("keys",), "key", method="set_key_attributes",
       call=lambda e, k: Call("set_key_attributes", (k.vault, k.name), {"enabled": False, "all_versions": True}),
       when=lambda e, k: _active(k) and _vault_active(e, k) and _key_all_on(k), confirm="always",
       title=lambda k: f"Disable key {k.vault}/{k.name} (all versions)?", steps=each_version),
    Op("key.enable", "Enable key (all versions)", "e", "enable", ("keys",), "key", method="set_key_attributes",
       call=lambda e, k: Call("set_key_attributes", (k.vault, k.name), {"enabled": True, "all_versions": True}),
       when=lambda e, k: _active(k) and _vault_active(e, k) and not _key_all_on(k), steps=each_version),
    Op("key.policy", "Set rotation policy", "p", "policy", ("keys",), "key", method="set_rotation_policy", form=form_policy,
       when=lambda e, k: _active(k) and _vault_active(e, k)),
    Op("key.delete", "Delete key", "x", "delete", ("keys",), "key", method="delete_key",
       call=lambda e, k: Call("delete_key", (k.vault, k.name)), when=lambda e, k: _active(k) and _vault_active(e, k),
       confirm="always", title=lambda k: f"Delete key {k.vault}/{k.name}? (soft delete)"),
    Op("key.recover", "Recover key", "u", "recover", ("keys",), "key", method="recover_key",
       call=lambda e, k: Call("recover_key", (k.vault, k.name)), when=lambda e, k: _deleted(k)),
    Op("key.purge", "Purge key", "P", "purge", ("keys",), "key", method="purge_key",
       call=lambda e, k: Call("purge_key", (k.vault, k.name)), when=lambda e, k: _deleted(k), confirm="typed",
       title=lambda k: f"Purge key {k.vault}/{k.name} for good?", typed_name=lambda k: k.name),
    # versions
    Op("version.disable", "Disable key version", "e", "disable", ("versions",), "version", method="set_key_attributes",
       call=lambda e, r: Call("set_key_attributes", (r.key.vault, r.key.name, r.version["version"]), {"enabled": False}),
       when=lambda e, r: _active(r.key) and r.version["enabled"], confirm="always",
       title=lambda r: f"Disable version {r.version['version'][:8]} of {r.key.vault}/{r.key.name}?"),
    Op("version.enable", "Enable key version", "e", "enable", ("versions",), "version", method="set_key_attributes",
       call=lambda e, r: Call("set_key_attributes", (r.key.vault, r.key.name, r.version["version"]), {"enabled": True}),
       when=lambda e, r: _active(r.key) and not r.version["enabled"]),
    # access
    Op("access.revoke", "Revoke access", "x", "revoke", ("access",), "access", method="delete_policy",
       call=lambda e, a: Call("delete_policy", (a.vault.name, a.principal)) if a.model == "policy" else
       Call("delete_role_assignment", (), {"assignee": a.principal, "role": a.grant, "scope": a.assignment.scope}),
       confirm="always", title=lambda a: f"Revoke the {'access policy' if a.model == 'policy' else 'role'} of "
                                         f"{a.who} on vault {a.vault.name}?"),
    # disk encryption sets
    Op("des.key", "Change the set's key (re-wrap its disks)", "c", "key", ("sets",), "des", method="update_des", form=form_change_key,
       confirm="always", slow=True, verb="Change key", title=lambda d: f"Change the key of set {d.name}?"),
    Op("des.autorotate", "Toggle automatic key rotation", "a", "auto-rot", ("sets",), "des", method="update_des",
       call=lambda e, d: Call("update_des", (d.name, d.resource_group), {"rotation_to_latest": not d.rotation_to_latest})),
    Op("des.delete", "Delete disk encryption set", "x", "delete", ("sets",), "des", method="delete_des",
       call=lambda e, d: Call("delete_des", (d.name, d.resource_group)), confirm="always",
       title=lambda d: f"Delete disk encryption set {d.name}?"),
    # disks
    Op("disk.encrypt", "Encrypt disk with a customer key", "c", "encrypt", ("disks",), "disk", method="update_disk", form=form_encrypt,
       verb="Encrypt",
       when=lambda e, d: d.encryption_type == ENC_PLATFORM, confirm="always",
       title=lambda d: f"Encrypt disk {d.name} with a customer-managed key? (no way back)"),
    Op("disk.snapshot", "Snapshot disk", "s", "snapshot", ("disks",), "disk", method="create_snapshot", form=form_snapshot),
    Op("disk.attach", "Attach disk to a VM", "a", "attach", ("disks",), "disk", method="attach_disk", form=form_attach_to_vm,
       when=lambda e, d: e.vm_of_disk(d.id) is None),
    Op("disk.detach", "Detach disk", "D", "detach", ("disks",), "disk", method="detach_disk",
       call=lambda e, d: Call("detach_disk", (e.vm_of_disk(d.id).name, d.name)), when=_data_disk, confirm="always",
       title=lambda d: f"Detach disk {d.name}?"),
    Op("disk.delete", "Delete disk", "x", "delete", ("disks",), "disk", method="delete_disk",
       call=lambda e, d: Call("delete_disk", (d.name, d.resource_group)), confirm="always",
       title=lambda d: f"Delete disk {d.name} and its data?"),
    Op("snapshot.delete", "Delete snapshot", "x", "delete", ("snapshots",), "snapshot", method="delete_snapshot",
       call=lambda e, s: Call("delete_snapshot", (s.name, s.resource_group)), confirm="always",
       title=lambda s: f"Delete snapshot {s.name}?"),
    Op("image.delete", "Delete image", "x", "delete", ("images",), "image", method="delete_image",
       call=lambda e, i: Call("delete_image", (i.name, i.resource_group)), confirm="always",
       title=lambda i: f"Delete image {i.name}?"),
    # VMs
    Op("vm.start", "Start VM", "s", "start", ("vms",), "vm", method="start_vm",
       call=lambda e, v: Call("start_vm", (v.name, v.resource_group)), when=lambda e, v: v.power != "running"),
    Op("vm.stop", "Stop VM", "o", "stop", ("vms",), "vm", method="stop_vm",
       call=lambda e, v: Call("stop_vm", (v.name, v.resource_group)), when=lambda e, v: v.power == "running",
       confirm="always", title=lambda v: f"Stop VM {v.name}? (stays allocated)"),
    Op("vm.deallocate", "Deallocate VM", "d", "dealloc", ("vms",), "vm", method="deallocate_vm", verb="Deallocate",
       call=lambda e, v: Call("deallocate_vm", (v.name, v.resource_group)),
       when=lambda e, v: v.power != PowerState.DEALLOCATED.value, confirm="always",
       title=lambda v: f"Deallocate VM {v.name}? (releases its host and the keys it caches)"),
    Op("vm.restart", "Restart VM", "R", "restart", ("vms",), "vm", method="restart_vm",
       call=lambda e, v: Call("restart_vm", (v.name, v.resource_group)), when=lambda e, v: v.power == "running",
       confirm="always", title=lambda v: f"Restart VM {v.name}?"),
    Op("vm.write", "Write data to a VM disk", "w", "write", ("vms",), "vm", method="vm_write", form=form_write),
    Op("vm.read", "Read data from a VM disk", "r", "read", ("vms",), "vm", method="vm_read", form=form_read),
    Op("vm.attach", "Attach a disk", "a", "attach", ("vms",), "vm", method="attach_disk", form=form_attach_disk),
    Op("vm.detach", "Detach a disk", "D", "detach", ("vms",), "vm", method="detach_disk", form=form_detach_disk, verb="Detach",
       when=lambda e, v: bool(v.data_disks), confirm="always", title=lambda v: f"Detach a disk from {v.name}?"),
    Op("vm.hostenc", "Toggle encryption at host", "h", "host-enc", ("vms",), "vm", method="update_vm",
       call=lambda e, v: Call("update_vm", (v.name, v.resource_group), {"encryption_at_host": not v.encryption_at_host})),
    Op("vm.delete", "Delete VM (keeps its disks)", "x", "delete", ("vms",), "vm", method="delete_vm",
       call=lambda e, v: Call("delete_vm", (v.name, v.resource_group)), confirm="always",
       title=lambda v: f"Delete VM {v.name}? (its disks are kept, unattached)"),
    # the command log
    Op("log.export", "Export command log as a replay script", "e", "export", ("log",), None, form=form_export,
       special="export_log"),
    Op("log.copy", "Copy command to clipboard", "c", "copy", ("log",), "log", special="copy_log",
       call=lambda e, entry: Call("copy_log", (entry,))),
]

OP_BY_ID: dict[str, Op] = {op.id: op for op in OPS}

QUICK_CLOCK = ("1h", "1d", "7d", "30d", "90d")
"""Clock steps offered directly in the command palette."""


def policy_json(policy: dict) -> str:
    return json.dumps(policy, indent=2)
