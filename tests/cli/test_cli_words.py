"""The command registry both ways: every action of the engine is said as a command line that parses back
to the same call (the console's command log and its replay script come from the specs that parse)."""

from __future__ import annotations

import contextlib
import io
import shlex

import pytest

from console.cli import parser as P
from console.cli import spec
from console.cli.runner import Context, main
from console.cli.words import az_lines, command_for
from engine import ACTIONS, Engine
from engine.demo import build_demo

PEM = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
POLICY = {"lifetimeActions": [{"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}],
          "attributes": {"expiryTime": "P2Y"}}
TIMES = {"exp": "2030-01-01T00:00:00Z", "nbf": "2026-01-01T00:00:00Z"}

@pytest.fixture(scope="module")
def demo() -> Engine:
    e = Engine.in_memory(seed=1)
    build_demo(e)
    e.create_scale_set("ss-demo", "rg-demo", capacity=2, size="Standard_DS3_v2", data_disk_sizes_gb=[32, 64],
                       data_disk_encryption_sets=["des-cmk", "des-cmk"])
    return e


def examples(e: Engine) -> dict[str, list[tuple[tuple, dict]]]:
    """Calls of every action as the console or a script makes them, with every parameter a command says."""
    principal = e.get_des("des-cmk").principal_id
    vault_id = e.get_vault("kv-premium").id
    k, ver = e.get_key("kv-demo", "key-3072", audit=False)
    current = f"{k.id}/{ver['version']}"
    role = "Key Vault Crypto Service Encryption User"
    tags = {"env": "lab", "owner": ""}
    return {
        "create_group": [(("rg-x", "westeurope"), {"tags": tags})],
        "delete_group": [(("rg-x",), {})],
        "create_vault": [(("kv-x", "rg-demo", "westeurope"), {"sku": "premium", "enable_purge_protection": True,
                                                               "retention_days": 30, "tags": tags,
                                                               "enable_rbac_authorization": True}),
                         (("kv-y", "rg-demo"), {})],
        "update_vault": [(("kv-demo",), {"enable_purge_protection": True, "retention_days": 60, "sku": "premium",
                                         "enable_rbac_authorization": False}),
                         (("kv-demo",), {"tags": tags})],
        "delete_vault": [(("kv-demo",), {})],
        "recover_vault": [(("kv-demo",), {})],
        "purge_vault": [(("kv-demo",), {})],
        "set_policy": [(("kv-demo", principal, ["get", "wrapKey", "unwrapKey"]), {}),
                       (("kv-demo", "0000-1111", ["get"]), {})],
        "delete_policy": [(("kv-demo", principal), {})],
        "create_role_assignment": [((principal, role, vault_id), {})],
        "delete_role_assignment": [((), {"assignee": principal, "role": role, "scope": vault_id}),
                                   ((), {"ids": ["/subscriptions/s/providers/Microsoft.Authorization/"
                                                 "roleAssignments/a1"]})],
        "create_key": [(("kv-demo", "key-x"), {"kty": "RSA-HSM", "size": 4096, "ops": ["wrapKey", "unwrapKey"],
                                               "enabled": False, "tags": tags, **TIMES}),
                       (("kv-demo", "key-y"), {})],
        "import_key": [(("kv-demo", "key-imp", PEM), {"password": b"pw", "kty": "RSA-HSM", "enabled": False,
                                                       "ops": ["unwrapKey"], **TIMES}),
                       (("kv-demo", "key-imp2", PEM), {"kty": "RSA"})],
        "rotate_key": [(("kv-demo", "key-3072"), {})],
        "set_key_attributes": [(("kv-demo", "key-3072", ver["version"]), {"enabled": False, "tags": tags,
                                                                         "ops": ["wrapKey"], **TIMES}),
                               (("kv-demo", "key-3072"), {"enabled": True})],
        "delete_key": [(("kv-demo", "key-3072"), {})],
        "recover_key": [(("kv-demo", "key-3072"), {})],
        "purge_key": [(("kv-demo", "key-3072"), {})],
        "set_rotation_policy": [(("kv-demo", "key-3072", POLICY), {})],
        "create_des": [(("des-x", "rg-demo", current), {"source_vault": "kv-demo", "location": "westeurope",
                                                        "encryption_type": "EncryptionAtRestWithPlatformAndCustomerKeys",
                                                        "rotation_to_latest": True, "tags": tags}),
                       (("des-y", "rg-demo", f"{k.id}/0123456789abcdef0123456789abcdef"), {})],
        "update_des": [(("des-cmk", "rg-demo"), {"key_url": current, "source_vault": "kv-demo",
                                                 "rotation_to_latest": False}),
                       (("des-cmk", "rg-demo"), {"tags": tags})],
        "delete_des": [(("des-cmk", "rg-demo"), {})],
        "create_disk": [(("disk-x", "rg-demo"), {"size_gb": 64, "sku": "StandardSSD_LRS", "location": "westeurope",
                                                 "encryption_type": "EncryptionAtRestWithCustomerKey",
                                                 "disk_encryption_set": "des-cmk", "os_type": "Linux",
                                                 "tags": tags}),
                        (("disk-y", "rg-demo"), {"source": "disk-archive"})],
        "update_disk": [(("disk-archive", "rg-demo"), {"encryption_type": "EncryptionAtRestWithCustomerKey",
                                                       "disk_encryption_set": "des-cmk", "size_gb": 256,
                                                       "sku": "Premium_LRS"})],
        "delete_disk": [(("disk-archive", "rg-demo"), {})],
        "create_snapshot": [(("snap-x", "rg-demo", "disk-archive"), {"location": "westeurope", "sku": "Standard_ZRS",
                                                                     "encryption_type": "EncryptionAtRestWithCustomerKey",
                                                                     "disk_encryption_set": "des-cmk", "tags": tags})],
        "delete_snapshot": [(("snap-x", "rg-demo"), {})],
        "create_image": [(("img-x", "rg-demo", "disk-archive"), {"location": "westeurope", "os_type": "Linux",
                                                                 "tags": tags, "hyper_v_generation": "V1"}),
                         (("img-y", "rg-demo", "vm-web"), {"hyper_v_generation": "V2"})],
        "delete_image": [(("img-x", "rg-demo"), {})],
        "create_vm": [(("vm-x", "rg-demo"), {"image": "Win2022Datacenter", "size": "Standard_DS4_v2",
                                             "location": "westeurope", "os_disk_name": "vm-x-os",
                                             "os_disk_encryption_set": "des-cmk", "os_disk_size_gb": 64,
                                             "data_disk_sizes_gb": [64, 128],
                                             "data_disk_encryption_sets": ["des-cmk", "des-cmk"],
                                             "storage_sku": ["os=Premium_LRS", "0=UltraSSD_LRS"],
                                             "ultra_ssd_enabled": True, "encryption_at_host": True,
                                             "admin_username": "ops", "tags": tags}),
                      (("vm-y", "rg-demo"), {})],
        "start_vm": [(("vm-web", "rg-demo"), {})],
        "stop_vm": [(("vm-web", "rg-demo"), {})],
        "deallocate_vm": [(("vm-web", "rg-demo"), {})],
        "restart_vm": [(("vm-web", "rg-demo"), {})],
        "delete_vm": [(("vm-web", "rg-demo"), {})],
        "update_vm": [(("vm-web", "rg-demo"), {"encryption_at_host": True, "size": "Standard_DS4_v2",
                                               "ultra_ssd_enabled": False}),
                      (("vm-web", "rg-demo"), {"tags": tags, "encryption_at_host": True})],
        "attach_disk": [(("vm-web", "disk-spare", "rg-demo"), {"lun": 3}),
                        (("vm-web", "disk-new", "rg-demo"), {"new": True, "size_gb": 64, "sku": "Premium_LRS"})],
        "detach_disk": [(("vm-web", "disk-spare", "rg-demo"), {})],
        "advance_clock": [(("7d",), {})],
        "run_due_jobs": [((), {})],
        "enable_disk_encryption_ade": [(("vm-web", "rg-demo"), {"disk_encryption_keyvault": "kv-demo"}),
                                       (("vm-web", "rg-demo"), {"disk_encryption_keyvault": vault_id})],
        "create_scale_set": [(("ss-x", "rg-demo"), {"capacity": 3, "size": "Standard_DS4_v2", "image": "Win2022Datacenter",
                                                    "location": "westeurope", "os_disk_encryption_set": "des-cmk",
                                                    "encryption_at_host": True, "data_disk_sizes_gb": [64, 128],
                                                    "data_disk_encryption_sets": ["des-cmk", "des-cmk"],
                                                    "upgrade_mode": "Automatic", "orchestration_mode": "Uniform",
                                                    "admin_username": "ops", "tags": tags, "os_disk_size_gb": 64}),
                             (("ss-y", "rg-demo"), {})],
        "update_scale_set": [(("ss-demo", "rg-demo"), {"encryption_at_host": False, "os_disk_encryption_set": "des-cmk",
                                                       "data_disk_encryption_sets": ["des-cmk", "des-double"],
                                                       "upgrade_mode": "Rolling", "tags": tags}),
                             (("ss-demo", "rg-demo"), {"encryption_at_host": True})],
        "upgrade_scale_set_instances": [(("ss-demo", "rg-demo"), {"instance_ids": ["*"]}),
                                        (("ss-demo", "rg-demo"), {"instance_ids": ["0", "1"]})],
        "scale_scale_set": [(("ss-demo", 4, "rg-demo"), {})],
        "delete_scale_set": [(("ss-demo", "rg-demo"), {})],
        "scale_set_power": [(("ss-demo", action, "rg-demo"), {"instance_ids": ids})
                            for action in ("start", "stop", "deallocate", "restart") for ids in (None, ["1"])],
        "vm_write": [(("vm-web", 0, 512, b"hello world"), {"resource_group": "rg-demo"}),
                     (("vm-web", "os", 0, b"\xff\x00\x10"), {"resource_group": "rg-demo"})],
    }


def parse_back(e: Engine, line: str, monkeypatch) -> spec.Call:
    """The call ``line`` makes, as ``cmklab`` parses it; its ``$(...)`` substitutions asked of the same store
    and ``${PEM_PASSWORD}`` read from the environment, as bash would."""
    monkeypatch.setenv("PEM_PASSWORD", "pw")
    words = []
    for token in shlex.split(line):
        if token.startswith("$(") and token.endswith(")"):
            inner = shlex.split(token[2:-1])
            assert inner[0] == "cmklab", line
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                assert main(inner[1:], Context(engine=e)) == 0, token
            token = out.getvalue().strip()
        elif token.startswith("${PEM_PASSWORD"):
            token = "pw"
        words.append(token)
    assert words[0] == "cmklab", line
    root, tokens = ("az", words[2:]) if words[1] == "az" else ("cmklab", words[1:])
    res = P.resolve(root, tokens)
    assert res.command is not None, line
    ns = P.parse_args(res.command, res.rest)
    if res.command.validate is not None:
        res.command.validate(ns)
    return res.command.call(ns, Context(engine=e))


def bound(e: Engine, method: str, args: tuple, kwargs: dict) -> dict:
    from console.cli.words import bind

    out = {k: v for k, v in bind(e, method, args, kwargs).items() if not k.startswith("_")}
    if out.get("props") == {}:  # the parser's "no property flags" and the engine's default say the same
        out["props"] = None
    if isinstance(out.get("other_permissions"), dict) and not any(out["other_permissions"].values()):
        out["other_permissions"] = None  # no --secret/--certificate/--storage-permissions: the same as none given
    return out


def test_every_action_has_an_example(demo):
    assert set(examples(demo)) == set(ACTIONS), "an action without an example here (or an example of no action)"


def test_every_action_is_said_by_a_command_and_parses_back_to_the_same_call(demo, monkeypatch):
    for method, calls in examples(demo).items():
        cmd = command_for(method)
        assert cmd is not None, f"no command declares method={method!r}"
        for args, kwargs in calls:
            lines = az_lines(demo, method, args, kwargs)
            assert len(lines) == 1 and not lines[0].startswith("#"), (method, lines)
            back = parse_back(demo, lines[0], monkeypatch)
            assert back.method == method, lines[0]
            assert bound(demo, method, back.args, back.kwargs) == bound(demo, method, args, kwargs), lines[0]


def test_a_parameter_no_flag_says_is_a_comment_not_a_wrong_line(demo):
    line, = az_lines(demo, "update_des", ("des-cmk", "rg-demo"), {"encryption_type": "EncryptionAtRestWithCustomerKey"})
    assert line.startswith("# update_des: no az equivalent") and "encryption_type" in line
    line, = az_lines(demo, "enable_disk_encryption_ade", ("vm-web", "rg-demo"))  # az requires the vault: no line
    assert line.startswith("# enable_disk_encryption_ade: no az equivalent") and "--disk-encryption-keyvault" in line


def test_several_commands_of_one_method_each_say_their_calls(demo):
    for action in ("start", "stop", "deallocate", "restart"):
        line, = az_lines(demo, "scale_set_power", ("ss-demo", action), {"instance_ids": ["0"]})
        assert line == f"cmklab az vmss {action} --resource-group rg-demo --name ss-demo --instance-ids 0"
    line, = az_lines(demo, "scale_set_power", ("ss-demo", "hibernate", "rg-demo"))
    assert line.startswith("# scale_set_power: no az equivalent")


def test_a_call_on_every_version_is_one_line_per_version(demo):
    k, _ = demo.get_key("kv-demo", "key-3072", audit=False)
    lines = az_lines(demo, "set_key_attributes", ("kv-demo", "key-3072"), {"enabled": False, "all_versions": True})
    if len(k.versions) > 1:
        assert [shlex.split(ln)[shlex.split(ln).index("--version") + 1] for ln in lines] == \
            [v["version"] for v in k.versions]
    else:
        assert lines == ["cmklab az keyvault key set-attributes --vault-name kv-demo --name key-3072 --enabled false"]


def test_a_command_says_whether_it_changes_state_only_through_its_method():
    with pytest.raises(TypeError, match="said once, on its facade method"):
        spec.command("az test thing", "A test.", [], mutating=True)
