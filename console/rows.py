"""The console's view-model: the rows its panes list that are not engine models, the look-ups shared by every
row of a refresh (``Index``), and the small display helpers every panel uses.

Nothing here draws: the screens (``screens/``), the widgets (``widgets/``) and the dialogs (``modals/``) all
read it, so it lives outside all three (widgets and modals never import a screen).
"""

from __future__ import annotations

from engine._light import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple

from engine.ids import key_id, parse_key_url, short_key_url, shorten_key_urls
from engine.rules import ENC_CUSTOMER, ENC_DOUBLE, ENC_PLATFORM

# ---- display helpers ------------------------------------------------------------------------------


ENC_LABEL = {ENC_PLATFORM: "platform", ENC_CUSTOMER: "CMK", ENC_DOUBLE: "CMK+platform"}


def short_kid(kid: str | None) -> str:
    """``https://kv.vault.azure.net/keys/k/0123...`` -> ``kv/k/01234567``; platform keys -> ``platform (region)``."""
    if not kid:
        return "-"
    if kid.startswith("platform:"):
        return f"platform ({kid[9:]})"
    return short_key_url(kid) or kid


def shorten(text: str | None) -> str:
    """Every key URL in ``text`` in its short form."""
    if not text:
        return ""
    return shorten_key_urls(text)


def when(iso_text: str | None) -> str:
    """``2026-05-01T09:00:00+00:00`` -> ``2026-05-01 09:00``."""
    if not iso_text:
        return "-"
    return iso_text[:16].replace("T", " ")


def yes(flag: Any) -> tuple[str, str]:
    return ("yes", "ok") if flag else ("no", "dim")


# ---- rows that are not engine models --------------------------------------------------------------


class VersionRow(NamedTuple):
    key: Any
    version: dict

    @property
    def kid(self) -> str:
        return key_id(self.key.vault, self.key.name, self.version["version"])


class AccessRow(NamedTuple):
    vault: Any
    model: str
    """``policy`` or ``role``."""
    principal: str
    grant: str
    """Key permissions (policy) or the role name."""
    assignment: Any = None
    name: str | None = None
    """Who the principal is, as the engine names it (``Engine.principal_name``); None when it does not know."""

    @property
    def who(self) -> str:
        """``des-cmk (fb568bc3-...)``: the principal's name with its id (the id alone when it has no name)."""
        return f"{self.name} ({self.principal})" if self.name else self.principal

    @property
    def id(self) -> str:
        if self.assignment is not None:
            return self.assignment.id
        return f"{self.vault.id}/accessPolicies/{self.principal}"


@dataclass
class LogEntry:
    """One console action in the command log: the az lines it stands for, and how it ended."""

    seq: int
    time: str
    label: str
    lines: list[str]
    ok: bool
    error: str | None = None


# ---- lookups shared by every row of a refresh ------------------------------------------------------


class Index:
    """Cross-resource lookups, computed on first use after each engine change."""

    def __init__(self, engine) -> None:
        self.e = engine

    @cached_property
    def des_by_key(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for d in self.e.list_des():
            try:
                ref = parse_key_url(d.key_url)
            except Exception:  # noqa: BLE001
                continue
            out.setdefault(ref.versionless.lower(), []).append(d)
        return out

    @cached_property
    def des_by_kid(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for d in self.e.list_des():
            out.setdefault(d.key_url.lower(), []).append(d)
        return out

    @cached_property
    def res_by_des(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for r in self.e.iter_resources(("disks", "snapshots", "images"), where=lambda r: bool(r.des_id)):
            out.setdefault(r.des_id, []).append(r)
        return out

    @cached_property
    def res_by_kid(self) -> dict[str, list]:
        """Resources whose customer data key is wrapped by each key version (lower-case versioned kid)."""
        out: dict[str, list] = {}
        for r in self.e.iter_resources(("disks", "snapshots", "images")):
            for layer in r.layers:
                if not layer["kid"].startswith("platform:"):
                    out.setdefault(layer["kid"].lower(), []).append(r)
        return out

    def members_of_kid(self, kid: str) -> tuple[dict[str, list], list]:
        """The resources of a key version (:attr:`res_by_kid`) by set: ``({set id: [resource]}, [without a set])``,
        each list by kind and name, as the dependency view lists them. Kept until the next engine change: moving
        the cursor over the VMs of a 30,000-disk set regrouped and sorted its members at each row (175 ms)."""
        memo = self.__dict__.setdefault("_members_of_kid", {})
        kid = kid.lower()
        found = memo.get(kid)
        if found is None:
            by_set: dict[str, list] = {}
            loose: list = []
            for r in self.res_by_kid.get(kid, []):
                (by_set.setdefault(r.des_id, []) if r.des_id else loose).append(r)
            for members in (*by_set.values(), loose):
                members.sort(key=lambda r: (r.kind, r.name.lower()))
            found = memo[kid] = (by_set, loose)
        return found

    @cached_property
    def principals(self) -> dict[str, str]:
        """Object id -> who it is (``you``, ``set des-cmk``)."""
        out = {}
        if self.e.meta is not None:
            out[self.e.operator.lower()] = f"you ({self.e.meta.user_name})"
        for d in self.e.list_des():
            out[d.principal_id.lower()] = f"set {d.name}"
        return out

    def who(self, oid: str | None) -> str:
        if not oid:
            return "-"
        return self.principals.get(oid.lower(), oid)


@dataclass
class Ctx:
    engine: Any
    idx: Index
    log: list = field(default_factory=list)


def policy_summary(k) -> str:
    pol = k.rotation_policy
    if not pol:
        return "-"
    parts = []
    for a in pol.get("lifetimeActions", []):
        trig = a["trigger"]
        typ = a["action"]["type"].lower()
        if "timeAfterCreate" in trig:
            parts.append(f"{typ} {trig['timeAfterCreate']} after create")
        else:
            parts.append(f"{typ} {trig['timeBeforeExpiry']} before exp")
    exp = (pol.get("attributes") or {}).get("expiryTime")
    if exp:
        parts.append(f"exp {exp}")
    return ", ".join(parts) or "-"
