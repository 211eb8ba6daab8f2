"""Where the engine's randomness comes from, so that a seeded store is reproducible.

Unseeded, everything comes from ``os.urandom`` and OpenSSL. Seeded (``CMKLAB_SEED`` / ``--seed``),
every id, principal id, key version, data key, nonce and even RSA key is drawn from a counter-mode
SHA-256 stream of the seed, so the same commands give the same ids *and* a byte-identical state file
(workshop replays, snapshot tests). The counter is part of the persisted state.

Seeded stores are for tests and workshops, not secrets: anyone with the seed can recompute them.
Seeded RSA keys are generated here (Miller-Rabin on seeded candidates) and seeded wraps use an
RSA-OAEP-SHA256 encoding done here with a seeded OAEP seed; both are standard RSA-OAEP and unwrap
with cryptography's ``OAEP(MGF1(SHA256), SHA256)`` like any other.
"""

from __future__ import annotations

import hashlib
import os


def _small_primes(limit: int = 2000) -> list[int]:
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\x00\x00"
    for i in range(2, int(limit**0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(sieve[i * i::i]))
    return [i for i in range(3, limit) if sieve[i]]


class _Primes:
    """The odd primes below 2,000, computed on first use (only seeded key generation needs them)."""

    _list: list[int] | None = None

    def __iter__(self):
        return iter(self.get())

    def __getitem__(self, item):
        return self.get()[item]

    @classmethod
    def get(cls) -> list[int]:
        if cls._list is None:
            cls._list = _small_primes()
        return cls._list


_SMALL_PRIMES = _Primes()


class Entropy:
    """Random bytes; seeded or not."""

    def __init__(self, seed: int | None = None, counter: int = 0) -> None:
        self.seed = seed
        self.counter = counter

    @property
    def seeded(self) -> bool:
        return self.seed is not None

    def bytes(self, n: int) -> bytes:
        if self.seed is None:
            return os.urandom(n)
        out = bytearray()
        while len(out) < n:
            block = hashlib.sha256(f"cmklab:{self.seed}:{self.counter}".encode()).digest()
            self.counter += 1
            out += block
        return bytes(out[:n])

    def hex(self, nbytes: int) -> str:
        return self.bytes(nbytes).hex()

    def guid(self) -> str:
        h = bytearray(self.bytes(16))
        h[6] = (h[6] & 0x0F) | 0x40
        h[8] = (h[8] & 0x3F) | 0x80
        x = h.hex()
        return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"

    def below(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        nbytes = (n.bit_length() + 7) // 8 + 8
        return int.from_bytes(self.bytes(nbytes), "big") % n


def _probable_prime(n: int, rng: Entropy, rounds: int = 8) -> bool:
    for p in _SMALL_PRIMES:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        a = 2 + rng.below(n - 3)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime(bits: int, rng: Entropy, e: int) -> int:
    while True:
        cand = int.from_bytes(rng.bytes(bits // 8), "big")
        cand |= (1 << (bits - 1)) | (1 << (bits - 2)) | 1  # top two bits set: p*q has exactly 2*bits bits
        # walk a small window of odd numbers before drawing again (cheap sieve)
        for off in range(0, 2000, 2):
            c = cand + off
            if c.bit_length() != bits:
                break
            if any(c % p == 0 for p in _SMALL_PRIMES[:200]):
                continue
            if (c - 1) % e == 0:
                continue
            if _probable_prime(c, rng):
                return c


def seeded_rsa(bits: int, rng: Entropy):
    """An RSA key whose primes come from the seeded stream (deterministic for a given counter)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    e = 65537
    half = bits // 2
    while True:
        p = _prime(half, rng, e)
        q = _prime(bits - half, rng, e)
        if p == q:
            continue
        n = p * q
        if n.bit_length() != bits:
            continue
        phi = (p - 1) * (q - 1)
        d = pow(e, -1, phi)
        if p < q:
            p, q = q, p
        pub = rsa.RSAPublicNumbers(e, n)
        priv = rsa.RSAPrivateNumbers(
            p=p, q=q, d=d, dmp1=d % (p - 1), dmq1=d % (q - 1), iqmp=pow(q, -1, p), public_numbers=pub
        )
        return priv.private_key()


def _mgf1(seed: bytes, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def oaep_sha256_encrypt(public_key, message: bytes, rng: Entropy) -> bytes:
    """RSA-OAEP with SHA-256 and MGF1-SHA256 (RFC 8017, 7.1.1), with the OAEP seed from ``rng``."""
    nums = public_key.public_numbers()
    k = (nums.n.bit_length() + 7) // 8
    hlen = 32
    if len(message) > k - 2 * hlen - 2:
        raise ValueError("message too long for RSA-OAEP")
    lhash = hashlib.sha256(b"").digest()
    db = lhash + b"\x00" * (k - len(message) - 2 * hlen - 2) + b"\x01" + message
    seed = rng.bytes(hlen)
    masked_db = bytes(a ^ b for a, b in zip(db, _mgf1(seed, k - hlen - 1)))
    masked_seed = bytes(a ^ b for a, b in zip(seed, _mgf1(masked_db, hlen)))
    em = b"\x00" + masked_seed + masked_db
    c = pow(int.from_bytes(em, "big"), nums.e, nums.n)
    return c.to_bytes(k, "big")
