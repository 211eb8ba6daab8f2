"""A classroom directory: the roster, the tokens, one home per trainee, and what the trainer sees.

Layout of ``DIR`` (mode 0700)::

    classroom.json      the scenario, the roster and every token (mode 0600: it is the room's key ring)
    progress.json       when each trainee first connected, last progressed, finished each step (0600)
    homes/NAME/         each trainee's cmklab home (the scenario's seeded landscape, built once)
    tls/                a self-signed certificate, when the classroom made one

Starting a classroom again on the same directory reuses all of it: the same links, the same homes (so
every trainee resumes where they were). Nothing here imports aiohttp, textual or textual-serve: the
objective states come from :mod:`console.workshop` run against each home (no console is opened).
"""

from __future__ import annotations

import contextlib
import csv
import hmac
import io
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from engine._light import dataclass, field
from pathlib import Path

from engine.errors import EngineError

from console.workshop import LAB_DOCUMENT, Scenario, find_scenario, home_has_state, new_landscape, open_lab

CONFIG = "classroom.json"
PROGRESS = "progress.json"
HOMES = "homes"
FILES = "files"
"""In each home: the one directory a trainee's console reads and writes files in (console/confine.py)."""
NAME_RULE = "1 to 40 letters, digits, '.', '_' or '-', starting with a letter or digit"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
MAX_TRAINEES = 200
CHECKS_PER_REFRESH = 16
"""At most this many homes have their objectives checked in one refresh of the overview (every half
second): a whole room acting at once is caught up over a few refreshes, never in one long one."""


class ClassroomError(EngineError):
    """A classroom that cannot be set up as asked (the message says what and what is allowed)."""

    code = "InvalidClassroom"
    status = 400


def _has_lab(home: Path) -> bool:
    """Whether ``home`` holds a built landscape: a state whose store holds the lab's progress (saved last, so a
    build cut short has none). A home whose store cannot be opened is left as it is (True): the overview says
    what is wrong with it, and a trainee's work is never removed to build it again."""
    from console.session import open_engine

    if not home_has_state(home):
        return False
    try:
        engine = open_engine(home, read_only=True)
    except EngineError:
        return True
    try:
        return engine.side_signature(LAB_DOCUMENT) is not None
    finally:
        engine.close()


def new_token() -> str:
    """An unguessable link token: 32 random bytes from ``secrets``, URL-safe."""
    return secrets.token_urlsafe(32)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` atomically with mode 0600 (a temporary beside it, fsync, rename)."""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_roster(path: str | os.PathLike) -> list[str]:
    """Names from a roster file: one a line; blank lines and ``#`` comments are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ClassroomError(f"roster {path} cannot be read: {e}") from None
    names = [ln.strip() for ln in text.splitlines()]
    return check_names([n for n in names if n and not n.startswith("#")], str(path))


def check_names(names: list[str], where: str = "the roster") -> list[str]:
    if not names:
        raise ClassroomError(f"{where} names no trainee")
    if len(names) > MAX_TRAINEES:
        raise ClassroomError(f"{where} names {len(names)} trainees; one classroom holds at most {MAX_TRAINEES} "
                             "(run several classrooms, each with its part of the roster)")
    seen: dict[str, str] = {}
    for n in names:
        if not _NAME.match(n):
            raise ClassroomError(f"{where}: {n[:60]!r} is not a usable trainee name ({NAME_RULE})")
        if n.lower() in seen:
            raise ClassroomError(f"{where}: {n!r} is listed twice (names are compared without case)")
        seen[n.lower()] = n
    return names


def numbered(n: int) -> list[str]:
    if not 1 <= n <= MAX_TRAINEES:
        raise ClassroomError(f"--trainees {n}: give between 1 and {MAX_TRAINEES}")
    width = max(2, len(str(n)))
    return [f"trainee-{i:0{width}d}" for i in range(1, n + 1)]


@dataclass(frozen=True)
class Trainee:
    name: str
    token: str = field(repr=False)
    home: Path


class Classroom:
    """The roster and tokens of one classroom directory, and each trainee's home."""

    def __init__(self, directory: Path, scenario: Scenario, trainer_token: str, trainees: list[Trainee],
                 created: float) -> None:
        self.directory = directory
        self.scenario = scenario
        self.trainer_token = trainer_token
        self.trainees = trainees
        self.by_name = {t.name: t for t in trainees}
        self.created = created

    def __repr__(self) -> str:  # never the tokens
        return f"Classroom({str(self.directory)!r}, {self.scenario.name!r}, {len(self.trainees)} trainees)"

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, directory: str | os.PathLike, scenario: str | None, names: list[str] | None,
             *, out=None) -> "Classroom":
        """The classroom in ``directory``: created with ``scenario`` and ``names``, or resumed (the same
        scenario; names not yet in it are added, with new tokens and homes). Homes are built here, so
        that no trainee waits for one at their first connection."""
        directory = Path(directory).expanduser().absolute()
        config = directory / CONFIG
        if config.exists():
            try:
                data = json.loads(config.read_text(encoding="utf-8"))
                sc_ref = data["scenario"]
                trainer = data["trainer_token"]
                entries = [(str(e["name"]), str(e["token"])) for e in data["trainees"]]
                created = float(data.get("created", time.time()))
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise ClassroomError(f"{config} is not a cmklab classroom file ({e})") from None
            sc = find_scenario(sc_ref)
            if scenario is not None and find_scenario(scenario).name != sc.name:
                raise ClassroomError(f"{directory} holds a classroom of scenario {sc.name!r}, not {scenario!r}; "
                                     "use another --dir, or start it with its own scenario", code="Conflict")
        else:
            if scenario is None:
                raise ClassroomError(f"{directory} holds no classroom yet: name a scenario to start one")
            sc = find_scenario(scenario)
            sc_ref = sc.path or sc.name
            trainer, entries, created = new_token(), [], time.time()
            if not names:
                raise ClassroomError("a new classroom needs its trainees: --trainees N or --roster FILE")
        known = {n.lower() for n, _ in entries}
        added = [n for n in (names or []) if n.lower() not in known]
        entries += [(n, new_token()) for n in added]
        check_names([n for n, _ in entries], str(config))
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        (directory / HOMES).mkdir(exist_ok=True, mode=0o700)
        _write_private(config, (json.dumps({
            "scenario": sc_ref, "trainer_token": trainer, "created": created,
            "trainees": [{"name": n, "token": t} for n, t in entries]}, indent=2) + "\n").encode())
        room = cls(directory, sc, trainer, [Trainee(n, t, directory / HOMES / n) for n, t in entries], created)
        room.build_homes(out=out)
        return room

    def build_homes(self, out=None) -> int:
        """Build the scenario's landscape in every home that has none yet; how many were built."""
        built = 0
        for t in self.trainees:
            if _has_lab(t.home):
                (t.home / FILES).mkdir(mode=0o700, exist_ok=True)
                continue
            if t.home.exists():  # a build cut short: start it again
                shutil.rmtree(t.home)
            engine, _lab = new_landscape(t.home, self.scenario)
            engine.close()
            (t.home / FILES).mkdir(mode=0o700, exist_ok=True)
            built += 1
            if out is not None:
                out(f"  built the landscape for {t.name}")
        return built

    # -- tokens ----------------------------------------------------------------------------------

    def trainee_for(self, token: str) -> Trainee | None:
        """The trainee whose link carries ``token`` (compared in constant time against every token)."""
        found = None
        given = token.encode()
        for t in self.trainees:
            if hmac.compare_digest(given, t.token.encode()):
                found = t
        return found

    def is_trainer(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.trainer_token.encode())

    # -- actions on homes --------------------------------------------------------------------------

    def reset_step(self, name: str, timeout: float = 300) -> tuple[bool, str]:
        """``cmklab scenario reset-step`` on the trainee's home (a process of its own): (ok, its output)."""
        t = self.by_name[name]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
        proc = subprocess.run([sys.executable, "-m", "console", "--home", str(t.home), "scenario", "reset-step"],
                              capture_output=True, text=True, timeout=timeout, env=env)
        return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


# ====================================================================================== progress


@dataclass
class _Watch:
    """One trainee's home as the trainer's overview sees it."""

    trainee: Trainee
    engine: object = None
    lab: object = None
    results: list = field(default_factory=list)
    step: int = 1
    completed: set = field(default_factory=set)
    log_sig: tuple | None = None
    last_action: str = ""
    last_action_time: str = ""
    key: tuple = ()
    checks: int = 0
    error: str = ""

    def close(self) -> None:
        if self.engine is not None:
            with contextlib.suppress(Exception):
                self.engine.close()
        self.engine = self.lab = None


class Progress:
    """Every trainee's step and objective states, kept up to date by :meth:`refresh`.

    A refresh costs a few ``stat`` calls per trainee; objectives are checked again only for homes whose
    state or lab's progress changed since the last refresh (``Engine.refresh_if_changed``, which reads only
    what was appended), so the work per refresh is bounded by what trainees did, not by the room's size.
    Use it from one thread (the server's progress worker)."""

    def __init__(self, room: Classroom, clock=time.time) -> None:
        self.room = room
        self.clock = clock
        self.lock = threading.Lock()
        self.watches = {t.name: _Watch(t) for t in room.trainees}
        self.times = self._load_times()
        self.connected: dict[str, int] = {}
        self._start = 0

    # -- persisted times ----------------------------------------------------------------------------

    def _load_times(self) -> dict:
        try:
            data = json.loads((self.room.directory / PROGRESS).read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_times(self) -> None:
        _write_private(self.room.directory / PROGRESS, (json.dumps(self.times, indent=1) + "\n").encode())

    def _times(self, name: str) -> dict:
        return self.times.setdefault(name, {"done": {}})

    def joined(self, name: str) -> None:
        """A console of ``name`` opened (first one: their clock starts)."""
        with self.lock:
            t = self._times(name)
            if "joined" not in t:
                t["joined"] = self.clock()
                t.setdefault("progressed", t["joined"])
                self._save_times()

    # -- refreshing -----------------------------------------------------------------------------------

    def refresh(self, limit: int = CHECKS_PER_REFRESH) -> list[str]:
        """Check again the homes that changed, at most ``limit`` of them (the others keep their change
        for the next refresh, which starts after the last one looked at); the names checked."""
        names = list(self.watches)
        changed: list[str] = []
        start = self._start % max(1, len(names))
        for i in range(len(names)):
            if len(changed) >= limit:
                self._start = start + i
                break
            w = self.watches[names[(start + i) % len(names)]]
            if self._refresh_one(w):
                changed.append(w.trainee.name)
        return changed

    def forget(self, name: str) -> None:
        """Drop what is known of a home whose state was replaced (a reset step): read it afresh."""
        w = self.watches[name]
        w.close()
        self.watches[name] = _Watch(w.trainee)

    def _refresh_one(self, w: _Watch) -> bool:
        from console.session import open_engine

        home = w.trainee.home
        try:
            first = w.engine is None
            if first:
                w.engine = open_engine(home, read_only=True)
                w.lab = open_lab(w.engine, home, read_only=True)
                if w.lab is None:
                    raise ClassroomError(f"{home} holds no lab")
            state = w.engine.refresh_if_changed()
            lab = w.lab.reload_if_changed()
            log = self._read_log(w)
            if not (first or state or lab or log):
                return False
            w.results = w.lab.results()
            w.checks += 1
            w.error = ""
        except Exception as e:  # noqa: BLE001 - one broken home must not stop the overview
            w.close()
            w.error = f"{type(e).__name__}: {e}"
            return True
        w.step = w.lab.number
        met_all = bool(w.results) and all(r.met for r in w.results)
        w.completed = set(i + 1 for i in w.lab.completed) | ({w.step} if met_all else set())
        key = (w.step, tuple(self._state(r) for r in w.results), tuple(sorted(w.completed)))
        if key != w.key:
            now = self.clock()
            with self.lock:
                t = self._times(w.trainee.name)
                if w.key:  # not the first look: something moved
                    t["progressed"] = now
                for s in w.completed:
                    t["done"].setdefault(str(s), now)
                self._save_times()
            w.key = key
        return True

    def _read_log(self, w: _Watch) -> bool:
        from store.notes import note_path, read_note

        try:
            st = os.stat(note_path(w.trainee.home, "console-log"))
            sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            sig = None
        if sig == w.log_sig:
            return False
        w.log_sig = sig
        doc = read_note(w.trainee.home, "console-log") if sig else None
        entries = doc.get("entries", []) if isinstance(doc, dict) else []
        last = entries[-1] if entries and isinstance(entries[-1], dict) else None
        if last:
            lines = last.get("lines") or []
            w.last_action = (str(lines[0]) if lines else str(last.get("label", "")))[:200]
            if last.get("ok") is False:
                w.last_action += f"  (refused: {last.get('error') or 'error'})"
            w.last_action_time = str(last.get("time", ""))
        else:
            w.last_action, w.last_action_time = "", ""
        return True

    @staticmethod
    def _state(r) -> str:
        return "error" if r.error else "impossible" if r.impossible else "met" if r.met else "unmet"

    # -- what the trainer sees --------------------------------------------------------------------------

    def snapshot(self) -> dict:
        now = self.clock()
        sc = self.room.scenario
        rows = []
        for name, w in self.watches.items():
            t = self.times.get(name, {})
            progressed = t.get("progressed")
            rows.append({
                "name": name,
                "step": w.step,
                "step_title": sc.steps[w.step - 1].title if 0 < w.step <= len(sc.steps) else "",
                "completed": sorted(w.completed),
                "objectives": [{"label": r.label, "state": self._state(r), "detail": r.detail} for r in w.results],
                "last_action": w.last_action,
                "last_action_time": w.last_action_time,
                "since_progress_s": None if progressed is None else round(now - progressed),
                "joined": t.get("joined") is not None,
                "consoles": self.connected.get(name, 0),
                "error": w.error,
            })
        return {"scenario": sc.name, "title": sc.title, "steps": [s.title for s in sc.steps], "trainees": rows}

    def summary(self) -> dict:
        """Who finished which steps, in what time (seconds from their first connection)."""
        out = []
        total = len(self.room.scenario.steps)
        for name, w in self.watches.items():
            t = self.times.get(name, {})
            start = t.get("joined", self.room.created)
            done = {int(k): v for k, v in t.get("done", {}).items()}
            steps, prev = [], start
            for s in range(1, total + 1):
                if s in done:
                    steps.append({"step": s, "done_after_s": round(done[s] - start), "took_s": round(done[s] - prev)})
                    prev = done[s]
                else:
                    steps.append({"step": s, "done_after_s": None, "took_s": None})
            finished = all(s in done for s in range(1, total + 1))
            out.append({"name": name, "steps_done": sorted(done), "finished": finished,
                        "total_s": round(max(done.values()) - start) if finished else None, "steps": steps})
        return {"scenario": self.room.scenario.name, "steps": total, "trainees": out}

    def export_zip(self) -> bytes:
        """Every trainee's command log (JSON, and one text file of its az commands) and the summary."""
        from store.notes import read_note

        buf = io.BytesIO()
        summary = self.summary()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("summary.json", json.dumps(summary, indent=2) + "\n")
            text = io.StringIO()
            w = csv.writer(text)
            w.writerow(["trainee", "finished", "steps done", "total seconds"]
                       + [f"step {s} seconds" for s in range(1, summary["steps"] + 1)])
            for row in summary["trainees"]:
                w.writerow([row["name"], "yes" if row["finished"] else "no", len(row["steps_done"]),
                            "" if row["total_s"] is None else row["total_s"]]
                           + ["" if s["took_s"] is None else s["took_s"] for s in row["steps"]])
            z.writestr("summary.csv", text.getvalue())
            for t in self.room.trainees:
                doc = read_note(t.home, "console-log") or {"entries": []}
                z.writestr(f"logs/{t.name}.json", json.dumps(doc, indent=1) + "\n")
                lines = []
                for e in doc.get("entries", []) if isinstance(doc, dict) else []:
                    mark = "" if e.get("ok", True) else f"   # refused: {e.get('error') or 'error'}"
                    for ln in e.get("lines", []):
                        lines.append(f"{ln}{mark}")
                z.writestr(f"logs/{t.name}.sh", "\n".join(lines) + ("\n" if lines else ""))
        return buf.getvalue()

    # -- moving the room ----------------------------------------------------------------------------------

    def advance(self, to: int | None = None) -> tuple[int, list[str]]:
        """Move every trainee who is before step ``to`` (default: one past the step the furthest-behind
        trainee is on) to it; returns (to, the names moved). Their consoles follow within a second."""
        from console.session import open_engine

        total = len(self.room.scenario.steps)
        if to is None:
            to = min(w.step for w in self.watches.values()) + 1
        if not 1 <= to <= total:
            raise ClassroomError(f"step {to} does not exist: the scenario has steps 1 to {total}")
        moved = []
        for name, w in self.watches.items():
            # writable: the moved lab is saved through the trainee's store (its lock, an atomic replace), which a
            # read-only store refuses; no action runs, the state is not changed
            engine = open_engine(w.trainee.home)
            try:
                lab = open_lab(engine)
                if lab is not None and lab.number < to:
                    lab.goto(to - 1)
                    moved.append(name)
            finally:
                engine.close()
        return to, moved

    def close(self) -> None:
        for w in self.watches.values():
            w.close()


__all__ = ["CONFIG", "FILES", "HOMES", "NAME_RULE", "PROGRESS", "Classroom", "ClassroomError", "Progress", "Trainee",
           "check_names", "new_token", "numbered", "read_roster"]
