"""A twin of a real subscription's key topology, built from what the Azure CLI prints (``-o json``).

:func:`parse_inputs` reads the documents (any order, any mix; each item is recognised from its content),
:func:`plan_import` turns them into the engine's models and a :class:`Report` of what cannot be modelled,
and :func:`apply_import` lands the plan in one unit of work: whole or not at all.

Kept as given: ids, names, subscription, regions, SKUs, sizes, set types, key versions and their
attributes, identities, access grants, attachments (LUNs) and power states. Key material never leaves
Azure, so each key *version* gets generated stand-in material (RSA-2048 unless the input shows another
size: a ``key.n`` from ``az keyvault key show`` or a ``keySize``), marked ``standIn`` in its version
document, and each customer-key disk a generated data key wrapped by the version its set names: every
cascade then acts through the cryptography as for native resources. Imported disks hold no data.

Bounds: a file over :data:`MAX_FILE_BYTES` is refused before it is read; JSON nested deeper than the
parser allows, or values cmklab keeps (tags, access policies) nested deeper than :data:`MAX_DEPTH`, are
refused with the file named.
"""

from __future__ import annotations

import contextlib
import base64
import json
import os
import stat
from datetime import datetime as _datetime
from typing import Any, Callable, Iterable

from ._lazy import crypto
from ._light import dataclass, field
from .clock import iso, parse_iso
from .core import _no_cycle_collection
from .entropy import oaep_sha256_encrypt, seeded_rsa
from .errors import BadRequest, Conflict
from .ids import key_id, parse_arm_id, parse_key_url
from .models import (DATA_TABLES, DesMember, DiskAttachment, DiskEncryptionSet, Disk, Image, Key, PlatformKey,
                     ResourceGroup, RoleAssignment, ScaleSet, Snapshot, Vault, VirtualMachine)
from .views import STAND_IN_NOTE  # noqa: F401  (re-exported: what a stand-in is called wherever shown)
from .rules import DISK_ENCRYPTION_TYPES, DISK_SKUS, ENC_CUSTOMER, ENC_DOUBLE, ENC_PLATFORM, KEY_SIZES, KEY_TYPES

MAX_FILE_BYTES = 512 * 1024 * 1024
"""The largest input file read (512 MiB); larger ones are refused before reading."""
MAX_DEPTH = 32
"""How deep a kept value (tags, access policy permissions) may nest."""
DEFAULT_STAND_IN_BITS = 2048
SUMMARY_IDS = 3
"""How many ids the summary names per reason."""

TYPES = {
    "microsoft.resources/resourcegroups": "group",
    "microsoft.resources/subscriptions/resourcegroups": "group",
    "microsoft.keyvault/vaults": "vault",
    "microsoft.authorization/roleassignments": "role",
    "microsoft.compute/diskencryptionsets": "des",
    "microsoft.compute/disks": "disk",
    "microsoft.compute/snapshots": "snapshot",
    "microsoft.compute/images": "image",
    "microsoft.compute/virtualmachines": "vm",
    "microsoft.compute/virtualmachinescalesets": "vmss",
}
"""The ARM types a twin models (the Resource Graph query names the same)."""

POWER = {"running": "running", "stopped": "stopped", "deallocated": "deallocated",
         "starting": "running", "stopping": "stopped", "deallocating": "deallocated"}


class ImportInputError(BadRequest):
    """The input is not what ``cmklab import`` reads (a usage error: exit 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="InvalidImportInput")


# ---- reading --------------------------------------------------------------------------------------


def read_file(path: str | os.PathLike, *, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """The parsed JSON of one input file, or :class:`ImportInputError` naming the file and what was wrong."""
    name = os.fspath(path)
    try:
        size = os.stat(name).st_size
    except OSError as e:
        raise ImportInputError(f"{name}: cannot read it ({e.strerror or e})") from None
    if size > max_bytes:
        raise ImportInputError(f"{name}: {size:,} bytes is over the limit of {max_bytes:,} bytes "
                               f"({max_bytes // 1024 ** 2} MiB); split the capture (--first 1000 pages of the "
                               f"Resource Graph query, one file per az command)")
    mapped = _mapped(name, max_bytes) if size >= MAP_MIN_BYTES else None
    if mapped is not None:
        try:
            return parse_text(mapped, name)
        finally:
            try:
                mapped.close()
            except BufferError:  # a view of it is held by the error being raised: the map closes with it
                pass
    try:
        with open(name, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise ImportInputError(f"{name}: cannot read it ({e.strerror or e})") from None
    return parse_text(raw, name)


def folder_files(folder: str | os.PathLike) -> list[str]:
    """The input files of a folder (what the capture script writes into ``twin/``): its ``*.json``, sorted."""
    import glob

    return sorted(glob.glob(os.path.join(glob.escape(os.fspath(folder)), "*.json")))


def input_files(paths: Iterable[str]) -> list[str]:
    """The files ``cmklab import PATH ...`` reads: each path that is a folder gives its ``*.json``
    (:func:`folder_files`), any other is read as a file; :class:`ImportInputError` for a folder without any."""
    out: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = folder_files(path)
            if not found:
                raise ImportInputError(f"{path}: a folder without .json files; give the folder the capture script "
                                       f"wrote (twin/), or the files themselves")
            out.extend(found)
        else:
            out.append(path)
    return out


MAP_MIN_BYTES = 1 << 20
"""Input files of this size or more are parsed from a read-only map of the file (:func:`_mapped`)."""


def _mapped(name: str, max_bytes: int):
    """A read-only map of the regular file ``name`` (at most ``max_bytes``), parsed in place of a copy read into
    memory: the parser reads the system's cached pages of the file itself. Of a 270 MB capture, 0.11 s of the
    parse's 0.55 s went to copying it into 63,000 new pages, each given zeroed by the system first. None where
    the file cannot be mapped (not a regular file, a system without maps): it is then read. (A file cut
    shorter by another program while it is parsed ends the process: the import is one transaction, so its
    home is unchanged.)"""
    try:
        import mmap

        fd = os.open(name, os.O_RDONLY)
    except (ImportError, OSError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not 0 < st.st_size <= max_bytes:
            return None
        return mmap.mmap(fd, st.st_size, access=mmap.ACCESS_READ)
    except (OSError, ValueError, OverflowError):
        return None
    finally:
        os.close(fd)


class _NotANumber(Exception):
    pass


def _not_a_number(token: str):
    """What the parser calls for ``NaN``, ``Infinity`` and ``-Infinity`` (Python's json takes them; JSON and az's
    output have none): refused, so that no such float reaches the store (its bulk commit writes a float that is
    not a number as null: store.tinystore._bulk_encoder)."""
    raise _NotANumber(token)


def _finite(token: str) -> float:
    """A number of the input as a float, refused when it is beyond a float's range (``1e400``: an infinity)."""
    value = float(token)
    if value in (_INF, -_INF):
        raise _NotANumber(token[:40])
    return value


_INF = float("inf")


_FAST: list = []
_FAST_REFUSED: tuple = (ValueError, RecursionError)
"""What the fast parser raises for input it does not take (msgspec.DecodeError is a ValueError)."""


def _fast_decoder():
    """What parses an input file's bytes first: msgspec's JSON decoder, into the same values as ``json.loads``
    (dicts, lists, str, int of any size, float, bool, None), from the UTF-8 bytes themselves (no decoded copy).
    It takes about half of ``json.loads``'s time on a capture of 270 MB (0.7 s against 1.2-1.8 s) and two thirds
    of orjson's, and its values take 40% less memory (fewer pages for the system to give the process). What it refuses (``NaN``,
    ``Infinity``, ``1e400``, a lone surrogate, nesting deeper than the interpreter's recursion limit, anything
    not JSON) goes to the standard parser, which says what is wrong, or takes it (a lone surrogate). Imported on
    the first parse of an import, not by every command. None where it is missing (the standard parser then)."""
    return _fast_decoders()[0]


def _fast_decoders() -> tuple:
    """(:func:`_fast_decoder`, the same for a list of items keeping only the fields the import reads
    (:func:`_read_shape`), the error it raises for a field of another type than the shape's), or (None, None,
    None) without msgspec."""
    if not _FAST:
        try:
            import msgspec  # (here: only an import pays for importing it)
        except ImportError:  # pragma: no cover - a declared dependency
            _FAST.append((None, None, None))
        else:
            _FAST.append((msgspec.json.Decoder().decode, msgspec.json.Decoder(_read_shape()).decode,
                          msgspec.ValidationError))
    return _FAST[0]


READ_FIELDS = (
    "id", "name", "type", "location", "resourceGroup", "managedBy", "tags", "properties", "identity", "sku",
    "systemData", "timeCreated", "provisioningState", "tenantId",
    # keys and rotation policies
    "kid", "key", "keySize", "kty", "keyOps", "attributes", "deletedDate", "recoveryId", "lifetimeActions",
    "lifetime_actions", "expiresIn",
    # vaults and role assignments
    "accessPolicies", "enableSoftDelete", "enablePurgeProtection", "softDeleteRetentionInDays",
    "enableRbacAuthorization", "roleDefinitionName", "principalId", "scope", "createdOn",
    # disk encryption sets
    "activeKey", "encryptionType", "previousKeys", "rotationToLatestKeyVersionEnabled", "lastKeyRotationTimestamp",
    "autoKeyRotationError",
    # disks, snapshots, images
    "encryption", "diskSizeGb", "diskSizeGB", "osType", "uniqueId", "creationData", "sourceVirtualMachine",
    # VMs and scale sets
    "storageProfile", "osProfile", "hardwareProfile", "additionalCapabilities", "securityProfile", "vmId",
    "virtualMachineScaleSet", "powerState", "extended", "virtualMachineProfile",
    # Resource Graph pages (a list of them), REST lists
    "data", "count", "total_records", "totalRecords", "skip_token", "skipToken", "value",
)
"""Every field of an item (at its top) the import reads: a list of items is parsed into these alone
(:func:`_read_shape`); tests/import checks that the planner reads no other."""


def _read_shape():
    """The type a list of items is parsed as where it can be: dicts of the :data:`READ_FIELDS` alone (every other
    field is skipped, not built), and of their objects only the fields the planner reads: of
    ``storageProfile``, ``dataDisks[].lun`` and ``.managedDisk.id``, of ``osDisk`` what a VM and an image read
    (its ``managedDisk``, ``diskEncryptionSet`` and ``snapshot`` by their ``id``), ``imageReference``'s id,
    publisher, offer, sku and version; ``osProfile.adminUsername``, ``hardwareProfile.vmSize``,
    ``securityProfile.encryptionAtHost``, ``additionalCapabilities``' ultra SSD flag, ``encryption``'s set and
    type, ``sku``'s name and capacity, ``creationData.createOption`` and ``.sourceResourceId``. A field of another
    type than that (a data disk that is a string, say) makes the file be parsed whole instead. Of a
    100,000-resource capture, the VMs' and disks' files: 0.47 s instead of 0.59 s parsed whole (0.53 s with
    those objects kept whole, which touched 86,000 pages instead of 135,900)."""
    from typing import TypedDict

    def only(name: str, fields: dict):
        return TypedDict(name, fields, total=False) | None

    ref = only("_Ref", {"id": Any})
    data_disk = only("_DataDisk", {"lun": Any, "managedDisk": ref})
    os_disk = only("_OsDisk", {"managedDisk": ref, "osType": Any, "diskEncryptionSet": ref, "storageAccountType": Any,
                               "diskSizeGb": Any, "diskSizeGB": Any, "snapshot": ref})
    image_ref = only("_ImageReference", {"id": Any, "publisher": Any, "offer": Any, "sku": Any, "version": Any})
    storage = only("_Storage", {"osDisk": os_disk, "dataDisks": list[data_disk] | None, "imageReference": image_ref})
    shaped = {"storageProfile": storage, "osProfile": only("_OsProfile", {"adminUsername": Any}),
              "creationData": only("_CreationData", {"createOption": Any, "sourceResourceId": Any}),
              "hardwareProfile": only("_HardwareProfile", {"vmSize": Any}),
              "securityProfile": only("_SecurityProfile", {"encryptionAtHost": Any}),
              "additionalCapabilities": only("_Capabilities", {"ultraSSDEnabled": Any, "ultraSsdEnabled": Any}),
              "encryption": only("_Encryption", {"diskEncryptionSetId": Any, "type": Any}),
              "sku": only("_Sku", {"name": Any, "capacity": Any})}
    fields = {name: shaped.get(name, Any) for name in READ_FIELDS}
    return list[TypedDict("_Item", fields, total=False) | None]


def parse_text(raw: bytes | bytearray | memoryview | str, name: str = "<input>") -> Any:
    """The JSON of an input file's text or bytes (or any object that gives its bytes, a map of the file)."""
    if not isinstance(raw, str):
        if raw[:3] == b"\xef\xbb\xbf":
            raw = memoryview(raw)[3:]  # PowerShell's Out-File writes a byte order mark
        decode, decode_read, other_type = _fast_decoders()
        if decode is not None:
            try:
                with _no_cycle_collection():
                    if bytes(raw[:64]).lstrip()[:1] == b"[":  # a list of items: only the fields the import reads
                        try:
                            return decode_read(raw)
                        except other_type:
                            pass  # (a field of another type than the shape's: the file parsed whole)
                    return decode(raw)
            except _FAST_REFUSED:
                pass
        try:
            raw = str(raw, "utf-8")
        except UnicodeDecodeError as e:
            raise ImportInputError(f"{name}: not UTF-8 text (byte {e.start}); expected the JSON an az command "
                                   f"prints with -o json") from None
    if not raw.strip():
        raise ImportInputError(f"{name}: empty; expected the JSON an az command prints with -o json")
    try:
        with _no_cycle_collection():  # a parse makes no cycles: collections would only re-walk its objects
            return json.loads(raw, parse_constant=_not_a_number, parse_float=_finite)
    except _NotANumber as e:
        raise ImportInputError(f"{name}: a number az does not print ({e.args[0]}: not a finite number); expected "
                               f"the JSON an az command prints with -o json") from None
    except json.JSONDecodeError as e:
        raise ImportInputError(f"{name}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); expected "
                               f"the JSON an az command prints with -o json") from None
    except RecursionError:
        raise ImportInputError(f"{name}: JSON nested deeper than the parser allows; az output nests a few "
                               f"levels") from None


def _depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return False
        if type(v) is dict:
            stack.extend((x, d + 1) for x in v.values())
        elif type(v) is list:
            stack.extend((x, d + 1) for x in v)
    return True


def items_of(doc: Any, name: str) -> list:
    """The resource items of one parsed document: a list (``az ... list``), one object (``az ... show``), a
    Resource Graph page (``{"count", "data", "skip_token", "total_records"}``) or a list of pages."""
    if isinstance(doc, dict):
        if isinstance(doc.get("data"), list) and ("count" in doc or "total_records" in doc or "skip_token" in doc
                                                  or "totalRecords" in doc or "skipToken" in doc):
            return list(doc["data"])
        if isinstance(doc.get("value"), list) and "id" not in doc:
            return list(doc["value"])  # a REST list response (az rest), the same items
        return [doc]
    if isinstance(doc, list):
        if doc and all(isinstance(p, dict) and isinstance(p.get("data"), list) and
                       ("count" in p or "total_records" in p or "totalRecords" in p) for p in doc):
            return [x for p in doc for x in p["data"]]
        return doc
    raise ImportInputError(f"{name}: the JSON is a {type(doc).__name__}; expected a list or an object as "
                           f"az prints them with -o json")


def kind_of(item: Any) -> str | None:
    """What an item is, from its content: a kind of :data:`TYPES`, ``key`` or ``policy``; None if unknown."""
    if not isinstance(item, dict):
        return None
    kid = item.get("kid")
    if not isinstance(kid, str) and isinstance(item.get("key"), dict):
        kid = item["key"].get("kid")
    if isinstance(kid, str) and "/keys/" in kid:
        return "key"
    if "lifetimeActions" in item or "lifetime_actions" in item:
        return "policy"
    t = item.get("type")
    if isinstance(t, str):
        return TYPES.get(t.lower(), "other")
    return None


# ---- the report --------------------------------------------------------------------------------------


@dataclass
class Report:
    """What the import did and did not model: ``skipped`` (not modelled, by reason) and ``notes`` (modelled
    with an assumption, by reason), each reason with every id; ``counts`` per kind imported."""

    counts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    stand_ins: int = 0
    subscription: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    refused: bool = False
    """The import was refused (:class:`Incomplete`): the counts are what the input would have given."""

    def skip(self, reason: str, rid: str) -> None:
        self.skipped.setdefault(reason, []).append(rid)

    def note(self, reason: str, rid: str) -> None:
        self.notes.setdefault(reason, []).append(rid)

    @property
    def complete(self) -> bool:
        return not self.skipped

    def modelled(self) -> str:
        """What the import modelled (or would), as people say it: "2 disks, 1 snapshot" ("" for nothing)."""
        return ", ".join(f"{n:,} {k[:-1] if n == 1 and k.endswith('s') else k}" for k, n in self.counts.items() if n)

    def lines(self) -> list[str]:
        out = []
        done = self.modelled()
        title = "nothing imported; the input would model" if self.refused else "modelled"
        out.append(f"{title}: {done or 'nothing'}" + (f" (subscription {self.subscription})"
                                                       if self.subscription else ""))
        if self.stand_ins and not self.refused:
            out.append(f"stand-in key material: {self.stand_ins} key version(s) (marked standIn wherever shown)")
        for title, table in (("not modelled", self.skipped), ("modelled with an assumption", self.notes)):
            if not table:
                continue
            out.append(f"{title}: {sum(len(v) for v in table.values())}")
            for reason, ids in sorted(table.items(), key=lambda kv: (-len(kv[1]), kv[0])):
                more = f", ... ({len(ids) - SUMMARY_IDS} more)" if len(ids) > SUMMARY_IDS else ""
                out.append(f"  {len(ids):>6}  {reason}: {', '.join(ids[:SUMMARY_IDS])}{more}")
        return out

    def to_dict(self) -> dict:
        return {"imported": not self.refused, "modelled": dict(self.counts), "standInKeyVersions": self.stand_ins,
                "subscription": self.subscription,
                "notModelled": {r: {"count": len(v), "ids": v[:SUMMARY_IDS]} for r, v in self.skipped.items()},
                "assumptions": {r: {"count": len(v), "ids": v[:SUMMARY_IDS]} for r, v in self.notes.items()}}


# ---- normalising (az's flattened shapes and the REST / Resource Graph shapes alike) -------------------


def _g(item: dict, *path: str, default: Any = None) -> Any:
    """``item[path]``, looked up flat (as az prints) and under ``properties`` (REST, Resource Graph)."""
    v = item
    for p in path:
        if type(v) is not dict:
            v = None
            break
        v = v.get(p)
    if v is not None:
        return v
    v = item.get("properties")
    if type(v) is not dict:
        return default
    for p in path:
        if type(v) is not dict:
            return default
        v = v.get(p)
    return default if v is None else v


def _g1(item: dict, props: dict | None, name: str) -> Any:
    """``_g(item, name)`` for the planner's loops: ``props`` is the item's ``properties`` object (None when
    it has none), looked up once per item."""
    v = item.get(name)
    if v is None and props is not None:
        return props.get(name)
    return v


def _g2(item: dict, props: dict | None, name: str, sub: str) -> Any:
    """``_g(item, name, sub)``, as :func:`_g1`."""
    v = item.get(name)
    if type(v) is dict:
        v = v.get(sub)
        if v is not None:
            return v
    if props is not None:
        v = props.get(name)
        if type(v) is dict:
            return v.get(sub)
    return None


def _lun(data_disk: dict) -> int:
    return data_disk["lun"]


class _Shape:
    """Makes models of one class directly in their stored shape: the class's defaults (fresh lists and dicts
    from its factories), then the planner's values, as the document the model owns (no per-field checks:
    the planner gives every field its JSON type)."""

    __slots__ = ("cls", "plain", "factories")

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.plain: dict = {}
        self.factories: list = []
        for name in cls.__light_fields__:  # in their order (a factory's field is filled per model)
            default = cls.__light_defaults__.get(name)
            factory = getattr(default, "default_factory", None)
            if factory is not None:
                self.factories.append((name, factory))
                default = None
            elif hasattr(default, "default_factory"):
                default = default.default
            self.plain[name] = default

    def __call__(self, values: dict):
        doc = self.plain.copy()
        for name, factory in self.factories:
            if name not in values:
                doc[name] = factory()
        doc.update(values)
        return self.cls.from_doc(doc, True)


_SHAPES: dict[type, _Shape] = {}


def _shape(cls: type) -> _Shape:
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _SHAPES[cls] = _Shape(cls)
    return shape


def _first(item: dict, *names: str, default: Any = None) -> Any:
    for n in names:
        v = _g(item, *n.split("."))
        if v is not None:
            return v
    return default


def _id_of(item: dict) -> str | None:
    rid = item.get("id")
    return rid if isinstance(rid, str) and rid else None


def _merge(a: dict, b: dict) -> dict:
    """``b`` folded into ``a``: missing or null fields filled, nested objects merged."""
    out = dict(a)
    for k, v in b.items():
        if v is None:
            continue
        cur = out.get(k)
        if isinstance(cur, dict) and isinstance(v, dict):
            out[k] = _merge(cur, v)
        elif cur is None or cur == [] or cur == {}:
            out[k] = v
    return out


_IDENTITY_FIELDS = {
    "group": ("location",),
    "vault": ("location",),
    "des": ("location", "activeKey.keyUrl", "encryptionType"),
    "disk": ("location", "sku.name", "encryption.type", "encryption.diskEncryptionSetId"),
    "snapshot": ("location", "sku.name", "encryption.type"),
    "image": ("location",),
    "vm": ("location", "hardwareProfile.vmSize", "storageProfile.osDisk.managedDisk.id"),
    "vmss": ("location",),
    "role": ("principalId", "scope"),
}
"""Fields two copies of one resource must agree on (else the duplicate is a conflict, not a copy)."""


def _conflict(kind: str, a: dict, b: dict) -> str | None:
    for f in _IDENTITY_FIELDS.get(kind, ()):
        x, y = _g(a, *f.split(".")), _g(b, *f.split("."))
        if x is not None and y is not None and str(x).lower() != str(y).lower():
            return f
    return None


@dataclass
class Inputs:
    """The recognised items, by kind and lower-cased id (duplicates merged), in input order."""

    items: dict[str, dict[str, dict]] = field(default_factory=lambda: {k: {} for k in set(TYPES.values())})
    keys: dict[str, list[dict]] = field(default_factory=dict)
    """Key items by lower-cased versionless kid."""
    policies: dict[str, dict] = field(default_factory=dict)
    report: Report = field(default_factory=Report)
    files: int = 0


def collect(docs: Iterable[tuple[str, Any]], report: Report | None = None) -> Inputs:
    """Sort the items of parsed documents ``(name, doc)`` by kind; duplicates of one id are merged, and a
    conflicting duplicate is reported and left out. A document with no item of a known shape is an error."""
    inp = Inputs()
    if report is not None:
        inp.report = report
    rep = inp.report
    conflicts: set[tuple[str, str]] = set()
    for name, doc in docs:
        inp.files += 1
        items = items_of(doc, name)
        known = 0
        for i, item in enumerate(items):
            kind = kind_of(item)
            if kind is None:
                rep.skip("item of an unknown shape (not a resource az prints)", f"{name}[{i}]")
                continue
            if kind == "other":
                rep.skip(f"resource type the twin does not model ({item.get('type')})", _id_of(item) or
                         f"{name}[{i}]")
                known += 1
                continue
            known += 1
            if kind == "key":
                kid = item.get("kid") if isinstance(item.get("kid"), str) else item["key"]["kid"]
                if item.get("deletedDate") or item.get("recoveryId"):
                    rep.skip("deleted key (az keyvault key list-deleted; soft-deleted keys are not modelled)",
                             str(kid)[:200])
                    continue
                try:
                    ref = parse_key_url(kid)
                except BadRequest:
                    rep.skip("key identifier of an unknown form", str(kid)[:200])
                    continue
                inp.keys.setdefault(ref.versionless.lower(), []).append(item)
                continue
            if kind == "policy":
                pid = item.get("id")
                base = pid.rsplit("/rotationpolicy", 1)[0] if isinstance(pid, str) else None
                try:
                    ref = parse_key_url(base or "")
                except BadRequest:
                    rep.skip("rotation policy without the id of its key", f"{name}[{i}]")
                    continue
                inp.policies[ref.versionless.lower()] = item
                continue
            rid = _id_of(item)
            if rid is None or not isinstance(item.get("name"), str):
                rep.skip(f"{kind} without an id or a name", f"{name}[{i}]")
                continue
            key = rid.lower()
            table = inp.items[kind]
            if (kind, key) in conflicts:
                continue
            prev = table.get(key)
            if prev is None:
                table[key] = item
                continue
            bad = _conflict(kind, prev, item)
            if bad is not None:
                rep.skip(f"duplicate id with conflicting content ({bad} differs)", rid)
                conflicts.add((kind, key))
                del table[key]
                continue
            table[key] = _merge(prev, item)
        if items and not known:
            raise ImportInputError(
                f"{name}: no item is a resource cmklab import reads; expected the -o json output of az group list, "
                f"keyvault list/show, keyvault key list/list-versions/show, keyvault key rotation-policy show, "
                f"role assignment list --all, disk-encryption-set list, disk list, snapshot list, image list, "
                f"vm list -d, vmss list, or a Resource Graph query (see cmklab import --capture-script)")
    return inp


# ---- planning -------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """The models an import adds, in dependency order, and the stand-in versions to generate."""

    groups: list = field(default_factory=list)
    vaults: list = field(default_factory=list)
    roles: list = field(default_factory=list)
    keys: list = field(default_factory=list)
    des: list = field(default_factory=list)
    disks: list = field(default_factory=list)
    """(model, des model or None)"""
    vms: list = field(default_factory=list)
    scalesets: list = field(default_factory=list)
    versions: list = field(default_factory=list)
    """(key model, version doc, bits): versions whose stand-in material is generated on apply."""
    subscription: str | None = None
    tenant: str | None = None
    report: Report = field(default_factory=Report)
    early: Any = None
    """The :class:`_EarlyStandIns` asked of the import's worker while planning (import_files, an empty home)."""

    @property
    def resources(self) -> int:
        return (len(self.groups) + len(self.vaults) + len(self.roles) + len(self.keys) + len(self.des)
                + len(self.disks) + len(self.vms) + len(self.scalesets))


def _iso(value: Any) -> str | None:
    if type(value) is str and len(value) >= 20:
        fast = _iso_utc(value)
        if fast is not None:
            return fast
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        from datetime import datetime, timezone
        return iso(datetime.fromtimestamp(value, timezone.utc))
    try:
        return iso(parse_iso(str(value)))
    except (ValueError, TypeError):
        return None


def _iso_utc(text: str) -> str | None:
    """:func:`_iso` of a UTC time as az prints it (``2025-03-01T10:00:00.0000000+00:00``, ``...Z``), without
    the time zone arithmetic: the seconds checked by the parser and kept, the fraction dropped (as ``iso``
    drops it); None for any other form (the general path then decides)."""
    if text[-1] == "Z":
        rest = text[19:-1]
    elif text.endswith("+00:00"):
        rest = text[19:-6]
    else:
        return None
    if rest and not (rest[0] == "." and rest[1:].isdigit() and rest[1:].isascii()):
        return None
    head = text[:19]
    if head[10] not in "Tt " or head[13] != ":" or head[16] != ":":
        return None
    try:
        _datetime.fromisoformat(head)
    except ValueError:
        return None
    return f"{head[:10]}T{head[11:]}+00:00"


def _rg(rid: str, item: dict) -> str:
    rg = item.get("resourceGroup")
    if isinstance(rg, str) and rg:
        return rg
    ref = parse_arm_id(rid)
    return ref.resource_group if ref else ""


def _sub(rid: str) -> str | None:
    """The subscription an id names: what follows its first segment when that is ``subscriptions``."""
    i = rid.find("/")
    j = rid.find("/", i + 1) if i >= 0 else -1
    if j < 0 or rid[i + 1:j].lower() != "subscriptions":
        return None
    k = rid.find("/", j + 1)
    return rid[j + 1:] if k < 0 else rid[j + 1:k]


_SCALARS = (str, int, float, bool, type(None))


def _tags(item: dict) -> dict:
    """Azure tags are flat name -> string; anything nested is kept as its JSON text (bounded, never deep)."""
    t = item.get("tags")
    if type(t) is not dict or not t:
        return {}
    out = dict(t)
    for k, v in t.items():
        if type(v) not in _SCALARS:
            out[k] = json.dumps(v)[:256] if _depth_ok(v) else "(nested deeper than cmklab keeps)"
    return out


def _bits_of_n(n: Any) -> int | None:
    if not isinstance(n, str) or not n:
        return None
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except ValueError:
        return None
    return len(raw.lstrip(b"\x00")) * 8


def _policy(item: dict) -> dict | None:
    """The engine's rotation-policy shape from az's (flat ``action`` strings) or the REST one."""
    actions = []
    for a in item.get("lifetimeActions") or item.get("lifetime_actions") or []:
        if not isinstance(a, dict):
            return None
        act = a.get("action")
        kind = act.get("type") if isinstance(act, dict) else act
        trig = a.get("trigger") if isinstance(a.get("trigger"), dict) else a
        after = trig.get("timeAfterCreate") or trig.get("time_after_create")
        before = trig.get("timeBeforeExpiry") or trig.get("time_before_expiry")
        if not isinstance(kind, str) or kind.lower() not in ("rotate", "notify") or bool(after) == bool(before):
            return None
        actions.append({"trigger": {"timeAfterCreate": after} if after else {"timeBeforeExpiry": before},
                        "action": {"type": kind.lower().capitalize()}})
    attrs = item.get("attributes") or {}
    expiry = attrs.get("expiryTime") or attrs.get("expiry_time") or item.get("expiresIn")
    created = _iso(attrs.get("created"))
    updated = _iso(attrs.get("updated")) or created
    return {"lifetimeActions": actions, "attributes": {"expiryTime": expiry, "created": created,
                                                       "updated": updated}, "anchor": updated or created}


def plan_import(inp: Inputs, *, now: str, home_subscription: str | None = None, home=None, early=None,
                consume: bool = False, progress: Callable[[str, int, int], None] | None = None) -> Plan:
    """Models for everything that can be modelled; every other item is in ``plan.report``.

    ``early``: an :class:`_EarlyStandIns`, told the key versions once they are planned, and the regions whose
    platform keys wrap once the disks are (the worker generates their stand-ins while the planning goes on).

    ``home_subscription``: the subscription a home that already holds state models (``--merge``); the input
    must be of that subscription. ``home``: that home's engine (``--merge``): references to what it holds resolve.

    ``consume``: the disks', snapshots', images' and VMs' items are taken out of ``inp`` as they are planned (their
    models keep what they need of them), so that each is freed there and its memory holds the next models: of
    a 100,000-resource import, 0.3 GB fewer new pages, whose faults were half of the command's system time.

    ``progress("planning", done, total)``: told every :data:`PLAN_TOLD` disks, snapshots, images and VMs
    planned (the planning of 100,000 resources takes about a second)."""
    rep = inp.report
    to_plan = sum(len(inp.items[kind]) for kind in ("disk", "snapshot", "image", "vm"))
    planned = [0]

    def each(items: dict):
        """``items``' (key, item) in key order: taken out with ``consume``, the progress told as they go."""
        for key in sorted(items):
            yield key, (items.pop(key) if consume else items[key])
            planned[0] += 1
            if progress is not None and not planned[0] % PLAN_TOLD:
                progress("planning", planned[0], to_plan)

    def held(table: str, key: str):
        return home.t[table].get(key) if home is not None else None

    plan = Plan(report=rep)
    it = inp.items
    # the subscription: the one most ids name (a home models one subscription)
    subs: dict[str, int] = {}
    rsubs: dict[str, str | None] = {}  # each resource's subscription, by its key (found once, used thrice)
    rgs: dict[str, str] = {}  # each resource's group, by its key (found once, used twice)
    pairs: dict[tuple[str, str | None], dict] = {}  # each (group, subscription) named: its first member
    for kind in ("group", "vault", "des", "disk", "snapshot", "image", "vm", "vmss"):
        member = kind != "group"
        for key, item in it[kind].items():  # (one pass over the items: each is read once here)
            rid = item["id"]
            s = rsubs[key] = _sub(rid)
            if member:
                rg = rgs[key] = _rg(rid, item)
                if (rg, s) not in pairs:
                    pairs[(rg, s)] = item
            if s:
                s = s.lower()
                subs[s] = subs.get(s, 0) + 1
    sub = max(sorted(subs), key=lambda s: subs[s]) if subs else None
    if home_subscription and sub and sub.lower() != home_subscription.lower():
        raise Conflict(f"the home models subscription {home_subscription}, the input subscription {sub}; a home "
                       f"models one subscription: import into another home (cmklab --home DIR import ...)",
                       code="Conflict")
    plan.subscription = rep.subscription = sub

    def other_sub(rid: str) -> bool:
        s = _sub(rid)
        if sub and s and s.lower() != sub.lower():
            rep.skip("in another subscription than the one the twin models (a home models one)", rid)
            return True
        return False

    if home is not None:  # --merge adds; what the home holds already is reported, never replaced
        tables = {"vault": "vaults", "role": "roles", "des": "des", "disk": "disks", "snapshot": "snapshots",
                  "image": "images", "vm": "vms", "vmss": "scalesets"}
        for kind, table in tables.items():
            for key in list(it[kind]):
                item = it[kind][key]
                found = held(table, item["name"].lower() if kind == "vault" else key)
                if found is not None:
                    rep.skip("already in this home (--merge adds resources; it does not replace them)", item["id"])
                    del it[kind][key]
        for base in list(inp.keys):
            if held("keys", base) is not None:
                rep.skip("already in this home (--merge adds resources; it does not replace them)", base)
                del inp.keys[base]
                inp.policies.pop(base, None)

    # ---- groups
    groups: dict[str, ResourceGroup] = {}
    for key, item in it["group"].items():
        rid = item["id"]
        if other_sub(rid):
            continue
        g = ResourceGroup(id=rid, name=item["name"], location=str(item.get("location") or ""), tags=_tags(item))
        groups[key] = g
    if home is not None:  # (--merge left out what the home holds: the groups are those of what is left)
        pairs = {}
        for kind in ("vault", "des", "disk", "snapshot", "image", "vm", "vmss"):
            for key, item in it[kind].items():
                pairs.setdefault((rgs[key], rsubs[key]), item)
    for (rg, rsub), item in pairs.items():  # (in the order the members came: a group's location is its first's)
        gid = f"/subscriptions/{rsub or sub}/resourceGroups/{rg}".lower()
        if rg and gid not in groups and held("groups", gid) is None and (not sub or (rsub or "").lower() == sub.lower()):
            groups[gid] = ResourceGroup(id=f"/subscriptions/{rsub}/resourceGroups/{rg}", name=rg,
                                        location=str(item.get("location") or ""))
            rep.note("resource group known only from its resources (az group list not in input; its "
                     "location is a member's)", groups[gid].id)
    plan.groups = [groups[k] for k in sorted(groups)]

    # ---- vaults
    vaults: dict[str, Vault] = {}
    tenant = None
    for key, item in sorted(it["vault"].items()):
        rid = item["id"]
        if other_sub(rid):
            continue
        props = item.get("properties")
        if not isinstance(props, dict) or "accessPolicies" not in props and "enableRbacAuthorization" not in props:
            rep.note("vault without its properties (add az keyvault show of each vault): no access assumed", rid)
        policies = []
        for p in _g(item, "accessPolicies") or []:
            if not isinstance(p, dict) or not _depth_ok(p, 4) or not isinstance(p.get("objectId"), str):
                rep.skip("access policy of an unknown shape (an object with objectId and permissions)", rid)
                continue
            perms = p.get("permissions") or {}
            policies.append({"tenantId": p.get("tenantId"), "objectId": p.get("objectId"),
                             "permissions": {"keys": list(perms.get("keys") or []),
                                             "secrets": list(perms.get("secrets") or []),
                                             "certificates": list(perms.get("certificates") or [])}})
        sku = _g(item, "sku", "name") or "standard"
        soft = _g(item, "enableSoftDelete")
        if soft is False:
            rep.note("vault with soft delete off: modelled with soft delete (Azure enforces it)", rid)
        tenant = tenant or _g(item, "tenantId")
        v = Vault(id=rid, name=item["name"], resource_group=_rg(rid, item), location=str(item.get("location") or ""),
                  sku=str(sku).lower(), tenant_id=str(_g(item, "tenantId") or ""),
                  enable_purge_protection=_g(item, "enablePurgeProtection"),
                  soft_delete_retention_days=int(_g(item, "softDeleteRetentionInDays") or 90),
                  enable_rbac_authorization=bool(_g(item, "enableRbacAuthorization") or False),
                  access_policies=policies, created=_iso(_g(item, "systemData", "createdAt")) or now,
                  tags=_tags(item))
        if v.name.lower() in vaults:
            rep.skip("vault name used twice (vault names are global)", rid)
            continue
        vaults[v.name.lower()] = v
    plan.vaults = list(vaults.values())

    # ---- role assignments
    for key, item in sorted(it["role"].items()):
        rid = item["id"]
        role = item.get("roleDefinitionName") or _g(item, "roleDefinitionName")
        principal = _g(item, "principalId")
        scope = _g(item, "scope")
        if not (role and principal and scope):
            rep.skip("role assignment without roleDefinitionName, principalId or scope (az role assignment list "
                     "--all prints them)", rid)
            continue
        plan.roles.append(RoleAssignment(id=rid, name=item["name"], principal_id=principal, role=role, scope=scope,
                                         created=_iso(_g(item, "createdOn")) or now))

    # ---- keys and versions
    keys: dict[str, Key] = {}
    des_refs: dict[str, set[str]] = {}
    for item in it["des"].values():
        url = _g(item, "activeKey", "keyUrl")
        if isinstance(url, str):
            try:
                ref = parse_key_url(url)
            except BadRequest:
                continue
            if ref.version:
                des_refs.setdefault(ref.versionless.lower(), set()).add(ref.version)
    for base in sorted(inp.keys):
        items = inp.keys[base]
        first = items[0]
        ref = parse_key_url(first.get("kid") if isinstance(first.get("kid"), str) else first["key"]["kid"])
        vault = vaults.get(ref.vault.lower()) or held("vaults", ref.vault.lower())
        if vault is None:
            rep.skip("key whose vault is absent from the input (add az keyvault list/show)", ref.versionless)
            continue
        kty, bits, ops, tags = "RSA", None, None, None
        versions: dict[str, dict] = {}
        versionless_attrs = None
        for item in items:
            jwk = item.get("key") if isinstance(item.get("key"), dict) else {}
            kty = str(item.get("kty") or jwk.get("kty") or kty)
            bits = _bits_of_n(jwk.get("n")) or item.get("keySize") or bits
            ops = jwk.get("keyOps") or item.get("keyOps") or ops
            if isinstance(item.get("tags"), dict):
                tags = _tags(item)
            kid = item.get("kid") if isinstance(item.get("kid"), str) else jwk.get("kid")
            vref = parse_key_url(kid)
            attrs = item.get("attributes") or {}
            if vref.version is None:
                versionless_attrs = attrs
                continue
            doc = versions.get(vref.version) or {}
            for k, v in attrs.items():
                if v is not None:
                    doc[k] = v
            versions[vref.version] = doc
        if kty.upper() not in KEY_TYPES:
            rep.skip(f"key type the engine lacks ({kty}; it models RSA and RSA-HSM)", ref.versionless)
            continue
        bits = int(bits) if isinstance(bits, int) and not isinstance(bits, bool) else None
        if bits is not None and bits not in KEY_SIZES:
            rep.skip(f"key size the engine lacks ({bits}; it models {', '.join(map(str, KEY_SIZES))})",
                     ref.versionless)
            continue
        if bits is None:
            bits = DEFAULT_STAND_IN_BITS
            rep.note(f"key size not in input (az keyvault key show prints key.n): RSA-{bits} stand-in",
                     ref.versionless)
        for ver in sorted(des_refs.get(base, ())):
            if ver not in versions:
                versions[ver] = dict(versionless_attrs or {}) if not versions else {}
                rep.note("key version known only from a disk encryption set (add az keyvault key list-versions): "
                         "attributes assumed enabled, no expiry", f"{ref.versionless}/{ver}")
        if not versions:
            rep.skip("key without any version in the input (add az keyvault key list-versions)", ref.versionless)
            continue
        docs = []
        for ver, attrs in versions.items():
            created = _iso(attrs.get("created")) or now
            docs.append({"version": ver, "created": created, "updated": _iso(attrs.get("updated")) or created,
                         "enabled": attrs.get("enabled") is not False, "nbf": _iso(attrs.get("notBefore")),
                         "exp": _iso(attrs.get("expires")), "n": "", "e": "", "sealed": None, "standIn": True})
        docs.sort(key=lambda d: (d["created"], d["version"]))
        name = ref.name
        k = Key(id=key_id(vault.name, name), vault=vault.name, name=name,
                kty=kty.upper(), size=bits, tags=tags or {}, versions=docs)
        if isinstance(ops, list) and ops:
            k.key_ops = [str(o) for o in ops]
        policy_item = inp.policies.get(base)
        if policy_item is not None:
            pol = _policy(policy_item)
            if pol is None:
                rep.skip("rotation policy of an unknown shape (key imported without it)", ref.versionless)
            else:
                pol["id"] = f"{k.id}/rotationpolicy"
                k.rotation_policy = pol
        keys[base] = k
        plan.keys.append(k)
        for d in docs:
            plan.versions.append((k, d, bits))
    if early is not None:
        early.versions(plan.versions)
    for base in sorted(set(inp.policies) - set(inp.keys)):
        rep.skip("rotation policy of a key absent from the input", base)

    # ---- disk encryption sets
    des_by_id: dict[str, DiskEncryptionSet] = {}
    for key, item in sorted(it["des"].items()):
        rid = item["id"]
        if other_sub(rid):
            continue
        url = _g(item, "activeKey", "keyUrl")
        try:
            ref = parse_key_url(url or "")
        except BadRequest:
            rep.skip("disk encryption set without a Key Vault key URL (activeKey.keyUrl)", rid)
            continue
        k = keys.get(ref.versionless.lower()) or held("keys", ref.versionless.lower())
        if k is None:
            rep.skip("disk encryption set whose key is absent from the input (or not modelled)", rid)
            continue
        if ref.version is None:
            url = f"{k.id}/{k.current['version']}"
            rep.note("disk encryption set with a versionless key URL: the key's current version", rid)
        else:
            url = f"{k.id}/{ref.version}"
        etype = _g(item, "encryptionType") or ENC_CUSTOMER
        if etype not in (ENC_CUSTOMER, ENC_DOUBLE):
            rep.skip(f"disk encryption set type the engine lacks ({etype})", rid)
            continue
        ident = item.get("identity") if isinstance(item.get("identity"), dict) else {}
        principal = ident.get("principalId")
        if not principal and isinstance(ident.get("userAssignedIdentities"), dict):
            uai = next(iter(ident["userAssignedIdentities"].values()), None) or {}
            principal = uai.get("principalId")
            if principal:
                rep.note("disk encryption set with a user-assigned identity: its first identity is the set's", rid)
        if not principal:
            rep.skip("disk encryption set without an identity (identity.principalId)", rid)
            continue
        tenant = tenant or ident.get("tenantId")
        prev = []
        for p in _g(item, "previousKeys") or []:
            if isinstance(p, dict) and p.get("keyUrl"):
                prev.append({"keyUrl": p["keyUrl"], "sourceVault": {"id": (p.get("sourceVault") or {}).get("id")}})
        d = DiskEncryptionSet(id=rid, name=item["name"], resource_group=_rg(rid, item),
                              location=str(item.get("location") or ""), encryption_type=etype, key_url=url,
                              source_vault_id=_g(item, "activeKey", "sourceVault", "id") or (vaults.get(k.vault.lower())
                                                                              or held("vaults", k.vault.lower())).id,
                              principal_id=principal, tenant_id=str(ident.get("tenantId") or tenant or ""),
                              rotation_to_latest=bool(_g(item, "rotationToLatestKeyVersionEnabled") or False),
                              previous_keys=prev, last_key_rotation=_iso(_g(item, "lastKeyRotationTimestamp")),
                              provisioning_state=str(_g(item, "provisioningState") or "Succeeded"),
                              auto_key_rotation_error=_g(item, "autoKeyRotationError"), created=now,
                              tags=_tags(item))
        des_by_id[key] = d
        plan.des.append(d)
    plan.tenant = tenant

    # ---- disks, snapshots, images (each item read once; the models are made in their stored shape)
    disk_ids: set[str] = set()
    managed_by: dict[str, Any] = {}  # each disk item's managedBy, by its key (for the VMs: with ``consume``, the
    # disks' items are gone by then)
    sub_l = sub.lower() if sub else None
    get = dict.get
    # each planned disk handed to the worker at once, which wraps its data keys while the planning goes on
    stream = early.stream(plan.des, plan.versions) if early is not None else None
    for kind, cls in (("disk", Disk), ("snapshot", Snapshot), ("image", Image)):
        shape = _shape(cls)
        for key, item in each(it[kind]):
            if kind == "disk":
                managed_by[key] = item.get("managedBy")
            rid = item["id"]
            rsub = rsubs[key]
            if sub_l and rsub and rsub.lower() != sub_l:
                other_sub(rid)
                continue
            props = item.get("properties")
            if type(props) is not dict:
                props = None
            if kind == "image":
                os_disk = _g(item, "storageProfile", "osDisk") or {}
                des_ref = (os_disk.get("diskEncryptionSet") or {}).get("id")
                sku = os_disk.get("storageAccountType") or "Standard_LRS"
                size = os_disk.get("diskSizeGb") or os_disk.get("diskSizeGB")
                os_type = os_disk.get("osType")
                etype = None
                source = (_g(item, "sourceVirtualMachine", "id") or (os_disk.get("managedDisk") or {}).get("id")
                          or (os_disk.get("snapshot") or {}).get("id"))
                create = _g2(item, props, "creationData", "createOption")
                unique, created = _g1(item, props, "uniqueId"), _g1(item, props, "timeCreated")
            elif props is None:  # az's flat shape (every item of ``az disk list``): _g1 and _g2 inlined
                enc = get(item, "encryption")
                if enc is None:
                    rep.note(f"{kind} without encryption settings in the input: platform key assumed", rid)
                    des_ref = etype = None
                elif type(enc) is not dict:
                    rep.skip(f"{kind} whose encryption field is not the object az prints", rid)
                    continue
                else:
                    des_ref, etype = get(enc, "diskEncryptionSetId"), get(enc, "type")
                v = get(item, "sku")
                sku = get(v, "name") if type(v) is dict else None
                size = get(item, "diskSizeGb")
                if size is None:
                    size = get(item, "diskSizeGB")
                os_type = get(item, "osType")
                v = get(item, "creationData")
                source, create = (get(v, "sourceResourceId"), get(v, "createOption")) if type(v) is dict \
                    else (None, None)
                unique, created = get(item, "uniqueId"), get(item, "timeCreated")
            else:
                enc = _g1(item, props, "encryption")
                if enc is not None and type(enc) is not dict:
                    rep.skip(f"{kind} whose encryption field is not the object az prints", rid)
                    continue
                if enc is None:
                    rep.note(f"{kind} without encryption settings in the input: platform key assumed", rid)
                des_ref = _g2(item, props, "encryption", "diskEncryptionSetId")
                etype = _g2(item, props, "encryption", "type")
                sku = _g2(item, props, "sku", "name")
                size = _g1(item, props, "diskSizeGb")
                if size is None:
                    size = _g1(item, props, "diskSizeGB")
                os_type = _g1(item, props, "osType")
                source = _g2(item, props, "creationData", "sourceResourceId")
                create = _g2(item, props, "creationData", "createOption")
                unique, created = _g1(item, props, "uniqueId"), _g1(item, props, "timeCreated")
            if etype == "ConfidentialVmEncryptedWithCustomerKey" or (etype and etype not in DISK_ENCRYPTION_TYPES):
                rep.skip(f"{kind} encryption type the engine lacks ({etype})", rid)
                continue
            if sku not in DISK_SKUS:
                rep.skip(f"{kind} SKU the engine lacks ({sku}; it models {', '.join(DISK_SKUS)})", rid)
                continue
            des = None
            if des_ref:
                des_key = str(des_ref).lower()
                des = des_by_id.get(des_key) or held("des", des_key)
                if des is None:
                    rep.skip(f"{kind} whose disk encryption set is absent from the input (or not modelled)", rid)
                    continue
                etype = etype if etype in (ENC_CUSTOMER, ENC_DOUBLE) else des.encryption_type
            else:
                if etype in (ENC_CUSTOMER, ENC_DOUBLE):
                    rep.skip(f"{kind} with a customer key but no disk encryption set id", rid)
                    continue
                etype = ENC_PLATFORM
            if type(size) is not int or size < 0:
                rep.note(f"{kind} without a size (diskSizeGb): 128 GB assumed", rid)
                size = 128
            r = shape({"id": rid, "name": item["name"], "resource_group": rgs[key],
                       "location": str(item.get("location") or ""), "sku": sku, "size_gb": size, "os_type": os_type,
                       "create_option": str(create or "Empty"),
                       "source_resource_id": source, "encryption_type": etype, "des_id": des.id if des else None,
                       "unique_id": str(unique or key),
                       "created": _iso(created) or now, "subscription_id": rsub or "",
                       "tags": _tags(item)})
            plan.disks.append((r, des))
            if stream is not None:
                stream(r, des)
            if kind == "disk":
                disk_ids.add(key)
    if early is not None and stream is None:
        early.regions(sorted({r.location for r, _ in plan.disks if r.encryption_type != ENC_CUSTOMER}))
        early.wraps(plan.disks, plan.versions)

    # ---- VMs
    attached: dict[str, str] = {}
    vm_shape = _shape(VirtualMachine)
    for key, item in each(it["vm"]):
        rid = item["id"]
        rsub = rsubs[key]
        if sub_l and rsub and rsub.lower() != sub_l:
            other_sub(rid)
            continue
        props = item.get("properties")
        if type(props) is not dict:
            props = None
        sp = _g1(item, props, "storageProfile") or {}
        osd = sp.get("osDisk") or {}
        os_id = (osd.get("managedDisk") or {}).get("id")
        if not os_id:
            rep.skip("VM without a managed OS disk (unmanaged VHD disks are not modelled)", rid)
            continue
        data = []
        bad = None
        for dd in sp.get("dataDisks") or []:
            mid = ((dd or {}).get("managedDisk") or {}).get("id")
            if not mid:
                bad = "VM with an unmanaged data disk (VHD; not modelled)"
                break
            data.append({"lun": int(dd.get("lun") or 0), "diskId": mid})
        if bad:
            rep.skip(bad, rid)
            continue
        ids = [os_id]
        ids.extend(x["diskId"] for x in data)
        lows = [d.lower() for d in ids]
        if not disk_ids.issuperset(lows) and (home is None or any(
                low not in disk_ids and held("disks", d) is None for d, low in zip(ids, lows))):
            rep.skip("VM whose disk is absent from the input (or not modelled)", rid)
            continue
        owner = None
        for low in lows:
            o = managed_by.get(low)
            if o and o.lower() != key:
                owner = o
                break
        if owner is not None:
            rep.skip("VM naming a disk whose managedBy names another VM", rid)
            continue
        if not attached.keys().isdisjoint(lows) or (home is not None and
                                                    any(home.vm_of_disk(d) is not None for d in ids)):
            rep.skip("VM naming a disk another VM of the input already holds", rid)
            continue
        if len(data) > 1 and len({x["lun"] for x in data}) != len(data):
            rep.skip("VM with two data disks on one LUN", rid)
            continue
        for low in lows:
            attached[low] = rid
        ps = _g1(item, props, "powerState")
        if ps is None:
            ps = _g(item, "extended", "instanceView", "powerState", "code")
        power = None
        if isinstance(ps, str):
            word = ps.lower().replace("powerstate/", "").replace("vm ", "").strip()
            power = POWER.get(word)
            if power is not None and word != power:
                rep.note(f"VM in a passing power state ({ps}): modelled as {power}", rid)
        if power is None:
            power = "running"
            rep.note("VM without a known power state (use az vm list -d): running assumed", rid)
        ref = sp.get("imageReference") or {}
        image = ref.get("id") or ":".join([str(ref.get(p) or "") for p in ("publisher", "offer", "sku", "version")]) \
            if isinstance(ref, dict) and ref else "unknown"
        if len(data) > 1:
            data.sort(key=_lun)
        plan.vms.append(vm_shape({
            "id": rid, "name": item["name"], "resource_group": rgs[key],
            "location": str(item.get("location") or ""),
            "size": str(_g2(item, props, "hardwareProfile", "vmSize") or "unknown"), "image": image,
            "os_type": str(osd.get("osType") or "Linux"), "os_disk_id": os_id, "data_disks": data,
            "ultra_ssd_enabled": bool(_g2(item, props, "additionalCapabilities", "ultraSSDEnabled")  # az 2.91
                                      or _g2(item, props, "additionalCapabilities", "ultraSsdEnabled") or False),
            "encryption_at_host": bool(_g2(item, props, "securityProfile", "encryptionAtHost") or False),
            "power": power, "vm_id": str(_g1(item, props, "vmId") or ""),
            "admin_username": str(_g2(item, props, "osProfile", "adminUsername") or "azureuser"),
            "created": _iso(_g1(item, props, "timeCreated")) or now,
            "scale_set": _g2(item, props, "virtualMachineScaleSet", "id"), "tags": _tags(item)}))

    # ---- scale sets
    for key, item in sorted(it["vmss"].items()):
        rid = item["id"]
        if other_sub(rid):
            continue
        prof = _g(item, "virtualMachineProfile") or {}
        des_ref = ((((prof.get("storageProfile") or {}).get("osDisk") or {}).get("managedDisk") or {})
                   .get("diskEncryptionSet") or {}).get("id")
        if des_ref and str(des_ref).lower() not in des_by_id and held("des", str(des_ref).lower()) is None:
            rep.skip("scale set whose disk encryption set is absent from the input (or not modelled)", rid)
            continue
        ref = (prof.get("storageProfile") or {}).get("imageReference") or {}
        image = ref.get("id") or ":".join(str(ref.get(p) or "") for p in ("publisher", "offer", "sku", "version")) \
            if ref else "unknown"
        plan.scalesets.append(ScaleSet(
            id=rid, name=item["name"], resource_group=_rg(rid, item), location=str(item.get("location") or ""),
            size=str(_g(item, "sku", "name") or "unknown"), image=image, os_disk_encryption_set=des_ref,
            encryption_at_host=bool((prof.get("securityProfile") or {}).get("encryptionAtHost") or False),
            next_instance=int(_g(item, "sku", "capacity") or 0), created=_iso(_g(item, "timeCreated")) or now))
        rep.note("scale set: instances are not in az vmss list (uniform instances not modelled)", rid)

    rep.counts = {"groups": len(plan.groups), "vaults": len(plan.vaults), "role assignments": len(plan.roles),
                  "keys": len(plan.keys), "key versions": len(plan.versions), "disk encryption sets": len(plan.des),
                  "disks": sum(1 for r, _ in plan.disks if r.kind == "disk"),
                  "snapshots": sum(1 for r, _ in plan.disks if r.kind == "snapshot"),
                  "images": sum(1 for r, _ in plan.disks if r.kind == "image"),
                  "VMs": len(plan.vms), "scale sets": len(plan.scalesets)}
    rep.stand_ins = len(plan.versions)
    return plan


PLAN_TOLD = 4096
"""Resources between two reports of the planning's progress (:func:`plan_import`)."""


# ---- applying ---------------------------------------------------------------------------------------------

_POOL_BITS = {2048, 3072, 4096}
WRAP_THREADS = 1
"""Threads that wrap an import's data keys beside this one (cryptography releases the GIL for RSA): two in all, one per
core of a small machine (more would contend for the GIL between the wraps)."""
WRAP_CHUNK = 2048
"""Data keys per task of those threads (progress is told per task)."""


def _wrap_all(pairs: list, told: Callable[[int], None]) -> list[bytes]:
    """The RSA-OAEP wraps of ``pairs`` (``(public key, data key)``), in order: in chunks of :data:`WRAP_CHUNK`,
    taken in turn by this thread and :data:`WRAP_THREADS` more (``told(n)`` after each chunk of this one: n
    wrapped so far). The first error is raised once every thread has stopped."""
    import itertools
    import threading

    chunks = [pairs[i:i + WRAP_CHUNK] for i in range(0, len(pairs), WRAP_CHUNK)]
    results: list = [None] * len(chunks)
    turn = itertools.count()  # (its next() is atomic: each chunk is taken once)
    errors: list[BaseException] = []

    def work(report: bool) -> None:
        wrap = crypto.wrap_key
        for i in turn:
            if i >= len(chunks) or errors:
                return
            try:
                results[i] = [wrap(pub, dek) for pub, dek in chunks[i]]
            except BaseException as exc:
                errors.append(exc)
                return
            if report:
                told(sum(len(c) for c, r in zip(chunks, results) if r is not None))

    threads = [threading.Thread(target=work, args=(False,), name=f"cmklab-import-{i}", daemon=True)
               for i in range(WRAP_THREADS if len(chunks) > 1 else 0)]
    for t in threads:
        t.start()
    try:
        work(True)
    finally:
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return [w for part in results for w in part]


def _refuse_held(engine, table: str, models: list) -> None:
    """Refuse the import if the home holds one of ``models`` already (a table that holds nothing: no look-up)."""
    t = engine.t[table]
    if not models or not t.any():
        return
    for m in models:
        if t.get(m.key) is not None:
            raise Conflict(f"{m.id} is already in this home: --merge adds resources, it does not replace them; "
                           f"nothing was imported", code="Conflict")


def _add_indexed(engine, plan: Plan) -> None:
    """The VMs, new documents added in bulk, with the index entries the engine keeps of them and of the disks,
    snapshots and images of ``plan`` (``vm_of_disk``: a disk's VM; ``des_members``: what a set serves)."""
    engine._add_new("vms", plan.vms)
    attach, member = DiskAttachment.from_doc, DesMember.from_doc
    engine._add_new("vm_of_disk", [attach({"id": disk_id, "vm": vm.id}, True)
                                   for vm in plan.vms for disk_id in vm.disk_ids()])
    engine._add_new("des_members", [member({"id": f"{r.des_id}|{r.id}", "kind": r.table, "resource": r.id}, True)
                                    for r, _ in plan.disks if r.des_id])


def _stand_in(engine, bits: int, used: set[str]):
    """A private key for a stand-in version: OpenSSL's, or in a seeded home the seeded pool's (then seeded
    generation), so a seeded import is reproducible."""
    if not engine.rng.seeded:
        return crypto.generate_rsa(bits)
    from .keys import _seeded_pool

    pool = _seeded_pool().get(str(bits), [])
    if pool:
        start = engine.rng.below(len(pool))
        for i in range(len(pool)):
            private = crypto.private_from_der(base64.b64decode(pool[(start + i) % len(pool)]))
            n = crypto.public_numbers_jwk(private)["n"]
            if n not in used:
                used.add(n)
                return private
    return seeded_rsa(bits, engine.rng)


class _EarlyStandIns:
    """The stand-ins of an import's key versions, asked of its worker process (engine._wraps) as soon as the
    planning knows the versions (:func:`import_files` into an empty home), and the platform keys of the regions
    that have none yet once it knows the disks: the worker generates and seals them while this process goes on
    planning. ``indexes``: the versions' keys' indexes in the worker, in the order of ``plan.versions``;
    ``platform``: each region's."""

    def __init__(self, engine, worker) -> None:
        self.engine, self.worker = engine, worker
        self.indexes: list[int] | None = None
        self.platform: dict[str, int] = {}

    def versions(self, versions: list) -> None:
        self.indexes = self.worker.generate([(bits, f"{k.id}/{ver['version']}".encode()) for k, ver, bits in versions])

    def regions(self, regions: list[str]) -> None:
        held = self.engine.t["platform_keys"] if self.engine is not None else {}  # (None: a home not opened yet)
        new = [r for r in regions if held.get(f"platform:{r}") is None]
        self.platform = dict(zip(new, self.worker.generate([(2048, f"platform:{r}".encode()) for r in new])))

    work: list | None = None
    """Each planned disk's data keys, as :func:`_apply_import` builds them (``(resource, [(key index, kid, data
    key)])``), handed to the worker as soon as the disks are planned (:meth:`wraps`); None when they were not."""
    holders: list[str] | None = None
    """The placeholders of their wraps, in the same order (what :meth:`engine._wraps.WrapWorker.add` returned)."""

    def stream(self, sets: list, versions: list) -> Callable[[Any, Any], None] | None:
        """What hands each disk to the worker as soon as it is planned (called with the disk and its set, or
        None), so that the worker wraps while the rest of the disks and the VMs are planned (at the end of the
        disks, the worker began 0.7 s later: its wraps were then the last thing the commit waited for). Its
        region's platform key is asked for the first time a disk needs it. None where one of ``sets`` (each
        disk's set, ``plan.des``) names a key that is not among the stand-ins asked for here, or where the home
        holds a platform key: :meth:`wraps` then decides at the end of the disks."""
        if self.indexes is None:
            return None
        if self.engine is not None and self.engine.t["platform_keys"]:
            return None
        publics = {f"{k.id}/{ver['version']}".lower(): i for (k, ver, _bits), i in zip(versions, self.indexes)}
        outer = {}
        for d in sets:
            at = publics.get(d.key_url.lower())
            if at is None:
                return None
            outer[id(d)] = at
        platform, generate, add = self.platform, self.worker.generate, self.worker.add
        work: list = []
        holders: list[str] = []
        self.work, self.holders = work, holders

        def one(r, des) -> None:
            region = r.location
            host = platform.get(region)
            if host is None and (des is None or r.encryption_type == ENC_DOUBLE):
                host = platform[region] = generate([(2048, f"platform:{region}".encode())])[0]
            if des is None:
                layers = [(host, f"platform:{region}", None)]
            else:
                layers = [(outer[id(des)], des.key_url, None)]
                if r.encryption_type == ENC_DOUBLE:
                    layers.append((host, f"platform:{region}", None))
            work.append((r, layers))
            holders.append(add([at for at, _kid, _ in layers], r.id.encode()))
        return one

    def wraps(self, disks: list, versions: list) -> None:
        """Hand the planned ``disks`` (``plan.disks``) to the worker at once, which draws their data keys and wraps
        them while the planning and the models go on (the wait for its last wraps was half a
        second of a 100,000-resource import): each is wrapped by the stand-in of the version its set names (of
        ``versions``, ``plan.versions``) or by its region's platform key. Not when a key it needs is not among
        the stand-ins asked for here (a platform key the home holds): the apply then hands them over itself."""
        if self.indexes is None:
            return
        publics = {f"{k.id}/{ver['version']}".lower(): i for (k, ver, _bits), i in zip(versions, self.indexes)}
        platform = self.platform
        work = []
        for r, des in disks:
            if des is None:
                at, kid = platform.get(r.location), f"platform:{r.location}"
            else:
                at, kid = publics.get(des.key_url.lower()), des.key_url
            if at is None:
                return
            if r.encryption_type == ENC_DOUBLE and platform.get(r.location) is None:
                return
            work.append((r, _layer_keys(r, at, kid, platform.get(r.location))))
        add = self.worker.add
        self.holders = [add([at for at, _kid, _ in layers], r.id.encode()) for r, layers in work]
        self.work = work


def _layer_keys(r, outer, kid: str, host) -> list[tuple[Any, str, None]]:
    """:func:`_draw_layers` without the data keys (the worker process draws them: :class:`engine._wraps.WrapWorker`)."""
    layers = [(outer, kid, None)]
    if r.encryption_type == ENC_DOUBLE:
        layers.append((host, f"platform:{r.location}", None))
    return layers


def _draw_layers(r, outer, kid: str, host, rng=None) -> list[tuple[Any, str, bytes]]:
    """A new resource's data keys, outermost first, each with the key that wraps it and that key's id: its
    own data key (wrapped by ``outer``, ``kid``) and, with double encryption, the host's XTS key (wrapped by
    ``host``, its region's platform key). ``rng``: the seeded stream to draw from (else the system's)."""
    layers = [(outer, kid, rng.bytes(32) if rng is not None else crypto.new_data_key())]
    if r.encryption_type == ENC_DOUBLE:
        xts = rng.bytes(64) if rng is not None else crypto.new_xts_key()
        if xts[:32] == xts[32:]:
            xts = crypto.new_xts_key()
        layers.append((host, f"platform:{r.location}", xts))
    return layers


def home_holds_state(engine) -> bool:
    return any(engine.t[t] for t in ("groups", "vaults", "keys", "des", "disks", "snapshots", "images", "vms"))


def _worker_for(engine):
    """A context that gives a worker process for an import's wraps (engine._wraps) where one serves: an unseeded
    home whose store commits in bulk, on a system that forks; else None (the wraps run on threads)."""
    from . import _wraps

    if engine.rng.seeded or not hasattr(engine.store, "bulk_commit") or engine.read_only or not _wraps.available():
        return contextlib.nullcontext(None)
    return _wraps.WrapWorker(seal=engine.sealer.seal_text)  # (the stand-ins it generates: sealed there)


def apply_import(engine, plan: Plan, *, progress: Callable[[str, int, int], None] | None = None,
                 worker=None) -> Report:
    """Land ``plan`` in one unit of work (all of it or nothing). ``progress(stage, done, total)`` is called
    as the work advances. ``worker``: a process for the wraps (:func:`_worker_for`, started early, while the
    process is small); without one, one is started here where one serves."""
    if worker is None and len(plan.disks) >= WORKER_MIN:
        with _worker_for(engine) as started:
            return _apply_import(engine, plan, progress, started)
    return _apply_import(engine, plan, progress, worker)


def progress_count(stage: str, done: int, total: int) -> str:
    """What an import's progress counts, for the CLI's line and the console's dialog: the files while they are
    read; after that the stages share one measure of the work (key versions, data keys, resources), which the
    bar shows by its share alone ("")."""
    return f"{done:,} of {total:,} files" if stage == "reading" else ""


STAGES = {"roles": "role assignments", "des": "encryption sets", "scalesets": "scale sets"}
"""The progress's names of the tables whose name is not the user's word for them."""

WORKER_MIN = 4096
"""Data keys from which an import wraps in a worker process (below, starting one costs more than it saves)."""


def _apply_import(engine, plan: Plan, progress: Callable[[str, int, int], None] | None, worker) -> Report:
    import time

    rep = plan.report
    early = plan.early if plan.early is not None and plan.early.worker is worker else None
    if early is not None and early.indexes is None:
        early = None
    # the worker process wraps (and generates the stand-ins) for an unseeded import of many data keys
    wk = worker if (worker is not None and not engine.rng.seeded
                    and (early is not None or len(plan.disks) >= WORKER_MIN)) else None
    tick = progress or (lambda stage, done, total: None)
    total = len(plan.versions) + len(plan.disks) + plan.resources
    done = 0
    t_all = time.perf_counter()
    with engine.transaction() as uow:
        uow.bulk = True  # one atomic write of the new state's files (the store's bulk path)
        meta = engine.meta
        engine._touch(meta)
        if plan.subscription and not home_holds_state(engine):
            meta.subscription_id = plan.subscription
            if plan.tenant:
                meta.tenant_id = plan.tenant
        # stand-in material: one RSA key per version
        t0 = time.perf_counter()
        used: set[str] = set()
        if engine.rng.seeded:
            used = {ver["n"] for k in engine.t["keys"].values() for ver in k.versions}
            used |= {pk.n for pk in engine.t["platform_keys"].values()}
        publics: dict[str, Any] = {}  # kid: the public key, or with the worker the index of its key there
        pending: list[tuple[Any, int]] = []  # (version doc or platform key, index): the worker's stand-ins
        if wk is not None:
            # generated and sealed in the worker (asked for while planning, or now), filled in before the commit
            at = early.indexes if early is not None else wk.generate(
                [(bits, f"{k.id}/{ver['version']}".encode()) for k, ver, bits in plan.versions])
            for (k, ver, _bits), i in zip(plan.versions, at):
                publics[f"{k.id}/{ver['version']}".lower()] = i
                pending.append((ver, i))
            done += len(plan.versions)
            tick("key versions", done, total)
        for k, ver, bits in (plan.versions if wk is None else ()):
            kid = f"{k.id}/{ver['version']}"
            private = _stand_in(engine, bits, used)
            jwk = crypto.public_numbers_jwk(private)
            ver["n"], ver["e"] = jwk["n"], jwk["e"]
            ver["sealed"] = engine.sealer.seal_text(crypto.private_to_der(private), kid.encode())
            engine._private_cache[kid] = private
            publics[kid.lower()] = private.public_key()
            done += 1
            tick("key versions", done, total)
        platform: dict[str, Any] = {}

        def platform_public(region: str):
            pub = platform.get(region)
            if pub is None:
                pkid = f"platform:{region}"
                pk = engine.t["platform_keys"].get(pkid)
                if pk is None and wk is not None:
                    pk = PlatformKey(id=pkid, region=region, n="", e="", sealed="", created=engine.now())
                    engine._add(pk)
                    pub = early.platform.get(region) if early is not None else None  # (asked for while planning)
                    if pub is None:
                        pub = wk.generate([(2048, pkid.encode())])[0]
                    platform[region] = pub
                    pending.append((pk, pub))
                    return pub
                if pk is None:
                    private = _stand_in(engine, 2048, used)
                    jwk = crypto.public_numbers_jwk(private)
                    pk = PlatformKey(id=pkid, region=region, n=jwk["n"], e=jwk["e"],
                                     sealed=engine.sealer.seal_text(crypto.private_to_der(private), pkid.encode()),
                                     created=engine.now())
                    engine._add(pk)
                    engine._private_cache[pkid] = private
                pub = platform[region] = crypto.public_from_jwk(pk.n, pk.e)
            return pub

        for r, _ in plan.disks:
            if r.encryption_type != ENC_CUSTOMER:
                platform_public(r.location)
        rep.timings["keygen_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        for m in plan.groups:
            if engine.t["groups"].get(m.key) is None:
                engine._add(m)
        for table, models in (("vaults", plan.vaults), ("roles", plan.roles), ("keys", plan.keys),
                              ("des", plan.des), ("scalesets", plan.scalesets)):
            _refuse_held(engine, table, models)
            for m in models:
                engine._add(m)
                done += 1
            tick(STAGES.get(table, table), done, total)
        tick("disks", done, total)  # (their data keys' places and index entries: most of what follows here)
        _refuse_held(engine, "vms", plan.vms)
        for table in DATA_TABLES:
            _refuse_held(engine, table, [r for r, _ in plan.disks if r.table == table])
        seeded = engine.rng.seeded
        rng = engine.rng
        b64 = engine.b64
        seal = engine.host_sealer.seal_text
        # each resource's data keys and the public keys that wrap them (outermost first); handed to the worker
        # while planning, when it could be (_EarlyStandIns.wraps)
        drawn = early.work if early is not None and wk is not None else None
        work: list[tuple[Any, list[tuple[Any, str, bytes]]]] = drawn if drawn is not None else []
        for r, des in (plan.disks if drawn is None else ()):
            if des is None:
                pub, kid = platform[r.location], f"platform:{r.location}"
            else:
                pub, kid = publics.get(des.key_url.lower()), des.key_url
                if pub is None:  # --merge: a set the home holds
                    ref = parse_key_url(des.key_url)
                    ver = engine.t["keys"][ref.versionless].version(ref.version)
                    pub = publics[des.key_url.lower()] = crypto.public_from_jwk(ver["n"], ver["e"])
            work.append((r, _draw_layers(r, pub, kid, platform.get(r.location), rng if seeded else None)
                         if wk is None else _layer_keys(r, pub, kid, platform.get(r.location))))
        t_wraps = time.perf_counter()
        if seeded:
            # one stream of randomness, in order: each resource's wraps, then its host copy
            for i, (r, layers) in enumerate(work):
                r.layers = [{"mode": "AES-256-GCM" if j == 0 else "AES-256-XTS", "kid": kid,
                             "wrapped": b64(oaep_sha256_encrypt(pub, dek, rng))}
                            for j, (pub, kid, dek) in enumerate(layers)]
                r.cache = seal(b"".join(dek for _, _, dek in layers), r.id.encode())
                if not i % 1024:
                    tick("data keys", done + i, total)
            _add_indexed(engine, plan)
        elif wk is not None:
            # the wraps in the worker process while this one seals the host copies, adds the models and index
            # entries and serialises the commit: the documents hold placeholders of the wrapped values, which
            # the store fills in last (store.bulk_commit(late=...)); a failed worker aborts the commit
            # (a layer's key: a public key, or the index of a stand-in the worker generated)
            count = max(1, sum(len(layers) for _, layers in work))
            base = [done]  # (moved on to where the commit starts: the wraps are told from there to the end)

            def settle(values: list[str]) -> None:
                at = 0
                for r, _layers in work:
                    for layer in r.layers:
                        layer["wrapped"] = values[at]
                        at += 1
                    r.cache = values[at]
                    at += 1

            def told(n: int) -> None:  # (once every data key is wrapped, what is left is writing the shards)
                tick("data keys" if n < count else "writing", base[0] + n * (total - base[0]) // count, total)

            wk.host(engine._host_cache_key())  # (the worker seals the host copies: it draws the data keys)
            if drawn is None:
                holders = wk.submit([([pub for pub, _, _ in layers], r.id.encode()) for r, layers in work],
                                    tables=set(DATA_TABLES), then=settle, told=told)
            else:  # handed over while planning
                wk.finish(tables=set(DATA_TABLES), then=settle, told=told)
                holders = early.holders
            uow.late = wk
            t_seal = time.perf_counter()
            for (r, layers), held in zip(work, holders):
                r.layers = [{"mode": "AES-256-GCM" if j == 0 else "AES-256-XTS", "kid": kid,
                             "wrapped": held[j]} for j, (_pub, kid, _dek) in enumerate(layers)]
                r.cache = held[-1]
            rep.timings["seal_s"] = time.perf_counter() - t_seal  # (the placeholders: the worker seals them)
            _add_indexed(engine, plan)
            rep.timings["indexes_s"] = time.perf_counter() - t_seal - rep.timings["seal_s"]
        else:
            # the Python work first (host copies sealed, VMs and index entries added), then only the RSA wraps,
            # on this thread and WRAP_THREADS more (cryptography releases the GIL for RSA; Python work beside
            # them would hand the GIL to and fro at every wrap)
            caches = [seal(b"".join(dek for _, _, dek in layers), r.id.encode()) for r, layers in work]
            rep.timings["seal_s"] = time.perf_counter() - t_wraps
            _add_indexed(engine, plan)
            rep.timings["indexes_s"] = time.perf_counter() - t_wraps - rep.timings["seal_s"]
            pairs = [(pub, dek) for _, layers in work for pub, _, dek in layers]
            t_rsa = time.perf_counter()
            wrapped = _wrap_all(pairs, lambda n: tick("data keys", done + n * len(work) // max(1, len(pairs)),
                                                      total))
            rep.timings["rsa_s"] = time.perf_counter() - t_rsa
            at = 0
            for (r, layers), cache in zip(work, caches):
                r.layers = [{"mode": "AES-256-GCM" if j == 0 else "AES-256-XTS", "kid": kid,
                             "wrapped": b64(wrapped[at + j])} for j, (_pub, kid, _dek) in enumerate(layers)]
                at += len(layers)
                r.cache = cache
        rep.timings["wraps_s"] = time.perf_counter() - t_wraps
        if pending:  # the worker's stand-ins: their public numbers and sealed material, in their models
            t_keys = time.perf_counter()
            wk.seal_late = engine.sealer.seal_text  # (for a worker forked before the home was opened)
            made = wk.keys()
            for model, i in pending:
                n, e, sealed = made[i]
                if type(model) is dict:
                    model["n"], model["e"], model["sealed"] = n, e, sealed
                else:
                    model.n, model.e, model.sealed = n, e, sealed
            # the worker's time generating and sealing them (beside this process), and the wait for them here
            rep.timings["keygen_s"] += wk.keygen_s
            rep.timings["stand_ins_wait_s"] = time.perf_counter() - t_keys
        for table in DATA_TABLES:
            engine._add_new(table, [r for r, _ in work if r.table == table])
        done += (len(work) if uow.late is None else 0) + len(plan.vms)  # (the worker's wraps: told as they come)
        tick("disks", done, total)
        rep.timings["models_s"] = time.perf_counter() - t1
        uow.reconcile = False  # the power states are as given: the twin starts as the subscription is
        from . import events as ev

        engine._emit(ev.ResourceChanged, f"imported a twin of subscription {plan.subscription}: "
                     f"{', '.join(f'{n} {k}' for k, n in rep.counts.items() if n)}",
                     resource=f"/subscriptions/{plan.subscription}")
        # a set whose identity cannot use its key as captured: the twin keeps the power states as given,
        # but the next action that reaches its VMs stops them (access not captured, or already broken)
        for des in plan.des:
            problem = engine.des_identity_ready(des)
            if problem is not None:
                rep.note(f"disk encryption set whose identity cannot use its key as captured ({problem.code}; "
                         f"access not in the input, or broken already): its running VMs stop at the next "
                         f"action that reaches them", des.id)
        if uow.late is None:
            tick("writing", total, total)  # the commit follows: one append of every document, then compaction
        else:
            base[0] = done
            tick("data keys", done, total)  # the commit follows, and the worker's wraps are told as they come
        t_commit = time.perf_counter()
    rep.timings["commit_s"] = time.perf_counter() - t_commit
    if uow.late is not None:  # of which: waiting for the worker's last wraps (and wrapping the rest here)
        rep.timings["wraps_wait_s"] = uow.late.waited_s
        rep.timings["wraps_here"] = uow.late.wrapped_here
    rep.timings["apply_s"] = time.perf_counter() - t_all
    return rep


def import_files(engine, paths: list[str], *, merge: bool = False, partial: bool = False,
                 progress: Callable[[str, int, int], None] | None = None) -> Report:
    """Read, plan and apply; refused (nothing changed) when the home holds state and ``merge`` is not given,
    or when something cannot be modelled and ``partial`` is not given (the report says what)."""

    report = Report()
    big = sum(os.path.getsize(p) for p in paths if os.path.isfile(p)) >= WORKER_MIN_BYTES
    # the wraps' worker is forked first, while this process is small (a fork copies its page tables, and
    # each page both share is copied at its next write). The cyclic collector is paused for the whole import,
    # not per stage: between stages it would walk every object the input's parse made (~0.1-0.2 s each
    # time, none of them in a cycle)
    with (_worker_for(engine) if big else contextlib.nullcontext(None)) as worker, _collector_paused():
        docs, report.timings["json_s"] = _read_all(
            paths, ahead=worker.ahead if worker is not None and not engine.rng.seeded else None)
        # into an empty home, the worker generates the stand-ins as soon as the planning knows the key versions,
        # while the planning goes on (a failed planning ends it: nothing of it is used)
        early = _EarlyStandIns(engine, worker) if worker is not None and not engine.rng.seeded else None
        plan = _plan_docs(engine, docs, merge=merge, partial=partial, progress=progress, report=report, early=early,
                          consume=True)  # (the parsed input freed as it is planned: the plan keeps what it needs)
        del docs
        return apply_import(engine, plan, progress=progress, worker=worker)


def import_files_into(paths: list[str], open_engine: Callable[[], Any], *, fresh: bool, now: str,
                      worker_ok: bool = True, merge: bool = False, partial: bool = False,
                      progress: Callable[[str, int, int], None] | None = None) -> tuple[Any, Report]:
    """``cmklab import``: :func:`import_files` into the home ``open_engine()`` opens. Into a home without state
    (``fresh``) every file is read and checked, and the plan made, before the home is opened, so that refused
    input leaves no home behind; as in :func:`import_files`, the collector is paused throughout and the wraps'
    worker is forked first, while the process is small (``worker_ok``: an unseeded home that may be written),
    generating the stand-ins while the planning goes on. The home has no sealer yet then: their private keys
    come back to this process, which seals them once the home is open. The parsed input is freed as it is
    planned (:func:`prepare`'s ``consume``). Returns (the engine, the report)."""
    from . import _wraps

    if not fresh:  # the home exists: opening it first changes nothing
        engine = open_engine()
        return engine, import_files(engine, paths, merge=merge, partial=partial, progress=progress)
    big = worker_ok and sum(os.path.getsize(p) for p in paths if os.path.isfile(p)) >= WORKER_MIN_BYTES
    with (_wraps.WrapWorker() if big and _wraps.available() else contextlib.nullcontext(None)) as worker, \
            _collector_paused():
        docs, json_s = _read_all(paths, progress, ahead=worker.ahead if worker is not None else None)
        if progress is not None:
            progress("planning", 0, 1)
        # (with --merge the input is kept: should the home hold state once opened, it is planned again)
        plan = prepare(docs, now=now, partial=partial, consume=not merge, progress=progress,
                       early=_EarlyStandIns(None, worker) if worker is not None else None)
        engine = open_engine()
        plan = _plan_docs(engine, docs, merge=merge, partial=partial, progress=progress, report=None, plan=plan)
        del docs
        report = apply_import(engine, plan, progress=progress, worker=worker)
        report.timings["json_s"] = json_s
        return engine, report


def _read_all(paths: list[str], progress: Callable[[str, int, int], None] | None = None,
              ahead: Callable[[list[int]], None] | None = None) -> tuple[list[tuple[str, Any]], float]:
    """Every input file parsed, in order (:func:`read_file`), and the seconds it took. ``ahead``: told the sizes
    of the stand-ins the input's keys will likely need (:func:`_stand_in_sizes`), once the files under
    :data:`AHEAD_BYTES` are read, which are then read first (the keys' files are small): the wraps' worker
    makes them while the large files are read (three RSA-3072 stand-ins made once the planning asked for them
    held its first wraps back by half a second)."""
    import time

    t = time.perf_counter()
    order = list(range(len(paths)))
    if ahead is not None:
        sizes = [os.path.getsize(p) if os.path.isfile(p) else 0 for p in paths]
        order.sort(key=lambda i: sizes[i] >= AHEAD_BYTES)  # (stable: the small ones first, in their order)
    docs: list = [None] * len(paths)
    told = ahead is None
    for n, i in enumerate(order):
        if not told and sizes[i] >= AHEAD_BYTES:
            ahead(_stand_in_sizes([d for d in docs if d is not None]))
            told = True
        docs[i] = (os.fspath(paths[i]), read_file(paths[i]))
        if progress is not None:
            progress("reading", n + 1, len(paths))
    return docs, time.perf_counter() - t


AHEAD_BYTES = 1 << 20
"""Input files under this size are read first when a worker makes stand-ins ahead (:func:`_read_all`)."""


def _stand_in_sizes(docs: list[tuple[str, Any]]) -> list[int]:
    """The sizes of the stand-ins the key items of ``docs`` will likely need: of each key whose size they give
    (``key.n``, ``keySize``), one per version they name (at least one). A guess, for the worker to make them
    ahead: a version named only by a disk encryption set, or a key without its size, is generated when asked."""
    bits_of: dict[str, int] = {}
    versions: dict[str, set[str]] = {}
    for name, doc in docs:
        try:
            items = items_of(doc, name)
        except ImportInputError:
            continue
        for item in items:
            if kind_of(item) != "key":
                continue
            jwk = item.get("key") if isinstance(item.get("key"), dict) else {}
            try:
                ref = parse_key_url(item["kid"] if isinstance(item.get("kid"), str) else jwk.get("kid"))
            except (BadRequest, TypeError):
                continue
            base = ref.versionless.lower()
            bits = _bits_of_n(jwk.get("n")) or item.get("keySize")
            if type(bits) is int and bits in KEY_SIZES:
                bits_of[base] = bits
            if ref.version:
                versions.setdefault(base, set()).add(ref.version)
    return [bits for base, bits in sorted(bits_of.items()) for _ in range(max(1, len(versions.get(base, ()))))]


@contextlib.contextmanager
def _collector_paused():
    """The cyclic garbage collector paused for a whole import, and what the import made (the new state:
    long-lived, no reference cycles) then put in the oldest generation unscanned (``gc.freeze`` and
    ``gc.unfreeze``): re-enabled as it is, the collector's next pass would walk every one of those objects as
    young ones (~0.2-0.4 s for 100,000 resources). In a process that keeps its state out of the collector's
    way (``gc.freeze``: the console), it is frozen with the rest. Reference counting frees everything
    as ever; a later full collection still visits what was unfrozen."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            frozen = gc.get_freeze_count()
            gc.freeze()
            if not frozen:
                gc.unfreeze()
            gc.enable()


WORKER_MIN_BYTES = 4 << 20
"""Input from which :func:`import_files` starts a worker for the wraps before reading it."""


class Incomplete(Conflict):
    """Something in the input cannot be modelled and ``partial`` was not given: nothing was imported."""

    def __init__(self, report: Report) -> None:
        super().__init__("the input holds what the twin cannot model (listed above); nothing was imported. "
                         "Add what is missing to the input, or give --partial to import the rest",
                         code="IncompleteInput")
        report.refused = True
        self.report = report


def prepare(docs: list[tuple[str, Any]], *, now: str, partial: bool = False, home_subscription: str | None = None,
            report: Report | None = None, home=None, early: _EarlyStandIns | None = None,
            consume: bool = False, progress: Callable[[str, int, int], None] | None = None) -> Plan:
    """Recognise, merge and plan (no engine, nothing written); :class:`Incomplete` when something cannot be
    modelled and ``partial`` is not given. ``consume``: ``docs`` is emptied once its items are sorted by kind,
    and they are freed as they are planned (:func:`plan_import`): for a caller that keeps nothing of them.
    ``progress``: told as the planning goes (:func:`plan_import`)."""
    if not docs:
        raise ImportInputError("no input file given; give the files the commands of cmklab import --capture-script "
                               "wrote")
    try:
        with _no_cycle_collection():  # the input's millions of objects are walked by no collection
            inp = collect(docs, report)
            if consume:
                docs.clear()
            plan = plan_import(inp, now=now, home_subscription=home_subscription, home=home, early=early,
                               consume=consume, progress=progress)
            del inp
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise ImportInputError(f"{_where(exc) or 'an item'}: a field holds a value of a type az does not print "
                               f"({type(exc).__name__}: {str(exc)[:120]}); give the files as az wrote them "
                               f"(-o json)") from None
    if not plan.report.complete and not partial:
        raise Incomplete(plan.report)
    plan.early = early
    return plan


def _where(exc: BaseException) -> str | None:
    """The id of the item the planner was at when ``exc`` was raised (from its frame), if any."""
    tb, found = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code in (plan_import.__code__, collect.__code__):
            loc = tb.tb_frame.f_locals
            found = loc.get("rid") or loc.get("base") or loc.get("name") or found
        tb = tb.tb_next
    return str(found)[:200] if found else None


def import_docs(engine, docs: list[tuple[str, Any]], *, merge: bool = False, partial: bool = False,
                progress: Callable[[str, int, int], None] | None = None, report: Report | None = None,
                plan: Plan | None = None, worker=None) -> Report:
    """Plan (unless ``plan`` was prepared) and apply: refused, nothing changed, when the home holds state and
    ``merge`` is not given, or when the input holds what cannot be modelled and ``partial`` is not given."""
    plan = _plan_docs(engine, docs, merge=merge, partial=partial, progress=progress, report=report, plan=plan)
    return apply_import(engine, plan, progress=progress, worker=worker)


def _plan_docs(engine, docs: list[tuple[str, Any]], *, merge: bool, partial: bool,
               progress: Callable[[str, int, int], None] | None, report: Report | None,
               plan: Plan | None = None, early: _EarlyStandIns | None = None, consume: bool = False) -> Plan:
    """The plan :func:`import_docs` applies (``plan`` itself when it was prepared and the home is empty).
    ``early``: see :class:`_EarlyStandIns` (into an empty home only). ``consume``: see :func:`prepare`."""
    holds = home_holds_state(engine)
    if holds and not merge:
        raise Conflict("this home already holds state; an import goes into an empty home (cmklab --home NEW-DIR "
                       "import ...), or give --merge to add the twin to what is here", code="Conflict")
    if plan is None or holds:
        import time

        t = time.perf_counter()
        if progress is not None:
            progress("planning", 0, 1)
        plan = prepare(docs, now=engine.now(), partial=partial,
                       home_subscription=engine.subscription_id if holds else None, report=report,
                       home=engine if holds else None, early=early if not holds else None, consume=consume,
                       progress=progress)
        plan.report.timings["plan_s"] = time.perf_counter() - t
    return plan
