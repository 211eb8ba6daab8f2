"""Virtual machines (V1-V8), their power states, the data plane, and the cascades (V3-V5).

The cascade is one rule applied after every action that may change key usability
(:meth:`VmsBackend._reconcile`): each running VM's disks are checked against the vault as the
platform would see them; a VM with a non-ultra disk whose key cannot be used is shut down at once
(``PowerState/stopped``, with a status naming the key and the time); a VM whose affected disks are
all ultra keeps running on the keys its host holds, and is marked as unable to start again once
deallocated. Starting a VM always unwraps its disks' data keys at the vault (audited), so a
disabled key, a revoked policy or a purged key refuse it through the cryptography itself.
"""

from __future__ import annotations

import copy
from typing import Callable

from .actions import action
from . import events as ev
from .common import MAX_IO, check_region, choice as _choice, compute_error, merge_props, checked_tags
from .errors import BadRequest, Conflict, EngineError, NotFound, OperationNotAllowed
from .clock import iso
from .core import INDEX_VERSION, EngineCore
from .ids import arm_id, check_name, implicit_disk_name, key_id, parse_arm_id, parse_key_url, short_key_url
from .repository import refuse_if_read_only
from .models import DATA_TABLES, POWER_TRANSITIONS, Disk, PowerState, ScaleSet, VirtualMachine
from .rules import DISK_SKUS, ENC_PLATFORM, IMAGE_ALIASES, MAX_DATA_DISKS, PREMIUM_V2, VM_SIZE_HELP, VM_SIZE_RE, \
    ZONAL_REGIONS, ZONES, image_alias, image_generation, lun_problem, lun_used_problem, vm_family_supports_eah


def _policy_principals_changed(before: dict | None, vault) -> set[str] | None:
    """The object ids (lower-case) whose access policy entries differ between a vault's document ``before`` the
    action and the ``vault`` now; None when anything else of the vault changed too (or it came or went): then
    every set of the vault is reached."""
    if before is None or vault is None:
        return None
    now = vault.snapshot()
    if {k: v for k, v in before.items() if k != "access_policies"} != \
            {k: v for k, v in now.items() if k != "access_policies"}:
        return None

    def by_principal(policies) -> dict[str, list]:
        out: dict[str, list] = {}
        for p in policies or []:
            out.setdefault(str(p.get("objectId", "")).lower(), []).append(p)
        return out

    was, now_ = by_principal(before.get("access_policies")), by_principal(now.get("access_policies"))
    return {oid for oid in was.keys() | now_.keys() if was.get(oid) != now_.get(oid)}


class VmsBackend(EngineCore):
    REACTIONS = {"reconcile": "_reconcile"}

    # ---- lookups -----------------------------------------------------------------------------

    def _find_vm(self, name_or_id: str, resource_group: str | None = None) -> VirtualMachine:
        return self._find_resource("vm", name_or_id, resource_group, "VM")

    def get_vm(self, name: str, resource_group: str | None = None) -> VirtualMachine:
        return self._find_vm(name, resource_group)

    def find_vm(self, name_or_id: str | None, resource_group: str | None = None) -> VirtualMachine | None:
        """The VM with this id (one look-up), or this name (in ``resource_group``), or None."""
        return self._lookup("vms", "vm", name_or_id, resource_group, "VM") if name_or_id else None

    def list_vms(self, resource_group: str | None = None, *, where: Callable[[VirtualMachine], bool] | None = None
                 ) -> list[VirtualMachine]:
        """The VMs (of ``resource_group``) by name; those ``where`` accepts. A resource group that does not exist
        is ARM's ``ResourceGroupNotFound`` (its list by resource group), not an empty list."""
        return self._list_in_group("vms", resource_group, where)

    def vm_disks(self, vm: VirtualMachine) -> list[Disk]:
        disks = self.t["disks"]
        return [r for d in vm.disk_ids() if (r := disks.get(d)) is not None]

    # ---- create ------------------------------------------------------------------------------

    @action
    def create_vm(self, name: str, resource_group: str, *, image: str = "Ubuntu2204", size: str = "Standard_DS3_v2",
                  location: str | None = None, os_disk_name: str | None = None,
                  os_disk_encryption_set: str | None = None, os_disk_size_gb: int | None = None,
                  data_disk_sizes_gb: list[int] | None = None, data_disk_encryption_sets: list[str] | None = None,
                  storage_sku: str | list[str] | None = None, ultra_ssd_enabled: bool = False,
                  encryption_at_host: bool = False, admin_username: str = "azureuser", tags: dict | None = None,
                  scale_set: str | None = None, zone: str | None = None,
                  data_disk_caching: str | None = None, props: dict | None = None) -> VirtualMachine:
        check_name("vm", name)
        if zone is not None and str(zone) not in ZONES:
            raise BadRequest(f"zone {zone!r} is not valid; allowed: {', '.join(ZONES)}", code="InvalidParameter")
        zone = str(zone) if zone is not None else None
        if not VM_SIZE_RE.match(size or ""):
            raise BadRequest(f"VM size {size!r} is not valid; use {VM_SIZE_HELP}", code="InvalidParameter")
        sizes = list(data_disk_sizes_gb or [])
        des_list = list(data_disk_encryption_sets or [])
        if des_list and len(des_list) not in (1, len(sizes)):
            raise BadRequest(f"--data-disk-encryption-sets has {len(des_list)} value(s) for {len(sizes)} data "
                             "disk(s); give one per data disk", code="InvalidParameter")
        os_sku, data_skus = _parse_storage_sku(storage_sku, len(sizes))
        if os_sku == "UltraSSD_LRS":
            raise BadRequest("an OS disk cannot be UltraSSD_LRS; ultra disks are data disks only", code="InvalidParameter")
        with self.transaction():
            group = self.get_group(resource_group)
            loc = check_region(location) if location else group.location
            if self._exists("vms", "vm", name, group.name):
                raise Conflict(f"VM {name!r} already exists in resource group {group.name!r}", code="Conflict")
            if "UltraSSD_LRS" in data_skus and not ultra_ssd_enabled:
                raise BadRequest("ultra disks need a VM with --ultra-ssd-enabled true (V1)", code="InvalidParameter")
            if zone is not None and loc not in ZONAL_REGIONS:
                raise BadRequest(f"VM {name!r}: region {loc} has no availability zones; omit --zone",
                                 code="InvalidParameter")
            if PREMIUM_V2 in data_skus:
                _check_no_host_caching(data_disk_caching)
            vm = VirtualMachine(id=arm_id(self.subscription_id, group.name, "vm", name), name=name,
                                resource_group=group.name, location=loc, size=size, image=image,
                                ultra_ssd_enabled=bool(ultra_ssd_enabled), encryption_at_host=bool(encryption_at_host),
                                vm_id=self.rng.guid(), admin_username=admin_username, created=self.now(),
                                scale_set=scale_set, tags=checked_tags(tags), power=PowerState.DEALLOCATED.value,
                                zone=zone, props=merge_props({}, copy.deepcopy(props)))
            self._add(vm)
            alias = image_alias(image)
            if image.startswith("/") or alias is None and self._image_exists(image, group.name):
                src = self._find("image", image, None if image.startswith("/") else group.name)
                os_type, os_size = src.os_type or "Linux", src.size_gb
                source = src.id
            elif alias is not None:
                os_type, os_size = IMAGE_ALIASES[alias][:2]
                source = None
            elif image.count(":") == 3 and all(image.split(":")):
                # a marketplace URN, publisher:offer:sku:version (az vm create --image's other form)
                os_type, os_size = ("Windows", 127) if "windows" in image.lower() else ("Linux", 30)
                source = None
            else:
                raise BadRequest(f"image {image!r} is not a marketplace alias this simulator knows nor a managed image;"
                                 f" aliases: {', '.join(IMAGE_ALIASES)}", code="InvalidParameter")
            vm.os_type = os_type
            os_name = os_disk_name or implicit_disk_name(name, "_OsDisk_1_", self.rng.hex(16))
            osd = self._create_resource("disk", os_name, group.name, size_gb=os_disk_size_gb or os_size, sku=os_sku,
                                        location=loc, encryption_type=None, des_arg=os_disk_encryption_set,
                                        source=source, os_type=os_type, tags=None, create_option="FromImage",
                                        zone=zone, hyper_v_generation=None if source else image_generation(image))
            if source is None:
                osd.image_reference = image
            vm.os_disk_id = osd.id
            for lun, gb in enumerate(sizes):
                des_arg = des_list[lun] if len(des_list) > 1 else (des_list[0] if des_list else None)
                dd = self._create_resource("disk", implicit_disk_name(name, f"_disk{lun + 2}_", self.rng.hex(16)),
                                           group.name, size_gb=gb,
                                           sku=data_skus[lun], location=loc, encryption_type=None, des_arg=des_arg,
                                           source=None, os_type=None, tags=None, zone=zone)
                vm.data_disks.append({"lun": lun, "diskId": dd.id})
            self._check_eah(vm)
            self._start(vm)
            self._emit(ev.VmCreated, f"VM {name} created ({size}, {len(sizes)} data disk(s)) and running", vm=vm.id)
            return vm

    def _image_exists(self, image: str, rg: str) -> bool:
        return any(i.name.lower() == image.lower() for i in self.t["images"].values())

    def _check_eah(self, vm: VirtualMachine) -> None:
        """V6: encryption at host needs a supporting size and region, no ultra disks (seed rule), no ADE."""
        if not vm.encryption_at_host:
            return
        sup = vm_family_supports_eah(vm.size)
        if not sup:
            raise BadRequest(f"VM size {vm.size} does not support encryption at host (seed 001's table); choose "
                             "e.g. Standard_DS3_v2, Standard_D4s_v3, Standard_E4s_v3", code="InvalidParameter")
        if vm.location not in self.rules.eah_regions:
            raise BadRequest(f"encryption at host is not offered in {vm.location}; regions: "
                             f"{', '.join(sorted(self.rules.eah_regions))} (V7)", code="InvalidParameter")
        if not self.rules.eah_with_ultra and (vm.ultra_ssd_enabled or any(d.is_ultra for d in self.vm_disks(vm))):
            raise BadRequest(f"VM {vm.name}: encryption at host does not support ultra disks (V6)",
                             code="InvalidParameter")
        if vm.ade_enabled:
            raise BadRequest(f"VM {vm.name}: encryption at host cannot be enabled with Azure Disk Encryption (V6)",
                             code="InvalidParameter")

    # ---- scale sets (V6) -------------------------------------------------------------------------

    @action
    def create_scale_set(self, name: str, resource_group: str, *, capacity: int = 2, size: str = "Standard_DS3_v2",
                         image: str = "Ubuntu2204", location: str | None = None,
                         os_disk_encryption_set: str | None = None, encryption_at_host: bool = False,
                         data_disk_sizes_gb: list[int] | None = None,
                         data_disk_encryption_sets: list[str] | None = None, upgrade_mode: str = "Manual",
                         orchestration_mode: str = "Flexible", admin_username: str = "azureuser",
                         tags: dict | None = None, props: dict | None = None,
                         os_disk_size_gb: int | None = None) -> ScaleSet:
        """A scale set and ``capacity`` instances made from its model (each a VM ``{name}-{n}``, as in Flexible
        orchestration), its OS and data disks encrypted with the model's sets. ``props``: plain ARM properties of the
        scale set (its JSON's paths), stored and shown only."""
        check_name("vmss", name)
        if not isinstance(capacity, int) or isinstance(capacity, bool) or not 0 <= capacity <= 100:
            raise BadRequest(f"capacity {capacity!r} is not valid; allowed: 0 to 100 instances", code="InvalidParameter")
        if os_disk_size_gb is not None and (not isinstance(os_disk_size_gb, int) or isinstance(os_disk_size_gb, bool)
                                            or not 1 <= os_disk_size_gb <= 4095):
            raise BadRequest(f"OS disk size {os_disk_size_gb!r} GB is not valid; allowed: 1 to 4095",
                             code="InvalidParameter")
        upgrade_mode = _choice(upgrade_mode or "Manual", UPGRADE_MODES, "upgrade policy mode")
        orchestration_mode = _choice(orchestration_mode or "Flexible", ORCHESTRATION_MODES, "orchestration mode")
        sizes = list(data_disk_sizes_gb or [])
        des_list = list(data_disk_encryption_sets or [])
        if des_list and len(des_list) not in (1, len(sizes)):
            raise BadRequest(f"--data-disk-encryption-sets has {len(des_list)} value(s) for {len(sizes)} data "
                             "disk(s); give one per data disk", code="InvalidParameter")
        with self.transaction():
            group = self.get_group(resource_group)
            loc = check_region(location) if location else group.location
            if self._exists("scalesets", "vmss", name, group.name):
                raise Conflict(f"scale set {name!r} already exists in resource group {group.name!r}", code="Conflict")
            os_des = self._find_des(os_disk_encryption_set, group.name).id if os_disk_encryption_set else None
            data_des = [self._find_des(d, group.name).id for d in des_list]
            ss = ScaleSet(id=arm_id(self.subscription_id, group.name, "vmss", name), name=name,
                          resource_group=group.name, location=loc, size=size, image=image,
                          os_disk_encryption_set=os_des, encryption_at_host=bool(encryption_at_host),
                          os_disk_size_gb=os_disk_size_gb, created=self.now(), data_disk_sizes_gb=sizes, data_disk_encryption_sets=data_des,
                          upgrade_mode=upgrade_mode, orchestration_mode=orchestration_mode,
                          admin_username=admin_username, unique_id=self.rng.guid(), tags=checked_tags(tags),
                          props=merge_props({}, copy.deepcopy(props)))
            self._add(ss)
            for _ in range(capacity):
                self._new_instance(ss)
            self._emit(ev.VmCreated, f"scale set {name} created with {capacity} instance(s)", vm=ss.id)
            return ss

    def _new_instance(self, ss: ScaleSet) -> VirtualMachine:
        self._touch(ss)
        n = ss.next_instance
        ss.next_instance += 1
        return self.create_vm(f"{ss.name}-{n}", ss.resource_group, image=ss.image, size=ss.size, location=ss.location,
                              os_disk_name=f"{ss.name}-{n}-os", os_disk_encryption_set=ss.os_disk_encryption_set,
                              os_disk_size_gb=ss.os_disk_size_gb,
                              data_disk_sizes_gb=list(ss.data_disk_sizes_gb) or None,
                              data_disk_encryption_sets=list(ss.data_disk_encryption_sets) or None,
                              encryption_at_host=ss.encryption_at_host, scale_set=ss.name,
                              admin_username=ss.admin_username)

    def get_scale_set(self, name: str, resource_group: str | None = None) -> ScaleSet:
        for s in self.t["scalesets"].values():
            if s.name.lower() == name.lower() and (resource_group is None
                                                   or s.resource_group.lower() == resource_group.lower()):
                return s  # type: ignore[return-value]
        raise NotFound(f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{name}' under resource group "
                       f"'{resource_group or '?'}' was not found.", code="ResourceNotFound")

    def list_scale_sets(self, resource_group: str | None = None) -> list[ScaleSet]:
        """The scale sets (of ``resource_group``) by name; a resource group that does not exist is ARM's
        ``ResourceGroupNotFound`` (its list by resource group), not an empty list."""
        return self._list_in_group("scalesets", resource_group)

    def scale_set_instances(self, ss: ScaleSet) -> list[VirtualMachine]:
        """The instances, in instance-id order."""
        vms = [v for v in self.t["vms"].values() if v.scale_set == ss.name and v.resource_group == ss.resource_group]
        return sorted(vms, key=lambda v: _instance_id(ss, v))

    def instance_on_latest_model(self, ss: ScaleSet, vm: VirtualMachine) -> bool:
        """Derived, never stored: the instance has the model's encryption at host and disk encryption sets."""
        if vm.encryption_at_host != ss.encryption_at_host:
            return False
        osd = self.t["disks"].get(vm.os_disk_id)
        if osd is not None and osd.des_id != ss.os_disk_encryption_set and ss.os_disk_encryption_set is not None:
            return False
        for entry in vm.data_disks:
            want = ss.data_disk_set(entry["lun"])
            d = self.t["disks"].get(entry["diskId"])
            if want is not None and d is not None and d.des_id != want:
                return False
        return True

    @action
    def update_scale_set(self, name: str, resource_group: str | None = None, *,
                         encryption_at_host: bool | None = None, os_disk_encryption_set: str | None = None,
                         data_disk_encryption_sets: list[str] | None = None,
                         upgrade_mode: str | None = None, tags: dict | None = None,
                         props: dict | None = None) -> ScaleSet:
        """Change the model: instances created afterwards follow it; existing ones keep what they have until
        ``upgrade_scale_set_instances`` applies it (seed 001, V6). ``props``: plain ARM properties merged into the
        scale set's (a null removes one); stored and shown only."""
        with self.transaction():
            ss = self.get_scale_set(name, resource_group)
            self._touch(ss)
            if encryption_at_host is not None:
                if encryption_at_host and not vm_family_supports_eah(ss.size):
                    raise BadRequest(f"VM size {ss.size} does not support encryption at host (seed 001's table)",
                                     code="InvalidParameter")
                ss.encryption_at_host = bool(encryption_at_host)
            if os_disk_encryption_set is not None:
                ss.os_disk_encryption_set = self._find_des(os_disk_encryption_set, ss.resource_group).id
            if data_disk_encryption_sets is not None:
                ss.data_disk_encryption_sets = [self._find_des(d, ss.resource_group).id
                                                for d in data_disk_encryption_sets]
            if upgrade_mode is not None:
                ss.upgrade_mode = _choice(upgrade_mode, UPGRADE_MODES, "upgrade policy mode")
            if tags is not None:
                ss.tags = checked_tags(tags)
            if props:
                ss.props = merge_props(copy.deepcopy(ss.props), copy.deepcopy(props))
            self._emit(ev.VmUpdated, f"scale set {ss.name}: model updated (encryption at host "
                       f"{'on' if ss.encryption_at_host else 'off'}); instances created from now on follow it",
                       vm=ss.id)
            return ss

    @action
    def scale_scale_set(self, name: str, capacity: int, resource_group: str | None = None) -> ScaleSet:
        """Grow to ``capacity`` instances (new ones follow the current model)."""
        with self.transaction():
            ss = self.get_scale_set(name, resource_group)
            have = self.scale_set_instances(ss)
            if not isinstance(capacity, int) or capacity < len(have) or capacity > 100:
                raise BadRequest(f"capacity {capacity!r} is not valid; allowed: {len(have)} to 100 (this simulator "
                                 "only scales out)", code="InvalidParameter")
            for _ in range(capacity - len(have)):
                self._new_instance(ss)
            return ss

    def _instances(self, ss: ScaleSet, instance_ids: list[str] | None) -> list[VirtualMachine]:
        every = self.scale_set_instances(ss)
        if not instance_ids or instance_ids == ["*"]:
            return every
        by_id = {_instance_id(ss, v): v for v in every}
        out = []
        for iid in instance_ids:
            vm = by_id.get(str(iid))
            if vm is None:
                raise NotFound(f"instance {iid!r} is not in scale set {ss.name!r}; its instance ids: "
                               f"{', '.join(sorted(by_id)) or 'none'}", code="ResourceNotFound")
            out.append(vm)
        return out

    @action
    def upgrade_scale_set_instances(self, name: str, resource_group: str | None = None, *,
                                    instance_ids: list[str] | None = None) -> ScaleSet:
        """``az vmss update-instances``: bring instances to the latest model. A disk's set changes only while the
        instance is deallocated (K5), and so does encryption at host (V6): a running instance is refused, and
        nothing changes."""
        with self.transaction():
            ss = self.get_scale_set(name, resource_group)
            for vm in self._instances(ss, instance_ids):
                if self.instance_on_latest_model(ss, vm):
                    continue
                if vm.power != PowerState.DEALLOCATED.value:
                    raise OperationNotAllowed(
                        f"instance {_instance_id(ss, vm)} ({vm.name}) of scale set {ss.name} is {vm.power}; the "
                        "model changes encryption at host or a disk's encryption set, which an instance takes only "
                        f"while deallocated: az vmss deallocate -g {ss.resource_group} -n {ss.name} --instance-ids "
                        f"{_instance_id(ss, vm)} (V6, K5)", code="OperationNotAllowed")
                if vm.encryption_at_host != ss.encryption_at_host:
                    self.update_vm(vm.name, vm.resource_group, encryption_at_host=ss.encryption_at_host)
                osd = self.t["disks"].get(vm.os_disk_id)
                if osd is not None and ss.os_disk_encryption_set and osd.des_id != ss.os_disk_encryption_set:
                    self._set_disk_des(osd, ss.os_disk_encryption_set)
                for entry in vm.data_disks:
                    want = ss.data_disk_set(entry["lun"])
                    d = self.t["disks"].get(entry["diskId"])
                    if want is not None and d is not None and d.des_id != want:
                        self._set_disk_des(d, want)
            self._emit(ev.VmUpdated, f"scale set {ss.name}: instances brought to the latest model", vm=ss.id)
            return ss

    def _set_disk_des(self, d: Disk, des_id: str) -> None:
        des = self.t["des"].get(des_id)
        if des is None:
            raise NotFound(f"disk encryption set {des_id} of the model no longer exists", code="ResourceNotFound")
        self.update_disk(d.name, d.resource_group, disk_encryption_set=des.id, encryption_type=des.encryption_type)

    @action
    def scale_set_power(self, name: str, action: str, resource_group: str | None = None, *,
                        instance_ids: list[str] | None = None) -> ScaleSet:
        """``az vmss start|stop|deallocate|restart``: the action on every instance, or those named."""
        method = {"start": self.start_vm, "stop": self.stop_vm, "deallocate": self.deallocate_vm,
                  "restart": self.restart_vm}.get(action)
        if method is None:
            raise BadRequest(f"power action {action!r} is not valid; allowed: start, stop, deallocate, restart",
                             code="InvalidParameter")
        with self.transaction():
            ss = self.get_scale_set(name, resource_group)
            for vm in self._instances(ss, instance_ids):
                method(vm.name, vm.resource_group)
            return ss

    @action
    def delete_scale_set(self, name: str, resource_group: str | None = None) -> None:
        """The scale set, its instances and their disks (a scale set's disks go with it)."""
        with self.transaction():
            ss = self.get_scale_set(name, resource_group)
            for vm in self.scale_set_instances(ss):
                disk_ids = vm.disk_ids()
                self.delete_vm(vm.name, vm.resource_group)
                for did in disk_ids:
                    d = self.t["disks"].get(did)
                    if d is not None:
                        self.delete_disk(d.name, d.resource_group)
            self._remove(ss)
            self._emit(ev.VmDeleted, f"scale set {ss.name} deleted with its instances and their disks", vm=ss.id)

    def temp_disk(self, vm: VirtualMachine) -> dict:
        """K9: the temporary disk is not a managed disk; SSE does not encrypt it; encryption at host does
        (with platform-managed keys, V6)."""
        return {"managed": False, "serverSideEncrypted": False, "encryptedAtHost": vm.encryption_at_host,
                "keyType": "platform" if vm.encryption_at_host else None}

    # ---- power (V2) ---------------------------------------------------------------------------

    def _check_transition(self, vm: VirtualMachine, verb: str) -> None:
        allowed, _ = POWER_TRANSITIONS[verb]
        if PowerState(vm.power) not in allowed:
            raise Conflict(f"Operation '{verb}' is not allowed on VM '{vm.name}' since the VM is {vm.power}.",
                           code="OperationNotAllowed")

    @action
    def start_vm(self, name: str, resource_group: str | None = None) -> VirtualMachine:
        with self.transaction():
            vm = self._find_vm(name, resource_group)
            self._check_transition(vm, "start")
            if vm.power == PowerState.RUNNING.value:
                return vm
            self._start(vm)
            self._emit(ev.VmPowerChanged, f"VM {vm.name} started", vm=vm.id, power="running")
            return vm

    def _start(self, vm: VirtualMachine) -> None:
        """Open every disk's data keys at the vault; an allocated ultra VM may use its host's keys (V4)."""
        self._touch(vm)
        allocated = vm.power != PowerState.DEALLOCATED.value
        for d in self.vm_disks(vm):
            self._touch(d)
            use_host = allocated and d.is_ultra and self.rules.ultra_keeps_running and d.cache is not None
            if use_host:
                continue
            try:
                keys = self._open(d, label=f"VM {vm.name}: disk {d.name}")
            except EngineError as err:
                self._emit_refusal(ev.VmStartRefused, f"VM {vm.name} cannot start: {err.message}", vm=vm.id)
                raise
            self._seal_cache(d, keys)
        vm.power = PowerState.RUNNING.value
        vm.status = None
        # an allocated ultra VM may have started on its host's keys while its key is unusable: let the
        # cascade put back the status that says so (it must not start again after deallocation, V4)
        self.uow.reconcile = True

    @action
    def stop_vm(self, name: str, resource_group: str | None = None) -> VirtualMachine:
        return self._power(name, resource_group, "stop")

    @action
    def deallocate_vm(self, name: str, resource_group: str | None = None) -> VirtualMachine:
        return self._power(name, resource_group, "deallocate")

    @action
    def restart_vm(self, name: str, resource_group: str | None = None) -> VirtualMachine:
        with self.transaction():
            vm = self._find_vm(name, resource_group)
            self._check_transition(vm, "restart")
            self._touch(vm)
            vm.power = PowerState.STOPPED.value
            self._start(vm)
            self._emit(ev.VmPowerChanged, f"VM {vm.name} restarted", vm=vm.id, power="running")
            return vm

    def _power(self, name: str, resource_group: str | None, verb: str) -> VirtualMachine:
        with self.transaction():
            vm = self._find_vm(name, resource_group)
            self._check_transition(vm, verb)
            _, target = POWER_TRANSITIONS[verb]
            self._touch(vm)
            vm.power = target.value
            if verb == "stop" and vm.status and vm.status.get("code") == "RunningOnHostKeys":
                vm.status = dict(vm.status, code="UltraKeyUnusable")
            if verb == "deallocate" and vm.status and vm.status.get("code") in ("RunningOnHostKeys", "UltraKeyUnusable"):
                why = vm.status["message"].removeprefix("running on host-cached keys: ").replace(
                    "; will not start after deallocation", "")
                vm.status = dict(vm.status, code="UltraKeyUnusable",
                                 message=f"cannot start: {why}; deallocation dropped the host-cached keys it ran on")
            self._emit(ev.VmPowerChanged, f"VM {vm.name} {target.value}", vm=vm.id, power=target.value)
            if verb == "deallocate" and vm.status and vm.status["message"].endswith("the host-cached keys it ran on"):
                self._emit(ev.VmCannotStartByKey, f"VM {vm.name} {vm.status['message'].split(' at ')[0]}; deallocation "
                           "dropped the host-cached keys it ran on", vm=vm.id, kid=vm.status.get("kid"))
            return vm

    @action
    def delete_vm(self, name: str, resource_group: str | None = None) -> None:
        """Delete the VM; its disks stay (detached), as az does by default."""
        with self.transaction():
            vm = self._find_vm(name, resource_group)
            self._remove(vm)
            self._emit(ev.VmDeleted, f"VM {vm.name} deleted; its disks are kept, unattached", vm=vm.id)

    @action
    def update_vm(self, name: str, resource_group: str | None = None, *, encryption_at_host: bool | None = None,
                  size: str | None = None, ultra_ssd_enabled: bool | None = None,
                  props: dict | None = None, tags: dict | None = None) -> VirtualMachine:
        """``props``: plain ARM properties merged into the VM's (a null removes one); stored and shown only.
        ``tags`` replace the VM's."""
        with self.transaction():
            vm = self._find_vm(name, resource_group)
            self._touch(vm)
            if tags is not None:
                vm.tags = checked_tags(tags)
            if props:
                vm.props = merge_props(copy.deepcopy(vm.props), copy.deepcopy(props))
            if encryption_at_host is not None and bool(encryption_at_host) != vm.encryption_at_host:
                if vm.power != PowerState.DEALLOCATED.value:
                    raise OperationNotAllowed(f"VM {vm.name} must be deallocated to change encryption at host (V6)",
                                              code="OperationNotAllowed")
                vm.encryption_at_host = bool(encryption_at_host)
            if encryption_at_host is not None:
                vm.encryption_at_host_set = True
            if size is not None and size != vm.size:
                if not VM_SIZE_RE.match(size):
                    raise BadRequest(f"VM size {size!r} is not valid; use {VM_SIZE_HELP}", code="InvalidParameter")
                vm.size = size
            if ultra_ssd_enabled is not None and bool(ultra_ssd_enabled) != vm.ultra_ssd_enabled:
                if vm.power != PowerState.DEALLOCATED.value:
                    raise OperationNotAllowed(f"VM {vm.name} must be deallocated to change ultraSSDEnabled",
                                              code="OperationNotAllowed")
                if not ultra_ssd_enabled and any(d.is_ultra for d in self.vm_disks(vm)):
                    raise OperationNotAllowed(f"VM {vm.name} has ultra disks attached", code="OperationNotAllowed")
                vm.ultra_ssd_enabled = bool(ultra_ssd_enabled)
            self._check_eah(vm)
            self._emit(ev.VmUpdated, f"VM {vm.name} updated", vm=vm.id)
            return vm

    @action
    def enable_disk_encryption_ade(self, name: str, resource_group: str | None = None, *,
                                   disk_encryption_keyvault: str | None = None) -> VirtualMachine:
        """Azure Disk Encryption (in-guest): excluded with customer keys (K8) and encryption at host (V6).
        ``disk_encryption_keyvault`` (a vault's name or ARM id, as ``az vm encryption enable`` takes it): the vault
        the guest's keys would go to; it must exist, in the VM's subscription and region (no key is modelled in it)."""
        with self.transaction():
            vm = self._find_vm(name, resource_group)
            if disk_encryption_keyvault is not None:
                self._ade_vault(vm, disk_encryption_keyvault)
            if vm.encryption_at_host:
                raise OperationNotAllowed(f"VM {vm.name} has encryption at host; Azure Disk Encryption cannot be "
                                          "enabled on it (V6)", code="OperationNotAllowed")
            cmk = [d.name for d in self.vm_disks(vm) if d.encryption_type != ENC_PLATFORM]
            if cmk:
                raise OperationNotAllowed(f"disks {', '.join(cmk)} use customer-managed keys; Azure Disk Encryption "
                                          "cannot also be enabled (K8)", code="OperationNotAllowed")
            self._touch(vm)
            vm.ade_enabled = True
            for d in self.vm_disks(vm):
                self._touch(d)
                d.ade_enabled = True
            self._emit(ev.VmUpdated, f"Azure Disk Encryption enabled on VM {vm.name}", vm=vm.id)
            return vm

    def _ade_vault(self, vm: VirtualMachine, vault: str):
        ref = parse_arm_id(vault) if vault.startswith("/") else None
        if ref is not None and ref.subscription.lower() != self.subscription_id.lower():
            raise BadRequest(f"key vault {vault!r} is in subscription {ref.subscription}; Azure Disk Encryption needs "
                             f"the vault in the VM's subscription {self.subscription_id}", code="InvalidParameter")
        v = self.get_vault(ref.name if ref else vault)
        if v.location.lower() != vm.location.lower():
            raise BadRequest(f"key vault {v.name} is in {v.location} and VM {vm.name} in {vm.location}; Azure Disk "
                             "Encryption needs the vault in the VM's region", code="InvalidParameter")
        return v

    # ---- attach / detach (V1) --------------------------------------------------------------------

    @action
    def attach_disk(self, vm_name: str, disk: str, resource_group: str | None = None, *, lun: int | None = None,
                    new: bool = False, size_gb: int | None = None, sku: str | None = None,
                    disk_encryption_set: str | None = None, caching: str | None = None) -> VirtualMachine:
        with self.transaction():
            vm = self._find_vm(vm_name, resource_group)
            if new:
                d = self._create_resource("disk", disk, vm.resource_group, size_gb=size_gb or 32,
                                          sku=sku or "Premium_LRS", location=vm.location, encryption_type=None,
                                          des_arg=disk_encryption_set, source=None, os_type=None, tags=None,
                                          zone=vm.zone)
            else:
                d = self._find("disk", disk, resource_group or vm.resource_group)
            if d.sku == PREMIUM_V2:
                _check_no_host_caching(caching)
            if d.zone != vm.zone and (d.zone is not None or d.sku == PREMIUM_V2 and vm.location in ZONAL_REGIONS):
                where = f"zone {vm.zone}" if vm.zone else "no zone (a regional VM)"
                raise BadRequest(f"disk {d.name!r} is in zone {d.zone}; VM {vm.name!r} has {where}: a zonal disk "
                                 "attaches to a VM in its zone (K9)", code="InvalidParameter")
            owner = self.vm_of_disk(d.id)
            if owner is not None:
                raise Conflict(f"disk {d.name!r} is already attached to VM {owner.name!r}", code="OperationNotAllowed")
            if d.location != vm.location:
                raise BadRequest(f"disk {d.name!r} is in {d.location}, VM {vm.name!r} in {vm.location}",
                                 code="InvalidParameter")
            if d.is_ultra and not vm.ultra_ssd_enabled:
                raise BadRequest(f"disk {d.name!r} is an ultra disk; VM {vm.name!r} needs ultraSSDEnabled (V1)",
                                 code="InvalidParameter")
            if d.is_ultra and vm.encryption_at_host and not self.rules.eah_with_ultra:
                raise BadRequest(f"VM {vm.name!r} has encryption at host, which does not support ultra disks (V6)",
                                 code="InvalidParameter")
            used = {x["lun"] for x in vm.data_disks}
            if lun is None:
                lun = next(i for i in range(MAX_DATA_DISKS + 1) if i not in used)
            problem = lun_problem(lun)
            if problem:
                raise BadRequest(problem, code="InvalidParameter")
            problem = lun_used_problem(lun, used, vm.name)
            if problem:
                raise Conflict(problem, code="InvalidParameter")
            self._touch(vm)
            if vm.power == PowerState.RUNNING.value:
                self._touch(d)
                self._seal_cache(d, self._open(d, label=f"VM {vm.name}: disk {d.name}"))
            vm.data_disks.append({"lun": lun, "diskId": d.id})
            vm.data_disks.sort(key=lambda x: x["lun"])
            self._emit(ev.DiskAttached, f"disk {d.name} attached to VM {vm.name} at LUN {lun}", disk=d.id, vm=vm.id)
            return vm

    @action
    def detach_disk(self, vm_name: str, disk: str, resource_group: str | None = None) -> VirtualMachine:
        with self.transaction():
            vm = self._find_vm(vm_name, resource_group)
            # as az does: the name of one of the VM's data disks, whatever group the disk is in
            d = next((x for x in self.vm_disks(vm) if x.name.lower() == disk.lower() and x.id != vm.os_disk_id),
                     None) or self._find("disk", disk, resource_group or vm.resource_group)
            if d.id == vm.os_disk_id:
                raise OperationNotAllowed(f"disk {d.name!r} is the OS disk of VM {vm.name!r}; it cannot be detached",
                                          code="OperationNotAllowed")
            if not any(x["diskId"] == d.id for x in vm.data_disks):
                raise NotFound(f"disk {d.name!r} is not attached to VM {vm.name!r}", code="ResourceNotFound")
            self._touch(vm)
            vm.data_disks = [x for x in vm.data_disks if x["diskId"] != d.id]
            self.uow.reconcile = True
            self._emit(ev.DiskDetached, f"disk {d.name} detached from VM {vm.name}", disk=d.id, vm=vm.id)
            return vm

    # ---- the data plane ---------------------------------------------------------------------------

    def _io_disk(self, vm_name: str, resource_group: str | None, lun: int | str) -> tuple[VirtualMachine, Disk, list]:
        vm = self._find_vm(vm_name, resource_group)
        if vm.power != PowerState.RUNNING.value:
            raise Conflict(f"VM {vm.name!r} is {vm.power}; start it to read or write its disks"
                           + (f" ({vm.status['message']})" if vm.status else ""), code="OperationNotAllowed")
        if str(lun).lower() == "os":
            disk_id = vm.os_disk_id
        else:
            try:
                n = int(lun)
            except (TypeError, ValueError):
                raise BadRequest(f"LUN {lun!r} is not valid; give 'os' or a data disk LUN", code="InvalidParameter") \
                    from None
            disk_id = next((x["diskId"] for x in vm.data_disks if x["lun"] == n), None)
            if disk_id is None:
                luns = ", ".join(str(x["lun"]) for x in vm.data_disks) or "none"
                raise NotFound(f"VM {vm.name!r} has no data disk at LUN {n}; its LUNs: {luns} (and 'os')",
                               code="ResourceNotFound")
        d = self.t["disks"][disk_id]
        keys = self._cached_keys(d)
        if keys is None:
            raise compute_error(self.resource_problem(d) or EngineError("data keys unavailable"), f"disk {d.name}")
        return vm, d, keys

    def _check_range(self, d: Disk, offset: int, length: int) -> None:
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise BadRequest(f"offset {offset!r} is not valid; give a byte offset from 0 to {d.size_bytes - 1}",
                             code="InvalidParameter")
        if not isinstance(length, int) or length <= 0 or length > MAX_IO:
            raise BadRequest(f"length {length!r} is not valid; give 1 to {MAX_IO} bytes", code="InvalidParameter")
        if offset + length > d.size_bytes:
            raise BadRequest(f"{length} bytes at offset {offset} run past the end of disk {d.name!r} "
                             f"({d.size_bytes} bytes, {d.size_gb} GB)", code="InvalidParameter")

    @action(previewable=False)
    def vm_write(self, vm_name: str, lun: int | str, offset: int, data: bytes,
                 resource_group: str | None = None) -> int:
        """Write bytes as the guest would; durable when it returns. Changes no resource state."""
        refuse_if_read_only(self.store, f"a write to VM {vm_name}'s disk")
        with self._lock:
            self.refresh_if_changed()
            vm, d, keys = self._io_disk(vm_name, resource_group, lun)
            self._check_range(d, offset, len(data))
            self._write_data(d, keys, offset, bytes(data))
            return len(data)

    def vm_read(self, vm_name: str, lun: int | str, offset: int, length: int,
                resource_group: str | None = None) -> bytes:
        with self._lock:
            self.refresh_if_changed()
            vm, d, keys = self._io_disk(vm_name, resource_group, lun)
            self._check_range(d, offset, length)
            return self._read_data(d, keys, offset, length)

    def read_resource(self, kind: str, name: str, offset: int, length: int, resource_group: str | None = None) -> bytes:
        """Read a disk, snapshot or image through the vault (no VM): how a copy or export would."""
        r = self._find(kind, name, resource_group)
        self._check_range(r, offset, length)
        with self.transaction():
            keys = self._open(r)
        return self._read_data(r, keys, offset, length)

    # ---- the cascade (V3-V5) ----------------------------------------------------------------------

    def _affected_vms(self) -> list[VirtualMachine]:
        """The VMs whose disks' keys the current action may have made usable or unusable (see _affected)."""
        scope = self._affected()
        if scope is None:
            return sorted(self.t["vms"].values(), key=lambda v: v.key)
        return [vm for _, vm in sorted(scope[0].items())]

    def _affected(self) -> tuple[dict, dict] | None:
        """What the current action may have made usable or unusable: ``({vm key: VM}, {(table, key): disk,
        snapshot or image})``: what it touched, the VMs using disks it touched, and the members (and their
        VMs) of every set whose key, vault, access or identity it touched, found through the indexes: the
        cost is the cascade, not the estate. None (everything) when the clock moved (expiry and jobs), when
        role assignments changed (their scopes reach whole groups) or while a state from before the indexes
        has not been written."""
        touched = self.uow.before
        hint = self._affected_hint
        if hint is not None and hint[0] == touched.keys():
            return hint[1]  # a what-if's second run of the same action: the same answer
        meta_before = touched.get(("engine", "engine")) or {}
        if (self.meta.indexes < INDEX_VERSION or meta_before.get("clock") != iso(self.clock.now())
                or any(t in ("roles", "platform_keys", "groups") for t, _ in touched)):
            return None
        keys = {k for t, k in touched if t == "keys"}
        vaults = {k for t, k in touched if t == "vaults"}
        vms: dict[str, VirtualMachine] = {}
        resources: dict[tuple[str, str], Disk] = {}

        found: list = []  # (each resource once: a re-key's disks are touched and members of the set)
        for t, k in list(touched):
            if t == "vms":
                vm = self.t["vms"].get(k)
                if vm is not None:
                    vms[vm.key] = vm
                    for disk_id in vm.disk_ids():
                        d = self.t["disks"].get(disk_id)
                        if d is not None:
                            resources[("disks", d.key)] = d
            elif t in DATA_TABLES:
                r = self.t[t].get(k)
                if r is not None and (t, k) not in resources:
                    resources[(t, k)] = r
                    found.append(r)
        # a vault whose access policies alone changed reaches only the sets whose identity's entry changed (a set's
        # key is used by its identity: D2): revoking one set's access on a vault of two sets of 5,000 and 25,000
        # disks checked all 30,000 and their VMs
        principals = {v: _policy_principals_changed(touched[("vaults", v)], self.t["vaults"].get(v)) for v in vaults}
        for des in self.t["des"].values():  # sets are few (a quota per region); their members are not
            ref = parse_key_url(des.key_url)
            vault = ref.vault.lower()
            if (("des", des.key) in touched or key_id(ref.vault, ref.name).lower() in keys
                    or (vault in vaults and (principals[vault] is None
                                             or (des.principal_id or "").lower() in principals[vault]))):
                for r in self.des_resources(des):
                    where = (r.table, r.key)
                    if where not in resources:
                        resources[where] = r
                        found.append(r)
        # the VMs of what was found, and their disks (the checks read every disk of a VM), read together
        index = self.t["vm_of_disk"]
        index.prefetch([r.id for r in found])  # type: ignore[attr-defined]
        attached = [e.vm for r in found if (e := index.get(r.id)) is not None]  # (vm_of_disk, each entry once)
        table = self.t["vms"]
        table.prefetch(attached)  # type: ignore[attr-defined]
        for vm_id in attached:
            vm = table.get(vm_id)
            if vm is not None:
                vms[vm.key] = vm
        self.t["disks"].prefetch([d for vm in vms.values() for d in vm.disk_ids()])  # type: ignore[attr-defined]
        return vms, resources

    def _reconcile(self) -> None:
        with self._key_problems_fixed():  # it changes VMs only: each key's usability is asked once
            self._reconcile_vms()

    def _reconcile_vms(self) -> None:
        now = self.now()
        for vm in self._affected_vms():
            disks = self.vm_disks(vm)
            bad: list[tuple[Disk, EngineError]] = []
            for d in disks:
                if d.encryption_type == ENC_PLATFORM:
                    continue
                problem = self.resource_problem(d)
                if problem is not None:
                    bad.append((d, problem))
            if not bad:
                if vm.status and vm.status.get("code") in ("KeyUnusable", "RunningOnHostKeys", "UltraKeyUnusable"):
                    self._touch(vm)
                    kid_was = vm.status.get("kid")
                    vm.status = {"code": "KeyUsableAgain", "at": now, "kid": kid_was,
                                 "message": f"startable again: the key is usable since {now}"
                                 if vm.power != PowerState.RUNNING.value else f"key usable again since {now}"}
                    if vm.power == PowerState.RUNNING.value:
                        vm.status = None
                        self._emit(ev.VmKeyUsableAgain, f"VM {vm.name}: key usable again; it no longer runs on "
                                   "host-cached keys", vm=vm.id, kid=kid_was)
                    else:
                        self._emit(ev.VmKeyUsableAgain, f"VM {vm.name} can be started again: its keys are usable",
                                   vm=vm.id, kid=kid_was)
                continue
            d0, p0 = bad[0]
            kid = next((x["kid"] for x in d0.layers if not x["kid"].startswith("platform:")), None)
            what = _problem_words(p0)
            keep_running = self.rules.ultra_keeps_running and all(d.is_ultra for d, _ in bad)
            if vm.power == PowerState.RUNNING.value and not keep_running:
                self._touch(vm)
                vm.power = PowerState.STOPPED.value
                vm.status = {"code": "KeyUnusable", "at": now, "kid": kid, "disk": d0.name,
                             "message": f"stopped: key {kid} {what} at {now} (disk {d0.name})"}
                self._emit(ev.VmShutDownByKey, f"VM {vm.name} shut down: key {kid} {what} (disk {d0.name})",
                           vm=vm.id, kid=kid)
            elif vm.power == PowerState.RUNNING.value:
                if not (vm.status and vm.status.get("code") == "RunningOnHostKeys" and vm.status.get("kid") == kid):
                    self._touch(vm)
                    vm.status = {"code": "RunningOnHostKeys", "at": now, "kid": kid, "disk": d0.name,
                                 "message": f"running on host-cached keys: key {kid} {what} at {now}; "
                                            "will not start after deallocation"}
                    self._emit(ev.VmRunningOnHostKeys, f"VM {vm.name} keeps running on host-cached keys: key {kid} "
                               f"{what} (disk {d0.name}); it will not start after deallocation", vm=vm.id, kid=kid)
            else:
                if not (vm.status and vm.status.get("kid") == kid and vm.status.get("code") in
                        ("KeyUnusable", "UltraKeyUnusable")):
                    self._touch(vm)
                    vm.status = {"code": "KeyUnusable", "at": now, "kid": kid, "disk": d0.name,
                                 "message": f"cannot start: key {kid} {what} at {now} (disk {d0.name})"}
                    self._emit(ev.VmCannotStartByKey, f"VM {vm.name} cannot start: key {kid} {what} "
                               f"(disk {d0.name})", vm=vm.id, kid=kid)

    def start_blocker(self, vm: VirtualMachine) -> str | None:
        """Why the VM could not start from deallocation, in a few words (``key kv/k disabled``); None if it could."""
        for d in self.vm_disks(vm):
            if d.encryption_type == ENC_PLATFORM:
                continue
            problem = self.resource_problem(d)
            if problem is not None:
                kid = next((x["kid"] for x in d.layers if not x["kid"].startswith("platform:")), "")
                return f"key {short_key_url(kid, version=False) or kid} {_problem_words(problem)}"
        return None

    def startable(self, vm: VirtualMachine, *, after_deallocation: bool = False) -> EngineError | None:
        """Why the VM could not start now (None if it could): the check ``start`` makes, without doing it."""
        allocated = vm.power != PowerState.DEALLOCATED.value and not after_deallocation
        for d in self.vm_disks(vm):
            if d.encryption_type == ENC_PLATFORM:
                continue
            if allocated and d.is_ultra and self.rules.ultra_keeps_running and d.cache is not None:
                continue
            problem = self.resource_problem(d)
            if problem is not None:
                des = self.t["des"].get(d.des_id) if d.des_id else None
                return compute_error(problem, f"VM {vm.name}: disk {d.name}", des)
        return None


def _problem_words(p: EngineError) -> str:
    return {"KeyDisabled": "disabled", "KeyNotYetValid": "not yet valid", "KeyExpired": "expired",
            "ForbiddenByPolicy": "access revoked", "ForbiddenByRbac": "access revoked", "KeyDeleted": "deleted",
            "KeyPurged": "purged", "KeyNotFound": "not found", "VaultNotFound": "vault deleted"}.get(
        p.inner_code or "", "unusable")


UPGRADE_MODES = ("Automatic", "Manual", "Rolling")
ORCHESTRATION_MODES = ("Flexible", "Uniform")


def _instance_id(ss: ScaleSet, vm: VirtualMachine) -> str:
    """An instance's id: the number its name ends with (``web-3`` is instance 3)."""
    return vm.name[len(ss.name) + 1:]


def _check_no_host_caching(caching: str | None) -> None:
    if caching not in (None, "None"):
        raise BadRequest(f"host caching {caching} is not supported by {PREMIUM_V2} disks; use caching None (K9)",
                         code="InvalidParameter")


def _parse_storage_sku(value: str | list[str] | None, n_data: int) -> tuple[str, list[str]]:
    """``--storage-sku``: one SKU for all disks, or ``os=SKU`` / ``LUN=SKU`` entries, as az takes it."""
    items = value if isinstance(value, list) else ([value] if value else [])
    os_sku, default = "Premium_LRS", None
    per_lun: dict[int, str] = {}
    for item in items:
        if "=" in item:
            k, v = item.split("=", 1)
            sku = _choice(v, DISK_SKUS, "storage sku")
            if k.lower() == "os":
                os_sku = sku
            else:
                try:
                    per_lun[int(k)] = sku
                except ValueError:
                    raise BadRequest(f"storage sku entry {item!r}: give os=SKU or LUN=SKU", code="InvalidParameter") \
                        from None
        else:
            default = _choice(item, DISK_SKUS, "storage sku")
    if default and not any("=" in i and i.lower().startswith("os=") for i in items):
        os_sku = default if default != "UltraSSD_LRS" else "Premium_LRS"
    data = [per_lun.get(i, default or "Premium_LRS") for i in range(n_data)]
    return os_sku, data

