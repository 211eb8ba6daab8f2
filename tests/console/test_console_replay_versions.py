"""The exported script names a key version by its place among the key's versions, not by its random id: a session
on a home without a seed (every version id random) replays on a new home, where the same versions have other ids."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from console.actions import Call
from console.app import CmkApp
from console.screenshots import settle
from console.session import open_engine

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "workshop"))
from export_helpers import replay_lines  # noqa: E402


def _shape(engine) -> tuple:
    """Which of key-3072's versions (by place) are enabled, and which one each set on it uses (by place)."""
    key, _ = engine.get_key("kv-demo", "key-3072", audit=False)
    order = [v["version"] for v in key.versions]
    sets = {d.name: order.index(d.key_url.rsplit("/", 1)[1]) for d in engine.list_des()
            if "/keys/key-3072/" in d.key_url}
    return [v["enabled"] for v in key.versions], sets


async def test_a_session_that_names_older_versions_replays_on_a_home_with_other_version_ids(tmp_path):
    home = tmp_path / "trainer"
    engine = open_engine(home, demo=True)  # no seed: the version ids are random
    assert engine.meta.seed is None
    app = CmkApp(engine, poll=False, frozen=True)
    script = tmp_path / "session.sh"
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        for _ in range(2):
            app.execute(Call("rotate_key", ("kv-demo", "key-3072")), "rotate")
            await settle(pilot)
        key, _ = engine.get_key("kv-demo", "key-3072", audit=False)
        first, second = key.versions[0]["version"], key.versions[1]["version"]
        app.execute(Call("update_des", ("des-cmk", "rg-demo"), {"key_url": f"{key.id}/{second}"}), "change key")
        await settle(pilot)
        app.execute(Call("set_key_attributes", ("kv-demo", "key-3072", first), {"enabled": False}), "disable")
        await settle(pilot)
        assert all(e.ok for e in app.command_log), [(e.lines, e.error) for e in app.command_log]
        said = "\n".join(ln for e in app.command_log for ln in e.lines)
        assert first not in said and second not in said  # no random id is written down
        app.export_log(str(script))
        expected = _shape(engine)
    engine.store.close()
    assert expected == ([False, True, True], {"des-cmk": 1})

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMKLAB_", "TEXTUAL"))}
    env.update(PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""), TMPDIR=str(scratch),
               PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""))
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(replay_lines(script.read_text()))], env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    [laptop] = list(scratch.iterdir())
    other = open_engine(laptop)
    try:
        assert other.get_key("kv-demo", "key-3072", audit=False)[0].versions[0]["version"] != first
        assert _shape(other) == expected
    finally:
        other.store.close()
