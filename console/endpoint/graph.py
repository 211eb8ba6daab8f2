"""The little of Microsoft Graph that ``az role assignment create --assignee OBJECT_ID`` reads: what kind of
directory object an id is. The directory holds the home's operator, the service principals made with
``cmklab endpoint sp create``, and the system-assigned identities of the disk encryption sets."""

from __future__ import annotations

from .server import HttpError, Req, Resp, Router

ROUTER = Router()
GUID = r"(?P<oid>[0-9a-fA-F-]{36})"


def _directory(ep) -> dict:
    out = {}
    for des in ep.engine.list_des():
        out[des.principal_id.lower()] = {"displayName": des.name, "appId": des.principal_id,
                                         "servicePrincipalType": "ManagedIdentity"}
    for cid, p in ep.files.principals().items():
        out[p["objectId"].lower()] = {"displayName": p.get("name"), "appId": cid,
                                      "servicePrincipalType": "Application"}
    return out


def _object(oid: str, entry: dict) -> dict:
    return {"@odata.type": "#microsoft.graph.servicePrincipal", "id": oid, "appId": entry["appId"],
            "displayName": entry["displayName"], "servicePrincipalType": entry["servicePrincipalType"],
            "servicePrincipalNames": [entry["appId"]], "accountEnabled": True}


@ROUTER.add("POST", r"/v1\.0/directoryObjects/getByIds")
def get_by_ids(ep, req: Req) -> Resp:
    ids = (req.body or {}).get("ids") if isinstance(req.body, dict) else None
    if not isinstance(ids, list):
        raise HttpError(400, "Request_BadRequest", "ids (a list of object ids) is required.")
    known = _directory(ep)
    return Resp(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects",
                      "value": [_object(i.lower(), known[i.lower()]) for i in ids if i.lower() in known]})


@ROUTER.add("GET", r"/v1\.0/(?:servicePrincipals|directoryObjects)/" + GUID)
def get_object(ep, req: Req, oid: str) -> Resp:
    entry = _directory(ep).get(oid.lower())
    if entry is None:
        raise HttpError(404, "Request_ResourceNotFound", f"Resource '{oid}' does not exist or one of its queried "
                        "reference-property objects are not present.")
    return Resp(200, _object(oid.lower(), entry))


@ROUTER.add("GET", r"/v1\.0/servicePrincipals")
def find_service_principals(ep, req: Req) -> Resp:
    """``$filter=servicePrincipalNames/any(c:c eq 'APP_ID')`` or ``appId eq 'APP_ID'``: how az finds the
    object id of the service principal it is signed in as."""
    import re

    m = re.search(r"(?:any\(c:c eq|appId eq)\s*'([^']*)'", req.query.get("$filter", ""))
    wanted = m.group(1).lower() if m else None
    return Resp(200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals",
                      "value": [_object(oid, e) for oid, e in _directory(ep).items()
                                if wanted is None or e["appId"].lower() == wanted]})
