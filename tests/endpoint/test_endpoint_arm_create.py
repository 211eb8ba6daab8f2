"""ARM's PUT of disks and snapshots as Azure answers it, through the endpoint: an empty one (createOption Empty)
needs diskSizeGB (the rule the CLI's ``az disk create`` keeps too), and a PUT on a name that exists updates it."""

from __future__ import annotations

import pytest

from .test_endpoint_security import _session

pytestmark = pytest.mark.slow

API = "api-version=2024-03-02"


@pytest.fixture(scope="module")
def arm(endpoint, credential, sub):
    token = credential.get_token("https://management.azure.com/.default").token
    s = _session(endpoint)
    s.headers["Authorization"] = f"Bearer {token}"
    base = f"https://management.azure.com/subscriptions/{sub}/resourceGroups/rg-put"
    assert s.put(f"{base}?api-version=2022-09-01", json={"location": "eastus"}).status_code in (200, 201)
    return s, base + "/providers/Microsoft.Compute"


@pytest.mark.parametrize("table", ["disks", "snapshots"])
def test_an_empty_disk_or_snapshot_without_disk_size_gb_is_refused(arm, table):
    s, base = arm
    url = f"{base}/{table}/empty0?{API}"
    r = s.put(url, json={"location": "eastus", "properties": {"creationData": {"createOption": "Empty"}}})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "InvalidParameter" and "diskSizeGB" in r.json()["error"]["message"]
    assert s.get(url).status_code == 404  # nothing was made
    r = s.put(url, json={"location": "eastus", "properties": {"creationData": {"createOption": "Empty"},
                                                              "diskSizeGB": 5}})
    assert r.status_code == 200 and r.json()["properties"]["diskSizeGB"] == 5


def test_a_put_on_a_snapshot_that_exists_updates_it_and_a_new_source_is_refused(arm):
    s, base = arm
    disk = f"{base}/disks/src1?{API}"
    made = s.put(disk, json={"location": "eastus", "properties": {"creationData": {"createOption": "Empty"},
                                                                  "diskSizeGB": 4}}).json()
    url = f"{base}/snapshots/snap1?{API}"
    body = {"location": "eastus", "properties": {"creationData": {"createOption": "Copy",
                                                                  "sourceResourceId": made["id"]}}}
    first = s.put(url, json=body).json()
    again = s.put(url, json={**body, "tags": {"a": "1"}})
    assert again.status_code == 200
    assert (again.json()["properties"]["uniqueId"], again.json()["tags"]) == (first["properties"]["uniqueId"],
                                                                              {"a": "1"})
    other = s.put(f"{base}/disks/src2?{API}", json={"location": "eastus", "properties": {
        "creationData": {"createOption": "Empty"}, "diskSizeGB": 4}}).json()
    moved = s.put(url, json={"location": "eastus", "properties": {"creationData": {
        "createOption": "Copy", "sourceResourceId": other["id"]}}})
    assert moved.status_code == 400 and moved.json()["error"]["code"] == "PropertyChangeNotAllowed"


def test_a_disk_put_with_hyper_v_generation_v2_keeps_it_and_its_snapshot_inherits_it(arm):
    s, base = arm
    d = s.put(f"{base}/disks/gen2?{API}", json={"location": "eastus", "properties": {
        "creationData": {"createOption": "Empty"}, "diskSizeGB": 4, "osType": "Linux", "hyperVGeneration": "V2"}})
    assert d.status_code == 200 and d.json()["properties"]["hyperVGeneration"] == "V2"
    snap = s.put(f"{base}/snapshots/gen2-snap?{API}", json={"location": "eastus", "properties": {
        "creationData": {"createOption": "Copy", "sourceResourceId": d.json()["id"]}}})
    assert snap.status_code == 200 and snap.json()["properties"]["hyperVGeneration"] == "V2"


def test_a_put_on_a_disk_that_exists_replaces_its_tags_with_the_puts(arm):
    """ARM's PUT replaces: tags it carries are the disk's tags, a PUT with none leaves the disk none (what it is not
    given is reset; az 2.91's ``disk create`` sends ``"tags": {}`` itself)."""
    s, base = arm
    url = f"{base}/disks/tagged1?{API}"
    body = {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4}}
    assert s.put(url, json={**body, "tags": {"a": "1"}}).json()["tags"] == {"a": "1"}
    assert s.put(url, json={**body, "tags": {"b": "2"}}).json()["tags"] == {"b": "2"}
    again = s.put(url, json=body)
    assert again.status_code == 200 and not again.json().get("tags")
    assert not s.get(url).json().get("tags")


def test_O4_tags_over_azures_limits_are_refused_through_arm_as_through_the_cli(arm):
    """The limits on tags hold whichever front end sets them: ARM's PUT and PATCH of a disk with 51 tags, a
    513-character name or a 257-character value answer 400 with the service's code, and nothing changes."""
    s, base = arm
    url = f"{base}/disks/limits1?{API}"
    body = {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4}}
    for tags, code in (({f"t{i}": "v" for i in range(51)}, "InvalidTagCount"),
                       ({"n" * 513: "v"}, "InvalidTagNameLength"), ({"k": "v" * 257}, "InvalidTagValueLength")):
        r = s.put(url, json={**body, "tags": tags})
        assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
        assert s.get(url).status_code == 404  # nothing was made
    assert s.put(url, json={**body, "tags": {f"t{i}": "v" * 256 for i in range(50)}}).status_code == 200
    r = s.patch(url, json={"tags": {f"t{i}": "v" for i in range(51)}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidTagCount"
    assert len(s.get(url).json()["tags"]) == 50
