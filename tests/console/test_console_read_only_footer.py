"""A read-only console (``--read-only``, the projector view of ``cmklab serve``) offers in its footer
only what it will do: no action that changes anything, since each would be refused."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from console.app import make_app
from console.screenshots import select, settle
from console.actions import OP_BY_ID

SIZE = (160, 48)


def offered(app) -> dict[str, str]:
    """The footer's keys, as drawn: action -> description."""
    return {k.action: k.description for k in app.screen.query(FooterKey)}


def op_ids(actions) -> set[str]:
    return {a[len("op('"):-2] for a in actions if a.startswith("op('")}


async def footer_ops(read_only: bool, pane: str, row: str) -> set[str]:
    app = make_app(read_only=read_only)
    async with app.run_test(size=SIZE) as pilot:
        await select(pilot, pane, row)
        await settle(pilot)
        shown = offered(app)
        assert "help" in shown.values(), shown
        return op_ids(shown)


async def test_read_only_footer_offers_no_change():
    for pane, row in (("keys", "key-3072"), ("vms", "vm-web")):
        writable = await footer_ops(False, pane, row)
        assert any(OP_BY_ID[o].mutating for o in writable), (pane, writable)  # what the test would catch
        read_only = await footer_ops(True, pane, row)
        assert not any(OP_BY_ID[o].mutating for o in read_only), (pane, read_only)
        assert read_only == {o for o in writable if not OP_BY_ID[o].mutating}, (pane, read_only)


async def test_an_action_key_pressed_in_a_read_only_console_says_why_nothing_happens():
    app = make_app(read_only=True)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await select(pilot, "vms", "vm-web")
        await settle(pilot)
        await pilot.press("o")  # stop: not offered, and it did nothing without a word
        await settle(pilot)
        said = list(app._notifications)
        assert [n.title for n in said] == ["READ-ONLY"]  # the header's marker
        assert "Stop VM" in said[0].message and "without --read-only" in said[0].message
        assert app.engine.find_vm("vm-web").power == "running"
        await pilot.press("j")  # moving is no action: nothing more is said
        await settle(pilot)
        assert len(list(app._notifications)) == 1


async def test_the_header_says_read_only_at_80_columns():
    app = make_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        shown = app.main.query_one("#header").render_line(0).text  # as drawn: cut at the terminal's edge
        assert "READ-ONLY" in shown, shown


async def test_a_served_console_names_its_lab_in_the_header_not_the_store_path(monkeypatch):
    """``CMKLAB_LAB_NAME`` (set by ``cmklab serve`` and ``cmklab classroom`` for their consoles): the header
    names the lab, and the store's path on the server is nowhere in it."""
    from console.confine import LAB_ENV, lab_name

    monkeypatch.setenv(LAB_ENV, "trainee-07")
    app = make_app(read_only=True)
    app.lab_name = lab_name()
    async with app.run_test(size=(200, 24)) as pilot:
        await settle(pilot)
        shown = app.main.query_one("#header").render_line(0).text
        assert "lab trainee-07" in shown and "READ-ONLY" in shown, shown
        assert app.store_label not in shown and "store" not in shown, shown


async def test_an_action_key_pressed_in_the_projector_view_says_it_is_the_read_only_projector_view():
    """A read-only console served to a browser (``cmklab serve --read-only``, the trainer's view in a classroom)
    says plainly that it is the projector view and read-only, under the header's READ-ONLY marker word; not to
    quit and run cmklab without --read-only, which nobody at the projector can do."""
    app = make_app(read_only=True)
    app.lab_name = "trainee-01"  # what a served console is given (CMKLAB_LAB_NAME)
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await select(pilot, "vms", "vm-web")
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        said = list(app._notifications)
        assert [n.title for n in said] == ["READ-ONLY"], said
        text = said[0].message
        assert text.startswith("Stop VM: this is the projector view") and "READ-ONLY" in text, text
        assert "--read-only" not in text and "Quit" not in text, text
        app.open_import()
        await settle(pilot)
        assert list(app._notifications)[-1].message.startswith("Import: this is the projector view"), app._notifications
        app.clear_notifications()
        from console.actions import Call

        app.execute(Call("advance_clock", ("1h",)), "Advance the clock")  # past the console: the store refuses it
        await settle(pilot)
        said = list(app._notifications)
        assert [n.title for n in said] == ["READ-ONLY"], said
        assert said[0].message.startswith("Advance the clock: this is the projector view"), said[0].message
        assert app.engine.find_vm("vm-web").power == "running"
