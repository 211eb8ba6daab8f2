"""The built-in demo landscape the console opens on when no state exists yet.

A vault with purge protection and keys of each size, a premium vault with an HSM key, a customer-key
set and a double-encryption set (both granted), disks of every SKU including ultra, a snapshot, an
image, VMs running and deallocated, and one with encryption at host. Region: eastus (it offers
double encryption and encryption at host in the seeds' lists).
"""

from __future__ import annotations

from .rules import CRYPTO_SERVICE_ROLE, ENC_DOUBLE

RG = "rg-demo"
REGION = "eastus"


def build_demo(engine) -> None:
    """Fill an empty engine with the demo landscape (one unit of work, one write)."""
    with engine.transaction():
        engine.create_group(RG, REGION)
        engine.create_vault("kv-demo", RG, enable_purge_protection=True, retention_days=30)
        k2, _ = engine.create_key("kv-demo", "key-2048", size=2048)
        k3, v3 = engine.create_key("kv-demo", "key-3072", size=3072)
        engine.create_key("kv-demo", "key-4096", size=4096)
        engine.create_vault("kv-premium", RG, sku="premium", enable_purge_protection=True,
                            enable_rbac_authorization=True)
        kh, vh = engine.create_key("kv-premium", "key-hsm", kty="RSA-HSM", size=3072)
        des = engine.create_des("des-cmk", RG, key_url=f"{k3.id}/{v3['version']}", source_vault="kv-demo")
        engine.set_policy("kv-demo", des.principal_id, ["get", "wrapKey", "unwrapKey"])
        dbl = engine.create_des("des-double", RG, key_url=f"{kh.id}/{vh['version']}", source_vault="kv-premium",
                                encryption_type=ENC_DOUBLE, rotation_to_latest=True)
        engine.create_role_assignment(dbl.principal_id, CRYPTO_SERVICE_ROLE,
                                      engine.get_vault("kv-premium").id)
        engine.create_vm("vm-web", RG, size="Standard_DS3_v2", os_disk_name="vm-web-os",
                         os_disk_encryption_set="des-cmk", data_disk_sizes_gb=[64],
                         data_disk_encryption_sets=["des-cmk"])
        engine.create_vm("vm-db", RG, size="Standard_E4s_v3", os_disk_name="vm-db-os",
                         os_disk_encryption_set="des-cmk", data_disk_sizes_gb=[128],
                         data_disk_encryption_sets=["des-cmk"], encryption_at_host=True)
        engine.create_vm("vm-ultra", RG, size="Standard_D4s_v3", os_disk_name="vm-ultra-os",
                         data_disk_sizes_gb=[64], data_disk_encryption_sets=["des-cmk"],
                         storage_sku=["os=Premium_LRS", "0=UltraSSD_LRS"], ultra_ssd_enabled=True)
        engine.create_vm("vm-batch", RG, size="Standard_D2s_v3", os_disk_name="vm-batch-os",
                         os_disk_encryption_set="des-double", storage_sku="StandardSSD_LRS")
        engine.create_disk("disk-archive", RG, size_gb=256, sku="Standard_LRS")
        engine.create_disk("disk-secure", RG, size_gb=32, sku="Premium_LRS", disk_encryption_set="des-double")
        engine.create_disk("disk-spare", RG, size_gb=64, sku="StandardSSD_LRS", disk_encryption_set="des-cmk")
        engine.attach_disk("vm-web", "disk-spare", lun=1)
        engine.detach_disk("vm-web", "disk-spare")
    engine.vm_write("vm-web", 0, 0, b"demo: customer orders 2026-05-01\n")
    engine.vm_write("vm-ultra", 0, 0, b"demo: ultra disk telemetry\n")
    engine.vm_write("vm-db", 0, 0, b"demo: database pages\n")
    with engine.transaction():
        engine.create_snapshot("snap-web-data", RG, source=engine.get_vm("vm-web").data_disks[0]["diskId"])
        engine.create_image("img-web", RG, source="vm-web")
        engine.deallocate_vm("vm-batch")
