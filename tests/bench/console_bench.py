"""The console's figures for tests/bench/run.py: first frame at 10,000 and 100,000 resources, input latency
during a 2,000-disk rotation, while another process commits at 100,000 and while typing a filter at 100,000.
Headless (``App.run_test``), real engine, real RSA work in the console's worker, real writer processes."""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from console.app import CmkApp
from console.actions import Call
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
            gc.collect()  # each run starts on a clean heap, as a new process does (see _open_to_first_poll's caller)
            tb = asyncio.run(_first_frame(big))
            gc.collect()
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


# ---- at 100,000 resources ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


async def _open_to_first_poll(home: str) -> float:
    """From opening the store to the first frame drawn and the watcher's first look at the store done
    (it has found where the journal ends): what a user waits for before the console follows others."""
    t = time.perf_counter()
    engine = open_engine(home)
    app = CmkApp(engine, store_label="bench", poll=True, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        while not app.first_poll.is_set():
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - t
    engine.close()
    return elapsed


def first_frame_100k_ratio(h_big: str, h_empty: str, pairs: int = 5) -> tuple[float, str]:
    """Open + first frame + first journal poll on the big store / the same on an empty store (interleaved)."""
    asyncio.run(_open_to_first_poll(h_empty))  # warm-up: imports, CSS parsing, page cache
    asyncio.run(_open_to_first_poll(h_big))
    runs = []
    for _ in range(pairs):
        # each run starts on a clean heap, as a new process does: the last run's app (widgets in reference
        # cycles) is collected here, not in the middle of the next run
        gc.collect()
        tb = asyncio.run(_open_to_first_poll(h_big))
        gc.collect()
        te = asyncio.run(_open_to_first_poll(h_empty))
        runs.append((tb, te))
    ratio = statistics.median(b / e for b, e in runs)
    tb = statistics.median(p[0] for p in runs)
    te = statistics.median(p[1] for p in runs)
    return ratio, (f"open the store, first frame and first journal poll: {tb * 1000:.0f} ms vs empty store "
                   f"{te * 1000:.0f} ms (median of {pairs} interleaved pairs)")


class _Presses:
    """Posts key presses from a thread of their own, one every 20 ms of wall time, and records through
    run_test's message hook when the app dispatched each: a press posted while the UI thread is busy waits
    for it, so the worst delay is the longest time the console could not answer a key."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.handled: dict[int, float] = {}
        self.keep: list = []
        self.queue: list[tuple[str, str | None]] = []
        """Keys to type first (in order); then ``idle`` keys."""
        self.idle: tuple[str, str | None] = ("down", None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def hook(self, message) -> None:
        from textual import events

        if isinstance(message, events.Key) and id(message) in self.sent and id(message) not in self.handled:
            self.handled[id(message)] = time.perf_counter()

    def press(self, app, key: str, character: str | None = None) -> None:
        from textual import events

        event = events.Key(key, character)
        self.keep.append(event)
        self.sent[id(event)] = time.perf_counter()
        app.post_message(event)  # thread-safe in Textual

    def start(self, app, every: float = 0.02) -> None:
        def run() -> None:
            n = 0
            t0 = time.perf_counter()
            while not self._stop.is_set():
                key = self.queue.pop(0) if self.queue else self.idle
                self.press(app, *key)
                n += 1
                delay = t0 + n * every - time.perf_counter()
                if delay > 0:
                    self._stop.wait(delay)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def worst_ms(self) -> tuple[float, int]:
        lat = [self.handled[k] - self.sent[k] for k in self.sent if k in self.handled]
        if len(lat) < len(self.sent):
            return float("inf"), len(lat)
        return (max(lat) * 1000 if lat else float("inf")), len(lat)


async def _wait(cond, timeout: float) -> bool:
    t = time.perf_counter()
    while not cond():
        if time.perf_counter() - t > timeout:
            return False
        await asyncio.sleep(0.01)
    return True


WRITER = """
import sys
from console.session import open_engine
engine = open_engine(sys.argv[1])
for i in range(int(sys.argv[2])):
    engine.create_disk(f"ext-{sys.argv[3]}-{i}", "rg", size_gb=1)   # one action, one commit
engine.close()
"""


async def _external_freeze(home: str, commits: int, tag: str) -> tuple[float, int, float, float]:
    presses = _Presses()
    engine = open_engine(home)
    app = CmkApp(engine, store_label="bench", poll=True, frozen=True)
    async with app.run_test(size=SIZE, message_hook=presses.hook) as pilot:
        await pilot.pause()
        main = app.main
        main.action_pane("disks")
        if not await _wait(lambda: main._loading is None and main.all_keys, 180):
            raise RuntimeError("the disks pane did not load")
        await asyncio.sleep(0.5)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", WRITER, home, str(commits), tag], env=env)
        prefix = next(iter(main.rows_by_key)).rsplit("/", 1)[0] + "/"
        want = [prefix + f"ext-{tag}-{i}" for i in range(commits)]
        seen = exited = None
        presses.start(app)
        while time.perf_counter() - t0 < 120:
            await asyncio.sleep(0.02)
            if exited is None and proc.poll() is not None:
                exited = time.perf_counter() - t0
            if seen is None and main._loading is None and all(k in main.rows_by_key for k in want):
                seen = time.perf_counter() - t0
            if seen is not None and exited is not None:
                break
        presses.stop()
        proc.wait()
        writer = exited if exited is not None else time.perf_counter() - t0
        await pilot.pause()
        await asyncio.sleep(0.1)
    engine.close()
    worst, n = presses.worst_ms()
    return worst, n, writer, seen if seen is not None else float("inf")


def external_commit_freeze_ms(home: str, commits: int = 20) -> tuple[float, str]:
    worst, n, writer, seen = asyncio.run(_external_freeze(home, commits, f"{time.time_ns():x}"))
    return worst, (f"worst of {n} key presses (every 20 ms) on the disks pane while another process committed "
                   f"{commits} disk creations in a row ({writer:.1f} s from its start to its exit); all "
                   f"{commits} rows shown {seen:.1f} s after it started")


async def _filter_keystrokes(home: str, text: str) -> tuple[float, int, int, int, float]:
    presses = _Presses()
    engine = open_engine(home)
    app = CmkApp(engine, store_label="bench", poll=True, frozen=True)
    async with app.run_test(size=SIZE, message_hook=presses.hook) as pilot:
        await pilot.pause()
        main = app.main
        main.action_pane("disks")
        if not await _wait(lambda: main._loading is None and main.all_keys, 180):
            raise RuntimeError("the disks pane did not load")
        total = len(main.all_keys)
        await asyncio.sleep(0.3)
        presses.idle = ("right", None)  # moves the input's cursor: handled, changes no text
        presses.queue = [("slash", "/")] + [("right", None)] * 5
        for ch in text:  # typed at a brisk 8 keys a second; a press every 20 ms in between
            presses.queue += [(ch, ch)] + [("right", None)] * 5
        presses.start(app)
        if not await _wait(lambda: not presses.queue, 60):
            raise RuntimeError("the keys were not typed")
        t_last = time.perf_counter()
        narrowed = None
        while time.perf_counter() - t_last < 120:
            shown = main.table.keys
            if main.filters.get("disks") == text and main._token_done == main._token and 0 < len(shown) < total \
                    and all(text in main.rows_by_key[k].name for k in shown[:50]):
                narrowed = time.perf_counter() - t_last
                break
            await asyncio.sleep(0.02)
        presses.stop()
        rows = len(main.table.keys)
        await pilot.pause()
    engine.close()
    worst, n = presses.worst_ms()
    return worst, n, total, rows, narrowed if narrowed is not None else float("inf")


def filter_keystroke_ms(home: str, text: str = "disk12") -> tuple[float, str]:
    worst, n, total, rows, narrowed = asyncio.run(_filter_keystrokes(home, text))
    return worst, (f"worst of {n} key presses while typing /{text} in the disks pane ({total} rows -> {rows}); "
                   f"the rows narrowed {narrowed:.2f} s after the last key (debounced, searched in a thread)")
