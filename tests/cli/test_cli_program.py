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


@pytest.mark.parametrize("words", [[], ["console"], ["az"], ["az", "vm", "create"], ["what-if"], ["import"],
                                   ["scenario"], ["scenario", "run"], ["serve"], ["demo"], ["vm"],
                                   ["clock", "advance"]])
def test_every_level_answers_help_and_touches_no_home(words, capsys, tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("CMKLAB_HOME", str(home))
    code, out, err = run(["--home", str(home), *words, "--help"], capsys)
    assert code == 0, err
    assert ("usage" in out.lower() or "Group" in out or "Command" in out) and not err
    assert not home.exists()


def test_the_root_help_lists_every_branch_and_the_global_options(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for verb in (*program.BRANCHES[:1], *program.BRANCHES[2:], "az", "what-if"):
        assert f"\n    {verb} " in out, verb
    for flags, _kw in program.GLOBAL_OPTIONS:
        assert flags[0] in spec.CMKLAB_GLOBALS and flags[0] in out


@pytest.mark.parametrize("argv,message", [
    (["--seed", "x", "az", "group", "list"], "argument --seed: 'x' is not a whole number"),
    (["--home"], "argument --home: expected one argument"),
    (["--bogus", "az"], "unrecognized arguments: --bogus"),
    (["console", "extra"], "unrecognized arguments: extra"),
])
def test_a_bad_global_option_is_a_usage_error_naming_it(argv, message, capsys):
    code, out, err = run(argv, capsys)
    assert code == 2 and message in err and not out


def test_global_options_go_to_the_branch_and_the_rest_is_left_as_given():
    opts, rest = program.split_globals(["--home=/h", "--seed", "5", "--read-only", "az", "vm", "list",
                                        "--home", "x"])
    assert opts == {"home": "/h", "seed": 5, "read_only": True}
    assert rest == ["az", "vm", "list", "--home", "x"]  # after the command word, nothing is a global option


def test_demo_on_a_read_only_home_is_refused_by_the_store(capsys, tmp_path):
    home = tmp_path / "h"
    code, _, err = run(["--home", str(home), "--read-only", "demo"], capsys)
    assert code == 1 and "(ReadOnly)" in err and "cannot create it" in err and not home.exists()
    assert run(["--home", str(home), "demo"], capsys)[0] == 0
    code, _, err = run(["--home", str(home), "--read-only", "demo"], capsys)
    assert code == 1 and "(Conflict)" in err and "already holds state" in err
