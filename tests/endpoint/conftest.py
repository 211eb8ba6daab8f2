"""Fixtures of the endpoint tests: a home with the endpoint serving it from a thread, and the environment
the real Azure SDK needs to reach it (``HTTPS_PROXY``, the home's CA, the operator principal)."""

from __future__ import annotations


import pytest

pytest.importorskip("azure.identity", reason="the Azure SDK for Python is in the test extras: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    from console.endpoint import Endpoint
    from console.session import open_engine

    home = tmp_path_factory.mktemp("endpoint") / "home"
    engine = open_engine(home, seed=3)
    ep = Endpoint(home, engine=engine).start()
    with pytest.MonkeyPatch.context() as env:  # the clients read the endpoint's exports; put back after
        for k, v in ep.environment().items():
            env.setenv(k, v)
        try:
            yield ep
        finally:
            ep.stop()


@pytest.fixture(scope="module")
def credential(endpoint):
    from azure.identity import ClientSecretCredential

    env = endpoint.environment()
    return ClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"])


@pytest.fixture(scope="module")
def sub(endpoint) -> str:
    return endpoint.environment()["AZURE_SUBSCRIPTION_ID"]
