"""az 2.91 flags that cmklab accepts with no effect, or refuses with a reason, per command.

``NO_EFFECT``: flags whose effect cannot show in a simulator (a marketplace term, a guest's SSH key, a network the
engine does not model): accepted, and their help says why nothing changes. ``REFUSED``: flags whose effect cmklab
would have to fake: refused with az's usage error (exit 2) and the reason, before anything runs. Each entry is
``"--flag/--alias": (kind, reason)`` with ``kind`` as az declares it: ``bool`` (``--x`` or ``--x true``), ``flag``
(no value), ``list`` (one or more values), ``value``.
"""

from __future__ import annotations

from .spec import Arg

HSM = "managed HSM pools are not modelled; cmklab has Key Vault vaults (--vault-name / --name)"
RELEASE = "key release policies (secure key release for confidential VMs) are not modelled"
CONFIDENTIAL = "confidential VM disk encryption is not modelled"
NO_NETWORK = "cmklab models no networking: the VM gets its one network interface id and nothing else"
NO_SSH = "no SSH key is made or kept: the simulator has no guest to log in to"
EPHEMERAL = "ephemeral OS disks are not modelled (they live on the host and cannot use a disk encryption set)"
UNMANAGED = "unmanaged disks cannot use customer-managed keys; cmklab models managed disks only"
FROM_DISKS = "create the disk first (az disk create --source ...), then attach it (az vm disk attach)"
ZONES = "zone placement and moves of VMs and disks are not modelled"
GUEST = "guest OS settings (patching, the VM agent, hotpatching) are not modelled"
VMSS_NETWORK = ("cmklab models no networking for scale sets (virtual networks, load balancers, application "
                "gateways, public IPs, DNS): the instances get one network interface id each and nothing else")
VMSS_IDENTITY = "managed identities of scale sets are not modelled"
VMSS_DISKS = "cmklab's az vmss delete deletes the instances' disks (Delete)"
ONE_INSTANCE = ("changing one instance's model is not modelled: update the scale set's model, then bring instances "
                "to it with az vmss update-instances")
ADE_KEK = "a key encryption key wrapping Azure Disk Encryption's keys is not modelled"
ADE_AAD = "the older Azure Disk Encryption with an Azure AD app is not modelled"
ODATA = "OData $filter, $select and $expand are not applied: shape the output with --query"

NO_EFFECT: dict[str, dict[str, tuple[str, str]]] = {
    "az image delete": {"--no-wait": ("flag", "a simulated operation is done when the command returns; as in az, "
                                              "nothing is printed")},
    "az image show": {"--expand": ("value", "an image has nothing to expand")},
    "az vm encryption enable": {"--force": ("flag", "cmklab's checks are the service's, not the client's: there "
                                                     "is no client-side validation to ignore")},
    "az vm deallocate": {"--force-deallocate": ("bool", "a simulated deallocation never waits on the guest")},
    "az role assignment list": {"--include-groups": ("flag", "no group is modelled, so no assignment comes "
                                                             "through one")},
    "az vm create": {
        "--accept-term": ("flag", "there are no marketplace terms to accept in a simulator"),
        "--custom-data": ("value", "Azure never returns custom data and cmklab runs no guest to read it"),
        "--workspace": ("value", "no Log Analytics workspace is modelled"),
        "--nics": ("list", NO_NETWORK), "--vnet-address-prefix": ("value", NO_NETWORK),
        "--subnet-address-prefix": ("value", NO_NETWORK), "--private-ip-address": ("value", NO_NETWORK),
        "--public-ip-address-allocation": ("value", NO_NETWORK), "--public-ip-address-dns-name": ("value", NO_NETWORK),
        "--asgs": ("list", NO_NETWORK), "--accelerated-networking": ("bool", NO_NETWORK),
        "--nic-delete-option": ("list", NO_NETWORK),
        "--ssh-key-name": ("value", NO_SSH), "--ssh-dest-key-path": ("value", NO_SSH),
        "--ssh-key-type": ("value", NO_SSH),
        "--enable-integrity-monitoring": ("flag", "the guest attestation extension is not modelled"),
        "--disable-integrity-monitoring": ("flag", "the guest attestation extension is not modelled"),
        "--disable-integrity-monitoring-autoupgrade": ("flag", "the guest attestation extension is not modelled"),
    },
    "az vm update": {"--workspace": ("value", "no Log Analytics workspace is modelled")},
    "az vmss create": {
        "--accept-term": ("flag", "there are no marketplace terms to accept in a simulator"),
        "--custom-data": ("value", "Azure never returns custom data and cmklab runs no guest to read it"),
        "--disable-overprovision": ("flag", "a simulated scale-out makes exactly the instances asked for, so there "
                                            "are no extra instances to overprovision"),
        **{f: ("value", VMSS_NETWORK) for f in (
            "--lb-sku", "--app-gateway", "--app-gateway-subnet-address-prefix", "--app-gateway-sku",
            "--app-gateway-capacity", "--backend-pool-name", "--lb-nat-pool-name/--nat-pool-name", "--backend-port",
            "--health-probe", "--public-ip-address-allocation", "--public-ip-address-dns-name", "--vm-domain-name",
            "--nsg", "--vnet-address-prefix", "--subnet-address-prefix", "--lb-nat-rule-name/--nat-rule-name",
            "--network-api-version")},
        "--public-ip-per-vm": ("flag", VMSS_NETWORK), "--dns-servers": ("list", VMSS_NETWORK),
        "--asgs": ("list", VMSS_NETWORK), "--accelerated-networking": ("bool", VMSS_NETWORK),
        "--ssh-dest-key-path": ("value", NO_SSH), "--ssh-key-values": ("list", NO_SSH),
        "--ssh-key-type": ("value", NO_SSH),
        "--enable-integrity-monitoring": ("flag", "the guest attestation extension is not modelled"),
        "--disable-integrity-monitoring": ("flag", "the guest attestation extension is not modelled"),
        "--disable-integrity-monitoring-autoupgrade": ("flag", "the guest attestation extension is not modelled"),
    },
    "az vmss update": {
        "--custom-data": ("value", "Azure never returns custom data and cmklab runs no guest to read it"),
        "--force-deletion": ("flag", "a simulated scale-in never waits on a guest, forced or not"),
        "--force-string": ("flag", "the --set paths cmklab takes are read as strings already"),
    },
    "az vmss list-instances": {"--resiliency-view": ("flag", "resiliency policies take no action in a simulator, so "
                                                             "every instance's view is the same")},
}

REFUSED: dict[str, dict[str, tuple[str, str]]] = {
    **{f"az keyvault {verb}": {"--hsm-name": ("value", HSM)} for verb in (
        "create", "delete", "purge", "recover", "show", "show-deleted", "key create", "key delete", "key import",
        "key list", "key list-deleted", "key list-versions", "key purge", "key recover", "key rotate",
        "key rotation-policy show", "key rotation-policy update", "key set-attributes", "key show",
        "key show-deleted")},
    "az keyvault create": {
        "--hsm-name": ("value", HSM), "--administrators": ("list", HSM),
        "--mi-user-assigned": ("list", "user-assigned identities of a vault are not modelled"),
        "--network-acls": ("value", "give the rules with --network-acls-ips, --network-acls-vnets, --bypass and "
                                    "--default-action (a JSON document of rules is not read)"),
    },
    "az keyvault key create": {
        "--hsm-name": ("value", HSM), "--policy": ("value", RELEASE), "--immutable": ("bool", RELEASE),
        "--default-cvm-policy": ("flag", RELEASE), "--default-data-disk-policy/--default-dd-policy": ("flag", RELEASE),
        "--external-key-id": ("value", HSM),
        "--id": ("value", "a new key is named by --vault-name and --name"),
    },
    "az keyvault key import": {
        "--hsm-name": ("value", HSM), "--policy": ("value", RELEASE), "--immutable": ("bool", RELEASE),
        "--default-cvm-policy": ("flag", RELEASE), "--default-data-disk-policy/--default-dd-policy": ("flag", RELEASE),
        "--exportable": ("bool", RELEASE), "--curve": ("value", "EC keys are not modelled: cmklab's keys are RSA"),
    },
    "az keyvault key set-attributes": {
        "--hsm-name": ("value", HSM), "--policy": ("value", RELEASE), "--immutable": ("bool", RELEASE),
    },
    "az disk-encryption-set create": {
        "--mi-user-assigned": ("list", "user-assigned identities of a disk encryption set are not modelled "
                                       "(cmklab's sets use their system-assigned identity)"),
    },
    "az disk create": {
        "--for-upload": ("bool", "uploading a VHD is not modelled"),
        "--upload-size-bytes": ("value", "uploading a VHD is not modelled"),
        "--upload-type": ("value", "uploading a VHD is not modelled"),
        "--source-storage-account-id": ("value", "importing a blob from a storage account is not modelled"),
        "--gallery-image-reference": ("value", "OS disks from images are made by az vm create --image"),
        "--gallery-image-reference-lun": ("value", "OS disks from images are made by az vm create --image"),
        "--image-reference": ("value", "OS disks from images are made by az vm create --image"),
        "--image-reference-lun": ("value", "OS disks from images are made by az vm create --image"),
        "--secure-vm-disk-encryption-set": ("value", CONFIDENTIAL),
        "--security-data-uri": ("value", CONFIDENTIAL), "--security-metadata-uri": ("value", CONFIDENTIAL),
    },
    "az image create": {
        "--os-disk-caching": ("value", "an image's caching settings are not modelled"),
        "--data-disk-caching": ("value", "an image's caching settings are not modelled"),
        "--edge-zone": ("value", "images in edge zones are not modelled"),
    },
    "az snapshot create": {
        "--bandwidth-copy-speed": ("value", "a simulated copy completes at once: there is no copy speed"),
        "--copy-start": ("bool", "a simulated copy completes at once: there is no background copy"),
        "--instant-access-duration-minutes/--instant-access-duration/--ia-duration": (
            "value", "instant access snapshots are not modelled"),
        "--elastic-san-resource-id/--elastic-san-id": ("value", "Elastic SAN is not modelled"),
        "--for-upload": ("bool", "uploading a VHD is not modelled"),
        "--source-storage-account-id": ("value", "importing a blob from a storage account is not modelled"),
    },
    "az role assignment create": {
        "--condition": ("value", "role assignment conditions (ABAC) are not modelled"),
        "--condition-version": ("value", "role assignment conditions (ABAC) are not modelled"),
    },
    "az role assignment list": {
        "--assignee-object-id": ("value", "give the object id with --assignee"),
        "--fill-principal-name": ("bool", "cmklab always shows principalName"),
        "--fill-role-definition-name": ("bool", "cmklab always shows roleDefinitionName"),
    },
    "az vm create": {
        "--count": ("value", "cmklab creates one VM per call"),
        "--validate": ("flag", "to see what a create would do without doing it, run cmklab what-if az vm create ..."),
        "--attach-os-disk": ("value", FROM_DISKS), "--attach-data-disks": ("list", FROM_DISKS),
        "--specialized": ("bool", FROM_DISKS),
        "--source-snapshots-or-disks/--source-resource": ("list", FROM_DISKS),
        "--source-snapshots-or-disks-size-gb/--source-resource-size": ("list", FROM_DISKS),
        "--source-disk-restore-point/--source-disk-rp": ("list", FROM_DISKS),
        "--source-disk-restore-point-size-gb/--source-rp-size": ("list", FROM_DISKS),
        "--use-unmanaged-disk": ("flag", UNMANAGED), "--storage-account": ("value", UNMANAGED),
        "--storage-container-name": ("value", UNMANAGED),
        "--ephemeral-os-disk": ("bool", EPHEMERAL), "--ephemeral-os-disk-placement/--ephemeral-placement": (
            "value", EPHEMERAL), "--ephemeral-os-disk-enable-full-caching/--ephemeral-full-caching": ("bool", EPHEMERAL),
        "--os-disk-secure-vm-disk-encryption-set": ("value", CONFIDENTIAL),
        "--os-disk-security-encryption-type": ("value", CONFIDENTIAL), "--encryption-identity": ("value", CONFIDENTIAL),
        "--assign-identity": ("list", "managed identities of VMs are not modelled"),
        "--role": ("value", "managed identities of VMs are not modelled"),
        "--scope": ("value", "managed identities of VMs are not modelled"),
        "--secrets": ("list", "certificates from Key Vault on VMs are not modelled"),
        "--vmss": ("value", "placing a VM in a flexible scale set at creation is not modelled"),
        "--os-type": ("value", "the OS comes from --image (an alias or a URN)"),
        "--patch-mode": ("value", GUEST), "--enable-agent": ("bool", GUEST), "--enable-auto-update": ("bool", GUEST),
        "--enable-hotpatching": ("bool", GUEST),
        "--data-disk-iops": ("value", "set a data disk's performance with az disk update --disk-iops-read-write"),
        "--data-disk-mbps": ("value", "set a data disk's performance with az disk update --disk-mbps-read-write"),
        "--data-disk-delete-option/--data-delete-option": ("list", "cmklab's az vm delete keeps every disk (Detach)"),
        "--os-disk-delete-option": ("value", "cmklab's az vm delete keeps every disk (Detach)"),
        "--scheduled-events-api-version/--se-api-version": ("value", "scheduled events are not delivered"),
        "--zone-movement": ("bool", ZONES), "--align-regional-disks-to-vm-zone/--align-regional-disks": ("bool", ZONES),
    },
    "az vm update": {
        "--disk-caching": ("list", "changing the caching of a VM's disks is not modelled"),
        "--write-accelerator": ("list", "write accelerator is not modelled"),
        "--os-disk": ("value", "swapping a VM's OS disk is not modelled"),
        "--ephemeral-os-disk-placement/--ephemeral-placement": ("value", EPHEMERAL),
        "--zone/-z": ("value", ZONES), "--zone-movement": ("bool", ZONES),
        "--align-regional-disks-to-vm-zone/--align-regional-disks": ("bool", ZONES),
        "--scheduled-events-api-version/--se-api-version": ("value", "scheduled events are not delivered"),
    },
    "az vm disk attach": {
        "--disks": ("list", "attach one disk per call with --name"),
        "--disk-ids": ("list", "attach one disk per call with --name"),
        "--enable-write-accelerator": ("flag", "write accelerator is not modelled"),
        "--source-snapshots-or-disks/--source-resource": ("list", FROM_DISKS),
        "--source-disk-restore-point/--source-disk-rp": ("list", FROM_DISKS),
        "--new-names-of-source-snapshots-or-disks/--new-names-of-sr": ("list", FROM_DISKS),
        "--new-names-of-source-disk-restore-point/--new-names-of-rp": ("list", FROM_DISKS),
    },
    "az vm disk detach": {"--disk-ids": ("list", "detach one disk per call with --name")},
    "az vm encryption enable": {
        "--key-encryption-key": ("value", ADE_KEK), "--key-encryption-keyvault": ("value", ADE_KEK),
        "--key-encryption-algorithm": ("value", ADE_KEK),
        "--encryption-identity": ("value", "user-assigned identities for Azure Disk Encryption are not modelled"),
        "--encrypt-format-all": ("flag", "encrypt-formatting wipes the data disks' partitions, which the simulated "
                                         "guest does not have"),
        "--aad-client-id": ("value", ADE_AAD), "--aad-client-secret": ("value", ADE_AAD),
        "--aad-client-cert-thumbprint": ("value", ADE_AAD),
    },
    **{f"az keyvault key {verb}": {"--hsm-name": ("value", HSM)} for verb in ("encrypt", "decrypt", "sign", "verify")},
    "az vmss create": {
        "--validate": ("flag", "to see what a create would do without doing it, run cmklab what-if az vmss create ..."),
        "--storage-container-name": ("value", UNMANAGED), "--use-unmanaged-disk": ("flag", UNMANAGED),
        "--os-type": ("value", "the OS comes from --image (an alias or a URN)"),
        "--secrets": ("list", "certificates from Key Vault on VMs are not modelled"),
        "--assign-identity": ("list", VMSS_IDENTITY), "--scope": ("value", VMSS_IDENTITY),
        "--role": ("value", VMSS_IDENTITY),
        "--encryption-identity": ("value", CONFIDENTIAL),
        "--os-disk-security-encryption-type": ("value", CONFIDENTIAL),
        "--os-disk-secure-vm-disk-encryption-set": ("value", CONFIDENTIAL),
        "--ephemeral-os-disk": ("bool", EPHEMERAL), "--ephemeral-os-disk-placement/--ephemeral-placement": (
            "value", EPHEMERAL),
        "--ephemeral-os-disk-enable-full-caching/--ephemeral-full-caching": ("bool", EPHEMERAL),
        "--data-disk-iops": ("list", "set a data disk's performance with az disk update --disk-iops-read-write"),
        "--data-disk-mbps": ("list", "set a data disk's performance with az disk update --disk-mbps-read-write"),
        "--data-disk-caching": ("list", "the model's data disks use no host caching (None); caching per disk is "
                                        "not modelled"),
        "--storage-sku": ("list", "the model's disks are Premium_LRS; give another SKU to a standalone disk "
                                  "(az disk create --sku)"),
        "--specialized": ("bool", "specialized images are not modelled: scale sets are made from --image"),
        "--enable-auto-update": ("bool", GUEST), "--patch-mode": ("value", GUEST), "--enable-agent": ("bool", GUEST),
        "--os-disk-delete-option": ("value", VMSS_DISKS), "--data-disk-delete-option": ("value", VMSS_DISKS),
        "--scheduled-events-api-version/--se-api-version": ("value", "scheduled events are not delivered"),
    },
    "az vmss update": {
        "--instance-id": ("value", ONE_INSTANCE),
        "--protect-from-scale-in": ("bool", ONE_INSTANCE),
        "--protect-from-scale-set-actions": ("bool", ONE_INSTANCE),
        "--vm-sku": ("value", "changing a scale set's VM size is not modelled"),
        "--ephemeral-os-disk": ("bool", EPHEMERAL), "--ephemeral-os-disk-option/--ephemeral-option": ("value",
                                                                                                      EPHEMERAL),
        "--ephemeral-os-disk-placement/--ephemeral-placement": ("value", EPHEMERAL),
        "--scheduled-events-api-version/--se-api-version": ("value", "scheduled events are not delivered"),
    },
    "az vmss list-instances": {"--expand": ("value", ODATA), "--filter": ("value", ODATA),
                               "--select": ("value", ODATA)},
}

NO_EFFECT_GROUP = "Accepted, no effect in cmklab"
REFUSED_GROUP = "Not supported by cmklab"


def _arg(flags: str, kind: str, help_text: str, group: str, refused: bool) -> Arg:
    options = tuple(flags.split("/"))
    dest = ("refused_" if refused else "noeffect_") + options[0].lstrip("-").replace("-", "_")
    if refused:
        return Arg(options, dest, help_text, kind="refused", group=group)
    if kind == "flag":
        return Arg(options, dest, help_text, kind="store_true", group=group)
    if kind == "bool":
        return Arg(options, dest, help_text, kind="bool", choices=("false", "true"), group=group)
    return Arg(options, dest, help_text, nargs="+" if kind == "list" else None, group=group)


def args_for(path: str, taken: set[str]) -> list[Arg]:
    """The no-effect and refused flags of a command (those it does not declare itself)."""
    out = []
    for table, refused in ((NO_EFFECT, False), (REFUSED, True)):
        for flags, (kind, reason) in table.get(path, {}).items():
            if taken.intersection(flags.split("/")):
                continue
            text = (f"Not supported by cmklab: {reason}." if refused
                    else f"Accepted; no effect in cmklab: {reason}.")
            out.append(_arg(flags, kind, text, REFUSED_GROUP if refused else NO_EFFECT_GROUP, refused))
            taken.update(flags.split("/"))
    return out
