"""Dump the Azure CLI's own parser for every az command cmklab implements: tests/reference/az_commands.json.

    python tests/reference/dump_az.py   # makes $CMKLAB_AZCLI_VENV or /tmp/azcli-venv (azure-cli==AZ_VERSION) if missing

azure-cli pins its own dependencies, so it lives in its own virtual environment, never in cmklab's. The script
re-runs itself there (``--inside``), loads each command as ``az`` itself does when it is invoked (command table,
arguments, the events that add ``--ids`` and ``--subscription``, the parser), and writes, per command:

* ``options``: each argument az's parser accepts: its option strings, dest, whether it is required, its choices,
  nargs, whether it is hidden (help suppressed), and its help group;
* ``output``: how az builds what it prints: ``aaz`` (an AAZ command: the service's JSON, flattened, REST names,
  only the fields present) with ``fields``, the tree of names its response schema allows; or ``sdk`` (a custom
  command returning an SDK model that az's ``todict`` prints: every attribute, nulls kept, Python attribute
  names camel-cased) with the model's class when the dump can tell it.

The JSON is checked in: tests/cli/test_cli_az_reference.py compares cmklab's commands with it, and the shape test
uses the AAZ trees. Rerun this script when az's version moves (AZ_VERSION).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

AZ_VERSION = "2.91.0"
VENV = Path(os.environ.get("CMKLAB_AZCLI_VENV", "/tmp/azcli-venv"))
"""The same environment as .ci/install-azcli's (the endpoint's az test)."""
OUT = Path(__file__).with_name("az_commands.json")


def implemented() -> list[str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from console.cli import spec

    spec.load_all()
    return sorted(p[3:] for p in spec.COMMANDS if p.startswith("az "))


def ensure_venv() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(py), "-c", "import azure.cli.core, sys; print(azure.cli.core.__version__)"],
                           capture_output=True, text=True)
    if probe.stdout.strip() != AZ_VERSION:
        subprocess.run([str(py), "-m", "pip", "install", "-q", f"azure-cli=={AZ_VERSION}"], check=True)
    return py


# ---- inside azure-cli's venv ------------------------------------------------------------------------------


def _aaz_fields(schema, depth: int = 0):
    """The names an AAZ schema prints with ``client_flatten``: a dict name -> subtree (None for a leaf)."""
    from azure.cli.core.aaz._field_type import AAZDictType, AAZListType, AAZObjectType

    if depth > 12:
        return None
    if isinstance(schema, (AAZListType, AAZDictType)):
        element = schema.Element if getattr(schema, "_element", None) is not None else None
        sub = _aaz_fields(element, depth + 1) if element is not None else None
        return {"[]" if isinstance(schema, AAZListType) else "{}": sub}
    if not isinstance(schema, AAZObjectType):
        return None
    out: dict = {}
    fields = dict(schema._fields)
    for disc in (getattr(schema, "_discriminators", None) or {}).values():
        fields.update(getattr(disc, "_fields", {}))
    for name, field in fields.items():
        sub = _aaz_fields(field, depth + 1)
        if field._flags.get("client_flatten") and isinstance(sub, dict):
            out.update(sub)
        else:
            out[field._serialized_name or name] = sub
    return out


def _aaz_output(command_cls):
    """The response schema of an AAZ command's GET/PUT/PATCH: the ``_schema_on_200`` (or 200_201) of its operation."""
    import inspect

    trees = []
    for _, member in inspect.getmembers(command_cls, inspect.isclass):
        for attr in ("_build_schema_on_200", "_build_schema_on_200_201"):
            builder = getattr(member, attr, None)
            if builder is None:
                continue
            try:
                member_schema = builder()
            except Exception:
                continue
            fields = _aaz_fields(member_schema)
            if isinstance(fields, dict) and set(fields) == {"value", "nextLink"} and fields["value"]:
                fields = fields["value"]["[]"]
            if isinstance(fields, dict):
                trees.append(fields)
    if not trees:
        return None
    merged: dict = {}
    for t in trees:
        merged.update(t)
    return merged


AAZ_BEHIND_CUSTOM = {
    # custom commands that return an AAZ command's output (azure/cli/command_modules/vm/custom.py)
    "vm show": "azure.cli.command_modules.vm.operations.vm.VMShow",
    "vm get-instance-view": "azure.cli.command_modules.vm.operations.vm.VMShow",
    "vm list": "azure.cli.command_modules.vm.aaz.latest.vm.List",
    "vm update": "azure.cli.command_modules.vm.aaz.latest.vm.Create",
    "vm disk attach": "azure.cli.command_modules.vm.aaz.latest.vm.Create",
    "vm disk detach": "azure.cli.command_modules.vm.aaz.latest.vm.Create",
    # create_managed_disk, create_snapshot and create_image end in the AAZ Create command of their kind
    "disk create": "azure.cli.command_modules.vm.aaz.latest.disk.Create",
    "snapshot create": "azure.cli.command_modules.vm.aaz.latest.snapshot.Create",
    "image create": "azure.cli.command_modules.vm.aaz.latest.image.Create",
    # get_vmss_by_aaz, update_vmss, scale_vmss, get_instances_list end in AAZ commands (operations/vmss.py)
    "vmss show": "azure.cli.command_modules.vm.operations.vmss.VMSSShow",
    "vmss update": "azure.cli.command_modules.vm.operations.vmss.VMSSCreate",
    "vmss scale": "azure.cli.command_modules.vm.operations.vmss.VMSSCreate",
    "vmss list-instances": "azure.cli.command_modules.vm.operations.vmss.VMSSListInstances",
}
SDK_MODELS = {
    # custom commands that return an SDK model, printed by az's todict (API versions: azure/cli/core/profiles)
    "keyvault create": "azure.mgmt.keyvault.models.Vault",
    "keyvault show": "azure.mgmt.keyvault.models.Vault",
    "keyvault update": "azure.mgmt.keyvault.models.Vault",
    "keyvault set-policy": "azure.mgmt.keyvault.models.Vault",
    "keyvault delete-policy": "azure.mgmt.keyvault.models.Vault",
    "keyvault recover": "azure.mgmt.keyvault.models.Vault",
    "keyvault show-deleted": "azure.mgmt.keyvault.models.DeletedVault",
    "keyvault list-deleted": "azure.mgmt.keyvault.models.DeletedVault",
}


def _import(path: str):
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def dump_one(words: str) -> dict | None:
    from azure.cli.core import get_default_cli
    from azure.cli.core.commands import events
    from knack import events as knack_events

    cli = get_default_cli()
    inv = cli.invocation_cls(cli_ctx=cli, parser_cls=cli.parser_cls, commands_loader_cls=cli.commands_loader_cls,
                             help_cls=cli.help_cls)
    cli.invocation = inv
    args = words.split()
    loader = inv.commands_loader
    loader.load_command_table(args)
    if words not in loader.command_table:
        return None  # a command of cmklab's own (keyvault key wrap-key): az has no parser to dump
    inv.data["command_string"] = words
    loader.command_table = {words: loader.command_table[words]}
    loader.command_name = words
    cli.raise_event(events.EVENT_INVOKER_PRE_LOAD_ARGUMENTS, commands_loader=loader)
    loader.load_arguments(words)
    cli.raise_event(events.EVENT_INVOKER_POST_LOAD_ARGUMENTS, commands_loader=loader)
    cli.raise_event(knack_events.EVENT_INVOKER_POST_CMD_TBL_CREATE, commands_loader=loader)
    inv.parser.cli_ctx = cli
    inv.parser.load_command_table(loader)
    parser = inv.parser.subparser_map[words]
    groups = {id(a): g.title for g in parser._action_groups for a in g._group_actions}
    options = []
    for action in parser._actions:
        if not action.option_strings:
            continue
        options.append({
            "options": list(action.option_strings),
            "dest": action.dest,
            "required": bool(action.required),
            "choices": [str(c) for c in action.choices] if action.choices else None,
            "nargs": action.nargs if action.nargs is None or isinstance(action.nargs, (int, str)) else str(action.nargs),
            "hidden": action.help == "==SUPPRESS==",
            "group": groups.get(id(action)),
        })
    cmd = loader.command_table[words]
    out: dict = {"options": options}
    from azure.cli.core.aaz import AAZCommand

    if isinstance(cmd, AAZCommand):
        cls = type(cmd)
        out["output"] = {"kind": "aaz", "class": f"{cls.__module__}.{cls.__qualname__}", "fields": _aaz_output(cls)}
    elif words in AAZ_BEHIND_CUSTOM:
        cls = _import(AAZ_BEHIND_CUSTOM[words])
        out["output"] = {"kind": "aaz", "class": AAZ_BEHIND_CUSTOM[words], "fields": _aaz_output(cls)}
    else:
        out["output"] = {"kind": "sdk", "model": SDK_MODELS.get(words)}
        if words in SDK_MODELS:
            import azure.mgmt.keyvault

            _import(SDK_MODELS[words])  # the model exists in the SDK az ships
            out["output"]["sdk"] = {"azure-mgmt-keyvault": azure.mgmt.keyvault.VERSION}
    return out


def all_names(groups: set[str]) -> list[str]:
    """Every command az has under these top-level groups (the whole command table, loaded as ``az --help`` does)."""
    from azure.cli.core import get_default_cli

    cli = get_default_cli()
    inv = cli.invocation_cls(cli_ctx=cli, parser_cls=cli.parser_cls, commands_loader_cls=cli.commands_loader_cls,
                             help_cls=cli.help_cls)
    cli.invocation = inv
    inv.commands_loader.load_command_table(None)
    return sorted(c for c in inv.commands_loader.command_table if c.split()[0] in groups)


def inside(words: list[str]) -> None:
    import azure.cli.core

    result = {"azure-cli": azure.cli.core.__version__, "commands": {}}
    for w in words:
        dumped = dump_one(w)
        if dumped is not None:
            result["commands"][w] = dumped
    result["names"] = all_names({w.split()[0] for w in words})
    json.dump(result, sys.stdout, indent=1, sort_keys=True)


NAMES = Path(__file__).resolve().parents[2] / "console" / "cli" / "az_names.py"
"""az's command names under cmklab's top-level groups, for the CLI's "not supported by cmklab" answer."""


def write_names(version: str, names: list[str]) -> None:
    body = "".join(f'    "{n}",\n' for n in names)
    NAMES.write_text(f'''"""The commands az {version[:4]} has in the top-level groups cmklab covers, so that a command az has and cmklab does not is
said to be not supported by cmklab (exit 2), not misspelled. Written by ``tests/reference/dump_az.py`` from az's own
command table; do not edit by hand."""

AZ_VERSION = "{version}"

AZ_COMMANDS = frozenset({{
{body}}})
''')


def main() -> None:
    if "--inside" in sys.argv:
        inside(sys.argv[sys.argv.index("--inside") + 1:])
        return
    py = ensure_venv()
    words = implemented()
    run = subprocess.run([str(py), __file__, "--inside", *words], capture_output=True, text=True,
                         env={**os.environ, "AZURE_CONFIG_DIR": "/tmp/azcli-dump-config", "PYTHONPATH": ""})
    if run.returncode != 0:
        sys.stderr.write(run.stderr)
        raise SystemExit(run.returncode)
    data = json.loads(run.stdout)
    write_names(data["azure-cli"], data.pop("names"))
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    total = sum(len(c["options"]) for c in data["commands"].values())
    print(f"{OUT}: {len(data['commands'])} commands, {total} options (azure-cli {data['azure-cli']})")


if __name__ == "__main__":
    main()
