"""``cmklab --read-only endpoint``: the store is opened read-only, so the clients read and every change they ask for
is refused by the store (409 ReadOnly), nothing changed."""

from __future__ import annotations


import pytest

pytest.importorskip("azure.identity", reason="the Azure SDK for Python is in the test extras: pip install -e '.[test]'")
pytestmark = pytest.mark.slow


def test_a_read_only_endpoint_serves_reads_and_the_store_refuses_changes(tmp_path, monkeypatch):
    from azure.core.exceptions import HttpResponseError
    from azure.identity import ClientSecretCredential
    from azure.mgmt.resource.resources import ResourceManagementClient

    from console.endpoint import Endpoint
    from console.session import open_engine
    from store import state_files

    home = tmp_path / "home"
    writer = open_engine(home, seed=3)
    writer.create_group("rg-shown", "westeurope")
    writer.close()
    before = state_files(home)
    ep = Endpoint(home, engine=open_engine(home, read_only=True)).start()
    for k, v in ep.environment().items():
        monkeypatch.setenv(k, v)
    try:
        env = ep.environment()
        groups = ResourceManagementClient(ClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"],
                                                                 env["AZURE_CLIENT_SECRET"]),
                                          env["AZURE_SUBSCRIPTION_ID"]).resource_groups
        assert [g.name for g in groups.list()] == ["rg-shown"]
        with pytest.raises(HttpResponseError) as refused:
            groups.create_or_update("rg-new", {"location": "westeurope"})
        assert refused.value.status_code == 409 and refused.value.error.code == "ReadOnly"
        assert "opened read-only" in refused.value.error.message
    finally:
        ep.stop()
    assert state_files(home) == before


def test_read_only_endpoint_refuses_a_new_service_principal(tmp_path, capsys):
    from console.endpoint.cli import run_endpoint
    from console.session import open_engine

    home = tmp_path / "home"
    open_engine(home, seed=3).close()
    assert run_endpoint(["sp", "create", "--name", "app1"], home=str(home), read_only=True) == 1
    err = capsys.readouterr().err
    assert err.startswith("ERROR: (ReadOnly) ") and "a new service principal was refused" in err
    assert run_endpoint(["--env"], home=str(tmp_path / "none"), read_only=True) == 1
    assert "cannot create it" in capsys.readouterr().err and not (tmp_path / "none").exists()
