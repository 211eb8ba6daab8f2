"""Small helpers shared by screens and dialogs."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.content import Content
from textual.widgets import Input, Static, TextArea


def freeze_cursors(screen: Screen) -> None:
    """In snapshot mode (``app.frozen``) text cursors do not blink, so screenshots are byte-identical."""
    if getattr(screen.app, "frozen", False):
        for widget in screen.query(Input):
            widget.cursor_blink = False
        for area in screen.query(TextArea):
            area.cursor_blink = False


def dialog_opened(screen: Screen) -> None:
    """What every dialog does as it opens: :func:`freeze_cursors`, and the toasts of what came before it are
    cleared: the dialog is where the eyes go, and at 80x24 they covered half of it (the what-if of a key's
    disable, under the toasts of the VM created a moment before). What the dialog's own flow says comes after."""
    freeze_cursors(screen)
    screen.app.clear_notifications()


class KeyScroll(VerticalScroll):
    """A scrolling panel read with the keys the rest of the console uses: j/k (and the arrows) a line, g/G the top and
    the bottom. Each key moves it at once, from where the keys before it left it: Textual's own line scroll is
    applied after the next refresh, from the position before it, so keys that arrive together (typed quickly, or
    a held key in a terminal that sends them in one read) moved it by one line in all."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    def action_scroll_down(self) -> None:
        self.scroll_down(immediate=True)

    def action_scroll_up(self) -> None:
        self.scroll_up(immediate=True)


def escape(text: object) -> str:
    """``text`` for Textual content markup, shown as it is: every ``[`` escaped.

    Textual's own ``textual.markup.escape`` escapes only a ``[`` that looks like a tag: a lone ``[`` typed in the
    filter then read the tag after it as text (``/[[/]``), ``[/`` was a closing tag that matched none (the
    console crashed), and ``[$text-error]`` a style. A backslash just before a tag of the markup around the text
    would still escape that tag: where the text can end in one (what the user types), say it with
    ``Content.from_markup(template, name=text)`` instead, whose values are never read as markup."""
    return str(text).replace("[", "\\[")


def hold_keys(screen) -> None:
    """A dialog asks the engine before it goes on (a form's check, then its action's what-if and confirmation): the keys
    typed meanwhile wait, in order, for what comes next (``CmkApp.hold_keys_for_dialog``), released by the
    confirmation once it has its focus, or by :func:`release_keys`."""
    hold = getattr(screen.app, "hold_keys_for_dialog", None)
    if hold is not None:
        hold()


def release_keys(screen) -> None:
    """A dialog has its focus: the keys typed since the action that opens it was asked for, held meanwhile by the
    console's app (``CmkApp.hold_keys_for_dialog``), go to it now (an app that holds none has nothing to do)."""
    release = getattr(screen.app, "release_keys", None)
    if release is not None:
        release()


class WrappedStatic(Static):
    """Static text drawn for the width the layout gives it (:meth:`draw`), once per width: the layout asks for the
    height at a width before anything is drawn, so the text is wrapped for that width from the first frame."""

    _width: int | None = None
    _drawn: tuple[int | None, Content] | None = None

    def draw(self, width: int | None) -> Content:
        raise NotImplementedError

    def get_content_height(self, container, viewport, width: int) -> int:
        if width and width != self._width:
            self._width = width
            self._layout_cache.clear()  # Textual's cached visual was drawn for another width
        return super().get_content_height(container, viewport, width)

    def render(self) -> Content:
        width = self._width or self.content_region.width or None
        if self._drawn is None or self._drawn[0] != width:
            self._drawn = (width, self.draw(width))
        return self._drawn[1]
