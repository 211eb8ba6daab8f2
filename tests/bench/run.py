"""cmklab's benchmark: each figure against its limit, measured in one run on this machine.

    python tests/bench/run.py            # full run, prints a table
    python tests/bench/run.py --quick    # the same figures on the same sizes, fewer repeats (about 4 min on 2 idle cores)
    python tests/bench/run.py --json     # ... and a last line holding one JSON object

Ratios divide the engine's time by the raw operation it cannot avoid, measured in the same process,
so they travel between machines. Nothing here is a test: it prints figures; the README quotes them.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from console.session import open_engine  # noqa: E402
from engine import Engine  # noqa: E402

OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
RESULTS: dict[str, float | None] = {}
SHARED: dict[str, str] = {}
"""Homes built once and used by several steps (``big``: the 100,000-resource store of bench_scale)."""
_KEEP: list = []
ROWS: list[tuple[str, str, str, str]] = []


def median_time(fn, repeats: int, warmup: bool = True) -> float:
    """Median wall time of ``repeats`` calls, after one untimed warm-up call (page cache, allocator)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved(ours, theirs, repeats: int, after=None, between=None) -> tuple[float, float, float]:
    """Time ``ours`` and ``theirs`` in alternating pairs (this machine's speed drifts between runs, and
    load from other processes then hits both alike); ``after`` runs untimed after each pair (release what
    was built, so that freeing it is not charged to the next run), ``between`` untimed between the two
    (check what ``ours`` returned, and let it go before ``theirs`` runs). Returns (median of ours/theirs,
    median ours, median theirs)."""
    pairs = []
    for _ in range(repeats):
        t = time.perf_counter()
        ours()
        a = time.perf_counter() - t
        if between is not None:
            between()
        t = time.perf_counter()
        theirs()
        pairs.append((a, time.perf_counter() - t))
        if after is not None:
            after()
    return (statistics.median(a / b for a, b in pairs), statistics.median(p[0] for p in pairs),
            statistics.median(p[1] for p in pairs))


def row(name: str, value: float | None, bound: str, detail: str) -> None:
    RESULTS[name] = None if value is None else round(value, 3)
    shown = "n/a" if value is None else f"{value:.3f}"
    ROWS.append((name, shown, bound, detail))


def landscape(engine: Engine, *, key_size: int, disks: int) -> tuple[str, str]:
    """A vault, a key, a granted set and ``disks`` CMK disks on it; returns (des name, new version url)."""
    with engine.transaction():
        engine.create_group("rg", "eastus")
        engine.create_vault("kv-bench", "rg", enable_purge_protection=True)
        k, v = engine.create_key("kv-bench", "k", size=key_size)
        des = engine.create_des("des-bench", "rg", key_url=f"{k.id}/{v['version']}", source_vault="kv-bench")
        engine.set_policy("kv-bench", des.principal_id, ["get", "wrapKey", "unwrapKey"])
        for i in range(disks):
            engine.create_disk(f"d{i}", "rg", size_gb=8, disk_encryption_set="des-bench")
    k2, v2 = engine.rotate_key("kv-bench", "k")
    return "des-bench", f"{k2.id}/{v2['version']}"


def bench_rotation(n: int, key_size: int = 3072, repeats: int = 3) -> None:
    """Re-keying a set of ``n`` disks (a new engine action each time, alternating between two versions of the
    key) against the same unwraps and wraps done raw on two threads, in interleaved pairs."""
    with tempfile.TemporaryDirectory() as home:
        engine = open_engine(home)
        des, new_url = landscape(engine, key_size=key_size, disks=n)
        old_url = engine.get_des(des).key_url
        # the raw work: n unwraps + n wraps, same key size, same process
        priv = rsa.generate_private_key(65537, key_size)
        pub = priv.public_key()
        wrapped = [pub.encrypt(os.urandom(32), OAEP) for _ in range(n)]
        half = len(wrapped) // 2
        urls = iter([new_url, old_url] * repeats)
        commits = []

        def rekey():
            before = engine.store.generation
            engine.update_des(des, key_url=next(urls))
            commits.append(engine.store.generation - before)

        def raw2():  # the same work on both cores: the floor of a re-key
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda part: [pub.encrypt(priv.decrypt(w, OAEP), OAEP) for w in part],
                              [wrapped[:half], wrapped[half:]]))

        ratio2, rot, raw2_t = interleaved(rekey, raw2, repeats)
        t = time.perf_counter()
        for w in wrapped:
            pub.encrypt(priv.decrypt(w, OAEP), OAEP)
        raw = time.perf_counter() - t
    row("rotation_vs_raw_rsa", rot / raw, "<= 0.65",
        f"{n} disks on RSA-{key_size}: {rot:.2f} s vs raw {raw:.2f} s one thread; {max(commits)} store write(s) "
        f"per re-key")
    row("rotation_vs_raw_rsa_2t", ratio2, "<= 1.15",
        f"the same re-key vs raw unwrap+wrap on two threads {raw2_t:.2f} s (median of {repeats} interleaved pairs, "
        f"re-keying to and fro between two versions)")


def big_store(home: str, n: int) -> Engine:
    """A store of about ``n`` resources: disks (platform and CMK), snapshots, VMs, keys."""
    engine = open_engine(home)
    with engine.transaction():
        engine.create_group("rg", "eastus")
        engine.create_vault("kv-big", "rg", enable_purge_protection=True)
        k, v = engine.create_key("kv-big", "k", size=2048)
        des = engine.create_des("des-big", "rg", key_url=f"{k.id}/{v['version']}", source_vault="kv-big")
        engine.set_policy("kv-big", des.principal_id, ["get", "wrapKey", "unwrapKey"])
        vms = n // 20
        for i in range(vms):
            engine.create_vm(f"vm{i}", "rg", os_disk_name=f"vm{i}-os", os_disk_encryption_set="des-big")
        for i in range(n - 2 * vms - 5):
            engine.create_disk(f"disk{i}", "rg", size_gb=32, disk_encryption_set="des-big" if i % 2 else None)
    return engine


def bench_scale(sizes: tuple[int, int, int], repeats: int) -> None:
    """The cost of a command must be the cost of its change: the same commands on stores of 1k and 100k
    resources (built through the engine), each a whole ``cmklab`` process, in interleaved pairs."""
    small_n, mid_n, big_n = sizes
    exe = Path(sys.executable).parent / "cmklab"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("CMKLAB_")}
    keep = tempfile.TemporaryDirectory()  # the 100k store stays for the console's figures
    _KEEP.append(keep)
    big = keep.name
    with tempfile.TemporaryDirectory() as small, tempfile.TemporaryDirectory() as mid:
        builds = {}
        for home, n in ((small, small_n), (mid, mid_n), (big, big_n)):
            t = time.perf_counter()
            big_store(home, n).store.close()
            builds[n] = time.perf_counter() - t
        SHARED["big"] = big
        row("build_100k_vs_10k", builds[big_n] / builds[mid_n] * (mid_n / big_n) * 10, "<= 12",
            f"building {mid_n} resources through the engine: {builds[mid_n]:.1f} s; {big_n}: {builds[big_n]:.1f} s "
            f"(scaled to a 10x step; 10 is linear)")

        def cli(home: str, *argv: str):
            return [str(exe), "--home", home, "az", *argv, "-o", "none"]

        counter = iter(range(10**6))
        reads = [("keyvault", "key", "show", "--vault-name", "kv-big", "-n", "k"),
                 ("disk", "show", "-g", "rg", "-n", "disk7")]
        read_ratios, write_ratios, details = [], [], []
        for argv in reads:
            subprocess.run(cli(big, *argv), env=env, check=True, capture_output=True)  # warm-up
            subprocess.run(cli(small, *argv), env=env, check=True, capture_output=True)
            ratio, tb, ts = interleaved(lambda: subprocess.run(cli(big, *argv), env=env, check=True),
                                        lambda: subprocess.run(cli(small, *argv), env=env, check=True), repeats)
            read_ratios.append(ratio)
            details.append(f"{argv[0]} {argv[1]} {argv[2] if argv[0] == 'keyvault' else ''}".strip()
                           + f" {tb * 1000:.0f} vs {ts * 1000:.0f} ms")

        def writes(home):
            i = next(counter)
            return [("keyvault", "key", "set-attributes", "--vault-name", "kv-big", "-n", "k", "--tags", f"n={i}"),
                    ("disk", "create", "-g", "rg", "-n", f"bench-new-{i}", "--size-gb", "1")]

        for which in range(2):
            ratio, tb, ts = interleaved(
                lambda: subprocess.run(cli(big, *writes(big)[which]), env=env, check=True),
                lambda: subprocess.run(cli(small, *writes(small)[which]), env=env, check=True), repeats)
            write_ratios.append(ratio)
            details.append(f"{'key set-attributes' if which == 0 else 'disk create'} {tb * 1000:.0f} vs "
                           f"{ts * 1000:.0f} ms")
        row("cli_read_100k_vs_1k", max(read_ratios), "<= 1.3",
            f"worst of key show, disk show on {big_n} vs {small_n} resources: " + "; ".join(details[:2])
            + f" (median of {repeats} interleaved pairs)")
        row("cli_write_100k_vs_1k", max(write_ratios), "<= 1.5",
            "worst of key set-attributes, disk create: " + "; ".join(details[2:]))
        rss = []
        for argv in reads:
            probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
                     "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
            out = subprocess.run([sys.executable, "-c", probe, *cli(big, *argv)], env=env, check=True,
                                 capture_output=True, text=True)
            rss.append(int(out.stdout.split()[-1]) / 1024)
        row("cli_read_peak_rss_100k_mb", max(rss), "<= 80",
            f"peak RSS of key show {rss[0]:.0f} MB, disk show {rss[1]:.0f} MB on {big_n} resources")

        measure_commit(big, big_n, repeats)


def measure_commit(big: str, big_n: int, repeats: int) -> None:
    """One action's commit on the store in ``big`` against the floor: an fsync'd append of a record of the
    same size (in interleaved pairs)."""
    counter = iter(range(10**6))
    engine = open_engine(big)
    log = Path(big) / "db" / "changes.log"
    floor = Path(big) / "floor.log"

    def action():
        engine.set_key_attributes("kv-big", "k", tags={"c": str(next(counter))})

    action()
    size = log.stat().st_size
    action()
    record = max(log.stat().st_size - size, 1)
    payload = os.urandom(record // 2).hex().encode()[:record]

    def append():
        fd = os.open(floor, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.write(fd, payload)
        os.fsync(fd)
        os.close(fd)

    append()
    ratio, ta, tf = interleaved(action, append, max(repeats, 9))
    engine.store.close()
    row("commit_vs_fsync_append", ratio, "<= 3",
        f"key set-attributes on {big_n} resources (its record carries the journal lines: one fsync) "
        f"{ta * 1000:.2f} ms vs one fsync'd append of its {record}-byte record {tf * 1000:.2f} ms")


def bench_commit(n: int, repeats: int) -> None:
    """``commit_vs_fsync_append`` alone (``--only commit``): builds only the big store."""
    with tempfile.TemporaryDirectory() as big:
        big_store(big, n).store.close()
        measure_commit(big, n, repeats)


def cascade_landscape(engine: Engine, *, vms: int, disks: int) -> None:
    """A key whose set serves ``disks`` disks on ``vms`` running VMs (OS disks plus data disks)."""
    with engine.transaction():
        if engine.t["groups"].get("rg") is None:
            engine.create_group("rg", "eastus")
        engine.create_vault("kv-cascade", "rg", enable_purge_protection=True)
        k, v = engine.create_key("kv-cascade", "kc", size=2048)
        des = engine.create_des("des-cascade", "rg", key_url=f"{k.id}/{v['version']}", source_vault="kv-cascade")
        engine.set_policy("kv-cascade", des.principal_id, ["get", "wrapKey", "unwrapKey"])
        data = disks - vms
        for i in range(vms):
            n = data // vms + (1 if i < data % vms else 0)
            engine.create_vm(f"cvm{i}", "rg", os_disk_name=f"cvm{i}-os", os_disk_encryption_set="des-cascade",
                             data_disk_sizes_gb=[8] * n, data_disk_encryption_sets=["des-cascade"] if n else None)


def bench_cascade(big_n: int, vms: int, disks: int) -> None:
    """Disabling a key whose set serves ``disks`` disks on ``vms`` running VMs, in a store of ``big_n``
    resources and in a store of only those: the cascade must cost the same wherever it happens."""
    timings = {}
    with tempfile.TemporaryDirectory() as alone, tempfile.TemporaryDirectory() as big:
        for home, n in ((alone, 0), (big, big_n)):
            engine = big_store(home, n) if n else open_engine(home)
            cascade_landscape(engine, vms=vms, disks=disks)
            engine.store.close()
            engine = open_engine(home)
            t = time.perf_counter()
            impact = engine.what_if("set_key_attributes", "kv-cascade", "kc", enabled=False)
            preview = time.perf_counter() - t
            t = time.perf_counter()
            engine.set_key_attributes("kv-cascade", "kc", enabled=False)
            timings[n] = (time.perf_counter() - t, preview, len(impact.vms_stopping))
            engine.store.close()
    (t_big, p_big, stop_big), (t_alone, p_alone, _) = timings[big_n], timings[0]
    row("disable_key_100k_ms", t_big * 1000, f"<= {2 * t_alone * 1000:.0f}",
        f"{stop_big} VMs stop ({disks} disks) in a {big_n}-resource store: {t_big * 1000:.0f} ms vs "
        f"{t_alone * 1000:.0f} ms alone (bound: 2x); its what-if {p_big * 1000:.0f} ms vs {p_alone * 1000:.0f} ms")


def bench_disk_io(mib: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as home:
        engine = open_engine(home)
        with engine.transaction():
            engine.create_group("rg", "eastus")
            engine.create_vm("vm", "rg", data_disk_sizes_gb=[1])
        data = os.urandom(mib * 1024 * 1024)

        got: list[bytes] = []

        def through_engine():
            engine.vm_write("vm", 0, 0, data)
            got.append(engine.vm_read("vm", 0, 0, len(data)))

        def check():  # untimed (the raw side's results are not compared either), before the raw run
            assert got.pop() == data

        aes = AESGCM(os.urandom(32))
        chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)]

        def raw_honest():
            # random bytes drawn as the engine draws them: all the nonces of a write in one os.urandom call
            pool = os.urandom(12 * len(chunks))
            nonces = [pool[i * 12:(i + 1) * 12] for i in range(len(chunks))]
            out = [aes.encrypt(n, c, b"aad") for n, c in zip(nonces, chunks)]
            for n, c in zip(nonces, out):
                aes.decrypt(n, c, b"aad")

        # interleave engine and raw runs, so that load from other processes hits both alike
        through_engine()
        check()
        raw_honest()
        n_pairs = max(repeats, 5) | 1  # odd: then 1 / median(engine/raw) is the median of raw/engine
        time_ratio, t_engine, t_raw = interleaved(through_engine, raw_honest, n_pairs, between=check)
    ratio = 1 / time_ratio  # a throughput ratio: engine MiB/s over raw MiB/s
    row("disk_write_vs_raw_aes", ratio, ">= 0.6",
        f"{mib} MiB write+read: engine {2 * mib / t_engine:.0f} MiB/s vs raw AES-256-GCM 4 KiB chunks "
        f"{2 * mib / t_raw:.0f} MiB/s (median of {n_pairs} interleaved pairs; AES on one thread both sides, "
        f"the engine's write fsync'd)")


def bench_cli(n: int, repeats: int) -> None:
    exe = Path(sys.executable).parent / "cmklab"
    with tempfile.TemporaryDirectory() as home:
        big_store(home, n)
        # as installed for a user: bytecode caches written (this environment may disable them)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["CMKLAB_HOME"] = home
        cmd = [str(exe), "az", "keyvault", "key", "show", "--vault-name", "kv-big", "-n", "k"]
        probe = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if probe.returncode != 0:
            row("cli_key_show_vs_bare_import", None, "<= 2.5", f"cmklab az not available: {probe.stderr[-120:]}")
            return
        bare = [sys.executable, "-c", "import cryptography, tinydb"]
        for _ in range(2):  # warm-up: bytecode caches, page cache
            subprocess.run(cmd, env=env, capture_output=True, check=True)
            subprocess.run(bare, env=env, check=True)
        n_pairs = max(repeats, 9)
        ratio, t_cli, t_bare = interleaved(lambda: subprocess.run(cmd, env=env, capture_output=True, check=True),
                                           lambda: subprocess.run(bare, env=env, check=True), n_pairs)
    row("cli_key_show_vs_bare_import", ratio, "<= 2.5",
        f"keyvault key show on {n} resources: {t_cli * 1000:.0f} ms vs python -c import: {t_bare * 1000:.0f} ms "
        f"(median of {n_pairs} interleaved pairs)")


CASCADE_KEY = ("kv-prod-cmk", "key-5k")
"""The key of the imported landscape whose set (des-5k) serves exactly TWIN_CASCADE_DISKS disks."""
TWIN_CASCADE_DISKS = 5000


def twin_input(folder: Path, n: int) -> list[str]:
    """``n`` resources as the Azure CLI prints them, built from the shapes of tests/import/fixtures: a group,
    two vaults, three keys of two versions, three sets, and VMs of one OS disk and three data disks (CMK and
    platform) up to ``n``. A third set, des-5k (a copy of des-prod with its own identity and key, key-5k,
    granted in kv-prod-cmk), takes over TWIN_CASCADE_DISKS of des-prod's disks: the key whose disable the
    benchmark previews. Returns the file paths."""
    fix = ROOT / "tests" / "import" / "fixtures"
    load = lambda name: json.loads((fix / name).read_text())  # noqa: E731
    files = ["group-list.json", "keyvault-show-kv-data-cmk.json",
             "role-assignment-list-all.json", "keyvault-key-show-disk-key.json",
             "keyvault-key-list-versions-disk-key.json", "keyvault-key-list-versions-data-key.json"]
    out = [str(fix / f) for f in files]
    sets = load("disk-encryption-set-list.json")
    prod = next(d for d in sets if d["name"] == "des-prod")
    principal = "5e7d0c4b-5000-4a00-8b00-5000c0ffee00"
    ver5k = "5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f"
    des5k = json.loads(json.dumps(prod).replace("des-prod", "des-5k"))
    des5k["identity"]["principalId"] = principal
    des5k["activeKey"]["keyUrl"] = f"https://kv-prod-cmk.vault.azure.net/keys/key-5k/{ver5k}"
    key5k = json.loads(json.dumps(load("keyvault-key-show-disk-key.json")).replace("/keys/disk-key/", "/keys/key-5k/")
                       .replace('"disk-key"', '"key-5k"'))
    key5k["key"]["kid"] = f"https://kv-prod-cmk.vault.azure.net/keys/key-5k/{ver5k}"
    vault = load("keyvault-show-kv-prod-cmk.json")
    vault["properties"]["accessPolicies"].append(
        {"applicationId": None, "objectId": principal, "tenantId": prod["identity"]["tenantId"],
         "permissions": {"certificates": [], "keys": ["get", "wrapKey", "unwrapKey"], "secrets": [], "storage": None}})
    for name, doc in (("disk-encryption-set-list.json", sets + [des5k]), ("keyvault-key-show-key-5k.json", key5k),
                      ("keyvault-show-kv-prod-cmk.json", vault)):
        (folder / name).write_text(json.dumps(doc, indent=2, sort_keys=True))
        out.append(str(folder / name))
    disk_t = load("disk-list.json")[3]  # a data disk of vm-web-02 (customer key)
    vm_t = next(v for v in load("vm-list-d.json") if v["name"] == "vm-web-02")
    des = [d["id"] for d in sets]
    to_5k = TWIN_CASCADE_DISKS
    disks, vms = [], []
    rg_prod = vm_t["id"].split("/providers/")[0]
    per_vm = 5  # a VM, its OS disk and three data disks
    for i in range((n - 20) // per_vm):
        vid = f"{rg_prod}/providers/Microsoft.Compute/virtualMachines/vm-{i:06d}"
        vm = json.loads(json.dumps(vm_t))
        vm["id"], vm["name"], vm["vmId"] = vid, f"vm-{i:06d}", f"{i:08x}-aaaa-4bbb-8ccc-dddddddddddd"
        vm["powerState"] = ("VM running", "VM running", "VM stopped", "VM deallocated")[i % 4]
        ids = []
        for j in range(4):
            d = json.loads(json.dumps(disk_t))
            name = f"vm-{i:06d}-{'os' if j == 0 else f'data{j}'}"
            d["id"], d["name"], d["managedBy"] = f"{rg_prod}/providers/Microsoft.Compute/disks/{name}", name, vid
            d["uniqueId"] = f"{i:08x}-{j:04x}-4222-8333-444455556666"
            d["encryption"] = ({"diskEncryptionSetId": des[(i + j) % 2], "type": "EncryptionAtRestWithCustomerKey"
                                if (i + j) % 2 == 0 else "EncryptionAtRestWithPlatformAndCustomerKeys"}
                               if j != 3 else {"diskEncryptionSetId": None, "type": "EncryptionAtRestWithPlatformKey"})
            if to_5k and j != 3 and (i + j) % 2 == 0:  # a des-prod disk: the first 5,000 go to des-5k
                d["encryption"]["diskEncryptionSetId"] = des5k["id"]
                to_5k -= 1
            disks.append(d)
            ids.append(d["id"])
        vm["storageProfile"]["osDisk"]["managedDisk"]["id"] = ids[0]
        data = vm["storageProfile"]["dataDisks"][0]
        vm["storageProfile"]["dataDisks"] = [dict(data, lun=j - 1, managedDisk=dict(data["managedDisk"], id=ids[j]))
                                             for j in range(1, 4)]
        vms.append(vm)
    for name, items in (("disk-list.json", disks), ("vm-list-d.json", vms)):
        path = folder / name
        path.write_text(json.dumps(items, indent=2, sort_keys=True))
        out.append(str(path))
    return out


def bench_import(n: int) -> None:
    """``cmklab import`` of ``n`` resources into a new home, the whole command in its own process (start, read,
    parse, plan, stand-in keys, one data key per disk wrapped by its set's version, one commit, exit) against what
    it cannot avoid: json.loads of the input and the RSA generation of its stand-ins (one per key version and
    one platform key per region)."""
    if os.environ.get(_FRESH) != "1":
        _in_fresh_process("import")  # as `cmklab import` runs: on a heap no earlier step has used
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = twin_input(Path(tmp), n)
        texts = [Path(f).read_bytes() for f in files]
        t = time.perf_counter()
        for raw in texts:
            json.loads(raw)
        loads_collected = time.perf_counter() - t  # (with the collector running: reported beside the floor)
        del texts
        gc.collect()
        # as installed for a user: bytecode caches written (this environment may disable them), once before
        # the rounds (the import's modules compiled from source cost each run ~0.05 s)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=str(ROOT), CMKLAB_TIMINGS="1")
        subprocess.run([sys.executable, "-c", "import console.main, console.twin_cli, engine.twin, engine._wraps, "
                        "store.tinystore"], env=env, cwd=ROOT, check=True)
        # the floor and the command, in pairs: this machine's speed drifts by a third within minutes, so each
        # ratio is taken of a floor and an import measured one right after the other, and the median pair kept
        rounds = []
        for r in range(IMPORT_ROUNDS):
            # what earlier steps (and the input's 270 MB, just written) left for the kernel to write back is
            # written now, not by the kernel's flusher beside the import (an operator's capture is minutes old)
            os.sync()
            texts = [Path(f).read_bytes() for f in files]
            # the floor parses as the import does, with the collector paused (what json.loads cannot avoid:
            # with the collector running, its passes over the parsed objects doubled the figure)
            gc.disable()
            try:
                t = time.perf_counter()
                for raw in texts:
                    json.loads(raw)
                loads = time.perf_counter() - t
            finally:
                gc.enable()
            del texts
            gc.collect()
            # the command as an operator runs it: `cmklab import FILES` in a process of its own, start to exit
            home = Path(tmp) / f"home{r}"
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "console", "--home", str(home), "import", *files,
                                   "--json"], capture_output=True, text=True, cwd=ROOT, env=env)
            total = time.perf_counter() - t
            if done.returncode != 0:
                raise RuntimeError(f"cmklab import failed: {done.stderr[-2000:]}")
            timings = json.loads(done.stderr.strip().splitlines()[-1])
            rounds.append((total / (loads + timings["keygen_s"]), total, loads, timings, done.stdout, home))
        rounds.sort(key=lambda x: x[0])
        _ratio, total, loads, timings, stdout, home = rounds[len(rounds) // 2]
        for other in rounds:
            if other[5] != home:
                shutil.rmtree(other[5], ignore_errors=True)
        counts = json.loads(stdout)["modelled"]
        keygen = timings["keygen_s"]
        count = sum(counts.values()) - counts["key versions"]
        engine = open_engine(home)
        wraps = sum(len(r.layers) for t in ("disks", "snapshots", "images") for r in engine.t[t].values())
        stand_ins = json.loads(stdout)["standInKeyVersions"]
        engine.store.close()
        # the question on the imported landscape, as `cmklab what-if` asks it (a new engine on the
        # home): disabling the key whose set serves 5,000 disks; then the disable itself
        engine = open_engine(home)
        t = time.perf_counter()
        impact = engine.what_if("set_key_attributes", *CASCADE_KEY, enabled=False)
        preview = time.perf_counter() - t
        served = len(engine.des_members(engine.get_des("des-5k", "rg-prod").id))
        t = time.perf_counter()
        engine.set_key_attributes(*CASCADE_KEY, enabled=False)
        disable = time.perf_counter() - t
        engine.store.close()
    # for comparison (not in the bound): the same number of raw RSA-OAEP-256 wraps, one thread
    pub = rsa.generate_private_key(65537, 2048).public_key()
    t = time.perf_counter()
    for _ in range(wraps):
        pub.encrypt(os.urandom(32), OAEP)
    raw_wraps = time.perf_counter() - t
    floor = loads + keygen
    row("import_100k_s", total, f"<= {3 * floor:.1f}",
        f"cmklab import of {count:,} resources, the whole command: {total:.2f} s = {total / floor:.2f}x (json.loads "
        f"{loads:.2f} s with the collector paused, as the import parses, {loads_collected:.2f} s with it running; "
        f"+ RSA keygen of {stand_ins} stand-ins and the platform key {keygen:.2f} s); bound 3x; the median of "
        f"{len(rounds)} pairs of floor and import, whose ratios were {', '.join(f'{x[0]:.2f}' for x in rounds)}")
    print("import timings:", {k: round(v, 2) for k, v in timings.items()}, file=sys.stderr)
    RESULTS["import_100k_raw_wraps_s"] = round(raw_wraps, 3)
    ROWS.append(("import_100k_vs_floor_and_wraps", f"{total / (floor + raw_wraps):.3f}", "-",
                 f"the same import / (json.loads + keygen + {wraps:,} raw RSA-2048 wraps on one thread "
                 f"{raw_wraps:.2f} s)"))
    row("import_100k_whatif_disable_5k_s", preview, "<= 1",
        f"on the imported landscape: what-if of disabling {CASCADE_KEY[1]} (its set serves {served:,} disks): "
        f"{len(impact.vms_stopping):,} VMs would stop, {preview:.2f} s in a new engine; the disable itself "
        f"{disable:.2f} s")
    RESULTS["import_100k_disable_5k_s"] = round(disable, 3)
    RESULTS["import_100k_json_loads_s"] = round(loads, 3)
    RESULTS["import_100k_json_loads_collector_running_s"] = round(loads_collected, 3)
    RESULTS["import_100k_keygen_s"] = round(keygen, 3)
    RESULTS["import_100k_vs_floor"] = round(total / floor, 3)


IMPORT_ROUNDS = 5
"""Pairs of floor and import the import step measures (the median pair is reported). Five, not three: the
floor's key generation is a random search for primes (four RSA-3072 stand-ins took 0.3 to 0.7 s), which
alone moved a pair's ratio by a fifth; the median of three moved with it."""

_FRESH = "CMKLAB_BENCH_FRESH_PROCESS"
"""Set in a step's own process (see :func:`_in_fresh_process`)."""


def _in_fresh_process(step: str) -> None:
    """Run ``step`` in a process of its own and take its rows: the steps before it leave this process's heap
    grown and its allocator tuned (the disk step keeps big buffers), which slowed a 100,000-resource import and
    its json.loads floor by a quarter, unevenly."""
    out = subprocess.run([sys.executable, __file__, "--only", step, "--rows-json"], capture_output=True, text=True,
                         env=dict(os.environ, **{_FRESH: "1"}), cwd=ROOT)
    sys.stderr.write(out.stderr)
    if out.returncode != 0:
        raise RuntimeError(f"the {step} step failed in its own process: {out.stderr[-2000:]}")
    taken = json.loads(out.stdout.splitlines()[-1])
    RESULTS.update(taken["results"])
    ROWS.extend(tuple(r) for r in taken["rows"])


def bench_keygen(repeats: int) -> None:
    for bits in (2048, 3072, 4096):
        t = median_time(lambda: rsa.generate_private_key(65537, bits), repeats)
        RESULTS[f"keygen_{bits}_s"] = round(t, 3)
        ROWS.append((f"keygen_{bits}_s", f"{t:.3f}", "-", f"RSA-{bits} generation, median of {repeats}"))


def bench_raw_limits() -> None:
    priv = rsa.generate_private_key(65537, 3072)
    pub = priv.public_key()
    w = [pub.encrypt(os.urandom(32), OAEP) for _ in range(300)]
    t = time.perf_counter()
    for x in w:
        priv.decrypt(x, OAEP)
    one = 300 / (time.perf_counter() - t)
    t = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda x: priv.decrypt(x, OAEP), w))
    two = 300 / (time.perf_counter() - t)
    RESULTS["raw_unwrap_3072_per_s"] = round(one)
    RESULTS["raw_unwrap_3072_2threads_per_s"] = round(two)
    ROWS.append(("raw_unwrap_3072_per_s", f"{one:.0f}", "-", f"RSA-OAEP-256 unwraps/s, one thread; two: {two:.0f}/s"))


def bench_console(n: int) -> None:
    """First frame and input latency, headless, through the real console (tests/bench/console_bench.py)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from console_bench import first_frame_ratio, input_latency_during_rotation_ms

    ratio, detail = first_frame_ratio(n, big_store)
    row("first_frame_10k_vs_empty", ratio, "<= 1.5", detail)
    ms, detail = input_latency_during_rotation_ms(2000, landscape)
    row("input_latency_during_rotation_ms", ms, "<= 100", detail)


def bench_console_100k(n: int) -> None:
    """The console on 100,000 resources: opening it, following another process, filtering (real app,
    headless; a real writer process). Uses the store bench_scale built, or builds one."""
    sys.path.insert(0, str(Path(__file__).parent))
    from console_bench import external_commit_freeze_ms, filter_keystroke_ms, first_frame_100k_ratio

    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as own:
        big = SHARED.get("big")
        if big is None:
            big_store(own, n).store.close()
            big = own
        open_engine(empty).store.close()
        ratio, detail = first_frame_100k_ratio(big, empty)
        row("first_frame_100k_vs_empty", ratio, "<= 1.5", detail)
        ms, detail = external_commit_freeze_ms(big)
        row("console_external_commit_freeze_100k_ms", ms, "<= 100", detail)
        ms, detail = filter_keystroke_ms(big)
        row("filter_keystroke_100k_ms", ms, "<= 50", detail)


def bench_classroom(n: int) -> None:
    """``cmklab classroom`` with n trainees opening their links at once (tests/bench/classroom_bench.py)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from classroom_bench import bench_classroom as run

    figures = run(n)
    bounds = {"classroom_30_first_screen_s": "<= 12", "classroom_console_rss_mb": "<= 60",
              "classroom_progress_visible_s": "<= 2"}
    for name, (value, detail) in figures.items():
        row(name, value, bounds[name], detail)


def _tunnel(port: int, host: str, ca: str):
    """A keep-alive HTTPS connection to ``host`` through the endpoint's proxy (CONNECT), as clients make it."""
    import http.client
    import ssl

    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(cafile=ca))
    conn.set_tunnel(host, 443)
    return conn


def _call(conn, method: str, path: str, token: str | None = None, body: bytes | None = None,
          ctype: str = "application/json") -> tuple[int, bytes]:
    headers = {"Content-Type": ctype}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def bench_endpoint(seconds: float) -> None:
    """``cmklab endpoint`` (a separate process) against the engine's own call rate for the same work: GET of
    a disk (ARM) and wrapKey (Key Vault), each over keep-alive tunnels from two client threads."""
    import base64
    import threading
    from urllib.parse import urlencode

    from console.endpoint.pki import EndpointFiles
    from engine import views

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        engine = open_engine(home, seed=5)
        engine.create_group("rg", "eastus")
        engine.create_vault("kvbench", "rg", enable_purge_protection=True)
        _, ver = engine.create_key("kvbench", "k1", size=3072)
        kid = f"https://kvbench.vault.azure.net/keys/k1/{ver['version']}"
        engine.create_disk("d1", "rg", size_gb=64)
        sub, tenant = engine.meta.subscription_id, engine.meta.tenant_id
        files = EndpointFiles(home)
        op = files.operator_principal(engine.meta.user_object_id)
        dek = os.urandom(32)

        def engine_get():
            views.disk_view(engine, engine.get_disk("d1", "rg"))

        def engine_wrap():
            engine.key_operation(None, kid, "wrapKey", dek, alg="RSA-OAEP-256")

        rate_get = _rate(lambda: engine_get, seconds, threads=1)
        rate_wrap = _rate(lambda: engine_wrap, seconds, threads=1)
        engine.store.close()
        proc = subprocess.Popen([sys.executable, "-m", "console.main", "--home", str(home), "endpoint", "--port", "0",
                                 "--quiet"], stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True)
        try:
            line = proc.stderr.readline()
            port = int(line.split("http://127.0.0.1:")[1].split(" ")[0])
            ca = str(files.ca_pem)

            def token(scope: str) -> str:
                conn = _tunnel(port, "login.microsoftonline.com", ca)
                form = urlencode({"grant_type": "client_credentials", "client_id": op["clientId"],
                                  "client_secret": op["secret"], "scope": scope}).encode()
                status, body = _call(conn, "POST", f"/{tenant}/oauth2/v2.0/token", None, form,
                                     "application/x-www-form-urlencoded")
                assert status == 200, body
                return json.loads(body)["access_token"]

            arm, kv = token("https://management.azure.com/.default"), token("https://vault.azure.net/.default")
            disk_path = (f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
                         "?api-version=2024-03-02")
            wrap_body = json.dumps({"alg": "RSA-OAEP-256", "value": base64.urlsafe_b64encode(dek).decode()
                                    .rstrip("=")}).encode()
            local = threading.local()

            def client(host):
                def make():
                    conn = _tunnel(port, host, ca)
                    local.conn = conn
                    return conn
                return make

            def http_get():
                conn = getattr(local, "conn", None) or client("management.azure.com")()
                status, _ = _call(conn, "GET", disk_path, arm)
                assert status == 200

            def http_wrap():
                conn = getattr(local, "kvconn", None)
                if conn is None:
                    conn = local.kvconn = _tunnel(port, "kvbench.vault.azure.net", ca)
                status, _ = _call(conn, "POST", f"/keys/k1/{ver['version']}/wrapkey?api-version=7.5", kv, wrap_body)
                assert status == 200

            cpu = time.process_time()  # (this process is the client alone: the endpoint runs in its own)
            ep_get = _rate(lambda: http_get, seconds, threads=2)
            client_cpu = (time.process_time() - cpu) / max(1.0, ep_get * seconds)  # per request, about
            ep_wrap = _rate(lambda: http_wrap, seconds, threads=2)
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(30)
    row("endpoint_get_disk_vs_engine", ep_get / rate_get, ">= 0.3",
        f"GET of a disk through cmklab endpoint: {ep_get:.0f} req/s (2 client threads, keep-alive tunnels) / "
        f"the engine's get_disk + view in-process: {rate_get:.0f}/s")
    cap = 2 / client_cpu  # both cores for the client alone, and a server that costs nothing
    row("endpoint_client_cap_vs_engine", cap / rate_get, "(ceiling)",
        f"the most any server could give this client: its own CPU per GET (Python HTTPS and TLS, "
        f"{client_cpu * 1e6:.0f} us) on both cores, nothing left for the server: {cap:.0f} req/s / the engine's "
        f"{rate_get:.0f}/s; a GET bound above it cannot hold on this machine")
    row("endpoint_wrapkey_vs_engine", ep_wrap / rate_wrap, ">= 0.3",
        f"wrapKey (RSA-3072, audited) through cmklab endpoint: {ep_wrap:.0f} req/s / the engine's key_operation "
        f"in-process: {rate_wrap:.0f}/s")


def _rate(make, seconds: float, threads: int) -> float:
    """Calls per second of ``make()()`` over ``seconds``, from ``threads`` threads (after a warm-up call each)."""
    import threading

    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i: int) -> None:
        fn = make()
        fn()
        n = 0
        while time.perf_counter() < stop:
            fn()
            n += 1
        counts[i] = n

    t0 = time.perf_counter()
    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def homes_dir(given: str | None) -> Path:
    """Where this run's homes and files live, its child processes' too (``tempfile`` and ``TMPDIR`` point there):
    ``given`` (``--dir``), else ``cmklab-bench`` beside cmklab's default home, where a user's homes live. Not the
    system's temporary directory: on the machine the README's figures come from, a file created in a directory
    made under ``/tmp`` took 0.8 ms against 20 us beside the default home, on the same file system (65 files: 52
    against 1.2 ms; an aged ``/tmp``, and no part of cmklab's cost). A store creates files as it compacts and
    writes blobs, so that directory alone had moved the re-key figure by several per cent."""
    from console.session import default_home

    where = Path(given).expanduser() if given else default_home().expanduser().absolute().parent / "cmklab-bench"
    where.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(where)
    os.environ["TMPDIR"] = str(where)
    return where


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats; about four minutes on 2 idle cores")
    ap.add_argument("--json", action="store_true", help="print a last line holding one JSON object")
    ap.add_argument("--rows-json", action="store_true", help=argparse.SUPPRESS)  # a step in its own process
    ap.add_argument("--only", help="comma-separated subset: rotation,scale,cascade,disk,cli,console,console100k,"
                    "keygen,raw,import,endpoint,classroom; commit (commit_vs_fsync_append alone, which scale measures "
                    "too)")
    ap.add_argument("--endpoint", action="store_true", help="also measure cmklab endpoint's throughput (GET of a "
                    "disk, wrapKey) beside the engine's own call rate")
    ap.add_argument("--dir", help="where the run's homes and files live (default: beside cmklab's default home, "
                    "where a user's homes live; see homes_dir)")
    ap.add_argument("--classroom", action="store_true",
                    help="also run the classroom figures (30 browser consoles at once: about a minute; not part of "
                         "the default run)")
    args = ap.parse_args()
    where = homes_dir(args.dir)
    reps = 3 if args.quick else 7
    only = set(args.only.split(",")) if args.only else None
    steps = [
        ("raw", bench_raw_limits),
        ("rotation", lambda: bench_rotation(2000, repeats=reps)),
        ("scale", lambda: bench_scale((1000, 10000, 100000), reps + 2)),
        ("commit", lambda: None if only is None or "scale" in only else bench_commit(100000, reps + 2)),
        ("cascade", lambda: bench_cascade(100000, 2000, 5000)),
        ("disk", lambda: bench_disk_io(64, reps)),
        ("cli", lambda: bench_cli(1000, reps + 2)),
        ("console", lambda: bench_console(10000)),
        ("console100k", lambda: bench_console_100k(100000)),
        ("keygen", lambda: bench_keygen(3 if args.quick else 5)),
        ("import", lambda: bench_import(100000)),
        ("endpoint", lambda: bench_endpoint(3.0 if args.quick else 8.0)),
    ]
    if args.classroom or (only is not None and "classroom" in only):
        steps.append(("classroom", lambda: bench_classroom(30)))
    t0 = time.perf_counter()
    for name, fn in steps:
        if (only is None and (name != "endpoint" or args.endpoint)) or (only is not None and name in only):
            fn()
            # each step starts on a collected heap: what an earlier step froze (the console freezes what it
            # loads, for the life of its process) is let go, so that it slows no later step (the import, whose
            # worker is forked at its start, paid a copy of every shared page it wrote; it now runs in a process
            # of its own, see _in_fresh_process)
            gc.unfreeze()
            gc.collect()
    width = max(len(r[0]) for r in ROWS)
    print(f"{'figure':<{width}}  {'value':>9}  {'bound':>8}  detail")
    for name, value, bound, detail in ROWS:
        print(f"{name:<{width}}  {value:>9}  {bound:>8}  {detail}")
    print(f"(run took {time.perf_counter() - t0:.0f} s on {os.cpu_count()} cores; homes under {where})")
    with contextlib.suppress(OSError):
        where.rmdir()  # (made by this run, and empty again: every step removes what it made)
    if args.json:
        print(json.dumps(RESULTS, sort_keys=True))
    if args.rows_json:
        print(json.dumps({"results": RESULTS, "rows": ROWS}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
