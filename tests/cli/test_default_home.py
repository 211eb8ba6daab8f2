"""The default home: ``CMKLAB_HOME`` (or ``--home``) first, else the platform's user data directory
(``platformdirs``: ``~/.local/share/cmklab`` on Linux, honouring ``XDG_DATA_HOME``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from console.session import default_home

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_home(monkeypatch, tmp_path):
    """No CMKLAB_HOME, no XDG_DATA_HOME, and a user whose home directory is ``tmp_path/user``."""
    user = tmp_path / "user"
    user.mkdir()
    monkeypatch.delenv("CMKLAB_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(user))
    return user


def test_cmklab_home_comes_first(no_home, monkeypatch, tmp_path):
    monkeypatch.setenv("CMKLAB_HOME", str(tmp_path / "lab"))
    assert default_home() == tmp_path / "lab"
    monkeypatch.setenv("CMKLAB_HOME", "~/lab")
    assert default_home() == no_home / "lab"


def test_the_default_is_the_platforms_user_data_directory(no_home):
    assert default_home() == Path(platformdirs.user_data_dir("cmklab", appauthor=False))
    assert default_home().name == "cmklab"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG directories are Linux's")
def test_on_linux_the_default_is_unchanged(no_home, monkeypatch, tmp_path):
    assert default_home() == no_home / ".local" / "share" / "cmklab"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_home() == tmp_path / "data" / "cmklab"


@pytest.mark.skipif(os.name == "nt", reason="Windows' data directory cannot be redirected from the environment")
def test_the_cli_keeps_its_state_in_the_default_home(no_home, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CMKLAB_", "XDG_"))}
    env.update(PYTHONPATH=str(REPO), HOME=str(no_home), CMKLAB_SEED="1")
    run = subprocess.run([sys.executable, "-m", "console", "az", "group", "create", "-n", "rg1", "-l", "eastus",
                          "-o", "none"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    expected = Path(platformdirs.user_data_dir("cmklab", appauthor=False))  # (HOME is no_home here too)
    assert (expected / "db").is_dir() and (expected / "root.key").is_file()
    assert sorted(p.name for p in no_home.rglob("root.key")) == ["root.key"]  # nowhere else
    other = tmp_path / "other"
    run = subprocess.run([sys.executable, "-m", "console", "--home", str(other), "az", "group", "list", "-o", "tsv"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout == "", run.stderr  # --home: another, empty home
