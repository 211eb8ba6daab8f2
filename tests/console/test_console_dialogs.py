"""Every dialog is usable on an 80x24 terminal: its body scrolls, its buttons always show, and the
focused field scrolls into view (Tab walks the whole form)."""

from __future__ import annotations

import pytest
from textual.widgets import Button

from console.app import make_app
from console.modals.confirm import ConfirmModal
from console.modals.form import FormModal
from console.screenshots import SHOTS, open_dialog, settle, wait_for_screen
from tests.console.test_console_navigation import burst

SMALL = (80, 24)


def fully_visible(widget) -> bool:
    """The widget is drawn whole: not clipped by its scrolling parents nor by the screen."""
    geometry = widget.screen.find_widget(widget)
    screen = widget.screen.region
    return geometry.visible_region == geometry.region and screen.contains_region(geometry.region)


DIALOG_SHOTS = [s for s in SHOTS if s.name.startswith("dialog-") and s.name != "dialog-help"]


@pytest.mark.parametrize("shot", DIALOG_SHOTS, ids=[s.name for s in DIALOG_SHOTS])
async def test_every_dialog_shows_its_buttons_at_80x24(shot):
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await shot.steps(pilot)
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, (ConfirmModal, FormModal))
        buttons = list(dialog.query(Button))
        assert buttons and all(fully_visible(b) for b in buttons), shot.name
        assert fully_visible(dialog.query_one("#dialog-title"))


async def test_the_disable_key_confirmation_keeps_its_buttons_and_scrolls_its_what_if():
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        for i in range(4):  # a longer what-if: more resources become unreadable
            app.engine.create_disk(f"disk-archive-{i}-with-a-long-name", "rg-demo", size_gb=32,
                                   disk_encryption_set="des-cmk")
        app.main.refresh_data()
        modal = await open_dialog(pilot, "keys", "key-3072", "e", ConfirmModal)
        assert fully_visible(modal.query_one("#confirm")) and fully_visible(modal.query_one("#cancel"))
        body = modal.query_one("#dialog-body")
        body.scroll_end(animate=False)
        await pilot.pause()
        assert fully_visible(modal.query_one("#dialog-az"))  # the az command is reachable by scrolling
        await pilot.press("y")
        await settle(pilot)
        assert not app.engine.get_key("kv-demo", "key-3072", audit=False)[0].current["enabled"]


async def test_tab_walks_the_create_set_form_and_every_field_scrolls_into_view():
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        app.main.show_pane("sets")
        await pilot.pause()
        await pilot.press("n")
        await wait_for_screen(pilot, FormModal)
        form = app.screen
        await pilot.press(*"des-app")
        seen = []
        for _ in range(30):
            focused = app.focused
            await pilot.pause()
            assert fully_visible(focused), f"{focused} has the focus but is out of view"
            seen.append(focused.id)
            if focused.id == "submit":
                break
            await pilot.press("tab")
        switches = [f.name for f in form.spec.fields if f.kind == "switch"]
        assert len(switches) >= 2 and all(f"f-{name}" in seen for name in switches), seen
        assert seen[-1] == "submit"
        form.query_one("#dialog-body").scroll_end(animate=False)
        await pilot.pause()
        assert "disk-encryption-set create --resource-group rg-demo --name des-app" in str(form.query_one("#form-az").render())
        assert fully_visible(form.query_one("#form-az"))
        await pilot.press("enter")  # the Create button has the focus
        await settle(pilot)
        assert app.engine.get_des("des-app") is not None


async def wait_until(pilot, done, rounds: int = 300) -> bool:
    """Pause until ``done()`` (bounded: a condition never met fails the test's next assertion)."""
    for _ in range(rounds):
        if done():
            return True
        await pilot.pause(0.01)
    return done()


async def test_enter_on_a_switch_submits_the_form_and_space_toggles_it():
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        app.main.show_pane("vaults")
        await pilot.pause()
        await pilot.press("n")
        await wait_for_screen(pilot, FormModal)
        await pilot.press(*"kv-enter")
        switch = app.screen.query_one("#f-rbac")
        switch.focus()
        await pilot.pause()
        await pilot.press("space")
        assert switch.value is True  # space toggles
        await pilot.press("enter")  # submits, as in the other fields; it toggled the switch back
        assert await wait_until(pilot, lambda: app.engine.find_vault("kv-enter") is not None)
        assert app.engine.find_vault("kv-enter").enable_rbac_authorization is True
        assert not isinstance(app.screen, FormModal)


# ---- notifications never hide a dialog's buttons, nor pile up over the screen ---------------------------------

def toasts(app) -> list:
    from textual.widgets._toast import Toast

    return list(app.screen.query(Toast))


async def test_a_burst_of_notifications_shows_the_newest_few():
    app = make_app()
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await pilot.pause()
        for i in range(8):
            app.notify(f"notification {i}", title="burst")
        await pilot.pause()
        await pilot.pause()
        shown = [str(t.render()) for t in toasts(app)]
        assert 0 < len(shown) <= 3, shown
        assert "notification 7" in shown[-1]  # the newest stays


async def test_notifications_over_a_dialog_leave_its_buttons_in_sight_at_80x24():
    app = make_app()
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await open_dialog(pilot, "vms", "vm-web", "w", FormModal)
        for i in range(5):
            app.notify(f"written {i}\nencrypted at rest with the disk's data key", title="Write data to a VM disk")
        await pilot.pause()
        await pilot.pause()
        shown = toasts(app)
        assert shown
        for button in app.screen.query(Button):
            assert fully_visible(button)
            for toast in shown:
                assert not toast.region.overlaps(button.region), (str(toast.render()), button.label)


# ---- a refusal keeps the form open ------------------------------------------------------------------------------

async def test_a_refused_write_keeps_its_form_open_with_the_input_and_the_refusal():
    """What-if cannot preview a write (the data plane): the engine refuses it only when it acts. The form
    stayed on screen, what was typed kept, the refusal under the fields and in a notification."""
    app = make_app()
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        form = await open_dialog(pilot, "vms", "vm-web", "w", FormModal)
        form.query_one("#f-offset").value = str(2**44)  # past the end of the disk
        form.query_one("#f-data").value = "kept as typed"
        await pilot.pause()
        await pilot.press("ctrl+s")
        assert await wait_until(pilot, lambda: any(n.title == "InvalidParameter" for n in app._notifications))
        await settle(pilot)
        assert app.screen is form
        assert form.query_one("#f-data").value == "kept as typed"
        assert form.query_one("#f-offset").value == str(2**44)
        said = str(form.query_one("#form-error").render())
        assert "InvalidParameter" in said and "past the end of disk" in said
        assert fully_visible(form.query_one("#form-error"))
        form.query_one("#f-offset").value = "0"  # corrected: it goes through, and the form closes
        await pilot.pause()
        await pilot.press("ctrl+s")
        assert await wait_until(pilot, lambda: not isinstance(app.screen, FormModal))
        await settle(pilot)
        assert [e.lines for e in app.command_log][-1][0].endswith("--data 'kept as typed'")
        assert not app.command_log[-1].error and app.command_log[-2].error == "InvalidParameter"


async def test_a_form_opening_on_a_list_names_the_key_that_submits_it():
    """The sets pane's ``c`` (and the disks pane's ``c``, ``A`` grant) open on a list: Enter opens and closes the
    list, never submits, and the footer under a dialog is the panes' one. A trainee pressing Enter went round in
    circles; the submit button names its key, as Cancel (esc) does, and that key submits from the list."""
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        form = await open_dialog(pilot, "sets", "des-cmk", "c", FormModal)
        assert isinstance(form, FormModal) and type(form.focused).__name__ == "Select"
        label = str(form.query_one("#submit", Button).label)
        assert "ctrl+s" in label, label
        assert fully_visible(form.query_one("#submit"))
        await pilot.press("ctrl+s")
        await wait_for_screen(pilot, ConfirmModal)
        assert isinstance(app.screen, ConfirmModal)


async def test_the_notification_of_a_key_disabled_on_many_vms_is_drawn_whole_at_80x24():
    """Disabling a key under a dozen running VMs: each event wraps over three rows of a toast half the screen wide,
    and eight of them made a toast taller than the screen, whose top (the action's title, the first VMs) was cut
    off. The toast names fewer, counts the rest, and is drawn whole below the header."""
    from textual.widgets._toast import Toast

    app = make_app()
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        for i in range(12):
            app.engine.create_vm(f"vm-payments-batch-{i:02d}", "rg-demo", os_disk_name=f"vm-payments-batch-{i:02d}-os",
                                 os_disk_encryption_set="des-cmk")
        app.main.refresh_data()
        await open_dialog(pilot, "keys", "key-3072", "e", ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        await pilot.pause()
        shown = [t for t in toasts(app) if "shut down" in str(t.render())]
        assert shown, [str(t.render()) for t in toasts(app)]
        toast = shown[-1]
        assert isinstance(toast, Toast)
        region = toast.region
        assert region.y >= 2 and region.bottom <= SMALL[1], region  # under the header and the tabs, on the screen
        text = str(toast.render())
        assert text.startswith("Disable key"), text  # the title is drawn
        assert "more: the events pane has them all" in text


async def test_a_slow_what_if_from_a_tables_key_says_it_is_working():
    """x on a set's access policy of a 100,000-resource twin asked the engine for 1.8 s with nothing on the screen
    (the indicator showed only after a form). Here the what-if waits until the test lets it go: the indicator shows
    meanwhile, and goes once the confirmation is up."""
    import threading

    from console.modals.confirm import ConfirmModal as Confirm

    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        main = app.main
        main.show_pane("access")
        await pilot.pause()
        key = next(k for k, row in main.rows_by_key.items() if row.model == "policy" and row.name == "des-cmk")
        main.table.move_to(key)
        main.table.focus()
        await pilot.pause()
        go = threading.Event()
        what_if = app.engine.what_if

        def held(*args, **kwargs):
            go.wait(30)
            return what_if(*args, **kwargs)

        app.engine.what_if = held
        bar = main.query_one("#busy")
        try:
            await pilot.press("x")
            assert await wait_until(pilot, lambda: bar.display), "nothing said while the engine was asked"
            assert "asking the engine" in str(main.query_one("#busy-label").render())
        finally:
            go.set()
        await wait_for_screen(pilot, Confirm)
        assert not bar.display
        del app.engine.what_if
        await pilot.press("n")


FORM_SHOTS = [s for s in DIALOG_SHOTS if s.name not in ("dialog-whatif-disable", "dialog-whatif-disable-narrow",
                                                        "dialog-purge", "dialog-create-key-invalid")]


@pytest.mark.parametrize("shot", FORM_SHOTS, ids=[s.name for s in FORM_SHOTS])
async def test_every_form_shows_its_az_command_whole_at_80x24(shot):
    """The az command a form stands for was the last thing in its scrolling body: at 80x24 it was out of sight below
    the fields (the grant form showed none of it until scrolled with a mouse). It is in the form's foot, with the buttons:
    whole, wrapped, whichever field has the focus."""
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        await shot.steps(pilot)
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormModal)
        az = form.query_one("#form-az")
        assert str(az.render()).startswith("$ cmklab "), shot.name
        assert fully_visible(az), shot.name
        for _ in range(12):  # back through the fields to the first: the command stays in sight
            await pilot.press("shift+tab")
            await pilot.pause()
            assert fully_visible(az) and fully_visible(app.focused), (shot.name, app.focused)


async def test_the_grant_form_shows_its_az_preview_whole_and_wrapped_at_80x24():
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        form = await open_dialog(pilot, "sets", "des-cmk", "A", FormModal)
        az = form.query_one("#form-az")
        said = str(az.render())
        assert said.startswith("$ cmklab az keyvault set-policy --name kv-demo --object-id")
        assert said.endswith("--key-permissions get wrapKey unwrapKey")
        assert fully_visible(az) and az.region.width <= 76 and az.region.height >= 3  # wrapped within the dialog
        drawn = " ".join(" ".join(az.render_line(y).text.split()) for y in range(az.region.height))
        assert drawn == " ".join(said.split())  # every word of it drawn, none cut


@pytest.mark.parametrize("key, cls", [("e", ConfirmModal), ("n", FormModal)], ids=["confirm", "form"])
async def test_a_dialog_opens_clear_of_the_toasts_before_it_and_shows_its_own(key, cls):
    """The toasts of what came before a dialog are cleared as it opens (at 80x24 they covered half of it);
    what is said once it is open shows."""
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        app.notify("vm-new created (and two disks)", title="Create VM")
        await pilot.pause()
        assert len(app._notifications) == 1
        dialog = await open_dialog(pilot, "keys", "key-3072", key, cls)
        assert list(app._notifications) == []
        app.notify("said while the dialog is open")
        await pilot.pause()
        assert [n.message for n in app._notifications] == ["said while the dialog is open"]
        assert app.screen is dialog


async def test_a_long_what_if_scrolls_by_keyboard_on_a_short_terminal():
    """At 80x24 the what-if of a key that many resources use is taller than the dialog: its body scrolls with
    j/k, the arrows, page keys and g/G (home/end) while the buttons keep the focus; y/n still answer."""
    from textual.app import App
    from textual.containers import VerticalScroll

    from console.modals.confirm import ConfirmModal

    lines = [f"{n} resource(s) become unreadable: disk-{n}" for n in range(40)]
    answers = []

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(ConfirmModal("Disable key?", lines, ["az keyvault key set-attributes"]), answers.append)

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        body = app.screen.query_one("#dialog-body", VerticalScroll)
        assert body.max_scroll_y > 0 and body.scroll_y == 0
        await pilot.press("j", "down")
        assert body.scroll_y == 2
        await pilot.press("k")
        assert body.scroll_y == 1
        await pilot.press("G")
        assert body.scroll_y == body.max_scroll_y
        await pilot.press("home")
        assert body.scroll_y == 0
        await pilot.press("pagedown")
        assert body.scroll_y > 2
        await pilot.press("end")
        assert body.scroll_y == body.max_scroll_y
        await pilot.press("g")
        burst(pilot, "j", "j", "j")  # typed together (one read from the terminal): each moves it a line
        for _ in range(5):
            await pilot.pause()
        assert body.scroll_y == 3
        assert app.screen.focused.id == "cancel"
        shown = {b.description for _n, b, enabled, _t in app.screen.active_bindings.values() if b.show and enabled}
        assert "Scroll" in shown  # the footer says that it scrolls
        await pilot.press("n")
    assert answers == [False]

    class Short(App):  # a what-if that fits: no scroll key, none shown
        def on_mount(self) -> None:
            self.push_screen(ConfirmModal("Disable key?", lines[:2], ["az keyvault key set-attributes"]),
                             answers.append)

    app = Short()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query_one("#dialog-body", VerticalScroll).max_scroll_y == 0
        shown = {b.description for _n, b, _enabled, _t in app.screen.active_bindings.values() if b.show}
        assert "Scroll" not in shown and {"Yes", "No"} <= shown
        await pilot.press("y")
    assert answers == [False, True]
