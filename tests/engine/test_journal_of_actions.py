"""Every action that changes state writes at least one journal line (an event or an audit entry) when a client
of the endpoint makes it, and that line names the call (``Engine.acting_as``'s origin): the console's command
log and its replay script learn of another process's changes from those lines alone, so an action that wrote
none would be missing from both (issue #17: a resource group made through the SDK was, and the replayed steps
inside it failed).

The test walks the facade's ``ACTIONS``: each has an example below that changes state on the demo landscape.
The exceptions, with their reasons, are in :data:`NO_LINE`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engine import ACTIONS, Engine
from engine.demo import build_demo
from engine.rules import CRYPTO_SERVICE_ROLE

APP = "00000000-0000-4000-8000-0000000000a1"
OTHER = "00000000-0000-4000-8000-0000000000b2"
POLICY = {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}],
          "attributes": {"expiryTime": "P2Y"}}

NO_LINE = {
    "vm_write": "the data plane: a guest's write changes the bytes on a disk, no resource (Azure's activity log "
                "has no line for it either); the endpoint serves no route that calls it",
}
"""Actions that change state and write no journal line, and why."""


def _pem() -> bytes:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def _demo() -> Engine:
    e = Engine.in_memory(seed=1)
    build_demo(e)
    e.create_scale_set("ss-demo", "rg-demo", capacity=2, data_disk_sizes_gb=[8],
                       data_disk_encryption_sets=["des-cmk"])
    return e


def _current(e: Engine, vault: str = "kv-demo", key: str = "key-3072") -> str:
    k, ver = e.get_key(vault, key, audit=False)
    return f"{k.id}/{ver['version']}"


def _due_expiry(e: Engine) -> None:
    """A key whose expiry is due now, its job not run yet (as after a crash)."""
    e.create_key("kv-demo", "key-exp", exp=(e.clock.now() + timedelta(hours=1)).isoformat())
    e.clock.set(e.clock.now() + timedelta(hours=2))


def _unprotected(e: Engine, *, key: bool = False) -> None:
    """A vault without purge protection (it can be purged at once), with a key if asked."""
    e.create_vault("kv-x", "rg-demo")
    if key:
        e.create_key("kv-x", "key-x")


def _new_model(e: Engine) -> None:
    """A scale set whose model turned encryption at host on, its instances deallocated to take it."""
    e.update_scale_set("ss-demo", "rg-demo", encryption_at_host=True)
    e.scale_set_power("ss-demo", "deallocate", "rg-demo")


# action -> (setup before the request, the request's call: (args, kwargs))
EXAMPLES = {
    "create_group": (None, lambda e: (("rg-x", "westeurope"), {})),
    "delete_group": (lambda e: e.create_group("rg-x", "westeurope"), lambda e: (("rg-x",), {})),
    "create_vault": (None, lambda e: (("kv-x", "rg-demo"), {})),
    "update_vault": (None, lambda e: (("kv-demo",), {"sku": "premium"})),
    "delete_vault": (None, lambda e: (("kv-demo",), {})),
    "recover_vault": (lambda e: e.delete_vault("kv-demo"), lambda e: (("kv-demo",), {})),
    "purge_vault": (lambda e: (_unprotected(e), e.delete_vault("kv-x")), lambda e: (("kv-x",), {})),
    "set_policy": (None, lambda e: (("kv-demo", OTHER, ["get"]), {})),
    "delete_policy": (None, lambda e: (("kv-demo", e.get_des("des-cmk").principal_id), {})),
    "create_role_assignment": (None, lambda e: ((OTHER, CRYPTO_SERVICE_ROLE, e.get_vault("kv-premium").id), {})),
    "delete_role_assignment": (None, lambda e: ((), {"assignee": e.get_des("des-double").principal_id,
                                                     "role": CRYPTO_SERVICE_ROLE,
                                                     "scope": e.get_vault("kv-premium").id})),
    "create_key": (None, lambda e: (("kv-demo", "key-x"), {})),
    "import_key": (None, lambda e: (("kv-demo", "key-imp", _pem()), {})),
    "rotate_key": (None, lambda e: (("kv-demo", "key-3072"), {})),
    "set_key_attributes": (None, lambda e: (("kv-demo", "key-3072"), {"enabled": False})),
    "delete_key": (None, lambda e: (("kv-demo", "key-3072"), {})),
    "recover_key": (lambda e: e.delete_key("kv-demo", "key-3072"), lambda e: (("kv-demo", "key-3072"), {})),
    "purge_key": (lambda e: (_unprotected(e, key=True), e.delete_key("kv-x", "key-x")),
                  lambda e: (("kv-x", "key-x"), {})),
    "set_rotation_policy": (None, lambda e: (("kv-demo", "key-3072", POLICY), {})),
    "create_des": (None, lambda e: (("des-x", "rg-demo", _current(e)), {"source_vault": "kv-demo"})),
    "update_des": (None, lambda e: (("des-cmk", "rg-demo"), {"rotation_to_latest": True})),
    "delete_des": (lambda e: e.create_des("des-x", "rg-demo", _current(e), source_vault="kv-demo"),
                   lambda e: (("des-x", "rg-demo"), {})),
    "create_disk": (None, lambda e: (("disk-x", "rg-demo"), {"size_gb": 8})),
    "update_disk": (None, lambda e: (("disk-archive", "rg-demo"), {"tags": {"by": "sdk"}})),
    "delete_disk": (None, lambda e: (("disk-archive", "rg-demo"), {})),
    "create_snapshot": (None, lambda e: (("snap-x", "rg-demo", "disk-archive"), {})),
    "delete_snapshot": (None, lambda e: (("snap-web-data", "rg-demo"), {})),
    "create_image": (None, lambda e: (("img-x", "rg-demo", "disk-archive"), {"os_type": "Linux"})),
    "delete_image": (None, lambda e: (("img-web", "rg-demo"), {})),
    "create_vm": (None, lambda e: (("vm-x", "rg-demo"), {})),
    "start_vm": (None, lambda e: (("vm-batch", "rg-demo"), {})),
    "stop_vm": (None, lambda e: (("vm-web", "rg-demo"), {})),
    "deallocate_vm": (None, lambda e: (("vm-web", "rg-demo"), {})),
    "restart_vm": (None, lambda e: (("vm-web", "rg-demo"), {})),
    "delete_vm": (None, lambda e: (("vm-web", "rg-demo"), {})),
    "update_vm": (None, lambda e: (("vm-batch", "rg-demo"), {"size": "Standard_DS4_v2"})),
    "attach_disk": (None, lambda e: (("vm-web", "disk-spare", "rg-demo"), {"lun": 3})),
    "detach_disk": (lambda e: e.attach_disk("vm-web", "disk-spare", "rg-demo", lun=3),
                    lambda e: (("vm-web", "disk-spare", "rg-demo"), {})),
    "advance_clock": (None, lambda e: (("1d",), {})),
    "run_due_jobs": (_due_expiry, lambda e: ((), {})),
    "enable_disk_encryption_ade": (lambda e: e.create_vm("vm-x", "rg-demo"),
                                   lambda e: (("vm-x", "rg-demo"), {"disk_encryption_keyvault": "kv-demo"})),
    "create_scale_set": (None, lambda e: (("ss-x", "rg-demo"), {})),
    "update_scale_set": (None, lambda e: (("ss-demo", "rg-demo"), {"tags": {"by": "sdk"}})),
    "upgrade_scale_set_instances": (_new_model, lambda e: (("ss-demo", "rg-demo"), {"instance_ids": ["*"]})),
    "scale_scale_set": (None, lambda e: (("ss-demo", 3, "rg-demo"), {})),
    "delete_scale_set": (None, lambda e: (("ss-demo", "rg-demo"), {})),
    "scale_set_power": (None, lambda e: (("ss-demo", "deallocate", "rg-demo"), {})),
    "vm_write": (None, lambda e: (("vm-web", 0, 512, b"hello"), {"resource_group": "rg-demo"})),
}


def _origin() -> dict:
    return {"via": "endpoint", "principal": APP, "name": "app1", "request": "PUT https://x", "seq": "9.1"}


def _noted(e: Engine, cursor: int, method: str) -> list[str]:
    """The journal lines after ``cursor`` whose origin names a call of ``method``."""
    events, audit, _ = e.journal_since(cursor)
    lines = [(x.type, x.data.get("origin")) for x in events] + [(a.operation, a.__dict__.get("origin"))
                                                               for a in audit]
    return [kind for kind, origin in lines if isinstance(origin, dict) and origin.get("seq") == "9.1"
            and (origin.get("call") or {}).get("action") == method]


def test_every_action_has_an_example():
    assert set(EXAMPLES) == set(ACTIONS), "an action without an example here (or an example of no action)"
    assert set(NO_LINE) <= set(ACTIONS)


@pytest.mark.parametrize("method", sorted(ACTIONS))
def test_an_action_made_for_an_endpoint_client_writes_a_journal_line_naming_its_call(method):
    e = _demo()
    setup, call = EXAMPLES[method]
    if setup is not None:
        setup(e)
    args, kwargs = call(e)
    commits, cursor = e.store.commits, e.journal_cursor()
    with e.acting_as(APP, _origin()):
        getattr(e, method)(*args, **kwargs)
    noted = _noted(e, cursor, method)
    if method in NO_LINE:
        assert not noted, f"{method} writes a line now: take it off NO_LINE"
        return
    assert e.store.commits > commits, f"the example of {method} changed nothing: give it one that does"
    assert noted, f"{method} changed state for an endpoint client and wrote no journal line naming its call"


def test_the_endpoints_group_routes_write_their_lines_and_a_repeated_create_writes_none():
    """A group's creation and deletion are events of their own (Azure's activity log has both); creating a
    group that exists (az group create again, an SDK's create_or_update) changes nothing and says nothing."""
    e = _demo()
    cursor = e.journal_cursor()
    with e.acting_as(APP, _origin()):
        e.create_group("rg-sdk", "eastus", tags=None)
        e.create_group("RG-SDK", "eastus")
    events, _, cursor2 = e.journal_since(cursor)
    assert [(x.type, x.severity, x.summary, x.data["group"]) for x in events] == [
        ("ResourceGroupCreated", "information", "resource group rg-sdk created in eastus", "rg-sdk")]
    assert events[0].data["origin"]["call"] == {"n": 1, "action": "create_group",
                                                "args": {"name": "rg-sdk", "location": "eastus", "tags": None}}
    with e.acting_as(APP, _origin()):
        e.delete_group("Rg-Sdk")
    events, _, _ = e.journal_since(cursor2)
    assert [(x.type, x.summary, x.data["group"]) for x in events] == [
        ("ResourceGroupDeleted", "resource group rg-sdk deleted", "rg-sdk")]
    assert events[0].data["origin"]["call"]["action"] == "delete_group"
