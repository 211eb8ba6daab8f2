"""A virtual table: rows are keys, cells are rendered only for the lines on screen.

Textual's ``DataTable`` builds every row up front; at 10,000 resources that costs more than the rest
of the first frame. This table holds only the list of row keys and asks a callback for the cells of
the rows it draws (cached until the data changes), so its cost grows with the screen, not the store.
Columns have fixed widths (one may be flexible) and a priority: on a narrow terminal the
least important columns are dropped first.
"""

from __future__ import annotations

from engine._light import dataclass
from typing import Callable, Hashable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

STYLE_NAMES = ("ok", "bad", "warn", "dim", "accent", "bold")


@dataclass(frozen=True)
class Column:
    label: str
    width: int
    """Cells wide; 0 makes the column flexible (it takes the space left, at least ``min_width``)."""
    priority: int = 0
    """0 always shows; higher numbers are dropped first when the table is too narrow."""
    min_width: int = 10
    justify: str = "left"


Cell = "str | tuple[str, str]"
"""A cell: text, or (text, style name) with a style name from ``STYLE_NAMES``."""


def _fit(text: str, width: int, justify: str = "left") -> str:
    if width <= 0:
        return ""
    n = cell_len(text)
    if n > width:
        out = ""
        for ch in text:
            if cell_len(out + ch) > width - 1:
                break
            out += ch
        return out + "…" + " " * (width - 1 - cell_len(out))
    pad = " " * (width - n)
    return pad + text if justify == "right" else text + pad


class VirtualTable(ScrollView, can_focus=True):
    """Rows by key; cells on demand. Posts ``Highlighted`` when the cursor moves; Enter (or a double click) on a row
    calls ``on_select`` with its key, at once."""

    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        height: 1fr;
        overflow-x: hidden;
        overflow-y: auto;
        & > .vt--header { text-style: bold; background: $panel; color: $foreground; }
        & > .vt--cursor { background: $block-cursor-background; color: $block-cursor-foreground; text-style: bold; }
        & > .vt--cursor-blurred { background: $block-cursor-blurred-background; color: $foreground; }
        & > .vt--odd { background: $surface-lighten-1 30%; }
        & > .vt--ok { color: $text-success; }
        & > .vt--bad { color: $text-error; text-style: bold; }
        & > .vt--warn { color: $text-warning; }
        & > .vt--dim { color: $text-muted; }
        & > .vt--accent { color: $text-accent; }
        & > .vt--bold { text-style: bold; }
        & > .vt--empty { color: $text-muted; text-style: italic; }
    }
    """

    COMPONENT_CLASSES = {
        "vt--header", "vt--cursor", "vt--cursor-blurred", "vt--odd", "vt--empty",
        *(f"vt--{n}" for n in STYLE_NAMES),
    }

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=False, init=False)

    class Highlighted(Message):
        """The cursor moved to another row (``key`` None when the table is empty)."""

        def __init__(self, table: "VirtualTable", key: Hashable | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> "VirtualTable":
            return self.table

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None,
                 on_select: Callable[[Hashable], None] | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.on_select = on_select
        """Called with the row's key on Enter (or a double click), in the key's own turn: what it opens (the detail)
        has the focus before the next key is handled. A ``Selected`` message was handled only after it had bubbled
        up to the screen, behind the key: a ``/`` typed right after Enter opened the filter, and then the detail
        took the focus from it (the letters typed next went to the detail)."""
        self.columns: list[Column] = []
        self.keys: list[Hashable] = []
        self._cells: Callable[[Hashable], Sequence] = lambda key: []
        self._cache: dict[Hashable, Sequence] = {}
        self._index: dict[Hashable, int] | None = {}
        """{key: position} when the caller built it; else a key is looked up in ``keys`` (C speed)."""
        self.empty_text = "nothing here"
        self._vt_layout: tuple | None = None

    # ---- data ---------------------------------------------------------------------------------

    def set_source(self, columns: list[Column], keys: list[Hashable], cells: Callable[[Hashable], Sequence], *,
                   cursor_key: Hashable | None = None, empty_text: str = "nothing here", at_end: bool = False) -> None:
        """Show ``keys`` with ``columns``; ``cells(key)`` gives a row's cells when it is drawn."""
        self.columns = list(columns)
        self._cells = cells
        self.empty_text = empty_text
        self._set_keys(keys, cursor_key=cursor_key, at_end=at_end, reset_scroll=True)

    def update_rows(self, keys: list[Hashable] | None = None, *, follow_end: bool = False,
                    index: dict[Hashable, int] | None = None, cursor_key: Hashable | None = None,
                    at_end: bool = False) -> None:
        """The data changed: forget cached cells, keep the cursor on the same key when it still exists
        (``cursor_key`` when the table had no row under its cursor). ``index``: ``{key: position}`` of
        ``keys``, built by the caller (a thread, for a big table), so that this costs no pass over them."""
        current = self.cursor_key if self.cursor_key is not None else cursor_key
        was_at_end = at_end or (follow_end and self.cursor >= len(self.keys) - 1)
        self._set_keys(self.keys if keys is None else keys, cursor_key=current, at_end=was_at_end, index=index)

    def _set_keys(self, keys: list[Hashable], *, cursor_key: Hashable | None, at_end: bool = False,
                  reset_scroll: bool = False, index: dict[Hashable, int] | None = None) -> None:
        self.keys = keys if isinstance(keys, list) else list(keys)
        self._index = index
        self._cache.clear()
        self._set_virtual_size(Size(self.size.width or 80, len(self.keys) + 1))
        if at_end and self.keys:
            target = len(self.keys) - 1
        elif cursor_key is not None and (found := self.position(cursor_key)) is not None:
            target = found
        elif reset_scroll:
            target = 0
        else:
            target = min(self.cursor, max(len(self.keys) - 1, 0))
        if reset_scroll:
            self.scroll_to(y=0, animate=False, immediate=True)
        self.set_reactive(VirtualTable.cursor, target)
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_key))

    @property
    def cursor_key(self) -> Hashable | None:
        if 0 <= self.cursor < len(self.keys):
            return self.keys[self.cursor]
        return None

    def position(self, key: Hashable) -> int | None:
        """Where ``key`` is in the rows (None if it is not there)."""
        if self._index is not None:
            return self._index.get(key)
        try:
            return self.keys.index(key)
        except ValueError:
            return None

    def move_to(self, key: Hashable) -> bool:
        i = self.position(key)
        if i is None:
            return False
        self.cursor = i
        return True

    def row_cells(self, key: Hashable) -> Sequence:
        cells = self._cache.get(key)
        if cells is None:
            cells = self._cache[key] = self._cells(key)
            if len(self._cache) > 2000:
                self._cache.pop(next(iter(self._cache)))
        return cells

    def row_text(self, key: Hashable) -> str:
        return "  ".join(c if isinstance(c, str) else c[0] for c in self.row_cells(key))

    # ---- cursor -------------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        top = int(self.scroll_y)
        self._scroll_to_cursor()
        if int(self.scroll_y) == top:
            self._refresh_rows(old, new)  # only the two rows whose look changed
        else:
            self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_key))

    def _refresh_rows(self, *rows: int) -> None:
        """Redraw these rows (positions in ``keys``) alone, where they are on screen."""
        top = int(self.scroll_y)
        width = self.scrollable_content_region.width or self.size.width
        regions = [Region(0, row - top + 1, width, 1) for row in rows if 0 <= row - top < self._body_height()]
        if regions:
            self.refresh(*regions)

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.keys) - 1)) if self.keys else 0

    def _body_height(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self) -> None:
        if not self.is_mounted:
            return
        h = self._body_height()
        top = int(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + h:
            self.scroll_to(y=self.cursor - h + 1, animate=False, immediate=True)

    def action_cursor(self, delta: int) -> None:
        self.cursor = self.cursor + delta

    def action_page(self, direction: int) -> None:
        self.cursor = self.cursor + direction * self._body_height()

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self.keys) - 1

    def action_select(self) -> None:
        if self.cursor_key is not None and self.on_select is not None:
            self.on_select(self.cursor_key)

    def on_click(self, event: events.Click) -> None:
        row = int(self.scroll_y) + event.y - 1
        self.screen.set_focus(self)  # at once (``focus`` waits for the queue): a double click's selection moves it on
        if event.y >= 1 and 0 <= row < len(self.keys):
            self.cursor = row
            if event.chain >= 2:
                self.action_select()

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        """The table sets its own virtual size (one line per row): a layout of the screen passes the region's
        instead, which ``ScrollView`` takes for a change and redraws every row for. Only a new size does."""
        return super()._size_updated(size, self.virtual_size, container_size, layout)

    def on_resize(self, event: events.Resize) -> None:
        self._set_virtual_size(Size(event.size.width, len(self.keys) + 1))
        self._scroll_to_cursor()

    def _set_virtual_size(self, size: Size) -> None:
        """One line per row (and the header). The scroll bars learn it at once: ``_size_updated`` (above) hides the
        change from ``ScrollView``'s, which alone refreshed them, and a table grown past the screen without a
        resize had no scroll bar, so it could not scroll (its cursor went off the screen until the terminal or
        the panel was resized)."""
        if size == self.virtual_size:
            return
        self.virtual_size = size
        if self.is_mounted and self.container_size:
            self._scroll_update(size)

    # Widget's own focus handlers redraw the whole widget; only the cursor row's colour says whether the table
    # has the focus, so they are replaced by ones that redraw that row (opening the filter prompt redrew every
    # row of the table on the key press).
    def _on_focus(self, event: events.Focus) -> None:
        event.prevent_default()  # not Widget's
        self.has_focus = True
        self._refresh_rows(self.cursor)
        if self.parent is not None:
            self.parent.post_message(events.DescendantFocus(self))

    def _on_blur(self, event: events.Blur) -> None:
        event.prevent_default()
        self.has_focus = False
        self._refresh_rows(self.cursor)
        if self.parent is not None:
            self.parent.post_message(events.DescendantBlur(self))

    # ---- drawing ------------------------------------------------------------------------------

    def layout_columns(self, width: int) -> list[tuple[int, Column, int]]:
        """(index, column, width) of the columns that fit in ``width``, dropping low-priority ones first."""
        cache_key = (width, id(self.columns))
        cached = getattr(self, "_vt_layout", None)
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        out = self._layout_columns(width)
        self._vt_layout = (cache_key, out)
        return out

    def _layout_columns(self, width: int) -> list[tuple[int, Column, int]]:
        cols = list(enumerate(self.columns))

        def need(cs) -> int:
            return sum((c.width or c.min_width) + 1 for _, c in cs) + 1

        dropped = []
        while need(cols) > width:
            droppable = [x for x in cols if x[1].priority > 0]
            if not droppable:
                break
            worst = max(droppable, key=lambda x: (x[1].priority, x[0]))
            cols.remove(worst)
            dropped.append(worst)
        for col in reversed(dropped):  # put back what fits in the space left, most important first
            trial = sorted(cols + [col])
            if need(trial) <= width:
                cols = trial
        fixed = sum(c.width + 1 for _, c in cols if c.width) + 1
        flex = [i for i, c in cols if not c.width]
        rest = max(width - fixed - len(flex), 0)
        out = []
        for i, c in cols:
            if c.width:
                out.append((i, c, c.width))
            else:
                share = max(rest // max(len(flex), 1), c.min_width)
                out.append((i, c, share))
        return out

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        layout = self.layout_columns(width)
        if y == 0:
            style = base + self.get_component_rich_style("vt--header")
            text = " " + " ".join(_fit(c.label, w, c.justify) for _, c, w in layout)
            return Strip([Segment(_fit(text, width), style)], width)
        row = int(self.scroll_y) + y - 1
        if row >= len(self.keys):
            if row == 0 and not self.keys:
                style = base + self.get_component_rich_style("vt--empty")
                return Strip([Segment(_fit("  " + self.empty_text, width), style)], width)
            return Strip.blank(width, base)
        key = self.keys[row]
        cells = self.row_cells(key)
        row_style = base
        if row % 2:
            row_style = row_style + self.get_component_rich_style("vt--odd")
        cursor_style: Style | None = None
        if row == self.cursor:
            cursor_style = self.get_component_rich_style("vt--cursor" if self.has_focus else "vt--cursor-blurred")
            row_style = row_style + cursor_style
        segments = [Segment(" ", row_style)]
        used = 1
        for n, (i, col, w) in enumerate(layout):
            cell = cells[i] if i < len(cells) else ""
            text, sname = (cell, "") if isinstance(cell, str) else (cell[0], cell[1])
            style = row_style
            if sname:
                style = row_style + self.get_component_rich_style(f"vt--{sname}")
                if cursor_style is not None:
                    style = style + Style(bgcolor=cursor_style.bgcolor)
            segments.append(Segment(_fit(str(text), w, col.justify), style))
            used += w
            if n < len(layout) - 1:
                segments.append(Segment(" ", row_style))
                used += 1
        if used < width:
            segments.append(Segment(" " * (width - used), row_style))
        return Strip(segments).crop(0, width)
