"""Every rule that changed over time, as data, in one place.

The seeds (2020-2021) are the default profile, ``seeds``. Azure has since changed some rules; the
``azure-2025`` profile holds today's values. A store chooses its profile when it is created
(``Engine(..., rules="azure-2025")``) and keeps it.
"""

from __future__ import annotations

import re
from ._light import dataclass, field
from datetime import timedelta

REGIONS = (
    "eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northcentralus", "southcentralus",
    "westcentralus", "canadacentral", "canadaeast", "brazilsouth", "northeurope", "westeurope", "uksouth",
    "ukwest", "francecentral", "germanywestcentral", "norwayeast", "switzerlandnorth", "swedencentral",
    "eastasia", "southeastasia", "japaneast", "japanwest", "koreacentral", "australiaeast",
    "australiasoutheast", "centralindia", "southindia", "uaenorth", "southafricanorth",
    "usgovvirginia", "usgovarizona", "usgovtexas",
)
"""Azure region names the simulator accepts (customer-managed keys are offered in all of them)."""

REGION_DISPLAY = {
    "West US": "westus", "West US 2": "westus2", "East US": "eastus", "East US 2": "eastus2",
    "South Central US": "southcentralus", "US Gov Virginia": "usgovvirginia", "US Gov Arizona": "usgovarizona",
}

# Seed 001's lists, as data.
SEED_EAH_REGIONS = frozenset({"westus", "westus2", "eastus", "eastus2", "southcentralus", "usgovvirginia",
                              "usgovarizona"})
SEED_DOUBLE_REGIONS = frozenset({"westus2", "eastus", "southcentralus", "usgovvirginia", "usgovarizona"})

# Seed 001's table of VM families and encryption at host.
EAH_SUPPORTED_FAMILIES = frozenset(f.lower() for f in (
    "B", "DSv2", "Dsv3", "DC", "DCv2", "Dasv4", "Fsv2", "Esv3", "M", "Mv2", "Easv4", "Lsv2", "NCv2", "NCv3",
    "ND", "NVv3", "NVv4", "NDv2", "HB", "HC", "HBv2", "DS", "GS", "Fs", "NVv2"))
EAH_UNSUPPORTED_FAMILIES = frozenset(f.lower() for f in (
    "Dv3", "Dav4", "Dv2", "Av2", "Ev3", "Eav4", "Ls", "NC", "NV", "H", "F", "A", "D", "L", "G"))

VM_SIZE_RE = re.compile(r"^Standard_(?P<letters>[A-Z]+)(?P<num>\d+)(?P<feat>[a-z-]*)(?:_(?P<ver>v\d+))?\Z")
VM_SIZE_HELP = "an Azure size such as Standard_DS3_v2, Standard_D4s_v3, Standard_E4s_v3, Standard_B2s"

IMAGE_ALIASES = {
    # az 2.91's table (azure/cli/command_modules/vm/_alias.py): publisher, offer, SKU; the generation that SKU boots
    "AzureLinux4": ("Linux", 30, "microsoftazurelinux", "azurelinux-4", "4", "V2"),
    "AzureLinux4Arm64": ("Linux", 30, "microsoftazurelinux", "azurelinux-4", "4-arm64", "V2"),
    "AzureLinux4Gen1": ("Linux", 30, "microsoftazurelinux", "azurelinux-4", "4-gen1", "V1"),
    "CentOS85Gen2": ("Linux", 30, "OpenLogic", "CentOS", "8_5-gen2", "V2"),
    "Debian11": ("Linux", 30, "Debian", "debian-11", "11-backports-gen2", "V2"),
    "FlatcarLinuxFreeGen2": ("Linux", 30, "kinvolk", "flatcar-container-linux-free", "stable-gen2", "V2"),
    "OpenSuseLeap154Gen2": ("Linux", 30, "SUSE", "openSUSE-leap-15-4", "gen2", "V2"),
    "RHELRaw8LVMGen2": ("Linux", 64, "RedHat", "RHEL", "8-lvm-gen2", "V2"),
    "SuseSles15SP3": ("Linux", 30, "SUSE", "sles-15-sp3", "gen2", "V2"),
    "Ubuntu2204": ("Linux", 30, "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "V2"),
    "Win2022Datacenter": ("Windows", 127, "MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-g2", "V2"),
    "Win2022AzureEditionCore": ("Windows", 127, "MicrosoftWindowsServer", "WindowsServer",
                                "2022-datacenter-azure-edition-core", "V2"),
    "Win2019Datacenter": ("Windows", 127, "MicrosoftWindowsServer", "WindowsServer", "2019-datacenter-gensecond",
                          "V2"),
    "Win2016Datacenter": ("Windows", 127, "MicrosoftWindowsServer", "WindowsServer", "2016-datacenter-gensecond",
                          "V2"),
    "Win2012R2Datacenter": ("Windows", 127, "MicrosoftWindowsServer", "WindowsServer", "2012-R2-Datacenter", "V1"),
    "Win2012Datacenter": ("Windows", 127, "MicrosoftWindowsServer", "WindowsServer", "2012-Datacenter", "V1"),
    # cmklab's own, not in az 2.91's table
    "UbuntuLTS": ("Linux", 30, "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "V2"),
    "Ubuntu2404": ("Linux", 30, "Canonical", "ubuntu-24_04-lts", "server", "V2"),
    "Debian12": ("Linux", 30, "Debian", "debian-12", "12-gen2", "V2"),
    "RHEL": ("Linux", 64, "RedHat", "RHEL", "8-lvm-gen2", "V2"),
}
"""``az vm create --image``'s URN aliases: OS type, OS disk size (GB), publisher, offer, SKU and the Hyper-V generation
of the image the SKU names (a ``-gen2``/``-g2``/``gensecond`` SKU, Azure Linux 4 and Windows Server 2022 Azure
Edition are Gen2 only; a VM and its OS disk take the image's generation)."""
_ALIAS_KEYS = {a.lower().replace("-", ""): a for a in IMAGE_ALIASES}


def image_alias(image: str | None) -> str | None:
    """The alias ``image`` names (case-insensitive, as az matches them), or None."""
    if not image or image.startswith("/"):
        return None
    return _ALIAS_KEYS.get(image.lower().replace("-", "").replace(":", ""))


def image_generation(image: str | None) -> str | None:
    """The Hyper-V generation of a marketplace image, an alias or a URN (``publisher:offer:sku:version``): the alias
    table's, or by the SKU's name (``-gen2``, ``-g2``, ``gensecond``: V2; else V1); None for anything else."""
    alias = image_alias(image)
    if alias is not None:
        return IMAGE_ALIASES[alias][5]
    if not image or image.count(":") != 3:
        return None
    pub, offer, sku, _ = (p.lower() for p in image.split(":"))
    known = next((a for a in IMAGE_ALIASES.values() if (a[2].lower(), a[3].lower(), a[4].lower()) == (pub, offer, sku)),
                 None)
    if known is not None:
        return known[5]
    return "V2" if re.search(r"(gen2|-g2|gensecond)$", sku) else "V1"

DISK_SKUS = ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS",
             "PremiumV2_LRS")
"""Every disk SKU a profile offers, in az's order: the ONE list. ``az disk create|update`` and ``az vm disk attach``
show it as their ``--sku`` choices; each profile's ``disk_skus`` says which of them its engine takes, and the engine
refuses the others naming the profile (K9)."""
SEED_DISK_SKUS = ("Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "UltraSSD_LRS")
"""The SKUs of the seed documents (seed 000)."""
SNAPSHOT_SKUS = ("Standard_LRS", "Premium_LRS", "Standard_ZRS")
"""``az snapshot create --sku``'s choices; the seeds know the first two."""
SEED_SNAPSHOT_SKUS = ("Standard_LRS", "Premium_LRS")
IMAGE_STORAGE_SKUS = ("Standard_LRS", "Premium_LRS", "StandardSSD_LRS")
"""``az image create --storage-sku``'s choices: the storage account an image is kept in, not a disk's SKU (an
image takes its source's disks; the engine accepts the flag and does not model it)."""
PREMIUM_V2 = "PremiumV2_LRS"
SKU_TIER = {"Standard_LRS": "Standard", "StandardSSD_LRS": "Standard", "Premium_LRS": "Premium",
            "UltraSSD_LRS": "Ultra", "Premium_ZRS": "Premium", "StandardSSD_ZRS": "Standard",
            "PremiumV2_LRS": "Premium", "Standard_ZRS": "Standard"}
MAX_DISK_GB = {"Standard_LRS": 32767, "StandardSSD_LRS": 32767, "Premium_LRS": 32767, "UltraSSD_LRS": 65536,
               "Premium_ZRS": 32767, "StandardSSD_ZRS": 32767, "PremiumV2_LRS": 65536, "Standard_ZRS": 32767}


def disk_size_problem(size_gb: object, sku: str) -> str | None:
    """Why ``size_gb`` is not a size a disk of ``sku`` can have (None: it can): the one rule the engine applies
    on create and the console's disk form as you type."""
    top = MAX_DISK_GB.get(sku, max(MAX_DISK_GB.values()))
    if not isinstance(size_gb, int) or isinstance(size_gb, bool) or not 1 <= size_gb <= top:
        return f"disk size {size_gb!r} GB is not valid for {sku}; allowed: 1 to {top}"
    return None


MAX_DATA_DISKS = 64
"""Data disks a VM can have at most: the limit of Azure's largest sizes (a smaller size allows fewer; the engine
does not model each size's limit). A data disk's LUN is therefore 0 to :data:`MAX_LUN`. [*azure*]"""
MAX_LUN = MAX_DATA_DISKS - 1


def lun_problem(lun: object) -> str | None:
    """Why ``lun`` is not a LUN a data disk can have (None: it can), in Azure's words (its ``InvalidParameter``,
    target ``dataDisk.lun``): the one rule the engine applies on attach and the console's attach forms as you type."""
    if not isinstance(lun, int) or isinstance(lun, bool) or not 0 <= lun <= MAX_LUN:
        return (f"The value '{lun}' of parameter 'dataDisk.lun' is out of range. Value '{lun}' must be between '0' "
                f"and '{MAX_LUN}' inclusive.")
    return None


def lun_used_problem(lun: object, used: "set | frozenset | list | tuple", vm: str) -> str | None:
    """Why ``lun`` cannot be given to another data disk of VM ``vm``, whose data disks have the LUNs ``used`` (None:
    it can): the engine's refusal on attach and the console's attach forms' as you type (V1)."""
    if lun in used:
        return f"LUN {lun} of VM {vm!r} is already used; LUNs must be unique (V1)"
    return None


ZONES = ("1", "2", "3")
ZONAL_REGIONS = frozenset({
    "eastus", "eastus2", "westus2", "westus3", "centralus", "southcentralus", "canadacentral", "brazilsouth",
    "northeurope", "westeurope", "uksouth", "francecentral", "germanywestcentral", "norwayeast", "switzerlandnorth",
    "swedencentral", "eastasia", "southeastasia", "japaneast", "koreacentral", "australiaeast", "centralindia",
    "uaenorth", "southafricanorth", "usgovvirginia"})
"""Regions (of :data:`REGIONS`) with availability zones."""
PREMIUM_V2_REGIONS = frozenset({
    "eastus", "eastus2", "westus2", "westus3", "centralus", "southcentralus", "canadacentral", "brazilsouth",
    "northeurope", "westeurope", "uksouth", "francecentral", "germanywestcentral", "norwayeast", "switzerlandnorth",
    "swedencentral", "eastasia", "southeastasia", "japaneast", "koreacentral", "australiaeast", "centralindia",
    "uaenorth", "southafricanorth", "northcentralus", "canadaeast", "australiasoutheast", "southindia"})
"""Regions offering Premium SSD v2 (of :data:`REGIONS`; "Deploy a Premium SSD v2", regional availability). In one
with availability zones a Premium SSD v2 disk is zonal and attaches to a VM in its zone only."""

ENC_PLATFORM = "EncryptionAtRestWithPlatformKey"
ENC_CUSTOMER = "EncryptionAtRestWithCustomerKey"
ENC_DOUBLE = "EncryptionAtRestWithPlatformAndCustomerKeys"
DES_ENCRYPTION_TYPES = (ENC_CUSTOMER, ENC_DOUBLE)
ENC_CONFIDENTIAL = "ConfidentialVmEncryptedWithCustomerKey"
DES_ENCRYPTION_TYPES_AZ = DES_ENCRYPTION_TYPES + (ENC_CONFIDENTIAL,)
"""``az disk-encryption-set create --encryption-type``'s choices: the two at-rest types cmklab simulates, and
confidential VMs' type, which it refuses saying so."""
DISK_ENCRYPTION_TYPES = (ENC_PLATFORM, ENC_CUSTOMER, ENC_DOUBLE)

KEY_TYPES = ("RSA", "RSA-HSM")
"""The key types a disk encryption set can use (KV2)."""
KEY_SIZES = (2048, 3072, 4096)
"""The RSA sizes Key Vault generates and imports, all of which a disk encryption set takes."""
VAULT_KEY_TYPES = ("RSA", "RSA-HSM", "EC", "EC-HSM")
"""What a vault stores (the -HSM types in a premium vault only)."""
MANAGED_HSM_KEY_TYPES = ("oct", "oct-HSM")
"""Symmetric keys: managed HSM only; a vault answers ``Invalid kty value``."""
EC_CURVES = ("P-256", "P-256K", "P-384", "P-521")
EC_CURVE_BITS = {"P-256": 256, "P-256K": 256, "P-384": 384, "P-521": 521}
KEY_PERMISSIONS = ("all", "backup", "create", "decrypt", "delete", "encrypt", "get", "getrotationpolicy", "import",
                   "list", "purge", "recover", "release", "restore", "rotate", "setrotationpolicy", "sign",
                   "unwrapKey", "update", "verify", "wrapKey")
DES_REQUIRED_PERMISSIONS = ("get", "wrapKey", "unwrapKey")
CRYPTO_SERVICE_ROLE = "Key Vault Crypto Service Encryption User"
ROLE_PERMISSIONS = {
    CRYPTO_SERVICE_ROLE: frozenset({"get", "wrapkey", "unwrapkey"}),
    "Key Vault Crypto User": frozenset({"get", "list", "wrapkey", "unwrapkey", "encrypt", "decrypt", "sign",
                                        "verify"}),
    "Key Vault Crypto Officer": frozenset(p.lower() for p in KEY_PERMISSIONS if p != "all"),
    "Key Vault Administrator": frozenset(p.lower() for p in KEY_PERMISSIONS if p != "all"),
}
ROLE_IDS = {
    CRYPTO_SERVICE_ROLE: "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Crypto User": "12338af0-0e69-4776-bea7-57ae8d297424",
    "Key Vault Crypto Officer": "14b46e9e-c2b7-41b4-b07b-48a6ebf60603",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
}

RETENTION_MIN, RETENTION_MAX, RETENTION_DEFAULT = 7, 90, 90
ROTATION_MIN_AFTER_CREATE = timedelta(days=7)
ROTATION_MIN_BEFORE_EXPIRY = timedelta(days=7)
NOTIFY_MIN_BEFORE_EXPIRY = timedelta(days=7)
POLICY_MIN_EXPIRY = timedelta(days=28)
AUTO_ROTATION_DELAY = timedelta(hours=1)
"""A set with automatic rotation moves its resources to a new key version within this long (seed 004)."""


@dataclass(frozen=True)
class Rules:
    """One rule profile."""

    name: str
    description: str
    des_per_region: int
    ultra_keeps_running: bool
    """Seeds: VMs whose affected disks are all ultra keep running until deallocated."""
    io_fails_after: timedelta | None
    """Today's Azure: disk I/O fails about an hour after the key goes away (None: at once, by shutdown)."""
    eah_with_ultra: bool
    eah_regions: frozenset = field(default=SEED_EAH_REGIONS)
    double_regions: frozenset = field(default=SEED_DOUBLE_REGIONS)
    disk_skus: tuple = field(default=SEED_DISK_SKUS)
    """The disk SKUs this profile's engine takes (of :data:`DISK_SKUS`)."""
    snapshot_skus: tuple = field(default=SEED_SNAPSHOT_SKUS)
    premium_v2_regions: frozenset = field(default=frozenset())
    auto_rotation_delay: timedelta = AUTO_ROTATION_DELAY
    rotation_min_after_create: timedelta = ROTATION_MIN_AFTER_CREATE
    rotation_min_before_expiry: timedelta = ROTATION_MIN_BEFORE_EXPIRY
    notify_min_before_expiry: timedelta = NOTIFY_MIN_BEFORE_EXPIRY
    policy_min_expiry: timedelta = POLICY_MIN_EXPIRY
    sources: dict = field(default_factory=dict)
    """Rule (a field name) -> (the document it follows, the date of that document's version)."""


_SEED_001 = ("document 001, Server-side encryption of Azure Disk Storage", "2020-2021")
_SEED_000 = ("document 000, Server-side encryption of Azure Managed Disks - PowerShell", "2020-04")
_SEED_004 = ("document 004, customer-managed keys with automatic key rotation", "2021-03")
_SEED_SOURCES = {
    "des_per_region": _SEED_001, "ultra_keeps_running": _SEED_001, "io_fails_after": _SEED_000,
    "eah_with_ultra": _SEED_001, "eah_regions": _SEED_001, "double_regions": _SEED_001, "disk_skus": _SEED_000,
    "snapshot_skus": _SEED_000, "premium_v2_regions": _SEED_000, "auto_rotation_delay": _SEED_004,
    "rotation_policy": ("Key Vault's documented key rotation policy (not in the documents)", "as azure-2025"),
}
READ_ON = "2026-12-02"
"""When today's documents were read for the azure-2025 profile (the date given where a page shows none)."""
_SSE_RESTRICTIONS = ("Server-side encryption of Azure Disk Storage, restrictions", "2023-02-22")
_SSE_TODAY = ("Server-side encryption of Azure Disk Storage", f"read {READ_ON}")
_PV2 = ("Deploy a Premium SSD v2 (limitations, regions)", f"read {READ_ON}")
_EAH = ("Encryption at host, on Ultra Disks and Premium SSD v2", f"read {READ_ON}")
"""Today's pages allow it, with limitations, in select regions; the restrictions dated 2023-01-19 still excluded
both disk types."""
_AUTO = ("Server-side encryption of Azure Disk Storage, automatic key rotation", f"read {READ_ON}")
_KV_ROTATION = ("Configure cryptographic key auto-rotation in Azure Key Vault", f"read {READ_ON}")
_TODAY_SOURCES = {
    "des_per_region": _SSE_RESTRICTIONS, "ultra_keeps_running": _SSE_TODAY, "io_fails_after": _SSE_TODAY,
    "eah_with_ultra": _EAH, "eah_regions": _EAH, "double_regions": _SSE_TODAY, "disk_skus": _PV2,
    "snapshot_skus": ("az snapshot create --sku (Standard_ZRS)", f"read {READ_ON}"), "premium_v2_regions": _PV2,
    "auto_rotation_delay": _AUTO, "rotation_policy": _KV_ROTATION,
}

PROFILES: dict[str, Rules] = {
    "seeds": Rules(
        name="seeds",
        description="The rules of the seed documents (2020-2021): 50 sets per region, ultra VMs keep running",
        des_per_region=50, ultra_keeps_running=True, io_fails_after=None, eah_with_ultra=False,
        sources=_SEED_SOURCES),
    "azure-2025": Rules(
        name="azure-2025",
        description="Today's Azure: 5,000 sets per region, no ultra exception, encryption at host on ultra disks",
        des_per_region=5000, ultra_keeps_running=False, io_fails_after=timedelta(hours=1), eah_with_ultra=True,
        eah_regions=frozenset(REGIONS), double_regions=frozenset(REGIONS), disk_skus=DISK_SKUS,
        snapshot_skus=SNAPSHOT_SKUS, premium_v2_regions=PREMIUM_V2_REGIONS, sources=_TODAY_SOURCES),
}
DEFAULT_PROFILE = "seeds"


def vm_family_supports_eah(size: str) -> bool | None:
    """True/False from seed 001's table; None when the size's family is not in the table."""
    m = VM_SIZE_RE.match(size or "")
    if not m:
        return None
    letters, feat, ver = m.group("letters"), m.group("feat") or "", m.group("ver") or ""
    for cand in (letters + feat + ver, letters + feat, letters + ver, letters):
        c = cand.lower()
        if c in EAH_SUPPORTED_FAMILIES:
            return True
        if c in EAH_UNSUPPORTED_FAMILIES:
            return False
    return None


def _regions(regions: frozenset) -> str:
    if not regions:
        return "none"
    if regions >= frozenset(REGIONS):
        return f"every region ({len(REGIONS)})"
    if len(regions) > 8:
        return f"{len(regions)} regions"
    return ", ".join(sorted(regions))


def _hours(td: timedelta | None) -> str:
    if td is None:
        return "never: VMs stop at once instead"
    return f"{td.total_seconds() / 3600:g} hour(s)"


RULE_ROWS: tuple[tuple[str, str, object], ...] = (
    ("des_per_region", "Disk encryption sets per region and subscription", lambda r: f"{r.des_per_region:,}"),
    ("ultra_keeps_running", "VMs with only ultra disks on a lost key",
     lambda r: "keep running until deallocated" if r.ultra_keeps_running else "stop like every other VM"),
    ("io_fails_after", "Disk I/O after the key becomes unusable", lambda r: _hours(r.io_fails_after)),
    ("eah_with_ultra", "Encryption at host with ultra disks", lambda r: "allowed" if r.eah_with_ultra else "refused"),
    ("eah_regions", "Encryption at host regions", lambda r: _regions(r.eah_regions)),
    ("double_regions", "Double encryption regions", lambda r: _regions(r.double_regions)),
    ("disk_skus", "Disk SKUs", lambda r: ", ".join(r.disk_skus)),
    ("snapshot_skus", "Snapshot SKUs", lambda r: ", ".join(r.snapshot_skus)),
    ("premium_v2_regions", "Premium SSD v2 regions", lambda r: _regions(r.premium_v2_regions)),
    ("auto_rotation_delay", "Automatic rotation moves a set's resources within",
     lambda r: _hours(r.auto_rotation_delay)),
    ("rotation_policy", "Rotation policy limits",
     lambda r: f"rotate >= {r.rotation_min_after_create.days}d after creation or >= "
               f"{r.rotation_min_before_expiry.days}d before expiry; notify >= {r.notify_min_before_expiry.days}d "
               f"before expiry; expiry >= {r.policy_min_expiry.days}d"),
)
"""Each rule a profile sets: (field, what it is, how its value reads)."""


def rules_table(profile: str | None = None, *, every: bool = False) -> list[dict]:
    """The rules as rows for ``cmklab rules show``: those that differ between profiles (all with ``every``), each
    profile's value, and the document (and its date) the chosen profile, or ``azure-2025``, follows."""
    names = list(PROFILES)
    shown = profile or "azure-2025"
    out = []
    for fld, label, fmt in RULE_ROWS:
        values = {n: fmt(PROFILES[n]) for n in names}  # type: ignore[operator]
        if not every and len(set(values.values())) == 1:
            continue
        doc, date = PROFILES[shown].sources.get(fld, ("", ""))
        row = {"Rule": label, **values, "Follows": doc, "Dated": date}
        out.append(row)
    return out
