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

AWAITING_A_COMMAND = {"enable_disk_encryption_ade"}
"""Actions no command says yet (``az vm encryption enable``). When one gets its command, it leaves this set and
gets an example below: the test fails until then."""
NOT_SAID_BACK_YET = {"create_scale_set", "update_scale_set", "upgrade_scale_set_instances", "scale_scale_set",
                     "delete_scale_set", "scale_set_power"}
"""Actions whose ``az vmss`` commands declare their method (so read-only and what-if know them) but whose
``params`` are not written yet, so their lines are not checked here; the console never calls them."""


@pytest.fixture(scope="module")
def demo() -> Engine:
    e = Engine.in_memory(seed=1)
    build_demo(e)
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
                                         "enable_rbac_authorization": False})],
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
                                                 "rotation_to_latest": False})],
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
                                                                 "tags": tags})],
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
                                               "ultra_ssd_enabled": False})],
        "attach_disk": [(("vm-web", "disk-spare", "rg-demo"), {"lun": 3}),
                        (("vm-web", "disk-new", "rg-demo"), {"new": True, "size_gb": 64, "sku": "Premium_LRS"})],
        "detach_disk": [(("vm-web", "disk-spare", "rg-demo"), {})],
        "advance_clock": [(("7d",), {})],
        "run_due_jobs": [((), {})],
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


def test_every_action_has_an_example_or_awaits_its_command(demo):
    have = set(examples(demo))
    assert have | AWAITING_A_COMMAND | NOT_SAID_BACK_YET == set(ACTIONS), "an action without an example here: add one"
    assert not have & (AWAITING_A_COMMAND | NOT_SAID_BACK_YET)
    for method in AWAITING_A_COMMAND:
        assert command_for(method) is None, (f"{method} has a command now: move it from AWAITING_A_COMMAND to "
                                             "the examples")


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
    line, = az_lines(demo, "enable_disk_encryption_ade", ("vm-web", "rg-demo"))
    assert line.startswith("# enable_disk_encryption_ade: no az equivalent")


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
