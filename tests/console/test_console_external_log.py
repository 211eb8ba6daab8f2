"""The console's command log records what the endpoint's clients (the real az, the Azure SDK) do on the same
home: their requests reach it through the journal, each line naming its request and caller, and the engine
call that wrote it (``Engine.acting_as``'s origin); the log says each call in ``cmklab az`` words (an audited
key operation as such), keeps the method and URL on the entry's last line, and marks the entry as another
client's. The exported replay script runs those calls, since they changed the home."""

from __future__ import annotations

import contextlib
import io
import shlex

from console.app import EXTERNAL_LABEL, CmkApp, ExternalEntry, external_entry, external_requests

SIZE = (160, 48)
APP = "00000000-0000-4000-8000-0000000000a1"


def _origin(seq: str, request: str) -> dict:
    return {"via": "endpoint", "principal": APP, "name": "app1", "request": request, "seq": seq}


async def test_a_request_served_by_the_endpoint_appears_in_the_command_log_in_az_words(tmp_path):
    from console.cli.runner import Context
    from console.cli.runner import main as az_main
    from console.session import open_engine

    home = tmp_path / "home"
    engine = open_engine(home, seed=3, demo=True)
    app = CmkApp(engine, poll=True, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        app.main.show_pane("log")
        for _ in range(100):
            await pilot.pause(0.02)
            if app.first_poll.is_set():
                break
        own = len(app.command_log)
        other = open_engine(home)  # the endpoint's process, serving a client's requests
        sub = other.meta.subscription_id
        disk_url = (f"https://management.azure.com/subscriptions/{sub}/resourceGroups/rg-demo/providers/"
                    "Microsoft.Compute/disks/disk-spare")
        key, ver = other.get_key("kv-demo", other.list_keys("kv-demo")[0].name, audit=False)
        kid = f"{key.id}/{ver['version']}"
        with other.acting_as(APP, _origin("7.1", f"PATCH {disk_url}")):
            other.update_disk("disk-spare", "rg-demo", tags={"by": "sdk"},
                              props={"maxShares": 2, "diagnostics": {"level": "full"}})
        with other.acting_as(APP, _origin("7.2", f"POST {kid}/wrapkey")):
            other.key_operation(None, kid, "wrapKey", b"k" * 32, alg="RSA-OAEP")
        other.update_disk("disk-archive", "rg-demo", tags={"by": "cmklab az"})  # no origin: not a request
        other.store.close()
        for _ in range(100):
            await pilot.pause(0.02)
            if len(app.command_log) > own + 1:
                break
        await pilot.pause()
        new = app.command_log[own:]
        update = ("cmklab az disk update --resource-group rg-demo --name disk-spare --set 'tags={\"by\":\"sdk\"}' "
                  "--max-shares 2")
        short_kid = f"kv-demo/{key.name}/{ver['version']}"
        assert [(e.label, e.lines, e.ok) for e in new] == [
            (EXTERNAL_LABEL, ["endpoint app1: " + update.removeprefix("cmklab "),
                              "endpoint app1: not said in cmklab az words: plain properties diagnostics.level "
                              "(stored through the endpoint)",
                              "PATCH …/resourceGroups/rg-demo/providers/Microsoft.Compute/disks/disk-spare"], True),
            (EXTERNAL_LABEL, [f"endpoint app1: wrapKey {short_kid}", f"POST {kid.removeprefix('https://')}/wrapkey"],
             True)]
        main = app.main
        assert any("endpoint app1: az disk update" in main.table.row_text(k) for k in main.table.keys)
        path = tmp_path / "session.sh"
        app.export_log(str(path))
    engine.store.close()
    script = path.read_text().splitlines()
    # the change ran as a command; the request that made it and the key operation are comments
    assert update in script
    assert "# endpoint app1: PATCH …/resourceGroups/rg-demo/providers/Microsoft.Compute/disks/disk-spare" in script
    assert f"# endpoint app1: wrapKey {short_kid} (audited; no state change)" in script
    assert not [ln for ln in script if "wrapKey" in ln and not ln.startswith("#")]
    # replayed on a second home built the same way, the line makes the same change
    second = open_engine(tmp_path / "second", seed=3, demo=True)
    with contextlib.redirect_stdout(io.StringIO()):
        assert az_main(shlex.split(update)[1:], Context(engine=second)) == 0
    d = second.get_disk("disk-spare", "rg-demo")
    assert d.tags == {"by": "sdk"} and d.props == {"maxShares": 2}
    second.store.close()
    # a console opened later on the home keeps the entries and what the replay writes for them
    again = open_engine(home)
    kept = [e for e in CmkApp(again, poll=False).command_log if isinstance(e, ExternalEntry)]
    assert [e.lines for e in kept] == [e.lines for e in new] and update in kept[0].script
    again.store.close()


def test_the_lines_of_one_request_make_one_entry_its_calls_in_order_and_a_refusal_shows():
    from engine import Engine
    from engine.demo import build_demo
    from engine.models import AuditEntry, EventEntry

    engine = Engine.in_memory(seed=3)
    build_demo(engine)
    kid = "https://kv.vault.azure.net/keys/k1/0123456789abcdef0123456789abcdef"
    wrap = _origin("7.2", "POST https://kv.vault.azure.net/keys/k1/0123456789abcdef0123456789abcdef/unwrapkey")
    start = _origin("7.3", "POST https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/"
                           "Microsoft.Compute/virtualMachines/vm1/start")
    call1 = start | {"call": {"n": 1, "action": "stop_vm", "args": {"name": "vm1", "resource_group": "rg-demo"}}}
    call2 = start | {"call": {"n": 2, "action": "start_vm", "args": {"name": "vm1", "resource_group": "rg-demo"}}}
    audit = [AuditEntry.from_doc({"id": "000000010", "time": "t1", "vault": "kv", "caller": APP,
                                  "operation": "KeyUnwrap", "kid": kid, "result": "Forbidden", "origin": wrap}),
             AuditEntry.from_doc({"id": "000000014", "time": "t2", "vault": "kv", "caller": "des",
                                  "operation": "KeyUnwrap", "kid": kid, "result": "OK", "origin": call2})]
    events = [EventEntry(id="000000011", time="t2", type="VmPowerChanged", severity="information", summary="x",
                         data={"vm": "vm1", "origin": call1}),
              EventEntry(id="000000012", time="t2", type="VmStartRefused", severity="error", summary="refused",
                         data={"vm": "vm1", "origin": call2}),
              EventEntry(id="000000013", time="t3", type="KeyDisabled", severity="warning", summary="cmklab az",
                         data={"kid": kid})]
    found = external_requests(events, audit)
    assert [(r.time, r.request, r.ok, r.code) for r in found] == [
        ("t1", "POST kv.vault.azure.net/keys/k1/0123456789abcdef0123456789abcdef/unwrapkey", False, "Forbidden"),
        ("t2", "POST …/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/start", False,
         "VmStartRefused")]
    unwrap, power = (external_entry(engine, r, i) for i, r in enumerate(found))
    assert unwrap.lines == ["endpoint app1: unwrapKey kv/k1/0123456789abcdef0123456789abcdef (Forbidden)",
                            "POST kv.vault.azure.net/keys/k1/0123456789abcdef0123456789abcdef/unwrapkey"]
    assert unwrap.script == ["# endpoint app1: POST kv.vault.azure.net/keys/k1/0123456789abcdef0123456789abcdef/unwrapkey (refused: Forbidden)",
                             "# endpoint app1: unwrapKey kv/k1/0123456789abcdef0123456789abcdef (Forbidden) (audited; no state change)"]
    # the unwrap the set's identity made inside the start is part of that call, not a line of its own
    assert power.lines == [
        "endpoint app1: az vm stop --resource-group rg-demo --name vm1",
        "endpoint app1: az vm start --resource-group rg-demo --name vm1 (refused: VmStartRefused)",
        "POST …/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/start"]
    assert power.script[1:] == ["cmklab az vm stop --resource-group rg-demo --name vm1",
                                "# refused (VmStartRefused): cmklab az vm start --resource-group rg-demo --name vm1"]


def test_a_call_with_a_value_left_out_of_its_note_is_no_command():
    """Key material is never in a note (engine/actions.py): an import cannot be replayed, and says so."""
    from console.app import ExternalRequest, call_lines
    from engine import Engine

    engine = Engine.in_memory(seed=3)
    note = {"n": 1, "action": "import_key", "args": {"vault": "kv", "name": "k"}, "omitted": ["pem"]}
    assert call_lines(engine, note) == ["# import_key: not replayable (pem not recorded)"]
    req = ExternalRequest("1", "t", _origin("1.1", "PUT https://kv.vault.azure.net/keys/k"),
                          calls={"1": [note, True, None]})
    assert external_entry(engine, req, 1).script == ["# endpoint app1: PUT kv.vault.azure.net/keys/k",
                                                     "# import_key: not replayable (pem not recorded)"]


def test_a_group_an_endpoint_client_creates_and_deletes_is_in_the_log_and_the_replay_script():
    """Issue #17: the engine writes a line for a group's creation and deletion, so a client's group PUT and
    DELETE become ``az group create`` / ``az group delete`` entries, runnable in the replay script (the steps the
    client then made inside the group need it)."""
    from engine import Engine

    engine = Engine.in_memory(seed=3)
    cursor = engine.journal_cursor()
    url = "https://management.azure.com/subscriptions/s/resourcegroups/rg-sdk"
    with engine.acting_as(APP, _origin("4.1", f"PUT {url}")):
        engine.create_group("rg-sdk", "eastus", tags=None)
    with engine.acting_as(APP, _origin("4.2", f"DELETE {url}")):
        engine.delete_group("rg-sdk")
    events, audit, _ = engine.journal_since(cursor)
    made, gone = (external_entry(engine, r, i) for i, r in enumerate(external_requests(events, audit)))
    assert made.lines == ["endpoint app1: az group create --name rg-sdk --location eastus",
                          "PUT …/resourcegroups/rg-sdk"]
    assert made.script == ["# endpoint app1: PUT …/resourcegroups/rg-sdk",
                           "cmklab az group create --name rg-sdk --location eastus"]
    assert gone.lines == ["endpoint app1: az group delete --name rg-sdk --yes", "DELETE …/resourcegroups/rg-sdk"]
    assert gone.script[1:] == ["cmklab az group delete --name rg-sdk --yes"]
    assert made.ok and gone.ok


async def test_commands_another_terminal_ran_appear_in_the_command_log_and_the_replay_script(tmp_path):
    """``cmklab az`` in another terminal on the same home: each command that changed state is an entry of the
    command log, its call said in ``cmklab az`` words (from the journal, as the endpoint's requests are), and the
    exported script replays it in its place; a read (``show``) changes nothing and is no entry."""
    from console.cli.runner import Context
    from console.cli.runner import main as az_main
    from console.session import open_engine

    home = tmp_path / "home"
    engine = open_engine(home, seed=3, demo=True)
    app = CmkApp(engine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        app._watch_once()  # where the journal ends now
        own = len(app.command_log)
        other = open_engine(home)  # another terminal's process
        with contextlib.redirect_stdout(io.StringIO()):
            for line in ("az snapshot create -g rg-demo -n snap-other --source disk-archive",
                         "az disk show -g rg-demo -n disk-archive",
                         "az keyvault key rotate --vault-name kv-demo -n key-2048"):
                assert az_main(shlex.split(line), Context(engine=other)) == 0, line
        other.store.close()
        app._watch_once()
        await pilot.pause()
        new = app.command_log[own:]
        assert [(e.label, e.lines, e.ok) for e in new] == [
            ("another terminal", ["another terminal: az snapshot create --resource-group rg-demo --name snap-other "
                                  "--source disk-archive"], True),
            ("another terminal", ["another terminal: az keyvault key rotate --vault-name kv-demo --name key-2048"],
             True)]
        path = tmp_path / "session.sh"
        app.export_log(str(path))
    engine.store.close()
    script = path.read_text().splitlines()
    i = script.index("# another terminal: cmklab az snapshot create")
    assert script[i + 1] == "cmklab az snapshot create --resource-group rg-demo --name snap-other --source disk-archive"
    assert "cmklab az keyvault key rotate --vault-name kv-demo --name key-2048" in script


async def test_workshop_hints_another_terminal_plays_are_its_commands_once_each_in_az_words(tmp_path):
    """A console open on a workshop home while another terminal plays the scenario's hints (``cmklab scenario run
    --auto``, each hint through the CLI in-process on the lab's engine): each hint that changed state is one entry of
    the command log, said as that terminal's command in ``cmklab az`` words, in the order they ran: none twice (a
    cascade's events, a step's checks and the lab's progress are no commands), none left out, a refused one
    marked refused."""
    from console.session import open_engine
    from console.workshop import cli_runner, find_scenario, new_landscape, open_lab, play

    home = tmp_path / "home"
    engine, lab = new_landscape(home, find_scenario("disable-key"))
    engine.close()
    mine = open_engine(home)
    app = CmkApp(mine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        app._watch_once()  # where the journal ends now
        own = len(app.command_log)
        other = open_engine(home)  # the other terminal: `cmklab scenario run disable-key --auto` plays the hints
        lab = open_lab(other)
        out: list[str] = []
        result = play(lab, cli_runner(home, engine=other), out=out.append)
        assert result.ok, out
        other.close()
        app._watch_once()
        await pilot.pause()
        new = app.command_log[own:]
        shown = f"$ cmklab --home {home} "  # the hints as the trainee reads them
        played = [ln.strip()[len(shown):] for ln in out if ln.strip().startswith(shown)]
        assert len(played) == 5
        assert all(e.label == "another terminal" for e in new)
        said = [ln.removeprefix("another terminal: ") for e in new for ln in e.lines]
        assert len(said) == len(new)  # one line each: the command, once
        refused = [e for e in new if not e.ok]
        assert [e.lines[0].split(" (refused")[0].removeprefix("another terminal: ") for e in refused] == \
            ["az vm start --resource-group rg-lab --name vm-web"]
        assert [s.split(" (refused")[0] for s in said] == [p for p in played if " show " not in f" {p} "]
    mine.close()


async def test_a_scenario_played_again_from_a_fresh_landscape_in_another_terminal_lists_its_hints_once(tmp_path):
    """``cmklab scenario run NAME --auto --reset`` in another terminal while the console is open on the home: the
    landscape is built again (the state replaced), then every hint played; the console lists each hint that changed
    state once, as that terminal's command in az words (the landscape's own making is no command)."""
    from console.session import open_engine
    from console.workshop import find_scenario, new_landscape, run_scenario_cli

    home = tmp_path / "home"
    engine, _lab = new_landscape(home, find_scenario("disable-key"))
    engine.close()
    mine = open_engine(home)
    app = CmkApp(mine, poll=False, frozen=True)
    async with app.run_test(size=SIZE) as pilot:
        app._watch_once()
        own = len(app.command_log)
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert run_scenario_cli(["run", "disable-key", "--auto", "--reset"], home=str(home)) == 0
        app._watch_once()
        await pilot.pause()
        new = app.command_log[own:]
        assert [(e.lines, e.ok) for e in new] == [
            (["another terminal: az keyvault key set-attributes --vault-name kv-lab --name key-app --enabled false"],
             True),
            (["another terminal: az vm start --resource-group rg-lab --name vm-web (refused: Forbidden)"], False),
            (["another terminal: az keyvault key set-attributes --vault-name kv-lab --name key-app --enabled true"],
             True),
            (["another terminal: az vm start --resource-group rg-lab --name vm-web"], True),
            (["another terminal: az vm start --resource-group rg-lab --name vm-api"], True)], out.getvalue()
    mine.close()
