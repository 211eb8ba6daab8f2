"""The identity endpoint (login.microsoftonline.com as MSAL and ``az login --service-principal`` use it) and
the access tokens it issues: JWTs signed with HMAC-SHA256 under ``endpoint/token.key``, for one audience
(ARM or Key Vault), valid one hour of wall-clock time, naming the principal (``oid``) that every request
made with them is authorised as."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

ARM_AUDIENCES = ("https://management.azure.com/", "https://management.azure.com", "https://management.core.windows.net/",
                 "https://management.core.windows.net")
VAULT_AUDIENCES = ("https://vault.azure.net", "https://vault.azure.net/")
GRAPH_AUDIENCES = ("https://graph.microsoft.com", "https://graph.microsoft.com/", "00000003-0000-0000-c000-000000000000")
LIFETIME = 3600


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, *, tenant: str, client_id: str, object_id: str, audience: str, now: float | None = None) -> str:
    now = int(now if now is not None else time.time())
    header = {"alg": "HS256", "typ": "JWT", "kid": "cmklab"}
    claims = {"aud": audience, "iss": f"https://sts.windows.net/{tenant}/", "iat": now, "nbf": now,
              "exp": now + LIFETIME, "appid": client_id, "azp": client_id, "idtyp": "app", "oid": object_id,
              "sub": object_id, "tid": tenant, "ver": "1.0"}
    signing = f"{_b64(json.dumps(header, separators=(',', ':')).encode())}." \
              f"{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    sig = hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(sig)}"


class InvalidToken(Exception):
    """Why a token is refused (the message is what the 401 says)."""


def verify(key: bytes, token: str, audiences: tuple[str, ...], *, now: float | None = None) -> dict:
    """The claims of a token signed under ``key``, unexpired, for one of ``audiences``; else InvalidToken."""
    return check(signed_claims(key, token), audiences, now=now)


def signed_claims(key: bytes, token: str) -> dict:
    """The claims of a token whose signature holds under ``key`` (expiry and audience not checked yet: a
    server may keep the answer for the token's lifetime and :func:`check` it at each request)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("The access token is not a JWT.")
    try:
        sig = _unb64(parts[2])
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, TypeError):
        raise InvalidToken("The access token is malformed.") from None
    good = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, good):
        raise InvalidToken("The access token has an invalid signature.")
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise InvalidToken("The access token expiry UTC time is earlier than current UTC time.")
    return claims


def check(claims: dict, audiences: tuple[str, ...], *, now: float | None = None) -> dict:
    """``claims`` (of a token whose signature holds) if unexpired and for one of ``audiences``."""
    now = now if now is not None else time.time()
    if claims["exp"] <= now:
        raise InvalidToken("The access token expiry UTC time is earlier than current UTC time.")
    if claims.get("aud") not in audiences:
        raise InvalidToken(f"The access token has been obtained for wrong audience or resource "
                           f"'{claims.get('aud')}'. It should exactly match with one of the allowed audiences "
                           f"{', '.join(repr(a) for a in audiences)}.")
    return claims


def audience_of(scope: str) -> str | None:
    """The audience of a token requested for ``scope`` (``https://vault.azure.net/.default`` ...)."""
    for s in scope.split():
        base = s[: -len("/.default")] if s.endswith("/.default") else s
        if base.rstrip("/") in ("https://management.azure.com", "https://management.core.windows.net"):
            return base if base.endswith("/") else base + "/"
        if base.rstrip("/") == "https://vault.azure.net":
            return "https://vault.azure.net"
        if base.rstrip("/") == "https://graph.microsoft.com":
            return "https://graph.microsoft.com"
    return None


def openid_configuration(tenant: str) -> dict:
    base = f"https://login.microsoftonline.com/{tenant}"
    return {
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "issuer": f"{base}/v2.0",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }


def instance_discovery() -> dict:
    aliases = ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"]
    return {"tenant_discovery_endpoint":
            "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net",
                          "aliases": aliases}]}


def aad_error(error: str, code: int, description: str) -> dict:
    return {"error": error, "error_description": f"AADSTS{code}: {description}", "error_codes": [code],
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()), "trace_id": "", "correlation_id": ""}
