"""The ``cmklab`` command: no arguments opens the console; ``cmklab az ...`` and the other verbs are the CLI.

Global options (before the verb): ``--home DIR``, ``--seed N``, ``--profile NAME``, ``--empty``.
The CLI path never imports textual.
"""

from __future__ import annotations

import sys

GLOBAL_FLAGS = {"--home": True, "--seed": True, "--profile": True, "--empty": False, "--read-only": False}


def split_globals(argv: list[str]) -> tuple[dict, list[str]]:
    """Take cmklab's global options off the front of ``argv`` (``--home DIR`` or ``--home=DIR``)."""
    opts: dict = {}
    rest = list(argv)
    while rest and rest[0].startswith("--"):
        flag, _, value = rest[0].partition("=")
        if flag not in GLOBAL_FLAGS:
            break
        rest.pop(0)
        if GLOBAL_FLAGS[flag]:
            if not value:
                if not rest:
                    print(f"cmklab: error: {flag} needs a value", file=sys.stderr)
                    raise SystemExit(2)
                value = rest.pop(0)
            opts[flag[2:].replace("-", "_")] = value
        else:
            opts[flag[2:].replace("-", "_")] = True
    if "seed" in opts:
        try:
            opts["seed"] = int(opts["seed"])
        except ValueError:
            print(f"cmklab: error: --seed {opts['seed']!r} is not a whole number", file=sys.stderr)
            raise SystemExit(2) from None
    return opts, rest


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts, rest = split_globals(argv)
    if not rest or rest[0] in ("console", "tui"):
        from console.app import run_console

        return run_console(**opts) or 0
    from console.cli import run_cli

    return run_cli(rest, **opts)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
