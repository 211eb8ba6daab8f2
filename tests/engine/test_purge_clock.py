"""KV6 on the simulated clock: with 30 days' retention, purge is refused on day 29 and allowed on day 31."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import Engine
from engine.clock import SimulatedClock
from engine.repository import MemoryStore


def _clocked(kit):
    """An engine whose simulated clock the test moves by hand (jobs run only when asked)."""
    clock = SimulatedClock()
    e = Engine(MemoryStore(), seed=21, clock=clock)
    kit.vault(e, retention=30)
    kit.key(e)
    return e, clock


def test_KV6_key_purge_refused_on_day_29_and_allowed_on_day_31(kit):
    e, clock = _clocked(kit)
    e.delete_key("kv1", "k1")
    clock.advance(timedelta(days=29))
    err = kit.refused(e.purge_key, "kv1", "k1")
    assert err.code == "Forbidden" and err.inner_code == "PurgeProtectionEnabled"
    assert e.list_deleted_keys("kv1")[0].name == "k1"
    clock.advance(timedelta(days=2))
    e.purge_key("kv1", "k1")
    assert e.list_deleted_keys("kv1") == [] and e.t["keys"] == {}
    assert kit.audit(e, "KeyPurge")[-1].result == "OK"


def test_KV6_key_purge_boundary_is_the_end_of_retention(kit):
    e, clock = _clocked(kit)
    e.delete_key("kv1", "k1")
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert kit.refused(e.purge_key, "kv1", "k1").inner_code == "PurgeProtectionEnabled"
    clock.advance(timedelta(seconds=1))
    e.purge_key("kv1", "k1")


def test_KV6_vault_purge_refused_on_day_29_and_allowed_on_day_31(kit):
    e, clock = _clocked(kit)
    e.delete_vault("kv1")
    clock.advance(timedelta(days=29))
    err = kit.refused(e.purge_vault, "kv1")
    assert err.code == "Forbidden" and err.inner_code == "PurgeProtectionEnabled"
    clock.advance(timedelta(days=2))
    e.purge_vault("kv1")
    assert e.list_deleted_vaults() == [] and e.t["keys"] == {}


@pytest.mark.parametrize("what", ["key", "vault"])
def test_KV6_advance_clock_day_29_refused_then_platform_purges_at_day_30(e, kit, what):
    kit.vault(e, retention=30)
    kit.key(e)
    if what == "key":
        e.delete_key("kv1", "k1")
        purge, deleted = (lambda: e.purge_key("kv1", "k1")), (lambda: e.list_deleted_keys("kv1"))
    else:
        e.delete_vault("kv1")
        purge, deleted = (lambda: e.purge_vault("kv1")), e.list_deleted_vaults
    e.advance_clock("29d")
    assert kit.refused(purge).inner_code == "PurgeProtectionEnabled"
    assert len(deleted()) == 1
    pending = e.pending_jobs(timedelta(days=2))
    assert [j["time"] for j in pending] == ["2026-05-31T09:00:00+00:00"] and "purge" in pending[0]["job"]
    ran = e.advance_clock("2d")  # day 31
    assert [j["time"] for j in ran] == ["2026-05-31T09:00:00+00:00"]
    assert e.t["keys"] == {}
    if what == "key":
        assert deleted() == []
        assert kit.audit(e, "KeyPurge")[-1].caller == "platform"
    else:
        assert deleted() == []
    assert e.now() == "2026-06-01T09:00:00+00:00"


def test_KV6_retention_is_counted_from_the_delete_on_the_simulated_clock(e, kit):
    kit.vault(e, retention=30)
    kit.key(e)
    e.advance_clock("10d")
    k = e.delete_key("kv1", "k1")
    assert k.deleted_date == "2026-05-11T09:00:00+00:00"
    assert k.scheduled_purge_date == "2026-06-10T09:00:00+00:00"
    e.advance_clock("29d")
    assert kit.refused(e.purge_key, "kv1", "k1").inner_code == "PurgeProtectionEnabled"


def test_KV6_the_clock_only_moves_forward(e, kit):
    kit.vault(e)
    assert kit.refused(e.advance_clock, "-1d").code == "InvalidParameter"
    assert kit.refused(e.advance_clock, timedelta(0)).code == "InvalidParameter"
    assert kit.refused(e.advance_clock, "soon").code == "InvalidParameter"
    assert kit.refused(e.advance_clock, "4000d").code == "InvalidParameter"
    assert e.now() == "2026-05-01T09:00:00+00:00"


def test_the_clock_moves_forward_by_at_most_max_advance_one_rule_for_every_front_end(e):
    """``advance_step`` is the one rule of how far the clock moves: the engine refuses what it refuses, with its
    message, and takes the longest step it allows."""
    from datetime import timedelta

    import pytest as _pytest

    from engine.clock import MAX_ADVANCE, advance_step
    from engine.errors import EngineError

    assert advance_step("3650d") == MAX_ADVANCE == timedelta(days=3650)
    for bad in ("0m", "3651d", "P11Y", "abc", timedelta(hours=-1)):
        with _pytest.raises(ValueError) as said:
            advance_step(bad)
        with _pytest.raises(EngineError) as refused:
            e.advance_clock(bad)
        assert refused.value.message == str(said.value)
    start = e.now()
    e.advance_clock("3650d")
    assert e.now() > start


def test_the_clock_limit_says_the_step_it_takes_ten_years_as_a_duration_counts_them(e):
    """The refusal says "10 years" and the days it means, and they are the step the clock takes: ``P10Y`` (ten
    years of 365 days, 3,650) is taken, a day more refused (it said "10 years (3660 days)" and took 3660 days, which
    is not ``P10Y``)."""
    from datetime import timedelta

    from engine.clock import MAX_ADVANCE, advance_step, parse_duration
    from engine.errors import EngineError

    assert advance_step("P10Y") == parse_duration("P10Y") == MAX_ADVANCE
    for bad in ("P10YT1S", "3651d"):
        try:
            e.advance_clock(bad)
            raise AssertionError(f"the clock took {bad}")
        except EngineError as err:
            assert err.message.startswith("advance the clock by at most 10 years (P10Y, 3650 days) at a time")
            assert timedelta(days=3650) == MAX_ADVANCE
    start = e.now()
    e.advance_clock("P10Y")
    assert e.now() > start


def test_KV6_the_what_if_gives_the_purge_a_deletion_schedules_and_the_jobs_the_clock_would_run(e, kit):
    """Deleting a key or a vault schedules its purge at the end of retention (what-if says when; for a vault, its
    keys' jobs stop with it); recovering it unschedules the purge; a what-if of moving the clock names the jobs it
    would run, in order."""
    kit.vault(e, retention=30)
    kit.key(e)
    e.set_key_attributes("kv1", "k1", exp="2026-05-20T00:00:00+00:00")
    expiry = [j for j in e.pending_jobs() if "expired" in j["job"]]
    assert len(expiry) == 1
    impact = e.what_if("delete_key", "kv1", "k1")
    assert impact.scheduled == ["purge deleted key https://kv1.vault.azure.net/keys/k1 (retention ended) at "
                                "2026-05-31T09:00:00+00:00"]
    assert impact.unscheduled == [f"{expiry[0]['job']} at {expiry[0]['time']}"]  # a deleted key does not expire
    assert not impact.destructive and e.pending_jobs() == expiry  # a preview changes nothing
    impact = e.what_if("delete_vault", "kv1")
    assert impact.scheduled == ["purge deleted vault kv1 (retention ended) at 2026-05-31T09:00:00+00:00"]
    assert impact.unscheduled == [f"{expiry[0]['job']} at {expiry[0]['time']}"]
    e.delete_key("kv1", "k1")
    impact = e.what_if("recover_key", "kv1", "k1")
    assert impact.unscheduled == ["purge deleted key https://kv1.vault.azure.net/keys/k1 (retention ended) at "
                                  "2026-05-31T09:00:00+00:00"]
    assert "1 job(s) no longer scheduled: purge deleted key" in "\n".join(impact.lines())
    impact = e.what_if("advance_clock", "31d")
    assert impact.jobs_run == ["purge deleted key https://kv1.vault.azure.net/keys/k1 (retention ended) at "
                               "2026-05-31T09:00:00+00:00"]
    assert impact.scheduled == impact.unscheduled == []
    assert "1 job(s) run as the clock passes them: purge deleted key" in "\n".join(impact.lines())
    assert e.now() == "2026-05-01T09:00:00+00:00" and len(e.list_deleted_keys("kv1")) == 1


def test_KV9_the_what_if_of_an_expiry_schedules_it(e, kit):
    kit.vault(e)
    kid = kit.key(e)
    impact = e.what_if("set_key_attributes", "kv1", "k1", exp="2026-06-01T00:00:00+00:00")
    assert impact.scheduled == [f"key {kid.rsplit('/', 1)[0]}/{kid.rsplit('/', 1)[1][:8]} expired (the KeyExpired "
                                "event of its current version) at 2026-06-01T00:00:00+00:00"]
    # a rotation leaves that version behind: it still expires (KV9), but Key Vault's event is for the current one
    e.set_key_attributes("kv1", "k1", exp="2026-06-01T00:00:00+00:00")
    [expiry] = e.pending_jobs()
    impact = e.what_if("rotate_key", "kv1", "k1")
    assert impact.unscheduled == [f"{expiry['job']} at {expiry['time']}"]
    assert "the KeyExpired event of its current version" in impact.unscheduled[0]
    assert e.pending_jobs() == [expiry]  # a preview changes nothing


def test_KV6_the_what_if_of_a_purge_does_not_list_the_purge_it_forestalls(e, kit):
    """Purging a deleted key by hand ends its scheduled purge with it: the what-if says what is purged, not that
    the platform's purge is no longer scheduled."""
    kit.vault(e, purge_protection=False)
    kit.key(e)
    e.delete_key("kv1", "k1")
    assert len(e.pending_jobs(timedelta(days=400))) == 1
    impact = e.what_if("purge_key", "kv1", "k1")
    assert impact.error is None and impact.unscheduled == impact.scheduled == []
    assert impact.deleted == ["key k1"]
