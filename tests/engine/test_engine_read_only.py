"""Read-only is a mode of the store: its commit and journal append refuse, so every action of an engine on it
is refused with one clear error and changes nothing, while queries and what-if previews work."""

from __future__ import annotations

import pytest

from engine import Engine
from engine.demo import build_demo
from engine.errors import ReadOnly
from engine.repository import MemoryStore


@pytest.fixture
def engine() -> Engine:
    e = Engine.in_memory(seed=1)
    build_demo(e)
    e.store.read_only = True
    return e


def test_the_store_itself_refuses_commits_and_journal_lines():
    store = MemoryStore(read_only=True)
    with pytest.raises(ReadOnly, match="opened read-only"):
        store.commit({"vaults": {"kv": {"name": "kv"}}}, {})
    with pytest.raises(ReadOnly):
        store.append_log([("audit", {"op": "KeyGet"})])
    assert store.load() == {} and store.logs == {}


@pytest.mark.parametrize("method,args", [
    ("stop_vm", ("vm-web", "rg-demo")),
    ("set_key_attributes", ("kv-demo", "key-3072")),
    ("advance_clock", ("1d",)),
    ("vm_write", ("vm-web", 0, 0, b"x")),
])
def test_every_action_is_refused_and_changes_nothing(engine, method, args):
    before = engine.store.load()
    commits = engine.store.commits
    with pytest.raises(ReadOnly) as err:
        getattr(engine, method)(*args)
    assert err.value.code == "ReadOnly"
    assert "what-if previews work" in err.value.message and "without --read-only" in err.value.message
    assert engine.store.load() == before and engine.store.commits == commits
    assert engine.get_vm("vm-web").power == "running"


def test_queries_and_previews_still_work_and_a_key_read_writes_no_audit_line(engine):
    lines = engine.store.journal_lines
    k, ver = engine.get_key("kv-demo", "key-3072")  # audits by default; a read-only store takes no line
    assert k.name == "key-3072" and engine.store.journal_lines == lines
    impact = engine.what_if("stop_vm", "vm-web", "rg-demo")
    assert impact.error is None and impact.vms_stopping == ["vm-web"]
    assert engine.read_only
