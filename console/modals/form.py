"""Forms in modal screens that validate as you type.

Each field may carry a check (the engine's own validators where they exist, such as
``engine.ids.check_name``); the error shows under the field at once. On submit the form asks the
engine for a what-if of the call it builds: if the engine would refuse, its error shows in the form
and nothing happens. Given ``act``, the form then stays open until the engine has acted on the call
(a confirmation, then the action in a worker): a refusal the what-if could not foresee (a write past
a disk's end) shows in the form too, what was typed kept, and a confirmation declined (:data:`DECLINED`) comes
back to the form as it was. The form also shows, live, the
``cmklab az`` command the values stand for.
"""

from __future__ import annotations

import asyncio
from engine._light import dataclass, field
from typing import Any, Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.css.query import NoMatches
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, ProgressBar, Select, Static, Switch, TextArea

from ..widgets.footer import KeyFooter
from ..widgets.util import escape, dialog_opened, hold_keys, release_keys


class Declined:
    """The type of :data:`DECLINED`."""

    def __repr__(self) -> str:
        return "DECLINED"


DECLINED = Declined()
"""What a form's ``act`` answers when the confirmation that followed it was declined: the form stays as it was,
what was typed kept (as a real tool goes back to its form), and nothing was done."""


@dataclass
class Field:
    name: str
    label: str
    kind: str = "text"
    """text, int, password, select, switch or textarea (``FIELD_KINDS``)."""
    value: Any = ""
    options: list[tuple[str, Any]] = field(default_factory=list)
    check: Callable[[Any, dict], str | None] | None = None
    """Returns the error to show, or None."""
    help: str = ""
    placeholder: str = ""
    optional: bool = False
    visible: Callable[[dict], bool] | None = None
    """Shown only when this returns True for the current values."""


def _select(f: Field, wid: str) -> Select:
    opts = [(label, value) for label, value in f.options]
    values = [v for _, v in opts]
    value = f.value if f.value in values else (values[0] if values else Select.NULL)
    return Select(opts, value=value, allow_blank=not opts, id=wid, compact=True)


def _input(password: bool = False) -> Callable[[Field, str], Input]:
    def make(f: Field, wid: str) -> Input:
        return Input(str(f.value if f.value is not None else ""), placeholder=f.placeholder, id=wid,
                     password=password, compact=True)
    return make


def _whole_number(raw: str) -> Any:
    try:
        return int(raw.strip()) if raw.strip() else None
    except ValueError:
        return raw  # kept as typed: ``invalid`` says so


class FormSwitch(Switch, inherit_bindings=False):
    """A form's switch: space toggles it; Enter submits the form, as it does in the other fields (Textual's
    switch toggled on Enter too, so Enter on it changed the value instead of submitting)."""

    BINDINGS = [Binding("space", "toggle_switch", "Toggle", show=False)]


@dataclass(frozen=True)
class FieldKind:
    """How a kind of field (``Field.kind``) is drawn, read and checked."""

    widget: Callable[[Field, str], Widget]
    """(field, widget id) -> the widget that edits it."""
    read: Callable[[Any], Any]
    """widget -> the field's value."""
    invalid: Callable[[Any], str | None] = lambda value: None
    """value -> why it is not a value of this kind (a whole number field holding text), or None."""
    typed: bool = False
    """Text typed in: the first such field shown takes the focus when the form opens."""
    inline: bool = False
    """Drawn before its label on one line (a switch); always has a value (never "required")."""


FIELD_KINDS: dict[str, FieldKind] = {
    "text": FieldKind(_input(), lambda w: w.value.strip(), typed=True),
    "int": FieldKind(_input(), lambda w: _whole_number(w.value), typed=True,
                     invalid=lambda v: f"{v!r} is not a whole number" if isinstance(v, str) else None),
    "password": FieldKind(_input(password=True), lambda w: w.value, typed=True),
    "select": FieldKind(_select, lambda w: None if w.value is Select.NULL else w.value),
    "switch": FieldKind(lambda f, wid: FormSwitch(value=bool(f.value), id=wid), lambda w: w.value, inline=True),
    "textarea": FieldKind(lambda f, wid: TextArea(str(f.value or ""), id=wid, classes="field-textarea",
                                                   soft_wrap=True, show_line_numbers=False), lambda w: w.text),
}


@dataclass
class FormSpec:
    title: str
    fields: list[Field]
    build: Callable[[dict], Any]
    """Values -> the call to make (a ``Call``: ``console.actions`` builds them)."""
    submit: str = "OK"
    intro: str = ""
    preview: Callable[[Any], list[str]] | None = None
    """Call -> the az lines it stands for (shown live)."""
    check: Callable[[Any], str | None] | None = None
    """Call -> the engine's refusal, if it would refuse (runs off the UI thread on submit)."""


SHORT_ROWS = 30
"""A terminal with fewer rows than this is short (80x24, the workshops' size): see ``FormModal.VERTICAL_BREAKPOINTS``."""


class FormModal(ModalScreen[Any]):
    """Dismisses with the built call, or None when cancelled."""

    VERTICAL_BREAKPOINTS = [(0, "-short"), (SHORT_ROWS, "-tall")]
    """On a short terminal (24 rows) the dialog spends no row on spacing around its title and buttons (app.tcss): its
    foot (the az command, the buttons) is always in sight, and the body between keeps room for a switch."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", show=True),
        Binding("ctrl+s", "submit", "Submit", show=True),
        # Enter in a field that does not take it for itself (a switch); a text field submits on its own
        Binding("enter", "submit", "Submit", show=False),
        Binding("q", "cancel", "Cancel", show=False),
    ]

    def __init__(self, spec: FormSpec, act: Callable[[Any], Awaitable[str | Declined | None]] | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.spec = spec
        """The form's fields and what they build."""
        self.act = act
        """Call -> the engine's refusal once it has acted (None: done; :data:`DECLINED`: its confirmation was
        declined). Given, the form stays open until the engine has acted on what it built: a refusal shows under
        the fields, what was typed kept; a confirmation declined leaves the form as it was."""
        self._busy = False

    # ---- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # title and foot are docked: on a small terminal only the body between them scrolls, and the focused field
        # scrolls into view. The foot holds what must stay in sight whatever the body's scroll: the az command the
        # values stand for (at 80x24 it was below the fields, out of sight), the progress while the engine is asked
        # or acts (the main screen's, under the dialog, was covered by it), and the buttons
        with Vertical(id="dialog", classes="form"):
            yield Label(escape(self.spec.title), id="dialog-title")
            with Vertical(id="form-foot"):
                yield Static("", id="form-az")
                with Vertical(id="form-progress"):
                    yield Static("", id="form-progress-label")
                    yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="form-progress-bar")
                with Horizontal(classes="dialog-buttons"):
                    yield Button(f"{self.spec.submit} (ctrl+s)", variant="primary", id="submit")
                    yield Button("Cancel (esc)", id="cancel")
            with VerticalScroll(id="dialog-body"):
                if self.spec.intro:
                    yield Static(escape(self.spec.intro), classes="dialog-intro")
                with Vertical(id="form-fields"):
                    for f in self.spec.fields:
                        with Vertical(classes="field", id=f"row-{f.name}"):
                            kind = FIELD_KINDS[f.kind]
                            if kind.inline:
                                with Horizontal(classes="switch-row"):
                                    yield kind.widget(f, f"f-{f.name}")
                                    yield Label(escape(f.label), classes="switch-label")
                            else:
                                yield Label(escape(f.label) + ("" if not f.optional else " [dim](optional)[/dim]"),
                                            classes="field-label")
                                yield kind.widget(f, f"f-{f.name}")
                            if f.help:
                                yield Static(escape(f.help), classes="field-help")
                            yield Static("", classes="field-error", id=f"err-{f.name}")
                yield Static("", id="form-error")
        yield KeyFooter()  # its own keys (esc, ctrl+s): the main screen's footer under it is hidden

    def on_mount(self) -> None:
        dialog_opened(self)
        self.query_one("#form-progress").display = False
        self._validate()
        visible = [f for f in self.spec.fields if self.query_one(f"#row-{f.name}").display]
        first = next((f for f in visible if FIELD_KINDS[f.kind].typed), None) or \
            next((f for f in visible if not FIELD_KINDS[f.kind].inline), None)
        if first is not None:  # at once: the keys typed ahead (held since the action's key) come next
            widget = self.query_one(f"#f-{first.name}")
            self.set_focus(widget, scroll_visible=False)
            self.call_after_refresh(widget.scroll_visible, animate=False)  # once laid out (a field low in the form)
        release_keys(self)

    # ---- values and validation ---------------------------------------------------------------

    def values(self) -> dict:
        out: dict[str, Any] = {}
        for f in self.spec.fields:
            out[f.name] = FIELD_KINDS[f.kind].read(self.query_one(f"#f-{f.name}"))
        return out

    def _errors(self, values: dict) -> dict[str, str]:
        errors = {}
        for f in self.spec.fields:
            if f.visible is not None and not f.visible(values):
                continue
            v = values.get(f.name)
            kind = FIELD_KINDS[f.kind]
            invalid = kind.invalid(v)
            if invalid:
                errors[f.name] = invalid
                continue
            if not f.optional and not kind.inline and (v is None or v == ""):
                errors[f.name] = ("none to choose from yet: create one first" if f.kind == "select" and not f.options
                                  else "required")
                continue
            if f.check is not None and not (f.optional and (v is None or v == "")):
                try:
                    msg = f.check(v, values)
                except Exception as exc:  # noqa: BLE001 - a check must never crash the form
                    msg = str(exc)
                if msg:
                    errors[f.name] = msg
        return errors

    def _validate(self) -> dict[str, str]:
        values = self.values()
        errors = self._errors(values)
        for f in self.spec.fields:
            row = self.query_one(f"#row-{f.name}")
            row.display = f.visible is None or bool(f.visible(values))
            err = self.query_one(f"#err-{f.name}", Static)
            err.update(escape(errors.get(f.name, "")))
            err.display = f.name in errors
            row.set_class(f.name in errors, "-invalid")
        self.query_one("#submit", Button).disabled = bool(errors)
        preview = ""
        if not errors and self.spec.preview is not None:
            try:
                lines = self.spec.preview(self.spec.build(values))
                preview = "\n".join(f"$ {escape(x)}" for x in lines)
            except Exception:  # noqa: BLE001
                preview = ""
        az = self.query_one("#form-az", Static)
        az.update(preview)
        az.display = bool(preview)
        self._say_refusal(None)
        return errors

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    @on(TextArea.Changed)
    def _changed(self) -> None:
        self._validate()

    # ---- submit ------------------------------------------------------------------------------

    @on(Input.Submitted)
    def _input_submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        if self._busy:
            return
        errors = self._validate()
        if errors:
            first = next(f for f in self.spec.fields if f.name in errors)
            self.query_one(f"#f-{first.name}").focus()
            return
        self._busy = True
        # the keys typed while the engine is asked wait for what comes next (a `y` typed right after Enter went to
        # the form's field while its check ran, and the confirmation that followed never got it)
        hold_keys(self)
        self.run_worker(self._submit(self.values()), exclusive=True, group="form")

    async def _submit(self, values: dict) -> None:
        try:
            call = self.spec.build(values)
            refusal = None
            if self.spec.check is not None:
                self._say_refusal(None)
                self._show_progress("asking the engine…")
                refusal = await asyncio.to_thread(self.spec.check, call)
                self._show_progress(None)
                if refusal and self.act is not None and getattr(call, "impact", None) is not None:
                    # foreseen by the what-if, it still goes to the engine, as an action without a form does:
                    # the engine refuses (logs and audits) for real, and a workshop step can be that refusal
                    refusal = None
            if not refusal and self.act is not None:
                self._say_refusal(None)
                refusal = await self.act(call)
                if refusal is DECLINED:
                    return
            if refusal:
                self._show_refusal(refusal)
                return
            self.dismiss(call)
        finally:
            self._busy = False
            self._show_progress(None)
            release_keys(self)  # a refusal: back to the form (a confirmation released them already)

    def acting(self) -> None:
        """Said by ``act`` once the engine acts on the call (after its confirmation, if it asks one): in the form's
        foot, with a progress bar, in sight however small the terminal (a re-key of a big set takes seconds)."""
        self._show_progress("the engine is acting on it … (esc closes this form: the action goes on, and its "
                            "outcome is notified)")

    def _show_progress(self, said: str | None) -> None:
        """The foot's progress: what the engine is doing for the form, and an (indeterminate) bar; None hides it."""
        try:
            box = self.query_one("#form-progress")
        except NoMatches:  # the form is being taken down
            return
        if said:
            self.query_one("#form-progress-label", Static).update(Content.from_markup("[dim]$said[/dim]", said=said))
        box.display = bool(said)

    def _say_refusal(self, refusal: str | None) -> Static:
        """The engine's refusal under the fields (None: none, and no row is spent on it)."""
        said = self.query_one("#form-error", Static)
        said.update(Content.from_markup("[$text-error]$refusal[/]", refusal=refusal) if refusal else "")
        said.display = bool(refusal)
        return said

    def _show_refusal(self, refusal: str) -> None:
        self._show_progress(None)
        said = self._say_refusal(refusal)
        # below the fields: on a small terminal the form's body scrolls, and the refusal is brought in
        self.call_after_refresh(said.scroll_visible, animate=False)
