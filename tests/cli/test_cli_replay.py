"""Each console action as its `cmklab az` command line (the command log and the replay script)."""

from __future__ import annotations

import shlex

import pytest

from console.cli.replay import az_lines, script
from engine import Engine
from engine.demo import build_demo


@pytest.fixture(scope="module")
def demo() -> Engine:
    e = Engine.in_memory(seed=1)
    build_demo(e)
    return e


@pytest.mark.parametrize("method,args,kwargs,expected", [
    ('create_vault', ('kv-team', 'rg-demo'), {'enable_purge_protection': True, 'retention_days': 30},
     'cmklab az keyvault create --resource-group rg-demo --name kv-team --retention-days 30 --enable-purge-protection true'),
    ('create_key', ('kv-demo', 'key-x'), {'kty': 'RSA-HSM', 'size': 4096},
     'cmklab az keyvault key create --vault-name kv-demo --name key-x --kty RSA-HSM --size 4096'),
    ('rotate_key', ('kv-demo', 'key-3072'), {},
     'cmklab az keyvault key rotate --vault-name kv-demo --name key-3072'),
    ('set_key_attributes', ('kv-demo', 'key-3072'), {'enabled': False, 'all_versions': True},
     'cmklab az keyvault key set-attributes --vault-name kv-demo --name key-3072 --enabled false'),
    ('purge_key', ('kv-demo', 'key-2048'), {},
     'cmklab az keyvault key purge --vault-name kv-demo --name key-2048'),
    ('update_des', ('des-cmk', 'rg-demo'), {'rotation_to_latest': True},
     'cmklab az disk-encryption-set update --resource-group rg-demo --name des-cmk --enable-auto-key-rotation true'),
    ('update_disk', ('disk-archive',), {'disk_encryption_set': 'des-cmk'},
     'cmklab az disk update --resource-group rg-demo --name disk-archive --disk-encryption-set des-cmk'),
    ('deallocate_vm', ('vm-web',), {},
     'cmklab az vm deallocate --resource-group rg-demo --name vm-web'),
    ('delete_vm', ('vm-web',), {},
     'cmklab az vm delete --resource-group rg-demo --name vm-web --yes'),
    ('attach_disk', ('vm-web', 'disk-spare'), {'lun': 3},
     'cmklab az vm disk attach --resource-group rg-demo --vm-name vm-web --name disk-spare --lun 3'),
    ('detach_disk', ('vm-web', 'disk-spare'), {},
     'cmklab az vm disk detach --resource-group rg-demo --vm-name vm-web --name disk-spare'),
    ('vm_write', ('vm-web', 'os', 0, b'hello world'), {},
     "cmklab vm write --resource-group rg-demo --name vm-web --lun os --offset 0 --data 'hello world'"),
    ('vm_read', ('vm-web', 0, 512, 64), {},
     'cmklab vm read --resource-group rg-demo --name vm-web --lun 0 --offset 512 --length 64'),
    ('advance_clock', ('7d',), {},
     'cmklab clock advance 7d'),
    ('create_vm', ('vm-x', 'rg-demo'), {'data_disk_sizes_gb': [64], 'data_disk_encryption_sets': ['des-cmk'], 'storage_sku': ['os=Premium_LRS', '0=UltraSSD_LRS'], 'ultra_ssd_enabled': True},
     'cmklab az vm create --resource-group rg-demo --name vm-x --size Standard_DS3_v2 --storage-sku os=Premium_LRS 0=UltraSSD_LRS --data-disk-sizes-gb 64 --data-disk-encryption-sets des-cmk --ultra-ssd-enabled true'),
])
def test_az_line(demo, method, args, kwargs, expected):
    assert az_lines(demo, method, args, kwargs) == [expected]


def test_store_specific_values_become_substitutions(demo):
    des = demo.get_des("des-cmk")
    line, = az_lines(demo, "set_policy", ("kv-demo", des.principal_id, ["get", "wrapKey", "unwrapKey"]))
    assert line == ('cmklab az keyvault set-policy --name kv-demo --object-id "$(cmklab az disk-encryption-set show '
                    '--name des-cmk --resource-group rg-demo --query identity.principalId -o tsv)" '
                    '--key-permissions get wrapKey unwrapKey')
    k = demo.get_key("kv-demo", "key-3072", audit=False)[0]
    line, = az_lines(demo, "update_des", ("des-cmk", "rg-demo"), {"key_url": f"{k.id}/{k.current['version']}"})
    assert '--key-url "$(cmklab az keyvault key show --vault-name kv-demo --name key-3072 --query key.kid -o tsv)"' \
        in line
    vault = demo.get_vault("kv-premium")
    line, = az_lines(demo, "create_role_assignment", ("0000", "Key Vault Crypto Service Encryption User", vault.id))
    assert line.endswith('--scope "$(cmklab az keyvault show --name kv-premium --query id -o tsv)"')
    assert shlex.split(line)[-1].startswith("$(")


def test_pem_password_never_lands_in_the_log(demo):
    line, = az_lines(demo, "import_key", ("kv-demo", "key-imp", b"-----BEGIN PRIVATE KEY-----"),
                     {"password": b"s3cret"}, {"pem_file": "/keys/k.pem"})
    assert "s3cret" not in line
    assert "--pem-file /keys/k.pem --pem-password \"${PEM_PASSWORD:?set PEM_PASSWORD}\"" in line


def test_script_comments_out_refused_commands():
    text = script([(True, ["cmklab az a"], None), (False, ["cmklab az b"], "Nope")])
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\ncmklab az a\n" in text and "\n# refused (Nope): cmklab az b\n" in text
