"""Seed 003, "How to Encrypt Azure Managed Disks with Customer-Managed Keys": its bash walkthrough runs as
written with ``az() { cmklab az "$@"; }``, in a real bash, through the installed ``cmklab`` script.

The blocks below are the document's own ``bash`` blocks, verbatim (a test checks them against the SHA-256
recorded when they were copied, and against the document itself when ``CMKLAB_SEED003_FILE`` names a copy). What the walkthrough takes for granted is set up first, as any reader
of it would have it: the resource group, and the VM ``my-vm`` with ``my-vm-osdisk`` and
``my-vm-datadisk-01`` that its "Encrypting Existing Disks" section encrypts. The RBAC scope's
``<sub-id>`` placeholder is the subscription's id. Every command succeeds except the double-encryption
example, which Azure refuses (D8) and so does cmklab, saying what to do instead.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# SHA-256 of the document's ``bash`` blocks joined with NUL, as published (see docs/behaviours.md, document 003).
SEED_003_BLOCKS_SHA256 = "aa06f3b206fecdbdf9264d3aa985e14d1975e321dfb9619d069195e2e20dfbdb"

SEED_003_BLOCKS = [
    r'''# Create a Key Vault with soft delete and purge protection enabled
# Purge protection prevents permanent deletion of keys - required for disk encryption
az keyvault create \
  --name my-disk-encryption-kv \
  --resource-group my-resource-group \
  --location eastus \
  --enable-soft-delete true \
  --enable-purge-protection true \
  --sku standard
''',
    r'''# Create an RSA key in the Key Vault
# RSA 2048 is the minimum; RSA 3072 or 4096 provide stronger encryption
az keyvault key create \
  --vault-name my-disk-encryption-kv \
  --name disk-encryption-key \
  --kty RSA \
  --size 3072

# Verify the key was created
az keyvault key show \
  --vault-name my-disk-encryption-kv \
  --name disk-encryption-key \
  --query "{name:key.kid, keyType:key.kty, keySize:key.n}" \
  --output table
''',
    r'''# Get the Key Vault key ID
KEY_URL=$(az keyvault key show \
  --vault-name my-disk-encryption-kv \
  --name disk-encryption-key \
  --query "key.kid" -o tsv)

# Create the disk encryption set
az disk-encryption-set create \
  --name my-disk-encryption-set \
  --resource-group my-resource-group \
  --location eastus \
  --key-url "$KEY_URL" \
  --source-vault my-disk-encryption-kv \
  --encryption-type EncryptionAtRestWithCustomerKey

# Get the disk encryption set's identity (it uses a system-assigned managed identity)
DES_IDENTITY=$(az disk-encryption-set show \
  --name my-disk-encryption-set \
  --resource-group my-resource-group \
  --query "identity.principalId" -o tsv)

echo "Disk Encryption Set Identity: $DES_IDENTITY"
''',
    r'''# Grant the disk encryption set access to the Key Vault
# It needs get, wrapKey, and unwrapKey permissions
az keyvault set-policy \
  --name my-disk-encryption-kv \
  --object-id "$DES_IDENTITY" \
  --key-permissions get wrapKey unwrapKey

# If using Key Vault RBAC mode instead of access policies:
az role assignment create \
  --assignee "$DES_IDENTITY" \
  --role "Key Vault Crypto Service Encryption User" \
  --scope "/subscriptions/<sub-id>/resourceGroups/my-resource-group/providers/Microsoft.KeyVault/vaults/my-disk-encryption-kv"
''',
    r'''# Get the disk encryption set resource ID
DES_ID=$(az disk-encryption-set show \
  --name my-disk-encryption-set \
  --resource-group my-resource-group \
  --query "id" -o tsv)

# Create a new managed disk with CMK encryption
az disk create \
  --name encrypted-data-disk \
  --resource-group my-resource-group \
  --location eastus \
  --sku Premium_LRS \
  --size-gb 128 \
  --encryption-type EncryptionAtRestWithCustomerKey \
  --disk-encryption-set "$DES_ID"

# Verify the encryption
az disk show \
  --name encrypted-data-disk \
  --resource-group my-resource-group \
  --query "{name:name, encryption:encryption.type, desId:encryption.diskEncryptionSetId}" \
  --output table
''',
    r'''# Deallocate the VM (required for changing encryption)
az vm deallocate \
  --name my-vm \
  --resource-group my-resource-group

# Update the OS disk to use CMK
az disk update \
  --name my-vm-osdisk \
  --resource-group my-resource-group \
  --encryption-type EncryptionAtRestWithCustomerKey \
  --disk-encryption-set "$DES_ID"

# Update data disks too
az disk update \
  --name my-vm-datadisk-01 \
  --resource-group my-resource-group \
  --encryption-type EncryptionAtRestWithCustomerKey \
  --disk-encryption-set "$DES_ID"

# Start the VM back up
az vm start \
  --name my-vm \
  --resource-group my-resource-group
''',
    r'''# Create a new version of the key
az keyvault key create \
  --vault-name my-disk-encryption-kv \
  --name disk-encryption-key \
  --kty RSA \
  --size 3072

# Get the new key version URL
NEW_KEY_URL=$(az keyvault key show \
  --vault-name my-disk-encryption-kv \
  --name disk-encryption-key \
  --query "key.kid" -o tsv)

# Update the disk encryption set to use the new key version
az disk-encryption-set update \
  --name my-disk-encryption-set \
  --resource-group my-resource-group \
  --key-url "$NEW_KEY_URL"
''',
    r'''# Create a disk with double encryption
az disk create \
  --name double-encrypted-disk \
  --resource-group my-resource-group \
  --location eastus \
  --sku Premium_LRS \
  --size-gb 128 \
  --encryption-type EncryptionAtRestWithPlatformAndCustomerKeys \
  --disk-encryption-set "$DES_ID"
''',
]


PRELUDE = r"""
set -euo pipefail
az() { cmklab az "$@"; }
# What the walkthrough assumes exists: a resource group, and a VM with an OS disk and a data disk.
az group create --name my-resource-group --location eastus -o none
az vm create -g my-resource-group -n my-vm --image Ubuntu2204 --os-disk-name my-vm-osdisk --generate-ssh-keys -o none
az disk create -g my-resource-group -n my-vm-datadisk-01 --size-gb 64 -o none
az vm disk attach -g my-resource-group --vm-name my-vm --name my-vm-datadisk-01
cmklab vm write -g my-resource-group -n my-vm --lun 0 --offset 0 --data "orders 2026" -o none
SUB_ID=$(az account show --query id -o tsv)
"""

D8_BLOCK = 7


def build_script(blocks: list[str]) -> str:
    parts = [PRELUDE]
    for i, block in enumerate(blocks):
        text = block.replace("<sub-id>", "$SUB_ID")
        parts.append(f'echo "=== block {i}"')
        if i == D8_BLOCK:
            # Azure refuses a customer-key-only set for double encryption (D8): so must cmklab.
            text = text.rstrip("\n") + ' 2>"$WORK/d8.err" && echo "D8 ACCEPTED" || echo "D8 REFUSED rc=$?"\n'
        parts.append(text)
    parts.append('echo "=== end"')
    parts.append('echo "KEY_URL=$KEY_URL"; echo "NEW_KEY_URL=$NEW_KEY_URL"; echo "DES_ID=$DES_ID"')
    parts.append('echo "ACTIVE=$(az disk-encryption-set show -n my-disk-encryption-set -g my-resource-group '
                 '--query activeKey.keyUrl -o tsv)"')
    parts.append('echo "OS_ENC=$(az disk show -n my-vm-osdisk -g my-resource-group --query encryption.type -o tsv)"')
    parts.append('echo "POWER=$(az vm show -d -n my-vm -g my-resource-group --query powerState -o tsv)"')
    parts.append('echo "READ=$(cmklab vm read -g my-resource-group -n my-vm --lun 0 --offset 0 --length 11 '
                 '--query data -o tsv)"')
    return "\n".join(parts) + "\n"


def test_embedded_blocks_are_the_documents_verbatim():
    import hashlib
    import os

    assert hashlib.sha256("\x00".join(SEED_003_BLOCKS).encode()).hexdigest() == SEED_003_BLOCKS_SHA256
    if os.environ.get("CMKLAB_SEED003_FILE"):
        text = Path(os.environ["CMKLAB_SEED003_FILE"]).read_text()
        assert re.findall(r"```bash\n(.*?)```", text, re.S) == SEED_003_BLOCKS


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    import os
    import sys

    work = tmp_path_factory.mktemp("seed003")
    script = work / "walkthrough.sh"
    script.write_text(build_script(SEED_003_BLOCKS))
    env = dict(os.environ)
    env.update(CMKLAB_HOME=str(work / "home"), CMKLAB_SEED="3", WORK=str(work))
    env.pop("CMKLAB_PROFILE", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=600)
    return proc, work


def _blocks(out: str) -> dict[int, str]:
    found = re.split(r"^=== block (\d+)\n", out, flags=re.M)
    out_by = {int(found[i]): found[i + 1] for i in range(1, len(found) - 1, 2)}
    return out_by


def _var(out: str, name: str) -> str:
    m = re.search(rf"^{name}=(.*)$", out, re.M)
    assert m, f"{name} not printed"
    return m.group(1)


def test_seed003_walkthrough_runs_in_order(walkthrough):
    proc, _ = walkthrough
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "=== end" in proc.stdout
    assert "ERROR" not in proc.stderr.replace("D8", ""), proc.stderr


def test_seed003_key_url_is_printed_as_az_prints_it(walkthrough):
    proc, _ = walkthrough
    key_url = _var(proc.stdout, "KEY_URL")
    assert re.fullmatch(r"https://my-disk-encryption-kv\.vault\.azure\.net/keys/disk-encryption-key/[0-9a-f]{32}",
                        key_url)
    new_url = _var(proc.stdout, "NEW_KEY_URL")
    assert new_url != key_url and new_url.rsplit("/", 1)[0] == key_url.rsplit("/", 1)[0]
    assert _var(proc.stdout, "ACTIVE") == new_url


def test_seed003_key_show_table(walkthrough):
    """``--query "{name:key.kid, keyType:key.kty, keySize:key.n}" --output table``: the query's column order."""
    proc, _ = walkthrough
    lines = _blocks(proc.stdout)[1].splitlines()
    table = [ln for ln in lines if ln.strip()][-3:]
    assert table[0].split() == ["Name", "KeyType", "KeySize"]
    assert set(table[1].replace(" ", "")) == {"-"}
    row = table[2].split()
    assert row[0] == _var(proc.stdout, "KEY_URL") and row[1] == "RSA"
    n = row[2]
    import base64
    assert len(base64.b64decode(n)) == 384  # the 3072-bit modulus, standard base64 as az prints it


def test_seed003_principal_id_echoed(walkthrough):
    proc, _ = walkthrough
    m = re.search(r"^Disk Encryption Set Identity: ([0-9a-f-]{36})$", proc.stdout, re.M)
    assert m, proc.stdout[-2000:]
    des = json.loads(_blocks(proc.stdout)[2].split("Disk Encryption Set Identity")[0])
    assert des["identity"]["principalId"] == m.group(1)
    assert des["encryptionType"] == "EncryptionAtRestWithCustomerKey"
    assert des["activeKey"]["sourceVault"]["id"].endswith("/providers/Microsoft.KeyVault/vaults/my-disk-encryption-kv")


def test_seed003_disk_show_table_shows_encryption_and_set(walkthrough):
    proc, _ = walkthrough
    des_id = _var(proc.stdout, "DES_ID")
    assert re.fullmatch(r"/subscriptions/[0-9a-f-]{36}/resourceGroups/my-resource-group/providers/"
                        r"Microsoft\.Compute/diskEncryptionSets/my-disk-encryption-set", des_id)
    lines = [ln for ln in _blocks(proc.stdout)[4].splitlines() if ln.strip()][-3:]
    assert lines[0].split() == ["Name", "Encryption", "DesId"]
    assert lines[2].split() == ["encrypted-data-disk", "EncryptionAtRestWithCustomerKey", des_id]


def test_seed003_existing_disks_encrypted_and_vm_back(walkthrough):
    proc, _ = walkthrough
    assert _var(proc.stdout, "OS_ENC") == "EncryptionAtRestWithCustomerKey"
    assert _var(proc.stdout, "POWER") == "VM running"
    assert _var(proc.stdout, "READ") == "orders 2026"


def test_D8_seed003_double_encryption_refused_with_advice(walkthrough):
    proc, work = walkthrough
    assert "D8 REFUSED rc=1" in proc.stdout
    err = (work / "d8.err").read_text()
    first = err.splitlines()[0]
    assert first.startswith("ERROR: (InvalidParameter) ")
    assert "EncryptionAtRestWithCustomerKey" in first
    assert "create a set with --encryption-type EncryptionAtRestWithPlatformAndCustomerKeys" in first
    assert "Code: InvalidParameter" in err and '"code": "EncryptionTypeMismatch"' in err
