"""The append-only journal beside the state file (``journal.jsonl``): audit entries and events.

Audit entries and events only ever grow, and most commands (``az keyvault key show`` writes a
``KeyGet`` audit entry) change nothing else: appending one line is O(1), where rewriting the
state file is O(state). One action appends its audit entries and events with one write.

How the journal stays in step with the state (the state write is the commit point):

* every line carries ``gen``, the state generation it belongs to: the generation the action's state
  write will produce, or the current one for an action that writes no state (a ``KeyGet``, the denied
  attempts of a refused action);
* the journal is written *before* the state: a crash after both leaves both, a crash between them
  leaves lines of a generation the state never reached;
* readers ignore lines whose ``gen`` is beyond the state's generation, and the next append (under
  the store's lock) truncates them: an action that did not commit leaves no trace, one that
  committed never loses its audit lines.

Ids are a dense sequence given here (``000000001`` on), so the same commands give the same ids
(seeded replays). A torn last line (a crash mid-write) is ignored and overwritten.
"""

from __future__ import annotations

import json
import os
import sys

from engine.errors import StoreError

from . import _compat

LOG_NAMES = ("audit", "events")
_TAIL = 1 << 16


class LogFiles:
    def __init__(self, home: str) -> None:
        self.home = home
        self._cache: tuple | None = None
        """(file signature, line count, end offset, gen of the last line) after this process's last append."""

    def path(self, name: str = "journal") -> str:
        if name not in LOG_NAMES and name != "journal":
            raise ValueError(f"unknown log {name!r}; logs: {', '.join(LOG_NAMES)}")
        return os.path.join(self.home, "journal.jsonl")

    def read(self, name: str, committed_gen: int | None = None) -> list[dict]:
        """The documents of one log (``audit`` or ``events``), oldest first, of committed generations."""
        return self.read_since(name, committed_gen, 0)[0]

    def read_since(self, name: str, committed_gen: int | None, start: int) -> tuple[list[dict], int]:
        """The documents of one log from byte ``start`` on (the end of an earlier read), and the offset
        after the last line read: a reader that follows the journal reads only what was appended. An
        offset past the end (the journal was replaced) reads it all again."""
        self.path(name)
        path = self.path()
        try:
            with open(path, "rb") as f:
                if start > os.fstat(f.fileno()).st_size:
                    start = 0
                f.seek(start)
                raw = f.read()
        except FileNotFoundError:
            return [], 0
        except OSError as exc:
            raise StoreError(f"cannot read log {path}: {exc.strerror or exc}") from exc
        out = []
        pos = 0
        while True:
            nl = raw.find(b"\n", pos)
            if nl < 0:
                break  # a torn last line: read again once whole
            line = raw[pos:nl]
            if line:
                try:
                    doc = json.loads(line)
                except ValueError:  # JSONDecodeError, UnicodeDecodeError
                    break  # a damaged line: everything before it stands (the next append sets it aside)
                gen = doc.pop("gen", 0)
                if committed_gen is not None and gen > committed_gen:
                    break  # lines of a generation the state never reached (and everything after them)
                if doc.pop("log", None) == name:
                    out.append(doc)
            pos = nl + 1
        return out, start + pos

    def _scan(self, fd: int, committed_gen: int) -> tuple[int, int]:
        """(whole committed lines, byte offset after the last of them): torn and orphan lines excluded.

        Reads from the end only as far back as the last committed line: its id is the count of lines
        before it (ids are a dense sequence), so the cost does not grow with the journal's history."""
        size = os.fstat(fd).st_size
        window = _TAIL
        while True:
            start = max(0, size - window)
            data = _compat.pread(fd, size - start, start)
            end = data.rfind(b"\n") + 1  # after the last whole line (a torn tail is dropped)
            while end > 0:
                begin = data.rfind(b"\n", 0, end - 1) + 1
                if begin == 0 and start > 0:
                    break  # this line may begin before the window: look further back
                try:
                    doc = json.loads(data[begin:end - 1])
                    gen, ident = doc.get("gen", 0), int(doc["id"])
                except (ValueError, KeyError, TypeError):
                    gen, ident = committed_gen + 1, 0  # a damaged line counts as never committed
                if gen <= committed_gen:
                    return ident, start + end
                end = begin
            if start == 0:
                return 0, 0
            window *= 4

    def end(self, committed_gen: int) -> int:
        """The byte offset after the last committed line (where a follower starts to read only what comes
        next), found from the end of the journal: the cost does not grow with its history."""
        try:
            fd = os.open(self.path(), os.O_RDONLY | _compat.O_CLOEXEC)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StoreError(f"cannot open log {self.path()}: {exc.strerror or exc}") from exc
        try:
            return self._scan(fd, committed_gen)[1]
        finally:
            os.close(fd)

    def append(self, entries: list[tuple[str, dict]], gen: int, committed_gen: int) -> list[str]:
        """Append ``(log name, document)`` pairs for generation ``gen`` with one write; durable when it
        returns. Lines of generations beyond ``committed_gen`` (an action that never committed) go first."""
        if not entries:
            return []
        for name, _ in entries:
            self.path(name)
        path = self.path()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _compat.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open log {path}: {exc.strerror or exc}") from exc
        try:
            st = os.fstat(fd)
            sig = (st.st_ino, st.st_size, st.st_mtime_ns)
            cached = self._cache
            if cached is not None and cached[0] == sig and cached[3] <= committed_gen:
                count, end = cached[1], cached[2]
            else:
                count, end = self._scan(fd, committed_gen)
                if end < st.st_size:
                    self._set_aside(fd, end, st.st_size)
            ids = []
            lines = []
            for name, doc in entries:
                count += 1
                doc["id"] = f"{count:09d}"
                ids.append(doc["id"])
                lines.append(json.dumps(dict(doc, log=name, gen=gen), separators=(",", ":"), sort_keys=True))
            payload = ("\n".join(lines) + "\n").encode()
            _compat.pwrite(fd, payload, end)
            if end + len(payload) < st.st_size:
                os.ftruncate(fd, end + len(payload))
            os.fsync(fd)
            st = os.fstat(fd)
            self._cache = ((st.st_ino, st.st_size, st.st_mtime_ns), count, end + len(payload), gen)
            return ids
        except OSError as exc:
            self._cache = None
            raise StoreError(f"cannot append to log {path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)

    def _set_aside(self, fd: int, end: int, size: int) -> None:
        """Before the next append cuts the tail off: lines of actions that never committed go silently; a
        damaged tail (not JSON: a disk error, a hand edit) is copied to ``journal.jsonl.damaged`` and named
        on stderr, so nothing is lost without a word."""
        tail = _compat.pread(fd, size - end, end)
        damaged = False
        for line in tail.split(b"\n")[:-1]:
            try:
                json.loads(line)
            except ValueError:
                damaged = True
                break
        if not damaged:
            return
        aside = self.path() + ".damaged"
        with open(aside, "ab") as f:
            f.write(tail if tail.endswith(b"\n") else tail + b"\n")
            f.flush()
            os.fsync(f.fileno())
        _compat.chmod(aside, 0o600)
        sys.stderr.write(f"cmklab: warning: {size - end} damaged byte(s) at the end of {self.path()} were set "
                         f"aside in {aside}; every committed line before them is kept\n")

    def signature(self) -> tuple | None:
        try:
            st = os.stat(self.path())
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)
