"""Confirmations before destructive actions, showing the engine's what-if.

``ConfirmModal`` (y / n / escape) lists what the action would do, terraform-style: ``-`` stops,
``!`` at risk, ``~`` re-wrapped, ``x`` lost for good, ``+`` restored, ``@`` what the clock will run.
``TypedConfirmModal`` asks for the resource's name before a purge, so muscle memory cannot confirm it.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ..rows import shorten
from ..widgets.footer import KeyFooter
from ..widgets.util import KeyScroll, escape, dialog_opened, release_keys

_MARKS = (
    ("refused:", "x", "$text-error"),
    ("job(s) no longer scheduled:", "@", "$text-muted"),
    ("job(s) scheduled:", "@", "$text-accent"),
    ("job(s) run as the clock passes them:", "@", "$text-accent"),
    ("stay on the key version they name", "!", "$text-warning"),
    ("stop following their key's new versions", "!", "$text-warning"),
    ("will stop", "-", "$text-error"),
    ("will not start again", "!", "$text-error"),
    ("can no longer start", "!", "$text-error"),
    ("your own access", "!", "$text-error"),
    ("lost for good", "x", "$text-error"),
    ("keep running", "!", "$text-warning"),
    ("become unreadable", "!", "$text-warning"),
    ("can no longer use their key", "!", "$text-warning"),
    ("re-wrapped", "~", "$text-accent"),
    ("readable again", "+", "$text-success"),
    ("become startable", "+", "$text-success"),
    ("start:", "+", "$text-success"),
    ("create:", "+", "$text-success"),
    ("delete:", "-", "$text-error"),
    ("modify:", "~", "$text-muted"),
    ("no change", "=", "$text-muted"),
)


MAX_NAMES = 12
"""Names a what-if line shows in the dialog before it says how many more (``Impact.lines(limit=...)``)."""


def impact_markup(lines: list[str]) -> str:
    """The what-if lines, each with its mark and colour."""
    out = []
    for line in lines:
        mark, colour = "•", "$foreground"
        for needle, m, c in _MARKS:
            if needle in line:
                mark, colour = m, c
                break
        out.append(f"[{colour}]{mark} {escape(shorten(line))}[/]")
    return "\n".join(out)


class ConfirmModal(ModalScreen[bool]):
    """Yes or no, with the what-if of the action and its az command."""

    KEY_HINT = " (y)"

    BINDINGS = [
        Binding("y", "confirm", "Yes", show=True),
        Binding("n,escape", "cancel", "No", show=True),
        Binding("q", "cancel", "No", show=False),
        # on a short terminal the what-if scrolls between the title and the buttons, which hold the focus
        Binding("down,j", "body('scroll_down')", "Scroll", show=True),
        Binding("up,k", "body('scroll_up')", "Scroll", show=False),
        Binding("pagedown", "body('scroll_page_down')", "Page", show=False),
        Binding("pageup", "body('scroll_page_up')", "Page", show=False),
        Binding("home,g", "body('scroll_home')", "Top", show=False),
        Binding("end,G", "body('scroll_end')", "End", show=False),
    ]

    def __init__(self, title: str, lines: list[str], az: list[str] | None = None, *, confirm_label: str = "Yes",
                 danger: bool = True, intro: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        """What the dialog asks."""
        self.lines = lines
        """The engine's what-if lines."""
        self.az = az or []
        """The equivalent command line(s)."""
        self.confirm_label = confirm_label
        self.danger = danger
        self.intro = intro

    def compose(self) -> ComposeResult:
        # title and buttons are docked: on a small terminal only the body between them scrolls
        with Vertical(id="dialog", classes="confirm"):
            yield Label(escape(self.title_text), id="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm_label}{self.KEY_HINT}", variant="error" if self.danger else "primary",
                             id="confirm")
                yield Button("Cancel (n)", id="cancel")
            with KeyScroll(id="dialog-body"):
                if self.intro:
                    yield Static(escape(self.intro), classes="dialog-intro")
                yield Label("What will happen (engine what-if):", classes="dialog-section")
                yield Static(impact_markup(self.lines), id="impact")
                if self.az:
                    yield Static("\n".join(f"$ {escape(line)}" for line in self.az), id="dialog-az")
                yield from self.compose_extra()
        yield KeyFooter()  # its own keys (y, n): the main screen's footer under it is hidden

    def compose_extra(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        dialog_opened(self)
        self.initial_focus()
        release_keys(self)
        self.call_after_refresh(self.refresh_bindings)  # (laid out: whether the what-if scrolls is known)

    def initial_focus(self) -> None:
        self.set_focus(self.query_one("#cancel", Button), scroll_visible=False)  # at once: the keys typed ahead come next

    def action_confirm(self) -> None:
        self.dismiss(True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The scroll keys only while the what-if is taller than the dialog (the footer then shows one)."""
        if action == "body":
            bodies = self.query("#dialog-body")
            return bool(bodies) and bodies.first().max_scroll_y > 0
        return True

    def on_resize(self) -> None:
        self.call_after_refresh(self.refresh_bindings)

    def action_body(self, how: str) -> None:
        """Scroll the what-if (``scroll_down``, ``scroll_page_up``, ``scroll_end`` ...) at once, from where the keys
        before left it, as :class:`KeyScroll` does (keys typed together each move it)."""
        body = self.query_one("#dialog-body", KeyScroll)
        if how.startswith("scroll_page"):
            getattr(body, how)(animate=False)
        else:
            getattr(body, how)(animate=False, immediate=True)

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)


class TypedConfirmModal(ConfirmModal):
    """Confirm by typing the resource's name (purge)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=True)]
    KEY_HINT = ""

    def __init__(self, title: str, lines: list[str], az: list[str] | None, expected: str, **kw) -> None:
        super().__init__(title, lines, az, **kw)
        self.expected = expected
        """The name to type."""

    def compose_extra(self) -> ComposeResult:
        yield Label(f"Type [b]{escape(self.expected)}[/b] to confirm. This cannot be undone.",
                    classes="dialog-section")
        yield Input(placeholder=self.expected, id="typed")

    def initial_focus(self) -> None:
        self.query_one("#confirm", Button).disabled = True
        self.set_focus(self.query_one("#typed", Input), scroll_visible=False)

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.expected

    @on(Input.Submitted, "#typed")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value == self.expected:
            self.dismiss(True)

    def action_confirm(self) -> None:
        if self.query_one("#typed", Input).value == self.expected:
            self.dismiss(True)
