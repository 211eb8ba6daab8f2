"""``az ... wait`` as az 2.91's generic wait behaves (checked with the real az against cmklab's endpoint): a met
condition returns at once with nothing printed; one never met polls every --interval until --timeout, then prints
``{}`` and exits 0 (az returns its time-out error instead of raising it); no condition is ``incorrect usage``
(exit 1). A wait sees what another process commits between its polls."""

from __future__ import annotations

import pytest

from console.cli.wait import run_wait

QUICK = ("--interval", "1", "--timeout", "1")


def test_a_met_condition_returns_at_once_and_prints_nothing(cli, landscape):
    for argv in (["disk", "wait", "-g", "rg1", "-n", "vm1-os", "--created"],
                 ["disk", "wait", "-g", "rg1", "-n", "vm1-os", "--exists"],
                 ["disk", "wait", "-g", "rg1", "-n", "vm1-os", "--updated"],
                 ["disk", "wait", "-g", "rg1", "-n", "gone", "--deleted"],
                 ["disk", "wait", "-g", "rg1", "-n", "vm1-os", "--custom", "properties.diskSizeGB > `0`"],
                 ["disk-encryption-set", "wait", "-g", "rg1", "-n", "des1", "--created"],
                 ["vm", "wait", "-g", "rg1", "-n", "vm1", "--custom",
                  "instanceView.statuses[?code=='PowerState/running']"],
                 ["keyvault", "wait", "-n", "kv1", "--created"],
                 ["group", "wait", "-n", "rg1", "--exists"],
                 ["snapshot", "wait", "-g", "rg1", "-n", "nope", "--deleted"]):
        r = cli.az(*argv)
        assert (r.code, r.out, r.err) == (0, "", ""), argv


def test_a_condition_never_met_times_out_printing_an_empty_object(cli, landscape):
    for argv in (["disk", "wait", "-g", "rg1", "-n", "vm1-os", "--deleted"],
                 ["disk", "wait", "-g", "rg1", "-n", "nope", "--created"],
                 ["disk", "wait", "-g", "rg1", "-n", "nope", "--exists"],
                 ["disk", "wait", "-g", "nogroup", "-n", "nope", "--created"],
                 ["disk", "wait", "-g", "rg1", "-n", "vm1-os", "--custom", "diskSizeGB > `0`"],  # not flattened
                 ["vm", "wait", "-g", "rg1", "-n", "vm1", "--custom",
                  "instanceView.statuses[?code=='PowerState/deallocated']"]):
        r = cli.az(*argv, *QUICK)
        assert (r.code, r.out) == (0, "{}\n"), argv


def test_a_wait_without_a_condition_is_azs_incorrect_usage(cli, landscape):
    r = cli.az("vm", "wait", "-g", "rg1", "-n", "vm1")
    assert (r.code, r.err) == (1, "ERROR: incorrect usage: --created | --updated | --deleted | --exists | "
                                  "--custom JMESPATH\n")
    gone = cli.az("vm", "wait", "-g", "rg1", "-n", "nope", "--updated", *QUICK)  # a 404 no condition waits out
    assert gone.code == 3 and gone.err.startswith("ERROR: (ResourceNotFound) ")


def test_a_wait_sees_another_process_commit_between_its_polls(cli, landscape):
    """The poll reloads what other processes committed: a disk made by another engine on the home while the wait
    sleeps meets ``--created`` at the next poll."""
    import argparse

    from console.cli.runner import Context
    from console.session import open_engine

    waiter = open_engine(cli.home, seed=cli.seed)
    ns = argparse.Namespace(name="later", resource_group="rg1", created=True, updated=False, deleted=False,
                            exists=False, custom=None, interval=1, timeout=5)
    polls = []

    def sleep(_seconds):
        polls.append(1)
        if len(polls) == 1:
            open_engine(cli.home, seed=cli.seed).create_disk("later", "rg1", size_gb=1)  # another process's

    got = run_wait(Context(engine=waiter), ns, lambda e, n: e.get_disk(n.name, n.resource_group) and {
        "provisioningState": "Succeeded"}, sleep=sleep)
    assert got is None and len(polls) == 1


@pytest.mark.parametrize("argv", [["disk", "wait", "-g", "rg1", "-n", "vm1-os", "--created", "--interval", "0"]])
def test_a_polling_interval_under_a_second_is_refused(cli, landscape, argv):
    r = cli.az(*argv)
    assert r.code == 1 and "--interval 0" in r.err
