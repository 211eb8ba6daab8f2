"""The ``?`` help screen: what the panes are and every key, from the same catalogue as the bindings."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label

from ..actions import OPS
from ..widgets.util import WrappedStatic
from ..widgets.footer import KeyFooter
from ..widgets.util import KeyScroll, escape
from .panes import NUMBER_KEYS, PANES

GLOBAL_KEYS = [
    ("?", "this help"),
    ("/", "filter the rows (regex; !text excludes; esc clears)"),
    (":", "jump to a pane by name (:vms, :des, :keys, :log ...)"),
    ("↑ ↓  k j", "previous / next row"),
    ("g G  home end", "first / last row (pgup pgdn: a page)"),
    ("[ ]", "previous / next pane (or click a tab)"),
    (" ".join(NUMBER_KEYS), " · ".join(NUMBER_KEYS.values())),
    ("enter", "focus the detail panel (j k scroll it)"),
    ("esc", "back: close the filter or pane prompt, leave the detail for the table, clear the filter"),
    ("v", "show or hide the detail panel"),
    ("t", "detail / dependencies"),
    ("+", "advance the simulated clock"),
    ("ctrl+p", "command palette: every action, panes, themes"),
    ("mouse", "click a tab, a row (double click: detail), a footer key"),
    ("q", "quit (the state is kept in the store)"),
]

KEY_NAMES = {"plus": "+"}


LAB_KEYS = [("l  :lab", "workshop: show the Lab (the step, its hints and objectives)"),
            (">", "workshop: next step (from any pane)"), ("<", "workshop: previous step")]


KEY_COLUMN = 13
"""Width of the key column; a description starts two columns after it."""


def _hanging(head: str, head_width: int, text: str, width: int | None) -> list[str]:
    """``head`` (markup, ``head_width`` cells) then ``text`` (plain), wrapped to ``width`` cells with the lines after
    the first under the text's start, not under the head (a key's description, a profile's meaning)."""
    if width is None or width <= head_width + 10:
        return [head + escape(text)]
    import textwrap

    lines = textwrap.wrap(text, width - head_width, break_on_hyphens=False) or [""]
    return [head + escape(lines[0])] + [" " * head_width + escape(line) for line in lines[1:]]


def help_text(current: str | None = None, lab: bool = False, profile: str | None = None,
              width: int | None = None) -> str:
    """The help as markup; ``width``: the cells it is drawn in, so that a key's description that wraps stays in
    its column (it went back under the keys at 80 columns)."""
    out = ["[b]What this is[/b]",
           "Customer-managed keys for disks, simulated with real envelope encryption: each disk's data key is "
           "wrapped by a Key Vault key through a disk encryption set. Disable, delete or revoke the key and the VMs "
           "using it stop (ultra disks keep running until deallocated). Every destructive action shows the engine's "
           "what-if first; every action is logged as its cmklab az command (pane: log).", ""]
    if profile is not None:
        from ..widgets.header import profile_lines

        out += ["[b]Rules profile[/b] [dim](the header's \"rules\"; chosen when the home is created: --profile NAME)[/dim]",
                *[ln for line in profile_lines(profile) for ln in _hanging("  ", 4, line, width)], ""]
    out.append("[b]Everywhere[/b]")
    head = KEY_COLUMN + 4
    for key, text in GLOBAL_KEYS + (LAB_KEYS if lab else []):
        out += _hanging(f"  [$text-accent]{escape(f'{key:>{KEY_COLUMN}}')}[/]  ", head, text, width)
    panes = sorted(PANES, key=lambda p: p.id != current)
    for pane in panes:
        ops = [op for op in OPS if op.key and pane.id in op.panes]
        if not ops:
            continue
        mark = "  [$text-success](here)[/]" if pane.id == current else ""
        out += ["", f"[b]{escape(pane.title)}[/b] [dim](:{pane.id})[/dim]{mark}"]
        seen = set()
        for op in ops:
            if (op.key, op.label) in seen:
                continue
            seen.add((op.key, op.label))
            key = KEY_NAMES.get(op.key, op.key)
            out += _hanging(f"  [$text-accent]{escape(f'{key:>{KEY_COLUMN}}')}[/]  ", head, op.label, width)
    return "\n".join(out)


class HelpText(WrappedStatic):
    """The help, drawn for the width it has (:func:`help_text`): a key's description that wraps stays in its
    column, at any terminal size."""

    def __init__(self, current: str | None, lab: bool, profile: str | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._args = (current, lab, profile)
        self._width: int | None = None
        self._drawn: tuple[int | None, Content] | None = None

    def draw(self, width: int | None) -> Content:
        return Content.from_markup(help_text(*self._args, width=width))


class HelpScreen(ModalScreen[None]):
    """Keys for every pane; escape, q or ? closes; it scrolls as the tables move (j k, g G, arrows, pages)."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", show=True)]

    def __init__(self, current: str | None = None, lab: bool = False, profile: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.current = current
        """The pane the help was opened from (its keys are marked)."""
        self.lab = lab
        """A workshop is being played: its step keys are listed."""
        self.profile = profile
        """The rules profile of the home (what it means is explained)."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="help"):
            yield Label("cmklab console: help and key bindings", id="dialog-title")
            with KeyScroll(id="help-scroll"):
                yield HelpText(self.current, self.lab, self.profile, id="help-text")
        yield KeyFooter()  # its own keys: the main screen's footer under it is hidden

    def action_close(self) -> None:
        self.dismiss(None)
