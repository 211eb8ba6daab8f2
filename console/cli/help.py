"""``--help`` in knack's layout: a leading blank line, 4-space indents, ``name : summary`` columns,
text wrapped at 100 columns with a hanging indent, ``[Required]`` tags, ``Allowed values`` (sorted)
and ``Default`` appended, argument groups (ungrouped first, named groups alphabetically, Global
Arguments last), then examples."""

from __future__ import annotations

import textwrap

from . import spec
from .spec import Arg, Command

WIDTH = 100
INDENT = 4
PREFIX = " : "


def _wrap(text: str, indent: int, hanging: int) -> list[str]:
    wrapper = textwrap.TextWrapper(width=WIDTH, initial_indent=" " * (INDENT * indent),
                                   subsequent_indent=" " * hanging, break_long_words=False,
                                   break_on_hyphens=False)
    return wrapper.wrap(text) or [" " * (INDENT * indent)]


def group_help(path: str) -> str:
    subgroups, cmds = spec.children(path)
    summary = spec.GROUPS.get(path, "")
    lines = ["", "Group", *_wrap(f"{path}{PREFIX}{summary}", 1, INDENT)]
    items = [(n, s) for n, s in sorted(subgroups.items())]
    items_c = [(n, c.summary) for n, c in sorted(cmds.items())]
    verbs: list[tuple[str, str]] = []
    if path == "cmklab":
        items_c = sorted(items_c + list(spec.CMKLAB_COMMANDS.items()))
        items = sorted(items + [("az", spec.GROUPS["az"])])
        verbs = sorted(spec.CMKLAB_VERBS.items())
        lines += ["", "Usage", f"{' ' * INDENT}{spec.CMKLAB_GLOBALS}"]
    options = [(" ".join(f"{f} {kw['metavar']}" if "metavar" in kw else f for f in flags), kw["help"])
               for flags, kw in spec.CMKLAB_OPTIONS] if path == "cmklab" else []
    width = max([len(n) for n, _ in items + items_c + verbs] or [0])
    for title, block in (("Global options (before the command):", options), ("Console and workshop:", verbs),
                         ("Subgroups:", items), ("Commands:", items_c)):
        if not block:
            continue
        lines += ["", title]
        w = max(len(n) for n, _ in block) if block is options else width  # the options: a column of their own
        for n, s in block:
            lines += _wrap(f"{n.ljust(w)}{PREFIX}{s}", 1, INDENT + w + len(PREFIX))
    lines.append("")
    return "\n".join(lines) + "\n"


def _arg_name(arg: Arg) -> str:
    if not arg.options:
        return arg.metavar or arg.dest.upper()
    return " ".join(sorted(arg.options))


def _arg_summary(arg: Arg) -> str:
    text = arg.help.strip()
    if arg.deprecated:
        text = (text + "  " if text else "") + "Argument deprecated."
    if arg.choices and arg.kind not in ("bool",):
        text += "  Allowed values: {}.".format(", ".join(sorted(str(c) for c in arg.choices)))
    elif arg.kind == "bool":
        text += "  Allowed values: false, true."
    if arg.help_default:
        text += f"  Default: {arg.help_default}."
    return text.strip()


def command_help(cmd: Command) -> str:
    taken = {o for a in cmd.args for o in a.options}
    params = list(cmd.args) + [g for g in spec.GLOBAL_ARGS if g.dest == "help" or not taken.intersection(g.options)]
    required_tag = " [Required]"

    def is_required(a: Arg) -> bool:
        return a.required or not a.options

    names = {id(a): _arg_name(a) for a in params}
    max_len = max(len(names[id(a)]) + (len(required_tag) if is_required(a) else 0) for a in params)
    groups = sorted({a.group for a in params if a.group and a.group != "Global Arguments"})
    priority = {None: 0, **{g: i + 1 for i, g in enumerate(groups)}, "Global Arguments": len(groups) + 1}

    lines = ["", "Command", *_wrap(f"{cmd.path}{PREFIX}{cmd.summary}", 1, INDENT)]
    if cmd.long_summary:
        lines += _wrap(cmd.long_summary, 1, INDENT)
    lines += ["", "Arguments"]
    last = None
    for a in sorted(params, key=lambda a: (priority.get(a.group, 0), not is_required(a), names[id(a)])):
        if a.group != last:
            if a.group:
                lines += ["", a.group]
            last = a.group
        tag = required_tag if is_required(a) else ""
        name = names[id(a)]
        summary = _arg_summary(a)
        pad = " " * (max_len - len(name + tag))
        text = f"{name}{pad}{tag}" + (f"{PREFIX}{summary}" if summary else "")
        lines += _wrap(text, 1, max_len + INDENT + len(PREFIX))
    if cmd.examples:
        lines += ["", "Examples"]
        for title, example in cmd.examples:
            lines += _wrap(title, 1, INDENT)
            lines += _wrap(example, 2, INDENT * 2)
            lines.append("")
        lines.pop()
    lines.append("")
    return "\n".join(lines) + "\n"
