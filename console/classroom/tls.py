"""TLS for the classroom: a certificate and key given by the trainer, or a self-signed one made here.

A self-signed certificate (``--tls-self-signed``) is made once per classroom directory, in ``tls/``
(the key 0600), for the names and addresses trainees will type: localhost, 127.0.0.1, ::1, this
machine's name, ``--host`` and every ``--allow-host``. Browsers warn about it until it is accepted;
the printed SHA-256 fingerprint lets a trainee check that the certificate is this server's.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from .room import ClassroomError, _write_private


def self_signed(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """``tls/cert.pem`` and ``tls/key.pem`` in ``directory``, made now when they are missing (an existing
    pair is reused, so the trainees' browsers accept it once)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tls = directory / "tls"
    cert_path, key_path = tls / "cert.pem", tls / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    tls.mkdir(mode=0o700, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list = []
    seen = set()
    for n in ["localhost", "127.0.0.1", "::1", socket.gethostname(), *names]:
        n = n.strip().strip("[]").lower()
        if not n or n in seen or n in ("0.0.0.0", "::"):
            continue
        seen.add(n)
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cmklab classroom")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(cert_path, 0o644)
    return cert_path, key_path


def fingerprint(cert_path: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server context (TLS 1.2 or newer) on ``cert`` and ``key``; a clear error naming the file."""
    for what, p in (("certificate", cert), ("key", key)):
        if not Path(p).is_file():
            raise ClassroomError(f"the TLS {what} {p} does not exist", code="ResourceNotFound")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError, ValueError) as e:
        raise ClassroomError(f"the TLS certificate {cert} and key {key} cannot be used together: {e}") from None
    return ctx
