"""The README's pictures (screenshots/*.svg) must match what the console draws today.

Regenerate them with ``python -m console.screenshots`` after a deliberate change to the console.
"""

from __future__ import annotations

import asyncio

import pytest

from console.screenshots import DEFAULT_DIR, SHOTS, capture


@pytest.mark.parametrize("shot", SHOTS, ids=[s.name for s in SHOTS])
def test_screenshot_matches_the_console(shot):
    path = DEFAULT_DIR / f"{shot.name}.svg"
    assert path.exists(), f"{path} is missing: run python -m console.screenshots"
    drawn = asyncio.run(capture(shot))
    assert drawn == path.read_text(encoding="utf-8"), (
        f"{path.name} no longer matches what the console draws: run python -m console.screenshots and look at it")


def test_every_picture_has_a_shot():
    names = {s.name for s in SHOTS}
    stale = sorted(p.stem for p in DEFAULT_DIR.glob("*.svg") if p.stem not in names)
    assert not stale, f"pictures no shot draws any more: {stale}"
