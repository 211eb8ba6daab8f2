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


def escape(text: object) -> str:
    """``text`` for Textual content markup, shown as it is: every ``[`` escaped.

    Textual's own ``textual.markup.escape`` escapes only a ``[`` that looks like a tag: a lone ``[`` typed in the
    filter then read the tag after it as text (``/[[/]``), ``[/`` was a closing tag that matched none (the
    console crashed), and ``[$text-error]`` a style. A backslash just before a tag of the markup around the text
    would still escape that tag: where the text can end in one (what the user types), say it with
    ``Content.from_markup(template, name=text)`` instead, whose values are never read as markup."""
    return str(text).replace("[", "\\[")
