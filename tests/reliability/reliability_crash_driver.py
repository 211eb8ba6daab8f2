"""The landscape and the plan of the crash-safety suite, and a driver process that runs the plan.

    python reliability_crash_driver.py HOME

opens the engine on HOME (a copy of the prepared landscape), prints ``READY``, then runs :data:`PLAN`
through the engine facade, printing ``ACK <i>`` once action ``i`` has returned (committed, or durable
for a guest write). The suite kills it with SIGKILL at a random moment and checks the store.

Each action of the plan also has its ``cmklab`` command line (:func:`cli_argv`), which the suite runs as
a real process per action and kills the same way.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

RG = "rg-x"
VAULT = "kv-x"
MANY = 60
"""Disks in the set that the plan re-keys (a rotation of a set with many disks)."""
HEAVY_MB = 4
"""Data written to the disk the plan snapshots and converts to double encryption."""


def versioned(key, ver) -> str:
    return f"{key.id}/{ver['version']}"


def build_landscape(engine, many: int = MANY) -> None:
    """A seeded landscape: sets with many disks, a key with a rotation policy under an auto-rotating set,
    a soft-deleted key due for purge, a double-encryption set, a running VM with data, and a heavy disk."""
    from engine.rules import CRYPTO_SERVICE_ROLE, ENC_DOUBLE  # noqa: F401

    e = engine
    with e.transaction():
        e.create_group(RG, "eastus")
        e.create_vault(VAULT, RG, enable_purge_protection=True, retention_days=7)
        main, vm_ = e.create_key(VAULT, "k-main")
        auto, va = e.create_key(VAULT, "k-auto")
        dbl, vd = e.create_key(VAULT, "k-dbl", size=3072)
        e.create_key(VAULT, "k-old")
        sets = [e.create_des("des-x", RG, versioned(main, vm_)),
                e.create_des("des-auto", RG, versioned(auto, va), rotation_to_latest=True),
                e.create_des("des-dbl", RG, versioned(dbl, vd), encryption_type=ENC_DOUBLE)]
        for s in sets:
            e.set_policy(VAULT, s.principal_id, ["get", "wrapKey", "unwrapKey"])
        e.set_rotation_policy(VAULT, "k-auto", {
            "lifetimeActions": [{"trigger": {"timeAfterCreate": "P30D"}, "action": {"type": "Rotate"}}],
            "attributes": {"expiryTime": None}})
        for i in range(many):
            e.create_disk(f"dx-{i:03d}", RG, size_gb=1, disk_encryption_set="des-x")
        for i in range(many // 3):
            e.create_disk(f"da-{i:03d}", RG, size_gb=1, disk_encryption_set="des-auto")
        e.create_vm("vm-x", RG, os_disk_name="vm-x-os", os_disk_encryption_set="des-x",
                    data_disk_sizes_gb=[1, 1], data_disk_encryption_sets=["des-x", "des-auto"])
        e.create_disk("d-heavy", RG, size_gb=1)
        e.create_disk("d-del", RG, size_gb=1, disk_encryption_set="des-x")
        e.attach_disk("vm-x", "d-heavy", RG, lun=2)
        e.attach_disk("vm-x", "d-del", RG, lun=3)
        e.delete_key(VAULT, "k-old")
    e.vm_write("vm-x", 0, 0, b"data disk 0 of vm-x, acknowledged in the landscape " * 100, RG)
    e.vm_write("vm-x", 1, 4000, b"data disk 1 of vm-x (auto-rotating set) " * 100, RG)
    e.vm_write("vm-x", 3, 0, b"the disk the plan deletes " * 50, RG)
    chunk = bytes(range(256)) * 4096  # 1 MiB
    for mb in range(HEAVY_MB):
        e.vm_write("vm-x", 2, mb * len(chunk), chunk[mb:] + chunk[:mb], RG)
    with e.transaction():
        e.detach_disk("vm-x", "d-heavy", RG)
        e.detach_disk("vm-x", "d-del", RG)


@dataclass
class Op:
    name: str
    run: Callable
    """``run(engine)``: the action through the facade."""
    cli: Callable
    """``cli(engine) -> argv``: the same action as a ``cmklab`` command line (after the global options)."""


def _current_url(e, name: str) -> str:
    k = e._key(VAULT, name)
    return versioned(k, k.current)


WRITE = b"written by the plan, acknowledged " * 60

PLAN: list[Op] = [
    Op("key create (4096)", lambda e: e.create_key(VAULT, "kc-1", size=4096),
       lambda e: ["az", "keyvault", "key", "create", "--vault-name", VAULT, "-n", "kc-1", "--size", "4096",
                  "-o", "none"]),
    Op("key rotate", lambda e: e.rotate_key(VAULT, "k-main"),
       lambda e: ["az", "keyvault", "key", "rotate", "--vault-name", VAULT, "-n", "k-main", "-o", "none"]),
    Op("set re-key (many disks)", lambda e: e.update_des("des-x", RG, key_url=_current_url(e, "k-main")),
       lambda e: ["az", "disk-encryption-set", "update", "-n", "des-x", "-g", RG, "--key-url",
                  _current_url(e, "k-main"), "-o", "none"]),
    Op("guest write", lambda e: e.vm_write("vm-x", 0, 70_000, WRITE, RG),
       lambda e: ["vm", "write", "-g", RG, "-n", "vm-x", "--lun", "0", "--offset", "70000", "--data",
                  WRITE.hex(), "--hex", "-o", "none"]),
    Op("disk create", lambda e: e.create_disk("dc-1", RG, size_gb=1, disk_encryption_set="des-x"),
       lambda e: ["az", "disk", "create", "-g", RG, "-n", "dc-1", "--size-gb", "1", "--disk-encryption-set",
                  "des-x", "-o", "none"]),
    Op("snapshot (copies data)", lambda e: e.create_snapshot("snap-heavy", RG, "d-heavy"),
       lambda e: ["az", "snapshot", "create", "-g", RG, "-n", "snap-heavy", "--source", "d-heavy", "-o", "none"]),
    Op("clock advance 100d (due jobs)", lambda e: e.advance_clock("100d"),
       lambda e: ["clock", "advance", "100d", "-o", "none"]),
    Op("disk delete", lambda e: e.delete_disk("d-del", RG),
       lambda e: ["az", "disk", "delete", "-g", RG, "-n", "d-del", "--yes", "-o", "none"]),
    Op("disk to double encryption (re-encrypts data)",
       lambda e: e.update_disk("d-heavy", RG, disk_encryption_set="des-dbl"),
       lambda e: ["az", "disk", "update", "-g", RG, "-n", "d-heavy", "--disk-encryption-set", "des-dbl",
                  "-o", "none"]),
    Op("key disable (VM shuts down)", lambda e: e.set_key_attributes(VAULT, "k-main", enabled=False),
       lambda e: ["az", "keyvault", "key", "set-attributes", "--vault-name", VAULT, "-n", "k-main",
                  "--enabled", "false", "-o", "none"]),
    Op("key enable", lambda e: e.set_key_attributes(VAULT, "k-main", enabled=True),
       lambda e: ["az", "keyvault", "key", "set-attributes", "--vault-name", VAULT, "-n", "k-main",
                  "--enabled", "true", "-o", "none"]),
    Op("vm start", lambda e: e.start_vm("vm-x", RG),
       lambda e: ["az", "vm", "start", "-g", RG, "-n", "vm-x", "-o", "none"]),
    Op("set re-key back", lambda e: e.update_des("des-x", RG, key_url=versioned(e._key(VAULT, "k-main"),
                                                                                e._key(VAULT, "k-main").versions[0])),
       lambda e: ["az", "disk-encryption-set", "update", "-n", "des-x", "-g", RG, "--key-url",
                  versioned(e._key(VAULT, "k-main"), e._key(VAULT, "k-main").versions[0]), "-o", "none"]),
    Op("clock advance 40d", lambda e: e.advance_clock("40d"),
       lambda e: ["clock", "advance", "40d", "-o", "none"]),
]


def main() -> int:
    from console.session import open_engine

    e = open_engine(sys.argv[1])
    print("READY", flush=True)
    if "--open-only" in sys.argv:
        return 0
    for i, op in enumerate(PLAN):
        op.run(e)
        print(f"ACK {i}", flush=True)
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
