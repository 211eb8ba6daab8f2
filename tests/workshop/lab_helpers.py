"""What the workshop and classroom tests share about a home's lab: its saved progress, read as any reader reads
it, through a read-only engine on the home (the store's side document, never the file by its path)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from console.session import open_engine
from console.workshop.scenario import LAB_DOCUMENT, Lab


def saved_lab(home: str | Path) -> dict | None:
    """The lab's progress saved in ``home``'s store (None when there is none)."""
    engine = open_engine(home, read_only=True)
    try:
        return Lab.state_of(engine)
    finally:
        engine.close()


def saved_lab_version(home: str | Path) -> tuple:
    """The saved progress with its signature: two equal versions mean nothing was saved in between."""
    engine = open_engine(home, read_only=True)
    try:
        return engine.side_signature(LAB_DOCUMENT), Lab.state_of(engine)
    finally:
        engine.close()


@contextlib.asynccontextmanager
async def lab_console(home: str | Path, scenario: str):
    """The console (160x48, no journal poll, clock frozen) on ``home`` playing ``scenario`` from its start:
    yields ``(engine, app, pilot, lab panel)``."""
    from console.app import CmkApp
    from console.widgets.lab import LabPanel
    from console.workshop import run_scenario_cli

    assert run_scenario_cli(["run", scenario, "--no-console"], home=str(home)) == 0
    engine = open_engine(home)
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        yield engine, app, pilot, app.screen.query_one(LabPanel)
