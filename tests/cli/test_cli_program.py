"""The ``cmklab`` program is one argument tree: the root parses the global options, each command's branch its
own arguments, and every level answers ``--help`` without opening (or creating) a home."""

from __future__ import annotations

import pytest

from console import main as program
from console.cli import spec


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = program.main(argv)
    except SystemExit as stop:  # argparse's way out (--help of an argparse branch, a usage error)
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err


def tree() -> list[tuple[str, ...]]:
    """Every group and command reachable from the root: the root, each branch and its argparse subcommands (to
    any depth), the az parser's groups and commands, and cmklab's own az-style ones."""
    paths: list[tuple[str, ...]] = [()]
    for name in program.BRANCHES:
        paths.append((name,))
        parser = program.branch_parser(name)
        stack = [((name,), parser)] if parser is not None else []
        while stack:
            words, parser = stack.pop()
            for sub, child in program.subcommands(parser).items():
                paths.append((*words, sub))
                stack.append(((*words, sub), child))
    spec.load_all()
    for path in [*spec.GROUPS, *spec.COMMANDS]:
        words = tuple(path.split())
        paths.append(words[1:] if words[0] == "cmklab" else words)
    paths += [(word,) for word in spec.CMKLAB_COMMANDS]
    return sorted(set(paths))


TREE = tree()


def test_the_tree_reaches_every_level_of_every_branch():
    for words in [(), ("az",), ("az", "keyvault"), ("az", "keyvault", "key"), ("az", "keyvault", "key", "create"),
                  ("az", "vm", "encryption", "enable"), ("scenario",), ("scenario", "run"), ("scenario", "reset-step"),
                  ("serve",), ("import",), ("endpoint",), ("classroom",), ("what-if",), ("rules",), ("rules", "show"),
                  ("console",), ("demo",), ("vm", "write"), ("clock", "advance")]:
        assert words in TREE, words
    assert {w[0] for w in TREE if len(w) == 1} >= set(spec.CMKLAB_VERBS) | set(program.BRANCHES)


@pytest.mark.parametrize("words", TREE, ids=lambda w: " ".join(w) or "cmklab")
def test_every_group_and_command_of_the_tree_answers_help_and_touches_no_home(words, capsys, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("CMKLAB_HOME", str(home))
    code, out, err = run(["--home", str(home), *words, "--help"], capsys)
    assert code == 0, err
    assert ("usage" in out.lower() or "Group" in out or "Command" in out) and not err
    assert not home.exists()


def test_help_before_the_command_is_the_commands_help(capsys):
    assert run(["--help", "scenario"], capsys)[1] == run(["scenario", "--help"], capsys)[1]
    assert run(["--seed", "3", "--help", "az", "vm"], capsys)[1] == run(["az", "vm", "--help"], capsys)[1]


def test_the_root_help_lists_every_branch_and_the_global_options(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for verb in (*[b for b in program.BRANCHES if b != "tui"], "az", "what-if"):
        assert f"\n    {verb} " in out, verb
    for flags, _kw in program.GLOBAL_OPTIONS:
        assert flags[0] in spec.CMKLAB_GLOBALS and flags[0] in out


@pytest.mark.parametrize("argv,message", [
    (["--seed", "x", "az", "group", "list"], "argument --seed: 'x' is not a whole number"),
    (["--home"], "argument --home: expected one argument"),
    (["--bogus", "az"], "unrecognized arguments: --bogus"),
    (["console", "extra"], "unrecognized arguments: extra"),
    (["--profile", "azure-2024", "az", "group", "list"],
     "argument --profile: 'azure-2024' is not a rule profile; choose one of: seeds, azure-2025"),
])
def test_a_bad_global_option_is_a_usage_error_naming_it(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and message in err and not out


def test_a_bad_profile_creates_no_home(capsys, tmp_path):
    home = tmp_path / "h"
    code, _, err = run(["--home", str(home), "--profile", "x", "az", "group", "create", "-n", "g", "-l", "eastus"],
                       capsys)
    assert code == 2 and "'x' is not a rule profile" in err and not home.exists()


def test_a_profile_other_than_the_homes_is_said_not_silently_ignored(capsys, tmp_path):
    """The profile is chosen when a home is created: asking another on an existing home warns, and the command
    runs under the home's rules."""
    home = str(tmp_path / "h")
    assert run(["--home", home, "--profile", "azure-2025", "az", "group", "create", "-n", "g", "-l", "eastus"],
               capsys)[0] == 0
    code, out, err = run(["--home", home, "--profile", "seeds", "clock", "show"], capsys)
    assert code == 0 and '"profile": "azure-2025"' in out
    assert "WARNING: --profile seeds applies to a new home" in err and "with: azure-2025" in err
    code, out, err = run(["--home", home, "--profile", "azure-2025", "clock", "show"], capsys)
    assert code == 0 and not err


def test_global_options_go_to_the_branch_and_the_rest_is_left_as_given():
    ns = program.build_parser().parse_args(["--home=/h", "--seed", "5", "--read-only", "az", "vm", "list",
                                           "--home", "x"])
    assert (ns.home, ns.seed, ns.read_only, ns.empty, ns.profile) == ("/h", 5, True, False, None)
    assert (ns.command, ns.args) == ("az", ["vm", "list", "--home", "x"])  # after the word, nothing is global
    ns = program.build_parser().parse_args(["--empty"])
    assert (ns.command, ns.args, ns.empty) == (None, [], True)


def test_demo_on_a_read_only_home_is_refused_by_the_store(capsys, tmp_path):
    home = tmp_path / "h"
    code, _, err = run(["--home", str(home), "--read-only", "demo"], capsys)
    assert code == 1 and "(ReadOnly)" in err and "cannot create it" in err and not home.exists()
    assert run(["--home", str(home), "demo"], capsys)[0] == 0
    code, _, err = run(["--home", str(home), "--read-only", "demo"], capsys)
    assert code == 1 and "(Conflict)" in err and "already holds state" in err
