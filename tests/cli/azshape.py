"""az's output rules, as the oracle of cmklab's shapes (tests/cli/test_cli_shapes.py).

az 2.91 prints a command's result one of two ways (tests/reference/az_commands.json says which, per command;
every compute command, creates included, is AAZ; the keyvault management commands are SDK):

* ``sdk``: a custom command returns an Azure SDK model; az prints it through ``azure.cli.core.util.todict``: every
  attribute of the model (its ``__dict__``), null when unset, named by the Python attribute camel-cased
  (``disk_size_gb`` -> ``diskSizeGb``), ``additional_properties`` merged in, enums as values, datetimes ISO.
  :func:`sdk_round_trip` loads cmklab's JSON into that model and prints it back with those rules.
* ``aaz``: an AAZ command prints the service's JSON, flattened (``properties`` lifted), under the REST names
  (``diskSizeGB``), only the fields present. :func:`aaz_unknown` lists the keys its response schema does not have.

Either way az then adds ``resourceGroup`` to every dict whose ``id`` is a resource id (``_add_resource_group``).
"""

from __future__ import annotations

import importlib
import json
import re
from datetime import date, datetime, time, timedelta
from enum import Enum
from pathlib import Path

REFERENCE = json.loads((Path(__file__).parents[1] / "reference" / "az_commands.json").read_text())
CAMEL = re.compile("(?!^)_([a-zA-Z])")


def to_camel_case(name: str) -> str:
    return CAMEL.sub(lambda m: m.group(1).upper(), name)


def todict(obj):
    """az's ``todict`` with ``remove_additional_prop_layer`` (azure/cli/core/util.py, commands/__init__.py)."""
    if isinstance(obj, dict):
        return {k: todict(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [todict(a) for a in obj]
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (date, time, datetime)):
        return obj.isoformat()
    if isinstance(obj, timedelta):
        return str(obj)
    if getattr(obj, "_is_model", False):  # a TypeSpec-generated model keeps its data apart
        from azure.core.serialization import attribute_list, get_backcompat_attr_name

        return {to_camel_case(get_backcompat_attr_name(obj, a)): todict(getattr(obj, a)) for a in attribute_list(obj)
                if hasattr(obj, a)}
    if hasattr(obj, "__dict__"):
        result = {to_camel_case(k): todict(v) for k, v in obj.__dict__.items() if not callable(v)
                  and not k.startswith("_")}
        if isinstance(result.get("additionalProperties"), dict):
            result.update(result.pop("additionalProperties"))
        return result
    return obj


def add_resource_group(obj):
    """az's ``_add_resource_group`` (azure/cli/core/commands/transform.py)."""
    if isinstance(obj, list):
        for item in obj:
            add_resource_group(item)
    elif isinstance(obj, dict):
        rid = obj.get("id")
        if isinstance(rid, str) and "resourceGroup" not in obj:
            parts = rid.split("/")
            if len(parts) >= 5 and parts[3].lower() == "resourcegroups":
                obj["resourceGroup"] = parts[4]
        for k, v in obj.items():
            if k != "sourceVault" and isinstance(v, (dict, list)):
                add_resource_group(v)
    return obj


def model(path: str):
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _camel_extractor(attr, _desc, data):
    return data.get(to_camel_case(attr)) if isinstance(data, dict) else None


def sdk_round_trip(model_path: str, data: dict) -> dict:
    """cmklab's JSON loaded into the SDK model az returns, printed back as az prints it."""
    cls = model(model_path)
    if getattr(cls, "_is_model", False):  # TypeSpec: built from the JSON mapping itself
        obj = cls(data)
    else:
        obj = cls.from_dict(data, key_extractors=[_camel_extractor])
    return add_resource_group(todict(obj))


def aaz_unknown(data, tree, path: str = "", extensions: frozenset = frozenset()) -> list[str]:
    """Paths of keys in ``data`` that the AAZ response schema ``tree`` does not have (``[]``: list items,
    ``{}``: dict values; ``resourceGroup`` is az's own addition)."""
    out: list[str] = []
    if tree is None or data is None:
        return out
    if isinstance(data, list):
        sub = tree.get("[]") if isinstance(tree, dict) else None
        for item in data:
            out += aaz_unknown(item, sub, path + "[]", extensions)
        return out
    if not isinstance(data, dict):
        return out
    if set(tree) == {"{}"}:
        return out  # a free dict (tags): any key
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key == "resourceGroup" and "id" in data or where in extensions:
            continue
        if key not in tree:
            out.append(where)
        elif isinstance(value, (dict, list)):
            out += aaz_unknown(value, tree[key], where, extensions)
    return out


def output_of(command: str) -> dict:
    return REFERENCE["commands"][command]["output"]
