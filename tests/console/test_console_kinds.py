"""One descriptor per kind of row (``console.kinds``): every pane's rows and every action's target have one, and
what the panels and the actions ask of it holds on the demo landscape."""

from __future__ import annotations

import pytest

from console.actions import OPS
from console.kinds import KINDS, azure_doc, cause_lines, display_name, kind_of, resolve
from console.rows import Ctx, Index
from console.screens.panes import PANE_BY_ID, PANES
from engine import Engine
from engine.demo import build_demo


@pytest.fixture(scope="module")
def demo():
    engine = Engine.in_memory(seed=1)
    build_demo(engine)
    ctx = Ctx(engine, Index(engine), [])
    return engine, ctx, {p.id: p.rows(ctx) for p in PANES}


def test_every_pane_and_every_action_target_has_a_descriptor():
    assert {p.kind for p in PANES} <= set(KINDS)
    assert {op.target for op in OPS if op.target is not None} <= set(KINDS)
    assert kind_of("no such kind").id == "" and display_name("no such kind", object()) == ""


def test_the_descriptors_name_explain_and_show_every_row(demo):
    engine, ctx, rows = demo
    for pane_id, objs in rows.items():
        kind = PANE_BY_ID[pane_id].kind
        for obj in objs[:5]:
            if kind not in ("audit", "event", "log"):
                assert display_name(kind, obj), (kind, obj)
            assert isinstance(azure_doc(engine, kind, obj), (dict, list)), (kind, obj)
            if kind != "log":
                assert cause_lines(engine, ctx.idx, kind, obj), (kind, obj)
    version = rows["versions"][0]
    key = version.key
    assert display_name("version", version) == f"{key.vault}/{key.name}/{version.version['version'][:8]}"


def test_an_action_aimed_at_a_vault_or_a_key_finds_it_from_the_row(demo):
    engine, _ctx, rows = demo
    version = rows["versions"][0]
    assert resolve(engine, "key", "version", version) is version.key
    assert resolve(engine, "vault", "version", version).name == version.key.vault
    key = rows["keys"][0]
    assert resolve(engine, "vault", "key", key).name == key.vault
    assert resolve(engine, "key", "key", key) is key
    access = rows["access"][0]
    assert resolve(engine, "vault", "access", access) is access.vault
    des = rows["sets"][0]
    assert resolve(engine, "vault", "des", des).id.lower() == des.source_vault_id.lower()
    disk = rows["disks"][0]
    assert resolve(engine, "vault", "disk", disk) is None  # a disk names no vault
    assert resolve(engine, None, "disk", disk) is None and resolve(engine, "disk", "disk", None) is None
    assert kind_of("des").principal(des) == des.principal_id
    assert kind_of("version").key_version(version) == version.kid


def test_a_vm_depends_on_the_keys_of_its_disks(demo):
    engine, _ctx, rows = demo
    vm = next(v for v in rows["vms"] if engine.vm_disks(v))
    spec = kind_of("vm")
    disks = engine.vm_disks(vm)
    assert spec.resources(engine, vm) == disks
    assert spec.kids(engine, vm) == [d.layers[0]["kid"] if d.layers else None for d in disks]
    disk = disks[0]
    assert kind_of("disk").resources(engine, disk) == [disk] and kind_of("disk").at_rest


def test_every_field_of_every_form_is_of_a_kind_the_form_draws(demo):
    from console.modals.form import FIELD_KINDS

    engine, ctx, rows = demo
    seen = set()
    for op in OPS:
        if op.form is None:
            continue
        targets = [None]
        if op.target is not None:
            pane = next(p for p in PANES if p.kind == op.target)
            targets = [o for o in rows[pane.id] if op.when(engine, o)][:1]
        for target in targets:
            spec = op.form(engine, target, (op.target, target))
            seen |= {f.kind for f in spec.fields}
    assert seen <= set(FIELD_KINDS)
    assert {"text", "int", "select", "switch"} <= seen  # the catalogue's forms use them all
