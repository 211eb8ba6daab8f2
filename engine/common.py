"""What several backends share: region and choice checks, how a Key Vault refusal reads on the compute side,
the two-thread pool for RSA work, and the I/O bound of one guest read or write.

Backends (vaults, keys, des, disks, vms, jobs) are siblings: none imports another; what they share lives here
or in core."""

from __future__ import annotations

from .errors import BadRequest, EngineError, Forbidden, NotFound
from .models import DiskEncryptionSet
from .rules import REGIONS

MAX_IO = 256 * 1024 * 1024
"""The largest guest read or write, in bytes."""

TAG_NAME_MAX = 512
TAG_VALUE_MAX = 256
TAGS_PER_RESOURCE = 50
"""Azure Resource Manager's limits on tags (behaviour O4)."""
TAGS_PER_KEY_VAULT_OBJECT = 15
"""Key Vault's limit on the tags of a key."""


def checked_tags(tags: dict | None, max_count: int = TAGS_PER_RESOURCE) -> dict:
    """A copy of the ``tags`` an action sets, or the service's answer to tags over its limits (a 400): a name
    over 512 characters, a value over 256, more than 50 tags on a resource (15 on a Key Vault key). Every
    action that sets tags checks them here, whichever front end called it (the CLI, the console, the
    endpoint)."""
    if not tags:
        return {}
    if len(tags) > max_count:
        raise BadRequest(f"{len(tags)} tags were given; at most {max_count} tags are allowed per "
                         f"{'key' if max_count == TAGS_PER_KEY_VAULT_OBJECT else 'resource'}.", code="InvalidTagCount")
    for k, v in tags.items():
        if len(str(k)) > TAG_NAME_MAX:
            raise BadRequest(f"The tag name '{k}' is {len(str(k)):,} characters long; tag names can have at most "
                             f"{TAG_NAME_MAX} characters.", code="InvalidTagNameLength")
        if type(v) is str and len(v) > TAG_VALUE_MAX:
            raise BadRequest(f"The value of tag '{k}' is {len(v):,} characters long; tag values can have at most "
                             f"{TAG_VALUE_MAX} characters.", code="InvalidTagValueLength")
    return dict(tags)


COMPUTE_CODES = {
    "KeyDisabled": "KeyVaultKeyNotEnabled",
    "KeyNotYetValid": "KeyVaultKeyNotEnabled",
    "KeyExpired": "KeyVaultKeyNotEnabled",
    "ForbiddenByPolicy": "KeyVaultAccessForbidden",
    "ForbiddenByRbac": "KeyVaultAccessForbidden",
    "KeyDeleted": "KeyVaultKeyNotFound",
    "KeyNotFound": "KeyVaultKeyNotFound",
    "KeyPurged": "KeyVaultKeyNotFound",
    "VaultNotFound": "KeyVaultNotFound",
    "InvalidCiphertext": "WrappedDataKeyCorrupt",
    "OperationNotSupported": "KeyVaultKeyTypeNotSupported",
}
"""How a Key Vault refusal reads on the compute side (disks, VMs, sets)."""

_POOL = None


def _pool():
    """Two threads: cryptography releases the GIL for RSA, so re-wrapping uses both cores."""
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor  # imported here: most CLI calls never need it

        _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="cmklab-rsa")
    return _POOL


def parallel(fn, items: list) -> list:
    """``[fn(x) for x in items]`` on two threads, in two chunks (RSA releases the GIL; one task per
    chunk keeps the executor's per-task cost out of a 2,000-disk rotation)."""
    if len(items) < 16:
        return [fn(x) for x in items]
    half = (len(items) + 1) // 2
    pool = _pool()
    futures = [pool.submit(lambda chunk: [fn(x) for x in chunk], chunk) for chunk in (items[:half], items[half:])]
    from concurrent.futures import wait

    wait(futures)  # both chunks end before a failure is raised: nothing runs on behind a rollback
    out: list = []
    for future in futures:
        out.extend(future.result())
    return out


def compute_error(problem: EngineError, resource: str, des: DiskEncryptionSet | None = None) -> EngineError:
    """A Key Vault problem as the compute side reports it, naming the resource, key and identity."""
    code = COMPUTE_CODES.get(problem.inner_code or problem.code, "KeyVaultAccessForbidden")
    who = f" (identity {des.principal_id} of disk encryption set {des.name})" if des else ""
    err_cls = Forbidden if code in ("KeyVaultAccessForbidden", "KeyVaultKeyNotEnabled") else \
        BadRequest if code in ("WrappedDataKeyCorrupt", "KeyVaultKeyTypeNotSupported") else NotFound
    err = err_cls(f"{resource}: {problem.message}{who}", code=code)
    err.inner_code = None
    return err


def check_region(location: str) -> str:
    loc = (location or "").replace(" ", "").lower()
    if loc not in REGIONS:
        raise BadRequest(f"location {location!r} is not an Azure region this simulator knows; use one of: "
                         f"{', '.join(REGIONS)}", code="LocationNotAvailableForResourceType")
    return loc


def choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    for a in allowed:
        if a.lower() == str(value).lower():
            return a
    raise BadRequest(f"{what} {value!r} is not valid; allowed: {', '.join(allowed)}", code="InvalidParameter")


def merge_props(target: dict, props: dict | None) -> dict:
    """Plain ARM properties into a stored ``props`` object: a nested object merges, a null removes the key."""
    for key, value in (props or {}).items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_props(target[key], value)
        else:
            target[key] = value
    return target
