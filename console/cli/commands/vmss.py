"""``az vmss``: scale sets over the engine's (each instance a VM ``{name}-{n}``, as in Flexible orchestration), with
disk encryption sets for the OS and data disks in the model, the model updated (``--set``, as az's generic update
arguments), instances brought to it (``update-instances``), listed with ``latestModelApplied``, and power actions
on all or some instances."""

from __future__ import annotations


from .. import generic, props
from ..errors import CLIError
from ..wait import wait_command
from ..output import transform_vmss_list
from ..props import Prop
from ..spec import Arg, Call, command, enum, flag3, location, name, no_wait, rg, tags, views
from .vm import VM_CREATE_PROPS

VMSS_TYPE = "Microsoft.Compute/virtualMachineScaleSets"
VMSS_NAME_HELP = "Scale set name. You can configure the default using `az configure --defaults vmss=<name>`."
UPGRADE_MODES = ("Automatic", "Manual", "Rolling")
ORCHESTRATION_MODES = ("Flexible", "Uniform")
_STORAGE = "Storage Arguments"
_AUTH = "Authentication Arguments"
_NET = "Network Arguments"
_NOT_MODELLED = " (cmklab does not model networks: accepted and not used)"


_TOP = ("proximityPlacementGroup", "hostGroup", "additionalCapabilities", "plan", "extendedLocation",
        "scheduledEventsPolicy")
"""Of the VM's plain properties, those a scale set has at its top level; the others are in its
``virtualMachineProfile``."""
_FROM_VM = ("license_type", "priority", "max_price", "enable_secure_boot", "enable_vtpm", "security_type",
            "enable_hibernation", "user_data", "proximity_placement_group",
            "capacity_reservation_group", "disk_controller_type", "v_cpus_available", "v_cpus_per_core",
            "enable_user_reboot_scheduled_events", "enable_user_redeploy_scheduled_events", "enable_all_instance_down",
            "additional_scheduled_events", "processor_mode", "disable_capacity_reservation_assignment",
            "enable_proxy_agent", "proxy_agent_mode", "add_proxy_agent_extension", "wire_server_mode",
            "wire_server_use_local_file_rules", "wire_server_access_control_profile_reference_id", "imds_mode",
            "imds_access_control_profile_reference_id")
_FROM_VM_CREATE = ("dedicated_host_group", "plan_name", "plan_product", "plan_publisher", "plan_promotion_code", "eviction_policy",
                   "edge_zone", "include_zones", "exclude_zones")


def _repath(p: Prop) -> Prop:
    path = p.path if p.path.split(".")[0] in _TOP else "virtualMachineProfile." + p.path
    return Prop(p.options, p.dest, path, p.help, kind=p.kind, choices=p.choices, convert=p.convert)


def _minutes(value, ns, ctx) -> str:
    """az's validators turn minutes into an ISO 8601 duration."""
    if not str(value).isdigit():
        raise CLIError(f"usage error: give a whole number of minutes, not '{value}'")
    return f"PT{int(value)}M"


def _sku_sizes(value, ns, ctx) -> list[dict]:
    """``--skuprofile-vmsizes`` with ``--skuprofile-rank``: one rank per size, as az zips them."""
    ranks = getattr(ns, "skuprofile_rank", None)
    if ranks is None:
        return [{"name": size} for size in value]
    if len(ranks) != len(value) or not all(str(r).isdigit() for r in ranks):
        raise CLIError(f"usage error: --skuprofile-rank takes one whole number per size of --skuprofile-vmsizes "
                       f"({len(value)}); got {' '.join(map(str, ranks))}")
    return [{"name": size, "rank": int(rank)} for size, rank in zip(value, ranks)]


def _sku_rank() -> Arg:
    return Arg(("--skuprofile-rank",), "skuprofile_rank", "A list of ranks, one per size of --skuprofile-vmsizes "
               "(with --skuprofile-allocation-strategy Prioritized).", nargs="+")


def _vmss_props(update: bool) -> list[Prop]:
    by_dest = {p.dest: p for p in VM_CREATE_PROPS}
    rolling = "upgradePolicy.rollingUpgradePolicy"
    repairs = "automaticRepairsPolicy"
    rebalance = "resiliencyPolicy.automaticZoneRebalancingPolicy"
    zones = "resiliencyPolicy.zoneAllocationPolicy"
    posture = "virtualMachineProfile.securityPostureReference"
    out = [_repath(by_dest[d]) for d in _FROM_VM + (() if update else _FROM_VM_CREATE)]
    out += [
        Prop(("--ultra-ssd-enabled",), "ultra_ssd_enabled", "additionalCapabilities.ultraSSDEnabled", "Enables or "
             "disables the capability to have 1 or more managed data disks with UltraSSD_LRS storage account.",
             kind="flag3"),
        Prop(("--zones", "-z"), "zones", "zones", "Space-separated list of availability zones into which to "
             "provision the resource.", kind="list"),
        Prop(("--scale-in-policy",), "scale_in_policy", "scaleInPolicy.rules", "Specify the scale-in policy (space "
             "delimited) that decides which virtual machines are chosen for removal when a Virtual Machine Scale "
             "Set is scaled-in. Allowed values: Default, OldestVM, NewestVM.", kind="list"),
        Prop(("--terminate-notification-time",), "terminate_notification_time",
             "virtualMachineProfile.scheduledEventsProfile.terminateNotificationProfile.notBeforeTimeout", "Length "
             "of time (in minutes, between 5 and 15) a notification to be sent to the VM on the instance metadata "
             "server till the VM gets deleted.", convert=_minutes),
        Prop(("--enable-automatic-repairs", "--enable-auto-repairs"), "enable_automatic_repairs",
             f"{repairs}.enabled", "Enable automatic repairs.", kind="flag3"),
        Prop(("--automatic-repairs-grace-period",), "automatic_repairs_grace_period", f"{repairs}.gracePeriod",
             "The amount of time (in minutes, between 30 and 90) for which automatic repairs will be delayed.",
             convert=_minutes),
        Prop(("--automatic-repairs-action",), "automatic_repairs_action", f"{repairs}.repairAction", "Type of repair "
             "action that will be used for repairing unhealthy virtual machines in the scale set.", kind="enum",
             choices=("Replace", "Restart", "Reimage")),
        Prop(("--max-batch-instance-percent",), "max_batch_instance_percent", f"{rolling}.maxBatchInstancePercent",
             "The maximum percent of total virtual machine instances that will be upgraded simultaneously by the "
             "rolling upgrade in one batch.", kind="int"),
        Prop(("--max-unhealthy-instance-percent",), "max_unhealthy_instance_percent",
             f"{rolling}.maxUnhealthyInstancePercent", "The maximum percentage of the total virtual machine instances "
             "in the scale set that can be simultaneously unhealthy.", kind="int"),
        Prop(("--max-unhealthy-upgraded-instance-percent",), "max_unhealthy_upgraded_instance_percent",
             f"{rolling}.maxUnhealthyUpgradedInstancePercent", "The maximum percentage of upgraded virtual machine "
             "instances that can be found to be in an unhealthy state.", kind="int"),
        Prop(("--pause-time-between-batches",), "pause_time_between_batches", f"{rolling}.pauseTimeBetweenBatches",
             "The wait time between completing the update for all virtual machines in one batch and starting the "
             "next batch (ISO 8601)."),
        Prop(("--enable-cross-zone-upgrade",), "enable_cross_zone_upgrade", f"{rolling}.enableCrossZoneUpgrade",
             "Set this Boolean property will allow VMSS to ignore AZ boundaries when constructing upgrade batches.",
             kind="flag3"),
        Prop(("--prioritize-unhealthy-instances",), "prioritize_unhealthy_instances",
             f"{rolling}.prioritizeUnhealthyInstances", "Set this Boolean property will lead to all unhealthy "
             "instances in a scale set getting upgraded before any healthy instances.", kind="flag3"),
        Prop(("--max-surge",), "max_surge", f"{rolling}.maxSurge", "Specify it to create new virtual machines to "
             "upgrade the scale set, rather than updating the existing virtual machines.", kind="flag3"),
        Prop(("--enable-auto-os-upgrade",), "enable_auto_os_upgrade",
             "upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade", "Indicate whether OS upgrades should "
             "automatically be applied to scale set instances in a rolling fashion.", kind="flag3"),
        Prop(("--enable-spot-restore",), "enable_spot_restore", "spotRestorePolicy.enabled", "Enable the Spot-Try-"
             "Restore feature where evicted VMSS SPOT instances will be tried to be restored opportunistically.",
             kind="flag3"),
        Prop(("--spot-restore-timeout",), "spot_restore_timeout", "spotRestorePolicy.restoreTimeout", "Timeout value "
             "expressed as an ISO 8601 time duration after which the platform will not try to restore the VMSS "
             "SPOT instances."),
        Prop(("--regular-priority-count",), "regular_priority_count", "priorityMixPolicy.baseRegularPriorityCount",
             "The base number of regular priority VMs that will be created in this scale set as it scales out.",
             kind="int"),
        Prop(("--regular-priority-percentage",), "regular_priority_percentage",
             "priorityMixPolicy.regularPriorityPercentageAboveBase", "The percentage of VM instances, after the base "
             "regular priority count has been reached, that are expected to use regular priority.", kind="int"),
        Prop(("--enable-osimage-notification",), "enable_osimage_notification",
             "virtualMachineProfile.scheduledEventsProfile.osImageNotificationProfile.enable", "Specify whether the "
             "OS Image Scheduled event is enabled or disabled.", kind="flag3"),
        Prop(("--security-posture-reference-id", "--security-posture-id"), "security_posture_reference_id",
             f"{posture}.id", "The security posture reference id in the form of /CommunityGalleries/{communityGallery"
             "Name}/securityPostures/{securityPostureName}/versions/{major.minor.patch}|{major.*}|latest."),
        Prop(("--security-posture-reference-exclude-extensions", "--exclude-extensions"),
             "security_posture_reference_exclude_extensions", f"{posture}.excludeExtensions", "List of virtual "
             "machine extensions to exclude when applying the Security Posture.", kind="list"),
        Prop(("--security-posture-reference-is-overridable", "--is-overridable"),
             "security_posture_reference_is_overridable", f"{posture}.isOverridable", "Whether the security posture "
             "can be overridden by the user.", kind="flag3"),
        Prop(("--enable-resilient-creation",), "enable_resilient_creation",
             "resiliencyPolicy.resilientVMCreationPolicy.enabled", "Automatically recover customers' VMs when "
             "creation fails.", kind="flag3"),
        Prop(("--enable-resilient-deletion",), "enable_resilient_deletion",
             "resiliencyPolicy.resilientVMDeletionPolicy.enabled", "Retry VM deletes when a deletion fails.",
             kind="flag3"),
        Prop(("--zone-balance",), "zone_balance", "zoneBalance", "Whether to force strictly even Virtual Machine "
             "distribution cross x-zones in case there is zone outage.", kind="flag3"),
        Prop(("--skuprofile-vmsizes",), "skuprofile_vmsizes", "skuProfile.vmSizes", "A list of VM sizes in the scale "
             "set (with their ranks from --skuprofile-rank).", kind="list", convert=_sku_sizes),
        Prop(("--skuprofile-allocation-strategy", "--sku-allocat-strat"), "skuprofile_allocation_strategy",
             "skuProfile.allocationStrategy", "Allocation strategy for vm sizes in SKU profile.", kind="enum",
             choices=("LowestPrice", "CapacityOptimized", "Prioritized")),
        Prop(("--enable-automatic-zone-balancing", "--enable-zone-balancing"), "enable_automatic_zone_balancing",
             f"{rebalance}.enabled", "Specify whether automatic AZ balancing should be enabled on the virtual machine "
             "scale set.", kind="flag3"),
        Prop(("--automatic-zone-balancing-strategy", "--balancing-strategy"), "automatic_zone_balancing_strategy",
             f"{rebalance}.rebalanceStrategy", "Type of rebalance strategy that will be used for rebalancing virtual "
             "machines in the scale set across availability zones.", kind="enum", choices=("Recreate",)),
        Prop(("--automatic-zone-balancing-behavior", "--balancing-behavior"), "automatic_zone_balancing_behavior",
             f"{rebalance}.rebalanceBehavior", "Type of rebalance behavior that will be used for recreating virtual "
             "machines in the scale set across availability zones.", kind="enum", choices=("CreateBeforeDelete",)),
        Prop(("--max-zone-count",), "max_zone_count", f"{zones}.maxZoneCount", "The maximum number of availability "
             "zones to use if the ZonePlacementPolicy is 'Auto'.", kind="int"),
        Prop(("--instance-percent-policy", "--ipp"), "instance_percent_policy",
             f"{zones}.maxInstancePercentPerZonePolicy.enabled", "Specify whether maxInstancePercentPerZonePolicy "
             "should be enabled on the virtual machine scale set.", kind="flag3"),
        Prop(("--max-instance-percent", "--value-max-instance-percent-per-zone"), "max_instance_percent",
             f"{zones}.maxInstancePercentPerZonePolicy.value", "Limit on the number of instances in each zone as a "
             "percentage of the total capacity of the virtual machine scale set.", kind="int"),
        Prop(("--zone-placement-policy",), "zone_placement_policy", "placement.zonePlacementPolicy", "Specify the "
             "placement policy for the virtual machine scale set.", kind="enum", choices=("Auto",)),
    ]
    if update:
        return out + [
            Prop(("--include-zones",), "include_zones", "placement.includeZones", "The availability zones the "
                 "platform may place instances in (with --zone-placement-policy Auto).", kind="list"),
            Prop(("--exclude-zones",), "exclude_zones", "placement.excludeZones", "The availability zones the "
                 "platform must not place instances in (with --zone-placement-policy Auto).", kind="list"),
            Prop(("--enable-terminate-notification",), "enable_terminate_notification",
                 "virtualMachineProfile.scheduledEventsProfile.terminateNotificationProfile.enable", "Enable "
                 "terminate notification.", kind="flag3"),
        ]
    return out + [
        Prop(("--storage-caching", "--os-disk-caching"), "os_disk_caching",
             "virtualMachineProfile.storageProfile.osDisk.caching", "Storage caching type for the VM OS disk.",
             kind="enum", choices=("None", "ReadOnly", "ReadWrite")),
        Prop(("--os-disk-name",), "os_disk_name", "virtualMachineProfile.storageProfile.osDisk.name", "The name of "
             "the new VM OS disk (the model's; each instance's OS disk is {name}-{n}-os)."),
        Prop(("--single-placement-group",), "single_placement_group", "singlePlacementGroup", "Limit the scale set "
             "to a single placement group.", kind="flag3"),
        Prop(("--platform-fault-domain-count",), "platform_fault_domain_count", "platformFaultDomainCount", "Fault "
             "Domain count for each placement group in the availability zone.", kind="int"),
        Prop(("--computer-name-prefix",), "computer_name_prefix", "virtualMachineProfile.osProfile.computerNamePrefix",
             "Computer name prefix for all of the virtual machines in the scale set."),
    ]


VMSS_CREATE_PROPS = _vmss_props(update=False)
"""``az vmss create`` flags that set a plain property of the scale set."""
VMSS_UPDATE_PROPS = _vmss_props(update=True)
"""``az vmss update`` flags that set a plain property of the scale set."""


def _vmss_name(required: bool = True) -> Arg:
    return name(VMSS_NAME_HELP, required=required)


def _instance_ids(required: bool = False) -> Arg:
    return Arg(("--instance-ids",), "instance_ids", "Space-separated list of IDs (ex: 1 2 3 ...) or * for all "
               "instances. If not provided, the action will be applied on the scaleset itself", nargs="+",
               required=required)


def _create_call(ns, ctx) -> Call:
    return Call("create_scale_set", (ns.name, ns.resource_group), {
        "capacity": 2 if ns.instance_count is None else ns.instance_count, "size": ns.vm_sku or "Standard_DS1_v2",
        "image": ns.image or "Ubuntu2204", "location": ns.location,
        "os_disk_encryption_set": ns.os_disk_encryption_set, "encryption_at_host": bool(ns.encryption_at_host),
        "data_disk_sizes_gb": ns.data_disk_sizes_gb, "data_disk_encryption_sets": ns.data_disk_encryption_sets,
        "upgrade_mode": ns.upgrade_policy_mode or "Manual", "orchestration_mode": ns.orchestration_mode or "Flexible",
        "admin_username": ns.admin_username or "azureuser", "tags": ns.tags,
        "props": props.collect(ns, ctx, VMSS_CREATE_PROPS), "os_disk_size_gb": ns.os_disk_size_gb})


_CREATE_PARAMS = {"capacity": "instance_count", "size": lambda v, w: {"vm_sku": v},  # az's default size is not
                  "upgrade_mode": "upgrade_policy_mode",                           # the engine's: always said
                  "os_disk_encryption_set": ("os_disk_encryption_set", "name"),
                  "data_disk_encryption_sets": ("data_disk_encryption_sets", "name")}
"""How ``create_scale_set``'s parameters are said (:mod:`console.cli.words`)."""


command("az vmss create", "Create an Azure Virtual Machine Scale Set.", [
    _vmss_name(), rg(),
    Arg(("--image",), "image", "The name of the operating system image as a URN alias, URN, custom image name or "
        "ID, or VHD blob URI. Valid URN format: \"Publisher:Offer:Sku:Version\"."),
    Arg(("--vm-sku",), "vm_sku", "Size of VMs in the scale set. See https://azure.microsoft.com/pricing/details/"
        "virtual-machines/ for size info.", help_default="Standard_DS1_v2"),
    Arg(("--instance-count",), "instance_count", "Number of VMs in the scale set.", kind="int", help_default="2"),
    location(), tags(),
    enum(("--upgrade-policy-mode",), "upgrade_policy_mode", "The upgrade policy mode: how instances take a new "
         "model (Manual: on az vmss update-instances).", UPGRADE_MODES, help_default="Manual"),
    enum(("--orchestration-mode",), "orchestration_mode", "Choose how virtual machines are managed by the scale "
         "set. cmklab's instances are VMs named {name}-{n} in either mode.", ORCHESTRATION_MODES,
         help_default="Flexible"),
    Arg(("--admin-username",), "admin_username", "Username for the VM.", group=_AUTH),
    Arg(("--admin-password",), "admin_password", "Password for the VM if authentication type is 'Password'.",
        group=_AUTH),
    Arg(("--generate-ssh-keys",), "generate_ssh_keys", "Generate SSH public and private key files if missing.",
        kind="store_true", group=_AUTH),
    enum(("--authentication-type",), "authentication_type", "Type of authentication to use with the VM.",
         ("ssh", "password", "all"), group=_AUTH),
    Arg(("--os-disk-encryption-set",), "os_disk_encryption_set", "Name or ID of disk encryption set for OS disk.",
        group=_STORAGE),
    Arg(("--os-disk-size-gb",), "os_disk_size_gb", "OS disk size in GB to create.", kind="int", group=_STORAGE),
    Arg(("--data-disk-sizes-gb",), "data_disk_sizes_gb", "Space-separated empty managed data disk sizes in GB to "
        "create.", kind="int", nargs="+", group=_STORAGE),
    Arg(("--data-disk-encryption-sets",), "data_disk_encryption_sets", "Names or IDs (space delimited) of disk "
        "encryption sets for data disks.", nargs="+", group=_STORAGE),
    flag3(("--encryption-at-host",), "encryption_at_host", "Enable Host Encryption for the VM or VMSS. This will "
          "enable the encryption for all the disks including Resource/Temp disk at host itself."),
    Arg(("--vnet-name",), "vnet_name", "Name of the virtual network when creating a new one or referencing an "
        "existing one" + _NOT_MODELLED + ".", group=_NET),
    Arg(("--subnet",), "subnet", "The name of the subnet when creating a new VNet or referencing an existing one"
        + _NOT_MODELLED + ".", group=_NET),
    Arg(("--lb",), "load_balancer", "Name to use when creating a new load balancer (default) or referencing an "
        "existing one" + _NOT_MODELLED + ".", group=_NET),
    Arg(("--public-ip-address",), "public_ip_address", "Name of the public IP address when creating one (default) "
        "or referencing an existing one" + _NOT_MODELLED + ".", group=_NET),
    no_wait(), *props.args(VMSS_CREATE_PROPS), _sku_rank(),
], method="create_scale_set", params=_CREATE_PARAMS, call=_create_call, render=lambda e, ss, ns: views.vmss_create_output(e, ss),
    examples=[("Create a scale set whose OS and data disks use customer-managed keys.",
               "az vmss create -g MyResourceGroup -n MyScaleSet --image Ubuntu2204 --instance-count 2 "
               "--os-disk-encryption-set MySet --data-disk-sizes-gb 64 --data-disk-encryption-sets MySet")])

def _show(e, ss, ns) -> dict:
    """The scale set (its model's ``userData`` only with --include-user-data, as Azure's ``$expand=userData``), or
    one instance with --instance-id."""
    if ns.instance_id is not None:
        for vm in e.scale_set_instances(ss):
            if vm.name == f"{ss.name}-{ns.instance_id}":
                return views.vmss_instance_view(e, ss, vm)
        from engine.errors import NotFound

        raise NotFound(f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{ss.name}/virtualMachines/"
                       f"{ns.instance_id}' under resource group '{ss.resource_group}' was not found.",
                       code="ResourceNotFound")
    out = views.vmss_view(e, ss)
    if not ns.include_user_data and isinstance(out.get("virtualMachineProfile"), dict):
        out["virtualMachineProfile"].pop("userData", None)
    return out


command("az vmss show", "Get details on VMs within a VMSS.", [
    _vmss_name(), rg(),
    Arg(("--instance-id",), "instance_id", "VM instance ID. If missing, show the VMSS."),
    Arg(("--include-user-data", "-u"), "include_user_data", "Include the user data properties in the query "
        "result.", kind="store_true"),
],
        call=lambda ns, ctx: Call("get_scale_set", (ns.name, ns.resource_group)),
        render=_show,
        examples=[("Which set encrypts the OS disks of a scale set's model.",
                   "az vmss show -g MyResourceGroup -n MyScaleSet --query "
                   "virtualMachineProfile.storageProfile.osDisk.managedDisk.diskEncryptionSet.id -o tsv")])

command("az vmss list", "List VMSS.", [rg(required=False)],
        call=lambda ns, ctx: Call("list_scale_sets", (ns.resource_group,)),
        render=lambda e, sets, ns: [views.vmss_view(e, ss) for ss in sets], table=transform_vmss_list,
        examples=[("List the scale sets of a resource group.", "az vmss list -g MyResourceGroup")])

_SET_PATHS = {
    "virtualmachineprofile.securityprofile.encryptionathost": "encryption_at_host",
    "virtualmachineprofile.storageprofile.osdisk.manageddisk.diskencryptionset.id": "os_disk_encryption_set",
    "upgradepolicy.mode": "upgrade_mode",
}
_DATA_DES = "virtualmachineprofile.storageprofile.datadisks["
_DATA_DES_TAIL = "].manageddisk.diskencryptionset.id"


def _update_call(ns, ctx) -> Call:
    """The generic update arguments on the model's paths cmklab simulates (the ones the docs use for customer-managed
    keys and encryption at host)."""
    kwargs: dict = {}
    data_sets: dict[int, str] = {}
    tag_items: list[str] = []
    for item in ns.set or []:
        path, eq, value = item.partition("=")
        key = path.strip().lower()
        if not eq:
            raise CLIError(f"usage error: --set property.path=value; got '{item}'")
        if key == "tags" or key.startswith("tags."):  # az's generic update of the tags (az 2.91 has no --tags here)
            tag_items.append(item)
        elif key in _SET_PATHS:
            dest = _SET_PATHS[key]
            if dest == "encryption_at_host":
                if value.lower() not in ("true", "false"):
                    raise CLIError(f"{path} takes true or false, not '{value}'")
                kwargs[dest] = value.lower() == "true"
            else:
                kwargs[dest] = value
        elif key.startswith(_DATA_DES) and key.endswith(_DATA_DES_TAIL) and key[len(_DATA_DES):-len(_DATA_DES_TAIL)
                                                                               ].isdigit():
            data_sets[int(key[len(_DATA_DES):-len(_DATA_DES_TAIL)])] = value
        else:
            raise CLIError(f"cmklab's `az vmss update --set` takes {', '.join(_PATH_NAMES)}; got '{path}'")
    tag_actions = _tag_actions(ns, tag_items)
    if tag_actions:
        kwargs["tags"] = _set_tags(tag_actions, ns, ctx)
    if data_sets:
        ss = ctx.engine.get_scale_set(ns.name, ns.resource_group)
        current = [ss.data_disk_set(lun) for lun in range(len(ss.data_disk_sizes_gb))]
        for lun, value in data_sets.items():
            if lun >= len(current):
                raise CLIError(f"the model has {len(current)} data disk(s); dataDisks[{lun}] is not one of them")
            current[lun] = value
        if any(c is None for c in current):
            raise CLIError("give a disk encryption set for every data disk of the model")
        kwargs["data_disk_encryption_sets"] = current
    if ns.upgrade_policy_mode is not None:
        kwargs["upgrade_mode"] = ns.upgrade_policy_mode
    given = props.collect(ns, ctx, VMSS_UPDATE_PROPS)
    if given:
        kwargs["props"] = given
    return Call("update_scale_set", (ns.name, ns.resource_group), kwargs)


def _tag_actions(ns, tag_items: list[str]) -> list:
    """The generic update's actions on the tags, in the order given (``--set`` items on other paths are the
    model's, read above): ``--add`` and ``--remove`` change only the tags here."""
    actions = getattr(ns, "generic_actions", None)
    if actions is None:
        actions = [("set", ns.set or [])] + [("generic_add", v) for v in getattr(ns, "generic_add", None) or []]
        actions += [("generic_remove", v) for v in getattr(ns, "generic_remove", None) or []]
    out = []
    for dest, values in actions:
        if dest == "set":
            values = [v for v in values if v in tag_items]
            if values:
                out.append((dest, values))
            continue
        path = values[0].strip().lower() if values else ""
        if path != "tags" and not path.startswith("tags."):
            flag = "--add" if dest == "generic_add" else "--remove"
            raise CLIError(f"cmklab's `az vmss update {flag}` changes the tags (tags, tags.KEY); the model's "
                           f"other paths change with --set ({', '.join(_PATH_NAMES[:4])}); got '{values[0] if values else ''}'")
        out.append((dest, values))
    return out


def _set_tags(actions: list, ns, ctx) -> dict:
    """``--set tags.KEY=VALUE``, ``--set tags={...}``, ``--add tags ...`` and ``--remove tags.KEY`` on the scale
    set's tags, in the order given, as ``vm update`` reads them (console/cli/generic.py: az's rules on the JSON,
    then the AAZ VMSS create's dict of strings)."""
    import types

    before = {"tags": dict(ctx.engine.get_scale_set(ns.name, ns.resource_group).tags or {})}
    after = generic.apply(before, types.SimpleNamespace(generic_actions=actions,
                                                        force_string=getattr(ns, "force_string", False)))
    return generic.aaz_tags(after.get("tags"))


def _tags_words(value, w) -> dict:
    """The tags of an ``update_scale_set`` call as az's generic ``--set tags={...}`` (the whole object)."""
    if value is None:
        return {}
    return {"set": [*_model_words(None, w).get("set", []), *generic.tags_words(value)]}


def _model_words(value, w) -> dict:
    """The model's changes of an ``update_scale_set`` call as ``--set`` items (every one in one flag: the function
    sees the call's parameters, ``w.p``); the sets by name, which cmklab's ``--set`` takes as well as an id."""
    items = []
    if w.p.get("encryption_at_host") is not None:
        items.append("virtualMachineProfile.securityProfile.encryptionAtHost="
                     + ("true" if w.p["encryption_at_host"] else "false"))
    if w.p.get("os_disk_encryption_set") is not None:
        items.append("virtualMachineProfile.storageProfile.osDisk.managedDisk.diskEncryptionSet.id="
                     + w.name(w.p["os_disk_encryption_set"]))
    for lun, des in enumerate(w.p.get("data_disk_encryption_sets") or []):
        items.append(f"virtualMachineProfile.storageProfile.dataDisks[{lun}].managedDisk.diskEncryptionSet.id="
                     + w.name(des))
    return {"set": items} if items else {}


_UPDATE_PARAMS = {"encryption_at_host": _model_words, "os_disk_encryption_set": None, "tags": _tags_words,
                  "data_disk_encryption_sets": None, "upgrade_mode": "upgrade_policy_mode"}

_PATH_NAMES = ("virtualMachineProfile.securityProfile.encryptionAtHost=true|false",
               "virtualMachineProfile.storageProfile.osDisk.managedDisk.diskEncryptionSet.id=SET_ID",
               "virtualMachineProfile.storageProfile.dataDisks[LUN].managedDisk.diskEncryptionSet.id=SET_ID",
               "upgradePolicy.mode=Manual|Automatic|Rolling", "tags.KEY=VALUE", "tags={JSON object}")

command("az vmss update", "Update a VMSS. Run 'az vmss update-instances' command to roll out the changes to VMs if "
        "you have not configured upgrade policy.", [
            _vmss_name(), rg(),
            Arg(("--set",), "set", "Update an object by specifying a property path and value to set. Example: --set "
                "property1.property2=<value>. cmklab takes: " + "; ".join(_PATH_NAMES) + ".", nargs="+",
                kind="generic", group="Generic Update Arguments"),
            *[a for a in generic.generic_args() if a.dest != "set"],
            enum(("--upgrade-policy-mode",), "upgrade_policy_mode", "The upgrade policy mode: how instances take a "
                 "new model (Manual: on az vmss update-instances).", UPGRADE_MODES),
            no_wait(), *props.args(VMSS_UPDATE_PROPS), _sku_rank(),
        ], method="update_scale_set", params=_UPDATE_PARAMS, ids=VMSS_TYPE, call=_update_call, render=lambda e, ss, ns: views.vmss_view(e, ss),
        examples=[("Turn on encryption at host in the model (instances take it on update-instances, deallocated).",
                   "az vmss update -g MyResourceGroup -n MyScaleSet --set "
                   "virtualMachineProfile.securityProfile.encryptionAtHost=true"),
                  ("Give the model's OS disks another disk encryption set.",
                   "az vmss update -g MyResourceGroup -n MyScaleSet --set "
                   "virtualMachineProfile.storageProfile.osDisk.managedDisk.diskEncryptionSet.id=$DES_ID")])

command("az vmss update-instances", "Upgrade VMs within a VMSS.", [
    _vmss_name(), rg(), _instance_ids(required=True), no_wait(),
], method="upgrade_scale_set_instances", resource_type=VMSS_TYPE,
    params={"instance_ids": lambda v, w: {"instance_ids": v or ["*"]}},  # none given: every instance, az's '*'
    call=lambda ns, ctx: Call("upgrade_scale_set_instances", (ns.name, ns.resource_group),
                              {"instance_ids": ns.instance_ids}),
    examples=[("Bring every instance to the latest model.",
               "az vmss update-instances -g MyResourceGroup -n MyScaleSet --instance-ids '*'")])

command("az vmss list-instances", "Get a list of all virtual machines in a VM scale sets.", [
    _vmss_name(), rg(),
], call=lambda ns, ctx: Call("get_scale_set", (ns.name, ns.resource_group)),
    render=lambda e, ss, ns: [views.vmss_instance_view(e, ss, vm) for vm in e.scale_set_instances(ss)],
    examples=[("Which instances still lack the latest model.",
               "az vmss list-instances -g MyResourceGroup -n MyScaleSet --query \"[?!latestModelApplied].name\"")])

command("az vmss scale", "Change the number of VMs within a VMSS.", [
    _vmss_name(), rg(),
    Arg(("--new-capacity",), "new_capacity", "Number of VMs in the VMSS.", kind="int", required=True), no_wait(),
], method="scale_scale_set", params={"capacity": "new_capacity"}, ids=VMSS_TYPE,
    call=lambda ns, ctx: Call("scale_scale_set", (ns.name, ns.new_capacity, ns.resource_group)),
    render=lambda e, ss, ns: views.vmss_view(e, ss),
    examples=[("Add instances (they follow the current model).",
               "az vmss scale -g MyResourceGroup -n MyScaleSet --new-capacity 4")])

command("az vmss delete", "Delete a VM scale set.", [
    _vmss_name(), rg(),
    enum(("--force-deletion",), "force_deletion", "Optional parameter to force delete a VM scale set. (Feature in "
         "Preview).", ("false", "true")),
    no_wait(),
], method="delete_scale_set", ids=VMSS_TYPE, probe="get_scale_set",
    call=lambda ns, ctx: Call("delete_scale_set", (ns.name, ns.resource_group)),
    examples=[("Delete a scale set, its instances and their disks.",
               "az vmss delete -g MyResourceGroup -n MyScaleSet")])


_POWER_WITH_IDS = ("start",)
"""The power commands az 2.91 gives ``--ids`` (its deallocate, restart and stop have none)."""


def _power(action: str, summary: str, extra: list[Arg] | None = None) -> None:
    command(f"az vmss {action}", summary, [
        _vmss_name(), rg(), _instance_ids(), *(extra or []), no_wait(),
    ], method="scale_set_power", when={"action": action}, params={"action": None},
        ids=VMSS_TYPE if action in _POWER_WITH_IDS else None, resource_type=VMSS_TYPE,
        call=lambda ns, ctx: Call("scale_set_power", (ns.name, action, ns.resource_group),
                                  {"instance_ids": ns.instance_ids}),
        examples=[(f"{action.capitalize()} every instance.", f"az vmss {action} -g MyResourceGroup -n MyScaleSet"),
                  (f"{action.capitalize()} instances 0 and 1.",
                   f"az vmss {action} -g MyResourceGroup -n MyScaleSet --instance-ids 0 1")])


_power("start", "Start VMs within a VMSS.")
_power("stop", "Power off (stop) VMs within a VMSS.", [
    Arg(("--skip-shutdown",), "skip_shutdown", "Skip shutdown and power-off immediately.", kind="store_true")])
_power("deallocate", "Deallocate VMs within a VMSS.", [
    flag3(("--hibernate",), "hibernate", "Hibernate a virtual machine from the VM scale set. Available for Flexible "
          "Virtual Machine Scale Sets only (not modelled: a deallocation).")])
_power("restart", "Restart VMs within a VMSS.")



def _wait_get(e, ns) -> dict:
    ss = e.get_scale_set(ns.name, ns.resource_group)
    ns.include_user_data = True
    return _show(e, ss, ns)


wait_command("az vmss wait", [
    _vmss_name(), rg(),
    Arg(("--instance-id",), "instance_id", "Wait on the VM instance with this ID. If missing, wait on the VMSS."),
], _wait_get, ids=VMSS_TYPE, what="a scale set",
    examples=[("Wait until a scale set is deleted.", "az vmss wait -g MyResourceGroup -n MyScaleSet --deleted")])
