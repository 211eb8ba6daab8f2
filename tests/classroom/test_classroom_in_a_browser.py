"""A classroom as its people use it, in a real headless browser (Debian's ``chromium``, driven through its
DevTools protocol: tests/workshop/browser_helpers.py): a trainee opens their link and types, the trainer
acts from their page."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classroom_helpers import DEADLINE, lab_step  # noqa: E402
from browser_helpers import chromium, needs_chromium  # noqa: E402  (tests/workshop, on the path through classroom_helpers)

pytestmark = needs_chromium


async def _until(predicate, what: str, deadline: float = DEADLINE):
    end = time.monotonic() + deadline
    while not (value := predicate()):
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline}s: {what}")
        await asyncio.sleep(0.1)
    return value


def test_a_trainee_who_opens_their_link_types_into_the_console_at_once(classroom, tmp_path):
    """The page gives the console the keyboard's focus: the trainee's first key reaches it without a
    click in the page first (at 80x24-ish, as on a small laptop window)."""

    async def go():
        async with chromium(tmp_path, width=780, height=520) as open_tab:
            tab = await open_tab(classroom.links["trainee-01"])
            await tab.until("document.body.classList.contains('-first-byte')", "the console's first screen")
            await tab.type(">")  # the Lab's next step, typed before anything in the page was clicked
            await _until(lambda: lab_step(classroom.home("trainee-01")) == 2, "trainee-01's lab moved to step 2")

    asyncio.run(go())
