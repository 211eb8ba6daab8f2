"""The classroom directory (roster, tokens, homes), its command line, and the trainer's overview model,
without a server."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from console.classroom import run_classroom
from console.classroom.room import Classroom, Progress
from console.classroom.server import console_argv, redact
from store import state_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workshop"))
from lab_helpers import saved_lab  # noqa: E402

DISABLE = ["az", "keyvault", "key", "set-attributes", "--vault-name", "kv-lab", "--name", "key-app",
           "--enabled", "false"]


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def links(out: str) -> dict[str, str]:
    return {ln.split()[0]: ln.split()[1] for ln in out.splitlines()[1:] if ln.strip()}


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for var in ("CMKLAB_HOME", "CMKLAB_SEED", "CMKLAB_PROFILE"):
        monkeypatch.delenv(var, raising=False)


def test_a_new_classroom_keeps_its_tokens_private_and_builds_one_home_per_trainee(tmp_path, capsys):
    room = tmp_path / "room"
    assert run_classroom(["disable-key", "--trainees", "3", "--dir", str(room), "--links-only"]) == 0
    out = capsys.readouterr().out
    got = links(out)
    assert list(got) == ["trainer", "trainee-01", "trainee-02", "trainee-03"]
    tokens = [u.rsplit("/", 1)[1] for u in got.values()]
    assert len(set(tokens)) == 4 and all(len(t) >= 43 for t in tokens)  # 32 random bytes each
    assert got["trainer"].startswith("http://127.0.0.1:8000/trainer/")
    assert mode(room) == 0o700 and mode(room / "classroom.json") == 0o600 and mode(room / "links.txt") == 0o600
    config = json.loads((room / "classroom.json").read_text())
    assert config["scenario"] == "disable-key"
    assert {t["name"]: t["token"] for t in config["trainees"]}["trainee-02"] == tokens[2]
    homes = [room / "homes" / f"trainee-0{i}" for i in (1, 2, 3)]
    assert all(saved_lab(h)["step"] == 1 for h in homes)
    # the same seeded landscape for everyone, in files of their own
    first = state_files(homes[0])
    assert all(state_files(h) == first for h in homes[1:])


def test_starting_again_resumes_the_same_links_and_adds_new_names(tmp_path, capsys):
    room = tmp_path / "room"
    roster = tmp_path / "names.txt"
    roster.write_text("ada\n# a comment\n\nlinus\n")
    assert run_classroom(["disable-key", "--roster", str(roster), "--dir", str(room), "--links-only"]) == 0
    before = links(capsys.readouterr().out)
    (room / "homes" / "ada" / "marker").write_text("ada was here")
    assert run_classroom(["disable-key", "--dir", str(room), "--links-only"]) == 0
    assert links(capsys.readouterr().out) == before
    roster.write_text("ada\nlinus\ngrace\n")
    assert run_classroom(["disable-key", "--roster", str(roster), "--dir", str(room), "--links-only"]) == 0
    after = links(capsys.readouterr().out)
    assert {k: after[k] for k in before} == before and "grace" in after
    assert (room / "homes" / "ada" / "marker").read_text() == "ada was here"  # homes are kept, never rebuilt
    assert saved_lab(room / "homes" / "grace")["scenario"] == "disable-key"


@pytest.mark.parametrize("argv, code, words", [
    (["--trainees", "0"], 2, "between 1 and 200"),
    (["--trainees", "201"], 2, "between 1 and 200"),
    (["--trainees", "2", "--port", "0"], 2, "port 0"),
    (["--trainees", "2", "--tls-cert", "c.pem"], 2, "--tls-cert and --tls-key go together"),
    (["--trainees", "2", "--tls-self-signed", "--tls-cert", "c", "--tls-key", "k"], 2, "not both"),
    ([], 2, "--trainees N or --roster FILE"),
])
def test_bad_options_are_usage_errors_that_create_nothing(tmp_path, capsys, argv, code, words):
    room = tmp_path / "room"
    assert run_classroom(["disable-key", "--dir", str(room), "--links-only", *argv]) == code
    assert words in capsys.readouterr().err
    assert not (room / "classroom.json").exists()


@pytest.mark.parametrize("names, words", [
    ("ada\nada lovelace\n", "'ada lovelace' is not a usable trainee name (1 to 40 letters"),
    ("ada\nADA\n", "'ADA' is listed twice"),
    ("# nobody\n", "names no trainee"),
    ("../etc\n", "'../etc' is not a usable trainee name"),
])
def test_a_bad_roster_is_refused_naming_the_name_and_the_rule(tmp_path, capsys, names, words):
    roster = tmp_path / "names.txt"
    roster.write_text(names)
    assert run_classroom(["disable-key", "--roster", str(roster), "--dir", str(tmp_path / "room"),
                          "--links-only"]) == 2
    err = capsys.readouterr().err
    assert words in err and str(roster) in err
    assert not (tmp_path / "room" / "homes").exists()


def test_an_unknown_scenario_is_not_found_and_another_scenario_on_a_classroom_is_refused(tmp_path, capsys):
    room = tmp_path / "room"
    assert run_classroom(["no-such-lesson", "--trainees", "1", "--dir", str(room), "--links-only"]) == 3
    assert "no scenario named 'no-such-lesson'" in capsys.readouterr().err
    assert run_classroom(["disable-key", "--trainees", "1", "--dir", str(room), "--links-only"]) == 0
    capsys.readouterr()
    assert run_classroom(["rotate-no-downtime", "--dir", str(room), "--links-only"]) == 1
    assert "holds a classroom of scenario 'disable-key'" in capsys.readouterr().err
    assert run_classroom(["disable-key", "--trainees", "1", "--dir", str(room), "--links-only"],
                         read_only=True) == 1


def test_tokens_are_compared_against_every_trainee_and_the_trainer_apart(tmp_path):
    room = Classroom.open(tmp_path / "room", "disable-key", ["ada", "linus"])
    ada = room.by_name["ada"]
    assert room.trainee_for(ada.token) is ada
    for wrong in ("", ada.token[:-1], ada.token + "x", ada.token.upper(), room.trainer_token, "é"):
        assert room.trainee_for(wrong) is None, wrong
    assert room.is_trainer(room.trainer_token) and not room.is_trainer(ada.token) and not room.is_trainer("")
    assert ada.token not in repr(ada) and room.trainer_token not in repr(room)


def test_log_lines_show_paths_without_their_tokens():
    assert redact("/t/SECRETTOKEN/ws?width=80") == "'/t/…/ws'"
    assert redact("/trainer/SECRET/api/reset/ada") == "'/trainer/…/api/reset/ada'"
    assert "SECRET" not in redact("/trainer/SECRET")


def test_each_console_runs_the_trainees_home_and_the_trainers_view_is_read_only(tmp_path):
    argv = console_argv(tmp_path / "homes" / "ada")
    assert argv[1:] == ["-m", "console", "--home", str(tmp_path / "homes" / "ada"), "console"]
    assert "--read-only" in console_argv(tmp_path, read_only=True)


def test_one_refresh_after_a_trainee_acts_shows_it_and_unchanged_homes_are_not_checked_again(tmp_path):
    from console.cli import run_cli

    room = Classroom.open(tmp_path / "room", "disable-key", ["ada", "linus"])
    progress = Progress(room)
    try:
        assert progress.refresh() == ["ada", "linus"]  # the first look checks every home
        assert progress.refresh() == []  # nothing changed: nothing is checked again
        checks = {n: w.checks for n, w in progress.watches.items()}
        assert run_cli(DISABLE, home=str(room.by_name["ada"].home)) == 0
        assert progress.refresh() == ["ada"]
        assert progress.watches["linus"].checks == checks["linus"]
        snap = {t["name"]: t for t in progress.snapshot()["trainees"]}
        objs = {o["label"]: o["state"] for o in snap["ada"]["objectives"]}
        label = "the current version of key-app is disabled"
        assert objs[label] == "met"
        assert {o["label"]: o["state"] for o in snap["linus"]["objectives"]}[label] == "unmet"
    finally:
        progress.close()


def test_the_summary_says_who_finished_which_steps_in_what_time(tmp_path):
    from console.cli import run_cli
    from console.workshop import cli_runner, open_lab, play
    from console.session import open_engine

    now = [1000.0]
    room = Classroom.open(tmp_path / "room", "disable-key", ["ada", "linus"])
    progress = Progress(room, clock=lambda: now[0])
    try:
        progress.joined("ada")
        progress.joined("linus")
        progress.refresh()
        now[0] = 1060.0
        assert run_cli(DISABLE, home=str(room.by_name["ada"].home)) == 0
        progress.refresh()
        now[0] = 1300.0  # ada plays the rest of the scenario
        home = room.by_name["ada"].home
        engine = open_engine(home)
        try:
            result = play(open_lab(engine, home), cli_runner(home, engine=engine), out=lambda _s: None)
        finally:
            engine.store.close()
        assert result.ok
        progress.refresh()
        summary = {t["name"]: t for t in progress.summary()["trainees"]}
        assert summary["ada"]["finished"] and summary["ada"]["steps_done"] == [1, 2, 3, 4]
        assert summary["ada"]["steps"][0] == {"step": 1, "done_after_s": 60, "took_s": 60}
        assert summary["ada"]["total_s"] == 300
        assert summary["linus"] == {"name": "linus", "steps_done": [], "finished": False, "total_s": None,
                                    "steps": [{"step": s, "done_after_s": None, "took_s": None} for s in (1, 2, 3, 4)]}
        snap = {t["name"]: t for t in progress.snapshot()["trainees"]}
        assert snap["ada"]["since_progress_s"] == 0 and snap["linus"]["since_progress_s"] == 300
        assert mode(room.directory / "progress.json") == 0o600
    finally:
        progress.close()


def test_a_self_signed_certificate_names_the_classrooms_hosts_and_is_kept(tmp_path):
    from cryptography import x509

    from console.classroom import tls

    cert, key = tls.self_signed(tmp_path, ["trainer.lan", "192.168.1.10", "0.0.0.0"])
    assert mode(key) == 0o600
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    alt = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = alt.get_values_for_type(x509.DNSName)
    ips = [str(i) for i in alt.get_values_for_type(x509.IPAddress)]
    assert "trainer.lan" in names and "localhost" in names
    assert "192.168.1.10" in ips and "127.0.0.1" in ips and "0.0.0.0" not in ips
    before = cert.read_bytes()
    assert tls.self_signed(tmp_path, ["other.lan"]) == (cert, key) and cert.read_bytes() == before
    ctx = tls.context(cert, key)
    assert ctx.minimum_version.name == "TLSv1_2"
    with pytest.raises(Exception, match="does not exist"):
        tls.context(tmp_path / "missing.pem", key)


def test_a_refresh_checks_at_most_its_limit_of_homes_and_the_rest_wait_their_turn(tmp_path):
    from console.cli import run_cli

    room = Classroom.open(tmp_path / "room", "disable-key", ["ada", "grace", "linus"])
    progress = Progress(room)
    try:
        assert progress.refresh(limit=2) == ["ada", "grace"]
        assert progress.refresh(limit=2) == ["linus"]  # its first look, deferred, not lost
        assert progress.refresh(limit=2) == []
        for name in ("ada", "grace", "linus"):
            assert run_cli(DISABLE, home=str(room.by_name[name].home)) == 0
        first = progress.refresh(limit=1)
        second = progress.refresh(limit=1)
        third = progress.refresh(limit=1)
        assert sorted(first + second + third) == ["ada", "grace", "linus"]
        assert progress.refresh(limit=1) == []
        snap = progress.snapshot()["trainees"]
        assert all(t["objectives"][0]["state"] == "met" for t in snap)
    finally:
        progress.close()
