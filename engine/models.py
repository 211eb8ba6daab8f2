"""Resource models with explicit states.

Each model is a dataclass of JSON-native fields (str, int, bool, None, lists and dicts of those), so
that ``to_doc``/``from_doc`` are a cheap copy: loading 10,000 resources must cost little more than
``json.loads``. Times are ISO strings in one form (``clock.iso``), which sort as text.

State that follows from relationships is derived, never stored twice (moto's ``Volume.status``): a
disk's ``diskState`` and ``managedBy`` come from the VM that lists it; a key's usability comes from
its version, vault and access.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar

from ._light import _Field, dataclass, field


def _copy(value: Any) -> Any:
    """A copy of a JSON tree (lists and dicts); scalars are shared. Hot on load: keep it lean."""
    t = type(value)
    if t is list:
        return [_copy(x) if type(x) in _CONTAINERS else x for x in value]
    if t is dict:
        return {k: (_copy(x) if type(x) in _CONTAINERS else x) for k, x in value.items()}
    return value


_CONTAINERS = (list, dict)


def _sorted_copy(value: Any) -> Any:
    """As :func:`_copy`, with dict keys in sorted order."""
    t = type(value)
    if t is dict:
        return {k: (_sorted_copy(value[k]) if type(value[k]) in _CONTAINERS else value[k]) for k in sorted(value)}
    if t is list:
        return [_sorted_copy(x) if type(x) in _CONTAINERS else x for x in value]
    return value


class Model:
    """Base: a table name, a key, and a cheap document mapping."""

    table: ClassVar[str] = ""
    _nested: ClassVar[tuple[str, ...]] = ()
    @property
    def key(self) -> str:
        """The document's key in its table: Azure ids and names are case-insensitive, so keys are lower-case
        (tables look keys up lower-cased too: ``engine.core._Table``)."""
        return self.id.lower()  # type: ignore[attr-defined]

    def to_doc(self) -> dict:
        """The document, keys sorted at every level: the store writes with ``sort_keys`` (byte-identical
        files), and sorting what is already sorted is a linear pass instead of a reorder per commit."""
        d = self.__dict__
        nested = self._nested
        return {k: (_sorted_copy(d[k]) if k in nested else d[k]) for k in sorted(d)}

    def snapshot(self) -> dict:
        """The document as :meth:`to_doc` gives it, without sorting its keys (what a unit of work keeps to put
        the model back: dicts compare equal in any order, and the store sorts when it writes)."""
        d = self.__dict__
        nested = self._nested
        return {k: (_copy(v) if k in nested else v) for k, v in d.items()}

    @classmethod
    def from_doc(cls, doc: dict, owned: bool = False):
        """The model of ``doc``. ``owned``: the caller hands ``doc`` over (a fresh parse nobody else
        holds), so it becomes the model's own state without a copy."""
        obj = cls.__new__(cls)
        if owned:
            d = doc
        else:
            d = dict(doc)
            for name in cls._nested:
                v = d.get(name)
                if type(v) in _CONTAINERS:
                    d[name] = _copy(v)
        defaults = _DEFAULTS.get(cls)
        if defaults is None:
            defaults = _DEFAULTS[cls] = _defaults_of(cls)
        if len(d) < len(defaults):
            for k, v in defaults.items():
                if k not in d:
                    d[k] = _copy(v)
        obj.__dict__ = d
        return obj


_SIMPLE_TYPES = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float), "list": (list,),
                 "dict": (dict,)}


def field_types(cls: type) -> dict[str, tuple[tuple[type, ...], bool]]:
    """``{field: (accepted types, None allowed)}`` for the fields whose annotation is a plain JSON type
    (``str``, ``int | None``, ``list[str]`` ...): what a document read from the store is checked against."""
    out: dict[str, tuple[tuple[type, ...], bool]] = {}
    for klass in reversed(cls.__mro__):
        for name, ann in klass.__dict__.get("__annotations__", {}).items():
            text = str(ann).replace(" ", "")
            if "ClassVar" in text:
                continue
            parts = text.split("|")
            nullable = "None" in parts
            kinds = [p.split("[", 1)[0] for p in parts if p != "None"]
            if len(kinds) == 1 and kinds[0] in _SIMPLE_TYPES:
                out[name] = (_SIMPLE_TYPES[kinds[0]], nullable)
            else:
                out.pop(name, None)
    return out


_DEFAULTS: dict[type, dict] = {}


def _defaults_of(cls: type) -> dict:
    out = {}
    for name, default in cls.__light_defaults__.items():  # type: ignore[attr-defined]
        out[name] = default.default_factory() if isinstance(default, _Field) else default
    return out


class ResourceState(str, Enum):
    ACTIVE = "Active"
    DELETED = "Deleted"  # soft-deleted, recoverable until purged


class PowerState(str, Enum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    DEALLOCATING = "deallocating"
    DEALLOCATED = "deallocated"

    @property
    def code(self) -> str:
        return f"PowerState/{self.value}"

    @property
    def display(self) -> str:
        return f"VM {self.value}"


POWER_TRANSITIONS = {
    "start": ({PowerState.STOPPED, PowerState.DEALLOCATED, PowerState.RUNNING}, PowerState.RUNNING),
    "stop": ({PowerState.RUNNING, PowerState.STOPPED}, PowerState.STOPPED),
    "deallocate": ({PowerState.RUNNING, PowerState.STOPPED, PowerState.DEALLOCATED}, PowerState.DEALLOCATED),
    "restart": ({PowerState.RUNNING}, PowerState.RUNNING),
}
"""Allowed power transitions (the transient states pass within one action)."""


@dataclass
class EngineMeta(Model):
    """The engine's own singleton document: clock, randomness, account, rule profile."""

    table: ClassVar[str] = "engine"
    id: str = "engine"
    clock: str = ""
    seed: int | None = None
    rng_counter: int = 0
    profile: str = "seeds"
    subscription_id: str = ""
    subscription_name: str = "cmklab-subscription"
    tenant_id: str = ""
    user_object_id: str = ""
    user_name: str = "operator@cmklab.local"
    indexes: int = 0
    """The version of the engine's own index tables this state keeps (see EngineCore._keep_indexes)."""
    root_key: str = ""
    """A one-way fingerprint of the root key that seals this state's key material (see EngineCore)."""
    notified: list = field(default_factory=list)
    _nested: ClassVar[tuple[str, ...]] = ("notified",)


@dataclass
class ResourceGroup(Model):
    table: ClassVar[str] = "groups"
    id: str
    name: str
    location: str
    tags: dict = field(default_factory=dict)
    _nested: ClassVar[tuple[str, ...]] = ("tags",)


@dataclass
class Vault(Model):
    table: ClassVar[str] = "vaults"
    id: str
    name: str
    resource_group: str
    location: str
    sku: str = "standard"
    tenant_id: str = ""
    enable_purge_protection: bool | None = None
    soft_delete_retention_days: int = 90
    enable_rbac_authorization: bool = False
    access_policies: list = field(default_factory=list)
    """``[{"tenantId", "objectId", "permissions": {"keys": [...], "secrets": [], "certificates": []}}]``"""
    created: str = ""
    state: str = ResourceState.ACTIVE.value
    deleted_date: str | None = None
    scheduled_purge_date: str | None = None
    tags: dict = field(default_factory=dict)
    props: dict = field(default_factory=dict)
    """Plain ARM properties stored and shown, never acted on (``properties.enabledForDeployment``,
    ``properties.networkAcls`` ...): a JSON object in the REST names, merged into the vault's JSON."""
    _nested: ClassVar[tuple[str, ...]] = ("access_policies", "tags", "props")

    @property
    def key(self) -> str:
        return self.name.lower()


@dataclass
class RoleAssignment(Model):
    table: ClassVar[str] = "roles"
    id: str
    name: str
    principal_id: str
    role: str
    scope: str
    created: str = ""


@dataclass
class KeyVersion(Model):
    version: str
    created: str
    updated: str
    enabled: bool = True
    nbf: str | None = None
    exp: str | None = None
    n: str = ""
    e: str = ""
    sealed: str | None = None
    """The private key, PKCS8 DER sealed with AES-GCM under the root key. None once purged."""


@dataclass
class Key(Model):
    """A Key Vault key and its versions (the newest is the current one)."""

    table: ClassVar[str] = "keys"
    id: str
    """Versionless key id (``engine.ids.key_id(vault, name)``)."""
    vault: str
    name: str
    kty: str = "RSA"
    size: int = 2048
    key_ops: list = field(default_factory=lambda: ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"])
    tags: dict = field(default_factory=dict)
    versions: list = field(default_factory=list)
    """``KeyVersion`` documents, oldest first."""
    state: str = ResourceState.ACTIVE.value
    deleted_date: str | None = None
    scheduled_purge_date: str | None = None
    imported: bool = False
    rotation_policy: dict | None = None
    _nested: ClassVar[tuple[str, ...]] = ("key_ops", "tags", "versions", "rotation_policy")

    @property
    def key(self) -> str:
        return self.id.lower()

    def version(self, version: str | None = None) -> dict | None:
        if not self.versions:
            return None
        if version is None:
            return self.versions[-1]
        for v in self.versions:
            if v["version"] == version:
                return v
        return None

    @property
    def current(self) -> dict:
        return self.versions[-1]

    @property
    def type_label(self) -> str:
        """``RSA 3072``, ``RSA-HSM 2048``, ``EC P-384``: the type and size (or curve) of the current version."""
        crv = self.versions[-1].get("crv") if self.versions else None
        return f"{self.kty} {crv}" if crv else f"{self.kty} {self.size}"


@dataclass
class DiskEncryptionSet(Model):
    table: ClassVar[str] = "des"
    id: str
    name: str
    resource_group: str
    location: str
    encryption_type: str
    key_url: str
    source_vault_id: str
    principal_id: str
    tenant_id: str
    rotation_to_latest: bool = False
    previous_keys: list = field(default_factory=list)
    last_key_rotation: str | None = None
    provisioning_state: str = "Succeeded"
    auto_key_rotation_error: dict | None = None
    created: str = ""
    tags: dict = field(default_factory=dict)
    _nested: ClassVar[tuple[str, ...]] = ("previous_keys", "tags", "auto_key_rotation_error")


@dataclass
class Disk(Model):
    """A managed disk, snapshot or image: the data is encrypted with its own data keys.

    ``layers`` lists the wrapped data keys, outermost first: ``{"mode": "AES-256-GCM" | "AES-256-XTS",
    "kid": versioned key id or "platform:{region}", "wrapped": base64}``. Snapshot and image rows are
    the same model in other tables.
    """

    table: ClassVar[str] = "disks"
    id: str
    name: str
    resource_group: str
    location: str
    kind: str = "disk"
    sku: str = "Premium_LRS"
    size_gb: int = 128
    os_type: str | None = None
    create_option: str = "Empty"
    source_resource_id: str | None = None
    image_reference: str | None = None
    encryption_type: str = "EncryptionAtRestWithPlatformKey"
    des_id: str | None = None
    layers: list = field(default_factory=list)
    ade_enabled: bool = False
    unique_id: str = ""
    blob_id: str | None = None
    """The blob holding the data when it is not ``unique_id``'s: a re-encryption writes a new blob and the
    commit switches to it, so the committed state and its ciphertext never disagree (crash safety)."""
    created: str = ""
    subscription_id: str = ""
    tags: dict = field(default_factory=dict)
    zone: str | None = None
    """The availability zone ("1", "2", "3") of a zonal disk; None for a regional one."""
    hyper_v_generation: str | None = None
    """"V1" or "V2" as given at creation (``--hyper-v-generation``) or inherited from the source (a disk from a Gen2
    image is V2); None: not said, shown as Azure's default V1 on an OS disk or image."""
    cache: str | None = None
    """The storage service's copy of the opened data keys, sealed with the platform host key.

    Used for I/O by an allocated VM and to re-wrap when the set gets a new key; never to start a VM
    (a start unwraps at the vault). Dropped when the wrapping key is purged (crypto-shredding)."""
    props: dict = field(default_factory=dict)
    """Plain ARM properties the engine stores and shows but never acts on (``maxShares``, ``networkAccessPolicy``,
    ``supportedCapabilities`` ...): a JSON object in the REST names, merged into the resource's JSON."""
    _nested: ClassVar[tuple[str, ...]] = ("layers", "tags", "props")

    @property
    def blob(self) -> str:
        """The id of the blob that holds this resource's ciphertext."""
        return self.blob_id or self.unique_id

    @property
    def is_ultra(self) -> bool:
        return self.sku == "UltraSSD_LRS"

    @property
    def size_bytes(self) -> int:
        return self.size_gb * 1024**3


@dataclass
class Snapshot(Disk):
    table: ClassVar[str] = "snapshots"
    kind: str = "snapshot"


@dataclass
class Image(Disk):
    table: ClassVar[str] = "images"
    kind: str = "image"


@dataclass
class VirtualMachine(Model):
    table: ClassVar[str] = "vms"
    id: str
    name: str
    resource_group: str
    location: str
    size: str = "Standard_DS3_v2"
    image: str = "Ubuntu2204"
    os_type: str = "Linux"
    os_disk_id: str = ""
    data_disks: list = field(default_factory=list)
    """``[{"lun": int, "diskId": str}]`` sorted by lun."""
    ultra_ssd_enabled: bool = False
    encryption_at_host: bool = False
    encryption_at_host_set: bool = False
    """True once encryption at host was set, to false too: Azure then shows ``securityProfile.encryptionAtHost``
    as false rather than no security profile."""
    ade_enabled: bool = False
    power: str = PowerState.RUNNING.value
    status: dict | None = None
    """Why the VM is as it is: ``{"code", "message", "kid", "at"}`` (set by a cascade or a refused start)."""
    host_cache: dict = field(default_factory=dict)
    """Unwrapped data keys held by the host while allocated, sealed with the platform host key."""
    vm_id: str = ""
    admin_username: str = "azureuser"
    created: str = ""
    scale_set: str | None = None
    tags: dict = field(default_factory=dict)
    zone: str | None = None
    """The availability zone of a zonal VM (``az vm create --zone``); None for a regional one."""
    props: dict = field(default_factory=dict)
    """Plain ARM properties stored and shown, never acted on (``licenseType``, ``priority``, ``userData`` ...):
    a JSON object in the REST names, merged into the VM's JSON."""
    _nested: ClassVar[tuple[str, ...]] = ("data_disks", "status", "host_cache", "tags", "props")

    def disk_ids(self) -> list[str]:
        out = [self.os_disk_id] if self.os_disk_id else []
        return out + [d["diskId"] for d in self.data_disks]

    def lun_of(self, disk_id: str) -> int | str | None:
        if disk_id == self.os_disk_id:
            return "os"
        for d in self.data_disks:
            if d["diskId"] == disk_id:
                return d["lun"]
        return None


@dataclass
class ScaleSet(Model):
    """A virtual machine scale set: a template its instances (VMs named ``{name}-{n}``) are made from.

    Encryption at host can be turned on while it runs; only instances created afterwards get it (V6)."""

    table: ClassVar[str] = "scalesets"
    id: str
    name: str
    resource_group: str
    location: str
    size: str = "Standard_DS3_v2"
    image: str = "Ubuntu2204"
    os_disk_encryption_set: str | None = None
    os_disk_size_gb: int | None = None
    """The model's OS disk size; None: the image's."""
    encryption_at_host: bool = False
    next_instance: int = 0
    created: str = ""
    data_disk_sizes_gb: list = field(default_factory=list)
    """The model's data disks, one size per LUN."""
    data_disk_encryption_sets: list = field(default_factory=list)
    """One set for every data disk, or one per LUN (as ``az vmss create --data-disk-encryption-sets``)."""
    upgrade_mode: str = "Manual"
    orchestration_mode: str = "Flexible"
    admin_username: str = "azureuser"
    unique_id: str = ""
    tags: dict = field(default_factory=dict)
    props: dict = field(default_factory=dict)
    """Plain ARM properties az's flags set (``zones``, ``upgradePolicy.rollingUpgradePolicy``...): shown, never
    acted on."""
    _nested: ClassVar[tuple[str, ...]] = ("data_disk_sizes_gb", "data_disk_encryption_sets", "tags", "props")

    def data_disk_set(self, lun: int) -> str | None:
        """The disk encryption set (id) the model gives the data disk at ``lun``: the one set, or the LUN's."""
        sets = self.data_disk_encryption_sets
        if not sets:
            return None
        return sets[0] if len(sets) == 1 else (sets[lun] if lun < len(sets) else None)


@dataclass
class PlatformKey(Model):
    """The platform-managed key of a region (RSA, sealed like any key)."""

    table: ClassVar[str] = "platform_keys"
    id: str
    region: str
    n: str
    e: str
    sealed: str
    created: str


@dataclass
class AuditEntry(Model):
    table: ClassVar[str] = "audit"
    id: str
    time: str
    vault: str
    caller: str
    operation: str
    kid: str | None
    result: str
    code: str | None = None
    message: str | None = None


@dataclass
class EventEntry(Model):
    table: ClassVar[str] = "events"
    id: str
    time: str
    type: str
    severity: str
    summary: str
    data: dict = field(default_factory=dict)
    _nested: ClassVar[tuple[str, ...]] = ("data",)


@dataclass
class DiskAttachment(Model):
    """Index: the VM a disk is attached to (kept by the engine whenever a VM's disks change), so that
    "which VM uses this disk" is one look-up instead of a scan of every VM."""

    table: ClassVar[str] = "vm_of_disk"
    id: str
    """The disk's id."""
    vm: str


@dataclass
class DesMember(Model):
    """Index: a disk, snapshot or image that a disk encryption set serves. Keyed ``<set id>|<resource id>``:
    the store shards such keys by the part before ``|``, so a set's members are read as one shard."""

    table: ClassVar[str] = "des_members"
    id: str
    kind: str
    """The resource's table: disks, snapshots or images."""
    resource: str


TABLE_OF_KIND = {"vault": Vault.table, "des": DiskEncryptionSet.table, "disk": Disk.table, "snapshot": Snapshot.table,
                 "image": Image.table, "vm": VirtualMachine.table, "vmss": ScaleSet.table}
"""The table of each kind of resource ``engine.ids.PROVIDERS`` names (the model classes own the names)."""

DATA_TABLES = (Disk.table, Snapshot.table, Image.table)
"""The tables of resources that hold encrypted data (disks, snapshots, images): one owner for the list."""

NOT_RESOURCES = ("engine", "audit", "events", "platform_keys", DiskAttachment.table, DesMember.table)
"""Tables that hold the engine's own bookkeeping (meta, logs, platform keys, indexes), not Azure resources."""

MODELS: dict[str, type[Model]] = {m.table: m for m in (
    EngineMeta, ResourceGroup, Vault, RoleAssignment, Key, DiskEncryptionSet, Disk, Snapshot, Image,
    VirtualMachine, ScaleSet, PlatformKey, DiskAttachment, DesMember, AuditEntry, EventEntry)}
