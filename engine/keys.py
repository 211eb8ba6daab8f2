"""Key Vault keys: versions, enable/disable, soft delete, purge, rotation policy, and the crypto path.

Every private-key operation goes through :meth:`KeysBackend.unwrap_key`, which checks the caller's access
(access policy or RBAC), the vault, the key and the version, audits the attempt (KV8), and only then
unseals the private key and runs RSA-OAEP. A disabled key or a revoked policy therefore stops disks
by making their data keys impossible to unwrap, not by a flag a screen checks.
"""

from __future__ import annotations

from typing import Callable

import base64
import json
from datetime import timedelta

from .actions import action
from ._lazy import crypto
from . import events as ev
from .clock import iso, parse_duration, parse_iso
from .entropy import oaep_sha256_encrypt, seeded_rsa
from .common import TAGS_PER_KEY_VAULT_OBJECT, checked_tags
from .errors import BadRequest, Conflict, EngineError, Forbidden, NotFound
from .ids import check_name, key_id, keys_prefix, parse_key_url
from .models import Key, KeyVersion, ResourceState, Vault
from .rules import EC_CURVE_BITS, EC_CURVES, KEY_SIZES, MANAGED_HSM_KEY_TYPES, VAULT_KEY_TYPES
from .core import EngineCore

_DRY_KEYS: dict[int, object] = {}
"""Throw-away RSA keys used by dry runs (what-if), so a preview never waits for key generation."""

DEFAULT_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
EC_DEFAULT_OPS = ["sign", "verify"]
"""An EC key signs and verifies (Key Vault gives it no encryption operations)."""
ALL_OPS = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export")


class KeysBackend(EngineCore):
    REACTIONS = {"vault_purged": "_purge_keys_of"}

    # ---- lookups --------------------------------------------------------------------------------

    def _key(self, vault: str, name: str, *, include_deleted: bool = False) -> Key:
        v = self._vault(vault)
        k = self.t["keys"].get(key_id(v.name, name).lower())
        if k is None or (k.state != ResourceState.ACTIVE.value and not include_deleted):
            hint = " (it is deleted; recover or purge it)" if k is not None else ""
            raise NotFound(f"A key with (name/id) {name} was not found in this key vault{hint}",
                           code="KeyNotFound")
        return k  # type: ignore[return-value]

    def get_key(self, vault: str, name: str, version: str | None = None, *, audit: bool = True) -> tuple[Key, dict]:
        """The key and one version (the current one by default), as ``az keyvault key show``."""
        if not audit or self.read_only:  # a read-only session writes nothing, not even its KeyGets
            k = self._key(vault, name)
            return k, self._version(k, version)
        with self.transaction():
            k = self._key(vault, name)
            ver = self._version(k, version)
            self._audit(k.vault, self.operator, "KeyGet", key_id(k.vault, k.name, ver["version"]))
            return k, ver

    def _version(self, k: Key, version: str | None) -> dict:
        ver = k.version(version.lower() if version else None)
        if ver is None:
            raise NotFound(f"A key with (name/id) {k.name} and version {version} was not found in vault {k.vault}",
                           code="KeyNotFound")
        return ver

    def find_key(self, vault: str, name: str) -> Key | None:
        """The key ``name`` of ``vault`` (case-insensitive), active or deleted, or None; no audit, one look-up."""
        return self.t["keys"].get(key_id(vault.lower(), name).lower())  # type: ignore[return-value]

    def find_key_by_url(self, url: str | None) -> Key | None:
        """The key a key URL (versioned or not) names, or None (a URL that is not a key's is None too)."""
        try:
            ref = parse_key_url(url or "")
        except EngineError:
            return None
        return self.find_key(ref.vault, ref.name)

    def list_all_keys(self, *, vault: str | None = None, where: Callable[[Key], bool] | None = None) -> list[Key]:
        """Every key (of ``vault``, in any state), by vault and name; those ``where`` accepts."""
        prefix = keys_prefix(vault) if vault else ""
        return sorted((k for k in list(self.t["keys"].values())
                       if k.id.startswith(prefix) and (where is None or where(k))),
                      key=lambda k: (k.vault, k.name.lower()))  # type: ignore[misc]

    def list_keys(self, vault: str) -> list[Key]:
        v = self._vault(vault)
        return sorted(self._keys_of(v.name), key=lambda k: k.name.lower())

    def list_deleted_keys(self, vault: str) -> list[Key]:
        v = self._vault(vault)
        return sorted((k for k in self._keys_of(v.name, include_deleted=True)
                       if k.state == ResourceState.DELETED.value), key=lambda k: k.name.lower())

    def key_by_url(self, url: str) -> tuple[Key, dict | None]:
        ref = parse_key_url(url)
        k = self._key(ref.vault, ref.name, include_deleted=True)
        return k, (k.version(ref.version) if ref.version else k.current)

    # ---- create, import, rotate (KV2-KV4) --------------------------------------------------------

    def _check_kty(self, vault: Vault, kty: str, size: int | None, curve: str | None = None) -> tuple[str, int, str | None]:
        """(type, bits, curve) of a new key, as Key Vault takes them (KV2): RSA of 2048, 3072 or 4096 bits, EC on
        P-256, P-256K, P-384 or P-521 (P-256 when not given), the -HSM types in a premium vault only; oct keys
        live in managed HSMs, not in vaults. Whether a disk encryption set can use the key is the set's check."""
        given = str(kty or "RSA")
        kty = next((t for t in VAULT_KEY_TYPES + MANAGED_HSM_KEY_TYPES if t.lower() == given.lower()), None)
        if kty is None or kty in MANAGED_HSM_KEY_TYPES:
            raise BadRequest(f"Invalid kty value: {given} (allowed in a vault: {', '.join(VAULT_KEY_TYPES)}, the -HSM "
                             "ones in a premium vault; oct keys are managed HSM's)", code="BadParameter",
                             inner_code="KeyTypeNotSupported")
        if kty.endswith("-HSM") and vault.sku != "premium":
            raise BadRequest("Hardware key operation not allowed on standard vault (RSA-HSM and EC-HSM keys need a "
                             "premium vault)", code="BadParameter")
        if kty.startswith("EC"):
            crv = next((c for c in EC_CURVES if c.lower() == str(curve or "P-256").lower()), None)
            if crv is None:
                raise BadRequest(f"Invalid curve value: {curve}; allowed: {', '.join(EC_CURVES)}", code="BadParameter")
            if size is not None and size != EC_CURVE_BITS[crv]:
                raise BadRequest(f"Key size {size} is not valid for an EC key on {crv}; give the curve alone "
                                 f"(--curve {crv}, {EC_CURVE_BITS[crv]} bits)", code="BadParameter")
            return kty, EC_CURVE_BITS[crv], crv
        if curve:
            raise BadRequest(f"A curve ({curve}) is given for an {kty} key; curves are for EC keys",
                             code="BadParameter")
        size = 2048 if size is None else size
        if size not in KEY_SIZES:
            raise BadRequest(f"RSA key size {size} is not supported; allowed: "
                             f"{', '.join(map(str, KEY_SIZES))}", code="BadParameter")
        return kty, size, None

    @action
    def create_key(self, vault: str, name: str, *, kty: str = "RSA", size: int | None = None,
                   curve: str | None = None, ops: list[str] | None = None, exp: str | None = None,
                   nbf: str | None = None, enabled: bool = True, tags: dict | None = None) -> tuple[Key, dict]:
        """Generate a key, or a new version of an existing one (KV2, KV3, KV4)."""
        check_name("key", name)
        with self.transaction():
            v = self._vault(vault)
            kty, size, crv = self._check_kty(v, kty, size, curve)
            ops = self._check_ops(ops, kty)
            private = self._generate(size, crv)
            return self._new_version(v, name, kty, size, private, ops=ops, exp=exp, nbf=nbf, enabled=enabled,
                                     tags=tags, operation="KeyCreate")

    @action
    def import_key(self, vault: str, name: str, pem: bytes, *, password: bytes | None = None,
                   kty: str | None = None, ops: list[str] | None = None, exp: str | None = None,
                   nbf: str | None = None, enabled: bool = True, tags: dict | None = None) -> tuple[Key, dict]:
        """Import an RSA private key from PEM, optionally password-protected (KV3)."""
        check_name("key", name)
        private = crypto.import_private_pem(pem, password)
        with self.transaction():
            v = self._vault(vault)
            kty = kty or "RSA"
            if str(kty).upper().startswith("EC"):
                raise BadRequest(f"kty '{kty}' does not match the PEM, which holds an RSA key; import it as RSA or "
                                 "RSA-HSM", code="BadParameter")
            kty, size, _ = self._check_kty(v, kty, private.key_size)
            return self._new_version(v, name, kty, size, private, ops=self._check_ops(ops, kty), exp=exp,
                                     nbf=nbf, enabled=enabled, tags=tags, operation="KeyImport", imported=True)

    @action
    def rotate_key(self, vault: str, name: str) -> tuple[Key, dict]:
        """A new version with the same type and size (``az keyvault key rotate``)."""
        with self.transaction():
            k = self._key(vault, name)
            v = self._vault(vault)
            private = self._generate(k.size, k.current.get("crv"))
            return self._new_version(v, k.name, k.kty, k.size, private, ops=list(k.key_ops), exp=None, nbf=None,
                                     enabled=True, tags=None, operation="KeyRotate")

    def _check_ops(self, ops: list[str] | None, kty: str = "RSA") -> list[str]:
        if not ops:
            return list(EC_DEFAULT_OPS if kty.startswith("EC") else DEFAULT_OPS)
        out = []
        for op in ops:
            canon = next((o for o in ALL_OPS if o.lower() == str(op).lower()), None)
            if canon is None:
                raise BadRequest(f"key operation {op!r} is not valid; allowed: {', '.join(ALL_OPS)}",
                                 code="BadParameter")
            out.append(canon)
        return out

    def _generate(self, size: int, curve: str | None = None):
        if curve is not None:
            if self.rng.seeded and not self.uow.dry_run:
                return crypto.ec_from_scalar(curve, int(self.rng.hex(66), 16))
            return crypto.generate_ec(curve)
        if self.uow.dry_run:
            if size not in _DRY_KEYS:
                _DRY_KEYS[size] = crypto.generate_rsa(2048)
            return _DRY_KEYS[size]
        if self.rng.seeded:
            return self._seeded_key(size)
        return crypto.generate_rsa(size)

    def _seeded_key(self, size: int):
        """A reproducible key for a seeded store: drawn from the public pool shipped with cmklab.

        Seeded stores exist to replay byte for byte (workshops, snapshot tests), not to keep secrets,
        so their keys may come from a published pool; generating RSA primes from the seed in pure
        Python takes seconds per key, the pool takes microseconds. A store never reuses a pool key;
        when the pool of a size is used up, keys are generated from the seed (slow, still
        deterministic).
        """
        pool = _seeded_pool().get(str(size), [])
        used = {ver["n"] for k in self.t["keys"].values() for ver in k.versions}
        used |= {pk.n for pk in self.t["platform_keys"].values()}
        if pool:
            start = self.rng.below(len(pool))
            for i in range(len(pool)):
                private = crypto.private_from_der(base64.b64decode(pool[(start + i) % len(pool)]))
                if crypto.public_numbers_jwk(private)["n"] not in used:
                    return private
        return seeded_rsa(size, self.rng)

    def _new_version(self, v: Vault, name: str, kty: str, size: int, private, *, ops, exp, nbf, enabled, tags,
                     operation: str, imported: bool = False) -> tuple[Key, dict]:
        kid_base = key_id(v.name, name)
        k = self.t["keys"].get(kid_base.lower())
        if k is not None and k.state != ResourceState.ACTIVE.value:
            raise Conflict(f"Key {name} is currently in a deleted but recoverable state, and its name cannot be "
                           "reused; in this state, the key can only be recovered or purged.", code="Conflict",
                           inner_code="ObjectIsDeletedButRecoverable")
        now = self.now()
        version = self.rng.hex(16)
        exp_iso = self._time_arg(exp, "expires")
        nbf_iso = self._time_arg(nbf, "not-before")
        if k is not None and k.rotation_policy and exp_iso is None:
            expiry = (k.rotation_policy.get("attributes") or {}).get("expiryTime")
            if expiry:
                exp_iso = iso(self.clock.now() + parse_duration(expiry))
        kid = key_id(v.name, name, version)
        ec_jwk = crypto.ec_public_jwk(private) if kty.startswith("EC") else None
        jwk = {"n": "", "e": ""} if ec_jwk else crypto.public_numbers_jwk(private)
        sealed = self.sealer.seal_text(crypto.private_to_der(private), kid.encode()) if not self.uow.dry_run \
            else None
        ver = KeyVersion(version=version, created=now, updated=now, enabled=bool(enabled), nbf=nbf_iso, exp=exp_iso,
                         n=jwk["n"], e=jwk["e"], sealed=sealed).to_doc()
        if ec_jwk:
            ver.update(ec_jwk)  # crv, x, y: only EC versions carry them
            ver = dict(sorted(ver.items()))
        if k is None:
            k = Key(id=kid_base, vault=v.name, name=name, kty=kty, size=size, key_ops=ops, tags=checked_tags(tags, TAGS_PER_KEY_VAULT_OBJECT),
                    imported=imported)
            self._add(k)
        else:
            self._touch(k)
            if kty != k.kty or size != k.size:
                # Key Vault allows a new version of another size; the key's summary follows the newest version
                k.kty, k.size = kty, size
            k.key_ops = ops
            if tags is not None:
                k.tags = checked_tags(tags, TAGS_PER_KEY_VAULT_OBJECT)
        k.versions.append(ver)
        if not self.uow.dry_run:
            self._private_cache[kid] = private
        self._audit(v.name, self.operator, operation, kid)
        cls = ev.KeyRotated if operation == "KeyRotate" or len(k.versions) > 1 else ev.KeyCreated
        what = "rotated: new version" if cls is ev.KeyRotated else "created"
        self._emit(cls, f"key {v.name}/{name} {what} {version[:8]}... ({kty} {ec_jwk['crv'] if ec_jwk else size})",
                   kid=kid)
        return k, ver

    def _time_arg(self, value: str | None, what: str) -> str | None:
        if value in (None, ""):
            return None
        try:
            return iso(parse_iso(value))
        except (ValueError, TypeError):
            raise BadRequest(f"{what} time {value!r} is not valid; use ISO 8601 UTC, e.g. 2026-12-31T00:00:00Z",
                             code="BadParameter") from None

    # ---- attributes (KV5, KV9) -------------------------------------------------------------------

    @action
    def set_key_attributes(self, vault: str, name: str, version: str | None = None, *, enabled: bool | None = None,
                           exp: str | None = None, nbf: str | None = None, tags: dict | None = None,
                           ops: list[str] | None = None, all_versions: bool = False) -> tuple[Key, dict]:
        """Update one version (the current one by default, as az does), or every version."""
        with self.transaction() as uow:
            k = self._key(vault, name)
            self._touch(k)
            targets = list(k.versions) if all_versions else [self._version(k, version)]
            changed_enabled = False
            for ver in targets:
                if enabled is not None and bool(enabled) != ver["enabled"]:
                    ver["enabled"] = bool(enabled)
                    changed_enabled = True
                if exp is not None:
                    ver["exp"] = self._time_arg(exp, "expires")
                if nbf is not None:
                    ver["nbf"] = self._time_arg(nbf, "not-before")
                ver["updated"] = self.now()
            if tags is not None:
                k.tags = checked_tags(tags, TAGS_PER_KEY_VAULT_OBJECT)
            if ops is not None:
                k.key_ops = self._check_ops(ops)
            shown = targets[-1]
            kid = key_id(k.vault, k.name, None if all_versions else shown["version"])
            self._audit(k.vault, self.operator, "KeyUpdate", kid)
            uow.reconcile = uow.reconcile or changed_enabled or exp is not None or nbf is not None
            if changed_enabled:
                what = "all versions of " if all_versions else ""
                if enabled:
                    self._emit(ev.KeyEnabled, f"{what}key {kid} enabled", kid=kid)
                else:
                    self._emit(ev.KeyDisabled, f"{what}key {kid} disabled", kid=kid)
            else:
                self._emit(ev.KeyUpdated, f"key {kid} attributes updated", kid=kid)
            return k, shown

    # ---- delete, recover, purge (KV6) ------------------------------------------------------------

    @action
    def delete_key(self, vault: str, name: str) -> Key:
        with self.transaction() as uow:
            k = self._key(vault, name)
            v = self._vault(vault)
            self._touch(k)
            k.state = ResourceState.DELETED.value
            k.deleted_date = self.now()
            k.scheduled_purge_date = iso(self.clock.now() + timedelta(days=v.soft_delete_retention_days))
            self._audit(v.name, self.operator, "KeyDelete", k.id)
            uow.reconcile = True
            self._emit(ev.KeyDeleted, f"key {k.id} deleted (recoverable until {k.scheduled_purge_date})", kid=k.id)
            return k

    @action
    def recover_key(self, vault: str, name: str) -> Key:
        with self.transaction() as uow:
            k = self._key(vault, name, include_deleted=True)
            if k.state != ResourceState.DELETED.value:
                raise Conflict(f"key {name!r} in vault {vault!r} is not deleted; nothing to recover",
                               code="Conflict")
            self._touch(k)
            k.state = ResourceState.ACTIVE.value
            k.deleted_date = k.scheduled_purge_date = None
            self._audit(k.vault, self.operator, "KeyRecover", k.id)
            uow.reconcile = True
            self._emit(ev.KeyRecovered, f"key {k.id} recovered", kid=k.id)
            return k

    @action
    def purge_key(self, vault: str, name: str, *, _by_platform: bool = False) -> None:
        with self.transaction() as uow:
            v = self._vault(vault)
            k = self.t["keys"].get(key_id(v.name, name).lower())
            if k is None or k.state != ResourceState.DELETED.value:
                raise NotFound(f"Deleted Key not found: {name} (only a deleted key can be purged)",
                               code="KeyNotFound")
            if v.enable_purge_protection and not _by_platform and self.now() < k.scheduled_purge_date:
                self._audit(v.name, self.operator, "KeyPurge", k.id, "Forbidden", "PurgeProtectionEnabled")
                raise Forbidden(f"Operation \"purge\" is not allowed on key {k.id} because purge protection is "
                                f"enabled for vault {v.name}; it will be purged automatically at "
                                f"{k.scheduled_purge_date} (end of the {v.soft_delete_retention_days}-day retention)",
                                inner_code="PurgeProtectionEnabled")
            self._audit(v.name, self.operator if not _by_platform else "platform", "KeyPurge", k.id)
            self._destroy_key(k)
            uow.reconcile = True
            self._emit(ev.KeyPurged, f"key {k.id} purged: every data key it wrapped is gone for good", kid=k.id)

    def _destroy_key(self, key: Key) -> None:
        """Crypto-shredding: the key material is gone, so is every data key it wrapped."""
        self.uow.shred = True
        self._remove(key)
        self._react("key_destroyed", key)
        for ver in key.versions:
            self._private_cache.pop(key_id(key.vault, key.name, ver["version"]), None)

    # ---- rotation policy (KV9) -------------------------------------------------------------------

    def get_rotation_policy(self, vault: str, name: str) -> dict:
        k = self._key(vault, name)
        return k.rotation_policy or {"id": f"{k.id}/rotationpolicy", "lifetimeActions": [
            {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}],
            "attributes": {"expiryTime": None, "created": None, "updated": None}}

    @action
    def set_rotation_policy(self, vault: str, name: str, policy: dict | str) -> dict:
        if isinstance(policy, str):
            try:
                policy = json.loads(policy)
            except json.JSONDecodeError as e:
                raise BadRequest(f"rotation policy is not valid JSON: {e.msg} at line {e.lineno}",
                                 code="BadParameter") from None
        clean = self._check_policy(policy)
        with self.transaction():
            k = self._key(vault, name)
            self._touch(k)
            now = self.now()
            created = (k.rotation_policy or {}).get("attributes", {}).get("created") or now
            clean["id"] = f"{k.id}/rotationpolicy"
            clean["attributes"]["created"] = created
            clean["attributes"]["updated"] = now
            clean["anchor"] = now
            k.rotation_policy = clean
            self._audit(k.vault, self.operator, "KeyRotationPolicyUpdate", k.id)
            self._emit(ev.KeyUpdated, f"rotation policy of {k.id} set: {_policy_summary(clean)}", kid=k.id)
            return clean

    def check_rotation_policy(self, policy: object) -> dict:
        """The rotation policy as :meth:`set_rotation_policy` stores it, or the ``BadRequest`` it refuses it with
        (its minimums by the rule profile): pure, for a form that checks a policy as it is typed."""
        return self._check_policy(policy)

    def _check_policy(self, policy: object) -> dict:
        if not isinstance(policy, dict):
            raise BadRequest("rotation policy must be a JSON object with lifetimeActions and attributes",
                             code="BadParameter")
        actions = policy.get("lifetimeActions", policy.get("lifetime_actions")) or []
        attrs = policy.get("attributes") or {}
        expiry = attrs.get("expiryTime", attrs.get("expiry_time"))
        exp_td = None
        if expiry:
            exp_td = _duration(expiry, "attributes.expiryTime")
            if exp_td < self.rules.policy_min_expiry:
                raise BadRequest(f"expiryTime {expiry} is too short; the minimum is P28D", code="BadParameter")
        out_actions = []
        if not isinstance(actions, list):
            raise BadRequest("lifetimeActions must be a list", code="BadParameter")
        for a in actions:
            if not isinstance(a, dict):
                raise BadRequest("each lifetime action is an object with trigger and action", code="BadParameter")
            trig = a.get("trigger") or {}
            act = ((a.get("action") or {}).get("type") or "").lower()
            if act not in ("rotate", "notify"):
                raise BadRequest(f"lifetime action type {act or None!r} is not valid; allowed: Rotate, Notify",
                                 code="BadParameter")
            after = trig.get("timeAfterCreate", trig.get("time_after_create"))
            before = trig.get("timeBeforeExpiry", trig.get("time_before_expiry"))
            if bool(after) == bool(before):
                raise BadRequest("a trigger needs exactly one of timeAfterCreate or timeBeforeExpiry",
                                 code="BadParameter")
            if act == "notify" and after:
                raise BadRequest("a Notify action takes timeBeforeExpiry only", code="BadParameter")
            if after:
                td = _duration(after, "timeAfterCreate")
                if td < self.rules.rotation_min_after_create:
                    raise BadRequest(f"timeAfterCreate {after} is too short; the minimum is P7D", code="BadParameter")
                if exp_td is not None and td > exp_td - timedelta(days=7):
                    raise BadRequest(f"timeAfterCreate {after} must be at least 7 days before expiryTime {expiry}",
                                     code="BadParameter")
            if before:
                td = _duration(before, "timeBeforeExpiry")
                minimum = self.rules.rotation_min_before_expiry if act == "rotate" else self.rules.notify_min_before_expiry
                if td < minimum:
                    raise BadRequest(f"timeBeforeExpiry {before} is too short; the minimum is P7D", code="BadParameter")
                if exp_td is None and act == "rotate":
                    raise BadRequest("a Rotate action with timeBeforeExpiry needs attributes.expiryTime",
                                     code="BadParameter")
            trigger = {"timeAfterCreate": after} if after else {"timeBeforeExpiry": before}
            out_actions.append({"trigger": trigger, "action": {"type": act.capitalize()}})
        return {"lifetimeActions": out_actions, "attributes": {"expiryTime": expiry or None}}

    def key_validity(self, k: Key, version: str | None = None) -> tuple[str, str] | None:
        """Whether a version of ``k`` (the current one unless named) is outside its validity window by the
        simulated clock: ``(inner code, what it means)`` as Key Vault answers (``KeyExpired`` past ``exp``,
        ``KeyNotYetValid`` before ``nbf``), or None inside it (KV9). The same comparison :meth:`key_problem` makes."""
        ver = k.version(version) if version else (k.current if k.versions else None)
        if not ver:
            return None
        now = self.now()
        if ver.get("nbf") and now < ver["nbf"]:
            return ("KeyNotYetValid", f"not valid before {ver['nbf']}: every operation on it is refused "
                                      "(KeyNotYetValid), unwrapKey included (KV9)")
        if ver.get("exp") and now >= ver["exp"]:
            return ("KeyExpired", f"expired at {ver['exp']}: wrapKey, encrypt and sign are refused (KeyExpired), so "
                                  "no new disk, snapshot or re-wrap can use it; unwrapKey, decrypt and verify still "
                                  "work, so running VMs and existing data are untouched (KV9)")
        return None

    # ---- the crypto path -------------------------------------------------------------------------

    def key_problem(self, principal: str | None, kid: str, op: str, *, public_op: bool = False) -> EngineError | None:
        """Why ``principal`` cannot ``op`` (``wrapKey``/``unwrapKey``/``get``) with key version ``kid``; None if it can.

        ``principal`` None is the platform acting for the operator (no access check). Pure: no audit.
        ``public_op``: the vault's own public-key wrap, which a disabled key still does (KV5); the compute
        side asks without it and so refuses a disabled key (``KeyVaultKeyNotEnabled``).
        """
        memo = self._key_problems
        if memo is not None:  # inside a phase that changes no key, vault, access or clock
            question = (principal, kid, op, public_op)
            if question not in memo:
                memo[question] = self._key_problem(principal, kid, op, public_op)
            return memo[question]
        return self._key_problem(principal, kid, op, public_op)

    def _key_problem(self, principal: str | None, kid: str, op: str, public_op: bool) -> EngineError | None:
        ref = parse_key_url(kid)
        v = self.t["vaults"].get(ref.vault)
        if v is None:
            return NotFound(f"vault {ref.vault!r} of key {kid} no longer exists (purged)", code="ResourceNotFound",
                            inner_code="VaultNotFound")
        if v.state != ResourceState.ACTIVE.value:
            return NotFound(f"vault {v.name!r} of key {kid} is deleted (recoverable until {v.scheduled_purge_date})",
                            code="ResourceNotFound", inner_code="VaultNotFound")
        k = self.t["keys"].get(key_id(v.name, ref.name).lower())
        if k is None:
            return NotFound(f"key {ref.name!r} was purged from vault {v.name!r}: its key material is gone for good",
                            code="KeyNotFound", inner_code="KeyPurged")
        if k.state != ResourceState.ACTIVE.value:
            return NotFound(f"key {k.id} is deleted (recoverable until {k.scheduled_purge_date})", code="KeyNotFound",
                            inner_code="KeyDeleted")
        ver = k.version(ref.version) if ref.version else k.current
        if ver is None:
            return NotFound(f"key version {kid} was not found", code="KeyNotFound", inner_code="KeyNotFound")
        if ver.get("crv") and op.lower() in ("wrapkey", "unwrapkey", "encrypt", "decrypt"):
            return BadRequest(f"Operation {op} is not supported by EC key {kid} ({ver['crv']}): an EC key signs and "
                              "verifies", code="BadParameter", inner_code="OperationNotSupported")
        now = self.now()
        if not ver["enabled"] and not public_op:
            return Forbidden(f"Operation {op} is not allowed on a disabled key: {kid}", inner_code="KeyDisabled")
        if ver["nbf"] and now < ver["nbf"]:
            return Forbidden(f"Operation {op} is not allowed: key {kid} is not valid before {ver['nbf']}",
                             inner_code="KeyNotYetValid")
        if op.lower() in ("wrapkey", "encrypt", "sign") and ver["exp"] and now >= ver["exp"]:
            return Forbidden(f"Operation {op} is not allowed: key {kid} expired at {ver['exp']}",
                             inner_code="KeyExpired")
        if principal is not None and not self.has_permission(v, principal, op):
            model = "RBAC" if v.enable_rbac_authorization else "access policy"
            inner = "ForbiddenByRbac" if v.enable_rbac_authorization else "ForbiddenByPolicy"
            return Forbidden(f"The user, group or application 'oid={principal}' does not have keys {op} permission "
                             f"on key vault '{v.name};location={v.location}' ({model})", inner_code=inner)
        return None

    def wrap_key(self, principal: str | None, kid: str, dek: bytes) -> bytes:
        """RSA-OAEP-256 wrap at the vault (a public-key operation, audited; works on a disabled key, KV5)."""
        problem = self.key_problem(principal, kid, "wrapKey", public_op=True)
        ref = parse_key_url(kid)
        caller = principal or self.operator
        if problem is not None:
            self._audit(ref.vault, caller, "KeyWrap", kid, problem.code, problem.display_code, problem.message)
            raise problem
        k = self.t["keys"][key_id(ref.vault, ref.name).lower()]
        ver = k.version(ref.version) if ref.version else k.current
        public = crypto.public_from_jwk(ver["n"], ver["e"])
        self._audit(ref.vault, caller, "KeyWrap", key_id(ref.vault, ref.name, ver["version"]))
        if self.rng.seeded:
            return oaep_sha256_encrypt(public, dek, self.rng)
        return crypto.wrap_key(public, dek)

    def unwrap_key(self, principal: str | None, kid: str, wrapped: bytes) -> bytes:
        """RSA-OAEP-256 unwrap: the private-key operation, with access checked here (KV5, KV7)."""
        problem = self.key_problem(principal, kid, "unwrapKey")
        ref = parse_key_url(kid)
        caller = principal or self.operator
        if problem is not None:
            self._audit(ref.vault, caller, "KeyUnwrap", kid, problem.code, problem.display_code, problem.message)
            raise problem
        self._audit(ref.vault, caller, "KeyUnwrap", kid)
        return crypto.unwrap_key(self._private(kid), wrapped)

    def audit_refusal(self, vault: str, principal: str, operation: str, kid: str | None, err: EngineError) -> None:
        """Record an operation on keys refused before it ran (a client of the endpoint whose principal lacks
        the permission): Key Vault's log keeps refused attempts too (KV8)."""
        with self.transaction():
            self._audit(vault, principal, operation, kid, err.code, err.display_code, err.message)

    _OPERATIONS = {"wrapKey": ("KeyWrap", True), "unwrapKey": ("KeyUnwrap", False), "encrypt": ("KeyEncrypt", True),
                   "decrypt": ("KeyDecrypt", False), "sign": ("KeySign", False), "verify": ("KeyVerify", True)}
    """Each operation's name in the audit log, and whether it uses only the public key."""

    def key_operation(self, principal: str | None, kid: str, op: str, value: bytes, *, alg: str,
                      signature: bytes | None = None) -> tuple[str, bytes | bool]:
        """Key Vault's key operations as a client calls them (the endpoint, ``az keyvault key encrypt|decrypt|
        wrap-key|unwrap-key|sign|verify``): ``wrapKey``, ``unwrapKey``, ``encrypt``, ``decrypt``, ``sign``
        (``value`` is the digest) and ``verify`` (with ``signature``), with ``alg``.

        The caller's access is checked (KV7: its access policy or RBAC role must grant ``op``; ``principal``
        None is the platform and is not checked), public-key operations work on a disabled key and private-key
        ones do not (KV5), an expired key no longer wraps, encrypts or signs and one not yet valid does nothing
        (KV9), the key's ``key_ops`` must allow ``op``, and ``alg`` must be one the key type takes (RSA-OAEP,
        RSA-OAEP-256, RSA1_5 and PS*/RS* for RSA; the curve's ES* for EC, which neither encrypts nor wraps).
        Every attempt is audited under the caller (KV8), refused ones included. Returns the key version's id
        and the result (bytes, or whether the signature holds)."""
        if op not in self._OPERATIONS:
            raise BadRequest(f"key operation {op!r} is unknown; allowed: {', '.join(self._OPERATIONS)}",
                             code="BadParameter")
        operation, public = self._OPERATIONS[op]
        with self.transaction():
            k, ver = self.key_by_url(kid)
            full = key_id(k.vault, k.name, ver["version"]) if ver is not None else kid
            caller = principal or self.operator
            problem = self.key_problem(principal, full, op, public_op=public)
            if problem is None and op not in k.key_ops:
                problem = Forbidden(f"Operation {op} is not permitted on this key: its key operations are "
                                    f"{', '.join(k.key_ops)} (az keyvault key set-attributes --ops)",
                                    inner_code="KeyOperationForbidden")
            if problem is None:
                allowed = _algorithms(ver, op)
                canon = next((a for a in allowed if a.lower() == str(alg).lower()), None)
                if canon is None:
                    kind = f"an EC key on {ver['crv']}" if ver.get("crv") else f"an {k.kty} key"
                    problem = BadRequest(f"Algorithm {alg} is not valid for {op} with {kind}; allowed: "
                                         f"{', '.join(allowed)}", code="BadParameter",
                                         inner_code="AlgorithmNotSupported")
                alg = canon or alg
            if problem is not None:
                self._audit(k.vault, caller, operation, full, problem.code, problem.display_code, problem.message)
                raise problem
            try:
                result = self._run_key_operation(full, ver, op, alg, value, signature)
            except EngineError as err:
                self._audit(k.vault, caller, operation, full, err.code, err.display_code, err.message)
                raise
            self._audit(k.vault, caller, operation, full)
            return full, result

    def _run_key_operation(self, kid: str, ver: dict, op: str, alg: str, value: bytes,
                           signature: bytes | None) -> bytes | bool:
        if ver.get("crv"):
            public = crypto.ec_public_from_jwk(ver["crv"], ver["x"], ver["y"])
        else:
            public = crypto.public_from_jwk(ver["n"], ver["e"])
        if op == "verify":
            return crypto.kv_verify(public, alg, value, signature or b"")
        if op in ("encrypt", "wrapKey"):
            if op == "wrapKey" and alg == "RSA-OAEP-256" and self.rng.seeded:
                return oaep_sha256_encrypt(public, value, self.rng)
            return crypto.kv_encrypt(public, alg, value)
        if op == "sign":
            return crypto.kv_sign(self._private(kid), alg, value)
        return crypto.kv_decrypt(self._private(kid), alg, value)


    def _private(self, kid: str):
        cached = self._private_cache.get(kid)
        if cached is not None:
            return cached
        ref = parse_key_url(kid)
        k = self.t["keys"].get(key_id(ref.vault, ref.name).lower())  # None once purged
        ver = k.version(ref.version) if k is not None else None
        if ver is None or not ver.get("sealed"):
            raise NotFound(f"key material of {kid} is gone", code="KeyNotFound", inner_code="KeyPurged")
        private = crypto.private_from_der(self.sealer.unseal_text(ver["sealed"], kid.encode()))
        self._private_cache[kid] = private
        return private

    def _keys_of(self, vault: str, *, include_deleted: bool = False) -> list[Key]:
        prefix = keys_prefix(vault)
        return [k for k in self.t["keys"].values() if k.id.startswith(prefix)
                and (include_deleted or k.state == ResourceState.ACTIVE.value)]  # type: ignore[misc]

    def _purge_keys_of(self, vault: Vault) -> None:
        """The vault is purged: so is every key in it (crypto-shredding)."""
        for k in self._keys_of(vault.name, include_deleted=True):
            self._destroy_key(k)




def _algorithms(ver: dict, op: str) -> tuple[str, ...]:
    """The algorithms a key version takes for ``op``: RSA-OAEP, RSA-OAEP-256 and RSA1_5 to encrypt and wrap with
    RSA; PS*/RS* to sign with RSA; the curve's one ES* algorithm with EC."""
    if ver.get("crv"):
        return (crypto.SIGN_ALGORITHMS_EC[ver["crv"]],) if op in ("sign", "verify") else ()
    if op in ("sign", "verify"):
        return crypto.SIGN_ALGORITHMS_RSA
    return crypto.RSA_ENCRYPTION_ALGORITHMS


_POOL_CACHE: dict | None = None


def _seeded_pool() -> dict:
    global _POOL_CACHE
    if _POOL_CACHE is None:
        from importlib.resources import files
        _POOL_CACHE = json.loads(files("engine.data").joinpath("seeded_keys.json").read_text())
    return _POOL_CACHE


def _duration(text: str, what: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError:
        raise BadRequest(f"{what} {text!r} is not an ISO 8601 duration such as P90D or P7D",
                         code="BadParameter") from None


def _policy_summary(policy: dict) -> str:
    parts = []
    for a in policy["lifetimeActions"]:
        trig = a["trigger"]
        when = f"{trig['timeAfterCreate']} after creation" if "timeAfterCreate" in trig else \
            f"{trig['timeBeforeExpiry']} before expiry"
        parts.append(f"{a['action']['type'].lower()} {when}")
    exp = policy["attributes"].get("expiryTime")
    if exp:
        parts.append(f"versions expire after {exp}")
    return "; ".join(parts) or "no actions"
