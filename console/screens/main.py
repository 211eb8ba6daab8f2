"""The main screen: pane tabs, the table of the current pane, the detail and dependency panel.

Only the current pane's rows are listed (keys only; cells are drawn as they scroll into view), so
the first frame costs the same on an empty store and on 10,000 resources. Every action goes
through :meth:`MainScreen.run_op`: form (validated as you type), the engine's what-if in a
confirmation when the action is destructive, then the engine call in a thread worker (the app's).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import re
import time
from typing import Any, Callable, Hashable

from textual import events, on, work
from textual.app import ComposeResult
from textual.actions import SkipAction
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, ProgressBar, Static, Tab, TabbedContent, TabPane, Tabs, TextArea
from textual.worker import get_current_worker

from engine.errors import EngineError
from engine.facade import changes_state, previewable

from ..cli.replay import az_lines
from ..modals.confirm import MAX_NAMES, ConfirmModal, TypedConfirmModal
from ..modals.form import DECLINED, Declined, FormModal
from ..widgets.deps import DepsTree
from ..widgets.detail import CauseText, DetailPanel
from ..widgets.footer import KeyFooter
from ..widgets.header import ClockHeader
from ..widgets.tabs import PaneTabs
from ..widgets.tidy import release_closed_screens
from ..widgets.util import escape, freeze_cursors
from ..widgets.vtable import VirtualTable
from .help import HelpScreen
from ..actions import OP_BY_ID, OPS, Op
from ..kinds import display_name, resolve
from ..rows import Ctx, Index
from .panes import NUMBER_KEYS, PANE_BY_ID, PANES, Pane, all_pane_names, find_pane, pane_menu


BIG_ROWS = 2000
"""A pane with more rows than this (or whose tables are not in memory yet) is listed, indexed and filtered
in a thread: the UI thread only swaps the finished lists in."""
PICK_MAX = 2000
"""Rows an action from the palette lists for the pick at most; with more, it goes to their pane to be picked
there (the palette matches every entry at each key typed: 0.5 s a key among 15,000 VMs)."""
FILTER_DEBOUNCE = 0.12
"""A big pane filters once typing pauses this long (seconds)."""
WARM_DELAY = 0.2
"""A big pane listed (or patched) and left unfiltered this long (seconds) has its search text drawn in a thread,
so that the first ``/`` narrows it at once: drawing 100,000 rows' text takes about two seconds."""
SLICE_SECONDS = 0.0005
"""A thread drawing a big pane's search text hands the interpreter back this often (``time.sleep(0)``): the UI
thread, which waits for the interpreter lock each time it wakes, then gets it within this time rather than the
interpreter's switch interval (5 ms), several times per key press."""
BUSY_DELAY = 0.3
"""A what-if lasting longer than this (seconds) says so under the table (a quick one does not flash)."""
SETTLE_SECONDS = 0.08
"""A cursor move this soon after the previous one (a key held down) redraws the side panel and the footer
only once the cursor has rested this long: the table itself follows every move at once. An action, Enter
or the side panel's keys settle them first, so nothing ever acts on a row the detail does not name."""

ROW_NOUNS = {"access": "access entries", "audit": "audit records", "log": "commands"}
"""What a pane's rows are called when the filter hides them all (default: the pane's name)."""


def _op_bindings() -> list[Binding]:
    out = []
    seen: set[tuple[str, str]] = set()
    for op in OPS:
        if not op.key:
            continue
        out.append(Binding(op.key, f"op('{op.id}')", op.short, show=True, tooltip=op.label))
        seen.add((op.key, op.id))
    return out


BULK_OBJECTS = 20_000
"""Objects a block of :func:`quiet_gc` must leave behind for them to be frozen (a bulk read: a big pane, a whole
table read again)."""


@contextlib.contextmanager
def quiet_gc():
    """Bulk reading in a thread, with the cyclic garbage collector paused, and what a bulk read made then
    moved out of its way (``gc.freeze``): a full collection walks every tracked object while holding the
    interpreter lock, and with 100,000 resources in memory that is half a second during which the UI
    thread cannot answer a key. The models hold no reference cycles: reference counting still frees them
    when they are replaced.

    Only a block that leaves :data:`BULK_OBJECTS` new objects or more freezes: a freeze takes every object
    alive, and widgets frozen then are never collected once they close (they hold reference cycles). The
    watcher looks at the store twice a second through this block; when each look froze, every help screen,
    form and footer key ever shown stayed in memory (0.5 MB per help screen opened)."""
    was = gc.isenabled()
    gc.disable()
    before = gc.get_count()[0]  # (tracked objects made minus freed since the last collection)
    try:
        yield
    finally:
        if gc.get_count()[0] - before >= BULK_OBJECTS:
            gc.freeze()
        if was:
            gc.enable()


def settle_heap() -> None:
    """Once, as the console starts: collect what is garbage, then move every object alive (the modules, the
    engine and what it has read) out of the collector's way (``gc.freeze``). They live as long as the console,
    and a collection walks every tracked object: without this, the collections of the first frame walked the
    ~200,000 objects of the imported modules again and again (55-180 ms of a 300 ms start on 100,000
    resources, against 20 ms). Nothing that closes later exists yet, so nothing is kept that would go."""
    release_closed_screens()
    gc.collect()
    gc.freeze()


def release_heap() -> None:
    """As the console ends: what :func:`settle_heap` and bulk reads froze goes back to the collector (a process
    that opens consoles one after another, tests, then keeps none of the ones it closed)."""
    gc.unfreeze()


def _retry(fn, attempts: int = 3):
    """Call ``fn``; if a worker thread changed a table while we iterated it, try again."""
    for i in range(attempts):
        try:
            return fn()
        except RuntimeError:
            if i == attempts - 1:
                raise
    return None


class Prompt(Input):
    """The filter and jump prompts. Keys reach a widget in the order they were typed, but the app picks the
    widget when it receives them: Enter is therefore handled here, in order (an Input's own Enter binding
    runs only once the key has bubbled back to the app, after the letters typed next were handed to the
    prompt), and a key that reaches a prompt already closed goes back to the app, which hands it to
    whatever has the focus now (`:disks<Enter>/data` typed at once opens disks, then filters it)."""

    def __init__(self, on_enter: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_enter = on_enter

    async def _on_key(self, event: events.Key) -> None:
        if self.screen.focused is not self:
            event.stop()
            event.prevent_default()
            self.app.post_message(events.Key(event.key, event.character))
        elif event.key in ("enter", "ctrl+j"):  # ctrl+j: an Enter typed before the terminal left line mode
            event.stop()
            event.prevent_default()
            self._on_enter(self.value)


class MainScreen(Screen):
    """Panes, table, detail."""

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    BINDINGS = [Binding("question_mark", "help", "help"),
                # only while a scenario is played (check_action): the Lab, at any terminal size
                Binding("l", "show_lab", "lab", tooltip="the workshop's Lab: its step, hints and objectives"),
                ] + _op_bindings() + [
        # Priority: acted on as the app hands the key on (which it does once the keys before it are handled:
        # CmkApp._route_key), so the letters typed right after reach the prompt. In a text field they are plain
        # characters (the actions skip).
        Binding("slash", "filter", "filter", priority=True),
        Binding("colon", "jump", "jump", priority=True),
        Binding("v", "toggle_side", "detail", show=False),
        Binding("t", "side_tab", "deps", show=False),
        Binding("left_square_bracket", "step_pane(-1)", "prev pane", show=False),
        Binding("right_square_bracket", "step_pane(1)", "next pane", show=False),
        Binding("escape", "escape", "back", show=False),
        Binding("greater_than_sign", "lab_step(1)", "next step", show=False),
        Binding("less_than_sign", "lab_step(-1)", "previous step", show=False),
        *[Binding(k, f"pane('{p}')", p, show=False) for k, p in NUMBER_KEYS.items()],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pane: Pane = PANES[0]
        self.filters: dict[str, str] = {}
        self.cursor_keys: dict[str, Hashable] = {}
        self.rows_by_key: dict[Hashable, Any] = {}
        self.idx: Index | None = None
        self.side_choice: bool | None = None
        self._side_from_enter = False
        """The side panel was folded away and enter opened it: esc folds it again."""
        self.generation = 0
        """Bumped when the engine's data changed (the side panel redraws only then or on a new selection)."""
        self._shown: tuple | None = None
        self._ops_signature: tuple | None = None
        self.all_keys: list = []
        """The current pane's row keys before the filter, in order."""
        self._sizes: dict[str, int] = {}
        """Rows each pane had when last listed (a big one is listed in a thread next time)."""
        self._texts: tuple[str, int, dict] = ("", -1, {})
        """(pane, generation, {row key: lower-case text of its cells}): what the filter searches, built once per
        generation of the data (a big pane's in the filtering thread, kept when a newer pattern cancels it)."""
        self._column: tuple[str, int, list | None, list] = ("", -1, None, [])
        """(pane, generation, the row keys, their texts in that order): a big pane's search text as one list, so a
        pattern is one pass over it."""
        self._token = 0
        self._token_done = 0
        """The token of the last thread result shown (equal to ``_token``: nothing is being listed)."""
        """Bumped by every listing or filter started: a thread's result that is no longer wanted is dropped."""
        self._loading: str | None = None
        """The pane whose rows a thread is listing (its title says so)."""
        self._select_after: tuple[str, set] | None = None
        self._run_after: tuple[str, Hashable, str] | None = None
        """(pane, row key, action): what the palette picked on a pane being listed in a thread, run once its rows
        are in (:meth:`select_and_run`)."""
        self._filter_timer = None
        self._warm_timer = None
        self._last_move = 0.0
        self._sort_keys: list | None = None
        self._lower: dict = {}
        self._settle_timer = None
        self._title_text: tuple = ()

    # ---- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield ClockHeader(id="header")
        yield PaneTabs(*[Tab(p.id, id=f"tab-{p.id}") for p in PANES], id="pane-tabs")
        with Horizontal(id="body"):
            with Vertical(id="main"):
                yield Static("", id="pane-title")
                yield VirtualTable(id="table", on_select=self._selected)
                # the log pane's selected command in full, wrapped, when no detail panel beside or under the table
                # shows it (a narrow terminal): its table row is cut to the width left by the time and result
                yield CauseText(id="log-line")
            lab = getattr(self.app, "lab", None)
            with TabbedContent(id="side", initial="side-lab" if lab is not None else "side-detail"):
                if lab is not None:
                    from ..widgets.lab import LabPanel

                    with TabPane("lab", id="side-lab"):
                        yield LabPanel(lab, id="lab")
                with TabPane("detail", id="side-detail"):
                    yield DetailPanel(id="detail")
                with TabPane("dependencies", id="side-deps"):
                    yield DepsTree(id="deps")
        with Horizontal(id="busy"):
            yield Label("", id="busy-label")
            yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="busy-bar")
        yield Prompt(self._filter_done, placeholder="filter: text or regex, !text excludes (enter keeps, esc clears)",
                     id="filter")
        lab_names = ("lab",) if lab is not None else ()
        yield Prompt(self._jump_done, placeholder=f"pane: {pane_menu(*lab_names)}", id="jump",
                     suggester=SuggestFromList(all_pane_names() + list(lab_names), case_sensitive=False))
        yield KeyFooter()

    @property
    def engine(self):
        return self.app.engine

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#table", VirtualTable)

    @property
    def selected(self) -> Any:
        """The row under the table's cursor: the one the detail describes and every action hits.

        Read from the cursor itself, never from a ``Highlighted`` message: keys pressed quickly move
        the cursor several times before those messages are handled, so a message's row may already
        be stale when it arrives (the detail then described one row while actions hit another).
        """
        key = self.table.cursor_key
        return self.rows_by_key.get(key) if key is not None else None

    def on_mount(self) -> None:
        freeze_cursors(self)
        self.query_one("#filter").display = False
        self.query_one("#jump").display = False
        self.query_one("#busy").display = False
        self.refresh_header()
        self.show_pane(self.pane.id)
        # at once, not after the queue (Widget.focus): keys typed while the console starts arrive right
        # after this; a deferred focus of the table would take the focus back from the prompt `:` opened
        self.set_focus(self.table)
        if self.has_lab:  # a scenario is being played: its Lab shows from the start, however small the terminal
            self.add_class("-lab")  # (and, under the table on a narrow one, notifications keep off it: app.tcss)
            self.side_choice = True
            self._apply_side()

    def on_screen_suspend(self) -> None:
        # a dialog (or the palette) lies over this screen: its keys are not this screen's, and its footer, seen
        # through the dialog's backdrop, offered keys that do nothing there (a dialog shows its own footer)
        self.query_one(KeyFooter).visible = False

    def on_screen_resume(self) -> None:
        self.query_one(KeyFooter).visible = True
        release_closed_screens()  # a screen over this one has closed: Textual would keep its widgets' styles

    @property
    def has_lab(self) -> bool:
        return getattr(self.app, "lab", None) is not None

    # ---- data ---------------------------------------------------------------------------------

    def ctx(self) -> Ctx:
        if self.idx is None:
            self.idx = Index(self.engine)
        return Ctx(self.engine, self.idx, self.app.command_log)

    def refresh_header(self) -> None:
        e = self.engine
        self.query_one("#header", ClockHeader).show(now=e.now(), store=self.app.store_label, lab=self.app.lab_name,
                                                    profile=e.rules.name, read_only=self.app.read_only)

    def _rows(self) -> list:
        ctx = self.ctx()
        objs = _retry(lambda: self.pane.rows(ctx))
        self.rows_by_key = {self.pane.key(o): o for o in objs}
        keys = list(self.rows_by_key)
        self.all_keys = keys
        self._sizes[self.pane.id] = len(keys)
        pattern = self.filters.get(self.pane.id, "")
        if pattern:
            keys = self._filtered(keys, pattern)
        return keys

    def is_big(self, pane: Pane) -> bool:
        """Whether listing ``pane`` goes to a thread: its tables are big, or not read yet (an engine in
        memory has everything at hand)."""
        if not pane.tables or self.engine.home is None:
            return False
        if self._sizes.get(pane.id, 0) > BIG_ROWS:
            return True
        n = self.engine.loaded_count(pane.tables, read_shards=4)
        return n is None or n > BIG_ROWS

    def _text_cache(self, pane_id: str) -> dict:
        if self._texts[0] != pane_id or self._texts[1] != self.generation:
            self._texts = (pane_id, self.generation, {})
        return self._texts[2]

    def _row_text(self, ctx: Ctx, pane: Pane, texts: dict, key: Hashable, obj: Any) -> str:
        text = texts.get(key)
        if text is None:
            try:
                cells = pane.cells(ctx, obj)
            except Exception:  # noqa: BLE001 - a row that cannot be drawn is searched by its key
                cells = [str(key)]
            text = texts[key] = "  ".join(c if isinstance(c, str) else c[0] for c in cells).lower()
        return text

    @staticmethod
    def _matcher(pattern: str):
        """A test for a row's lower-case text: a plain substring test when the pattern has no regex syntax."""
        neg = pattern.startswith("!")
        pat = pattern[1:] if neg else pattern
        if re.escape(pat) == pat:
            low = pat.lower()
            return (lambda text: low not in text) if neg else (lambda text: low in text)
        try:
            rx = re.compile(pat, re.I)
        except re.error:
            rx = re.compile(re.escape(pat), re.I)
        search = rx.search
        return (lambda text: search(text) is None) if neg else (lambda text: search(text) is not None)

    @staticmethod
    def _search(pattern: str, keys: list, texts: list) -> list:
        """The keys whose text (``texts``, in the same order) the pattern matches: one pass, the test inlined for
        the common plain text."""
        neg = pattern.startswith("!")
        pat = pattern[1:] if neg else pattern
        if re.escape(pat) == pat:
            low = pat.lower()
            if neg:
                return [k for k, t in zip(keys, texts) if low not in t]
            return [k for k, t in zip(keys, texts) if low in t]
        match = MainScreen._matcher(pattern)
        return [k for k, t in zip(keys, texts) if match(t)]

    def _text_column(self, ctx: Ctx, pane: Pane, generation: int, texts: dict, all_keys: list, rows_by_key: dict,
                     wanted: Callable[[], bool]) -> list | None:
        """The search text of every row of ``all_keys`` in order (None when ``wanted`` turns false). Rows drawn by
        an earlier, cancelled pass are kept in ``texts``; the drawing hands the interpreter back every
        ``SLICE_SECONDS``."""
        cached = self._column
        if cached[:2] == (pane.id, generation) and cached[2] is all_keys:
            return cached[3]
        text_of, clock, pause = self._row_text, time.perf_counter, time.sleep
        with quiet_gc():
            until = clock() + SLICE_SECONDS
            for n, k in enumerate(all_keys):
                if k not in texts:
                    text_of(ctx, pane, texts, k, rows_by_key[k])
                    if not n % 8 and clock() > until:
                        if not wanted():
                            return None
                        pause(0)  # the UI thread, if it waits for the interpreter, has it now
                        until = clock() + SLICE_SECONDS
        return [texts[k] for k in all_keys]

    def _filtered(self, keys: list, pattern: str) -> list:
        match = self._matcher(pattern)
        ctx = self.ctx()
        texts = self._text_cache(self.pane.id)
        rows, pane, text_of = self.rows_by_key, self.pane, self._row_text
        return [k for k in keys if match(text_of(ctx, pane, texts, k, rows[k]))]

    def _cells(self, key: Hashable) -> list:
        obj = self.rows_by_key.get(key)
        if obj is None:
            return []
        try:
            return self.pane.cells(self.ctx(), obj)
        except Exception as exc:  # noqa: BLE001 - a row must never break the table
            return [("?", "bad"), (str(exc), "bad")]

    # ---- big panes: listed and filtered in a thread ------------------------------------------------

    def _start_listing(self, *, relist: bool) -> None:
        """List (``relist``) and filter the current pane in a thread; the result replaces the rows shown."""
        self._token += 1
        pane = self.pane
        if relist:
            self._loading = pane.id
        self._update_title(len(self.table.keys))
        self._list_in_thread(pane, relist, self.filters.get(pane.id, ""), self.generation, self._token,
                             self.rows_by_key, self.all_keys)

    @work(thread=True, exclusive=True, group="rows", exit_on_error=False, description="list a pane")
    def _list_in_thread(self, pane: Pane, relist: bool, pattern: str, generation: int, token: int,
                        rows_by_key: dict, all_keys: list) -> None:
        worker = get_current_worker()
        engine = self.engine
        ctx = Ctx(engine, Index(engine), self.app.command_log) if relist else self.ctx()
        if relist:
            # whole tables: no refresh from another process interleaves
            with quiet_gc(), engine.reading():
                objs = pane.rows(ctx)
                for name in pane.prime:
                    getattr(ctx.idx, name)
                rows_by_key = {pane.key(o): o for o in objs}
                all_keys = list(rows_by_key)
        if worker.is_cancelled or token != self._token:
            return
        texts = self._texts[2] if self._texts[:2] == (pane.id, generation) else {}
        shown, column = all_keys, None
        if pattern:
            column = self._text_column(ctx, pane, generation, texts, all_keys, rows_by_key,
                                       lambda: not worker.is_cancelled and token == self._token)
            if column is None:
                return
            shown = self._search(pattern, all_keys, column)
        index = {k: i for i, k in enumerate(shown)}
        sort_keys, lower = None, {}
        if pane.by_name and shown is all_keys:  # what patching the rows later needs
            sort_keys = [(getattr(rows_by_key[k], "name", "") or "").lower() for k in all_keys]
            lower = {str(k).lower(): k for k in all_keys}
        self.app.call_from_thread(self._apply_listing, token, pane, generation, ctx.idx if relist else None,
                                  rows_by_key, all_keys, shown, index, texts, sort_keys, lower, column)

    def _schedule_warm(self) -> None:
        """Draw the current big pane's search text in a thread once it has been left alone :data:`WARM_DELAY`."""
        if self._warm_timer is not None:
            self._warm_timer.stop()
        self._warm_timer = self.set_timer(WARM_DELAY, self._start_warm)

    def _start_warm(self) -> None:
        self._warm_timer = None
        pane, generation = self.pane, self.generation
        if (self._loading or self._token_done != self._token or self.filters.get(pane.id)
                or not self.is_big(pane)):
            return  # a listing or a filter runs: it draws the text itself
        if self._column[:2] == (pane.id, generation) and self._column[2] is self.all_keys:
            return
        if self._texts[:2] != (pane.id, generation):
            self._texts = (pane.id, generation, {})
        # the thread draws from copies: a change patched in meanwhile edits the lists shown in place (the
        # thread then gives up at its next slice, and the patch schedules another warm-up)
        self._warm_in_thread(pane, generation, self._token, self._texts[2], dict(self.rows_by_key),
                             list(self.all_keys), self.all_keys)

    @work(thread=True, exclusive=True, group="warm", exit_on_error=False, description="draw a pane's search text")
    def _warm_in_thread(self, pane: Pane, generation: int, token: int, texts: dict, rows_by_key: dict,
                        keys: list, all_keys: list) -> None:
        worker = get_current_worker()

        def wanted() -> bool:  # given up as soon as the pane is listed, filtered or changed again
            return not worker.is_cancelled and token == self._token and generation == self.generation

        column = self._text_column(self.ctx(), pane, generation, texts, keys, rows_by_key, wanted)
        if column is not None and wanted():
            self.app.call_from_thread(self._apply_warm, pane, generation, token, all_keys, column)

    def _apply_warm(self, pane: Pane, generation: int, token: int, all_keys: list, column: list) -> None:
        if pane is self.pane and generation == self.generation and token == self._token and all_keys is self.all_keys:
            self._column = (pane.id, generation, all_keys, column)

    def _patch_rows(self, changed: dict[str, set[str]]) -> bool:
        """Another process changed these documents (lower-case keys by table): put each changed row of a pane
        sorted by name where it now sorts, drop the deleted ones. False when the pane cannot be patched (a
        filter is on, it is being listed, it is not sorted by name, or the change is large)."""
        pane = self.pane
        if (not pane.by_name or self.filters.get(pane.id) or self._loading or self._token_done != self._token
                or self._sort_keys is None or len(self._sort_keys) != len(self.all_keys)):
            return False
        table = pane.tables[0]
        keys = changed.get(table, ())
        if len(keys) > 500:
            return False
        engine, rows, order, names, lower = self.engine, self.rows_by_key, self.all_keys, self._sort_keys, self._lower
        for low in {k.lower() for k in keys}:
            old = lower.pop(low, None)
            if old is not None:
                obj = rows.pop(old)
                name = (getattr(obj, "name", "") or "").lower()
                i = bisect.bisect_left(names, name)
                while i < len(order) and order[i] != old:
                    i += 1
                if i < len(order):
                    del order[i]
                    del names[i]
            obj = engine.find(table, low)
            if obj is not None:
                key = pane.key(obj)
                name = (getattr(obj, "name", "") or "").lower()
                i = bisect.bisect_right(names, name)
                order.insert(i, key)
                names.insert(i, name)
                rows[key] = obj
                lower[low] = key
        self._sizes[pane.id] = len(order)
        self.table.empty_text = self._empty_text()
        self.table.update_rows(order, follow_end=pane.follow_end)
        self._update_title(len(order))
        return True

    def _apply_listing(self, token: int, pane: Pane, generation: int, idx: Index | None, rows_by_key: dict,
                       all_keys: list, shown: list, index: dict, texts: dict, sort_keys: list | None,
                       lower: dict, column: list | None = None) -> None:
        if token != self._token or pane is not self.pane:
            return
        if idx is not None:
            self.idx = idx
        self._token_done = token
        self._texts = (pane.id, generation, texts)
        if column is not None:
            self._column = (pane.id, generation, all_keys, column)
        self._loading = None
        self.rows_by_key = rows_by_key
        self.all_keys = all_keys
        self._sort_keys, self._lower = sort_keys, lower
        self._sizes[pane.id] = len(all_keys)
        self.table.empty_text = self._empty_text()
        if self.table.keys:
            self.table.update_rows(shown, follow_end=pane.follow_end, index=index)
        else:  # the first listing of the pane: the cursor goes where it was when the pane was left
            self.table.update_rows(shown, index=index, cursor_key=self.cursor_keys.get(pane.id),
                                   at_end=pane.follow_end and pane.id not in self.cursor_keys)
        self._update_title(len(shown))
        self._refresh_ops(unless_moving=True)
        if column is None:
            self._schedule_warm()
        if self._run_after is not None and self._run_after[0] == pane.id:
            self._run_picked(rows_by_key, index)
        if self._select_after is not None and self._select_after[0] == pane.id:
            before = self._select_after[1]
            self._select_after = None
            new = next((k for k in all_keys if k not in before), None)
            if new is not None:
                self.cursor_keys[pane.id] = new
                if new not in index:
                    self.filters[pane.id] = ""
                    self.show_pane(pane.id)
                self.table.move_to(new)

    def show_pane(self, pane_id: str) -> None:
        pane = PANE_BY_ID[pane_id]
        if self._run_after is not None and self._run_after[0] != pane_id:
            self._run_after = None  # (another pane was chosen before the picked row's pane was listed)
        if self.table.cursor_key is not None:
            self.cursor_keys[self.pane.id] = self.table.cursor_key
        self.pane = pane
        self._sort_keys = None
        self.set_class(pane.id == "log", "-log-pane")
        tabs = self.query_one("#pane-tabs", Tabs)
        if tabs.active != f"tab-{pane.id}":
            tabs.active = f"tab-{pane.id}"
        if self.is_big(pane):
            self.rows_by_key, self.all_keys = {}, []
            self._loading = pane.id
            self.table.set_source(pane.columns, [], self._cells, empty_text=self._empty_text())
            self._start_listing(relist=True)
            self._refresh_ops()
            return
        keys = self._rows()
        self.table.set_source(pane.columns, keys, self._cells, cursor_key=self.cursor_keys.get(pane.id),
                              empty_text=self._empty_text(), at_end=pane.follow_end and pane.id not in self.cursor_keys)
        self._update_title(len(keys))
        self._refresh_ops()

    def _empty_text(self) -> str:
        """What an empty table says: the pane's hint, or that the filter hides every row."""
        pattern = self.filters.get(self.pane.id, "")
        hidden = len(self.rows_by_key)
        if self._loading == self.pane.id and not hidden:
            return "reading the rows …"
        if not pattern or not hidden:
            return self.pane.empty
        noun = ROW_NOUNS.get(self.pane.id, self.pane.id)
        return f"no {noun} match the filter {pattern!r} ({hidden:,} hidden): esc clears it"

    def _update_title(self, shown: int) -> None:
        total = len(self.rows_by_key)
        pattern = self.filters.get(self.pane.id, "")
        # what the user typed is a value of the template, never read as markup (a '[' or a final '\\' in a regex)
        text = f"[b]$title[/b]  [dim]{total:,} row{'s' if total != 1 else ''}"
        if pattern:
            text += f", filter [/dim][$text-warning]/$pattern[/][dim] → {shown:,}"
        if self._loading == self.pane.id:
            text += ", reading …"
        elif pattern and self._token_done != self._token:
            text += " (filtering …)"
        text += "[/dim]"
        if (text, self.pane.title, pattern) != self._title_text:  # one line of fixed height: redrawn alone
            self._title_text = (text, self.pane.title, pattern)
            content = Content.from_markup(text, title=self.pane.title, pattern=pattern)
            self.query_one("#pane-title", Static).update(content, layout=False)

    def refresh_data(self, *, changed: dict[str, set[str]] | None = None) -> None:
        """The engine changed: rebuild the current pane's rows (cells redraw lazily). A big pane's rows are
        listed in a thread (until they land, the rows shown stay, and so does the index their cells use), or,
        when another process changed a few of its documents (``changed``), patched where they sort."""
        self.generation += 1
        self.refresh_header()
        if self.is_big(self.pane):
            if changed is None or not self._patch_rows(changed):
                self._start_listing(relist=True)
            else:
                self._schedule_warm()
        else:
            self.idx = None
            keys = self._rows()
            self.table.empty_text = self._empty_text()
            self.table.update_rows(keys, follow_end=self.pane.follow_end)
            self._update_title(len(keys))
        self._refresh_ops(unless_moving=True)
        if getattr(self.app, "lab", None) is not None:
            from ..widgets.lab import LabPanel

            for panel in self.query(LabPanel):
                panel.refresh_lab()

    # ---- selection and the side panel ------------------------------------------------------------

    @on(VirtualTable.Highlighted, "#table")
    def _highlighted(self, event: VirtualTable.Highlighted) -> None:
        # event.key is where the cursor was when the message was posted; the cursor may have moved on
        key = self.table.cursor_key
        if key is not None:
            self.cursor_keys[self.pane.id] = key
        now = time.monotonic()
        burst = now - self._last_move < SETTLE_SECONDS
        self._last_move = now
        if burst:  # a key held down: the side panel and the footer follow once the cursor rests
            if self._settle_timer is not None:
                self._settle_timer.stop()
            self._settle_timer = self.set_timer(SETTLE_SECONDS, self._settle_selection)
            return
        if self._settle_timer is not None:
            self._settle_timer.stop()
        self._settle_selection()

    def settle(self) -> None:
        """Bring the side panel and the footer to the cursor's row now, if a held key left them behind."""
        if self._settle_timer is not None:
            self._settle_timer.stop()
            self._settle_selection()

    def _settle_selection(self) -> None:
        self._settle_timer = None
        self.update_side()
        self.update_log_line()
        self._refresh_ops()

    def update_log_line(self) -> None:
        """The log pane's selected entry, every command of it whole (``#log-line``, under the table: app.tcss shows it
        where the detail panel does not, at 80 columns by default), wrapped under its own start."""
        if self.pane.id != "log":
            return
        entry = self.selected
        lines = [(f"$ {line}", "accent") for line in entry.lines] if entry is not None else []
        shown = self.query_one("#log-line", CauseText)
        shown.set_class(not lines, "-empty")
        if lines != shown._lines:
            shown.show_lines(lines)

    def _refresh_ops(self, *, unless_moving: bool = False) -> None:
        """Redraw the footer only when the actions that apply here changed (the footer is costly to rebuild).
        ``unless_moving``: not while a held key moves the cursor (the footer follows once it rests: a change
        from another process during the move would otherwise rebuild it for rows already left)."""
        if unless_moving and self._settle_timer is not None:
            return
        signature = (self.pane.id, tuple(op.id for op in OPS if op.key and self.op_applies(op)))
        if signature != self._ops_signature:
            self._ops_signature = signature
            self.refresh_bindings()

    def _selected(self, _key: Hashable) -> None:
        """Enter on a row (the table calls it in the key's turn): the detail opens with the focus."""
        self.settle()
        self._side_from_enter = not self.side_visible()
        self.side_choice = True
        self._apply_side()
        self.set_focus(self.query_one("#detail", DetailPanel))

    def side_visible(self) -> bool:
        side = self.query_one("#side")
        return side.display and side.styles.display != "none"

    def update_side(self, *, force: bool = False) -> None:
        side = self.query_one("#side", TabbedContent)
        if not side.display:
            return
        kind = self.pane.kind
        shown = (side.active, self.pane.id, self.table.cursor_key, self.generation)
        if shown == self._shown and not force:
            return
        self._shown = shown
        widget = self.query_one("#deps", DepsTree) if side.active == "side-deps" else self.query_one("#detail",
                                                                                                      DetailPanel)
        try:
            _retry(lambda: widget.show(self.engine, self.ctx().idx, kind, self.selected))
        except RuntimeError:
            self._shown = None  # the engine is mid-action on a worker thread: redrawn when it is done
        except Exception as exc:  # noqa: BLE001 - a panel must never take the console down
            self._shown = None
            self.app.notify(f"{type(exc).__name__}: {exc}", title="Detail panel", severity="error")

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._mark_focus()

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._mark_focus()

    def _mark_focus(self) -> None:
        """The panel holding the focus is marked (its title bar or edge takes the accent colour). A prompt works
        on the table: while it is open the table's panel stays marked (and nothing is restyled)."""
        focused = self.focused
        if isinstance(focused, Prompt):
            focused = self.table
        for panel in (self.query_one("#main"), self.query_one("#side")):
            panel.set_class(focused is not None and panel in focused.ancestors_with_self, "-focused")

    @on(TabbedContent.TabActivated, "#side")
    def _side_tab(self) -> None:
        self.update_side()

    def _apply_side(self) -> None:
        self.set_class(self.side_choice is True, "-side-shown")
        self.set_class(self.side_choice is False, "-side-hidden")
        self.call_after_refresh(self.update_side)

    def action_toggle_side(self) -> None:
        self.settle()
        visible = self.query_one("#side").display
        self.side_choice = not visible
        self._side_from_enter = False
        self._apply_side()
        if not self.side_choice:
            self.set_focus(self.table)

    def action_show_lab(self) -> None:
        """The Lab (l, :lab): the side panel opens on it (under the table on a narrow terminal) with the focus."""
        if not self.has_lab:
            return
        self.settle()
        side = self.query_one("#side", TabbedContent)
        if not self.side_visible():
            self.side_choice = True
            self._side_from_enter = False
            self._apply_side()
        side.active = "side-lab"
        self.set_focus(self.query_one("#lab"))

    def action_side_tab(self) -> None:
        self.settle()
        side = self.query_one("#side", TabbedContent)
        if not side.display:
            self.side_choice = True
            self._apply_side()
        side.active = "side-deps" if side.active == "side-detail" else "side-detail"

    # ---- panes, filter, jump ---------------------------------------------------------------------

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab(self, event: Tabs.TabActivated) -> None:
        """A tab clicked. Every change of the active tab says so, a pane's key's too, in a message handled later:
        one that is no longer the active tab is stale (keys typed quickly showed the panes they went through
        again, and took the focus from a prompt opened since)."""
        if event.tab.id != event.tabs.active:
            return
        pane_id = (event.tab.id or "").removeprefix("tab-")
        if pane_id != self.pane.id and pane_id in PANE_BY_ID:
            self.show_pane(pane_id)
            self.set_focus(self.table)

    def action_pane(self, pane_id: str) -> None:
        self.show_pane(pane_id)
        self.set_focus(self.table)

    def action_step_pane(self, step: int) -> None:
        i = PANES.index(self.pane)
        self.action_pane(PANES[(i + step) % len(PANES)].id)

    def _skip_in_text(self) -> None:
        if isinstance(self.focused, (Input, TextArea)):
            raise SkipAction()

    def action_filter(self) -> None:
        self._skip_in_text()
        box = self.query_one("#filter", Input)
        self._show_prompt(box)
        box.value = self.filters.get(self.pane.id, "")
        self._focus_now(box)

    def action_jump(self) -> None:
        self._skip_in_text()
        box = self.query_one("#jump", Input)
        self._show_prompt(box)
        box.value = ""
        self._focus_now(box)

    def _show_prompt(self, box: Input | None) -> None:
        """Show one prompt (or none). A prompt lies over the footer, so showing it lays nothing else out
        again; the footer under it is not rebuilt for the prompt's keys (it is, if need be, once it shows)."""
        for prompt in self.query(Prompt):
            prompt.display = prompt is box
        self.query_one(KeyFooter).covered = box is not None

    def _focus_now(self, box: Input) -> None:
        """Focus the prompt before the next key is handled: ``Widget.focus`` waits for the queue, so the
        letter typed right after ``:`` or ``/`` would reach the table it leaves."""
        self.set_focus(box)

    def action_escape(self) -> None:
        """Back, one step at a time: close a prompt, leave the side panel for the table, clear the filter."""
        f, j = self.query_one("#filter", Input), self.query_one("#jump", Input)
        if f.display and f.has_focus:
            self._set_filter("")
            self._show_prompt(None)
        elif j.display:
            self._show_prompt(None)
        elif self.query_one("#side").has_focus_within:
            if self._side_from_enter:
                self._side_from_enter = False
                self.side_choice = None
                self._apply_side()
        elif self.filters.get(self.pane.id):
            self._set_filter("")
        self.set_focus(self.table)

    def _set_filter(self, pattern: str) -> None:
        self.filters[self.pane.id] = pattern
        if self.is_big(self.pane):  # debounced, and searched in a thread over text cached per generation
            if self._filter_timer is not None:
                self._filter_timer.stop()
            relist = self._loading == self.pane.id
            self._filter_timer = self.set_timer(FILTER_DEBOUNCE, lambda: self._start_listing(relist=relist))
            return
        keys = self._rows()
        self.table.empty_text = self._empty_text()
        self.table.update_rows(keys)
        self._update_title(len(keys))

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set_filter(event.value)

    def _filter_done(self, _value: str = "") -> None:
        self._show_prompt(None)
        self.set_focus(self.table)

    def _jump_done(self, value: str) -> None:
        self._show_prompt(None)
        if self.has_lab and value.strip().lower().lstrip(":") == "lab":
            self.set_focus(self.table)
            self.action_show_lab()
            return
        pane = find_pane(value)
        if pane is None:
            names = pane_menu(*(("lab",) if self.has_lab else ())).replace(" ", ", ")
            self.app.notify(f"no pane named {value!r}; panes: {names}", title="Unknown pane", severity="error")
        else:
            self.show_pane(pane.id)
        self.set_focus(self.table)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.pane.id, lab=self.has_lab,
                                        profile=self.engine.rules.name))

    def on_lab_panel_step_completed(self, message) -> None:
        """Every objective of the Lab's step is met: said in a notification (on a small terminal the Lab's own
        status line is below what it shows), and the Lab scrolls to that line."""
        lab = message.lab
        if lab.finished:
            text = "Every step's objectives are met."
            title = f"{lab.scenario.title}: scenario complete"
        elif lab.number < lab.total:
            text = f"Press > for step {lab.number + 1}."
            title = f"Step {lab.number} of {lab.total} complete"
        else:
            text = "Steps before it are not complete yet: < goes back to them."
            title = f"Step {lab.number} of {lab.total} complete"
        self.app.notify(escape(text), title=escape(title))
        from ..widgets.lab import LabPanel

        for panel in self.query(LabPanel):
            panel.scroll_end(animate=False)

    def action_lab_step(self, step: int) -> None:
        """The workshop's next / previous step (> / <), from any pane: n and p act on the panes."""
        from ..widgets.lab import LabPanel

        for panel in self.query(LabPanel):
            if step > 0:
                panel.action_next_step()
            else:
                panel.action_previous_step()

    # ---- actions ---------------------------------------------------------------------------------

    def target_of(self, op: Op) -> Any:
        return resolve(self.engine, op.target, self.pane.kind, self.selected)

    def op_applies(self, op: Op, *, anywhere: bool = False) -> bool:
        if not anywhere and "*" not in op.panes and self.pane.id not in op.panes:
            return False
        if op.target is None:
            return True
        target = self.target_of(op)
        if target is None:
            return False
        try:
            return bool(op.when(self.engine, target))
        except Exception:  # noqa: BLE001
            return False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("lab_step", "show_lab"):
            return self.has_lab
        if action == "op":
            op = OP_BY_ID.get(str(parameters[0]))
            if op is not None and op.mutating and self.app.read_only:
                return False  # --read-only refuses it: not offered in the footer (the palette explains)
            return op is not None and self.op_applies(op)
        return True

    def pane_for(self, op: Op) -> str:
        """The pane whose rows an action works on (the keys pane for a key action)."""
        for pane_id in op.panes:
            if pane_id in PANE_BY_ID and PANE_BY_ID[pane_id].kind == op.target:
                return pane_id
        return next((p for p in op.panes if p in PANE_BY_ID), self.pane.id)

    def candidates(self, op: Op) -> list[tuple[Hashable, Any]]:
        """(row key, target) of each row of the action's pane it applies to, in the pane's order."""
        pane = PANE_BY_ID[self.pane_for(op)]
        out = []
        for obj in _retry(lambda: pane.rows(self.ctx())):
            target = resolve(self.engine, op.target, pane.kind, obj)
            try:
                ok = target is not None and bool(op.when(self.engine, target))
            except Exception:  # noqa: BLE001
                ok = False
            if ok:
                out.append((pane.key(obj), target))
        return out

    def pick_and_run(self, op_id: str) -> None:
        """The palette's way to an action that does not apply to the selected row: list the rows of
        its pane it applies to; the one picked is selected on its pane and the action runs on it."""
        from textual.command import SimpleCommand

        op = OP_BY_ID[op_id]
        rows = self.candidates(op)
        pane_id = self.pane_for(op)
        if not rows:
            self.app.notify(f"{op.label}: no row of the {pane_id} pane it applies to", title="Nothing to act on",
                        severity="warning")
            return
        if len(rows) > PICK_MAX:  # the pane itself, whose filter runs in a thread, is where to pick among them
            self.action_pane(pane_id)
            how = f"press {op.key} on it" if op.key else "run it from the palette there"
            self.app.notify(f"{op.label}: {len(rows):,} rows of the {pane_id} pane it applies to; put the cursor on "
                            f"one (/ filters the pane) and {how}", title=f"{op.label}: which one?")
            return
        commands = [SimpleCommand(f"{op.label}: {display_name(op.target, target)}",
                                  lambda key=key: self.select_and_run(op_id, pane_id, key), None)
                    for key, target in rows]
        self.app.search_commands(commands, placeholder=f"{op.label}: which one?")

    def select_and_run(self, op_id: str, pane_id: str, key: Hashable) -> None:
        """Go to ``pane_id``, put the cursor on row ``key`` (clearing a filter hiding it) and run the action. A
        big pane is listed in a thread: the action runs once its rows are in and the cursor is on that row
        (:meth:`_run_picked`), never on the rows of before."""
        self.cursor_keys[pane_id] = key
        self._run_after = None
        self.show_pane(pane_id)
        if self._loading == pane_id:
            self._run_after = (pane_id, key, op_id)
            return
        if self.table.cursor_key != key:
            self.filters[pane_id] = ""
            self.show_pane(pane_id)
        self.set_focus(self.table)
        self.run_op(op_id)

    def _run_picked(self, rows_by_key: dict, index: dict) -> None:
        """The big pane of a palette pick is listed: the cursor goes to the picked row and its action runs; a
        filter hiding the row is cleared first (the pane listed again), a row gone meanwhile is said."""
        pane_id, key, op_id = self._run_after
        if key not in rows_by_key:
            self._run_after = None
            self.app.notify(f"{OP_BY_ID[op_id].label}: the row picked is no longer on the {pane_id} pane",
                            title="Nothing to act on", severity="warning")
            return
        if key not in index:
            self.filters[pane_id] = ""
            self.show_pane(pane_id)  # (listed again, unfiltered: this runs then)
            return
        self._run_after = None
        self.table.move_to(key)
        if self.table.cursor_key != key:
            return
        self.set_focus(self.table)
        self.run_op(op_id)

    def action_op(self, op_id: str) -> None:
        self.run_op(op_id)

    def run_op(self, op_id: str, *, preset: dict | None = None) -> None:
        """Run an action of the catalogue on the current selection (bindings and palette call this)."""
        self.settle()
        op = OP_BY_ID[op_id]
        if op.target is not None and not self.op_applies(op, anywhere=True):
            self.app.notify(f"{op.label}: select a row it applies to first", title="Nothing to act on",
                        severity="warning")
            return
        target = self.target_of(op)
        self.app.hold_keys_for_dialog()  # the keys typed next are for its dialog
        self.run_worker(self._flow(op, target, preset or {}), group="flow", exclusive=True,
                        exit_on_error=False)

    def refuse_read_only(self, op: Op) -> None:
        """Say that ``op`` cannot run: the console is read-only (opened with --read-only, or the projector view),
        and how to act where one can."""
        from ..app import READ_ONLY_TITLE

        self.app.notify(self.app.read_only_refusal(op.label), title=READ_ONLY_TITLE, severity="error")

    def on_key(self, event: events.Key) -> None:
        """An action's key which the footer does not offer (``check_action``) is not silently ignored: it says why
        nothing happens (--read-only; or the action does not apply to the selected row: s on a running VM). Only
        keys no binding took reach here."""
        if isinstance(self.focused, (Input, TextArea)):
            return
        here = [op for op in OPS if op.key == event.key and ("*" in op.panes or self.pane.id in op.panes)]
        if self.app.read_only:
            here = [op for op in here if op.mutating]
            if here:
                event.stop()
                self.settle()
                self.refuse_read_only(next((op for op in here if self.op_applies(op)), here[0]))
            return
        here = [op for op in here if op.target is not None and not op.special]
        if here and not any(self.op_applies(op) for op in here):
            event.stop()
            self.settle()
            op = here[0]
            name = display_name(op.target, self.target_of(op))
            self.app.notify(f"{op.label} does not apply to {name}: select a row it applies to (ctrl+p lists them)"
                            if name else f"{op.label}: select a row it applies to first",
                            title="Nothing to act on", severity="warning")

    async def _flow(self, op: Op, target: Any, preset: dict) -> None:
        try:
            await self._flow_dialogs(op, target, preset)
        finally:
            self.app.release_keys()  # no dialog came (a refusal, an action without one), or it is done

    async def _flow_dialogs(self, op: Op, target: Any, preset: dict) -> None:
        app = self.app
        e = self.engine
        if op.mutating and app.read_only:
            self.refuse_read_only(op)
            return
        name = display_name(op.target, target)
        label = f"{op.label}: {name}" if name else op.label
        try:
            if op.form is not None:
                spec = op.form(e, target, (self.pane.kind, self.selected))
                for f in spec.fields:
                    if f.name in preset:
                        f.value = preset[f.name]
            else:
                call = op.call(e, target)
        except EngineError as err:
            app.notify(err.message, title=err.display_code, severity="error")
            return
        if op.form is not None:
            # the form stays open until the engine has acted on it: a refusal shows in it, what was typed kept
            modal = FormModal(spec)
            modal.act = lambda call: self._act(op, target, label, call, form=modal)
            await app.push_screen_wait(modal)
            return
        await self._act(op, target, label, call, form=None)

    async def _act(self, op: Op, target: Any, label: str, call: Any, *,
                   form: FormModal | None) -> str | Declined | None:
        try:
            return await self._act_confirmed(op, target, label, call, form=form)
        finally:
            self.app.release_keys()

    async def _act_confirmed(self, op: Op, target: Any, label: str, call: Any, *,
                             form: FormModal | None) -> str | Declined | None:
        """Confirm ``call`` with the engine's what-if when it is destructive, then run it in a worker. From a
        form (``form``), wait for the engine: its refusal (notified too) is returned for the form to show, None
        once it is done, which closes the form, and :data:`DECLINED` when the confirmation was declined: back to
        the form, as it was."""
        app = self.app
        e = self.engine
        if op.special:
            getattr(app, op.special)(*call.args)
            return None
        dialog = form is not None
        if op.confirm != "never" and previewable(call.method):
            if dialog:  # after the form: the keys typed next are for the confirmation, if one comes
                app.hold_keys_for_dialog()
            impact = call.impact
            if impact is None:
                # the keys typed meanwhile wait for the confirmation (CmkApp.hold_keys_for_dialog), however long the
                # what-if takes: say that the engine is being asked, at once after a form, else once it lasts
                asking = f"{label}: asking the engine what it would do (keys wait for its answer)"
                shown = [dialog]

                def say() -> None:
                    shown[0] = True
                    self.show_busy(asking)

                timer = None
                if dialog:
                    say()
                else:
                    timer = self.set_timer(BUSY_DELAY, say)
                try:
                    impact = await asyncio.to_thread(e.what_if, call.method, *call.args, **call.kwargs)
                finally:
                    if timer is not None:
                        timer.stop()
                    if shown[0]:
                        self.show_busy(None)
            # the dry run touched the models in place (and put them back): redraw from the real state
            self._ops_signature = None
            self.refresh_data()
            if impact.error is None and (op.confirm != "impact" or impact.destructive):
                title = op.title(target) if op.title else f"{op.label}?"
                az = az_lines(e, call.method, call.args, call.kwargs, call.hints)
                verb = op.verb or op.short.capitalize()
                if op.confirm == "typed" and op.typed_name is not None:
                    modal = TypedConfirmModal(title, impact.lines(MAX_NAMES), az, op.typed_name(target), confirm_label=verb)
                else:
                    modal = ConfirmModal(title, impact.lines(MAX_NAMES), az, confirm_label=verb,
                                         danger=impact.destructive or op.confirm == "typed")
                if not await app.push_screen_wait(modal):
                    return DECLINED if form is not None else None
                dialog = True
            # a refusal foreseen by the what-if still goes to the engine: it refuses (and audits) for real
        new_in = None
        if op.target is None and form is not None and changes_state(call.method):
            new_in = self.pane_for(op)  # a creation: the cursor goes to the new row
        if op.steps is not None:
            try:
                call = op.steps(e, call)
            except EngineError as err:
                app.notify(err.message, title=err.display_code, severity="error")
                return f"({err.display_code}) {err.message}"
        app.release_keys()  # no confirmation (or it is done): the keys go where the focus is
        # after a dialog (or for a slow action) the progress shows at once, never a blank pause
        outcome = app.execute(call, label, slow=op.slow or dialog, new_in=new_in)
        if form is None:
            return None
        form.acting()  # said only now: a confirmation declined goes back to the form as it was
        return await outcome

    def row_keys(self, pane_id: str) -> set | None:
        """The row keys of ``pane_id`` now (None when only a thread could list them: a big pane not shown)."""
        pane = PANE_BY_ID[pane_id]
        if self.is_big(pane):
            return set(self.all_keys) if pane is self.pane else None
        return {pane.key(o) for o in _retry(lambda: pane.rows(self.ctx()))}

    def select_new(self, pane_id: str, before: set | None) -> None:
        """Put the cursor of ``pane_id`` on the row an action created (the first row not in ``before``)."""
        if before is None:
            return
        pane = PANE_BY_ID[pane_id]
        if self.is_big(pane):
            if pane is self.pane:
                self._select_after = (pane_id, before)  # once the thread listing the pane is done
            return
        new = [pane.key(o) for o in _retry(lambda: pane.rows(self.ctx())) if pane.key(o) not in before]
        if not new:
            return
        self.cursor_keys[pane_id] = new[0]
        if self.pane.id == pane_id:
            if new[0] not in self.table.keys:
                self.filters[pane_id] = ""
                self.show_pane(pane_id)
            self.table.move_to(new[0])

    # ---- progress -----------------------------------------------------------------------------------

    def show_busy(self, label: str | None) -> None:
        try:
            bar = self.query_one("#busy")
        except NoMatches:
            return  # a delayed indicator that fired while the screen was being taken down
        if label:
            self.query_one("#busy-label", Label).update(f" {escape(label)} … ")
            bar.display = True
        else:
            bar.display = False


__all__ = ["MainScreen"]
