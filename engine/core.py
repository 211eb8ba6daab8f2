"""The engine's machinery: state tables, unit of work, events, audit, randomness, the clock.

Every user action runs in one unit of work (:meth:`EngineCore.transaction`):

1. take the store's inter-process lock and reload if another process committed since;
2. run the action on the in-memory models; each model is snapshotted the first time it is touched;
3. run the cascades the action may have set off (``reconcile``), then write once (``store.commit``);
4. publish the events to subscribers.

If anything fails, every touched model is put back from its snapshot, so a failed action changes
nothing, except the audit entries of denied key operations, which Key Vault keeps (KV8) and which
are committed on their own. A dry run (what-if) does steps 1-3 without the write and rolls back.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gc
import hashlib
import operator
import threading
from ._light import dataclass, field
from datetime import datetime
from typing import Any, Callable, ClassVar, Iterator, TypeVar

from ._lazy import crypto
from .clock import DEFAULT_START, SimulatedClock, iso, parse_iso
from .entropy import Entropy
from .errors import BadRequest, EngineError, NotFound, StoreError
from .ids import PROVIDERS, arm_id
from .events import Event, Subscriber
from .models import DATA_TABLES, MODELS, TABLE_OF_KIND, AuditEntry, DesMember, DiskAttachment, EngineMeta, EventEntry, Model, field_types
from .repository import StateStore, refuse_if_read_only
from .rules import DEFAULT_PROFILE, PROFILES, Rules

M = TypeVar("M", bound=Model)

LOG_TABLES = ("audit", "events")
RESOURCE_KINDS = ("groups", "vaults", "roles", "keys", "des", "disks", "snapshots", "images", "vms", "scalesets")
"""The tables of Azure resources, as the read queries name them (``Engine.find``, ``iter_resources``)."""
INDEX_VERSION = 2
"""Bumped when the engine's index tables change shape: the next write of an older state rebuilds them."""
"""Append-only tables kept in the store's logs, not in the state file (read lazily)."""


class _Log(dict):
    """An append-only log table, read from the store on first use (most CLI calls never need it)."""

    def __init__(self, store: StateStore, name: str) -> None:
        super().__init__()
        self._store, self._name, self._loaded = store, name, False

    def _ensure(self) -> None:
        if not self._loaded:
            self._loaded = True
            self._offset = 0
            self.follow()

    def follow(self) -> None:
        """Read what was appended since the last read (only when loaded: else the first use reads it all)."""
        if not self._loaded:
            return
        cls = MODELS[self._name]
        docs, self._offset = self._store.read_log_since(self._name, self._offset)
        for doc in docs:
            dict.__setitem__(self, doc["id"], cls.from_doc(doc))

    def _add_loaded(self, entries: list) -> None:
        if self._loaded:
            for e in entries:
                dict.__setitem__(self, e.id, e)

    def __getitem__(self, k):
        self._ensure()
        return super().__getitem__(k)

    def __contains__(self, k):
        self._ensure()
        return super().__contains__(k)

    def __iter__(self):
        self._ensure()
        return super().__iter__()

    def __len__(self):
        self._ensure()
        return super().__len__()

    def __eq__(self, other):
        self._ensure()
        return dict(self.items()) == (dict(other.items()) if isinstance(other, dict) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self):
        self._ensure()
        return super().__repr__()

    def get(self, k, default=None):
        self._ensure()
        return super().get(k, default)

    def keys(self):
        self._ensure()
        return super().keys()

    def values(self):
        self._ensure()
        return super().values()

    def items(self):
        self._ensure()
        return super().items()

    def copy(self):
        self._ensure()
        return dict(super().items())

    def __setitem__(self, k, v):
        raise TypeError(f"the {self._name} log is append-only")

    def pop(self, *a):
        raise TypeError(f"the {self._name} log is append-only")


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector paused for one unit of work: an action that creates 100,000 models
    (documents, no reference cycles) would otherwise pay full collections of a heap that keeps growing, and
    building a big landscape would stop being linear. Reference counting still frees everything."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_ABSENT = object()
_BY_TIME = operator.attrgetter("time")
_BY_ID = operator.attrgetter("id")


class _Table(dict):
    """One state table, read from the store as it is needed: a look-up by key reads that one document
    (``store.load_doc``); ``group`` reads one shard; iterating reads every shard, once.

    The keys the table knows to be absent (a look-up that found nothing, or a removal by the unit of work)
    are remembered, so reading a shard later never brings back a document the unit of work removed.
    """

    __slots__ = ("_store", "_name", "_from_doc", "_shards", "_full", "_required", "_absent", "_types", "_empty",
                 "_typed")

    def __init__(self, store: StateStore, name: str, cls: type, *, empty: bool = False) -> None:
        super().__init__()
        self._store, self._name, self._from_doc = store, name, cls.from_doc
        self._required = {f: None for f in cls.__light_fields__ if f not in cls.__light_defaults__}.keys()
        self._types = [(name, frozenset(kinds) | ({type(None)} if nullable else set()))
                       for name, (kinds, nullable) in field_types(cls).items()]
        self._typed = frozenset((name, kind) for name, allowed in self._types for kind in allowed)
        """Every (field, type) pair a document may hold in a checked field: a document whose pairs all are
        here passes the checks at once (the common case: thousands of documents are read together)."""
        self._shards: set[int] = set()
        self._full = empty
        """Every document of the table is here: it was read whole, or the store holds none of it (``empty``:
        then a look-up of a key it lacks reads nothing, which keeps filling a new home linear)."""
        self._empty = empty
        self._absent: set[str] = set()

    def _model(self, k: str, d: dict):
        if self._typed.issuperset(zip(d, map(type, d.values()))) and d.keys() >= self._required:
            return self._from_doc(d, True)
        missing = [f for f in self._required if f not in d]
        if missing:
            raise StoreError(f"document {k!r} of table {self._name!r} lacks the field {missing[0]!r}: "
                             f"the state was edited by hand or damaged; nothing was changed")
        get = d.get
        for name, allowed in self._types:  # exact types: JSON gives no subclasses (and a bool is no int here)
            v = get(name, _ABSENT)
            if v is not _ABSENT and type(v) not in allowed:
                raise StoreError(f"document {k!r} of table {self._name!r} has {type(v).__name__} in the field "
                                 f"{name!r}, expected {' or '.join(sorted(t.__name__ for t in allowed))}: the "
                                 f"state was edited by hand or damaged; nothing was changed")
        return self._from_doc(d, True)

    def _load_shard(self, shard: int) -> None:
        self._shards.add(shard)
        has, absent = dict.__contains__, self._absent
        for k, d in self._store.load_shard(self._name, shard).items():
            if not has(self, k) and k not in absent:
                dict.__setitem__(self, k, self._model(k, d))

    def _for(self, key):
        """The key as the table holds it (lower-case: Azure ids and names are case-insensitive), with its
        document read if it exists and was not read yet."""
        if type(key) is str:
            key = key.lower()
            if (not self._full and not dict.__contains__(self, key) and key not in self._absent
                    and self._store.shard_of(key) not in self._shards):
                doc = self._store.load_doc(self._name, key)
                if doc is None:
                    self._absent.add(key)
                else:
                    dict.__setitem__(self, key, self._model(key, doc))
        return key

    def prefetch(self, keys) -> None:
        """Read the documents of ``keys`` that were not read yet, together (``store.load_docs``: each shard
        file they lie in is read once), so that the look-ups that follow find them in memory. A store without
        it leaves them to those look-ups, one read each."""
        load = getattr(self._store, "load_docs", None)
        if self._full or load is None:
            return
        has, absent, shards, shard_of = dict.__contains__, self._absent, self._shards, self._store.shard_of
        wanted = [k for k in {k.lower() for k in keys if type(k) is str}
                  if not has(self, k) and k not in absent and shard_of(k) not in shards]
        if not wanted:
            return
        for k, d in load(self._name, sorted(wanted)).items():
            if d is None:
                absent.add(k)
            elif not has(self, k):
                dict.__setitem__(self, k, self._model(k, d))

    # the look-ups: a key read already is answered without _for (a cascade asks tens of thousands of them)
    def get(self, k, default=None):
        if type(k) is str:
            v = dict.get(self, k.lower(), _ABSENT)
            if v is not _ABSENT:
                return v
        return dict.get(self, self._for(k), default)

    def __getitem__(self, k):
        if type(k) is str:
            v = dict.get(self, k.lower(), _ABSENT)
            if v is not _ABSENT:
                return v
        return dict.__getitem__(self, self._for(k))

    def __contains__(self, k):
        if type(k) is str and dict.__contains__(self, k.lower()):
            return True
        return dict.__contains__(self, self._for(k))

    def __setitem__(self, k, v):
        k = self._for(k)
        self._absent.discard(k)
        dict.__setitem__(self, k, v)

    def pop(self, k, *default):
        k = self._for(k)
        if type(k) is str:
            self._absent.add(k)
        return dict.pop(self, k, *default)

    def __delitem__(self, k):
        k = self._for(k)
        dict.__delitem__(self, k)
        self._absent.add(k)

    def setdefault(self, k, default=None):
        if k not in self:
            self[k] = default
        return dict.__getitem__(self, self._for(k))

    def _apply(self, docs: dict) -> None:
        """Another process changed these documents: replace those this table had read (or knew absent)."""
        for key, doc in docs.items():
            key = key.lower()
            known = (self._full or dict.__contains__(self, key) or key in self._absent
                     or self._store.shard_of(key) in self._shards)
            if not known:
                continue  # not read yet: it will be read as it is now
            if doc is None:
                dict.pop(self, key, None)
                self._absent.add(key)
            else:
                self._absent.discard(key)
                dict.__setitem__(self, key, self._from_doc(doc, False))

    def group(self, group: str) -> list:
        """The documents keyed ``group|...`` (an index's entries for one group: one shard is read)."""
        prefix = group.lower() + "|"
        if not self._full:
            shard = self._store.shard_of(prefix)
            if shard not in self._shards:
                self._load_shard(shard)
        return [v for k, v in dict.items(self) if k.startswith(prefix)]

    def any(self) -> bool:
        """Whether the table holds a document: shards are read one at a time until one is found."""
        if dict.__len__(self):
            return True
        if not self._full:
            for shard in self._store.shards(self._name):
                if shard not in self._shards:
                    self._load_shard(shard)
                    if dict.__len__(self):
                        return True
        return dict.__len__(self) > 0

    def snapshot(self) -> list:
        """The table's models as a list taken at once (the list is the caller's: another thread's change
        to the table does not disturb an iteration over it)."""
        self._all()
        return list(dict.values(self))

    def _all(self) -> None:
        if not self._full:
            for shard in self._store.shards(self._name):
                if shard not in self._shards:
                    self._load_shard(shard)
            self._full = True

    def __iter__(self):
        self._all()
        return dict.__iter__(self)

    def __len__(self):
        self._all()
        return dict.__len__(self)

    def __bool__(self):
        self._all()
        return dict.__len__(self) > 0

    def keys(self):
        self._all()
        return dict.keys(self)

    def values(self):
        self._all()
        return dict.values(self)

    def items(self):
        self._all()
        return dict.items(self)

    def copy(self):
        self._all()
        return dict(dict.items(self))

    def __eq__(self, other):
        self._all()
        return dict(dict.items(self)) == (dict(other.items()) if isinstance(other, dict) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self):
        self._all()
        return dict.__repr__(self)

    def update(self, *args, **kwargs):
        for k, v in dict(*args, **kwargs).items():
            self[k] = v


@dataclass
class UnitOfWork:
    """What one action has touched so far."""

    dry_run: bool = False
    before: dict[tuple[str, str], dict | None] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    """Audit entries of denied attempts: kept even if the action fails (KV8)."""
    audit_ok: list[AuditEntry] = field(default_factory=list)
    """Audit entries of the action's successful key operations: written if it commits."""
    refusals: list[Event] = field(default_factory=list)
    """Events that record a refused operation (a VM start the keys refused): kept even if the action
    fails, as the activity log keeps a failed operation, so that what was refused can be told later."""
    reconcile: bool = False
    """Set when key usability may have changed: the cascades run before the commit."""
    rewrap_skipped: list[str] = field(default_factory=list)
    """In a dry run, resources whose data key would be re-wrapped (the RSA work is skipped)."""
    shred: bool = False
    """Set when the action destroys key material: the store leaves no persisted copy of it."""
    bulk: bool = False
    """Set by an import of many resources: the commit writes the new state's files once, in one atomic step
    (``store.bulk_commit`` where the store has it), instead of appending every document to the change log
    and then compacting them into the shards."""
    late: Any = None
    """Values of this unit's documents still being computed when it commits (an import's wrapped data keys,
    wrapped in another process): what ``store.bulk_commit(late=...)`` takes (tables, ``wait()``, ``fill()``).
    A commit that is not a bulk one waits for them first (``wait()`` puts them in the models)."""
    added: dict[str, dict[str, Model]] = field(default_factory=dict)
    """Models added in bulk (:meth:`EngineCore._add_new`), by table and key: new documents, so no snapshot
    each (a rollback removes them) and no index upkeep (the adder adds their index entries with them)."""
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    """Clean-ups that may only run once the commit is durable (removing a blob the old state used): a crash or
    a failed commit before them leaves at worst an orphan blob, never a state whose data is gone."""


class EngineCore:
    """State, unit of work, reactions and shared helpers. The backends (vaults, keys, des, disks, vms, jobs) are
    siblings built on it, combined in the facade (engine.facade.Engine); none imports another.

    Reactions that cross kinds go through :meth:`_react`: a backend reports what happened ("key_destroyed",
    "des_key_changed", "vault_purged", "reconcile") and every backend that declared a reaction to it in its
    ``REACTIONS`` runs it, in the unit of work of the action."""

    REACTIONS: ClassVar[dict[str, str]] = {}
    """{event: method name}: what this backend does when another one reports ``event``."""

    def __init__(self, store: StateStore, *, seed: int | None = None, profile: str | None = None,
                 start: datetime | None = None, clock: SimulatedClock | None = None) -> None:
        self.store = store
        self._reactions: dict[str, list[str]] = {}
        for cls in reversed(type(self).__mro__):
            for event, method in cls.__dict__.get("REACTIONS", {}).items():
                self._reactions.setdefault(event, []).append(method)
        self._lock = threading.RLock()
        self.followed: dict[str, set[str]] | str = {}
        """What the last catch-up with other processes changed: ``{table: {lower-case keys}}``, or ``"reset"``
        when every table read had to be read again (another process compacted the store)."""
        self._subscribers: list[Subscriber] = []
        self._uow: UnitOfWork | None = None
        self._private_cache: dict[str, Any] = {}
        self._vm_index: dict[str, str] | None = None
        self._affected_hint: tuple | None = None
        """While a what-if runs its action a second time: what the first run's cascade scope was, and for
        which touched documents (``engine.vms._affected`` answers the same question once)."""
        self._key_problems: dict | None = None
        """While a cascade is evaluated (:meth:`_key_problems_fixed`): each key_problem answer, by question."""
        self.clock = clock or SimulatedClock(start or DEFAULT_START)
        self._external_clock = clock is not None
        self._load()
        if self.meta is None:
            if self.store.generation > 0:
                # a state without its engine document (edited by hand): never start afresh over it
                raise StoreError(f"the state in {getattr(store, 'path', None) or 'this store'} has no engine "
                                 f"document (table 'engine', document 'engine'): it was edited by hand or damaged; "
                                 f"nothing was changed")
            self._initialise(seed, profile, start)

    # ---- state ----------------------------------------------------------------------------

    def _load(self) -> None:
        """Take the store's current view; tables are read lazily, a shard at a time (see _Table)."""
        self.store.refresh()
        held = getattr(self.store, "tables", None)
        held = held() if held is not None else None  # the tables the store has documents of (None: unknown)
        t: dict[str, dict] = {name: _Table(self.store, name, MODELS[name], empty=held is not None and name not in held)
                              for name in MODELS if name not in LOG_TABLES}
        for name in LOG_TABLES:
            t[name] = _Log(self.store, name)
        self.t = t
        meta = t["engine"].get("engine")
        self.meta: EngineMeta | None = meta  # type: ignore[assignment]
        self._vm_index = None
        if meta is not None:
            self._adopt_meta()

    def _adopt_meta(self) -> None:
        meta = self.meta
        assert meta is not None
        self.rng = Entropy(meta.seed, meta.rng_counter)
        if meta.clock and not self._external_clock:
            self.clock.set(parse_iso(meta.clock))
        root = self._sealing_root(meta)
        fingerprint = self._fingerprint(root)
        if meta.root_key and meta.root_key != fingerprint:
            raise StoreError(f"root key file {getattr(self.store, 'root_key_path', 'root.key')} is not the key this "
                             f"state was sealed with (fingerprint {fingerprint}, the state expects "
                             f"{meta.root_key}): restore the right root.key; nothing was changed")
        meta.root_key = fingerprint  # recorded with the next commit by stores that predate the record
        self._sealer_args = (root, meta.seed is not None)
        self.__dict__.pop("sealer", None)
        self.__dict__.pop("host_sealer", None)
        self.rules: Rules = PROFILES.get(meta.profile, PROFILES[DEFAULT_PROFILE])

    def _sealing_root(self, meta: EngineMeta) -> bytes:
        if meta.seed is not None:
            # Seeded stores are reproducible byte for byte, sealed blobs included (see entropy.py).
            return hashlib.sha256(f"cmklab-seeded-root:{meta.seed}".encode()).digest()
        return self.store.root_key()

    @staticmethod
    def _fingerprint(root: bytes) -> str:
        """Names a root key without revealing it, so a wrong root.key is refused as such."""
        return hashlib.sha256(b"cmklab-root-key-fingerprint:" + root).hexdigest()[:16]

    @functools.cached_property
    def sealer(self):
        """Seals key material at rest under the root key (built on first use: most commands never unseal)."""
        root, seeded = self._sealer_args
        return crypto.Sealer(root, deterministic=seeded)

    @functools.cached_property
    def host_sealer(self):
        """Seals the storage service's cached data keys (the platform host key, derived from the root)."""
        return crypto.Sealer(self._host_cache_key(), deterministic=self._sealer_args[1])

    def _host_cache_key(self) -> bytes:
        """The key of :attr:`host_sealer` (an import's worker process seals the host copies with it)."""
        return hashlib.sha256(b"platform-host-cache" + self._sealer_args[0]).digest()

    def _initialise(self, seed: int | None, profile: str | None, start: datetime | None) -> None:
        profile = profile or DEFAULT_PROFILE
        if profile not in PROFILES:
            raise EngineError(f"rule profile {profile!r} is unknown; choose one of: {', '.join(PROFILES)}",
                              code="InvalidParameter")
        rng = Entropy(seed)
        meta = EngineMeta(seed=seed, profile=profile)
        meta.subscription_id = rng.guid()
        meta.tenant_id = rng.guid()
        meta.user_object_id = rng.guid()
        meta.rng_counter = rng.counter
        meta.root_key = self._fingerprint(self._sealing_root(meta))
        meta.indexes = INDEX_VERSION
        if start is not None and not self._external_clock:
            self.clock.set(start)
        meta.clock = iso(self.clock.now())
        with self.store.lock():
            self.store.commit({"engine": {"engine": meta.to_doc()}}, {})
        self.meta = meta
        self.t["engine"]["engine"] = meta
        self._adopt_meta()

    def reload(self) -> None:
        """Re-read the store (another process committed). Unsealed keys stay cached (they are immutable)."""
        with self._lock:
            self._load()

    def refresh_if_changed(self) -> bool:
        """Reload when another process has committed; True if it did.

        Never waits: while another thread holds the engine (a long rotation in a console worker), it
        returns False at once, so a UI thread polling it stays responsive.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._uow is None and self.store.changed():
                self._follow(self.store.refresh())
                return True
            return False
        finally:
            self._lock.release()

    def _follow(self, changes) -> None:
        """Bring what this engine has read up to date with other processes' commits, at the cost of what
        they changed: documents in shards already read are replaced or dropped, shards not read yet will be
        read as they are now, and the logs read only their new lines. After a compaction by another process
        (``changes == "reset"``), every table that was read is read again, here (in the caller's thread:
        the console polls from a worker, so its UI thread never parses)."""
        self.followed = changes if changes == "reset" else {t: set(docs) for t, docs in (changes or {}).items()}
        if changes == "reset":
            full = [name for name, t in self.t.items() if isinstance(t, _Table) and t._full
                    and not (t._empty and not dict.__len__(t))]  # (read whole, not merely known empty)
            logs = [name for name in LOG_TABLES if self.t[name]._loaded]
            self._load()
            for name in full:
                self.t[name]._all()
            for name in logs:
                self.t[name]._ensure()
            return
        for table, docs in (changes or {}).items():
            t = self.t.get(table)
            if not isinstance(t, _Table):
                continue
            t._apply(docs)
        if changes:
            meta = self.t["engine"].get("engine")
            if meta is not None:
                self.meta = meta
                self._adopt_meta()
            self._vm_index = None
        for name in LOG_TABLES:
            self.t[name].follow()

    @property
    def read_only(self) -> bool:
        """The store was opened read-only: every action is refused (queries and what-if work)."""
        return bool(getattr(self.store, "read_only", False))

    def refuse_if_read_only(self, what: str = "this change") -> None:
        """Raise :class:`~engine.errors.ReadOnly` when the store was opened read-only: for a front end about to
        change the home around the engine (files replaced wholesale, a new principal), asked of the store."""
        refuse_if_read_only(self.store, what)

    def set_read_only(self) -> None:
        """From now on the store refuses every write (a projector view of a store opened for writing)."""
        self.store.read_only = True

    @property
    def busy(self) -> bool:
        """True while an action runs (in any thread)."""
        return self._uow is not None

    # ---- unit of work -----------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, *, dry_run: bool = False) -> Iterator[UnitOfWork]:
        with self._lock:
            if self._uow is not None:
                yield self._uow
                return
            if not dry_run:
                refuse_if_read_only(self.store)  # before the lock: a read-only session takes none
            lock = self.store.lock() if not dry_run else contextlib.nullcontext()
            with lock, _no_cycle_collection():
                if self.store.changed():
                    self._follow(self.store.refresh())
                uow = self._uow = UnitOfWork(dry_run=dry_run)
                try:
                    self._touch(self.meta)
                    yield uow
                    self._finish(uow)
                    if not dry_run:
                        self._commit(uow)
                except BaseException:
                    self._rollback(uow)
                    raise
                finally:
                    self._uow = None
            if not dry_run:
                for cleanup in uow.after_commit:
                    try:
                        cleanup()
                    except OSError:
                        pass  # committed already: an orphan blob is harmless
                for ev in uow.events:
                    self._publish(ev)

    def _finish(self, uow: UnitOfWork) -> None:
        """Run the cascades, keep the indexes, and record clock and randomness in the meta document."""
        if uow.reconcile:
            self._react("reconcile")  # the VMs backend checks the VMs the action may have affected
        if not uow.dry_run:
            self._keep_indexes(uow)
        meta = self.meta
        meta.clock = iso(self.clock.now())
        meta.rng_counter = self.rng.counter

    def _commit(self, uow: UnitOfWork) -> None:
        """One write: the state commit, carrying the action's audit entries and events (one fsync'd append
        to the store's commit log, its commit point); an action that changes no state (a KeyGet) appends its
        lines to the journal alone.

        The lines travel inside the commit, so they are durable exactly when the state change is: a crash
        before the commit point leaves neither, one after it leaves both (the store copies the lines into
        its journal, and a copy a crash cut short is redone from the commit log: store/logs.py). A failed
        commit aborts the action; nothing of it is written.
        """
        upserts: dict[str, dict[str, dict]] = {}
        deletes: dict[str, list[str]] = {}
        bulk = uow.bulk and not uow.shred and hasattr(self.store, "bulk_commit")
        for table, added in uow.added.items():
            upserts[table] = {key: obj.__dict__ for key, obj in added.items()}
        for (table, key), before in uow.before.items():
            obj = self.t[table].get(key)
            if obj is None:
                deletes.setdefault(table, []).append(key)
                continue
            # the store serialises the documents at once (keys sorted by its encoder) and keeps none of them
            # (StateStore.commit): the model's own fields are the document, with no sorted copy
            doc = obj.to_doc() if table == "engine" else obj.__dict__
            if table == "engine" and doc == before:
                continue
            upserts.setdefault(table, {})[key] = doc
        # in time order: an action that runs jobs (advance_clock) mixes allowed and denied operations
        audit = sorted(uow.audit_ok + uow.audit, key=_BY_TIME)
        entries, pairs = self._log_entries(audit, uow.events + uow.refusals)
        if uow.late is not None and not bulk:
            uow.late.wait()  # the models hold every value now
        if (upserts or deletes) and not bulk:
            ids = self.store.commit(upserts, deletes, shred=uow.shred, log=pairs)
        else:
            # An action that changes no state, or a bulk commit (it writes a new db directory, not a log
            # record): its lines go to the journal alone, fsync'd, tagged with the generation the state write
            # produces; if that write never happens, readers ignore them and the next append drops them.
            gen = self.store.generation + (1 if upserts or deletes else 0)
            ids = self.store.append_log(pairs, gen) if pairs else []
            if uow.late is not None:
                self.store.bulk_commit(upserts, deletes, late=uow.late)
            elif upserts or deletes:
                self.store.bulk_commit(upserts, deletes)
        for obj, i in zip([*audit, *entries], ids):
            obj.id = i
        self._remember(audit, entries)

    def _log_entries(self, audit: list[AuditEntry], events: list[Event]) -> tuple[list, list]:
        """The journal entries of events, and the ``(log, document)`` pairs of audit entries and events."""
        origin = self._origin
        entries = [EventEntry(id="", time=e.time, type=e.kind, severity=e.severity, summary=e.summary,
                              data={k: v for k, v in e.to_doc().items()
                                    if k not in ("time", "summary", "type", "severity")}) for e in events]
        if origin is not None:
            # lines written for a client of the endpoint name the request they came from (the console's
            # command log shows it) and the action that wrote them; an audit entry keeps it beside its
            # fields, an event in its data (the call note is shared: nothing changes it once written)
            for x in entries:
                x.data["origin"] = dict(origin)
            for a in audit:
                a.__dict__["origin"] = dict(origin)
        # (an audit entry has no nested field: its document is its fields, which the store encodes sorted)
        return entries, [("audit", dict(a.__dict__)) for a in audit] + [("events", x.to_doc()) for x in entries]

    def _journal(self, audit: list[AuditEntry], events: list[Event]) -> tuple[list, list]:
        """Write audit entries and events alone (no state change) in one journal append; returns (audit,
        events) entries."""
        if not audit and not events:
            return [], []
        entries, pairs = self._log_entries(audit, events)
        ids = self.store.append_log(pairs)
        for obj, i in zip([*audit, *entries], ids):
            obj.id = i
        return audit, entries

    def _remember(self, audit: list, entries: list) -> None:
        """After the commit: the in-memory logs (when loaded) learn the new lines."""
        self.t["audit"]._add_loaded(audit)  # type: ignore[attr-defined]
        self.t["events"]._add_loaded(entries)  # type: ignore[attr-defined]

    def _react(self, event: str, *args: Any) -> None:
        """Run every backend's reaction to ``event`` (declared in their ``REACTIONS``)."""
        for method in self._reactions.get(event, ()):
            getattr(self, method)(*args)

    def _keep_indexes(self, uow: UnitOfWork) -> None:
        """Bring the index tables up to date with what the action changed (``vm_of_disk``: which VM a disk
        is attached to; ``des_members``: what each disk encryption set serves). A state from before the
        indexes gets them built once, by its first write."""
        index = self.t["vm_of_disk"]
        if self.meta.indexes < INDEX_VERSION:
            for vm in self.t["vms"].values():
                for disk_id in vm.disk_ids():
                    if index.get(disk_id) is None:
                        self._add(DiskAttachment(id=disk_id, vm=vm.id))
            for table in DATA_TABLES:
                for r in self.t[table].values():
                    if r.des_id:
                        self._add(DesMember(id=f"{r.des_id}|{r.id}", kind=table, resource=r.id))
            self.meta.indexes = INDEX_VERSION
            return
        members = self.t["des_members"]
        vms = MODELS["vms"]
        for (table, key), before in list(uow.before.items()):
            if table not in DATA_TABLES:
                continue
            old = (before or {}).get("des_id")
            r = self.t[table].get(key)
            new = r.des_id if r is not None else None
            if old and old != new:
                entry = members.get(f"{old}|{key}")
                if entry is not None:
                    self._remove(entry)
            if new and (old != new or before is None):
                self._add(DesMember(id=f"{new}|{r.id}", kind=table, resource=r.id))
        # the VMs whose disks changed (a cascade touches thousands of VMs, their power only): their entries,
        # read together
        changed = []
        for (table, key), before in list(uow.before.items()):
            if table != "vms":
                continue
            old = set(vms.from_doc(before).disk_ids()) if before else set()
            vm = self.t["vms"].get(key)
            new = set(vm.disk_ids()) if vm is not None else set()
            if old != new:
                changed.append((key, old, new, vm))
        index.prefetch([d for _key, old, new, _vm in changed for d in old | new])  # type: ignore[attr-defined]
        for key, old, new, vm in changed:
            for disk_id in old - new:
                entry = index.get(disk_id)
                if entry is not None and entry.vm.lower() == key:
                    self._remove(entry)
            for disk_id in new:
                entry = index.get(disk_id)
                if entry is None or entry.vm != vm.id:
                    self._add(DiskAttachment(id=disk_id, vm=vm.id))

    @contextlib.contextmanager
    def _key_problems_fixed(self) -> Iterator[None]:
        """A phase that changes no key, version, vault, access or clock (the cascade's check of the VMs, the
        what-if's readiness): ``key_problem`` answers each question once, however many disks ask it (thousands
        of disks share a handful of keys)."""
        if self._key_problems is not None:
            yield
            return
        self._key_problems = {}
        try:
            yield
        finally:
            self._key_problems = None

    def des_members(self, des_id: str) -> list:
        """The disks, snapshots and images a set serves, per table in id order: one shard of the index (a
        scan while a state from before the index has not been written since)."""
        if self.meta.indexes >= INDEX_VERSION:
            found: dict[str, list] = {"disks": [], "snapshots": [], "images": []}
            members = self.t["des_members"].group(des_id)
            for table in DATA_TABLES:  # read together: a set serves thousands
                self.t[table].prefetch([m.resource for m in members if m.kind == table])  # type: ignore[attr-defined]
            for m in members:
                r = self.t[m.kind].get(m.resource)
                if r is not None and r.des_id == des_id:
                    found[m.kind].append(r)
            return [r for table in DATA_TABLES
                    for r in sorted(found[table], key=_BY_ID)]
        return [r for table in DATA_TABLES
                for r in sorted((r for r in self.t[table].values() if r.des_id == des_id), key=lambda r: r.id)]

    def vm_of_disk(self, disk_id: str):
        """The VM a disk is attached to, or None: one look-up in the index (a scan while a state from before
        the index has not been written since)."""
        if self.meta.indexes >= INDEX_VERSION:
            entry = self.t["vm_of_disk"].get(disk_id)
            return self.t["vms"].get(entry.vm) if entry is not None else None
        if self._vm_index is None:
            self._vm_index = {d.lower(): vm.id for vm in self.t["vms"].values() for d in vm.disk_ids()}
        vid = self._vm_index.get(disk_id.lower())
        return self.t["vms"].get(vid) if vid else None

    def _rollback(self, uow: UnitOfWork) -> None:
        for (table, key), doc in uow.before.items():
            if doc is None:
                self.t[table].pop(key, None)
            else:
                self.t[table][key] = MODELS[table].from_doc(doc)
        for table, added in uow.added.items():
            t = self.t[table]
            for key in added:
                dict.pop(t, key, None)
        self.meta = self.t["engine"]["engine"]  # type: ignore[assignment]
        self._adopt_meta()
        self._vm_index = None
        if (uow.audit or uow.refusals) and not uow.dry_run:
            # Key Vault logs denied attempts even though the action failed (KV8), and the refusal itself
            # is recorded (a failed operation): keep those alone.
            try:
                self._remember(*self._journal(uow.audit, uow.refusals))
            except EngineError:
                pass

    def _touch(self, obj: Model | None) -> None:
        """Snapshot ``obj`` before it changes (call before mutating)."""
        uow = self._uow
        if uow is None:
            raise RuntimeError("state changed outside a unit of work")
        if obj is None:
            return
        k = (obj.table, obj.key)
        if k not in uow.before:
            uow.before[k] = obj.snapshot() if k[1] in self.t[k[0]] else None
        if obj.table == "vms":
            self._vm_index = None

    def _add(self, obj: Model) -> Model:
        uow = self._uow
        if uow is None:
            raise RuntimeError("state changed outside a unit of work")
        k = (obj.table, obj.key)
        if k not in uow.before:
            existing = self.t[obj.table].get(obj.key)
            uow.before[k] = existing.snapshot() if existing is not None else None
        self.t[obj.table][obj.key] = obj
        if obj.table == "vms":
            self._vm_index = None
        return obj

    def _add_new(self, table: str, models: list) -> None:
        """Add many new models to ``table`` (an import): the caller has made sure that none of their keys is
        in the table. Unlike :meth:`_add`, no look-up and no snapshot per model: the unit of work keeps them
        in ``added`` (the commit writes their documents as they are, a rollback removes them), and the
        caller adds their index entries (``vm_of_disk``, ``des_members``) with them, the same way."""
        uow = self.uow
        t = self.t[table]
        new = {obj.id.lower(): obj for obj in models}
        read = dict.keys(t) & new.keys() if dict.__len__(t) else ()
        for key in read:
            if key not in uow.added.get(table, ()):
                self._add(new.pop(key))  # a document a look-up read (a stale index entry): kept with its snapshot
        uow.added.setdefault(table, {}).update(new)
        dict.update(t, new)
        absent = t._absent  # type: ignore[attr-defined]
        if absent:
            absent.difference_update(new)
        if table == "vms":
            self._vm_index = None

    def _remove(self, obj: Model) -> None:
        self._touch(obj)
        self.t[obj.table].pop(obj.key, None)

    @property
    def uow(self) -> UnitOfWork:
        if self._uow is None:
            raise RuntimeError("no unit of work")
        return self._uow

    # ---- events ------------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` after each committed action; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def _emit(self, cls: type[Event], summary: str, **data: Any) -> None:
        self.uow.events.append(cls(time=iso(self.clock.now()), summary=summary, **data))

    def _emit_refusal(self, cls: type[Event], summary: str, **data: Any) -> None:
        """An event recording a refused operation: logged even when the action then fails."""
        self.uow.refusals.append(cls(time=iso(self.clock.now()), summary=summary, **data))

    def _publish(self, ev: Event) -> None:
        for cb in list(self._subscribers):
            try:
                cb(ev)
            except Exception:  # a broken subscriber must not break the engine
                pass

    # ---- audit (KV8) ----------------------------------------------------------------------------

    def _audit(self, vault: str, caller: str, operation: str, kid: str | None, result: str = "OK",
               code: str | None = None, message: str | None = None) -> None:
        uow = self.uow
        if uow.dry_run:
            return
        entry = AuditEntry(id="", time=iso(self.clock.now()), vault=vault, caller=caller, operation=operation,
                           kid=kid, result=result, code=code, message=message)
        # denied attempts are kept even if the action fails; successful ones only if it commits
        (uow.audit_ok if result == "OK" else uow.audit).append(entry)

    def _audit_many(self, vault: str, caller: str, operation: str, kid: str | None, count: int) -> None:
        """``count`` successful operations of one kind at one moment (a re-key's unwraps or wraps): one audit
        entry each, as :meth:`_audit` writes them, built without asking the clock ``count`` times."""
        uow = self.uow
        if uow.dry_run or count <= 0:
            return
        first = AuditEntry(id="", time=iso(self.clock.now()), vault=vault, caller=caller, operation=operation,
                           kid=kid, result="OK", code=None, message=None)
        fields = first.__dict__
        new = object.__new__
        out = [first]
        for _ in range(count - 1):  # the same fields (scalars), without the constructor's checks each time
            entry = new(AuditEntry)
            entry.__dict__.update(fields)
            out.append(entry)
        uow.audit_ok.extend(out)

    # ---- small helpers --------------------------------------------------------------------------

    def now(self) -> str:
        return iso(self.clock.now())  # type: ignore[return-value]

    def _get(self, cls: type[M], key: str, what: str | None = None) -> M:
        obj = self.t[cls.table].get(key)
        if obj is None:
            raise NotFound(f"{what or cls.__name__} {key!r} was not found")
        return obj  # type: ignore[return-value]

    def _lookup(self, table: str, kind: str, name_or_id: str | None, resource_group: str | None, what: str):
        """The resource a user names: by id, or by name in a resource group, one look-up (keys are ids,
        lower-cased); by name alone, a scan (a name can repeat across groups: ambiguous is refused).
        None when there is none."""
        if name_or_id and name_or_id.startswith("/"):
            return self.t[table].get(name_or_id)
        if resource_group is not None:
            return self.t[table].get(arm_id(self.subscription_id, resource_group, kind, name_or_id or ""))
        name = (name_or_id or "").lower()
        cands = [r for r in self.t[table].values() if r.name.lower() == name]
        if len(cands) > 1:
            raise BadRequest(f"{what} name {name_or_id!r} is ambiguous; give its resource group or its id",
                             code="InvalidParameter")
        return cands[0] if cands else None

    def _find_resource(self, kind: str, name_or_id: str, resource_group: str | None = None, what: str | None = None):
        """The resource a user names (:meth:`_lookup`), or ARM's NotFound naming its type and group: the one
        "find by name or id" of the backends."""
        obj = self._lookup(TABLE_OF_KIND[kind], kind, name_or_id, resource_group, what or kind)
        if obj is None:
            raise NotFound(f"The Resource '{PROVIDERS[kind]}/{name_or_id}' under resource group "
                           f"'{resource_group or '?'}' was not found.", code="ResourceNotFound")
        return obj

    # ---- resource groups: what every backend's look-ups and lists share -----------------------------------

    def _find_group(self, name: str):
        for g in self.t["groups"].values():
            if g.name.lower() == name.lower():
                return g
        return None

    def get_group(self, name: str):
        g = self._find_group(name)
        if g is None:
            raise NotFound(f"Resource group {name!r} could not be found.", code="ResourceGroupNotFound")
        return g

    def find_group(self, name: str):
        """The resource group named ``name`` (case-insensitive), or None."""
        return self._find_group(name)

    def group_members(self, table: str, group) -> list:
        """The resources of ``table`` in ``group`` (deleted vaults aside), by name."""
        return self._list_in_group(table, group.name, keep=lambda r: getattr(r, "state", "Active") == "Active")

    def _group_filter(self, resource_group: str | None) -> Callable[[Any], bool]:
        """ARM's list by resource group: a group that does not exist is ``ResourceGroupNotFound``, not an empty
        list; the test of its members (every resource with no group)."""
        if resource_group is None:
            return lambda r: True
        gl = self.get_group(resource_group).name.lower()
        return lambda r: r.resource_group.lower() == gl

    def _list_in_group(self, table: str, resource_group: str | None, where: Callable[[Any], bool] | None = None,
                       *, keep: Callable[[Any], bool] | None = None,
                       key: Callable[[Any], Any] = lambda r: r.name.lower()) -> list:
        """The one list query of every kind: the resources of ``table`` (of ``resource_group``, checked as ARM
        checks it) that ``keep`` (the kind's own rule) and ``where`` (the caller's) accept, by name."""
        in_group = self._group_filter(resource_group)
        return sorted((r for r in list(self.t[table].values()) if in_group(r) and (keep is None or keep(r))
                       and (where is None or where(r))), key=key)

    def _exists(self, table: str, kind: str, name: str, group: str) -> bool:
        """Whether ``name`` is taken in ``group`` (case-insensitively, as Azure compares names): one look-up."""
        return arm_id(self.subscription_id, group, kind, name) in self.t[table]

    def all(self, table: str) -> list:
        return list(self.t[table].values())

    # ---- read-only queries for the front ends --------------------------------------------------------
    # The console and the workshop read the state through these, never through ``t``: each is typed by
    # what it returns, none audits, none raises for a missing resource (None or an empty result), and
    # each reads no more of the store than it answers (a look-up by id reads one document).

    def find(self, kind: str, key: str | None):
        """The model of ``kind`` (a table: ``vaults``, ``keys``, ``des``, ``disks``, ``snapshots``,
        ``images``, ``vms``, ``groups``, ``roles``, ``scalesets``) whose id is ``key``, compared
        case-insensitively as Azure does; None when there is none. One look-up."""
        if kind not in RESOURCE_KINDS:
            raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(RESOURCE_KINDS)}")
        return self.t[kind].get(key) if key else None

    def find_named(self, kind: str, name: str | None):
        """The first model of ``kind`` named ``name`` (case-insensitive), or None: a scan of the table."""
        want = (name or "").lower()
        return next(self.iter_resources((kind,), where=lambda r: getattr(r, "name", "").lower() == want), None)

    def iter_resources(self, kinds: tuple[str, ...] | list[str] = (), *, where: Callable[[Any], bool] | None = None
                       ) -> Iterator[Any]:
        """The models of ``kinds`` (default: every resource kind), table after table, those ``where``
        accepts; each table is read when the iteration reaches it and iterated over a copy of its list, so
        another thread's change cannot break the iteration."""
        for kind in kinds or RESOURCE_KINDS:
            if kind not in RESOURCE_KINDS:
                raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(RESOURCE_KINDS)}")
            for r in self.t[kind].snapshot():  # type: ignore[attr-defined]
                if where is None or where(r):
                    yield r

    def count(self, kind: str, *, where: Callable[[Any], bool] | None = None) -> int:
        """How many models of ``kind`` there are (that ``where`` accepts)."""
        if where is None:
            if kind not in RESOURCE_KINDS:
                raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(RESOURCE_KINDS)}")
            return len(self.t[kind])
        return sum(1 for _ in self.iter_resources((kind,), where=where))

    def has_resources(self, kinds: tuple[str, ...] | list[str] = ()) -> bool:
        """Whether any resource of ``kinds`` (default: any kind) exists; stops at the first shard that
        holds one."""
        return any(self.t[k].any() for k in (kinds or RESOURCE_KINDS))  # type: ignore[attr-defined]

    def list_events(self, *, where: Callable[[Any], bool] | None = None) -> list:
        """The event log (``EventEntry``), oldest first; those ``where`` accepts."""
        return sorted((e for e in list(self.t["events"].values()) if where is None or where(e)),
                      key=lambda e: e.id)

    def list_audit(self, *, where: Callable[[Any], bool] | None = None) -> list:
        """The Key Vault audit trail (``AuditEntry``), oldest first; those ``where`` accepts."""
        return sorted((a for a in list(self.t["audit"].values()) if where is None or where(a)),
                      key=lambda a: a.id)

    JOURNAL: ClassVar[tuple[str, ...]] = ("events", "audit")

    def journal_cursor(self) -> int:
        """Where the journal (events and audit entries) ends now, found without reading its history: give it
        to :meth:`journal_since` (or :meth:`events_since`) to read only what is committed after it."""
        return self.store.log_end(self.JOURNAL)

    def journal_since(self, cursor: int) -> tuple[list, list, int]:
        """The events and the audit entries committed after ``cursor`` (from :meth:`journal_cursor` or an
        earlier call), each oldest first, and the cursor after them: a follower reads only the new lines."""
        docs, cursor = self.store.read_log_since(self.JOURNAL, cursor)
        events, audit = MODELS["events"], MODELS["audit"]
        ev, au = [], []
        for d in docs:
            if d.pop("log", None) == "events":
                ev.append(events.from_doc(d, owned=True))
            else:
                au.append(audit.from_doc(d, owned=True))
        return ev, au, cursor

    def events_since(self, cursor: int) -> tuple[list, int]:
        """The events committed after ``cursor`` (:meth:`journal_since` without the audit entries)."""
        events, _, cursor = self.journal_since(cursor)
        return events, cursor

    def loaded_count(self, kinds: tuple[str, ...] | list[str], *, read_shards: int = 0) -> int | None:
        """How many models ``kinds`` (resource kinds, ``audit``, ``events``) hold, when every one of them is
        in memory already (a table whose documents lie in at most ``read_shards`` shards not read yet, a
        few documents, is read to answer); None when answering would read more of the store (a front end
        then reads them off its UI thread)."""
        tables = [self.t[kind] for kind in kinds]
        for t in tables:
            if isinstance(t, _Log):
                if not t._loaded:
                    return None
            elif not t._full:  # type: ignore[attr-defined]
                unread = [s for s in self.store.shards(t._name) if s not in t._shards]  # type: ignore[attr-defined]
                if len(unread) > read_shards:
                    return None
        total = 0
        for t in tables:
            if not isinstance(t, _Log):
                t._all()  # type: ignore[attr-defined]
            total += dict.__len__(t)
        return total

    def reading(self) -> contextlib.AbstractContextManager:
        """Hold the engine while a thread reads whole tables: no action and no catching up with other
        processes interleaves (waits for a running action to finish)."""
        return self._lock

    @property
    def home(self) -> str | None:
        """The directory of the store (None for an engine in memory)."""
        return getattr(self.store, "home", None)

    @property
    def store_path(self) -> str | None:
        """Where the state lives (None in memory)."""
        return getattr(self.store, "path", None)

    def close(self) -> None:
        """Release the store's files and lock."""
        self.store.close()

    @staticmethod
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    @staticmethod
    def unb64(text: str) -> bytes:
        return base64.b64decode(text)

    @property
    def subscription_id(self) -> str:
        return self.meta.subscription_id

    _caller: str | None = None

    @property
    def operator(self) -> str:
        """The caller of management operations: the signed-in user's object id, or the principal an
        :meth:`acting_as` block names (a client of the endpoint signed in as a service principal)."""
        return self._caller or self.meta.user_object_id

    def principal_name(self, oid: str | None) -> str | None:
        """Who an object id is, by the name the directory gives it: the signed-in operator's user name, a disk
        encryption set's system-assigned identity (named as its set, as Azure names it); None for an identity
        this home does not know (a service principal of the endpoint, an id typed by hand)."""
        o = (oid or "").strip().lower()
        if not o:
            return None
        if o == (self.meta.user_object_id or "").lower():
            return self.meta.user_name
        return next((d.name for d in list(self.t["des"].values()) if d.principal_id.lower() == o), None)

    def principal_names(self) -> dict[str, str]:
        """Every identity this home knows, lower-case object id -> its name (:meth:`principal_name`, in one pass:
        a pane naming many principals asks once)."""
        out = {d.principal_id.lower(): d.name for d in list(self.t["des"].values()) if d.principal_id}
        if self.meta.user_object_id:
            out[self.meta.user_object_id.lower()] = self.meta.user_name
        return out

    def principal_label(self, oid: str) -> str:
        """``des-cmk (fb568bc3-...)``: the name and the id, or the id alone when the name is not known."""
        name = self.principal_name(oid)
        return f"{name} ({oid})" if name else oid

    def is_current_principal(self, oid: str | None) -> bool:
        """Whether ``oid`` is the principal making the calls now (:attr:`operator`)."""
        return bool(oid) and oid.strip().lower() == (self.operator or "").lower()

    _origin: dict | None = None
    _origin_thread: int | None = None
    _origin_calls = 0
    _noting = False

    @contextlib.contextmanager
    def acting_as(self, principal: str | None, origin: dict | None = None) -> Iterator[None]:
        """Actions in this block are made by ``principal`` (an object id; None: the signed-in user): the
        audit trail names it as the caller (KV8). Access checks stay with the callers of the engine.

        ``origin``: where the actions come from (the endpoint's request: ``{"via": "endpoint", "principal",
        "name", "request", "seq"}``), JSON-native: every journal line they write carries it (an event in its
        ``data``, an audit entry beside its fields), so that another process (the console's command log)
        tells who asked for what. The block's own copy of it also names, while an action runs, that
        action's call (``call``: its number in the block, name and arguments, never a secret: see
        engine/actions.py), so a reader can say what the request did; audited reads and key operations
        (``KeyGet``, ``KeyUnwrap`` ...) are no action and carry none."""
        with self._lock:
            before = self._caller, self._origin, self._origin_thread, self._origin_calls
            self._caller = principal.lower() if principal else None
            self._origin = dict(origin) if origin is not None else None
            self._origin_thread, self._origin_calls = threading.get_ident(), 0
            try:
                yield
            finally:
                self._caller, self._origin, self._origin_thread, self._origin_calls = before
