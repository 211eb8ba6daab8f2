"""``az account`` and ``az group``."""

from __future__ import annotations

from ..errors import CLIError
from ..wait import wait_command
from ..output import transform_group_list
from ..spec import Arg, Call, command, no_wait, tags, yes, views

# ---- account ---------------------------------------------------------------------------------------


def _account_set(ctx, ns):
    meta = ctx.engine.meta
    sub = ns.subscription_arg
    if sub.lower() not in (meta.subscription_id.lower(), meta.subscription_name.lower()):
        raise CLIError(f"The subscription of '{sub}' doesn't exist in cloud 'AzureCloud'.")
    return None


command("az account show", "Get the details of a subscription.", [],
        run=lambda ctx, ns: views.account_view(ctx.engine),
        long_summary="If no subscription is specified, shows the details of the current subscription.",
        examples=[("Get the details of the current subscription.", "az account show")])

command("az account set", "Set a subscription to be the current active subscription.", [
    Arg(("--name", "-n", "--subscription", "-s"), "subscription_arg", "Name or ID of subscription.", required=True),
], run=_account_set, examples=[("Set the active subscription.", "az account set --subscription MySubscription")])

# ---- group -----------------------------------------------------------------------------------------

_GROUP_NAME = "Name of resource group."


def _group_name(required: bool = True) -> Arg:
    return Arg(("--name", "--resource-group", "-n", "-g"), "name", _GROUP_NAME, required=required)


command("az group create", "Create a new resource group.", [
    _group_name(), Arg(("--location", "-l"), "location", "Location. Values from: `az account list-locations`. You "
                       "can configure the default location using `az configure --defaults location=<location>`.",
                       required=True),
    tags(), Arg(("--managed-by",), "managed_by", "The ID of the resource that manages this resource group."),
], call=lambda ns, ctx: Call("create_group", (ns.name, ns.location), {"tags": ns.tags}),
    render=lambda e, g, ns: views.group_view(g), method="create_group",
    examples=[("Create a new resource group in the West US region.",
               "az group create -l westus -n MyResourceGroup")])

command("az group show", "Gets a resource group.", [_group_name()],
        call=lambda ns, ctx: Call("get_group", (ns.name,)), render=lambda e, g, ns: views.group_view(g),
        examples=[("Get a resource group.", "az group show -n MyResourceGroup")])

command("az group list", "List resource groups.", [
    Arg(("--tag",), "tag", "A single tag in 'key[=value]' format. Use \"\" to clear existing tags."),
], call=lambda ns, ctx: Call("list_groups"), table=transform_group_list,
    render=lambda e, gs, ns: [views.group_view(g) for g in gs if _tag_match(g, ns.tag)],
    examples=[("List all resource groups located in the West US region.",
               "az group list --query \"[?location=='westus']\"")])


def _tag_match(group, tag: str | None) -> bool:
    if not tag:
        return True
    k, _, v = tag.partition("=")
    return k in group.tags and (not v or group.tags[k] == v)


command("az group delete", "Delete a resource group.", [
    _group_name(), no_wait(), yes(),
    Arg(("--force-deletion-types", "-f"), "force_deletion_types", "The resource types you want to force delete."),
], call=lambda ns, ctx: Call("delete_group", (ns.name,)), method="delete_group", confirm=True,
    examples=[("Delete a resource group.", "az group delete -n MyResourceGroup")])


def _group_exists(ctx, ns):
    return any(g.name.lower() == ns.name.lower() for g in ctx.engine.list_groups())


command("az group exists", "Check if a resource group exists.", [_group_name()], run=_group_exists,
        examples=[("Check if 'MyResourceGroup' exists.", "az group exists -n MyResourceGroup")])

wait_command("az group wait", [_group_name()], lambda e, ns: views.group_view(e.get_group(ns.name)),
             examples=[("Wait until a group is deleted.", "az group wait -n MyResourceGroup --deleted")])
