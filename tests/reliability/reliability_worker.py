"""A writer process for the concurrency and crash suites: many actions on one shared cmklab home.

    python reliability_worker.py HOME WORKER_ID OPS SEED ACKS_FILE

Writes ``{"ready": id}`` once the engine is open, then one JSON line per acknowledged action (``{"ack": ...}``)
to ACKS_FILE, flushed before the next action starts: a line there means the action returned, i.e. it is
committed (state) or durable (a guest write). A refused action writes ``{"refused": ...}``. The parent checks
the store against these lines. (A file, not stdout: a pipe nobody reads while the workers run fills up.)
"""

from __future__ import annotations

import json
import random
import sys

from console.session import open_engine
from engine.errors import EngineError

RG = "rg-c"
VAULT = "kv-c"
SET = "des-c"
SHARED_KEY = "k-shared"


_OUT = None


def say(obj: dict) -> None:
    _OUT.write(json.dumps(obj) + "\n")
    _OUT.flush()


def main() -> int:
    global _OUT
    home, wid, ops, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    _OUT = open(sys.argv[5], "a", encoding="utf-8")
    rng = random.Random(seed)
    e = open_engine(home)
    say({"ready": wid})
    vm = f"vm-w{wid}"
    my_keys: list[str] = []
    model = bytearray(64 * 1024)
    for i in range(ops):
        op = rng.choice(["key", "key", "rotate", "disk", "disk", "write", "write", "write", "set", "read"])
        try:
            if op == "key":
                name = f"w{wid}-k{i}"
                k, ver = e.create_key(VAULT, name)
                my_keys.append(name)
                say({"ack": "key", "name": name, "version": ver["version"]})
            elif op == "rotate" and my_keys:
                name = rng.choice(my_keys)
                k, ver = e.rotate_key(VAULT, name)
                say({"ack": "rotate", "name": name, "version": ver["version"]})
            elif op == "disk":
                name = f"w{wid}-d{i}"
                d = e.create_disk(name, RG, size_gb=1, disk_encryption_set=SET)
                say({"ack": "disk", "name": name, "id": d.id})
            elif op == "write":
                off = rng.randrange(0, len(model) - 4096)
                data = rng.randbytes(rng.randrange(1, 4096))
                e.vm_write(vm, 0, off, data, RG)
                model[off:off + len(data)] = data
                say({"ack": "write", "vm": vm, "offset": off, "hex": data.hex()})
            elif op == "set":
                k, ver = e.rotate_key(VAULT, SHARED_KEY)
                say({"ack": "rotate", "name": SHARED_KEY, "version": ver["version"]})
                url = f"{k.id}/{ver['version']}"
                e.update_des(SET, RG, key_url=url)
                say({"ack": "set", "url": url})
            else:
                got = e.vm_read(vm, 0, 0, len(model), RG)
                say({"ack": "read", "vm": vm, "same": got == bytes(model)})
        except EngineError as err:
            say({"refused": op, "code": err.code, "message": err.message})
    say({"done": wid})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
