"""Security: file modes, no secret at rest or in any output, and access checked in the crypto path itself.

* Homes opened with ``console.session.open_engine`` (and by the ``cmklab`` CLI): the directory 0700, state.json,
  root.key, state.lock and every blob file 0600, the blob directory 0700, whatever the umask, also after
  commits and re-encryptions that replace files.
* A grep for secrets: on an unseeded landscape (real randomness) with an imported, password-protected key,
  the needles are ``PRIVATE KEY``, every private number (d, p, q, dp, dq, qi) of every key version and
  platform key (in decimal, hex, base64 and base64url), the PKCS8 DER, every data key (``engine._open`` on
  every resource) raw and in hex/base64, the root key and the host-cache key, the PEM password, and the
  plaintext written through VMs. The haystacks: state.json (audit and event log included), every blob
  file, the events published to subscribers, the messages of refused actions, the output of CLI commands
  (show/list/inspect/audit/what-if/errors ...), and every SVG under screenshots/ and tests/**/__snapshots__
  (for these, 24-character fragments of the secrets of the seeded key pool and of seeded demo stores, since
  a screen wraps lines).
* Access is checked in the crypto path, not by a screen: calling the engine's internals directly
  (``engine._open``, ``engine.unwrap_key``, the re-key path), a set whose identity lacks ``unwrapKey`` (policy
  deleted, permission narrowed, RBAC role removed) cannot open a data key, nor can anyone when the key is
  disabled, not yet valid, deleted, purged or its vault deleted; the private key is never unsealed then,
  and the refusal is audited.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

import reliability_harness as H  # noqa: E402
from console.session import open_engine  # noqa: E402
from engine import crypto  # noqa: E402
from engine.errors import EngineError  # noqa: E402
from engine.rules import ENC_DOUBLE  # noqa: E402

RG = "rg-sec"
VAULT, RBAC_VAULT = "kv-sec", "kv-sec-rbac"
PASSWORD = "pem-pass-3f9a1c77e2"
PLAINTEXT = [b"TOP-SECRET payroll 2026: alice=123456", b"customer card 4111-1111-1111-1111 exp 12/29",
             b"\x00\x01binary-secret-\xfe\xff" * 8]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


POSIX_MODES = pytest.mark.skipif(os.name != "posix", reason="file modes (0600, 0700) are POSIX")


# ---- file modes -------------------------------------------------------------------------------------------


@POSIX_MODES
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_open_engine_home_modes(tmp_path, umask):
    old = os.umask(umask)
    try:
        home = tmp_path / "home"
        e = open_engine(home, seed=1, demo=True)
        e.create_disk("d-modes", "rg-demo", size_gb=1, disk_encryption_set="des-cmk")
        e.vm_write("vm-web", 0, 0, b"x" * 5000)
        e.deallocate_vm("vm-batch")
        e.update_disk("disk-archive", "rg-demo", disk_encryption_set="des-double")  # a new blob file
        e.store.close()
        check_modes(home)
    finally:
        os.umask(old)


def check_modes(home: Path) -> None:
    assert mode(home) == 0o700
    for name in ("root.key", "state.lock"):
        assert mode(home / name) == 0o600, name
    assert mode(home / "db") == 0o700
    for f in (home / "db").iterdir():
        assert mode(f) == 0o600 and not f.name.endswith(".tmp"), f.name
    assert mode(home / "blobs") == 0o700
    files = list((home / "blobs").iterdir())
    assert files
    for f in files:
        assert mode(f) == 0o600, f.name
    # whatever else the store keeps there (a journal of the logs ...) is private too, and no temp file is left
    for f in home.iterdir():
        assert not f.name.endswith(".tmp"), f.name
        if f.is_file():
            assert mode(f) == 0o600, f.name
        else:
            assert f.name in ("blobs", "db"), f.name


@POSIX_MODES
def test_cli_home_modes(tmp_path):
    if not H.cmklab_cli_ready():
        pytest.skip("the cmklab CLI is not available yet")
    home = tmp_path / "cli-home"
    env = H.child_env()
    for argv in (["az", "group", "create", "-n", "rg1", "-l", "eastus"],
                 ["az", "disk", "create", "-g", "rg1", "-n", "d1", "--size-gb", "1"]):
        p = subprocess.run(H.cmklab_command() + ["--home", str(home)] + argv + ["-o", "none"], cwd=H.REPO,
                           env=env, capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: os.umask(0))
        assert p.returncode == 0, p.stderr
    assert mode(home) == 0o700 and mode(home / "db" / "meta.json") == 0o600 and mode(home / "root.key") == 0o600


# ---- a landscape full of secrets ------------------------------------------------------------------------


class Secrets:
    """An unseeded landscape and every secret in it."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.events: list[str] = []
        e = self.engine = open_engine(home)
        e.subscribe(lambda ev: self.events.append(json.dumps(ev.to_doc(), default=str)))
        self.imported = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = self.imported.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(PASSWORD.encode()))
        self.pem = pem
        self.refusals: list[str] = []
        with e.transaction():
            e.create_group(RG, "eastus")
            e.create_vault(VAULT, RG, enable_purge_protection=True, retention_days=7)
            e.create_vault(RBAC_VAULT, RG, enable_purge_protection=True, enable_rbac_authorization=True,
                           sku="premium")
            k1, v1 = e.create_key(VAULT, "k-gen", size=3072)
            k2, v2 = e.import_key(VAULT, "k-imported", pem, password=PASSWORD)
            k3, v3 = e.create_key(RBAC_VAULT, "k-hsm", kty="RSA-HSM")
            e.create_key(VAULT, "k-ec", kty="EC", curve="P-384")  # an EC key's scalar is a secret too
            s1 = e.create_des("des-gen", RG, H.versioned(k1, v1))
            s2 = e.create_des("des-imp", RG, H.versioned(k2, v2), encryption_type=ENC_DOUBLE)
            s3 = e.create_des("des-rbac", RG, H.versioned(k3, v3))
            for s in (s1, s2, s3):
                H.grant(e, s)
            e.create_vm("vm-sec", RG, os_disk_name="vm-sec-os", os_disk_encryption_set="des-gen",
                        data_disk_sizes_gb=[1, 1], data_disk_encryption_sets=["des-imp", "des-rbac"])
            e.create_disk("d-plat", RG, size_gb=1)
            e.attach_disk("vm-sec", "d-plat", RG, lun=5)
        for lun, data in zip((0, 1, 5), PLAINTEXT):
            e.vm_write("vm-sec", lun, 8192, data, RG)
        with e.transaction():
            e.create_snapshot("snap-sec", RG, e.get_vm("vm-sec", RG).data_disks[0]["diskId"])
            e.rotate_key(VAULT, "k-gen")
        e.update_des("des-gen", RG, key_url=H.versioned(e._key(VAULT, "k-gen"), e._key(VAULT, "k-gen").current))
        e.set_key_attributes(VAULT, "k-gen", e._key(VAULT, "k-gen").versions[0]["version"], enabled=False)
        for bad in (lambda: e.import_key(VAULT, "k-bad", pem, password="wrong-" + PASSWORD),
                    lambda: e.import_key(VAULT, "k-bad", pem),
                    lambda: e.create_disk("d-denied", RG, size_gb=1, disk_encryption_set=e.create_des(
                        "des-noaccess", RG, H.versioned(k2, v2)).name),
                    lambda: e.create_key(VAULT, "k-imported", kty="oct")):
            try:
                bad()
            except EngineError as err:
                self.refusals.append(json.dumps(err.to_dict()))

    def needles(self) -> dict[str, list[bytes]]:
        """Every secret, by label, in every form it could leak in (bytes)."""
        e = self.engine
        out: dict[str, list[bytes]] = {"PRIVATE KEY": [b"PRIVATE KEY"]}
        keys = {}
        for k in e.t["keys"].values():
            for ver in k.versions:
                kid = H.versioned(k, ver)
                keys[kid] = e._private(kid)
        for pk in e.t["platform_keys"].values():
            keys[pk.id] = e._platform_private(pk.id)
        keys["imported"] = self.imported
        for kid, priv in keys.items():
            out.update(private_key_needles(kid, priv))
        for r in H.all_resources(e):
            with e.transaction():
                deks = e._open(r)
            for i, dek in enumerate(deks):
                out[f"data key {i} of {r.name}"] = forms(dek)
        root = e.store.root_key()
        out["root key"] = forms(root)
        out["host key"] = forms(hashlib.sha256(b"platform-host-cache" + root).digest())
        out["PEM password"] = [PASSWORD.encode()]
        out["PEM"] = [self.pem[40:100]]
        for i, p in enumerate(PLAINTEXT):
            out[f"plaintext {i}"] = forms(p)
        return {k: [n for n in v if n] for k, v in out.items()}


def forms(raw: bytes) -> list[bytes]:
    b64 = base64.b64encode(raw)
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), b64, b64.rstrip(b"="),
            base64.urlsafe_b64encode(raw).rstrip(b"=")]


def _int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def private_key_needles(label: str, priv) -> dict[str, list[bytes]]:
    nums = priv.private_numbers()
    out = {}
    names = ("private_value",) if hasattr(nums, "private_value") else ("d", "p", "q", "dmp1", "dmq1", "iqmp")
    for name in names:  # an EC key's secret is its scalar; an RSA key's, d and the CRT parameters
        n = getattr(nums, name)
        out[f"{label} {name}"] = [str(n).encode()] + forms(_int_bytes(n))
    der = priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    out[f"{label} PKCS8"] = [der[-64:], base64.b64encode(der)[200:260]]
    return out


@pytest.fixture(scope="module")
def secrets_world(tmp_path_factory):
    w = Secrets(tmp_path_factory.mktemp("secrets") / "home")
    yield w
    w.engine.store.close()


def find(needles: dict[str, list[bytes]], haystack: bytes) -> list[str]:
    return [label for label, ns in needles.items() if any(n in haystack for n in ns)]


def test_no_secret_at_rest(secrets_world):
    """Every file of the home: state.json, the audit and event logs (wherever the store keeps them), every
    blob file, the lock file; root.key holds the root key and nothing else."""
    w = secrets_world
    needles = w.needles()
    H.record("secret needles", sum(len(v) for v in needles.values()))
    e = w.engine
    assert len(e.t["audit"]) > 10 and len(e.t["events"]) > 10
    logs = json.dumps([a.to_doc() for a in e.t["audit"].values()] + [x.to_doc() for x in e.t["events"].values()])
    leaks = {"audit and event log (as the engine reads them)": find(needles, logs.encode())}
    root = needles.pop("root key")
    for f in sorted(p for p in w.home.rglob("*") if p.is_file()):
        hay = f.read_bytes()
        label = str(f.relative_to(w.home))
        if f.name == "root.key":
            assert hay == e.store.root_key()
            continue
        leaks[label] = find(needles, hay) + (["root key"] if any(n in hay for n in root) else [])
    needles["root key"] = root
    H.record("files and outputs grepped", len(leaks))
    assert not any(leaks.values()), {k: v for k, v in leaks.items() if v}
    # and the data really is there, encrypted: it reads back through the vault
    e = w.engine
    assert e.read_resource("disk", "d-plat", 8192, len(PLAINTEXT[2]), RG) == PLAINTEXT[2]


def test_no_secret_in_events_or_refusals(secrets_world):
    w = secrets_world
    needles = w.needles()
    assert w.events and w.refusals
    leaks = {"events": find(needles, "\n".join(w.events).encode()),
             "refusals": find(needles, "\n".join(w.refusals).encode())}
    H.record("files and outputs grepped", 2)
    assert not any(leaks.values()), leaks


CLI_COMMANDS = [
    ["az", "keyvault", "key", "show", "--vault-name", VAULT, "-n", "k-imported"],
    ["az", "keyvault", "key", "list", "--vault-name", VAULT],
    ["az", "keyvault", "key", "list-versions", "--vault-name", VAULT, "-n", "k-gen"],
    ["az", "keyvault", "key", "show", "--vault-name", RBAC_VAULT, "-n", "k-hsm"],
    ["az", "keyvault", "show", "-n", VAULT],
    ["az", "disk", "list", "-g", RG],
    ["az", "disk", "show", "-g", RG, "-n", "vm-sec-os"],
    ["az", "snapshot", "list", "-g", RG],
    ["az", "disk-encryption-set", "list", "-g", RG],
    ["az", "disk-encryption-set", "show", "-g", RG, "-n", "des-imp"],
    ["az", "vm", "show", "-g", RG, "-n", "vm-sec"],
    ["az", "vm", "list", "-d"],
    ["disk", "inspect", "-g", RG, "-n", "vm-sec-os"],
    ["disk", "inspect", "-g", RG, "-n", "d-plat"],
    ["disk", "inspect", "-g", RG, "-n", "snap-sec", "--type", "snapshot"],
    ["audit"],
    ["clock", "show"],
    ["what-if", "az", "keyvault", "key", "delete", "--vault-name", VAULT, "-n", "k-imported"],
    ["az", "keyvault", "key", "show", "--vault-name", VAULT, "-n", "k-imported", "-o", "table"],
    ["az", "keyvault", "key", "show", "--vault-name", VAULT, "-n", "k-imported", "-o", "yaml"],
    ["az", "keyvault", "key", "show", "--vault-name", VAULT, "-n", "k-imported", "-o", "tsv"],
    ["az", "disk", "list", "-g", RG, "--debug"],
    ["az", "keyvault", "key", "show", "--vault-name", VAULT, "-n", "nope"],
    ["az", "disk", "show", "-g", RG, "-n", "nope"],
    ["az", "keyvault", "key", "show", "--vault-name", VAULT, "-n", "k-ec"],
    ["az", "keyvault", "key", "sign", "--vault-name", VAULT, "-n", "k-ec", "-a", "ES384", "--digest",
     base64.b64encode(bytes(range(48))).decode()],
    ["az", "keyvault", "key", "wrap-key", "--vault-name", VAULT, "-n", "k-gen", "-a", "RSA-OAEP-256", "--value",
     base64.b64encode(bytes(32)).decode()],
    ["az", "keyvault", "key", "unwrap-key", "--vault-name", VAULT, "-n", "k-gen", "-a", "RSA-OAEP-256", "--value",
     base64.b64encode(bytes(384)).decode()],
]


def run(argv: list[str], home: Path) -> tuple[int, str]:
    """``cmklab ARGV`` in this process: (exit code, stdout + stderr)."""
    from console.cli import run_cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run_cli(list(argv), home=str(home))
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue() + err.getvalue()


def test_no_secret_in_cli_output(secrets_world):
    """The output (stdout and stderr) of show/list/inspect/audit/what-if/error commands."""
    if not H.cmklab_cli_ready():
        pytest.skip("the cmklab CLI is not available yet")
    w = secrets_world
    needles = w.needles()
    leaks = {}
    for argv in CLI_COMMANDS:
        code, text = run(argv, w.home)
        assert text.strip() or "-o" in argv, " ".join(argv)
        leaks[" ".join(argv)] = find(needles, text.encode("utf-8", "surrogateescape"))
    # a guest read shows the plaintext on purpose, and nothing else
    code, text = run(["vm", "read", "-g", RG, "-n", "vm-sec", "--lun", "5", "--offset", "8192", "--length", "64",
                      "--hex"], w.home)
    assert code == 0 and PLAINTEXT[2][:32].hex() in text, text
    leaks["vm read"] = [x for x in find(needles, text.encode()) if not x.startswith("plaintext")]
    H.record("files and outputs grepped", len(leaks))
    assert not any(leaks.values()), {k: v for k, v in leaks.items() if v}


# ---- screenshots and snapshots --------------------------------------------------------------------------

FRAGMENT = 24


def _fragments(needle: bytes) -> list[bytes]:
    if len(needle) <= FRAGMENT:
        return [needle]
    return [needle[i:i + FRAGMENT] for i in range(0, len(needle) - FRAGMENT + 1, FRAGMENT // 2)]


def svg_text(path: Path) -> bytes:
    """What a screen shows: the text of the SVG (tags dropped, entities decoded), plus the raw file."""
    import html

    raw = path.read_text(errors="replace")
    text = html.unescape(re.sub(r"<[^>]+>", "\n", raw)).replace("\xa0", " ")
    return (raw + "\n" + text).encode("utf-8", "replace")


@pytest.fixture(scope="module")
def seeded_secrets() -> dict[str, set[bytes]]:
    """Fragments of the secrets any seeded store can hold: the public pool its keys come from, and the data
    keys and root keys of seeded demo stores (the stores screenshots and snapshots are made from)."""
    from engine import Engine
    from engine.demo import build_demo
    from engine.keys import _seeded_pool

    needles: dict[str, list[bytes]] = {}
    for size, pool in _seeded_pool().items():
        for i, der in enumerate(pool):
            priv = crypto.private_from_der(base64.b64decode(der))
            nums = priv.private_numbers()
            for name in ("d", "p", "q"):
                n = getattr(nums, name)
                needles[f"pool {size}/{i} {name}"] = [str(n).encode(), _int_bytes(n).hex().encode(),
                                                      base64.b64encode(_int_bytes(n))]
    for seed in (0, 1, 2, 3, 5, 7, 11, 42):
        e = Engine.in_memory(seed=seed)
        build_demo(e)
        for r in H.all_resources(e):
            with e.transaction():
                for i, dek in enumerate(e._open(r)):
                    needles[f"seed {seed} data key {i} of {r.name}"] = forms(dek)[1:]
    return {label: {f for n in ns for f in _fragments(n)} for label, ns in needles.items()}


def svg_leaks(svgs: list[Path], secrets: dict[str, set[bytes]]) -> dict[str, list[str]]:
    all_fragments = {f: label for label, fs in secrets.items() for f in fs}
    leaks = {}
    for svg in svgs:
        hay = svg_text(svg)
        found = ["PRIVATE KEY"] if b"PRIVATE KEY" in hay else []
        grams = {hay[i:i + FRAGMENT] for i in range(0, max(0, len(hay) - FRAGMENT + 1))}
        found += [all_fragments[f] for f in grams & all_fragments.keys()]
        if found:
            leaks[svg.name] = sorted(set(found))[:5]
    return leaks


def test_no_secret_in_screenshots_or_snapshots(seeded_secrets):
    svgs = sorted((H.REPO / "screenshots").rglob("*.svg")) + sorted(
        p for p in (H.REPO / "tests").rglob("*.svg") if "__snapshots__" in p.parts)
    H.record("files and outputs grepped", len(svgs))
    leaks = svg_leaks(svgs, seeded_secrets)
    assert not leaks, leaks


def test_the_grep_finds_planted_secrets(secrets_world, seeded_secrets, tmp_path):
    """The detectors work: secrets planted in a copy of the state and in a screen wrapped over lines are found."""
    needles = secrets_world.needles()
    d = str(secrets_world.imported.private_numbers().d).encode()
    from store import state_files

    state = b"".join(state_files(secrets_world.home).values())
    assert "imported d" in find(needles, state[:-1] + b',"x":"' + d + b'"}')
    dek_label = next(label for label in needles if label.startswith("data key 0 of"))
    assert dek_label in find(needles, state + needles[dek_label][3])
    label = next(iter(seeded_secrets))
    number = str(_pool_number(label)).encode()
    lines = [number[i:i + 70] for i in range(0, len(number), 70)]
    svg = tmp_path / "screen.svg"
    svg.write_text("<svg>" + "".join(f'<text x="0" y="{i}">{ln.decode()}</text>' for i, ln in enumerate(lines))
                   + "</svg>")
    assert label in svg_leaks([svg], seeded_secrets)["screen.svg"]


def _pool_number(label: str) -> int:
    from engine.keys import _seeded_pool

    size_i, name = label.split()[1], label.split()[2]
    size, i = size_i.split("/")
    priv = crypto.private_from_der(base64.b64decode(_seeded_pool()[size][int(i)]))
    return getattr(priv.private_numbers(), name)


# ---- access is checked in the crypto path itself ----------------------------------------------------------


@pytest.fixture
def access(tmp_path):
    e = open_engine(tmp_path / "home", seed=9)
    with e.transaction():
        e.create_group(RG, "eastus")
        e.create_vault(VAULT, RG, enable_purge_protection=True, retention_days=7)
        e.create_vault(RBAC_VAULT, RG, enable_purge_protection=True, enable_rbac_authorization=True)
        k, v = e.create_key(VAULT, "k1")
        kr, vr = e.create_key(RBAC_VAULT, "k2")
        H.grant(e, e.create_des("des-p", RG, H.versioned(k, v)))
        H.grant(e, e.create_des("des-r", RG, H.versioned(kr, vr)))
        e.create_disk("d-p", RG, size_gb=1, disk_encryption_set="des-p")
        e.create_disk("d-r", RG, size_gb=1, disk_encryption_set="des-r")
    yield e
    e.store.close()


def _no_unseal(e, monkeypatch):
    """Fail the test if a private key is unsealed or used: a refusal must come before any RSA."""
    e._private_cache.clear()
    calls = []
    monkeypatch.setattr(type(e), "_private", lambda self, kid: calls.append(kid) or (_ for _ in ()).throw(
        AssertionError(f"private key {kid} unsealed despite a refusal")))
    real = crypto.unwrap_key
    monkeypatch.setattr(crypto, "unwrap_key", lambda key, w: calls.append("rsa") or real(key, w))
    return calls


REVOCATIONS = {
    "policy deleted": lambda e: e.delete_policy(VAULT, e.get_des("des-p", RG).principal_id),
    "unwrapKey removed": lambda e: e.set_policy(VAULT, e.get_des("des-p", RG).principal_id, ["get", "wrapKey"]),
    "role removed": lambda e: e.delete_role_assignment(assignee=e.get_des("des-r", RG).principal_id,
                                                       scope=e.get_vault(RBAC_VAULT).id),
    "key disabled": lambda e: e.set_key_attributes(VAULT, "k1", enabled=False),
    "key not yet valid": lambda e: e.set_key_attributes(VAULT, "k1", nbf="2099-01-01T00:00:00Z"),
    "key deleted": lambda e: e.delete_key(VAULT, "k1"),
    "key purged": lambda e: (e.delete_key(VAULT, "k1"), e.advance_clock("8d")),
    "vault deleted": lambda e: e.delete_vault(VAULT),
}
EXPECTED_INNER = {"policy deleted": "ForbiddenByPolicy", "unwrapKey removed": "ForbiddenByPolicy",
                  "role removed": "ForbiddenByRbac", "key disabled": "KeyDisabled",
                  "key not yet valid": "KeyNotYetValid", "key deleted": "KeyDeleted", "key purged": "KeyPurged",
                  "vault deleted": "VaultNotFound"}


@pytest.mark.parametrize("how", sorted(REVOCATIONS))
def test_crypto_path_refuses_without_access(access, monkeypatch, how):
    e = access
    disk = e.get_disk("d-r" if how == "role removed" else "d-p", RG)
    des = e.t["des"][disk.des_id]
    layer = disk.layers[0]
    REVOCATIONS[how](e)
    calls = _no_unseal(e, monkeypatch)
    seen = set(e.t["audit"].keys())
    # the storage service's own path, as a caller that skips every screen would use it
    with pytest.raises(EngineError) as info:
        with e.transaction():
            e._open(disk)
    assert info.value.code in ("KeyVaultAccessForbidden", "KeyVaultKeyNotEnabled", "KeyVaultKeyNotFound",
                               "KeyVaultNotFound"), info.value.to_dict()
    # the vault's unwrap itself, with the set's identity
    with pytest.raises(EngineError) as info:
        with e.transaction():
            e.unwrap_key(des.principal_id, layer["kid"], base64.b64decode(layer["wrapped"]))
    assert info.value.inner_code == EXPECTED_INNER[how], info.value.to_dict()
    assert not calls, calls
    # every refused unwrap is in the audit, with the identity and the reason (KV8)
    denied = [a for a in e.t["audit"].values() if a.id not in seen and a.operation == "KeyUnwrap"]
    assert len(denied) == 2 and all(a.result != "OK" and a.caller == des.principal_id for a in denied)
    assert all(a.code == EXPECTED_INNER[how] for a in denied)
    # and nothing through the facade either
    with pytest.raises(EngineError):
        e.read_resource("disk", disk.name, 0, 16, RG)


def test_rekey_path_checks_access_too(access, monkeypatch):
    """Re-keying a set opens each data key at the vault with the set's identity: no identity, no re-key."""
    e = access
    des = e.get_des("des-p", RG)
    e.delete_policy(VAULT, des.principal_id)
    k, v = e.create_key(VAULT, "k-new")
    e.set_policy(VAULT, des.principal_id, ["get", "wrapKey"])  # may wrap with the new key, not unwrap the old
    d = e.get_disk("d-p", RG)
    with e.transaction():
        d.cache = None  # no sealed copy in the storage service either
    calls = _no_unseal(e, monkeypatch)
    with pytest.raises(EngineError):
        with e.transaction():
            e._open_outer_bulk([d], des)
    assert not calls


def test_sealed_key_material_is_bound_to_its_place(access):
    """A sealed private key moved to another key version, or altered, does not open (no silent wrong key)."""
    e = access
    k1 = e._key(VAULT, "k1")
    k2 = e._key(RBAC_VAULT, "k2")
    kid1, kid2 = H.versioned(k1, k1.current), H.versioned(k2, k2.current)
    e._private_cache.clear()
    with pytest.raises(EngineError):
        crypto.private_from_der(e.sealer.unseal_text(k1.current["sealed"], kid2.encode()))
    tampered = bytearray(base64.b64decode(k1.current["sealed"]))
    tampered[20] ^= 1
    with pytest.raises(EngineError):
        e.sealer.unseal(bytes(tampered), kid1.encode())
    assert e._private(kid1).key_size == 2048
