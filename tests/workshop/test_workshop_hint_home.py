"""Hints a trainee copies act on the lab's home: when the home is not the one a bare ``cmklab`` acts on, every
command line the workshop shows (hints, ``scenario check``/``show``/``reset-step`` advice, the console's Lab
pane) carries ``--home HOME``, shell-quoted. Pasted without it, a hint acted on the default home (creating it)."""

from __future__ import annotations

import shlex

from textual.app import App, ComposeResult
from textual.widgets import Static

from console.session import open_engine
from console.widgets.lab import LabPanel
from console.workshop import open_lab, run_scenario_cli
from console.workshop.scenario import Lab


def _home(tmp_path, monkeypatch):
    for var in ("CMKLAB_HOME", "CMKLAB_SEED", "CMKLAB_PROFILE", "CMKLAB_CONFINE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path / "a home" / "h1"  # a space: the flag must be quoted to paste


def test_run_show_and_check_print_hints_with_the_home(tmp_path, monkeypatch, capsys):
    home = _home(tmp_path, monkeypatch)
    flag = f"cmklab --home {shlex.quote(str(home))}"
    assert run_scenario_cli(["run", "rotate-no-downtime", "--no-console"], home=str(home)) == 0
    out = capsys.readouterr().out
    assert f"  $ {flag} az keyvault key rotate --vault-name kv-lab --name key-prod" in out
    assert f"When you have done it: {flag} scenario check" in out
    assert run_scenario_cli(["show"], home=str(home)) == 0
    assert f"  $ {flag} az keyvault key rotate" in capsys.readouterr().out
    assert run_scenario_cli(["check"], home=str(home)) == 1
    assert f"Not yet: do the step ({flag} scenario show prints its hints)" in capsys.readouterr().out
    # the shown line, pasted, is a valid command on that home
    line = f"{flag} az keyvault key rotate --vault-name kv-lab --name key-prod"
    assert shlex.split(line)[1:3] == ["--home", str(home)]


def test_the_default_home_keeps_plain_hints(tmp_path, monkeypatch, capsys):
    """``$CMKLAB_HOME`` names the home: a bare ``cmklab`` in that shell acts on it, so no ``--home``."""
    home = _home(tmp_path, monkeypatch)
    monkeypatch.setenv("CMKLAB_HOME", str(home))
    assert run_scenario_cli(["run", "rotate-no-downtime", "--no-console"], home=str(home)) == 0
    out = capsys.readouterr().out
    assert "  $ cmklab az keyvault key rotate --vault-name kv-lab --name key-prod" in out
    assert "--home" not in out


def test_auto_shows_the_home_and_still_plays_every_hint(tmp_path, monkeypatch, capsys):
    home = _home(tmp_path, monkeypatch)
    assert run_scenario_cli(["run", "disable-key", "--auto"], home=str(home)) == 0
    out = capsys.readouterr().out
    assert f"  $ cmklab --home {shlex.quote(str(home))} az keyvault key set-attributes" in out
    assert "all 4 steps done, every objective met" in out


def _stuck_shredding(home) -> None:
    """Crypto-shredding at step 3 with the key purged: the step can no longer be met."""
    assert run_scenario_cli(["run", "crypto-shredding", "--no-console"], home=str(home)) == 0
    e = open_engine(home)
    e.delete_key("kv-tenant", "key-tenant")
    e.close()
    assert run_scenario_cli(["check"], home=str(home)) == 0
    e = open_engine(home)
    try:
        e.purge_key("kv-tenant", "key-tenant")
    except Exception:  # noqa: BLE001 - refused: purge protection, as step 2 expects
        pass
    e.close()
    assert run_scenario_cli(["check"], home=str(home)) == 0
    e = open_engine(home)
    e.advance_clock("8d")  # past the retention: Key Vault purges the key
    e.close()


def test_a_stuck_step_says_reset_step_on_this_home(tmp_path, monkeypatch, capsys):
    home = _home(tmp_path, monkeypatch)
    _stuck_shredding(home)
    capsys.readouterr()
    assert run_scenario_cli(["check"], home=str(home)) == 1
    out = capsys.readouterr().out
    assert f"Start it again from where it began: cmklab --home {shlex.quote(str(home))} scenario reset-step" in out


class _LabApp(App):
    def __init__(self, lab: Lab) -> None:
        super().__init__()
        self.lab = lab

    def compose(self) -> ComposeResult:
        yield LabPanel(self.lab, id="lab")


def _text(app, wid: str) -> str:
    return str(app.query_one(f"#{wid}", Static).render())


async def test_the_lab_pane_shows_hints_and_reset_step_with_the_home(tmp_path, monkeypatch, capsys):
    home = _home(tmp_path, monkeypatch)
    _stuck_shredding(home)
    engine = open_engine(home)
    try:
        app = _LabApp(open_lab(engine))
        async with app.run_test(size=(140, 50)):
            flag = f"cmklab --home {shlex.quote(str(home))}"
            hints = _text(app, "lab-hints").replace("\n", " ")
            assert f"$ {flag} clock advance 6d" in hints
            status = " ".join(_text(app, "lab-status").split())
            assert f"Start it again from where it began: {flag} scenario reset-step in a terminal." in status
    finally:
        engine.close()


async def test_in_the_classroom_the_lab_pane_says_ask_the_trainer(tmp_path, monkeypatch, capsys):
    """A classroom console (``CMKLAB_CONFINE``) is a browser: no terminal to paste into; the trainer's page
    resets a trainee's step."""
    home = _home(tmp_path, monkeypatch)
    _stuck_shredding(home)
    monkeypatch.setenv("CMKLAB_CONFINE", str(home / "files"))
    engine = open_engine(home)
    try:
        app = _LabApp(open_lab(engine))
        async with app.run_test(size=(140, 50)):
            status = " ".join(_text(app, "lab-status").split())
            assert "Ask the trainer to start this step again" in status
            assert "in a terminal" not in status and "reset-step" not in status
            assert "--home" not in _text(app, "lab-hints")
    finally:
        engine.close()
