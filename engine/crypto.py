"""Real cryptography for the simulator: RSA key-encryption keys, envelope encryption, sealed secrets,
authenticated disk blocks and the inner platform (XTS) layer of double encryption.

Only the standard library and ``cryptography`` are used; everything here is a pure function or a small
class holding key material. Nothing reads the clock and there is no global state.

Envelope encryption (K2)
    Each disk gets a random 256-bit data-encryption key (DEK, :func:`new_data_key`). The DEK is wrapped
    with the customer's RSA key (:func:`wrap_key`, RSA-OAEP with SHA-256 and MGF1-SHA-256, which is what
    Key Vault calls ``RSA-OAEP-256``) and only the wrapped form is kept next to the disk. Reading the
    disk needs :func:`unwrap_key` with the matching private key: disable or delete the key and the data
    is unreadable. Every unwrap failure is one opaque :class:`CryptoError` (``InvalidCiphertext``), like
    Fernet's ``InvalidToken``, so callers cannot tell a wrong key from a damaged blob.

Sealed secrets (the simulated HSM boundary)
    Private keys (PKCS8 DER) and platform keys are stored only sealed by :class:`Sealer`: AES-256-GCM
    under a root key, random 12-byte nonce prepended, caller-supplied AAD (e.g. the key's id and
    version) binding the blob to its place. Any tamper, wrong AAD or wrong root key is one opaque error.

Disk blocks: AES-256-GCM per 4 KiB block, not XTS
    Disk data is cut into ``BLOCK_SIZE`` (4096) plaintext blocks. Each block is stored as a record of
    ``RECORD_SIZE = BLOCK_SIZE + 28`` bytes: ``nonce(12) || ciphertext(4096) || tag(16)``. The AAD is
    ``context || block_index`` where ``context`` is the caller's bytes (the disk id) and the index is
    8 bytes big-endian. Because the index is a fixed-length suffix, the AAD is unambiguous.

    Why an AEAD rather than XTS (what real disk encryption at rest uses)? XTS is length-preserving,
    which is why real disks use it, but it is malleable: flipping ciphertext bits silently yields
    garbled plaintext and nothing notices. A requirement here is that tampering is *detected*; with
    GCM per block, a flipped byte, a block moved to another position (index in the AAD) or copied from
    another disk (disk id in the AAD) fails the tag check. The price is 28 bytes per block (0.7 %),
    which costs nothing in a simulator. It is also faster per call on this machine: one ``AESGCM``
    object is reused for every block (1.6 GB/s at 4 KiB), whereas XTS needs a new cipher context per
    sector because the tweak lives in the mode (9.4 us set-up per call, 377 MB/s at 4 KiB, measured on
    the 2-core development machine).

    Measured here (2-core Firecracker VM): the cost of a big transfer is not the Python loop (~0.6 us of
    ~1.8 us per block) but memory touched for the first time (page faults, ~3 us per 4 KiB page: more than
    the AES of that page). So the disk path encrypts a write a chunk of ~1 MiB (256 blocks) at a time into
    one reused buffer (:meth:`BlockCipher.encrypt_into`), handed to the blob store chunk by chunk, and
    decrypts a read a chunk at a time into its one output buffer (:meth:`BlockCipher.decrypt_into`): the
    only fresh memory a read touches is the plaintext it returns.

    Nonces are random (96 bits, drawn in bulk with one ``os.urandom`` call per chunk).
    NIST SP 800-38D bounds random-nonce GCM to 2**32 encryptions per key, i.e. 16 TiB of block writes
    per DEK: far beyond any simulated disk.

    Sparse disks: a record made only of zero bytes means "never written" and decrypts to a block of
    zeros without a tag check (a real GCM record starts with a random nonce, which is all zeros with
    probability 2**-96). The trade-off, accepted on purpose: someone able to write the store can reset
    a whole record to zeros and it reads back as an unwritten block, the same class of attack as
    replaying an old record, which per-block authentication does not catch either. Any partial change
    of a record is detected.

Double encryption (K3)
    With double encryption the platform adds an inner layer with a *different* mode and a platform key:
    ``plaintext -> XTS (platform key, inner, XtsLayer) -> GCM records (customer DEK, outer, BlockCipher)``.
    :func:`encrypt_layers` / :func:`decrypt_layers` compose the two; unwritten (all-zero) records skip
    the inner layer on the way back so a sparse doubly-encrypted disk still reads as zeros.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import io
import mmap
import os
import struct
import sys

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import BadRequest, CryptoError


def _serialization():
    """cryptography's serialization module, imported on first use (it pulls in the SSH codecs and
    dataclasses: a third of a CLI call's start-up, for commands that never touch PEM or DER)."""
    from cryptography.hazmat.primitives import serialization

    return serialization

__all__ = [
    "RSA_SIZES",
    "PUBLIC_EXPONENT",
    "BLOCK_SIZE",
    "NONCE_SIZE",
    "TAG_SIZE",
    "RECORD_SIZE",
    "DATA_KEY_SIZE",
    "XTS_KEY_SIZE",
    "generate_rsa",
    "private_to_der",
    "private_from_der",
    "import_private_pem",
    "public_numbers_jwk",
    "new_data_key",
    "wrap_key",
    "unwrap_key",
    "Sealer",
    "BlockCipher",
    "XtsLayer",
    "new_xts_key",
    "encrypt_layers",
    "decrypt_layers",
    "encrypt_layers_into",
    "decrypt_layers_into",
    "output_buffer",
    "prefault",
    "first_record_written",
    "fingerprint",
    "EC_CURVES",
    "generate_ec",
    "ec_from_scalar",
    "ec_public_jwk",
    "ec_public_from_jwk",
    "kv_encrypt",
    "kv_decrypt",
    "kv_sign",
    "kv_verify",
]

RSA_SIZES = (2048, 3072, 4096)
PUBLIC_EXPONENT = 65537

BLOCK_SIZE = 4096
NONCE_SIZE = 12
TAG_SIZE = 16
RECORD_SIZE = BLOCK_SIZE + NONCE_SIZE + TAG_SIZE  # 4124
DATA_KEY_SIZE = 32  # AES-256
XTS_KEY_SIZE = 64  # AES-256-XTS: two 256-bit keys

_MAX_INDEX = 2**64 - 1
_ZERO_RECORD = bytes(RECORD_SIZE)
_ZERO_BLOCK = bytes(BLOCK_SIZE)
_INDEX = struct.Struct(">Q")
"""A block index in the AAD: 8 bytes big-endian."""

_SIZES_TEXT = "2048, 3072 or 4096"
_IMPORT_RULE = f"only RSA keys of {_SIZES_TEXT} bits can be imported for disk encryption"

_OAEP_SHA256 = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


# --------------------------------------------------------------------------------------------- RSA keys


def _check_size(bits: int) -> None:
    if bits not in RSA_SIZES:
        raise BadRequest(f"RSA key size {bits} is not supported: the allowed sizes are {_SIZES_TEXT} bits")


def generate_rsa(bits: int) -> rsa.RSAPrivateKey:
    """A new RSA private key of ``bits`` (2048, 3072 or 4096), public exponent 65537."""
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise BadRequest(f"RSA key size must be a whole number of bits: the allowed sizes are {_SIZES_TEXT}")
    _check_size(bits)
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)


def private_to_der(key) -> bytes:
    """PKCS8 DER, unencrypted. Only ever handed to :class:`Sealer`; never stored or shown as is."""
    return key.private_bytes(
        encoding=_serialization().Encoding.DER,
        format=_serialization().PrivateFormat.PKCS8,
        encryption_algorithm=_serialization().NoEncryption(),
    )


def private_from_der(der: bytes):
    """Load a key written by :func:`private_to_der`.

    RSA key validation (primality checks of p and q etc.) costs milliseconds per load for big keys. It is
    skipped because these bytes only ever come out of our own :class:`Sealer`, whose GCM tag already
    proves they are exactly what we sealed from a key that ``cryptography`` generated or validated on
    import. Never use this for bytes from outside; use :func:`import_private_pem`.
    """
    try:
        key = _serialization().load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CryptoError("the stored private key cannot be read", inner_code="InvalidKey") from exc
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise CryptoError("the stored private key is not an RSA or EC key", inner_code="InvalidKey")
    return key


def _is_encrypted_pem(pem: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in pem or b"Proc-Type: 4,ENCRYPTED" in pem


def import_private_pem(pem: bytes | str, password: bytes | str | None) -> rsa.RSAPrivateKey:
    """Load a customer's RSA private key from PEM (PKCS1 ``RSA PRIVATE KEY`` or PKCS8, encrypted or not).

    An empty password counts as no password. Every refusal is a :class:`BadRequest` saying what was
    wrong and what is allowed.
    """
    if isinstance(pem, str):
        pem = pem.encode("utf-8", "replace")
    if isinstance(password, str):
        password = password.encode("utf-8")
    if not password:
        password = None
    pem = bytes(pem)
    if b"-----BEGIN" not in pem:
        raise BadRequest(
            "the key file is not PEM: expected a '-----BEGIN PRIVATE KEY-----' or "
            "'-----BEGIN RSA PRIVATE KEY-----' block (PKCS8 or PKCS1, optionally encrypted); " + _IMPORT_RULE
        )
    if b"PRIVATE KEY-----" not in pem and b"PUBLIC KEY-----" in pem:
        raise BadRequest(
            "the PEM holds only a public key: importing a key for disk encryption needs the private key "
            "(PKCS8 or PKCS1 PEM); " + _IMPORT_RULE
        )
    encrypted = _is_encrypted_pem(pem)
    try:
        key = _serialization().load_pem_private_key(pem, password=password)
    except TypeError as exc:
        # cryptography signals both password mismatches with TypeError.
        if password is None:
            raise BadRequest(
                "the private key is encrypted and needs a password: give the password used to protect it"
            ) from exc
        raise BadRequest(
            "a password was given but the private key is not encrypted: import it without a password"
        ) from exc
    except ValueError as exc:
        if encrypted and password is not None:
            raise BadRequest(
                "the password is wrong: the encrypted private key cannot be decrypted with it "
                "(or the encrypted key is damaged)"
            ) from exc
        raise BadRequest(
            "the PEM is malformed or not a supported private key: expected PKCS8 or PKCS1 PEM; " + _IMPORT_RULE
        ) from exc
    except UnsupportedAlgorithm as exc:
        raise BadRequest(f"the key type or its encryption is not supported: {_IMPORT_RULE}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "") or "non-RSA"
        raise BadRequest(f"the key is not an RSA key ({kind}): {_IMPORT_RULE}")
    if key.key_size not in RSA_SIZES:
        raise BadRequest(f"the RSA key has {key.key_size} bits: {_IMPORT_RULE}")
    return key


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def public_numbers_jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> dict:
    """``{"kty": None, "n": ..., "e": ...}`` with base64url (no padding) big-endian numbers, as Key Vault's
    JSON shows ``key.n`` / ``key.e``. The caller fills ``kty`` (``RSA`` or ``RSA-HSM``)."""
    pub = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = pub.public_numbers()
    return {"kty": None, "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}


# ---------------------------------------------------------------------------------------- EC keys

EC_CURVES = {"P-256": ec.SECP256R1, "P-256K": ec.SECP256K1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}
"""Key Vault's curve names (JsonWebKeyCurveName) and the curves they stand for."""
EC_CURVE_BITS = {"P-256": 256, "P-256K": 256, "P-384": 384, "P-521": 521}


def _curve(name: str):
    cls = EC_CURVES.get(name)
    if cls is None:
        raise BadRequest(f"curve {name!r} is not supported; the curves are {', '.join(EC_CURVES)}")
    return cls()


def generate_ec(curve: str) -> ec.EllipticCurvePrivateKey:
    """A new EC private key on one of Key Vault's curves (P-256, P-256K, P-384, P-521)."""
    return ec.generate_private_key(_curve(curve))


def ec_from_scalar(curve: str, scalar: int) -> ec.EllipticCurvePrivateKey:
    """The EC private key of ``scalar`` (reduced into [1, 2**(bits - 1)], below every one of these curves' group
    order) on ``curve``: how a seeded store derives reproducible EC keys from its random stream."""
    return ec.derive_private_key(1 + scalar % (1 << (EC_CURVE_BITS[curve] - 1)), _curve(curve))


def _coordinate(value: int, curve: str) -> str:
    size = (EC_CURVE_BITS[curve] + 7) // 8
    return base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode("ascii")


def _curve_name(key) -> str:
    name = key.curve.name
    for jwk_name, cls in EC_CURVES.items():
        if cls.name == name:
            return jwk_name
    raise BadRequest(f"curve {name!r} is not one of Key Vault's ({', '.join(EC_CURVES)})")


def ec_public_jwk(key) -> dict:
    """``{"crv", "x", "y"}`` of an EC key (base64url, fixed-length coordinates), as Key Vault's JSON shows them."""
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    numbers = pub.public_numbers()
    crv = _curve_name(pub)
    return {"crv": crv, "x": _coordinate(numbers.x, crv), "y": _coordinate(numbers.y, crv)}


def ec_public_from_jwk(crv: str, x: str, y: str) -> ec.EllipticCurvePublicKey:
    def _int(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")
    return ec.EllipticCurvePublicNumbers(_int(x), _int(y), _curve(crv)).public_key()


# ------------------------------------------------------------------ Key Vault's key operations (az keyvault key ...)

RSA_ENCRYPTION_ALGORITHMS = ("RSA-OAEP", "RSA-OAEP-256", "RSA1_5")
"""What an RSA key encrypts, decrypts, wraps and unwraps with (the AES algorithms are managed HSM's)."""
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
SIGN_ALGORITHMS_RSA = ("PS256", "PS384", "PS512", "RS256", "RS384", "RS512")
SIGN_ALGORITHMS_EC = {"P-256": "ES256", "P-256K": "ES256K", "P-384": "ES384", "P-521": "ES512"}
"""Each curve signs with one algorithm."""


def _rsa_padding(algorithm: str):
    if algorithm == "RSA-OAEP":
        return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    if algorithm == "RSA-OAEP-256":
        return _OAEP_SHA256
    if algorithm == "RSA1_5":
        return padding.PKCS1v15()
    raise BadRequest(f"algorithm {algorithm!r} is not an RSA encryption algorithm; allowed: "
                     f"{', '.join(RSA_ENCRYPTION_ALGORITHMS)}")


def kv_encrypt(public_key, algorithm: str, data: bytes) -> bytes:
    """RSA encryption with one of Key Vault's algorithms (RSA-OAEP, RSA-OAEP-256, RSA1_5)."""
    if isinstance(public_key, rsa.RSAPrivateKey):
        public_key = public_key.public_key()
    try:
        return public_key.encrypt(bytes(data), _rsa_padding(algorithm))
    except ValueError as exc:
        raise BadRequest(f"the value is too long for {algorithm} with a {public_key.key_size}-bit key",
                         code="BadParameter") from exc


def kv_decrypt(private_key, algorithm: str, data: bytes) -> bytes:
    """Undo :func:`kv_encrypt`; any failure is one opaque :class:`CryptoError`."""
    pad = _rsa_padding(algorithm)
    try:
        return private_key.decrypt(bytes(data), pad)
    except (ValueError, TypeError) as exc:
        raise CryptoError("the value cannot be decrypted with this key and algorithm", code="BadParameter",
                          inner_code="InvalidCiphertext") from exc


def _digest_hash(algorithm: str, digest: bytes):
    h = _HASHES[algorithm[-3:]]() if not algorithm.endswith("256K") else hashes.SHA256()
    if len(digest) != h.digest_size:
        raise BadRequest(f"the digest is {len(digest)} bytes; {algorithm} signs a {h.name.upper()} digest of "
                         f"{h.digest_size} bytes", code="BadParameter")
    return h


def kv_sign(private_key, algorithm: str, digest: bytes) -> bytes:
    """Sign a digest as Key Vault does: RSASSA-PSS (PS*) or PKCS#1 v1.5 (RS*) for RSA; ECDSA (ES*) for EC,
    the signature as the JWS raw ``r || s``."""
    h = _digest_hash(algorithm, digest)
    pre = asym_utils.Prehashed(h)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        der = private_key.sign(bytes(digest), ec.ECDSA(pre))
        r, s = asym_utils.decode_dss_signature(der)
        size = (private_key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if algorithm.startswith("PS"):
        pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)
    else:
        pad = padding.PKCS1v15()
    return private_key.sign(bytes(digest), pad, pre)


def kv_verify(public_key, algorithm: str, digest: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    h = _digest_hash(algorithm, digest)
    pre = asym_utils.Prehashed(h)
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            size = (public_key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                return False
            der = asym_utils.encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                                  int.from_bytes(signature[size:], "big"))
            public_key.verify(der, bytes(digest), ec.ECDSA(pre))
        else:
            pad = padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size) if algorithm.startswith("PS") \
                else padding.PKCS1v15()
            public_key.verify(bytes(signature), bytes(digest), pad, pre)
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------------- envelope encryption


def public_from_jwk(n: str, e: str) -> rsa.RSAPublicKey:
    """The RSA public key of a JWK's base64url ``n`` and ``e`` (as Key Vault shows them)."""
    def _int(text: str) -> int:
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")
    return rsa.RSAPublicNumbers(_int(e), _int(n)).public_key()


def new_data_key() -> bytes:
    """A fresh random AES-256 data-encryption key (32 bytes)."""
    return os.urandom(DATA_KEY_SIZE)


def wrap_key(public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey, dek: bytes) -> bytes:
    """Wrap ``dek`` with RSA-OAEP-256 (OAEP, SHA-256, MGF1-SHA-256). A private key is accepted too."""
    if isinstance(public_key, rsa.RSAPrivateKey):
        public_key = public_key.public_key()
    return public_key.encrypt(bytes(dek), _OAEP_SHA256)


def unwrap_key(private_key: rsa.RSAPrivateKey, wrapped: bytes) -> bytes:
    """Unwrap a key wrapped by :func:`wrap_key`. Any failure (wrong key, damaged blob, wrong length) is one
    opaque :class:`CryptoError` with inner code ``InvalidCiphertext``."""
    try:
        return private_key.decrypt(bytes(wrapped), _OAEP_SHA256)
    except (ValueError, TypeError) as exc:
        raise CryptoError("the wrapped key cannot be unwrapped with this key", inner_code="InvalidCiphertext") from exc


# -------------------------------------------------------------------------------------- sealed secrets


class Sealer:
    """AES-256-GCM sealing of secrets at rest: ``nonce(12) || ciphertext || tag(16)``."""

    __slots__ = ("_aead", "_nonce_key")

    def __init__(self, root_key: bytes, *, deterministic: bool = False) -> None:
        """``deterministic``: for seeded stores only (replayable byte for byte, not secret). The nonce is then
        synthetic, HMAC-SHA256(nonce key, aad, plaintext) cut to 96 bits (as in SIV): the same secret under
        the same AAD seals to the same bytes, different ones get different nonces."""
        if len(root_key) != DATA_KEY_SIZE:
            raise BadRequest(f"the root key must be {DATA_KEY_SIZE} bytes (AES-256), not {len(root_key)}")
        self._aead = AESGCM(bytes(root_key))
        self._nonce_key = hashlib.sha256(b"cmklab-sealer-nonce:" + bytes(root_key)).digest() if deterministic \
            else None

    def __repr__(self) -> str:
        return "Sealer(<root key hidden>)"

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        if self._nonce_key is None:
            nonce = os.urandom(NONCE_SIZE)
        else:
            mac = hmac.new(self._nonce_key, len(aad).to_bytes(8, "big") + bytes(aad) + bytes(plaintext),
                           hashlib.sha256)
            nonce = mac.digest()[:NONCE_SIZE]
        return nonce + self._aead.encrypt(nonce, bytes(plaintext), bytes(aad))

    def seal_ascii_many(self, pairs: list[tuple[bytes, bytes]]) -> list[bytes]:
        """:meth:`seal_text` of each ``(plaintext, aad)``, as ASCII bytes, the random nonces drawn in one call
        (an import seals 80,000 host copies: a system call each cost more than their AES)."""
        if self._nonce_key is not None or not pairs:
            return [self.seal_text(p, a).encode("ascii") for p, a in pairs]
        draw = os.urandom(NONCE_SIZE * len(pairs))
        b64, encrypt = binascii.b2a_base64, self._aead.encrypt
        return [b64(nonce + encrypt(nonce, p, a), newline=False)
                for nonce, (p, a) in zip(_nonce_structs(len(pairs))[0].unpack(draw), pairs)]

    def unseal(self, blob: bytes, aad: bytes) -> bytes:
        blob = bytes(blob)
        if len(blob) < NONCE_SIZE + TAG_SIZE:
            raise CryptoError("the sealed secret cannot be opened", inner_code="InvalidCiphertext")
        try:
            return self._aead.decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], bytes(aad))
        except InvalidTag:
            raise CryptoError("the sealed secret cannot be opened", inner_code="InvalidCiphertext") from None

    def seal_text(self, plaintext: bytes, aad: bytes) -> str:
        """:meth:`seal`, as standard base64 text for JSON documents."""
        return base64.b64encode(self.seal(plaintext, aad)).decode("ascii")

    def unseal_text(self, text: str, aad: bytes) -> bytes:
        try:
            blob = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise CryptoError("the sealed secret cannot be opened", inner_code="InvalidCiphertext") from None
        return self.unseal(blob, aad)


# ------------------------------------------------------------------------------------------ disk blocks


def _check_index(first_index: int, count: int) -> None:
    if isinstance(first_index, bool) or not isinstance(first_index, int) or first_index < 0:
        raise BadRequest(f"block index must be a non-negative integer, not {first_index!r}")
    if first_index + count - 1 > _MAX_INDEX:
        raise BadRequest("block index out of range (8-byte block numbers)")


_MADV_POPULATE_WRITE = 23  # linux/mman.h (Linux 5.14+): fault a range in as if written, in one call


@functools.lru_cache(maxsize=None)
def _libc(name: str, *argtypes: str):
    """libc's ``name`` through ctypes (``argtypes``: ctypes type names; it returns an int), loaded on first use
    (a big read), or None off Linux or without it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        fn = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = [getattr(ctypes, t) for t in argtypes]
    fn.restype = ctypes.c_int
    return fn


def _libc_madvise():
    """``madvise(address, length, advice)``, or None."""
    return _libc("madvise", "c_void_p", "c_size_t", "c_int")


def _libc_mincore():
    """``mincore(address, length, vector)``: which pages of a range are in memory; or None."""
    return _libc("mincore", "c_void_p", "c_size_t", "c_char_p")


def _all_resident(start: int, length: int) -> bool:
    """Whether every page of the page-aligned range is mapped in already (False when that cannot be told)."""
    mincore = _libc_mincore()
    if mincore is None:
        return False
    vec = bytes(-(-length // mmap.PAGESIZE))
    if mincore(start, length, vec) != 0:
        return False
    return 0 not in vec  # (bit 0 of each byte: the page is resident; a fresh page reads 0)


def prefault(buffer) -> None:
    """Map the pages of a fresh writable ``buffer`` in one system call before it is filled.

    Memory touched for the first time costs a page fault per 4 KiB page (1-3 us on a loaded virtual
    machine: as much as the AES of the page), taken one by one as a decryption writes its way through
    an output buffer; ``madvise(MADV_POPULATE_WRITE)`` takes them all at once, for about a third less
    (measured on a 64 MiB read). A buffer made of memory the process already has (the C library hands
    the last big read's pages to the next one, zeroed: :func:`_keep_big_buffers`) is left alone: the call
    still walks every page (0.5 us each here: 9 ms of a 36 ms read of 64 MiB), and one ``mincore`` tells
    that they are all there. Only the pages wholly inside the buffer are touched; their contents do
    not change. Best effort: nothing off Linux, on kernels without it (EINVAL), or for a buffer ctypes
    cannot address."""
    madvise = _libc_madvise()
    if madvise is None:
        return
    import ctypes

    with memoryview(buffer) as view:
        if view.readonly or not view.contiguous or view.nbytes < mmap.PAGESIZE:
            return
        try:
            anchor = ctypes.c_char.from_buffer(view)  # holds an export of the view: dropped at once below
        except (TypeError, ValueError):
            return
        address = ctypes.addressof(anchor)
        del anchor
        page = mmap.PAGESIZE
        start = -(-address // page) * page
        end = (address + view.nbytes) // page * page
        if end > start and not _all_resident(start, end - start):
            madvise(start, end - start, _MADV_POPULATE_WRITE)  # (-1 with errno where refused: ignored)


_BATCH = 256
"""Records whose nonces are cut, laid out or read back by one struct call (the engine's chunk of 1 MiB)."""


@functools.lru_cache(maxsize=8)
def _nonce_structs(count: int) -> tuple[struct.Struct, struct.Struct]:
    """For ``count`` consecutive records: a Struct that cuts ``count`` nonces out of one random draw, and one
    whose fields are the nonces at the heads of the records (packing it writes zeros over the rest of each
    record, which the encryption then fills; unpacking it reads the nonces back)."""
    return (struct.Struct(f"{NONCE_SIZE}s" * count),
            struct.Struct(f"{NONCE_SIZE}s{RECORD_SIZE - NONCE_SIZE}x" * count))


def first_record_written(records) -> bool:
    """Whether the first record of ``records`` was ever written: a never-written one is all zeros, a written
    one starts with a random nonce (whose first byte is zero once in 256: only then is the record compared)."""
    return bool(records[0]) or records[:RECORD_SIZE] != _ZERO_RECORD


def _output_buffer(size: int) -> tuple[io.BytesIO, memoryview]:
    """A zero-filled writable buffer whose contents come back as ``bytes`` without a copy.

    ``bytes(size)`` is allocated with calloc, so big buffers arrive as lazily zeroed pages (no memset
    pass); a BytesIO holding the only reference exposes it writable through ``getbuffer()`` and hands
    the very same object back from ``getvalue()`` once the view is released. A ``bytearray`` would be
    memset first and need a full copy to become ``bytes``: for a 64 MiB call that copy alone took the
    engine from ~0.7x to ~0.4x of raw AESGCM throughput. (Correct on any Python; only the speed relies
    on CPython's BytesIO sharing its buffer.)
    """
    if size >= _BIG_OUTPUT:
        _keep_big_buffers()
    bio = io.BytesIO(bytes(size))
    return bio, bio.getbuffer()


_BIG_OUTPUT = 4 << 20
"""An output from this size on asks the C library to keep big buffers' memory (:func:`_keep_big_buffers`)."""

_KEPT_BUFFER_BYTES = 128 << 20
"""The largest buffer whose memory the process keeps for the next one, and the most free memory it keeps."""


@functools.lru_cache(maxsize=None)
def _keep_big_buffers() -> bool:
    """Let big read buffers reuse memory the process already has (glibc; once, at the first big read).

    glibc hands every allocation above its mmap threshold (at most 32 MiB, however it adapts) fresh pages
    from the kernel and returns them at ``free``: each big read then pays a page fault per 4 KiB page of its
    output, as much as a third of a 64 MiB read (54 ms against 38 ms, measured). Raising the threshold, and
    the free memory the heap keeps at its top, to ``_KEPT_BUFFER_BYTES`` makes the next read of up to that
    size reuse the pages of the last one. The price is that up to that much freed memory stays with the
    process. Best effort: elsewhere (another C library, another system) nothing changes."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(mallopt(m_mmap_threshold, _KEPT_BUFFER_BYTES)) and bool(mallopt(m_trim_threshold,
                                                                                _KEPT_BUFFER_BYTES))


class BlockCipher:
    """AES-256-GCM per ``BLOCK_SIZE`` block under a disk's DEK, AAD = ``context || index (8 bytes BE)``."""

    __slots__ = ("_aead", "_context")

    def __init__(self, dek: bytes, context: bytes) -> None:
        if len(dek) != DATA_KEY_SIZE:
            raise BadRequest(f"the data key must be {DATA_KEY_SIZE} bytes (AES-256), not {len(dek)}")
        self._aead = AESGCM(bytes(dek))
        self._context = bytes(context)

    def __repr__(self) -> str:
        return f"BlockCipher(<key hidden>, context={self._context!r})"

    def encrypt_blocks(self, first_index: int, plaintext: bytes) -> bytes:
        """Encrypt whole blocks starting at block ``first_index``; returns the concatenated records."""
        size = memoryview(plaintext).nbytes
        if size % BLOCK_SIZE:
            raise BadRequest(f"plaintext length {size} is not a multiple of the block size {BLOCK_SIZE}")
        if not size:
            _check_index(first_index, 0)
            return b""
        # One output buffer written in place (no per-block ciphertext objects, no join).
        out, dst = _output_buffer(size // BLOCK_SIZE * RECORD_SIZE)
        with dst:
            self.encrypt_into(first_index, plaintext, dst)
        return out.getvalue()

    def encrypt_into(self, first_index: int, plaintext, out) -> int:
        """Encrypt whole blocks starting at block ``first_index`` into the writable buffer ``out`` (at least
        ``RECORD_SIZE`` bytes per block); returns the number of bytes written. A caller that streams a big
        transfer reuses one ``out`` for every chunk: memory touched for the first time costs more here
        (page faults) than the encryption itself."""
        with memoryview(plaintext) as view, view.cast("B") as src, memoryview(out) as outv, \
                outv.cast("B") as dst:
            size = len(src)
            if size % BLOCK_SIZE:
                raise BadRequest(f"plaintext length {size} is not a multiple of the block size {BLOCK_SIZE}")
            count = size // BLOCK_SIZE
            _check_index(first_index, count)
            if len(dst) < count * RECORD_SIZE:
                raise ValueError(f"output buffer of {len(dst)} bytes is too small for {count} records")
            if not count:
                return 0
            aad = bytearray(self._context + bytes(8))  # the index is packed into its last 8 bytes
            at = len(self._context)
            pack = _INDEX.pack_into
            encrypt_into = self._aead.encrypt_into
            bs, rs, body = BLOCK_SIZE, RECORD_SIZE, RECORD_SIZE - NONCE_SIZE
            for start in range(0, count, _BATCH):
                k = min(_BATCH, count - start)
                cut, lay = _nonce_structs(k)
                nonces = cut.unpack(os.urandom(NONCE_SIZE * k))  # one draw for the batch, cut in one call
                base = start * rs
                lay.pack_into(dst, base, *nonces)  # each at the head of its record, in one call
                for idx, nonce, p, o in zip(range(first_index + start, first_index + start + k), nonces,
                                            range(start * bs, (start + k) * bs, bs),
                                            range(base + NONCE_SIZE, base + k * rs, rs)):
                    pack(aad, at, idx)
                    encrypt_into(nonce, src[p : p + bs], aad, dst[o : o + body])
            return count * RECORD_SIZE

    def decrypt_blocks(self, first_index: int, records: bytes) -> bytes:
        """Decrypt concatenated records starting at block ``first_index``. All-zero records read as zeros.

        Raises an opaque :class:`CryptoError` naming the first block that fails its tag check.
        """
        out, _sparse = self.decrypt_blocks_sparse(first_index, records)
        return out

    def decrypt_blocks_sparse(self, first_index: int, records: bytes) -> tuple[bytes, frozenset[int]]:
        """As :meth:`decrypt_blocks`, also returning the absolute indexes of never-written (all-zero) records."""
        size = memoryview(records).nbytes
        if size % RECORD_SIZE:
            raise CryptoError(
                f"encrypted data of {size} bytes is not a whole number of {RECORD_SIZE}-byte records",
                inner_code="InvalidCiphertext",
            )
        if not size:
            _check_index(first_index, 0)
            return b"", frozenset()
        out, dst = _output_buffer(size // RECORD_SIZE * BLOCK_SIZE)
        with dst:
            sparse = self.decrypt_into(first_index, records, dst, zeroed=True)
        return out.getvalue(), sparse

    def decrypt_into(self, first_index: int, records, out, *, zeroed: bool = False) -> frozenset[int]:
        """Decrypt concatenated records starting at block ``first_index`` into the writable buffer ``out`` (at
        least ``BLOCK_SIZE`` bytes per record); returns the absolute indexes of never-written (all-zero)
        records, whose blocks are zeros in ``out`` (``zeroed``: ``out`` is zero-filled already, so they are
        not written: a fresh buffer's pages stay untouched). Raises :class:`CryptoError` as
        :meth:`decrypt_blocks`."""
        with memoryview(records) as view, view.cast("B") as src, memoryview(out) as outv, outv.cast("B") as dst:
            size = len(src)
            if size % RECORD_SIZE:
                raise CryptoError(
                    f"encrypted data of {size} bytes is not a whole number of {RECORD_SIZE}-byte records",
                    inner_code="InvalidCiphertext",
                )
            count = size // RECORD_SIZE
            _check_index(first_index, count)
            if len(dst) < count * BLOCK_SIZE:
                raise ValueError(f"output buffer of {len(dst)} bytes is too small for {count} blocks")
            aad = bytearray(self._context + bytes(8))
            at = len(self._context)
            pack = _INDEX.pack_into
            decrypt_into = self._aead.decrypt_into
            bs, rs, body = BLOCK_SIZE, RECORD_SIZE, RECORD_SIZE - NONCE_SIZE
            sparse: list[int] = []
            for start in range(0, count, _BATCH):
                k = min(_BATCH, count - start)
                base = start * rs
                nonces = _nonce_structs(k)[1].unpack_from(src, base)  # the batch's nonces, read in one call
                for idx, nonce, o, p in zip(range(first_index + start, first_index + start + k), nonces,
                                            range(base + NONCE_SIZE, base + k * rs, rs),
                                            range(start * bs, (start + k) * bs, bs)):
                    # A never-written record is all zeros; a written one starts with a random nonce, whose
                    # first byte is zero once in 256: only then is the record compared.
                    if not nonce[0] and src[o - NONCE_SIZE : o + body] == _ZERO_RECORD:
                        sparse.append(idx)
                        if not zeroed:
                            dst[p : p + bs] = _ZERO_BLOCK
                        continue
                    pack(aad, at, idx)
                    try:
                        decrypt_into(nonce, src[o : o + body], aad, dst[p : p + bs])
                    except InvalidTag:
                        raise CryptoError(
                            f"block {idx} failed its integrity check: the encrypted data was altered, "
                            "moved, or belongs to another disk or key",
                            inner_code="InvalidCiphertext",
                        ) from None
        return frozenset(sparse)


# ----------------------------------------------------------------------------------- double encryption


def new_xts_key() -> bytes:
    """64 random bytes for AES-256-XTS, with two different halves (equal halves are refused by OpenSSL)."""
    while True:
        key = os.urandom(XTS_KEY_SIZE)
        if key[:32] != key[32:]:
            return key


class XtsLayer:
    """AES-256-XTS per ``BLOCK_SIZE`` sector; tweak = sector number, 16 bytes little-endian.

    Length-preserving and unauthenticated by design (the inner platform layer); integrity comes from the
    outer :class:`BlockCipher`.
    """

    __slots__ = ("_algorithm",)

    def __init__(self, key64: bytes) -> None:
        if len(key64) != XTS_KEY_SIZE:
            # A 32-byte key would silently give AES-128-XTS.
            raise BadRequest(f"the XTS key must be {XTS_KEY_SIZE} bytes (AES-256-XTS), not {len(key64)}")
        if key64[:32] == key64[32:]:
            raise BadRequest("the two halves of the XTS key must differ")
        self._algorithm = algorithms.AES(bytes(key64))

    def __repr__(self) -> str:
        return "XtsLayer(<key hidden>)"

    def _run(self, first_index: int, data: bytes, decrypt: bool, skip=frozenset()) -> bytes:
        size = len(data)
        if size % BLOCK_SIZE:
            raise BadRequest(f"data length {size} is not a multiple of the sector size {BLOCK_SIZE}")
        count = size // BLOCK_SIZE
        _check_index(first_index, count)
        src = memoryview(data).cast("B")
        algorithm = self._algorithm
        parts = []
        idx = first_index
        p = 0
        for _ in range(count):
            if idx in skip:
                parts.append(src[p : p + BLOCK_SIZE])
            else:
                cipher = Cipher(algorithm, modes.XTS(idx.to_bytes(16, "little")))
                ctx = cipher.decryptor() if decrypt else cipher.encryptor()
                parts.append(ctx.update(src[p : p + BLOCK_SIZE]))
                ctx.finalize()
            idx += 1
            p += BLOCK_SIZE
        return b"".join(parts)

    def encrypt_sectors(self, first_index: int, data: bytes) -> bytes:
        return self._run(first_index, data, False)

    def decrypt_sectors(self, first_index: int, data: bytes, skip=frozenset()) -> bytes:
        """Decrypt sectors; sectors whose absolute index is in ``skip`` are passed through unchanged."""
        return self._run(first_index, data, True, skip)


def encrypt_layers(inner: XtsLayer | None, outer: BlockCipher, first_index: int, plaintext: bytes) -> bytes:
    """Double encryption: XTS with the platform key (inner, if given), then GCM records with the DEK."""
    if inner is not None:
        plaintext = inner.encrypt_sectors(first_index, plaintext)
    return outer.encrypt_blocks(first_index, plaintext)


def decrypt_layers(inner: XtsLayer | None, outer: BlockCipher, first_index: int, records: bytes) -> bytes:
    """Undo :func:`encrypt_layers`. Never-written (all-zero) records read as zeros through both layers."""
    data, sparse = outer.decrypt_blocks_sparse(first_index, records)
    if inner is None:
        return data
    return inner.decrypt_sectors(first_index, data, sparse)


def encrypt_layers_into(inner: XtsLayer | None, outer: BlockCipher, first_index: int, plaintext, out) -> int:
    """:func:`encrypt_layers` into the writable buffer ``out``; returns the number of bytes written."""
    if inner is not None:
        plaintext = inner.encrypt_sectors(first_index, plaintext)
    return outer.encrypt_into(first_index, plaintext, out)


def decrypt_layers_into(inner: XtsLayer | None, outer: BlockCipher, first_index: int, records, out, *,
                        zeroed: bool = False) -> None:
    """:func:`decrypt_layers` into the writable buffer ``out`` (``zeroed``: as :meth:`BlockCipher.decrypt_into`)."""
    sparse = outer.decrypt_into(first_index, records, out, zeroed=zeroed)
    if inner is not None:
        with memoryview(out) as view, view.cast("B") as dst:
            n = memoryview(records).nbytes // RECORD_SIZE * BLOCK_SIZE
            dst[:n] = inner.decrypt_sectors(first_index, dst[:n], sparse)


def output_buffer(size: int) -> tuple[io.BytesIO, memoryview]:
    """A zero-filled writable buffer of ``size`` bytes and the ``BytesIO`` that turns it into ``bytes`` without
    a copy: write through the view, release it, then call ``getvalue()`` (see :func:`_output_buffer`)."""
    return _output_buffer(size)


# ----------------------------------------------------------------------------------------------- misc


def fingerprint(data: bytes, length: int = 8) -> str:
    """A short SHA-256 hex prefix (default 8 characters) to show e.g. "wrapped key 3f2a9c01" in the UI."""
    return hashlib.sha256(bytes(data)).hexdigest()[:length]
