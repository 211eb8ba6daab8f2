"""What the tests of the console's exported script share."""

from __future__ import annotations


def replay_lines(script: str) -> list[str]:
    """The shell lines an exported script's header gives to replay it (the commented block after its
    "Replay it on a new home" line)."""
    lines = script.splitlines()
    i = lines.index("# Replay it on a new home that starts from the same landscape:")
    out = []
    for ln in lines[i + 1:]:
        if not ln.startswith("#   "):
            break
        out.append(ln[4:])
    return out
