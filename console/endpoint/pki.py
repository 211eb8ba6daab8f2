"""What the endpoint keeps in the home, under ``endpoint/`` (0700, every file 0600 where it holds a secret):

- ``ca.pem`` / ``ca.key``: a certificate authority made for this home, name-constrained to the hosts the
  endpoint serves (a client that trusts it trusts nothing else it might sign);
- ``tls.pem`` / ``tls.key``: the server certificate for those hosts, signed by that CA;
- ``token.key``: the key that signs the access tokens the identity endpoint issues (HMAC-SHA256);
- ``principals.json``: the service principals clients sign in as (client id, object id, a hash of the
  secret; the home's own operator principal keeps its secret so that ``cmklab endpoint --env`` can print it).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import uuid
from pathlib import Path

SERVED_HOSTS = ("management.azure.com", "login.microsoftonline.com", "graph.microsoft.com")
"""Exact host names the endpoint serves (and ``*.vault.azure.net``); Graph only for the directory look-ups
``az role assignment create`` and ``az keyvault create`` make."""
VAULT_SUFFIX = ".vault.azure.net"
CONSTRAINED = ("management.azure.com", "login.microsoftonline.com", "vault.azure.net", "graph.microsoft.com")


def is_served_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in SERVED_HOSTS or (host.endswith(VAULT_SUFFIX) and host.count(".") == 3
                                    and host[: -len(VAULT_SUFFIX)].replace("-", "").isalnum())


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte (never readable by others)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class EndpointFiles:
    """The endpoint's files in ``home/endpoint``: created on first use, reused afterwards."""

    def __init__(self, home: str | os.PathLike) -> None:
        self.dir = Path(home) / "endpoint"
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.ca_pem = self.dir / "ca.pem"
        self.ca_key = self.dir / "ca.key"
        self.tls_pem = self.dir / "tls.pem"
        self.tls_key = self.dir / "tls.key"
        self.token_key_path = self.dir / "token.key"
        self.principals_path = self.dir / "principals.json"
        if not self.ca_pem.exists() or not self.ca_key.exists():
            self._make_ca()
        if not self.tls_pem.exists() or not self.tls_key.exists():
            self._make_leaf()
        if not self.token_key_path.exists():
            _write_private(self.token_key_path, secrets.token_bytes(32))
        self.token_key = self.token_key_path.read_bytes()

    # ---- certificates ------------------------------------------------------------------------

    def _make_ca(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"cmklab endpoint CA ({self.dir.parent.name})"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cmklab")])
        now = _dt.datetime.now(_dt.timezone.utc)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=True, crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.NameConstraints(
                    permitted_subtrees=[x509.DNSName(h) for h in CONSTRAINED]
                    + [x509.IPAddress(ipaddress.ip_network("127.0.0.1/32"))],
                    excluded_subtrees=None), critical=True)
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256()))
        _write_private(self.ca_key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
        self.ca_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        for stale in (self.tls_pem, self.tls_key):
            stale.unlink(missing_ok=True)

    def _make_leaf(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), None)
        ca = x509.load_pem_x509_certificate(self.ca_pem.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        now = _dt.datetime.now(_dt.timezone.utc)
        names = [x509.DNSName(h) for h in SERVED_HOSTS] + [x509.DNSName("*" + VAULT_SUFFIX),
                                                           x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "management.azure.com")]))
                .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - _dt.timedelta(days=1)).not_valid_after(now + _dt.timedelta(days=397))
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=False, crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        _write_private(self.tls_key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
        self.tls_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def server_ssl_context(self):
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.tls_pem, self.tls_key)
        ctx.set_alpn_protocols(["http/1.1"])
        return ctx

    # ---- principals --------------------------------------------------------------------------

    def principals(self) -> dict:
        if not self.principals_path.exists():
            return {}
        return json.loads(self.principals_path.read_text())

    def _save_principals(self, data: dict) -> None:
        _write_private(self.principals_path, json.dumps(data, indent=1, sort_keys=True).encode())

    def operator_principal(self, object_id: str) -> dict:
        """The home's own operator as a service principal (created once): what ``--env`` prints."""
        data = self.principals()
        for cid, p in data.items():
            if p.get("operator"):
                return {"clientId": cid, **p}
        cid, secret = str(uuid.uuid4()), new_secret()
        data[cid] = {"objectId": object_id, "name": "cmklab-operator", "operator": True, "secret": secret,
                     "secretHash": _hash(secret)}
        self._save_principals(data)
        return {"clientId": cid, **data[cid]}

    def create_principal(self, name: str) -> dict:
        """A new service principal; its secret is returned once and only its hash is kept."""
        data = self.principals()
        cid, oid, secret = str(uuid.uuid4()), str(uuid.uuid4()), new_secret()
        data[cid] = {"objectId": oid, "name": name, "secretHash": _hash(secret)}
        self._save_principals(data)
        return {"appId": cid, "objectId": oid, "displayName": name, "password": secret}

    def check_secret(self, client_id: str, secret: str) -> dict | None | bool:
        """The principal (dict) when the secret is right; False for a wrong secret; None: unknown client."""
        p = self.principals().get(client_id.lower()) or self.principals().get(client_id)
        if p is None:
            return None
        return p if hmac.compare_digest(p["secretHash"], _hash(secret)) else False


def new_secret() -> str:
    """A client secret: 43 characters of URL-safe base64 (256 bits), never beginning with ``-``, which ``az login
    -p SECRET`` would read as an option (one secret in 64 did: the login failed with "expected one argument")."""
    while True:
        secret = secrets.token_urlsafe(32)
        if not secret.startswith("-"):
            return secret


def _hash(secret: str) -> str:
    return hashlib.sha256(b"cmklab-endpoint-secret:" + secret.encode()).hexdigest()
