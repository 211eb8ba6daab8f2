"""The Lab panel renders a lab: the step, its hints with real ids, objectives ticking as the engine's
state meets them, and next / previous."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from console.widgets.lab import LabPanel
from console.workshop import find_scenario
from engine import Engine
from console.workshop.scenario import Lab, start_scenario


class _LabApp(App):
    def __init__(self, lab: Lab) -> None:
        super().__init__()
        self.lab = lab
        self.completed: list[int] = []

    def compose(self) -> ComposeResult:
        yield LabPanel(self.lab, id="lab")

    def on_lab_panel_step_completed(self, message: LabPanel.StepCompleted) -> None:
        self.completed.append(message.number)


def _lab(name: str) -> Lab:
    sc = find_scenario(name)
    e = Engine.in_memory(seed=sc.seed)
    start_scenario(e, sc)
    return Lab(e, sc)


def _text(app, wid: str) -> str:
    return str(app.query_one(f"#{wid}", Static).render())


async def test_the_panel_ticks_objectives_and_moves_between_steps():
    lab = _lab("revoke-access")
    app = _LabApp(lab)
    async with app.run_test(size=(100, 50)) as pilot:
        panel = app.query_one(LabPanel)
        panel.focus()
        assert "step 1/3" in _text(app, "lab-title")
        assert lab.engine.get_des("des-app").principal_id in _text(app, "lab-hints")
        assert "✗ the identity of des-app lacks" in _text(app, "lab-objectives")

        lab.engine.delete_policy("kv-lab", lab.engine.get_des("des-app").principal_id)
        panel.refresh_lab()
        await pilot.pause()
        assert "✓ the identity of des-app lacks" in _text(app, "lab-objectives")
        assert "Step complete" in _text(app, "lab-status")
        assert app.completed == [1]

        await pilot.press("greater_than_sign")
        assert "step 2/3" in _text(app, "lab-title")
        assert "refused, on purpose" in _text(app, "lab-hints")
        await pilot.press("less_than_sign")
        assert "step 1/3" in _text(app, "lab-title")
