"""Real cryptography of the engine: envelope encryption (K2), double encryption (K3), key import (KV3)."""

from __future__ import annotations

import base64
import mmap
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import crypto
from engine.crypto import (
    BLOCK_SIZE,
    RECORD_SIZE,
    BlockCipher,
    Sealer,
    XtsLayer,
    decrypt_layers,
    encrypt_layers,
    fingerprint,
    generate_rsa,
    import_private_pem,
    new_data_key,
    new_xts_key,
    private_from_der,
    private_to_der,
    public_numbers_jwk,
    unwrap_key,
    wrap_key,
)
from engine.errors import BadRequest, CryptoError

DISK = b"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"


@pytest.fixture(scope="module")
def key_a() -> rsa.RSAPrivateKey:
    return generate_rsa(2048)


@pytest.fixture(scope="module")
def key_b() -> rsa.RSAPrivateKey:
    return generate_rsa(2048)


def _pem(key, fmt, password: bytes | None = None) -> bytes:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def _flip(data: bytes, pos: int) -> bytes:
    out = bytearray(data)
    out[pos] ^= 0x01
    return bytes(out)


# ------------------------------------------------------------------------------------------- RSA keys


def test_K2_generate_rsa_refuses_other_sizes_and_names_the_allowed_ones():
    with pytest.raises(BadRequest) as err:
        generate_rsa(1024)
    assert "2048, 3072 or 4096" in err.value.message


def test_K2_generated_key_has_exponent_65537_and_2048_bits(key_a):
    assert key_a.key_size == 2048
    assert key_a.public_key().public_numbers().e == 65537


def test_K2_private_key_der_round_trip(key_a):
    der = private_to_der(key_a)
    back = private_from_der(der)
    assert back.private_numbers() == key_a.private_numbers()


def test_K2_private_from_der_garbage_is_crypto_error():
    with pytest.raises(CryptoError):
        private_from_der(b"not a key")


def test_K2_public_numbers_jwk_is_base64url_without_padding(key_a):
    jwk = public_numbers_jwk(key_a)
    assert jwk["e"] == "AQAB"
    assert "=" not in jwk["n"] and "+" not in jwk["n"] and "/" not in jwk["n"]
    n_bytes = base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4))
    assert int.from_bytes(n_bytes, "big") == key_a.public_key().public_numbers().n
    assert len(n_bytes) == 256
    assert public_numbers_jwk(key_a.public_key())["n"] == jwk["n"]
    assert "kty" in jwk


# ------------------------------------------------------------------------------ envelope (wrap/unwrap)


def test_K2_new_data_key_is_32_random_bytes():
    a, b = new_data_key(), new_data_key()
    assert len(a) == 32 and a != b


def test_K2_wrapped_key_unwraps_only_with_its_own_private_key(key_a, key_b):
    dek = new_data_key()
    wrapped = wrap_key(key_a.public_key(), dek)
    assert len(wrapped) == 256 and dek not in wrapped
    assert unwrap_key(key_a, wrapped) == dek
    with pytest.raises(CryptoError) as err:
        unwrap_key(key_b, wrapped)
    assert err.value.inner_code == "InvalidCiphertext"
    assert "cannot be unwrapped" in err.value.message


def test_K2_wrapping_is_randomised(key_a):
    dek = new_data_key()
    assert wrap_key(key_a.public_key(), dek) != wrap_key(key_a, dek)


def test_K2_flipping_any_byte_of_the_wrapped_key_is_detected(key_a):
    dek = new_data_key()
    wrapped = wrap_key(key_a.public_key(), dek)
    for pos in range(len(wrapped)):
        with pytest.raises(CryptoError):
            unwrap_key(key_a, _flip(wrapped, pos))


@pytest.mark.parametrize("bad", [b"", b"\x00" * 255, b"\x01" * 257, b"\x00" * 256])
def test_K2_unwrap_of_wrong_length_or_junk_is_the_same_opaque_error(key_a, bad):
    with pytest.raises(CryptoError) as err:
        unwrap_key(key_a, bad)
    assert err.value.message == "the wrapped key cannot be unwrapped with this key"


# ------------------------------------------------------------------------------------------- sealer


def test_K2_sealer_round_trip_and_blob_hides_the_plaintext():
    sealer = Sealer(os.urandom(32))
    secret = b"PRIVATE KEY MATERIAL " * 4
    blob = sealer.seal(secret, b"kv1/key1/v1")
    assert secret not in blob and b"PRIVATE" not in blob
    assert len(blob) == len(secret) + 28
    assert sealer.unseal(blob, b"kv1/key1/v1") == secret
    assert sealer.seal(secret, b"kv1/key1/v1") != blob  # fresh nonce


def test_K2_sealing_many_at_once_is_sealing_each():
    """seal_ascii_many (an import's host copies, nonces drawn in one call): each opens as seal_text's does,
    under its own AAD only, each with its own nonce; a seeded sealer gives seal_text's very bytes."""
    sealer = Sealer(os.urandom(32))
    pairs = [(os.urandom(32 + 64 * (i % 2)), f"/disks/d{i}".encode()) for i in range(50)]
    sealed = sealer.seal_ascii_many(pairs)
    assert len({s[:16] for s in sealed}) == 50  # (the nonce's base64)
    for (plain, aad), text in zip(pairs, sealed):
        assert text.isascii() and len(text) == len(sealer.seal_text(plain, aad))
        assert sealer.unseal_text(text.decode(), aad) == plain
        with pytest.raises(CryptoError):
            sealer.unseal_text(text.decode(), aad + b"x")
    seeded = Sealer(bytes(32), deterministic=True)
    assert seeded.seal_ascii_many(pairs[:3]) == [seeded.seal_text(p, a).encode() for p, a in pairs[:3]]
    assert sealer.seal_ascii_many([]) == []


def test_K2_sealer_wrong_aad_wrong_root_and_flipped_byte_are_refused():
    root = os.urandom(32)
    sealer = Sealer(root)
    blob = sealer.seal(b"secret", b"aad-1")
    with pytest.raises(CryptoError):
        sealer.unseal(blob, b"aad-2")
    with pytest.raises(CryptoError):
        Sealer(os.urandom(32)).unseal(blob, b"aad-1")
    for pos in range(len(blob)):
        with pytest.raises(CryptoError):
            sealer.unseal(_flip(blob, pos), b"aad-1")
    with pytest.raises(CryptoError):
        sealer.unseal(blob[:20], b"aad-1")


def test_K2_sealer_text_form_round_trip_and_rejects_bad_base64():
    sealer = Sealer(os.urandom(32))
    text = sealer.seal_text(b"\x00\xffbinary", b"ctx")
    assert isinstance(text, str)
    assert sealer.unseal_text(text, b"ctx") == b"\x00\xffbinary"
    with pytest.raises(CryptoError):
        sealer.unseal_text("not base64 !!", b"ctx")
    with pytest.raises(CryptoError):
        sealer.unseal_text(text, b"other")


def test_K2_sealer_refuses_a_root_key_that_is_not_32_bytes():
    with pytest.raises(BadRequest) as err:
        Sealer(b"short")
    assert "32 bytes" in err.value.message


def test_K2_sealed_private_key_round_trip(key_a):
    sealer = Sealer(os.urandom(32))
    blob = sealer.seal(private_to_der(key_a), b"key-a")
    back = private_from_der(sealer.unseal(blob, b"key-a"))
    dek = new_data_key()
    assert unwrap_key(back, wrap_key(key_a.public_key(), dek)) == dek


# ---------------------------------------------------------------------------------- block cipher


def test_K2_block_cipher_round_trip_and_record_layout():
    dek = new_data_key()
    bc = BlockCipher(dek, DISK)
    data = os.urandom(3 * BLOCK_SIZE)
    records = bc.encrypt_blocks(5, data)
    assert len(records) == 3 * RECORD_SIZE == 3 * (BLOCK_SIZE + 28)
    assert data[:BLOCK_SIZE] not in records
    assert bc.decrypt_blocks(5, records) == data
    # A record is nonce || ciphertext || tag, AAD = context || 8-byte big-endian index.
    first = bytes(records[:RECORD_SIZE])
    raw = AESGCM(dek).decrypt(first[:12], first[12:], DISK + (5).to_bytes(8, "big"))
    assert raw == data[:BLOCK_SIZE]
    assert BlockCipher(dek, DISK).decrypt_blocks(5, bytes(records)) == data
    assert bc.encrypt_blocks(0, b"") == b"" and bc.decrypt_blocks(0, b"") == b""


def test_K2_records_across_nonce_batches_keep_the_layout_and_each_opens_on_its_own():
    """Nonces are drawn, laid out and read back a batch of records at a time: across the batches' edges
    (and in a short last batch) every record is still nonce || ciphertext || tag under its own index, with
    nonces all different, and never-written records among them read as zeros."""
    dek = new_data_key()
    bc = BlockCipher(dek, DISK)
    count = 2 * crypto._BATCH + 88
    data = os.urandom(count * BLOCK_SIZE)
    records = bc.encrypt_blocks(1000, data)
    aead = AESGCM(dek)
    for i in (0, crypto._BATCH - 1, crypto._BATCH, 2 * crypto._BATCH, count - 1):
        rec = records[i * RECORD_SIZE:(i + 1) * RECORD_SIZE]
        assert aead.decrypt(rec[:12], rec[12:], DISK + (1000 + i).to_bytes(8, "big")) == \
            data[i * BLOCK_SIZE:(i + 1) * BLOCK_SIZE]
    assert len({records[i * RECORD_SIZE:i * RECORD_SIZE + 12] for i in range(count)}) == count
    holes = bytearray(records)
    for i in (crypto._BATCH - 1, crypto._BATCH, count - 1):  # never written: all zeros
        holes[i * RECORD_SIZE:(i + 1) * RECORD_SIZE] = bytes(RECORD_SIZE)
    plain, sparse = bc.decrypt_blocks_sparse(1000, bytes(holes))
    assert sparse == {1000 + crypto._BATCH - 1, 1000 + crypto._BATCH, 1000 + count - 1}
    expected = bytearray(data)
    for i in (crypto._BATCH - 1, crypto._BATCH, count - 1):
        expected[i * BLOCK_SIZE:(i + 1) * BLOCK_SIZE] = bytes(BLOCK_SIZE)
    assert plain == expected
    out = bytearray(b"\xff" * len(data))  # not zeroed: the never-written blocks are written as zeros
    assert bc.decrypt_into(1000, holes, out) == sparse and out == expected
    with pytest.raises(CryptoError, match=f"block {1000 + crypto._BATCH + 1} failed"):
        bc.decrypt_blocks(1000, _flip(records, (crypto._BATCH + 1) * RECORD_SIZE + 3))  # its nonce


def test_K2_block_cipher_uses_a_fresh_nonce_per_block():
    bc = BlockCipher(new_data_key(), DISK)
    records = bc.encrypt_blocks(0, bytes(2 * BLOCK_SIZE))
    nonces = {bytes(records[i * RECORD_SIZE : i * RECORD_SIZE + 12]) for i in range(2)}
    assert len(nonces) == 2
    assert records != bc.encrypt_blocks(0, bytes(2 * BLOCK_SIZE))


@pytest.mark.parametrize("pos", [0, 11, 12, 100, BLOCK_SIZE + 11, RECORD_SIZE - 16, RECORD_SIZE - 1])
def test_K2_flipping_one_byte_of_a_record_is_detected(pos):
    bc = BlockCipher(new_data_key(), DISK)
    records = bc.encrypt_blocks(7, os.urandom(2 * BLOCK_SIZE))
    tampered = _flip(records, RECORD_SIZE + pos)  # second record
    with pytest.raises(CryptoError) as err:
        bc.decrypt_blocks(7, tampered)
    assert "block 8" in err.value.message
    assert err.value.inner_code == "InvalidCiphertext"


def test_K2_swapping_two_records_is_detected():
    bc = BlockCipher(new_data_key(), DISK)
    records = bc.encrypt_blocks(0, os.urandom(2 * BLOCK_SIZE))
    swapped = records[RECORD_SIZE:] + records[:RECORD_SIZE]
    with pytest.raises(CryptoError):
        bc.decrypt_blocks(0, swapped)
    # The same records read at another position fail too.
    with pytest.raises(CryptoError):
        bc.decrypt_blocks(1, records)


def test_K2_records_of_another_disk_or_key_are_refused():
    dek = new_data_key()
    records = BlockCipher(dek, DISK).encrypt_blocks(0, os.urandom(BLOCK_SIZE))
    with pytest.raises(CryptoError):
        BlockCipher(dek, DISK + b"2").decrypt_blocks(0, records)
    with pytest.raises(CryptoError):
        BlockCipher(new_data_key(), DISK).decrypt_blocks(0, records)


def test_K2_all_zero_record_reads_as_an_unwritten_block_of_zeros():
    bc = BlockCipher(new_data_key(), DISK)
    written = os.urandom(BLOCK_SIZE)
    records = bytes(RECORD_SIZE) + bytes(bc.encrypt_blocks(1, written)) + bytes(RECORD_SIZE)
    out, sparse = bc.decrypt_blocks_sparse(0, records)
    assert out == bytes(BLOCK_SIZE) + written + bytes(BLOCK_SIZE)
    assert sparse == {0, 2}
    # A record that is zero except one byte is tampering, not "unwritten".
    with pytest.raises(CryptoError):
        bc.decrypt_blocks(0, _flip(bytes(RECORD_SIZE), RECORD_SIZE - 1))


def test_K2_records_encrypted_into_a_reused_buffer_read_back_and_unwritten_ones_read_as_zeros():
    bc = BlockCipher(new_data_key(), DISK)
    buf = bytearray(b"\xff" * (3 * RECORD_SIZE + 5))  # dirty, and longer than needed
    first, second = os.urandom(2 * BLOCK_SIZE), os.urandom(BLOCK_SIZE)
    assert bc.encrypt_into(4, first, buf) == 2 * RECORD_SIZE
    records = bytes(buf[:2 * RECORD_SIZE])
    assert bc.encrypt_into(6, second, buf) == RECORD_SIZE  # the same buffer again
    records += bytes(buf[:RECORD_SIZE]) + bytes(RECORD_SIZE)
    out = bytearray(b"\xee" * (4 * BLOCK_SIZE))
    assert bc.decrypt_into(4, records, out) == {7}
    assert bytes(out) == first + second + bytes(BLOCK_SIZE)  # the unwritten block is zeroed in a dirty buffer
    assert bc.decrypt_blocks(4, records) == bytes(out)
    with pytest.raises(ValueError):
        bc.encrypt_into(0, first, bytearray(RECORD_SIZE))  # too small for two records
    with pytest.raises(CryptoError):
        bc.decrypt_into(5, records, out)  # records moved: the index is in the AAD


def test_K2_block_cipher_refuses_partial_blocks_records_and_bad_keys():
    bc = BlockCipher(new_data_key(), DISK)
    with pytest.raises(BadRequest):
        bc.encrypt_blocks(0, b"x" * 100)
    with pytest.raises(CryptoError):
        bc.decrypt_blocks(0, b"x" * (RECORD_SIZE - 1))
    with pytest.raises(BadRequest):
        bc.encrypt_blocks(-1, bytes(BLOCK_SIZE))
    with pytest.raises(BadRequest):
        BlockCipher(b"k" * 16, DISK)


@settings(max_examples=40, deadline=None)
@given(raw=st.binary(min_size=0, max_size=3 * BLOCK_SIZE), first=st.integers(min_value=0, max_value=2**40))
def test_K2_property_block_cipher_round_trip(raw, first):
    data = raw + bytes(-len(raw) % BLOCK_SIZE)  # pad to whole blocks
    bc = BlockCipher(new_data_key(), DISK)
    records = bc.encrypt_blocks(first, data)
    assert len(records) == len(data) // BLOCK_SIZE * RECORD_SIZE
    assert bc.decrypt_blocks(first, records) == data


@settings(max_examples=25, deadline=None)
@given(raw=st.binary(min_size=0, max_size=2 * BLOCK_SIZE), first=st.integers(min_value=0, max_value=2**32))
def test_K3_property_double_layer_round_trip(raw, first):
    data = raw + bytes(-len(raw) % BLOCK_SIZE)
    xts = XtsLayer(new_xts_key())
    outer = BlockCipher(new_data_key(), DISK)
    assert decrypt_layers(xts, outer, first, encrypt_layers(xts, outer, first, data)) == data


# ------------------------------------------------------------------------------ double encryption


def test_K3_new_xts_key_is_64_bytes_with_different_halves():
    key = new_xts_key()
    assert len(key) == 64 and key[:32] != key[32:]


def test_K3_xts_layer_refuses_short_keys_and_equal_halves():
    with pytest.raises(BadRequest) as err:
        XtsLayer(os.urandom(32))
    assert "64 bytes" in err.value.message
    half = os.urandom(32)
    with pytest.raises(BadRequest):
        XtsLayer(half + half)


def test_K3_xts_layer_round_trip_is_length_preserving():
    xts = XtsLayer(new_xts_key())
    data = os.urandom(3 * BLOCK_SIZE)
    ct = xts.encrypt_sectors(10, data)
    assert len(ct) == len(data) and ct != data
    assert xts.decrypt_sectors(10, ct) == data
    assert xts.decrypt_sectors(11, ct) != data


def test_K3_identical_sectors_at_different_indexes_encrypt_differently():
    xts = XtsLayer(new_xts_key())
    sector = b"same" * (BLOCK_SIZE // 4)
    ct = xts.encrypt_sectors(0, sector + sector)
    assert ct[:BLOCK_SIZE] != ct[BLOCK_SIZE:]
    # Deterministic per position (no nonce): same sector, same index, same ciphertext.
    assert xts.encrypt_sectors(1, sector) == ct[BLOCK_SIZE:]


def test_K3_double_layer_round_trip_and_outer_ciphertext_differs_from_single_layer():
    dek = new_data_key()
    xts = XtsLayer(new_xts_key())
    outer = BlockCipher(dek, DISK)
    data = os.urandom(2 * BLOCK_SIZE)
    double = encrypt_layers(xts, outer, 4, data)
    assert decrypt_layers(xts, outer, 4, double) == data
    # Peeling only the outer layer gives the XTS ciphertext, not the plaintext.
    inner = outer.decrypt_blocks(4, double)
    assert inner != data and inner == xts.encrypt_sectors(4, data)
    # Without the platform layer, the outer layer alone yields the plaintext.
    single = encrypt_layers(None, outer, 4, data)
    assert outer.decrypt_blocks(4, single) == data
    assert decrypt_layers(None, outer, 4, single) == data


def test_K3_unwritten_blocks_read_as_zeros_through_both_layers():
    xts = XtsLayer(new_xts_key())
    outer = BlockCipher(new_data_key(), DISK)
    data = os.urandom(BLOCK_SIZE)
    records = bytes(RECORD_SIZE) + bytes(encrypt_layers(xts, outer, 1, data))
    assert decrypt_layers(xts, outer, 0, records) == bytes(BLOCK_SIZE) + data


def test_K3_double_layer_detects_tampering():
    xts = XtsLayer(new_xts_key())
    outer = BlockCipher(new_data_key(), DISK)
    records = encrypt_layers(xts, outer, 0, os.urandom(BLOCK_SIZE))
    with pytest.raises(CryptoError):
        decrypt_layers(xts, outer, 0, _flip(records, 500))


# -------------------------------------------------------------------------------------- PEM import


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8], ids=["pkcs1", "pkcs8"]
)
def test_KV3_import_unencrypted_pkcs1_and_pkcs8(key_a, fmt):
    pem = _pem(key_a, fmt)
    assert import_private_pem(pem, None).private_numbers() == key_a.private_numbers()
    assert import_private_pem(pem.decode(), b"").private_numbers() == key_a.private_numbers()


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8], ids=["pkcs1", "pkcs8"]
)
def test_KV3_import_encrypted_key_with_right_wrong_and_missing_password(key_a, fmt):
    pem = _pem(key_a, fmt, b"s3cret")
    assert import_private_pem(pem, b"s3cret").private_numbers() == key_a.private_numbers()
    assert import_private_pem(pem, "s3cret").key_size == 2048
    with pytest.raises(BadRequest) as err:
        import_private_pem(pem, b"wrong")
    assert "password is wrong" in err.value.message
    with pytest.raises(BadRequest) as err:
        import_private_pem(pem, None)
    assert "needs a password" in err.value.message


def test_KV3_import_refuses_a_password_for_an_unencrypted_key(key_a):
    with pytest.raises(BadRequest) as err:
        import_private_pem(_pem(key_a, serialization.PrivateFormat.PKCS8), b"unneeded")
    assert "not encrypted" in err.value.message


@pytest.mark.parametrize(
    "make",
    [lambda: ec.generate_private_key(ec.SECP256R1()), lambda: ed25519.Ed25519PrivateKey.generate()],
    ids=["ec-p256", "ed25519"],
)
def test_KV3_import_refuses_non_rsa_keys(make):
    pem = _pem(make(), serialization.PrivateFormat.PKCS8)
    with pytest.raises(BadRequest) as err:
        import_private_pem(pem, None)
    assert "not an RSA key" in err.value.message
    assert "only RSA keys of 2048, 3072 or 4096 bits" in err.value.message


def test_KV3_import_refuses_rsa_1024():
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(BadRequest) as err:
        import_private_pem(_pem(small, serialization.PrivateFormat.PKCS8), None)
    assert "1024 bits" in err.value.message and "2048, 3072 or 4096" in err.value.message


@pytest.mark.parametrize(
    "garbage",
    [b"", b"hello world", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", b"\x00\xff" * 50],
    ids=["empty", "text", "bad-body", "binary"],
)
def test_KV3_import_refuses_garbage(garbage):
    with pytest.raises(BadRequest) as err:
        import_private_pem(garbage, None)
    assert "PEM" in err.value.message


def test_KV3_import_refuses_a_truncated_pem(key_a):
    pem = _pem(key_a, serialization.PrivateFormat.PKCS8)
    body = pem.split(b"\n")
    truncated = b"\n".join(body[:5] + body[-2:])
    with pytest.raises(BadRequest) as err:
        import_private_pem(truncated, None)
    assert "malformed" in err.value.message


def test_KV3_import_refuses_a_public_key_alone(key_a):
    pub = key_a.public_key()
    for fmt in (serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1):
        pem = pub.public_bytes(serialization.Encoding.PEM, fmt)
        with pytest.raises(BadRequest) as err:
            import_private_pem(pem, None)
        assert "public key" in err.value.message and "private key" in err.value.message


# -------------------------------------------------------------------------------------------- misc


def test_K2_fingerprint_is_a_short_sha256_prefix():
    import hashlib

    fp = fingerprint(b"wrapped")
    assert fp == hashlib.sha256(b"wrapped").hexdigest()[:8]
    assert fingerprint(b"wrapped") == fp and fingerprint(b"other") != fp
    assert len(fingerprint(b"x", 12)) == 12


def test_K2_reprs_hide_key_material():
    dek = new_data_key()
    for obj in (Sealer(dek), BlockCipher(dek, DISK), XtsLayer(new_xts_key())):
        assert dek.hex() not in repr(obj) and "hidden" in repr(obj)


def test_K2_module_imports_only_stdlib_and_cryptography():
    import ast
    import sys

    tree = ast.parse(open(crypto.__file__, encoding="utf-8").read())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            assert node.module == "errors"
    allowed = set(sys.stdlib_module_names) | {"cryptography"}
    assert roots <= allowed, roots - allowed


def test_K2_prefault_maps_a_fresh_buffer_in_one_call_and_changes_no_byte(monkeypatch):
    import resource
    import sys

    fresh = mmap.mmap(-1, 8 << 20)  # anonymous: fresh pages, not yet faulted in
    with memoryview(fresh) as view:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        crypto.prefault(view)
        faulted = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        view[5] = 1
    assert fresh[:] == bytes(5) + b"\1" + bytes((8 << 20) - 6)  # its contents are what they were
    fresh.close()
    if crypto._libc_madvise() is None:
        assert not sys.platform.startswith("linux")  # off Linux: nothing to call
    elif faulted < 2048:  # the kernel refused MADV_POPULATE_WRITE (before Linux 5.14): nothing else happened
        assert crypto._libc_madvise()(0, 4096, crypto._MADV_POPULATE_WRITE) == -1
    else:
        assert faulted >= (8 << 20) // 4096 - 2  # every whole page of it, in that one call
    # what it leaves alone: read-only and tiny buffers, and everything where madvise is missing
    crypto.prefault(b"read-only bytes" * 1000)
    crypto.prefault(bytearray(10))
    monkeypatch.setattr(crypto, "_libc_madvise", lambda: None)
    buf = bytearray(b"x" * 100_000)
    crypto.prefault(buf)
    assert buf == b"x" * 100_000


def test_K2_prefault_leaves_a_buffer_whose_pages_are_all_in_memory_alone(monkeypatch):
    # a read's output made of memory the process has already touched (the last read's, zeroed again by
    # the C library): walking its pages again only costs time
    calls = []
    monkeypatch.setattr(crypto, "_libc_madvise", lambda: lambda *a: calls.append(a) or 0)
    used = mmap.mmap(-1, 4 << 20)
    used.write(b"\1" * (4 << 20))  # every page touched
    with memoryview(used) as view:
        crypto.prefault(view)
    if crypto._libc_mincore() is not None:
        assert calls == []
    fresh = mmap.mmap(-1, 4 << 20)
    fresh[-1] = 1  # one page of it in memory: the rest is still to be faulted in
    with memoryview(fresh) as view:
        crypto.prefault(view)
    assert len(calls) == 1 and calls[0][1] == 4 << 20
    used.close()
    fresh.close()


def test_K2_first_record_written_tells_never_written_records_from_written_ones():
    bc = BlockCipher(new_data_key(), DISK)
    assert not crypto.first_record_written(bytes(3 * RECORD_SIZE))
    assert not crypto.first_record_written(memoryview(bytes(RECORD_SIZE)))
    written = bytearray(bc.encrypt_blocks(0, bytes(BLOCK_SIZE)))
    assert crypto.first_record_written(written)
    written[0] = 0  # a nonce whose first byte is zero: the rest of the record tells
    assert crypto.first_record_written(written)
    assert crypto.first_record_written(bytes(RECORD_SIZE - 1) + b"\1")


def test_K2_block_cipher_throughput_report(capsys):
    """Measured, printed, not asserted (run with -s to see it): BlockCipher vs raw AESGCM at 4 KiB."""
    size = 16 * 1024 * 1024
    data = os.urandom(size)
    dek = new_data_key()
    aead = AESGCM(dek)
    view = memoryview(data)

    def raw():
        for i in range(size // BLOCK_SIZE):
            nonce = os.urandom(12)
            aad = DISK + i.to_bytes(8, "big")
            aead.decrypt(nonce, aead.encrypt(nonce, view[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE], aad), aad)

    bc = BlockCipher(dek, DISK)

    def engine(chunk):
        for off in range(0, size, chunk):
            first = off // BLOCK_SIZE
            bc.decrypt_blocks(first, bc.encrypt_blocks(first, view[off : off + chunk]))

    def best(fn, *args):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - t)
        return min(times)

    t_raw = best(raw)
    with capsys.disabled():
        for chunk in (size, 1024 * 1024):
            t_eng = best(engine, chunk)
            print(
                f"\n[crypto] 16 MiB enc+dec, calls of {chunk >> 10} KiB: engine {2 * size / t_eng / 1e6:.0f} MB/s, "
                f"raw AESGCM 4 KiB loop {2 * size / t_raw / 1e6:.0f} MB/s, ratio {t_raw / t_eng:.2f}x"
            )


ROOT = Path(__file__).resolve().parents[2]

_REUSE_PROBE = """
import resource, sys
sys.path.insert(0, sys.argv[1])
from engine import crypto
size = 32 << 20
def fill():
    out, dst = crypto.output_buffer(size)
    with dst:
        dst[::4096] = b"x" * len(dst[::4096])  # write every page, as a decryption does
    return out.getvalue()
fill()  # the first big output: fresh pages
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
data = fill()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, len(data))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="the C library's buffer reuse is asked of glibc only")
def test_a_big_read_output_reuses_the_memory_of_the_last_one_instead_of_faulting_fresh_pages():
    """A 32 MiB output is 8,192 pages: taken fresh from the kernel each time (glibc's default above its mmap
    threshold), each is a page fault; kept by the process, the second read faults almost none of them."""
    probe = subprocess.run([sys.executable, "-c", _REUSE_PROBE, str(ROOT)], capture_output=True, text=True, check=True)
    faults, size = map(int, probe.stdout.split())
    assert size == 32 << 20 and faults < 1000, faults
