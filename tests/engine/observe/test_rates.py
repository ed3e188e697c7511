"""Event rates per hour over 1, 5 and 15 minutes (ASYNCOS.md §3), on a fake clock."""

from __future__ import annotations

from engine.observe.rates import EventRate, Rates


class Clock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_one_hundred_events_in_one_minute_as_asyncos_extrapolates_them():
    clock = Clock()
    rate = EventRate(clock)
    for second in range(60):  # 100 events spread over one minute
        clock.now = 1_000.0 + second
        rate.add(2 if second < 40 else 1)
    assert rate.per_hour_windows() == (6_000, 1_200, 400)


def test_events_leave_each_window_as_it_slides_past_them():
    clock = Clock()
    rate = EventRate(clock)
    rate.add(10)
    clock.now += 60  # the 1-minute window no longer holds them
    assert rate.per_hour_windows() == (0, 120, 40)
    clock.now += 240
    assert rate.per_hour_windows() == (0, 0, 40)
    clock.now += 600
    assert rate.per_hour_windows() == (0, 0, 0)


def test_a_bucket_reused_after_fifteen_minutes_starts_from_zero():
    clock = Clock()
    rate = EventRate(clock)
    rate.add(5)
    clock.now += 900  # the same bucket of the ring, a new second
    rate.add(1)
    assert rate.count(15) == 1


def test_the_named_rates_share_one_clock():
    clock = Clock()
    rates = Rates(clock)
    rates.delivered.add(3)
    rates.completed.add(3)
    assert rates.delivered.count(1) == rates.completed.count(1) == 3
    assert rates.hard_bounced.count(15) == 0
