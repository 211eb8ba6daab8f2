"""Reproducible sessions: with a seed, the same commands give the same ids and a byte-identical state
file, so a trainer's recorded session (the command log exported as a script of ``cmklab`` lines)
replays to the same final state on another machine."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from console.workshop import run_scenario_cli
from store import state_files


def state_bytes(home) -> bytes:
    return b"".join(state_files(home).values())


pytestmark = pytest.mark.usefixtures("require_cli")

SEED = 4242
SESSION = r"""#!/usr/bin/env bash
# cmklab session, exported from the console's command log
set -euo pipefail
cmklab az group create --name rg-w --location eastus
cmklab az keyvault create --name kv-w --resource-group rg-w --location eastus --enable-purge-protection true --retention-days 7
cmklab az keyvault key create --vault-name kv-w --name key-w --kty RSA --size 2048
cmklab az disk-encryption-set create --name des-w --resource-group rg-w --source-vault kv-w --key-url "$(cmklab az keyvault key show --vault-name kv-w --name key-w --query key.kid -o tsv)"
cmklab az keyvault set-policy --name kv-w --object-id "$(cmklab az disk-encryption-set show --name des-w --resource-group rg-w --query identity.principalId -o tsv)" --key-permissions get wrapKey unwrapKey
cmklab az vm create --resource-group rg-w --name vm-w --image Ubuntu2204 --os-disk-encryption-set des-w --data-disk-sizes-gb 32 --data-disk-encryption-sets des-w
cmklab az keyvault key rotate --vault-name kv-w --name key-w
cmklab az disk-encryption-set update --name des-w --resource-group rg-w --key-url "$(cmklab az keyvault key show --vault-name kv-w --name key-w --query key.kid -o tsv)"
cmklab az keyvault key set-attributes --vault-name kv-w --name key-w --enabled false
cmklab clock advance 2d
cmklab az keyvault key set-attributes --vault-name kv-w --name key-w --enabled true
cmklab az vm start --resource-group rg-w --name vm-w
cmklab az keyvault key delete --vault-name kv-w --name key-w
cmklab clock advance 8d
"""

_SUBST = re.compile(r'"\$\((cmklab [^)]*)\)"')


def _cli(argv: list[str], home: Path, seed: int) -> tuple[int, str, str]:
    """One ``cmklab`` call as a new process would make it: a fresh engine on the home, closed after."""
    from console.cli import run_cli
    from console.session import open_engine

    engine = open_engine(home, seed=seed)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = run_cli(argv, home=str(home), seed=seed, engine=engine)
    finally:
        engine.store.close()
    return rc, out.getvalue(), err.getvalue()


def replay_in_process(script: str, home: Path, seed: int = SEED) -> None:
    """Run a session script's ``cmklab`` lines in this process, as bash would (``"$(cmklab ...)"`` too)."""
    for line in script.splitlines():
        line = line.strip()
        if not line.startswith("cmklab "):
            continue

        def subst(m: re.Match) -> str:
            rc, out, err = _cli(shlex.split(m.group(1))[1:], home, seed)
            assert rc == 0, f"{m.group(1)}: {err}"
            return shlex.quote(out.strip())

        argv = shlex.split(_SUBST.sub(subst, line))[1:]
        rc, out, err = _cli(argv, home, seed)
        assert rc == 0, f"{line}\n{err}"


def test_a_recorded_session_replays_to_a_byte_identical_state(tmp_path):
    replay_in_process(SESSION, tmp_path / "trainer")
    replay_in_process(SESSION, tmp_path / "room")
    a = state_bytes(tmp_path / "trainer")
    b = state_bytes(tmp_path / "room")
    assert a == b
    assert b"key-w" in a and b"vm-w" in a


@pytest.mark.slow
def test_the_exported_script_replays_with_bash_on_another_home(tmp_path):
    """The real thing: the script run by bash, each line a new ``cmklab`` process."""
    replay_in_process(SESSION, tmp_path / "trainer")
    script = tmp_path / "session.sh"
    script.write_text(SESSION)
    bindir = os.path.dirname(sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
    env.update(PATH=bindir + os.pathsep + env.get("PATH", ""), CMKLAB_HOME=str(tmp_path / "laptop"),
               CMKLAB_SEED=str(SEED))
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert state_bytes(tmp_path / "laptop") == state_bytes(tmp_path / "trainer")


def test_a_different_seed_gives_different_ids(tmp_path):
    replay_in_process(SESSION, tmp_path / "a")
    replay_in_process(SESSION, tmp_path / "b", seed=SEED + 1)
    assert state_bytes(tmp_path / "a") != state_bytes(tmp_path / "b")


def test_a_scenario_played_twice_gives_the_same_state(tmp_path, capsys):
    for h in ("one", "two"):
        assert run_scenario_cli(["run", "rotate-no-downtime", "--auto"], home=str(tmp_path / h)) == 0
    capsys.readouterr()
    assert state_bytes(tmp_path / "one") == state_bytes(tmp_path / "two")


@pytest.mark.slow
def test_a_console_session_exported_as_a_script_replays_byte_identical(tmp_path, capsys):
    """The console's own path: actions on the engine, each logged with ``replay.az_lines`` before it
    runs, exported with ``replay.script``; replayed by bash on the same scenario landscape. The
    script's ``$(cmklab az ... show --query ...)`` lookups are audited KeyGets: they go to the
    journal, not the state file, so the state stays byte-identical."""
    from console.cli import replay
    from console.session import open_engine

    for h in ("trainer", "laptop"):
        assert run_scenario_cli(["run", "rotate-no-downtime", "--no-console"], home=str(tmp_path / h)) == 0
    capsys.readouterr()
    e = open_engine(tmp_path / "trainer")
    entries = []

    def do(method, *args, **kwargs):
        lines = replay.az_lines(e, method, args, kwargs)
        getattr(e, method)(*args, **kwargs)
        entries.append((True, lines, None))

    do("rotate_key", "kv-lab", "key-prod")
    k, ver = e.get_key("kv-lab", "key-prod", audit=False)
    do("update_des", "des-prod", "rg-lab", key_url=f"{k.id}/{ver['version']}")
    do("set_key_attributes", "kv-lab", "key-prod", enabled=False)
    do("advance_clock", "1d")
    e.store.close()
    script = tmp_path / "session.sh"
    script.write_text(replay.script(entries))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
    env.update(PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
               CMKLAB_HOME=str(tmp_path / "laptop"))
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert state_bytes(tmp_path / "laptop") == state_bytes(tmp_path / "trainer")


def test_a_session_on_a_scenario_landscape_replays_byte_identical(tmp_path, capsys):
    """A trainer's session during a lab: the landscape comes from ``scenario run``, the commands replay."""
    lines = ["cmklab az keyvault key rotate --vault-name kv-lab --name key-prod",
             'cmklab az disk-encryption-set update --name des-prod --resource-group rg-lab --key-url '
             '"$(cmklab az keyvault key show --vault-name kv-lab --name key-prod --query key.kid -o tsv)"',
             "cmklab az keyvault key set-attributes --vault-name kv-lab --name key-prod --enabled false",
             "cmklab clock advance 1d"]
    for h in ("trainer", "room"):
        assert run_scenario_cli(["run", "rotate-no-downtime", "--no-console"], home=str(tmp_path / h)) == 0
        replay_in_process("\n".join(lines), tmp_path / h, seed=101)
    capsys.readouterr()
    assert state_bytes(tmp_path / "trainer") == state_bytes(tmp_path / "room")
