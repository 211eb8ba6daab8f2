"""Key vaults: soft delete, purge protection, access policies and RBAC (KV1, KV6, KV7)."""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from typing import Callable, Iterable

from .actions import action
from . import events as ev
from .clock import iso
from .common import check_region, checked_tags, merge_props  # noqa: F401 (check_region re-exported)
from .core import EngineCore
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .ids import arm_id, check_name, parse_arm_id, rg_id
from .models import ResourceGroup, ResourceState, RoleAssignment, Vault
from .rules import (CRYPTO_SERVICE_ROLE, KEY_PERMISSIONS, RETENTION_DEFAULT, RETENTION_MAX,
                    RETENTION_MIN, ROLE_IDS, ROLE_PERMISSIONS)

_PERM_CANON = {p.lower(): p for p in KEY_PERMISSIONS}


def canonical_permissions(perms: Iterable[str]) -> list[str]:
    """Azure's spelling of key permissions, accepted in any case; unknown ones are refused."""
    out: list[str] = []
    for p in perms:
        for part in str(p).replace(",", " ").split():
            canon = _PERM_CANON.get(part.lower())
            if canon is None:
                raise BadRequest(f"key permission {part!r} is not valid; allowed: {', '.join(KEY_PERMISSIONS)}",
                                 code="InvalidParameter")
            if canon not in out:
                out.append(canon)
    return out


OTHER_PERMISSIONS = {
    "secrets": ("all", "get", "list", "set", "delete", "backup", "restore", "recover", "purge"),
    "certificates": ("all", "get", "list", "delete", "create", "import", "update", "managecontacts", "getissuers",
                     "listissuers", "setissuers", "deleteissuers", "manageissuers", "recover", "purge", "backup",
                     "restore"),
    "storage": ("all", "get", "list", "delete", "set", "update", "regeneratekey", "recover", "purge", "backup",
                "restore", "setsas", "listsas", "getsas", "deletesas"),
}
"""Key Vault's other permission kinds of an access policy, as az offers them."""

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

class VaultsBackend(EngineCore):
    # ---- resource groups -------------------------------------------------------------------------

    @action
    def create_group(self, name: str, location: str, tags: dict | None = None) -> ResourceGroup:
        check_name("resource_group", name)
        loc = check_region(location)
        with self.transaction():
            existing = self._find_group(name)
            if existing is not None:
                if existing.location != loc:
                    raise Conflict(f"resource group {name!r} already exists in location {existing.location!r}; "
                                   f"it cannot be created again in {loc!r}", code="InvalidResourceGroupLocation")
                # az group create is ARM's PUT: the group's tags become the ones given, and none given clears
                # them (Azure's documented behaviour); the same tags again change nothing and say nothing
                if dict(tags or {}) != dict(existing.tags or {}):
                    self._touch(existing)
                    existing.tags = checked_tags(tags)
                    self._emit(ev.ResourceChanged, f"resource group {existing.name} tags replaced",
                               resource=existing.id)
                return existing
            group = self._add(ResourceGroup(id=rg_id(self.subscription_id, name), name=name, location=loc,
                                            tags=checked_tags(tags)))
            self._emit(ev.ResourceGroupCreated, f"resource group {name} created in {loc}", group=name)
            return group  # type: ignore[return-value]

    def list_groups(self) -> list[ResourceGroup]:
        return sorted(self.t["groups"].values(), key=lambda g: g.name.lower())  # type: ignore[arg-type]

    def _remove_emptied_group(self, g: ResourceGroup) -> None:
        """The last step of ``delete_group`` (the facade's, which deletes the members first): the role
        assignments at or under the group's scope (extension resources: they go with it), then the group."""
        scope = f"/subscriptions/{self.subscription_id}/resourcegroups/{g.name}".lower()
        for ra in [ra for ra in self.t["roles"].values()
                   if ra.scope.lower() == scope or ra.scope.lower().startswith(scope + "/")]:
            self._remove(ra)
        self._remove(g)
        self._emit(ev.ResourceGroupDeleted, f"resource group {g.name} deleted", group=g.name)

    # ---- vaults ------------------------------------------------------------------------------

    @action
    def create_vault(self, name: str, resource_group: str, location: str | None = None, *, sku: str = "standard",
                     enable_purge_protection: bool | None = None, retention_days: int | None = None,
                     enable_rbac_authorization: bool = False, tags: dict | None = None, props: dict | None = None,
                     self_perms: bool = True) -> Vault:
        """``props``: plain ARM properties stored and shown (``Vault.props``); ``self_perms=False`` is az's
        ``--no-self-perms``: the creator gets no access policy."""
        check_name("vault", name)
        sku = (sku or "standard").lower()
        if sku not in ("standard", "premium"):
            raise BadRequest(f"vault sku {sku!r} is not valid; allowed: standard, premium", code="InvalidParameter")
        _purge_protection_stays_on(enable_purge_protection)
        days = RETENTION_DEFAULT if retention_days is None else retention_days
        if not isinstance(days, int) or isinstance(days, bool) or not RETENTION_MIN <= days <= RETENTION_MAX:
            raise BadRequest(f"soft delete retention of {retention_days!r} days is not valid; allowed: a whole "
                             f"number of days from {RETENTION_MIN} to {RETENTION_MAX}", code="InvalidParameter")
        with self.transaction():
            group = self.get_group(resource_group)
            loc = check_region(location) if location else group.location
            existing = self.t["vaults"].get(name.lower())
            if existing is not None:
                if existing.state == ResourceState.DELETED.value:
                    raise Conflict(f"A vault with the same name {name!r} already exists in deleted state. You need "
                                   "to either recover or purge the existing key vault.", code="ConflictError")
                raise Conflict(f"The vault name {name!r} is already in use. Vault names are globally unique.",
                               code="VaultAlreadyExists")
            vault = Vault(id=arm_id(self.subscription_id, group.name, "vault", name), name=name,
                          resource_group=group.name, location=loc, sku=sku, tenant_id=self.meta.tenant_id,
                          enable_purge_protection=True if enable_purge_protection else None,
                          soft_delete_retention_days=days, enable_rbac_authorization=bool(enable_rbac_authorization),
                          created=self.now(), tags=checked_tags(tags), props=merge_props({}, copy.deepcopy(props)))
            acls = vault.props.setdefault("properties", {}).setdefault("networkAcls", {})
            for k, v in NETWORK_ACLS_DEFAULT.items():  # as az sends them; the service fills in the rule lists
                acls.setdefault(k, copy.deepcopy(v))
            if not vault.enable_rbac_authorization and self_perms:
                # as az 2.91 does: the creator gets an access policy with "all" of keys, secrets, certificates
                # and storage (az's create_vault: Permissions(keys=[all], secrets=[all], ...))
                policy = self._policy(self.operator, ["all"])
                policy["permissions"].update(secrets=["all"], certificates=["all"], storage=["all"])
                vault.access_policies.append(policy)
            self._add(vault)
            self._emit(ev.VaultCreated, f"vault {name} created in {loc}", vault=name)
            return vault

    def _policy(self, object_id: str, keys: list[str]) -> dict:
        return {"tenantId": self.meta.tenant_id, "objectId": object_id,
                "permissions": {"keys": list(keys), "secrets": [], "certificates": [], "storage": []}}

    def _vault(self, name: str, *, include_deleted: bool = False) -> Vault:
        v = self.t["vaults"].get((name or "").lower())
        if v is None or (v.state != ResourceState.ACTIVE.value and not include_deleted):
            raise NotFound(f"The vault {name!r} was not found" + (" (it is deleted; recover it first)" if v else ""),
                           code="ResourceNotFound", inner_code="VaultNotFound")
        return v  # type: ignore[return-value]

    def get_vault(self, name: str) -> Vault:
        return self._vault(name)

    def find_vault(self, name: str | None) -> Vault | None:
        """The vault named ``name`` (case-insensitive), active or deleted, or None: one look-up."""
        return self.t["vaults"].get(name.lower()) if name else None  # type: ignore[return-value]

    def list_vaults(self, resource_group: str | None = None, *, include_deleted: bool = False,
                    where: Callable[[Vault], bool] | None = None) -> list[Vault]:
        """The vaults (active ones, or every one with ``include_deleted``) by name; those ``where`` accepts. A
        resource group that does not exist is ARM's ``ResourceGroupNotFound`` (its list by resource group)."""
        active = None if include_deleted else (lambda v: v.state == ResourceState.ACTIVE.value)
        return self._list_in_group("vaults", resource_group, where, keep=active, key=lambda v: v.name)

    def list_deleted_vaults(self) -> list[Vault]:
        return sorted((v for v in self.t["vaults"].values() if v.state == ResourceState.DELETED.value),
                      key=lambda v: v.name)  # type: ignore[arg-type]

    @action
    def update_vault(self, name: str, *, enable_purge_protection: bool | None = None,
                     retention_days: int | None = None, enable_rbac_authorization: bool | None = None,
                     sku: str | None = None, props: dict | None = None, tags: dict | None = None) -> Vault:
        """``tags`` replace the vault's."""
        with self.transaction() as uow:
            v = self._vault(name)
            _purge_protection_stays_on(enable_purge_protection)
            self._touch(v)
            if tags is not None:
                v.tags = checked_tags(tags)
            if props:
                v.props = merge_props(copy.deepcopy(v.props), copy.deepcopy(props))
            if enable_purge_protection:
                v.enable_purge_protection = True
            if retention_days is not None and retention_days != v.soft_delete_retention_days:
                raise BadRequest(f"the soft delete retention of vault {v.name!r} ({v.soft_delete_retention_days} "
                                 "days) is set at creation and cannot be changed", code="BadRequest")
            if sku is not None:
                sku = sku.lower()
                if sku not in ("standard", "premium"):
                    raise BadRequest(f"vault sku {sku!r} is not valid; allowed: standard, premium",
                                     code="InvalidParameter")
                if sku == "standard" and any(k.kty == "RSA-HSM" for k in self.list_keys(v.name)):
                    raise BadRequest(f"vault {v.name!r} holds HSM keys and cannot move to the standard sku",
                                     code="BadRequest")
                v.sku = sku
            if enable_rbac_authorization is not None and bool(enable_rbac_authorization) != v.enable_rbac_authorization:
                v.enable_rbac_authorization = bool(enable_rbac_authorization)
                uow.reconcile = True  # the permission model changed: access may have been lost or gained
            self._emit(ev.ResourceChanged, f"vault {v.name} updated", resource=v.id)
            return v

    @action
    def delete_vault(self, name: str) -> None:
        with self.transaction() as uow:
            v = self._vault(name)
            self._touch(v)
            v.state = ResourceState.DELETED.value
            v.deleted_date = self.now()
            v.scheduled_purge_date = iso(self.clock.now() + timedelta(days=v.soft_delete_retention_days))
            uow.reconcile = True
            self._emit(ev.VaultDeleted, f"vault {v.name} deleted (recoverable until {v.scheduled_purge_date})",
                       vault=v.name)

    @action
    def recover_vault(self, name: str) -> Vault:
        with self.transaction() as uow:
            v = self.t["vaults"].get(name.lower())
            if v is None or v.state != ResourceState.DELETED.value:
                raise NotFound(f"no deleted vault named {name!r} to recover", code="ResourceNotFound",
                               inner_code="DeletedVaultNotFound")
            self._touch(v)
            v.state = ResourceState.ACTIVE.value
            v.deleted_date = v.scheduled_purge_date = None
            uow.reconcile = True
            self._emit(ev.VaultRecovered, f"vault {v.name} recovered", vault=v.name)
            return v  # type: ignore[return-value]

    @action
    def purge_vault(self, name: str, *, _by_platform: bool = False) -> None:
        with self.transaction() as uow:
            v = self.t["vaults"].get(name.lower())
            if v is None or v.state != ResourceState.DELETED.value:
                raise NotFound(f"no deleted vault named {name!r} to purge (delete it first)",
                               code="ResourceNotFound", inner_code="DeletedVaultNotFound")
            if v.enable_purge_protection and not _by_platform and self.now() < v.scheduled_purge_date:
                raise Forbidden(f"vault {v.name!r} has purge protection: it cannot be purged before its retention "
                                f"period ends at {v.scheduled_purge_date}", inner_code="PurgeProtectionEnabled")
            self._react("vault_purged", v)  # the keys backend destroys the vault's keys
            for r in list(self.t["roles"].values()):
                if r.scope.lower().startswith(v.id.lower()):
                    self._remove(r)
            self._remove(v)
            uow.reconcile = True
            self._emit(ev.VaultPurged, f"vault {v.name} purged: its keys and every data key they wrapped are gone",
                       vault=v.name)

    # ---- access (KV7) -------------------------------------------------------------------------

    @action
    def set_policy(self, vault: str, object_id: str, key_permissions: Iterable[str] | None,
                   other_permissions: dict[str, Iterable[str]] | None = None) -> Vault:
        """Grant ``key_permissions`` (None keeps the policy's key permissions); ``other_permissions`` sets the
        policy's ``secrets``, ``certificates`` or ``storage`` lists as given (az's other permission kinds, stored and
        shown: no secret, certificate or storage account is modelled, so they grant nothing the engine checks)."""
        other = {k: [str(p) for p in v] for k, v in (other_permissions or {}).items() if v is not None}
        unknown = set(other) - set(OTHER_PERMISSIONS)
        if unknown:
            raise BadRequest(f"permission kind(s) {', '.join(sorted(unknown))} are not valid; allowed: "
                             f"{', '.join(OTHER_PERMISSIONS)}", code="InvalidParameter")
        for kind, given in other.items():
            bad = [p for p in given if p.lower() not in {a.lower() for a in OTHER_PERMISSIONS[kind]}]
            if bad:
                raise BadRequest(f"{kind[:-1] if kind != 'storage' else kind} permission {bad[0]!r} is not valid; "
                                 f"allowed: {', '.join(OTHER_PERMISSIONS[kind])}", code="InvalidParameter")
        perms = canonical_permissions(key_permissions) if key_permissions is not None else None
        oid = (object_id or "").strip().lower()
        if not oid:
            raise BadRequest("an object id is required to set an access policy", code="InvalidParameter")
        with self.transaction() as uow:
            v = self._vault(vault)
            if v.enable_rbac_authorization:
                raise BadRequest(f"Cannot set policies to a vault with '--enable-rbac-authorization' specified "
                                 f"({v.name}); assign the role {CRYPTO_SERVICE_ROLE!r} instead",
                                 code="BadRequest")
            self._touch(v)
            for p in v.access_policies:
                if p["objectId"].lower() == oid:
                    if perms is not None:
                        p["permissions"]["keys"] = perms
                    perms = p["permissions"]["keys"]
                    break
            else:
                perms = perms or []
                p = self._policy(oid, perms)
                v.access_policies.append(p)
            for kind, given in other.items():
                p["permissions"][kind] = list(dict.fromkeys(given))
            uow.reconcile = True
            self._emit(ev.AccessGranted, f"access policy of {self.principal_label(oid)} on vault {v.name}: keys "
                       f"{', '.join(perms) or '-'}", vault=v.name, object_id=oid)
            return v

    @action
    def delete_policy(self, vault: str, object_id: str) -> Vault:
        oid = (object_id or "").strip().lower()
        with self.transaction() as uow:
            v = self._vault(vault)
            keep = [p for p in v.access_policies if p["objectId"].lower() != oid]
            if len(keep) == len(v.access_policies):
                raise NotFound(f"vault {v.name!r} has no access policy for object id {object_id!r}",
                               code="ResourceNotFound")
            self._touch(v)
            v.access_policies = keep
            uow.reconcile = True
            self._emit(ev.AccessRevoked, f"access policy of {self.principal_label(oid)} removed from vault {v.name}",
                       vault=v.name,
                       object_id=oid)
            return v

    @action
    def create_role_assignment(self, assignee: str, role: str, scope: str, *, name: str | None = None) -> RoleAssignment:
        """Assign ``role`` to ``assignee`` at ``scope``; ``name`` is the assignment's GUID when the caller chooses
        it (an ARM PUT does), otherwise one is drawn (drawn in both cases, so seeded ids do not shift)."""
        role_name = next((r for r in ROLE_PERMISSIONS if r.lower() == (role or "").lower()
                          or ROLE_IDS[r] == (role or "").lower()), None)
        if role_name is None:
            raise BadRequest(f"role {role!r} is not known here; roles: {', '.join(ROLE_PERMISSIONS)}",
                             code="RoleDefinitionNotFound")
        oid = (assignee or "").strip().lower()
        if not oid:
            raise BadRequest("an assignee object id is required", code="InvalidParameter")
        with self.transaction() as uow:
            self._check_scope(scope)
            for r in self.t["roles"].values():
                if r.principal_id == oid and r.role == role_name and r.scope.lower() == scope.lower():
                    raise Conflict("The role assignment already exists.", code="RoleAssignmentExists")
            guid = self.rng.guid()
            if name is not None:
                if not _GUID.match(name):
                    raise BadRequest(f"role assignment name {name!r} is not a GUID", code="InvalidRoleAssignmentId")
                guid = name.lower()
                if any(r.name == guid for r in self.t["roles"].values()):
                    raise Conflict("The role assignment already exists.", code="RoleAssignmentExists")
            ra = RoleAssignment(id=f"{scope}/providers/Microsoft.Authorization/roleAssignments/{guid}", name=guid,
                                principal_id=oid, role=role_name, scope=scope, created=self.now())
            self._add(ra)
            uow.reconcile = True
            self._emit(ev.AccessGranted, f"role {role_name} assigned to {self.principal_label(oid)} at {scope}",
                       vault=scope, object_id=oid)
            return ra

    def _check_scope(self, scope: str) -> None:
        sub = f"/subscriptions/{self.subscription_id}"
        s = (scope or "").rstrip("/")
        if s.lower() == sub.lower():
            return
        parsed = parse_arm_id(s.split("/keys/")[0]) if "/keys/" in s else parse_arm_id(s)
        if parsed is None:
            if s.lower().startswith(sub.lower() + "/resourcegroups/") and s.count("/") == 4:
                self.get_group(s.split("/")[4])
                return
            raise BadRequest(f"scope {scope!r} is not a subscription, resource group or key vault id of this "
                             f"subscription ({sub})", code="InvalidScope")
        if parsed.subscription.lower() != self.subscription_id.lower():
            raise BadRequest(f"scope {scope!r} is in another subscription; this one is {self.subscription_id}",
                             code="InvalidScope")
        if parsed.provider.lower() != "microsoft.keyvault/vaults":
            raise BadRequest(f"scope {scope!r} is not a key vault, resource group or subscription",
                             code="InvalidScope")
        self._vault(parsed.name)

    def list_role_assignments(self, assignee: str | None = None, scope: str | None = None) -> list[RoleAssignment]:
        out = [r for r in self.t["roles"].values()
               if (assignee is None or r.principal_id == assignee.lower())
               and (scope is None or r.scope.lower() == scope.lower())]
        return sorted(out, key=lambda r: (r.scope, r.role, r.principal_id))  # type: ignore[arg-type]

    @action
    def delete_role_assignment(self, *, ids: list[str] | None = None, assignee: str | None = None,
                               role: str | None = None, scope: str | None = None) -> list[RoleAssignment]:
        with self.transaction() as uow:
            gone = []
            for r in list(self.t["roles"].values()):
                if ids and r.id not in ids and r.name not in ids:
                    continue
                if not ids and not (assignee or role or scope):
                    continue
                if assignee and r.principal_id != assignee.lower():
                    continue
                if role and r.role.lower() != role.lower():
                    continue
                if scope and r.scope.lower() != scope.lower():
                    continue
                self._remove(r)
                gone.append(r)
            if not gone:
                raise NotFound("no role assignment matches", code="RoleAssignmentNotFound")
            uow.reconcile = True
            for r in gone:
                self._emit(ev.AccessRevoked, f"role {r.role} of {self.principal_label(r.principal_id)} removed at "
                           f"{r.scope}",
                           vault=r.scope, object_id=r.principal_id)
            return gone

    def key_permissions_of(self, principal: str) -> dict[str, frozenset]:
        """Vault name -> the key permissions (lower case) ``principal`` has on the keys of each active vault, by
        its access policies or, on an RBAC vault, its roles (one pass over each)."""
        principal = principal.lower()
        every = frozenset(p.lower() for p in KEY_PERMISSIONS if p != "all")
        sub = f"/subscriptions/{self.subscription_id}".lower()
        roles = [r for r in list(self.t["roles"].values()) if r.principal_id.lower() == principal]
        out: dict[str, frozenset] = {}
        for v in list(self.t["vaults"].values()):
            if v.state != ResourceState.ACTIVE.value:
                continue
            perms: set[str] = set()
            if v.enable_rbac_authorization:
                vid = v.id.lower()
                rg = f"{sub}/resourcegroups/{v.resource_group.lower()}"
                for r in roles:
                    s = r.scope.lower()
                    if s in (vid, sub, rg) or s.startswith(vid + "/keys/"):
                        perms |= ROLE_PERMISSIONS.get(r.role, frozenset())
            else:
                for p in v.access_policies:
                    if p["objectId"].lower() == principal:
                        keys = {k.lower() for k in p["permissions"].get("keys", [])}
                        perms |= every if "all" in keys else keys & every
            out[v.name] = frozenset(perms)
        return out

    def has_permission(self, vault: Vault, principal: str, perm: str) -> bool:
        """Whether ``principal`` may do ``perm`` (a key permission) on keys of ``vault``."""
        perm = perm.lower()
        if vault.enable_rbac_authorization:
            vid = vault.id.lower()
            sub = f"/subscriptions/{self.subscription_id}".lower()
            rg = f"{sub}/resourcegroups/{vault.resource_group.lower()}"
            for r in self.t["roles"].values():
                if r.principal_id != principal:
                    continue
                s = r.scope.lower()
                if (s in (vid, sub, rg) or s.startswith(vid + "/keys/")) and perm in ROLE_PERMISSIONS.get(r.role, ()):
                    return True
            return False
        for p in vault.access_policies:
            if p["objectId"].lower() == principal:
                keys = {k.lower() for k in p["permissions"].get("keys", [])}
                if perm in keys or "all" in keys:
                    return True
        return False


NETWORK_ACLS_DEFAULT = {"bypass": "AzureServices", "defaultAction": "Allow", "ipRules": [], "virtualNetworkRules": []}
"""A new vault's network rules as az 2.91's ``keyvault create`` makes them (``_create_network_rule_set`` keeps this
default "to avoid a breaking change"), as the service gives them back; a rule flag given replaces its part. Made
here, as the creator's access policy is, so every front end's vault is az's."""


def _purge_protection_stays_on(enable_purge_protection: bool | None) -> None:
    """KV1: Key Vault refuses ``enablePurgeProtection: false`` in any create or update, whether the vault has purge
    protection or not (a vault without it leaves the property out); turning it on is for good."""
    if enable_purge_protection is not None and not enable_purge_protection:
        raise BadRequest('The property "enablePurgeProtection" cannot be set to false. Enabling the purge protection '
                         "for a vault is an irreversible action.", code="BadRequest")
