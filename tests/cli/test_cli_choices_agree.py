"""Help and engine agree on every enumerated value (K9): each choice list of each command's help is walked, every
value tried on a landscape, under each rule profile. A value help offers is accepted, or refused (exit 1) with a
reason; never a usage error (help offered it), never a traceback, never "not valid" about the value itself. A SKU
the profile does not take is refused naming the profile; one it takes creates the disk or snapshot.

A command that gains a choice list needs an invocation in ``BASES`` (the test fails naming it)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from console.cli import run_cli, spec
from engine.rules import PROFILES

SEED = 11
PEM = None  # filled by the landscape: a fresh RSA-2048 private key in PKCS8 PEM

SKU_FLAGS = {("az disk create", "--sku"): "disk", ("az disk update", "--sku"): "disk",
             ("az vm disk attach", "--sku"): "disk", ("az snapshot create", "--sku"): "snapshot"}
"""The choice lists a rule profile narrows."""
MUST_ACCEPT = {("az disk create", "--sku"), ("az snapshot create", "--sku")}
"""Where a SKU the profile takes must simply work."""

B64_32 = base64.b64encode(bytes(range(32))).decode()
B64_256 = base64.b64encode(bytes(256)).decode()
DIGEST = base64.b64encode(hashlib.sha256(b"walk").digest()).decode()

# Each entry: setup commands (may be empty) and the command the flag is added to; {n} is unique per try.
BASES: dict[str, tuple[list[list[str]], list[str]]] = {
    "az disk create": ([], ["disk", "create", "-g", "rg1", "-n", "w{n}", "--size-gb", "4"]),
    "az disk update": ([["disk", "create", "-g", "rg1", "-n", "w{n}", "--size-gb", "4"]],
                       ["disk", "update", "-g", "rg1", "-n", "w{n}"]),
    "az disk-encryption-set create": ([], ["disk-encryption-set", "create", "-g", "rg1", "-n", "s{n}", "--key-url",
                                           "{kid}", "--source-vault", "kv1"]),
    "az disk-encryption-set update": ([], ["disk-encryption-set", "update", "-g", "rg1", "-n", "des1"]),
    "az image create": ([], ["image", "create", "-g", "rg1", "-n", "i{n}", "--source", "d1"]),
    "az keyvault create": ([], ["keyvault", "create", "-g", "rg1", "-n", "kvw{n}"]),
    "az keyvault key create": ([], ["keyvault", "key", "create", "--vault-name", "kv1", "-n", "k{n}"]),
    "az keyvault key decrypt": ([], ["keyvault", "key", "decrypt", "--vault-name", "kv1", "-n", "key1", "-a",
                                     "RSA-OAEP", "--value", B64_256]),
    "az keyvault key encrypt": ([], ["keyvault", "key", "encrypt", "--vault-name", "kv1", "-n", "key1", "-a",
                                     "RSA-OAEP", "--value", "aGk="]),
    "az keyvault key import": ([], ["keyvault", "key", "import", "--vault-name", "kv1", "-n", "imp{n}",
                                    "--pem-string", "{pem}"]),
    "az keyvault key list": ([], ["keyvault", "key", "list", "--vault-name", "kv1"]),
    "az keyvault key set-attributes": ([], ["keyvault", "key", "set-attributes", "--vault-name", "kv1", "-n",
                                            "spare"]),
    "az keyvault key sign": ([], ["keyvault", "key", "sign", "--vault-name", "kv1", "-n", "key1", "--digest",
                                  DIGEST]),
    "az keyvault key verify": ([], ["keyvault", "key", "verify", "--vault-name", "kv1", "-n", "key1", "--digest",
                                    DIGEST, "--signature", B64_256]),
    "az keyvault key wrap-key": ([], ["keyvault", "key", "wrap-key", "--vault-name", "kv1", "-n", "key1",
                                      "--value", B64_32]),
    "az keyvault key unwrap-key": ([], ["keyvault", "key", "unwrap-key", "--vault-name", "kv1", "-n", "key1",
                                        "--value", B64_256]),
    "az keyvault list": ([], ["keyvault", "list"]),
    "az keyvault list-deleted": ([], ["keyvault", "list-deleted"]),
    "az keyvault set-policy": ([], ["keyvault", "set-policy", "-n", "kv1", "--object-id",
                                    "00000000-0000-0000-0000-0000000000aa"]),
    "az keyvault update": ([], ["keyvault", "update", "-n", "kvu1"]),
    "az role assignment create": ([], ["role", "assignment", "create", "--role", "Key Vault Crypto User",
                                       "--assignee-object-id", "00000000-0000-0000-0000-0000000000ab", "--scope",
                                       "{vault_id}"]),
    "az snapshot create": ([], ["snapshot", "create", "-g", "rg1", "-n", "sn{n}", "--source", "d1"]),
    "az vm create": ([], ["vm", "create", "-g", "rg1", "-n", "v{n}", "--image", "Ubuntu2204"]),
    "az vm deallocate": ([], ["vm", "deallocate", "-g", "rg1", "-n", "vm1"]),
    "az vm delete": ([["vm", "create", "-g", "rg1", "-n", "v{n}", "--image", "Ubuntu2204"]],
                     ["vm", "delete", "-g", "rg1", "-n", "v{n}", "--yes"]),
    "az vm disk attach": ([], ["vm", "disk", "attach", "-g", "rg1", "--vm-name", "vmz", "--name", "a{n}", "--new",
                               "--size-gb", "4"]),
    "az vm disk detach": ([["vm", "disk", "attach", "-g", "rg1", "--vm-name", "vm1", "--name", "a{n}", "--new",
                            "--size-gb", "4"]],
                          ["vm", "disk", "detach", "-g", "rg1", "--vm-name", "vm1", "-n", "a{n}"]),
    "az vm update": ([], ["vm", "update", "-g", "rg1", "-n", "vm1"]),
    "az vm encryption enable": ([["vm", "create", "-g", "rg1", "-n", "v{n}", "--image", "Ubuntu2204"]],
                                ["vm", "encryption", "enable", "-g", "rg1", "-n", "v{n}", "--disk-encryption-keyvault",
                                 "kv1"]),
    "cmklab disk inspect": ([], ["disk", "inspect", "-g", "rg1", "-n", "d1"]),
    "cmklab rules show": ([], ["rules", "show"]),
    "az vmss create": ([], ["vmss", "create", "-g", "rg1", "-n", "ss{n}", "--image", "Ubuntu2204", "--instance-count",
                            "1"]),
    "az vmss delete": ([["vmss", "create", "-g", "rg1", "-n", "ss{n}", "--image", "Ubuntu2204", "--instance-count",
                         "0"]], ["vmss", "delete", "-g", "rg1", "-n", "ss{n}"]),
    "az vmss deallocate": ([], ["vmss", "deallocate", "-g", "rg1", "-n", "ssw"]),
    "az vmss update": ([], ["vmss", "update", "-g", "rg1", "-n", "ssw"]),
}
EXTRA = {("az disk create", "--sku"): ["--zone", "1"]}
"""What a value needs beside the base: a Premium SSD v2 disk in a region with zones is zonal."""


def _choice_lists() -> list[tuple[str, str, tuple[str, ...]]]:
    spec.load_all()
    out = []
    for path, cmd in sorted(spec.COMMANDS.items()):
        for arg in cmd.args:
            if arg.choices and arg.kind != "output" and arg.options:
                out.append((path, arg.options[0], tuple(arg.choices)))
    return out


class Home:
    def __init__(self, path, capsys, profile: str) -> None:
        self.path, self.capsys, self.profile, self.n = path, capsys, profile, 0
        self.subs: dict[str, str] = {}

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = run_cli(argv, home=self.path, seed=SEED, profile=self.profile)
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *argv: str) -> str:
        code, out, err = self.run(["az", *argv])
        assert code == 0, f"{argv}: {err}"
        return out.strip()


def _landscape(home: Home) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    home.ok("group", "create", "-n", "rg1", "-l", "eastus", "-o", "none")
    home.ok("keyvault", "create", "-n", "kv1", "-g", "rg1", "--enable-purge-protection", "true", "-o", "none")
    home.ok("keyvault", "create", "-n", "kvu1", "-g", "rg1", "-o", "none")
    kid = home.ok("keyvault", "key", "create", "--vault-name", "kv1", "-n", "key1", "--query", "key.kid", "-o", "tsv")
    home.ok("keyvault", "key", "create", "--vault-name", "kv1", "-n", "spare", "-o", "none")
    home.ok("disk-encryption-set", "create", "-n", "des1", "-g", "rg1", "--key-url", kid, "--source-vault", "kv1",
            "-o", "none")
    principal = home.ok("disk-encryption-set", "show", "-n", "des1", "-g", "rg1", "--query", "identity.principalId",
                        "-o", "tsv")
    home.ok("keyvault", "set-policy", "-n", "kv1", "--object-id", principal, "--key-permissions", "get", "wrapKey",
            "unwrapKey", "-o", "none")
    home.ok("vm", "create", "-g", "rg1", "-n", "vm1", "--image", "Ubuntu2204", "--os-disk-encryption-set", "des1",
            "-o", "none")
    home.ok("vm", "create", "-g", "rg1", "-n", "vmz", "--image", "Ubuntu2204", "--zone", "1", "-o", "none")
    home.ok("disk", "create", "-g", "rg1", "-n", "d1", "--size-gb", "4", "-o", "none")
    home.ok("vmss", "create", "-g", "rg1", "-n", "ssw", "--image", "Ubuntu2204", "--instance-count", "1", "-o", "none")
    home.ok("snapshot", "create", "-g", "rg1", "-n", "d1", "--source", "d1", "-o", "none")  # for disk inspect --type
    home.ok("image", "create", "-g", "rg1", "-n", "d1", "--source", "d1", "--os-type", "Linux", "-o", "none")
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    home.subs = {"{kid}": kid, "{pem}": pem,
                 "{vault_id}": home.ok("keyvault", "show", "-n", "kv1", "--query", "id", "-o", "tsv")}


def _fill(home: Home, argv: list[str]) -> list[str]:
    out = []
    for word in argv:
        word = word.replace("{n}", str(home.n))
        for k, v in home.subs.items():
            word = word.replace(k, v)
        out.append(word)
    return out


def test_every_choice_list_has_an_invocation():
    missing = sorted({path for path, _, _ in _choice_lists() if path not in BASES})
    assert not missing, f"add an invocation to BASES for: {missing}"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_K9_every_choice_in_help_is_accepted_or_refused_with_a_reason(tmp_path, capsys, profile):
    home = Home(tmp_path / "home", capsys, profile)
    _landscape(home)
    rules = PROFILES[profile]
    problems = []
    tried = 0
    for path, flag, choices in _choice_lists():
        setup, base = BASES[path]
        root = [] if path.startswith("cmklab ") else ["az"]
        for value in choices:
            home.n += 1
            for step in setup:
                code, _, err = home.run(root + _fill(home, step))
                assert code == 0, f"setup of {path} {flag} {value}: {err}"
            argv = root + _fill(home, base) + EXTRA.get((path, flag), []) + [flag, value, "-o", "none"]
            code, out, err = home.run(argv)
            tried += 1
            what = f"{' '.join(argv[:4])} ... {flag} {value} -> {code}: {err.strip()[:300]}"
            if "Traceback" in err or code not in (0, 1):
                problems.append(what)
                continue
            if code == 1 and (f"'{value}' is not valid" in err or not err.startswith("ERROR: ")):
                problems.append(what)
            kind = SKU_FLAGS.get((path, flag))
            if kind is not None:
                offered = rules.snapshot_skus if kind == "snapshot" else rules.disk_skus
                if value not in offered and (code != 1 or f"rule profile '{profile}'" not in err):
                    problems.append("not refused naming the profile: " + what)
                if value in offered and (path, flag) in MUST_ACCEPT and code != 0:
                    problems.append("offered by the profile but refused: " + what)
    assert tried >= 250
    assert not problems, "\n".join(problems)
