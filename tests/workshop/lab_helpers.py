"""What the workshop and classroom tests share about a home's lab: its saved progress, read as any reader reads
it, through a read-only engine on the home (the store's side document, never the file by its path)."""

from __future__ import annotations

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
