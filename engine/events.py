"""Typed, immutable events, published after a unit of work commits.

The console subscribes (``Engine.subscribe``) and turns them into Textual messages; the engine also
keeps them in its event log (persisted) so that a trainer sees what ran when. Nothing here imports
a UI library.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Callable, ClassVar


@dataclass(frozen=True)
class Event:
    """Something that happened, at a simulated time, with a one-line summary for people."""

    time: str
    summary: str
    kind: ClassVar[str] = "Event"
    severity: ClassVar[str] = "information"

    def to_doc(self) -> dict:
        doc = asdict(self)
        doc["type"] = self.kind
        doc["severity"] = self.severity
        return doc


def _event(name: str, severity: str = "information", **extra: type) -> type[Event]:
    ns = {"__annotations__": {k: v for k, v in extra.items()}, "kind": name, "severity": severity}
    for k in extra:
        ns[k] = field(default=None)
    cls = type(name, (Event,), ns)
    return dataclass(frozen=True)(cls)


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
DiskDeleted = _event("DiskDeleted", disk=str)
DiskAttached = _event("DiskAttached", disk=str, vm=str)
DiskDetached = _event("DiskDetached", disk=str, vm=str)
VmCreated = _event("VmCreated", vm=str)
VmPowerChanged = _event("VmPowerChanged", vm=str, power=str)
VmShutDownByKey = _event("VmShutDownByKey", "error", vm=str, kid=str)
VmStartRefused = _event("VmStartRefused", "error", vm=str)
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
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in doc.items() if k in names})


Subscriber = Callable[[Event], None]
