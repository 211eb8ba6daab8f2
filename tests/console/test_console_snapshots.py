"""Snapshot tests of the console (pytest-textual-snapshot), grouped by feature.

Every app starts from the seeded demo landscape with the simulated clock frozen, in snapshot mode.
Plain ``def`` tests (``snap_compare`` runs its own event loop) with the terminal size pinned. The
steps are the ones ``python -m console.screenshots`` uses for the README's pictures.
"""

from __future__ import annotations

from console.screenshots import SHOT_BY_NAME, shot_app


def _snap(snap_compare, name: str) -> bool:
    shot = SHOT_BY_NAME[name]
    return snap_compare(shot_app(shot), run_before=shot.steps, terminal_size=shot.size)


class TestPanes:
    def test_vaults(self, snap_compare):
        assert _snap(snap_compare, "pane-vaults")

    def test_keys(self, snap_compare):
        assert _snap(snap_compare, "pane-keys")

    def test_versions(self, snap_compare):
        assert _snap(snap_compare, "pane-versions")

    def test_access(self, snap_compare):
        assert _snap(snap_compare, "pane-access")

    def test_audit(self, snap_compare):
        assert _snap(snap_compare, "pane-audit")

    def test_sets(self, snap_compare):
        assert _snap(snap_compare, "pane-sets")

    def test_disks(self, snap_compare):
        assert _snap(snap_compare, "pane-disks")

    def test_snapshots(self, snap_compare):
        assert _snap(snap_compare, "pane-snapshots")

    def test_images(self, snap_compare):
        assert _snap(snap_compare, "pane-images")

    def test_vms(self, snap_compare):
        assert _snap(snap_compare, "pane-vms")

    def test_events(self, snap_compare):
        assert _snap(snap_compare, "pane-events")

    def test_command_log(self, snap_compare):
        assert _snap(snap_compare, "pane-log")

    def test_vms_narrow_terminal(self, snap_compare):
        assert _snap(snap_compare, "pane-vms-narrow")


class TestDetailAndDependencies:
    def test_detail_of_a_stopped_vm_after_the_cascade(self, snap_compare):
        assert _snap(snap_compare, "pane-vms-after-disable")

    def test_dependency_view(self, snap_compare):
        assert _snap(snap_compare, "view-dependencies")


class TestConfirmations:
    def test_what_if_before_disabling_a_key(self, snap_compare):
        assert _snap(snap_compare, "dialog-whatif-disable")

    def test_what_if_at_80x24(self, snap_compare):
        assert _snap(snap_compare, "dialog-whatif-disable-narrow")

    def test_purge_asks_for_the_name(self, snap_compare):
        assert _snap(snap_compare, "dialog-purge")


class TestNotifications:
    def test_error_notification_for_a_refused_purge(self, snap_compare):
        assert _snap(snap_compare, "notify-purge-refused")

    def test_read_only_refusal(self, snap_compare):
        assert _snap(snap_compare, "notify-read-only")


class TestForms:
    def test_create_key_with_an_invalid_name(self, snap_compare):
        assert _snap(snap_compare, "dialog-create-key-invalid")

    def test_create_set(self, snap_compare):
        assert _snap(snap_compare, "dialog-create-set")


class TestHelp:
    def test_help_screen(self, snap_compare):
        assert _snap(snap_compare, "dialog-help")
