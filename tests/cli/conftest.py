"""Fixtures of the CLI tests: run ``cmklab ...`` in-process on a fresh home, capture what it prints."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.cli import run_cli

SEED = 7
CMKLAB = Path(sys.executable).parent / "cmklab"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


class Cli:
    """``cli("az", "disk", "show", ...)`` runs ``cmklab az disk show ...`` on this home and captures it."""

    def __init__(self, home: Path, capsys, seed: int | None = SEED) -> None:
        self.home = home
        self.capsys = capsys
        self.seed = seed

    def __call__(self, *argv: str, read_only: bool = False) -> Result:
        self.capsys.readouterr()
        code = run_cli(list(argv), home=self.home, seed=self.seed, read_only=read_only)
        out, err = self.capsys.readouterr()
        return Result(code, out, err)

    def az(self, *argv: str, **kw) -> Result:
        return self("az", *argv, **kw)

    def ok(self, *argv: str, **kw) -> Result:
        """Run an az command that must succeed."""
        r = self.az(*argv, **kw)
        assert r.code == 0, f"az {' '.join(argv)} -> {r.code}\n{r.err}"
        return r

    def tsv(self, *argv: str) -> str:
        return self.ok(*argv, "-o", "tsv").out.rstrip("\n")

    def engine(self):
        from console.session import open_engine

        return open_engine(self.home, seed=self.seed)

    def state_bytes(self) -> bytes:
        from store import state_files

        return b"".join(state_files(self.home).values())


@pytest.fixture
def cli(tmp_path, capsys) -> Cli:
    return Cli(tmp_path / "home", capsys)


@pytest.fixture
def rg(cli) -> str:
    cli.ok("group", "create", "-n", "rg1", "-l", "eastus", "-o", "none")
    return "rg1"


@pytest.fixture
def landscape(cli, rg) -> dict:
    """A purge-protected vault with a key, a granted set, and a running VM with a CMK OS and data disk."""
    cli.ok("keyvault", "create", "-n", "kv1", "-g", rg, "--enable-purge-protection", "true", "-o", "none")
    kid = cli.tsv("keyvault", "key", "create", "--vault-name", "kv1", "-n", "key1", "--query", "key.kid")
    cli.ok("disk-encryption-set", "create", "-n", "des1", "-g", rg, "--key-url", kid, "--source-vault", "kv1",
           "-o", "none")
    principal = cli.tsv("disk-encryption-set", "show", "-n", "des1", "-g", rg, "--query", "identity.principalId")
    cli.ok("keyvault", "set-policy", "-n", "kv1", "--object-id", principal, "--key-permissions", "get", "wrapKey",
           "unwrapKey", "-o", "none")
    cli.ok("vm", "create", "-g", rg, "-n", "vm1", "--image", "Ubuntu2204", "--os-disk-name", "vm1-os",
           "--os-disk-encryption-set", "des1", "--data-disk-sizes-gb", "64", "--data-disk-encryption-sets", "des1",
           "-o", "none")
    return {"rg": rg, "kid": kid, "principal": principal}


@pytest.fixture
def cmklab_bin() -> Path:
    """The installed ``cmklab`` script of this venv."""
    assert CMKLAB.exists(), f"{CMKLAB} is missing: pip install -e ."
    return CMKLAB


@pytest.fixture
def cmklab_env(tmp_path) -> dict:
    """Environment for a subprocess ``cmklab``: a fresh CMKLAB_HOME and a seed."""
    env = dict(os.environ)
    env["CMKLAB_HOME"] = str(tmp_path / "subhome")
    env["CMKLAB_SEED"] = str(SEED)
    env.pop("CMKLAB_PROFILE", None)
    return env
