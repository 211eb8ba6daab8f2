"""cmklab's own verbs: ``vm write|read`` (the guest's view), ``disk inspect`` (what is at rest, never a
plaintext key), ``clock`` and ``audit``."""

from __future__ import annotations

import base64

import pytest


def test_vm_write_read_round_trip_text_and_hex(cli, landscape):
    w = cli("vm", "write", "-g", "rg1", "-n", "vm1", "--lun", "0", "--offset", "5000", "--data", "ledger ✓")
    assert w.code == 0 and w.json == {"vm": "vm1", "lun": 0, "offset": 5000, "bytesWritten": len("ledger ✓".encode())}
    r = cli("vm", "read", "-g", "rg1", "-n", "vm1", "--lun", "0", "--offset", "5000", "--length",
            str(len("ledger ✓".encode())), "--query", "data", "-o", "tsv")
    assert r.out == "ledger ✓\n"
    assert cli("vm", "write", "-g", "rg1", "-n", "vm1", "--lun", "os", "--offset", "0", "--hex", "--data",
               "00ff10").code == 0
    r = cli("vm", "read", "-g", "rg1", "-n", "vm1", "--lun", "OS", "--offset", "0", "--length", "3", "--hex")
    assert r.json["data"] == "00ff10" and r.json["encoding"] == "hex"


def test_vm_write_needs_a_running_vm(cli, landscape):
    cli.ok("vm", "deallocate", "-g", "rg1", "-n", "vm1")
    r = cli("vm", "write", "-g", "rg1", "-n", "vm1", "--lun", "0", "--offset", "0", "--data", "x")
    assert r.code == 1 and "start it to read or write" in r.err


def test_V3_disabled_key_stops_vm_and_io(cli, landscape):
    cli.ok("keyvault", "key", "set-attributes", "--vault-name", "kv1", "-n", "key1", "--enabled", "false",
           "-o", "none")
    vm = cli.ok("vm", "show", "-d", "-g", "rg1", "-n", "vm1").json
    assert vm["powerState"] == "VM stopped"
    assert vm["statusReason"]["code"] == "KeyUnusable" and "disabled" in vm["statusReason"]["message"]
    view = cli.ok("vm", "get-instance-view", "-g", "rg1", "-n", "vm1").json
    assert view["instanceView"]["statuses"][1]["code"] == "PowerState/stopped"
    assert view["instanceView"]["statuses"][2]["code"] == "cmklab/KeyUnusable"
    r = cli.az("vm", "start", "-g", "rg1", "-n", "vm1")
    assert r.code == 1 and r.err.startswith("ERROR: (KeyVaultKeyNotEnabled)")


def test_read_bad_lun_is_refused(cli, landscape):
    r = cli("vm", "read", "-g", "rg1", "-n", "vm1", "--lun", "7", "--offset", "0", "--length", "1")
    assert r.code == 3 and "no data disk at LUN 7" in r.err
    r = cli("vm", "read", "-g", "rg1", "-n", "vm1", "--lun", "x", "--offset", "0", "--length", "1")
    assert r.code == 1


def _forms(secret: bytes) -> list[str]:
    return [secret.hex(), secret.hex().upper(), base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).decode().rstrip("=")]


@pytest.mark.parametrize("double", [False, True])
def test_disk_inspect_shows_layers_and_never_a_plaintext_key(cli, landscape, double):
    des = "des1"
    if double:
        kid = cli.tsv("keyvault", "key", "show", "--vault-name", "kv1", "-n", "key1", "--query", "key.kid")
        cli.ok("disk-encryption-set", "create", "-n", "desdbl", "-g", "rg1", "--key-url", kid, "--source-vault",
               "kv1", "--encryption-type", "EncryptionAtRestWithPlatformAndCustomerKeys", "-o", "none")
        pid = cli.tsv("disk-encryption-set", "show", "-n", "desdbl", "-g", "rg1", "--query", "identity.principalId")
        cli.ok("keyvault", "set-policy", "-n", "kv1", "--object-id", pid, "--key-permissions", "get", "wrapKey",
               "unwrapKey", "-o", "none")
        des = "desdbl"
    cli.ok("disk", "create", "-g", "rg1", "-n", "dd", "--size-gb", "4", "--disk-encryption-set", des, "-o", "none")
    cli.ok("vm", "disk", "attach", "-g", "rg1", "--vm-name", "vm1", "-n", "dd", "--lun", "3")
    cli("vm", "write", "-g", "rg1", "-n", "vm1", "--lun", "3", "--offset", "0", "--data", "top secret payload")
    r = cli("disk", "inspect", "-g", "rg1", "-n", "dd")
    assert r.code == 0, r.err
    info = r.json
    layers = info["layers"]
    assert info["doubleEncryption"] is double and len(layers) == (2 if double else 1)
    assert layers[0]["keyType"] == "customer-managed" and layers[0]["mode"] == "AES-256-GCM"
    assert layers[0]["keyUrl"] == cli.tsv("disk-encryption-set", "show", "-n", des, "-g", "rg1", "--query",
                                          "activeKey.keyUrl")
    assert len(layers[0]["keyVersion"]) == 32 and layers[0]["wrappedKeyBytes"] == 256
    if double:
        assert layers[1]["keyType"] == "platform-managed" and layers[1]["mode"] == "AES-256-XTS"
    sample = info["ciphertext"]
    assert sample["firstRecord"] == 0 and len(bytes.fromhex(sample["sampleHex"])) == 64
    assert "top secret" not in r.out and b"top secret".hex() not in r.out

    engine = cli.engine()
    disk = engine.get_disk("dd", "rg1")
    with engine.transaction(dry_run=True):
        keys = engine._open(disk)
    assert len(keys) == len(layers)
    for key in keys:
        for form in _forms(key):
            assert form not in r.out
    for fmt in ("table", "tsv", "yaml"):
        out = cli("disk", "inspect", "-g", "rg1", "-n", "dd", "-o", fmt).out
        assert all(form not in out for key in keys for form in _forms(key))


def test_key_bundle_never_carries_private_parts(cli, landscape):
    key = cli.ok("keyvault", "key", "show", "--vault-name", "kv1", "-n", "key1").json["key"]
    assert all(key[p] is None for p in ("d", "dp", "dq", "p", "q", "qi", "k"))


def test_clock_show_and_advance_run_due_jobs(cli, landscape):
    cli.ok("keyvault", "key", "rotation-policy", "update", "--vault-name", "kv1", "-n", "key1", "--value",
           '{"lifetime_actions": [{"trigger": {"time_after_create": "P7D"}, "action": "Rotate"}],'
           ' "attributes": {"expiry_time": "P60D"}}', "-o", "none")
    cli.ok("disk-encryption-set", "update", "-n", "des1", "-g", "rg1", "--auto-rotation", "yes", "-o", "none")
    shown = cli("clock", "show").json
    assert shown["now"] == "2026-05-01T09:00:00+00:00" and shown["profile"] == "seeds"
    assert "rotate" in shown["pendingJobs"][0]["job"]
    r = cli("clock", "advance", "8d")
    assert r.code == 0
    jobs = [j["job"] for j in r.json["jobsRan"]]
    assert any("rotate" in j for j in jobs) and any(j.startswith("automatic rotation of set des1") for j in jobs)
    assert r.json["now"] == "2026-05-09T09:00:00+00:00"
    versions = cli.ok("keyvault", "key", "list-versions", "--vault-name", "kv1", "-n", "key1", "--query",
                      "length(@)").out
    assert versions == "2\n"
    latest = cli.tsv("keyvault", "key", "show", "--vault-name", "kv1", "-n", "key1", "--query", "key.kid")
    assert cli.tsv("disk-encryption-set", "show", "-n", "des1", "-g", "rg1", "--query", "activeKey.keyUrl") == latest
    assert cli("clock", "advance", "soon").code == 1


def test_audit_filters(cli, landscape):
    entries = cli("audit").json
    assert entries and all({"time", "vault", "caller", "operation", "keyUrl", "result"} <= set(e) for e in entries)
    mine = cli("audit", "--identity", landscape["principal"]).json
    assert mine and {e["caller"] for e in mine} == {landscape["principal"]}
    assert {e["operation"] for e in mine} <= {"KeyWrap", "KeyUnwrap"}
    by_key = cli("audit", "--vault-name", "kv1", "--key", "key1", "--query", "[].operation").json
    assert "KeyCreate" in by_key
    denied = cli.az("keyvault", "delete-policy", "-n", "kv1", "--object-id", landscape["principal"], "-o", "none")
    assert denied.code == 0
    cli.ok("vm", "deallocate", "-g", "rg1", "-n", "vm1")
    assert cli.az("vm", "start", "-g", "rg1", "-n", "vm1").code == 1
    failed = cli("audit", "--identity", landscape["principal"], "--query", "[?result!='OK'].code", "-o", "tsv")
    assert "ForbiddenByPolicy" in failed.out
