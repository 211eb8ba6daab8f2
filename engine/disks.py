"""Managed disks, snapshots and images (K1-K10) and the data path (envelope encryption, K2, K3).

Every resource has its own data keys, listed in ``layers`` outermost first:

* platform key only (K1): one AES-256-GCM data key wrapped by the region's platform RSA key;
* customer key: the GCM data key wrapped by the set's Key Vault key (RSA-OAEP-256);
* double encryption (K3): the GCM data key wrapped by the customer key, and inside it an
  AES-256-XTS layer whose 64-byte key is wrapped by the platform key: two modes, two keys.

Only ciphertext reaches the blob store; data keys exist unwrapped only in memory or sealed.
"""

from __future__ import annotations

import copy
from typing import Callable

from .actions import action
from ._lazy import crypto
from . import events as ev
from .common import check_region, choice, compute_error, merge_props, parallel, checked_tags
from .core import EngineCore
from .entropy import oaep_sha256_encrypt
from .errors import BadRequest, Conflict, EngineError, NotFound, OperationNotAllowed
from .ids import arm_id, check_name, key_id, parse_arm_id, parse_key_url
from .models import DATA_TABLES, TABLE_OF_KIND, Disk, DiskEncryptionSet, Image, PlatformKey, Snapshot, VirtualMachine
from .rules import (DISK_ENCRYPTION_TYPES, DISK_SKUS, ENC_CUSTOMER, ENC_DOUBLE, ENC_PLATFORM, MAX_DISK_GB,
                    disk_size_problem, PREMIUM_V2, SNAPSHOT_SKUS, ZONAL_REGIONS, ZONES)

GCM = "AES-256-GCM"
XTS = "AES-256-XTS"
CHUNK_BLOCKS = 256
"""Blocks per crypto call (1 MiB): large enough to amortise Python, small enough to stay in cache."""
KINDS = {"disk": Disk, "snapshot": Snapshot, "image": Image}
TABLE_OF = {kind: TABLE_OF_KIND[kind] for kind in ("disk", "snapshot", "image")}
CREATED = {"disk": ev.DiskCreated, "snapshot": ev.SnapshotCreated, "image": ev.ImageCreated}
DELETED = {"disk": ev.DiskDeleted, "snapshot": ev.SnapshotDeleted, "image": ev.ImageDeleted}
"""The event of each kind's creation and deletion (a snapshot is not logged as a disk)."""


class DisksBackend(EngineCore):
    REACTIONS = {"key_destroyed": "_forget_data_keys_of", "des_key_changed": "_rekey"}

    # ---- platform keys -----------------------------------------------------------------------

    def _platform_key(self, region: str) -> PlatformKey:
        pk = self.t["platform_keys"].get(f"platform:{region}")
        if pk is None:
            private = self._generate(2048)
            kid = f"platform:{region}"
            jwk = crypto.public_numbers_jwk(private)
            sealed = self.sealer.seal_text(crypto.private_to_der(private), kid.encode())
            pk = PlatformKey(id=kid, region=region, n=jwk["n"], e=jwk["e"], sealed=sealed, created=self.now())
            self._add(pk)
            self._private_cache[kid] = private
        return pk  # type: ignore[return-value]

    def _platform_private(self, kid: str):
        cached = self._private_cache.get(kid)
        if cached is None:
            pk = self.t["platform_keys"][kid]
            cached = crypto.private_from_der(self.sealer.unseal_text(pk.sealed, kid.encode()))
            self._private_cache[kid] = cached
        return cached

    def _wrap_platform(self, region: str, dek: bytes) -> tuple[str, str]:
        pk = self._platform_key(region)
        public = crypto.public_from_jwk(pk.n, pk.e)
        wrapped = oaep_sha256_encrypt(public, dek, self.rng) if self.rng.seeded else crypto.wrap_key(public, dek)
        return pk.id, self.b64(wrapped)

    # ---- lookups -----------------------------------------------------------------------------

    def _find(self, kind: str, name_or_id: str, resource_group: str | None = None) -> Disk:
        return self._find_resource(kind, name_or_id, resource_group)

    def get_disk(self, name: str, resource_group: str | None = None) -> Disk:
        return self._find("disk", name, resource_group)

    def get_snapshot(self, name: str, resource_group: str | None = None) -> Snapshot:
        return self._find("snapshot", name, resource_group)  # type: ignore[return-value]

    def get_image(self, name: str, resource_group: str | None = None) -> Image:
        return self._find("image", name, resource_group)  # type: ignore[return-value]

    def find_disk(self, name_or_id: str | None, resource_group: str | None = None) -> Disk | None:
        """The disk with this id (one look-up), or this name (in ``resource_group``), or None."""
        return self._lookup("disks", "disk", name_or_id, resource_group, "disk") if name_or_id else None

    def find_snapshot(self, name_or_id: str | None, resource_group: str | None = None) -> Snapshot | None:
        """The snapshot with this id, or this name (in ``resource_group``), or None."""
        return self._lookup("snapshots", "snapshot", name_or_id, resource_group, "snapshot") if name_or_id else None

    def find_image(self, name_or_id: str | None, resource_group: str | None = None) -> Image | None:
        """The image with this id, or this name (in ``resource_group``), or None."""
        return self._lookup("images", "image", name_or_id, resource_group, "image") if name_or_id else None

    def _list(self, kind: str, resource_group: str | None, where=None) -> list:
        return self._list_in_group(TABLE_OF[kind], resource_group, where)

    def list_disks(self, resource_group: str | None = None, *, where: Callable[[Disk], bool] | None = None
                   ) -> list[Disk]:
        """The disks (of ``resource_group``) by name; those ``where`` accepts."""
        return self._list("disk", resource_group, where)

    def list_snapshots(self, resource_group: str | None = None, *,
                       where: Callable[[Snapshot], bool] | None = None) -> list[Snapshot]:
        """The snapshots (of ``resource_group``) by name; those ``where`` accepts."""
        return self._list("snapshot", resource_group, where)

    def list_images(self, resource_group: str | None = None, *, where: Callable[[Image], bool] | None = None
                    ) -> list[Image]:
        """The images (of ``resource_group``) by name; those ``where`` accepts."""
        return self._list("image", resource_group, where)

    def disk_state(self, disk: Disk) -> str:
        """K10: ``Unattached``, ``Attached`` (VM running or stopped) or ``Reserved`` (VM deallocated)."""
        vm = self.vm_of_disk(disk.id)
        if vm is None:
            return "Unattached"
        return "Reserved" if vm.power == "deallocated" else "Attached"

    # ---- encryption settings -----------------------------------------------------------------

    def _resolve_encryption(self, *, location: str, sku: str, encryption_type: str | None, des_arg: str | None,
                            what: str) -> tuple[str, DiskEncryptionSet | None]:
        """D8: the set decides the type; K1: platform key by default; D2, D6, V7, V8 checks."""
        etype = choice(encryption_type, DISK_ENCRYPTION_TYPES, "encryption type") if encryption_type else None
        des = self._find_des(des_arg) if des_arg else None
        if des is None:
            if etype in (ENC_CUSTOMER, ENC_DOUBLE):
                raise BadRequest(f"{what}: encryption type {etype} needs --disk-encryption-set (a set holds the "
                                 "customer-managed key)", code="InvalidParameter")
            return ENC_PLATFORM, None
        if etype is None:
            etype = des.encryption_type
        if etype != des.encryption_type:
            hint = (" To encrypt with both platform and customer keys, create a set with --encryption-type "
                    f"{ENC_DOUBLE} and use it." if etype == ENC_DOUBLE else "")
            raise BadRequest(f"{what}: encryption type {etype} does not match disk encryption set {des.name!r}, whose "
                             f"type is {des.encryption_type}; the set decides the type (D8).{hint}",
                             code="InvalidParameter", inner_code="EncryptionTypeMismatch")
        if des.location != location:
            raise BadRequest(f"{what} is in {location} but disk encryption set {des.name!r} is in {des.location}; "
                             "they must share region and subscription (D6)", code="InvalidParameter")
        if etype == ENC_DOUBLE and sku == "UltraSSD_LRS":
            raise BadRequest(f"{what}: double encryption is not offered for ultra disks (V8)",
                             code="InvalidParameter")
        if etype == ENC_DOUBLE and location not in self.rules.double_regions:
            raise BadRequest(f"{what}: double encryption is not offered in {location}; regions: "
                             f"{', '.join(sorted(self.rules.double_regions))} (V7)", code="InvalidParameter")
        problem = self.des_identity_ready(des)
        if problem is not None:
            raise problem
        return etype, des

    def _new_layers(self, location: str, etype: str, des: DiskEncryptionSet | None) -> tuple[list, list[bytes]]:
        """Fresh data keys for a resource, wrapped as ``etype`` says; returns (layers, keys)."""
        dek = self.rng.bytes(32) if self.rng.seeded else crypto.new_data_key()
        if des is None:
            kid, wrapped = self._wrap_platform(location, dek)
            return [{"mode": GCM, "kid": kid, "wrapped": wrapped}], [dek]
        wrapped = self.wrap_key(des.principal_id, des.key_url, dek)
        layers = [{"mode": GCM, "kid": des.key_url, "wrapped": self.b64(wrapped)}]
        keys = [dek]
        if etype == ENC_DOUBLE:
            xts = self.rng.bytes(64) if self.rng.seeded else crypto.new_xts_key()
            if xts[:32] == xts[32:]:
                xts = crypto.new_xts_key()
            pkid, pwrapped = self._wrap_platform(location, xts)
            layers.append({"mode": XTS, "kid": pkid, "wrapped": pwrapped})
            keys.append(xts)
        return layers, keys

    def _seal_cache(self, r: Disk, keys: list[bytes]) -> None:
        r.cache = self.host_sealer.seal_text(b"".join(keys), r.id.encode())

    def _cached_keys(self, r: Disk) -> list[bytes] | None:
        if not r.cache:
            return None
        raw = self.host_sealer.unseal_text(r.cache, r.id.encode())
        out, pos = [], 0
        for layer in r.layers:
            n = 64 if layer["mode"] == XTS else 32
            out.append(raw[pos:pos + n])
            pos += n
        return out

    def resource_problem(self, r: Disk) -> EngineError | None:
        """Why the resource's data keys cannot be opened at the vault now (pure; None if they can)."""
        des = self.t["des"].get(r.des_id) if r.des_id else None
        for layer in r.layers:
            if layer["kid"].startswith("platform:"):
                continue
            principal = des.principal_id if des is not None else None
            problem = self.key_problem(principal, layer["kid"], "unwrapKey")
            if problem is not None:
                return problem
        return None

    def readable(self, r: Disk) -> bool:
        return self.resource_problem(r) is None

    def _open(self, r: Disk, *, allow_cache: bool = False, label: str | None = None) -> list[bytes]:
        """Unwrap every layer's data key through the vault (audited), as the storage service does."""
        des = self.t["des"].get(r.des_id) if r.des_id else None
        keys = []
        for layer in r.layers:
            wrapped = self.unb64(layer["wrapped"])
            if layer["kid"].startswith("platform:"):
                keys.append(crypto.unwrap_key(self._platform_private(layer["kid"]), wrapped))
                continue
            try:
                keys.append(self.unwrap_key(des.principal_id if des else None, layer["kid"], wrapped))
            except EngineError as problem:
                if allow_cache:
                    cached = self._cached_keys(r)
                    if cached is not None:
                        return cached
                raise compute_error(problem, label or f"{r.kind} {r.name}", des) from None
        return keys

    def _open_outer_bulk(self, todo: list, des: DiskEncryptionSet) -> list[bytes]:
        """Open the outer data keys of many resources for re-wrapping, RSA on two threads (D3)."""
        out: list[bytes | None] = [None] * len(todo)
        by_kid: dict[str, list[int]] = {}
        for i, r in enumerate(todo):
            by_kid.setdefault(r.layers[0]["kid"], []).append(i)
        for kid, idxs in by_kid.items():
            if kid.startswith("platform:"):
                private = self._platform_private(kid)
                for i in idxs:
                    out[i] = crypto.unwrap_key(private, self.unb64(todo[i].layers[0]["wrapped"]))
                continue
            problem = self.key_problem(des.principal_id, kid, "unwrapKey")
            ref = parse_key_url(kid)
            if problem is None and self.uow.dry_run:
                continue  # a preview only checks that the data keys would open; it skips the RSA work
            if problem is None:
                private = self._private(kid)
                blobs = [self.unb64(todo[i].layers[0]["wrapped"]) for i in idxs]
                deks = parallel(lambda b: crypto.unwrap_key(private, b), blobs)
                for i, dek in zip(idxs, deks):
                    out[i] = dek
                self._audit_many(ref.vault, des.principal_id, "KeyUnwrap", kid, len(idxs))
                continue
            self._audit(ref.vault, des.principal_id, "KeyUnwrap", kid, problem.code, problem.display_code,
                        problem.message)
            for i in idxs:
                cached = self._cached_keys(todo[i])
                if cached is None:
                    r = todo[i]
                    if problem.inner_code in ("KeyPurged", "VaultNotFound") and "purged" in problem.message:
                        raise Conflict(f"{r.kind} {r.name}: its data key could only be opened with key {kid}, which "
                                       f"is purged ({problem.message}); its data is gone for good (crypto-shredded) "
                                       f"and cannot move to a new key: delete the {r.kind}",
                                       code="KeyVaultKeyNotFound") from None
                    raise Conflict(f"{r.kind} {r.name}: its data key can only be opened with key {kid}, which is "
                                   f"unusable ({problem.message}); enable or recover that key, then change the set's "
                                   "key", code="KeyVaultKeyNotEnabled") from None
                out[i] = cached[0]
        return out  # type: ignore[return-value]

    def _rewrap_outer_bulk(self, todo: list, des: DiskEncryptionSet, public,
                           then: Callable | None = None) -> list[tuple[bytes, str]] | None:
        """Unwrap and re-wrap the outer data keys of many resources in one pass on two threads: each thread
        unwraps a data key with the version that wrapped it and at once wraps it with ``public`` (and encodes
        it), so the RSA work is one parallel pass, as raw unwrap+wrap on two threads would be; ``then(r, data
        key, wrapped)`` runs there too, right after (the GIL it holds is short beside the RSA). Returns
        ``[(data key, new wrapped key in base64)]``, or None when a resource's key cannot be opened at the vault
        (or is a platform key): the general path (:meth:`_open_outer_bulk`) then says why, or uses the sealed
        cache. Audited as the general path: one KeyUnwrap per data key opened."""
        kids = {r.layers[0]["kid"] for r in todo}
        privates = {}
        for kid in kids:
            if kid.startswith("platform:") or self.key_problem(des.principal_id, kid, "unwrapKey") is not None:
                return None
            privates[kid] = self._private(kid)
        unb64, b64 = self.unb64, self.b64
        unwrap, wrap = crypto.unwrap_key, crypto.wrap_key

        def rewrap(r) -> tuple[bytes, str]:
            outer = r.layers[0]
            dek = unwrap(privates[outer["kid"]], unb64(outer["wrapped"]))
            wrapped = b64(wrap(public, dek))
            if then is not None:
                then(r, dek, wrapped)
            return dek, wrapped

        opened: dict[str, int] = {}  # counted before the pass: ``then`` moves each resource to the new key
        for r in todo:
            kid = r.layers[0]["kid"]
            opened[kid] = opened.get(kid, 0) + 1
        out = parallel(rewrap, todo)
        for kid in sorted(kids):
            ref = parse_key_url(kid)
            self._audit_many(ref.vault, des.principal_id, "KeyUnwrap", kid, opened[kid])
        return out

    def _rekey(self, des: DiskEncryptionSet, new_kid: str, resources: list | None = None) -> int:
        return _rekey_impl(self, des, new_kid, resources)

    # ---- create ------------------------------------------------------------------------------

    @action
    def create_disk(self, name: str, resource_group: str, *, size_gb: int | None = None, sku: str = "Premium_LRS",
                    location: str | None = None, encryption_type: str | None = None,
                    disk_encryption_set: str | None = None, source: str | None = None, os_type: str | None = None,
                    tags: dict | None = None, zone: str | None = None, props: dict | None = None,
                    hyper_v_generation: str | None = None) -> Disk:
        """``props``: plain ARM properties stored and shown as given (see ``Disk.props``); ``hyper_v_generation``
        (V1, V2) not given: the source's (a disk from a Gen2 image is V2)."""
        return self._create_resource("disk", name, resource_group, size_gb=size_gb, sku=sku, location=location,
                                     encryption_type=encryption_type, des_arg=disk_encryption_set, source=source,
                                     os_type=os_type, tags=tags, zone=zone, props=props,
                                     hyper_v_generation=hyper_v_generation)

    @action
    def create_snapshot(self, name: str, resource_group: str, source: str | None, *, location: str | None = None,
                        encryption_type: str | None = None, disk_encryption_set: str | None = None,
                        sku: str | None = None, tags: dict | None = None, props: dict | None = None,
                        size_gb: int | None = None, hyper_v_generation: str | None = None) -> Snapshot:
        """A snapshot of ``source``, or without one an empty snapshot of ``size_gb`` (createOption Empty)."""
        return self._create_resource("snapshot", name, resource_group, size_gb=size_gb, sku=sku or "Standard_LRS",
                                     location=location, encryption_type=encryption_type,
                                     des_arg=disk_encryption_set, source=source, os_type=None, tags=tags, props=props,
                                     hyper_v_generation=hyper_v_generation)

    @action
    def create_image(self, name: str, resource_group: str, source: str, *, location: str | None = None,
                     os_type: str | None = None, tags: dict | None = None,
                     hyper_v_generation: str | None = None) -> Image:
        """An image from a VM (its OS disk), a disk or a snapshot; it keeps its source's encryption (K6) and, unless
        ``hyper_v_generation`` says otherwise, its generation."""
        return self._create_resource("image", name, resource_group, size_gb=None, sku="Standard_LRS",
                                     location=location, encryption_type=None, des_arg=None, source=source,
                                     os_type=os_type, tags=tags, hyper_v_generation=hyper_v_generation)

    def _source(self, source: str, resource_group: str) -> Disk:
        return self._source_and_vm(source, resource_group)[0]

    def _source_and_vm(self, source: str, resource_group: str) -> tuple[Disk, VirtualMachine | None]:
        """The disk, snapshot or image ``source`` names, or a VM's OS disk, with that VM (None for the others)."""
        if source.startswith("/"):
            ref = parse_arm_id(source)
            prov = (ref.provider.lower() if ref else "")
            kind = {"microsoft.compute/disks": "disk", "microsoft.compute/snapshots": "snapshot",
                    "microsoft.compute/images": "image", "microsoft.compute/virtualmachines": "vm"}.get(prov)
            if kind is None:
                raise BadRequest(f"source {source!r} is not a disk, snapshot, image or VM id", code="InvalidParameter")
            if ref.subscription.lower() != self.subscription_id.lower():
                raise BadRequest(f"source {source!r} is in another subscription; resources with customer-managed "
                                 "keys must stay in one subscription (K6)", code="InvalidParameter")
            if kind == "vm":
                vm = self.get_vm(source)
                return self._find("disk", vm.os_disk_id), vm
            return self._find(kind, source), None
        for kind in ("snapshot", "disk", "image"):
            try:
                return self._find(kind, source, resource_group), None
            except NotFound:
                continue
        try:
            vm = self.get_vm(source, resource_group)
            return self._find("disk", vm.os_disk_id), vm
        except NotFound:
            pass
        raise NotFound(f"source {source!r} is not a disk, snapshot, image or VM in resource group "
                       f"{resource_group!r}", code="ResourceNotFound")

    def check_sku(self, sku: str, kind: str = "disk") -> str:
        """The SKU's canonical spelling, if the rule profile offers it (K9). Help lists every SKU of any profile
        (:data:`~engine.rules.DISK_SKUS`); a SKU this profile does not take is refused naming the profile."""
        every, offered = (SNAPSHOT_SKUS, self.rules.snapshot_skus) if kind == "snapshot" else \
            (DISK_SKUS, self.rules.disk_skus)
        canon = next((s for s in every if s.lower() == str(sku).lower()), None)
        if canon is None:
            raise BadRequest(f"sku {sku!r} is not valid; allowed: {', '.join(offered)}", code="InvalidParameter")
        if canon not in offered:
            raise BadRequest(f"sku {canon} is not offered under the rule profile {self.rules.name!r} "
                             f"({self.rules.description}); allowed: {', '.join(offered)}. A home created with "
                             "--profile azure-2025 offers today's SKUs (K9)", code="InvalidParameter")
        return canon

    def _check_premium_v2(self, name: str, location: str, zone: str | None, os_type: str | None) -> None:
        """Premium SSD v2 (K9): data disks only, in its regions, zonal where the region has zones."""
        if os_type:
            raise BadRequest(f"disk {name!r}: a {PREMIUM_V2} disk cannot be used as an OS disk; Premium SSD v2 "
                             "disks are data disks only (K9)", code="InvalidParameter")
        if location not in self.rules.premium_v2_regions:
            raise BadRequest(f"disk {name!r}: {PREMIUM_V2} is not offered in {location}; regions: "
                             f"{', '.join(sorted(self.rules.premium_v2_regions))} (K9)", code="SkuNotAvailable")
        if location in ZONAL_REGIONS and zone is None:
            raise BadRequest(f"disk {name!r}: in {location}, which has availability zones, a {PREMIUM_V2} disk is "
                             "zonal: give --zone 1, 2 or 3 (it attaches to VMs in that zone only) (K9)",
                             code="InvalidParameter")

    def _create_resource(self, kind: str, name: str, resource_group: str, *, size_gb, sku, location,
                         encryption_type, des_arg, source, os_type, tags, create_option: str | None = None,
                         zone: str | None = None, props: dict | None = None,
                         hyper_v_generation: str | None = None) -> Disk:
        check_name(kind, name)
        if hyper_v_generation is not None:
            hyper_v_generation = choice(hyper_v_generation, ("V1", "V2"), "hyper-V generation")
        sku = self.check_sku(sku or "Premium_LRS", kind)
        if zone is not None:
            zone = str(zone)
            if zone not in ZONES:
                raise BadRequest(f"zone {zone!r} is not valid; allowed: {', '.join(ZONES)}", code="InvalidParameter")
        with self.transaction():
            group = self.get_group(resource_group)
            loc = check_region(location) if location else group.location
            if zone is not None and loc not in ZONAL_REGIONS:
                raise BadRequest(f"{kind} {name!r}: region {loc} has no availability zones; omit --zone",
                                 code="InvalidParameter")
            if sku == PREMIUM_V2:
                self._check_premium_v2(name, loc, zone, os_type)
            table = TABLE_OF[kind]
            if self._exists(table, kind, name, group.name):  # ARM's PUT on a name that exists: an update
                return self._put_existing(self._find(kind, name, group.name), location=location, sku=sku,
                                          size_gb=size_gb, encryption_type=encryption_type, des_arg=des_arg,
                                          source=source, os_type=os_type, tags=tags, zone=zone, props=props,
                                          hyper_v_generation=hyper_v_generation)
            src, src_vm = self._source_and_vm(source, group.name) if source else (None, None)
            if kind == "image" and src_vm is not None:
                _same_generation_as_vm(hyper_v_generation, src)
            if src is not None:
                if src.location != loc:
                    raise BadRequest(f"source {src.name!r} is in {src.location}, not {loc}", code="InvalidParameter")
                if src.encryption_type != ENC_PLATFORM:
                    des_arg = self._same_key_des(kind, name, src, des_arg)
                    if encryption_type is None:
                        encryption_type = src.encryption_type
                size_gb = size_gb or src.size_gb
                os_type = os_type or src.os_type
                hyper_v_generation = hyper_v_generation or src.hyper_v_generation
            if kind == "image" and src is None:
                raise BadRequest("an image needs --source (a VM, disk or snapshot)", code="InvalidParameter")
            etype, des = self._resolve_encryption(location=loc, sku=sku, encryption_type=encryption_type,
                                                  des_arg=des_arg, what=f"{kind} {name}")
            if size_gb is None:  # ARM: an empty disk or snapshot (createOption Empty) needs its size
                raise BadRequest("Required parameter 'diskSizeGB' is missing (null).", code="InvalidParameter")
            problem = disk_size_problem(size_gb, sku)
            if problem is not None:
                raise BadRequest(problem, code="InvalidParameter")
            if src is not None and size_gb < src.size_gb:
                raise BadRequest(f"size {size_gb} GB is smaller than the source ({src.size_gb} GB)",
                                 code="InvalidParameter")
            cls = KINDS[kind]
            uid = self.rng.guid()
            r = cls(id=arm_id(self.subscription_id, group.name, kind, name), name=name, resource_group=group.name,
                    location=loc, sku=sku, size_gb=size_gb, os_type=os_type,
                    create_option=create_option or ("Empty" if src is None else "FromImage" if src.kind == "image"
                                                    and kind == "disk" else "Copy"),
                    source_resource_id=src.id if src is not None else None, encryption_type=etype,
                    des_id=des.id if des is not None else None, unique_id=uid, created=self.now(),
                    subscription_id=self.subscription_id, tags=checked_tags(tags), zone=zone,
                    props=merge_props({}, copy.deepcopy(props)), hyper_v_generation=hyper_v_generation)
            r.layers, keys = self._new_layers(loc, etype, des)
            self._seal_cache(r, keys)
            self._add(r)
            if src is not None:
                self._copy_data(src, r, keys)
            self._emit(CREATED[kind], f"{kind} {name} created ({sku}, {size_gb} GB, {etype}"
                       + (f", set {des.name}" if des else "") + ")", **{kind: r.id})
            return r

    def _put_existing(self, r: Disk, *, location, sku, size_gb, encryption_type, des_arg, source, os_type, tags,
                      zone, props, hyper_v_generation) -> Disk:
        """A create (ARM's PUT) of a disk, snapshot or image that exists: what it gives changes as an update would
        (a disk through :meth:`update_disk`: it grows, changes SKU or encryption on its rules; plain properties given
        are set); what is fixed at creation (region, source, zone) must be the same, as ARM refuses a change of it
        (``InvalidResourceLocation``, ``PropertyChangeNotAllowed``); what is not given is kept, but the tags: a PUT's
        tags replace the resource's, none when it carries none (az 2.91's disk, snapshot and image create send
        ``"tags": tags or {}``; ARM's PUT resets what it is not given, Microsoft Learn's "Azure Resource Manager
        deployment modes": "Properties that aren't included ... are reset to the default values")."""
        what = {"disk": "disk", "snapshot": "snapshot", "image": "image"}[r.kind]
        if location and check_region(location) != r.location:
            raise BadRequest(f"The resource '{r.name}' already exists in location '{r.location}' in resource group "
                             f"'{r.resource_group}'. A resource with the same name cannot be created in location "
                             f"'{check_region(location)}'. Please select a new resource name.",
                             code="InvalidResourceLocation")
        if source:
            src = self._source(source, r.resource_group)
            if src.id.lower() != (r.source_resource_id or "").lower():  # (a VM names its OS disk, as at creation)
                raise BadRequest(f"Changing property 'creationData.sourceResourceId' is not allowed: {what} "
                                 f"{r.name!r} was made from {r.source_resource_id or 'nothing (empty)'}",
                                 code="PropertyChangeNotAllowed")
        if zone is not None and str(zone) != (r.zone or ""):
            raise BadRequest(f"Changing property 'zones' is not allowed: {what} {r.name!r} is "
                             f"{'in zone ' + r.zone if r.zone else 'regional'}", code="PropertyChangeNotAllowed")
        if hyper_v_generation is not None and hyper_v_generation != (r.hyper_v_generation or "V1"):
            raise BadRequest(f"Changing property 'hyperVGeneration' is not allowed: {what} {r.name!r} is "
                             f"{r.hyper_v_generation or 'V1'}", code="PropertyChangeNotAllowed")
        if os_type and r.os_type and os_type.lower() != r.os_type.lower() and r.kind == "image":
            raise BadRequest(f"Changing property 'osType' is not allowed: image {r.name!r} is {r.os_type}",
                             code="PropertyChangeNotAllowed")
        if r.kind == "disk":
            return self.update_disk(r.name, r.resource_group, encryption_type=encryption_type,
                                    disk_encryption_set=des_arg, sku=sku if sku != r.sku else None,
                                    size_gb=size_gb if size_gb is not None and size_gb != r.size_gb else None,
                                    tags=checked_tags(tags), props=props)
        if encryption_type is not None or des_arg is not None:
            etype, des = self._resolve_encryption(location=r.location, sku=r.sku, encryption_type=encryption_type,
                                                  des_arg=des_arg, what=f"{what} {r.name}")
            if etype != r.encryption_type or (des.id if des else None) != r.des_id:
                raise BadRequest(f"{what} {r.name!r} keeps the encryption it was made with ({r.encryption_type}); "
                                 "cmklab does not re-encrypt a snapshot or image in place: make a new one",
                                 code="OperationNotAllowed")
        if size_gb is not None and size_gb != r.size_gb:
            raise BadRequest(f"Changing property 'diskSizeGB' is not allowed: {what} {r.name!r} is {r.size_gb} GB",
                             code="PropertyChangeNotAllowed")
        self._touch(r)
        if r.kind == "snapshot" and sku and sku != r.sku:
            r.sku = sku
        r.tags = checked_tags(tags)
        if props:
            r.props = merge_props(copy.deepcopy(r.props), copy.deepcopy(props))
        self._emit(ev.ResourceChanged, f"{what} {r.name} updated", resource=r.id)
        return r

    def _same_key_des(self, kind: str, name: str, src: Disk, des_arg: str | None) -> str:
        """K6: a copy of a customer-key resource uses the same customer-managed key."""
        src_des = self.t["des"].get(src.des_id) if src.des_id else None
        if des_arg is None:
            if src_des is None:
                raise BadRequest(f"{kind} {name}: source {src.name!r} uses customer-managed keys; give a disk "
                                 "encryption set with the same key (K6)", code="InvalidParameter")
            return src_des.id
        des = self._find_des(des_arg)
        src_key = parse_key_url(src.layers[0]["kid"])
        key = parse_key_url(des.key_url)
        if (src_key.vault, src_key.name.lower()) != (key.vault, key.name.lower()):
            raise BadRequest(f"{kind} {name}: source {src.name!r} is encrypted with key {src_key.versionless}; a "
                             f"{'snapshot' if kind == 'snapshot' else 'copy'} must use the same customer-managed key, "
                             f"but set {des.name!r} uses {key.versionless} (K6)", code="InvalidParameter")
        return des.id

    # ---- the data path -------------------------------------------------------------------------

    def _ciphers(self, r: Disk, keys: list[bytes]):
        outer = crypto.BlockCipher(keys[0], r.unique_id.encode())
        inner = crypto.XtsLayer(keys[1]) if len(keys) > 1 else None
        return inner, outer

    def _write_data(self, r: Disk, keys: list[bytes], offset: int, data: bytes) -> None:
        """Encrypt and write; only partial edge blocks are read back (read-modify-write)."""
        bs, rs = crypto.BLOCK_SIZE, crypto.RECORD_SIZE
        inner, outer = self._ciphers(r, keys)
        first = offset // bs
        last = (offset + len(data) - 1) // bs
        head = offset - first * bs
        tail = (last + 1) * bs - (offset + len(data))
        if head or tail:
            buf = bytearray()
            if head:
                buf += self._read_blocks(r, inner, outer, first, 1)[:head]
            buf += data
            if tail:
                buf += self._read_blocks(r, inner, outer, last, 1)[bs - tail:]
            data = bytes(buf)
        self.store.blobs.writev(r.blob, first * rs, _encrypted_chunks(inner, outer, first, data))

    def _read_blocks(self, r: Disk, inner, outer, first: int, count: int) -> bytes:
        """Blocks ``first`` to ``first + count - 1``, decrypted a chunk at a time into the one output buffer (the
        only memory the read touches for the first time). The records are decrypted straight from a memory
        map of the blob where the store maps (no copy of them at all), else read a chunk at a time. A chunk
        whose first record was written has its part of the output faulted in with one call (a chunk of
        never-written records reads as zeros without touching its pages)."""
        rs, bs = crypto.RECORD_SIZE, crypto.BLOCK_SIZE
        blobs = self.store.blobs
        if count <= CHUNK_BLOCKS:
            return crypto.decrypt_layers(inner, outer, first, blobs.read(r.blob, first * rs, count * rs))
        out, dst = crypto.output_buffer(count * bs)
        mapped = blobs.map(r.blob, first * rs, count * rs)
        inside = 0 if mapped is None else len(mapped) // rs  # the records inside the file; past it: zeros
        try:
            with dst:
                for b in range(0, count, CHUNK_BLOCKS):
                    n = min(CHUNK_BLOCKS, count - b)
                    if b + n <= inside:
                        records = mapped[b * rs:(b + n) * rs]
                    else:
                        records = blobs.read(r.blob, (first + b) * rs, n * rs)
                    target = dst[b * bs:(b + n) * bs]
                    if crypto.first_record_written(records):
                        crypto.prefault(target)
                    crypto.decrypt_layers_into(inner, outer, first + b, records, target, zeroed=True)
                    del records, target
        finally:
            if mapped is not None:
                mapped.release()  # the last view of the map: it is unmapped now, not at the next collection
        return out.getvalue()

    def _read_data(self, r: Disk, keys: list[bytes], offset: int, length: int) -> bytes:
        bs = crypto.BLOCK_SIZE
        inner, outer = self._ciphers(r, keys)
        first = offset // bs
        last = (offset + length - 1) // bs
        plain = self._read_blocks(r, inner, outer, first, last - first + 1)
        start = offset - first * bs
        if start == 0 and length == len(plain):
            return plain
        return plain[start:start + length]

    def _copy_data(self, src: Disk, dst: Disk, dst_keys: list[bytes]) -> None:
        """Re-encrypt every written extent of ``src`` under ``dst``'s data keys (the source must open)."""
        src_keys = self._open(src, label=f"{src.kind} {src.name} (source of {dst.kind} {dst.name})")
        s_inner, s_outer = self._ciphers(src, src_keys)
        d_inner, d_outer = self._ciphers(dst, dst_keys)
        rs = crypto.RECORD_SIZE
        for off, length in self.store.blobs.extents(src.blob):
            first = off // rs
            end = -(-(off + length) // rs)
            for b in range(first, end, CHUNK_BLOCKS):
                n = min(CHUNK_BLOCKS, end - b)
                plain = self._read_blocks(src, s_inner, s_outer, b, n)
                self.store.blobs.write(dst.blob, b * rs, crypto.encrypt_layers(d_inner, d_outer, b, plain))

    # ---- update (encrypt an existing disk, K4, K5, K8) ------------------------------------------

    @action
    def update_disk(self, name: str, resource_group: str | None = None, *, encryption_type: str | None = None,
                    disk_encryption_set: str | None = None, size_gb: int | None = None, sku: str | None = None,
                    tags: dict | None = None, props: dict | None = None) -> Disk:
        with self.transaction():
            d = self._find("disk", name, resource_group)
            self._touch(d)
            vm = self.vm_of_disk(d.id)
            if encryption_type is not None or disk_encryption_set is not None:
                self._change_encryption(d, vm, encryption_type, disk_encryption_set)
            if sku is not None:
                sku = self.check_sku(sku)
                if (sku == "UltraSSD_LRS") != d.is_ultra:
                    raise BadRequest("a disk cannot change to or from UltraSSD_LRS", code="OperationNotAllowed")
                if (sku == PREMIUM_V2) != (d.sku == PREMIUM_V2):
                    raise BadRequest(f"a disk cannot change to or from {PREMIUM_V2} in place; copy it through a "
                                     "snapshot (az disk create --source SNAPSHOT --sku ...)", code="OperationNotAllowed")
                if vm is not None and vm.power != "deallocated":
                    raise OperationNotAllowed(f"disk {d.name!r} is attached to running VM {vm.name!r}; deallocate it "
                                              "to change the sku", code="OperationNotAllowed")
                d.sku = sku
            if size_gb is not None:
                if not isinstance(size_gb, int) or size_gb < d.size_gb or size_gb > MAX_DISK_GB[d.sku]:
                    raise BadRequest(f"disk size {size_gb!r} GB is not valid: a disk can only grow, up to "
                                     f"{MAX_DISK_GB[d.sku]} GB (now {d.size_gb} GB)", code="InvalidParameter")
                d.size_gb = size_gb
            if tags is not None:
                d.tags = checked_tags(tags)
            if props:
                d.props = merge_props(copy.deepcopy(d.props), copy.deepcopy(props))
            self._emit(ev.DiskUpdated, f"disk {d.name} updated ({d.encryption_type})", disk=d.id)
            return d

    def _change_encryption(self, d: Disk, vm: VirtualMachine | None, encryption_type: str | None,
                           des_arg: str | None) -> None:
        etype, des = self._resolve_encryption(location=d.location, sku=d.sku, encryption_type=encryption_type,
                                              des_arg=des_arg, what=f"disk {d.name}")
        if etype == d.encryption_type and (des.id if des else None) == d.des_id:
            return
        if d.encryption_type != ENC_PLATFORM and etype == ENC_PLATFORM:
            raise OperationNotAllowed(f"disk {d.name!r} uses customer-managed keys and cannot go back to platform "
                                      "keys (K4); copy its data to a new disk instead", code="OperationNotAllowed")
        if d.ade_enabled or (vm is not None and vm.ade_enabled):
            raise OperationNotAllowed(f"disk {d.name!r} is encrypted with Azure Disk Encryption; server-side "
                                      "encryption with customer-managed keys cannot be added (K8, V8)",
                                      code="OperationNotAllowed")
        if vm is not None and vm.power != "deallocated":
            message = (f"disk {d.name!r} is attached to VM {vm.name!r}, which is {vm.power}; deallocate it first "
                       f"(az vm deallocate -g {vm.resource_group} -n {vm.name})")
            # on record although the update fails (as a refused VM start is): the attempt is what a lab checks
            self._emit_refusal(ev.DiskEncryptionRefused, f"disk {d.name} cannot change its encryption: {message}",
                               disk=d.id)
            raise OperationNotAllowed(f"{message} (K5)", code="OperationNotAllowed")
        if d.encryption_type != ENC_PLATFORM and etype != d.encryption_type:
            raise OperationNotAllowed(f"disk {d.name!r} is {d.encryption_type}; it cannot change to {etype}",
                                      code="OperationNotAllowed")
        old_keys = self._open(d, allow_cache=True)
        dek = old_keys[0]
        wrapped = self.wrap_key(des.principal_id, des.key_url, dek)
        layers = [{"mode": GCM, "kid": des.key_url, "wrapped": self.b64(wrapped)}]
        keys = [dek]
        had_inner = len(d.layers) > 1
        if etype == ENC_DOUBLE and not had_inner:
            xts = self.rng.bytes(64) if self.rng.seeded else crypto.new_xts_key()
            pkid, pw = self._wrap_platform(d.location, xts)
            layers.append({"mode": XTS, "kid": pkid, "wrapped": pw})
            keys.append(xts)
            self._reencrypt_in_place(d, old_keys, keys)
        elif had_inner:
            layers.append(d.layers[1])
            keys.append(old_keys[1])
        d.layers = layers
        d.encryption_type = etype
        d.des_id = des.id
        self._seal_cache(d, keys)

    def _reencrypt_in_place(self, d: Disk, old_keys: list[bytes], new_keys: list[bytes]) -> None:
        """Re-encrypt into a new blob that the disk switches to in this unit of work (copy on write).

        Never over the old blob: until the commit, the committed state describes the old blob's layers,
        so a crash or a failed commit must find it intact. The old blob goes after the commit. A preview
        (dry run) does no data work at all.
        """
        if self.uow.dry_run:
            return
        o_inner, o_outer = self._ciphers(d, old_keys)
        n_inner, n_outer = self._ciphers(d, new_keys)
        old_blob, new_blob = d.blob, f"{d.unique_id}-{self.rng.hex(8)}"
        rs = crypto.RECORD_SIZE
        for off, length in self.store.blobs.extents(old_blob):
            first, end = off // rs, -(-(off + length) // rs)
            for b in range(first, end, CHUNK_BLOCKS):
                n = min(CHUNK_BLOCKS, end - b)
                plain = self._read_blocks(d, o_inner, o_outer, b, n)
                self.store.blobs.write(new_blob, b * rs, crypto.encrypt_layers(n_inner, n_outer, b, plain))
        d.blob_id = new_blob
        self.uow.after_commit.append(lambda: self.store.blobs.delete(old_blob))

    # ---- delete, move --------------------------------------------------------------------------

    @action
    def delete_disk(self, name: str, resource_group: str | None = None) -> None:
        self._delete_resource("disk", name, resource_group)

    @action
    def delete_snapshot(self, name: str, resource_group: str | None = None) -> None:
        self._delete_resource("snapshot", name, resource_group)

    @action
    def delete_image(self, name: str, resource_group: str | None = None) -> None:
        self._delete_resource("image", name, resource_group)

    def _delete_resource(self, kind: str, name: str, resource_group: str | None) -> None:
        with self.transaction():
            r = self._find(kind, name, resource_group)
            if kind == "disk":
                vm = self.vm_of_disk(r.id)
                if vm is not None:
                    raise Conflict(f"Disk {r.name} is attached to VM {vm.id}.", code="OperationNotAllowed")
            self._remove(r)
            # the blob goes only once the deletion is committed: a crash before leaves the disk whole
            self.uow.after_commit.append(lambda blob=r.blob: self.store.blobs.delete(blob))
            self._emit(DELETED[kind], f"{kind} {r.name} deleted", **{kind: r.id})

    def move_resource(self, resource_id: str, target_subscription: str) -> None:
        """K7: customer-key disks, snapshots and images cannot move to another subscription."""
        with self.transaction():
            ref = parse_arm_id(resource_id)
            kind = {"microsoft.compute/disks": "disk", "microsoft.compute/snapshots": "snapshot",
                    "microsoft.compute/images": "image"}.get(ref.provider.lower() if ref else "")
            if kind is None:
                raise BadRequest(f"{resource_id!r} is not a disk, snapshot or image id", code="InvalidParameter")
            r = self._find(kind, resource_id)
            if target_subscription.lower() == self.subscription_id.lower():
                raise BadRequest("the target subscription is the current one", code="InvalidParameter")
            if r.encryption_type != ENC_PLATFORM:
                raise OperationNotAllowed(f"{kind} {r.name!r} is encrypted with customer-managed keys and cannot move "
                                          "to another subscription (K7)", code="OperationNotAllowed")
            raise OperationNotAllowed(f"this simulator holds one subscription ({self.subscription_id}); moving "
                                      f"{kind} {r.name!r} out of it is not modelled", code="OperationNotAllowed")

    def _forget_data_keys_of(self, key) -> None:
        """A key was purged: drop every sealed cache of data keys it wrapped (crypto-shredding, KV6)."""
        prefix = key.id.lower() + "/"
        for table in DATA_TABLES:
            for r in self.t[table].values():
                if r.cache and any(layer["kid"].lower().startswith(prefix) for layer in r.layers):
                    self._touch(r)
                    r.cache = None



def _same_generation_as_vm(requested: str | None, os_disk) -> None:
    """K11: an image captured from a VM has the VM's Hyper-V generation; a request for another one (az's ``image
    create`` asks for V1 unless told, so a Gen2 VM needs ``--hyper-v-generation V2``) is refused as Azure refuses
    it (Microsoft's text, as users of ``az image create`` report it; ``None``, a REST call that names no
    generation, takes the VM's)."""
    vm_generation = os_disk.hyper_v_generation or "V1"
    if requested is not None and requested != vm_generation:
        raise BadRequest(f"The Input HyperVGeneration property: '{requested}' does not match with the HyperVGeneration "
                         f"property: 'Gen{vm_generation[1:]}' belonging to source: 'sourceVirtualMachine'.",
                         code="InvalidParameter")


def _rekey_impl(engine: DisksBackend, des: DiskEncryptionSet, new_kid: str, resources: list | None) -> int:
    """D3: unwrap each data key (old version or sealed cache), wrap with ``new_kid``; data untouched."""
    problem = engine.key_problem(des.principal_id, new_kid, "wrapKey")
    if problem is not None:
        raise engine.des_identity_ready(des) or compute_error(problem, f"disk encryption set {des.name}", des)
    old = des.key_url
    engine._touch(des)
    if old != new_kid:
        des.previous_keys = [{"keyUrl": old, "sourceVault": {"id": des.source_vault_id}}]
    des.provisioning_state = "Updating"
    todo = resources if resources is not None else engine.des_resources(des)
    todo = [r for r in todo if r.layers and r.layers[0]["kid"] != new_kid]
    uow = engine.uow
    if uow.dry_run:
        engine._open_outer_bulk([r for r in todo if not r.layers[0]["kid"].startswith("platform:")], des)
        uow.rewrap_skipped.extend(r.id for r in todo)
        for r in todo:
            engine._touch(r)
            r.layers[0]["kid"] = new_kid
    elif todo:
        ref = parse_key_url(new_kid)
        k = engine.t["keys"][key_id(ref.vault, ref.name).lower()]
        ver = k.version(ref.version)
        public = crypto.public_from_jwk(ver["n"], ver["e"])
        touch = engine._touch

        def rewrapped(r, dek: bytes, w: str) -> None:
            touch(r)
            outer = r.layers[0]
            outer["kid"] = new_kid
            outer["wrapped"] = w
            if r.cache is None:  # the storage service has opened the data key again: keep it sealed
                inner = [crypto.unwrap_key(engine._platform_private(x["kid"]), engine.unb64(x["wrapped"]))
                         for x in r.layers[1:]]
                engine._seal_cache(r, [dek] + inner)

        # the common case: every data key opens at the vault; one parallel pass that also updates each resource
        fused = None if engine.rng.seeded else engine._rewrap_outer_bulk(todo, des, public, rewrapped)
        if fused is None:  # a seeded store (one stream of randomness, in order), a platform key, or the cache
            deks = engine._open_outer_bulk(todo, des)
            if engine.rng.seeded:
                wrapped = [engine.b64(oaep_sha256_encrypt(public, dek, engine.rng)) for dek in deks]
            else:
                wrapped = parallel(lambda dek: engine.b64(crypto.wrap_key(public, dek)), deks)
            for r, dek, w in zip(todo, deks, wrapped):
                rewrapped(r, dek, w)
        engine._audit_many(ref.vault, des.principal_id, "KeyWrap", new_kid, len(todo))
    des.key_url = new_kid
    des.last_key_rotation = engine.now()
    des.provisioning_state = "Succeeded"
    des.previous_keys = []
    des.auto_key_rotation_error = None
    engine._emit(ev.DiskEncryptionSetKeyChanged, f"disk encryption set {des.name} now uses key {new_kid}; "
                 f"{len(todo)} data key(s) re-wrapped, data and VMs untouched", des=des.id, kid=new_kid)
    uow.reconcile = True
    return len(todo)


def _encrypted_chunks(inner, outer, first: int, data):
    """The records of ``data`` (whole blocks from block ``first``), a chunk of ``CHUNK_BLOCKS`` at a time, each
    encrypted into the same buffer: the blob store writes a chunk before it asks for the next (see
    ``BlobStore.writev``), so a write of any size touches one chunk of fresh memory, not a copy of itself."""
    bs, rs = crypto.BLOCK_SIZE, crypto.RECORD_SIZE
    step = CHUNK_BLOCKS * bs
    with memoryview(data) as view, view.cast("B") as src:
        out = memoryview(bytearray(min(len(src) // bs, CHUNK_BLOCKS) * rs))
        with out:
            for i in range(0, len(src), step):
                n = crypto.encrypt_layers_into(inner, outer, first + i // bs, src[i:i + step], out)
                yield out[:n]
