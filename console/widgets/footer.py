"""The footer: the keys that apply here, cut to the terminal's width.

Textual's footer lays every key out in one row and lets the row run past the edge: on an 80-column
terminal the last keys vanish (``q quit`` among them) and a stray character of the hidden ones shows
after the palette key. This footer keeps the keys that fit, in order, and ends with ``… N more ?``
(click it or press ``?``: the help lists every key) when some do not fit. Nothing spills.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

if TYPE_CHECKING:
    from textual.screen import Screen

MORE_KEY = "question_mark"
"""The key the ``… more`` item stands for: the help screen, which lists every key."""


def key_width(key_display: str, description: str) -> int:
    """Cells a compact footer key takes: key, space, description, then its right margin."""
    return cell_len(key_display) + (1 + cell_len(description) if description else 0) + 1


def more_text(hidden: int) -> str:
    return f"{hidden} more"


def fit_keys(items: list[tuple[str, str]], width: int) -> tuple[int, int]:
    """How many of ``items`` (key display, description) fit in ``width`` cells, and how many do not.

    When they do not all fit, room is kept for the ``… N more`` item that says where the rest are.
    """
    total = sum(key_width(k, d) for k, d in items)
    if total <= width:
        return len(items), 0
    used = 0
    for n, (k, d) in enumerate(items):
        need = key_width(k, d)
        if used + need + key_width("…", more_text(len(items) - n - 1)) > width:
            return n, len(items) - n
        used += need
    return len(items), 0  # pragma: no cover - the loop returns when the total does not fit


class KeyFooter(Footer):
    """A compact footer that never runs past the edge; ``… N more`` points at ``?`` for the rest."""

    def __init__(self, **kwargs) -> None:
        super().__init__(compact=True, **kwargs)
        self._laid_out_width = 0
        self.hidden_keys: list[str] = []
        """Keys of the bindings that did not fit (the help screen lists them)."""
        self._drawn: tuple | None = None
        """The signature of what the keys show (``_signature``): a binding refresh that changes none is skipped."""
        self._covered = False
        self._checking = False
        self._check_again = False
        self._planned: tuple | None = None

    @property
    def covered(self) -> bool:
        """Something lies over the footer (a prompt): its keys are not rebuilt until it shows again."""
        return self._covered

    @covered.setter
    def covered(self, value: bool) -> None:
        was, self._covered = self._covered, value
        if was and not value and self._bindings_ready and self.is_attached:
            self._check_soon()

    def _plan(self) -> tuple[list, Any, int]:
        """What the footer draws now: the shown bindings (binding, enabled, tooltip), the palette's entry, and
        the width it was fitted to."""
        active = self.screen.active_bindings
        shown = []
        seen_actions: set[str] = set()
        for _node, binding, enabled, tooltip in active.values():
            if not binding.show or binding.action in seen_actions:
                continue
            seen_actions.add(binding.action)
            shown.append((binding, enabled, tooltip))
        palette = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        width = self.size.width or self.screen.size.width or self.app.size.width
        return shown, palette, width

    @staticmethod
    def _signature(plan: tuple[list, Any, int]) -> tuple:
        shown, palette, width = plan
        keys = tuple((b.key, b.key_display, b.description, b.action, enabled, tooltip) for b, enabled, tooltip in shown)
        pal = None
        if palette is not None:
            _node, b, enabled, tooltip = palette
            pal = (b.key, b.key_display, b.description, enabled, b.tooltip)
        return keys, pal, width

    def bindings_changed(self, screen: Screen) -> None:
        """Rebuild the keys only when what they show changed: moving the focus (into the filter prompt, say)
        publishes the bindings again, and rebuilding the footer lays out the whole screen."""
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen:
            self._check_soon()

    def _check_soon(self) -> None:
        """Compare what the keys show with what they should show, once the queue gets there; one check at a time
        (a check asked for while one rebuilds the keys runs again once it is done)."""
        if self._checking:
            self._check_again = True
            return
        self._checking = True
        self.call_later(self._recompose_if_changed)  # in the footer's own queue: its keys bind to it

    async def _recompose_if_changed(self) -> None:
        try:
            while True:
                self._check_again = False
                if not self._covered and self.is_attached:
                    plan = self._plan()
                    if self._drawn is None or self._signature(plan) != self._drawn:
                        self._planned = plan  # compose draws it (the bindings are not gathered twice)
                        try:
                            await self.recompose()
                        finally:
                            self._planned = None
                if not self._check_again:
                    break
        finally:
            self._checking = False

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        plan, self._planned = self._planned or self._plan(), None
        self._drawn = self._signature(plan)
        shown, palette, width = plan
        self._laid_out_width = width
        if palette is not None:
            _node, binding, _enabled, _tooltip = palette
            # docked right, after a one-cell border, no margin in the compact style
            width -= 1 + cell_len(self.app.get_key_display(binding)) + 1 + cell_len(binding.description)
        # The keys are not bound to the footer's ``compact`` (Textual's footer binds each with ``data_bind``): this
        # footer is always compact, as a key is unless told otherwise, and a binding leaves an entry pointing at the
        # key on the footer that is removed only when ``compact`` changes, so every rebuild kept the keys it
        # replaced alive (Textual issue 6666): ~1.8 MB for each round of the twelve panes.
        items = [(self.app.get_key_display(b), b.description) for b, _e, _t in shown]
        fit, hidden = fit_keys(items, max(width, 0))
        self.hidden_keys = [b.key for b, _e, _t in shown[fit:]]
        for binding, enabled, tooltip in shown[:fit]:
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                            disabled=not enabled, tooltip=tooltip)
        if hidden:
            names = ", ".join(f"{self.app.get_key_display(b)} {b.description}" for b, _e, _t in shown[fit:])
            yield FooterKey(MORE_KEY, "…", more_text(hidden), "help", classes="-more",
                            tooltip=f"not shown here: {names} (? lists every key)")
        if palette is not None:
            _node, binding, enabled, tooltip = palette
            yield FooterKey(binding.key, self.app.get_key_display(binding), binding.description, binding.action,
                            classes="-command-palette", disabled=not enabled,
                            tooltip=binding.tooltip or binding.description)

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready and event.size.width != self._laid_out_width:
            self.call_after_refresh(self.recompose)


__all__ = ["KeyFooter", "fit_keys"]
