"""The console's pictures: one SVG per pane and per key dialog, from the seeded demo landscape.

    python -m console.screenshots [DIR]        # writes DIR/*.svg (default: screenshots/)

Every picture starts from the demo landscape with seed 1 and the simulated clock frozen at its start
(2026-05-01 09:00 UTC), in snapshot mode (no animation, no blinking cursor), so the same code draws
byte-identical SVGs on every machine. ``tests/console/test_console_screenshots.py`` fails when the
committed pictures no longer match what the console draws, and the snapshot tests reuse these steps.
"""

from __future__ import annotations

import asyncio
import sys
from engine._light import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from textual.pilot import Pilot

from .app import CmkApp, make_app

Steps = Callable[[Pilot], Awaitable[None]]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = ROOT / "screenshots"
WIDE = (160, 48)
NARROW = (80, 24)


# ---- helpers the steps (and the tests) use ------------------------------------------------------------------

async def settle(pilot: Pilot, rounds: int = 200) -> None:
    """Wait until no engine action or dialog flow is running, then let the screen redraw."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause(0.02)
        busy = getattr(app, "_pending", None) or any(
            w.group in ("engine", "flow", "form") and w.is_running and not w.is_cancelled for w in app.workers)
        if not busy:
            break
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def wait_for_screen(pilot: Pilot, cls: type, rounds: int = 200) -> None:
    for _ in range(rounds):
        if isinstance(pilot.app.screen, cls):
            break
        await pilot.pause(0.02)
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


async def select(pilot: Pilot, pane: str, name: str) -> None:
    """Show ``pane`` and put the cursor on the row whose object is named ``name``."""
    main = pilot.app.main
    main.show_pane(pane)
    await pilot.pause()
    for key, obj in main.rows_by_key.items():
        label = getattr(obj, "name", None) or getattr(getattr(obj, "key", None), "name", None)
        if label == name:
            main.table.move_to(key)
            break
    else:  # pragma: no cover - a test names a row that does not exist
        raise LookupError(f"no row {name!r} in pane {pane}")
    main.table.focus()
    await pilot.pause()


async def open_dialog(pilot: Pilot, pane: str, name: str, key: str, cls: type):
    """Select the row named ``name`` in ``pane``, press ``key`` and wait for its dialog (of class ``cls``), which
    is returned."""
    await select(pilot, pane, name)
    await pilot.press(key)
    await wait_for_screen(pilot, cls)
    return pilot.app.screen


async def palette_hits(pilot: Pilot, query: str) -> list[str]:
    """Type ``query`` in the open command palette; the names of the hits it lists once they all match its last
    word (each hit's first line: its help text follows)."""
    from textual.widgets import OptionList

    for ch in query:
        await pilot.press("space" if ch == " " else ch)
    options = pilot.app.screen.query_one(OptionList)
    word = query.split()[-1].lower() if query.split() else ""

    def names() -> list[str]:
        return [str(options.get_option_at_index(i).prompt).split("\n")[0] for i in range(options.option_count)]
    for _ in range(200):
        await pilot.pause(0.02)
        if options.option_count and all(word in n.lower() for n in names()):
            break
    return names()


async def disable_key_3072(pilot: Pilot) -> None:
    from .modals.confirm import ConfirmModal

    await open_dialog(pilot, "keys", "key-3072", "e", ConfirmModal)
    await pilot.press("y")
    await settle(pilot)
    pilot.app.clear_notifications()


# ---- the pictures -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Shot:
    name: str
    caption: str
    size: tuple[int, int]
    steps: Steps
    read_only: bool = False


def _pane(pane: str, row: str | None = None, *, side: str | None = None) -> Steps:
    async def steps(pilot: Pilot) -> None:
        await pilot.pause()
        if row:
            await select(pilot, pane, row)
        else:
            pilot.app.main.show_pane(pane)
        if side == "deps":
            await pilot.press("t")
        await settle(pilot)
    return steps


async def _jump_versions(pilot: Pilot) -> None:
    await pilot.press("colon", *"versions", "enter")
    await settle(pilot)


async def _vms_after_disable(pilot: Pilot) -> None:
    from .modals.confirm import ConfirmModal

    await open_dialog(pilot, "keys", "key-3072", "e", ConfirmModal)
    await pilot.press("y")
    await settle(pilot)
    await select(pilot, "vms", "vm-web")
    await settle(pilot)


async def _events_after_disable(pilot: Pilot) -> None:
    await disable_key_3072(pilot)
    await pilot.press("6")
    await settle(pilot)


async def _log_after_actions(pilot: Pilot) -> None:
    await disable_key_3072(pilot)
    await select(pilot, "keys", "key-3072")
    await pilot.press("e")  # enable again: no confirmation
    await settle(pilot)
    await pilot.press("r")  # rotate
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.press("7")
    await settle(pilot)


async def _whatif_disable(pilot: Pilot) -> None:
    from .modals.confirm import ConfirmModal

    await open_dialog(pilot, "keys", "key-3072", "e", ConfirmModal)


async def _purge_typed(pilot: Pilot) -> None:
    from .modals.confirm import TypedConfirmModal

    e = pilot.app.engine
    e.create_vault("kv-scratch", "rg-demo", retention_days=7)
    e.create_key("kv-scratch", "key-old", size=2048)
    e.delete_key("kv-scratch", "key-old")
    pilot.app.main.refresh_data()
    await open_dialog(pilot, "keys", "key-old", "P", TypedConfirmModal)
    await pilot.press(*"key-")


async def _purge_refused(pilot: Pilot) -> None:
    from .modals.confirm import ConfirmModal

    await open_dialog(pilot, "keys", "key-2048", "x", ConfirmModal)
    await pilot.press("y")
    await settle(pilot)
    pilot.app.clear_notifications()
    await pilot.press("P")
    await settle(pilot)


async def _read_only_refused(pilot: Pilot) -> None:
    await select(pilot, "vms", "vm-web")
    pilot.app.main.run_op("vm.stop")  # the palette's way: the footer offers no change
    await settle(pilot)


def _dialog(pane: str, keys: tuple[str, ...], typed: str = "", row: str | None = None) -> Steps:
    async def steps(pilot: Pilot) -> None:
        from .modals.form import FormModal

        if row:
            await select(pilot, pane, row)
        else:
            pilot.app.main.show_pane(pane)
            await pilot.pause()
        await pilot.press(*keys)
        await wait_for_screen(pilot, FormModal)
        if typed:
            await pilot.press(*typed)
            await pilot.pause()
    return steps


async def _help(pilot: Pilot) -> None:
    from .screens.help import HelpScreen

    await pilot.press("question_mark")
    await wait_for_screen(pilot, HelpScreen)


async def _filter(pilot: Pilot) -> None:
    pilot.app.main.show_pane("disks")
    await pilot.press("slash", *"des-cmk")
    await settle(pilot)


SHOTS: list[Shot] = [
    Shot("pane-vaults", "Key vaults: purge protection, retention, access model", WIDE, _pane("vaults")),
    Shot("pane-keys", "Keys: type and size, enabled, current version, expiry, rotation policy, sets using each",
         WIDE, _pane("keys", "key-3072")),
    Shot("pane-versions", "Key versions (reached with `:versions`): which sets and data keys each one wraps",
         WIDE, _jump_versions),
    Shot("pane-access", "Access policies and role assignments, with who each identity is", WIDE, _pane("access")),
    Shot("pane-audit", "The Key Vault audit trail: every wrap, unwrap and management call", WIDE, _pane("audit")),
    Shot("pane-sets", "Disk encryption sets: key, automatic rotation, resources, identity readiness", WIDE,
         _pane("sets", "des-cmk")),
    Shot("pane-disks", "Disks: SKU, encryption, set, key version, state, VM, data-key usability", WIDE,
         _pane("disks", "disk-spare")),
    Shot("pane-snapshots", "Snapshots", WIDE, _pane("snapshots")),
    Shot("pane-images", "Images", WIDE, _pane("images")),
    Shot("pane-vms", "VMs: power state with its reason, disks, ultra, encryption at host; the cause chain beside",
         WIDE, _pane("vms", "vm-ultra")),
    Shot("pane-vms-after-disable", "After disabling key-3072: two VMs stopped with their reason, the ultra VM "
         "running on host-cached keys, and the notification naming the cascade", WIDE, _vms_after_disable),
    Shot("pane-events", "The event log", WIDE, _events_after_disable),
    Shot("pane-log", "The command log: each action as its `cmklab az` command (e exports a replay script)", WIDE,
         _log_after_actions),
    Shot("view-dependencies", "The dependency view: key -> versions -> sets -> disks -> VMs", WIDE,
         _pane("keys", "key-3072", side="deps")),
    Shot("view-filter", "`/` filters the rows of a pane", WIDE, _filter),
    Shot("pane-vms-narrow", "80x24: the detail panel folds away (v shows it)", NARROW, _pane("vms", "vm-web")),
    Shot("dialog-whatif-disable", "Confirmation with the engine's what-if before disabling a key", WIDE,
         _whatif_disable),
    Shot("dialog-whatif-disable-narrow", "80x24: the same confirmation on a small terminal (its what-if scrolls: j/k)", NARROW,
         _whatif_disable),
    Shot("dialog-purge", "Purge asks for the key's name", WIDE, _purge_typed),
    Shot("notify-purge-refused", "An engine refusal is a notification titled with its error code", WIDE,
         _purge_refused),
    Shot("notify-read-only", "--read-only refuses every change", WIDE, _read_only_refused, read_only=True),
    Shot("dialog-create-key", "Generate a key: validated as you type, with the az command it stands for", WIDE,
         _dialog("keys", ("n",), "key-app")),
    Shot("dialog-create-key-invalid", "A name the engine's rules refuse, shown at once", WIDE,
         _dialog("keys", ("n",), "key_app!")),
    Shot("dialog-create-set", "Create a disk encryption set (and grant its identity)", WIDE,
         _dialog("sets", ("n",), "des-app")),
    Shot("dialog-change-key", "Change a set's key: re-wraps its disks, VMs untouched", WIDE,
         _dialog("sets", ("c",), row="des-cmk")),
    Shot("dialog-grant", "Grant access: access policy or RBAC role, by the vault's model", WIDE,
         _dialog("sets", ("A",), row="des-cmk")),
    Shot("dialog-create-vm", "Create a VM with CMK disks", WIDE, _dialog("vms", ("n",), "vm-app")),
    Shot("dialog-write", "Write to a VM's disk as the guest would", WIDE, _dialog("vms", ("w",), row="vm-web")),
    Shot("dialog-clock", "Advance the simulated clock: what will run, and when", WIDE, _dialog("vms", ("plus",))),
    Shot("dialog-help", "? lists every key of every pane", WIDE, _help),
]
SHOT_BY_NAME = {s.name: s for s in SHOTS}


def shot_app(shot: Shot | None = None) -> CmkApp:
    """A fresh app for a picture: seeded demo, frozen clock, snapshot mode."""
    return make_app(read_only=bool(shot and shot.read_only))


async def capture(shot: Shot) -> str:
    app = shot_app(shot)
    async with app.run_test(size=shot.size, notifications=True) as pilot:
        await pilot.pause()
        await shot.steps(pilot)
        await pilot.pause()
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        return app.export_screenshot(title="cmklab")


def write_all(directory: Path = DEFAULT_DIR, names: list[str] | None = None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for shot in SHOTS:
        if names and shot.name not in names:
            continue
        svg = asyncio.run(capture(shot))
        path = directory / f"{shot.name}.svg"
        path.write_text(svg, encoding="utf-8")
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    directory = Path(args.pop(0)) if args and not args[0].startswith("-") else DEFAULT_DIR
    for path in write_all(directory, args or None):
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
