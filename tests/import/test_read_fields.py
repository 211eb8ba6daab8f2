"""A list of items is parsed into the fields the import reads alone (engine.twin.READ_FIELDS): the twin built
from it is the one the whole parse gives, and a field of another type than that shape's makes the file be
parsed whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine import twin

FIXTURES = Path(__file__).parent / "fixtures"
NOW = "2026-01-01T00:00:00+00:00"


def _whole(raw: bytes):
    """The file parsed whole, as json.loads gives it."""
    return json.loads(raw)


def _outcome(docs: list[tuple[str, object]]) -> tuple:
    plan = twin.prepare(docs, now=NOW, partial=True)
    models = {name: [m.to_doc() for m in getattr(plan, name)]
              for name in ("groups", "vaults", "roles", "keys", "des", "vms", "scalesets")}
    models["disks"] = [(r.to_doc(), d.id if d is not None else None) for r, d in plan.disks]
    return plan.report.to_dict(), plan.report.skipped, plan.report.notes, models


def _inputs() -> list[tuple[str, bytes]]:
    files = [(p.name, p.read_bytes()) for p in sorted(FIXTURES.glob("*.json"))]
    graph = json.loads((FIXTURES / "graph-query.json").read_text())
    # the Resource Graph's items (REST shapes, under "properties") as one list, and a list of its pages
    files.append(("graph-items.json", json.dumps(graph["data"], indent=2).encode()))
    files.append(("graph-pages.json", json.dumps([graph]).encode()))
    return files


def test_the_fixtures_lists_are_parsed_into_the_read_fields():
    lists = [(name, raw) for name, raw in _inputs() if raw.lstrip()[:1] == b"["]
    assert {"disk-list.json", "vm-list-d.json", "graph-items.json", "graph-pages.json"} <= {n for n, _ in lists}
    for name, raw in lists:
        items = twin.parse_text(raw, name)
        assert all(set(item) <= set(twin.READ_FIELDS) for item in items if item is not None), name
    vm = next(v for v in twin.parse_text((FIXTURES / "vm-list-d.json").read_bytes())
              if v["storageProfile"]["dataDisks"])
    assert "networkProfile" not in vm and "caching" not in vm["storageProfile"]["osDisk"]
    assert set(vm["storageProfile"]["dataDisks"][0]) == {"lun", "managedDisk"}
    assert set(vm["storageProfile"]["osDisk"]["managedDisk"]) == {"id"}
    assert set(vm["storageProfile"]["imageReference"]) <= {"id", "publisher", "offer", "sku", "version"}
    assert set(vm["hardwareProfile"]) == {"vmSize"}
    disk = twin.parse_text((FIXTURES / "disk-list.json").read_bytes())[0]
    assert set(disk["sku"]) == {"name"} and set(disk["encryption"]) <= {"diskEncryptionSetId", "type"}


@pytest.mark.parametrize("graph", [False, True], ids=["az lists", "resource graph"])
def test_the_twin_is_the_one_the_whole_parse_gives(graph):
    """Every fixture (files as az prints them: every field az prints), planned from the read fields and from
    the whole parse: the same models, the same report. A field the planner reads and READ_FIELDS lacks would
    be missing from the first, and the two would differ."""
    inputs = [(n, raw) for n, raw in _inputs() if (n.startswith("graph-items") if graph else not n.startswith("graph"))]
    read = [(name, twin.parse_text(raw, name)) for name, raw in inputs]
    whole = [(name, _whole(raw)) for name, raw in inputs]
    assert read != whole  # (fields were left out: the comparison below is not of equal inputs)
    assert _outcome(read) == _outcome(whole)


def test_every_field_the_planner_names_is_a_read_field():
    """The fields engine/twin.py reads off an item by name (item.get("x"), item["x"], _g(item, "x", ...),
    _g1/_g2(item, props, "x", ...), get(item, "x"), the identity fields of duplicates) are all read fields."""
    source = Path(twin.__file__).read_text()
    named = set(re.findall(r'\bitem(?:\.get\(|\[)"(\w+)"', source))
    named |= set(re.findall(r'_g[12]?\(item, (?:props, )?"(\w+)"', source))
    named |= set(re.findall(r'\bget\(item, "(\w+)"', source))
    named |= {f.split(".")[0] for fields in twin._IDENTITY_FIELDS.values() for f in fields}
    assert len(named) > 40
    assert named - set(twin.READ_FIELDS) == set()


def test_a_field_of_another_type_than_the_shape_makes_the_file_parsed_whole():
    vms = json.loads((FIXTURES / "vm-list-d.json").read_text())
    vms[0]["storageProfile"]["dataDisks"] = "not a list"
    vms[0]["networkProfile"]["kept"] = True
    items = twin.parse_text(json.dumps(vms).encode())
    assert items[0]["storageProfile"]["dataDisks"] == "not a list" and items[0]["networkProfile"]["kept"] is True
    assert items == vms


def test_what_the_whole_parse_refuses_in_a_read_field_is_refused():
    raw = json.dumps([{"id": "/subscriptions/x", "name": "d"}]).replace('"d"}', '"d", "diskSizeGb": 1e400}')
    with pytest.raises(twin.ImportInputError, match="1e400: not a finite number"):
        twin.parse_text(raw.encode(), "disks.json")
    with pytest.raises(twin.ImportInputError, match="NaN: not a finite number"):
        twin.parse_text(b'[{"id": "/subscriptions/x", "name": "d", "networkProfile": NaN}]', "vms.json")
