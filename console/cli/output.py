"""Output formats as knack (the Azure CLI's framework) writes them: json, jsonc, yaml, yamlc, table, tsv, none.

* json: sorted keys, indent 2, non-ASCII raw, a trailing newline;
* jsonc / yamlc: the same as json / yaml (az colours them only on a terminal);
* yaml: ``yaml.safe_dump`` with block style;
* table: az's ``_auto_table_item`` rules (skip ``id``/``type``/``etag``, drop null, list and dict values,
  capitalise the first letter, sort columns unless a transformer or ``--query`` is active) rendered as
  tabulate's ``simple`` format (two-space gaps, left-aligned, header width + 2);
* tsv: one line per top-level item; dict values in key order (``--query`` hashes keep their order),
  nested lists print their length, nested dicts print nothing, None prints ``None``;
* none: nothing.

A result of None prints nothing in every format.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Callable

from .errors import QUERY_REFERENCE, CLIError


def apply_query(result: Any, expression) -> Any:
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        return expression.search(result, jmespath.Options(dict_cls=OrderedDict))
    except JMESPathError as err:
        raise CLIError(f"Invalid jmespath query supplied for `--query`: {err}", [QUERY_REFERENCE]) from None


def format_result(result: Any, fmt: str, *, query_active: bool = False,
                  table: Callable[[Any], Any] | None = None) -> str:
    """The text az prints for ``result`` in format ``fmt`` ('' for nothing)."""
    if result is None or fmt == "none":
        return ""
    if fmt in ("json", "jsonc"):
        return format_json(result)
    if fmt in ("yaml", "yamlc"):
        return format_yaml(result)
    if fmt == "table":
        return format_table(result, query_active=query_active, transformer=table)
    if fmt == "tsv":
        return format_tsv(result)
    raise ValueError(fmt)


def format_json(result: Any) -> str:
    return json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False, separators=(",", ": ")) + "\n"


def format_yaml(result: Any) -> str:
    import yaml

    try:
        return yaml.safe_dump(result, default_flow_style=False, allow_unicode=True)
    except yaml.representer.RepresenterError:
        return yaml.safe_dump(json.loads(json.dumps(result)), default_flow_style=False, allow_unicode=True)


# ---- table ----------------------------------------------------------------------------------------------

_SKIP_KEYS = ("id", "type", "etag")


def _auto_table_item(item: Any, sort_keys: bool) -> OrderedDict:
    row: OrderedDict = OrderedDict()
    if isinstance(item, dict):
        keys = sorted(item) if sort_keys else list(item.keys())
        for k in keys:
            if k in _SKIP_KEYS:
                continue
            v = item[k]
            if v is not None and not isinstance(v, (list, dict, set)):
                row[k[:1].upper() + k[1:]] = v
    elif isinstance(item, list):
        for i, v in enumerate(item):
            row[f"Column{i + 1}"] = v
    else:
        row["Result"] = item
    return row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return str(value)


def tabulate_simple(rows: list[OrderedDict]) -> str:
    """tabulate(rows, headers="keys", tablefmt="simple", disable_numparse=True), as tabulate 0.10 (today's az's)
    prints it: every line without trailing blanks (its ``_build_simple_row`` strips each row's end)."""
    headers: list[str] = []
    for row in rows:
        for k in row:
            if k not in headers:
                headers.append(k)
    if not headers:
        return ""
    cols = [[_cell(row.get(h)) for row in rows] for h in headers]
    widths = [max([len(h) + 2] + [len(c) for c in col]) for h, col in zip(headers, cols)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    for i in range(len(rows)):
        lines.append("  ".join(col[i].ljust(w) for col, w in zip(cols, widths)))
    return "\n".join(line.rstrip() for line in lines)


def format_table(result: Any, *, query_active: bool = False, transformer: Callable[[Any], Any] | None = None) -> str:
    try:
        if transformer is not None and not query_active:
            result = transformer(result)
        items = result if isinstance(result, list) else [result]
        sort_keys = not query_active and transformer is None
        rows = [_auto_table_item(i, sort_keys) for i in items]
        text = tabulate_simple(rows) if rows else ""
        if text == "\n":
            raise ValueError("Unable to extract fields for table.")
        return text + "\n"
    except Exception:
        raise CLIError("Table output unavailable. Use the --query option to specify an appropriate query. "
                       "Use --debug for more info.") from None


# ---- tsv ------------------------------------------------------------------------------------------------


def _tsv_obj(value: Any) -> str:
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, dict):
        return ""
    return value if isinstance(value, str) else str(value)


def _tsv_row(item: Any) -> str:
    if isinstance(item, dict):
        values = list(item.values()) if isinstance(item, OrderedDict) else [v for _, v in sorted(item.items())]
        return "\t".join(_tsv_obj(v) for v in values)
    if isinstance(item, list):
        return "\t".join(_tsv_obj(v) for v in item)
    if isinstance(item, bool):
        return str(item).lower()
    return _tsv_obj(item)


def format_tsv(result: Any) -> str:
    items = result if isinstance(result, list) else [result]
    return "".join(_tsv_row(i) + "\n" for i in items)


# ---- az's table transformers ------------------------------------------------------------------------------


def transform_vm(result: Any) -> Any:
    def one(vm: dict) -> OrderedDict:
        row = OrderedDict()
        row["name"] = vm.get("name")
        row["resourceGroup"] = vm.get("resourceGroup")
        row["powerState"] = vm.get("powerState")
        row["publicIps"] = vm.get("publicIps")
        row["fqdns"] = vm.get("fqdns")
        row["location"] = vm.get("location")
        if "zones" in vm:
            row["zones"] = ",".join(vm["zones"]) if vm["zones"] else ""
        return row
    return [one(v) for v in result] if isinstance(result, list) else one(result)


def transform_instance_view(vm: dict) -> OrderedDict:
    statuses = (vm.get("instanceView") or {}).get("statuses") or []
    row = OrderedDict()
    row["Name"] = vm.get("name")
    row["ResourceGroup"] = vm.get("resourceGroup")
    row["Location"] = vm.get("location")
    row["ProvisioningState"] = vm.get("provisioningState")
    row["PowerState"] = statuses[1].get("displayStatus") if len(statuses) > 1 else None
    return row


def _disk_row(d: dict, size_key: str) -> OrderedDict:
    row = OrderedDict()
    row["Name"] = d.get("name")
    row["ResourceGroup"] = d.get("resourceGroup")
    row["Location"] = d.get("location")
    zones = d.get("zones")
    row["Zones"] = " ".join(zones) if zones else " "
    row["Sku"] = (d.get("sku") or {}).get("name")
    row["OsType"] = d.get("osType")
    row["SizeGb"] = d.get(size_key)
    row["ProvisioningState"] = d.get("provisioningState")
    return row


def transform_disk(result: Any) -> Any:
    if isinstance(result, list):
        return [_disk_row(d, "diskSizeGB") for d in result]
    return _disk_row(result, "diskSizeGB")


def transform_disk_create(result: dict) -> OrderedDict:
    return _disk_row(result, "diskSizeGB")  # az 2.91's disk create prints the AAZ shape too


def transform_group_list(result: list) -> list:
    out = []
    for g in result:
        row = OrderedDict()
        row["Name"] = g.get("name")
        row["Location"] = g.get("location")
        row["Status"] = (g.get("properties") or {}).get("provisioningState")
        out.append(row)
    return out


def transform_assignment_list(result: list) -> list:
    """az's role ``transform_assignment_list``: Principal, Role, Scope."""
    return [OrderedDict([("Principal", r.get("principalName")), ("Role", r.get("roleDefinitionName")),
                         ("Scope", r.get("scope"))]) for r in result]


def transform_vmss_list(result: list) -> list:
    """az's ``transform_vmss_list_with_zones_table_output`` (a JMESPath projection): Name, ResourceGroup, Location,
    Zones (a space when none), Capacity, Overprovision, UpgradePolicy; a null cell drops out as knack drops it."""
    out = []
    for s in result:
        zones = s.get("zones")
        out.append(OrderedDict([
            ("Name", s.get("name")), ("ResourceGroup", s.get("resourceGroup")), ("Location", s.get("location")),
            ("Zones", " ".join(zones) if zones else " "), ("Capacity", (s.get("sku") or {}).get("capacity")),
            ("Overprovision", s.get("overprovision")), ("UpgradePolicy", (s.get("upgradePolicy") or {}).get("mode")),
        ]))
    return out


def deployment_validate_table_format(result: Any) -> Any:
    """az's ``vm create`` table transformer: a deployment's result or error; anything else as it is (its key
    order kept: a command with a transformer is not sorted)."""
    if isinstance(result, dict) and result.get("error"):
        return OrderedDict([("result", result["error"].get("code")), ("message", result["error"].get("message"))])
    if isinstance(result, dict) and isinstance(result.get("properties"), dict):
        return OrderedDict([("result", result["properties"].get("provisioningState")),
                            ("correlationId", result["properties"].get("correlationId"))])
    return result
