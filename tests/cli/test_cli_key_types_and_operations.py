"""EC keys and the key operations, through the installed ``cmklab`` as an operator types them.

Key Vault stores EC keys on its four curves (and the -HSM types in premium vaults only), refuses oct keys (managed
HSM's) with its own words, and it is the disk encryption set that refuses a key it cannot use (KV2).
``az keyvault key encrypt|decrypt|wrap-key|unwrap-key|sign|verify`` run real cryptography, are refused on a disabled,
expired or not yet valid version or without the permission, and land in the audit trail like a set's calls (KV5,
KV7, KV8, KV9)."""

from __future__ import annotations

import base64
import hashlib
import json

import subprocess

import pytest

from .conftest import SEED
from .test_cli_ids import az


def _ok(cmklab_bin, cli, *argv) -> str:
    r = az(cmklab_bin, cli, *argv)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _audit(cmklab_bin, cli, *argv) -> str:
    p = subprocess.run([str(cmklab_bin), "--home", str(cli.home), "--seed", str(SEED), "audit", *argv],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture
def vault(cli, rg) -> str:
    cli.ok("keyvault", "create", "-n", "kv1", "-g", rg, "--enable-purge-protection", "true", "-o", "none")
    return "kv1"


def test_KV2_ec_keys_on_every_curve_with_tsv_query(cli, vault, cmklab_bin):
    for curve in ("P-256", "P-256K", "P-384", "P-521"):
        out = _ok(cmklab_bin, cli, "keyvault", "key", "create", "--vault-name", vault, "-n", f"ec{curve[2:]}",
                  "--kty", "EC", "--curve", curve, "--query", "[key.kty, key.crv, join(',', key.keyOps)]", "-o",
                  "tsv")
        assert out == f"EC\n{curve}\nsign,verify\n"
    shown = json.loads(_ok(cmklab_bin, cli, "keyvault", "key", "show", "--vault-name", vault, "-n", "ec384"))
    assert shown["key"]["n"] is None and shown["key"]["e"] is None
    assert len(base64.b64decode(shown["key"]["x"])) == 48 == len(base64.b64decode(shown["key"]["y"]))


def test_KV2_hsm_types_need_a_premium_vault_and_oct_is_refused(cli, rg, vault, cmklab_bin):
    r = az(cmklab_bin, cli, "keyvault", "key", "create", "--vault-name", vault, "-n", "h1", "--kty", "EC-HSM")
    assert r.returncode == 1 and r.stderr.startswith("ERROR: (BadParameter) Hardware key operation not allowed on "
                                                     "standard vault")
    cli.ok("keyvault", "create", "-n", "kvp1", "-g", rg, "--sku", "premium", "-o", "none")
    out = _ok(cmklab_bin, cli, "keyvault", "key", "create", "--vault-name", "kvp1", "-n", "h1", "--curve", "P-384",
              "--protection", "hsm", "--query", "[key.kty, key.crv]", "-o", "tsv")
    assert out == "EC-HSM\nP-384\n"
    out = _ok(cmklab_bin, cli, "keyvault", "key", "create", "--vault-name", "kvp1", "-n", "h2", "--kty", "RSA-HSM",
              "--size", "3072", "--query", "key.kty", "-o", "tsv")
    assert out == "RSA-HSM\n"
    for kty in ("oct", "oct-HSM"):
        r = az(cmklab_bin, cli, "keyvault", "key", "create", "--vault-name", "kvp1", "-n", "o1", "--kty", kty)
        assert r.returncode == 1 and r.stderr.startswith(f"ERROR: (BadParameter) Invalid kty value: {kty} (")
    assert cli.tsv("keyvault", "key", "list", "--vault-name", "kvp1", "--query", "length(@)") == "2"


def test_KV2_the_set_refuses_an_ec_key_with_azures_words(cli, rg, vault, cmklab_bin):
    kid = cli.tsv("keyvault", "key", "create", "--vault-name", vault, "-n", "ec1", "--kty", "EC", "--query",
                  "key.kid")
    r = az(cmklab_bin, cli, "disk-encryption-set", "create", "-g", rg, "-n", "des1", "--key-url", kid,
           "--source-vault", vault)
    assert r.returncode == 1
    assert r.stderr.startswith(f"ERROR: (InvalidParameter) The key {kid} of type EC on P-256 cannot be used by disk "
                               "encryption set 'des1'. A disk encryption set supports RSA and RSA-HSM keys")
    assert "(KV2)" not in r.stderr and '"code": "KeyVaultKeyTypeNotSupported"' in r.stderr
    assert cli.tsv("disk-encryption-set", "list", "--query", "length(@)") == "0"


def test_KV8_encrypt_decrypt_wrap_unwrap_round_trips_and_are_audited(cli, vault, cmklab_bin):
    cli.ok("keyvault", "key", "create", "--vault-name", vault, "-n", "r1", "-o", "none")
    ct = _ok(cmklab_bin, cli, "keyvault", "key", "encrypt", "--vault-name", vault, "-n", "r1", "-a", "RSA-OAEP-256",
             "--value", "hello, vault", "--data-type", "plaintext", "--query", "result", "-o", "tsv").strip()
    assert len(base64.b64decode(ct)) == 256  # one RSA-2048 block
    out = _ok(cmklab_bin, cli, "keyvault", "key", "decrypt", "--vault-name", vault, "-n", "r1", "-a", "RSA-OAEP-256",
              "--value", ct, "--data-type", "plaintext", "--query", "[algorithm, result]", "-o", "tsv")
    assert out == "RSA-OAEP-256\nhello, vault\n"
    dek = base64.b64encode(bytes(range(32))).decode()
    wrapped = json.loads(_ok(cmklab_bin, cli, "keyvault", "key", "wrap-key", "--vault-name", vault, "-n", "r1", "-a",
                             "RSA-OAEP", "--value", dek))
    assert set(wrapped) == {"algorithm", "kid", "result"} and wrapped["kid"].startswith(
        "https://kv1.vault.azure.net/keys/r1/")
    out = _ok(cmklab_bin, cli, "keyvault", "key", "unwrap-key", "--id", wrapped["kid"], "-a", "RSA-OAEP", "--value",
              wrapped["result"], "--query", "result", "-o", "tsv")
    assert out == dek + "\n"
    ops = _audit(cmklab_bin, cli, "--key", "r1", "--query", "[].[operation, result]", "-o", "tsv")
    assert ops.split("\n")[-5:] == ["KeyEncrypt\tOK", "KeyDecrypt\tOK", "KeyWrap\tOK", "KeyUnwrap\tOK", ""]


def test_sign_and_verify_with_ec_and_rsa(cli, vault, cmklab_bin):
    cli.ok("keyvault", "key", "create", "--vault-name", vault, "-n", "e1", "--kty", "EC", "--curve", "P-384",
           "-o", "none")
    cli.ok("keyvault", "key", "create", "--vault-name", vault, "-n", "r1", "-o", "none")
    d384 = base64.b64encode(hashlib.sha384(b"release 1.0").digest()).decode()
    sig = _ok(cmklab_bin, cli, "keyvault", "key", "sign", "--vault-name", vault, "-n", "e1", "-a", "ES384",
              "--digest", d384, "--query", "signature", "-o", "tsv").strip()
    assert len(base64.b64decode(sig)) == 96  # r || s, 48 bytes each
    ok = json.loads(_ok(cmklab_bin, cli, "keyvault", "key", "verify", "--vault-name", vault, "-n", "e1", "-a",
                        "ES384", "--digest", d384, "--signature", sig))
    assert ok["isValid"] is True and set(ok) == {"algorithm", "isValid", "keyId"}
    other = base64.b64encode(hashlib.sha384(b"release 1.1").digest()).decode()
    bad = json.loads(_ok(cmklab_bin, cli, "keyvault", "key", "verify", "--vault-name", vault, "-n", "e1", "-a",
                         "ES384", "--digest", other, "--signature", sig))
    assert bad["isValid"] is False
    d256 = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    sig = cli.tsv("keyvault", "key", "sign", "--vault-name", vault, "-n", "r1", "-a", "PS256", "--digest", d256,
                  "--query", "signature")
    assert cli.ok("keyvault", "key", "verify", "--vault-name", vault, "-n", "r1", "-a", "PS256", "--digest", d256,
                  "--signature", sig).json["isValid"] is True
    r = az(cmklab_bin, cli, "keyvault", "key", "sign", "--vault-name", vault, "-n", "e1", "-a", "ES256", "--digest",
           d256)
    assert r.returncode == 1 and "Algorithm ES256 is not valid for sign with an EC key on P-384; allowed: ES384" \
        in r.stderr
    r = az(cmklab_bin, cli, "keyvault", "key", "encrypt", "--vault-name", vault, "-n", "e1", "-a", "RSA-OAEP",
           "--value", d256)
    assert r.returncode == 1 and '"code": "OperationNotSupported"' in r.stderr
    r = az(cmklab_bin, cli, "keyvault", "key", "sign", "--vault-name", vault, "-n", "e1", "-a", "ES384", "--digest",
           "not base64!")
    assert r.returncode == 2 and "argument --digest" in r.stderr


def test_KV5_KV9_KV7_refusals_carry_key_vaults_codes_and_are_audited(cli, vault, cmklab_bin):
    cli.ok("keyvault", "key", "create", "--vault-name", vault, "-n", "r1", "-o", "none")
    ct = cli.tsv("keyvault", "key", "encrypt", "--vault-name", vault, "-n", "r1", "-a", "RSA-OAEP", "--value",
                 "aGk=", "--query", "result")

    def refused(op: str, *extra: str) -> str:
        r = az(cmklab_bin, cli, "keyvault", "key", op, "--vault-name", vault, "-n", "r1", "-a", "RSA-OAEP", *extra)
        assert r.returncode == 1, r.stdout
        return r.stderr

    cli.ok("keyvault", "key", "set-attributes", "--vault-name", vault, "-n", "r1", "--enabled", "false", "-o", "none")
    err = refused("decrypt", "--value", ct)
    assert err.startswith("ERROR: (Forbidden) Operation decrypt is not allowed on a disabled key") and \
        '"code": "KeyDisabled"' in err
    cli.ok("keyvault", "key", "set-attributes", "--vault-name", vault, "-n", "r1", "--enabled", "true",
           "--expires", "2020-01-01T00:00:00Z", "-o", "none")
    assert '"code": "KeyExpired"' in refused("encrypt", "--value", "aGk=")
    assert cli.tsv("keyvault", "key", "decrypt", "--vault-name", vault, "-n", "r1", "-a", "RSA-OAEP", "--value", ct,
                   "--query", "result") == "aGk="  # an expired key still decrypts
    cli.ok("keyvault", "key", "set-attributes", "--vault-name", vault, "-n", "r1", "--expires", "2099-01-01T00:00:00Z",
           "--not-before", "2098-01-01T00:00:00Z", "-o", "none")
    assert '"code": "KeyNotYetValid"' in refused("decrypt", "--value", ct)
    cli.ok("keyvault", "key", "set-attributes", "--vault-name", vault, "-n", "r1", "--not-before",
           "2000-01-01T00:00:00Z", "-o", "none")
    me = cli.engine().operator
    cli.ok("keyvault", "delete-policy", "-n", vault, "--object-id", me, "-o", "none")
    err = refused("decrypt", "--value", ct)
    assert "does not have keys decrypt permission" in err and '"code": "ForbiddenByPolicy"' in err
    rows = _audit(cmklab_bin, cli, "--key", "r1", "--query", "[?operation=='KeyDecrypt' || operation=='KeyEncrypt']"
                  ".[operation, result, code || '-']", "-o", "tsv").rstrip("\n").split("\n")
    assert rows == ["KeyEncrypt\tOK\t-", "KeyDecrypt\tForbidden\tKeyDisabled", "KeyEncrypt\tForbidden\tKeyExpired",
                    "KeyDecrypt\tOK\t-", "KeyDecrypt\tForbidden\tKeyNotYetValid",
                    "KeyDecrypt\tForbidden\tForbiddenByPolicy"]
