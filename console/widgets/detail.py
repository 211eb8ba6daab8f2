"""The detail panel: why the selected resource is as it is (cause chain), then its Azure-shaped JSON.

What each kind of row says comes from its descriptor (``console.kinds``): the cause chain, the JSON from
``engine.views`` (what ``cmklab az ... show`` prints), whether it holds data at rest. Secrets never appear:
sealed key material, wrapped data keys and host caches are shown as SHA-256 fingerprints, and a key's
modulus is shortened.
"""

from __future__ import annotations

import json
from typing import Any

from rich.json import JSON
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from ..kinds import Line, at_rest, azure_doc, cause_lines, kind_of
from ..rows import Index
from .util import KeyScroll, WrappedStatic, escape

_STYLE = {"ok": "$text-success", "bad": "$text-error", "warn": "$text-warning", "dim": "$text-muted",
          "accent": "$text-accent"}


HANG = 2
"""A cause line that wraps goes on this many cells further in than where it starts."""


def _hung(text: str, width: int | None) -> list[str]:
    """``text`` (indented by spaces: its depth in the chain) wrapped to ``width`` cells, its lines after the first
    under its own start and ``HANG`` further in: at 80 columns a set's line went back under the chain's first
    column, and the chain could not be read as one."""
    indent = len(text) - len(text.lstrip(" "))
    if width is None or width <= indent + HANG + 10 or len(text) <= width:
        return [text]
    import textwrap

    return textwrap.wrap(text[indent:], width, initial_indent=" " * indent, subsequent_indent=" " * (indent + HANG),
                         break_on_hyphens=False) or [text]


def lines_content(lines: list[Line], width: int | None = None) -> Content:
    """The cause chain's lines, styled; their text (names, tags, what the engine says) is never read as markup.
    ``width``: the cells they are drawn in (a line that wraps stays under its own start, :func:`_hung`)."""
    out = []
    for line, style in lines:
        for text in _hung(line, width):
            if style == "bold":
                out.append(Content.from_markup("[b]$text[/b]", text=text))
            elif style in _STYLE:
                out.append(Content.from_markup(f"[{_STYLE[style]}]$text[/]", text=text))
            else:
                out.append(Content(text))
    return Content("\n").join(out)


class CauseText(WrappedStatic):
    """The cause chain, drawn for the width it has (:func:`lines_content`), as the help is."""

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._lines: list[Line] = []
        self._width: int | None = None
        self._drawn: tuple[int | None, Content] | None = None

    def show_lines(self, lines: list[Line]) -> None:
        self._lines = list(lines)
        self._drawn = None
        self._layout_cache.clear()
        self.refresh(layout=True)

    def draw(self, width: int | None) -> Content:
        return lines_content(self._lines, width)


class DetailPanel(KeyScroll):
    """Cause chain and JSON of the selection."""

    def compose(self) -> ComposeResult:
        yield CauseText(id="detail-why")
        yield Static("", id="detail-rest-title", classes="detail-section")
        yield Static("", id="detail-rest")
        yield Static("Azure JSON", id="detail-json-title", classes="detail-section")
        yield Static("", id="detail-json")

    def show(self, engine, idx: Index, kind: str | None, obj: Any) -> None:
        why = self.query_one("#detail-why", CauseText)
        js = self.query_one("#detail-json", Static)
        rest_title = self.query_one("#detail-rest-title", Static)
        rest = self.query_one("#detail-rest", Static)
        if obj is None or kind is None:
            why.show_lines([("nothing selected", "dim")])
            js.update("")
            rest_title.display = rest.display = False
            return
        spec = kind_of(kind)
        why.show_lines(cause_lines(engine, idx, kind, obj))
        doc = azure_doc(engine, kind, obj)
        js.update(JSON(json.dumps(doc, default=str), indent=2))
        if spec.at_rest:
            rest_doc = at_rest(engine, obj)
            sample = (rest_doc or {}).get("ciphertext") or {}
            if getattr(self.app, "frozen", False) and sample.get("sampleHex"):
                # GCM nonces are random per write: snapshot mode hides the bytes so screens stay identical
                for field in ("sampleHex", "nonceHex", "tagHex"):
                    if field in sample:
                        sample[field] = "(random per write; hidden in snapshot mode)"
            rest_title.update("At rest (what the storage holds)")
            rest.update(JSON(json.dumps(rest_doc, default=str), indent=2) if rest_doc else "")
            rest_title.display = rest.display = rest_doc is not None
        elif spec.reads and getattr(self.app, "reads", {}).get(obj.name.lower()):
            rest_title.update("Last read from its disks (this session)")
            rest.update(escape(self.app.reads[obj.name.lower()]))
            rest_title.display = rest.display = True
        else:
            rest_title.display = rest.display = False
