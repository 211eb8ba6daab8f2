"""Disk encryption sets (D1-D8) and re-keying their resources (D3, D4)."""

from __future__ import annotations

from typing import Callable

from .actions import action
from . import events as ev
from .errors import BadRequest, Conflict, EngineError, Forbidden, NotFound, QuotaExceeded
from .clock import format_duration
from .ids import arm_id, check_name, key_id, parse_arm_id, parse_key_url
from .common import check_region, checked_tags, choice, compute_error, parallel  # noqa: F401 (re-exported)
from .core import EngineCore
from .models import DiskEncryptionSet, ResourceState, Vault
from .rules import (DES_ENCRYPTION_TYPES, DES_REQUIRED_PERMISSIONS, ENC_CONFIDENTIAL, ENC_CUSTOMER, ENC_DOUBLE,
                    KEY_SIZES, KEY_TYPES)

class DesBackend(EngineCore):
    def _find_des(self, name_or_id: str, resource_group: str | None = None) -> DiskEncryptionSet:
        return self._find_resource("des", name_or_id, resource_group, "disk encryption set")

    def get_des(self, name: str, resource_group: str | None = None) -> DiskEncryptionSet:
        return self._find_des(name, resource_group)

    def find_des(self, name_or_id: str | None, resource_group: str | None = None) -> DiskEncryptionSet | None:
        """The set with this id (one look-up), or this name (in ``resource_group``), or None."""
        return self._lookup("des", "des", name_or_id, resource_group, "disk encryption set") if name_or_id else None

    def list_des(self, resource_group: str | None = None, *,
                 where: Callable[[DiskEncryptionSet], bool] | None = None) -> list[DiskEncryptionSet]:
        """The sets (of ``resource_group``) by name; those ``where`` accepts. A resource group that does not exist
        is ARM's ``ResourceGroupNotFound`` (its list by resource group), not an empty list."""
        return self._list_in_group("des", resource_group, where)

    def _resolve_vault_arg(self, source_vault: str | None, key_vault_name: str) -> Vault:
        if source_vault:
            ref = parse_arm_id(source_vault) if source_vault.startswith("/") else None
            name = ref.name if ref else source_vault
            if ref and ref.subscription.lower() != self.subscription_id.lower():
                raise BadRequest(f"source vault {source_vault!r} is in subscription {ref.subscription}; the vault, "
                                 f"set, disks and VMs must share subscription {self.subscription_id} (D6)",
                                 code="InvalidParameter")
            if name.lower() != key_vault_name.lower():
                raise BadRequest(f"the key URL names vault {key_vault_name!r} but --source-vault is {name!r}; they "
                                 "must be the same vault", code="InvalidParameter")
        return self._vault(key_vault_name)

    def _check_des_key(self, vault: Vault, location: str, key_url: str, des_name: str = "") -> str:
        """Checks shared by create and update: purge protection (KV1), region (D6), a key the set can use (KV2),
        key usable (KV5)."""
        if not vault.enable_purge_protection:
            raise BadRequest(f"key vault {vault.name!r} does not have purge protection enabled; a vault backing a "
                             "disk encryption set needs soft delete and purge protection (az keyvault update "
                             f"--name {vault.name} --enable-purge-protection true)", code="BadRequest",
                             inner_code="KeyVaultPurgeProtectionNotEnabled")
        if vault.location != location:
            raise BadRequest(f"key vault {vault.name!r} is in {vault.location}; the disk encryption set is in "
                             f"{location}: they must share region and subscription (D6)", code="InvalidParameter",
                             inner_code="KeyVaultAndDiskEncryptionSetInDifferentRegions")
        ref = parse_key_url(key_url)
        k = self.t["keys"].get(key_id(vault.name, ref.name).lower())
        if k is None or k.state != ResourceState.ACTIVE.value:
            raise NotFound(f"key {key_url} was not found in vault {vault.name!r}", code="KeyVaultKeyNotFound")
        ver = k.version(ref.version) if ref.version else k.current
        if ver is None:
            raise NotFound(f"key version {key_url} was not found in vault {vault.name!r}", code="KeyVaultKeyNotFound")
        kid = key_id(vault.name, k.name, ver["version"])
        crv = ver.get("crv")
        if crv or k.kty not in KEY_TYPES or k.size not in KEY_SIZES:
            # The compute side refuses it, not Key Vault (which stores EC keys, and oct keys in managed HSMs).
            shown = f"{'EC-HSM' if k.kty == 'EC-HSM' else 'EC'} on {crv}" if crv else f"{k.kty} {k.size}"
            raise BadRequest(f"The key {kid} of type {shown} cannot be used by disk encryption set "
                             f"'{des_name}'. A disk encryption set supports RSA and RSA-HSM keys of "
                             f"{', '.join(map(str, KEY_SIZES))} bits. (KV2)", code="InvalidParameter",
                             inner_code="KeyVaultKeyTypeNotSupported")
        problem = self.key_problem(None, kid, "wrapKey")
        if problem is not None:
            raise compute_error(problem, f"key {kid}")
        return kid

    @action
    def create_des(self, name: str, resource_group: str, key_url: str, *, source_vault: str | None = None,
                   location: str | None = None, encryption_type: str = ENC_CUSTOMER,
                   rotation_to_latest: bool = False, tags: dict | None = None) -> DiskEncryptionSet:
        check_name("des", name)
        if str(encryption_type or "").lower() == ENC_CONFIDENTIAL.lower():
            raise BadRequest(f"encryption type {ENC_CONFIDENTIAL} is for confidential VMs (their OS disk and VM guest "
                             "state), which cmklab does not simulate; a set for managed disks takes "
                             f"{' or '.join(DES_ENCRYPTION_TYPES)}", code="InvalidParameter")
        etype = choice(encryption_type or ENC_CUSTOMER, DES_ENCRYPTION_TYPES, "encryption type")
        ref = parse_key_url(key_url, require_version=not rotation_to_latest)
        with self.transaction():
            group = self.get_group(resource_group)
            loc = check_region(location) if location else group.location
            if self._exists("des", "des", name, group.name):  # ARM's PUT on a set that exists: an update
                des = self._find_des(name, group.name)
                if location and loc != des.location:
                    raise BadRequest(f"The resource '{des.name}' already exists in location '{des.location}' in "
                                     f"resource group '{des.resource_group}'. A resource with the same name cannot be "
                                     f"created in location '{loc}'. Please select a new resource name.",
                                     code="InvalidResourceLocation")
                des = self.update_des(des.name, des.resource_group, key_url=key_url, source_vault=source_vault,
                                      rotation_to_latest=bool(rotation_to_latest), encryption_type=etype)
                des.tags = checked_tags(tags)  # a PUT's tags replace the set's (none given: none; see _put_existing)
                return des
            in_region = sum(1 for d in self.t["des"].values() if d.location == loc)
            if in_region >= self.rules.des_per_region:
                raise QuotaExceeded(f"region {loc} already has {in_region} disk encryption sets in this subscription;"
                                    f" the limit is {self.rules.des_per_region} per region (D5, rule profile "
                                    f"{self.rules.name})", code="QuotaExceeded")
            if etype == ENC_DOUBLE and loc not in self.rules.double_regions:
                raise BadRequest(f"double encryption at rest is not offered in {loc}; regions: "
                                 f"{', '.join(sorted(self.rules.double_regions))} (V7)", code="InvalidParameter")
            vault = self._resolve_vault_arg(source_vault, ref.vault)
            kid = self._check_des_key(vault, loc, key_url, name)
            des = DiskEncryptionSet(id=arm_id(self.subscription_id, group.name, "des", name), name=name,
                                    resource_group=group.name, location=loc, encryption_type=etype, key_url=kid,
                                    source_vault_id=vault.id, principal_id=self.rng.guid(),
                                    tenant_id=self.meta.tenant_id, rotation_to_latest=bool(rotation_to_latest),
                                    created=self.now(), tags=checked_tags(tags))
            self._add(des)
            self._emit(ev.DiskEncryptionSetCreated, f"disk encryption set {name} created on key {kid}; grant its "
                       f"identity {des.principal_id} get, wrapKey and unwrapKey on the key", des=des.id)
            return des

    @action
    def update_des(self, name: str, resource_group: str | None = None, *, key_url: str | None = None,
                   source_vault: str | None = None, rotation_to_latest: bool | None = None,
                   encryption_type: str | None = None, tags: dict | None = None) -> DiskEncryptionSet:
        """Change the key (re-wraps every resource of the set, D3), toggle automatic rotation (D4); ``tags``
        replace the set's."""
        with self.transaction():
            des = self._find_des(name, resource_group)
            if encryption_type is not None and encryption_type.lower() != des.encryption_type.lower():
                raise BadRequest(f"the encryption type of disk encryption set {des.name!r} ({des.encryption_type}) "
                                 "is fixed at creation and cannot be changed (D7); create another set",
                                 code="PropertyChangeNotAllowed")
            self._touch(des)
            if tags is not None:
                des.tags = checked_tags(tags)
            toggled = rotation_to_latest is not None and bool(rotation_to_latest) != des.rotation_to_latest
            if rotation_to_latest is not None:
                des.rotation_to_latest = bool(rotation_to_latest)
            if key_url is not None or source_vault is not None:
                url = key_url if key_url is not None else des.key_url
                ref = parse_key_url(url, require_version=not des.rotation_to_latest)
                vault = self._resolve_vault_arg(source_vault, ref.vault)
                kid = self._check_des_key(vault, des.location, url, des.name)
                des.source_vault_id = vault.id
                if kid != des.key_url:
                    self._react("des_key_changed", des, kid)  # the disks backend re-wraps the data keys
            elif des.rotation_to_latest:
                pass  # the auto-rotation job picks up newer versions within the hour
            what = ""
            if toggled:  # what it means for the set's resources (D4)
                ref = parse_key_url(des.key_url)
                version = f"version {ref.version[:8]}" if ref.version else "the version it uses"
                what = (f": automatic rotation on, it follows the new versions of key {ref.vault}/{ref.name} "
                        f"(its resources move to each within {format_duration(self.rules.auto_rotation_delay)})"
                        if des.rotation_to_latest else
                        f": automatic rotation off, it stays on {version} of key {ref.vault}/{ref.name} as new "
                        f"ones come (change its key to move its resources)")
            self._emit(ev.ResourceChanged, f"disk encryption set {des.name} updated{what}", resource=des.id)
            return des

    @action
    def delete_des(self, name: str, resource_group: str | None = None) -> None:
        with self.transaction():
            des = self._find_des(name, resource_group)
            users = self.des_resources(des)
            if users:
                names = ", ".join(sorted(r.name for r in users)[:10])
                raise Conflict(f"disk encryption set {des.name!r} is still used by {len(users)} resource(s): {names}; "
                               "it cannot be deleted (D7)", code="DiskEncryptionSetInUse")
            self._remove(des)
            self._emit(ev.DiskEncryptionSetDeleted, f"disk encryption set {des.name} deleted", des=des.id)

    def des_resources(self, des: DiskEncryptionSet) -> list:
        """Every disk, snapshot and image that references the set (``list-associated-resources``).

        In id order, not table order: a table loaded from the file is in key order, one grown in memory in
        creation order, and a seeded re-key draws its randomness resource by resource (same commands, same
        bytes, whether the engine stayed open or not)."""
        out = self.des_members(des.id)
        return out

    def des_identity_ready(self, des: DiskEncryptionSet) -> EngineError | None:
        """D2: None when the set's identity may get, wrap and unwrap with its key; else the refusal."""
        for op in DES_REQUIRED_PERMISSIONS:
            problem = self.key_problem(des.principal_id, des.key_url, op)
            if problem is not None:
                if problem.inner_code in ("ForbiddenByPolicy", "ForbiddenByRbac"):
                    return Forbidden(
                        f"disk encryption set {des.name!r} cannot use key {des.key_url}: its identity "
                        f"{des.principal_id} lacks the {op} permission; grant get, wrapKey and unwrapKey "
                        f"(az keyvault set-policy --object-id {des.principal_id} --key-permissions get wrapKey "
                        "unwrapKey) or the role 'Key Vault Crypto Service Encryption User'",
                        code="KeyVaultAccessForbidden")
                return compute_error(problem, f"disk encryption set {des.name}", des)
        return None

