"""A console left open all day (a workshop) keeps only what it shows: closed screens and rebuilt keys are let go."""

from __future__ import annotations

import gc

from textual._styles_cache import StylesCache
from textual.dom import DOMNode
from textual.widgets._footer import FooterKey

from console.app import make_app
from console.screenshots import settle
from console.screens.help import HelpScreen
from console.screens.main import PANE_BY_ID
from console.widgets.tidy import release_closed_screens


def live(kind) -> list:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, kind)]


async def test_switching_panes_over_and_over_keeps_only_the_footer_keys_on_show():
    # every pane has its own keys: the footer is rebuilt at each switch, and the keys it replaced must go
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for _ in range(3):
            for pane in PANE_BY_ID:
                app.main.show_pane(pane)
                await settle(pilot)
        on_show = len(app.main.query(FooterKey))
        keys = live(FooterKey)
        assert on_show > 0
        assert len(keys) <= on_show + 2, f"{len(keys)} footer keys alive, {on_show} on show"
        assert sum(not k.is_attached for k in keys) <= 2
        del keys  # (this list would keep them alive)
        nodes = len(live(DOMNode))
        for pane in PANE_BY_ID:
            app.main.show_pane(pane)
            await settle(pilot)
        assert len(live(DOMNode)) <= nodes + 5  # one more round: nothing piles up


async def test_closing_the_help_again_and_again_lets_its_widgets_styles_go():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        memo = StylesCache.get_inner_outer
        for _ in range(4):
            await pilot.press("question_mark")
            await settle(pilot)
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await settle(pilot)
        # the help's widgets are gone; Textual's memo would hold their style caches (and their lines)
        held = [key for key in live(StylesCache) if not any(w._styles_cache is key for w in app.main.walk_children())
                and key is not app.main._styles_cache]
        assert memo.cache_info().currsize <= len(list(app.main.walk_children())) * 2
        assert len(held) <= 2, f"{len(held)} style caches of closed widgets are still alive"


def test_release_clears_textuals_memo_of_style_caches():
    StylesCache.get_inner_outer.cache_clear()
    from textual.color import Color

    StylesCache().get_inner_outer(Color(1, 2, 3), Color(4, 5, 6))
    assert StylesCache.get_inner_outer.cache_info().currsize == 1
    assert release_closed_screens() is True
    assert StylesCache.get_inner_outer.cache_info().currsize == 0


async def test_the_watchers_looks_at_the_store_freeze_nothing_that_closes_later():
    # the console looks at the store twice a second; a look that froze every object alive kept each closed
    # screen's widgets (which hold reference cycles) out of the collector's reach for good
    gc.unfreeze()
    app = make_app(poll=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.first_poll.wait(10)
        frozen = gc.get_freeze_count()
        for _ in range(3):
            await pilot.press("question_mark")
            await settle(pilot)
            app._watch_once()  # a look while the help is open, as the watcher thread makes one
            await pilot.press("escape")
            await settle(pilot)
            app._watch_once()
        assert gc.get_freeze_count() <= frozen


def test_a_bulk_read_is_frozen_and_a_small_one_is_not():
    from console.screens.main import BULK_OBJECTS, quiet_gc

    gc.unfreeze()
    with quiet_gc():
        small = [[i] for i in range(100)]
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    with quiet_gc():
        big = [[i] for i in range(BULK_OBJECTS + 1000)]
        assert not gc.isenabled()
    assert gc.get_freeze_count() >= BULK_OBJECTS and gc.isenabled()
    gc.unfreeze()
    del small, big


async def test_the_console_freezes_what_it_starts_with_and_lets_it_go_when_it_ends():
    # the modules, the engine and what it read live as long as the console: out of the collector's way (a
    # collection walks every tracked object); nothing of it stays frozen once the console has ended
    gc.unfreeze()
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0
