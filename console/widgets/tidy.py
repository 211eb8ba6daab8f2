"""Memory that Textual keeps after the screens that used it have closed, let go.

Textual 8 memoises ``StylesCache.get_inner_outer`` with ``functools.lru_cache`` on the method itself, so the
memo's keys hold the style caches of up to 1,024 widgets, and every line they rendered, after the widgets are gone
(Textual issue 6665). A workshop console opens and closes the help, forms and confirmations hundreds of times: each
help screen left about 300 KB behind, 44 MB after 150 of them. The memo is cleared whenever a screen over the main
one closes; it fills again at once for the widgets on show (two colour blends each).
"""

from __future__ import annotations

try:
    from textual._styles_cache import StylesCache  # (private: a later Textual may move or fix it)
except ImportError:  # pragma: no cover - only on a Textual without it
    StylesCache = None


def release_closed_screens() -> bool:
    """Clear the memo that holds closed widgets' style caches; False where this Textual has no such memo."""
    clear = getattr(getattr(StylesCache, "get_inner_outer", None), "cache_clear", None)
    if clear is None:
        return False
    clear()
    return True


__all__ = ["release_closed_screens"]
