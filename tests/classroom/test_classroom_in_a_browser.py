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


_COUNT_POLLS = """(() => {
  if (window.__polls === undefined) {
    window.__polls = 0;
    const fetch0 = window.fetch;
    window.fetch = (...args) => { if (String(args[0]).endsWith("/api/state")) window.__polls++; return fetch0(...args); };
  }
  return window.__polls;
})()"""


def test_the_trainer_sees_what_each_button_did_until_the_next_one(classroom, tmp_path):
    """What a button did (the room moved, a step reset, a refusal) stays on the page while it keeps polling
    the room's state, instead of being replaced by the next poll's line within a second."""

    async def go():
        async with chromium(tmp_path) as open_tab:
            tab = await open_tab(classroom.trainer)
            await tab.until("document.querySelectorAll('tr[data-trainee]').length === 2", "the trainees' rows")

            async def press(selector: str, expect: str, confirm: str = "") -> None:
                await tab.js(f"setTimeout(() => document.querySelector({selector!r}).click(), 0)")
                if confirm:
                    assert confirm in await tab.accept_dialog()
                await tab.until(f"document.body.innerText.includes({expect!r})", f"the page says {expect!r}")
                polls = await tab.js(_COUNT_POLLS)
                await tab.until(f"window.__polls >= {polls + 2}", "two more polls of the room's state")
                assert expect in await tab.js("document.body.innerText"), f"{expect!r} went away"

            await press("#advance", "room moved to step 2 (2 moved)")
            await press("tr[data-trainee='trainee-02'] button", "trainee-02: step reset", confirm="trainee-02")
            await press("#advance", "room moved to step 3")
            await press("#advance", "room moved to step 4")
            await press("#advance", "step 5 does not exist")  # a refusal stays too

    asyncio.run(go())


_HOLD_RESETS = """(() => {
  window.__held = [];
  const fetch0 = window.fetch;
  window.fetch = (...args) => {
    if (!String(args[0]).includes("/api/reset/")) return fetch0(...args);
    return new Promise((resolve) => window.__held.push(() => resolve(fetch0(...args))));
  };
  return true;
})()"""

_RESET_BUTTON = "document.querySelector(\"tr[data-trainee='trainee-02'] button\")"


def test_a_reset_button_stays_disabled_until_its_reset_has_finished(classroom, tmp_path):
    """The page redraws its rows at each poll of the room's state: the reset button it disabled while a reset
    runs stays disabled through those redraws (a second press would only be refused), and comes back once the
    reset has answered. The page's reset request is held back in the page, so the reset is still running for
    as long as the test needs."""

    async def go():
        async with chromium(tmp_path) as open_tab:
            tab = await open_tab(classroom.trainer)
            await tab.until("document.querySelectorAll('tr[data-trainee]').length === 2", "the trainees' rows")
            await tab.js(_HOLD_RESETS)
            await tab.js(f"setTimeout(() => {_RESET_BUTTON}.click(), 0)")
            assert "trainee-02" in await tab.accept_dialog()
            await tab.until("window.__held.length === 1", "the page asked for the reset")
            polls = await tab.js(_COUNT_POLLS)
            await tab.until(f"window.__polls >= {polls + 2}", "two more polls of the room's state")
            assert await tab.js(f"{_RESET_BUTTON}.disabled"), "the button came back while its reset is running"
            assert await tab.js("document.querySelector(\"tr[data-trainee='trainee-01'] button\").disabled") is False
            await tab.js("window.__held.shift()()")  # the reset goes to the server now and finishes
            await tab.until("document.body.innerText.includes('trainee-02: step reset')", "the reset answered")
            await tab.until(f"{_RESET_BUTTON}.disabled === false", "the button is back once the reset finished")

    asyncio.run(go())
