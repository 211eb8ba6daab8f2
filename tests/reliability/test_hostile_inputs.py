"""The catalogue of hostile inputs: every one is refused with a clear error and changes nothing.

Each case calls the engine facade (the same methods the CLI and the console call) with one bad input and
asserts:

* an :class:`EngineError` with a code (never ``InternalError``, never a bare Python exception);
* a message that says what was wrong and what is allowed (each case names keywords it must contain),
  on one line, with no raw control characters (they are shown escaped: no terminal injection);
* no state change: every table but the audit (denied key operations stay there, KV8), in memory and as
  a new store object reads it from disk; no blob changes.

Store files (truncated, not JSON, of a newer schema, unreadable, read-only ...) are a second catalogue over
``console.session.open_engine``: a StoreError naming the file and the problem, and the file left byte for
byte as it was. The CLI catalogue (unknown flags, invalid JMESPath ...) lives in test_hostile_cli.py.

The count of cases is asserted (``test_catalogue_size``) and reported in the session summary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa  # noqa: E402

import reliability_harness as H  # noqa: E402
from engine import Engine  # noqa: E402
from engine.errors import EngineError, StoreError  # noqa: E402
from engine.rules import CRYPTO_SERVICE_ROLE, ENC_CUSTOMER, ENC_DOUBLE, ENC_PLATFORM  # noqa: E402
from store import SCHEMA_VERSION, TinyStore  # noqa: E402

RG, WEST = "rg-h", "rg-west"
KV, KV_NOPP, KV_STD = "kv-h", "kv-nopp", "kv-std"
HEX = "0" * 32
LONG = "a" * 10_000
CTRL = ["\x00", "\n", "\t", "\x1b[31m", "\x7f"]


@dataclass
class Case:
    id: str
    call: Callable[[Engine, Any], Any]
    words: tuple[str, ...]
    """Keywords the message must contain (case-insensitive): what was wrong, what is allowed."""


CASES: list[Case] = []


def case(id: str, call, *words: str) -> None:
    assert all(c.id != id for c in CASES), id
    CASES.append(Case(id, call, words))


# ---- the world the cases run against ------------------------------------------------------------


class World:
    """A small landscape on a TinyStore home. Built once; each case gets its own copy of the home."""

    def __init__(self, home: Path, *, build: bool = False) -> None:
        self.home = home
        self.store = TinyStore(home)
        e = self.engine = Engine(self.store, seed=7)
        if build:
            self._build(e)
        self.key = e._key(KV, "k-h")
        self.kid = H.versioned(self.key, self.key.current)
        self.kid_nopp = H.versioned(e._key(KV_NOPP, "k-nopp"), e._key(KV_NOPP, "k-nopp").current)
        k3 = e._key(KV_STD, "k-std", include_deleted=True)
        self.kid_std = H.versioned(k3, k3.current)
        self.des = e.get_des("des-h", RG)
        self.vm = e.get_vm("vm-h", RG)
        self.data_disk = e.t["disks"][self.vm.data_disks[0]["diskId"]]

    @staticmethod
    def _build(e: Engine) -> None:
        with e.transaction():
            e.create_group(RG, "eastus")
            e.create_group(WEST, "westus")
            e.create_vault(KV, RG, enable_purge_protection=True, retention_days=7)
            e.create_vault(KV_NOPP, RG)
            e.create_vault(KV_STD, RG, enable_purge_protection=True)
            key, ver = e.create_key(KV, "k-h")
            e.create_key(KV_NOPP, "k-nopp")
            e.create_key(KV_STD, "k-std")
            H.grant(e, e.create_des("des-h", RG, H.versioned(key, ver)))
            e.create_des("des-nogrant", RG, H.versioned(key, ver))
            e.create_vm("vm-h", RG, os_disk_name="vm-h-os", os_disk_encryption_set="des-h",
                        data_disk_sizes_gb=[1], data_disk_encryption_sets=["des-h"])
            e.create_vm("vm-plat", RG, os_disk_name="vm-plat-os")
            e.create_vm("vm-off", RG, os_disk_name="vm-off-os")
            e.deallocate_vm("vm-off")
            e.create_disk("d-h", RG, size_gb=1, disk_encryption_set="des-h")
            e.create_disk("d-plat", RG, size_gb=1)
            e.create_disk("d-ultra", RG, size_gb=1, sku="UltraSSD_LRS")
            e.create_snapshot("s-h", RG, "d-h")
            e.delete_key(KV_STD, "k-std")
        e.vm_write("vm-h", 0, 0, b"hostile-input catalogue data")

    def close(self) -> None:
        self.store.close()


class Worlds:
    """One landscape for the whole catalogue, rebuilt from its template only after a case went wrong."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.template = base / "template"
        World(self.template, build=True).close()
        self.n = 0
        self.current: World | None = None
        self.dirty = True

    def get(self) -> World:
        if self.dirty or self.current is None:
            if self.current is not None:
                self.current.close()
            self.n += 1
            home = self.base / f"copy-{self.n}"
            shutil.copytree(self.template, home)
            self.current = World(home)
            self.dirty = False
        return self.current


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    w = Worlds(tmp_path_factory.mktemp("hostile"))
    yield w
    if w.current is not None:
        w.current.close()


@pytest.fixture
def world(worlds):
    """The shared landscape; a case that fails (a wrongly accepted input) marks it dirty for the next one."""
    w = worlds.get()
    worlds.dirty = True
    yield w


# ---- PEM files ----------------------------------------------------------------------------------


def _pem(key, password: bytes | None = None, fmt=serialization.PrivateFormat.PKCS8) -> bytes:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


class Pems:
    _cache: dict = {}

    @classmethod
    def get(cls, name: str) -> bytes:
        if not cls._cache:
            rsa2048 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            cls._cache.update({
                "rsa2048-encrypted": _pem(rsa2048, b"correct horse"),
                "rsa2048-plain": _pem(rsa2048),
                "rsa2048-public": rsa2048.public_key().public_bytes(serialization.Encoding.PEM,
                                                                    serialization.PublicFormat.SubjectPublicKeyInfo),
                "rsa1024": _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
                "rsa1024-pkcs1": _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024),
                                      fmt=serialization.PrivateFormat.TraditionalOpenSSL),
                "ec-p256": _pem(ec.generate_private_key(ec.SECP256R1())),
                "ec-p384-encrypted": _pem(ec.generate_private_key(ec.SECP384R1()), b"pw"),
                "ed25519": _pem(ed25519.Ed25519PrivateKey.generate()),
                "dsa": _pem(dsa.generate_private_key(key_size=1024)),
            })
        return cls._cache[name]


def imp(pem, password=None, **kw):
    def call(e, w):
        data = Pems.get(pem) if isinstance(pem, str) and pem in PEM_NAMES else pem
        if callable(data):
            data = data()
        return e.import_key(KV, "imported", data, password=password, **kw)
    return call


PEM_NAMES = {"rsa2048-encrypted", "rsa2048-plain", "rsa2048-public", "rsa1024", "rsa1024-pkcs1", "ec-p256",
             "ec-p384-encrypted", "ed25519", "dsa"}

case("pem-not-pem", imp(b"this is not a key"), "not pem", "pkcs8")
case("pem-empty", imp(b""), "not pem")
case("pem-garbage-body", imp(b"-----BEGIN PRIVATE KEY-----\nAAAAnotbase64!!\n-----END PRIVATE KEY-----\n"),
     "malformed", "pkcs8")
case("pem-truncated", imp(lambda: Pems.get("rsa2048-plain")[:600]), "malformed")
case("pem-header-only", imp(b"-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n"), "malformed")
case("pem-wrong-password", imp("rsa2048-encrypted", password=b"wrong"), "password is wrong")
case("pem-wrong-password-str", imp("rsa2048-encrypted", password="Tr0ub4dor"), "password is wrong")
case("pem-encrypted-no-password", imp("rsa2048-encrypted"), "encrypted", "needs a password")
case("pem-password-for-plain-key", imp("rsa2048-plain", password=b"pw"), "not encrypted", "without a password")
case("pem-public-key-only", imp("rsa2048-public"), "public key", "private key")
case("pem-rsa-1024", imp("rsa1024"), "1024 bits", "2048, 3072 or 4096")
case("pem-rsa-1024-pkcs1", imp("rsa1024-pkcs1"), "1024 bits", "2048, 3072 or 4096")
case("pem-ec-p256", imp("ec-p256"), "not an rsa key", "2048, 3072 or 4096")
case("pem-ec-p384-encrypted", imp("ec-p384-encrypted", password=b"pw"), "not an rsa key")
case("pem-ed25519", imp("ed25519"), "not an rsa key", "2048, 3072 or 4096")
case("pem-dsa", imp("dsa"), "not an rsa key")
case("pem-control-chars", imp(b"-----BEGIN PRIVATE KEY-----\n\x00\x1b[2J\x07\n-----END PRIVATE KEY-----\n"),
     "malformed")
case("pem-unicode", imp("-----BEGIN PRIVATE KEY-----\nключ🔑\n-----END PRIVATE KEY-----\n"), "malformed")
case("pem-megabyte-garbage", imp(b"-----BEGIN PRIVATE KEY-----\n" + b"A" * 1_000_000 + b"\n-----END PRIVATE KEY-----\n"),
     "malformed")
case("pem-hsm-on-standard-vault", imp("rsa2048-plain", kty="RSA-HSM"), "premium")
case("pem-kty-ec", imp("rsa2048-plain", kty="EC"), "'ec'", "rsa")
case("pem-bad-key-name", lambda e, w: e.import_key(KV, "bad_name", Pems.get("rsa2048-plain")), "1-127")


# ---- naming rules of Azure, per resource type ------------------------------------------------------

NAME_CASES = {
    "vault": (lambda e, w, n: e.create_vault(n, RG, enable_purge_protection=True), "3-24", {
        "too-short": "ab", "too-long": "a" * 25, "digit-first": "1vault", "hyphen-first": "-vault",
        "hyphen-last": "vault-", "double-hyphen": "va--ult", "underscore": "va_ult", "period": "va.ult",
        "space": "kv h", "unicode": "kvé12", "emoji": "kv🔑key", "empty": "", "none": None, "number": 1234,
        "long": LONG, "slash": "kv/h", "fullwidth": "ｋｖｈｈ"}),
    "key": (lambda e, w, n: e.create_key(KV, n), "1-127", {
        "empty": "", "too-long": "k" * 128, "underscore": "k_1", "period": "k.1", "space": "k 1",
        "unicode": "kÿ", "slash": "k/1", "none": None, "long": LONG, "percent": "k%20", "question": "k?x=1"}),
    "resource_group": (lambda e, w, n: e.create_group(n, "eastus"), "1-90", {
        "empty": "", "too-long": "r" * 91, "period-last": "rg.", "slash": "rg/x", "hash": "rg#1",
        "star": "rg*", "angle": "rg<x>", "space": "rg x", "none": None, "long": LONG, "colon": "rg:1",
        "backslash": "rg\\x"}),
    "des": (lambda e, w, n: e.create_des(n, RG, w.kid), "1-80", {
        "empty": "", "too-long": "d" * 81, "period": "des.x", "space": "des x", "unicode": "dés",
        "slash": "des/x", "none": None, "long": LONG, "paren": "des(1)"}),
    "disk": (lambda e, w, n: e.create_disk(n, RG, size_gb=1), "1-80", {
        "empty": "", "too-long": "d" * 81, "underscore-first": "_disk", "hyphen-first": "-disk",
        "period-first": ".disk", "period-last": "disk.", "hyphen-last": "disk-", "space": "di sk",
        "slash": "di/sk", "unicode": "dïsk", "none": None, "long": LONG, "dotdot": "..", "at": "disk@1"}),
    "snapshot": (lambda e, w, n: e.create_snapshot(n, RG, "d-h"), "1-80", {
        "empty": "", "too-long": "s" * 81, "hyphen-first": "-snap", "period-last": "snap.", "space": "sn ap",
        "unicode": "snäp", "none": None, "long": LONG, "slash": "snap/x"}),
    "image": (lambda e, w, n: e.create_image(n, RG, "d-plat"), "1-80", {
        "empty": "", "too-long": "i" * 81, "hyphen-first": "-img", "period-last": "img.", "space": "im g",
        "unicode": "imägé", "none": None, "long": LONG, "colon": "img:1"}),
    "vm": (lambda e, w, n: e.create_vm(n, RG), "1-64", {
        "empty": "", "too-long": "v" * 65, "underscore": "vm_1", "hyphen-first": "-vm", "hyphen-last": "vm-",
        "period-last": "vm.", "period-first": ".vm", "space": "v m", "slash": "vm/1", "unicode": "vmé",
        "none": None, "long": LONG, "dollar": "vm$1", "all-digits-too-long": "9" * 65}),
}

for kind, (fn, rule_words, bad) in NAME_CASES.items():
    for label, value in bad.items():
        case(f"name-{kind}-{label}", (lambda fn, value: lambda e, w: fn(e, w, value))(fn, value), rule_words)
    for i, c in enumerate(CTRL):
        value = {"vault": "kvh", "key": "k", "resource_group": "rg", "des": "des", "disk": "disk",
                 "snapshot": "snap", "image": "img", "vm": "vm"}[kind] + c + "x"
        case(f"name-{kind}-control-{i}", (lambda fn, value: lambda e, w: fn(e, w, value))(fn, value), rule_words)


# ---- sizes, SKUs, types ------------------------------------------------------------------------------

for label, size in {"zero": 0, "negative": -1, "premium-max+1": 32768, "huge": 10**12, "string": "10",
                    "float": 1.5, "bool": True}.items():
    case(f"disk-size-{label}", (lambda s: lambda e, w: e.create_disk("d-new", RG, size_gb=s))(size),
         "disk size", "allowed: 1 to")
case("disk-size-ultra-max+1", lambda e, w: e.create_disk("d-new", RG, size_gb=65537, sku="UltraSSD_LRS"),
     "disk size", "65536")
case("disk-shrink", lambda e, w: e.update_disk("d-h", RG, size_gb=0), "can only grow")
case("disk-grow-past-max", lambda e, w: e.update_disk("d-plat", RG, size_gb=40000), "up to 32767")
for label, size in {"1024": 1024, "512": 512, "8192": 8192, "2047": 2047, "zero": 0, "string": "2048",
                    "negative": -2048}.items():
    case(f"key-size-{label}", (lambda s: lambda e, w: e.create_key(KV, "k-new", size=s))(size),
         "2048, 3072, 4096")
for label, kty in {"ec-hsm": "EC-HSM", "oct": "oct", "oct-hsm": "oct-HSM", "empty-space": " ",
                   "unicode": "RSÄ", "control": "RSA\x00"}.items():
    case(f"key-type-{label}", (lambda k: lambda e, w: e.create_key(KV, "k-new", kty=k))(kty), "allowed", "rsa")
case("key-hsm-on-standard-vault", lambda e, w: e.create_key(KV, "k-new", kty="RSA-HSM"), "premium vault")
case("key-ec-unknown-curve", lambda e, w: e.create_key(KV, "k-new", kty="EC", curve="P-192"), "p-192", "allowed",
     "p-256")
case("key-ec-with-rsa-size", lambda e, w: e.create_key(KV, "k-new", kty="EC", size=2048), "2048", "p-256")
case("key-ops-unknown", lambda e, w: e.create_key(KV, "k-new", ops=["fly"]), "'fly'", "allowed")
case("key-ops-control", lambda e, w: e.create_key(KV, "k-new", ops=["wrapKey\x1b"]), "not valid", "allowed")
case("key-exp-garbage", lambda e, w: e.create_key(KV, "k-new", exp="next tuesday"), "expires", "iso 8601")
case("key-nbf-bad-month", lambda e, w: e.create_key(KV, "k-new", nbf="2026-13-01T00:00:00Z"), "not-before",
     "iso 8601")
case("key-exp-control", lambda e, w: e.set_key_attributes(KV, "k-h", exp="2026\x00"), "expires", "iso 8601")
for label, sku in {"premium-no-lrs": "Premium", "zrs": "Premium_ZRS", "ultra": "ultra", "empty-space": " ",
                   "control": "Premium_LRS\x00", "long": LONG}.items():
    case(f"disk-sku-{label}", (lambda s: lambda e, w: e.create_disk("d-new", RG, sku=s))(sku), "sku", "allowed")
case("disk-sku-change-to-ultra", lambda e, w: e.update_disk("d-plat", RG, sku="UltraSSD_LRS"), "ultrassd_lrs")
for label, sku in {"gold": "gold", "empty-space": " ", "control": "premium\n"}.items():
    case(f"vault-sku-{label}", (lambda s: lambda e, w: e.create_vault("kv-new", RG, sku=s))(sku),
         "vault sku", "standard, premium")
case("vm-os-disk-ultra", lambda e, w: e.create_vm("vm-new", RG, storage_sku="os=UltraSSD_LRS"), "ultra")
case("vm-storage-sku-unknown", lambda e, w: e.create_vm("vm-new", RG, storage_sku="Fast"), "sku", "allowed")
case("vm-storage-sku-bad-lun", lambda e, w: e.create_vm("vm-new", RG, data_disk_sizes_gb=[1],
                                                        storage_sku=["x=Premium_LRS"]), "os=sku or lun=sku")
case("vm-ultra-without-ultra-enabled", lambda e, w: e.create_vm("vm-new", RG, data_disk_sizes_gb=[1],
                                                                storage_sku=["0=UltraSSD_LRS"]),
     "ultra", "--ultra-ssd-enabled")
for label, size in {"no-prefix": "DS3_v2", "lowercase": "standard_ds3_v2", "word": "Large", "empty-space": " ",
                    "control": "Standard_DS3_v2\n", "long": LONG}.items():
    case(f"vm-size-{label}", (lambda s: lambda e, w: e.create_vm("vm-new", RG, size=s))(size), "vm size",
         "standard_ds3_v2")
case("vm-image-unknown", lambda e, w: e.create_vm("vm-new", RG, image="Windows95"), "image", "aliases")
case("vm-eah-unsupported-size", lambda e, w: e.create_vm("vm-new", RG, size="Standard_D4_v3",
                                                         encryption_at_host=True),
     "does not support encryption at host", "standard_ds3_v2")
case("vm-eah-with-ultra", lambda e, w: e.create_vm("vm-new", RG, size="Standard_D4s_v3", encryption_at_host=True,
                                                   ultra_ssd_enabled=True), "encryption at host", "ultra")
case("vm-des-count-mismatch", lambda e, w: e.create_vm("vm-new", RG, data_disk_sizes_gb=[1, 1, 1],
                                                       data_disk_encryption_sets=["des-h", "des-h"]),
     "one per data disk")
case("des-type-platform", lambda e, w: e.create_des("des-new", RG, w.kid, encryption_type=ENC_PLATFORM),
     "encryption type", "allowed")
case("des-type-garbage", lambda e, w: e.create_des("des-new", RG, w.kid, encryption_type="Quantum"),
     "encryption type", "allowed")
case("des-type-change", lambda e, w: e.update_des("des-h", RG, encryption_type=ENC_DOUBLE),
     "fixed at creation", "cannot be changed")
case("disk-type-garbage", lambda e, w: e.create_disk("d-new", RG, encryption_type="Rot13"), "encryption type",
     "allowed")
case("disk-type-mismatch-set", lambda e, w: e.create_disk("d-new", RG, disk_encryption_set="des-h",
                                                          encryption_type=ENC_DOUBLE),
     "does not match", "encryptionatrestwithplatformandcustomerkeys")
case("disk-type-customer-without-set", lambda e, w: e.create_disk("d-new", RG, encryption_type=ENC_CUSTOMER),
     "needs --disk-encryption-set")
case("disk-back-to-platform", lambda e, w: e.update_disk("d-h", RG, encryption_type=ENC_PLATFORM),
     "cannot go back to platform keys")
case("disk-encrypt-while-attached-running", lambda e, w: e.update_disk("vm-plat-os", RG,
                                                                        disk_encryption_set="des-h"),
     "attached to vm", "deallocate it first")
case("disk-set-without-access", lambda e, w: e.create_disk("d-new", RG, disk_encryption_set="des-nogrant"),
     "lacks the", "unwrapkey")
case("disk-set-unknown", lambda e, w: e.create_disk("d-new", RG, disk_encryption_set="des-nope"), "des-nope",
     "not found")


# ---- regions -----------------------------------------------------------------------------------------

for label, loc in {"mars": "mars", "empty": "", "typo": "east us 9", "control": "eastus\x00", "unicode": "ëastus",
                   "long": LONG, "none": None}.items():
    case(f"region-group-{label}", (lambda where: lambda e, w: e.create_group("rg-new", where))(loc), "region", "eastus")
case("region-vault", lambda e, w: e.create_vault("kv-new", RG, "mars"), "region", "eastus")
case("region-disk", lambda e, w: e.create_disk("d-new", RG, location="jupiter"), "region", "eastus")
case("region-vm", lambda e, w: e.create_vm("vm-new", RG, location="pluto"), "region", "eastus")
case("region-des-other-than-vault", lambda e, w: e.create_des("des-new", WEST, w.kid),
     "eastus", "westus", "share region")
case("region-disk-other-than-set", lambda e, w: e.create_disk("d-new", WEST, disk_encryption_set="des-h"),
     "westus", "eastus", "share region")
case("region-double-not-offered", lambda e, w: e.create_des("des-new", RG, w.kid, location="northeurope",
                                                            encryption_type=ENC_DOUBLE),
     "double encryption", "regions")
case("region-eah-not-offered", lambda e, w: e.create_vm("vm-new", RG, location="northeurope",
                                                        encryption_at_host=True),
     "encryption at host", "regions")
case("region-group-exists-elsewhere", lambda e, w: e.create_group(RG, "westus"), "already exists", "eastus")


# ---- LUNs, offsets and lengths ---------------------------------------------------------------------------

for label, lun in {"negative": -1, "64": 64, "string": "x", "bool": True, "float": 1.5, "huge": 2**40}.items():
    case(f"lun-attach-{label}", (lambda n: lambda e, w: e.attach_disk("vm-h", "d-plat", RG, lun=n))(lun),
         "datadisk.lun", "out of range", "between '0' and '63'")
case("lun-attach-used", lambda e, w: e.attach_disk("vm-h", "d-plat", RG, lun=0), "lun 0", "already used")
case("lun-attach-ultra-to-normal-vm", lambda e, w: e.attach_disk("vm-h", "d-ultra", RG), "ultra disk",
     "ultrassdenabled")
case("lun-attach-already-attached", lambda e, w: e.attach_disk("vm-off", w.data_disk.name, RG), "already attached")
case("lun-detach-os", lambda e, w: e.detach_disk("vm-h", "vm-h-os", RG), "os disk", "cannot be detached")
case("lun-detach-not-attached", lambda e, w: e.detach_disk("vm-h", "d-plat", RG), "not attached")
for label, lun in {"absent": 7, "negative": -1, "word": "abc", "control": "os\x00", "none": None}.items():
    case(f"lun-io-{label}", (lambda n: lambda e, w: e.vm_write("vm-h", n, 0, b"x", RG))(lun), "lun")
GB = 1024**3
for label, (off, length) in {"negative-offset": (-1, 10), "offset-at-end": (GB, 1), "run-past-end": (GB - 10, 20),
                             "offset-huge": (2**62, 1), "offset-string": ("0", 10), "offset-float": (1.5, 10),
                             "offset-bool": (True, 10), "length-zero": (0, 0), "length-negative": (0, -5),
                             "length-max+1": (0, 256 * 1024 * 1024 + 1), "length-string": (0, "10"),
                             "length-huge": (0, 2**63)}.items():
    words = ("past the end", "bytes") if label in ("offset-at-end", "run-past-end", "offset-huge") else \
        ("not valid", "give")
    case(f"io-read-{label}", (lambda o, n: lambda e, w: e.vm_read("vm-h", 0, o, n, RG))(off, length), *words)
    case(f"io-read-resource-{label}",
         (lambda o, n: lambda e, w: e.read_resource("disk", "d-h", o, n, RG))(off, length), *words)
case("io-write-empty", lambda e, w: e.vm_write("vm-h", 0, 0, b"", RG), "length", "1 to")
case("io-write-past-end", lambda e, w: e.vm_write("vm-h", 0, GB - 3, b"12345", RG), "past the end", "bytes")
case("io-write-negative-offset", lambda e, w: e.vm_write("vm-h", 0, -4096, b"x", RG), "offset", "from 0")
case("io-write-stopped-vm", lambda e, w: e.vm_write("vm-off", "os", 0, b"x", RG), "deallocated", "start it")


# ---- durations and times ---------------------------------------------------------------------------------

for label, d in {"zero": "0d", "negative": "-1d", "word": "abc", "empty": "", "too-long": "3661d",
                 "iso-empty": "P", "fraction": "1.5d", "compound": "1d2h", "iso-11-years": "P11Y",
                 "control": "1d\x00", "unicode": "１d", "long": "9" * 5000 + "d", "none": None, "number": 5,
                 "spaces": "   "}.items():
    case(f"clock-advance-{label}", (lambda d: lambda e, w: e.advance_clock(d))(d),
         "forward" if label == "zero" else "at most 10 years" if label in ("too-long", "iso-11-years") else
         "duration", "30m" if label not in ("zero", "too-long", "iso-11-years") else "")
for label, days in {"6": 6, "91": 91, "zero": 0, "string": "30", "bool": True, "float": 7.5}.items():
    case(f"retention-{label}", (lambda d: lambda e, w: e.create_vault("kv-new", RG, retention_days=d))(days),
         "retention", "7 to 90")
case("retention-change", lambda e, w: e.update_vault(KV, retention_days=30), "retention", "cannot be changed")
case("purge-protection-off", lambda e, w: e.update_vault(KV, enable_purge_protection=False), "purge protection",
     "cannot be set to false")


def policy(after=None, before=None, expiry=None, action="Rotate"):
    trig = {"timeAfterCreate": after} if after else {"timeBeforeExpiry": before}
    return {"lifetimeActions": [{"trigger": trig, "action": {"type": action}}], "attributes": {"expiryTime": expiry}}


for label, (pol, words) in {
    "after-too-short": (policy(after="P1D"), ("too short", "p7d")),
    "after-garbage": (policy(after="soon"), ("iso 8601",)),
    "expiry-too-short": (policy(after="P7D", expiry="P10D"), ("too short", "p28d")),
    "expiry-garbage": (policy(after="P7D", expiry="whenever"), ("iso 8601",)),
    "after-beyond-expiry": (policy(after="P60D", expiry="P30D"), ("at least 7 days before",)),
    "notify-after-create": (policy(after="P30D", action="Notify"), ("notify", "timebeforeexpiry")),
    "rotate-before-without-expiry": (policy(before="P30D"), ("needs attributes.expirytime",)),
    "action-delete": (policy(after="P30D", action="Delete"), ("'delete'", "rotate, notify")),
    "no-trigger": ({"lifetimeActions": [{"trigger": {}, "action": {"type": "Rotate"}}]}, ("exactly one",)),
    "not-json": ("{lifetimeActions:", ("not valid json",)),
    "list": ([1, 2], ("json object",)),
    "actions-not-list": ({"lifetimeActions": "rotate"}, ("must be a list",)),
    "duration-control": (policy(after="P30D\x1b[0m"), ("iso 8601",)),
}.items():
    case(f"rotation-policy-{label}", (lambda p: lambda e, w: e.set_rotation_policy(KV, "k-h", p))(pol), *words)


# ---- key URLs, vaults, access ------------------------------------------------------------------------------

BAD_URLS = {
    "http": f"http://{KV}.vault.azure.net/keys/k-h/{HEX}",
    "secrets": f"https://{KV}.vault.azure.net/secrets/k-h/{HEX}",
    "other-cloud": f"https://{KV}.vault.azure.com/keys/k-h/{HEX}",
    "version-31": f"https://{KV}.vault.azure.net/keys/k-h/{HEX[:31]}",
    "version-not-hex": f"https://{KV}.vault.azure.net/keys/k-h/{'g' * 32}",
    "query": f"https://{KV}.vault.azure.net/keys/k-h/{HEX}?api-version=7.4",
    "fragment": f"https://{KV}.vault.azure.net/keys/k-h/{HEX}#x",
    "empty": "",
    "spaces": "   ",
    "relative": "/keys/k-h",
    "arm-id": "/subscriptions/x/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-h",
    "unicode": f"https://kv-ḧ.vault.azure.net/keys/k-h/{HEX}",
    "control": f"https://{KV}.vault.azure.net/keys/k\x00h/{HEX}",
    "long": "https://" + LONG,
    "userinfo": f"https://evil@{KV}.vault.azure.net/keys/k-h/{HEX}",
    "extra-path": f"https://{KV}.vault.azure.net/keys/k-h/{HEX}/extra",
}
for label, url in BAD_URLS.items():
    case(f"key-url-create-des-{label}", (lambda u: lambda e, w: e.create_des("des-new", RG, u))(url),
         "not a key vault key identifier", "https://{vault}.vault.azure.net/keys/")
for label in ("http", "secrets", "version-31", "empty", "control"):
    case(f"key-url-update-des-{label}",
         (lambda u: lambda e, w: e.update_des("des-h", RG, key_url=u))(BAD_URLS[label]),
         "not a key vault key identifier")
case("key-url-no-version", lambda e, w: e.create_des("des-new", RG, w.key.id), "has no version", "versioned")
case("key-url-unknown-version", lambda e, w: e.create_des("des-new", RG, f"{w.key.id}/{'f' * 32}"), "not found")
case("key-url-unknown-vault", lambda e, w: e.create_des("des-new", RG, f"https://kv-nowhere.vault.azure.net/keys/k/{HEX}"),
     "kv-nowhere", "not found")
case("key-url-unknown-key", lambda e, w: e.create_des("des-new", RG, f"https://{KV}.vault.azure.net/keys/nope/{HEX}"),
     "not found")
case("key-url-other-vault-than-source", lambda e, w: e.create_des("des-new", RG, w.kid_nopp, source_vault=KV),
     "must be the same vault")
case("key-url-source-vault-other-subscription",
     lambda e, w: e.create_des("des-new", RG, w.kid, source_vault=(
         "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-h/providers/Microsoft.KeyVault/"
         f"vaults/{KV}")), "subscription", "must share")
case("key-url-vault-without-purge-protection", lambda e, w: e.create_des("des-new", RG, w.kid_nopp),
     "purge protection")
case("key-url-deleted-key", lambda e, w: e.create_des("des-new", RG, w.kid_std), "not found")
case("key-url-update-other-vault-without-pp", lambda e, w: e.update_des("des-h", RG, key_url=w.kid_nopp),
     "purge protection")
case("des-put-existing-other-region", lambda e, w: e.create_des("des-h", RG, w.kid, location="westus"),
     "already exists in location")
case("des-delete-in-use", lambda e, w: e.delete_des("des-h", RG), "still used", "cannot be deleted")
for label, perms in {"unknown": ["fly"], "control": ["get\x00"], "unicode": ["gét"], "long": [LONG],
                     "secret-perm": ["getSecret"]}.items():
    case(f"policy-perm-{label}", (lambda p: lambda e, w: e.set_policy(KV, w.des.principal_id, p))(perms),
         "key permission", "allowed")
case("policy-empty-object-id", lambda e, w: e.set_policy(KV, "", ["get"]), "object id is required")
case("policy-delete-unknown", lambda e, w: e.delete_policy(KV, "11111111-1111-1111-1111-111111111111"),
     "no access policy")
case("policy-on-unknown-vault", lambda e, w: e.set_policy("kv-nowhere", w.des.principal_id, ["get"]),
     "kv-nowhere", "not found")
case("role-unknown", lambda e, w: e.create_role_assignment(w.des.principal_id, "Owner", e.get_vault(KV).id),
     "'owner'", "roles:")
case("role-scope-garbage", lambda e, w: e.create_role_assignment(w.des.principal_id, CRYPTO_SERVICE_ROLE, "garbage"),
     "scope", "subscription")
case("role-scope-other-subscription", lambda e, w: e.create_role_assignment(
    w.des.principal_id, CRYPTO_SERVICE_ROLE, "/subscriptions/00000000-0000-0000-0000-000000000000"), "scope")
case("role-empty-assignee", lambda e, w: e.create_role_assignment("", CRYPTO_SERVICE_ROLE, e.get_vault(KV).id),
     "assignee", "required")
case("purge-protected-key", lambda e, w: e.purge_key(KV_STD, "k-std"), "purge protection", "retention")
case("purge-active-key", lambda e, w: e.purge_key(KV, "k-h"), "only a deleted key can be purged")
case("recover-active-key", lambda e, w: e.recover_key(KV, "k-h"), "not deleted")
case("reuse-deleted-key-name", lambda e, w: e.create_key(KV_STD, "k-std"), "deleted", "recovered or purged")
case("vault-name-taken", lambda e, w: e.create_vault(KV, RG), "already in use", "globally unique")
case("what-if-unknown-action", lambda e, w: e.what_if("format_c_drive"), "not an action", "create_key")
case("why-unknown-resource", lambda e, w: e.why("/subscriptions/x/nothing"), "no vm, disk")
case("start-vm-unknown", lambda e, w: e.start_vm("vm-nope\x1b[2J", RG), "vm-nope", "not found")
case("key-show-control", lambda e, w: e.rotate_key(KV, "k\x1b]0;pwned\x07"), "not found")


# ---- the catalogue ---------------------------------------------------------------------------------------


def _state(w: World) -> tuple:
    e = w.engine
    blobs = {r.unique_id: H.blob_bytes(e, r) for r in H.all_resources(e)}
    return H.docs_without_audit(H.docs_of(e)), blobs


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_refused_clearly_without_change(worlds, world, case):
    e = world.engine
    before, blobs = _state(world)
    with pytest.raises(EngineError) as info:
        case.call(e, world)
    err = info.value
    H.record("hostile inputs")
    assert err.code and err.code != "InternalError", err.to_dict()
    message = err.message
    assert message and "\n" not in message, repr(message)
    assert not any(ord(c) < 32 or ord(c) == 127 for c in message), f"raw control character in {message!r}"
    assert len(message) < 1500, f"message of {len(message)} characters"
    low = message.lower()
    for word in case.words:
        assert word.lower() in low, f"{word!r} not in {message!r}"
    after, blobs_after = _state(world)
    assert after == before, "a refused input changed the state"
    assert blobs_after == blobs
    assert H.docs_without_audit(H.reopened_docs(world.home)) == before, "a refused input changed the file"
    worlds.dirty = False


# ---- store files ----------------------------------------------------------------------------------------

GOOD = {"_meta": {"meta": {"schema_version": SCHEMA_VERSION, "generation": 3}}}
STORE_FILES = {
    "truncated": (lambda good: good[: len(good) // 2], "not valid JSON"),
    "truncated-to-one-byte": (lambda good: good[:1], "not valid JSON"),
    "not-json": (lambda good: b"state: all keys are fine", "not valid JSON"),
    "binary": (lambda good: b"\x00\xff\xfe garbage \x1b[2J", "not valid JSON"),
    "empty": (lambda good: b"", "empty"),
    "whitespace": (lambda good: b"   \n\t ", "empty"),
    "json-array": (lambda good: b"[1, 2, 3]", "expected a JSON object of tables"),
    "json-string": (lambda good: b'"hello"', "expected a JSON object of tables"),
    "json-null": (lambda good: b"null", "expected a JSON object of tables"),
    "table-not-object": (lambda good: json.dumps({**GOOD, "keys": [1]}).encode(), "table 'keys'"),
    "document-not-object": (lambda good: json.dumps({**GOOD, "keys": {"k": 3}}).encode(), "expected an object"),
    "no-meta": (lambda good: json.dumps({"keys": {}}).encode(), "not a cmklab state file"),
    "newer-schema": (lambda good: json.dumps({"_meta": {"meta": {"schema_version": SCHEMA_VERSION + 1,
                                                                  "generation": 1}}}).encode(), "newer cmklab"),
    "schema-string": (lambda good: json.dumps({"_meta": {"meta": {"schema_version": "1", "generation": 1}}}).encode(),
                      "invalid schema_version"),
    "generation-negative": (lambda good: json.dumps({"_meta": {"meta": {"schema_version": 1,
                                                                         "generation": -1}}}).encode(),
                            "invalid generation"),
    "deeply-nested": (lambda good: b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    "invalid-utf8": (lambda good: b'{"_meta": "\xff\xfe"}', "not valid JSON"),
}


@pytest.fixture(scope="module")
def good_state(tmp_path_factory) -> bytes:
    from console.session import open_engine

    home = tmp_path_factory.mktemp("good") / "home"
    e = open_engine(home, seed=3, demo=True)
    docs = e.store.load()
    docs["_meta"] = {"meta": {"schema_version": 1, "generation": e.store.generation}}
    e.store.close()
    # the state file of schema 1 (one file): what older homes hold and what the migration reads
    return json.dumps(docs, separators=(",", ":"), sort_keys=True).encode()


@pytest.mark.parametrize("label", sorted(STORE_FILES))
def test_unusable_store_file_refused_and_untouched(tmp_path, good_state, label):
    from console.session import open_engine

    make, words = STORE_FILES[label]
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    state = home / "state.json"
    content = make(good_state)
    state.write_bytes(content)
    st0 = os.stat(state)
    with pytest.raises(StoreError) as info:
        open_engine(home, demo=True)
    H.record("hostile inputs")
    err = info.value
    assert err.code == "StoreError" and str(state) in err.message and words in err.message, err.message
    assert "\n" not in err.message and not any(ord(c) < 32 for c in err.message), repr(err.message)
    assert state.read_bytes() == content
    st1 = os.stat(state)
    assert (st1.st_ino, st1.st_mtime_ns) == (st0.st_ino, st0.st_mtime_ns)
    assert not (home / "root.key").exists()


def test_store_directory_instead_of_file(tmp_path):
    from console.session import open_engine

    (tmp_path / "home" / "state.json").mkdir(parents=True)
    with pytest.raises(StoreError, match="not a regular file"):
        open_engine(tmp_path / "home")
    H.record("hostile inputs")


def test_root_key_of_wrong_size(tmp_path, good_state):
    from console.session import open_engine

    home = tmp_path / "home"
    home.mkdir()
    (home / "state.json").write_bytes(good_state)
    (home / "root.key").write_bytes(b"short key")
    with pytest.raises(StoreError, match="has 9 bytes, expected 32"):
        open_engine(home)
    H.record("hostile inputs")
    assert (home / "root.key").read_bytes() == b"short key"
    assert (home / "state.json").read_bytes() == good_state


def test_wrong_root_key_cannot_open_sealed_keys(tmp_path):
    """A state file with another home's root key: refused at open, naming the root key file; nothing changes."""
    from console.session import open_engine
    from engine.errors import StoreError
    from store import state_files

    a, b = tmp_path / "a", tmp_path / "b"
    e = open_engine(a)
    e.create_group("rg", "eastus")
    e.create_disk("d", "rg", size_gb=1)
    e.store.close()
    open_engine(b).store.close()
    shutil.rmtree(b / "db", ignore_errors=True)
    shutil.copytree(a / "db", b / "db")
    before = state_files(b)
    with pytest.raises(StoreError) as info:
        open_engine(b)
    assert "is not the key this state was sealed with" in info.value.message
    assert str(b / "root.key") in info.value.message
    assert state_files(b) == before
    H.record("hostile inputs")


PERM_CHILD = r"""
import json, os, sys
from engine.errors import EngineError, StoreError
from console.session import open_engine
import reliability_harness as H
home, label = sys.argv[1], sys.argv[2]
try:
    e = open_engine(home)
except StoreError as err:
    print(json.dumps(["open", err.code, err.message])); sys.exit(0)
before = H.docs_of(e)
try:
    e.create_key("kv-demo", "k-permission-test")
except EngineError as err:
    same = H.docs_without_audit(H.docs_of(e)) == H.docs_without_audit(before)
    print(json.dumps(["action", err.code, err.message, same])); sys.exit(0)
print(json.dumps(["committed"]))
"""


@pytest.mark.skipif(os.name != "posix", reason="file modes (0600, 0700) are POSIX")
@pytest.mark.parametrize("label", ["read-only-file", "read-only-home", "unreadable-file", "unreadable-root-key"])
def test_store_permissions(tmp_path, label):
    """Real permissions (as uid nobody when the tests run as root, who ignores file modes)."""
    from console.session import open_engine

    base = Path(tempfile.mkdtemp(prefix="cmklab-perm-"))
    try:
        os.chmod(base, 0o755)
        home = base / "home"
        open_engine(home, seed=5, demo=True).store.close()
        kwargs: dict = {}
        python, env = H.unprivileged(kwargs)
        if python is None:
            pytest.skip("no interpreter an unprivileged user can run with this project")
        if kwargs:
            for root, dirs, files in os.walk(base):
                for name in [root, *(os.path.join(root, f) for f in dirs + files)]:
                    os.chown(name, kwargs["user"], kwargs["group"])
        state, key = home / "db" / "meta.json", home / "root.key"
        content = state.read_bytes()
        if label == "read-only-file":
            os.chmod(state, 0o444)
        elif label == "read-only-home":
            os.chmod(home, 0o555)
        elif label == "unreadable-file":
            os.chmod(state, 0o000)
        else:
            os.chmod(key, 0o000)
        out = subprocess.run([python, "-c", PERM_CHILD, str(home), label], cwd="/", env=env, capture_output=True,
                             text=True, timeout=120, **kwargs)
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout)
        H.record("hostile inputs")
        if label in ("read-only-file", "read-only-home"):
            where, code, message, same = result
            assert where == "action" and code == "StoreError" and same, result
            named = state if label == "read-only-file" else home
            assert str(named) in message and ("read-only" in message or "Permission denied" in message)
        else:
            where, code, message = result
            assert where == "open" and code == "StoreError" and "Permission denied" in message, result
            assert str(state if label == "unreadable-file" else key) in message
        os.chmod(home, 0o700)
        os.chmod(state, 0o600)
        os.chmod(key, 0o600)
        assert state.read_bytes() == content
    finally:
        for root, dirs, _ in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o700)
        shutil.rmtree(base, ignore_errors=True)


MIN_CATALOGUE = 300


def test_catalogue_size():
    """The catalogue of tried inputs, counted (engine facade + store files); the CLI adds its own."""
    total = len(CASES) + len(STORE_FILES) + 4 + 3
    print(f"hostile-input catalogue: {len(CASES)} facade cases + {len(STORE_FILES) + 7} store cases = {total}")
    assert total >= MIN_CATALOGUE, total


# ---- the naming rules against an independent reading of Azure's rules ---------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from engine.ids import check_name  # noqa: E402

_ASCII_ALNUM = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _azure_rule(kind: str, s: str) -> bool:
    """Azure's naming rules, written from its documentation (not from the engine's regexes)."""
    if not s:
        return False
    if kind == "vault":  # 3-24, alphanumerics and hyphens, start with a letter, end with a letter or digit, no --
        return (3 <= len(s) <= 24 and set(s) <= _ASCII_ALNUM | {"-"} and s[0].isascii() and s[0].isalpha()
                and s[-1] in _ASCII_ALNUM and "--" not in s)
    if kind == "key":  # 1-127, alphanumerics and hyphens
        return len(s) <= 127 and set(s) <= _ASCII_ALNUM | {"-"}
    if kind == "resource_group":  # 1-90, Unicode letters/digits, underscores, parentheses, hyphens, periods; no final period
        return len(s) <= 90 and all(c.isalnum() or c in "_-.()" for c in s) and not s.endswith(".")
    if kind == "des":  # 1-80, alphanumerics, underscores, hyphens
        return len(s) <= 80 and set(s) <= _ASCII_ALNUM | {"_", "-"}
    if kind in ("disk", "snapshot", "image"):  # 1-80, alnum _ . -, start alnum, end alnum or _
        return (len(s) <= 80 and set(s) <= _ASCII_ALNUM | {"_", ".", "-"} and s[0] in _ASCII_ALNUM
                and (s[-1] in _ASCII_ALNUM or s[-1] == "_"))
    if kind == "vm":  # 1-64 (Linux), alnum . -, no leading or trailing period or hyphen
        return len(s) <= 64 and set(s) <= _ASCII_ALNUM | {".", "-"} and s[0] in _ASCII_ALNUM and s[-1] in _ASCII_ALNUM
    raise AssertionError(kind)


_NAME_CHARS = st.one_of(st.sampled_from(list("aZ09-_.() /#\\é\x00\n\t\x1b")), st.characters())
_NAMES = st.one_of(st.text(_NAME_CHARS, max_size=130), st.from_regex(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", fullmatch=True),
                   st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,90}", fullmatch=True))


@pytest.mark.parametrize("kind", sorted(NAME_CASES))
def test_naming_rules_match_azure(kind):
    """Generated names (long, short, unicode, control characters): the engine accepts exactly what Azure does,
    and every refusal names the rule."""
    tried = []

    @settings(max_examples=1500 if H.LONG else 100, deadline=None, database=None, derandomize=not H.LONG)
    @given(_NAMES)
    def check(name):
        tried.append(name)
        try:
            check_name(kind, name)
            accepted = True
        except EngineError as err:
            accepted = False
            assert (err.code == "InvalidParameter" and ("not valid" in err.message or "Azure allows at" in err.message)
                    or "required" in err.message)
            assert not any(ord(c) < 32 for c in err.message)
        assert accepted == _azure_rule(kind, name), (kind, name)

    check()
    H.record("hostile inputs (generated names)", len(tried))
