"""The simulator's settings for the journal benchmark: plain copies taken, totals kept."""

from __future__ import annotations

import asyncio

from tests.lab.setd_client import Target, attempt, journal, original


def send(setd, recipients, data):
    return asyncio.to_thread(attempt, Target.of(setd), recipients, data)


async def test_a_plain_copy_is_accepted_when_asked_with_its_problem_noted(setd, intake):
    setd.accept_non_journal = True
    plain = await send(setd, intake, original())
    assert (plain.stage, plain.code) == ("done", 250)
    copy = await send(setd, intake, journal(intake, original()))
    assert (copy.stage, copy.code) == ("done", 250)
    first, second = setd.messages(intake)
    assert first.outcome == "accepted" and "not a journal" in first.problem
    assert second.outcome == "accepted" and second.problem == "" and second.sha256
    assert setd.totals()["accepted"] == 2


async def test_totals_count_every_outcome_beyond_what_is_kept(setd, intake):
    setd.keep = 1
    for _ in range(3):
        await send(setd, intake, journal(intake, original()))
    refused = await send(setd, intake, original())  # not a journal: still refused by default
    assert refused.code == 550
    assert len(setd.messages(intake)) == 1
    assert (setd.totals()["accepted"], setd.totals()["rejected"]) == (3, 1)


async def test_the_size_limit_is_a_setting(setd_dir):
    """The big-message benchmark raises the simulator's limit; here a low one refuses a
    journal copy above it (552) and takes one below it."""
    from segcli.lab.setd_simulator import SetdSimulator

    small = SetdSimulator(setd_dir, max_message_size=4096)
    intake = small.ensure_default_intake().address
    await small.start(dashboard_port=None)
    try:
        fits = await send(small, intake, journal(intake, original()))
        assert (fits.stage, fits.code) == ("done", 250)
        big = original() + b"A line to make the message bigger than the limit.\r\n" * 90
        too_big = await send(small, intake, journal(intake, big))
        assert too_big.code == 552
        assert small.totals()["accepted"] == 1
    finally:
        await small.stop()
