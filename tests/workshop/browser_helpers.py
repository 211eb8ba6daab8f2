"""A real headless browser (Debian's ``chromium``) driven through its DevTools protocol, for the tests of
the browser consoles' pages: a tab opens a URL, runs a script, presses keys as a person at the keyboard
would (to whatever holds the focus: nothing is clicked first) and answers a ``confirm()``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (Debian: apt-get install "
                                                             "chromium); the page needs a real browser")
DEADLINE = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tab:
    """One page of the browser, through its DevTools websocket."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.n = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.dialogs: list[str] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data:
                fut = self.pending.pop(data["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
            elif data.get("method") == "Page.javascriptDialogOpening":
                self.dialogs.append(data["params"]["message"])

    async def cmd(self, method: str, **params) -> dict:
        self.n += 1
        fut = asyncio.get_running_loop().create_future()
        self.pending[self.n] = fut
        await self.ws.send_json({"id": self.n, "method": method, "params": params})
        res = await asyncio.wait_for(fut, DEADLINE)
        if "error" in res:
            raise RuntimeError(f"{method}: {res['error']}")
        return res.get("result", {})

    async def js(self, expression: str):
        """The value of ``expression`` in the page (awaited when it is a promise)."""
        r = await self.cmd("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")

    async def until(self, expression: str, what: str, deadline: float = DEADLINE):
        """The first truthy value of ``expression``, polled until ``deadline``."""
        end = time.monotonic() + deadline
        while True:
            value = await self.js(expression)
            if value:
                return value
            if time.monotonic() > end:
                pytest.fail(f"not within {deadline}s: {what}")
            await asyncio.sleep(0.1)

    async def type(self, text: str) -> None:
        """Characters typed on the keyboard, to the element that has the focus."""
        for ch in text:
            await self.cmd("Input.dispatchKeyEvent", type="keyDown", key=ch, text=ch)
            await self.cmd("Input.dispatchKeyEvent", type="keyUp", key=ch)

    async def accept_dialog(self, deadline: float = DEADLINE) -> str:
        """Answer OK to the ``confirm()`` the page shows; its message."""
        end = time.monotonic() + deadline
        while not self.dialogs:
            if time.monotonic() > end:
                pytest.fail(f"the page showed no dialog within {deadline}s")
            await asyncio.sleep(0.05)
        await self.cmd("Page.handleJavaScriptDialog", accept=True)
        return self.dialogs.pop(0)


@contextlib.asynccontextmanager
async def chromium(tmp_path, width: int = 1280, height: int = 800):
    """A headless chromium of its own (its profile in ``tmp_path``); yields ``open(url) -> Tab``. Every tab
    and the browser are closed on the way out."""
    import aiohttp

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMKLAB_")}
    proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                             f"--remote-debugging-port={port}", f"--window-size={width},{height}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    tabs: list[Tab] = []
    try:
        end = time.monotonic() + DEADLINE
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > end:
                    pytest.fail("chromium did not start")
                time.sleep(0.1)
        async with aiohttp.ClientSession() as session:

            async def open_tab(url: str) -> Tab:
                async with session.put(f"http://127.0.0.1:{port}/json/new?about:blank") as r:
                    info = await r.json()
                ws = await session.ws_connect(info["webSocketDebuggerUrl"], max_msg_size=0)
                tab = Tab(ws)
                tabs.append(tab)
                await tab.cmd("Page.enable")
                await tab.cmd("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                              mobile=False)
                await tab.cmd("Page.navigate", url=url)
                return tab

            try:
                yield open_tab
            finally:
                for tab in tabs:
                    tab.reader.cancel()
                    with contextlib.suppress(Exception):
                        await tab.ws.close()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
