"""Keys typed while the console starts reach it in order, as a user (or a tmux script) types them.

Run in a real pseudo-terminal: the keys are written before the app has even put the terminal in raw mode (the
terminal's line mode then turns Enter into a line feed, which Textual reads as ctrl+j), and before the main screen
has focused its table (a deferred focus took the focus back from the prompt that `:` had just opened).
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest

pty = pytest.importorskip("pty")
fcntl = pytest.importorskip("fcntl")
termios = pytest.importorskip("termios")

ROOT = Path(__file__).resolve().parents[2]


def _read_until(fd: int, proc: subprocess.Popen, needle: bytes, limit: float) -> bytes:
    """What the console drew until ``needle`` appears (bounded by ``limit`` seconds: a wait for a condition,
    not a timing)."""
    seen = b""
    deadline = time.monotonic() + limit
    sel = selectors.DefaultSelector()  # not select.select: a long test run can hold descriptors past 1024
    sel.register(fd, selectors.EVENT_READ)
    while needle not in seen and time.monotonic() < deadline and proc.poll() is None:
        if sel.select(0.2):
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    sel.close()
    return seen


def test_a_jump_typed_while_the_console_starts_opens_that_pane(tmp_path):
    import struct

    home = tmp_path / "home"
    subprocess.run([sys.executable, "-m", "console.main", "--home", str(home), "--seed", "1", "demo"], cwd=ROOT,
                   check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm-256color", COLUMNS="80", LINES="24")
    env.pop("TEXTUAL", None)
    proc = subprocess.Popen([sys.executable, "-m", "console.main", "--home", str(home), "--seed", "1"], cwd=ROOT,
                            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        os.write(master, b":keys\r")  # at once: the console has not started yet
        drawn = _read_until(master, proc, b"Keys", 30)
        assert b"Keys" in drawn, drawn[-2000:]
    finally:
        proc.kill()
        proc.wait(30)
        os.close(master)
