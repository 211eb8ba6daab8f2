"""Flags that set a plain ARM property: stored on the resource as given and shown in its JSON at that path.

Each :class:`Prop` is one az flag and the REST path of the property it sets (``maxShares``,
``supportedCapabilities.architecture``, ``billingProfile.maxPrice``). The engine keeps them in the resource's
``props`` (``engine.models.Disk.props``, ``VirtualMachine.props``) and never acts on them: a simulator has no
network, host group or billing to apply them to; ``show`` prints them where Azure does.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from engine._light import dataclass

from .spec import Arg

NOTE = " (Stored and shown as `{path}`; cmklab does not act on it.)"


@dataclass
class Prop:
    options: tuple[str, ...]
    dest: str
    path: str
    help: str
    kind: str = "value"
    """``value``, ``int``, ``enum``, ``flag3`` (az's true/false), ``float`` or ``list``."""
    choices: Sequence[str] | None = None
    convert: Callable[[Any, Any, Any], Any] | None = None
    """``(value, ns, ctx) -> JSON``: what is stored at ``path`` (an id built from a name, an edge zone object)."""


def args(props: list[Prop]) -> list[Arg]:
    out = []
    for p in props:
        text = p.help + NOTE.format(path=p.path)
        if p.kind == "flag3":
            out.append(Arg(p.options, p.dest, text, kind="flag3", choices=("true", "false")))
        elif p.kind == "enum":
            out.append(Arg(p.options, p.dest, text, kind="enum", choices=tuple(p.choices or ())))
        elif p.kind == "list":
            out.append(Arg(p.options, p.dest, text, nargs="+"))
        else:
            out.append(Arg(p.options, p.dest, text, kind="int" if p.kind == "int" else "value"))
    return out


def collect(ns, ctx, props: list[Prop]) -> dict:
    """The properties these arguments set, as one nested JSON object (empty when none was given)."""
    out: dict = {}
    for p in props:
        value = getattr(ns, p.dest, None)
        if value is None:
            continue
        if p.kind == "float":
            try:
                value = float(value)
            except ValueError:
                from .errors import UsageError

                raise UsageError(f"argument {p.options[0]}: invalid float value: '{value}'") from None
        if p.convert is not None:
            value = p.convert(value, ns, ctx)
        node = out
        *parents, leaf = p.path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def resource_id(provider_type: str) -> Callable[[Any, Any, Any], str]:
    """A name in the command's resource group, or an id as given (as az's validators resolve them)."""
    def convert(value, ns, ctx) -> str:
        if str(value).startswith("/"):
            return str(value)
        sub = ctx.engine.meta.subscription_id
        return f"/subscriptions/{sub}/resourceGroups/{ns.resource_group}/providers/{provider_type}/{value}"
    return convert


def sub_resource(provider_type: str) -> Callable[[Any, Any, Any], dict]:
    by_id = resource_id(provider_type)
    return lambda value, ns, ctx: {"id": by_id(value, ns, ctx)}


def edge_zone(value, ns, ctx) -> dict:
    return {"name": value, "type": "EdgeZone"}
