"""The ``cmklab`` program: one argument tree.

``cmklab [--home DIR] [--seed N] [--profile NAME] [--empty] [--read-only] [COMMAND ...]``: the root parses
the global options (argparse, here), then hands the rest to the command's own branch: ``az`` and cmklab's
own az-style words (``vm write``, ``clock advance``, ``what-if``) to the az parser (``console.cli``), which
parses as az does; ``scenario`` and ``serve`` to the workshop's argparse parsers; ``import`` to the twin's; ``endpoint`` and
``classroom`` to their own;
``console`` and ``demo`` here. Every level answers ``--help``; no branch is imported before it is chosen,
and the CLI path never imports textual.
"""

from __future__ import annotations

import argparse
import sys

from .cli import spec

GLOBAL_OPTIONS = (
    (("--home",), {"metavar": "DIR", "help": "the home holding the state (default: $CMKLAB_HOME, or the user's "
                                             "data directory)"}),
    (("--seed",), {"metavar": "N", "help": "the seed of a new state (default: $CMKLAB_SEED)"}),
    (("--profile",), {"metavar": "NAME", "help": "the rule profile of a new state: seeds or azure-2025"}),
    (("--empty",), {"action": "store_true", "help": "the console opens a new home empty (no demo landscape)"}),
    (("--read-only",), {"action": "store_true", "help": "open the store read-only: every change is refused"}),
)
"""cmklab's global options: before the command, for every command."""

BRANCHES = ("console", "tui", "demo", "scenario", "serve", "import", "endpoint", "classroom")
"""The commands the root runs itself; every other word goes to the az parser (``az``, ``what-if``, cmklab's
own az-style groups, and az's answer to a misspelled word)."""

CONSOLE_HELP = """usage: cmklab [--home DIR] [--seed N] [--profile NAME] [--empty] [--read-only] [console]

Open the console on the home (the default with no command). A new home gets the demo landscape unless
--empty is given; --read-only opens a projector view in which every change is refused.
"""


class _RootParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        print(f"cmklab: error: {message}", file=sys.stderr)
        print("Run 'cmklab --help' for the commands and global options.", file=sys.stderr)
        raise SystemExit(2)


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def build_parser() -> argparse.ArgumentParser:
    """The root of the tree: the global options, the command word and the rest (its branch parses it)."""
    p = _RootParser(prog="cmklab", usage=spec.CMKLAB_GLOBALS, add_help=False, allow_abbrev=False)
    for flags, kw in GLOBAL_OPTIONS:
        if flags == ("--seed",):
            kw = {**kw, "type": _whole}
        p.add_argument(*flags, **kw)
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("command", nargs="?")
    p.add_argument("args", nargs=argparse.REMAINDER)
    return p


def split_globals(argv: list[str]) -> tuple[dict, list[str]]:
    """The global options (as keyword arguments of the branches) and the command with its arguments."""
    ns = build_parser().parse_args(argv)
    opts = {k: v for k, v in vars(ns).items() if k not in ("help", "command", "args") and v not in (None, False)}
    rest = ([ns.command] if ns.command is not None else []) + list(ns.args)
    if ns.help and not rest:
        rest = ["--help"]
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
    head = rest[0] if rest else "console"
    if head not in BRANCHES:
        from console.cli import run_cli

        return run_cli(rest, **opts)
    args = rest[1:]
    if head in ("console", "tui"):
        if args and args[0] in ("-h", "--help"):
            print(CONSOLE_HELP, end="")
            return 0
        if args:
            print(f"cmklab {head}: error: unrecognized arguments: {' '.join(args)}", file=sys.stderr)
            return 2
        from console.app import run_console

        return run_console(**opts) or 0
    if head == "scenario":
        from console.workshop import run_scenario_cli

        return run_scenario_cli(args, **opts)
    if head == "serve":
        from console.workshop import run_serve

        return run_serve(args, **opts)
    if head == "classroom":
        from console.classroom import run_classroom

        return run_classroom(args, **opts)
    if head == "endpoint":
        from console.endpoint.cli import run_endpoint

        return run_endpoint(args, **opts)
    if head == "import":
        from console.twin_cli import run_import

        return run_import(args, **opts)
    return _demo(args, **opts)


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
    try:  # a read-only store refuses to be created (or built on): it says so, not this command
        engine = open_engine(home, seed=seed, profile=profile, read_only=read_only)
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
