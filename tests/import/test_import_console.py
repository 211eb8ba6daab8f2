"""The console on an imported twin: every pane and every row draws, and a stand-in key says what it is."""

from __future__ import annotations

import json
from pathlib import Path

from console.app import make_app
from console.screenshots import select, settle
from console.screens.panes import PANES
from console.widgets.detail import azure_doc
from engine import Engine, twin

FILES = sorted(str(p) for p in (Path(__file__).parent / "fixtures").glob("*.json"))


async def test_every_pane_and_row_of_a_twin_draws():
    engine = Engine.in_memory(seed=3)
    twin.import_files(engine, FILES)
    app = make_app(engine)
    async with app.run_test(size=(160, 48)) as pilot:
        main = app.main
        drawn = 0
        for pane in PANES:
            main.show_pane(pane.id)
            await pilot.pause()
            for key in list(main.rows_by_key):
                main.table.move_to(key)
                await pilot.pause()
                drawn += 1
        assert drawn >= 30
        main.show_pane("vms")
        await pilot.pause()
        assert sorted(r.name for r in main.rows_by_key.values()) == sorted(v.name for v in engine.t["vms"].values())
        main.show_pane("disks")
        await pilot.pause()
        assert len(main.rows_by_key) == 12
        await select(pilot, "keys", "disk-key")
        await settle(pilot)
        key = engine.t["keys"]["https://kv-prod-cmk.vault.azure.net/keys/disk-key"]
        assert "stand-in" in json.dumps(azure_doc(engine, "key", key))
        await select(pilot, "vms", "vm-ultra-01")
        await settle(pilot)
        assert app.is_running
