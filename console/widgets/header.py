"""The header line: the simulated clock and the store, never the wall clock (snapshots stay stable)."""

from __future__ import annotations

from textual.widgets import Static

from .util import escape


def profile_lines(current: str) -> list[str]:
    """What each rules profile means (the 2020-21 documentation's rules, or today's Azure), current first."""
    from engine.rules import PROFILES

    out = []
    for name, rules in sorted(PROFILES.items(), key=lambda kv: kv[0] != current):
        mark = " (this home)" if name == current else ""
        out.append(f"{name}{mark}: {rules.description}")
    return out


class ClockHeader(Static):
    """``cmklab │ 2026-05-01 09:00 UTC │ store ~/.local/share/cmklab/state.json │ rules seeds``; a console served to
    a browser names its lab instead of the store's path on the server (``lab trainee-03``)."""

    _shown_text = ""

    def show(self, *, now: str, store: str, profile: str, read_only: bool, busy: str = "",
             lab: str | None = None) -> None:
        clock = now[:16].replace("T", " ") + " UTC"
        parts = [
            "[b]cmklab[/b]",
            f"[$text-accent]◷ {escape(clock)}[/]",
            f"lab [b]{escape(lab)}[/b]" if lab else f"store [b]{escape(store)}[/b]",
            f"rules {escape(profile)}",
        ]
        if read_only:  # next to the name, in sight at any width (the store's path is what a narrow terminal cuts)
            parts.insert(1, "[$text-warning][b]READ-ONLY[/b][/]")
        text = " │ ".join(parts)
        if text == self._shown_text:
            return
        self._shown_text = text
        self.update(text, layout=False)  # one line of fixed height: no layout of the screen
        where = "the lab" if lab else "the store"
        self.tooltip = (f"The simulated clock (never the wall clock) and {where} this console works on.\n"
                        "Rules profile, chosen when the home is created (--profile NAME):\n"
                        + "\n".join(profile_lines(profile)))
