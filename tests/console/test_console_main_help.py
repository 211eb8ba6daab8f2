"""``cmklab --help`` names every command; a closed pipe ends the output quietly. Both as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cmklab(*args: str, home) -> list[str]:
    return [sys.executable, "-m", "console", "--home", str(home), *args]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_cmklab_help_lists_every_command(tmp_path):
    r = subprocess.run(cmklab("--help", home=tmp_path), capture_output=True, text=True, env=env(), timeout=60)
    assert r.returncode == 0 and not r.stderr
    listed = {line.split(":")[0].strip() for line in r.stdout.splitlines() if line.startswith("    ") and " : " in line}
    for verb in ("console", "demo", "scenario", "serve", "az", "clock", "what-if", "vm", "disk", "audit"):
        assert verb in listed, (verb, r.stdout)


@pytest.mark.parametrize("args", [("az", "--help"), ("--help",), ("az", "keyvault", "key", "--help")])
def test_output_into_a_pipe_closed_early_ends_quietly(tmp_path, args):
    # the reader closes the pipe before reading anything (what `| head -1` does once it has its line)
    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run(cmklab(*args, home=tmp_path), stdout=write, stderr=subprocess.PIPE, text=True, env=env(),
                           timeout=60)
    finally:
        os.close(write)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
    assert r.returncode == 0


def test_head_of_az_help_through_a_shell_pipe(tmp_path):
    cmd = " ".join(cmklab("az", "--help", home=tmp_path)) + " | head -1"
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, env=env(), timeout=60)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "\n"
