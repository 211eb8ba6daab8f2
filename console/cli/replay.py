"""The console's command log as a bash script that replays the session with ``cmklab az``.

Each logged line comes from the command registry read backwards (:mod:`console.cli.words`): the spec
that parses ``cmklab az ...`` also says an engine call in its words. Nothing here imports textual.
"""

from __future__ import annotations

from typing import Iterable

from .words import AZ, CMKLAB, Raw, az_lines, join

__all__ = ["AZ", "CMKLAB", "Raw", "az_lines", "join", "script"]


def script(entries: Iterable[tuple[bool, list[str], str | None]], *, header: str | None = None,
           replay: list[str] | None = None) -> str:
    """A bash script that replays the successful commands; refused ones are kept as comments.

    ``replay``: the shell lines that replay it (a new home with the same starting landscape, then this
    script), written in the header as comments; without it, a generic suggestion."""
    out = ["#!/usr/bin/env bash", "# Recorded by the cmklab console: replays this session with `cmklab az`."]
    if replay:
        out += ["# Replay it on a new home that starts from the same landscape:"] + [f"#   {ln}" for ln in replay]
    else:
        out += ["# Run it against a store with the same starting landscape, e.g.:",
                "#   CMKLAB_HOME=$(mktemp -d) CMKLAB_SEED=1 bash this-script.sh"]
    out += ["set -euo pipefail", ""]
    if header:
        out += [f"# {line}" for line in header.splitlines()] + [""]
    for ok, lines, error in entries:
        for line in lines:
            out.append(line if ok else f"# refused ({error}): {line}")
    return "\n".join(out) + "\n"
