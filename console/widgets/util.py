"""Small helpers shared by screens and dialogs."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Input, TextArea


def freeze_cursors(screen: Screen) -> None:
    """In snapshot mode (``app.frozen``) text cursors do not blink, so screenshots are byte-identical."""
    if getattr(screen.app, "frozen", False):
        for widget in screen.query(Input):
            widget.cursor_blink = False
        for area in screen.query(TextArea):
            area.cursor_blink = False
