"""The dependency view over a big set: the cursor moving over the set's VMs does not walk the set's members again at
each row (on a 100,000-resource twin that was 175 ms of the UI thread per row over a 30,000-disk set), and the
selection's own disk is still shown when the set's first rows are not it."""

from __future__ import annotations

from console.app import make_app
from console.screenshots import select
from console.widgets.deps import MAX_CHILDREN, DepsTree

SMALL = (80, 24)


def _labels(tree: DepsTree) -> list[str]:
    out = []

    def walk(node):
        for child in node.children:
            out.append(str(child.label))
            walk(child)

    walk(tree.root)
    return out


async def test_moving_over_the_vms_of_a_big_set_does_not_walk_its_members_at_each_row():
    app = make_app()
    async with app.run_test(size=SMALL) as pilot:
        e = app.engine
        for i in range(3 * MAX_CHILDREN):
            e.create_disk(f"disk-bulk-{i:03d}", "rg-demo", size_gb=4, disk_encryption_set="des-cmk")
        for i in range(2):
            e.create_vm(f"zz-vm-{i}", "rg-demo", os_disk_name=f"zz-vm-{i}-os", os_disk_encryption_set="des-cmk")
        app.main.refresh_data()
        await select(pilot, "vms", "zz-vm-0")
        await pilot.press("t")
        await pilot.pause()
        tree = app.main.query_one("#deps", DepsTree)
        assert any("zz-vm-0-os" in label for label in _labels(tree))  # its own disk, though past the first rows

        looked_up = []
        find_des = e.find_des

        def counting(*args, **kwargs):
            looked_up.append(args)
            return find_des(*args, **kwargs)

        e.find_des = counting
        try:
            await pilot.press("j")  # zz-vm-1: the same set, same engine state
            await pilot.pause()
        finally:
            del e.find_des
        labels = _labels(tree)
        assert app.main.selected.name == "zz-vm-1"
        assert any("zz-vm-1-os" in label and "◀ selected" not in label for label in labels)
        assert any("more" in label for label in labels)  # the set's members are cut
        # a look-up per set, not one per member of the set (more than 60 of them here)
        assert len(looked_up) <= 5, len(looked_up)
