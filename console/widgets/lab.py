"""The Lab panel: a workshop scenario in the console (``cmklab scenario run NAME``).

It renders an :class:`console.workshop.scenario.Lab`: the step's title and narrative, its hints (the
``cmklab az ...`` commands, with real ids filled in, and the console action), and its objectives,
ticked as the engine's state meets them. ``refresh_lab()`` re-checks them (call it whenever the engine
changed); ``>`` / ``<`` move to the next / previous step (here, and from any pane through the main
screen's bindings: ``n`` and ``p`` belong to the panes' actions). The lab's progress is a side document of
the store (``scenario.json`` in the home, read and written through the engine): when another terminal saves it
(``cmklab scenario check`` moving on), the panel follows within a second (``Engine.side_signature``).

Hooking it into the console (three small edits in console code)::

    # run_console / CmkApp: the lab being played in the home, if any
    from console.workshop import open_lab
    app.lab = open_lab(engine, read_only=read_only)   # None when the store holds no lab's progress

    # MainScreen.compose, inside the side TabbedContent:
    if self.app.lab is not None:
        with TabPane("lab", id="side-lab"):
            yield LabPanel(self.app.lab, id="lab")

    # MainScreen.refresh_data (after every action and every external change):
    for panel in self.query(LabPanel):
        panel.refresh_lab()
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Static

from console.workshop.scenario import Lab, ObjectiveResult

from .util import KeyScroll, escape


class LabPanel(KeyScroll, can_focus=True):
    """The current step of a lab, its hints and its objectives (met / not yet); j/k, g/G and the arrows scroll it."""

    DEFAULT_CSS = """
    LabPanel {
        padding: 0 1;
        background: $surface;
    }
    LabPanel > .lab-title {
        text-style: bold;
        margin-bottom: 1;
    }
    LabPanel > .lab-section {
        margin-bottom: 1;
    }
    """

    BINDINGS = [
        Binding("greater_than_sign", "next_step", "next step"),
        Binding("less_than_sign", "previous_step", "previous step"),
    ]

    class StepCompleted(Message):
        """Every objective of a step is met (posted once per step)."""

        def __init__(self, lab: Lab, number: int) -> None:
            super().__init__()
            self.lab = lab
            self.number = number

    def __init__(self, lab: Lab, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lab = lab
        self.results: list[ObjectiveResult] = []

    def compose(self) -> ComposeResult:
        yield Static("", classes="lab-title", id="lab-title")
        yield Static("", classes="lab-section", id="lab-narrative")
        yield Static("", classes="lab-section", id="lab-hints")
        yield Static("", classes="lab-section", id="lab-objectives")
        yield Static("", id="lab-status")

    def on_mount(self) -> None:
        self.refresh_lab()
        self.set_interval(1.0, self.follow, name="lab-follow")

    def follow(self) -> bool:
        """Redraw when the lab's progress changed on disk: ``cmklab scenario check`` (or ``reset-step``)
        in another terminal moved to another step. Called every second; True if it redrew."""
        if not self.lab.reload_if_changed():
            return False
        if self.lab.superseded and not self._take_new_lab():
            return True
        self.refresh_lab()
        self.scroll_home(animate=False)
        return True

    def _take_new_lab(self) -> bool:
        """Another terminal started another scenario in this home: show that lab from now on (the old one saves
        nothing), opened by the app (``CmkApp.reopen_lab``, which finds scenarios). False (and a line saying so)
        when there is no new lab to show."""
        reopen = getattr(self.app, "reopen_lab", None)
        lab = reopen() if reopen is not None else None
        if lab is None:
            self.query_one("#lab-status", Static).update(
                "[b $warning]Another scenario was started in this home.[/] Open the console again to follow it.")
            return False
        self.lab = lab
        return True

    # ---- rendering -----------------------------------------------------------------------------

    def refresh_lab(self) -> None:
        """Re-check the current step's objectives on the engine's state and redraw."""
        lab = self.lab
        was_complete = lab.index in lab.completed
        self.results = lab.check()
        step = lab.step
        self.query_one("#lab-title", Static).update(
            f"{escape(lab.scenario.title)}\n[dim]step {lab.number}/{lab.total}:[/] {escape(step.title)}")
        self.query_one("#lab-narrative", Static).update(escape(step.narrative))
        # the console's route first (this is the console): on a small terminal it is in sight with the narrative,
        # the commands for a terminal after it
        hints = [f"[dim]console:[/] {escape(step.console)}"] if step.console else []
        for text, hint in lab.shown_hints():
            hints.append(f"[b]$[/] {escape(text)}" + ("  [dim](refused, on purpose)[/]" if hint.refused else ""))
        self.query_one("#lab-hints", Static).update("\n".join(hints))
        self.query_one("#lab-objectives", Static).update("\n".join(self._objective_line(r) for r in self.results))
        done = lab.index in lab.completed
        stuck = lab.stuck(self.results)
        if stuck and not done:
            status = (f"[b $error]This step can no longer be met[/] ({escape(stuck[0].detail)}). "
                      + self._reset_advice())
        elif lab.finished:
            status = "[b $success]Scenario complete.[/] Every step's objectives were met."
        elif done and lab.index < lab.total - 1:
            status = "[b $success]Step complete.[/] Press > for the next step."
        else:
            left = sum(1 for r in self.results if not r.met)
            status = f"[dim]{left} objective(s) to go. > / <: next / previous step.[/]"
        self.query_one("#lab-status", Static).update(status)
        if done and not was_complete:
            self.post_message(self.StepCompleted(lab, lab.number))

    def _reset_advice(self) -> str:
        """The lab's way out of a step that can no longer be met, the command in bold, "in a terminal" said."""
        text = escape(self.lab.reset_advice())
        head, sep, command = text.partition(": ")
        if not sep or not command.startswith("cmklab"):
            return text  # the classroom: ask the trainer
        return f"{head}: [b]{command}[/] in a terminal."

    @staticmethod
    def _objective_line(r: ObjectiveResult) -> str:
        mark = "[b $warning]?[/]" if r.error else "[b $error]![/]" if r.impossible else \
            "[b $success]✓[/]" if r.met else "[b $error]✗[/]"
        return f"{mark} {escape(r.label)}\n    [dim]{escape(r.detail)}[/]"

    # ---- navigation ----------------------------------------------------------------------------

    def action_next_step(self) -> None:
        if self.lab.next():
            self.refresh_lab()
            self.scroll_home(animate=False)

    def action_previous_step(self) -> None:
        if self.lab.previous():
            self.refresh_lab()
            self.scroll_home(animate=False)
