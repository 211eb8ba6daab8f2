"""Each console action as the ``cmklab az ...`` command line that does the same thing.

The command log pane shows these lines, and exports them as a bash script that replays the session
(``cmklab az`` takes the Azure CLI's own commands and flags). Values that differ from one store to
another (the current key version, a set's principal id, a vault's ARM id) are written as shell
substitutions that ask ``cmklab az`` for them, as the seed walkthroughs do, so that a script recorded
on one store replays on another. Nothing here imports textual.
"""

from __future__ import annotations

import inspect
import json
import shlex
from typing import Any, Iterable

AZ = "cmklab az"
CMKLAB = "cmklab"


class Raw(str):
    """A piece of shell written as is (a ``"$(...)"`` substitution), never quoted."""


def join(prefix: str, parts: Iterable[Any]) -> str:
    out = [prefix]
    for p in parts:
        if p is None:
            continue
        if isinstance(p, Raw):
            out.append(str(p))
        else:
            out.append(shlex.quote(str(p)))
    return " ".join(out)


def _tf(value: Any) -> str:
    return "true" if value else "false"


def bind(engine, method: str, args: tuple, kwargs: dict) -> dict:
    """The engine method's parameters by name, defaults filled in."""
    fn = getattr(engine, method)
    sig = inspect.signature(fn)
    ba = sig.bind(*args, **kwargs)
    ba.apply_defaults()
    return dict(ba.arguments)


# ---- lookups (a failed lookup falls back to what was given: the engine will refuse anyway) -------------

def _rg(engine, kind: str, name: str | None, rg: str | None) -> str | None:
    if rg or not name:
        return rg
    finders = {"des": "get_des", "disk": "get_disk", "snapshot": "get_snapshot", "image": "get_image", "vm": "get_vm"}
    try:
        return getattr(engine, finders[kind])(name).resource_group
    except Exception:  # noqa: BLE001 - a refused lookup: print what we have
        return None


def _name_of(value: str | None) -> str | None:
    """An ARM id's last segment (the console passes names, az takes either)."""
    if value and value.startswith("/"):
        return value.rstrip("/").rsplit("/", 1)[-1]
    return value


def _key_url(engine, url: str) -> Any:
    """A key URL that is the key's current version becomes ``"$(cmklab az keyvault key show ...)"``."""
    try:
        from engine.ids import parse_key_url

        ref = parse_key_url(url)
        k, ver = engine.key_by_url(url)
        if ref.version and ver is not None and ver["version"] == k.current["version"]:
            return Raw(f'"$({join(AZ, ["keyvault", "key", "show", "--vault-name", k.vault, "--name", k.name, "--query", "key.kid", "-o", "tsv"])})"')
    except Exception:  # noqa: BLE001
        pass
    return url


def _principal(engine, oid: str) -> Any:
    """A set's principal id becomes ``"$(cmklab az disk-encryption-set show ... --query identity.principalId)"``."""
    oid_l = (oid or "").lower()
    for des in engine.list_des():
        if des.principal_id.lower() == oid_l:
            return Raw(f'"$({join(AZ, ["disk-encryption-set", "show", "--name", des.name, "--resource-group", des.resource_group, "--query", "identity.principalId", "-o", "tsv"])})"')
    return oid


def _scope(engine, scope: str) -> Any:
    for v in engine.list_vaults(include_deleted=True):
        if v.id.lower() == (scope or "").lower():
            return Raw(f'"$({join(AZ, ["keyvault", "show", "--name", v.name, "--query", "id", "-o", "tsv"])})"')
    return scope


# ---- the formatter -----------------------------------------------------------------------------------

def az_lines(engine, method: str, args: tuple = (), kwargs: dict | None = None, hints: dict | None = None) -> list[str]:
    """The command line(s) equivalent to ``engine.<method>(*args, **kwargs)``; call it before the action runs."""
    kwargs = dict(kwargs or {})
    hints = dict(hints or {})
    try:
        p = bind(engine, method, args, kwargs)
    except TypeError:
        return [f"# {method}(...)"]
    fmt = _FORMATTERS.get(method)
    if fmt is None:
        return [f"# {method}: no az equivalent"]
    try:
        out = fmt(engine, p, hints)
    except Exception:  # noqa: BLE001 - the log must never stop an action
        return [f"# {method}(...)"]
    return out if isinstance(out, list) else [out]


def az(*parts: Any) -> str:
    return join(AZ, parts)


def _create_group(e, p, h):
    return az("group", "create", "--name", p["name"], "--location", p["location"])


def _delete_group(e, p, h):
    return az("group", "delete", "--name", p["name"], "--yes")


def _create_vault(e, p, h):
    parts = ["keyvault", "create", "--name", p["name"], "--resource-group", p["resource_group"]]
    if p.get("location"):
        parts += ["--location", p["location"]]
    parts += ["--sku", p.get("sku") or "standard"]
    if p.get("retention_days") is not None:
        parts += ["--retention-days", p["retention_days"]]
    if p.get("enable_purge_protection"):
        parts += ["--enable-purge-protection", "true"]
    parts += ["--enable-rbac-authorization", _tf(p.get("enable_rbac_authorization"))]
    return az(*parts)


def _update_vault(e, p, h):
    parts = ["keyvault", "update", "--name", p["name"]]
    if p.get("enable_purge_protection") is not None:
        parts += ["--enable-purge-protection", _tf(p["enable_purge_protection"])]
    if p.get("enable_rbac_authorization") is not None:
        parts += ["--enable-rbac-authorization", _tf(p["enable_rbac_authorization"])]
    if p.get("retention_days") is not None:
        parts += ["--retention-days", p["retention_days"]]
    if p.get("sku"):
        parts += ["--set", f"properties.sku.name={p['sku']}"]
    return az(*parts)


def _vault_verb(verb):
    return lambda e, p, h: az("keyvault", verb, "--name", p["name"])


def _set_policy(e, p, h):
    perms = p.get("key_permissions") or []
    if isinstance(perms, str):
        perms = perms.replace(",", " ").split()
    return az("keyvault", "set-policy", "--name", p["vault"], "--object-id", _principal(e, p["object_id"]),
              "--key-permissions", *perms)


def _delete_policy(e, p, h):
    return az("keyvault", "delete-policy", "--name", p["vault"], "--object-id", _principal(e, p["object_id"]))


def _create_role(e, p, h):
    return az("role", "assignment", "create", "--assignee-object-id", _principal(e, p["assignee"]),
              "--assignee-principal-type", "ServicePrincipal", "--role", p["role"], "--scope", _scope(e, p["scope"]))


def _delete_role(e, p, h):
    parts = ["role", "assignment", "delete"]
    if p.get("ids"):
        parts += ["--ids", *p["ids"]]
    if p.get("assignee"):
        parts += ["--assignee", _principal(e, p["assignee"])]
    if p.get("role"):
        parts += ["--role", p["role"]]
    if p.get("scope"):
        parts += ["--scope", _scope(e, p["scope"])]
    return az(*parts)


def _key_times(p) -> list:
    parts = []
    if p.get("exp"):
        parts += ["--expires", p["exp"]]
    if p.get("nbf"):
        parts += ["--not-before", p["nbf"]]
    return parts


def _create_key(e, p, h):
    parts = ["keyvault", "key", "create", "--vault-name", p["vault"], "--name", p["name"],
             "--kty", (p.get("kty") or "RSA").upper()]
    parts += ["--curve", p["curve"]] if p.get("curve") else ["--size", p.get("size") or 2048]
    if p.get("ops"):
        parts += ["--ops", *p["ops"]]
    if p.get("enabled") is False:
        parts += ["--disabled", "true"]
    return az(*parts, *_key_times(p))


def _import_key(e, p, h):
    parts = ["keyvault", "key", "import", "--vault-name", p["vault"], "--name", p["name"]]
    if h.get("pem_file"):
        parts += ["--pem-file", h["pem_file"]]
    else:
        pem = p["pem"].decode() if isinstance(p["pem"], bytes) else str(p["pem"])
        parts += ["--pem-string", pem.strip()]
    if p.get("password"):
        parts += ["--pem-password", Raw('"${PEM_PASSWORD:?set PEM_PASSWORD}"')]
    if p.get("kty") and p["kty"].upper() == "RSA-HSM":
        parts += ["--protection", "hsm"]
    if p.get("enabled") is False:
        parts += ["--disabled", "true"]
    return az(*parts, *_key_times(p))


def _key_verb(*verb):
    return lambda e, p, h: az("keyvault", "key", *verb, "--vault-name", p["vault"], "--name", p["name"])


def _set_key_attributes(e, p, h):
    versions: list[str | None] = [p.get("version")]
    if p.get("all_versions"):
        k = e.find_key(p["vault"], p["name"])
        versions = [v["version"] for v in k.versions] if k is not None and len(k.versions) > 1 else [None]
    lines = []
    for ver in versions:
        parts = ["keyvault", "key", "set-attributes", "--vault-name", p["vault"], "--name", p["name"]]
        if ver:
            parts += ["--version", ver]
        if p.get("enabled") is not None:
            parts += ["--enabled", _tf(p["enabled"])]
        parts += _key_times(p)
        if p.get("ops"):
            parts += ["--ops", *p["ops"]]
        lines.append(az(*parts))
    return lines


def _rotation_policy(e, p, h):
    policy = p["policy"]
    text = policy if isinstance(policy, str) else json.dumps(
        {k: v for k, v in policy.items() if k in ("lifetimeActions", "attributes")}, separators=(",", ":"))
    return az("keyvault", "key", "rotation-policy", "update", "--vault-name", p["vault"], "--name", p["name"],
              "--value", text)


def _create_des(e, p, h):
    parts = ["disk-encryption-set", "create", "--name", p["name"], "--resource-group", p["resource_group"],
             "--key-url", _key_url(e, p["key_url"])]
    vault = _name_of(p.get("source_vault"))
    if not vault:
        try:
            from engine.ids import parse_key_url

            vault = parse_key_url(p["key_url"]).vault
        except Exception:  # noqa: BLE001
            vault = None
    if vault:
        parts += ["--source-vault", vault]
    if p.get("location"):
        parts += ["--location", p["location"]]
    if p.get("encryption_type"):
        parts += ["--encryption-type", p["encryption_type"]]
    if p.get("rotation_to_latest"):
        parts += ["--enable-auto-key-rotation", "true"]
    return az(*parts)


def _update_des(e, p, h):
    rg = _rg(e, "des", p["name"], p.get("resource_group"))
    parts = ["disk-encryption-set", "update", "--name", p["name"], "--resource-group", rg]
    if p.get("key_url"):
        parts += ["--key-url", _key_url(e, p["key_url"])]
    if p.get("source_vault"):
        parts += ["--source-vault", _name_of(p["source_vault"])]
    if p.get("rotation_to_latest") is not None:
        parts += ["--enable-auto-key-rotation", _tf(p["rotation_to_latest"])]
    return az(*parts)


def _delete_des(e, p, h):
    return az("disk-encryption-set", "delete", "--name", p["name"], "--resource-group",
              _rg(e, "des", p["name"], p.get("resource_group")))


def _disk_common(p) -> list:
    parts = []
    if p.get("location"):
        parts += ["--location", p["location"]]
    if p.get("encryption_type"):
        parts += ["--encryption-type", p["encryption_type"]]
    if p.get("disk_encryption_set"):
        parts += ["--disk-encryption-set", _name_of(p["disk_encryption_set"])]
    return parts


def _create_disk(e, p, h):
    parts = ["disk", "create", "--resource-group", p["resource_group"], "--name", p["name"]]
    if p.get("size_gb") is not None:
        parts += ["--size-gb", p["size_gb"]]
    parts += ["--sku", p.get("sku") or "Premium_LRS"]
    if p.get("source"):
        parts += ["--source", _name_of(p["source"])]
    if p.get("os_type"):
        parts += ["--os-type", p["os_type"]]
    return az(*parts, *_disk_common(p))


def _update_disk(e, p, h):
    parts = ["disk", "update", "--resource-group", _rg(e, "disk", p["name"], p.get("resource_group")),
             "--name", p["name"]]
    if p.get("size_gb") is not None:
        parts += ["--size-gb", p["size_gb"]]
    if p.get("sku"):
        parts += ["--sku", p["sku"]]
    return az(*parts, *_disk_common(p))


def _delete_res(kind, group):
    def fmt(e, p, h):
        parts = [group, "delete", "--resource-group", _rg(e, kind, p["name"], p.get("resource_group")),
                 "--name", p["name"]]
        if kind in ("disk", "vm"):
            parts.append("--yes")
        return az(*parts)
    return fmt


def _create_snapshot(e, p, h):
    parts = ["snapshot", "create", "--resource-group", p["resource_group"], "--name", p["name"],
             "--source", _name_of(p["source"])]
    if p.get("sku"):
        parts += ["--sku", p["sku"]]
    return az(*parts, *_disk_common(p))


def _create_image(e, p, h):
    parts = ["image", "create", "--resource-group", p["resource_group"], "--name", p["name"],
             "--source", _name_of(p["source"])]
    if p.get("os_type"):
        parts += ["--os-type", p["os_type"]]
    if p.get("location"):
        parts += ["--location", p["location"]]
    return az(*parts)


def _create_vm(e, p, h):
    parts = ["vm", "create", "--resource-group", p["resource_group"], "--name", p["name"],
             "--image", p.get("image") or "Ubuntu2204", "--size", p.get("size") or "Standard_DS3_v2"]
    if p.get("location"):
        parts += ["--location", p["location"]]
    if p.get("os_disk_name"):
        parts += ["--os-disk-name", p["os_disk_name"]]
    if p.get("os_disk_size_gb"):
        parts += ["--os-disk-size-gb", p["os_disk_size_gb"]]
    if p.get("os_disk_encryption_set"):
        parts += ["--os-disk-encryption-set", _name_of(p["os_disk_encryption_set"])]
    if p.get("data_disk_sizes_gb"):
        parts += ["--data-disk-sizes-gb", *p["data_disk_sizes_gb"]]
    if p.get("data_disk_encryption_sets"):
        parts += ["--data-disk-encryption-sets", *[_name_of(x) for x in p["data_disk_encryption_sets"]]]
    sku = p.get("storage_sku")
    if sku:
        parts += ["--storage-sku", *(sku if isinstance(sku, list) else [sku])]
    if p.get("ultra_ssd_enabled"):
        parts += ["--ultra-ssd-enabled", "true"]
    if p.get("encryption_at_host"):
        parts += ["--encryption-at-host", "true"]
    if p.get("admin_username") and p["admin_username"] != "azureuser":
        parts += ["--admin-username", p["admin_username"]]
    return az(*parts)


def _vm_verb(verb):
    return lambda e, p, h: az("vm", verb, "--resource-group", _rg(e, "vm", p["name"], p.get("resource_group")),
                              "--name", p["name"])


def _update_vm(e, p, h):
    parts = ["vm", "update", "--resource-group", _rg(e, "vm", p["name"], p.get("resource_group")), "--name", p["name"]]
    if p.get("size"):
        parts += ["--size", p["size"]]
    if p.get("ultra_ssd_enabled") is not None:
        parts += ["--ultra-ssd-enabled", _tf(p["ultra_ssd_enabled"])]
    if p.get("encryption_at_host") is not None:
        parts += ["--set", f"securityProfile.encryptionAtHost={_tf(p['encryption_at_host'])}"]
    return az(*parts)


def _attach(e, p, h):
    parts = ["vm", "disk", "attach", "--resource-group", _rg(e, "vm", p["vm_name"], p.get("resource_group")),
             "--vm-name", p["vm_name"], "--name", _name_of(p["disk"])]
    if p.get("lun") is not None:
        parts += ["--lun", p["lun"]]
    if p.get("new"):
        parts += ["--new", "--size-gb", p.get("size_gb") or 32]
        if p.get("sku"):
            parts += ["--sku", p["sku"]]
    return az(*parts)


def _detach(e, p, h):
    return az("vm", "disk", "detach", "--resource-group", _rg(e, "vm", p["vm_name"], p.get("resource_group")),
              "--vm-name", p["vm_name"], "--name", _name_of(p["disk"]))


def _vm_write(e, p, h):
    data = p["data"]
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else str(data)
    return join(CMKLAB, ["vm", "write", "--resource-group", _rg(e, "vm", p["vm_name"], p.get("resource_group")),
                         "--name", p["vm_name"], "--lun", p["lun"], "--offset", p["offset"], "--data", text])


def _vm_read(e, p, h):
    return join(CMKLAB, ["vm", "read", "--resource-group", _rg(e, "vm", p["vm_name"], p.get("resource_group")),
                         "--name", p["vm_name"], "--lun", p["lun"], "--offset", p["offset"], "--length", p["length"]])


def _advance(e, p, h):
    delta = p["delta"]
    if not isinstance(delta, str):
        from engine.clock import format_duration

        delta = format_duration(delta).replace(" ", "")
    return join(CMKLAB, ["clock", "advance", delta])


def _run_due(e, p, h):
    return join(CMKLAB, ["clock", "advance", "1s"])


_FORMATTERS = {
    "create_group": _create_group,
    "delete_group": _delete_group,
    "create_vault": _create_vault,
    "update_vault": _update_vault,
    "delete_vault": _vault_verb("delete"),
    "recover_vault": _vault_verb("recover"),
    "purge_vault": _vault_verb("purge"),
    "set_policy": _set_policy,
    "delete_policy": _delete_policy,
    "create_role_assignment": _create_role,
    "delete_role_assignment": _delete_role,
    "create_key": _create_key,
    "import_key": _import_key,
    "rotate_key": _key_verb("rotate"),
    "set_key_attributes": _set_key_attributes,
    "delete_key": _key_verb("delete"),
    "recover_key": _key_verb("recover"),
    "purge_key": _key_verb("purge"),
    "set_rotation_policy": _rotation_policy,
    "create_des": _create_des,
    "update_des": _update_des,
    "delete_des": _delete_des,
    "create_disk": _create_disk,
    "update_disk": _update_disk,
    "delete_disk": _delete_res("disk", "disk"),
    "create_snapshot": _create_snapshot,
    "delete_snapshot": _delete_res("snapshot", "snapshot"),
    "create_image": _create_image,
    "delete_image": _delete_res("image", "image"),
    "create_vm": _create_vm,
    "start_vm": _vm_verb("start"),
    "stop_vm": _vm_verb("stop"),
    "deallocate_vm": _vm_verb("deallocate"),
    "restart_vm": _vm_verb("restart"),
    "delete_vm": _delete_res("vm", "vm"),
    "update_vm": _update_vm,
    "attach_disk": _attach,
    "detach_disk": _detach,
    "vm_write": _vm_write,
    "vm_read": _vm_read,
    "advance_clock": _advance,
    "run_due_jobs": _run_due,
}


def script(entries: Iterable[tuple[bool, list[str], str | None]], *, header: str | None = None,
           replay: list[str] | None = None) -> str:
    """A bash script that replays the successful commands; refused ones are kept as comments.

    ``replay``: the shell lines that replay it (a new home with the same starting landscape, then this
    script), written in the header as comments; without it, a generic suggestion."""
    out = ["#!/usr/bin/env bash", "# Recorded by the cmklab console: replays this session with `cmklab az`."]
    if replay:
        out += ["# Replay it on a new home that starts from the same landscape:"] + [f"#   {ln}" for ln in replay]
    else:
        out += ["# Run it against a store with the same starting landscape, e.g.:",
                "#   CMKLAB_HOME=$(mktemp -d) CMKLAB_SEED=1 bash this-script.sh"]
    out += ["set -euo pipefail", ""]
    if header:
        out += [f"# {line}" for line in header.splitlines()] + [""]
    for ok, lines, error in entries:
        for line in lines:
            out.append(line if ok else f"# refused ({error}): {line}")
    return "\n".join(out) + "\n"
