"""Key Vault's data plane for keys (a vault's ``/keys/...`` URLs, ``engine.ids.key_id``), as azure-keyvault-keys and
``az keyvault key`` call it: JSON Web Keys with base64url numbers, attributes in Unix seconds, Key Vault's
error codes. Every request is made as the token's principal: a principal other than the home's operator
needs the key permission (access policy or RBAC role, KV7) for what it asks, and every key operation is
audited under it (KV8)."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

from engine import views
from engine.clock import parse_iso
from engine.errors import BadRequest, Forbidden, NotFound
from engine.ids import deleted_key_id, key_id
from engine.models import ResourceState

from .server import HttpError, Req, Resp, Router

ROUTER = Router()
NAME = r"(?P<name>[0-9a-zA-Z-]{1,127})"
VER = r"(?:/(?P<version>[0-9a-fA-F]{32})?)?"
OPS = {"wrapkey": "wrapKey", "unwrapkey": "unwrapKey", "encrypt": "encrypt", "decrypt": "decrypt", "sign": "sign",
       "verify": "verify"}


def _unix(text: str | None) -> int | None:
    when = parse_iso(text) if text else None
    return int(when.timestamp()) if when is not None else None


def _iso(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise BadRequest(f"attribute time {value!r} is not valid; Key Vault takes Unix seconds (an integer)",
                         code="BadParameter")
    return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text, what: str) -> bytes:
    if not isinstance(text, str):
        raise BadRequest(f"{what} must be a base64url string", code="BadParameter")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise BadRequest(f"{what} is not valid base64url", code="BadParameter") from None


def _vault_name(req: Req) -> str:
    return req.host.split(".", 1)[0]


def _api_version(req: Req) -> None:
    if not req.query.get("api-version"):
        raise HttpError(400, "BadParameter", "The api-version query parameter is missing; Key Vault needs one "
                        "(for example api-version=7.5).")


def _body(req: Req) -> dict:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise HttpError(400, "BadParameter", "The request body must be a JSON object.")
    return req.body


AUDITED = {"get": "KeyGet", "create": "KeyCreate", "import": "KeyImport", "list": "KeyList", "update": "KeyUpdate",
           "delete": "KeyDelete", "recover": "KeyRecover", "purge": "KeyPurge", "rotate": "KeyRotate",
           "getrotationpolicy": "KeyRotationPolicyGet", "setrotationpolicy": "KeyRotationPolicyUpdate"}


def _authorise(ep, req: Req, perm: str, name: str | None = None) -> None:
    """The operator may do anything (as ``cmklab az``); another principal needs ``perm`` on the vault, and a
    refusal is audited under it (KV8)."""
    vault = ep.engine.get_vault(_vault_name(req))
    if req.operator or ep.engine.has_permission(vault, req.principal, perm):
        return
    model = "RBAC" if vault.enable_rbac_authorization else "access policy"
    err = Forbidden(f"The user, group or application 'oid={req.principal}' does not have keys {perm} permission "
                    f"on key vault '{vault.name};location={vault.location}' ({model}).",
                    inner_code="ForbiddenByRbac" if vault.enable_rbac_authorization else "ForbiddenByPolicy")
    ep.engine.audit_refusal(vault.name, req.principal, AUDITED[perm], key_id(vault.name, name) if name else None, err)
    raise err


def attributes(engine, key, ver: dict) -> dict:
    a = views.key_attributes(engine, key, ver)
    return {"enabled": a["enabled"], "nbf": _unix(a["notBefore"]), "exp": _unix(a["expires"]),
            "created": _unix(a["created"]), "updated": _unix(a["updated"]), "recoveryLevel": a["recoveryLevel"],
            "recoverableDays": a["recoverableDays"], "exportable": False}


def _clean(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


def bundle(engine, key, ver: dict | None = None) -> dict:
    ver = ver if ver is not None else key.current
    out = {"key": {"kid": key_id(key.vault, key.name, ver["version"]), "kty": key.kty, "key_ops": list(key.key_ops),
                   "n": ver["n"], "e": ver["e"]},
           "attributes": _clean(attributes(engine, key, ver))}
    if key.tags:
        out["tags"] = dict(key.tags)
    return out


def item(engine, key, ver: dict | None = None, *, versioned: bool = False) -> dict:
    ver = ver if ver is not None else key.current
    out = {"kid": key_id(key.vault, key.name, ver["version"] if versioned else None),
           "attributes": _clean(attributes(engine, key, ver))}
    if key.tags:
        out["tags"] = dict(key.tags)
    return out


def _deleted(key) -> dict:
    return {"recoveryId": deleted_key_id(key.vault, key.name),
            "deletedDate": _unix(key.deleted_date), "scheduledPurgeDate": _unix(key.scheduled_purge_date)}


def _key_args(body: dict) -> dict:
    attrs = body.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise BadRequest("attributes must be a JSON object", code="BadParameter")
    out = {"ops": body.get("key_ops"), "exp": _iso(attrs.get("exp")), "nbf": _iso(attrs.get("nbf")),
           "tags": body.get("tags")}
    if attrs.get("enabled") is not None:
        out["enabled"] = bool(attrs["enabled"])
    return out


@ROUTER.add("POST", r"/keys/" + NAME + r"/create")
def create_key(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "create", name)
    body = _body(req)
    kty = body.get("kty")
    if not kty:
        raise HttpError(400, "BadParameter", "Property kty is required; cmklab makes RSA and RSA-HSM keys.")
    args = _key_args(body)
    key, ver = ep.engine.create_key(_vault_name(req), name, kty=kty, size=body.get("key_size"), **args)
    return Resp(200, bundle(ep.engine, key, ver))


def _jwk_pem(jwk: dict) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def num(field: str) -> int:
        if field not in jwk:
            raise BadRequest(f"the JSON web key has no {field!r}: import needs an RSA private key (n, e, d, p, q, "
                             "dp, dq, qi)", code="BadParameter")
        return int.from_bytes(_unb64url(jwk[field], f"key.{field}"), "big")

    try:
        priv = rsa.RSAPrivateNumbers(num("p"), num("q"), num("d"), num("dp"), num("dq"), num("qi"),
                                     rsa.RSAPublicNumbers(num("e"), num("n"))).private_key()
    except ValueError as err:
        raise BadRequest(f"the JSON web key is not a valid RSA private key: {err}", code="BadParameter") from None
    return priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())


@ROUTER.add("PUT", r"/keys/" + NAME)
def import_key(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "import", name)
    body = _body(req)
    jwk = body.get("key")
    if not isinstance(jwk, dict):
        raise HttpError(400, "BadParameter", "Property key (a JSON web key) is required to import a key.")
    kty = "RSA-HSM" if body.get("Hsm") or body.get("hsm") else (jwk.get("kty") or "RSA")
    args = _key_args(body)
    if args["ops"] is None and jwk.get("key_ops"):
        args["ops"] = jwk["key_ops"]
    key, ver = ep.engine.import_key(_vault_name(req), name, _jwk_pem(jwk), kty=kty, **args)
    return Resp(200, bundle(ep.engine, key, ver))


@ROUTER.add("GET", r"/keys")
def list_keys(ep, req: Req) -> Resp:
    _api_version(req)
    _authorise(ep, req, "list")
    return Resp(200, {"value": [item(ep.engine, k) for k in ep.engine.list_keys(_vault_name(req))], "nextLink": None})


@ROUTER.add("GET", r"/keys/" + NAME + r"/versions")
def list_versions(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "list", name)
    key, _ = ep.engine.get_key(_vault_name(req), name, audit=False)
    return Resp(200, {"value": [item(ep.engine, key, v, versioned=True) for v in key.versions], "nextLink": None})


@ROUTER.add("GET", r"/keys/" + NAME + r"/rotationpolicy")
def get_policy(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "getrotationpolicy", name)
    return Resp(200, _policy(ep.engine.get_rotation_policy(_vault_name(req), name)))


@ROUTER.add("PUT", r"/keys/" + NAME + r"/rotationpolicy")
def set_policy(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "setrotationpolicy", name)
    body = _body(req)
    policy = {"lifetimeActions": body.get("lifetimeActions") or [],
              "attributes": {"expiryTime": (body.get("attributes") or {}).get("expiryTime")}}
    return Resp(200, _policy(ep.engine.set_rotation_policy(_vault_name(req), name, policy)))


def _policy(p: dict) -> dict:
    attrs = p.get("attributes") or {}
    return {"id": p.get("id"), "lifetimeActions": p.get("lifetimeActions") or [],
            "attributes": _clean({"expiryTime": attrs.get("expiryTime"), "created": _unix(attrs.get("created")),
                                  "updated": _unix(attrs.get("updated"))})}


@ROUTER.add("POST", r"/keys/" + NAME + r"/rotate")
def rotate(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "rotate", name)
    key, ver = ep.engine.rotate_key(_vault_name(req), name)
    return Resp(200, bundle(ep.engine, key, ver))


@ROUTER.add("GET", r"/keys/" + NAME + VER)
def get_key(ep, req: Req, name: str, version: str | None = None) -> Resp:
    _api_version(req)
    _authorise(ep, req, "get", name)
    key, ver = ep.engine.get_key(_vault_name(req), name, version or None)
    return Resp(200, bundle(ep.engine, key, ver))


@ROUTER.add("PATCH", r"/keys/" + NAME + VER)
def update_key(ep, req: Req, name: str, version: str | None = None) -> Resp:
    _api_version(req)
    _authorise(ep, req, "update", name)
    args = _key_args(_body(req))
    key, ver = ep.engine.set_key_attributes(_vault_name(req), name, version or None, **args)
    return Resp(200, bundle(ep.engine, key, ver))


@ROUTER.add("DELETE", r"/keys/" + NAME)
def delete_key(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "delete", name)
    key = ep.engine.delete_key(_vault_name(req), name)
    return Resp(200, bundle(ep.engine, key) | _deleted(key))


def _deleted_key(ep, req: Req, name: str):
    key = ep.engine.find_key(_vault_name(req), name)
    ep.engine.get_vault(_vault_name(req))
    if key is None or key.state != ResourceState.DELETED.value:
        raise NotFound(f"Deleted Key not found: {name}", code="KeyNotFound")
    return key


@ROUTER.add("GET", r"/deletedkeys")
def list_deleted(ep, req: Req) -> Resp:
    _api_version(req)
    _authorise(ep, req, "list")
    return Resp(200, {"value": [item(ep.engine, k) | _deleted(k) for k in ep.engine.list_deleted_keys(
        _vault_name(req))], "nextLink": None})


@ROUTER.add("GET", r"/deletedkeys/" + NAME)
def get_deleted(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "get", name)
    key = _deleted_key(ep, req, name)
    return Resp(200, bundle(ep.engine, key) | _deleted(key))


@ROUTER.add("POST", r"/deletedkeys/" + NAME + r"/recover")
def recover(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "recover", name)
    key = ep.engine.recover_key(_vault_name(req), name)
    return Resp(200, bundle(ep.engine, key))


@ROUTER.add("DELETE", r"/deletedkeys/" + NAME)
def purge(ep, req: Req, name: str) -> Resp:
    _api_version(req)
    _authorise(ep, req, "purge", name)
    _deleted_key(ep, req, name)
    ep.engine.purge_key(_vault_name(req), name)
    return Resp(204)


@ROUTER.add("POST", r"/keys/" + NAME + VER + r"/(?P<op>wrapkey|unwrapkey|encrypt|decrypt|sign|verify)")
def key_operation(ep, req: Req, name: str, op: str, version: str | None = None) -> Resp:
    _api_version(req)
    body = _body(req)
    alg = body.get("alg")
    if not alg:
        raise HttpError(400, "BadParameter", "Property alg is required.")
    op = OPS[op.lower()]
    value = _unb64url(body.get("value"), "value")
    sig = _unb64url(body.get("digest"), "digest") if op == "verify" else None
    if op == "verify":  # verify sends the digest in "digest" and the signature in "value"
        value, sig = sig, value
    kid = key_id(_vault_name(req), name, version or None)
    principal = None if req.operator else req.principal
    full, result = ep.engine.key_operation(principal, kid, op, value, alg=alg, signature=sig)
    if op == "verify":
        return Resp(200, {"value": bool(result)})
    return Resp(200, {"kid": full, "value": _b64url(result)} | ({"alg": alg} if op in ("encrypt", "wrapKey") else {}))
