"""Parsing as the Azure CLI parses: command words, then argparse with az's error texts.

* Command words are case-insensitive; a command or group az 2.91 has and cmklab does not is ``'az x y': Not
  supported by cmklab: ...`` (:mod:`console.cli.az_names`); any other unknown word is ``'x' is misspelled or not
  recognized by the system.`` with a ``Did you mean`` line when one is close (exit 2).
* Flags go through argparse (prefix abbreviations allowed, as in az), whose own texts az keeps:
  ``unrecognized arguments: ...``, ``the following arguments are required: ...``, ``argument --x:
  expected one argument``, ``ambiguous option: ...``, ``argument --size-gb/-z: invalid int value: 'abc'``.
* A bad value for a choice is az's ``{prog}: '{value}' is not a valid value for '{flag}'. Allowed values:
  ...`` with ``Did you mean '...' ?`` (choices match case-insensitively and become az's spelling).
* A value ``@path`` is replaced by the content of the file ``path`` (as az does).
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from . import spec
from .errors import QUERY_REFERENCE, UsageError
from .spec import Arg, Command


class AzArgumentParser(argparse.ArgumentParser):
    """argparse with az's error handling: errors raise :class:`UsageError` (exit 2), no usage line."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog=prog, add_help=False, allow_abbrev=True)
        # a value such as -1h or -30m is a (negative) value, not an unknown option: the command that takes
        # it says what is wrong with it (the clock only moves forward), not "DURATION is required"
        self._negative_number_matcher = re.compile(r"^-\d+$|^-\d*\.\d+$|^-\d+[a-zA-Z]$")

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(message, [QUERY_REFERENCE] if "--query" in message else [])

    def _check_value(self, action, value):  # az's message for a value outside the choices
        if action.choices is not None and value not in action.choices:
            param = action.option_strings[0] if action.option_strings else action.dest
            choices = [str(c) for c in action.choices]
            msg = f"{self.prog}: '{value}' is not a valid value for '{param}'. Allowed values: {', '.join(choices)}."
            import difflib

            close = difflib.get_close_matches(str(value), choices, cutoff=0.7)
            raise UsageError(msg, [f"Did you mean '{close[0]}' ?"] if close else [])


# ---- value types ----------------------------------------------------------------------------------------


def _ci(choices):
    canon = {str(c).lower(): c for c in choices}

    def enum_value(text: str):
        return canon.get(text.lower(), text)
    enum_value.__name__ = "enum"
    return enum_value


def _lower(text: str) -> str:
    return text.lower()


_AAZ_TRUE = ("true", "t", "yes", "y", "1")
_AAZ_FALSE = ("false", "f", "no", "n", "0")


def _aaz_bool(text: str) -> str:
    t = text.lower()
    if t in _AAZ_TRUE:
        return "true"
    if t in _AAZ_FALSE:
        return "false"
    return text


QUERY_MAX_DEPTH = 200
"""How deep a ``--query`` expression may nest (pipes, brackets, sub-expressions): jmespath evaluates by recursion."""


def _query_too_deep(depth: str) -> UsageError:
    return UsageError(f"argument --query: the expression nests {depth} levels deep; at most {QUERY_MAX_DEPTH} are "
                      "allowed", [QUERY_REFERENCE])


def jmespath_type(text: str):
    import jmespath

    try:
        expression = jmespath.compile(text)
    except RecursionError:
        raise _query_too_deep(f"more than {QUERY_MAX_DEPTH}") from None
    except Exception:
        raise ValueError(text) from None
    depth = _ast_depth(expression.parsed)
    if depth > QUERY_MAX_DEPTH:
        raise _query_too_deep(f"{depth:,}")
    return expression


def _ast_depth(node) -> int:
    """The depth of a jmespath AST, walked without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.get("children") or ())
            if isinstance(item.get("value"), dict):
                stack.append((item["value"], depth + 1))
    return deepest


def _int(text: str) -> int:
    return int(text)


_int.__name__ = "int"


class _Refused(argparse.Action):
    """A flag az has that cmklab refuses: az's usage error (exit 2) naming the flag and the reason."""

    def __call__(self, parser, namespace, values, option_string=None):
        raise UsageError(f"argument {option_string}: {self.help}")


class _Generic(argparse.Action):
    """az's ``--set``, ``--add`` and ``--remove`` (its ``OrderedArgsAction``): every use is kept, and so is their
    order across the three (``namespace.generic_actions``), which is the order az applies them in. ``--set``'s
    expressions are one flat list; each ``--add`` or ``--remove`` is a list of its own."""

    def __call__(self, parser, namespace, values, option_string=None):
        values = list(values)
        if self.dest == "set":
            setattr(namespace, self.dest, (getattr(namespace, self.dest, None) or []) + values)
        else:
            setattr(namespace, self.dest, (getattr(namespace, self.dest, None) or []) + [values])
        actions = getattr(namespace, "generic_actions", None) or []
        setattr(namespace, "generic_actions", actions + [(self.dest, values)])


def add_argument(parser: argparse.ArgumentParser, arg: Arg) -> None:
    kw: dict[str, Any] = {"dest": arg.dest}
    if arg.options and arg.required:
        kw["required"] = True
    if arg.metavar:
        kw["metavar"] = arg.metavar
    kind = arg.kind
    if kind == "refused":
        parser.add_argument(*arg.options, dest=arg.dest, nargs="*", action=_Refused, help=arg.help, default=None)
        return
    if kind == "generic":
        kw.update(action=_Generic, nargs=arg.nargs or "+", default=None)
    elif kind == "store_true":
        kw.update(action="store_true", default=False)
    elif kind == "flag3":
        kw.update(nargs="?", const="true", type=_lower, choices=["true", "false"], default=None)
    elif kind == "bool":
        kw.update(nargs="?", const="true", type=_aaz_bool, choices=["false", "true"], default=None)
    elif kind == "enum":
        kw.update(type=_ci(arg.choices), choices=list(arg.choices), default=arg.default)
        if arg.nargs is not None:
            kw["nargs"] = arg.nargs
    elif kind == "output":
        kw.update(type=_lower, choices=list(arg.choices), default=None)
    elif kind == "query":
        kw.update(type=jmespath_type, default=None)
    elif kind == "int":
        kw.update(type=_int, default=arg.default)
        if arg.nargs is not None:
            kw["nargs"] = arg.nargs
    else:
        kw["default"] = arg.default
        if arg.nargs is not None:
            kw["nargs"] = arg.nargs
        if arg.append:
            kw["action"] = "append"
    if arg.options:
        parser.add_argument(*arg.options, **kw)
    else:
        kw.pop("dest")
        kw.pop("required", None)
        parser.add_argument(arg.dest, **kw)


def build_parser(cmd: Command) -> AzArgumentParser:
    parser = AzArgumentParser(prog=cmd.path)
    for arg in cmd.args:
        add_argument(parser, arg)
    taken = {o for arg in cmd.args for o in arg.options}
    for arg in spec.GLOBAL_ARGS:
        if arg.dest != "help" and not taken.intersection(arg.options):
            add_argument(parser, arg)
    return parser


def expand_files(tokens: list[str]) -> list[str]:
    """az's ``@file`` values: the content of the file replaces the token (a trailing newline dropped)."""
    out = []
    for i, tok in enumerate(tokens):
        if tok.startswith("@") and len(tok) > 1 and i > 0 and tokens[i - 1].startswith("-"):
            path = os.path.expanduser(tok[1:])
            if os.path.isfile(path):
                from .files import AT_FILE_LIMIT, read_text

                text = read_text(path, AT_FILE_LIMIT, f"argument {tokens[i - 1]}")
                out.append(text[:-1] if text.endswith("\n") else text)
                continue
        out.append(tok)
    return out


def parse_args(cmd: Command, tokens: list[str]) -> argparse.Namespace:
    ns = build_parser(cmd).parse_args(expand_files(tokens))
    for arg in cmd.args:
        value = getattr(ns, arg.dest, None)
        if arg.kind in ("flag3", "bool") and value is not None:
            setattr(ns, arg.dest, value == "true")
        elif arg.kind == "tags":
            setattr(ns, arg.dest, spec.parse_tags(value))
            spec.check_tags(getattr(ns, arg.dest), spec.TAGS_PER_KEY_VAULT_OBJECT
                            if cmd.path.startswith("az keyvault key ") else spec.TAGS_PER_RESOURCE)
    ns.id_targets = resolve_ids(cmd, ns) if cmd.ids else None
    ns.query_active = ns.query is not None
    ns.output_given = ns.output is not None
    if ns.output is None:
        ns.output = "json"
    return ns


def resolve_ids(cmd: Command, ns: argparse.Namespace) -> list[dict] | None:
    """``--ids``: one target per id (its subscription and id-part values), or None when the id-part
    arguments were given instead. Mixing the two, or giving neither, is a usage error."""
    by_dest = {a.dest: a for a in cmd.args}
    ids = [i for token in (ns.ids or []) for i in token.split()]
    if not ids:
        if ns.ids is not None:
            raise UsageError("argument --ids: expected at least one resource ID")
        missing = [by_dest[d].options[0] for d in cmd.ids_required if getattr(ns, d, None) in (None, "")]
        if missing:
            raise UsageError(f"({' '.join(missing)} | --ids) are required")
        return None
    mixed = [by_dest[d].options[0] for d in cmd.id_parts if getattr(ns, d, None) not in (None, "")]
    if mixed:
        raise UsageError(f"usage error: --ids cannot be combined with {' '.join(mixed)}: give either --ids ID [ID ...] "
                         f"or {' '.join(by_dest[d].options[0] + ' ' + by_dest[d].dest.upper() for d in cmd.id_parts)}")
    rg_dest, name_dest = cmd.id_parts
    targets = []
    for rid in ids:
        from engine.ids import parse_arm_id

        ref = parse_arm_id(rid)
        if ref is None or ref.provider.lower() != cmd.ids.lower():
            raise UsageError(f"argument --ids: invalid resource ID '{rid}'. Expected "
                             f"/subscriptions/{{subscriptionId}}/resourceGroups/{{resourceGroup}}/providers/"
                             f"{cmd.ids}/{{name}}")
        targets.append({"id": rid, "subscription": ref.subscription, rg_dest: ref.resource_group, name_dest: ref.name})
    for dest in cmd.id_parts:  # validators see the first resource's names
        setattr(ns, dest, targets[0][dest])
    return targets


def given(ns: argparse.Namespace, *dests: str) -> list[str]:
    return [d for d in dests if getattr(ns, d, None) not in (None, False, [])]


# ---- command words ----------------------------------------------------------------------------------------


class Resolved:
    """What the words name: a command (with the tokens left for its flags) or a group."""

    def __init__(self, path: str, command: Command | None, rest: list[str]) -> None:
        self.path = path
        self.command = command
        self.rest = rest


def resolve(root: str, tokens: list[str]) -> Resolved:
    """Walk the command words under ``root`` (``az`` or ``cmklab``), case-insensitively."""
    path = root
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("-"):
            break
        subgroups, cmds = spec.children(path)
        word = tok.lower()
        if word in cmds:
            return Resolved(f"{path} {word}", cmds[word], tokens[i + 1:])
        if word in subgroups:
            path = f"{path} {word}"
            i += 1
            continue
        if root == "az":
            _not_in_cmklab(path, [t.lower() for t in tokens[i:]])
        import difflib

        names = sorted(set(subgroups) | set(cmds))
        close = difflib.get_close_matches(word, names, cutoff=0.7)
        raise UsageError(f"'{tok}' is misspelled or not recognized by the system.",
                         [f"Did you mean '{close[0]}' ?"] if close else [])
    return Resolved(path, None, tokens[i:])


def _not_in_cmklab(path: str, words: list[str]) -> None:
    """A command (or group) az 2.91 has that cmklab does not implement: az's usage error (exit 2) naming it and saying
    so, not that the user mistyped it."""
    from .az_names import AZ_COMMANDS

    prefix = path.split()[1:]
    found = None
    for word in words:
        if word.startswith("-"):
            break
        prefix = prefix + [word]
        name = " ".join(prefix)
        if name in AZ_COMMANDS:
            found = ("command", name)
            break
        if any(c.startswith(name + " ") for c in AZ_COMMANDS):
            found = ("group", name)
            continue
        break
    if found is None:
        return
    kind, name = found
    top = path if len(path.split()) > 1 else f"az {name.split()[0]}"
    raise UsageError(f"'az {name}': Not supported by cmklab: az {spec.AZ_VERSION} has this {kind}, cmklab does not "
                     f"implement it (`{top} --help` lists the commands it has).")


def wants_help(tokens: list[str]) -> bool:
    return any(t in ("-h", "--help") for t in tokens)
