"""``cmklab classroom`` served for real: trainees' browsers over websockets, the trainer's API.

Each test starts a classroom process on loopback (two trainees on disable-key unless it says
otherwise) and drives it as browsers would: the console pages' websockets, the trainer's API."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import zipfile

import pytest

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
from classroom_helpers import (DEADLINE, browser, clean_env, http, lab_step, row, start_classroom, state, stop_classroom,
                      trainee_ws, wait_for)

from store import state_files

DISABLE = ["az", "keyvault", "key", "set-attributes", "--vault-name", "kv-lab", "--name", "key-app",
           "--enabled", "false"]


def state_bytes(home) -> bytes:
    return b"".join(state_files(home).values())


def cmklab(home, *argv: str) -> subprocess.CompletedProcess:
    """What a trainee typing in a terminal on their own home would run."""
    return subprocess.run([sys.executable, "-m", "console", "--home", str(home), *argv], capture_output=True,
                          text=True, env=clean_env(), timeout=120)


def test_each_link_opens_a_console_on_that_trainees_home_and_their_keys_change_only_their_lab(classroom):
    before = state_bytes(classroom.home("trainee-02"))

    async def go():
        async with browser(classroom, trainee_ws(classroom, "trainee-01")) as a, \
                browser(classroom, trainee_ws(classroom, "trainee-02")) as b:
            await a.until(b"step 1/4")
            await b.until(b"step 1/4")
            homes = sorted(home for _pid, home in classroom.consoles())
            assert homes == [str(classroom.home("trainee-01")), str(classroom.home("trainee-02"))]
            await a.keys(">")  # the Lab's next step, typed in trainee-01's browser
            await a.until(b"step 2/4")
            wait_for(lambda: lab_step(classroom.home("trainee-01")) == 2, "trainee-01's lab moved to step 2")

    asyncio.run(go())
    assert lab_step(classroom.home("trainee-02")) == 1
    assert state_bytes(classroom.home("trainee-02")) == before
    snap = wait_for(lambda: (s := state(classroom)) and row(s, "trainee-01")["step"] == 2 and s,
                    "the trainer's page shows trainee-01 on step 2")
    assert row(snap, "trainee-02")["step"] == 1


def test_a_wrong_or_missing_token_gets_nothing(classroom):
    t1, trainer = classroom.token("trainee-01"), classroom.trainer_token
    forged = t1[:-1] + ("A" if t1[-1] != "A" else "B")
    for path in (f"/t/{forged}", "/t/", f"/t/{forged}/ws", "/ws", f"/trainer/{t1}", f"/trainer/{forged}",
                 f"/trainer/{forged}/api/state", f"/trainer/{t1}/api/state", f"/trainer/{forged}/download",
                 f"/trainer/{forged}/view/trainee-01", f"/t/{trainer}"):
        status, body = http(classroom, path)
        assert status in (403, 404), (path, status)  # 403: a socket opened without the page's Origin
        assert b"trainee-0" not in body and b"kv-lab" not in body, path
    for path in (f"/trainer/{forged}/api/advance", f"/trainer/{t1}/api/reset/trainee-01"):
        status, _ = http(classroom, path, method="POST", body={})
        assert status == 404, path

    async def ws(path):
        import aiohttp

        try:
            async with browser(classroom, path):
                return 101
        except aiohttp.WSServerHandshakeError as e:
            return e.status

    assert asyncio.run(ws(f"/t/{forged}/ws")) == 404
    assert asyncio.run(ws(f"/trainer/{forged}/view/trainee-01/ws")) == 404
    assert classroom.consoles() == []
    status, body = http(classroom, "/")
    assert status == 200 and b"link your trainer gave you" in body
    assert t1.encode() not in body and trainer.encode() not in body
    # the refusals are logged, without the tokens
    log = classroom.log()
    assert "not a link of this classroom" in log
    assert forged not in log and t1 not in log and trainer not in log


def test_a_socket_from_another_origin_or_host_is_refused(classroom):
    import aiohttp

    async def ws(origin):
        try:
            async with browser(classroom, trainee_ws(classroom, "trainee-01"), origin=origin):
                return 101
        except aiohttp.WSServerHandshakeError as e:
            return e.status

    assert asyncio.run(ws("http://evil.example")) == 403
    assert asyncio.run(ws(f"https://127.0.0.1:{classroom.port}")) == 403  # not this server's scheme
    status, _ = http(classroom, f"/t/{classroom.token('trainee-01')}", headers={"Host": "rebound.example"})
    assert status == 403
    status, _ = http(classroom, f"/trainer/{classroom.trainer_token}/api/advance", method="POST", body={},
                     headers={"Origin": "http://evil.example"})
    assert status == 403
    assert lab_step(classroom.home("trainee-01")) == 1
    assert classroom.consoles() == []


def test_an_objective_met_shows_on_the_trainers_page(classroom):
    """The trainee disables the key in their own home: the trainer's overview shows the objective met
    (the page polls every second; the server re-checks changed homes every half second: the bench's
    classroom_progress_visible_s measures how soon)."""
    label = "the current version of key-app is disabled"
    first = row(state(classroom), "trainee-01")["objectives"]
    assert next(o for o in first if o["label"] == label)["state"] == "unmet"
    r = cmklab(classroom.home("trainee-01"), *DISABLE)
    assert r.returncode == 0, r.stderr

    def met():
        s = state(classroom)
        objs = {o["label"]: o["state"] for o in row(s, "trainee-01")["objectives"]}
        return objs[label] == "met" and s

    snap = wait_for(met, "the trainer's page shows trainee-01's key disabled")
    other = {o["label"]: o["state"] for o in row(snap, "trainee-02")["objectives"]}
    assert other[label] == "unmet"
    assert all(o["state"] != "error" for t in snap["trainees"] for o in t["objectives"])


def test_reconnecting_or_a_second_tab_resumes_the_same_lab(classroom):
    path = trainee_ws(classroom, "trainee-01")

    async def first_visit():
        async with browser(classroom, path) as a:
            await a.until(b"step 1/4")
            await a.keys(">")
            await a.until(b"step 2/4")
        wait_for(lambda: lab_step(classroom.home("trainee-01")) == 2, "the step is saved")

    async def come_back():
        async with browser(classroom, path) as a, browser(classroom, path) as b:
            await a.until(b"step 2/4")
            await b.until(b"step 2/4")
            assert len(classroom.consoles()) == 2

    asyncio.run(first_visit())
    asyncio.run(come_back())
    assert lab_step(classroom.home("trainee-02")) == 1


def test_the_trainer_resets_a_trainees_step(classroom):
    untouched = state_bytes(classroom.home("trainee-02"))
    assert cmklab(classroom.home("trainee-01"), *DISABLE).returncode == 0
    assert state_bytes(classroom.home("trainee-01")) != untouched
    status, body = http(classroom, f"/trainer/{classroom.trainer_token}/api/reset/trainee-01", method="POST",
                        body={})
    assert status == 200, body
    assert json.loads(body)["ok"] is True
    # the same seeded landscape as the trainee who did nothing: what trainee-01 did is undone
    assert state_bytes(classroom.home("trainee-01")) == untouched

    def unmet():
        objs = {o["label"]: o["state"] for o in row(state(classroom), "trainee-01")["objectives"]}
        return objs.get("the current version of key-app is disabled") == "unmet"

    wait_for(unmet, "the trainer's page shows the reset")
    status, body = http(classroom, f"/trainer/{classroom.trainer_token}/api/reset/nobody", method="POST", body={})
    assert status == 404 and b"nobody" in body


def test_the_trainer_moves_the_room_to_the_next_step(classroom):
    api = f"/trainer/{classroom.trainer_token}/api/advance"
    status, body = http(classroom, api, method="POST", body={})
    assert status == 200, body
    assert json.loads(body) == {"ok": True, "to": 2, "moved": ["trainee-01", "trainee-02"]}
    assert lab_step(classroom.home("trainee-01")) == lab_step(classroom.home("trainee-02")) == 2
    status, body = http(classroom, api, method="POST", body={"to": 9})
    assert status == 400 and b"steps 1 to 4" in body
    status, body = http(classroom, api, method="POST", body={"to": "3"})
    assert status == 400 and b"step number" in body
    assert lab_step(classroom.home("trainee-01")) == 2


def test_the_trainer_downloads_every_command_log_and_a_summary(classroom):
    status, body = http(classroom, f"/trainer/{classroom.trainer_token}/download")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        names = set(z.namelist())
        assert {"summary.json", "summary.csv", "logs/trainee-01.json", "logs/trainee-01.sh",
                "logs/trainee-02.json", "logs/trainee-02.sh"} <= names
        summary = json.loads(z.read("summary.json"))
        csv_head = z.read("summary.csv").decode().splitlines()[0]
    assert summary["scenario"] == "disable-key" and summary["steps"] == 4
    assert [t["name"] for t in summary["trainees"]] == ["trainee-01", "trainee-02"]
    assert csv_head.startswith("trainee,finished,steps done,total seconds,step 1 seconds")


def test_closing_stops_every_console_and_starting_again_resumes_every_trainee(tmp_path):
    room = tmp_path / "room"
    served = start_classroom(room)
    try:
        async def open_and_move():
            async with browser(served, trainee_ws(served, "trainee-01")) as a:
                await a.until(b"step 1/4")
                await a.keys(">")
                await a.until(b"step 2/4")
                wait_for(lambda: lab_step(served.home("trainee-01")) == 2, "the step is saved")
                pids = [pid for pid, _ in served.consoles()]
                assert len(pids) == 1
                os.killpg(served.proc.pid, signal.SIGINT)  # Ctrl+C in the trainer's terminal: its whole group
                served.proc.wait(timeout=DEADLINE)
                return pids

        pids = asyncio.run(open_and_move())
        assert served.proc.returncode == 0
        for pid in pids:
            wait_for(lambda: not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split(
                ")")[-1].split()[0], f"console {pid} has stopped")
    finally:
        stop_classroom(served)
    again = start_classroom(room, trainees=None, port=served.port)  # the same links: the same port
    try:
        assert again.links == served.links and again.trainer == served.trainer

        async def resume():
            async with browser(again, trainee_ws(again, "trainee-01")) as a:
                await a.until(b"step 2/4")

        asyncio.run(resume())
        assert lab_step(again.home("trainee-02")) == 1
    finally:
        stop_classroom(again)
    log = served.log() + again.log()
    assert "trainee-01: console opened" in log and "trainee-01: console closed" in log
    for token in [served.trainer_token, *(served.token(n) for n in served.links)]:
        assert token not in log


def test_tls_with_a_self_signed_certificate(tmp_path):
    import ssl
    import urllib.request

    served = start_classroom(tmp_path / "room", "--tls-self-signed", trainees=1, scheme="https")
    try:
        assert served.trainer.startswith("https://")
        cert = tmp_path / "room" / "tls" / "cert.pem"
        ctx = ssl.create_default_context(cafile=str(cert))  # the certificate made for this classroom verifies
        with urllib.request.urlopen(served.links["trainee-01"], context=ctx, timeout=30) as resp:
            page = resp.read()
        assert f"wss://127.0.0.1:{served.port}/t/".encode() in page
        assert oct((tmp_path / "room" / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"

        async def go():
            import aiohttp

            async with browser(served, trainee_ws(served, "trainee-01")) as a:
                await a.until(b"step 1/4")
            try:
                async with browser(served, trainee_ws(served, "trainee-01"), origin=f"http://127.0.0.1:{served.port}"):
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

        assert asyncio.run(go()) == 403  # a page served without TLS is not this server's
    finally:
        stop_classroom(served)


def test_consoles_are_forked_from_a_preloaded_fork_server_or_else_started_as_processes(tmp_path):
    """The fork server (console/classroom/zygote.py) starts each console with Textual and cmklab already
    imported; where it cannot run (CMKLAB_CLASSROOM_FORK=0 stands for such a system), each console is a
    process of its own, and behaves the same."""
    for fork in ("1", "0"):
        served = start_classroom(tmp_path / f"room-{fork}", trainees=1, env={"CMKLAB_CLASSROOM_FORK": fork})
        try:
            async def go():
                async with browser(served, trainee_ws(served, "trainee-01")) as a:
                    await a.until(b"step 1/4")
                    [(pid, home)] = served.consoles()
                    assert home == str(served.home("trainee-01"))
                    with open(f"/proc/{pid}/stat") as f:
                        parent = int(f.read().rsplit(")", 1)[1].split()[1])
                    return parent

            parent = asyncio.run(go())
        finally:
            stop_classroom(served)
        assert (parent != served.proc.pid) == (fork == "1"), fork  # forked: the fork server's child


def test_the_trainer_opens_a_trainees_console_read_only(classroom):
    """The projector view: the trainee's home, in a console that changes nothing (its step keys do not
    move the trainee's lab), and not counted among the trainee's own consoles."""
    view = f"/trainer/{classroom.trainer_token}/view/trainee-01/ws"

    async def go():
        async with browser(classroom, view) as v:
            await v.until(b"step 1/4")
            [(_pid, home)] = classroom.consoles()
            assert home == str(classroom.home("trainee-01"))
            await v.keys(">")
            await v.until(b"step 2/4")  # the view moves, the trainee's lab does not
            assert row(state(classroom), "trainee-01")["consoles"] == 0

    asyncio.run(go())
    assert lab_step(classroom.home("trainee-01")) == 1
    status, _ = http(classroom, f"/trainer/{classroom.trainer_token}/view/nobody")
    assert status == 404


def test_a_trainee_has_at_most_three_consoles_open(classroom):
    import aiohttp

    path = trainee_ws(classroom, "trainee-01")

    async def go():
        async with browser(classroom, path) as a, browser(classroom, path) as b, browser(classroom, path) as c:
            for tab in (a, b, c):
                await tab.until(b"step 1/4")
            try:
                async with browser(classroom, path):
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

    assert asyncio.run(go()) == 429
    assert "refused a console for trainee-01: 3 already open" in classroom.log()


def test_a_fourth_tab_gets_a_page_that_says_why_not_a_console_that_ends_at_once(classroom):
    """With three consoles open, the fourth tab's page is the 429 that says to close a tab (its socket
    would be refused, and textual-serve's page says only "Session ended"); once one closes, it opens."""
    path = trainee_ws(classroom, "trainee-01")
    page = f"/t/{classroom.token('trainee-01')}"

    async def go():
        async with browser(classroom, path) as a, browser(classroom, path) as b:
            for tab in (a, b):
                await tab.until(b"step 1/4")
            async with browser(classroom, path) as c:
                await c.until(b"step 1/4")
                status, body = http(classroom, page)
                assert status == 429, status
                assert b"close a tab" in body and b"trainee-01" not in body
            wait_for(lambda: http(classroom, page)[0] == 200, "a third console may open again")

    asyncio.run(go())


def test_a_console_that_dies_closes_its_page(classroom):
    """A console killed (or crashed) closes its page, which says the session ended and offers to restart
    it, instead of a screen that no longer answers; it no longer counts among the trainee's consoles."""
    import aiohttp

    async def go():
        async with browser(classroom, trainee_ws(classroom, "trainee-01")) as a:
            await a.until(b"step 1/4")
            [(pid, _home)] = classroom.consoles()
            os.kill(pid, signal.SIGKILL)
            while (await a.ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                                      aiohttp.WSMsgType.CLOSING):
                pass

    try:
        asyncio.run(asyncio.wait_for(go(), DEADLINE))
    except asyncio.TimeoutError:
        pytest.fail("the page is still open on a console that died")
    wait_for(lambda: row(state(classroom), "trainee-01")["consoles"] == 0, "the dead console is not counted")


def test_a_trainees_page_names_them_in_the_tab_and_no_other_page_may_frame_it(classroom):
    import urllib.request

    req = urllib.request.Request(classroom.links["trainee-01"])
    with urllib.request.urlopen(req, timeout=DEADLINE) as resp:
        headers, body = resp.headers, resp.read().decode()
    assert "<title>cmklab: trainee-01</title>" in body
    assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"


def test_the_projector_view_takes_a_bigger_font_as_cmklab_serve_does(classroom):
    """``?fontsize=N`` (as textual-serve's pages take it) sizes the console's text, within bounds."""
    view = f"/trainer/{classroom.trainer_token}/view/trainee-01"
    for query, size in (("?fontsize=28", b"28"), ("", b"16"), ("?fontsize=900", b"48"), ("?fontsize=big", b"16")):
        status, body = http(classroom, view + query)
        assert status == 200
        assert b'data-font-size="' + size + b'"' in body, query


def test_a_console_names_the_trainees_lab_never_a_path_of_the_server(classroom):
    """The header of a trainee's console (and of the trainer's read-only view of it) names the lab, not
    the home's path on the trainer's machine. At 250 columns nothing of the header is cut."""
    where = str(classroom.directory).encode()

    async def go():
        for path in (trainee_ws(classroom, "trainee-01"), f"/trainer/{classroom.trainer_token}/view/trainee-01/ws"):
            async with browser(classroom, path, width=250, height=40) as a:
                screen = await a.until(b"step 1/4")
                screen = await a.until(b"rules ")
                assert where not in screen and b"/homes/" not in screen, (path, screen[-600:])
                assert b"trainee-01" in screen and b"store " not in screen, (path, screen[-600:])

    asyncio.run(go())


def test_the_trainers_view_says_it_is_the_read_only_projector_view_when_a_key_asks_for_a_change(classroom):
    """A key for an action pressed in the trainer's read-only view of a trainee (on the projector) is refused
    with the words the viewer can act on: the projector view, read-only; nothing changes."""
    before = b"".join(state_files(classroom.home("trainee-01")).values())

    async def go():
        path = f"/trainer/{classroom.trainer_token}/view/trainee-01/ws"
        async with browser(classroom, path, width=160, height=48) as a:
            await a.until(b"step 1/4")
            await a.until(b"kv-lab")
            await a.keys("x")  # delete the vault the cursor is on
            await a.until(b"projector")

    asyncio.run(go())
    assert b"".join(state_files(classroom.home("trainee-01")).values()) == before
