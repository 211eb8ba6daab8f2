"""``cmklab serve`` only lets the pages it serves drive a console: a websocket from a foreign
``Origin`` (any other web page open in the trainer's browser) and any request with a foreign ``Host``
(DNS rebinding) get HTTP 403 and a log line naming what was refused. Everything on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_helpers import stop_session  # noqa: E402

DEADLINE = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, proc: subprocess.Popen, port: int, log_path):
        self.proc, self.port, self.log_path = proc, port, log_path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def serving(home, tmp_path, *extra: str):
    """``cmklab serve`` in a process of its own on 127.0.0.1 and a free port, answering before this
    yields; stopped (SIGTERM) on the way out, its output kept in a file."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
    log_path = tmp_path / f"serve-{port}.log"
    code = "import sys; from console.workshop import main; sys.exit(main(sys.argv[1:]))"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, "--home", str(home), "serve", "--port", str(port),
                                 *extra], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    served = Served(proc, port, log_path)
    try:
        _wait_answering(served)
        yield served
    finally:
        stop_session(proc)


def _wait_answering(served: Served) -> None:
    end = time.monotonic() + DEADLINE
    last: Exception | None = None
    while time.monotonic() < end:
        if served.proc.poll() is not None:
            pytest.fail(f"cmklab serve exited with {served.proc.returncode}: {served.output()}")
        try:
            with urllib.request.urlopen(served.base + "/", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            last = e
        time.sleep(0.1)
    pytest.fail(f"cmklab serve did not answer on 127.0.0.1:{served.port} within {DEADLINE}s ({last})")


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, DEADLINE))


async def _ws_status(port: int, headers: dict[str, str], query: str = "width=80&height=24") -> int:
    """The status of a websocket handshake with these headers: 101 when it is accepted."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        try:
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws?{query}", headers=headers) as ws:
                await ws.close()
                return 101
        except aiohttp.WSServerHandshakeError as e:
            return e.status


async def _get_status(port: int, path: str, headers: dict[str, str]) -> int:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as resp:
            await resp.read()
            return resp.status


async def _get_page(port: int, path: str, headers: dict[str, str]) -> tuple[int, str]:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as resp:
            return resp.status, await resp.text()


async def _console_screen(port: int, origin: str) -> bytes:
    """What the console draws on a websocket opened with this Origin, until it shows the vaults."""
    import aiohttp

    got = b""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=120&height=40",
                                      headers={"Origin": origin}) as ws:
            while b"vaults" not in got:
                msg = await ws.receive()
                if msg.type == aiohttp.WSMsgType.BINARY:
                    got += msg.data
                elif msg.type != aiohttp.WSMsgType.TEXT:
                    break
    return got


@pytest.fixture
def lab(lab_home):
    """A home with a lab in it: a read-only console never creates state, so it needs some to show."""
    from console.workshop import run_scenario_cli

    assert run_scenario_cli(["run", "disable-key", "--no-console"], home=str(lab_home)) == 0
    return lab_home


def test_the_served_origin_gets_the_console(lab, tmp_path):
    with serving(lab, tmp_path, "--read-only") as s:
        out = _run(_console_screen(s.port, f"http://127.0.0.1:{s.port}"))
        assert b"vaults" in out, out[-500:]
        assert _run(_ws_status(s.port, {"Origin": f"http://localhost:{s.port}"})) == 101


def test_a_websocket_from_a_foreign_origin_is_refused(lab, tmp_path):
    with serving(lab, tmp_path, "--read-only") as s:
        p = s.port
        for origin in ("http://evil.example", f"http://evil.example:{p}", f"http://127.0.0.1:{p + 1}",
                       f"https://127.0.0.1:{p}", "null"):
            assert _run(_ws_status(p, {"Origin": origin}, query="width=80&height=24&token=s3cret")) == 403, origin
        assert _run(_ws_status(p, {})) == 403, "a websocket without an Origin"
        assert _run(_get_status(p, "/", {"Origin": "http://evil.example"})) == 403
    log = s.output()
    assert "refused GET '/ws'" in log and "origin 'http://evil.example'" in log, log
    assert f"origin 'http://127.0.0.1:{p + 1}'" in log, log
    assert "s3cret" not in log and "width=" not in log, log


def test_a_foreign_host_is_refused_for_the_page_and_the_websocket(lab, tmp_path):
    with serving(lab, tmp_path, "--read-only") as s:
        p = s.port
        good_origin = {"Origin": f"http://127.0.0.1:{p}"}
        # the page: a rebound name, another port, no usable host
        assert _run(_get_status(p, "/", {"Host": f"evil.example:{p}"})) == 403
        assert _run(_get_status(p, "/static/js/textual.js", {"Host": f"evil.example:{p}"})) == 403
        assert _run(_get_status(p, "/", {"Host": f"127.0.0.1:{p + 1}"})) == 403
        assert _run(_get_status(p, "/", {"Host": "evil.example"})) == 403
        # the websocket: a DNS-rebound page (its Origin and Host both the foreign name) and a foreign Host
        assert _run(_ws_status(p, {"Host": f"evil.example:{p}", "Origin": f"http://evil.example:{p}"})) == 403
        assert _run(_ws_status(p, {"Host": f"evil.example:{p}", **good_origin})) == 403
        # what the server does serve
        assert _run(_get_status(p, "/", {"Host": f"127.0.0.1:{p}"})) == 200
        assert _run(_get_status(p, "/", {"Host": f"localhost:{p}"})) == 200
        assert _run(_get_status(p, "/", {"Host": f"LOCALHOST:{p}"})) == 200
    log = s.output()
    assert f"host 'evil.example:{p}'" in log and "refused GET '/'" in log, log
    assert "refused GET '/ws'" in log, log


def test_allow_host_names_another_way_to_this_server(lab, tmp_path):
    with serving(lab, tmp_path, "--read-only", "--allow-host", "trainer.lan", "--allow-host",
                 "fwd.example:9999") as s:
        p = s.port
        assert _run(_get_status(p, "/", {"Host": f"trainer.lan:{p}"})) == 200
        assert _run(_ws_status(p, {"Host": f"trainer.lan:{p}", "Origin": f"http://trainer.lan:{p}"})) == 101
        assert _run(_get_status(p, "/", {"Host": "fwd.example:9999"})) == 200
        assert _run(_get_status(p, "/", {"Host": f"trainer.lan:{p + 1}"})) == 403
        assert _run(_get_status(p, "/", {"Host": f"fwd.example:{p}"})) == 403
        assert _run(_get_status(p, "/", {"Host": f"other.lan:{p}"})) == 403


def test_allow_host_is_in_the_help_and_checked(capsys):
    from console.workshop import run_serve

    with pytest.raises(SystemExit):
        run_serve(["--help"])
    help_text = capsys.readouterr().out
    assert "--allow-host" in help_text and "403" in help_text
    with pytest.raises(SystemExit) as exc:
        run_serve(["--allow-host", "http://evil.example/"])
    assert exc.value.code == 2
    assert "--allow-host" in capsys.readouterr().err


def test_on_all_interfaces_the_server_answers_on_the_address_the_browser_used():
    """``--host 0.0.0.0``: an IP literal is this server when it is the address the connection
    arrived on; ``localhost`` only from this machine; other names only with ``--allow-host``."""
    from console.workshop.serve import HostPolicy

    policy = HostPolicy.make("0.0.0.0", 8000, ["trainer.lan"])
    lan = "192.168.1.10"
    assert policy.host_ok(f"{lan}:8000", local=lan)
    assert policy.host_ok(f"{lan}:8000", local=f"::ffff:{lan}")
    assert not policy.host_ok("192.168.1.11:8000", local=lan)
    assert not policy.host_ok(f"{lan}:8001", local=lan)
    assert not policy.host_ok(lan, local=lan)  # port 80
    assert policy.host_ok("localhost:8000", local="127.0.0.1")
    assert not policy.host_ok("localhost:8000", local=lan)
    assert policy.host_ok("trainer.lan:8000", local=lan) and policy.host_ok("Trainer.LAN.:8000", local=lan)
    assert not policy.host_ok("evil.example:8000", local=lan)
    assert not policy.host_ok("", local=lan) and not policy.host_ok(None, local=lan)
    assert not policy.host_ok("trainer.lan:8000@evil.example", local=lan)
    assert policy.origin_ok(f"http://{lan}:8000", local=lan)
    assert not policy.origin_ok(f"https://{lan}:8000", local=lan)
    assert not policy.origin_ok("http://evil.example:8000", local=lan)
    assert not policy.origin_ok(f"http://{lan}:8000/path", local=lan)

    v6 = HostPolicy.make("::", 8000)
    assert v6.host_ok("[fd00::1]:8000", local="fd00::1") and not v6.host_ok("[fd00::2]:8000", local="fd00::1")

    loop = HostPolicy.make("127.0.0.1", 8000)
    assert loop.host_ok("127.0.0.1:8000", local="127.0.0.1") and loop.host_ok("localhost:8000", local="127.0.0.1")
    assert not loop.host_ok("127.0.0.2:8000", local="127.0.0.1")


# ============================================== the page connects back where the browser came from


def test_the_page_connects_back_to_the_address_the_browser_used(lab, tmp_path):
    with serving(lab, tmp_path, "--read-only") as s:
        p = s.port
        status, body = _run(_get_page(p, "/", {"Host": f"localhost:{p}"}))
        assert status == 200
        assert f'data-session-websocket-url="ws://localhost:{p}/ws"' in body, body
        assert f"http://localhost:{p}/static/js/textual.js" in body
        assert "127.0.0.1" not in body
        status, body = _run(_get_page(p, "/?fontsize=20", {}))
        assert f'data-session-websocket-url="ws://127.0.0.1:{p}/ws"' in body and 'data-font-size="20"' in body


def test_on_all_interfaces_the_page_advertises_the_address_the_browser_used(tmp_path):
    """``--host 0.0.0.0`` told browsers to open ``ws://0.0.0.0:...``, which trainees cannot reach.
    The server built for ``--host 0.0.0.0``, listening here on 127.0.0.1 only."""
    from aiohttp import web

    from console.workshop.serve import HostPolicy, make_server

    port = _free_port()
    server = make_server("true", host="0.0.0.0", port=port, title="cmklab",
                         policy=HostPolicy.make("0.0.0.0", port))

    async def fetch() -> tuple[int, str]:
        runner = web.AppRunner(await server._make_app())
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            return await _get_page(port, "/", {})
        finally:
            await runner.cleanup()

    status, body = _run(fetch())
    assert status == 200
    assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in body, body
    assert "0.0.0.0" not in body


# ============================================================== the page loads nothing from elsewhere

_URL = re.compile(r"""(?:\b[a-z][a-z0-9+.-]*:)?//([^/\s"'()<>]+)""", re.IGNORECASE)


def _hosts(text: str) -> set[str]:
    """Every host an absolute or scheme-relative URL in ``text`` names."""
    return {m.group(1).lower() for m in _URL.finditer(text)}


def test_the_page_loads_nothing_from_another_host(lab, tmp_path):
    """A classroom without internet gets the same page: its font comes from this server."""
    with serving(lab, tmp_path, "--read-only") as s:
        p = s.port
        status, body = _run(_get_page(p, "/", {}))
        assert status == 200
        assert _hosts(body) == {f"127.0.0.1:{p}"}, _hosts(body)
        fonts = re.findall(r"@font-face\s*{[^}]*url\(\"([^\"]+)\"\)", body)
        assert fonts and all(f.startswith(f"http://127.0.0.1:{p}/static/fonts/") for f in fonts), fonts
        for font in fonts:
            assert _run(_get_status(p, font.split(str(p), 1)[1], {})) == 200, font
        status, css = _run(_get_page(p, "/static/css/xterm.css", {}))
        assert status == 200 and "@import" not in css and not re.search(r"url\(\s*['\"]?(https?:)?//", css)


async def _get_headers(port: int, path: str) -> tuple[int, dict[str, str], str]:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE)) as session:
        async with session.get(f"http://127.0.0.1:{port}{path}") as resp:
            return resp.status, dict(resp.headers), await resp.text()


def test_no_other_page_can_frame_the_console_and_the_page_names_itself(lab, tmp_path):
    """Another web page cannot show the console in a frame of its own (clickjacking: a framed page's
    websocket carries this server's Origin, so the Origin check alone does not stop it); the page says
    what it is in the browser's tab, and refers no other page to where it came from."""
    with serving(lab, tmp_path, "--read-only") as s:
        status, headers, body = _run(_get_headers(s.port, "/"))
    assert status == 200
    assert headers.get("X-Frame-Options") == "DENY"
    assert "frame-ancestors 'none'" in headers.get("Content-Security-Policy", "")
    assert headers.get("Referrer-Policy") == "no-referrer"
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert "<title>cmklab (read-only)</title>" in body


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process under ``pid``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            out.append((p, open(f"/proc/{p}/cmdline").read().replace("\0", " ")))
        todo += children.get(p, [])
    return out


def test_a_console_that_dies_closes_its_page(lab, tmp_path):
    """A browser tab's console killed (or crashed) closes the tab's page, which says the session ended and
    offers to restart it, instead of a screen that no longer answers."""
    import aiohttp

    async def go(port: int, server: int) -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30",
                                          headers={"Origin": f"http://127.0.0.1:{port}"}) as ws:
                got = b""
                while b"vaults" not in got:
                    msg = await ws.receive()
                    assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), msg
                    got += msg.data if msg.type == aiohttp.WSMsgType.BINARY else b""
                consoles = [p for p, argv in _descendants(server) if "-m console --home" in argv and "sh -c" not in argv]
                assert len(consoles) == 1, _descendants(server)
                os.kill(consoles[0], 9)
                while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                                        aiohttp.WSMsgType.CLOSING):
                    pass

    with serving(lab, tmp_path, "--read-only") as s:
        try:
            _run(go(s.port, s.proc.pid))
        except asyncio.TimeoutError:
            pytest.fail("the page is still open on a console that died")


def test_a_page_cannot_make_its_console_draw_a_huge_screen():
    """The sizes a page asks for are bounded before a console gets them."""
    from console.workshop.serve import HEIGHTS, WIDTHS, terminal_size

    assert terminal_size("120", "40") == (120, 40)
    assert terminal_size(10 ** 6, 10 ** 6) == (WIDTHS[1], HEIGHTS[1])
    assert terminal_size("-5", 0) == (WIDTHS[0], HEIGHTS[0])
    assert terminal_size("wide", None) == (80, 24)
