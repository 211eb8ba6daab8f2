"""Shared helpers of the reliability suites (tests/reliability).

Quick mode is the default (CI); the long mode runs with ``CMKLAB_LONG=1``::

    CMKLAB_LONG=1 python -m pytest tests/reliability -q

Every suite adds its figures to :data:`FIGURES` (crash runs survived, concurrent writers and operations,
hostile inputs tried, state-machine steps run); ``tests/reliability/conftest.py`` prints them at the end of
the session and, if ``CMKLAB_FIGURES`` names a file, writes them there as JSON.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

LONG = os.environ.get("CMKLAB_LONG", "") not in ("", "0")
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]

FIGURES: Counter = Counter()
"""Figures of this session, by name (summed over tests)."""


def record(name: str, n: int = 1) -> None:
    FIGURES[name] += n


def figures_text() -> list[str]:
    order = ["state-machine examples", "state-machine steps", "what-if checks", "reopen checks",
             "hostile inputs", "concurrent writers", "concurrent runs", "concurrent operations acknowledged",
             "concurrent acknowledged writes lost", "crash runs", "crash runs survived",
             "crash acknowledged operations", "crash kills mid-operation", "crash acknowledged operations lost",
             "secret needles", "files and outputs grepped"]
    names = [n for n in order if n in FIGURES] + sorted(n for n in FIGURES if n not in order)
    return [f"{n}: {FIGURES[n]:,}" for n in names]


def write_figures(path: str) -> None:
    Path(path).write_text(json.dumps({"long": LONG, **FIGURES}, indent=2, sort_keys=True) + "\n")


# ---- state of an engine ----------------------------------------------------------------------------


def docs_of(engine) -> dict:
    """Every table's documents, as the store would persist them."""
    return {table: {key: obj.to_doc() for key, obj in rows.items()} for table, rows in engine.t.items()}


def docs_without_audit(docs: dict) -> dict:
    """``docs`` minus what a refused action may legitimately add: denied key operations stay in the audit (KV8),
    and a refused VM start or disk encryption change stays on record (VmStartRefused, DiskEncryptionRefused)."""
    out = {t: rows for t, rows in docs.items() if t != "audit"}
    if "events" in out:
        out["events"] = {k: v for k, v in out["events"].items()
                         if v.get("type") not in ("VmStartRefused", "DiskEncryptionRefused")}
    meta = dict(out.get("engine", {}).get("engine", {}))
    meta.pop("audit_seq", None)
    out["engine"] = {"engine": meta} if meta else {}
    return out


def persisted_docs(home) -> dict:
    """What a fresh store object reads from ``home`` (tables as the engine loads them)."""
    from store import TinyStore

    with TinyStore(home) as s:
        return s.load()


def reopened_docs(home) -> dict:
    """A new engine on a new store object on ``home``: every table's documents."""
    from engine import Engine
    from store import TinyStore

    store = TinyStore(home)
    try:
        return docs_of(Engine(store))
    finally:
        store.close()


def blob_bytes(engine, resource) -> bytes:
    """The raw ciphertext stored for a disk, snapshot or image."""
    blobs = engine.store.blobs
    if hasattr(blobs, "filename"):
        try:
            return Path(blobs.filename(resource.blob)).read_bytes()
        except FileNotFoundError:
            return b""
    return blobs.raw(resource.blob)


def all_resources(engine) -> list:
    return [r for t in ("disks", "snapshots", "images") for r in engine.t[t].values()]


# ---- landscapes --------------------------------------------------------------------------------------

RG = "rg-rel"
REGION = "eastus"
SERVICE_PERMS = ["get", "wrapKey", "unwrapKey"]


def grant(engine, des) -> None:
    """Give a set's identity get/wrapKey/unwrapKey on its vault (policy or RBAC)."""
    from engine.ids import parse_key_url
    from engine.rules import CRYPTO_SERVICE_ROLE

    vault = engine.get_vault(parse_key_url(des.key_url).vault)
    if vault.enable_rbac_authorization:
        engine.create_role_assignment(des.principal_id, CRYPTO_SERVICE_ROLE, vault.id)
    else:
        engine.set_policy(vault.name, des.principal_id, SERVICE_PERMS)


def versioned(key, ver) -> str:
    return f"{key.id}/{ver['version']}"


# ---- processes ------------------------------------------------------------------------------------------


def child_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update({k: str(v) for k, v in extra.items()})
    return env


@functools.lru_cache(maxsize=None)
def cmklab_cli_ready() -> bool:
    """True once the CLI exists (``console.cli.run_cli``), in a child so that a half-written CLI cannot break us."""
    out = subprocess.run([sys.executable, "-c", "from console.cli import run_cli"], cwd=REPO, env=child_env(),
                         capture_output=True, timeout=60)
    return out.returncode == 0


def cmklab_command() -> list[str]:
    exe = shutil.which("cmklab", path=os.path.dirname(sys.executable)) or shutil.which("cmklab")
    return [exe] if exe else [sys.executable, "-m", "console"]


_UNPRIVILEGED: list = []


def unprivileged(kwargs_out: dict) -> tuple[str | None, dict]:
    """Cached :func:`_unprivileged`."""
    if not _UNPRIVILEGED:
        kw: dict = {}
        _UNPRIVILEGED.append((_unprivileged(kw), kw))
    (python, env), kw = _UNPRIVILEGED[0]
    kwargs_out.update(kw)
    return python, env


def _unprivileged(kwargs_out: dict) -> tuple[str | None, dict]:
    """When running as root: an interpreter uid 65534 can run with this project, and subprocess kwargs.

    Root ignores file modes, so permission cases run in a child that drops to ``nobody``.
    """
    if os.geteuid() != 0:
        return sys.executable, child_env()
    import tinydb

    site = os.path.dirname(os.path.dirname(tinydb.__file__))
    import cryptography

    csite = os.path.dirname(os.path.dirname(cryptography.__file__))
    uid = 65534
    kwargs = {"user": uid, "group": uid, "extra_groups": []}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for python in [sys.executable, shutil.which(version), f"/usr/local/bin/{version}", f"/usr/bin/{version}"]:
        if not python:
            continue
        for extra in ["", site, csite]:
            env = child_env()
            env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), str(HERE), extra] if p)
            try:
                probe = subprocess.run([python, "-c", "import store, engine, cryptography"], cwd="/",
                                       capture_output=True, env=env, timeout=60, **kwargs)
            except OSError:
                break
            if probe.returncode == 0:
                kwargs_out.update(kwargs)
                return python, env
    return None, {}
