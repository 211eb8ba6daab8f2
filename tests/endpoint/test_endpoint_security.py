"""The endpoint refuses what Azure refuses and what a local service must (O5, O6, O7): requests without a valid
token, a principal without ``unwrapKey`` unwrapping (refused and audited under it, KV8), web pages
(another Origin), CONNECT to any host it does not serve; it listens on loopback only, and its CA's private
key is 0600 and the CA can only vouch for the hosts it serves."""

from __future__ import annotations

import os
import socket
import stat

import pytest

pytestmark = pytest.mark.slow


def _session(endpoint):
    import requests

    s = requests.Session()
    s.trust_env = False
    s.proxies = {"https": endpoint.proxy_url}
    s.verify = str(endpoint.files.ca_pem)
    return s


@pytest.fixture(scope="module")
def vault(endpoint, credential, sub):
    """A resource group and a vault with a key (access policies), made by the operator through the SDK."""
    from azure.keyvault.keys import KeyClient
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultProperties
    from azure.mgmt.resource.resources import ResourceManagementClient

    ResourceManagementClient(credential, sub).resource_groups.create_or_update("rg-sec", {"location": "eastus"})
    tenant = endpoint.environment()["AZURE_TENANT_ID"]
    v = KeyVaultManagementClient(credential, sub).vaults.begin_create_or_update("rg-sec", "kv-sec", VaultCreateOrUpdateParameters(
        location="eastus", properties=VaultProperties(tenant_id=tenant, sku=Sku(family="A", name="standard"),
                                                      enable_purge_protection=True))).result()
    key = KeyClient(v.properties.vault_uri, credential).create_rsa_key("k1", size=2048)
    return v, key


def test_O6_arm_without_a_token_is_refused_as_azure_refuses(endpoint, sub):
    s = _session(endpoint)
    r = s.get(f"https://management.azure.com/subscriptions/{sub}/resourcegroups?api-version=2022-09-01")
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthenticationFailed"
    assert "Authorization" in r.json()["error"]["message"] and r.headers["WWW-Authenticate"].startswith("Bearer ")
    r = s.get(f"https://management.azure.com/subscriptions/{sub}/resourcegroups?api-version=2022-09-01",
              headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.AAAA"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_O6_a_token_for_key_vault_does_not_open_arm_and_a_forged_one_opens_nothing(endpoint, credential, sub):
    s = _session(endpoint)
    vault_token = credential.get_token("https://vault.azure.net/.default").token
    r = s.get(f"https://management.azure.com/subscriptions/{sub}?api-version=2022-09-01",
              headers={"Authorization": f"Bearer {vault_token}"})
    assert r.status_code == 401 and "audience" in r.json()["error"]["message"]
    arm_token = credential.get_token("https://management.azure.com/.default").token
    head, claims, sig = arm_token.split(".")
    forged = f"{head}.{claims}.{sig[:-4]}AAAA"
    r = s.get(f"https://management.azure.com/subscriptions/{sub}?api-version=2022-09-01",
              headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    r = s.get(f"https://management.azure.com/subscriptions/{sub}?api-version=2022-09-01",
              headers={"Authorization": f"Bearer {arm_token}"})
    assert r.status_code == 200 and r.json()["subscriptionId"] == sub


def test_O6_key_vault_answers_a_request_without_a_token_with_its_challenge(endpoint, vault):
    v, _ = vault
    r = _session(endpoint).get(f"{v.properties.vault_uri}keys/k1?api-version=7.5")
    assert r.status_code == 401 and r.json()["error"]["code"] == "Unauthorized"
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer authorization=\"https://login.microsoftonline.com/")
    assert 'resource="https://vault.azure.net"' in challenge


def test_O6_a_wrong_secret_gets_no_token(endpoint):
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    env = endpoint.environment()
    bad = ClientSecretCredential(env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], "not-the-secret")
    with pytest.raises(ClientAuthenticationError) as err:
        bad.get_token("https://management.azure.com/.default")
    assert "AADSTS7000215" in str(err.value)


def test_O7_a_principal_without_unwrapKey_cannot_unwrap_and_the_audit_names_it(endpoint, credential, sub, vault):
    from azure.core.exceptions import HttpResponseError
    from azure.identity import ClientSecretCredential
    from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.keyvault.models import (AccessPolicyEntry, Permissions, VaultAccessPolicyParameters,
                                            VaultAccessPolicyProperties)

    v, key = vault
    app = endpoint.files.create_principal("wrap-only-app")
    tenant = endpoint.environment()["AZURE_TENANT_ID"]
    KeyVaultManagementClient(credential, sub).vaults.update_access_policy("rg-sec", "kv-sec", "add", VaultAccessPolicyParameters(
        properties=VaultAccessPolicyProperties(access_policies=[AccessPolicyEntry(
            tenant_id=tenant, object_id=app["objectId"], permissions=Permissions(keys_property=["get", "wrapKey"]))])))
    app_cred = ClientSecretCredential(tenant, app["appId"], app["password"])
    crypto = CryptographyClient(key.id, app_cred)
    wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"k" * 32)
    assert wrapped.key_id == key.id and len(wrapped.encrypted_key) == 256
    with pytest.raises(HttpResponseError) as refused:
        crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key)
    assert refused.value.status_code == 403 and "unwrapKey" in refused.value.message
    # the operator (who holds every permission) unwraps the same bytes
    assert CryptographyClient(key.id, credential).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256,
                                                             wrapped.encrypted_key).key == b"k" * 32
    # a service principal cannot manage resources through ARM
    with pytest.raises(HttpResponseError) as denied:
        KeyVaultManagementClient(app_cred, sub).vaults.get("rg-sec", "kv-sec")
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthorizationFailed"
    engine = endpoint.engine
    with engine._lock:
        engine.refresh_if_changed()
        trail = [(e.caller, e.operation, e.result) for e in engine.t["audit"].values() if e.vault == "kv-sec"]
    assert (app["objectId"], "KeyGet", "OK") in trail  # the SDK fetched the public key and wrapped locally
    # a management operation it has no permission for is refused, and audited under it too
    from azure.keyvault.keys import KeyClient

    with pytest.raises(HttpResponseError) as no_delete:
        KeyClient(v.properties.vault_uri, app_cred).begin_delete_key("k1")
    assert no_delete.value.status_code == 403
    with engine._lock:
        engine.refresh_if_changed()
        trail = [(e.caller, e.operation, e.result) for e in engine.t["audit"].values() if e.vault == "kv-sec"]
    assert (app["objectId"], "KeyDelete", "Forbidden") in trail
    assert (app["objectId"], "KeyUnwrap", "Forbidden") in trail


def test_O5_a_web_page_origin_is_refused(endpoint, sub):
    r = _session(endpoint).get(f"https://management.azure.com/subscriptions/{sub}?api-version=2022-09-01",
                               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "Origin" in r.json()["error"]["message"]


def _raw(endpoint, text: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as s:
        s.sendall(text)
        return s.recv(4096)


def test_O5_nothing_is_forwarded_to_the_internet(endpoint):
    assert _raw(endpoint, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").startswith(
        b"HTTP/1.1 403")
    assert _raw(endpoint, b"CONNECT management.azure.com:8443 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 403")
    assert _raw(endpoint, b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n").startswith(
        b"HTTP/1.1 405")
    assert _raw(endpoint, b"CONNECT management.azure.com:443 HTTP/1.1\r\nOrigin: https://evil.example\r\n\r\n"
                ).startswith(b"HTTP/1.1 403")


def test_O5_tls_straight_to_the_port_is_let_go(endpoint):
    import ssl

    ctx = ssl.create_default_context(cafile=str(endpoint.files.ca_pem))
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            with ctx.wrap_socket(raw, server_hostname="management.azure.com") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: management.azure.com\r\n\r\n")
                assert tls.recv(100) == b""
                raise ConnectionError("closed")


def test_O5_loopback_only_and_the_ca_is_private_and_constrained(endpoint):
    from cryptography import x509

    assert endpoint._server.sockets[0].getsockname()[0] == "127.0.0.1"
    for path in (endpoint.files.ca_key, endpoint.files.tls_key, endpoint.files.token_key_path,
                 endpoint.files.principals_path, endpoint.files.dir / "requests.log"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    ca = x509.load_pem_x509_certificate(endpoint.files.ca_pem.read_bytes())
    nc = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    assert sorted(n.value for n in nc.value.permitted_subtrees if isinstance(n, x509.DNSName)) == [
        "graph.microsoft.com", "login.microsoftonline.com", "management.azure.com", "vault.azure.net"]


def test_O6_api_version_is_required(endpoint, credential, sub):
    token = credential.get_token("https://management.azure.com/.default").token
    r = _session(endpoint).get(f"https://management.azure.com/subscriptions/{sub}/resourcegroups",
                               headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"


def test_O6_errors_come_in_arms_envelope(endpoint, credential, sub):
    token = credential.get_token("https://management.azure.com/.default").token
    s = _session(endpoint)
    auth = {"Authorization": f"Bearer {token}"}
    base = f"https://management.azure.com/subscriptions/{sub}"
    r = s.get(f"{base}/resourceGroups/no-such-group/providers/Microsoft.Compute/disks/d1?api-version=2024-03-02",
              headers=auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceGroupNotFound"
    r = s.put(f"{base}/resourceGroups/rg-bad?api-version=2022-09-01", data=b"{not json", headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"
    r = s.put(f"{base}/resourceGroups/rg-bad?api-version=2022-09-01", json={}, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "LocationRequired"
    r = s.put(f"{base}/resourceGroups/rg-sec/providers/Microsoft.Compute/disks/odd?api-version=2024-03-02",
              json={"location": "eastus", "properties": {"creationData": "Empty", "diskSizeGB": 8}}, headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidRequestContent"
    assert s.get(f"{base}/resourceGroups/rg-sec/providers/Microsoft.Compute/disks/odd?api-version=2024-03-02",
                 headers=auth).status_code == 404  # nothing was made
    r = s.get(f"{base}/providers/Microsoft.Network/virtualNetworks?api-version=2024-01-01", headers=auth)
    assert r.status_code == 404 and "serves what the engine models" in r.json()["error"]["message"]
    r = s.get(f"{base}/resourcegroups?api-version=yesterday", headers=auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidApiVersionParameter"
    r = s.get("https://management.azure.com/subscriptions/00000000-0000-0000-0000-000000000000"
              "?api-version=2022-09-01", headers=auth)
    assert r.status_code == 404 and r.json()["error"]["code"] == "SubscriptionNotFound"


def test_O5_another_process_on_the_home_sees_what_the_sdk_did(endpoint, credential, vault):
    """As the console does: an engine of its own on the same home follows the endpoint's commits."""
    from azure.keyvault.keys import KeyClient

    from console.session import open_engine

    v, _ = vault
    watcher = open_engine(endpoint.home)
    try:
        KeyClient(v.properties.vault_uri, credential).update_key_properties("k1", tags={"seen": "yes"})
        watcher.refresh_if_changed()
        key, _ = watcher.get_key("kv-sec", "k1", audit=False)
        assert key.tags == {"seen": "yes"}
    finally:
        watcher.store.close()


def test_O5_the_request_log_names_calls_and_never_a_secret(endpoint, credential, sub):
    from azure.mgmt.resource.resources import ResourceManagementClient

    ResourceManagementClient(credential, sub).resource_groups.get("rg-sec")
    text = (endpoint.files.dir / "requests.log").read_text()
    assert f"get https://management.azure.com/subscriptions/{sub}/resourcegroups/rg-sec -> 200" in text.lower()
    assert "api-version" not in text and "Bearer" not in text
    assert endpoint.environment()["AZURE_CLIENT_SECRET"] not in text


def test_O5_the_journal_lines_of_a_request_name_its_principal_and_the_request(endpoint, credential, sub, vault):
    """What the console's command log shows of the endpoint's clients: each journal line a request writes
    (a key operation's audit entry, a change's event) carries the caller and the request."""
    from azure.identity import ClientSecretCredential
    from azure.keyvault.keys import KeyClient
    from azure.keyvault.keys.crypto import CryptographyClient, KeyWrapAlgorithm
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.keyvault.models import (AccessPolicyEntry, Permissions, VaultAccessPolicyParameters,
                                            VaultAccessPolicyProperties)

    from console.session import open_engine

    v, key = vault
    app = endpoint.files.create_principal("journal-app")
    tenant = endpoint.environment()["AZURE_TENANT_ID"]
    KeyVaultManagementClient(credential, sub).vaults.update_access_policy("rg-sec", "kv-sec", "add", VaultAccessPolicyParameters(
        properties=VaultAccessPolicyProperties(access_policies=[AccessPolicyEntry(
            tenant_id=tenant, object_id=app["objectId"], permissions=Permissions(keys_property=["get", "unwrapKey"]))])))
    watcher = open_engine(endpoint.home)
    try:
        cursor = watcher.journal_cursor()
        crypto = CryptographyClient(key.id, ClientSecretCredential(tenant, app["appId"], app["password"]))
        wrapped = crypto.wrap_key(KeyWrapAlgorithm.rsa_oaep_256, b"j" * 32)  # local: the public key
        assert crypto.unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped.encrypted_key).key == b"j" * 32
        KeyClient(v.properties.vault_uri, credential).update_key_properties("k1", tags={"journal": "yes"})
        watcher.refresh_if_changed()
        events, audit, _ = watcher.journal_since(cursor)
    finally:
        watcher.store.close()
    unwraps = [a for a in audit if a.operation == "KeyUnwrap"]
    assert len(unwraps) == 1 and unwraps[0].caller == app["objectId"]
    origin = unwraps[0].origin
    assert origin["via"] == "endpoint" and origin["principal"] == app["objectId"] and origin["name"] == "journal-app"
    assert origin["request"].startswith("POST https://kv-sec.vault.azure.net/keys/k1/")
    assert origin["request"].endswith("/unwrapkey") and "api-version" not in origin["request"]
    updated = [e for e in events if e.type == "KeyUpdated"]
    assert len(updated) == 1
    origin = updated[0].data["origin"]
    assert origin["name"] == "cmklab-operator" and origin["request"].rstrip("/") == "PATCH https://kv-sec.vault.azure.net/keys/k1"
    assert origin["principal"] == endpoint.engine.meta.user_object_id.lower()
