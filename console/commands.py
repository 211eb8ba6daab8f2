"""Command palette (Ctrl+P) provider: every action of the catalogue from anywhere, quick clock steps,
and the panes. Each entry calls the same code as its key: an action that applies to the selected row
names it; any other action that works on a resource asks which one (a list of the rows of its pane
it applies to), then goes to that pane, selects the row and acts on it.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .actions import OPS, QUICK_CLOCK, Call


class ConsoleCommands(Provider):
    """cmklab's actions, offered only where they make sense."""

    def _entries(self) -> list[tuple[str, Callable[[], object], str]]:
        from .kinds import display_name
        from .screens.main import MainScreen
        from .screens.panes import PANES

        app = self.app
        main = getattr(app, "main", None)
        if not isinstance(main, MainScreen):
            return []
        out: list[tuple[str, Callable[[], object], str]] = []
        for op in OPS:
            if op.target is None:
                if op.special and main.pane.id not in op.panes:
                    continue
                if op.key and ("*" in op.panes or main.pane.id in op.panes):
                    where = f"key {op.key.replace('plus', '+')}"
                elif op.key:
                    where = f"key {op.key} on the {' / '.join(op.panes)} pane"
                else:
                    where = "palette only"
                out.append((op.label, partial(main.run_op, op.id), where))
            elif main.op_applies(op, anywhere=True):
                name = display_name(op.target, main.target_of(op))
                key = f" (key {op.key})" if op.key and main.pane.id in op.panes else ""
                out.append((f"{op.label}: {name}", partial(main.run_op, op.id), f"on the selected row{key}"))
            else:
                pane = main.pane_for(op)
                key = f" (key {op.key} there)" if op.key else ""
                out.append((f"{op.label}…", partial(main.pick_and_run, op.id),
                            f"pick the {pane} row it acts on{key}"))
        for step in QUICK_CLOCK:
            out.append((f"Advance the clock by {step}",
                        partial(app.execute, Call("advance_clock", (step,)), f"Advance the clock by {step}"),
                        "runs every job that falls due"))
        out.append(("Import a twin of a subscription (az JSON files)…", app.open_import,
                    "cmklab import: the files cmklab import --capture-script writes"))
        for pane in PANES:
            out.append((f"Go to pane: {pane.id}", partial(main.action_pane, pane.id), pane.title))
        out.append(("Show or hide the detail panel", main.action_toggle_side, "key: v"))
        out.append(("Detail / dependencies", main.action_side_tab, "key: t"))
        out.append(("Help: keys for every pane", main.action_help, "key: ?"))
        if getattr(app, "lab", None) is not None:
            out.append(("Workshop: next step", partial(main.action_lab_step, 1), "key: >"))
            out.append(("Workshop: previous step", partial(main.action_lab_step, -1), "key: <"))
        return out

    async def discover(self) -> Hits:
        for name, callback, help_text in self._entries():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
