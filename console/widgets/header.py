"""The header line: the simulated clock and the store, never the wall clock (snapshots stay stable)."""

from __future__ import annotations

from textual.markup import escape
from textual.widgets import Static


class ClockHeader(Static):
    """``cmklab │ 2026-05-01 09:00 UTC │ store ~/.local/share/cmklab/state.json │ rules seeds``."""

    def show(self, *, now: str, store: str, profile: str, read_only: bool, busy: str = "") -> None:
        clock = now[:16].replace("T", " ") + " UTC"
        parts = [
            "[b]cmklab[/b]",
            f"[$text-accent]◷ {escape(clock)}[/]",
            f"store [b]{escape(store)}[/b]",
            f"rules {escape(profile)}",
        ]
        if read_only:
            parts.append("[$text-warning][b]READ-ONLY[/b][/]")
        self.update(" │ ".join(parts))
