"""``az role assignment``."""

from __future__ import annotations

from ..errors import CLIError
from ..output import transform_assignment_list
from ..spec import Arg, Call, command, enum, rg, yes, views

PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal", "ForeignGroup")


def _scope(ns, ctx) -> str | None:
    if ns.scope:
        return ns.scope
    if ns.resource_group:
        return f"/subscriptions/{ctx.engine.subscription_id}/resourceGroups/{ns.resource_group}"
    return None


def _assignee(ns) -> str | None:
    return ns.assignee or getattr(ns, "assignee_object_id", None)


_CREATE_PARAMS = {"assignee": lambda v, w: {"assignee_object_id": w.principal(v),
                                              "assignee_principal_type": "ServicePrincipal"},
                  "scope": ("scope", "scope")}
"""An assignee by object id (a set's is asked of the store), a vault's scope too."""
_DELETE_PARAMS = {"assignee": ("assignee", "principal"), "scope": ("scope", "scope")}


def _validate_create(ns) -> None:
    if bool(ns.assignee) == bool(ns.assignee_object_id):
        raise CLIError("usage error: --assignee STRING | --assignee-object-id GUID")
    if ns.assignee_principal_type and not ns.assignee_object_id:
        raise CLIError("usage error: --assignee-principal-type must be used with --assignee-object-id")


def _create_call(ns, ctx) -> Call:
    return Call("create_role_assignment", (_assignee(ns), ns.role, ns.scope))


def _create_run(ctx, ns):
    """az's create is idempotent: when the service answers ``RoleAssignmentExists`` az lists the assignment of
    that principal, role and scope and returns it (role/custom.py, "for idempotent"), as its list shows it."""
    from engine.errors import Conflict

    engine = ctx.engine
    call = _create_call(ns, ctx)
    try:
        return views.role_assignment_view(engine, engine.create_role_assignment(*call.args))
    except Conflict as err:
        if err.code != "RoleAssignmentExists":
            raise
        principal, role, scope = call.args
        for ra in engine.list_role_assignments(principal, scope):
            if role.lower() in (ra.role.lower(), views.ROLE_IDS.get(ra.role, "")):
                return views.role_assignment_view(engine, ra, with_names=True)
        raise


command("az role assignment create", "Create a new role assignment for a user, group, or service principal.", [
    Arg(("--role",), "role", "Role name or id.", required=True),
    Arg(("--assignee",), "assignee", "Represent a user, group, or service principal. supported format: object id, "
        "user sign-in name, or service principal name."),
    Arg(("--assignee-object-id",), "assignee_object_id", "Use this parameter instead of '--assignee' to bypass "
        "Graph API invocation in case of insufficient privileges. This parameter only works with object ids for "
        "users, groups, service principals, and managed identities."),
    enum(("--assignee-principal-type",), "assignee_principal_type", "Use with --assignee-object-id to avoid "
         "errors caused by propagation latency in Microsoft Graph.", PRINCIPAL_TYPES),
    Arg(("--scope",), "scope", "Scope at which the role assignment or definition applies to, e.g., "
        "/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333, /subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/"
        "resourceGroups/myGroup, or /subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/myGroup/"
        "providers/Microsoft.Compute/virtualMachines/myVM.", required=True),
    Arg(("--name", "-n"), "name", "A GUID for the role assignment. It must be unique and different for each role "
        "assignment. If omitted, a new GUID is generated."),
    Arg(("--description",), "description", "Description of role assignment."),
], validate=_validate_create, call=_create_call, run=_create_run, method="create_role_assignment",
    params=_CREATE_PARAMS,
    examples=[("Let a disk encryption set's identity use the keys of an RBAC vault.",
               "az role assignment create --assignee {principalId} --role \"Key Vault Crypto Service Encryption "
               "User\" --scope {vaultId}")])


def _list_render(e, ras, ns):
    out = []
    for ra in ras:
        if ns.role and ns.role.lower() not in (ra.role.lower(), ra.id.lower()):
            continue
        in_group = f"/resourcegroups/{(ns.resource_group or '').lower()}" in ra.scope.lower()
        if ns.resource_group and not ns.scope and not in_group:
            continue
        out.append(views.role_assignment_view(e, ra, with_names=True))
    return out


command("az role assignment list", "List role assignments.", [
    Arg(("--assignee",), "assignee", "Represent a user, group, or service principal. supported format: object id, "
        "user sign-in name, or service principal name."),
    Arg(("--role",), "role", "Role name or id."),
    Arg(("--scope",), "scope", "Scope at which the role assignment or definition applies to."),
    rg(required=False),
    Arg(("--all",), "all", "Show all assignments under the current subscription.", kind="store_true"),
    Arg(("--include-inherited",), "include_inherited", "Include assignments applied on parent scopes.",
        kind="store_true"),
], call=lambda ns, ctx: Call("list_role_assignments", (ns.assignee, ns.scope)), render=_list_render,
    table=transform_assignment_list,
    examples=[("List the role assignments of an identity.", "az role assignment list --assignee {principalId}")])

command("az role assignment delete", "Delete role assignments.", [
    Arg(("--ids",), "ids", "Space-separated role assignment ids.", nargs="+"),
    Arg(("--assignee",), "assignee", "Represent a user, group, or service principal. supported format: object id, "
        "user sign-in name, or service principal name."),
    Arg(("--assignee-object-id",), "assignee_object_id", "Use this parameter instead of '--assignee' to bypass "
        "Graph API invocation in case of insufficient privileges."),
    Arg(("--role",), "role", "Role name or id."),
    Arg(("--scope",), "scope", "Scope at which the role assignment or definition applies to."),
    rg(required=False),
    Arg(("--include-inherited",), "include_inherited", "Include assignments applied on parent scopes.",
        kind="store_true"),
    yes(),
], call=lambda ns, ctx: Call("delete_role_assignment", (), {
    "ids": ns.ids, "assignee": _assignee(ns), "role": ns.role, "scope": _scope(ns, ctx)}), method="delete_role_assignment", params=_DELETE_PARAMS,
    examples=[("Revoke an identity's role (disks using its set stop working).",
               "az role assignment delete --assignee {principalId} --role \"Key Vault Crypto Service Encryption "
               "User\" --scope {vaultId}")])
