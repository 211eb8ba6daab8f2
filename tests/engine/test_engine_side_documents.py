"""The facade's side documents (the workshop lab's progress): read and written through the engine, delegated to
its store, refused read-only by the store's read-only path; no action, no commit, no journal line."""

from __future__ import annotations

import pytest

from engine import ACTIONS, Engine
from engine.errors import ReadOnly

LAB = {"scenario": "disable-key", "step": 1, "completed": []}


def test_the_engine_reads_and_writes_its_stores_side_document():
    e = Engine.in_memory(seed=1)
    assert e.read_side("scenario") is None and e.side_signature("scenario") is None
    commits, generation = e.store.commits, e.store.generation
    e.write_side("scenario", LAB)
    assert e.store.read_side("scenario") == LAB == e.read_side("scenario")
    assert e.side_signature("scenario") == e.store.side_signature("scenario") is not None
    assert (e.store.commits, e.store.generation, e.store.logs) == (commits, generation, {})  # not the state
    assert not {"read_side", "write_side", "side_signature"} & set(ACTIONS)  # and no action


def test_a_read_only_engine_refuses_the_write_and_the_document_is_unchanged():
    e = Engine.in_memory(seed=1)
    e.write_side("scenario", LAB)
    e.set_read_only()
    with pytest.raises(ReadOnly, match="saving the scenario document was refused"):
        e.write_side("scenario", dict(LAB, step=2))
    assert e.read_side("scenario") == LAB


def test_an_unknown_side_document_is_refused():
    e = Engine.in_memory(seed=1)
    with pytest.raises(ValueError, match="unknown side document 'notes'"):
        e.write_side("notes", {})
