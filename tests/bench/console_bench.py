"""The console's figures for tests/bench/run.py: first frame at 10,000 resources, input latency during a
2,000-disk rotation. Headless (``App.run_test``), real engine, real RSA work in the console's worker."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time

from console.app import CmkApp
from console.screens.ops import Call
from console.session import open_engine

SIZE = (160, 48)


async def _first_frame(engine) -> float:
    app = CmkApp(engine, store_label="bench", poll=False, frozen=True)
    t = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        elapsed = time.perf_counter() - t
    return elapsed


def first_frame_ratio(n: int, big_store) -> tuple[float, str]:
    """First frame on an n-resource store / first frame on an empty store (medians of interleaved runs)."""
    with tempfile.TemporaryDirectory() as h_big, tempfile.TemporaryDirectory() as h_empty:
        big = big_store(h_big, n)
        empty = open_engine(h_empty)
        count = sum(len(big.t[t]) for t in ("vaults", "keys", "des", "disks", "snapshots", "images", "vms"))
        asyncio.run(_first_frame(empty))  # warm-up: imports, CSS parsing
        asyncio.run(_first_frame(big))
        pairs = []
        for _ in range(5):
            tb = asyncio.run(_first_frame(big))
            te = asyncio.run(_first_frame(empty))
            pairs.append((tb, te))
    ratio = statistics.median(b / e for b, e in pairs)
    tb = statistics.median(p[0] for p in pairs)
    te = statistics.median(p[1] for p in pairs)
    return ratio, f"{count} resources: {tb * 1000:.0f} ms vs empty store {te * 1000:.0f} ms (median of 5 pairs)"


async def _latency(engine, des: str, new_url: str) -> tuple[float, int, float]:
    """Post a key press every 20 ms while the console's worker re-wraps the set; the latency of a press
    is the time from posting the Key event to its dispatch by the app (run_test's message_hook sees
    each message as it is handled). The worst over the rotation is the figure."""
    from textual import events

    sent: dict[int, float] = {}
    handled: dict[int, float] = {}

    def hook(message) -> None:
        if isinstance(message, events.Key) and id(message) in sent and id(message) not in handled:
            handled[id(message)] = time.perf_counter()

    app = CmkApp(engine, store_label="bench", poll=True, frozen=True)
    keep = []
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await pilot.pause()
        t0 = time.perf_counter()
        app.execute(Call("update_des", (des,), {"key_url": new_url}), "rotate the set's key", slow=True)
        await asyncio.sleep(0.02)
        while (engine.busy or engine.get_des(des).key_url != new_url) and time.perf_counter() - t0 < 120:
            key = events.Key("down", None)
            keep.append(key)
            sent[id(key)] = time.perf_counter()
            app.post_message(key)
            await asyncio.sleep(0.02)
        duration = time.perf_counter() - t0
        await pilot.pause()
        await asyncio.sleep(0.2)
    lat = [handled[k] - sent[k] for k in sent if k in handled]
    missing = len(sent) - len(lat)
    worst = max(lat) if lat else float("inf")
    return (worst * 1000 if not missing else float("inf")), len(lat), duration


def input_latency_during_rotation_ms(n: int, landscape) -> tuple[float, str]:
    with tempfile.TemporaryDirectory() as home:
        engine = open_engine(home)
        des, new_url = landscape(engine, key_size=3072, disks=n)
        worst, presses, duration = asyncio.run(_latency(engine, des, new_url))
    return worst, (f"worst of {presses} key presses while the console's worker re-wrapped {n} data keys "
                   f"on RSA-3072 ({duration:.1f} s)")
