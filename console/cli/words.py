"""The command registry read backwards: an engine call said as the ``cmklab az ...`` line that does it.

The console's command log, its confirmations and form previews, and the replay script it exports all
come from here, so they come from the same specs as the parser (:mod:`console.cli.spec`): the command
that declares ``method`` says the call, each parameter becomes the flag of the argument it maps to
(``Command.params``; by default the argument of the same name), and the value is written as that
argument's kind is read (``true``/``false`` for a three-state flag, a list for ``nargs``, ``k=v`` for
tags). A call whose method no command declares, or whose parameter has no flag, is written as a
comment: ``tests/cli/test_cli_words.py`` walks every action of the engine and checks that its line
parses back to the same call.

Values that differ from one store to another (the current key version, a set's principal id, a
vault's ARM id) are written as shell substitutions that ask ``cmklab az`` for them, so that a script
recorded on one store replays on another. Nothing here imports textual or the engine.
"""

from __future__ import annotations

import inspect
import shlex
from typing import Any, Iterable

from . import spec

AZ = "cmklab az"
CMKLAB = "cmklab"


class Raw(str):
    """A piece of shell written as is (a ``"$(...)"`` substitution), never quoted."""


def join(prefix: str, parts: Iterable[Any]) -> str:
    out = [prefix]
    for p in parts:
        if p is None:
            continue
        out.append(str(p) if isinstance(p, Raw) else shlex.quote(str(p)))
    return " ".join(out)


class Unsayable(Exception):
    """A call that no command says (no command declares its method, or a parameter has no flag)."""


GETTERS = {
    "Microsoft.Compute/diskEncryptionSets": "get_des", "Microsoft.Compute/disks": "get_disk",
    "Microsoft.Compute/snapshots": "get_snapshot", "Microsoft.Compute/images": "get_image",
    "Microsoft.Compute/virtualMachines": "get_vm", "Microsoft.KeyVault/vaults": "get_vault",
    "Microsoft.Compute/virtualMachineScaleSets": "get_scale_set",
}
"""The facade getter of each ARM type a command's ``--ids`` names (to find a resource's group)."""


CONTAINERS = ("resource_group", "vault_name", "vm_name")
"""Said first, where they are flags of the command: what holds the resource (``--resource-group rg --name disk``,
``--vault-name kv --name key``), as az's own examples write them."""


class Words:
    """One call being said: the engine (for look-ups), the call's parameters and hints, and the ways a
    value becomes portable words (the ``(dest, how)`` entries of ``Command.params``)."""

    def __init__(self, engine, params: dict, hints: dict) -> None:
        self.engine = engine
        self.p = params
        self.hints = hints

    # ---- look-ups: a failed one falls back to what was given (the engine refuses it anyway) ---------------

    def group_of(self, getter: str, name: Any) -> str | None:
        """The resource group of the resource ``name`` that ``engine.<getter>`` finds."""
        try:
            return getattr(self.engine, getter)(name).resource_group
        except Exception:  # noqa: BLE001 - a refused look-up: say what we have
            return None

    # ---- transforms ----------------------------------------------------------------------------------

    def name(self, value: Any) -> Any:
        """An ARM id's last segment (the console passes ids or names; az takes either)."""
        if isinstance(value, str) and value.startswith("/"):
            return value.rstrip("/").rsplit("/", 1)[-1]
        if isinstance(value, (list, tuple)):
            return [self.name(v) for v in value]
        return value

    def key_url(self, url: str) -> Any:
        """A versioned key URL as a question to ``cmklab az``: the key's current version is
        ``"$(cmklab az keyvault key show ... --query key.kid)"``, an older one its place among the key's versions
        (:meth:`version_kid`); a version id is random, its place is what a replay on another home shares."""
        try:
            from engine.ids import parse_key_url

            ref = parse_key_url(url)
            k, ver = self.engine.key_by_url(url)
            if ref.version and ver is not None and ver["version"] == k.current["version"]:
                return self.ask(["keyvault", "key", "show", "--vault-name", k.vault, "--name", k.name,
                                 "--query", "key.kid"])
            if ref.version and ver is not None:
                return self.version_kid(k, ver["version"])
        except Exception:  # noqa: BLE001 - not a key of this store: the URL as given
            pass
        return url

    def version_kid(self, k, version: str) -> Any:
        """Version ``version`` of key ``k`` by its place (oldest first, as ``list-versions`` lists them):
        ``"$(cmklab az keyvault key list-versions ... --query "[1].kid")"``; the id when ``k`` has no such version."""
        order = [v["version"] for v in k.versions]
        if version not in order:
            return version
        return self.ask(["keyvault", "key", "list-versions", "--vault-name", k.vault, "--name", k.name,
                         "--query", f"[{order.index(version)}].kid"])

    def key_version(self, version: Any) -> dict:
        """``--version V`` of a key named by ``--vault-name``/``--name``, said as ``--id`` with the versioned key id
        asked by its place (:meth:`version_kid`), so that a replay finds the same version under another id."""
        if not version:
            return {}
        try:
            k, _ = self.engine.get_key(self.p["vault"], self.p["name"], audit=False)
        except Exception:  # noqa: BLE001 - not a key of this store: the version as given
            return {"version": version}
        kid = self.version_kid(k, str(version))
        if not isinstance(kid, Raw):
            return {"version": version}
        return {"id": kid, "vault_name": None, "name": None}

    def principal(self, oid: str) -> Any:
        """A set's principal id: ``"$(cmklab az disk-encryption-set show ... --query identity.principalId)"``."""
        oid_l = (oid or "").lower()
        for des in self.engine.list_des():
            if des.principal_id.lower() == oid_l:
                return self.ask(["disk-encryption-set", "show", "--name", des.name, "--resource-group",
                                 des.resource_group, "--query", "identity.principalId"])
        return oid

    def scope(self, scope: str) -> Any:
        """A vault's ARM id: ``"$(cmklab az keyvault show --name ... --query id)"``."""
        for v in self.engine.list_vaults(include_deleted=True):
            if v.id.lower() == (scope or "").lower():
                return self.ask(["keyvault", "show", "--name", v.name, "--query", "id"])
        return scope

    def secret(self, variable: str) -> Raw:
        """A value the log must never hold: the script reads it from the environment."""
        return Raw(f'"${{{variable}:?set {variable}}}"')

    @staticmethod
    def ask(words: list[str]) -> Raw:
        return Raw(f'"$({join(AZ, [*words, "-o", "tsv"])})"')


# ---- the registry, by method ---------------------------------------------------------------------------

_BY_METHOD: dict[str, list[spec.Command]] = {}


def command_for(method: str, params: dict | None = None) -> spec.Command | None:
    """The command that says calls of ``method``: with ``params``, the first declared whose ``when`` they
    match (``az vmss stop`` for ``scale_set_power(..., action="stop")``); without, the first declared."""
    if not _BY_METHOD:
        spec.load_all()
        for cmd in spec.COMMANDS.values():
            if cmd.method is not None:
                _BY_METHOD.setdefault(cmd.method, []).append(cmd)
    for cmd in _BY_METHOD.get(method, ()):
        if params is None or all(params.get(k) == v for k, v in cmd.when.items()):
            return cmd
    return None


def bind(engine, method: str, args: tuple, kwargs: dict) -> dict:
    """The engine method's parameters by name, defaults filled in."""
    ba = inspect.signature(getattr(engine, method)).bind(*args, **kwargs)
    ba.apply_defaults()
    return dict(ba.arguments)


def defaults(engine, method: str) -> dict:
    return {n: p.default for n, p in inspect.signature(getattr(engine, method)).parameters.items()
            if p.default is not inspect.Parameter.empty}


def say(engine, call: spec.Call) -> list[str]:
    """The command line(s) of ``call``; raises :class:`Unsayable` when no command says it."""
    if command_for(call.method) is None:
        raise Unsayable(f"no command declares method={call.method!r}")
    try:
        params = bind(engine, call.method, call.args, call.kwargs)
    except TypeError as err:
        raise Unsayable(f"{call.method}: {err}") from None
    cmd = command_for(call.method, params)
    if cmd is None:
        raise Unsayable(f"no command of {call.method} says {params}")
    w = Words(engine, params, dict(call.hints or {}))
    return [_line(cmd, engine, p, Words(engine, p, w.hints)) for p in (cmd.each(params, w) if cmd.each else [params])]


def _line(cmd: spec.Command, engine, params: dict, w: Words) -> str:
    base = defaults(engine, cmd.method)
    dests = {a.dest: a for a in cmd.args}
    values: dict[str, Any] = {}
    for name, value in params.items():
        if name.startswith("_"):
            continue
        how = cmd.params.get(name, name)
        if how is None:
            continue
        if callable(how):
            values.update(how(value, w))
            continue
        if value is None or (name in base and _same(value, base[name])):
            continue
        if isinstance(how, tuple):
            dest, transform = how
            value = getattr(w, transform)(value)
        else:
            dest = how
        values[dest] = value
    unknown = [d for d, v in values.items() if d not in dests and v is not None]
    if unknown:
        raise Unsayable(f"{cmd.path} has no argument for {', '.join(unknown)}")
    rtype = cmd.ids or cmd.resource_type
    needs_group = "resource_group" in cmd.ids_required or any(a.dest == "resource_group" and a.required
                                                                for a in cmd.args)
    if values.get("resource_group") is None and needs_group and rtype in GETTERS:
        values["resource_group"] = w.group_of(GETTERS[rtype], values.get(cmd.id_parts[1]))
    missing = [a.options[0] if a.options else a.dest for a in cmd.args
               if (a.required or a.dest in cmd.ids_required) and values.get(a.dest) is None]
    if missing:
        raise Unsayable(f"{cmd.path} requires {', '.join(missing)}, which the call does not give")
    if cmd.confirm and "yes" in dests:
        values["yes"] = True  # a script cannot answer az's prompt
    words = cmd.words
    root, words = (AZ, words[1:]) if words[0] == "az" else (CMKLAB, words[1:])
    parts: list[Any] = list(words)
    for arg in sorted(cmd.args, key=_rank):  # stable: containers first, then as declared
        if arg.dest in values:
            parts += _flag(arg, values[arg.dest])
    return join(root, parts)


def _rank(arg: spec.Arg) -> int:
    return CONTAINERS.index(arg.dest) if arg.dest in CONTAINERS else len(CONTAINERS)


def _same(value: Any, default: Any) -> bool:
    return type(value) is type(default) and value == default


def _flag(arg: spec.Arg, value: Any) -> list:
    if value is None:
        return []
    opt = arg.options[0] if arg.options else None
    if arg.kind == "store_true":
        return [opt] if value else []
    if arg.kind in ("flag3", "bool") and isinstance(value, bool):
        value = "true" if value else "false"
    if arg.kind == "tags" and isinstance(value, dict):
        items = [f"{k}={v}" if v else str(k) for k, v in value.items()]
        value = items or [""]
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    return ([opt] if opt else []) + values


def az_lines(engine, method: str, args: tuple = (), kwargs: dict | None = None,
             hints: dict | None = None) -> list[str]:
    """The command line(s) equivalent to ``engine.<method>(*args, **kwargs)``; call it before the action runs.
    Never raises: the log must never stop an action (a call no command says is written as a comment)."""
    try:
        return say(engine, spec.Call(method, tuple(args), dict(kwargs or {}), hints=dict(hints or {})))
    except Unsayable as err:
        return [f"# {method}: no az equivalent ({err})"]
    except Exception:  # noqa: BLE001
        return [f"# {method}(...)"]
