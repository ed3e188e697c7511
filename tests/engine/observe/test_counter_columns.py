"""Reset / Uptime / Lifetime columns of the counters, and the system totals derived from
the hosts (engine/observe/counters.py)."""

from __future__ import annotations

from engine.observe.counters import SYSTEM, BounceCause, Column, Counters


def _counters_with_traffic() -> Counters:
    counters = Counters()
    for _ in range(3):
        counters.received(2)
    example = counters.host("example.com")
    example.queued(4)
    example.delivered_ok(3, attempted=False)
    example.hard_bounce(BounceCause.SMTP_5XX, attempted=False)
    tdc = counters.host("the.tdc.queue")
    tdc.queued()
    tdc.soft_bounce("451 later")
    tdc.delivered_ok(attempted=False)
    return counters


def test_fresh_counters_have_equal_columns_and_totals_summed_over_hosts():
    totals = _counters_with_traffic().totals()
    assert totals["messages_received"] == Column(3, 3, 3)
    assert totals["recipients_received"] == Column(6, 6, 6)
    assert totals["delivered"] == Column(4, 4, 4)  # example.com 3 + the.tdc.queue 1
    assert totals["hard_5xx"] == totals["hard_bounced"] == Column(1, 1, 1)
    assert totals["completed"] == Column(5, 5, 5)
    assert totals["soft_bounced_events"] == Column(1, 1, 1)


def test_reset_zeroes_only_the_reset_column():
    counters = _counters_with_traffic()
    counters.reset()
    counters.received(1)
    totals = counters.totals()
    assert totals["messages_received"] == Column(1, 4, 4)
    assert totals["delivered"] == Column(0, 4, 4)
    assert counters.host("example.com").delivered == 0  # what tophosts reads
    assert counters.reset_at is not None


def test_restored_values_carry_the_reset_and_lifetime_columns_of_earlier_runs():
    counters = Counters()
    counters.restore({SYSTEM: {"messages_received": (10, 7)},
                      "gone.example.net": {"delivered": (5, 2)}}, reset_at=1_700_000_000.0)
    counters.received(1)
    totals = counters.totals()
    assert totals["messages_received"] == Column(8, 1, 11)
    assert totals["delivered"] == Column(2, 0, 5)  # a host not seen in this run still counts
    assert "gone.example.net" not in counters.hosts  # ... without appearing in tophosts
    counters.reset()
    assert counters.totals()["messages_received"] == Column(0, 1, 11)
    assert counters.totals()["delivered"] == Column(0, 0, 5)


def test_events_feed_the_system_rates():
    counters = _counters_with_traffic()
    rates = counters.rates
    assert rates.messages_received.count(1) == 3
    assert rates.recipients_received.count(1) == 6
    assert rates.delivered.count(1) == 4
    assert rates.hard_bounced.count(1) == 1
    assert rates.completed.count(1) == 5
    assert rates.soft_bounced.count(1) == 1
