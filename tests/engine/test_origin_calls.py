"""Inside ``Engine.acting_as(principal, origin)`` (the endpoint serving a real client), each journal line an
action writes names the engine call that wrote it (``origin["call"]``: its number in the block, the action and
its arguments), so that another process can say what the request did. The note is JSON, bounded, and never
holds a secret."""

from __future__ import annotations

import json
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engine.actions import NOTE_LIMIT, call_note

APP = "00000000-0000-4000-8000-0000000000a1"


def _origin(seq: str = "1.1") -> dict:
    return {"via": "endpoint", "principal": APP, "name": "app1", "request": "PUT https://x", "seq": seq}


def _lines(e, since: int):
    events, audit, _ = e.journal_since(since)
    return [(x.type, x.data.get("origin")) for x in events] + [(a.operation, a.__dict__.get("origin")) for a in audit]


def test_each_action_of_a_block_notes_its_call_and_nested_actions_are_part_of_it(e, kit):
    kid, _ = kit.basic(e)
    kit.vm(e, "vm1")
    cursor = e.journal_cursor()
    origin = _origin()
    with e.acting_as(APP, origin):
        e.update_disk(e.list_disks()[0].name, kit.RG, tags={"by": "sdk"})
        e.restart_vm("vm1", kit.RG)  # restarts through the VM backend's own steps: one call
    assert origin == _origin()  # the caller's note is its own: the block worked on a copy
    calls = {}
    for kind, note in _lines(e, cursor):
        assert note is not None and note["seq"] == "1.1", kind
        calls.setdefault(note["call"]["n"], note["call"])
    assert [(c["action"], sorted(c["args"])) for _, c in sorted(calls.items())] == [
        ("update_disk", ["name", "resource_group", "tags"]), ("restart_vm", ["name", "resource_group"])]
    assert calls[1]["args"]["tags"] == {"by": "sdk"}
    # outside the block, nothing is noted
    cursor = e.journal_cursor()
    e.stop_vm("vm1", kit.RG)
    assert all(note is None for _, note in _lines(e, cursor))


def test_a_note_never_holds_key_material_a_password_or_a_secret_property(e, kit):
    kit.vault(e)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.BestAvailableEncryption(b"pw-secret"))
    cursor = e.journal_cursor()
    with e.acting_as(APP, _origin()):
        e.import_key("kv1", "byok", pem, password=b"pw-secret")
    text = json.dumps([note for _, note in _lines(e, cursor)])
    assert "import_key" in text and "pw-secret" not in text and "PRIVATE" not in text
    note = json.loads(text)[0]["call"]
    assert note["args"] == {"vault": "kv1", "name": "byok"} and sorted(note["omitted"]) == ["password", "pem"]
    # a secret inside an object argument is dropped, at any depth; what JSON cannot say is left out
    f = type(e).update_vm
    note = call_note(f, "update_vm", ("vm1",), {"props": {"osProfile": {"adminPassword": "x", "computerName": "c"},
                                                            "extensions": [{"protectedSettings": {"k": 1}}]}})
    assert note["args"]["props"] == {"osProfile": {"computerName": "c"}, "extensions": [{}]}


def test_a_note_is_bounded(e):
    f = type(e).create_group
    note = call_note(f, "create_group", ("rg-big", "eastus"), {"tags": {f"t{i}": "v" * 200 for i in range(100)}})
    assert len(json.dumps(note)) < NOTE_LIMIT + 200
    assert note["args"] == {"name": "rg-big", "location": "eastus"} and note["omitted"] == ["tags"]


def test_an_action_of_another_thread_during_a_block_is_not_noted_as_the_blocks(e, kit):
    """The block holds the engine's lock: another thread's action waits for it, and is not the request's."""
    kit.vault(e)
    cursor = e.journal_cursor()
    started = threading.Event()

    def other():
        started.set()
        e.create_key("kv1", "k-other")

    with e.acting_as(APP, _origin()):
        t = threading.Thread(target=other)
        t.start()
        started.wait(10)
        e.create_key("kv1", "k-request")
    t.join(30)
    lines = _lines(e, cursor)
    noted = {(note or {}).get("call", {}).get("args", {}).get("name") for _, note in lines}
    assert "k-request" in noted and "k-other" not in noted
    assert any(note is None for _, note in lines)  # the other thread's lines carry no origin
