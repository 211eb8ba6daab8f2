"""``cmklab endpoint`` as a process (O5): it says where it listens, ``--env`` prints the exports the SDK and
az need, and what another process commits (``cmklab az``) is served at once, from the same home."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CMKLAB = Path(sys.executable).parent / "cmklab"


def test_O5_endpoint_process_serves_what_cmklab_az_commits(tmp_path):
    from azure.identity import ClientSecretCredential
    from azure.mgmt.resource.resources import ResourceManagementClient

    home = tmp_path / "home"
    env = dict(os.environ, CMKLAB_HOME=str(home), CMKLAB_SEED="3")
    proc = subprocess.Popen([str(CMKLAB), "endpoint", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        line = proc.stderr.readline()
        m = re.search(r"on http://127\.0\.0\.1:(\d+) ", line)
        assert m, line
        port = m.group(1)
        out = subprocess.run([str(CMKLAB), "endpoint", "--env", "--port", port], env=env, capture_output=True,
                             text=True, check=True).stdout
        exports = dict(re.findall(r"^export (\w+)=(.*)$", out, re.M))
        assert exports["HTTPS_PROXY"] == f"http://127.0.0.1:{port}"
        assert exports["REQUESTS_CA_BUNDLE"] == str(home / "endpoint" / "ca.pem")
        assert "az login --service-principal" in out
        subprocess.run([str(CMKLAB), "az", "group", "create", "-n", "rg-from-cli", "-l", "westeurope", "-o", "none"],
                       env=env, check=True)
        saved = {k: os.environ.get(k) for k in exports}
        os.environ.update({k: v.strip("'") for k, v in exports.items()})
        try:
            cred = ClientSecretCredential(exports["AZURE_TENANT_ID"], exports["AZURE_CLIENT_ID"],
                                          exports["AZURE_CLIENT_SECRET"])
            rm = ResourceManagementClient(cred, exports["AZURE_SUBSCRIPTION_ID"])
            assert rm.resource_groups.get("rg-from-cli").location == "westeurope"
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(30)


def test_O5_a_client_secret_never_begins_with_a_dash(monkeypatch):
    """``az login -p SECRET`` reads a secret beginning with ``-`` as an option: none is made (one in 64 was), and
    the login line ``--env`` prints takes any secret (``--password=``)."""
    import secrets

    from console.endpoint import cli, pki

    drawn = iter(["-leading-dash", "_ok-secret"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    assert pki.new_secret() == "_ok-secret"
    monkeypatch.undo()
    assert all(not pki.new_secret().startswith("-") for _ in range(2000))
    assert '--password="$AZURE_CLIENT_SECRET"' in cli._exports({"AZURE_CLIENT_SECRET": "-x"})
