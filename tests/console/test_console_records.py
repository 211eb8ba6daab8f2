"""The console's records (its Textual messages among them) are engine/_light.py's, the project's one record
mechanism, and a message made that way still works as a Textual message."""

from __future__ import annotations

import re
from pathlib import Path

from textual.app import App

from console.messages import ActionDone, ActionFailed, ExternalChange

ROOT = Path(__file__).resolve().parents[2]


def test_no_module_of_the_project_uses_stdlib_dataclasses():
    users = [str(p.relative_to(ROOT)) for top in ("console", "engine", "store") for p in (ROOT / top).rglob("*.py")
             if re.search(r"^\s*(from dataclasses import|import dataclasses)", p.read_text(), re.M)]
    assert users == []


def test_messages_are_light_records_with_their_fields_and_defaults():
    done = ActionDone("disable", "set_key_attributes", 1, 7)
    assert ActionDone.__light_fields__ == ("label", "method", "result", "seq", "events", "log")
    assert (done.events, done.log) == ([], [])
    assert done.events is not ActionDone("a", "b", None, 1).events  # a fresh list each
    assert done == ActionDone("disable", "set_key_attributes", 1, 7)
    assert ActionFailed("x", "m", ValueError("boom"), 2).text == "boom"
    assert ExternalChange().can_replace(ExternalChange())


async def test_a_light_message_is_posted_and_handled():
    got: list = []

    class Probe(App):
        def on_action_done(self, message: ActionDone) -> None:
            got.append((message.label, message.seq, message.log, message.time > 0))

    app = Probe()
    async with app.run_test() as pilot:
        app.post_message(ActionDone("label", "method", None, 3, log=[(["az x"], True, None)]))
        await pilot.pause()
    assert got == [("label", 3, [(["az x"], True, None)], True)]
