"""Typed, immutable events, published after a unit of work commits.

The console subscribes (``Engine.subscribe``) and turns them into Textual messages; the engine also
keeps them in its event log (persisted) so that a trainer sees what ran when. Nothing here imports
a UI library.
"""

from __future__ import annotations

from typing import Callable, ClassVar

from ._light import dataclass, record


@dataclass(frozen=True, shared_init=True)
class Event:
    """Something that happened, at a simulated time, with a one-line summary for people.

    Immutable (a frozen record, :mod:`engine._light`). Each kind is a small subclass with named fields, each
    None unless given (``KeyDisabled(time, summary, kid=...)``), made by :func:`_event`.
    """

    time: str
    summary: str
    kind: ClassVar[str] = "Event"
    severity: ClassVar[str] = "information"
    fields: ClassVar[tuple[str, ...]] = ()

    def to_doc(self) -> dict:
        doc = {"time": self.time, "summary": self.summary, **{f: self.__dict__[f] for f in self.fields}}
        doc["type"] = self.kind
        doc["severity"] = self.severity
        return doc


def _event(name: str, severity: str = "information", **extra: type) -> type[Event]:
    return record(name, Event, dict.fromkeys(extra), {"__module__": __name__, "__qualname__": name, "kind": name,
                                                      "severity": severity, "fields": tuple(extra)})


# Resource Manager
ResourceGroupCreated = _event("ResourceGroupCreated", group=str)
ResourceGroupDeleted = _event("ResourceGroupDeleted", group=str)
# Key Vault
VaultCreated = _event("VaultCreated", vault=str)
VaultDeleted = _event("VaultDeleted", "warning", vault=str)
VaultRecovered = _event("VaultRecovered", vault=str)
VaultPurged = _event("VaultPurged", "error", vault=str)
AccessGranted = _event("AccessGranted", vault=str, object_id=str)
AccessRevoked = _event("AccessRevoked", "warning", vault=str, object_id=str)
KeyCreated = _event("KeyCreated", kid=str)
KeyRotated = _event("KeyRotated", kid=str)
KeyEnabled = _event("KeyEnabled", kid=str)
KeyDisabled = _event("KeyDisabled", "warning", kid=str)
KeyUpdated = _event("KeyUpdated", kid=str)
KeyDeleted = _event("KeyDeleted", "warning", kid=str)
KeyRecovered = _event("KeyRecovered", kid=str)
KeyPurged = _event("KeyPurged", "error", kid=str)
KeyNearExpiry = _event("KeyNearExpiry", "warning", kid=str)
KeyExpired = _event("KeyExpired", "warning", kid=str)
# Compute
DiskEncryptionSetCreated = _event("DiskEncryptionSetCreated", des=str)
DiskEncryptionSetKeyChanged = _event("DiskEncryptionSetKeyChanged", des=str, kid=str)
DiskEncryptionSetDeleted = _event("DiskEncryptionSetDeleted", des=str)
ResourcesRewrapped = _event("ResourcesRewrapped", des=str, kid=str, count=int)
DiskCreated = _event("DiskCreated", disk=str)
DiskUpdated = _event("DiskUpdated", disk=str)
DiskEncryptionRefused = _event("DiskEncryptionRefused", "warning", disk=str)
DiskDeleted = _event("DiskDeleted", disk=str)
SnapshotCreated = _event("SnapshotCreated", snapshot=str)
SnapshotDeleted = _event("SnapshotDeleted", snapshot=str)
ImageCreated = _event("ImageCreated", image=str)
ImageDeleted = _event("ImageDeleted", image=str)
DiskAttached = _event("DiskAttached", disk=str, vm=str)
DiskDetached = _event("DiskDetached", disk=str, vm=str)
VmCreated = _event("VmCreated", vm=str)
VmPowerChanged = _event("VmPowerChanged", vm=str, power=str)
VmShutDownByKey = _event("VmShutDownByKey", "error", vm=str, kid=str)
VmStartRefused = _event("VmStartRefused", "error", vm=str)
VmRunningOnHostKeys = _event("VmRunningOnHostKeys", "warning", vm=str, kid=str)
VmCannotStartByKey = _event("VmCannotStartByKey", "warning", vm=str, kid=str)
VmKeyUsableAgain = _event("VmKeyUsableAgain", vm=str, kid=str)
VmDeleted = _event("VmDeleted", vm=str)
VmUpdated = _event("VmUpdated", vm=str)
ClockAdvanced = _event("ClockAdvanced", start=str, end=str)
JobRan = _event("JobRan", job=str)
ResourceChanged = _event("ResourceChanged", resource=str)

EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in list(globals().values()) if isinstance(cls, type) and issubclass(cls, Event)
}


def event_from_doc(doc: dict) -> Event:
    cls = EVENT_TYPES.get(doc.get("type", ""), Event)
    return cls(doc.get("time", ""), doc.get("summary", ""),
               **{k: v for k, v in doc.items() if k in cls.fields})


Subscriber = Callable[[Event], None]
