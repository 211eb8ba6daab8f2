"""The panes' tab bar: every tab reachable at any width.

Textual's ``Tabs`` lays its tabs out in one row and hides what runs past the edge: twelve panes take 89
columns, so on an 80- or 85-column terminal (a browser tab, a classroom laptop) the last tabs were neither
shown nor clickable. This bar scrolls sideways when its tabs do not fit: a one-line scrollbar appears under
it (drag it, or click its track), the mouse wheel over the bar scrolls it, and the active tab is kept in
sight (``Tabs`` scrolls to it). When every tab fits, it is the two lines it always was.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Tabs


class PaneTabs(Tabs):
    DEFAULT_CSS = """
    PaneTabs {
        height: auto;
        & > #tabs-scroll {
            height: auto;
            overflow-x: auto;
            overflow-y: hidden;
            scrollbar-size-horizontal: 1;
        }
    }
    """

    STEP = 8
    """Columns one notch of the wheel scrolls the bar."""

    def _wheel(self, event: events.MouseEvent, direction: int) -> None:
        bar = self.query_one("#tabs-scroll")
        if bar.max_scroll_x > 0:
            bar.scroll_to(x=bar.scroll_x + direction * self.STEP, animate=False)
            event.stop()

    def _on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, +1)

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, -1)


__all__ = ["PaneTabs"]
