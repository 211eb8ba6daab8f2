"""``create`` as az 2.91 does it: az's own checks before the PUT (an empty disk or snapshot needs its size), and
create-or-update on a name that exists (ARM's PUT)."""

from __future__ import annotations


def test_an_empty_disk_needs_its_size_as_az_says(cli, rg):
    """az's ``create_managed_disk``: ``usage error: --size-gb is required to create an empty disk`` (exit 1, a
    RequiredArgumentMissingError); nothing is made, never a 128 GB disk."""
    r = cli.az("disk", "create", "-g", rg, "-n", "d1")
    assert (r.code, r.out, r.err) == (1, "", "ERROR: usage error: --size-gb is required to create an empty disk\n")
    assert cli.ok("disk", "list", "-g", rg).json == []
    assert cli.tsv("disk", "create", "-g", rg, "-n", "d1", "-z", "7", "--query", "diskSizeGB") == "7"


def test_an_empty_snapshot_needs_its_size_and_is_made_with_one(cli, rg):
    """az's ``create_snapshot``: ``Please supply size for the snapshots`` (exit 1) without --source or --size-gb;
    with --size-gb alone an empty snapshot of that size (createOption Empty)."""
    r = cli.az("snapshot", "create", "-g", rg, "-n", "s1")
    assert (r.code, r.out, r.err) == (1, "", "ERROR: Please supply size for the snapshots\n")
    assert cli.ok("snapshot", "list", "-g", rg).json == []
    made = cli.ok("snapshot", "create", "-g", rg, "-n", "s1", "--size-gb", "3").json
    assert (made["diskSizeGB"], made["creationData"]["createOption"]) == (3, "Empty")
