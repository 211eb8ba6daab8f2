"""Crash safety: real processes killed with SIGKILL at random moments of their writes.

The landscape (reliability_crash_driver.build_landscape, seeded, so that every run is deterministic) has a
set with many disks, an auto-rotating set whose key has a rotation policy, a soft-deleted key due for
purge, a double-encryption set, a running VM with data and a disk with megabytes of data. The plan
(reliability_crash_driver.PLAN) creates a key, rotates one, re-keys the big set, writes data, creates a
disk, snapshots the heavy disk, advances the clock 100 days with due jobs, deletes a disk, converts a
disk to double encryption, disables and enables a key, starts the VM ...

Two harnesses:

* ``cmklab`` commands: each action of the plan is one real ``cmklab`` process (``cmklab az keyvault key
  create ...``, ``cmklab az disk-encryption-set update ...``, ``cmklab clock advance 100d`` ...), started on
  the state the previous actions left and killed after a random delay in [0, its typical duration];
* a driver process running the whole plan through the facade, printing ``ACK i`` after each action,
  killed after a random delay in [0, the plan's typical duration].

After each kill: the store opens; its documents equal, exactly, those of the reference run after the
acknowledged prefix, or after one more action (the one that was running may have committed just before
the kill); and every disk, snapshot and image whose key is usable reads back exactly the data the
reference run reads at that prefix (so the last acknowledged data, never a torn or lost blob).

Quick mode: 10 kills; long mode (CMKLAB_LONG=1): 250.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402

import reliability_crash_driver as D  # noqa: E402
import reliability_harness as H  # noqa: E402
from console.session import open_engine  # noqa: E402
from engine import crypto  # noqa: E402
from engine.errors import EngineError  # noqa: E402

CLI_KILLS, DRIVER_KILLS = (150, 100) if H.LONG else (6, 4)
SEED = 21
MAX_READ = 8 * 1024 * 1024


class _Done(Exception):
    pass


def data_digests(e) -> dict:
    """sha256 of what each readable resource holds (up to its last written block), read through the vault
    in a dry run: nothing is committed, so reading leaves the store as it was."""
    out = {}
    for r in H.all_resources(e):
        if not e.readable(r):
            continue
        end = max((off + n for off, n in e.store.blobs.extents(r.blob)), default=0)
        length = min(MAX_READ, max(crypto.BLOCK_SIZE, -(-end // crypto.RECORD_SIZE) * crypto.BLOCK_SIZE))
        try:
            with e.transaction(dry_run=True):
                keys = e._open(r)
                raise _Done
        except _Done:
            pass
        try:
            out[r.id] = hashlib.sha256(e._read_data(r, keys, 0, length)).hexdigest()
        except EngineError as err:  # a torn or damaged block: the resource no longer reads
            out[r.id] = f"UNREADABLE {err.display_code}: {err.message}"
    return out


def observe(home: Path) -> tuple[dict, dict]:
    """(documents, data digests) of a home; raises if the store does not open. The journal's lines are compared
    without their origin note, which says which front end wrote them (a ``cmklab`` command notes its words; the
    reference plan runs on the facade, which notes none): every other field must be the same."""
    e = open_engine(home)
    try:
        return _without_origin(H.docs_of(e)), data_digests(e)
    finally:
        e.store.close()


def _without_origin(docs: dict) -> dict:
    for line in docs.get("audit", {}).values():
        line.pop("origin", None)
    for line in docs.get("events", {}).values():
        if isinstance(line.get("data"), dict):
            line["data"].pop("origin", None)
    return docs


@pytest.fixture(scope="module")
def landscape(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("crash") / "landscape"
    e = open_engine(home, seed=SEED)
    D.build_landscape(e)
    e.store.close()
    return home


LOGS = ("audit", "events")


def _split(docs: dict) -> tuple[dict, dict]:
    return ({t: rows for t, rows in docs.items() if t not in LOGS},
            {t: rows for t, rows in docs.items() if t in LOGS})


def check_after_kill(home: Path, candidates: list[tuple[dict, dict]], what: str) -> int:
    """The store opens and equals one of the candidate states, data included; returns the index matched.

    candidates[0] is the state after the acknowledged actions, candidates[1] (if any) after one more. The
    audit and event logs match the state exactly: every line of each committed action is there (its lines
    travel in its commit record, and the journal's copy is repaired from it) and none of an action that did
    not commit.
    """
    try:
        docs, digests = observe(home)
    except EngineError as err:
        raise AssertionError(f"{what}: the store does not open after the kill: {err.to_dict()}") from None
    state, logs = _split(docs)
    acked_logs = _split(candidates[0][0])[1]
    for t in LOGS:
        missing = set(acked_logs.get(t, {})) - set(logs.get(t, {}))
        assert not missing, f"{what}: acknowledged {t} lines lost: {sorted(missing)[:5]}"
    matched = [i for i, (ref_docs, _) in enumerate(candidates) if _split(ref_docs)[0] == state]
    if matched and not any(candidates[i][1] == digests for i in matched):
        ref_digests = candidates[matched[0]][1]
        lost = {r: digests.get(r) for r, d in ref_digests.items() if digests.get(r) != d}
        raise AssertionError(f"{what}: data does not read back: {lost}")
    for i, (ref_docs, ref_digests) in enumerate(candidates):
        ref_state, ref_logs = _split(ref_docs)
        if state == ref_state and ref_digests == digests:
            for t in LOGS:
                extra = {k for k in logs.get(t, {}) if ref_logs.get(t, {}).get(k) != logs[t][k]}
                assert not extra, f"{what}: {t} lines of an action that did not commit: {sorted(extra)[:5]}"
                gone = set(ref_logs.get(t, {})) - set(logs.get(t, {}))
                assert not gone, f"{what}: {t} lines of a committed action lost: {sorted(gone)[:5]}"
            lost = {r: d for r, d in ref_digests.items() if digests.get(r) != d}
            assert not lost, f"{what}: data does not read back for {sorted(lost)}"
            assert set(digests) == set(ref_digests), f"{what}: readable resources differ"
            return i
    raise AssertionError(f"{what}: the state after the kill is none of the acknowledged prefixes ("
                         + " | ".join(_diff(docs, c[0]) for c in candidates) + ")")


def _diff(a: dict, b: dict) -> str:
    out = []
    for t in sorted(set(a) | set(b)):
        ka, kb = set(a.get(t, {})), set(b.get(t, {}))
        changed = [k for k in ka & kb if a[t][k] != b[t][k]]
        if ka != kb or changed:
            fields = sorted({f for k in changed for f in set(a[t][k]) | set(b[t][k])
                             if a[t][k].get(f) != b[t][k].get(f)})
            out.append(f"{t}: +{len(ka - kb)} -{len(kb - ka)} ~{len(changed)} {fields[:6]}")
    return "; ".join(out) or "no difference"


def kill_after(proc: subprocess.Popen, delay: float) -> bool:
    """SIGKILL ``proc`` after ``delay`` seconds; True if it was still running then."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True


# ---- the reference run ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(landscape, tmp_path_factory):
    """The plan through the facade, in this process: the home, state and data before each action, and how
    long each action took (H0 = the landscape, H1 after action 0 ...)."""
    base = tmp_path_factory.mktemp("reference")
    homes = [base / "h0"]
    shutil.copytree(landscape, homes[0])
    states = [observe(homes[0])]
    times = []
    for i, op in enumerate(D.PLAN):
        nxt = base / f"h{i + 1}"
        shutil.copytree(homes[-1], nxt)
        e = open_engine(nxt)
        t = time.monotonic()
        op.run(e)
        times.append(time.monotonic() - t)
        e.store.close()
        homes.append(nxt)
        states.append(observe(nxt))
    return homes, states, times


def _startup(home: Path, argv: list[str]) -> float:
    """How long a process takes to start and open the store (a read-only command on the landscape)."""
    best = None
    for _ in range(2):
        t = time.monotonic()
        subprocess.run(argv, cwd=H.REPO, env=H.child_env(), capture_output=True, timeout=120, check=True)
        best = min(best or 1e9, time.monotonic() - t)
    return best


def _delay(rng: random.Random, startup: float, work: float) -> float:
    """Half the kills anywhere in [0, typical duration]; half in the action's own writing window (the last
    part of the run), where a kill can land between a blob write and the commit, or inside the commit."""
    typical = startup + work * 1.5
    if rng.random() < 0.5:
        return rng.uniform(0, typical)
    return rng.uniform(max(0.0, startup - 0.05), typical)


# ---- the cmklab harness: one process per action ------------------------------------------------------


def cli(home: Path, argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(H.cmklab_command() + ["--home", str(home)] + argv, cwd=H.REPO,
                            env=H.child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def cli_ready():
    if not H.cmklab_cli_ready():
        pytest.skip("the cmklab CLI is not available yet")


def test_cli_processes_killed_at_random(cli_ready, reference, landscape, tmp_path):
    """Each kill: one ``cmklab`` command of the plan, started on the state the actions before it left."""
    homes, states, times = reference
    startup = _startup(landscape, H.cmklab_command() + ["--home", str(landscape), "az", "group", "list", "-o",
                                                        "none"])
    rng = random.Random(None if H.LONG else 4242)
    for run in range(CLI_KILLS):
        j = rng.randrange(len(D.PLAN))
        home = tmp_path / f"run{run}"
        shutil.copytree(homes[j], home)
        e = open_engine(home)
        argv = D.PLAN[j].cli(e)
        e.store.close()
        delay = _delay(rng, startup, times[j])
        p = cli(home, argv)
        killed = kill_after(p, delay)
        H.record("crash runs")
        if not killed:
            assert p.returncode == 0, p.stderr.read().decode()
        what = f"cmklab {' '.join(argv[:4])} killed after {delay:.3f}s (start-up {startup:.3f}s)"
        matched = check_after_kill(home, [states[j], states[j + 1]], what)
        H.record("crash runs survived")
        H.record("crash acknowledged operations", j)
        if killed:
            H.record("crash kills mid-operation")
            H.record("crash kills after the commit (action applied)", matched)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.skipif(not H.LONG, reason="long mode: the whole plan through cmklab, compared with the facade")
def test_cli_plan_equals_the_facade_plan(cli_ready, reference, tmp_path):
    homes, states, _ = reference
    home = tmp_path / "home"
    shutil.copytree(homes[0], home)
    for j, op in enumerate(D.PLAN):
        e = open_engine(home)
        argv = op.cli(e)
        e.store.close()
        p = cli(home, argv)
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
        assert observe(home) == states[j + 1], f"cmklab {' '.join(argv)} differs from the facade"


# ---- the driver harness: the whole plan in one process ------------------------------------------------


def test_driver_killed_at_random(reference, landscape, tmp_path):
    homes, states, times = reference
    driver = [sys.executable, str(H.HERE / "reliability_crash_driver.py")]
    startup = _startup(landscape, driver + [str(landscape), "--open-only"])
    rng = random.Random(None if H.LONG else 2424)
    for run in range(DRIVER_KILLS):
        home = tmp_path / f"run{run}"
        shutil.copytree(landscape, home)
        delay = _delay(rng, startup, sum(times))
        p = subprocess.Popen(driver + [str(home)], cwd=H.REPO, env=H.child_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        killed = kill_after(p, delay)
        out = p.stdout.read()
        if not killed:
            assert p.returncode == 0 and out.splitlines()[-1] == "DONE", p.stderr.read()
        acked = sum(1 for line in out.splitlines() if line.startswith("ACK "))
        H.record("crash runs")
        what = f"driver killed after {delay:.3f}s, {acked} action(s) acknowledged"
        check_after_kill(home, states[acked:acked + 2], what)
        if killed and "READY" in out:
            H.record("crash kills mid-operation")
        H.record("crash runs survived")
        H.record("crash acknowledged operations", acked)
        shutil.rmtree(home, ignore_errors=True)


# ---- the audit journal and the commit point -----------------------------------------------------------------


def _small(home: Path):
    e = open_engine(home, seed=4)
    e.create_group("rg", "eastus")
    e.create_vault("kv1", "rg", enable_purge_protection=True)
    return e


class _Died(BaseException):
    """Stands for the process dying (SIGKILL) at that instant."""


def _audited_keys(home: Path) -> list[str]:
    e = open_engine(home)
    try:
        return [a.kid.split("/keys/")[1].split("/")[0] for a in e.t["audit"].values() if a.operation == "KeyCreate"]
    finally:
        e.store.close()


def _journal_ids(home: Path) -> list[int]:
    import json

    return [int(json.loads(line)["id"]) for line in (home / "journal.jsonl").read_bytes().splitlines()]


def test_a_process_that_dies_before_the_commit_point_leaves_no_trace(tmp_path, monkeypatch):
    """The action's journal lines travel in its commit record: a process that dies before that record is
    whole leaves neither its documents nor a line of its journal."""
    import store.tinystore as ts

    home = tmp_path / "home"
    e = _small(home)
    lines = len(_journal_ids(home))
    monkeypatch.setattr(ts.TinyStore, "_append", lambda self, payload: (_ for _ in ()).throw(_Died()))
    with pytest.raises(_Died):
        e.create_key("kv1", "k1")
    monkeypatch.undo()
    assert len(_journal_ids(home)) == lines and b"/keys/k1" not in (home / "journal.jsonl").read_bytes()
    after = open_engine(home)
    assert [k.name for k in after.t["keys"].values()] == []  # the action did not commit ...
    assert "KeyCreate" not in [a.operation for a in after.t["audit"].values()]  # ... and left no line
    after.create_key("kv1", "k2")
    after.store.close()
    assert _audited_keys(home) == ["k2"]
    assert _journal_ids(home) == list(range(1, len(_journal_ids(home)) + 1))  # ids stay dense


def test_a_process_that_dies_between_the_commit_point_and_the_journal_copy_loses_no_line(tmp_path, monkeypatch):
    """Once its record is in the commit log, an action is committed with its journal lines; the copy into
    journal.jsonl comes after. A process that dies between the two leaves the journal behind: readers take
    the lines from the log, the next open copies them (once), and the next action's ids follow them."""
    import store.logs as logs_mod

    home = tmp_path / "home"
    e = _small(home)
    real_write = logs_mod.LogFiles.write

    def die(self, lines, committed_gen, gen, *, sync):
        raise _Died()

    monkeypatch.setattr(logs_mod.LogFiles, "write", die)
    with pytest.raises(_Died):
        e.create_key("kv1", "k1")
    monkeypatch.setattr(logs_mod.LogFiles, "write", real_write)
    journal = (home / "journal.jsonl").read_bytes()
    assert b"/keys/k1" not in journal  # the journal is behind the log ...
    import store.tinystore as ts

    with monkeypatch.context() as m:  # ... a reader that cannot write (a read-only home) reads them from the log
        m.setattr(ts.TinyStore, "_writable", lambda self: False)
        reader = open_engine(home)
        assert [k.name for k in reader.t["keys"].values()] == ["k1"]
        assert [a.operation for a in reader.t["audit"].values()].count("KeyCreate") == 1
        reader.store.close()
        assert (home / "journal.jsonl").read_bytes() == journal
    assert _audited_keys(home) == ["k1"]  # the first writable open copied them ...
    copied = (home / "journal.jsonl").read_bytes()
    assert copied.count(b"/keys/k1/") >= 1 and copied.startswith(journal)
    assert _audited_keys(home) == ["k1"] and (home / "journal.jsonl").read_bytes() == copied  # ... once
    again = open_engine(home)
    again.create_key("kv1", "k2")
    again.store.close()
    assert _audited_keys(home) == ["k1", "k2"]
    assert _journal_ids(home) == list(range(1, len(_journal_ids(home)) + 1))


def test_orphan_journal_lines_of_schema_2_are_ignored_and_dropped_by_the_next_append(tmp_path):
    """Schema 2 wrote the journal before the state: a crash between the two left lines of a generation the
    state never reached. Readers ignore them and the next append drops them."""
    import json

    home = tmp_path / "home"
    e = _small(home)
    gen = e.store.generation
    e.store.close()
    orphan = {"caller": "x", "gen": gen + 1, "id": f"{len(_journal_ids(home)) + 1:09d}", "kid":
              "https://kv1.vault.azure.net/keys/k1/0", "log": "audit", "operation": "KeyCreate", "result": "OK",
              "time": "2026-01-01T00:00:00Z", "vault": "kv1"}
    with open(home / "journal.jsonl", "ab") as f:
        f.write(json.dumps(orphan, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    after = open_engine(home)
    assert "KeyCreate" not in [a.operation for a in after.t["audit"].values()]  # readers ignore it
    after.create_key("kv1", "k2")
    after.store.close()
    journal = (home / "journal.jsonl").read_bytes()
    assert b"/keys/k1/" not in journal and b"/keys/k2" in journal  # the next append dropped it
    assert _audited_keys(home) == ["k2"]


def test_committed_key_operation_keeps_its_audit_line_if_the_process_dies_after_the_commit(tmp_path, monkeypatch):
    home = tmp_path / "home"
    e = _small(home)
    real_commit = e.store.commit

    def commit_then_die(*a, **k):
        real_commit(*a, **k)
        raise _Died()

    monkeypatch.setattr(e.store, "commit", commit_then_die)
    with pytest.raises(_Died):
        e.create_key("kv1", "k1")
    after = open_engine(home)
    assert [k.name for k in after.t["keys"].values()] == ["k1"]  # committed ...
    assert [a.operation for a in after.t["audit"].values()].count("KeyCreate") == 1  # ... so audited


def test_a_failed_commit_refuses_the_action_with_memory_and_disk_in_step(tmp_path, monkeypatch):
    import store.tinystore as ts
    from engine.errors import StoreError

    home = tmp_path / "home"
    e = _small(home)
    lines = (home / "journal.jsonl").read_bytes()

    def fail(self, payload):
        raise StoreError("simulated: the commit log cannot be written")

    monkeypatch.setattr(ts.TinyStore, "_append", fail)
    with pytest.raises(EngineError):
        e.create_key("kv1", "k1")
    monkeypatch.undo()
    on_disk = sorted(k.name for k in open_engine(home).t["keys"].values())
    in_memory = sorted(k.name for k in e.t["keys"].values())
    assert in_memory == on_disk == []
    assert (home / "journal.jsonl").read_bytes() == lines  # not a line of it either


def test_a_failed_journal_append_refuses_an_audited_read(tmp_path, monkeypatch):
    from engine.errors import StoreError

    e = _small(tmp_path / "home")
    e.create_key("kv1", "k1")

    def fail(entries, gen=None):
        raise StoreError("simulated: the journal cannot be written")

    monkeypatch.setattr(e.store, "append_log", fail)
    with pytest.raises(EngineError):
        e.get_key("kv1", "k1")  # a KeyGet that cannot be audited is not served