"""The dependency view: key -> versions -> sets -> disks, snapshots, images -> VMs, for the selection.

Rooted at the key(s) the selection depends on (or that it is), so it shows the chain behind every
cascade: disable that key and everything under it loses its data keys. Resources are listed under
the key version that actually wraps their data key, so a set that is still catching up with a new
version (automatic rotation within the hour) shows up under both. Long lists are cut (``… N more``),
always keeping the selected row.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from engine.ids import parse_key_url
from engine.models import PowerState

from ..kinds import kind_of
from ..rows import ENC_LABEL, Index, VersionRow, short_kid

MAX_CHILDREN = 20


class DepsTree(Tree):
    """A read-only tree of what depends on what."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, **kw) -> None:
        super().__init__("dependencies", **kw)
        self.show_root = False
        self.guide_depth = 3
        self._target_node: TreeNode | None = None

    def _c(self, name: str) -> Style:
        colour = self.app.theme_variables.get(name) if self.is_mounted else None
        try:
            return Style(color=colour) if colour and colour.startswith("#") else Style()
        except Exception:  # noqa: BLE001
            return Style()

    def _label(self, kind: str, text: str, style: str = "", selected: bool = False) -> Text:
        t = Text()
        t.append(f"{kind} ", self._c("text-muted"))
        t.append(text, self._c({"ok": "text-success", "bad": "text-error", "warn": "text-warning",
                                "accent": "text-accent"}.get(style, "foreground")) if style else Style())
        if selected:
            t.append("  ◀ selected", Style(bold=True) + self._c("text-accent"))
        return t

    # ---- roots --------------------------------------------------------------------------------------

    def _roots(self, e, kind: str, obj: Any) -> tuple[list, list[str]]:
        """(keys, platform regions) the selection depends on: the keys its descriptor names, then those of the
        key versions it depends on."""
        spec = kind_of(kind)
        keys: list = list(spec.keys(e, obj))
        platform: list[str] = []
        for kid in spec.kids(e, obj):
            if not kid:
                continue
            if kid.startswith("platform:"):
                if kid[9:] not in platform:
                    platform.append(kid[9:])
                continue
            try:
                ref = parse_key_url(kid)
            except Exception:  # noqa: BLE001
                continue
            k = e.find_key(ref.vault, ref.name)
            if k is not None and k not in keys:
                keys.append(k)
        return keys, platform

    # ---- build --------------------------------------------------------------------------------------

    def show(self, e, idx: Index, kind: str | None, obj: Any) -> None:
        self.clear()
        self._target_node = None
        if obj is None or kind is None:
            self.root.add_leaf(self._label("", "nothing selected", "dim"))
            return
        keys, platform = self._roots(e, kind, obj)
        if not keys and not platform:
            self.root.add_leaf(self._label("", "no key dependencies for this row", "dim"))
            return
        for k in keys:
            self._add_key(e, idx, k, kind, obj)
        for region in platform:
            self._add_platform(e, region, kind, obj)
        self.root.expand_all()
        if self._target_node is not None:
            node = self._target_node
            self.call_after_refresh(self._focus_node, node)

    def _focus_node(self, node: TreeNode) -> None:
        try:
            self.move_cursor(node)
        except Exception:  # noqa: BLE001 - the tree was rebuilt meanwhile
            pass

    def _is(self, kind: str, obj: Any, want_kind: str, candidate: Any) -> bool:
        if kind != want_kind or obj is None:
            return False
        if isinstance(obj, VersionRow) and isinstance(candidate, VersionRow):
            return obj.kid == candidate.kid
        return getattr(obj, "id", object()) == getattr(candidate, "id", None)

    def _mark(self, node: TreeNode, selected: bool) -> None:
        if selected and self._target_node is None:
            self._target_node = node

    def _add_key(self, e, idx: Index, k, kind: str, obj: Any) -> None:
        state = "ok" if k.state == "Active" else "bad"
        sel = self._is(kind, obj, "key", k)
        knode = self.root.add(self._label("key", f"{k.vault}/{k.name} ({k.type_label})"
                                          + ("" if k.state == "Active" else " DELETED"), state, sel))
        self._mark(knode, sel)
        for ver in reversed(k.versions):
            row = VersionRow(k, ver)
            kid = row.kid
            problem = e.key_problem(None, kid, "unwrapKey")
            tag = "current" if ver["version"] == k.current["version"] else "older"
            vsel = self._is(kind, obj, "version", row)
            text = f"{ver['version'][:8]} ({tag}, {'enabled' if ver['enabled'] else 'DISABLED'})"
            vnode = knode.add(self._label("version", text, "ok" if problem is None else "bad", vsel))
            self._mark(vnode, vsel)
            sets = list(idx.des_by_kid.get(kid.lower(), []))
            by_set, loose = idx.members_of_kid(kid)  # grouped and sorted once per engine change
            for des_id in by_set:
                d = e.find_des(des_id)
                if d is not None and d not in sets:
                    sets.append(d)
            for d in sets:
                self._add_set(e, idx, vnode, d, by_set.get(d.id, []), kind, obj, kid)
            for r in loose[:MAX_CHILDREN]:
                self._add_resource(e, vnode, r, kind, obj)
            if not sets and not by_set and not loose:
                vnode.allow_expand = False

    def _add_set(self, e, idx: Index, parent: TreeNode, d, res: list, kind: str, obj: Any, kid: str) -> None:
        sel = self._is(kind, obj, "des", d)
        lag = "" if d.key_url.lower() == kid.lower() else f" (set now on {short_kid(d.key_url)})"
        text = f"{d.name} ({ENC_LABEL.get(d.encryption_type, d.encryption_type)}, auto-rotation " \
               f"{'on' if d.rotation_to_latest else 'off'}){lag}"
        problem = e.des_identity_ready(d)
        snode = parent.add(self._label("set", text, "accent" if problem is None else "bad", sel))
        self._mark(snode, sel)
        shown = res[:MAX_CHILDREN]  # (sorted by kind and name: Index.members_of_kid)
        # the selection's own members of this set under this version: never cut (looked for among its own few,
        # not among the set's thousands)
        own = [r for r in kind_of(kind).resources(e, obj) if r.des_id == d.id
               and any(layer["kid"].lower() == kid.lower() for layer in r.layers)]
        if own:
            first = {r.id for r in shown}
            shown += sorted((r for r in own if r.id not in first), key=lambda r: (r.kind, r.name.lower()))
        for r in shown:
            self._add_resource(e, snode, r, kind, obj)
        if len(res) > len(shown):
            snode.add_leaf(self._label("", f"… {len(res) - len(shown)} more", "dim"))
        if not res:
            snode.add_leaf(self._label("", "no disks, snapshots or images yet", "dim"))

    def _add_resource(self, e, parent: TreeNode, r, kind: str, obj: Any) -> None:
        sel = self._is(kind, obj, r.kind, r)
        problem = e.resource_problem(r)
        extra = f", {e.disk_state(r)}" if r.kind == "disk" else ""
        text = f"{r.name} ({r.sku}{extra})" + ("" if problem is None else f" {problem.display_code}")
        vm = e.vm_of_disk(r.id) if r.kind == "disk" else None
        style = "ok" if problem is None else ("warn" if vm is not None and vm.power == "running" else "bad")
        rnode = parent.add(self._label(r.kind, text, style, sel), allow_expand=vm is not None)
        self._mark(rnode, sel)
        if vm is not None:
            vsel = self._is(kind, obj, "vm", vm)
            status = (vm.status or {}).get("code")
            if vm.power == PowerState.RUNNING.value:
                vstyle, ptext = ("warn", "running on host-cached keys") if status == "RunningOnHostKeys" \
                    else ("ok", "running")
            else:
                vstyle, ptext = ("bad" if status else "", vm.power)
            lun = vm.lun_of(r.id)
            vnode = rnode.add_leaf(self._label("vm", f"{vm.name} ({'os disk' if lun == 'os' else f'lun {lun}'}): "
                                                     f"{ptext}", vstyle, vsel))
            self._mark(vnode, vsel)

    def _add_platform(self, e, region: str, kind: str, obj: Any) -> None:
        pnode = self.root.add(self._label("key", f"platform-managed key ({region})", "dim"))
        items = [r for r in kind_of(kind).resources(e, obj) if r.layers and r.layers[0]["kid"] == f"platform:{region}"]
        for r in items:
            self._add_resource(e, pnode, r, kind, obj)


__all__ = ["DepsTree"]
