"""``cmklab import``: a twin built from files shaped as the Azure CLI prints them (tests/import/fixtures/).

The fixtures hold one subscription: two vaults (access policies; RBAC), two keys (one with two versions and
a rotation-policy-less 3072-bit current version, one with a rotation policy), two disk encryption sets
(customer key; double encryption), twelve disks, a snapshot, an image, seven VMs (running, stopped,
deallocated, one with an ultra disk) and a scale set, from the az list/show commands and one Resource
Graph page that repeats some of them and alone holds vm-plain-01.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from console.main import main
from console.twin_cli import Progress, capture_script
from engine import _wraps, crypto, twin
from engine.errors import EngineError

FIX = Path(__file__).parent / "fixtures"
FILES = sorted(str(p) for p in FIX.glob("*.json"))
SEED = 11
FORKS = _wraps.available()


def load(name: str):
    return json.loads((FIX / name).read_text())


def run(capsys, home: Path, *argv: str, seed: int | None = SEED) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--home", str(home)] + (["--seed", str(seed)] if seed is not None else []) + list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def az_json(capsys, home: Path, *argv: str):
    code, out, err = run(capsys, home, "az", *argv, "-o", "json")
    assert code == 0, err
    return json.loads(out)


def home_bytes(home: Path) -> dict[str, str]:
    """A digest of every file of a home: equal before and after means nothing changed."""
    out = {}
    for p in sorted(home.rglob("*")):
        if p.is_file() and p.name != "lock" and not p.name.endswith(".lock"):
            out[str(p.relative_to(home))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def input_ids(kind_file: str) -> set[str]:
    return {r["id"] for r in load(kind_file)}


@pytest.fixture
def twin_home(tmp_path, capsys) -> Path:
    home = tmp_path / "twin"
    code, out, err = run(capsys, home, "import", *FILES)
    assert code == 0, err
    return home


# ---- the twin as given --------------------------------------------------------------------------------


def test_import_keeps_the_ids_as_given(twin_home, capsys):
    graph = load("graph-query.json")["data"]
    for command, fixture, graph_type in (
            (("disk", "list"), "disk-list.json", "microsoft.compute/disks"),
            (("vm", "list"), "vm-list-d.json", "microsoft.compute/virtualmachines"),
            (("disk-encryption-set", "list"), "disk-encryption-set-list.json", None),
            (("snapshot", "list"), "snapshot-list.json", None),
            (("image", "list"), "image-list.json", None),
            (("keyvault", "list"), "keyvault-list.json", None),
            (("group", "list"), "group-list.json", None)):
        want = input_ids(fixture) | {r["id"] for r in graph if graph_type and r["type"] == graph_type}
        got = {r["id"] for r in az_json(capsys, twin_home, *command)}
        assert got == want, command
    roles = az_json(capsys, twin_home, "role", "assignment", "list", "--all")
    assert {r["id"] for r in roles} == input_ids("role-assignment-list-all.json")
    versions = az_json(capsys, twin_home, "keyvault", "key", "list-versions", "--vault-name", "kv-prod-cmk",
                       "-n", "disk-key")
    assert [v["kid"] for v in versions] == [v["kid"] for v in load("keyvault-key-list-versions-disk-key.json")]
    assert versions[1]["attributes"]["expires"].startswith("2027-06-01T12:00:00")
    des = az_json(capsys, twin_home, "disk-encryption-set", "show", "-g", "rg-data", "-n", "des-data")
    given = load("disk-encryption-set-list.json")[1]
    assert des["activeKey"]["keyUrl"] == given["activeKey"]["keyUrl"]
    assert des["identity"]["principalId"] == given["identity"]["principalId"]
    assert des["encryptionType"] == "EncryptionAtRestWithPlatformAndCustomerKeys"
    assert des["rotationToLatestKeyVersionEnabled"] is True
    vm = az_json(capsys, twin_home, "vm", "show", "-g", "rg-prod", "-n", "vm-db-01")
    assert [(d["lun"], d["managedDisk"]["id"]) for d in vm["storageProfile"]["dataDisks"]] == [
        (d["lun"], d["managedDisk"]["id"]) for d in
        next(v for v in load("vm-list-d.json") if v["name"] == "vm-db-01")["storageProfile"]["dataDisks"]]
    account = az_json(capsys, twin_home, "account", "show")
    assert account["id"] == "3f2c6b1e-8a4d-4c9e-9b7a-2d5e1f0a6c84"


def test_power_states_as_given(twin_home, capsys):
    want = {v["name"]: v["powerState"] for v in load("vm-list-d.json")}
    want["vm-plain-01"] = "VM running"  # from the Resource Graph page: PowerState/running
    for name, state in want.items():
        group = "rg-data" if name in ("vm-app-01", "vm-plain-01") else "rg-prod"
        shown = az_json(capsys, twin_home, "vm", "show", "-d", "-g", group, "-n", name)
        assert shown["powerState"] == state, name


def _hand_count() -> tuple[set[str], set[str]]:
    """From the input files alone: the running VMs with a disk served by des-prod (key disk-key), split into
    those that stop and those that keep running (every affected disk an ultra disk)."""
    disks = {d["id"].lower(): d for d in load("disk-list.json")}
    stop, ultra = set(), set()
    for vm in load("vm-list-d.json"):
        if vm["powerState"] != "VM running":
            continue
        sp = vm["storageProfile"]
        ids = [sp["osDisk"]["managedDisk"]["id"]] + [d["managedDisk"]["id"] for d in sp["dataDisks"]]
        hit = [disks[i.lower()] for i in ids
               if (disks[i.lower()]["encryption"]["diskEncryptionSetId"] or "").endswith("/des-prod")]
        if hit:
            (ultra if all(d["sku"]["name"] == "UltraSSD_LRS" for d in hit) else stop).add(vm["name"])
    return stop, ultra


def test_what_if_disable_names_the_vms_a_hand_count_gives(twin_home, capsys):
    stop, ultra = _hand_count()
    assert stop == {"vm-db-01", "vm-web-01", "vm-web-02"} and ultra == {"vm-ultra-01"}
    code, out, err = run(capsys, twin_home, "what-if", "az", "keyvault", "key", "set-attributes", "--vault-name",
                         "kv-prod-cmk", "-n", "disk-key", "--enabled", "false")
    assert code == 0, err
    lines = out.splitlines()
    stop_line = next(x for x in lines if "will stop:" in x)
    ultra_line = next(x for x in lines if "keep running" in x)
    assert set(stop_line.split(":", 1)[1].replace(" ", "").split(",")) == stop
    assert set(ultra_line.split(":", 1)[1].replace(" ", "").split(",")) == ultra
    # a what-if changes nothing
    assert az_json(capsys, twin_home, "vm", "show", "-d", "-g", "rg-prod", "-n", "vm-db-01")["powerState"] == \
        "VM running"


def test_disable_stops_them_and_leaves_the_ultra_vm_running(twin_home, capsys):
    before = {v["name"]: v["powerState"] for v in az_json(capsys, twin_home, "vm", "list", "-d")}
    az_json(capsys, twin_home, "keyvault", "key", "set-attributes", "--vault-name", "kv-prod-cmk", "-n",
            "disk-key", "--enabled", "false")
    after = {v["name"]: v["powerState"] for v in az_json(capsys, twin_home, "vm", "list", "-d")}
    stop, ultra = _hand_count()
    for name in before:
        if name in stop:
            assert after[name] == "VM stopped", name
        else:
            assert after[name] == before[name], name
    assert after["vm-ultra-01"] == "VM running"
    # and it acts through the cryptography: the stopped VM cannot start (its data key does not unwrap)
    code, out, err = run(capsys, twin_home, "az", "vm", "start", "-g", "rg-prod", "-n", "vm-web-01")
    assert code == 1 and "disk-key" in err


def test_rotation_rehearsal_and_data_path(twin_home, capsys):
    """A rotation re-wraps the imported data keys with new material; VMs are untouched; I/O works."""
    az_json(capsys, twin_home, "keyvault", "key", "rotate", "--vault-name", "kv-prod-cmk", "-n", "disk-key")
    new = az_json(capsys, twin_home, "keyvault", "key", "show", "--vault-name", "kv-prod-cmk", "-n", "disk-key")
    assert "standIn" not in new  # made in the twin, not imported
    az_json(capsys, twin_home, "disk-encryption-set", "update", "-g", "rg-prod", "-n", "des-prod", "--key-url",
            new["key"]["kid"], "--source-vault", "kv-prod-cmk")
    code, out, err = run(capsys, twin_home, "vm", "write", "-g", "rg-prod", "-n", "vm-web-02", "--lun", "0",
                         "--offset", "0", "--data", "twin")
    assert code == 0, err
    code, out, err = run(capsys, twin_home, "vm", "read", "-g", "rg-prod", "-n", "vm-web-02", "--lun", "0",
                         "--offset", "0", "--length", "4")
    assert code == 0 and "twin" in out
    states = {v["name"]: v["powerState"] for v in az_json(capsys, twin_home, "vm", "list", "-d")}
    assert states["vm-web-02"] == "VM running"


def test_stand_ins_are_marked_wherever_a_key_is_shown(twin_home, capsys):
    shown = az_json(capsys, twin_home, "keyvault", "key", "show", "--vault-name", "kv-prod-cmk", "-n", "disk-key")
    assert "stand-in" in shown["standIn"]
    assert shown["key"]["kty"] == "RSA" and len(shown["key"]["n"]) > 500  # 3072 bits, as key.n said
    for v in az_json(capsys, twin_home, "keyvault", "key", "list-versions", "--vault-name", "kv-data-cmk",
                     "-n", "data-key"):
        assert "stand-in" in v["standIn"]
    code, out, err = run(capsys, twin_home, "disk", "inspect", "-g", "rg-prod", "-n", "disk-spare", "-o", "json")
    assert code == 0, err
    layer = json.loads(out)["layers"][0]
    assert "stand-in" in layer["keyMaterial"] and layer["keyUrl"].endswith("9f8e7d6c5b4a39281706f5e4d3c2b1a0")
    from engine.views import key_bundle
    from console.session import open_engine

    e = open_engine(twin_home)
    k = e.t["keys"]["https://kv-prod-cmk.vault.azure.net/keys/disk-key"]
    assert "standIn" in key_bundle(e, k)  # what the console's detail panel shows


def test_seeded_imports_are_reproducible(tmp_path, capsys, monkeypatch):
    from store import tinystore

    writers = []
    real_writer = tinystore._ShardWriter

    class Writer(real_writer):  # b's commit is written by two processes where the system forks
        def __init__(self, jobs):
            writers.append(len(jobs))
            super().__init__(jobs)

    monkeypatch.setattr(tinystore, "_ShardWriter", Writer)
    layers, files = [], []
    for name in ("a", "b"):
        home = tmp_path / name
        monkeypatch.setattr(tinystore, "FORK_MIN_DOCS", 1 if name == "b" else 10 ** 9)
        code, out, err = run(capsys, home, "import", *FILES)
        assert code == 0, err
        assert len(writers) == (1 if name == "b" and tinystore._compat.can_fork() else 0)
        files.append(tinystore.state_files(home))
        code, out, err = run(capsys, home, "disk", "inspect", "-g", "rg-prod", "-n", "disk-spare", "-o", "json")
        layers.append(json.loads(out)["layers"])
        shown = az_json(capsys, home, "keyvault", "key", "show", "--vault-name", "kv-prod-cmk", "-n", "disk-key")
        layers.append(shown["key"]["n"])
    assert layers[0] == layers[2] and layers[1] == layers[3]
    assert files[0] == files[1]  # the same bytes, written by one process or two


# ---- what cannot be modelled, and bad input: a summary or a clear error, and nothing changed -------------------


def test_missing_references_are_summarised_and_refused(tmp_path, capsys):
    files = [f for f in FILES if not f.endswith(("disk-encryption-set-list.json", "graph-query.json"))]
    home = tmp_path / "h"
    code, out, err = run(capsys, home, "import", *files)
    assert code == 1
    assert "disk whose disk encryption set is absent from the input" in err
    assert "VM whose disk is absent from the input" in err
    assert "--partial" in err and "nothing was imported" in err
    # the summary of a refused import does not say that anything was modelled
    assert not any(line.startswith("modelled:") for line in err.splitlines())
    assert err.startswith("nothing imported; the input would model: ")
    assert "stand-in key material" not in err
    assert not home.exists()  # a refused import into a new home leaves no home
    code, out, err = run(capsys, home, "import", "--json", *files)
    assert code == 1 and json.loads(err[:err.rindex("}") + 1])["imported"] is False
    # --partial imports the rest, and the summary still names what was left out, with counts and ids
    code, out, err = run(capsys, home, "import", "--partial", "--json", *files)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["imported"] is True
    missing = summary["notModelled"]["disk whose disk encryption set is absent from the input (or not modelled)"]
    assert missing["count"] == 9 and len(missing["ids"]) == 3
    # every VM has a disk served by a set (vm-plain-01 is only in the Resource Graph page): none is modelled
    assert summary["modelled"]["VMs"] == 0 and summary["notModelled"][
        "VM whose disk is absent from the input (or not modelled)"]["count"] == 6
    assert az_json(capsys, home, "vm", "list") == []
    assert sorted(d["name"] for d in az_json(capsys, home, "disk", "list")) == [
        "vm-db-01_OsDisk_1_00000000000000000000000000000003", "vm-ultra-01_OsDisk_1_00000000000000000000000000000004"]


def _state_home(tmp_path, capsys) -> Path:
    home = tmp_path / "base"
    code, out, err = run(capsys, home, "import", *FILES)
    assert code == 0, err
    return home


def test_duplicates_with_conflicting_content_are_refused(tmp_path, capsys):
    disks = load("disk-list.json")
    disks[0]["location"] = "westeurope"
    bad = tmp_path / "disk-list-again.json"
    bad.write_text(json.dumps(disks))
    home = tmp_path / "h"
    code, out, err = run(capsys, home, "import", *FILES, str(bad))
    assert code == 1 and "duplicate id with conflicting content (location differs)" in err
    assert disks[0]["id"] in err
    assert not home.exists()
    # identical duplicates (the same list twice, or az and Resource Graph copies) merge
    same = tmp_path / "disk-list-copy.json"
    shutil.copy(FIX / "disk-list.json", same)
    code, out, err = run(capsys, home, "import", *FILES, str(same))
    assert code == 0, err


def test_unknown_types_and_shapes(tmp_path, capsys):
    vnet = tmp_path / "vnet-list.json"
    vnet.write_text(json.dumps([{"id": "/subscriptions/3f2c6b1e-8a4d-4c9e-9b7a-2d5e1f0a6c84/resourceGroups/rg-prod/"
                                       "providers/Microsoft.Network/virtualNetworks/vnet1", "name": "vnet1",
                                 "location": "eastus", "type": "Microsoft.Network/virtualNetworks"}]))
    home = tmp_path / "h"
    code, out, err = run(capsys, home, "import", *FILES, str(vnet))
    assert code == 1 and "resource type the twin does not model (Microsoft.Network/virtualNetworks)" in err
    assert not home.exists()
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps([{"foo": 1}, {"bar": [2]}]))
    code, out, err = run(capsys, home, "import", *FILES, str(odd))
    assert code == 2 and "odd.json: no item is a resource cmklab import reads" in err and "az disk" not in err
    assert "vm list -d" in err
    assert not home.exists()


def test_ec_key_is_reported_not_dropped(tmp_path, capsys):
    ec = tmp_path / "ec.json"
    ec.write_text(json.dumps({"attributes": {"created": "2025-01-01T00:00:00+00:00", "enabled": True},
                              "key": {"crv": "P-256", "kid": "https://kv-prod-cmk.vault.azure.net/keys/sign-key/"
                                                            "11111111111111111111111111111111", "kty": "EC"},
                              "managed": None, "tags": None}))
    code, out, err = run(capsys, tmp_path / "h", "import", "--partial", *FILES, str(ec))
    assert code == 0, err
    assert "key type the engine lacks (EC; it models RSA and RSA-HSM): https://kv-prod-cmk.vault.azure.net/keys/" \
           "sign-key" in out


@pytest.mark.parametrize("content, what", [
    (b'[{"id": "/subscriptions/x", "name": ', "not valid JSON"),
    (b"", "empty"),
    (b"[" * 200_000 + b"]" * 200_000, "nested deeper"),
    (b"\xff\xfe garbage", "not UTF-8"),
    (b"42", "expected a list or an object"),
    (b'[{"id": "/subscriptions/x", "name": "d", "tags": {"cost": NaN}}]', "(NaN: not a finite number)"),
    (b'{"value": [-Infinity]}', "(-Infinity: not a finite number)"),
    (b'[{"id": "/subscriptions/x", "name": "d", "diskSizeGb": 1e400}]', "(1e400: not a finite number)"),
])
def test_broken_input_is_a_usage_error(tmp_path, capsys, content, what):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    home = tmp_path / "h"
    code, out, err = run(capsys, home, "import", *FILES, str(bad))
    assert code == 2 and what in err and "bad.json" in err
    assert not home.exists()


def test_the_parse_gives_what_json_loads_gives():
    """The fast parser (twin.parse_text) makes the values the standard one makes, of every fixture (of a list of
    items, of the fields the import reads: tests/import/test_read_fields.py) and of what only the standard
    parser takes or keeps exact (a lone surrogate, an integer over 64 bits, a byte order mark)."""
    shaped = ("storageProfile", "osProfile", "creationData", "hardwareProfile", "securityProfile",
              "additionalCapabilities", "encryption", "sku")  # (of these, the parts the planner reads)
    for path in FILES:
        raw = Path(path).read_bytes()
        assert twin._fast_decoder()(raw) == json.loads(raw)
        got, whole = twin.parse_text(raw, path), json.loads(raw)
        if type(whole) is list:
            assert [{k: v for k, v in item.items() if k not in shaped} for item in got] == \
                [{k: v for k, v in item.items() if k in twin.READ_FIELDS and k not in shaped} for item in whole]
        else:
            assert got == whole
    for odd in (b'\xef\xbb\xbf[{"id": 123456789012345678901234567890, "name": "\\ud800", "diskSizeGb": 1e16, '
                b'"location": "\xc3\xa9"}]',
                b'\xef\xbb\xbf{"id": 123456789012345678901234567890, "name": "\\ud800", "diskSizeGb": 1e16, '
                b'"location": "\xc3\xa9"}'):
        got = twin.parse_text(odd)
        one = got[0] if type(got) is list else got
        assert one == {"id": 123456789012345678901234567890, "name": "\ud800", "diskSizeGb": 1e16, "location": "\u00e9"}
        assert type(one["id"]) is int and type(one["diskSizeGb"]) is float


def test_the_parsed_input_is_freed_as_it_is_planned():
    """An import frees each parsed item once it is planned (``consume``): the documents are emptied once their
    items are sorted by kind, the disks' and VMs' items are taken out as their models are made, and the plan
    is the one a kept input gives."""
    def plan_of(consume: bool):
        docs = [(f, twin.read_file(f)) for f in FILES]
        inp = twin.collect(docs)
        plan = twin.plan_import(inp, now="2026-01-01T00:00:00+00:00", consume=consume)
        return docs, inp, plan

    _docs, inp, kept = plan_of(False)
    assert inp.items["disk"] and inp.items["vm"]
    _docs, inp, freed = plan_of(True)
    assert not inp.items["disk"] and not inp.items["vm"] and not inp.items["snapshot"] and not inp.items["image"]
    assert [r.to_doc() for r, _des in freed.disks] == [r.to_doc() for r, _des in kept.disks]
    assert [vm.to_doc() for vm in freed.vms] == [vm.to_doc() for vm in kept.vms] and kept.vms
    assert kept.report.lines() == freed.report.lines()
    docs = [(f, twin.read_file(f)) for f in FILES]
    plan = twin.prepare(docs, now="2026-01-01T00:00:00+00:00", partial=True, consume=True)
    assert docs == [] and plan.report.counts["VMs"] == len(kept.vms)


def test_the_stand_ins_sizes_go_ahead_before_the_large_files_are_read(tmp_path, monkeypatch):
    """With a worker (a large input), the small files are read first and the sizes of the stand-ins their keys
    need are told before the first large file is read (the worker makes them meanwhile); the files come
    back in their order."""
    big = tmp_path / "big-disk-list.json"
    big.write_text(json.dumps([{"filler": "x" * 1000}] * 1100))  # (over AHEAD_BYTES)
    paths = [str(big), *FILES]
    told, read = [], []
    real = twin.read_file
    monkeypatch.setattr(twin, "read_file", lambda p: read.append(p) or real(p))
    docs, _seconds = twin._read_all(paths, ahead=lambda sizes: told.append((sizes, list(read))))
    assert [name for name, _doc in docs] == paths and read[-1] == str(big)
    # disk-key: RSA-3072 (key show), two versions (list-versions); data-key: no size given (made when asked)
    assert told == [([3072, 3072], FILES)]
    assert twin._stand_in_sizes([(p, twin.read_file(p)) for p in FILES if "disk-key" not in p]) == []


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_the_worker_makes_the_sizes_told_ahead():
    with _wraps.WrapWorker() as worker:
        worker.ahead([3072])
        at = worker.generate([(3072, b"k/v1"), (2048, b"platform:eastus")])
        worker.seal_late = crypto.Sealer(bytes(32)).seal_text
        made = worker.keys()
    assert [len(crypto.public_from_jwk(made[i][0], made[i][1]).public_numbers().n.to_bytes(512, "big")
                .lstrip(b"\0")) * 8 for i in at] == [3072, 2048]


def test_data_keys_wrapped_ahead_are_taken_by_the_layers_of_their_key_and_size():
    """The worker wraps data keys ahead while it waits for the first resources (of 32 bytes, and of 64 for XTS by
    a 2,048-bit key): each unwraps to its key by the private key; a resource's layer whose key has one of its size
    ahead takes it (its wrap, and the key in the host copy), one without draws and wraps its own."""
    k0, k1 = crypto.generate_rsa(2048), crypto.generate_rsa(2048)
    own = _wraps._ahead(k0.public_key(), 32, 2)
    xts = _wraps._ahead(k0.public_key(), 64, 1)
    for dek, wrapped in own + xts:
        assert crypto.unwrap_key(k0, base64.b64decode(wrapped)) == dek
    assert len(xts[0][0]) == 64 and xts[0][0][:32] != xts[0][0][32:]
    pools = {0: {32: list(own), 64: list(xts)}}
    sealer = crypto.Sealer(bytes(32))
    items = [((0, 0), b"disk-a"), ((1,), b"disk-b"), ((0,), b"disk-c")]  # (disk-a: double encryption, both by k0)
    values = _wraps._make(items, [k0.public_key(), k1.public_key()], sealer, pools)
    assert len(values) == 3 + 2 + 2
    a_own, a_xts, a_host, b_own, b_host, c_own, c_host = values
    assert (a_own, a_xts, c_own) == (own[1][1], xts[0][1], own[0][1])  # (taken from the end)
    assert pools == {0: {32: [], 64: []}}
    assert sealer.unseal_text(a_host.decode(), b"disk-a") == own[1][0] + xts[0][0]
    assert sealer.unseal_text(c_host.decode(), b"disk-c") == own[0][0]
    b_key = sealer.unseal_text(b_host.decode(), b"disk-b")
    assert len(b_key) == 32 and crypto.unwrap_key(k1, base64.b64decode(b_own)) == b_key


def test_groups_known_only_from_their_members_take_the_first_members_location():
    """Without az group list, each group the resources name is modelled once, noted, located where the first
    of its resources (in the input's order) is."""
    docs = [(p, twin.read_file(p)) for p in FILES if not p.endswith("group-list.json")]
    plan = twin.prepare(docs, now="2026-01-01T00:00:00+00:00", partial=True)
    noted = plan.report.notes["resource group known only from its resources (az group list not in input; its "
                              "location is a member's)"]
    members = [item for _name, doc in docs for item in twin.items_of(doc, _name)
               if twin.kind_of(item) in ("vault", "des", "disk", "snapshot", "image", "vm", "vmss")]
    expected = {}
    for item in members:
        expected.setdefault(item["id"].split("/providers/")[0].lower(), item.get("location"))
    assert sorted(g.id.lower() for g in plan.groups) == sorted(expected) == sorted(n.lower() for n in noted)
    assert all(g.location == expected[g.id.lower()] for g in plan.groups)


def test_the_workers_data_keys_are_drawn_in_one_call_and_an_xts_key_never_has_equal_halves(monkeypatch):
    """A chunk's data keys come from one draw: of each resource a 32-byte key, then (double encryption) a 64-byte
    XTS key; one whose halves are equal (OpenSSL refuses it) is drawn again."""
    draws, real = [], os.urandom
    # the chunk's draw all zeros (an XTS key of equal halves), the draws after it real
    monkeypatch.setattr(_wraps.os, "urandom", lambda n: draws.append(n) or (bytes(n) if len(draws) == 1 else real(n)))
    keys = _wraps._draw([((0,), b"a"), ((0, 1), b"b")])
    assert draws[0] == 32 + 32 + 64 and [len(k) for k in keys] == [32, 32, 64]
    assert keys[2][:32] != keys[2][32:]


def test_100_mb_of_noise_is_refused_quickly(tmp_path, capsys):
    noise = tmp_path / "noise.json"
    with open(noise, "wb") as f:
        for i in range(100):
            f.write(hashlib.sha256(str(i).encode()).digest() * 32768)  # 1 MiB of bytes that are not JSON
    assert noise.stat().st_size >= 100 * 1024 * 1024
    home = _state_home(tmp_path, capsys)
    before = home_bytes(home)
    code, out, err = run(capsys, home, "import", "--merge", str(noise))
    assert code == 2 and "noise.json" in err and ("not UTF-8" in err or "not valid JSON" in err)
    assert home_bytes(home) == before


def test_a_folder_stands_for_its_json_files(tmp_path, capsys):
    """`cmklab import twin` (the folder the capture script writes into) imports its *.json as naming them does;
    a folder without any is a usage error that leaves no home behind."""
    import shutil

    folder = tmp_path / "twin [1]"  # (a name a glob would read as a pattern)
    folder.mkdir()
    for f in FILES:
        shutil.copy(f, folder)
    (folder / "notes.txt").write_text("not an input")
    code, out, err = run(capsys, tmp_path / "a", "import", str(folder), "--json")
    assert code == 0, err
    code2, out2, err2 = run(capsys, tmp_path / "b", "import", *FILES, "--json")
    assert code2 == 0, err2
    assert json.loads(out)["modelled"] == json.loads(out2)["modelled"]
    assert sorted(az_json(capsys, tmp_path / "a", "vm", "list", "--query", "[].id")) == \
        sorted(az_json(capsys, tmp_path / "b", "vm", "list", "--query", "[].id"))
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(capsys, tmp_path / "c", "import", str(empty))
    assert code == 2 and "a folder without .json files" in err and str(empty) in err
    assert not (tmp_path / "c").exists()


def test_files_over_the_limit_are_refused_before_reading(tmp_path):
    big = tmp_path / "big.json"
    big.write_text("[" + ",".join(["{}"] * 1000) + "]")
    with pytest.raises(twin.ImportInputError, match="over the limit of 1,000 bytes"):
        twin.read_file(big, max_bytes=1000)
    with pytest.raises(twin.ImportInputError, match="cannot read it"):
        twin.read_file(tmp_path / "absent.json")


def test_a_large_file_is_parsed_from_a_map_of_it_as_from_its_bytes(tmp_path, monkeypatch):
    """Files of MAP_MIN_BYTES or more are parsed from a map of the file (no copy read into memory): the same
    values as its bytes give, a byte order mark skipped, broken JSON and bytes that are not UTF-8 refused the same
    way, and the map closed after the parse."""
    items = [{"id": f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d{i}", "name": f"d{i}",
              "tags": {"k": "é" * 3}} for i in range(12000)]
    text = json.dumps(items, ensure_ascii=False).encode()
    assert len(text) >= twin.MAP_MIN_BYTES
    plain, bom = tmp_path / "disks.json", tmp_path / "bom.json"
    plain.write_bytes(text)
    bom.write_bytes(b"\xef\xbb\xbf" + text)
    maps = []
    real = twin._mapped
    monkeypatch.setattr(twin, "_mapped", lambda name, limit: maps.append(real(name, limit)) or maps[-1])
    assert twin.read_file(plain) == twin.parse_text(text) == json.loads(text)
    assert twin.read_file(bom) == json.loads(text)
    assert len(maps) == 2 and all(m is not None and m.closed for m in maps)
    broken = tmp_path / "broken.json"
    broken.write_bytes(text[:-1])
    with pytest.raises(twin.ImportInputError, match="broken.json: not valid JSON"):
        twin.read_file(broken)
    latin = tmp_path / "latin.json"
    latin.write_bytes(text.replace("é".encode(), b"\xe9"))
    with pytest.raises(twin.ImportInputError, match="latin.json: not UTF-8 text"):
        twin.read_file(latin)
    latin.write_bytes(b"\xef\xbb\xbf" + latin.read_bytes())  # (the error names the file, not the map's view)
    with pytest.raises(twin.ImportInputError, match="latin.json: not UTF-8 text"):
        twin.read_file(latin)


def test_a_home_with_state_is_refused_without_merge(tmp_path, capsys):
    home = _state_home(tmp_path, capsys)
    before = home_bytes(home)
    code, out, err = run(capsys, home, "import", *FILES)
    assert code == 1 and "already holds state" in err and "--merge" in err
    assert home_bytes(home) == before
    # --merge of what is already there: refused whole (one transaction), nothing changed
    code, out, err = run(capsys, home, "import", "--merge", *FILES)
    assert code == 1 and "already in this home" in err
    assert home_bytes(home) == before


def test_merge_adds_to_what_the_home_holds(tmp_path, capsys):
    home = tmp_path / "h"
    first = [f for f in FILES if not f.endswith(("vmss-list.json", "snapshot-list.json"))]
    code, out, err = run(capsys, home, "import", *first)
    assert code == 0, err
    code, out, err = run(capsys, home, "import", "--merge", str(FIX / "vmss-list.json"),
                         str(FIX / "snapshot-list.json"))
    assert code == 0, err  # the snapshot's set and the scale set's set are in the home already
    assert [s["name"] for s in az_json(capsys, home, "snapshot", "list")] == ["snap-web-01"]
    from console.session import open_engine

    assert [s.name for s in open_engine(home).t["scalesets"].values()] == ["vmss-app"]  # (az vmss is not modelled)



def test_a_merge_into_a_read_only_home_is_refused_by_the_store(tmp_path, capsys):
    home = tmp_path / "h"
    code, out, err = run(capsys, home, "import", *[f for f in FILES if not f.endswith("snapshot-list.json")])
    assert code == 0, err
    before = home_bytes(home)
    code, out, err = run(capsys, home, "--read-only", "import", "--merge", str(FIX / "snapshot-list.json"))
    assert code == 1 and "ERROR: (ReadOnly)" in err and "was opened read-only" in err
    assert home_bytes(home) == before


def test_the_import_lands_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    home = _state_home(tmp_path, capsys)
    before = home_bytes(home)
    extra = tmp_path / "more-disks.json"
    disks = []
    for i in range(20):
        d = dict(load("disk-list.json")[-1])
        d["id"] = d["id"].replace("disk-spare", f"disk-more-{i}")
        d["name"] = f"disk-more-{i}"
        disks.append(d)
    extra.write_text(json.dumps(disks))
    calls = {"n": 0}
    real = twin.oaep_sha256_encrypt  # the home is seeded: its wraps take the seeded OAEP path

    def failing(pub, dek, rng):
        calls["n"] += 1
        if calls["n"] == 10:
            raise RuntimeError("simulated failure half-way")
        return real(pub, dek, rng)

    monkeypatch.setattr(twin, "oaep_sha256_encrypt", failing)
    with pytest.raises(RuntimeError):
        run(capsys, home, "import", "--merge", str(extra))
    assert calls["n"] == 10
    assert home_bytes(home) == before
    monkeypatch.setattr(twin, "oaep_sha256_encrypt", real)
    code, out, err = run(capsys, home, "import", "--merge", str(extra))
    assert code == 0, err
    assert len(az_json(capsys, home, "disk", "list")) == 12 + 20



def test_an_unseeded_import_wraps_on_threads_in_order_and_lands_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    from console.session import open_engine
    from engine import crypto

    monkeypatch.setattr(twin, "WRAP_CHUNK", 2)  # many chunks: the wrapping threads take them in turn
    real = crypto.wrap_key
    calls = {"n": 0}

    def failing(pub, dek):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("simulated failure in a wrapping thread")
        return real(pub, dek)

    home = tmp_path / "h"
    monkeypatch.setattr(crypto, "wrap_key", failing)
    with pytest.raises(RuntimeError):
        run(capsys, home, "import", *FILES, seed=None)
    assert az_json(capsys, home, "disk", "list") == [] and az_json(capsys, home, "vm", "list") == []
    monkeypatch.setattr(crypto, "wrap_key", real)
    code, out, err = run(capsys, home, "import", *FILES, seed=None)
    assert code == 0, err
    engine = open_engine(home)
    resources = [r for t in ("disks", "snapshots", "images") for r in engine.t[t].values()]
    assert len(resources) == 14
    for r in resources:  # each resource's wrapped keys are its own: the host's sealed copy says which they are
        opened = b"".join(crypto.unwrap_key(engine._platform_private(layer["kid"]) if layer["kid"].startswith(
            "platform:") else engine._private(layer["kid"]), engine.unb64(layer["wrapped"])) for layer in r.layers)
        assert opened == engine.host_sealer.unseal_text(r.cache, r.id.encode()), r.name


def _opened_as_sealed(engine) -> int:
    """Check that each resource's wrapped keys unwrap to its host copy's data keys; returns how many."""
    from engine import crypto

    resources = [r for t in ("disks", "snapshots", "images") for r in engine.t[t].values()]
    for r in resources:
        opened = b"".join(crypto.unwrap_key(engine._platform_private(layer["kid"]) if layer["kid"].startswith(
            "platform:") else engine._private(layer["kid"]), engine.unb64(layer["wrapped"])) for layer in r.layers)
        assert opened == engine.host_sealer.unseal_text(r.cache, r.id.encode()), r.name
    return len(resources)


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_an_unseeded_import_wraps_in_a_worker_process_and_lands_whole_or_not_at_all(tmp_path, capsys, monkeypatch):
    from console.session import open_engine
    from engine import _wraps

    monkeypatch.setattr(twin, "WORKER_MIN", 1)  # the worker for the fixtures' 14 resources too
    monkeypatch.setattr(_wraps, "CHUNK", 3)
    real = _wraps.wrap_key
    calls = {"n": 0}

    parent = os.getpid()

    def failing(pub, dek):  # (the worker is forked: it runs this copy, counting in its own memory)
        if os.getpid() == parent:
            calls["n"] += 1  # the import's own share (it wraps from the end once it waits)
            return real(pub, dek)
        raise RuntimeError("simulated failure in the worker")

    home = tmp_path / "h"
    monkeypatch.setattr(_wraps, "wrap_key", failing)
    code, out, err = run(capsys, home, "import", *FILES, seed=None)
    assert code != 0 and "simulated failure in the worker" in err and "nothing was imported" in err
    assert az_json(capsys, home, "disk", "list") == [] and az_json(capsys, home, "vm", "list") == []

    def dying(pub, dek):
        if os.getpid() != parent:
            os._exit(3)
        return real(pub, dek)

    monkeypatch.setattr(_wraps, "wrap_key", dying)
    code, out, err = run(capsys, home, "import", *FILES, seed=None)
    assert code != 0 and "exit code 3" in err
    assert az_json(capsys, home, "disk", "list") == [] and az_json(capsys, home, "vm", "list") == []
    assert not [n for n in os.listdir(home) if n.endswith(".tmp")]  # no staging directory left

    monkeypatch.setattr(_wraps, "wrap_key", real)
    code, out, err = run(capsys, home, "import", *FILES, seed=None)
    assert code == 0, err
    engine = open_engine(home)
    assert _opened_as_sealed(engine) == 14
    for r in engine.t["disks"].values():
        assert all(len(engine.unb64(layer["wrapped"])) * 8 in (2048, 3072, 4096) for layer in r.layers)
    engine.store.close()


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_import_files_forks_its_worker_first_and_the_progress_moves_on_to_the_end(tmp_path, monkeypatch):
    from console.session import open_engine
    from engine import _wraps

    monkeypatch.setattr(twin, "WORKER_MIN", 1)
    monkeypatch.setattr(twin, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(_wraps, "CHUNK", 2)
    started = []
    real_init = _wraps.WrapWorker.__init__

    def init(self, **kw):
        started.append(len(seen))  # how far the import was when the worker started
        real_init(self, **kw)

    monkeypatch.setattr(_wraps.WrapWorker, "__init__", init)
    seen: list[tuple[str, int, int]] = []
    engine = open_engine(tmp_path / "h")
    report = twin.import_files(engine, FILES, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert started == [0] and report.counts["disks"]
    done = [d for stage, d, _ in seen if stage != "planning"]
    assert done == sorted(done) and done[-1] == seen[-1][2]  # it never goes back, and ends at the total
    assert len([s for s, _, _ in seen if s == "data keys"]) >= 5  # the worker's chunks are told as they come
    assert seen[-1][0] == "writing"  # (every data key wrapped: the shards are being written)
    assert _opened_as_sealed(engine) == 14  # in this engine (the models got the values) and on disk
    engine.store.close()
    assert _opened_as_sealed(open_engine(tmp_path / "h")) == 14


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_the_import_wraps_the_chunks_the_worker_has_not_taken_and_every_value_lands_in_its_place(tmp_path,
                                                                                                 monkeypatch):
    """The worker holds its first chunk until this process has wrapped the others (from the end, as it does once
    it waits): the values of both come back in the order the data keys were handed over (the worker's through
    its file, this process's after them), in the models and on disk."""
    import multiprocessing

    from console.session import open_engine
    from engine import _wraps

    monkeypatch.setattr(twin, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(_wraps, "CHUNK", 2)
    release = multiprocessing.get_context("fork").Event()
    parent, real = os.getpid(), _wraps.wrap_key
    handed = {}
    real_finish = _wraps.WrapWorker.finish

    def finish(self, **kw):
        handed["n"] = self.count
        handed["first"] = sum(len(keys) for keys, _aad in self._pairs[:_wraps.CHUNK])  # (its data keys)
        real_finish(self, **kw)

    here = []

    def gated(pub, dek):
        if os.getpid() != parent:
            release.wait(60)  # (the worker's copy: it holds its first chunk)
        else:
            here.append(1)
            if len(here) >= handed["n"] - handed["first"]:  # every chunk but the worker's first one
                release.set()
        return real(pub, dek)

    monkeypatch.setattr(_wraps.WrapWorker, "finish", finish)
    monkeypatch.setattr(_wraps, "wrap_key", gated)
    engine = open_engine(tmp_path / "h")
    report = twin.import_files(engine, FILES)
    assert release.is_set() and 0 < report.timings["wraps_here"] == len(here) <= handed["n"]
    assert _opened_as_sealed(engine) == 14
    engine.store.close()
    assert _opened_as_sealed(open_engine(tmp_path / "h")) == 14


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_import_files_has_the_worker_generate_and_seal_the_stand_ins_while_it_plans(tmp_path, monkeypatch):
    """Into an empty home, the worker is asked for the versions' stand-ins as soon as the keys are planned, and for
    a region's platform key when the first disk that needs it is planned; each disk is handed to it as soon as it
    is planned (its wraps begin while the rest is planned); it generates and seals the stand-ins there: the
    import gets their numbers and sealed material."""
    from console.session import open_engine

    monkeypatch.setattr(twin, "WORKER_MIN_BYTES", 0)
    seen = []
    real_apply = twin._apply_import

    streamed = []  # (the worker's data keys before and after each planned disk is handed over)
    real_stream = twin._EarlyStandIns.stream

    def stream(self, sets, versions):
        one = real_stream(self, sets, versions)

        def each(r, des):
            before = self.worker.count
            one(r, des)
            streamed.append((r.id, before, self.worker.count))
        return each

    monkeypatch.setattr(twin._EarlyStandIns, "stream", stream)

    order = []

    def apply(engine, plan, progress, worker):
        order.extend(r.id for r, _ in plan.disks)
        seen.append((plan.early is not None and plan.early.worker is worker, worker._asked,
                     len(plan.early.indexes), len(plan.versions), [v["sealed"] for _, v, _ in plan.versions],
                     sorted(plan.early.platform)))
        # every data key was handed to the worker while planning, to be wrapped beside the planning and the models
        drawn = plan.early.work
        assert [r for r, _ in drawn] == [r for r, _ in plan.disks] and worker.count == sum(
            len(held) - 1 for held in plan.early.holders) == sum(len(layers) for _, layers in drawn) >= len(plan.disks)
        assert len(plan.early.holders) == len(drawn)  # (a placeholder per wrap, and one for the sealed host copy)
        return real_apply(engine, plan, progress, worker)

    monkeypatch.setattr(twin, "_apply_import", apply)
    engine = open_engine(tmp_path / "h")
    report = twin.import_files(engine, FILES)
    ((early, asked, asked_for, versions, sealed, regions),) = seen
    assert early and asked == 2 and asked_for == versions == report.stand_ins and set(sealed) == {None}
    assert [rid for rid, _, _ in streamed] == order and order and all(
        after > before for _, before, after in streamed)  # each disk handed over as it was planned
    assert regions == sorted(pk.region for pk in engine.t["platform_keys"].values()) and regions
    assert report.timings["keygen_s"] > 0 and not engine._private_cache  # (no private key came back here)
    assert "wraps_wait_s" in report.timings  # (the worker wrapped them)
    assert _opened_as_sealed(engine) == 14  # every wrap opens with its version's or region's sealed stand-in
    for k in engine.t["keys"].values():
        for ver in k.versions:
            private = engine._private(f"{k.id}/{ver['version']}")
            assert crypto.public_numbers_jwk(private)["n"] == ver["n"] and private.key_size == k.size
    engine.store.close()
    assert _opened_as_sealed(open_engine(tmp_path / "h")) == 14


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_cmklab_import_forks_its_worker_before_reading_and_seals_the_stand_ins_once_the_home_is_open(
        tmp_path, capsys, monkeypatch):
    """The command's own path: the worker is forked before a file is read (the home does not exist yet, so it
    has no sealer), generates the stand-ins while the planning goes on, and hands their private keys back to
    this process, which seals them with the new home's sealer; refused input still leaves no home behind."""
    from console.session import open_engine

    monkeypatch.setattr(twin, "WORKER_MIN_BYTES", 0)
    home = tmp_path / "h"
    started, read_before = [], []
    real_init, real_read = _wraps.WrapWorker.__init__, twin.read_file

    def init(self, **kw):
        started.append((dict(kw), len(read_before), home.exists()))
        real_init(self, **kw)

    def read(path, **kw):
        read_before.append(path)
        return real_read(path, **kw)

    monkeypatch.setattr(_wraps.WrapWorker, "__init__", init)
    monkeypatch.setattr(twin, "read_file", read)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": ')
    code, _out, err = run(capsys, home, "import", *FILES, str(broken), seed=None)
    assert code == 2 and "not valid JSON" in err and not home.exists()  # refused: no home made
    incomplete = [f for f in FILES if "vm-list" not in f and "disk-encryption-set" not in f]
    code, _out, err = run(capsys, home, "import", *incomplete, seed=None)
    assert code == 1 and "IncompleteInput" in err and not home.exists()
    started.clear()
    read_before.clear()
    code, out, err = run(capsys, home, "import", *FILES, seed=None)
    assert code == 0, err
    assert started == [({}, 0, False)]  # forked first, with no sealer: no home yet
    engine = open_engine(home)
    assert _opened_as_sealed(engine) == 14  # every wrap opens with its sealed stand-in
    for k in engine.t["keys"].values():
        for ver in k.versions:
            assert isinstance(ver["sealed"], str)
            private = engine._private(f"{k.id}/{ver['version']}")
            assert crypto.public_numbers_jwk(private)["n"] == ver["n"] and private.key_size == k.size
    engine.store.close()


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_a_worker_asked_for_stand_ins_while_planning_ends_with_a_failed_plan_or_fails_the_import_whole(tmp_path,
                                                                                                      monkeypatch):
    from console.session import open_engine

    monkeypatch.setattr(twin, "WORKER_MIN_BYTES", 0)
    workers = []
    real_init = _wraps.WrapWorker.__init__

    def init(self, **kw):
        real_init(self, **kw)
        workers.append(self)

    monkeypatch.setattr(_wraps.WrapWorker, "__init__", init)
    home = tmp_path / "h"
    engine = open_engine(home)
    before = home_bytes(home)
    state = lambda: {k: v for k, v in home_bytes(home).items() if k != "journal.jsonl"}  # noqa: E731
    # the planning fails after the stand-ins were asked for (a VM naming another VM's disk): the worker is ended
    vms = load("vm-list-d.json")
    thief = json.loads(json.dumps(vms[0]).replace("vm-web-01", "vm-thief"))
    (tmp_path / "vms.json").write_text(json.dumps(vms + [thief]))
    files = [f for f in FILES if not f.endswith("vm-list-d.json")] + [str(tmp_path / "vms.json")]
    with pytest.raises(twin.Incomplete):
        twin.import_files(engine, files)
    assert workers[-1]._asked == 2 and not workers[-1]._proc.is_alive()
    assert not twin.home_holds_state(engine) and home_bytes(home) == before
    # the worker dies while it generates them, or fails a wrap: the import fails, nothing is written
    parent, real_gen, real_wrap = os.getpid(), _wraps.generate_rsa, _wraps.wrap_key

    def dying(bits):
        if os.getpid() != parent:
            os._exit(3)
        return real_gen(bits)

    def failing(pub, dek):
        if os.getpid() != parent:
            raise RuntimeError("simulated failure in the worker")
        return real_wrap(pub, dek)

    for name, fake, match in (("generate_rsa", dying, "exit code 3"),
                              ("wrap_key", failing, "simulated failure in the worker")):
        monkeypatch.setattr(_wraps, name, fake)
        with pytest.raises(EngineError, match=match):
            twin.import_files(engine, FILES)
        monkeypatch.undo()
        monkeypatch.setattr(twin, "WORKER_MIN_BYTES", 0)
        assert workers[-1]._asked and not workers[-1]._proc.is_alive()
        assert not twin.home_holds_state(engine) and not engine._private_cache
    engine.store.close()
    assert state() == {k: v for k, v in before.items() if k != "journal.jsonl"}  # (the audit notes the failures)
    engine = open_engine(home)
    assert not twin.home_holds_state(engine)
    engine.store.close()


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_an_unseeded_merge_wraps_in_the_worker_by_the_keys_the_home_holds(tmp_path, monkeypatch):
    """--merge: the sets' keys (and a region's platform key) are the home's: the worker is handed their public
    numbers, and generates only what is new."""
    from console.session import open_engine

    monkeypatch.setattr(twin, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(twin, "WORKER_MIN", 1)
    data = ("disk-list.json", "snapshot-list.json", "image-list.json", "vm-list-d.json", "vmss-list.json",
            "graph-query.json")
    engine = open_engine(tmp_path / "h")
    twin.import_files(engine, [f for f in FILES if not f.endswith(data)], partial=True)
    assert not engine.t["disks"] and engine.t["keys"]
    held = {k.id: [dict(v) for v in k.versions] for k in engine.t["keys"].values()}
    report = twin.import_files(engine, [f for f in FILES if f.endswith(data)], merge=True, partial=True)
    assert report.counts["disks"] and {k.id: k.versions for k in engine.t["keys"].values()} == held
    assert "wraps_wait_s" in report.timings  # (the worker wrapped them)
    assert _opened_as_sealed(engine) == 14
    engine.store.close()
    assert _opened_as_sealed(open_engine(tmp_path / "h")) == 14


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_the_import_wraps_from_the_end_while_the_worker_goes_on_and_the_values_stay_in_order(monkeypatch):
    import base64
    import multiprocessing

    from engine import crypto

    monkeypatch.setattr(_wraps, "CHUNK", 4)
    parent, real = os.getpid(), _wraps.wrap_key
    ctx = multiprocessing.get_context("fork")
    started, go = ctx.Event(), ctx.Event()
    here = []

    def gated(pub, dek):  # both are at work at once: each one's first wrap waits for the other to begin
        if os.getpid() == parent:
            started.wait()
            here.append(dek)
            go.set()
        else:
            started.set()
            go.wait()
        return real(pub, dek)

    monkeypatch.setattr(_wraps, "wrap_key", gated)
    keys = [crypto.generate_rsa(2048), crypto.generate_rsa(3072)]
    # 23 resources, some of two data keys (double encryption: the second wrapped by the other key)
    items = [([keys[i % 2].public_key()] + ([keys[(i + 1) % 2].public_key()] if i % 3 == 0 else []),
              f"/disks/d{i}".encode()) for i in range(23)]
    host = os.urandom(32)
    got = []
    with _wraps.WrapWorker() as w:
        w.host(host)
        holders = w.submit(items, tables={"disks"}, told=lambda n: None, then=got.append)
        w.wait()
        flat = [h for held in holders for h in held]
        buf = bytearray(("[" + ",".join(f'"{h}"' for h in flat) + "]").encode())
        filled, moves = w.fill(buf)
    (values,) = got
    assert json.loads(filled) == values
    # each placeholder is as short as any other; where it was and how much its value grew
    assert len({len(h) for h in flat}) == 1 and [grew for _at, grew in moves] == [len(v) - len(h) for h, v in
                                                                                  zip(flat, values)]
    assert [at for at, _grew in moves] == [m.start() + 1 for m in re.finditer(rb'"~', bytes(buf))]
    # each resource: its wraps, then its host copy, which holds the data keys the wraps open to
    sealer, at, deks_of = crypto.Sealer(host), 0, []
    for (pubs, aad), held in zip(items, holders):
        assert len(held) == len(pubs) + 1
        wraps, cache = values[at:at + len(pubs)], values[at + len(pubs)]
        at += len(held)
        plain = sealer.unseal_text(cache, aad)
        deks = [plain[:32]] + ([plain[32:]] if len(pubs) == 2 else [])
        assert len(plain) == 32 + 64 * (len(pubs) - 1)
        for pub, wrap, dek in zip(pubs, wraps, deks):
            key = next(k for k in keys if k.public_key().public_numbers() == pub.public_numbers())
            assert crypto.unwrap_key(key, base64.b64decode(wrap)) == dek
        deks_of.append(deks)
    # the import took whole chunks from the end (the last first), the worker those from the front
    chunks = [[dek for deks in deks_of[c:c + 4] for dek in deks] for c in range(0, 23, 4)]
    expected: list[bytes] = []
    for chunk in reversed(chunks):
        if len(expected) < len(here):
            expected += chunk
    assert sorted(here) == sorted(expected) and set(chunks[-1]) <= set(here) and chunks[0][0] not in here


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
@pytest.mark.parametrize("queued", [0, 1 << 30])
def test_the_disks_shards_are_shared_with_the_worker_and_a_failed_write_there_aborts_the_import(tmp_path, monkeypatch,
                                                                                                queued):
    """The shards holding the worker's values are shared: each one the worker has room for is handed to it (it
    fills it in and writes it), the others are filled in and written here (queued 0: every one here; a large
    one: every one there); either way the same values land. A write that fails in the worker fails the import
    whole: nothing committed, no staging directory left."""
    from console.session import open_engine
    from store import tinystore

    monkeypatch.setattr(twin, "WORKER_MIN_BYTES", 0)
    monkeypatch.setattr(_wraps, "QUEUED", queued)
    engine = open_engine(tmp_path / "h")
    twin.import_files(engine, FILES)
    assert _opened_as_sealed(engine) == 14
    engine.store.close()
    assert _opened_as_sealed(open_engine(tmp_path / "h")) == 14

    parent, real = os.getpid(), tinystore.TinyStore._write_shard_files

    def failing(dst, payload, index, written):  # (the worker's copy fails; this process's writes as ever)
        if os.getpid() != parent:
            raise OSError(28, "No space left on device")
        return real(dst, payload, index, written)

    monkeypatch.setattr(tinystore.TinyStore, "_write_shard_files", staticmethod(failing))
    home = tmp_path / "h2"
    engine = open_engine(home)
    if queued:
        with pytest.raises(EngineError, match="No space left on device"):
            twin.import_files(engine, FILES)
        assert not twin.home_holds_state(engine)
        assert not [n for n in os.listdir(home) if n.endswith(".tmp")]  # no staging directory left
    else:  # (nothing is handed over: the worker writes nothing)
        twin.import_files(engine, FILES)
        assert _opened_as_sealed(engine) == 14
    engine.store.close()


def test_planned_models_are_in_their_stored_shape():
    plan = twin.prepare([(f, twin.read_file(f)) for f in FILES], now="2026-01-01T00:00:00+00:00")
    for r in [r for r, _ in plan.disks] + plan.vms:
        assert list(r.__dict__) == list(type(r).__light_fields__), r.id  # every field, in its order
        fresh = type(r)(**r.__dict__)
        assert fresh.__dict__ == r.__dict__
    assert len({id(r.props) for r, _ in plan.disks}) == len(plan.disks)  # no default shared between models

def test_read_only_and_usage(tmp_path, capsys):
    code, out, err = run(capsys, tmp_path / "h", "import")
    assert code == 2 and "PATH" in err
    code, out, err = run(capsys, tmp_path / "h", "import", "--frobnicate", FILES[0])
    assert code == 2 and "--frobnicate" in err and "--merge" in err
    code, out, err = run(capsys, tmp_path / "h", "--read-only", "import", *FILES)
    assert code == 1 and "ERROR: (ReadOnly)" in err and "cannot create it" in err  # the store's refusal
    assert not (tmp_path / "h").exists()
    code, out, err = run(capsys, tmp_path / "h", "import", "--help")
    assert code == 0 and "--capture-script" in out


# ---- capture script, progress ------------------------------------------------------------------------------


def test_capture_script_is_read_only_and_parses(tmp_path, capsys):
    code, out, err = run(capsys, tmp_path / "h", "import", "--capture-script")
    assert code == 0 and out == capture_script()
    verbs = set()
    for line in out.splitlines():
        for part in line.split("$(")[0:]:
            words = part.strip().split()
            if words[:1] == ["az"]:
                verbs.add(" ".join(w for w in words[1:5] if not w.startswith(("-", '"', "$"))))
    mutating = ("create", "delete", "update", "set-attributes", "set-policy", "purge", "start", "stop", "rotate")
    assert not [v for v in verbs if any(m in v.split() for m in mutating)], verbs
    for needed in ("group list", "keyvault show", "keyvault key list-versions", "role assignment list",
                   "disk-encryption-set list", "vm list", "vmss list", "graph query", "snapshot list", "image list"):
        assert any(v.startswith(needed) for v in verbs), needed
    assert "--all" in out and "az vm list -d" in out and "--first 1000" in out
    script = tmp_path / "capture.sh"
    script.write_text(out)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert not (tmp_path / "h").exists()


_STUB_AZ = """#!/bin/sh
# a stand-in az for the capture script: one vault with one key, nothing else; the resource-graph extension
# present only when GRAPH=1
case "$*" in
  "extension show"*) [ "$GRAPH" = 1 ] || { echo "ERROR: The extension resource-graph is not installed." >&2; exit 1; } ;;
  "account show"*) echo 00000000-0000-0000-0000-000000000001 ;;
  "keyvault list --query"*) echo kv1 ;;
  "keyvault key list --vault-name kv1 --query"*) echo k1 ;;
  "keyvault key rotation-policy show"*) echo "ERROR: no policy" >&2; exit 1 ;;
  "graph query"*) echo '{"count": 0, "data": [], "skip_token": null, "total_records": 0}' ;;
  "account set"*) ;;
  *) echo "[]" ;;
esac
"""


@pytest.mark.parametrize("graph", [False, True])
def test_capture_script_runs_whole_with_or_without_the_resource_graph_extension(tmp_path, capsys, graph):
    """Run as written (set -euo pipefail) against a stand-in az: every file is written; the optional Resource
    Graph step is skipped with a note when the extension is missing instead of failing the whole script."""
    code, out, _ = run(capsys, tmp_path / "h", "import", "--capture-script")
    assert code == 0
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text(_STUB_AZ)
    (bin_dir / "az").chmod(0o755)
    (tmp_path / "capture.sh").write_text(out)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "SUBSCRIPTION": "sub", "GRAPH": "1" if graph else "0"}
    r = subprocess.run(["bash", "capture.sh"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    written = {p.name for p in (tmp_path / "twin").iterdir()}
    assert {"group-list.json", "keyvault-show-kv1.json", "keyvault-key-list-versions-kv1-k1.json",
            "vm-list-d.json", "vmss-list.json"} <= written
    assert "keyvault-key-rotation-policy-show-kv1-k1.json" not in written  # a key without a policy: no file
    assert ("graph-query-1.json" in written) is graph
    assert ("Resource Graph step skipped" in r.stderr) is not graph


def _az_commands(script: str) -> list[str]:
    """Each az command of a capture script, as its words up to the first flag or value (subcommand path)."""
    out = []
    for line in script.splitlines():
        line = line.strip()
        for part in re.split(r"\$\(|@\(|=\s*|;\s*|\{\s*|^if\s+", line):
            words = part.strip().split()
            if words[:1] == ["az"]:
                path = []
                for w in words[1:]:
                    if w.startswith(("-", '"', "$", "'")) or w == "|":
                        break
                    path.append(w)
                out.append(" ".join(path))
    return out


def _written_files(script: str) -> set[str]:
    """The file names a capture script writes (bash: > NAME; PowerShell: Set-Content ... NAME), with the
    variables of each language written the same way."""
    names = set(re.findall(r'> "?([\w$.{}-]+\.json)"?', script))
    names |= set(re.findall(r'Set-Content -Encoding utf8 "?([\w$.{}-]+\.json)"?', script))
    names |= set(re.findall(r'\$(?:policy|file) = "([\w$.{}-]+\.json)"', script))
    return {n.replace("${", "$").replace("}", "") for n in names}


def test_capture_script_for_powershell_runs_the_same_read_only_commands(tmp_path, capsys):
    """--shell powershell: the same az commands and the same files as the bash script, in PowerShell's
    syntax (no bash constructs), every call checked through $LASTEXITCODE."""
    code, ps, err = run(capsys, tmp_path / "h", "import", "--capture-script", "--shell", "powershell")
    assert code == 0 and ps == capture_script("powershell"), err
    bash = capture_script("bash")
    assert sorted(set(_az_commands(ps))) == sorted(set(_az_commands(bash)))
    assert "graph query" in _az_commands(ps) and "vm list" in _az_commands(ps)
    # the same files: the import then reads a PowerShell capture exactly as a bash one
    assert _written_files(ps) == _written_files(bash)
    assert {"group-list.json", "vm-list-d.json", "keyvault-show-$v.json", "keyvault-key-list-versions-$v-$k.json",
            "keyvault-key-rotation-policy-show-$v-$k.json", "graph-query-$page.json"} <= _written_files(ps)
    for bashism in ("$(", "set -euo", "[ -z", "done", "fi\n", "2>/dev/null", "${"):
        assert bashism not in ps, bashism
    # balanced blocks, and every az call that writes a file is checked (native commands never stop a script)
    assert ps.count("{") == ps.count("}") and ps.count("(") == ps.count(")")
    for line in ps.splitlines():
        if line.strip().startswith("az ") and "Set-Content" in line and "rotation-policy" not in line:
            assert line.rstrip().endswith("Assert-Az"), line
    assert "--all" in ps and "az vm list -d" in ps and "--first 1000" in ps and "$LASTEXITCODE" in ps
    assert not (tmp_path / "h").exists()
    # the parser: --shell=powershell too; a shell it does not know, or --shell without --capture-script
    assert run(capsys, tmp_path / "h", "import", "--capture-script", "--shell=powershell")[1] == ps
    code, out, err = run(capsys, tmp_path / "h", "import", "--capture-script", "--shell", "fish")
    assert code == 2 and "fish" in err and "bash, powershell" in err and out == ""
    code, out, err = run(capsys, tmp_path / "h", "import", "--shell", "powershell", "x.json")
    assert code == 2 and "--capture-script" in err
    assert not (tmp_path / "h").exists()


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_each_new_stage_at_once():
    """Updates are kept to ten a second, but a new stage shows at once: the planning after the reading is not
    hidden behind the reading's last line."""
    tty = _Tty()
    bar = Progress(tty, delay=0.0)
    bar("reading", 11, 11)
    bar("planning", 0, 1)  # within the same tenth of a second
    bar("planning", 0, 1)
    bar.close()
    lines = tty.getvalue().split("\r")
    assert [line.split()[1] for line in lines if line.strip()] == ["reading", "planning"]


def test_the_planning_tells_its_progress(monkeypatch):
    """The planning tells how far it is (every PLAN_TOLD disks, snapshots, images and VMs), never past its
    total, which counts them all."""
    monkeypatch.setattr(twin, "PLAN_TOLD", 2)
    seen: list[tuple[str, int, int]] = []
    docs = [(f, twin.read_file(f)) for f in FILES]
    plan = twin.prepare(docs, now="2026-01-01T00:00:00+00:00", partial=True,
                        progress=lambda *told: seen.append(told))
    planned = len(plan.disks) + len(plan.vms)
    assert {stage for stage, _done, _total in seen} == {"planning"} and len(seen) >= planned // 2 - 1
    assert [d for _s, d, _t in seen] == list(range(2, 2 * len(seen) + 1, 2))
    assert seen[-1][2] >= planned and all(d <= t for _s, d, t in seen)


def test_the_progress_names_its_stages_in_the_users_words(engine):
    """Every stage the import tells, in order, named as a user names it (not a table's name: des, roles)."""
    seen: list[str] = []
    twin.import_files(engine, FILES, progress=lambda stage, done, total: seen.append(stage))
    stages = list(dict.fromkeys(seen))
    assert {"planning", "key versions", "vaults", "role assignments", "keys", "encryption sets", "scale sets",
            "data keys", "disks", "writing"} <= set(stages)
    assert not {"des", "roles", "scalesets"} & set(stages) and stages[-1] == "writing"


def test_a_shorter_progress_line_leaves_nothing_of_the_longer_one_before():
    """Each line is drawn over the one before (a carriage return): a shorter one is padded over what it does
    not cover, so the terminal shows it alone ("0% 0/111" was "0/1" over "11/11"); the files are counted while
    they are read, the later stages (one measure of work across key versions, data keys and resources) by
    their share alone."""
    tty = _Tty()
    bar = Progress(tty, delay=0.0)
    bar("reading", 11, 11)
    bar("planning", 0, 1)
    bar("data keys", 50, 100)
    shown = ""
    for part in tty.getvalue().split("\r")[1:]:  # as a terminal draws them
        shown = part + shown[len(part):]
        assert shown.rstrip() == part.rstrip()
    assert "11 of 11 files" in tty.getvalue() and shown.rstrip().endswith("50%")


def test_progress_bar_only_on_a_tty_and_after_the_delay():
    tty = _Tty()
    bar = Progress(tty, delay=0.0)
    bar("disks", 50, 100)
    bar("disks", 100, 100)
    bar.close()
    text = tty.getvalue()
    assert "\rimporting disks" in text and "100%" in text and text.endswith("\n")
    quiet = _Tty()
    bar = Progress(quiet, delay=3600.0)  # an import that ends before the delay shows nothing
    bar("disks", 100, 100)
    bar.close()
    assert quiet.getvalue() == ""
    pipe = io.StringIO()
    bar = Progress(pipe, delay=0.0)
    bar("disks", 100, 100)
    bar.close()
    assert pipe.getvalue() == ""


def test_unmodelled_items_in_the_engine_api(engine):
    """The headless API: a VM naming a disk another VM holds, and a set without identity, are reported."""
    vms = load("vm-list-d.json")
    thief = json.loads(json.dumps(vms[0]))
    thief["id"] = thief["id"].replace("vm-web-01", "vm-thief")
    thief["name"] = "vm-thief"
    des = load("disk-encryption-set-list.json")
    des[1]["identity"] = None
    docs = [(f, json.loads(Path(f).read_text())) for f in FILES if not f.endswith(
        ("vm-list-d.json", "disk-encryption-set-list.json"))]
    docs += [("vms", vms + [thief]), ("des", des)]
    with pytest.raises(twin.Incomplete) as info:
        twin.import_docs(engine, docs)
    skipped = info.value.report.skipped
    assert skipped["VM naming a disk whose managedBy names another VM"] == [thief["id"]]
    assert des[1]["id"] in skipped["disk encryption set without an identity (identity.principalId)"]
    assert not twin.home_holds_state(engine)
    # the same when the items are freed as they are planned (the managedBy of a disk planned before the VM)
    docs = [(f, json.loads(Path(f).read_text())) for f in FILES if not f.endswith(
        ("vm-list-d.json", "disk-encryption-set-list.json"))] + [("vms", vms + [thief]), ("des", des)]
    plan = twin.prepare(docs, now="2026-01-01T00:00:00+00:00", partial=True, consume=True)
    assert plan.report.skipped["VM naming a disk whose managedBy names another VM"] == [thief["id"]] and not docs


def test_rest_list_responses_and_deleted_keys(engine):
    """``{"value": [...]}`` (az rest) reads as the list it wraps; a deleted key is reported, not made active."""
    docs = [(f, json.loads(Path(f).read_text())) for f in FILES if not f.endswith("disk-list.json")]
    docs.append(("rest-disks", {"value": load("disk-list.json")}))
    deleted = {"attributes": {"created": "2025-01-01T00:00:00+00:00", "enabled": True},
               "deletedDate": "2025-09-01T00:00:00+00:00",
               "kid": "https://kv-prod-cmk.vault.azure.net/keys/old-key/22222222222222222222222222222222",
               "recoveryId": "https://kv-prod-cmk.vault.azure.net/deletedkeys/old-key", "tags": None}
    docs.append(("deleted", [deleted]))
    report = twin.import_docs(engine, docs, partial=True)
    assert report.counts["disks"] == 12
    assert report.skipped["deleted key (az keyvault key list-deleted; soft-deleted keys are not modelled)"] == [
        deleted["kid"]]
    assert engine.t["keys"].get("https://kv-prod-cmk.vault.azure.net/keys/old-key") is None


@pytest.mark.parametrize("fixture, mutate", [
    ("keyvault-show-kv-prod-cmk.json", lambda d: d["properties"].update(softDeleteRetentionInDays="ninety")),
    ("vm-list-d.json", lambda d: d[2]["storageProfile"]["dataDisks"][0].update(lun="first")),
    ("vm-list-d.json", lambda d: d[1]["storageProfile"].update(dataDisks=["a disk"])),
    ("keyvault-key-list-versions-disk-key.json", lambda d: d[0].update(attributes="enabled")),
    ("disk-list.json", lambda d: d[0].update(encryption=["CMK"])),
    ("vmss-list.json", lambda d: d[0]["sku"].update(capacity={"n": 2})),
])
def test_values_of_the_wrong_type_are_a_clear_error(tmp_path, capsys, fixture, mutate):
    doc = load(fixture)
    mutate(doc)
    bad = tmp_path / fixture
    bad.write_text(json.dumps(doc))
    files = [f for f in FILES if not f.endswith(fixture)] + [str(bad)]
    home = tmp_path / "h"
    code, out, err = run(capsys, home, "import", *files)
    assert code in (1, 2), (code, err)
    assert err.startswith("ERROR: (") or "not modelled" in err
    assert not home.exists()


def test_a_set_whose_identity_cannot_use_its_key_is_noted(tmp_path, capsys):
    vault = load("keyvault-show-kv-prod-cmk.json")
    vault["properties"]["accessPolicies"] = vault["properties"]["accessPolicies"][:1]  # the set's grant not captured
    bad = tmp_path / "keyvault-show-kv-prod-cmk.json"
    bad.write_text(json.dumps(vault))
    files = [f for f in FILES if not f.endswith("keyvault-show-kv-prod-cmk.json")] + [str(bad)]
    code, out, err = run(capsys, tmp_path / "h", "import", "--json", *files)
    assert code == 0, err
    notes = json.loads(out)["assumptions"]
    (reason,) = [r for r in notes if r.startswith("disk encryption set whose identity cannot use its key")]
    assert notes[reason]["ids"] == [load("disk-encryption-set-list.json")[0]["id"]]


def test_merge_into_another_subscription_is_refused(tmp_path, capsys):
    home = tmp_path / "demo"
    code, out, err = run(capsys, home, "demo")
    assert code == 0, err
    before = home_bytes(home)
    code, out, err = run(capsys, home, "import", "--merge", *FILES)
    assert code == 1 and "a home models one subscription" in err
    assert home_bytes(home) == before


def test_roles_cmklab_does_not_model_grant_nothing_and_break_nothing(tmp_path, capsys):
    """Owner, Contributor, Reader... grant no key permission: kept as given, and a cascade that meets one on
    the identity of a set passes over it."""
    roles = load("role-assignment-list-all.json")
    extra = json.loads(json.dumps(roles[2]))  # Reader at the subscription, given to des-data's identity
    extra["principalId"] = roles[0]["principalId"]
    extra["id"] = extra["id"].replace("8c3f5b2d", "9d4a6c3e")
    extra["name"] = extra["id"].rsplit("/", 1)[1]
    more = tmp_path / "roles-more.json"
    more.write_text(json.dumps([extra]))
    home = tmp_path / "h"
    code, out, err = run(capsys, home, "import", *FILES, str(more))
    assert code == 0, err
    code, out, err = run(capsys, home, "az", "vm", "start", "-g", "rg-data", "-n", "vm-app-01")
    assert code == 0, err
    az_json(capsys, home, "keyvault", "key", "set-attributes", "--vault-name", "kv-data-cmk", "-n", "data-key",
            "--enabled", "false")
    states = {v["name"]: v["powerState"] for v in az_json(capsys, home, "vm", "list", "-d")}
    assert states["vm-app-01"] == "VM stopped" and states["vm-db-01"] == "VM stopped"


def test_an_import_on_another_thread_never_forks_its_wraps():
    """The console imports from a worker thread while its UI and watcher threads run: a fork there could copy a
    lock another thread holds, so the wraps stay on threads (only the CLI's main thread forks a worker)."""
    import threading

    seen = []
    t = threading.Thread(target=lambda: seen.append(_wraps.available()))
    t.start()
    t.join()
    assert seen == [False]


def test_the_summary_says_one_resource_in_the_singular():
    """"1 snapshots" read as a slip: the summary (CLI and console) says one of a kind in the singular."""
    from engine.twin import Report

    report = Report(counts={"disks": 12, "snapshots": 1, "VMs": 1, "key versions": 3, "images": 0,
                            "role assignments": 1200})
    assert report.modelled() == "12 disks, 1 snapshot, 1 VM, 3 key versions, 1,200 role assignments"
    assert report.lines()[0] == "modelled: 12 disks, 1 snapshot, 1 VM, 3 key versions, 1,200 role assignments"


@pytest.mark.skipif(not FORKS, reason="no fork here (Windows, CMKLAB_PORTABLE=1): the wraps run on threads")
def test_shards_handed_to_the_worker_go_through_the_memory_file_again_from_its_start(tmp_path, monkeypatch):
    """The shards handed over go through a ring of SHM_RING bytes (its pages made once): far more than the ring
    holds, each one filled in and written whole, whichever of the two processes wrote it."""
    from engine import crypto
    from store.tinystore import _shard_parts, _write_late_shard

    monkeypatch.setattr(_wraps, "SHM_RING", 8192)
    monkeypatch.setattr(_wraps, "QUEUED", 2048)
    key = crypto.generate_rsa(2048).public_key()
    items = [([key], f"/disks/d{i}".encode()) for i in range(3)]
    got = []
    with _wraps.WrapWorker() as w:
        w.host(os.urandom(32))
        holders = w.submit(items, tables={"disks"}, told=lambda n: None, then=got.append)
        w.wait()
        flat = [h for held in holders for h in held]
        jobs, expected, mine = [], {}, []
        for j in range(40):  # ~40 KB through an 8 KB ring
            body = ("[" + ",".join(f'"{h}"' for h in flat) + f',"{j}{"x" * (j * 7)}"]').encode()
            path = str(tmp_path / f"s{j}.json")
            jobs.append((path, body, f'"k{j}":[0,1]'))
        (values,) = got
        for path, body, _index in jobs:
            filled = bytearray(body)
            for h, v in zip(flat, values):
                filled = filled.replace(h.encode(), v.encode())
            expected[path] = bytes(b"".join(_shard_parts(bytes(filled), "")[:2]))
        for job in jobs:
            if w.room():
                w.hand_over(_write_late_shard, [job])
            else:  # as the store does: filled and written here
                path, body, index = job
                filled, moves = w.fill(bytearray(body))
                mine += _write_late_shard(path, filled, index, moves)
        theirs = w.handed()
        assert w._shm_at <= _wraps.SHM_RING  # (it went round: ~40 KB handed over)
    assert sorted(theirs + mine) == sorted(expected) and theirs
    for path, content in expected.items():
        assert open(path, "rb").read() == content
