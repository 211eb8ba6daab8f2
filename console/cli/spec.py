"""The command table: every command is data (its words, flags, summary) plus one facade call.

A command maps its parsed arguments to ONE engine facade method and its arguments (:class:`Call`),
and maps the method's result to Azure-shaped JSON (``render``, using :mod:`engine.views`). The same
:class:`Call` feeds ``cmklab what-if``, so a preview runs exactly what the command would run.

Commands are registered per top-level group in their own module (``console.cli.commands.*``) and
imported only when that group is used: a CLI call imports one module of specs.
"""

from __future__ import annotations

import importlib
from engine._lazy import module as lazy_module
from engine.common import TAG_NAME_MAX, TAG_VALUE_MAX, TAGS_PER_KEY_VAULT_OBJECT, TAGS_PER_RESOURCE, checked_tags  # noqa: F401
from engine._light import dataclass, field
from typing import Any, Callable, Sequence

views = lazy_module("engine.views")
"""``engine.views``, imported on first use: ``--help`` and usage errors never import the engine's views."""

# ---- arguments ------------------------------------------------------------------------------------------


@dataclass
class Arg:
    """One flag (or positional) of a command, as az declares it."""

    options: tuple[str, ...]
    """Option strings in az's declaration order (``("--resource-group", "-g")``); empty for a positional."""
    dest: str
    help: str = ""
    required: bool = False
    kind: str = "value"
    """``value``, ``int``, ``enum`` (case-insensitive choices), ``flag3`` (az three-state boolean),
    ``bool`` (AAZ boolean), ``store_true``, ``tags``, ``refused`` (az has it, cmklab refuses it: ``help`` is why),
    ``generic`` (az's ``--set``/``--add``/``--remove``: every use kept, in order, console/cli/parser.py)."""
    choices: Sequence[str] | None = None
    nargs: str | int | None = None
    default: Any = None
    help_default: str | None = None
    """What help shows as ``Default: x.`` (az shows the declared default)."""
    group: str | None = None
    """Help group (``Id Arguments``, ``Storage Arguments`` ...); None lists it under ``Arguments``."""
    metavar: str | None = None
    deprecated: bool = False
    append: bool = False
    """Each use of the flag is kept (argparse's ``append``): az's ``--add`` and ``--remove``."""


@dataclass
class Call:
    """One engine facade call: ``getattr(engine, method)(*args, **kwargs)``; the one call type of the CLI,
    what-if and the console (whose forms also say what to run next, and keep the what-if they asked for)."""

    method: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    hints: dict = field(default_factory=dict)
    """Facts for the az words that the call does not hold (the path of the PEM file a key was read from)."""
    then: Callable[[Any], "Call | None"] | None = None
    """What to call next with this call's result (the console's follow-ups)."""
    preview_then: list = field(default_factory=list)
    """The az lines of ``then`` as a form previews them (the result is not known yet)."""
    impact: Any = None
    """The what-if a form already asked the engine for (the confirmation reuses it)."""

    def describe(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.method}({', '.join(parts)})"


@dataclass
class Command:
    """A leaf command: words, summary, flags, and how it runs."""

    path: str
    """Words with the root: ``az keyvault key create`` or ``cmklab vm write``."""
    summary: str
    args: list[Arg] = field(default_factory=list)
    call: Callable[[Any, Any], Call] | None = None
    """``(ns, ctx) -> Call``: the facade method and arguments for these parsed arguments."""
    render: Callable[[Any, Any, Any], Any] | None = None
    """``(engine, result, ns) -> JSON``; None prints nothing (as az does for delete, start ...)."""
    run: Callable[[Any, Any], Any] | None = None
    """``(ctx, ns) -> JSON`` for commands that are not one facade call (queries)."""
    method: str | None = None
    """The facade method ``call`` calls, declared so that a call can be said back in this command's words
    (:mod:`console.cli.words`): every action has a command that declares it. Whether the command changes
    state is the method's business (``@action`` in the engine), not the command's."""
    params: dict = field(default_factory=dict)
    """How the method's parameters become this command's arguments, where the name is not the same:
    ``{"vault": "vault_name"}`` (another dest), ``{"scale_set": None}`` (never said on the command line),
    ``{"key_url": ("key_url", "key_url")}`` (a dest and a :class:`~console.cli.words.Words` method that
    turns the value into portable words), or a function ``(value, words) -> {dest: value}``, which sees
    every value, even the method's default. Any other parameter maps to the dest of its own name, and is
    not written when it has the method's default."""
    when: dict = field(default_factory=dict)
    """The parameter values of the calls this command says, where several commands declare one method
    (``az vmss start|stop|deallocate|restart`` all call ``scale_set_power``: each says its ``action``)."""
    each: Callable[[dict, Any], list] | None = None
    """``(params, words) -> [params]``: one call said as several command lines (``set-attributes`` on every
    version of a key: one line per version)."""
    table: Callable[[Any], Any] | None = None
    """az's table transformer (applied for ``-o table`` unless ``--query`` is given)."""
    confirm: bool = False
    """az prompts for confirmation unless ``--yes`` (``vm delete``, ``disk delete``, ``group delete``)."""
    warning: str | None = None
    """A warning az always prints to stderr for this command."""
    validate: Callable[[Any], None] | None = None
    examples: list[tuple[str, str]] = field(default_factory=list)
    long_summary: str | None = None
    ids: str | None = None
    """The ARM type ``--ids`` names (``Microsoft.Compute/disks``); None: the command takes no ``--ids``."""
    id_parts: tuple = ("resource_group", "name")
    """The arguments one resource id stands for (the resource group first)."""
    ids_required: tuple = ()
    """Those of ``id_parts`` that are required when ``--ids`` is not given."""
    resource_type: str | None = None
    """The ARM type of the resource a command without ``--ids`` names (az 2.91 gives ``vmss stop`` none): how the
    console's command log finds the resource's group. A command with ``--ids`` says it there."""
    probe: str | None = None
    """For a delete: the facade method that looks the resource up first, so a missing one deletes nothing and
    succeeds (ARM answers 204)."""

    @property
    def words(self) -> list[str]:
        return self.path.split()


# ---- the registry ---------------------------------------------------------------------------------------

AZ_VERSION = "2.91"
"""The az whose commands, flags, texts and shapes cmklab follows."""

COMMANDS: dict[str, Command] = {}
GROUPS: dict[str, str] = {
    "az": "The Azure CLI, on cmklab's engine: the commands for customer-managed keys of disks.",
    "az account": "Manage Azure subscription information.",
    "az group": "Manage resource groups and template deployments.",
    "az keyvault": "Manage KeyVault keys, secrets, and certificates.",
    "az keyvault key": "Manage keys.",
    "az keyvault key rotation-policy": "Manage key's rotation policy.",
    "az role": "Manage Azure role-based access control (Azure RBAC).",
    "az role assignment": "Manage role assignments.",
    "az disk-encryption-set": "Disk Encryption Set resource.",
    "az disk": "Manage Azure Managed Disks.",
    "az snapshot": "Manage point-in-time copies of managed disks, native blobs, or other snapshots.",
    "az image": "Manage custom virtual machine images.",
    "az vm": "Manage Linux or Windows virtual machines.",
    "az vm disk": "Manage the managed data disks attached to a VM.",
    "az vm encryption": "Manage encryption of VM disks.",
    "az vmss": "Manage groupings of virtual machines in an Azure Virtual Machine Scale Set (VMSS).",
    "cmklab": "cmklab: customer-managed keys for disks, on an engine with real envelope encryption.",
    "cmklab vm": "The data plane: read and write a VM's disks as the guest sees them.",
    "cmklab disk": "What is at rest on a disk, snapshot or image.",
    "cmklab clock": "The simulated clock: due jobs run as it passes them.",
    "cmklab rules": "The rule profiles: the seed documents' rules (seeds) and today's Azure (azure-2025).",
}
"""Every group and its summary (static, so ``az --help`` needs no command module)."""

MODULES = {
    "az account": "account", "az group": "account", "az keyvault": "keyvault", "az role": "role",
    "az disk-encryption-set": "compute", "az disk": "compute", "az snapshot": "compute", "az image": "compute",
    "az vm": "vm", "az vmss": "vmss", "cmklab": "extras",
}
"""Which module registers the commands of a top-level group."""

CMKLAB_COMMANDS = {"what-if": "Preview what a command that changes state would do, without doing it."}
"""cmklab's own top-level commands (for ``cmklab --help``)."""

CMKLAB_VERBS = {
    "console": "Open the console (the default with no command).",
    "demo": "Build the demo landscape in an empty home, without opening the console.",
    "import": "Build a twin of your subscription from az's JSON (a new home, or --merge into one).",
    "scenario": "Workshop exercises: list, run (opens the console with a Lab pane), check, show.",
    "serve": "Serve the console in a browser (every tab a console on the same home).",
    "classroom": "A classroom in the browser: one isolated lab per trainee, and the trainer's live overview.",
    "endpoint": "Serve this home to the real az CLI and Azure SDKs (HTTPS proxy on 127.0.0.1; --env).",
}
"""The verbs ``cmklab`` runs outside the az CLI (``console.main``), for ``cmklab --help``."""

CMKLAB_OPTIONS = (
    (("--home",), {"metavar": "DIR", "help": "the home holding the state (default: $CMKLAB_HOME, or the user's "
                                             "data directory)"}),
    (("--seed",), {"metavar": "N", "help": "the seed of a new state (default: $CMKLAB_SEED)"}),
    (("--profile",), {"metavar": "NAME", "help": "the rule profile of a new state: seeds or azure-2025"}),
    (("--empty",), {"action": "store_true", "help": "the console opens a new home empty (no demo landscape)"}),
    (("--read-only",), {"action": "store_true", "help": "open the store read-only: every change is refused"}),
)
"""cmklab's global options, before the command (``console.main`` parses them; ``cmklab --help`` lists them):
``(option strings, argparse keywords)``."""
CMKLAB_GLOBALS = "cmklab [--home DIR] [--seed N] [--profile NAME] [--empty] [--read-only] [COMMAND ...]"

_loaded: set[str] = set()


def load(group_path: str) -> None:
    """Import the module that registers ``group_path``'s commands (``az keyvault`` -> keyvault)."""
    words = group_path.split()
    key = " ".join(words[:2]) if words[0] == "az" else "cmklab"
    mod = MODULES.get(key)
    if mod is None or mod in _loaded:
        return
    importlib.import_module(f"console.cli.commands.{mod}")
    _loaded.add(mod)


def load_all() -> None:
    for mod in sorted(set(MODULES.values())):
        if mod not in _loaded:
            importlib.import_module(f"console.cli.commands.{mod}")
            _loaded.add(mod)


def register(cmd: Command) -> Command:
    COMMANDS[cmd.path] = cmd
    return cmd


IDS_GROUP = "Resource Id Arguments"
IDS_HELP = "One or more resource IDs (space-delimited). If provided, no other 'Resource Id' arguments should be specified."


def command(path: str, summary: str, args: list[Arg] | None = None, **kw) -> Command:
    if "mutating" in kw:
        raise TypeError(f"{path}: command(mutating=...) is gone: whether a command changes state is said once, on "
                        "its facade method (@action in engine/actions.py); declare method='<facade method>' (and "
                        "params where its names differ) so the console can say its calls in these words")
    cmd = Command(path=path, summary=summary, args=list(args or []), **kw)
    if cmd.ids:
        _with_ids(cmd)
    if path.startswith("az ") and (_changes_state(cmd) or path in POLICY_EXTRA):
        _with_args(cmd, policy_args())
    if path in PAGED:
        _with_args(cmd, paging_args())
    from . import extra_flags

    extra = extra_flags.args_for(path, {o for a in cmd.args for o in a.options})
    if extra:
        cmd.args = cmd.args + extra
    return register(cmd)


def _changes_state(cmd: Command) -> bool:
    """Whether ``cmd`` changes state: its facade method's ``@action`` says so."""
    if cmd.method is None:
        return False
    from engine.facade import changes_state

    return changes_state(cmd.method)


POLICY_GROUP = "Global Policy Arguments"
POLICY_NOTE = " (No effect in cmklab: no Azure Policy is modelled, so there is no token to acquire or change to cite.)"
POLICY_EXTRA = frozenset({
    "az account set", "az group exists", "az disk-encryption-set list-associated-resources",
    "az keyvault list-deleted", "az keyvault show-deleted", "az keyvault key list-deleted",
    "az keyvault key list-versions", "az keyvault key show-deleted", "az vm get-instance-view",
    "az vmss list-instances", "az keyvault key encrypt", "az keyvault key decrypt", "az keyvault key sign",
    "az keyvault key verify", "az disk wait", "az snapshot wait", "az image wait", "az disk-encryption-set wait",
    "az vm wait", "az vmss wait", "az keyvault wait", "az group wait"})
"""Commands that take az's policy-token arguments without changing state (az 2.91 gives them to these too)."""
PAGED = frozenset({"az disk list", "az disk-encryption-set list", "az disk-encryption-set list-associated-resources",
                   "az image list", "az snapshot list", "az vmss list", "az vmss list-instances"})
"""AAZ list commands: ``--max-items`` and ``--next-token`` (az's ``Pagination`` arguments)."""


def policy_args() -> list[Arg]:
    return [Arg(("--acquire-policy-token",), "acquire_policy_token", "Acquiring an Azure Policy token automatically "
                "for this resource operation." + POLICY_NOTE, kind="store_true", group=POLICY_GROUP),
            Arg(("--change-reference",), "change_reference", "The related change reference ID for this resource "
                "operation." + POLICY_NOTE, group=POLICY_GROUP)]


def paging_args() -> list[Arg]:
    return [Arg(("--max-items",), "max_items", "Total number of items to return in the command's output. If the "
                "total number of items available is more than the value specified, a token is provided in the "
                "command's output. To resume pagination, provide the token value in `--next-token` argument of a "
                "subsequent command.", kind="int", group="Pagination Arguments"),
            Arg(("--next-token",), "next_token", "Token to specify where to start paginating. This is the token value "
                "from a previously truncated response.", group="Pagination Arguments")]


def _with_args(cmd: Command, extra: list[Arg]) -> None:
    taken = {o for a in cmd.args for o in a.options}
    cmd.args = cmd.args + [a for a in extra if not taken.intersection(a.options)]


def _with_ids(cmd: Command) -> None:
    """az's ``--ids``: the id-part arguments join the ``Resource Id Arguments`` group and stop being required
    (one of them or ``--ids`` is checked after parsing, with az's message)."""
    required, args = [], []
    for arg in cmd.args:
        if arg.dest in cmd.id_parts:
            if arg.required:
                required.append(arg.dest)
            arg = Arg(**{**{k: getattr(arg, k) for k in Arg.__light_fields__}, "required": False, "group": IDS_GROUP})
        args.append(arg)
    args.append(Arg(("--ids",), "ids", IDS_HELP, nargs="+", group=IDS_GROUP, metavar="ID"))
    cmd.args = args
    cmd.ids_required = tuple(required)


def children(group_path: str) -> tuple[dict[str, str], dict[str, Command]]:
    """The subgroups (name -> summary) and commands (name -> Command) directly under a group."""
    load(group_path)
    depth = len(group_path.split())
    subgroups = {p.split()[depth]: s for p, s in GROUPS.items()
                 if p.startswith(group_path + " ") and len(p.split()) == depth + 1}
    if group_path == "az":
        subgroups = {p.split()[1]: s for p, s in GROUPS.items() if p.startswith("az ") and len(p.split()) == 2}
    cmds = {p.split()[depth]: c for p, c in COMMANDS.items()
            if p.startswith(group_path + " ") and len(p.split()) == depth + 1}
    return subgroups, cmds


# ---- shared arguments (az's wording) -------------------------------------------------------------------

RG_HELP = "Name of resource group. You can configure the default group using `az configure --defaults group=<name>`."
LOCATION_HELP = ("Location. Values from: `az account list-locations`. You can configure the default location using "
                 "`az configure --defaults location=<location>`.")
TAGS_HELP = 'Space-separated tags: key[=value] [key[=value] ...]. Use "" to clear existing tags.'
NO_WAIT_HELP = ("Do not wait for the long-running operation to finish. (No effect in cmklab: a simulated operation "
                "is done when the command returns; as in az, nothing is printed.)")
YES_HELP = "Do not prompt for confirmation."


def rg(required: bool = True) -> Arg:
    return Arg(("--resource-group", "-g"), "resource_group", RG_HELP, required=required)


def location() -> Arg:
    return Arg(("--location", "-l"), "location", LOCATION_HELP)


def tags() -> Arg:
    return Arg(("--tags",), "tags", TAGS_HELP, kind="tags", nargs="*")


def no_wait() -> Arg:
    return Arg(("--no-wait",), "no_wait", NO_WAIT_HELP, kind="store_true")


def yes() -> Arg:
    return Arg(("--yes", "-y"), "yes", YES_HELP, kind="store_true")


def name(help_text: str, required: bool = True, *, extra: tuple[str, ...] = ()) -> Arg:
    return Arg(("--name", "-n") + extra, "name", help_text, required=required)


def flag3(options: tuple[str, ...], dest: str, help_text: str, default: str | None = None) -> Arg:
    return Arg(options, dest, help_text, kind="flag3", choices=("true", "false"), help_default=default)


def aaz_bool(options: tuple[str, ...], dest: str, help_text: str) -> Arg:
    return Arg(options, dest, help_text, kind="bool", choices=("false", "true"))


def enum(options: tuple[str, ...], dest: str, help_text: str, choices: Sequence[str], *, required: bool = False,
         nargs=None, group: str | None = None, help_default: str | None = None) -> Arg:
    return Arg(options, dest, help_text, required=required, kind="enum", choices=tuple(choices), nargs=nargs,
               group=group, help_default=help_default)


OUTPUT_CHOICES = ("json", "jsonc", "yaml", "yamlc", "table", "tsv", "none")

GLOBAL_ARGS = [
    Arg(("--debug",), "debug", "Increase logging verbosity to show all debug logs.", kind="store_true",
        group="Global Arguments"),
    Arg(("--help", "-h"), "help", "Show this help message and exit.", kind="store_true", group="Global Arguments"),
    Arg(("--only-show-errors",), "only_show_errors", "Only show errors, suppressing warnings.", kind="store_true",
        group="Global Arguments"),
    Arg(("--output", "-o"), "output", "Output format.", kind="output", choices=OUTPUT_CHOICES,
        help_default="json", group="Global Arguments"),
    Arg(("--query",), "query", "JMESPath query string. See http://jmespath.org/ for more information and examples.",
        kind="query", group="Global Arguments"),
    Arg(("--subscription",), "subscription", "Name or ID of subscription. You can configure the default "
        "subscription using `az account set -s NAME_OR_ID`.", group="Global Arguments"),
    Arg(("--verbose",), "verbose", "Increase logging verbosity. Use --debug for full debug logs.",
        kind="store_true", group="Global Arguments"),
]


def parse_tags(values: list[str] | None) -> dict | None:
    """``--tags a=1 b`` as az reads it; ``--tags ""`` clears (an empty dict)."""
    if values is None:
        return None
    out: dict = {}
    for v in values:
        if not v:
            continue
        k, _, val = v.partition("=")
        out[k] = val
    return out


def check_tags(tags: dict | None, max_count: int = TAGS_PER_RESOURCE) -> None:
    """The service's answer to tags over its limits (a 400, so exit 1), before the command runs: the engine's
    own check (every action that sets tags makes it, whichever front end called it)."""
    checked_tags(tags, max_count)
