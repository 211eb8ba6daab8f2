"""--read-only never creates state: on a home with none, the CLI and the console refuse and write nothing."""

from __future__ import annotations

from console.app import run_console
from console.cli import run_cli


def test_read_only_cli_on_an_empty_home_is_refused_and_creates_nothing(tmp_path, capsys):
    home = tmp_path / "none"
    assert run_cli(["az", "vm", "list"], home=str(home), read_only=True) == 1
    err = capsys.readouterr().err
    assert "ERROR: (ReadOnly)" in err and "cannot create it" in err
    assert not home.exists()


def test_read_only_console_on_an_empty_home_is_refused_and_creates_nothing(tmp_path, capsys):
    home = tmp_path / "none"
    assert run_console(home=str(home), read_only=True) == 1
    assert "(ReadOnly)" in capsys.readouterr().err
    assert not home.exists()
