"""The append-only journal beside the state file (``journal.jsonl``): audit entries and events.

Audit entries and events only ever grow, and most commands (``az keyvault key show`` writes a
``KeyGet`` audit entry) change nothing else: appending one line is O(1), where rewriting the
state file is O(state). Each line is one JSON document with a sequence id given here, under the
store's lock (the line number: monotonic across both logs), so the same commands give the same ids
(seeded replays). One action appends its audit entries and events with one write.

A line is written whole with one ``write`` and fsynced before the call returns. A torn last line
(a crash mid-write) is ignored on read and overwritten by the next append.
"""

from __future__ import annotations

import json
import os

from engine.errors import StoreError

LOG_NAMES = ("audit", "events")


class LogFiles:
    def __init__(self, home: str) -> None:
        self.home = home
        self._counts: dict[str, tuple[int, tuple]] = {}

    def path(self, name: str = "journal") -> str:
        if name not in LOG_NAMES and name != "journal":
            raise ValueError(f"unknown log {name!r}; logs: {', '.join(LOG_NAMES)}")
        return os.path.join(self.home, "journal.jsonl")

    def read(self, name: str) -> list[dict]:
        """The documents of one log (``audit`` or ``events``), oldest first."""
        self.path(name)
        path = self.path()
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot read log {path}: {exc.strerror or exc}") from exc
        out = []
        for line in raw.split(b"\n"):
            if not line:
                continue
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                break  # a torn last line: everything before it stands
            if doc.pop("log", None) == name:
                out.append(doc)
        return out

    def _valid_length(self, fd: int) -> tuple[int, int]:
        """(number of whole lines, byte length up to the end of the last whole line)."""
        size = os.fstat(fd).st_size
        if size == 0:
            return 0, 0
        data = os.pread(fd, size, 0)
        end = data.rfind(b"\n") + 1
        return data.count(b"\n", 0, end), end

    def append(self, entries: list[tuple[str, dict]]) -> list[str]:
        """Append ``(log name, document)`` pairs with one write (ids set here); durable when it returns."""
        if not entries:
            return []
        for name, _ in entries:
            self.path(name)
        path = self.path()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open log {path}: {exc.strerror or exc}") from exc
        try:
            st = os.fstat(fd)
            sig = (st.st_ino, st.st_size, st.st_mtime_ns)
            cached = self._counts.get("journal")
            if cached is not None and cached[1] == sig:
                count, end = cached[0], st.st_size
            else:
                count, end = self._valid_length(fd)
            ids = []
            lines = []
            for name, doc in entries:
                count += 1
                doc["id"] = f"{count:09d}"
                ids.append(doc["id"])
                lines.append(json.dumps(dict(doc, log=name), separators=(",", ":"), sort_keys=True))
            payload = ("\n".join(lines) + "\n").encode()
            os.pwrite(fd, payload, end)
            if end + len(payload) < st.st_size:
                os.ftruncate(fd, end + len(payload))
            os.fsync(fd)
            st = os.fstat(fd)
            self._counts["journal"] = (count, (st.st_ino, st.st_size, st.st_mtime_ns))
            return ids
        except OSError as exc:
            raise StoreError(f"cannot append to log {path}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)

    def signature(self) -> tuple | None:
        try:
            st = os.stat(self.path())
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)
