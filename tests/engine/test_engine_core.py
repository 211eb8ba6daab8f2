"""The engine's machinery: the crypto is real, one write per action, failures change nothing, events, profiles."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from console.session import open_engine
from engine import Engine, crypto
from engine import events as ev
from engine._light import FrozenInstanceError
from engine.errors import CryptoError, EngineError
from engine.repository import MemoryStore
from engine.rules import ENC_DOUBLE
from store import TinyStore, state_files

SECRET = b"customer ledger: account 4711 balance 1,000,000.00 EUR"


def _renderings(n: int) -> list[str]:
    """The ways a big integer could show up in a text file: decimal, hex, base64 and base64url."""
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    b64 = base64.b64encode(raw).decode()
    url = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return [str(n), format(n, "x"), b64.rstrip("="), url, b64[:40], url[:40]]


def _private_of(home: Path, kid: str, sealed: str):
    """Open a sealed version with the root key file (the HSM boundary), independently of the engine."""
    root = (home / "root.key").read_bytes()
    return crypto.private_from_der(crypto.Sealer(root).unseal_text(sealed, kid.encode()))


@pytest.fixture
def disk_engine(tmp_path, kit):
    home = tmp_path / "home"
    e = open_engine(home)
    kid, des = kit.basic(e)
    kit.vm(e, "vm1")
    e.vm_write("vm1", 0, 0, SECRET)
    yield e, home, kid
    e.store.close()


# ============================================================================================ the crypto is real


def test_K2_data_key_unwraps_only_with_the_private_key_of_its_own_version(disk_engine, kit):
    e, home, kid1 = disk_engine
    kid2 = kit.key(e)  # a second version of k1
    k = e.t["keys"]["https://kv1.vault.azure.net/keys/k1"]
    priv1 = _private_of(home, kid1, k.versions[0]["sealed"])
    priv2 = _private_of(home, kid2, k.versions[1]["sealed"])
    d = e.get_disk(e.get_vm("vm1").data_disks[0]["diskId"].rsplit("/", 1)[1])
    wrapped = e.unb64(d.layers[0]["wrapped"])
    dek = crypto.unwrap_key(priv1, wrapped)
    with pytest.raises(CryptoError):
        crypto.unwrap_key(priv2, wrapped)
    with pytest.raises(CryptoError):
        crypto.unwrap_key(crypto.generate_rsa(2048), wrapped)
    # and that data key, and no other, decrypts the bytes in the blob file
    blob = Path(e.store.blobs.filename(d.unique_id)).read_bytes()
    plain = crypto.BlockCipher(dek, d.unique_id.encode()).decrypt_blocks(0, blob[:crypto.RECORD_SIZE])
    assert plain[:len(SECRET)] == SECRET
    # the public key in the store is the pair of the sealed private key
    assert crypto.public_numbers_jwk(priv1)["n"] == k.versions[0]["n"]


def test_K2_flipping_a_byte_of_the_wrapped_key_is_detected(disk_engine, kit):
    e, home, kid = disk_engine
    e.deallocate_vm("vm1")
    d = e.get_disk("vm1-os")
    raw = bytearray(e.unb64(d.layers[0]["wrapped"]))
    raw[len(raw) // 2] ^= 0x01
    with e.transaction():
        e._touch(d)
        d.layers[0]["wrapped"] = e.b64(bytes(raw))
    err = kit.refused(e.start_vm, "vm1")
    assert "cannot be unwrapped" in err.message and err.code == "WrappedDataKeyCorrupt"
    err = kit.refused(e.read_resource, "disk", "vm1-os", 0, 16)
    assert "cannot be unwrapped" in err.message and err.code == "WrappedDataKeyCorrupt"
    assert e.get_vm("vm1").power == "deallocated"


def test_K2_flipping_a_byte_of_a_ciphertext_record_is_detected(disk_engine, kit):
    e, home, kid = disk_engine
    d = e.get_disk(e.get_vm("vm1").data_disks[0]["diskId"].rsplit("/", 1)[1])
    path = Path(e.store.blobs.filename(d.unique_id))
    blob = bytearray(path.read_bytes())
    blob[crypto.NONCE_SIZE + 10] ^= 0x80
    path.write_bytes(bytes(blob))
    err = kit.refused(e.vm_read, "vm1", 0, 0, 16)
    assert isinstance(err, CryptoError) and err.inner_code == "InvalidCiphertext"
    assert "block 0 failed its integrity check" in err.message
    assert e.vm_read("vm1", 0, crypto.BLOCK_SIZE, 4) == b"\0" * 4  # other blocks are unaffected


def test_K2_the_store_holds_no_private_key_no_data_key_and_no_plaintext(disk_engine, kit):
    e, home, _ = disk_engine
    kit.vault(e, "kvdbl")
    kit.des(e, "dbl", kit.key(e, "kvdbl", "k3", size=3072), encryption_type=ENC_DOUBLE)
    e.attach_disk("vm1", "dd", new=True, size_gb=4, disk_encryption_set="dbl")
    e.vm_write("vm1", 1, 0, SECRET)
    e.create_snapshot("s1", kit.RG, source="dd")
    from store import state_files

    state = b"".join(state_files(home).values()).decode()
    blobs = b"".join(p.read_bytes() for p in (home / "blobs").iterdir())
    assert "PRIVATE KEY" not in state and b"PRIVATE KEY" not in blobs
    assert SECRET.decode() not in state and SECRET not in blobs
    checked = 0
    for k in e.t["keys"].values():
        for ver in k.versions:
            kid = f"{k.id}/{ver['version']}"
            nums = _private_of(home, kid, ver["sealed"]).private_numbers()
            for n in (nums.d, nums.p, nums.q, nums.dmp1, nums.dmq1, nums.iqmp):
                for text in _renderings(n):
                    assert text not in state
                    assert text.encode() not in blobs
                checked += 1
            der = crypto.private_to_der(_private_of(home, kid, ver["sealed"]))
            assert base64.b64encode(der).decode()[:60] not in state
    for pk in e.t["platform_keys"].values():
        nums = _private_of(home, pk.id, pk.sealed).private_numbers()
        for text in _renderings(nums.d) + _renderings(nums.p):
            assert text not in state
    assert checked >= 12
    for table in ("disks", "snapshots"):
        for r in e.t[table].values():
            for layer in r.layers:
                kid = layer["kid"]
                sealed = (e.t["platform_keys"][kid].sealed if kid.startswith("platform:") else
                          next(v["sealed"] for k in e.t["keys"].values() for v in k.versions
                               if f"{k.id}/{v['version']}" == kid))
                dek = crypto.unwrap_key(_private_of(home, kid, sealed), e.unb64(layer["wrapped"]))
                for text in (base64.b64encode(dek).decode()[:24], dek.hex()[:32]):
                    assert text not in state


def test_K2_the_root_key_is_a_separate_file_with_mode_0600(disk_engine):
    e, home, _ = disk_engine
    if os.name == "posix":  # (file modes are POSIX)
        assert (home / "root.key").stat().st_mode & 0o777 == 0o600
    assert (home / "root.key").read_bytes() not in b"".join(state_files(home).values())


# ============================================================================================ one write per action


def test_one_store_write_per_user_action(e, kit):
    """One write per action, whatever the number of records: the state commit, which carries the action's
    audit entries and events; an action that changes no state (KeyGet) writes only its journal line."""
    journal: list[int] = []

    def writes(fn, *a, **kw) -> int:
        n, j = e.store.commits, e.store.appends
        fn(*a, **kw)
        journal.append(e.store.appends - j)
        assert journal[-1] <= 1, "audit entries and events of one action go in one journal append"
        if e.store.commits > n:
            assert journal[-1] == 0, "an action that commits carries its journal lines in the commit"
        return e.store.commits - n

    e.create_group(kit.RG, kit.REGION)
    assert writes(e.create_vault, "kv1", kit.RG, enable_purge_protection=True, retention_days=7) == 1
    assert writes(e.create_key, "kv1", "k1") == 1
    kid = kit.key(e)
    assert writes(e.create_des, "des1", kit.RG, key_url=kid) == 1
    assert writes(e.set_policy, "kv1", e.get_des("des1").principal_id, kit.GRANT) == 1
    assert writes(kit.vm, e, "vm1", data=4) == 1  # a VM, five disks, a platform key: one write
    assert writes(kit.vm, e, "vm2", data=4) == 1
    assert writes(e.stop_vm, "vm1") == 1
    assert writes(e.start_vm, "vm1") == 1
    assert writes(e.update_des, "des1", key_url=kit.key(e)) == 1  # ten data keys re-wrapped
    assert writes(e.set_key_attributes, "kv1", "k1", enabled=False, all_versions=True) == 1  # + cascade
    assert writes(e.set_key_attributes, "kv1", "k1", enabled=True, all_versions=True) == 1
    e.set_rotation_policy("kv1", "k1", {"lifetimeActions": [
        {"trigger": {"timeAfterCreate": "P7D"}, "action": {"type": "Rotate"}}], "attributes": {}})
    assert writes(e.advance_clock, "30d") == 1  # four rotations and more: one write
    assert len(e.get_key("kv1", "k1", audit=False)[0].versions) >= 6
    assert writes(e.get_key, "kv1", "k1") == 0  # KeyGet changes no state...
    assert journal[-1] == 1  # ...and is audited: one journal append
    assert writes(e.start_vm, "vm1") == 1
    for query in (lambda: e.list_vms(), lambda: e.list_disks(), lambda: e.why(e.get_vm("vm1").id),
                  lambda: e.get_des("des1"), lambda: e.pending_jobs(),
                  lambda: e.what_if("delete_key", "kv1", "k1"), lambda: e.vm_write("vm1", 0, 0, b"x"),
                  lambda: e.vm_read("vm1", 0, 0, 1), lambda: e.get_key("kv1", "k1", audit=False)):
        assert writes(query) == 0
        assert journal[-1] == 0
    assert writes(kit.refused, e.create_vault, "kv1", kit.RG) == 0  # refused: nothing to write


def test_one_store_write_per_user_action_on_a_tinydb_store(tmp_path, kit):
    store = TinyStore(tmp_path / "home")
    e = Engine(store, seed=2)
    kit.basic(e)
    g = store.generation
    kit.vm(e, "vm1", data=3)
    assert store.generation == g + 1
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert store.generation == g + 2
    store.close()


def test_a_denied_attempt_writes_only_its_audit_entry(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    e.set_key_attributes("kv1", "k1", enabled=False)
    n, j = e.store.commits, e.store.appends
    kit.refused(e.start_vm, "vm1")
    assert e.store.commits == n  # the refused action changes no state...
    assert e.store.appends == j + 1  # ...but Key Vault keeps the denied attempt: one journal line
    assert kit.audit(e)[-1].result == "Forbidden"


# ============================================================================================ failures change nothing


def _refusals(e, kit):
    """(description, callable) pairs, each refused."""
    des = e.get_des("des1")
    return [
        ("start on a disabled key", lambda: e.start_vm("vm1")),
        ("purge while protected", lambda: e.purge_key("kv1", "gone")),
        ("vm whose second data disk is forbidden", lambda: e.create_vm(
            "vm9", kit.RG, os_disk_encryption_set="des2", data_disk_sizes_gb=[4, 4],
            data_disk_encryption_sets=["des2", "nogrant"])),
        ("set on an unprotected vault", lambda: e.create_des("des9", kit.RG, key_url=kit_key_in(e, "kvfree"))),
        ("re-key to a disabled key", lambda: e.update_des("des1", key_url=des.key_url)),
        ("delete a set in use", lambda: e.delete_des("des2")),
        ("encrypt a running vm's disk", lambda: e.update_disk("vm2-os", disk_encryption_set="des2")),
        ("snapshot of an unreadable disk", lambda: e.create_snapshot("s9", kit.RG, source="vm1-os")),
        ("double on a customer set", lambda: e.create_disk("d9", kit.RG, disk_encryption_set="des2",
                                                          encryption_type=ENC_DOUBLE)),
        ("an unknown region", lambda: e.create_disk("d9", kit.RG, location="mars")),
        ("restart a deallocated vm", lambda: e.restart_vm("vm3")),
        ("attach at a taken lun", lambda: e.attach_disk("vm2", "spare", lun=0)),
        ("bad rotation policy", lambda: e.set_rotation_policy("kv1", "k2", {"lifetimeActions": [
            {"trigger": {"timeAfterCreate": "P1D"}, "action": {"type": "Rotate"}}]})),
    ]


def kit_key_in(e, vault: str) -> str:
    k = e.list_keys(vault)[0]
    return f"{k.id}/{k.current['version']}"


def test_failed_actions_change_no_state_except_the_audit_of_denied_attempts(e, kit):
    kid, des = kit.basic(e)
    kit.des(e, "des2", kit.key(e, "kv1", "k2"))
    kit.des(e, "nogrant", kid, grant=False)
    kit.vault(e, "kvfree", purge_protection=False)
    kit.key(e, "kvfree", "kf")
    kit.vm(e, "vm1")
    kit.vm(e, "vm2", des=None, os_des=None)
    kit.vm(e, "vm3", des="des2")
    e.deallocate_vm("vm3")
    e.create_disk("spare", kit.RG, size_gb=4)
    e.set_key_attributes("kv1", "k1", enabled=False)
    e.create_key("kv1", "gone")
    e.delete_key("kv1", "gone")
    refusals = _refusals(e, kit)
    seen = []
    e.subscribe(seen.append)

    def unchanged(docs: dict) -> dict:
        """Without the audit of denied attempts and the record of a refused VM start or disk encryption change
        (all kept)."""
        out = kit.without_audit(docs)
        out["events"] = {k: v for k, v in out.get("events", {}).items()
                         if v["type"] not in ("VmStartRefused", "DiskEncryptionRefused")}
        return out

    for what, fn in refusals:
        mem, disk = kit.docs(e), kit.persisted(e)
        err = kit.refused(fn)
        assert err.code, what
        assert unchanged(kit.docs(e)) == unchanged(mem), what
        assert unchanged(kit.persisted(e)) == unchanged(disk), what
        assert kit.docs(e) == {t: rows for t, rows in kit.persisted(e).items()} | \
            {t: {} for t in kit.docs(e) if t not in kit.persisted(e)}, what
    assert seen == []  # nothing was published for refused actions
    denied = [a for a in kit.audit(e) if a.result != "OK"]
    assert {a.operation for a in denied} == {"KeyUnwrap", "KeyPurge"}
    # the refused starts (vm1's, and vm9's when it was created) are on record, naming their VM
    started = [ev.summary.split(":")[0] for ev in e.t["events"].values() if ev.type == "VmStartRefused"]
    assert started and all(s.startswith("VM vm1 cannot start") or s.startswith("VM vm9 cannot start")
                           for s in started)


def test_a_failed_action_leaves_the_engine_fully_usable(e, kit):
    kit.basic(e)
    before = kit.docs(e)
    kit.refused(e.create_vm, "vm1", kit.RG, os_disk_encryption_set="des1", data_disk_sizes_gb=[4],
                data_disk_encryption_sets=["missing"])
    assert kit.docs(e) == before
    assert kit.vm(e, "vm1").power == "running"  # the same names, ids and rng stream work afterwards
    assert len(e.list_disks()) == 2


def test_an_unexpected_exception_rolls_back_too(e, kit, monkeypatch):
    kit.basic(e)
    before = kit.persisted(e), kit.docs(e)
    monkeypatch.setattr(type(e), "_check_eah", lambda self, vm: (_ for _ in ()).throw(ZeroDivisionError()))
    with pytest.raises(ZeroDivisionError):
        kit.vm(e, "vm1")
    assert (kit.persisted(e), kit.docs(e)) == before


# ============================================================================================ events


def test_events_are_typed_immutable_and_published_after_the_commit(e, kit):
    seen = []
    commits_at_publish = []
    e.subscribe(lambda x: (seen.append(x), commits_at_publish.append(e.store.commits)))
    kid, des = kit.basic(e)
    kit.vm(e, "vm1")
    e.set_key_attributes("kv1", "k1", enabled=False)
    kinds = [x.kind for x in seen]
    assert kinds[:3] == ["ResourceGroupCreated", "VaultCreated", "KeyCreated"]
    assert "DiskEncryptionSetCreated" in kinds and "AccessGranted" in kinds and "VmCreated" in kinds
    assert kinds[-2:] == ["KeyDisabled", "VmShutDownByKey"]
    disabled = seen[-2]
    assert isinstance(disabled, ev.KeyDisabled) and disabled.kid == kid and disabled.severity == "warning"
    assert disabled.time == "2026-05-01T09:00:00+00:00" and kid in disabled.summary
    with pytest.raises(FrozenInstanceError):
        disabled.kid = "x"  # type: ignore[misc]
    assert commits_at_publish[-1] == e.store.commits  # published once written
    logged = sorted(e.t["events"].values(), key=lambda x: x.id)
    assert [x.type for x in logged][-2:] == ["KeyDisabled", "VmShutDownByKey"]
    assert ev.event_from_doc(disabled.to_doc()) == disabled


def test_events_clock_and_subscribers_come_and_go(e, kit):
    seen = []
    stop = e.subscribe(seen.append)
    e.subscribe(lambda x: 1 / 0)  # a broken subscriber does not break the engine
    kit.vault(e)
    e.advance_clock("2h")
    clock = [x for x in seen if isinstance(x, ev.ClockAdvanced)]
    assert [(x.start, x.end) for x in clock] == [("2026-05-01T09:00:00+00:00", "2026-05-01T11:00:00+00:00")]
    n = len(seen)
    e.what_if("delete_vault", "kv1")
    assert len(seen) == n  # a dry run publishes nothing
    stop()
    e.delete_vault("kv1")
    assert len(seen) == n


# ============================================================================================ rule profiles, seeds


def test_rule_profile_is_chosen_per_store_and_kept(kit):
    store = MemoryStore()
    e = Engine(store, seed=8, profile="azure-2025")
    assert e.rules.name == "azure-2025" and e.rules.des_per_region == 5000 and not e.rules.ultra_keeps_running
    again = Engine(store, profile="seeds")  # an existing store keeps its profile
    assert again.rules.name == "azure-2025"
    assert Engine.in_memory().rules.name == "seeds" and Engine.in_memory().rules.des_per_region == 50
    with pytest.raises(EngineError) as err:
        Engine.in_memory(profile="azure-1999")
    assert err.value.code == "InvalidParameter" and "azure-2025" in err.value.message


def test_seeded_engines_are_reproducible(kit):
    def build() -> dict:
        e = Engine.in_memory(seed=99)
        kit.basic(e)
        kit.vm(e, "vm1", data=2)
        e.set_key_attributes("kv1", "k1", enabled=False)
        e.advance_clock("1d")
        return kit.docs(e)

    a, b = build(), build()
    assert a == b
    assert Engine.in_memory(seed=98).subscription_id != Engine.in_memory(seed=99).subscription_id


def test_engine_is_headless_and_never_reads_the_wall_clock():
    import engine as pkg
    source = "".join(p.read_text() for p in Path(pkg.__file__).parent.glob("*.py"))
    for lib in ("import textual", "from textual", "import tinydb", "from tinydb", "from store", "import store",
                "datetime.now(", "time.time(", "utcnow("):
        assert lib not in source, lib


# ============================================================================================ name lengths


@pytest.mark.parametrize("kind", sorted(__import__("engine.ids", fromlist=["NAME_RULES"]).NAME_RULES))
def test_a_name_past_azures_maximum_length_is_refused_saying_its_length_and_the_limit(kind):
    """Every kind's name rule knows Azure's documented maximum length; a longer name is refused with its length
    and that limit (never cut short), and the longest allowed name passes."""
    from engine.errors import EngineError
    from engine.ids import NAME_RULES, check_name, name_limits

    rule = NAME_RULES[kind]
    lo, hi = name_limits(kind)
    assert f"{lo}-{hi} characters" in rule.help
    longest = "a" * hi
    assert check_name(kind, longest) == longest
    with pytest.raises(EngineError) as err:
        check_name(kind, longest + "a")
    assert err.value.code == "InvalidParameter"
    assert f"is {hi + 1} characters long; Azure allows at most {hi}" in err.value.message
