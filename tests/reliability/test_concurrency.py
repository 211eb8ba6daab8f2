"""Two and four OS processes writing one store at once, plus a long-lived engine in this process.

Each writer (reliability_worker.py) creates keys and disks under unique names, rotates keys, re-keys a
shared disk encryption set (every writer's disks are in it), writes data through its own VM and reads
it back; it prints a line for every acknowledged action. Meanwhile this process keeps one engine open,
as the console does: it polls ``refresh_if_changed()``, sees the others' changes arrive, and commits
its own actions in between.

Afterwards: the store opens; the state file is valid JSON with no temp file left; every acknowledged
key version, disk and set change is there; every acknowledged guest write reads back (last write wins,
per writer); every data key is wrapped by its set's current key and opens; the long-lived engine ends
with exactly the state a fresh engine reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402

import reliability_harness as H  # noqa: E402
from console.session import open_engine  # noqa: E402

WORKER = H.HERE / "reliability_worker.py"
RG, VAULT, SET, SHARED = "rg-c", "kv-c", "des-c", "k-shared"

if H.LONG:
    PLAN = [(2, 150), (4, 100), (8, 40)]
    CLI_COMMANDS = 20
else:
    PLAN = [(2, 25), (4, 15)]
    CLI_COMMANDS = 3


def prepare(home: Path, writers: int) -> None:
    e = open_engine(home)
    with e.transaction():
        e.create_group(RG, "eastus")
        e.create_vault(VAULT, RG, enable_purge_protection=True, retention_days=7)
        k, ver = e.create_key(VAULT, SHARED)
        H.grant(e, e.create_des(SET, RG, H.versioned(k, ver)))
        for w in range(writers):
            e.create_vm(f"vm-w{w}", RG, os_disk_name=f"vm-w{w}-os", data_disk_sizes_gb=[1],
                        data_disk_encryption_sets=[SET])
    e.store.close()


@pytest.mark.parametrize("writers,ops", PLAN, ids=[f"{w}-writers" for w, _ in PLAN])
def test_concurrent_writers_lose_nothing(tmp_path, writers, ops):
    home = tmp_path / "home"
    prepare(home, writers)
    console = open_engine(home)  # the long-lived engine (a console)
    assert not console.refresh_if_changed()
    ack_files = [tmp_path / f"acks-{w}.jsonl" for w in range(writers)]
    procs = [subprocess.Popen([sys.executable, str(WORKER), str(home), str(w), str(ops), str(1000 + w),
                               str(ack_files[w])], cwd=H.REPO, env=H.child_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for w in range(writers)]
    cli_acks: list[tuple[str, str]] = []
    cli_errors: list[str] = []
    cli = threading.Thread(target=cli_writer, args=(home, cli_acks, cli_errors), daemon=True)
    if H.cmklab_cli_ready():
        cli.start()
    seen_refresh = 0
    console_keys: list[tuple[str, str]] = []
    key_counts = [len(console.t["keys"])]
    deadline = time.monotonic() + (600 if H.LONG else 240)
    i = 0
    try:
        while any(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "writers did not finish"
            if console.refresh_if_changed():
                seen_refresh += 1
                key_counts.append(len(console.t["keys"]))
            if i % 3 == 0:
                k, ver = console.create_key(VAULT, f"console-k{i}")
                console_keys.append((k.name, ver["version"]))
            i += 1
            time.sleep(0.05)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    errs = [p.communicate()[1] for p in procs]
    if cli.is_alive() or cli.ident:
        cli.join(300)
    assert not cli_errors, cli_errors
    for p, err in zip(procs, errs):
        assert p.returncode == 0, err
    acks = [json.loads(line) for f in ack_files for line in f.read_text().splitlines()]
    refused = [a for a in acks if "refused" in a]
    assert not refused, refused
    done = [a for a in acks if "ack" in a]
    assert len([a for a in acks if "done" in a]) == writers
    # the long-lived engine saw the others' changes while they happened, and sees all of them now
    console.refresh_if_changed()
    assert seen_refresh > 0 and key_counts == sorted(key_counts)
    fresh = open_engine(home)
    assert H.docs_of(console) == H.docs_of(fresh)
    check_nothing_lost(fresh, done, console_keys + cli_acks, writers)
    if cli.ident:
        # a log-only action by another process (a key show writes a KeyGet audit entry and nothing else)
        # reaches the running console too
        console.refresh_if_changed()
        seen = set(console.t["audit"].keys())
        p = subprocess.run(H.cmklab_command() + ["--home", str(home), "az", "keyvault", "key", "show",
                                                 "--vault-name", VAULT, "-n", SHARED, "-o", "none"],
                           cwd=H.REPO, env=H.child_env(), capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert console.refresh_if_changed()
        assert [a.operation for a in console.t["audit"].values() if a.id not in seen] == ["KeyGet"]
    H.record("concurrent writers", writers + (1 if cli.ident else 0))
    H.record("concurrent runs")
    H.record("concurrent operations acknowledged", len(done) + len(console_keys) + len(cli_acks))
    console.store.close()
    fresh.store.close()


def cli_writer(home: Path, acks: list, errors: list) -> None:
    """A shell user at the same time: ``cmklab az keyvault key create`` processes, one after another."""
    for n in range(CLI_COMMANDS):
        name = f"cli-k{n}"
        p = subprocess.run(H.cmklab_command() + ["--home", str(home), "az", "keyvault", "key", "create",
                                                 "--vault-name", VAULT, "-n", name, "--query", "key.kid", "-o", "tsv"],
                           cwd=H.REPO, env=H.child_env(), capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            errors.append(p.stderr)
            return
        acks.append((name, p.stdout.strip().rsplit("/", 1)[1]))


def check_nothing_lost(e, done: list[dict], console_keys, writers: int) -> None:
    home = Path(e.store.home)
    for shard in (home / "db").glob("*.json"):
        json.loads(shard.read_bytes())  # valid JSON
    leftovers = [p.name for p in [*home.iterdir(), *(home / "db").iterdir()] if p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    lost = []
    for a in done:
        if a["ack"] in ("key", "rotate"):
            k = e.t["keys"].get(f"https://{VAULT}.vault.azure.net/keys/{a['name']}".lower())
            if k is None or k.version(a["version"]) is None:
                lost.append(a)
        elif a["ack"] == "disk":
            if a["id"] not in e.t["disks"]:
                lost.append(a)
        elif a["ack"] == "set":
            ref = a["url"].rsplit("/", 1)
            k = e.t["keys"][ref[0].lower()]
            if k.version(ref[1]) is None:
                lost.append(a)
        elif a["ack"] == "read":
            assert a["same"], f"{a['vm']} read other data than it wrote"
    for name, version in console_keys:
        k = e.t["keys"].get(f"https://{VAULT}.vault.azure.net/keys/{name}".lower())
        if k is None or k.version(version) is None:
            lost.append({"console key": name})
    # the set points at one of the acknowledged versions, and every resource is wrapped by it and opens
    des = e.get_des(SET, RG)
    urls = [a["url"] for a in done if a["ack"] == "set"]
    if urls:
        assert des.key_url in urls
    for r in e.des_resources(des):
        assert r.layers[0]["kid"] == des.key_url
        e.read_resource(r.kind, r.name, 0, 16, RG)
    # last acknowledged write wins, per writer (each writes only its own VM)
    for w in range(writers):
        model = bytearray(64 * 1024)
        for a in done:
            if a["ack"] == "write" and a["vm"] == f"vm-w{w}":
                data = bytes.fromhex(a["hex"])
                model[a["offset"]:a["offset"] + len(data)] = data
        vm = e.get_vm(f"vm-w{w}", RG)
        disk = e.t["disks"][vm.data_disks[0]["diskId"]]
        if e.read_resource("disk", disk.name, 0, len(model), RG) != bytes(model):
            lost.append({"writes of": vm.name})
    H.record("concurrent acknowledged writes lost", len(lost))
    assert not lost, lost
    # every acknowledged key version has its audit entry
    made = {a.kid for a in e.t["audit"].values() if a.operation in ("KeyCreate", "KeyRotate")}
    for a in done:
        if a["ack"] in ("key", "rotate"):
            assert f"https://{VAULT}.vault.azure.net/keys/{a['name']}/{a['version']}" in made
