"""What the serve tests share: stopping a server and every console it started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_session(proc: subprocess.Popen) -> None:
    """Stop a server started with ``start_new_session=True``: the consoles it started share its session, so
    SIGTERM goes to the whole group, then SIGKILL to whatever is left. Nothing is left behind."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
