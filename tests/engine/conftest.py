"""Helpers shared by the engine tests: a small landscape builder and state snapshots.

Test modules run with ``--import-mode=importlib`` and cannot import each other, so the helpers are
handed out through the ``kit`` fixture (the :class:`Kit` class itself).
"""

from __future__ import annotations

import copy

import pytest

from engine import Engine
from engine.errors import EngineError
from engine.repository import MemoryStore
from engine.rules import CRYPTO_SERVICE_ROLE, ENC_CUSTOMER

RG = "rg"
REGION = "eastus"
GRANT = ["get", "wrapKey", "unwrapKey"]


class Kit:
    RG = RG
    REGION = REGION
    GRANT = GRANT

    # ---- building ---------------------------------------------------------------------------

    @staticmethod
    def vault(e: Engine, name: str = "kv1", *, location: str = REGION, purge_protection: bool = True,
              retention: int = 30, rbac: bool = False, sku: str = "standard"):
        e.create_group(RG, REGION)
        return e.create_vault(name, RG, location=location, enable_purge_protection=purge_protection or None,
                              retention_days=retention, enable_rbac_authorization=rbac, sku=sku)

    @staticmethod
    def key(e: Engine, vault: str = "kv1", name: str = "k1", size: int = 2048, **kw) -> str:
        """Create a key (or a new version); returns the versioned key id."""
        k, ver = e.create_key(vault, name, size=size, **kw)
        return f"{k.id}/{ver['version']}"

    @staticmethod
    def des(e: Engine, name: str = "des1", kid: str | None = None, *, grant: bool = True,
            encryption_type: str = ENC_CUSTOMER, location: str | None = None, rotation_to_latest: bool = False):
        des = e.create_des(name, RG, key_url=kid, encryption_type=encryption_type, location=location,
                           rotation_to_latest=rotation_to_latest)
        if grant:
            Kit.grant(e, des)
        return des

    @staticmethod
    def grant(e: Engine, des) -> None:
        vault = des.source_vault_id.rsplit("/", 1)[1]
        v = e.get_vault(vault)
        if v.enable_rbac_authorization:
            e.create_role_assignment(des.principal_id, CRYPTO_SERVICE_ROLE, v.id)
        else:
            e.set_policy(vault, des.principal_id, GRANT)

    @classmethod
    def basic(cls, e: Engine, **vault_kw):
        """Vault kv1 (purge protection, 30 days), key k1 (RSA-2048), set des1 granted. Returns (kid, des)."""
        cls.vault(e, **vault_kw)
        kid = cls.key(e)
        return kid, cls.des(e, "des1", kid)

    @staticmethod
    def vm(e: Engine, name: str, des: str | None = "des1", *, ultra: bool = False, os_des: str | None = "same",
           data: int = 1, **kw):
        """A VM with ``data`` CMK data disks on ``des`` (ultra if asked). The OS disk uses ``des`` too,
        unless ``os_des`` says otherwise (None: platform key)."""
        os_set = des if os_des == "same" else os_des
        if ultra:
            kw.setdefault("storage_sku", ["os=Premium_LRS"] + [f"{i}=UltraSSD_LRS" for i in range(data)])
            kw.setdefault("ultra_ssd_enabled", True)
        return e.create_vm(name, RG, os_disk_name=f"{name}-os", os_disk_encryption_set=os_set,
                           data_disk_sizes_gb=[4] * data, data_disk_encryption_sets=[des] if des and data else None,
                           **kw)

    # ---- looking ------------------------------------------------------------------------------

    @staticmethod
    def docs(e: Engine, *, skip: tuple[str, ...] = ()) -> dict:
        """Every table's documents, as the engine holds them in memory."""
        return {t: {k: o.to_doc() for k, o in rows.items()} for t, rows in e.t.items() if t not in skip}

    @staticmethod
    def persisted(e: Engine) -> dict:
        """What the store holds: the state's tables and the journal's logs (audit, events)."""
        out = {t: rows for t, rows in e.store.load().items() if rows}
        for log in ("audit", "events"):
            rows = {d["id"]: d for d in e.store.read_log(log)}
            if rows:
                out[log] = rows
        return out

    @staticmethod
    def without_audit(docs: dict) -> dict:
        """State minus what a denied attempt may legitimately add (KV8): the audit log and its counter."""
        out = {t: copy.deepcopy(rows) for t, rows in docs.items() if t != "audit"}
        for doc in out.get("engine", {}).values():
            doc.pop("audit_seq", None)
        return out

    @staticmethod
    def refused(fn, *args, **kwargs) -> EngineError:
        """Run ``fn`` and return the EngineError it raises (fails the test if it does not)."""
        try:
            fn(*args, **kwargs)
        except EngineError as err:
            return err
        raise AssertionError(f"{getattr(fn, '__name__', fn)} was not refused")

    @staticmethod
    def clone(e: Engine) -> Engine:
        """An independent engine on a copy of ``e``'s MemoryStore (documents, blobs, root key)."""
        src = e.store
        assert isinstance(src, MemoryStore)
        dst = MemoryStore(root_key=src.root_key())
        dst._docs = copy.deepcopy(src._docs)
        dst.blobs._blobs = {k: bytearray(v) for k, v in src.blobs._blobs.items()}
        return Engine(dst)

    @staticmethod
    def audit(e: Engine, operation: str | None = None) -> list:
        rows = sorted(e.t["audit"].values(), key=lambda a: a.id)
        return [a for a in rows if operation is None or a.operation == operation]


@pytest.fixture
def kit() -> type[Kit]:
    return Kit


@pytest.fixture
def e() -> Engine:
    """A seeded in-memory engine: RSA keys come from the shipped pool, so key creation costs nothing."""
    return Engine.in_memory(seed=11)
