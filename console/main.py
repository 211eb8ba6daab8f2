"""The ``cmklab`` program: one argument tree.

``cmklab [--home DIR] [--seed N] [--profile NAME] [--empty] [--read-only] [COMMAND ...]``: the root (argparse,
here) owns the global options; the command word and what follows it go to that command's branch, as argparse
hands a subcommand its arguments, except that the branch is imported only once chosen (:data:`BRANCHES`):
``scenario``, ``serve``, ``endpoint`` and ``classroom`` are argparse parsers (:func:`branch_parser`, whose
subcommands are the next level: :func:`subcommands`); ``import``, ``console`` and ``demo`` parse their few
words themselves; every other word (``az``, ``what-if``, cmklab's own az-style groups such as ``vm write`` and
``rules show``) goes to the az parser (``console.cli``), which parses and answers ``--help`` as az does. Every
level answers ``--help`` without opening a home (tests/cli/test_cli_program.py walks the whole tree), and the
CLI path never imports textual.
"""

from __future__ import annotations

import argparse
import sys

from .cli import spec

GLOBAL_OPTIONS = spec.CMKLAB_OPTIONS
"""cmklab's global options (owned by :data:`console.cli.spec.CMKLAB_OPTIONS`, which ``cmklab --help`` lists):
before the command, for every command."""

BRANCHES: dict[str, tuple[str, str | None]] = {
    "console": ("console.main:_console", None),
    "tui": ("console.main:_console", None),
    "demo": ("console.main:_demo", None),
    "scenario": ("console.workshop.cli:run_scenario_cli", "console.workshop.cli:parser"),
    "serve": ("console.workshop.serve:run_serve", "console.workshop.serve:serve_parser"),
    "import": ("console.twin_cli:run_import", None),
    "endpoint": ("console.endpoint.cli:run_endpoint", "console.endpoint.cli:parser"),
    "classroom": ("console.classroom.cli:run_classroom", "console.classroom.cli:parser"),
}
"""The commands the root runs itself, each ``(runner, parser)``: ``runner(args, **global options)`` takes what
follows the word; ``parser`` builds the branch's argparse parser (its subcommands are the tree's next level;
None: the branch answers ``--help`` itself). Their summaries are :data:`console.cli.spec.CMKLAB_VERBS`. Every
other word goes to the az parser (``az``, ``what-if``, cmklab's own az-style groups, and az's answer to a
misspelled word), whose groups and commands are :data:`console.cli.spec.GROUPS` and ``COMMANDS``."""

CONSOLE_HELP = """usage: cmklab [--home DIR] [--seed N] [--profile NAME] [--empty] [--read-only] [console]

Open the console on the home (the default with no command). A new home gets the demo landscape unless
--empty is given; --read-only opens a projector view in which every change is refused.
"""


def _load(ref: str):
    import importlib

    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def branch_parser(name: str) -> argparse.ArgumentParser | None:
    """The argparse parser of branch ``name`` (imported only now), or None for a branch that parses by itself."""
    ref = BRANCHES[name][1]
    return _load(ref)() if ref else None


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of an argparse parser by name (the next level of the tree; argparse keeps them in its
    subparsers action, which it does not name publicly)."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            out.update(action.choices)
    return out


class _RootParser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        print(f"cmklab: error: {message}", file=sys.stderr)
        print("Run 'cmklab --help' for the commands and global options.", file=sys.stderr)
        raise SystemExit(2)


class _Command(argparse.Action):
    """The command word and everything after it (argparse's ``REMAINDER``, as its subcommands take them): after
    the word nothing is a global option. The word's branch parses the rest (lazily: only the chosen branch is
    imported); a word that is no branch goes to the az parser, which answers a misspelled one in az's words."""

    def __call__(self, parser, namespace, values, option_string=None):
        if values:
            namespace.command, namespace.args = values[0], list(values[1:])


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _profile(text: str) -> str:
    """A rule profile's name (``engine.rules.PROFILES``, imported only when ``--profile`` is given): a name that
    is none is a usage error before any home is opened or created."""
    from engine.rules import PROFILES

    if text not in PROFILES:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rule profile; choose one of: {', '.join(PROFILES)}")
    return text


_TYPES = {("--seed",): _whole, ("--profile",): _profile}


def build_parser() -> argparse.ArgumentParser:
    """The root of the tree: the global options, then the command word and its arguments (:class:`_Command`)."""
    p = _RootParser(prog="cmklab", usage=spec.CMKLAB_GLOBALS, add_help=False, allow_abbrev=False)
    for flags, kw in GLOBAL_OPTIONS:
        p.add_argument(*flags, **({**kw, "type": _TYPES[flags]} if flags in _TYPES else kw))
    p.add_argument("-h", "--help", action="store_true")
    p.add_argument("command", nargs=argparse.REMAINDER, action=_Command, metavar="COMMAND ...")
    p.set_defaults(command=None, args=[])
    return p


PROCESS_COMMAND = False
"""True when :func:`main` runs as the process's own command (``cmklab ...``, ``python -m console ...``: no
``argv`` given), not called from another program (tests): a command that leaves a large state behind may then
end the process without freeing it (``cmklab import``: see :func:`console.twin_cli.run_import`)."""


def main(argv: list[str] | None = None) -> int:
    global PROCESS_COMMAND
    PROCESS_COMMAND = argv is None
    try:
        return _main(argv)
    except BrokenPipeError:  # `cmklab ... | head -1`: the reader has gone; end quietly
        from console.cli.runner import quiet_stdout

        quiet_stdout()
        return 0


def _main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    opts = {k: v for k, v in vars(ns).items() if k not in ("help", "command", "args") and v not in (None, False)}
    command, args = ns.command, ns.args
    if ns.help:  # ``cmklab --help [COMMAND]``: the command's help, or the root's (in az's layout: see console.cli)
        command, args = (command, [*args, "--help"]) if command else (None, ["--help"])
    if command is None and not args:
        command = "console"  # the default
    if command not in BRANCHES:
        from console.cli import run_cli

        return run_cli([command, *args] if command else args, **opts)
    return _load(BRANCHES[command][0])(args, **opts)


def _console(args: list[str], **opts) -> int:
    """``cmklab [console]``: the console on the home."""
    if args and args[0] in ("-h", "--help"):
        print(CONSOLE_HELP, end="")
        return 0
    if args:
        print(f"cmklab console: error: unrecognized arguments: {' '.join(args)}", file=sys.stderr)
        return 2
    from console.app import run_console

    return run_console(**opts) or 0


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
