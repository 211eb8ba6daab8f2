"""'Disable key (all versions)' replays identically: the console disables each version with its own call (what az
users do: az has no flag for every version), so the exported script's one line per version, replayed on a new
home from the same seed, leaves the same db/ byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from console.actions import Call
from console.app import CmkApp
from console.modals.confirm import ConfirmModal
from console.screenshots import open_dialog, settle
from console.session import open_engine
from store import state_files

ROOT = Path(__file__).resolve().parents[2]


sys.path.insert(0, str(ROOT / "tests" / "workshop"))
from export_helpers import replay_lines  # noqa: E402


async def test_disable_all_versions_replays_byte_identical(tmp_path):
    home = tmp_path / "trainer"
    engine = open_engine(home, seed=7, demo=True)
    app = CmkApp(engine, poll=False, frozen=True)
    script = tmp_path / "session.sh"
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        app.execute(Call("rotate_key", ("kv-demo", "key-3072")), "rotate")
        await settle(pilot)
        key, _ = engine.get_key("kv-demo", "key-3072", audit=False)
        versions = [v["version"] for v in key.versions]
        assert len(versions) >= 2
        await open_dialog(pilot, "keys", "key-3072", "e", ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        key, _ = engine.get_key("kv-demo", "key-3072", audit=False)
        assert not any(v["enabled"] for v in key.versions)
        lines = [ln for entry in app.command_log for ln in entry.lines if "set-attributes" in ln]
        # each version by its place among the key's versions (its id is random where the home has no seed)
        assert lines == ["cmklab az keyvault key set-attributes --id \"$(cmklab az keyvault key list-versions "
                         f"--vault-name kv-demo --name key-3072 --query '[{i}].kid' -o tsv)\" --enabled false"
                         for i in range(len(versions))]
        app.export_log(str(script))
    engine.store.close()

    replay = replay_lines(script.read_text())
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMKLAB_", "TEXTUAL"))}
    env.update(PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""), TMPDIR=str(scratch),
               PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(replay)], env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    [laptop] = list(scratch.iterdir())
    ours, theirs = state_files(home), state_files(laptop)
    assert sorted(ours) == sorted(theirs)
    assert [name for name in ours if ours[name] != theirs[name]] == []
