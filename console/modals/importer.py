"""The console's ``cmklab import``: a dialog for the paths of the az JSON files, the import in a worker with a
progress bar (shown when it takes more than a second), and the summary the CLI prints.

The import is the engine's (``engine.twin``), as the CLI runs it: one transaction, refused in a home that holds
state unless "merge" is chosen, refused when something cannot be modelled unless "partial" is chosen (the
summary then says what and why). The console keeps answering while it runs.
"""

from __future__ import annotations

import glob
import os
import shlex
import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, ProgressBar, Static, Switch

from engine.twin import folder_files, progress_count

from ..widgets.footer import KeyFooter
from ..widgets.util import escape, dialog_opened
from .form import FormSwitch

PROGRESS_AFTER = 1.0
"""Seconds an import runs before its progress bar shows (a quick one just ends)."""


def expand_paths(text: str) -> list[str]:
    """The files a line of the dialog names: shell words, each a file, a folder (its ``*.json``) or a glob."""
    out: list[str] = []
    for word in shlex.split(text):
        word = os.path.expanduser(word)
        if os.path.isdir(word):
            out.extend(folder_files(word))
        elif glob.has_magic(word):
            out.extend(sorted(glob.glob(word)) or [word])  # no match: the import names the missing file
        else:
            out.append(word)
    return out


def command_line(paths: list[str], merge: bool, partial: bool) -> str:
    """The CLI command the dialog stands for (the command log keeps it)."""
    flags = (["--merge"] if merge else []) + (["--partial"] if partial else [])
    return " ".join(["cmklab", "import", *flags, *(shlex.quote(p) for p in paths)])


class ImportModal(ModalScreen[None]):
    """Paths, merge, partial; Import runs it in a worker; the summary (or the refusal) shows in the dialog."""

    BINDINGS = [Binding("escape", "close", "Close", show=True),
                # Enter on a switch imports, as in the paths (space toggles it: FormSwitch)
                Binding("enter", "submit", "Import", show=False)]

    def __init__(self, initial: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.initial = initial
        self.running = False
        self.started = 0.0
        self.report = None
        """The engine's report of the last import (summary), once it has run."""
        self.error: str | None = None
        """The refusal or the error of the last attempt, as shown."""
        self._last_tick = 0.0

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="form"):
            yield Label("Import a twin of a subscription (az -o json files)", id="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Import", variant="primary", id="submit")
                yield Button("Close", id="cancel")
            with VerticalScroll(id="dialog-body"):
                yield Static("The files `cmklab import --capture-script` writes (files, folders or globs, separated "
                             "by spaces). Key material never leaves Azure: each key version gets stand-in material.",
                             classes="dialog-intro")
                yield Label("Files", classes="field-label")
                yield Input(value=self.initial, placeholder="twin/*.json", id="import-paths")
                with Horizontal(classes="import-switch"):
                    yield FormSwitch(value=False, id="import-merge")
                    yield Label("merge into the state this home holds (same subscription)", classes="field-label")
                with Horizontal(classes="import-switch"):
                    yield FormSwitch(value=False, id="import-partial")
                    yield Label("partial: import what can be modelled, list the rest", classes="field-label")
                with Vertical(id="import-progress"):
                    yield Label("", id="import-stage")
                    yield ProgressBar(total=100, show_eta=False, id="import-bar")
                yield Static("", id="form-error")
                yield Static("", id="import-summary")
                yield Static("", id="dialog-az")
        yield KeyFooter()  # its own keys: the main screen's footer under it is hidden

    def on_mount(self) -> None:
        dialog_opened(self)
        self.query_one("#import-progress").display = False
        self.query_one("#import-paths", Input).focus()
        self._show_command()

    # ---- the form --------------------------------------------------------------------------------

    def _values(self) -> tuple[list[str], bool, bool]:
        text = self.query_one("#import-paths", Input).value
        try:
            paths = expand_paths(text)
        except ValueError as exc:  # an unclosed quote
            raise ValueError(f"the file list cannot be read: {exc}") from None
        return paths, self.query_one("#import-merge", Switch).value, self.query_one("#import-partial", Switch).value

    def _show_command(self) -> None:
        try:
            paths, merge, partial = self._values()
        except ValueError:
            return
        self.query_one("#dialog-az", Static).update(f"$ {escape(command_line(paths or ['PATH ...'], merge, partial))}")

    @on(Input.Changed, "#import-paths")
    @on(Switch.Changed)
    def _changed(self) -> None:
        self._show_command()

    @on(Input.Submitted, "#import-paths")
    @on(Button.Pressed, "#submit")
    def _submit(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_close()

    def action_close(self) -> None:
        if not self.running:
            self.dismiss(None)

    def _say(self, error: str | None) -> None:
        self.error = error
        said = self.query_one("#form-error", Static)
        said.update(escape(error or ""))
        if error:  # on a small terminal the dialog's body scrolls: the error is brought into view
            self.call_after_refresh(said.scroll_visible, animate=False)

    def action_submit(self) -> None:
        if self.running:
            return
        app = self.app
        if getattr(app, "read_only", False):
            self._say(app.read_only_refusal("Import"))
            return
        try:
            paths, merge, partial = self._values()
        except ValueError as exc:
            self._say(str(exc))
            return
        if not paths:
            self._say("give the files to import (the ones cmklab import --capture-script writes)")
            return
        self._say(None)
        self.query_one("#import-summary", Static).update("")
        self.running = True
        self.started = time.monotonic()
        self.query_one("#submit", Button).disabled = True
        self.query_one("#cancel", Button).disabled = True
        if PROGRESS_AFTER > 0:
            self.set_timer(PROGRESS_AFTER, self._reveal_progress)
        else:
            self._reveal_progress()
        self._run(paths, merge, partial)

    # ---- the work --------------------------------------------------------------------------------

    def _reveal_progress(self) -> None:
        if self.running:
            self._show_in_view(self.query_one("#import-progress"))

    def _show_in_view(self, widget) -> None:
        """Show ``widget`` and bring it into view: on a small terminal (80x24) the dialog's body scrolls, and the
        progress and the summary come after the form."""
        widget.display = True
        self.call_after_refresh(widget.scroll_visible, animate=False, top=True)

    def _progress(self, stage: str, done: int, total: int) -> None:
        """From the worker: at most ten updates a second reach the screen."""
        now = time.monotonic()
        if now - self._last_tick < 0.1 and done < total:
            return
        self._last_tick = now
        self.app.call_from_thread(self._show_progress, stage, done, total)

    def _show_progress(self, stage: str, done: int, total: int) -> None:
        count = progress_count(stage, done, total)
        self.query_one("#import-stage", Label).update(f"importing: {escape(stage)}" + (f" ({count})" if count else ""))
        bar = self.query_one("#import-bar", ProgressBar)
        bar.update(total=max(total, 1), progress=min(done, total))
        progress = self.query_one("#import-progress")
        if not progress.display and time.monotonic() - self.started >= PROGRESS_AFTER:
            self._show_in_view(progress)

    @work(thread=True, exclusive=True, group="import", exit_on_error=False, description="import a twin")
    def _run(self, paths: list[str], merge: bool, partial: bool) -> None:
        from engine import twin
        from engine.errors import EngineError

        engine = self.app.engine
        report, error = None, None
        try:
            report = twin.import_files(engine, paths, merge=merge, partial=partial, progress=self._progress)
        except twin.Incomplete as err:
            report, error = err.report, f"({err.code}) {err.message}"
        except EngineError as err:
            error = f"({err.display_code}) {err.message}"
        except Exception as err:  # noqa: BLE001 - shown in the dialog, never a traceback
            error = f"({type(err).__name__}) {err}"
        self.app.call_from_thread(self._finished, paths, merge, partial, report, error)

    def _finished(self, paths: list[str], merge: bool, partial: bool, report, error: str | None) -> None:
        self.running = False
        self.query_one("#submit", Button).disabled = False
        self.query_one("#cancel", Button).disabled = False
        self.report = report
        summary = "\n".join(report.lines()) if report is not None else ""
        self.query_one("#import-summary", Static).update(escape(summary))
        self._say(error)
        if error is not None:
            self.app.notify(error, title="Import refused: nothing was imported", severity="error", timeout=10)
        else:
            self.query_one("#import-stage", Label).update("imported")
            bar = self.query_one("#import-bar", ProgressBar)
            bar.update(total=bar.total or 1, progress=bar.total or 1)
            self._show_in_view(self.query_one("#import-progress"))  # ("imported", and what was modelled under it)
        record = getattr(self.app, "record_import", None)
        if record is not None:
            record(command_line(paths, merge, partial), error is None, error, report)
