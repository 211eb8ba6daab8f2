"""The console at 100,000 resources, in behaviour (the speed itself is measured by tests/bench/run.py):

* it reads the state only through the engine's typed queries (an AST scan of console/);
* a big pane is listed and filtered in a thread: these tests make every pane "big" (``BIG_ROWS = 0``) on a
  small store, so the thread path is what they drive;
* it follows other processes from where it last read the journal.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from console import app as app_module
from console.app import CmkApp
from console.screens import main as main_screen

ROOT = Path(__file__).resolve().parents[2]
SIZE = (160, 48)


# ---- the console reads through public queries ------------------------------------------------------------

ENGINE_NAMES = ("engine", "e", "eng")
"""What the console calls the engine: a name, or an ``.engine`` attribute (``self.app.engine``, ``ctx.engine``)."""


def _is_engine(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id in ENGINE_NAMES) or (
        isinstance(node, ast.Attribute) and node.attr == "engine")


def _violations(path: Path) -> list[str]:
    return _violations_in(path.read_text(), path.relative_to(ROOT).as_posix())


def _violations_in(source: str, rel: str) -> list[str]:
    tree = ast.parse(source, filename=rel)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        where = f"{rel}:{node.lineno}: {ast.unparse(node)}"
        if node.attr == "t":
            out.append(where + " reads an engine table (use the engine's queries: find_*, list_*, iter_resources)")
        elif node.attr == "store":
            out.append(where + " reaches into the store (use engine.home, engine.store_path, engine.close())")
        elif node.attr.startswith("_") and not node.attr.startswith("__") and _is_engine(node.value):
            out.append(where + " uses a private attribute of the engine")
    return sorted(out, key=lambda line: int(line.split(":")[1]))


def test_the_console_reads_the_engine_only_through_public_queries():
    problems = [v for path in sorted((ROOT / "console").rglob("*.py")) for v in _violations(path)]
    assert problems == [], "\n".join(problems)


def test_the_scan_catches_a_table_read_a_private_call_and_the_store():
    found = _violations_in("def f(engine, self):\n    engine.t['disks'].values()\n    engine._key('kv', 'k')\n"
                           "    self.app.engine.store.close()\n    self._mine = self.ep._theirs\n", "console/probe.py")
    assert len(found) == 3
    assert "engine.t" in found[0] and "engine._key" in found[1] and "engine.store" in found[2]
    assert _violations_in("def g(ctx):\n    return ctx.engine._lock\n", "console/probe.py")


# ---- big panes: listed and filtered in a thread -----------------------------------------------------------------


@pytest.fixture
def every_pane_big(monkeypatch):
    monkeypatch.setattr(main_screen, "BIG_ROWS", 0)


async def _until(pilot, cond, timeout: float = 20.0) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if cond():
            return True
        await pilot.pause(0.02)
    return cond()


def _names(app) -> list[str]:
    main = app.main
    return [main.rows_by_key[k].name for k in main.table.keys]


def _open(home: Path):
    from console.session import open_engine

    return open_engine(home, seed=3, demo=True)


async def test_a_big_pane_is_listed_in_a_thread_and_then_shown(tmp_path, every_pane_big):
    engine = _open(tmp_path / "home")
    expected = [d.name for d in engine.list_disks()]
    engine.close()
    engine = _open(tmp_path / "home")  # a new process: nothing read yet
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        main = app.main
        main.action_pane("disks")
        assert main.is_big(main.pane)
        assert await _until(pilot, lambda: main._loading is None and main.table.keys)
        assert _names(app) == expected
        assert main.table.cursor_key == main.table.keys[0]
        assert "Managed disks" in str(main.query_one("#pane-title").render())
    engine.close()


async def test_the_filter_narrows_a_big_pane_in_a_thread(tmp_path, every_pane_big):
    engine = _open(tmp_path / "home")
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        main = app.main
        main.action_pane("disks")
        assert await _until(pilot, lambda: main._loading is None and main.table.keys)
        everything = _names(app)
        await pilot.press("slash", *"vm-db")
        assert await _until(pilot, lambda: main._token_done == main._token and _names(app) != everything)
        shown = _names(app)
        assert shown and all("vm-db" in name for name in shown)  # the disks of vm-db, by name or by VM
        assert set(shown) < set(everything)
        await pilot.press("escape")  # clears the filter: every row again
        assert await _until(pilot, lambda: main._token_done == main._token and _names(app) == everything)
        await pilot.press("slash", "!", *"vm-db")
        assert await _until(pilot, lambda: main._token_done == main._token and _names(app) != everything)
        assert not any("vm-db" in main.table.row_text(k) for k in main.table.keys)
    engine.close()


def _warm(main) -> bool:
    """The current pane's search text is drawn for its rows as shown now."""
    return main._column[:2] == (main.pane.id, main.generation) and main._column[2] is main.all_keys


@contextlib.asynccontextmanager
async def _disks_pane_left_alone(tmp_path, monkeypatch):
    """The console on the demo's disks pane (every pane big), listed and left alone until its search text is
    drawn: (app, pilot, main)."""
    monkeypatch.setattr(main_screen, "WARM_DELAY", 0.05)
    engine = _open(tmp_path / "home")
    app = CmkApp(engine, poll=False, frozen=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            main = app.main
            main.action_pane("disks")
            assert await _until(pilot, lambda: main._loading is None and main.table.keys)
            assert await _until(pilot, lambda: _warm(main))  # no key pressed: drawn in the background
            yield app, pilot, main
    finally:
        engine.close()


async def test_a_big_pane_left_alone_has_its_search_text_drawn_before_the_first_key(tmp_path, every_pane_big,
                                                                                    monkeypatch):
    async with _disks_pane_left_alone(tmp_path, monkeypatch) as (app, pilot, main):
        assert len(main._column[3]) == len(main.all_keys)
        drawn = []
        real = main._row_text
        monkeypatch.setattr(main, "_row_text", lambda *a: drawn.append(a[3]) or real(*a))
        everything = _names(app)
        await pilot.press("slash", *"vm-db")
        assert await _until(pilot, lambda: main._token_done == main._token and _names(app) != everything)
        assert all("vm-db" in name for name in _names(app))
        assert drawn == []  # the filter searched the text drawn before; it drew none


async def test_the_search_text_is_drawn_again_after_a_change_and_never_while_a_filter_runs(tmp_path,
                                                                                         every_pane_big, monkeypatch):
    async with _disks_pane_left_alone(tmp_path, monkeypatch) as (app, pilot, main):
        before = main._column
        app.engine.stop_vm("vm-web", "rg-demo")  # this process's own change: the pane is listed again
        main.refresh_data()
        assert await _until(pilot, lambda: main._loading is None and _warm(main))
        assert main._column is not before and main._column[1] == main.generation
        # a filter on: it draws its own text; nothing is warmed beside it
        await pilot.press("slash", *"data")
        assert await _until(pilot, lambda: main._token_done == main._token and main.filters.get("disks") == "data")
        started = []
        monkeypatch.setattr(main, "_warm_in_thread", lambda *a: started.append(a))
        main._start_warm()
        assert started == []


async def test_a_change_by_another_process_shows_in_a_big_pane(tmp_path, every_pane_big):
    home = tmp_path / "home"
    engine = _open(home)
    app = CmkApp(engine, poll=True, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        main = app.main
        main.action_pane("disks")
        assert await _until(pilot, lambda: main._loading is None and main.table.keys)
        assert await _until(pilot, app.first_poll.is_set)
        listings = main._token
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}

        def az(*args: str) -> None:
            r = subprocess.run([sys.executable, "-m", "console", "--home", str(home), "az", *args, "-o", "none"],
                               env=env, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr

        az("disk", "create", "-g", "rg-demo", "-n", "disk-from-elsewhere", "--size-gb", "4")
        assert await _until(pilot, lambda: "disk-from-elsewhere" in _names(app))
        names = _names(app)
        assert names == sorted(names, key=str.lower)  # where it sorts
        assert main._token == listings  # patched in: the pane was not listed again
        toasts = [str(n.message) for n in app._notifications]
        assert any("disk-from-elsewhere" in t for t in toasts), toasts
        az("disk", "delete", "-g", "rg-demo", "-n", "disk-from-elsewhere", "--yes")
        assert await _until(pilot, lambda: "disk-from-elsewhere" not in _names(app))
        assert main._token == listings
    engine.close()


async def test_the_console_follows_the_journal_from_its_end(tmp_path):
    """At start the console finds where the journal ends without reading it; afterwards it reads only what
    others append: the history of the events log is never read by the watcher."""
    home = tmp_path / "home"
    engine = _open(home)
    engine.close()
    engine = _open(home)
    before = engine.journal_cursor()
    assert before > 0
    events, after = engine.events_since(before)
    assert events == [] and after == before
    other = _open(home)
    other.stop_vm("vm-web", "rg-demo")
    other.close()
    assert engine.refresh_if_changed()
    events, after = engine.events_since(before)
    assert after > before
    assert [e.type for e in events] and all(e.id > "" for e in events)
    assert any("vm-web" in e.summary for e in events)
    assert engine.loaded_count(("events",)) is None  # the events log itself was never read whole
    engine.close()


def test_a_big_panes_one_pass_search_matches_what_a_small_pane_keeps():
    """A big pane searches its cached column of row texts in one pass (``_search``); a small pane tests each row
    (``_matcher``): both keep the same rows, for text, an exclusion, a regex, a regex exclusion and a bad regex."""
    texts = ["disk0  premium_lrs  cmk  vm-db (lun 0)  usable", "disk1  standard_lrs  platform  -  platform key",
             "snap-db  disk0  cmk  keyunusable", "vm-web-os  premium_lrs  cmk  vm-web (os)  usable"]
    keys = [f"k{i}" for i in range(len(texts))]
    for pattern in ("vm-", "!vm-", "DISK0", "d.sk[01]", "!d.sk[01]", "^vm", "(unclosed", "!(unclosed", ""):
        match = main_screen.MainScreen._matcher(pattern)
        expected = [k for k, t in zip(keys, texts) if match(t)]
        assert main_screen.MainScreen._search(pattern, keys, texts) == expected, pattern
    assert main_screen.MainScreen._search("vm-", keys, texts) == ["k0", "k3"]


async def test_many_warnings_from_another_process_are_named_six_and_counted(tmp_path):
    """Disabling a key in another terminal stops eight VMs: the notification counts the events by kind, names
    six and counts the rest."""
    from console.session import open_engine

    home = tmp_path / "home"
    engine = open_engine(home, seed=3)
    engine.create_group("rg", "eastus")
    engine.create_vault("kv-many", "rg", enable_purge_protection=True)
    k, ver = engine.create_key("kv-many", "k", size=2048)
    des = engine.create_des("des", "rg", key_url=f"{k.id}/{ver['version']}")
    engine.set_policy("kv-many", des.principal_id, ["get", "wrapKey", "unwrapKey"])
    for i in range(8):
        engine.create_vm(f"vm{i}", "rg", os_disk_name=f"vm{i}-os", os_disk_encryption_set="des")
    engine.close()
    engine = open_engine(home)
    app = CmkApp(engine, poll=True, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        assert await _until(pilot, app.first_poll.is_set)
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        r = subprocess.run([sys.executable, "-m", "console", "--home", str(home), "az", "keyvault", "key",
                            "set-attributes", "--vault-name", "kv-many", "-n", "k", "--enabled", "false", "-o", "none"],
                           env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr

        def toast() -> str:
            return next((str(n.message) for n in app._notifications if "shut down" in str(n.message)), "")

        assert await _until(pilot, lambda: toast() != "")
        head, *lines = toast().splitlines()
        assert head == "9 changes: 1 KeyDisabled, 8 VmShutDownByKey"
        assert len(lines) == app_module.LOUD_SHOWN + 1
        # the key disabled, then eight VMs shut down: nine warnings and errors, six named, three counted
        assert "disabled" in lines[0] and sum("shut down" in line for line in lines[1:-1]) == 5
        assert lines[-1] == "… and 3 more: the events pane has them all"
    engine.close()



# ---- the palette's pick on a big pane ---------------------------------------------------------------------------


async def test_an_action_picked_in_the_palette_runs_on_its_row_once_a_big_pane_is_listed(tmp_path, every_pane_big):
    """From another pane, the palette's "Deallocate VM…" lists the VMs it applies to; the one picked is on the
    VMs pane, which is listed in a thread: the dialog opens once its rows are in, on that row (before, it found
    no row selected and said so, and nothing ran)."""
    from textual.command import CommandPalette

    from console.modals.confirm import ConfirmModal
    from console.screenshots import palette_hits, wait_for_screen

    engine = _open(tmp_path / "home")
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        main = app.main
        assert main.pane.id == "vaults"
        await pilot.press("ctrl+p")
        await wait_for_screen(pilot, CommandPalette)
        hits = await palette_hits(pilot, "deallocate")
        assert "Deallocate VM…" in hits, hits
        await pilot.press("enter")
        await wait_for_screen(pilot, CommandPalette)  # which VM
        hits = await palette_hits(pilot, "vm-ultra")
        assert hits == ["Deallocate VM: vm-ultra"], hits
        await pilot.press("enter")
        await wait_for_screen(pilot, ConfirmModal)
        assert main.pane.id == "vms" and main._loading is None and main._run_after is None
        assert main.table.cursor_key == main.table.keys[[main.rows_by_key[k].name for k in main.table.keys]
                                                        .index("vm-ultra")]
        assert main.selected.name == "vm-ultra" and app.screen.title_text.startswith("Deallocate VM vm-ultra?")
        await pilot.press("y")
        assert await _until(pilot, lambda: engine.get_vm("vm-ultra", "rg-demo").power == "deallocated")
    engine.close()


async def test_a_pick_among_more_rows_than_the_palette_lists_goes_to_their_pane(tmp_path, every_pane_big,
                                                                                 monkeypatch):
    """An action with more rows to pick from than PICK_MAX goes to their pane, where its filter runs in a
    thread, and says how to pick; nothing runs yet."""
    monkeypatch.setattr(main_screen, "PICK_MAX", 2)
    engine = _open(tmp_path / "home")
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        main = app.main
        main.pick_and_run("vm.deallocate")  # (three VMs it applies to)
        assert await _until(pilot, lambda: main._loading is None and main.table.keys)
        assert main.pane.id == "vms" and app.screen is main
        said = [n.message for n in app._notifications]
        assert any("3 rows of the vms pane it applies to" in m and "press d on it" in m for m in said), said
        assert [v.power for v in engine.list_vms()] == ["deallocated", "running", "running", "running"]
    engine.close()
