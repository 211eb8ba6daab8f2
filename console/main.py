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
    try:
        return _main(argv)
    except BrokenPipeError:  # `cmklab ... | head -1`: the reader has gone; end quietly
        from console.cli.runner import quiet_stdout

        quiet_stdout()
        return 0


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts, rest = split_globals(argv)
    if not rest or rest[0] in ("console", "tui"):
        from console.app import run_console

        return run_console(**opts) or 0
    if rest[0] == "scenario":
        from console.workshop import run_scenario_cli

        return run_scenario_cli(rest[1:], **opts)
    if rest[0] == "serve":
        from console.workshop import run_serve

        return run_serve(rest[1:], **opts)
    if rest[0] == "classroom":
        from console.classroom import run_classroom

        return run_classroom(rest[1:], **opts)
    if rest[0] == "endpoint":
        from console.endpoint.cli import run_endpoint

        return run_endpoint(rest[1:], **opts)
    if rest[0] == "import":
        from console.twin_cli import run_import

        return run_import(rest[1:], **opts)
    if rest[0] == "demo":
        return _demo(rest[1:], **opts)
    from console.cli import run_cli

    return run_cli(rest, **opts)


def _demo(args: list[str], home=None, seed=None, profile=None, read_only=False, **_: object) -> int:
    """``cmklab demo``: build the demo landscape in an empty home without opening the console
    (so that a session recorded on the demo can be replayed elsewhere with the same seed)."""
    from console.session import default_home, open_engine
    from engine.errors import EngineError

    if args and args[0] in ("-h", "--help"):
        print("usage: cmklab [--home DIR] [--seed N] demo\n\nBuild the built-in demo landscape in an empty home.")
        return 0
    if args:
        print(f"cmklab demo: error: unrecognized arguments: {' '.join(args)}", file=sys.stderr)
        return 2
    if read_only:
        print("ERROR: (ReadOnly) this session is read-only: building the demo would change the store",
              file=sys.stderr)
        return 1
    try:
        engine = open_engine(home, seed=seed, profile=profile)
        if engine.has_resources(("vaults", "des", "disks", "vms")):
            print(f"ERROR: (Conflict) the home {home or default_home()} already holds state; the demo is built "
                  "only in an empty home", file=sys.stderr)
            return 1
        from engine.demo import build_demo

        build_demo(engine)
    except EngineError as err:
        print(f"ERROR: ({err.display_code}) {err.message}", file=sys.stderr)
        return 1
    print(f"demo landscape built in {engine.store_path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
