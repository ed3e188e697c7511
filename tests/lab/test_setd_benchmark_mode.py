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
