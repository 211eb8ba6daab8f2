"""The trainer's page in a real headless browser (Debian's ``chromium``): its script polls the API and
draws one row per trainee with each objective's state; the page loads nothing from another host."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classroom_helpers import DEADLINE, clean_env, http, row, state, wait_for  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (Debian: apt-get install "
                                                             "chromium); the trainer page needs a real browser")


def dump_dom(url: str, tmp_path) -> str:
    """The page's DOM after its scripts ran (virtual time: the first polls have answered)."""
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                           "--virtual-time-budget=5000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=DEADLINE, env=clean_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def rows(dom: str) -> dict[str, list[str]]:
    """trainee -> the states of their objectives, as the page draws them."""
    out = {}
    for m in re.finditer(r'<tr data-trainee="([^"]+)">(.*?)</tr>', dom, re.S):
        out[m.group(1)] = re.findall(r'data-state="([a-z]+)"', m.group(2))
    return out


@needs_chromium
def test_the_trainers_page_shows_each_trainees_objectives_as_they_are_met(classroom, tmp_path):
    before = rows(dump_dom(classroom.trainer, tmp_path))
    assert set(before) == {"trainee-01", "trainee-02"}
    assert before["trainee-01"] == before["trainee-02"] == ["unmet", "unmet", "unmet", "unmet", "met"]
    r = subprocess.run([sys.executable, "-m", "console", "--home", str(classroom.home("trainee-01")), "az",
                        "keyvault", "key", "set-attributes", "--vault-name", "kv-lab", "--name", "key-app",
                        "--enabled", "false"], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: row(state(classroom), "trainee-01")["objectives"][0]["state"] == "met",
             "the server has checked trainee-01's home again")
    dom = dump_dom(classroom.trainer, tmp_path)
    after = rows(dom)
    assert after["trainee-01"][0] == "met" and after["trainee-01"] != before["trainee-01"]
    assert after["trainee-02"] == before["trainee-02"]
    assert "Disable the key" in dom  # the step's title
    assert re.search(r'href="/trainer/[^"]+/view/trainee-01"', dom)  # the read-only view for the projector
    assert re.search(r'href="/trainer/[^"]+/download"', dom)


@needs_chromium
def test_the_trainers_page_loads_nothing_from_another_host_and_a_wrong_token_shows_nothing(classroom, tmp_path):
    status, body = http(classroom, f"/trainer/{classroom.trainer_token}")
    assert status == 200
    page = body.decode()
    assert not re.search(r'(src|href)="(https?:)?//', page), "the page references another host"
    wrong = classroom.trainer.rsplit("/", 1)[0] + "/not-the-token"
    dom = dump_dom(wrong, tmp_path)
    assert "data-trainee" not in dom and "trainee-01" not in dom and "404" in dom
