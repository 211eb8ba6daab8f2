"""``az keyvault``, ``az keyvault key`` and ``az keyvault key rotation-policy``."""

from __future__ import annotations

import json
import os

from .. import generic, props
from ..props import Prop
from ..errors import CLIError, UsageError
from ..wait import wait_command
from ..parser import given
from engine.vaults import OTHER_PERMISSIONS

from ..spec import Arg, Call, command, enum, flag3, location, name, no_wait, rg, tags, views

KEY_PERMISSIONS_AZ = ("all", "encrypt", "decrypt", "wrapKey", "unwrapKey", "sign", "verify", "get", "list", "create",
                      "update", "import", "delete", "backup", "restore", "recover", "purge", "release", "rotate",
                      "getrotationpolicy", "setrotationpolicy")
"""Key permissions in the SDK's order (az's ``Allowed values`` message lists them so)."""
KEY_OPS = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export")
KTY = ("EC", "EC-HSM", "RSA", "RSA-HSM", "oct", "oct-HSM")
CURVES = ("P-256", "P-256K", "P-384", "P-521")
SOFT_DELETE_WARNING = ("Warning! If you have soft-delete protection enabled on this key vault, you will not be able "
                       "to reuse this key vault name until the key vault has been purged from the soft deleted "
                       "state. Please see the following documentation for additional guidance.\n"
                       "https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview")
KEY_DELETE_WARNING = ("Warning! If you have soft-delete protection enabled on this key vault, this key will be moved "
                      "to the soft deleted state. You will not be able to create a key with the same name within "
                      "this key vault until the key has been purged from the soft-deleted state. Please see the "
                      "following documentation for additional guidance.\n"
                      "https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview")
VAULT_TYPE = "Microsoft.KeyVault/vaults"
VAULT_NAME_HELP = "Name of the Vault."
ID_USAGE = "incorrect usage: --id ID | --vault-name/--hsm-name VAULT/HSM --name/-n NAME [--version VERSION]"

# ---- engine calls said back in these commands' words (console.cli.words) ---------------------------

_KEY_PARAMS = {"vault": "vault_name", "exp": "expires", "nbf": "not_before"}
"""A key's vault is ``--vault-name``, its times ``--expires``/``--not-before``."""
_NEW_KEY_PARAMS = {**_KEY_PARAMS, "enabled": lambda v, w: {} if v else {"disabled": True}}
"""A new key is created ``--disabled`` (not ``--enabled false``)."""
_POLICY_PARAMS = {"vault": "name", "object_id": ("object_id", "principal"),
                  "key_permissions": lambda v, w: {"key_permissions": v.replace(",", " ").split()
                                                   if isinstance(v, str) else list(v)}}


def _set_words(value, w) -> dict:
    """A vault update's ``--set`` (az has no ``--sku`` nor ``--tags`` on ``keyvault update``): its sku and tags, both
    said by each parameter from the call (``w.p``)."""
    items = [f"properties.sku.name={w.p['sku']}"] if w.p.get("sku") else []
    items += generic.tags_words(w.p.get("tags"))
    return {"set": items} if items else {}


def _each_version(p: dict, w) -> list[dict]:
    """``set-attributes`` on every version of a key: one line per version (az sets one version at a time)."""
    if not p.get("all_versions"):
        return [p]
    try:
        k, _ = w.engine.get_key(p["vault"], p["name"], audit=False)
        versions = [v["version"] for v in k.versions] if len(k.versions) > 1 else [None]
    except Exception:  # noqa: BLE001 - not a key of this store: one line, as given
        versions = [None]
    return [{**p, "version": ver, "all_versions": False} for ver in versions]


def _pem_words(pem, w) -> dict:
    if w.hints.get("pem_file"):
        return {"pem_file": w.hints["pem_file"]}
    return {"pem_string": pem.decode() if isinstance(pem, bytes) else str(pem)}


_IMPORT_PARAMS = {**_NEW_KEY_PARAMS, "pem": _pem_words,
                  "password": lambda v, w: {"pem_password": w.secret("PEM_PASSWORD")} if v else {},
                  "kty": lambda v, w: {"protection": "hsm"} if v and v.upper().endswith("-HSM") else {}}
"""The PEM file's path when the console read one (else the PEM itself); the password never: the script reads
``$PEM_PASSWORD``."""


def _policy_words(policy, w) -> dict:
    return {"value": policy if isinstance(policy, str) else json.dumps(
        {k: v for k, v in policy.items() if k in ("lifetimeActions", "attributes")}, separators=(",", ":"))}


# ---- vaults ---------------------------------------------------------------------------------------


def _vault_name(required: bool = True) -> Arg:
    return name("Name of the Vault.", required=required)


def _need_vault_name(ns) -> None:
    if not ns.name:
        raise CLIError("Please specify --name or --hsm-name.")


def _validate_create(ns) -> None:
    _need_vault_name(ns)
    if ns.enable_soft_delete is not None:
        if ns.enable_soft_delete is False:
            raise CLIError("soft delete is always on for key vaults and cannot be turned off; omit "
                           "--enable-soft-delete (deleted vaults and keys stay recoverable for --retention-days, "
                           "7 to 90 days)")


def _vnet_rules(values, ns, ctx) -> list[dict]:
    """``--network-acls-vnets``: subnet ids, or ``vnet/subnet`` names in the vault's group (as az resolves them)."""
    sub = ctx.engine.meta.subscription_id
    out = []
    for v in values:
        if not str(v).startswith("/"):
            vnet, _, subnet = str(v).partition("/")
            v = (f"/subscriptions/{sub}/resourceGroups/{ns.resource_group}/providers/Microsoft.Network/"
                 f"virtualNetworks/{vnet}/subnets/{subnet}")
        out.append({"id": v, "ignoreMissingVnetServiceEndpoint": None})
    return out


def _vault_props(create: bool) -> list[Prop]:
    out = [
        Prop(("--enabled-for-deployment",), "enabled_for_deployment", "properties.enabledForDeployment",
             "[Vault Only] Property to specify whether Azure Virtual Machines are permitted to retrieve certificates "
             "stored as secrets from the key vault.", kind="flag3"),
        Prop(("--enabled-for-disk-encryption",), "enabled_for_disk_encryption", "properties.enabledForDiskEncryption",
             "[Vault Only] Property to specify whether Azure Disk Encryption is permitted to retrieve secrets from "
             "the vault and unwrap keys.", kind="flag3"),
        Prop(("--enabled-for-template-deployment",), "enabled_for_template_deployment",
             "properties.enabledForTemplateDeployment", "[Vault Only] Property to specify whether Azure Resource "
             "Manager is permitted to retrieve secrets from the key vault.", kind="flag3"),
        Prop(("--public-network-access",), "public_network_access", "properties.publicNetworkAccess", "Property to "
             "specify whether the vault will accept traffic from public internet.", kind="enum",
             choices=("Enabled", "Disabled")),
        Prop(("--bypass",), "bypass", "properties.networkAcls.bypass", "Bypass traffic for space-separated uses.",
             kind="enum", choices=("AzureServices", "None")),
        Prop(("--default-action",), "default_action", "properties.networkAcls.defaultAction", "Default action to "
             "apply when no rule matches.", kind="enum", choices=("Allow", "Deny")),
    ]
    if create:
        out += [
            Prop(("--network-acls-ips",), "network_acls_ips", "properties.networkAcls.ipRules", "Network ACLs IP "
                 "rules. Space-separated list of IP addresses.", kind="list",
                 convert=lambda values, ns, ctx: [{"value": v} for v in values]),
            Prop(("--network-acls-vnets",), "network_acls_vnets", "properties.networkAcls.virtualNetworkRules",
                 "Network ACLS VNet rules. Space-separated list of Vnet/subnet pairs or subnet resource ids.",
                 kind="list", convert=_vnet_rules),
        ]
    return out


VAULT_CREATE_PROPS = _vault_props(create=True)
"""``az keyvault create`` flags that set a plain property of the vault."""
VAULT_UPDATE_PROPS = _vault_props(create=False)
"""``az keyvault update`` flags that set a plain property of the vault."""


def _create_call(ns, ctx) -> Call:
    if ns.enable_soft_delete is not None:
        ctx.warn("Argument '--enable-soft-delete' has been deprecated and will be removed in a future release.")
    if ns.resource_group and ns.name:  # az's create_vault asks for the vault first (a GET in the group)
        v = ctx.engine.find_vault(ns.name)
        if v is not None and v.state == "Active" and v.resource_group.lower() == ns.resource_group.lower():
            raise CLIError(f"The specified vault: {ns.name} already exists")
    given = props.collect(ns, ctx, VAULT_CREATE_PROPS)
    return Call("create_vault", (ns.name, ns.resource_group, ns.location), {
        "sku": ns.sku or "standard", "enable_purge_protection": ns.enable_purge_protection,
        "retention_days": ns.retention_days, "enable_rbac_authorization": bool(ns.enable_rbac_authorization),
        "tags": ns.tags, "props": given, "self_perms": not ns.no_self_perms})


command("az keyvault create", "Create a Vault or HSM.", [
    rg(), _vault_name(required=False), location(),
    Arg(("--sku",), "sku", "Required. SKU details. Allowed values for Vault: premium, standard. Default: standard."),
    Arg(("--retention-days",), "retention_days", "Soft delete data retention days. It accepts >=7 and <=90.",
        kind="int", help_default="90"),
    flag3(("--enable-purge-protection",), "enable_purge_protection", "Property specifying whether protection "
          "against purge is enabled for this vault/managed HSM pool. Setting this property to true activates "
          "protection against purge for this vault/managed HSM pool and its content - only the Key Vault/Managed "
          "HSM service may initiate a hard, irrecoverable deletion. Enabling this functionality is irreversible."),
    flag3(("--enable-rbac-authorization",), "enable_rbac_authorization", "Property that controls how data actions "
          "are authorized. When true, the key vault will use Role Based Access Control (RBAC) for authorization "
          "of data actions, and the access policies specified in vault properties will be ignored.",
          default="false"),
    Arg(("--enable-soft-delete",), "enable_soft_delete", "Soft delete is always on: deleted vaults and keys stay "
        "recoverable for --retention-days.", kind="flag3", choices=("true", "false"), deprecated=True),
    flag3(("--no-self-perms",), "no_self_perms", "[Vault Only] Don't add permissions for the current user/service "
          "principal in the new vault."),
    tags(), no_wait(), *props.args(VAULT_CREATE_PROPS),
], call=_create_call, validate=_validate_create, render=lambda e, v, ns: views.vault_view(e, v), method="create_vault",
    examples=[("Create a key vault with network ACLs specified (use --network-acls to specify IP and VNet rules by "
               "using a JSON string).",
               "az keyvault create --location westus2 --name MyKeyVault --resource-group MyResourceGroup "
               "--enable-purge-protection true"),
              ("Create a key vault with purge protection, as disk encryption sets need.",
               "az keyvault create -n MyKeyVault -g MyResourceGroup -l eastus --enable-purge-protection true")])


def _check_rg(vault, rg_name: str | None):
    if rg_name and vault.resource_group.lower() != rg_name.lower():
        from engine.errors import NotFound

        raise NotFound(f"The Resource 'Microsoft.KeyVault/vaults/{vault.name}' under resource group '{rg_name}' was "
                       "not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                       code="ResourceNotFound")
    return vault


def _vault_show(ctx, ns):
    from engine.errors import NotFound

    try:
        vault = ctx.engine.get_vault(ns.name)
    except NotFound:
        if not ns.resource_group:  # az looks the vault up in the subscription first (a CLIError, exit 1)
            raise CLIError(f"The Vault '{ns.name}' not found within subscription.") from None
        raise
    return views.vault_view(ctx.engine, _check_rg(vault, ns.resource_group))


command("az keyvault show", "Show details of a Vault or HSM.", [_vault_name(), rg(required=False)],
        run=_vault_show,
        examples=[("Show details of a key vault.", "az keyvault show --name MyKeyVault")])

command("az keyvault list", "List Vaults and/or HSMs.", [
    rg(required=False), enum(("--resource-type",), "resource_type", "When --resource-type is not present the "
                             "command will list all Vaults and HSMs.", ("vault", "hsm")),
], call=lambda ns, ctx: Call("list_vaults", (ns.resource_group,)),
    render=lambda e, vs, ns: [] if ns.resource_type == "hsm" else
    [views.vault_view(e, v) if ns.resource_group else views.vault_list_item(v) for v in vs],
    examples=[("List all Vaults in a resource group.", "az keyvault list --resource-group MyResourceGroup")])

command("az keyvault update", "Update the properties of a Vault.", [
    _vault_name(), rg(required=False),
    flag3(("--enable-purge-protection",), "enable_purge_protection", "Property specifying whether protection "
          "against purge is enabled for this vault. Enabling this functionality is irreversible."),
    Arg(("--retention-days",), "retention_days", "Soft delete data retention days. It accepts >=7 and <=90.",
        kind="int"),
    flag3(("--enable-rbac-authorization",), "enable_rbac_authorization", "Property that controls how data actions "
          "are authorized. When true, the key vault will use Role Based Access Control (RBAC) for authorization "
          "of data actions, and the access policies specified in vault properties will be ignored."),
    *generic.generic_args(),
    no_wait(), *props.args(VAULT_UPDATE_PROPS),
], call=lambda ns, ctx: _vault_update_call(ns, ctx),
    render=lambda e, v, ns: views.vault_view(e, v), method="update_vault",
    params={"sku": _set_words, "tags": _set_words},
    examples=[("Enable purge protection (needed by disk encryption sets).",
               "az keyvault update -n MyKeyVault -g MyResourceGroup --enable-purge-protection true")])

def _typed(kind: type, what: str):
    def convert(value):
        if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
            raise CLIError(f"a generic update gave {value!r} where {what} is needed")
        return value
    return convert


VAULT_UPDATABLE = {
    generic.TAGS: ("tags", generic.sdk_tags), "properties.sku.name": ("sku", _typed(str, "standard or premium")),
    "properties.enablePurgeProtection": ("enable_purge_protection", _typed(bool, "true or false")),
    "properties.softDeleteRetentionInDays": ("retention_days", _typed(int, "a number of days")),
    "properties.enableRbacAuthorization": ("enable_rbac_authorization", _typed(bool, "true or false")),
}
"""What a generic update can change on a key vault (its JSON path -> the facade keyword)."""


def _vault_update_call(ns, ctx) -> Call:
    kwargs = {"enable_purge_protection": ns.enable_purge_protection, "retention_days": ns.retention_days,
              "enable_rbac_authorization": ns.enable_rbac_authorization}
    given = props.collect(ns, ctx, VAULT_UPDATE_PROPS)
    if generic.given(ns):
        engine = ctx.engine
        before = views.vault_view(engine, engine.get_vault(ns.name))
        updatable = dict(VAULT_UPDATABLE)
        updatable.update({p.path: ("props:" + p.path, None) for p in VAULT_UPDATE_PROPS})
        generic.route_changes(generic.changes(before, generic.apply(before, ns), updatable, "az keyvault update"),
                              kwargs, given)
    if given:
        kwargs["props"] = given
    return Call("update_vault", (ns.name,), kwargs)


command("az keyvault delete", "Delete a Vault or HSM.", [_vault_name(), rg(required=False), no_wait()],
        call=lambda ns, ctx: Call("delete_vault", (ns.name,)), method="delete_vault", warning=SOFT_DELETE_WARNING,
        examples=[("Delete a key vault.", "az keyvault delete --name MyKeyVault --resource-group MyResourceGroup")])

command("az keyvault recover", "Recover a Vault or HSM.", [_vault_name(), rg(required=False), location(), no_wait()],
        call=lambda ns, ctx: Call("recover_vault", (ns.name,)), render=lambda e, v, ns: views.vault_view(e, v),
        method="recover_vault", examples=[("Recover a key vault.", "az keyvault recover --name MyKeyVault")])

command("az keyvault purge", "Permanently delete the specified Vault or HSM. Aka Purges the deleted Vault or HSM.",
        [_vault_name(), location(), no_wait()], call=lambda ns, ctx: Call("purge_vault", (ns.name,)),
        method="purge_vault", examples=[("Purge a deleted key vault.", "az keyvault purge --name MyKeyVault")])

command("az keyvault list-deleted", "Get information about the deleted Vaults or HSMs in a subscription.", [
    enum(("--resource-type",), "resource_type", "When --resource-type is not present the command will list all "
         "deleted Vaults and HSMs.", ("vault", "hsm")),
], call=lambda ns, ctx: Call("list_deleted_vaults"),
    render=lambda e, vs, ns: [] if ns.resource_type == "hsm" else [views.deleted_vault_view(v) for v in vs],
    examples=[("List deleted key vaults.", "az keyvault list-deleted --resource-type vault")])


def _show_deleted(ctx, ns):
    for v in ctx.engine.list_deleted_vaults():
        if v.name.lower() == ns.name.lower():
            return views.deleted_vault_view(v)
    from engine.errors import NotFound

    raise NotFound(f"The specified deleted vault '{ns.name}' was not found.", code="ResourceNotFound")


command("az keyvault show-deleted", "Show details of a deleted Vault or HSM.", [_vault_name(), location()],
        run=_show_deleted, examples=[("Show a deleted key vault.", "az keyvault show-deleted --name MyKeyVault")])


def _validate_policy(ns) -> None:
    _need_vault_name(ns)
    principals = given(ns, "object_id", "spn", "upn")
    if len(principals) != 1:
        raise UsageError("specify exactly one: --object-id, --spn, --upn")
    if ns.spn or ns.upn:
        raise CLIError("cmklab has no directory to look up --spn or --upn; give the identity's --object-id "
                       "(a disk encryption set's is: az disk-encryption-set show -n SET -g RG "
                       "--query identity.principalId -o tsv)")


def _validate_set_policy(ns) -> None:
    _validate_policy(ns)
    if ns.key_permissions is None and ns.secret_permissions is None and ns.certificate_permissions is None \
            and ns.storage_permissions is None:
        raise UsageError("specify at least one: --key-permissions, --secret-permissions, --certificate-permissions "
                         "--storage-permissions")


def _principal_args() -> list[Arg]:
    return [Arg(("--object-id",), "object_id", "A GUID that identifies the principal that will receive "
                "permissions."),
            Arg(("--spn",), "spn", "Name of a service principal that will receive permissions."),
            Arg(("--upn",), "upn", "Name of a user principal that will receive permissions."),
            Arg(("--application-id",), "application_id", "Application ID of the client making request on behalf of "
                "a principal. Exposed for compound identity using on-behalf-of authentication flow.")]


command("az keyvault set-policy", "Update security policy settings for a Key Vault.", [
    _vault_name(), rg(required=False), *_principal_args(),
    enum(("--key-permissions",), "key_permissions", "Space-separated list of key permissions to assign.",
         KEY_PERMISSIONS_AZ, nargs="*", group="Permission Arguments"),
    *[enum((f"--{kind}-permissions",), f"{kind}_permissions", f"Space-separated list of {kind} permissions to assign. "
           "(Stored and shown in the access policy; cmklab models no secrets, certificates or storage accounts, so "
           "they grant nothing it checks.)", OTHER_PERMISSIONS[plural], nargs="*", group="Permission Arguments")
      for kind, plural in (("secret", "secrets"), ("certificate", "certificates"), ("storage", "storage"))],
    no_wait(),
], validate=_validate_set_policy,
    call=lambda ns, ctx: Call("set_policy", (ns.name, ns.object_id, None if ns.key_permissions is None else
                                             list(dict.fromkeys(ns.key_permissions))),
                              {"other_permissions": {"secrets": ns.secret_permissions,
                                                     "certificates": ns.certificate_permissions,
                                                     "storage": ns.storage_permissions}}),
    render=lambda e, v, ns: views.vault_view(e, v), method="set_policy", params=_POLICY_PARAMS,
    examples=[("Assign key permissions to a disk encryption set's identity.",
               "az keyvault set-policy -n MyVault --object-id {GUID} --key-permissions get wrapKey unwrapKey")])

command("az keyvault delete-policy", "Delete security policy settings for a Key Vault.", [
    _vault_name(), rg(required=False), *_principal_args(), no_wait(),
], validate=_validate_policy, call=lambda ns, ctx: Call("delete_policy", (ns.name, ns.object_id)),
    render=lambda e, v, ns: views.vault_view(e, v), method="delete_policy", params=_POLICY_PARAMS,
    examples=[("Delete the policy of an identity (disks using the set stop working).",
               "az keyvault delete-policy -n MyVault --object-id {GUID}")])

# ---- keys -----------------------------------------------------------------------------------------


def _key_id_args(*, version: bool = True, name_required: bool = False) -> list[Arg]:
    args = [
        Arg(("--name", "-n"), "name", "Name of the key. Required if --id is not specified.", group="Id Arguments"),
        Arg(("--vault-name",), "vault_name", "Name of the Key Vault. Required if --id is not specified.",
            group="Id Arguments"),
        Arg(("--id",), "id", "Id of the key. If specified all other 'Id' arguments should be omitted.",
            group="Id Arguments"),
    ]
    if version:
        args.append(Arg(("--version", "-v"), "version", "The key version. If omitted, uses the latest version.",
                        group="Id Arguments"))
    return args


def _key_ref(ns) -> tuple[str, str, str | None]:
    """(vault, name, version) from ``--id`` or ``--vault-name``/``--name``/``--version``."""
    key_id = getattr(ns, "id", None)
    if key_id:
        if ns.vault_name or ns.name:
            raise CLIError(ID_USAGE)
        return _parse_key_id(key_id)
    if not ns.vault_name or not ns.name:
        raise CLIError(ID_USAGE)
    return ns.vault_name, ns.name, getattr(ns, "version", None)


def _parse_key_id(key_id: str) -> tuple[str, str, str | None]:
    from urllib.parse import urlparse

    u = urlparse(key_id)
    parts = [p for p in u.path.split("/") if p]
    host = (u.hostname or "").split(".")[0]
    if u.scheme != "https" or not host or len(parts) < 2 or parts[0] not in ("keys", "deletedkeys"):
        raise CLIError(f"invalid key id '{key_id}': expected https://{{vault}}.vault.azure.net/keys/{{name}}"
                       "[/{version}]")
    return host, parts[1], parts[2] if len(parts) > 2 else None


def _vault_for_list(ns) -> str:
    if ns.id:
        from urllib.parse import urlparse

        host = (urlparse(ns.id).hostname or "").split(".")[0]
        if not host:
            raise CLIError(f"invalid vault URI '{ns.id}'")
        return host
    if not ns.vault_name:
        raise CLIError("Please specify --vault-name or --hsm-name.")
    return ns.vault_name


def _key_type(ns) -> str:
    kty = ns.kty or ("EC" if getattr(ns, "curve", None) else "RSA")
    if ns.protection == "hsm" and not kty.upper().endswith("-HSM"):
        kty = kty + "-HSM"
    if ns.protection == "software" and kty.upper().endswith("-HSM"):
        raise CLIError("The key type {} is invalid for software protected keys. Omit --protection")
    return kty


def _validate_key_create(ns) -> None:
    if not ns.vault_name:
        raise CLIError("Please specify --vault-name or --hsm-name.")


def _bundle(e, kv, ns):
    k, ver = kv
    return views.key_bundle(e, k, ver)


_ATTR_ARGS = [
    Arg(("--expires",), "expires", "Expiration UTC datetime  (Y-m-d'T'H:M:S'Z')."),
    Arg(("--not-before",), "not_before", "Key not usable before the provided UTC datetime  (Y-m-d'T'H:M:S'Z')."),
    enum(("--ops",), "ops", "Space-separated list of permitted JSON web key operations.", KEY_OPS, nargs="*"),
    tags(),
]

command("az keyvault key create", "Create a new key, stores it, then returns key parameters and attributes to the "
        "client.", [
            Arg(("--name", "-n"), "name", "Name of the key.", required=True, group="Id Arguments"),
            Arg(("--vault-name",), "vault_name", "Name of the Key Vault. Required if --id is not specified.",
                group="Id Arguments"),
            enum(("--kty",), "kty", "The type of key to create. For valid values, see: "
                 "https://docs.microsoft.com/en-us/rest/api/keyvault/keys/create-key/create-key#jsonwebkeytype.",
                 KTY),
            Arg(("--size",), "size", "The key size in bits. For example: 2048, 3072, or 4096 for RSA. 128, 192, or "
                "256 for oct.", kind="int"),
            enum(("--curve",), "curve", "Elliptic curve name. For valid values, see: "
                 "https://docs.microsoft.com/en-us/rest/api/keyvault/keys/create-key/create-key#jsonwebkeycurvename.",
                 CURVES),
            enum(("--protection", "-p"), "protection", "Specifies the type of key protection.",
                 ("software", "hsm")),
            flag3(("--disabled",), "disabled", "Create key in disabled state."),
            _ATTR_ARGS[0],
            flag3(("--exportable",), "exportable", "Whether the private key can be exported. To create key with "
                  "release policy, \"exportable\" must be true and caller must have \"export\" permission."),
            *_ATTR_ARGS[1:],
        ], validate=_validate_key_create, method="create_key", params=_NEW_KEY_PARAMS, render=_bundle,
        call=lambda ns, ctx: Call("create_key", (ns.vault_name, ns.name), {
            "kty": _key_type(ns), "size": ns.size, "curve": ns.curve, "ops": ns.ops, "exp": ns.expires,
            "nbf": ns.not_before, "enabled": not ns.disabled, "tags": ns.tags}),
        examples=[("Create a key.", "az keyvault key create --name MyKey --vault-name MyVault"),
                  ("Create an RSA key of 3072 bits for disk encryption.",
                   "az keyvault key create --vault-name MyVault -n MyKey --kty RSA --size 3072"),
                  ("Create an EC key on P-384 (it signs and verifies; a disk encryption set refuses it).",
                   "az keyvault key create --vault-name MyVault -n MyKey --kty EC --curve P-384")])

command("az keyvault key show", "Get a key's attributes and, if it's an asymmetric key, its public material.",
        _key_id_args(), render=_bundle,
        call=lambda ns, ctx: Call("get_key", _key_ref(ns)),
        examples=[("Get a key's URL.", "az keyvault key show --vault-name MyVault -n MyKey --query key.kid -o tsv")])

command("az keyvault key list", "List keys in the specified Vault or HSM.", [
    Arg(("--vault-name",), "vault_name", "Name of the Key Vault. Required if --id is not specified."),
    Arg(("--id",), "id", "Full URI of the Vault or HSM. If specified all other 'Id' arguments should be omitted."),
    Arg(("--maxresults",), "maxresults", "Maximum number of results to return in a page. If not specified, the "
        "service will return up to 25 results.", kind="int"),
    flag3(("--include-managed",), "include_managed", "Include managed keys.", default="false"),
], call=lambda ns, ctx: Call("list_keys", (_vault_for_list(ns),)),
    render=lambda e, ks, ns: [views.key_list_item(e, k) for k in ks][:ns.maxresults or None],
    examples=[("List keys.", "az keyvault key list --vault-name MyVault")])

command("az keyvault key list-versions", "List the identifiers and properties of a key's versions.", [
    *_key_id_args(version=False),
    Arg(("--maxresults",), "maxresults", "Maximum number of results to return in a page.", kind="int"),
], call=lambda ns, ctx: Call("get_key", _key_ref(ns)[:2], {"audit": False}),
    render=lambda e, kv, ns: views.key_versions_view(e, kv[0])[:ns.maxresults or None],
    examples=[("List the versions of a key.", "az keyvault key list-versions --vault-name MyVault -n MyKey")])

command("az keyvault key list-deleted", "List the deleted keys in the specified Vault or HSM.", [
    Arg(("--vault-name",), "vault_name", "Name of the Key Vault. Required if --id is not specified."),
    Arg(("--id",), "id", "Full URI of the Vault or HSM. If specified all other 'Id' arguments should be omitted."),
    Arg(("--maxresults",), "maxresults", "Maximum number of results to return in a page.", kind="int"),
], call=lambda ns, ctx: Call("list_deleted_keys", (_vault_for_list(ns),)),
    render=lambda e, ks, ns: [views.deleted_key_list_item(e, k) for k in ks][:ns.maxresults or None],
    examples=[("List deleted keys.", "az keyvault key list-deleted --vault-name MyVault")])


def _show_deleted_key(ctx, ns):
    vault, key_name, _ = _key_ref(ns)
    for k in ctx.engine.list_deleted_keys(vault):
        if k.name.lower() == key_name.lower():
            return views.deleted_key_view(ctx.engine, k)
    from engine.errors import NotFound

    raise NotFound(f"Deleted Key not found: {key_name}", code="KeyNotFound")


command("az keyvault key show-deleted", "Get the public part of a deleted key.", _key_id_args(version=False),
        run=_show_deleted_key,
        examples=[("Show a deleted key.", "az keyvault key show-deleted --vault-name MyVault -n MyKey")])

command("az keyvault key set-attributes", "The update key operation changes specified attributes of a stored key "
        "and can be applied to any key type and key version stored in Vault or HSM.", [
            *_key_id_args(),
            flag3(("--enabled",), "enabled", "Enable the key."),
            *_ATTR_ARGS,
        ], render=_bundle, method="set_key_attributes", each=_each_version,
        params={**_KEY_PARAMS, "all_versions": None, "version": lambda v, w: w.key_version(v)},
        call=lambda ns, ctx: Call("set_key_attributes", _key_ref(ns), {
            "enabled": ns.enabled, "exp": ns.expires, "nbf": ns.not_before, "tags": ns.tags, "ops": ns.ops}),
        examples=[("Disable a key (every VM whose disks use it stops).",
                   "az keyvault key set-attributes --vault-name MyVault -n MyKey --enabled false")])

command("az keyvault key delete", "Delete a key of any type from storage in Vault or HSM.",
        _key_id_args(version=False), method="delete_key", params=_KEY_PARAMS, warning=KEY_DELETE_WARNING,
        call=lambda ns, ctx: Call("delete_key", _key_ref(ns)[:2]),
        render=lambda e, k, ns: views.deleted_key_view(e, k),
        examples=[("Delete a key.", "az keyvault key delete --vault-name MyVault -n MyKey")])

command("az keyvault key recover", "Recover the deleted key to its latest version.", _key_id_args(version=False),
        method="recover_key", params=_KEY_PARAMS, call=lambda ns, ctx: Call("recover_key", _key_ref(ns)[:2]),
        render=lambda e, k, ns: views.key_bundle(e, k),
        examples=[("Recover a deleted key.", "az keyvault key recover --vault-name MyVault -n MyKey")])

command("az keyvault key purge", "Permanently delete the specified key.", _key_id_args(version=False),
        method="purge_key", params=_KEY_PARAMS, call=lambda ns, ctx: Call("purge_key", _key_ref(ns)[:2]),
        examples=[("Purge a deleted key.", "az keyvault key purge --vault-name MyVault -n MyKey")])

command("az keyvault key rotate", "Rotate the key based on the key policy by generating a new version of the key.",
        _key_id_args(version=False), method="rotate_key", params=_KEY_PARAMS, render=_bundle,
        call=lambda ns, ctx: Call("rotate_key", _key_ref(ns)[:2]),
        examples=[("Rotate a key.", "az keyvault key rotate --vault-name MyVault -n MyKey")])


# ---- key operations (the data plane of a key) ---------------------------------------------------------

ENCRYPTION_ALGORITHMS = ("A128CBC", "A128CBCPAD", "A128GCM", "A128KW", "A192CBC", "A192CBCPAD", "A192GCM", "A192KW",
                         "A256CBC", "A256CBCPAD", "A256GCM", "A256KW", "RSA-OAEP", "RSA-OAEP-256", "RSA1_5")
"""az's choices (the SDK's EncryptionAlgorithm): an RSA key takes the RSA ones; the AES ones are managed HSM's
(oct keys), which a vault refuses naming what the key takes."""
SIGNATURE_ALGORITHMS = ("ES256", "ES256K", "ES384", "ES512", "HS256", "HS384", "HS512", "PS256", "PS384", "PS512",
                        "RS256", "RS384", "RS512")
"""az's choices (the SDK's SignatureAlgorithm): PS*/RS* with RSA, the curve's ES* with EC, HS* with managed HSM's."""
_AES_HELP = "Only for the AES algorithms of managed HSM's oct keys; a vault's RSA and EC keys do not use it."


def _b64_arg(value: str, flag: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(f"argument {flag}: '{value[:60]}' is not valid base64") from None


def _op_call(op: str, value_flag: str = "--value"):
    def call(ns, ctx) -> Call:
        vault, key_name, version = _key_ref(ns)
        if op == "encrypt" and (ns.data_type or "base64") == "plaintext":
            value = ns.value.encode("utf-8")
        elif op in ("sign", "verify"):
            value = _b64_arg(ns.digest, "--digest")
        else:
            value = _b64_arg(ns.value, value_flag)
        kwargs: dict = {"alg": ns.algorithm}
        if op == "verify":
            kwargs["signature"] = _b64_arg(ns.signature, "--signature")
        from engine.ids import key_id as kid_of

        kid = kid_of(vault.lower(), key_name, version)
        # the signed-in user calls the vault: its access policy or role must grant the operation (KV7)
        return Call("key_operation", (ctx.engine.operator, kid, op, value), kwargs)
    return call


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def _render_encrypt(e, r, ns):
    kid, result = r
    return {"aad": None, "algorithm": ns.algorithm, "iv": None, "kid": kid, "result": _b64(result), "tag": None}


def _render_result(e, r, ns):
    kid, result = r
    return {"algorithm": ns.algorithm, "kid": kid, "result": _b64(result)}


def _render_decrypt(e, r, ns):
    kid, result = r
    if getattr(ns, "data_type", None) == "plaintext":
        try:
            shown = result.decode("utf-8")
        except UnicodeDecodeError:
            raise CLIError("the decrypted bytes are not UTF-8 text; use --data-type base64") from None
    else:
        shown = _b64(result)
    return {"algorithm": ns.algorithm, "kid": kid, "result": shown}


def _op_args(algorithms, *extra: Arg) -> list[Arg]:
    return [*_key_id_args(),
            enum(("--algorithm", "-a"), "algorithm", "Algorithm identifier.", algorithms, required=True), *extra]


_DATA_TYPE = enum(("--data-type",), "data_type", "The type of the original data.", ("base64", "plaintext"),
                  help_default="base64")

command("az keyvault key encrypt", "Encrypt a value with a key (RSA-OAEP, RSA-OAEP-256 or RSA1_5 for an RSA key; an "
        "EC key does not encrypt).", _op_args(
            ENCRYPTION_ALGORITHMS,
            Arg(("--value",), "value", "The value to be encrypted. Default data type is Base64 encoded string.",
                required=True),
            _DATA_TYPE,
            Arg(("--iv",), "iv", "Initialization vector. " + _AES_HELP),
            Arg(("--aad",), "aad", "Optional data that is authenticated but not encrypted. " + _AES_HELP)),
        call=_op_call("encrypt"), render=_render_encrypt,
        examples=[("Encrypt a text with a key's current version.",
                   "az keyvault key encrypt --vault-name MyVault -n MyKey -a RSA-OAEP-256 --value \"secret\" "
                   "--data-type plaintext")])

command("az keyvault key decrypt", "Decrypt a value with a key (the private-key operation: audited, refused on a "
        "disabled key).", _op_args(
            ENCRYPTION_ALGORITHMS,
            Arg(("--value",), "value", "The value to be decrypted, which should be the result of \"az keyvault "
                "encrypt\".", required=True),
            enum(("--data-type",), "data_type", "The type of the original data.", ("base64", "plaintext"),
                 help_default="base64"),
            Arg(("--iv",), "iv", "The initialization vector used during encryption. " + _AES_HELP),
            Arg(("--tag",), "tag", "The authentication tag generated during encryption. " + _AES_HELP),
            Arg(("--aad",), "aad", "Optional data that is authenticated but not encrypted. " + _AES_HELP)),
        call=_op_call("decrypt"), render=_render_decrypt,
        examples=[("Decrypt what encrypt gave back, as text.",
                   "az keyvault key decrypt --vault-name MyVault -n MyKey -a RSA-OAEP-256 --value $RESULT "
                   "--data-type plaintext")])

command("az keyvault key wrap-key", "Wrap a key (e.g. a 32-byte data key) with a Key Vault key, as a disk "
        "encryption set does (Key Vault's wrapKey operation; cmklab's, in az's style: az has no wrap-key).", _op_args(
            ENCRYPTION_ALGORITHMS,
            Arg(("--value",), "value", "The key to be wrapped, base64-encoded.", required=True)),
        call=_op_call("wrapKey"), render=_render_result,
        examples=[("Wrap a random 32-byte key.",
                   "az keyvault key wrap-key --vault-name MyVault -n MyKey -a RSA-OAEP-256 "
                   "--value $(head -c 32 /dev/urandom | base64)")])

command("az keyvault key unwrap-key", "Unwrap a key wrapped by wrap-key (the private-key operation a disk "
        "encryption set calls to open a disk; Key Vault's unwrapKey, cmklab's in az's style).", _op_args(
            ENCRYPTION_ALGORITHMS,
            Arg(("--value",), "value", "The wrapped key, base64-encoded (the result of wrap-key).", required=True)),
        call=_op_call("unwrapKey"), render=_render_result,
        examples=[("Unwrap a wrapped key.",
                   "az keyvault key unwrap-key --vault-name MyVault -n MyKey -a RSA-OAEP-256 --value $WRAPPED")])

command("az keyvault key sign", "Create a signature from a digest using a key that is stored in a Vault or "
        "HSM.", _op_args(
            SIGNATURE_ALGORITHMS,
            Arg(("--digest",), "digest", "The value to sign, base64-encoded (a SHA-256, SHA-384 or SHA-512 digest "
                "matching the algorithm).", required=True)),
        call=_op_call("sign"), render=lambda e, r, ns: {"algorithm": ns.algorithm, "keyId": r[0],
                                                        "signature": _b64(r[1])},
        examples=[("Sign the SHA-256 digest of a file with an EC key on P-256.",
                   "az keyvault key sign --vault-name MyVault -n MyKey -a ES256 "
                   "--digest $(openssl dgst -sha256 -binary file | base64)")])

command("az keyvault key verify", "Verify a signature using the key that is stored in a Vault or HSM.", _op_args(
            SIGNATURE_ALGORITHMS,
            Arg(("--digest",), "digest", "The digest that was signed, base64-encoded.", required=True),
            Arg(("--signature",), "signature", "The signature to verify, base64-encoded.", required=True)),
        call=_op_call("verify"), render=lambda e, r, ns: {"algorithm": ns.algorithm, "isValid": r[1],
                                                          "keyId": r[0]},
        examples=[("Verify a signature.", "az keyvault key verify --vault-name MyVault -n MyKey -a ES256 "
                   "--digest $DIGEST --signature $SIGNATURE")])


def _validate_import(ns) -> None:
    sources = given(ns, "byok_file", "byok_string", "pem_file", "pem_string")
    if len(sources) != 1:
        raise UsageError("supply exactly one: --byok-file, --byok-string, --pem-file, --pem-string")
    if ns.pem_password and not (ns.pem_file or ns.pem_string):
        raise UsageError("--pem-password must be used with --pem-file or --pem-string")
    if ns.byok_file or ns.byok_string:
        raise CLIError("cmklab imports RSA private keys from PEM only (--pem-file or --pem-string); BYOK transfer "
                       "blobs need an HSM vendor's tool")


def _import_call(ns, ctx) -> Call:
    vault, key_name, _ = _key_ref(ns)
    if ns.pem_file:
        from ..files import PEM_LIMIT, read_bounded

        pem = read_bounded(ns.pem_file, PEM_LIMIT, "argument --pem-file")
    else:
        pem = ns.pem_string.encode()
    kty = ns.kty or "RSA"
    if ns.protection == "hsm" and not kty.upper().endswith("-HSM"):
        kty += "-HSM"
    return Call("import_key", (vault, key_name, pem), {
        "password": ns.pem_password.encode() if ns.pem_password else None, "kty": kty, "ops": ns.ops,
        "exp": ns.expires, "nbf": ns.not_before, "enabled": not ns.disabled, "tags": ns.tags})


command("az keyvault key import", "Import a private key.", [
    *_key_id_args(version=False),
    Arg(("--pem-file",), "pem_file", "PEM file containing the key to be imported.", group="Key Source Arguments"),
    Arg(("--pem-string",), "pem_string", "PEM string containing the key to be imported.",
        group="Key Source Arguments"),
    Arg(("--pem-password",), "pem_password", "Password of PEM file.", group="Key Source Arguments"),
    Arg(("--byok-file",), "byok_file", "BYOK file containing the key to be imported. Must not be password "
        "protected.", group="Key Source Arguments"),
    Arg(("--byok-string",), "byok_string", "BYOK string containing the key to be imported. Must not be password "
        "protected.", group="Key Source Arguments"),
    enum(("--kty",), "kty", "The type of key to import (only for BYOK).", ("EC", "RSA", "oct")),
    enum(("--protection", "-p"), "protection", "Specifies the type of key protection.", ("software", "hsm")),
    flag3(("--disabled",), "disabled", "Import keys in disabled state."),
    *_ATTR_ARGS,
], validate=_validate_import, call=_import_call, render=_bundle, method="import_key", params=_IMPORT_PARAMS,
    examples=[("Import an RSA key from a password-protected PEM file.",
               "az keyvault key import --vault-name MyVault -n MyKey --pem-file key.pem --pem-password secret")])

# ---- rotation policy --------------------------------------------------------------------------------


def _policy_value(text: str) -> dict:
    """az's reading of ``--value``: a path to a JSON file, or JSON; camelCase or snake_case; ``action`` as a
    string or ``{type}``; trigger fields in ``trigger`` or on the action; expiry from ``attributes``."""
    if text and len(text) < 4096 and os.path.exists(os.path.expanduser(text)):
        from ..files import POLICY_LIMIT, read_text

        text = read_text(text, POLICY_LIMIT, "argument --value")
    try:
        raw = json.loads(text) if text else None
    except ValueError:
        raw = None
    if not isinstance(raw, dict) or not raw:
        raise CLIError("Please specify a valid policy")

    def camel(obj):
        if isinstance(obj, dict):
            return {_camel(k): camel(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [camel(v) for v in obj]
        return obj
    raw = camel(raw)
    actions = []
    for item in raw.get("lifetimeActions") or []:
        if not isinstance(item, dict):
            raise CLIError("Please specify a valid policy")
        trig = dict(item.get("trigger") or {})
        for k in ("timeAfterCreate", "timeBeforeExpiry"):
            if k not in trig and item.get(k) is not None:
                trig[k] = item[k]
        act = item.get("action")
        act_type = act.get("type") if isinstance(act, dict) else act
        actions.append({"trigger": {k: v for k, v in trig.items() if v is not None},
                        "action": {"type": act_type}})
    attrs = raw.get("attributes") or {}
    expiry = attrs.get("expiryTime") or attrs.get("expiresIn") or raw.get("expiryTime") or raw.get("expiresIn")
    return {"lifetimeActions": actions, "attributes": {"expiryTime": expiry}}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


command("az keyvault key rotation-policy show", "Get the rotation policy of a Key Vault key.",
        _key_id_args(version=False), call=lambda ns, ctx: Call("get_rotation_policy", _key_ref(ns)[:2]),
        render=lambda e, p, ns: views.rotation_policy_view(p),
        examples=[("Show a key's rotation policy.",
                   "az keyvault key rotation-policy show --vault-name MyVault -n MyKey")])

command("az keyvault key rotation-policy update", "Update the rotation policy of a Key Vault key.", [
    *_key_id_args(version=False),
    Arg(("--value",), "value", "The rotation policy file definition as JSON, or a path to a file containing JSON "
        "policy definition.", required=True),
], method="set_rotation_policy", params={**_KEY_PARAMS, "policy": _policy_words}, call=lambda ns, ctx: Call("set_rotation_policy", (*_key_ref(ns)[:2], _policy_value(ns.value))),
    render=lambda e, p, ns: views.rotation_policy_view(p),
    examples=[("Rotate a key 90 days after each version is created; versions expire after 2 years.",
               "az keyvault key rotation-policy update --vault-name MyVault -n MyKey --value "
               "'{\"lifetimeActions\":[{\"trigger\":{\"timeAfterCreate\":\"P90D\"},\"action\":{\"type\":\"Rotate\"}}],"
               "\"attributes\":{\"expiryTime\":\"P2Y\"}}'")])


def _vault_wait_get(e, ns) -> dict:
    v = e.get_vault(ns.name)
    if ns.resource_group and v.resource_group.lower() != ns.resource_group.lower():
        from engine.errors import NotFound

        raise NotFound(f"The Resource 'Microsoft.KeyVault/vaults/{ns.name}' under resource group "
                       f"'{ns.resource_group}' was not found.", code="ResourceNotFound")
    return views.vault_view(e, v)


wait_command("az keyvault wait", [_vault_name(), rg(required=False)], _vault_wait_get, what="the Vault",
             examples=[("Wait until a vault another terminal makes exists.",
                        "az keyvault wait -n MyVault --created --interval 5 --timeout 60")])
