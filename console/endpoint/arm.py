"""Azure Resource Manager for what the engine models, on the wire as ARM sends it: resources with their
``properties`` (the shapes come from engine/views.py, the JSON ``cmklab az`` prints, folded back into
ARM's envelope), ARM's status codes and error envelope, ``api-version`` required on every request, and
long-running operations (power actions, deletions) answered ``202 Accepted`` with an
``Azure-AsyncOperation`` and a ``Location`` that report the outcome, as the SDK pollers expect.

Management is the home's operator's: another principal (a service principal made with ``cmklab endpoint
sp create``) is refused with ``AuthorizationFailed`` here, and reaches keys through the data plane only,
as its access policies and roles allow."""

from __future__ import annotations

import copy
import re
import uuid

from engine import views
from engine.errors import NotFound
from engine.models import ResourceState
from engine.rules import ROLE_IDS

from .server import HttpError, Req, Resp, Router

ROUTER = Router()
SUB = r"/subscriptions/(?P<sub>[0-9a-fA-F-]{36})"
RG = SUB + r"/resourcegroups/(?P<rg>[-\w._()]{1,90})"
N = r"(?P<name>[^/]{1,128})"
TOP = {"id", "name", "type", "location", "tags", "sku", "zones", "identity", "managedBy", "extendedLocation", "plan",
       "resources", "etag", "systemData", "kind", "managedByExtended"}
RENAMES = {"diskSizeGb": "diskSizeGB", "ultraSsdEnabled": "ultraSSDEnabled", "diskIopsReadWrite": "diskIOPSReadWrite",
           "diskMbpsReadWrite": "diskMBpsReadWrite"}
API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview|-beta|-privatepreview)?$")


# ---- shapes ------------------------------------------------------------------------------------------


def _strip(obj):
    """Drop what az adds (``resourceGroup``) and give ARM's wire names to what the SDK renamed (a copy; the
    scalars, most of a view, are taken as they are, without a call each)."""
    if type(obj) is dict:
        return {RENAMES.get(k, k): (_strip(v) if type(v) in _NESTED else v) for k, v in obj.items()
                if k != "resourceGroup"}
    if type(obj) is list:
        return [_strip(x) if type(x) in _NESTED else x for x in obj]
    return obj


_NESTED = (dict, list)


def wire(view: dict) -> dict:
    """A view (az's flattened resource) in ARM's envelope: top-level fields, the rest in ``properties``."""
    if "properties" in view:
        return _strip(view)
    out = {k: v for k, v in view.items() if k in TOP}
    out["properties"] = {k: v for k, v in view.items() if k not in TOP}
    return _strip(out)


def _page(items: list) -> dict:
    return {"value": items}


# ---- common checks -----------------------------------------------------------------------------------


def _check(ep, req: Req, sub: str | None = None, *, write: bool = False) -> None:
    version = req.query.get("api-version")
    if not version:
        raise HttpError(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is "
                        "required for all requests.")
    if not API_VERSION.match(version):
        raise HttpError(400, "InvalidApiVersionParameter", f"The api-version '{version}' is invalid. The supported "
                        "versions are dates such as '2024-03-02' (optionally '-preview').")
    if sub is not None and sub.lower() != ep.engine.meta.subscription_id.lower():
        raise HttpError(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
    if not req.operator:
        raise HttpError(403, "AuthorizationFailed", f"The client with object id '{req.principal}' does not have "
                        f"authorization to perform action over scope '{req.path}' or the scope is invalid. In "
                        "cmklab, management is the home operator's; a service principal uses Key Vault's data "
                        "plane as its access policies and roles allow.")


def _body(req: Req) -> dict:
    if req.body is None:
        return {}
    if not isinstance(req.body, dict):
        raise HttpError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return req.body


def _props(req: Req) -> dict:
    p = _body(req).get("properties") or {}
    if not isinstance(p, dict):
        raise HttpError(400, "InvalidRequestContent", "properties must be a JSON object.")
    return p


def _group(ep, rg: str):
    try:
        return ep.engine.get_group(rg)
    except NotFound:
        raise HttpError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.") from None


def _not_found(kind: str, name: str, rg: str):
    return HttpError(404, "ResourceNotFound", f"The Resource '{kind}/{name}' under resource group '{rg}' was not "
                     "found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")


def _async(ep, req: Req, location: str, result: dict | None = None, status: int = 202) -> Resp:
    """A long-running operation, done by the time it is answered: 202 with the headers the pollers follow."""
    op = str(uuid.uuid4())
    ep.operations[op] = {"result": result}
    sub = ep.engine.meta.subscription_id
    version = req.query.get("api-version")
    base = f"https://management.azure.com/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}"
    return Resp(status, None, {"Azure-AsyncOperation": f"{base}/operations/{op}?api-version={version}",
                               "Location": f"{base}/operations/{op}?monitor=true&api-version={version}",
                               "Retry-After": "0"})


@ROUTER.add("GET", SUB + r"/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)/operations/(?P<op>[0-9a-f-]{36})")
def operation(ep, req: Req, sub: str, loc: str, op: str) -> Resp:
    _check(ep, req, sub)
    found = ep.operations.get(op)
    if found is None:
        raise HttpError(404, "NotFound", f"The operation '{op}' was not found.")
    if req.query.get("monitor") == "true":
        return Resp(200 if found["result"] is not None else 204, found["result"])
    now = ep.engine.now()
    return Resp(200, {"name": op, "status": "Succeeded", "startTime": now, "endTime": now})


# ---- subscriptions, tenants, providers, groups -------------------------------------------------------


def _subscription(ep) -> dict:
    m = ep.engine.meta
    return {"id": f"/subscriptions/{m.subscription_id}", "subscriptionId": m.subscription_id, "tenantId": m.tenant_id,
            "displayName": m.subscription_name, "state": "Enabled", "authorizationSource": "RoleBased",
            "managedByTenants": [], "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01",
                                                             "quotaId": "cmklab", "spendingLimit": "Off"}}


@ROUTER.add("GET", r"/subscriptions")
def subscriptions(ep, req: Req) -> Resp:
    _check(ep, req)
    return Resp(200, _page([_subscription(ep)]))


@ROUTER.add("GET", SUB)
def subscription(ep, req: Req, sub: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, _subscription(ep))


@ROUTER.add("GET", r"/tenants")
def tenants(ep, req: Req) -> Resp:
    _check(ep, req)
    t = ep.engine.meta.tenant_id
    return Resp(200, _page([{"id": f"/tenants/{t}", "tenantId": t, "tenantCategory": "Home", "displayName": "cmklab",
                             "defaultDomain": "cmklab.onmicrosoft.com", "domains": ["cmklab.onmicrosoft.com"]}]))


PROVIDERS = {
    "Microsoft.KeyVault": ["vaults", "deletedVaults", "locations", "locations/deletedVaults", "operations"],
    "Microsoft.Compute": ["disks", "snapshots", "images", "diskEncryptionSets", "virtualMachines",
                          "locations", "locations/operations"],
    "Microsoft.Authorization": ["roleAssignments", "roleDefinitions"],
    "Microsoft.Resources": ["resourceGroups", "subscriptions", "tenants"],
}


def _provider(ep, ns: str) -> dict:
    sub = ep.engine.meta.subscription_id
    return {"id": f"/subscriptions/{sub}/providers/{ns}", "namespace": ns, "registrationState": "Registered",
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": [{"resourceType": t, "locations": ["East US", "West Europe"],
                               "apiVersions": ["2024-03-02", "2023-07-01", "2023-04-02", "2022-07-01"]}
                              for t in PROVIDERS[ns]]}


@ROUTER.add("GET", SUB + r"/providers")
def providers(ep, req: Req, sub: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, _page([_provider(ep, ns) for ns in PROVIDERS]))


@ROUTER.add("GET,POST", SUB + r"/providers/(?P<ns>Microsoft\.(?:KeyVault|Compute|Authorization|Resources))"
            r"(?:/register)?")
def provider(ep, req: Req, sub: str, ns: str) -> Resp:
    _check(ep, req, sub)
    ns = next(n for n in PROVIDERS if n.lower() == ns.lower())
    return Resp(200, _provider(ep, ns))


@ROUTER.add("GET", SUB + r"/resourcegroups")
def groups(ep, req: Req, sub: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, _page([views.group_view(g) for g in ep.engine.list_groups()]))


@ROUTER.add("GET", RG)
def get_group(ep, req: Req, sub: str, rg: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, views.group_view(_group(ep, rg)))


@ROUTER.add("HEAD", RG)
def head_group(ep, req: Req, sub: str, rg: str) -> Resp:
    _check(ep, req, sub)
    return Resp(204 if _exists(ep.engine.get_group, rg) else 404)


def _exists(fn, *args) -> bool:
    try:
        fn(*args)
        return True
    except NotFound:
        return False


@ROUTER.add("PUT", RG)
def put_group(ep, req: Req, sub: str, rg: str) -> Resp:
    _check(ep, req, sub)
    body = _body(req)
    if _exists(ep.engine.get_group, rg):  # a PUT on a group that exists replaces its tags (and keeps its place)
        location = body.get("location") or ep.engine.get_group(rg).location
        return Resp(200, views.group_view(ep.engine.create_group(rg, location, tags=body.get("tags"))))
    if not body.get("location"):
        raise HttpError(400, "LocationRequired", "The location property is required for this definition.")
    return Resp(201, views.group_view(ep.engine.create_group(rg, body["location"], tags=body.get("tags"))))


@ROUTER.add("DELETE", RG)
def delete_group(ep, req: Req, sub: str, rg: str) -> Resp:
    _check(ep, req, sub)
    if not _exists(ep.engine.get_group, rg):
        return Resp(204)
    g = ep.engine.get_group(rg)
    ep.engine.delete_group(rg)
    return _async(ep, req, g.location, None)


# ---- key vaults --------------------------------------------------------------------------------------

KV = RG + r"/providers/Microsoft\.KeyVault/vaults/" + N


def _vault(ep, rg: str, name: str):
    _group(ep, rg)
    v = ep.engine.find_vault(name)
    if v is None or v.state != ResourceState.ACTIVE.value or v.resource_group.lower() != rg.lower():
        raise _not_found("Microsoft.KeyVault/vaults", name, rg)
    return v


@ROUTER.add("GET", KV)
def get_vault(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, wire(views.vault_view(ep.engine, _vault(ep, rg, name))))


def _apply_policies(ep, name: str, wanted: list, existing: list, *, remove: bool = True) -> None:
    have = {p["objectId"].lower(): sorted(k.lower() for k in (p.get("permissions") or {}).get("keys") or [])
            for p in existing}
    for p in wanted:
        oid = (p.get("objectId") or "").lower()
        keys = list((p.get("permissions") or {}).get("keys") or [])
        if have.get(oid) != sorted(k.lower() for k in keys):
            ep.engine.set_policy(name, oid, keys)
    if remove:
        for oid in set(have) - {(p.get("objectId") or "").lower() for p in wanted}:
            ep.engine.delete_policy(name, oid)


@ROUTER.add("PUT", KV)
def put_vault(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    _group(ep, rg)
    body, p = _body(req), _props(req)
    v = ep.engine.find_vault(name)
    if p.get("createMode") == "recover":
        ep.engine.recover_vault(name)
        return Resp(200, wire(views.vault_view(ep.engine, ep.engine.get_vault(name))))
    if v is not None and v.state == ResourceState.ACTIVE.value:
        tags = _put_tags(req, body)
        ep.engine.update_vault(name, enable_purge_protection=p.get("enablePurgeProtection"),
                               retention_days=None,
                               enable_rbac_authorization=p.get("enableRbacAuthorization"),
                               sku=(p.get("sku") or {}).get("name"), tags=tags if tags != v.tags else None)
        if "accessPolicies" in p:
            _apply_policies(ep, name, p.get("accessPolicies") or [], v.access_policies)
        return Resp(200, wire(views.vault_view(ep.engine, ep.engine.get_vault(name))))
    if not body.get("location"):
        raise HttpError(400, "LocationRequired", "The location property is required for this definition.")
    ep.engine.create_vault(name, rg, body["location"], sku=(p.get("sku") or {}).get("name") or "standard",
                           enable_purge_protection=p.get("enablePurgeProtection"),
                           retention_days=p.get("softDeleteRetentionInDays"),
                           enable_rbac_authorization=bool(p.get("enableRbacAuthorization")), tags=body.get("tags"))
    if p.get("accessPolicies"):
        _apply_policies(ep, name, p["accessPolicies"], ep.engine.get_vault(name).access_policies, remove=False)
    return Resp(200, wire(views.vault_view(ep.engine, ep.engine.get_vault(name))))


@ROUTER.add("PATCH", KV)
def patch_vault(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    v = _vault(ep, rg, name)
    p = _props(req)
    tags = _put_tags(req, _body(req))
    ep.engine.update_vault(name, enable_purge_protection=p.get("enablePurgeProtection"),
                           enable_rbac_authorization=p.get("enableRbacAuthorization"),
                           sku=(p.get("sku") or {}).get("name"), tags=tags if tags != v.tags else None)
    if "accessPolicies" in p:
        _apply_policies(ep, name, p.get("accessPolicies") or [], v.access_policies)
    return Resp(200, wire(views.vault_view(ep.engine, ep.engine.get_vault(name))))


@ROUTER.add("PUT", KV + r"/accessPolicies/(?P<kind>add|replace|remove)")
def vault_policies(ep, req: Req, sub: str, rg: str, name: str, kind: str) -> Resp:
    _check(ep, req, sub)
    v = _vault(ep, rg, name)
    wanted = _props(req).get("accessPolicies") or []
    if kind.lower() == "remove":
        for p in wanted:
            ep.engine.delete_policy(name, p.get("objectId", ""))
    else:
        _apply_policies(ep, name, wanted, v.access_policies, remove=False)
    v = ep.engine.get_vault(name)
    return Resp(200, {"id": f"{v.id}/accessPolicies/{kind}", "type": "Microsoft.KeyVault/vaults/accessPolicies",
                      "properties": {"accessPolicies": wire(views.vault_view(ep.engine, v))["properties"][
                          "accessPolicies"]}})


@ROUTER.add("DELETE", KV)
def delete_vault(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    try:
        _vault(ep, rg, name)
    except HttpError:
        return Resp(204)
    ep.engine.delete_vault(name)
    return Resp(200)


@ROUTER.add("GET", RG + r"/providers/Microsoft\.KeyVault/vaults")
def vaults_in_group(ep, req: Req, sub: str, rg: str) -> Resp:
    _check(ep, req, sub)
    _group(ep, rg)
    return Resp(200, _page([wire(views.vault_view(ep.engine, v)) for v in ep.engine.list_vaults(rg)]))


@ROUTER.add("GET", SUB + r"/providers/Microsoft\.KeyVault/vaults")
def vaults(ep, req: Req, sub: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, _page([wire(views.vault_view(ep.engine, v)) for v in ep.engine.list_vaults()]))


@ROUTER.add("GET", SUB + r"/resources")
def resources(ep, req: Req, sub: str) -> Resp:
    """The generic resource list, which ``VaultsOperations.list`` reads with a resourceType filter."""
    _check(ep, req, sub)
    flt = req.query.get("$filter", "")
    items = []
    if "microsoft.keyvault/vaults" in flt.lower() or not flt:
        items = [_strip(views.vault_list_item(v)) for v in ep.engine.list_vaults()]
    return Resp(200, _page(items))


@ROUTER.add("GET", SUB + r"/providers/Microsoft\.KeyVault/deletedVaults")
def deleted_vaults(ep, req: Req, sub: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, _page([views.deleted_vault_view(v) for v in ep.engine.list_deleted_vaults()]))


DELETED_KV = SUB + r"/providers/Microsoft\.KeyVault/locations/(?P<loc>[^/]+)/deletedVaults/" + N


def _deleted_vault(ep, name: str):
    v = ep.engine.find_vault(name)
    if v is None or v.state != ResourceState.DELETED.value:
        raise HttpError(404, "ResourceNotFound", f"The deleted vault '{name}' was not found.")
    return v


@ROUTER.add("GET", DELETED_KV)
def deleted_vault(ep, req: Req, sub: str, loc: str, name: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, views.deleted_vault_view(_deleted_vault(ep, name)))


@ROUTER.add("POST", DELETED_KV + r"/purge")
def purge_vault(ep, req: Req, sub: str, loc: str, name: str) -> Resp:
    _check(ep, req, sub)
    _deleted_vault(ep, name)
    ep.engine.purge_vault(name)
    return _async(ep, req, loc)


@ROUTER.add("POST", SUB + r"/providers/Microsoft\.KeyVault/checkNameAvailability")
def vault_name_available(ep, req: Req, sub: str) -> Resp:
    _check(ep, req, sub)
    name = str(_body(req).get("name") or "")
    taken = ep.engine.find_vault(name) is not None
    return Resp(200, {"nameAvailable": not taken, "reason": "AlreadyExists" if taken else None,
                      "message": f"The vault name '{name}' is already in use." if taken else None})


# ---- role assignments and definitions ----------------------------------------------------------------

SCOPE = r"(?P<scope>/subscriptions/[^?]*?)"


def _role_definition(ep, role: str, scope: str) -> dict:
    guid = ROLE_IDS[role]
    sub = ep.engine.meta.subscription_id
    from engine.rules import ROLE_PERMISSIONS

    data = sorted(f"Microsoft.KeyVault/vaults/keys/{p}/action" for p in ROLE_PERMISSIONS[role])
    return {"id": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}", "name": guid,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": role, "type": "BuiltInRole", "description": role,
                           "assignableScopes": ["/"], "permissions": [{"actions": [], "notActions": [],
                                                                       "dataActions": data, "notDataActions": []}]}}


@ROUTER.add("GET", SCOPE + r"/providers/Microsoft\.Authorization/roleDefinitions")
def role_definitions(ep, req: Req, scope: str) -> Resp:
    _check(ep, req)
    flt = req.query.get("$filter", "")
    m = re.search(r"roleName\s+eq\s+'([^']*)'", flt, re.I)
    roles = [r for r in ROLE_IDS if m is None or r.lower() == m.group(1).lower()]
    return Resp(200, _page([_role_definition(ep, r, scope) for r in roles]))


@ROUTER.add("GET", SCOPE + r"/providers/Microsoft\.Authorization/roleDefinitions/(?P<guid>[0-9a-fA-F-]{36})")
def role_definition(ep, req: Req, scope: str, guid: str) -> Resp:
    _check(ep, req)
    for role, g in ROLE_IDS.items():
        if g == guid.lower():
            return Resp(200, _role_definition(ep, role, scope))
    raise HttpError(404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{guid}' does not "
                    "exist.")


def _ra(ep, ra) -> dict:
    return wire(views.role_assignment_view(ep.engine, ra))


@ROUTER.add("PUT", SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[0-9a-fA-F-]{36})")
def put_role_assignment(ep, req: Req, scope: str, name: str) -> Resp:
    _check(ep, req)
    p = _props(req)
    rd = str(p.get("roleDefinitionId") or "")
    if not rd or not p.get("principalId"):
        raise HttpError(400, "InvalidRoleAssignmentRequest", "properties.roleDefinitionId and "
                        "properties.principalId are required.")
    existing = _find_ra(ep, name)
    if existing is not None and existing.principal_id == str(p["principalId"]).lower() and \
            ROLE_IDS.get(existing.role) == rd.rsplit("/", 1)[-1].lower():
        return Resp(200, _ra(ep, existing))  # PUT is idempotent
    ra = ep.engine.create_role_assignment(p["principalId"], rd.rsplit("/", 1)[-1], scope, name=name)
    return Resp(201, _ra(ep, ra))


def _role_assignments(ep, scope: str | None = None) -> list:
    return ep.engine.list_role_assignments(scope=scope) if scope else ep.engine.list_role_assignments()


@ROUTER.add("GET", SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments")
def list_role_assignments(ep, req: Req, scope: str) -> Resp:
    _check(ep, req)
    flt = req.query.get("$filter", "")
    m = re.search(r"principalId\s+eq\s+'([^']*)'", flt, re.I)
    out = []
    for ra in ep.engine.list_role_assignments():
        if m and ra.principal_id != m.group(1).lower():
            continue
        s = ra.scope.lower()
        if not (s.startswith(scope.lower()) or scope.lower().startswith(s)):
            continue
        out.append(_ra(ep, ra))
    return Resp(200, _page(out))


def _find_ra(ep, name: str):
    for ra in ep.engine.list_role_assignments():
        if ra.name.lower() == name.lower() or ra.id.lower().endswith("/" + name.lower()):
            return ra
    return None


@ROUTER.add("GET", SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[0-9a-fA-F-]{36})")
def get_role_assignment(ep, req: Req, scope: str, name: str) -> Resp:
    _check(ep, req)
    ra = _find_ra(ep, name)
    if ra is None:
        raise HttpError(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
    return Resp(200, _ra(ep, ra))


@ROUTER.add("DELETE", SCOPE + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[0-9a-fA-F-]{36})")
def delete_role_assignment(ep, req: Req, scope: str, name: str) -> Resp:
    _check(ep, req)
    ra = _find_ra(ep, name)
    if ra is None:
        return Resp(204)
    body = _ra(ep, ra)
    ep.engine.delete_role_assignment(ids=[ra.id])
    return Resp(200, body)


# ---- compute: disks, snapshots, images -----------------------------------------------------------------

CP = RG + r"/providers/Microsoft\.Compute/"
KINDS = {"disks": ("disk", "get_disk", "list_disks", "delete_disk"),
         "snapshots": ("snapshot", "get_snapshot", "list_snapshots", "delete_snapshot"),
         "images": ("image", "get_image", "list_images", "delete_image")}


def _view(ep, table: str, r) -> dict:
    if table == "disks":
        return wire(views.disk_view(ep.engine, r))
    if table == "snapshots":
        return wire(views.snapshot_view(ep.engine, r))
    return wire(views.image_view(ep.engine, r))


def _get(ep, table: str, rg: str, name: str):
    _group(ep, rg)
    try:
        return getattr(ep.engine, KINDS[table][1])(name, rg)
    except NotFound:
        raise _not_found(f"Microsoft.Compute/{table}", name, rg) from None


@ROUTER.add("GET", CP + r"(?P<table>disks|snapshots|images)/" + N)
def get_resource(ep, req: Req, sub: str, rg: str, table: str, name: str) -> Resp:
    _check(ep, req, sub)
    table = table.lower()
    return Resp(200, _view(ep, table, _get(ep, table, rg, name)))


@ROUTER.add("GET", CP + r"(?P<table>disks|snapshots|images)")
def list_resources(ep, req: Req, sub: str, rg: str, table: str) -> Resp:
    _check(ep, req, sub)
    table = table.lower()
    _group(ep, rg)
    return Resp(200, _page([_view(ep, table, r) for r in getattr(ep.engine, KINDS[table][2])(rg)]))


@ROUTER.add("GET", SUB + r"/providers/Microsoft\.Compute/(?P<table>disks|snapshots|images)")
def list_all_resources(ep, req: Req, sub: str, table: str) -> Resp:
    _check(ep, req, sub)
    table = table.lower()
    return Resp(200, _page([_view(ep, table, r) for r in getattr(ep.engine, KINDS[table][2])()]))


DISK_MODELLED = (
    ("creationData", "createOption"), ("creationData", "sourceResourceId"), ("creationData", "sourceUri"),
    ("creationData", "sourceUniqueId"), ("creationData", "imageReference"), ("diskSizeGB",), ("encryption",),
    ("osType",), ("hyperVGeneration",),
    ("diskSizeBytes",), ("diskState",), ("provisioningState",), ("timeCreated",), ("uniqueId",),  # read-only
    ("shareInfo",), ("propertyUpdatesInProgress",), ("lastOwnershipUpdateTime",),
)
"""The paths of a disk's ``properties`` the engine models (or that are read-only: Azure ignores them in a
request); the rest are plain properties, stored in ``Disk.props`` as ``az disk create/update`` store
theirs and shown by GET over the disk's view."""


def _zone(body: dict) -> str | None:
    zones = body.get("zones")
    if zones is None:
        return None
    if not isinstance(zones, list) or len(zones) > 1:
        raise HttpError(400, "InvalidParameter", "zones must be a list of at most one availability zone.")
    return str(zones[0]) if zones else None


def _encryption_args(p: dict) -> dict:
    enc = p.get("encryption") or {}
    return {"encryption_type": enc.get("type"), "disk_encryption_set": enc.get("diskEncryptionSetId")}


@ROUTER.add("PUT", CP + r"(?P<table>disks|snapshots|images)/" + N)
def put_resource(ep, req: Req, sub: str, rg: str, table: str, name: str) -> Resp:
    _check(ep, req, sub)
    table = table.lower()
    _group(ep, rg)
    body, p = _body(req), _props(req)
    exists = _exists(getattr(ep.engine, KINDS[table][1]), name, rg)
    if table == "disks" and exists:
        return patch_disk(ep, req, sub, rg, name, put=True)
    cd = p.get("creationData") or {}
    src = cd.get("sourceResourceId") or cd.get("sourceUri")
    enc = _encryption_args(p)
    sku = (body.get("sku") or {}).get("name")
    if table == "disks":
        r = ep.engine.create_disk(name, rg, size_gb=p.get("diskSizeGB"), sku=sku or "Premium_LRS",
                                  location=body.get("location"), source=src if cd.get("createOption") in (
                                      "Copy", "Restore", "FromImage") else None, os_type=p.get("osType"),
                                  tags=body.get("tags"), zone=_zone(body), props=_plain(p, DISK_MODELLED) or None,
                                  hyper_v_generation=p.get("hyperVGeneration"), **enc)
    elif table == "snapshots":
        r = ep.engine.create_snapshot(name, rg, src if cd.get("createOption") != "Empty" else None,
                                      size_gb=p.get("diskSizeGB"), location=body.get("location"), sku=sku,
                                      tags=body.get("tags"), hyper_v_generation=p.get("hyperVGeneration"), **enc)
    else:
        sp = p.get("storageProfile") or {}
        os_disk = sp.get("osDisk") or {}
        src = ((p.get("sourceVirtualMachine") or {}).get("id") or (os_disk.get("managedDisk") or {}).get("id")
               or (os_disk.get("snapshot") or {}).get("id"))
        if not src:
            raise HttpError(400, "InvalidParameter", "an image needs properties.sourceVirtualMachine.id or "
                            "storageProfile.osDisk.managedDisk.id or .snapshot.id.")
        r = ep.engine.create_image(name, rg, src, location=body.get("location"), os_type=os_disk.get("osType"),
                                   tags=body.get("tags"), hyper_v_generation=p.get("hyperVGeneration"))
    return Resp(200, _view(ep, table, r))


@ROUTER.add("PATCH", CP + r"disks/" + N)
def patch_disk(ep, req: Req, sub: str, rg: str, name: str, put: bool = False) -> Resp:
    """A PATCH merges what it carries; a ``put`` (ARM's PUT on a disk that exists) replaces the tags with its own,
    none when it carries none, as the engine's create does."""
    _check(ep, req, sub)
    d = _get(ep, "disks", rg, name)
    body, p = _body(req), _props(req)
    enc = _encryption_args(p)
    if enc["encryption_type"] == d.encryption_type and (enc["disk_encryption_set"] or "").lower() == (
            d.des_id or "").lower():
        enc = {}
    size = p.get("diskSizeGB")
    plain = _changed(_view(ep, "disks", d)["properties"], _plain(p, DISK_MODELLED))
    tags = (body.get("tags") or {}) if put else body.get("tags") if "tags" in body else None
    ep.engine.update_disk(name, rg, size_gb=size if size not in (None, d.size_gb) else None,
                          sku=(body.get("sku") or {}).get("name") if (body.get("sku") or {}).get("name") != d.sku
                          else None, tags=tags if tags != d.tags else None, props=plain or None, **enc)
    return Resp(200, _view(ep, "disks", ep.engine.get_disk(name, rg)))


@ROUTER.add("DELETE", CP + r"(?P<table>disks|snapshots|images)/" + N)
def delete_resource(ep, req: Req, sub: str, rg: str, table: str, name: str) -> Resp:
    _check(ep, req, sub)
    table = table.lower()
    try:
        r = _get(ep, table, rg, name)
    except HttpError:
        return Resp(204)
    getattr(ep.engine, KINDS[table][3])(name, rg)
    return _async(ep, req, r.location)


# ---- disk encryption sets --------------------------------------------------------------------------------

DES = CP + r"diskEncryptionSets/" + N


def _des(ep, rg: str, name: str):
    _group(ep, rg)
    try:
        return ep.engine.get_des(name, rg)
    except NotFound:
        raise _not_found("Microsoft.Compute/diskEncryptionSets", name, rg) from None


@ROUTER.add("GET", DES)
def get_des(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, wire(views.des_view(_des(ep, rg, name))))


@ROUTER.add("GET", DES + r"/associatedResources")
def des_associated(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    des = _des(ep, rg, name)
    return Resp(200, _page(sorted(r.id for r in ep.engine.des_resources(des))))


@ROUTER.add("GET", CP + r"diskEncryptionSets")
def list_des(ep, req: Req, sub: str, rg: str) -> Resp:
    _check(ep, req, sub)
    _group(ep, rg)
    return Resp(200, _page([wire(views.des_view(d)) for d in ep.engine.list_des(rg)]))


@ROUTER.add("GET", SUB + r"/providers/Microsoft\.Compute/diskEncryptionSets")
def list_all_des(ep, req: Req, sub: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, _page([wire(views.des_view(d)) for d in ep.engine.list_des()]))


@ROUTER.add("PUT,PATCH", DES)
def put_des(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    _group(ep, rg)
    body, p = _body(req), _props(req)
    active = p.get("activeKey") or {}
    key_url = active.get("keyUrl")
    vault_id = (active.get("sourceVault") or {}).get("id")
    rotation = p.get("rotationToLatestKeyVersionEnabled")
    if _exists(ep.engine.get_des, name, rg):
        des = ep.engine.get_des(name, rg)
        changed = key_url is not None and key_url != des.key_url
        ep.engine.update_des(name, rg, key_url=key_url if changed else None,
                             source_vault=vault_id if changed else None,
                             rotation_to_latest=rotation if rotation != des.rotation_to_latest else None,
                             encryption_type=p.get("encryptionType"))
        return Resp(200, wire(views.des_view(ep.engine.get_des(name, rg))))
    if req.method == "PATCH":
        raise _not_found("Microsoft.Compute/diskEncryptionSets", name, rg)
    identity = (body.get("identity") or {}).get("type")
    if identity is not None and identity.lower() not in ("systemassigned", "systemassigned, userassigned"):
        raise HttpError(400, "InvalidParameter", f"identity type {identity!r} is not modelled; cmklab's sets use "
                        "a system-assigned identity (type SystemAssigned).")
    if not key_url:
        raise HttpError(400, "InvalidParameter", "properties.activeKey.keyUrl is required.")
    des = ep.engine.create_des(name, rg, key_url, source_vault=vault_id, location=body.get("location"),
                               encryption_type=p.get("encryptionType") or "EncryptionAtRestWithCustomerKey",
                               rotation_to_latest=bool(rotation), tags=body.get("tags"))
    return Resp(200, wire(views.des_view(des)))


@ROUTER.add("DELETE", DES)
def delete_des(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    try:
        des = _des(ep, rg, name)
    except HttpError:
        return Resp(204)
    ep.engine.delete_des(name, rg)
    return _async(ep, req, des.location)


# ---- virtual machines ----------------------------------------------------------------------------------

VM = CP + r"virtualMachines/" + N


def _vm(ep, rg: str, name: str):
    _group(ep, rg)
    try:
        return ep.engine.get_vm(name, rg)
    except NotFound:
        raise _not_found("Microsoft.Compute/virtualMachines", name, rg) from None


def _vm_wire(ep, vm, *, instance_view: bool = False) -> dict:
    out = wire(views.vm_view(ep.engine, vm, instance_view=instance_view))
    return out


@ROUTER.add("GET", VM)
def get_vm(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    expand = req.query.get("$expand", "").lower() == "instanceview"
    return Resp(200, _vm_wire(ep, _vm(ep, rg, name), instance_view=expand))


@ROUTER.add("GET", VM + r"/instanceView")
def vm_instance_view(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, _strip(views.vm_instance_view(ep.engine, _vm(ep, rg, name))))


@ROUTER.add("GET", CP + r"virtualMachines")
def list_vms(ep, req: Req, sub: str, rg: str) -> Resp:
    _check(ep, req, sub)
    _group(ep, rg)
    return Resp(200, _page([_vm_wire(ep, vm) for vm in ep.engine.list_vms(rg)]))


@ROUTER.add("GET", SUB + r"/providers/Microsoft\.Compute/virtualMachines")
def list_all_vms(ep, req: Req, sub: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, _page([_vm_wire(ep, vm) for vm in ep.engine.list_vms()]))


def _image_of(sp: dict) -> str:
    ref = sp.get("imageReference") or {}
    if ref.get("id"):
        return ref["id"]
    parts = [ref.get(k) for k in ("publisher", "offer", "sku", "version")]
    if all(parts):
        return ":".join(parts)
    return "Ubuntu2204"


def _des_of(managed: dict | None) -> str | None:
    return ((managed or {}).get("diskEncryptionSet") or {}).get("id")


VM_MODELLED = (
    ("hardwareProfile", "vmSize"), ("storageProfile", "imageReference"), ("storageProfile", "osDisk"),
    ("storageProfile", "dataDisks"), ("securityProfile", "encryptionAtHost"),
    ("additionalCapabilities", "ultraSSDEnabled"), ("osProfile", "adminUsername"),
    ("osProfile", "adminPassword"), ("osProfile", "customData"),  # secrets: never stored
    ("provisioningState",), ("vmId",), ("timeCreated",), ("instanceView",),  # read-only
)
"""The paths of a VM's ``properties`` the engine models (or must not keep); the rest are plain properties,
stored in ``VirtualMachine.props`` as ``az vm create/update`` store theirs and shown by GET over its view."""


@ROUTER.add("PUT,PATCH", VM)
def put_vm(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    _group(ep, rg)
    body, p = _body(req), _props(req)
    sp = p.get("storageProfile") or {}
    if _exists(ep.engine.get_vm, name, rg):
        return _update_vm(ep, req, rg, name, body, p, sp)
    if req.method == "PATCH":
        raise _not_found("Microsoft.Compute/virtualMachines", name, rg)
    os_disk = sp.get("osDisk") or {}
    empty = [d for d in sp.get("dataDisks") or [] if (d.get("createOption") or "Empty").lower() == "empty"]
    attach = [d for d in sp.get("dataDisks") or [] if (d.get("createOption") or "").lower() == "attach"]
    des_list = [_des_of(d.get("managedDisk")) for d in empty]
    skus = [(os_disk.get("managedDisk") or {}).get("storageAccountType")] + [
        (d.get("managedDisk") or {}).get("storageAccountType") for d in empty]
    ultra = bool((p.get("additionalCapabilities") or {}).get("ultraSSDEnabled"))
    vm = ep.engine.create_vm(
        name, rg, image=_image_of(sp), size=(p.get("hardwareProfile") or {}).get("vmSize") or "Standard_DS3_v2",
        location=body.get("location"), os_disk_name=os_disk.get("name"),
        os_disk_encryption_set=_des_of(os_disk.get("managedDisk")), os_disk_size_gb=os_disk.get("diskSizeGB"),
        data_disk_sizes_gb=[int(d.get("diskSizeGB") or 0) for d in empty] or None,
        data_disk_encryption_sets=des_list if any(des_list) else None,
        storage_sku=[s or "Premium_LRS" for s in skus] if any(skus) else None, ultra_ssd_enabled=ultra,
        encryption_at_host=bool((p.get("securityProfile") or {}).get("encryptionAtHost")),
        admin_username=(p.get("osProfile") or {}).get("adminUsername") or "azureuser", tags=body.get("tags"),
        zone=_zone(body), props=_plain(p, VM_MODELLED) or None)
    for d in attach:
        disk_id = (d.get("managedDisk") or {}).get("id")
        if disk_id:
            vm = ep.engine.attach_disk(name, disk_id, rg, lun=d.get("lun"))
    return Resp(201, _vm_wire(ep, vm))


def _put_tags(req: Req, body: dict) -> dict | None:
    """The tags an update carries: a PATCH's when it has them; a PUT's, none when it has none (ARM's PUT replaces
    what it is not given; az's generic update sends no tags after ``--set tags=null``)."""
    if req.method == "PUT":
        return dict(body.get("tags") or {})
    return dict(body.get("tags") or {}) if "tags" in body else None


def _update_vm(ep, req: Req, rg: str, name: str, body: dict, p: dict, sp: dict) -> Resp:
    """An update through the model: data disks added (attach) or gone (detach), encryption at host, size,
    ultra disks; and the plain properties it changes (stored, shown)."""
    vm = ep.engine.get_vm(name, rg)
    plain = _changed(_vm_wire(ep, vm)["properties"], _plain(p, VM_MODELLED))
    if "dataDisks" in sp:
        current = {e["diskId"].lower(): e["lun"] for e in vm.data_disks}
        wanted = {}
        for d in sp.get("dataDisks") or []:
            did = (d.get("managedDisk") or {}).get("id")
            if did and not d.get("toBeDetached"):
                wanted[did.lower()] = d
            elif (d.get("createOption") or "").lower() == "empty":
                vm = ep.engine.attach_disk(name, d.get("name") or f"{name}_disk{d.get('lun')}", rg, lun=d.get("lun"),
                                           new=True, size_gb=d.get("diskSizeGB"),
                                           sku=(d.get("managedDisk") or {}).get("storageAccountType"),
                                           disk_encryption_set=_des_of(d.get("managedDisk")))
        for did in current:
            if did not in wanted:
                vm = ep.engine.detach_disk(name, did, rg)
        for did, d in wanted.items():
            if did not in current:
                vm = ep.engine.attach_disk(name, did, rg, lun=d.get("lun"))
    changes: dict = {}
    at_host = (p.get("securityProfile") or {}).get("encryptionAtHost")
    if at_host is not None and bool(at_host) != bool(vm.encryption_at_host):
        changes["encryption_at_host"] = bool(at_host)
    size = (p.get("hardwareProfile") or {}).get("vmSize")
    if size and size != vm.size:
        changes["size"] = size
    ultra = (p.get("additionalCapabilities") or {}).get("ultraSSDEnabled")
    if ultra is not None and bool(ultra) != bool(vm.ultra_ssd_enabled):
        changes["ultra_ssd_enabled"] = bool(ultra)
    if plain:
        changes["props"] = plain
    tags = _put_tags(req, body)
    if tags is not None and tags != vm.tags:
        changes["tags"] = tags
    if changes:
        vm = ep.engine.update_vm(name, rg, **changes)
    return Resp(200, _vm_wire(ep, ep.engine.get_vm(name, rg)))


@ROUTER.add("POST", VM + r"/(?P<action>start|powerOff|deallocate|restart)")
def vm_power(ep, req: Req, sub: str, rg: str, name: str, action: str) -> Resp:
    _check(ep, req, sub)
    vm = _vm(ep, rg, name)
    fn = {"start": ep.engine.start_vm, "poweroff": ep.engine.stop_vm, "deallocate": ep.engine.deallocate_vm,
          "restart": ep.engine.restart_vm}[action.lower()]
    fn(name, rg)
    return _async(ep, req, vm.location)


@ROUTER.add("DELETE", VM)
def delete_vm(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    try:
        vm = _vm(ep, rg, name)
    except HttpError:
        return Resp(204)
    ep.engine.delete_vm(name, rg)
    return _async(ep, req, vm.location)


# ---- virtual machine scale sets ------------------------------------------------------------------------

VMSS = CP + r"virtualMachineScaleSets/" + N


def _instances(ep, ss) -> list:
    return sorted(ep.engine.list_vms(ss.resource_group, where=lambda v: v.scale_set == ss.name), key=lambda v: v.name)


def _vmss_wire(ep, ss) -> dict:
    """A scale set on the wire: what ``az vmss show`` prints (its model, its stored plain properties) in ARM's
    envelope (the engine keeps its template and makes its instances as VMs)."""
    return wire(views.vmss_view(ep.engine, ss))


VMSS_MODELLED = (
    ("virtualMachineProfile", "storageProfile", "imageReference"),
    ("virtualMachineProfile", "storageProfile", "dataDisks"),
    ("virtualMachineProfile", "storageProfile", "osDisk", "managedDisk", "diskEncryptionSet"),
    ("virtualMachineProfile", "storageProfile", "osDisk", "diskSizeGB"),
    ("virtualMachineProfile", "securityProfile", "encryptionAtHost"),
    ("virtualMachineProfile", "osProfile", "adminUsername"),
    ("virtualMachineProfile", "osProfile", "adminPassword"),  # a secret: never stored
    ("virtualMachineProfile", "osProfile", "customData"),  # may hold one: not stored either
    ("upgradePolicy", "mode"), ("orchestrationMode",),
    ("provisioningState",), ("timeCreated",), ("uniqueId",),  # read-only: Azure ignores them in a request
)
"""The paths of a scale set's ``properties`` the engine models (or must not keep); the rest are plain
properties, stored in ``ScaleSet.props`` and shown over its view."""


SECRET_KEYS = frozenset({"adminpassword", "customdata", "protectedsettings", "password", "secret", "clientsecret",
                         "privatekey"})
"""Keys (lower case) of a request's properties that are never stored, at any depth (an extension's
``protectedSettings`` inside a list too)."""


def _no_secrets(obj):
    """A copy of ``obj`` without the keys of :data:`SECRET_KEYS`, at any depth."""
    if isinstance(obj, dict):
        return {k: _no_secrets(v) for k, v in obj.items() if not (isinstance(k, str) and k.lower() in SECRET_KEYS)}
    if isinstance(obj, list):
        return [_no_secrets(x) for x in obj]
    return obj


def _plain(props: dict, modelled: tuple) -> dict:
    """``props`` without the ``modelled`` paths and without secrets (:data:`SECRET_KEYS`); objects left empty by
    that are dropped (a null stays: in a PATCH it removes the property)."""
    out = _no_secrets(copy.deepcopy(props))
    for path in modelled:
        node = out
        for k in path[:-1]:
            node = node.get(k)
            if not isinstance(node, dict):
                break
        else:
            node.pop(path[-1], None)

    def prune(d: dict) -> dict:
        kept = {}
        for k, v in d.items():
            if isinstance(v, dict):
                v = prune(v)
                if not v:
                    continue
            kept[k] = v
        return kept

    return prune(out)


_MISSING = object()


def _changed(current: dict, wanted: dict) -> dict:
    """What of ``wanted`` (plain properties of a request) differs from ``current`` (the resource's properties
    as GET shows them): a client that sends back what it read (``az disk update``, ``az vm update``: GET,
    change, PUT) changes only what it changed. A null removes a stored property; one for a property GET
    does not show is nothing to do."""
    out = {}
    for k, v in wanted.items():
        cur = current.get(k, _MISSING) if isinstance(current, dict) else _MISSING
        if isinstance(v, dict) and v and isinstance(cur, dict):
            inner = _changed(cur, v)
            if inner:
                out[k] = inner
        elif v is None and cur in (_MISSING, None):
            continue
        elif v != cur:
            out[k] = v
    return out


def _vmss_plain(body: dict, p: dict) -> dict:
    plain = _plain(p, VMSS_MODELLED)
    if "zones" in body:
        plain["zones"] = body["zones"]
    return plain


def _vmss_data_disks(sp: dict) -> tuple[list, list]:
    disks = sp.get("dataDisks") or []
    if not isinstance(disks, list):
        raise HttpError(400, "InvalidParameter", "storageProfile.dataDisks must be a list.")
    sizes = [d.get("diskSizeGB") for d in disks]
    if any(not isinstance(gb, int) or isinstance(gb, bool) for gb in sizes):
        raise HttpError(400, "InvalidParameter", "Required parameter 'diskSizeGB' is missing (null) or not a "
                        "number in storageProfile.dataDisks (each empty data disk of the model needs its size).")
    sets = [_des_of(d.get("managedDisk")) for d in disks]
    if any(sets) and not all(sets):
        raise HttpError(400, "InvalidParameter", "cmklab encrypts a scale set's data disks with one set each: give "
                        "managedDisk.diskEncryptionSet to every data disk of the model, or to none.")
    return sizes, [x for x in sets if x]


def _vmss(ep, rg: str, name: str):
    _group(ep, rg)
    try:
        return ep.engine.get_scale_set(name, rg)
    except NotFound:
        raise _not_found("Microsoft.Compute/virtualMachineScaleSets", name, rg) from None


@ROUTER.add("GET", VMSS)
def get_vmss(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    return Resp(200, _vmss_wire(ep, _vmss(ep, rg, name)))


@ROUTER.add("GET", CP + r"virtualMachineScaleSets")
def list_vmss(ep, req: Req, sub: str, rg: str) -> Resp:
    _check(ep, req, sub)
    _group(ep, rg)
    return Resp(200, _page([_vmss_wire(ep, s) for s in ep.engine.iter_resources(
        ("scalesets",), where=lambda s: s.resource_group.lower() == rg.lower())]))


@ROUTER.add("GET", SUB + r"/providers/Microsoft\.Compute/virtualMachineScaleSets")
def list_all_vmss(ep, req: Req, sub: str) -> Resp:
    """ARM's list of the subscription's scale sets (the SDK's ``virtual_machine_scale_sets.list_all``)."""
    _check(ep, req, sub)
    return Resp(200, _page([_vmss_wire(ep, s) for s in ep.engine.list_scale_sets()]))


@ROUTER.add("GET", VMSS + r"/virtualMachines")
def vmss_instances(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    ss = _vmss(ep, rg, name)
    out = []
    for vm in _instances(ep, ss):
        w = _vm_wire(ep, vm)
        w["type"] = "Microsoft.Compute/virtualMachineScaleSets/virtualMachines"
        w["instanceId"] = vm.name.rsplit("-", 1)[-1]
        out.append(w)
    return Resp(200, _page(out))


@ROUTER.add("PUT,PATCH", VMSS)
def put_vmss(ep, req: Req, sub: str, rg: str, name: str) -> Resp:
    _check(ep, req, sub)
    _group(ep, rg)
    body, p = _body(req), _props(req)
    profile = p.get("virtualMachineProfile") or {}
    sp = profile.get("storageProfile") or {}
    at_host = (profile.get("securityProfile") or {}).get("encryptionAtHost")
    capacity = (body.get("sku") or {}).get("capacity")
    upgrade_mode = (p.get("upgradePolicy") or {}).get("mode")
    plain = _vmss_plain(body, p)
    if _exists(ep.engine.get_scale_set, name, rg):
        ss = ep.engine.get_scale_set(name, rg)
        changes = {}
        if at_host is not None and bool(at_host) != ss.encryption_at_host:
            changes["encryption_at_host"] = bool(at_host)
        os_des = _des_of((sp.get("osDisk") or {}).get("managedDisk"))
        if os_des and os_des.lower() != (ss.os_disk_encryption_set or "").lower():
            changes["os_disk_encryption_set"] = os_des
        if upgrade_mode is not None and upgrade_mode != ss.upgrade_mode:
            changes["upgrade_mode"] = upgrade_mode
        if "tags" in body and (body.get("tags") or {}) != ss.tags:
            changes["tags"] = body.get("tags") or {}
        if plain:
            changes["props"] = plain
        if changes:
            ep.engine.update_scale_set(name, rg, **changes)
        if capacity is not None and capacity != len(_instances(ep, ss)):
            ep.engine.scale_scale_set(name, capacity, rg)
        return Resp(200, _vmss_wire(ep, ep.engine.get_scale_set(name, rg)))
    if req.method == "PATCH":
        raise _not_found("Microsoft.Compute/virtualMachineScaleSets", name, rg)
    sizes, data_sets = _vmss_data_disks(sp)
    os_disk = sp.get("osDisk") or {}
    ss = ep.engine.create_scale_set(
        name, rg, capacity=2 if capacity is None else capacity,
        size=(body.get("sku") or {}).get("name") or "Standard_DS3_v2", image=_image_of(sp),
        location=body.get("location"), os_disk_encryption_set=_des_of(os_disk.get("managedDisk")),
        os_disk_size_gb=os_disk.get("diskSizeGB"), data_disk_sizes_gb=sizes, data_disk_encryption_sets=data_sets,
        encryption_at_host=bool(at_host), upgrade_mode=upgrade_mode or "Manual",
        orchestration_mode=p.get("orchestrationMode") or "Uniform",  # ARM's default (az's is Flexible)
        admin_username=(profile.get("osProfile") or {}).get("adminUsername") or "azureuser",
        tags=body.get("tags"), props=plain)
    return Resp(201, _vmss_wire(ep, ss))