"""The append-only journal beside the state (``journal.jsonl``): audit entries and events.

Audit entries and events only ever grow, and most commands (``az keyvault key show`` writes a
``KeyGet`` audit entry) change nothing else: appending one line is O(1), where rewriting the
state would be O(state). One action appends its audit entries and events with one write.

How the journal stays in step with the state (schema 3; ``store.tinystore`` for the commit log):

* every line carries ``gen``, the state generation it belongs to: the generation its action's commit
  produced, or the current one for an action that writes no state (a ``KeyGet``, the denied attempts
  of a refused action);
* an action that writes state carries its lines *inside its commit record* (``db/changes.log``), so
  one fsync'd append makes the documents and the journal lines durable together; they are copied into
  the journal right after, without an fsync of their own. A crash between the two leaves the journal
  behind the log: the next process that opens the store (or writes to it) appends the missing lines
  from the log's records, under the store's lock, and a reader that cannot write reads them from the
  log. Lines are matched by their ids, so none is lost and none written twice. Before a compaction
  empties the log, the journal is fsync'd;
* an action that writes no state appends its lines here with an fsync (they are in no commit record);
* lines whose ``gen`` is beyond the state's generation (written by schema 2, which wrote the journal
  before the state) are ignored by readers and truncated by the next append: an action that did not
  commit leaves no trace.

Ids are a dense sequence given here (``000000001`` on), so the same commands give the same ids
(seeded replays). A torn last line (a crash mid-write) is ignored and overwritten; a damaged tail (not
JSON) is set aside in ``journal.jsonl.damaged`` and named on stderr before the next append.
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
        self._path = os.path.join(home, "journal.jsonl")
        self._cache: tuple | None = None
        """(file signature, line count, end offset, gen of the last line) after this process's last append."""

    def path(self, name: str | tuple[str, ...] = "journal") -> str:
        """The journal's path (every log is in it); ``name`` (a log, or a tuple of logs) is checked."""
        for n in (name if isinstance(name, tuple) else (name,)):
            self._check(n)
        return self._path

    def _check(self, name: str) -> None:
        if name not in LOG_NAMES and name != "journal":
            raise ValueError(f"unknown log {name!r}; logs: {', '.join(LOG_NAMES)}")

    def read(self, name: str, committed_gen: int | None = None) -> list[dict]:
        """The documents of one log (``audit`` or ``events``), oldest first, of committed generations."""
        return self.read_since(name, committed_gen, 0)[0]

    def read_since(self, name: str, committed_gen: int | None, start: int) -> tuple[list[dict], int]:
        """The documents of one log from byte ``start`` on (the end of an earlier read), and the offset
        after the last line read: a reader that follows the journal reads only what is appended. An
        offset past the end (the journal was replaced) reads it all again."""
        docs, end, _last = self.read_from(name, committed_gen, start)
        return docs, end

    def read_from(self, name: str | tuple[str, ...], committed_gen: int | None,
                  start: int) -> tuple[list[dict], int, int | None]:
        """:meth:`read_since`, and the id of the last committed line read (of any log; None if none was).
        ``name`` a tuple of logs: the documents of each of them, in journal order, each keeping its ``log``."""
        self.path(name)
        path = self.path()
        try:
            with open(path, "rb") as f:
                if start > os.fstat(f.fileno()).st_size:
                    start = 0
                f.seek(start)
                raw = f.read()
        except FileNotFoundError:
            return [], 0, None
        except OSError as exc:
            raise StoreError(f"cannot read log {path}: {exc.strerror or exc}") from exc
        out = []
        last = None
        pos = 0
        several = isinstance(name, tuple)
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
                last = doc.get("id")
                if several:
                    if doc.get("log") in name:
                        out.append(doc)
                elif doc.pop("log", None) == name:
                    out.append(doc)
            pos = nl + 1
        try:
            last_id = None if last is None else int(last)
        except (TypeError, ValueError):
            last_id = None
        return out, start + pos, last_id

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
        return self._scan_file(committed_gen)[1]

    def _scan_file(self, committed_gen: int) -> tuple[int, int]:
        """:meth:`_scan` of the journal file: ``(0, 0)`` when there is none."""
        try:
            fd = os.open(self.path(), os.O_RDONLY | _compat.O_CLOEXEC)
        except FileNotFoundError:
            return 0, 0
        except OSError as exc:
            raise StoreError(f"cannot read log {self.path()}: {exc.strerror or exc}") from exc
        try:
            return self._scan(fd, committed_gen)
        finally:
            os.close(fd)

    def encode(self, entries: list[tuple[str, dict]], gen: int, last_id: int) -> tuple[list[str], list[bytes]]:
        """Give ``(log name, document)`` pairs their ids (after ``last_id``) and their journal lines for
        generation ``gen``: ``(ids, lines)``; nothing is written."""
        ids, lines = [], []
        # exactly json.dumps(..., separators=(",", ":"), sort_keys=True), through the C encoder directly: a
        # re-key of 2,000 disks encodes 2,000 lines, and json.dumps's per-call set-up would cost more
        encode = json.encoder.c_make_encoder({}, _not_json, json.encoder.encode_basestring_ascii, None, ":", ",",
                                             True, False, True)
        # a re-key's thousands of audit entries differ only in their ids: a line equal to the last one but for
        # its id is the last one's text with the new id put in its place (the same bytes as encoding it)
        last: tuple | None = None  # (log name, the last document (its id is replaced), text before its id, after)
        for name, doc in entries:
            if name not in LOG_NAMES:
                self._check(name)
            last_id += 1
            ident = doc["id"] = f"{last_id:09d}"
            ids.append(ident)
            if last is not None and last[0] == name:
                last[1]["id"] = ident
                if doc == last[1]:  # (its values are strings or None: equal values, equal text)
                    lines.append(last[2] + ident.encode("ascii") + last[3])
                    continue
            text = "".join(encode(dict(doc, log=name, gen=gen), 0)).encode("ascii")
            lines.append(text)
            last = None
            key = ident.encode("ascii")
            cut = text.find(b'"id":"' + key + b'"')
            if cut >= 0 and text.count(key) == 1 and all(type(v) is str or v is None for v in doc.values()):
                at = cut + len(b'"id":"')
                last = (name, dict(doc), text[:at], text[at + len(key):])
        return ids, lines

    def last_id(self, committed_gen: int, sig: tuple | None | bool = False) -> int:
        """The id of the journal's last committed line (0 for none): from what this process last wrote when
        the file is as it left it, else from a read of its tail. ``sig``: the file's :meth:`signature`, when
        the caller has just taken it (under the store's lock)."""
        if sig is False:
            sig = self.signature()
        cached = self._cache
        if sig is None:
            return 0
        if cached is not None and cached[0] == sig and cached[3] <= committed_gen:
            return cached[1]
        return self._scan_file(committed_gen)[0]

    def append(self, entries: list[tuple[str, dict]], gen: int, committed_gen: int) -> list[str]:
        """Append ``(log name, document)`` pairs for generation ``gen`` with one write; durable when it
        returns. Lines of generations beyond ``committed_gen`` (an action that never committed) go first."""
        if not entries:
            return []
        for name, _ in entries:
            self.path(name)
        ids: list[str] = []

        def lines(count: int) -> list[bytes]:
            new_ids, out = self.encode(entries, gen, count)
            ids.extend(new_ids)
            return out

        self.write(lines, committed_gen, gen, sync=True)
        return ids

    def write(self, lines, committed_gen: int, gen: int, *, sync: bool) -> None:
        """Append journal lines after the last committed one (a torn or orphan tail is cut off, a damaged
        one set aside first). ``lines``: the lines, or a function of the last committed id that gives them.
        ``sync``: fsync before returning (not for lines a commit record holds already)."""
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
            if callable(lines):
                lines = lines(count)
            if lines:
                payload = b"\n".join(lines) + b"\n"
                count = int(json.loads(lines[-1])["id"])
            else:
                payload = b""
            _compat.pwrite(fd, payload, end)
            if end + len(payload) < st.st_size:
                os.ftruncate(fd, end + len(payload))
            if sync:
                os.fsync(fd)
            st = os.fstat(fd)
            self._cache = ((st.st_ino, st.st_size, st.st_mtime_ns), count, end + len(payload), gen)
        except OSError as exc:
            self._cache = None
            raise StoreError(f"cannot append to log {path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)

    def sync(self) -> None:
        """fsync the journal (before the commit log that holds copies of its last lines is emptied)."""
        try:
            fd = os.open(self.path(), os.O_RDONLY | _compat.O_CLOEXEC)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot open log {self.path()}: {exc.strerror or exc}") from exc
        try:
            os.fsync(fd)
        except OSError as exc:
            raise StoreError(f"cannot sync log {self.path()}: {exc.strerror or exc}") from exc
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

    def written_signature(self) -> tuple | None:
        """The journal's :meth:`signature` as this object's last write left it (taken by that write: no stat), or
        as it is now if this object has not written it."""
        return self._cache[0] if self._cache is not None else self.signature()

    def signature(self) -> tuple | None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)


def _not_json(value):
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
