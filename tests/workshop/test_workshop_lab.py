"""The Lab model (what the console's Lab pane renders) and ``cmklab scenario run / check / show``
without --auto: a trainee does the steps, the engine checks them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from console.session import open_engine
from console.workshop import find_scenario, open_lab, run_scenario_cli
from engine import Engine
from console.workshop.scenario import LAB_DOCUMENT, Lab, start_scenario

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_helpers import saved_lab, saved_lab_version  # noqa: E402


def _lab(name: str) -> Lab:
    sc = find_scenario(name)
    e = Engine.in_memory(seed=sc.seed)
    start_scenario(e, sc)
    return Lab(e, sc)


def test_lab_navigation_stays_within_the_steps():
    lab = _lab("disable-key")
    assert (lab.number, lab.total) == (1, 4)
    assert not lab.previous()
    assert lab.next() and lab.number == 2
    assert lab.goto(99) is True and lab.number == 4
    assert not lab.next()
    lab.goto(0)
    assert lab.step.title == "Disable the key"


def test_the_labs_progress_is_saved_through_the_engines_store():
    lab = _lab("disable-key")
    assert lab.next()
    saved = lab.engine.store.read_side(LAB_DOCUMENT)  # the store's side document, whatever the store
    assert saved["scenario"] == "disable-key" and saved["step"] == 2
    again = open_lab(lab.engine)  # no home needed: the progress is the store's
    assert (again.scenario.name, again.number, again.read_only) == ("disable-key", 2, False)


def test_a_lab_on_a_read_only_store_moves_without_saving():
    lab = _lab("disable-key")
    lab.save()
    lab.engine.set_read_only()
    before = lab.engine.side_signature(LAB_DOCUMENT)
    assert open_lab(lab.engine).read_only  # by the engine's mode
    assert lab.next() and lab.number == 2  # a projector view follows along; nothing is refused or saved
    assert lab.engine.side_signature(LAB_DOCUMENT) == before
    assert lab.engine.read_side(LAB_DOCUMENT)["step"] == 1


def test_objectives_tick_as_the_engine_state_changes():
    lab = _lab("disable-key")
    before = {r.label: r.met for r in lab.results()}
    assert before["vm-tools is running"] and not before["the current version of key-app is disabled"]
    assert not lab.met and lab.check() and 0 not in lab.completed
    lab.engine.set_key_attributes("kv-lab", "key-app", enabled=False)
    assert all(r.met for r in lab.check(advance=True))
    assert lab.completed == {0} and lab.number == 2
    # a negative objective: met only once a start was really attempted and refused
    assert not lab.met
    with pytest.raises(Exception, match="disabled key"):
        lab.engine.start_vm("vm-web")
    assert lab.met


def test_checking_never_changes_the_state():
    lab = _lab("rotate-no-downtime")
    lab.engine.rotate_key("kv-lab", "key-prod")
    docs = {t: {k: v.to_doc() for k, v in rows.items()} for t, rows in lab.engine.t.items()}
    for i in range(lab.total):
        lab.results(i)
    assert docs == {t: {k: v.to_doc() for k, v in rows.items()} for t, rows in lab.engine.t.items()}


def test_hints_show_real_values_and_flag_refusals():
    lab = _lab("disable-key")
    lab.goto(1)
    [(text, hint)] = lab.hints()
    assert text == "cmklab az vm start --resource-group rg-lab --name vm-web" and hint.refused
    lab = _lab("rotate-no-downtime")
    lab.goto(1)
    [(text, _)] = lab.hints()
    k = lab.engine.t["keys"]["https://kv-lab.vault.azure.net/keys/key-prod"]
    assert text.endswith(f"--key-url {k.id}/{k.current['version']}")


def test_run_then_check_step_by_step(lab_home, capsys):
    assert run_scenario_cli(["run", "revoke-access", "--no-console"], home=str(lab_home)) == 0
    out = capsys.readouterr().out
    assert "step 1/3: Revoke the set's access policy" in out
    assert f"cmklab --home {lab_home} az keyvault delete-policy --name kv-lab --object-id " in out
    assert run_scenario_cli(["check"], home=str(lab_home)) == 1
    assert "[ ] the identity of des-app lacks" in capsys.readouterr().out

    e = open_engine(lab_home)
    e.delete_policy("kv-lab", e.get_des("des-app").principal_id)
    e.store.close()
    assert run_scenario_cli(["check"], home=str(lab_home)) == 0
    out = capsys.readouterr().out
    assert "[x] vm-app was shut down by the key" in out and "Step complete. Next:" in out
    state = saved_lab(lab_home)
    assert state["step"] == 2 and state["completed"] == [1]

    assert run_scenario_cli(["show"], home=str(lab_home)) == 0
    assert "step 2/3: Try to start vm-app" in capsys.readouterr().out


def test_open_lab_is_none_without_a_scenario(lab_home):
    e = open_engine(lab_home, seed=1)
    assert open_lab(e, lab_home) is None
    e.store.close()


def test_check_without_a_scenario_says_how_to_start_one(lab_home, capsys):
    assert run_scenario_cli(["check"], home=str(lab_home)) == 2
    assert f"cmklab --home {lab_home} scenario run NAME" in capsys.readouterr().err
    assert not lab_home.exists()  # an empty home is not opened (that would create a state)
    e = open_engine(lab_home, seed=1)
    e.close()
    for verb in ("check", "show", "reset-step"):  # a state, but no lab's progress in its store
        assert run_scenario_cli([verb], home=str(lab_home)) == 2, verb
        assert "no scenario is being played" in capsys.readouterr().err
    assert saved_lab(lab_home) is None


def test_read_only_refuses_run_and_check_saves_nothing(lab_home, capsys):
    assert run_scenario_cli(["run", "disable-key"], home=str(lab_home), read_only=True) == 1
    err = capsys.readouterr().err
    assert "ERROR: (ReadOnly)" in err and "cannot create it" in err  # the store's refusal
    assert not (lab_home / "state.json").exists() and not (lab_home / "db").exists()
    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(lab_home)) == 0
    e = open_engine(lab_home)
    e.set_key_attributes("kv-lab", "key-app", enabled=False)
    e.store.close()
    before = saved_lab_version(lab_home)
    assert run_scenario_cli(["check"], home=str(lab_home), read_only=True) == 0
    assert saved_lab_version(lab_home) == before


def test_a_read_only_store_refuses_a_reset_and_a_reset_step(lab_home, capsys):
    from store import state_files

    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(lab_home)) == 0
    before = state_files(lab_home), saved_lab_version(lab_home)
    capsys.readouterr()
    for argv in (["run", "disable-key", "--reset", "--no-console"], ["reset-step"]):
        assert run_scenario_cli(argv, home=str(lab_home), read_only=True) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("ERROR: (ReadOnly) ") and "was opened read-only (--read-only)" in err, err
        assert (state_files(lab_home), saved_lab_version(lab_home)) == before


def test_list_and_names(capsys):
    assert run_scenario_cli(["list", "--names"]) == 0
    names = capsys.readouterr().out.split()
    assert names[0] == "rotate-no-downtime" and "crypto-shredding" in names
    assert run_scenario_cli(["list"]) == 0
    assert "The ultra-disk trap" in capsys.readouterr().out


def test_a_trainers_own_scenario_file_runs_and_checks(lab_home, tmp_path, capsys):
    own = tmp_path / "mine.toml"
    own.write_text('''
name = "mine"
title = "My exercise"
summary = "Rotate and move the clock."
seed = 9
[landscape]
[[landscape.vaults]]
name = "kv-mine"
[[landscape.keys]]
vault = "kv-mine"
name = "k"
[[steps]]
title = "Rotate"
narrative = "Rotate k, then let a day pass."
hints = ["cmklab az keyvault key rotate --vault-name kv-mine --name k", "cmklab clock advance 1d"]
objectives = [{ kind = "key_versions", vault = "kv-mine", key = "k", min = 2 },
              { kind = "event_logged", type = "ClockAdvanced" }]
''')
    assert run_scenario_cli(["run", str(own), "--no-console"], home=str(lab_home)) == 0
    assert saved_lab(lab_home)["file"] == str(own)
    e = open_engine(lab_home)
    e.rotate_key("kv-mine", "k")
    e.advance_clock("1d")
    e.store.close()
    capsys.readouterr()
    assert run_scenario_cli(["check"], home=str(lab_home)) == 0
    assert "Scenario complete" in capsys.readouterr().out


def test_show_with_a_name_previews_a_scenario_without_a_home(lab_home, capsys):
    """``cmklab scenario list`` numbers the scenarios; ``scenario show N`` (or NAME) says what one is about and
    lists its steps, building nothing. An unknown one is az's not found (exit 3)."""
    assert run_scenario_cli(["show", "3"], home=str(lab_home)) == 0
    out = capsys.readouterr().out
    assert "ultra-disk-trap: The ultra-disk trap  (4 steps, seed 103, rules profile seeds)" in out
    assert "  step 2: Deallocate vm-ultra" in out and "scenario run ultra-disk-trap" in out
    assert run_scenario_cli(["show", "crypto-shredding"], home=str(lab_home)) == 0
    assert "step 5: Gone for good" in capsys.readouterr().out
    assert not lab_home.exists()
    assert run_scenario_cli(["show", "nope"], home=str(lab_home)) == 3
    assert "no scenario named 'nope'" in capsys.readouterr().err
    assert run_scenario_cli(["run", "nope.toml"], home=str(lab_home)) == 3


def test_narratives_wrap_to_the_terminal_not_to_the_files_lines(lab_home, capsys, monkeypatch):
    """Scenario files wrap their text at ~100 columns; printed on an 80-column terminal (or in the Lab panel)
    those hard breaks made ragged text. The text is reflowed by paragraph and wrapped to the width shown."""
    for sc in (find_scenario(str(n)) for n in range(1, 7)):
        for text in (sc.summary, *(s.narrative for s in sc.steps)):
            for para in text.split("\n\n"):
                assert "\n" not in para, (sc.name, para)
    monkeypatch.setenv("COLUMNS", "80")
    assert run_scenario_cli(["run", "ultra-disk-trap", "--no-console"], home=str(lab_home)) == 0
    out = capsys.readouterr().out.splitlines()
    prose = [ln for ln in out if ln.startswith("  ") and not ln.startswith(("  $ ", "  [", "  console:"))]
    assert len(prose) > 8 and all(len(ln) <= 80 for ln in prose), [ln for ln in prose if len(ln) > 80]
    assert "  Disable key-data. vm-premium, with a premium disk on the key, shuts down at" in out
    assert "" in out[1:4]  # the summary's paragraphs stay apart


def test_reflow_keeps_list_items_and_commands_on_their_own_lines():
    from console.workshop.scenario import _dedent

    text = "First line\nsame paragraph.\n\n- one\n- two\n  more of two\n$ cmklab clock advance 1h\n"
    assert _dedent(text) == "First line same paragraph.\n\n- one\n- two\n  more of two\n$ cmklab clock advance 1h"


def test_disable_key_step_1_says_what_its_check_verifies_the_current_version():
    """Step 1 of disable-key told the trainee to disable "the current version of key-app", and its objective said
    "key key-app is disabled": the whole key. The check (``key_state``) reads the current version only: with a
    second, older version still enabled the objective is met. The objective and its detail now say the current
    version, as the narrative does, and the console's route says that its key disables every version."""
    lab = _lab("disable-key")
    step = lab.step
    assert "current version" in step.narrative
    [state] = [o for o in step.objectives if o.kind == "key_state"]
    assert "current version" in state.label, state.label
    assert "every version" in step.console or "all versions" in step.console, step.console
    e = lab.engine
    old = e.get_key("kv-lab", "key-app", audit=False)[0].current["version"]
    e.rotate_key("kv-lab", "key-app")
    e.set_key_attributes("kv-lab", "key-app", old, enabled=False)  # an older version: the current one is on
    result = next(r for r in lab.results() if r.kind == "key_state")
    assert not result.met and "current version" in result.detail and "enabled" in result.detail, result
    current = e.get_key("kv-lab", "key-app", audit=False)[0].current["version"]
    e.set_key_attributes("kv-lab", "key-app", old, enabled=True)
    e.set_key_attributes("kv-lab", "key-app", current, enabled=False)  # the current version alone
    result = next(r for r in lab.results() if r.kind == "key_state")
    assert result.met and "current version" in result.detail and "disabled" in result.detail, result
