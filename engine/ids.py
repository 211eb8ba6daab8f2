"""Azure's id shapes and naming rules.

ARM ids (``/subscriptions/{sub}/resourceGroups/{rg}/providers/...``), key identifiers
(``https://{vault}.vault.azure.net/keys/{name}/{32 hex}``) and the name rules Azure enforces,
each refusal naming what was wrong and what is allowed.
"""

from __future__ import annotations

import re
from ._light import dataclass

from .errors import BadRequest

VAULT_DNS = "vault.azure.net"

PROVIDERS = {
    "vault": "Microsoft.KeyVault/vaults",
    "des": "Microsoft.Compute/diskEncryptionSets",
    "disk": "Microsoft.Compute/disks",
    "snapshot": "Microsoft.Compute/snapshots",
    "image": "Microsoft.Compute/images",
    "vm": "Microsoft.Compute/virtualMachines",
    "vmss": "Microsoft.Compute/virtualMachineScaleSets",
}


def rg_id(sub: str, rg: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}"


def arm_id(sub: str, rg: str, kind: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{PROVIDERS[kind]}/{name}"


_ARM = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/(?P<prov>[^/]+/[^/]+)/(?P<name>[^/]+)$",
    re.I,
)


@dataclass(frozen=True)
class ArmId:
    subscription: str
    resource_group: str
    provider: str
    name: str


def parse_arm_id(text: str) -> ArmId | None:
    """The parts of an ARM resource id (a trailing slash allowed), or None when ``text`` is not one."""
    m = _ARM.match(text.strip().rstrip("/")) if isinstance(text, str) else None
    if not m:
        return None
    return ArmId(m.group("sub"), m.group("rg"), m.group("prov"), m.group("name"))


def vault_uri(vault: str) -> str:
    return f"https://{vault}.{VAULT_DNS}/"


def key_id(vault: str, name: str, version: str | None = None) -> str:
    base = f"https://{vault}.{VAULT_DNS}/keys/{name}"
    return f"{base}/{version}" if version else base


_KID_BODY = (r"https://(?P<vault>[A-Za-z0-9-]+)\.vault\.azure\.net(?::443)?/keys/(?P<name>[A-Za-z0-9-]+)"
             r"(?:/(?P<version>[0-9a-fA-F]{32}))?")
_KID = re.compile(rf"^{_KID_BODY}/?$")
KEY_URL_IN_TEXT = re.compile(_KID_BODY, re.I)
"""A key URL anywhere in a text (messages, events): the one pattern of a key id, with :data:`_KID` its
anchored form."""
KEY_URL_HELP = "https://{vault}.vault.azure.net/keys/{name}/{32-hex version}"


def keys_prefix(vault: str) -> str:
    """What the (lower-cased) id of every key of ``vault`` starts with."""
    return f"https://{vault.lower()}.{VAULT_DNS}/keys/"


def deleted_key_id(vault: str, name: str) -> str:
    return f"https://{vault}.{VAULT_DNS}/deletedkeys/{name}"


def short_key_url(url: str, *, version: bool = True) -> str | None:
    """``https://kv.vault.azure.net/keys/k/0123...`` -> ``kv/k/01234567`` (``kv/k`` without ``version``);
    None when ``url`` is not a key URL."""
    m = KEY_URL_IN_TEXT.fullmatch(url.strip()) if isinstance(url, str) else None
    return None if m is None else _short(m, version)


def shorten_key_urls(text: str, *, version: bool = True) -> str:
    """Every key URL in ``text`` in its short form (:func:`short_key_url`)."""
    return KEY_URL_IN_TEXT.sub(lambda m: _short(m, version), text)


def _short(m: re.Match, version: bool) -> str:
    ver = m.group("version")
    return f"{m.group('vault')}/{m.group('name')}" + (f"/{ver[:8]}" if version and ver else "")


@dataclass(frozen=True)
class KeyRef:
    vault: str
    name: str
    version: str | None

    @property
    def versionless(self) -> str:
        return key_id(self.vault, self.name)

    @property
    def kid(self) -> str:
        return key_id(self.vault, self.name, self.version)


def parse_key_url(url: str, *, require_version: bool = False, what: str = "key URL") -> KeyRef:
    m = _KID.match(url.strip()) if isinstance(url, str) else None
    if not m:
        raise BadRequest(f"{what} {url!r} is not a Key Vault key identifier; expected {KEY_URL_HELP}",
                         code="InvalidParameter")
    ref = KeyRef(m.group("vault").lower(), m.group("name"), (m.group("version") or "").lower() or None)
    if require_version and not ref.version:
        raise BadRequest(f"{what} {url!r} has no version; a disk encryption set needs a versioned key URL "
                         f"({KEY_URL_HELP})", code="InvalidParameter")
    return ref


# ---- naming rules (Azure's) -------------------------------------------------------------------

_CTRL = re.compile(r"[\x00-\x1f\x7f]")


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def check_name(kind: str, value: object) -> str:
    """Enforce Azure's naming rule for ``kind``; return the name or raise BadRequest."""
    rule = NAME_RULES[kind]
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{rule.label} name is required; {rule.help}", code="InvalidParameter")
    if len(value) > rule.max_len:
        raise BadRequest(f"{rule.label} name {_show(value)} is {len(value):,} characters long; Azure allows at most "
                         f"{rule.max_len}: {rule.help}", code="InvalidParameter")
    if _CTRL.search(value) or not rule.pattern.fullmatch(value):
        raise BadRequest(f"{rule.label} name {_show(value)} is not valid: {rule.help}", code="InvalidParameter")
    return value


def implicit_disk_name(vm: str, middle: str, suffix: str) -> str:
    """The name a disk that a VM creates without being given one gets: ``{vm}{middle}{suffix}``, as Azure names them
    (``vm-1_OsDisk_1_<32 hex>``, ``vm-1_disk2_<32 hex>``). A VM's name may be 64 characters and a disk's at most 80,
    so with a long VM name the two do not fit; what Azure does then is not documented (its documents give only the
    pattern), so the VM name's part is cut from its end until the whole name fits: deterministic (the same VM name
    always gives the same part), the middle and the random suffix kept whole, and a valid disk name, since the
    name ends with the suffix."""
    room = NAME_RULES["disk"].max_len - len(middle) - len(suffix)
    return f"{vm[:max(room, 0)]}{middle}{suffix}"


@dataclass(frozen=True)
class NameRule:
    label: str
    pattern: re.Pattern
    help: str
    min_len: int = 1
    max_len: int = 80
    """Azure's documented length limits (the pattern enforces them too; a name past ``max_len`` is refused saying
    so, never cut short)."""


def name_limits(kind: str) -> tuple[int, int]:
    """The shortest and longest name Azure allows for ``kind``."""
    rule = NAME_RULES[kind]
    return rule.min_len, rule.max_len


NAME_RULES: dict[str, NameRule] = {
    "vmss": NameRule(
        "Virtual machine scale set", re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,62}[A-Za-z0-9])?"),
        "1-64 characters: letters, digits, hyphens and periods, not starting or ending with a hyphen or period",
        1, 64),
    "vault": NameRule(
        "Key vault", re.compile(r"[A-Za-z](?!.*--)[A-Za-z0-9-]{1,22}[A-Za-z0-9]"),
        "3-24 characters, letters, digits and hyphens, starting with a letter, ending with a letter or digit, "
        "no consecutive hyphens", 3, 24),
    "key": NameRule("Key", re.compile(r"[A-Za-z0-9-]{1,127}"), "1-127 characters, letters, digits and hyphens",
                    1, 127),
    "resource_group": NameRule(
        "Resource group", re.compile(r"[-\w._()]{0,89}[-\w_()]", re.UNICODE),
        "1-90 characters: letters, digits, underscores, hyphens, periods and parentheses, not ending in a period",
        1, 90),
    "des": NameRule(
        "Disk encryption set", re.compile(r"[A-Za-z0-9_-]{1,80}"),
        "1-80 characters: letters, digits, underscores and hyphens", 1, 80),
    "disk": NameRule(
        "Disk", re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?"),
        "1-80 characters: letters, digits, underscores, periods and hyphens, starting with a letter or digit, "
        "ending with a letter, digit or underscore", 1, 80),
    "snapshot": NameRule(
        "Snapshot", re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?"),
        "1-80 characters: letters, digits, underscores, periods and hyphens, starting with a letter or digit, "
        "ending with a letter, digit or underscore", 1, 80),
    "image": NameRule(
        "Image", re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?"),
        "1-80 characters: letters, digits, underscores, periods and hyphens, starting with a letter or digit, "
        "ending with a letter, digit or underscore", 1, 80),
    "vm": NameRule(
        "Virtual machine", re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,62}[A-Za-z0-9])?"),
        "1-64 characters: letters, digits, hyphens and periods, not starting with a hyphen or period nor ending "
        "with a hyphen or period (Linux); no spaces or other symbols", 1, 64),
}
