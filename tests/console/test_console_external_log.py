"""The console's command log records what the endpoint's clients (the real az, the Azure SDK) do on the same
home: their requests reach it through the journal, each line naming its request and caller
(``Engine.acting_as``'s origin), and are marked as another client's, never as this console's commands."""

from __future__ import annotations

from console.app import EXTERNAL_LABEL, CmkApp, external_requests

SIZE = (160, 48)
APP = "00000000-0000-4000-8000-0000000000a1"


def _origin(seq: str, request: str) -> dict:
    return {"via": "endpoint", "principal": APP, "name": "app1", "request": request, "seq": seq}


async def test_a_request_served_by_the_endpoint_appears_in_the_command_log(tmp_path):
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
        with other.acting_as(APP, _origin("7.1", f"PATCH {disk_url}")):
            other.update_disk("disk-spare", "rg-demo", tags={"by": "sdk"})
        other.update_disk("disk-archive", "rg-demo", tags={"by": "cmklab az"})  # no origin: not a request
        other.store.close()
        line = "endpoint app1  PATCH …/resourceGroups/rg-demo/providers/Microsoft.Compute/disks/disk-spare"
        for _ in range(100):
            await pilot.pause(0.02)
            if len(app.command_log) > own:
                break
        await pilot.pause()
        new = app.command_log[own:]
        assert [(e.label, e.lines, e.ok) for e in new] == [(EXTERNAL_LABEL, [line], True)]
        main = app.main
        assert any(line in main.table.row_text(k) for k in main.table.keys)
        path = tmp_path / "session.sh"
        app.export_log(str(path))
    engine.store.close()
    assert f"\n# {line}\n" in path.read_text()  # kept as a comment: no cmklab az command stands for it


def test_the_lines_of_one_request_make_one_entry_and_a_refusal_shows():
    from engine.models import AuditEntry, EventEntry

    kid = "https://kv.vault.azure.net/keys/k1/v1"
    wrap = _origin("7.2", "POST https://kv.vault.azure.net/keys/k1/v1/unwrapkey")
    start = _origin("7.3", "POST https://management.azure.com/subscriptions/s/resourceGroups/rg/providers/"
                           "Microsoft.Compute/virtualMachines/vm1/start")
    audit = [AuditEntry.from_doc({"id": "000000010", "time": "t1", "vault": "kv", "caller": APP,
                                  "operation": "KeyUnwrap", "kid": kid, "result": "Forbidden", "origin": wrap})]
    events = [EventEntry(id="000000011", time="t2", type="VmStartRefused", severity="error", summary="refused",
                         data={"vm": "vm1", "origin": start}),
              EventEntry(id="000000012", time="t2", type="VmPowerChanged", severity="information", summary="x",
                         data={"vm": "vm1", "origin": start}),
              EventEntry(id="000000013", time="t3", type="KeyDisabled", severity="warning", summary="cmklab az",
                         data={"kid": kid})]
    assert external_requests(events, audit) == [
        ("t1", "endpoint app1  POST kv.vault.azure.net/keys/k1/v1/unwrapkey", False, "Forbidden"),
        ("t2", "endpoint app1  POST …/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1/start",
         False, "VmStartRefused")]
