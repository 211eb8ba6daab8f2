"""az's generic update arguments (``--set``, ``--add``, ``--remove``, ``--force-string``) on a resource's JSON shape.

az applies them to the resource it got, then sends the whole resource back. cmklab does the same on the JSON its
``show`` prints, with az's rules: a path is dot-separated keys and ``[index]`` or ``[key=value]`` filters; a value
is parsed as JSON unless ``--force-string`` is given (falling back to the string); ``--set`` into a null parent
creates it; ``--add PATH VALUE|KEY=VALUE ...`` appends to a list (consecutive ``KEY=VALUE`` make one object);
``--remove PATH [INDEX]`` drops a key or a list item. A path that does not exist is az's ``Couldn't find 'x' in
'y'. Available options: [...]`` (exit 1).

Then the changes are read back: each changed property must be one the engine models for this resource
(``UPDATABLE``: its path -> the facade keyword); any other is refused, naming the property and those that can
change. Nothing is written unless every change is one the engine can make.

An AAZ command (``disk update``, ``disk-encryption-set update`` in az 2.91) applies them to its typed instance
(``aaz/_operation.py``'s ``AAZGenericInstanceUpdateOperation``), which differs in two ways, kept with ``aaz=True``:
``--set KEY=null`` unsets the property (a tag so set is removed), and ``--remove`` of a tag that is not there does
nothing (elsewhere it is az's ``Couldn't find 'x' in 'tags'``). ``--add`` to what is not a list is ``invalid syntax:
`--add property.listProperty <key=value, string or JSON string>``` (exit 1) in both. A value of the wrong type is
AAZ's ``Expect <class 'str'>, got 1 (<class 'int'>)`` (:func:`aaz_type_error`, raised by a property's converter).

Tags are one property for every command that takes a generic update (``UPDATABLE``'s ``"tags.*"``), read back by
one of two converters: :func:`aaz_tags` where az hands the tags to an AAZ typed argument (``disk update``,
``disk-encryption-set update``, and ``vm update`` and ``vmss update``, whose generic update ends in the AAZ VM and
VMSS create), :func:`sdk_tags` where az sends what ``--set`` parsed as it is (``keyvault update``, through the Key
Vault SDK). :func:`tags_words` says a call's tags back as ``--set tags={...}``.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Callable

from .errors import CLIError
from .spec import Arg, check_tags

GROUP = "Generic Update Arguments"


def generic_args() -> list[Arg]:
    return [
        Arg(("--add",), "generic_add", "Add an object to a list of objects by specifying a path and key value pairs.  "
            "Example: --add property.listProperty <key=value, string or JSON string>.", nargs="+", kind="generic",
            group=GROUP, metavar="LIST"),
        Arg(("--force-string",), "force_string", "When using 'set' or 'add', preserve string literals instead of "
            "attempting to convert to JSON.", kind="store_true", group=GROUP),
        Arg(("--remove",), "generic_remove", "Remove a property or an element from a list.  Example: --remove "
            "property.list <indexToRemove> OR --remove propertyToRemove.", nargs="+", kind="generic",
            group=GROUP, metavar="LIST"),
        Arg(("--set",), "set", "Update an object by specifying a property path and value to set.  Example: --set "
            "property1.property2=<value>.", nargs="+", kind="generic", group=GROUP, metavar="KEY=VALUE"),
    ]


def given(ns) -> bool:
    return bool(getattr(ns, "set", None) or getattr(ns, "generic_add", None) or getattr(ns, "generic_remove", None))


# ---- az's path rules -------------------------------------------------------------------------------------

_INDEX = re.compile(r"\[(.*)\]")
_SEGMENT = re.compile(r"(\[.*?\])|([^.]+)")


def _path(text: str) -> list[str]:
    text = text.replace(".[", "[").replace("[", ".[")
    return [a or b for a, b in _SEGMENT.findall(text)]


def _split(expression: str) -> tuple[str, str]:
    """KEY=VALUE, the first ``=`` outside brackets."""
    depth = 0
    for i, c in enumerate(expression):
        if c == "[":
            depth += 1
        elif c == "]" and depth:
            depth -= 1
        elif c == "=" and not depth:
            return expression[:i], expression[i + 1:]
    return expression, ""


def _value(text: str, force_string: bool) -> Any:
    if force_string:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _not_found(instance: Any, part: str, path: list[str]) -> CLIError:
    parent = ".".join(path[:-1]).replace(".[", "[")
    msg = f"Couldn't find '{part}' in '{parent}'."
    if isinstance(instance, dict):
        msg += f" Available options: {sorted(_camel(k) for k in instance)}"
    elif isinstance(instance, list):
        msg += f" Available options: index into the collection '{parent}' with [<index>] or [<key=value>]"
    else:
        msg += f" '{parent}' does not support further indexing."
    return CLIError(msg)


def _camel(key: str) -> str:
    """az's ``make_camel_case``, which its ``Available options`` list applies to every key (a tag's too)."""
    parts = key.split("_")
    return parts[0].lower() + "".join(p.capitalize() for p in parts[1:]) if len(parts) > 1 else key


def _step(instance: Any, part: str, path: list[str]) -> Any:
    index = _INDEX.match(part)
    if index and not isinstance(instance, list):
        raise _not_found(instance, part, path)
    if index and "=" in index.group(1):
        key, raw = index.group(1).split("=", 1)
        want = _value(raw, False)
        hits = [x for x in instance if isinstance(x, dict) and x.get(key) == want]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise CLIError(f"non-unique key '{key}' found multiple matches on {path[-2] if len(path) > 1 else ''}. "
                           "Key must be unique.")
        raise CLIError(f"item with value '{want}' doesn't exist for key '{key}' on "
                       f"{path[-2] if len(path) > 1 else ''}")
    if index:
        try:
            return instance[int(index.group(1))]
        except (IndexError, ValueError):
            raise CLIError(f"index {index.group(1)} doesn't exist on {path[-2] if len(path) > 1 else ''}") from None
    if isinstance(instance, dict) and part in instance:
        return instance[part]
    raise _not_found(instance, part, path)


def _find(instance: Any, path: list[str]) -> Any:
    for part in path:
        instance = _step(instance, part, path)
    return instance


class TypeRefusal(CLIError):
    """A generic update's value of the wrong type, in the words of the command's az (printed as it is)."""


def aaz_type_error(expected: type, value: Any) -> TypeRefusal:
    """AAZ's ``AAZInvalidValueError`` for a value of the wrong type, as az 2.91 prints it."""
    return TypeRefusal(f"Expect {expected}, got {value} ({type(value)})")


ADD_SYNTAX = "invalid syntax: `--add property.listProperty <key=value, string or JSON string>`"


def set_property(root: dict, expression: str, force_string: bool, aaz: bool = False) -> None:
    key, raw = _split(expression)
    if not key.strip():
        raise CLIError("usage error: Empty key in --set. Correct syntax: --set KEY=VALUE [KEY=VALUE ...]")
    value = _value(raw, force_string)
    path = _path(key)
    name, parents = path[-1], path[:-1]
    instance = _find(root, parents)
    if instance is None:  # a null parent: az creates it
        holder = _find(root, parents[:-1])
        holder[parents[-1]] = {}
        instance = holder[parents[-1]]
    index = _INDEX.match(name)
    if index is not None and isinstance(instance, list):
        try:
            instance[int(index.group(1))] = value
        except (IndexError, ValueError):
            raise CLIError(f"index {index.group(1)} doesn't exist on {name}") from None
    elif isinstance(instance, dict):
        if aaz and value is None and (name in instance or parents == ["tags"]):  # AAZ: null unsets it
            instance.pop(name, None)
        else:
            instance[name] = value
    else:
        raise _not_found(instance, name, key.split("."))


def add_property(root: dict, values: list[str], force_string: bool, aaz: bool = False) -> None:
    values = list(values)
    path = _path(values.pop(0))
    target = _find(root, path)
    if target is None:
        holder = _find(root, path[:-1])
        holder[path[-1]] = target = []
    if not isinstance(target, list):  # az's ValueError, the same words in an AAZ command and an SDK one
        raise CLIError(ADD_SYNTAX)
    entry: dict = {}
    for arg in values:
        if "=" in arg:
            k, v = arg.split("=", 1)
            entry[k] = v
            continue
        if entry:
            target.append(entry)
            entry = {}
        target.append(_value(arg, force_string))
    if entry:
        target.append(entry)


def remove_property(root: dict, values: list[str], aaz: bool = False) -> None:
    values = list(values)
    path = _path(values.pop(0))
    if not values:
        parent = _find(root, path[:-1])
        if aaz and path[:-1] == ["tags"] and isinstance(parent, dict):  # AAZ: a dict's key is unset, there or not
            parent.pop(path[-1], None)
            return
        _find(root, path)  # az looks the property up first: one that is not there is its "Couldn't find"
        if not isinstance(parent, dict):
            raise CLIError(f"{path[-1]} doesn't exist")
        del parent[path[-1]]
        return
    target = _find(root, path)
    try:
        target.pop(int(values[0]))
    except (IndexError, ValueError):
        raise CLIError(f"index {values[0]} doesn't exist on {path[-1]}") from None
    except AttributeError:
        raise CLIError(f"{path[-1]} doesn't exist") from None


def apply(shape: dict, ns, *, aaz: bool = False) -> dict:
    """The resource's JSON after ``--set``/``--add``/``--remove`` in the order they were given, as az applies them
    (``ns.generic_actions``, kept by the parser; without it, every set, then add, then remove); ``aaz``: as an AAZ
    command applies them (the module's docstring)."""
    out = copy.deepcopy(shape)
    force = bool(getattr(ns, "force_string", False))
    actions = getattr(ns, "generic_actions", None)
    if actions is None:
        actions = [("set", getattr(ns, "set", None) or [])]
        actions += [("generic_add", v) for v in getattr(ns, "generic_add", None) or []]
        actions += [("generic_remove", v) for v in getattr(ns, "generic_remove", None) or []]
    for dest, values in actions:
        if dest == "set":
            for expression in values:
                set_property(out, expression, force, aaz)
        elif dest == "generic_add":
            add_property(out, values, force, aaz)
        else:
            remove_property(out, values, aaz)
    return out


# ---- reading the changes back -----------------------------------------------------------------------------


def _leaves(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict) and obj:
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else k))
        return out
    return {prefix: obj}


def changes(before: dict, after: dict, updatable: dict[str, tuple[str, Callable | None]],
            command: str) -> dict[str, Any]:
    """The facade keywords for what changed; a change to anything else is refused (nothing is written)."""
    kwargs: dict[str, Any] = {}
    old, new = _leaves(before), _leaves(after)
    for prefix, (kw, convert) in updatable.items():
        if prefix.endswith(".*"):  # a whole dict (tags)
            root = prefix[:-2]
            if before.get(root) != after.get(root):
                try:
                    kwargs[kw] = convert(after.get(root)) if convert else after.get(root)
                except TypeRefusal:
                    raise
                except CLIError as err:
                    raise CLIError(f"'{root}': {err.message}") from None
    covered = tuple(p[:-2] for p in updatable if p.endswith(".*"))
    for path in sorted(set(old) | set(new)):
        if old.get(path, _MISSING) == new.get(path, _MISSING):
            continue
        if old.get(path, _MISSING) is None and path not in new and any(p.startswith(path + ".") for p in new):
            continue  # a null parent that --set filled: its new leaves are the changes
        if any(path == c or path.startswith(c + ".") for c in covered):
            continue
        if path not in updatable:
            allowed = ", ".join(p[:-2] if p.endswith(".*") else p for p in updatable)
            raise CLIError(f"cmklab's `{command}` cannot change '{path}': the engine does not model it for this "
                           f"resource. Properties a generic update can change here: {allowed}")
        kw, convert = updatable[path]
        value = new.get(path)
        try:
            kwargs[kw] = convert(value) if convert else value
        except CLIError as err:
            raise CLIError(f"'{path}': {err.message}") from None
    return kwargs


_MISSING = object()


def route_changes(changes: dict[str, Any], kwargs: dict, given: dict) -> None:
    """Sort the engine keywords that :func:`changes` gives: a plain property changed through ``--set``
    (``props:a.b.c``) is stored as given, at its path in ``given``; anything else is a keyword of the call."""
    for kw, value in changes.items():
        if kw.startswith("props:"):
            node = given
            *parents, leaf = kw[6:].split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        else:
            kwargs[kw] = value


# ---- tags (one reading for every command) ----------------------------------------------------------------

TAGS = "tags.*"
"""The ``UPDATABLE`` entry of a resource's tags (the whole dict is the property)."""


def aaz_tags(value: Any) -> dict:
    """The tags after a generic update, as an AAZ typed argument takes them (what az 2.91 answered through ``cmklab
    endpoint``): a dict of strings; ``tags.a=null`` drops the tag (AAZ leaves a null out), ``tags=null`` or
    ``--remove tags`` sends none, which ARM's PUT reads as none; ``tags.a=1`` parses 1 as JSON and is refused in
    AAZ's words, ``Expect <class 'str'>, got 1 (<class 'int'>)`` (``tags.a='"1"'`` or ``--force-string`` give the
    string). Azure's limits (O4) hold as for ``--tags``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise aaz_type_error(dict, value)
    out = {k: v for k, v in value.items() if v is not None}
    bad = next((v for v in out.values() if not isinstance(v, str)), None)
    if bad is not None:
        raise aaz_type_error(str, bad)
    check_tags(out)
    return out


def sdk_tags(value: Any) -> dict:
    """The tags after a generic update of an SDK command (``keyvault update``): az 2.91 sends the value ``--set``
    parsed as it is (``tags.a=1`` as the JSON number 1, ``tags.a=null`` as null). Azure keeps tag values as
    strings; cmklab refuses any other value, naming the tag and how to say it (what the service answers to a number
    is not known here: a refusal, not a guess), and ``tags=null`` or ``--remove tags`` sends none (none kept)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CLIError(f"tags must be a JSON object of strings, not {json.dumps(value)}; use --set tags.KEY=VALUE "
                       "or --set tags='{\"KEY\": \"VALUE\"}'")
    for k, v in value.items():
        if not isinstance(v, str):
            hint = (f"--remove tags.{k} removes a tag" if v is None else
                    f"give it as a string (--set tags.{k}='\"{json.dumps(v)}\"', or --force-string)")
            raise CLIError(f"the value of tag '{k}' is {json.dumps(v)}, not a string: tag values are strings; "
                           f"{hint}")
    out = dict(value)
    check_tags(out)
    return out


def tags_words(tags: dict | None) -> list[str]:
    """A call's tags as a generic update says them: ``tags={...}`` (all of them, as ``--set`` replaces them)."""
    return [] if tags is None else ["tags=" + json.dumps(tags, separators=(",", ":"), ensure_ascii=False)]


def tags_set_words(value: dict | None, w) -> dict:
    """The ``params`` entry of an update whose only ``--set`` item is the tags (console/cli/words.py)."""
    return {"set": tags_words(value)} if value is not None else {}
