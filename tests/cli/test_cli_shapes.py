"""Every az command's output has az 2.91's shape: the oracle is az's own schema or SDK model (tests/cli/azshape.py).

For an AAZ command (``disk create|show|list|update``, ``snapshot create|show|list``, ``image create|show|list``,
``disk-encryption-set *``, ``vm show|list|update``, ``vmss show|list|update|scale|list-instances`` ...) every key
cmklab prints must be a key of the command's response schema, in its REST spelling (``diskSizeGB``); for an SDK command (``keyvault create/show/...``)
cmklab's JSON, loaded into the SDK model az returns and printed back with az's ``todict``, must be exactly what
cmklab printed: every attribute, nulls kept, no key more or less, list outputs included.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import azshape  # noqa: E402

CMKLAB_EXTENSIONS = {
    # cmklab's documented additions (README): why a VM is as it is
    "vm show": frozenset({"statusReason"}),
    "vm list": frozenset({"[].statusReason"}),
    "vm get-instance-view": frozenset({"statusReason"}),
    "vm update": frozenset({"statusReason"}),
    "vm disk attach": frozenset({"statusReason"}),
    "vm disk detach": frozenset({"statusReason"}),
}
VM_DETAILS = frozenset({"powerState", "publicIps", "fqdns", "privateIps", "macAddresses", "statusReason"})
"""``vm show -d`` (``get_vm_details``) adds these to the VM."""


@pytest.fixture
def world(cli, landscape):
    """The landscape plus a loose disk, a snapshot, an image, a second set; returns the outputs of every command."""
    rg = landscape["rg"]
    out: dict[str, list] = {}

    def run(command: str, *argv: str):
        r = cli.ok(*command.split(), *argv)
        out.setdefault(command, [])
        if r.out.strip():  # a command that prints nothing has no shape to check
            out[command].append(r.json)

    run("disk create", "-g", rg, "-n", "loose", "--size-gb", "32", "--disk-encryption-set", "des1")
    run("disk create", "-g", rg, "-n", "shared", "--size-gb", "256", "--max-shares", "2", "--network-access-policy",
        "DenyAll", "--architecture", "Arm64", "--accelerated-network", "true", "--edge-zone", "ez1", "--tier", "P20",
        "--enable-bursting", "true", "--logical-sector-size", "512", "--security-type", "TrustedLaunch",
        "--disk-access", "da1", "--data-access-auth-mode", "AzureActiveDirectory", "--action-on-disk-delay",
        "AutomaticReattach")
    run("disk show", "-g", rg, "-n", "shared")
    run("disk update", "-g", rg, "-n", "shared", "--action-on-disk-delay", "AutomaticReattach", "--set",
        "publicNetworkAccess=Disabled")
    run("disk show", "-g", rg, "-n", "vm1-os")
    run("disk show", "-g", rg, "-n", "loose")
    run("disk list", "-g", rg)
    run("disk update", "-g", rg, "-n", "loose", "--size-gb", "64")
    run("snapshot create", "-g", rg, "-n", "snap1", "--source", "vm1-os", "--disk-encryption-set", "des1")
    run("snapshot show", "-g", rg, "-n", "snap1")
    run("snapshot list", "-g", rg)
    run("image create", "-g", rg, "-n", "img1", "--source", "snap1", "--os-type", "Linux")
    run("image show", "-g", rg, "-n", "img1")
    run("image list", "-g", rg)
    run("disk-encryption-set create", "-g", rg, "-n", "des2", "--key-url", landscape["kid"], "--source-vault", "kv1")
    run("disk-encryption-set show", "-g", rg, "-n", "des1")
    run("disk-encryption-set update", "-g", rg, "-n", "des2", "--enable-auto-key-rotation", "true")
    run("disk-encryption-set list", "-g", rg)
    run("vm show", "-g", rg, "-n", "vm1")
    cli.ok("vm", "create", "-g", rg, "-n", "vmu", "--image", "Ubuntu2204", "--size", "Standard_D4s_v3",
           "--ultra-ssd-enabled", "true", "--data-disk-sizes-gb", "8", "--storage-sku", "os=Premium_LRS",
           "0=UltraSSD_LRS", "--os-disk-encryption-set", "des1", "-o", "none")
    run("vm show", "-g", rg, "-n", "vmu")
    cli.ok("vm", "create", "-g", rg, "-n", "vmh", "--image", "Win2022Datacenter", "--encryption-at-host", "true",
           "--os-disk-encryption-set", "des1", "--admin-password", "Passw0rd!Passw0rd", "-o", "none")
    run("vm show", "-g", rg, "-n", "vmh")
    cli.ok("vm", "create", "-g", rg, "-n", "vmp", "--image", "Ubuntu2204", "--priority", "Spot", "--max-price", "0.5",
           "--eviction-policy", "Delete", "--license-type", "RHEL_BYOS", "--enable-secure-boot", "true",
           "--enable-vtpm", "true", "--security-type", "TrustedLaunch", "--ppg", "ppg1", "--host-group", "hg1",
           "--crg", "crg1", "--availability-set", "as1", "--user-data", "hi", "--boot-diagnostics-storage", "sa1",
           "--include-zones", "1", "2", "--zone-placement-policy", "Any", "--v-cpus-available", "2",
           "--disk-controller-type", "NVMe", "--enable-reboot", "true", "--computer-name", "host1",
           "--platform-fault-domain", "1", "--edge-zone", "ez1", "-o", "none")
    run("vm show", "-g", rg, "-n", "vmp", "--include-user-data")
    run("vm update", "-g", rg, "-n", "vmp", "--processor-mode", "Deterministic", "--no-cap-reservation", "true")
    run("vm list", "-g", rg)
    run("vm get-instance-view", "-g", rg, "-n", "vm1")
    run("vm update", "-g", rg, "-n", "vm1", "--ultra-ssd-enabled", "false")
    cli.ok("vmss", "create", "-g", rg, "-n", "ss1", "--image", "Ubuntu2204", "--instance-count", "1",
           "--os-disk-encryption-set", "des1", "--data-disk-sizes-gb", "8", "--data-disk-encryption-sets", "des1",
           "--zones", "1", "--security-type", "TrustedLaunch", "--max-batch-instance-percent", "20",
           "--enable-auto-repairs", "true", "--regular-priority-count", "1", "--license-type", "RHEL_BYOS",
           "--user-data", "hi", "--enable-resilient-creation", "true", "--skuprofile-vmsizes", "Standard_D2s_v3",
           "-o", "none")
    run("vmss show", "-g", rg, "-n", "ss1")
    run("vmss show", "-g", rg, "-n", "ss1", "--include-user-data")
    run("vmss list", "-g", rg)
    run("vmss update", "-g", rg, "-n", "ss1", "--set", "virtualMachineProfile.securityProfile.encryptionAtHost=true",
        "--spot-restore-timeout", "PT1H", "--enable-spot-restore", "true")
    run("vmss scale", "-g", rg, "-n", "ss1", "--new-capacity", "2")
    run("vmss list-instances", "-g", rg, "-n", "ss1")
    run("keyvault create", "-g", rg, "-n", "kv2")
    run("keyvault create", "-g", rg, "-n", "kv3", "--no-self-perms", "--enabled-for-disk-encryption", "true",
        "--network-acls-ips", "1.2.3.4", "--network-acls-vnets", "v1/s1", "--bypass", "AzureServices",
        "--default-action", "Deny", "--public-network-access", "Disabled")
    run("keyvault show", "-n", "kv1")
    run("keyvault update", "-n", "kv2", "--enable-rbac-authorization", "true")
    run("keyvault set-policy", "-n", "kv1", "--object-id", landscape["principal"], "--key-permissions", "get")
    run("keyvault delete-policy", "-n", "kv1", "--object-id", landscape["principal"])
    run("vm disk attach", "-g", rg, "--vm-name", "vm1", "--name", "loose")
    run("vm disk detach", "-g", rg, "--vm-name", "vm1", "--name", "loose")
    cli.ok("keyvault", "delete", "-n", "kv2")
    run("keyvault list-deleted")
    run("keyvault show-deleted", "-n", "kv2")
    run("keyvault recover", "-n", "kv2")
    details = cli.ok("vm", "show", "-d", "-g", rg, "-n", "vm1").json
    return {"outputs": out, "details": details}


def _items(outputs):
    for value in outputs:
        yield from (value if isinstance(value, list) else [value])


AAZ = sorted(c for c, v in azshape.REFERENCE["commands"].items() if v["output"]["kind"] == "aaz"
             and v["output"]["fields"])
SDK = sorted(c for c, v in azshape.REFERENCE["commands"].items() if v["output"].get("model"))


@pytest.mark.parametrize("command", AAZ)
def test_aaz_outputs_have_only_the_schema_keys(world, command):
    outputs = world["outputs"].get(command)
    if not outputs:
        pytest.skip(f"{command}: {'prints nothing' if outputs == [] else 'not run by this landscape'}")
    fields = azshape.output_of(command)["fields"]
    ext = CMKLAB_EXTENSIONS.get(command, frozenset())
    for value in outputs:
        tree = {"[]": fields} if isinstance(value, list) else fields
        unknown = azshape.aaz_unknown(value, tree, extensions=frozenset(f"[].{e}" for e in ext) | ext)
        assert not unknown, f"{command} prints keys az's schema does not have: {unknown}"
        assert value, f"{command} printed nothing"


def test_vm_show_details_are_the_vm_plus_get_vm_details_keys(world):
    fields = azshape.output_of("vm show")["fields"]
    assert not azshape.aaz_unknown(world["details"], fields, extensions=VM_DETAILS)
    assert world["details"]["powerState"].startswith("VM ")


@pytest.mark.skipif(importlib.util.find_spec("azure.mgmt.keyvault") is None, reason="pip install -e '.[test]'")
@pytest.mark.parametrize("command", SDK)
def test_sdk_outputs_are_the_model_printed_by_todict(world, command):
    outputs = world["outputs"].get(command)
    if not outputs:
        pytest.skip(f"{command}: {'prints nothing' if outputs == [] else 'not run by this landscape'}")
    path = azshape.output_of(command)["model"]
    for item in _items(outputs):
        printed = azshape.sdk_round_trip(path, item)
        missing = sorted(set(printed) - set(item))
        extra = sorted(set(item) - set(printed))
        assert not missing and not extra, f"{command}: az prints {missing} that cmklab lacks; cmklab adds {extra}"
        assert item == printed
